/**
 * A prepared layer on the WebAssembly SIMD kernel (wasm.ts DotLayer), used where the bound
 * analysis shows its int16 operands and int32 sums are exact. The caller has filled
 * `dot.begin`'s posBase and padded int16 input; per group (the kernel gathers its own im2col):
 *  - proved: one call over all positions, then the outputs (and the raw form's z_w step);
 *  - checked: in chunks of position blocks every tile's sums, which the accumulator epilogue
 *    (checked.ts, as the Float64 kernels use it) adds one by one.
 */
import { applyPolicy, POLICY_SATURATE, POLICY_WRAP, type OverflowReport } from './accumulator.js';
import { overflowReport, recordEvents, type KernelState } from './checked.js';
import type { Geometry, OperandLayout } from './geometry.js';
import type { Prepared } from './prepared.js';
import type { DotLayer } from './wasm.js';
import { invariant } from '../../nets/errors.js';
import type { FixedChannels } from '../../qnet/requant-wasm.js';

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);

/**
 * The checked accumulator for channel c and positions p0 … p0+pn−1 from the SIMD kernel's tile
 * sums (O[idx + t·ts + i]: tile t of position p0 + i), bias load, each tile, the z_w step (as one
 * more add, step T+1), the output. checked.ts's semantics with the registers in locals and the
 * events counted locally (the hot case under a narrow accumulator): a channel's positions and
 * steps arrive in increasing order here, so its first event is the first one met. The policy is
 * inlined for accumulators of ≤ 32 bits (applyPolicy's arithmetic, without a call per event:
 * under a 16-bit accumulator most adds are events).
 */
function tileEpilogue(st: KernelState, O: Int32Array, idx: number, ts: number, c: number, p0: number, pn: number): void {
  const T = st.T;
  const lo = st.lo;
  const hi = st.hi;
  const policy = st.policy;
  const bits = st.bits;
  // 0: wrap in int32 arithmetic, 1: saturate, 2: ideal, 3: applyPolicy (wider than 32 bits)
  const mode = bits > 32 ? 3 : policy === POLICY_WRAP ? 0 : policy === POLICY_SATURATE ? 1 : 2;
  const sh = 32 - bits;
  const e0 = st.init[c];
  const a0 = st.initAcc[c];
  const zn = st.zwNeg[c];
  const xSum = zn !== 0 ? st.xSum : null;
  const ob = c * st.cStride;
  let m = st.maxAbs;
  let ev = 0;
  let firstPos = -1;
  let firstStep = 0;
  if (st.initOver[c] === 1) {
    ev = pn;
    firstPos = p0;
  }
  for (let i = 0; i < pn; i++) {
    const p = p0 + i;
    let e = e0;
    let a = a0;
    for (let t = 0; t <= T; t++) {
      let s: number;
      if (t < T) s = O[idx + t * ts + i];
      else if (xSum !== null) s = zn * xSum[p];
      else break;
      e += s;
      if (e > m) m = e;
      else if (-e > m) m = -e;
      a += s;
      if (a < lo || a > hi) {
        if (firstPos < 0) {
          firstPos = p;
          firstStep = t + 1;
        }
        ev++;
        if (mode === 0) a = ((a | 0) << sh) >> sh;
        else if (mode === 1) a = a > hi ? hi : lo;
        else if (mode === 3) a = applyPolicy(a, policy, bits);
      }
    }
    st.out[st.outBase[p] + ob] = a;
  }
  st.maxAbs = m;
  if (ev > 0) recordEvents(st, c, ev, firstPos, firstStep);
}

/**
 * tileEpilogue for channel c (ci within its group) over positions [pFrom, pTo) — blocks
 * [pb0, pb0 + nb) of the last runTiles() — in WebAssembly (wasm.ts epiFunc): same adds, same
 * policy, same events; the bias load's event (step 0) recorded here.
 */
