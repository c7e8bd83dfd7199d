/**
 * Checked accumulation: what happens at each accumulator add of a linear layer (DESIGN.md
 * "Integer arithmetic contract"), one output at a time — the bias load, each tile's partial sum,
 * the raw form's −z_w·Σq_x step — on two registers per output: the exact running sum (its
 * largest |value| is `maxAbs`) and the accumulator as the arch holds it, the policy applied to
 * every add that leaves the P-bit range and the event recorded. Used by the Float64 block
 * kernels (blocks.ts), the SIMD kernel's epilogue (simd.ts) and the timing run's tile kernel
 * (sim/functional.ts), so the three agree by construction.
 *
 * Registers are addressed as (exact array, accumulator array, index): the block kernels keep
 * them in KernelState.id / .a, the tile kernel in its per-output planes. When the layer is
 * proved (not `checked`), only the exact register is kept and the two arrays may be the same.
 */
import type { PsumTiles } from './psum-wasm.js';
import { applyPolicy, type OverflowReport } from './accumulator.js';

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_U8 = new Uint8Array(0);

/** Everything the kernels of one layer run read and write; fixed shape (monomorphic access). */
export class KernelState {
  // --- operands (Prepared.state fills them)
  /** operand input: conv padded NCHW, in zp-subtract form already minus z_x */
  x: Float64Array = EMPTY_F64;
  /** per output position p: offset of its receptive field in x (group 0) */
  posBase: Int32Array = EMPTY_I32;
  /** per output position p: index of channel 0's output */
  outBase: Int32Array = EMPTY_I32;
  cStride = 0;
  groupXStride = 0;
  /** per arrival index j: offset from posBase */
  kOff: Int32Array = EMPTY_I32;
  /** [nOut, K] weight operands in arrival order */
  wSeq: Float64Array = EMPTY_F64;
  stepEnd: Int32Array = EMPTY_I32;
  K = 0;
  /** tiles per output */
  T = 0;

  // --- the accumulator
  /** starting value per channel (bias, or the folded bias' of the raw form) */
  init: Float64Array = EMPTY_F64;
  /** the value the accumulator holds after loading it (differs from init only if it overflowed) */
  initAcc: Float64Array = EMPTY_F64;
  initOver: Uint8Array = EMPTY_U8;
  /** −z_w per channel when the raw form adds −z_w·Σq_x at the end, else 0 */
  zwNeg: Float64Array = EMPTY_F64;
  /** Σq_x per position (raw form with z_w ≠ 0); the block kernels hold the current group's */
  xSum: Float64Array | null = null;
  /** per-add checks (the bound analysis could not prove the layer safe) */
  checked = false;
  /** in-array partial sums are checked at psumBits, so a tile's in-array sum may differ from its exact one */
  psumSeen = false;
  policy = 0;
  bits = 0;
  lo = 0;
  hi = 0;
  psumBits = 0;
  plo = 0;
  phi = 0;
  out: Float64Array = EMPTY_F64;

  // --- what happened
  events = 0;
  psumEvents = 0;
  /** psumTile in WebAssembly, this run's operands loaded (Prepared.psumTiles), or null: the JS loop */
  psumTiles: PsumTiles | null = null;
  maxAbs = 0;
  perChannel: Float64Array = EMPTY_F64;
  firstPos: Float64Array = EMPTY_F64;
  firstStep: Int32Array = EMPTY_I32;

  // --- registers of a block of up to 8 outputs (r = channel·positions + position)
  /** exact running sums */
  readonly id = new Float64Array(8);
  /** accumulators */
  readonly a = new Float64Array(8);
  /** the last tile's exact sums */
  readonly ts = new Float64Array(8);
  /** the last tile's in-array partial sums as the accumulator receives them (psumSeen) */
  readonly tp = new Float64Array(8);
  /** the block's positions */
  readonly pos = new Int32Array(8);
}

/**
 * Counts n overflow events of channel c, the first of which happened to output (c, p) at `step`,
 * keeping each channel's first in (position, step) order.
 */