function epilogueWasm(st: KernelState, dot: DotLayer, ci: number, c: number, pb0: number, nb: number, pFrom: number, pTo: number, mode: number, vec: boolean): void {
  const f = dot.epiScratch();
  f[0] = st.maxAbs;
  f[1] = st.init[c];
  f[2] = st.initAcc[c];
  f[3] = st.lo;
  f[4] = st.hi;
  const r = dot.epilogue(ci, pb0, nb, mode, st.bits, vec);
  st.maxAbs = dot.epiScratch()[0];
  if (st.initOver[c] === 1) recordEvents(st, c, pTo - pFrom, pFrom, 0);
  if (r[2] > 0) recordEvents(st, c, r[2], r[0], r[1]);
  const O = dot.epilogueOutput();
  const out = st.out;
  const outBase = st.outBase;
  const ob = c * st.cStride;
  for (let p = pFrom; p < pTo; p++) out[outBase[p] + ob] = O[p];
}

function runChecked(prep: Prepared, geo: Geometry, input: Int16Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
  const dot = prep.dot!;
  const { nOut, positions: P, group } = geo;
  const ocg = nOut / group;
  const T = prep.stepEnd.length;
  const st = prep.state(geo, EMPTY_F64, out);
  const bp = dot.blockPositions;
  const nPB = Math.ceil(P / bp);
  const ncb = dot.ncb;
  // O is [block][channel block][tile][nc channels][bp positions]
  const nc = dot.nc;
  const tStride = nc * bp;
  const xSum = prep.zwChannels > 0 ? new Float64Array(P) : null;
  st.xSum = xSum;
  let xSumAdds = 0;
  // the epilogue in WebAssembly where it applies: ≤ 32 bits, wrap or saturate
  const wasmMode = st.bits > 32 ? -1 : st.policy === POLICY_WRAP ? 0 : st.policy === POLICY_SATURATE ? 1 : -1;
  for (let g = 0; g < group && P > 0; g++) {
    const c0 = g * ocg;
    if (xSum) xSumAdds += prep.groupSums(geo, g, input, xSum, 0);
    for (let pb0 = 0; pb0 < nPB; pb0 += dot.chunk) {
      const nb = Math.min(dot.chunk, nPB - pb0);
      const O = dot.runTiles(g, g * geo.groupXStride, pb0, nb);
      const pFrom = pb0 * bp;
      const pTo = Math.min(P, (pb0 + nb) * bp);
      for (let ci = 0; ci < ocg; ci++) {
        const c = c0 + ci;
        if (wasmMode >= 0 && (st.zwNeg[c] === 0 || xSum === null)) {
          epilogueWasm(st, dot, ci, c, pb0, nb, pFrom, pTo, wasmMode, prep.vecEpilogue);
          continue;
        }
        for (let b = 0; b < nb; b++) {
          const p0 = (pb0 + b) * bp;
          const idx = ((b * ncb + Math.floor(ci / nc)) * T * nc + (ci % nc)) * bp;
          tileEpilogue(st, O, idx, tStride, c, p0, Math.min(bp, P - p0));
        }
      }
    }
  }
  return { out: st.out, overflow: overflowReport(st, prep.proved, P * prep.zwChannels, xSumAdds) };
}

/**
 * The length of the runs of positions whose outputs are consecutive, each run an image's
 * channel-0 plane in NCHW order (a conv's positions of one image, cStride of them), or 0 where
 * they are not (a gemm's outputs are strided by channel).
 */
function straightSegment(outBase: Int32Array, P: number, cStride: number, nOut: number): number {
  if (P === 0 || cStride < 2 || P % cStride !== 0) return 0;
  for (let s = 0; s < P; s += cStride) if (outBase[s] !== (s / cStride) * nOut * cStride || outBase[s + cStride - 1] - outBase[s] !== cStride - 1) return 0;
  return cStride;
}

/** Runs a prepared layer (prep.dot set) on the padded int16 input `dot.begin` handed out. */
export function runSimd(prep: Prepared, geo: Geometry, input: Int16Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
  if (prep.checked) return runChecked(prep, geo, input, out);
  const dot = prep.dot!;
  const { nOut, positions: P, group } = geo;
  const ocg = nOut / group;
  const st = prep.state(geo, EMPTY_F64, out);
  const res = st.out;
  let maxAbs = st.maxAbs;
  const xSum = prep.zwChannels > 0 ? new Float64Array(P) : null;
  let xSumAdds = 0;
  const outBase = geo.outBase;
  const cStride = geo.cStride;
  // outputs of consecutive positions consecutive within each image: a channel's row is one typed-array copy per image
  const seg = straightSegment(outBase, P, cStride, nOut);
  for (let g = 0; g < group && P > 0; g++) {
    const c0 = g * ocg;
    if (xSum) xSumAdds += prep.groupSums(geo, g, input, xSum, 0);
    let m = dot.depthwise(g, g * geo.groupXStride);
    if (m < 0) m = dot.run(g, g * geo.groupXStride);
    if (m > maxAbs) maxAbs = m;
    // O is [channel][rowStride positions]
    const O = dot.output();
    const rs = dot.rowStride;
    for (let ci = 0; ci < ocg; ci++) {
      const c = c0 + ci;
      const zn = prep.zwNeg[c];
      const ob = c * cStride;
      const row = ci * rs;
      if (zn === 0 || !xSum) {
        if (seg > 0) for (let s = 0; s < P; s += seg) res.set(O.subarray(row + s, row + s + seg), outBase[s] + ob);
        else for (let p = 0; p < P; p++) res[outBase[p] + ob] = O[row + p];
      } else {
        for (let p = 0; p < P; p++) {
          const v = O[row + p] + zn * xSum[p];
          const av = v < 0 ? -v : v;
          if (av > maxAbs) maxAbs = av;
          res[outBase[p] + ob] = v;
        }
      }
    }
  }
  st.maxAbs = maxAbs;
  return { out: res, overflow: overflowReport(st, true, P * prep.zwChannels, xSumAdds) };
}

/**
 * requant.ts's float mode, or its fixed mode with double rounding, fused behind the SIMD kernel:
 * per output channel the mode's constants, bounds as integers minus zy.
 */
export type FusedRequant =
  | { readonly mode: 'float'; readonly mult: Float32Array; readonly his: Float64Array; readonly lo: number; readonly zy: number }
  | { readonly mode: 'fixed'; readonly fixed: FixedChannels; readonly his: Int32Array; readonly lo: number; readonly zy: number };

/** bytes of int32 outputs per part of a fused run (runSimdCodes): well inside a core's L2 */
const CHUNK_BYTES = 256 << 10;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The codes of images b0 … b0+n−1 of the last run (its rows: channels c0 …) into the reserved
 * NCHW codes: requantized straight into place, or — with a pool — requantized in place, pooled,
 * then scattered.
 */
function finishPart(dot: DotLayer, fr: FusedRequant, rows: number, c0: number, pool: FusedPool | undefined, n: number, area: number, b0: number, to: Handoff | undefined): void {
  const fixed = fr.mode === 'fixed';
  if (to) {
    dot.requantHandoff(rows, c0, fr.zy, fixed, n, b0, to.dot, to.layout, to.channels);
    return;
  }
  if (!pool) {
    dot.requantInto(rows, c0, fr.zy, fixed, n, area, b0);
    return;
  }
  dot.requant(rows, c0, fr.zy, fixed);
  dot.pool2x2(rows, n, pool.oh, pool.ow, pool.ph, pool.pw);
  dot.scatter(rows, c0, n, area, b0);
}

/**
 * Where a conv's codes go instead of its own memory: the operand input of the next conv (its
 * DotLayer, of the same arena, has accepted it: acceptInput(layout)), whose input has `channels`
 * channels — this conv's outputs.
 */
export interface Handoff {
  readonly dot: DotLayer;
  readonly layout: OperandLayout;
  readonly channels: number;
}

/** A 2×2 stride-2 max pool fused behind a conv: n images of oh×ow outputs → ph×pw */
export interface FusedPool {
  readonly n: number;
  readonly oh: number;
  readonly ow: number;
  readonly ph: number;
  readonly pw: number;
}

/**
 * A proved layer (prep.dot set, not checked, no z_w term) with its requantization fused: per group
 * the kernel's int32 sums are requantized in WebAssembly — no float64 accumulators; a conv's
 * (outputs straight per image) a few images at a time, straight into NCHW order in the kernel's
 * memory. The codes equal requantize() of runSimd's accumulators (the int32 sums are exact, int32 →
 * float32 rounds as Math.fround does); the report is runSimd's. With `pool` (a 2×2 stride-2
 * MaxPool read only this output) the codes are pooled there too and are the pool's output
 * [n, nOut, pool.ph, pool.pw]. They are copied into `into`, or — `into` null — returned as a view
 * of the kernel's memory (valid until this layer runs again; a new array for a gemm's layout).
 * With `to` (a conv, no pool) they go to the next layer's operand input instead, and the codes
 * returned are empty.
 */