export function recordEvents(st: KernelState, c: number, n: number, p: number, step: number): void {
  st.events += n;
  st.perChannel[c] += n;
  const fp = st.firstPos[c];
  if (fp < 0 || p < fp || (p === fp && step < st.firstStep[c])) {
    st.firstPos[c] = p;
    st.firstStep[c] = step;
  }
}

/** The bias load (step 0) of output (c, p) into registers r (the exact value wins where id and a are one array). */
export function loadAcc(st: KernelState, c: number, p: number, id: Float64Array, a: Float64Array, r: number): void {
  a[r] = st.initAcc[c];
  id[r] = st.init[c];
  if (st.checked && st.initOver[c] === 1) recordEvents(st, c, 1, p, 0);
}

/**
 * One accumulator add of output (c, p) at `step`: `e` onto the exact register, `v` (what the
 * accumulator receives: e, or the tile's in-array partial sum) onto the accumulator, the policy
 * applied when the sum leaves the P-bit range.
 */
export function addAcc(st: KernelState, c: number, p: number, step: number, id: Float64Array, a: Float64Array, r: number, e: number, v: number): void {
  const s = id[r] + e;
  id[r] = s;
  if (s > st.maxAbs) st.maxAbs = s;
  else if (-s > st.maxAbs) st.maxAbs = -s;
  if (st.checked) a[r] = police(st, a[r] + v, c, p, step);
}

/** What the accumulator holds after an add whose exact result is v: v in range, else the policy's value (the event recorded). */
export function police(st: KernelState, v: number, c: number, p: number, step: number): number {
  if (v >= st.lo && v <= st.hi) return v;
  recordEvents(st, c, 1, p, step);
  return applyPolicy(v, st.policy, st.bits);
}

/** The raw form's −z_w·Σq_x add (step T+1) of output (c, p), whose receptive field sums to xs; a no-op when z_w = 0. */
export function zwAcc(st: KernelState, c: number, p: number, xs: number, id: Float64Array, a: Float64Array, r: number): void {
  const zn = st.zwNeg[c];
  if (zn === 0) return;
  const t = zn * xs;
  addAcc(st, c, p, st.T + 1, id, a, r, t, t);
}

/**
 * Products of weight row r0 with the receptive field at input offset b over [j0, j1), summed
 * in-array at psumBits with every add checked: the exact sum into ts[0], the in-array one into tp[0].
 */
export function psumTile(st: KernelState, r0: number, b: number, j0: number, j1: number): void {
  const pt = st.psumTiles;
  if (pt !== null) {
    st.psumEvents += pt.tile(r0, b, j0, j1);
    st.ts[0] = pt.exact();
    st.tp[0] = pt.inArray();
    return;
  }
  const x = st.x;
  const kOff = st.kOff;
  const w = st.wSeq;
  const plo = st.plo;
  const phi = st.phi;
  let exact = 0;
  let ps = 0;
  let over = 0;
  for (let j = j0; j < j1; j++) {
    const prod = w[r0 + j] * x[b + kOff[j]];
    exact += prod;
    const v = ps + prod;
    if (v < plo || v > phi) {
      over++;
      ps = applyPolicy(v, st.policy, st.psumBits);
    } else ps = v;
  }
  st.psumEvents += over;
  st.ts[0] = exact;
  st.tp[0] = ps;
}

/** What a layer run counted, as its OverflowReport. */
export function overflowReport(st: KernelState, proved: boolean, zwSumSteps: number, xSumAdds: number): OverflowReport {
  let first: OverflowReport['first'] = null;
  for (let c = 0; c < st.firstPos.length && !first; c++) {
    if (st.firstPos[c] >= 0) first = { channel: c, position: st.firstPos[c], step: st.firstStep[c] };
  }
  return {
    events: st.events,
    perChannel: st.perChannel,
    first,
    proved,
    maxAbs: st.maxAbs,
    zwSumSteps,
    xSumAdds,
    tiles: st.T,
    psumEvents: st.psumEvents,
  };
}