export function runSimdCodes(prep: Prepared, geo: Geometry, fr: FusedRequant, into: Int32Array | null, pool?: FusedPool, to?: Handoff): { report: OverflowReport; codes: Int32Array } {
  const dot = prep.dot!;
  const { nOut, positions: P, group } = geo;
  const ocg = nOut / group;
  let maxAbs = 0;
  if (P > 0) for (let c = 0; c < nOut; c++) if (Math.abs(prep.init[c]) > maxAbs) maxAbs = Math.abs(prep.init[c]);
  const outBase = geo.outBase;
  const cStride = geo.cStride;
  const seg = straightSegment(outBase, P, cStride, nOut);
  if (fr.mode === 'float') dot.setRequant(fr.mult, fr.his, fr.lo);
  else dot.setRequantFixed(fr.fixed, fr.his, fr.lo);
  // outputs straight per image (conv): their NCHW codes assembled inside WebAssembly
  const straight = P > 0 && seg > 0;
  invariant(!pool || (straight && pool.n * pool.oh * pool.ow === P), `pool of ${pool?.n} images of ${pool?.oh}×${pool?.ow} over ${P} positions`);
  const n = straight ? P / seg : 0;
  const area = pool ? pool.ph * pool.pw : seg;
  invariant(!to || (straight && !pool && into === null && to.channels === nOut && to.layout.h * to.layout.w === seg && to.layout.planes === n * nOut), `hand-off of ${n} images of ${seg} outputs × ${nOut} channels to a layout of ${to?.layout.planes} planes of ${to?.layout.h}×${to?.layout.w}`);
  if (straight && !to) dot.reserveCodes(n * nOut * area);
  const codes = into ?? (straight ? null : new Int32Array(P * nOut));
  // images per part of the run: whole position blocks, outputs near CHUNK_BYTES so that requant, pool and scatter read them from cache
  const step = straight ? dot.blockPositions / gcd(seg, dot.blockPositions) : 1;
  const perPart = straight ? Math.max(step, Math.floor(CHUNK_BYTES / (4 * ocg * seg * step)) * step) : 1;
  for (let g = 0; g < group && P > 0; g++) {
    const c0 = g * ocg;
    const gOff = g * geo.groupXStride;
    const dw = dot.depthwise(g, gOff);
    if (dw >= 0 || !straight) {
      const m = dw >= 0 ? dw : dot.run(g, gOff);
      if (m > maxAbs) maxAbs = m;
      if (straight) {
        finishPart(dot, fr, ocg, c0, pool, n, area, 0, to);
        continue;
      }
      dot.requant(ocg, c0, fr.zy, fr.mode === 'fixed');
      const O = dot.output();
      const rs = dot.rowStride;
      for (let ci = 0; ci < ocg; ci++) {
        const ob = (c0 + ci) * cStride;
        const row = ci * rs;
        for (let p = 0; p < P; p++) codes![outBase[p] + ob] = O[row + p];
      }
      continue;
    }
    for (let b0 = 0; b0 < n; b0 += perPart) {
      const nb = Math.min(perPart, n - b0);
      const m = dot.runRange(g, gOff, b0 * seg, (b0 + nb) * seg);
      if (m > maxAbs) maxAbs = m;
      finishPart(dot, fr, ocg, c0, pool, nb, area, b0, to);
    }
  }
  const out = to ? EMPTY_I32 : straight && codes === null ? dot.codes(n * nOut * area) : codes!;
  if (straight && codes !== null) codes.set(dot.codes(n * nOut * area));
  const report: OverflowReport = {
    events: 0,
    perChannel: new Float64Array(nOut),
    first: null,
    proved: true,
    maxAbs,
    zwSumSteps: 0,
    xSumAdds: 0,
    tiles: prep.stepEnd.length,
    psumEvents: 0,
  };
  return { report, codes: out };
}
