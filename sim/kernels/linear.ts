/**
 * Integer Conv and Gemm on a P-bit accumulator, bit-exact, with exact overflow accounting
 * (DESIGN.md "Integer arithmetic contract"; the vocabulary is in accumulator.ts).
 *
 *   acc = bias + Σ_k (q_w − z_w)(q_x − z_x),   K = (C/group)·KH·KW, padding feeds q_x = z_x
 *
 * computed the way the simulated PEs compute it (`form`), in the order the dataflow delivers it
 * (`order`), on the accumulator the arch has (`acc`).
 *
 * Two paths, identical results (tested):
 *  - proved: the bound analysis (bounds.ts channelBounds) shows that no running sum of any
 *    channel can leave the P-bit range (nor a partial sum its psumBits range) for any input in
 *    the xBits range — then values never change under the policy and no event can happen, so the
 *    kernel only sums and tracks the running maximum at step boundaries;
 *  - checked: every accumulator add is checked, the policy applied and events recorded; with a
 *    finite psumBits that cannot be proved safe, every in-array add as well.
 *
 * Two implementations of the products, identical results (tested):
 *  - WebAssembly SIMD (wasm.ts): im2col into int16, `i32x4.dot_i16x8_s`; used where the bounds
 *    show int16 operands and int32 sums are exact (proved: running sums; checked: tile sums,
 *    whose accumulator epilogue then runs here in JS) and each gathered input feeds ≥ 4 channels;
 *  - Float64 loops: output-stationary over a gather table (the dataflow's order is just the
 *    table's order) on a padded copy of the input (no bounds checks in the inner loop); 4 output
 *    channels × 2 positions register-blocked (each input load feeds 4 MACs, each weight load 2),
 *    single channels (depthwise) 1 × 4 positions; the per-add partial-sum checks run 1 × 1.
 *
 * Layers are prepared once (prepareConvInt / prepareGemmInt: validation, bounds, weights in
 * arrival order) and run per input; convInt / gemmInt do both in one call.
 *
 * Exactness: Float64 holds every value exactly below 2^53; a layer whose bounds reach 2^53
 * (e.g. 16-bit × 16-bit operands with K > 2^21) is refused with a ModelError.
 */
import { invariant, ModelError } from '../../nets/errors.js';
import {
  accRange,
  applyPolicy,
  arrivalSequence,
  intRange,
  policyCode,
  type AccumulationOrder,
  type AccumulatorSpec,
  type OverflowReport,
  type PeForm,
} from './accumulator.js';
import { channelBounds } from './bounds.js';
import { DotLayer } from './wasm.js';

export interface LinearIntSpec {
  /** input zero point (scalar) */
  readonly zx: number;
  /** weight zero points: length 1 (per tensor) or the number of output channels */
  readonly zw: Int32Array;
  /** int32 bias (scale s_x·s_w[c], zero point 0), one per output channel; null = none */
  readonly bias: Int32Array | null;
  readonly acc: AccumulatorSpec;
  readonly order: AccumulationOrder;
  readonly form: PeForm;
  /** the input's quantized range: every q_x and z_x must lie in it (the bound analysis relies on it) */
  readonly xBits: number;
  readonly xSigned: boolean;
  /** the weights' quantized range: every q_w and z_w must lie in it */
  readonly wBits: number;
  readonly wSigned: boolean;
  /** output buffer to fill (length = number of outputs); allocated when absent */
  readonly out?: Float64Array;
  /** `auto` (default): per-step checks only where the bounds cannot prove the layer safe; `always`: check every step */
  readonly checking?: 'auto' | 'always';
  /**
   * Which implementation computes the products: `auto` (default) picks WebAssembly SIMD where
   * its int16 operands / int32 sums are provably exact, `js` forces the Float64 loops. Results
   * are identical; this exists for tests and benchmarks.
   */
  readonly kernel?: 'auto' | 'js';
}

export interface ConvIntArgs extends LinearIntSpec {
  /** NCHW */
  readonly x: Int32Array;
  readonly xShape: readonly [number, number, number, number];
  /** OIHW (ONNX layout) */
  readonly w: Int32Array;
  readonly wShape: readonly [number, number, number, number];
  readonly strides: readonly [number, number];
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
  readonly dilations: readonly [number, number];
  readonly group: number;
}

export interface ConvIntResult {
  /** N·OC·OH·OW accumulators after the policy (exact integers), NCHW */
  readonly acc: Float64Array;
  readonly outShape: [number, number, number, number];
  readonly overflow: OverflowReport;
}

export interface GemmIntArgs extends LinearIntSpec {
  /** [m, k] row-major */
  readonly x: Int32Array;
  readonly m: number;
  readonly k: number;
  /**
   * [nOut, k] row-major: one row per output channel — ONNX Gemm's B with transB = 1, i.e. the
   * transpose of MatMulInteger's / QLinearMatMul's [k, nOut] B. Transpose those before calling.
   */
  readonly w: Int32Array;
  readonly nOut: number;
}

export interface GemmIntResult {
  /** [m, nOut] accumulators after the policy (exact integers) */
  readonly acc: Float64Array;
  readonly overflow: OverflowReport;
}

/** Everything the block kernels read and write; one per call, fixed shape (monomorphic access). */
class Ctx {
  /** operand input: conv padded NCHW, in zp-subtract form already minus z_x */
  x!: Float64Array;
  /** per output position p: offset of its receptive field in x (group 0) */
  posBase!: Int32Array;
  /** per output position p: index of channel 0's output */
  outBase!: Int32Array;
  cStride = 0;
  /** per arrival index j: offset from posBase */
  kOff!: Int32Array;
  /** [nOut, K] weight operands in arrival order */
  wSeq!: Float64Array;
  stepEnd!: Int32Array;
  K = 0;
  T = 0;
  /** starting value per channel (bias, or the folded bias' of the raw form) */
  init!: Float64Array;
  /** the value the accumulator holds after loading it (differs from init only if it overflowed) */
  initAcc!: Float64Array;
  initOver!: Uint8Array;
  /** −z_w per channel when the raw form adds −z_w·Σq_x at the end, else 0 */
  zwNeg!: Float64Array;
  /** Σq_x per position of the current group (raw form with z_w ≠ 0) */
  xSum: Float64Array | null = null;
  checked = false;
  policy = 0;
  bits = 0;
  lo = 0;
  hi = 0;
  psumBits = 0;
  plo = 0;
  phi = 0;
  out!: Float64Array;
  events = 0;
  perChannel!: Float64Array;
  firstPos!: Float64Array;
  firstStep!: Int32Array;
  maxAbs = 0;
  psumEvents = 0;
  /** per block register r: exact running sum, accumulator, last tile's exact sum */
  readonly id = new Float64Array(8);
  readonly a = new Float64Array(8);
  readonly ts = new Float64Array(8);
  /** last tile's in-array partial sum as the accumulator receives it, when psumBits may change it */
  readonly tp = new Float64Array(8);
  psumSeen = false;
  /** the block's positions */
  readonly pos = new Int32Array(8);

}

const EMPTY_F64 = new Float64Array(0);

function record(ctx: Ctx, c: number, p: number, step: number): void {
  ctx.events++;
  ctx.perChannel[c]++;
  const fp = ctx.firstPos[c];
  if (fp < 0 || p < fp || (p === fp && step < ctx.firstStep[c])) {
    ctx.firstPos[c] = p;
    ctx.firstStep[c] = step;
  }
}

/** Block start: load the starting value into nC × nP registers (r = ci·pp + pi). */
function loadBlock(ctx: Ctx, c0: number, nC: number, pp: number, nP: number): void {
  const id = ctx.id;
  const a = ctx.a;
  for (let ci = 0; ci < nC; ci++) {
    const c = c0 + ci;
    const v = ctx.init[c];
    const va = ctx.initAcc[c];
    for (let pi = 0; pi < pp; pi++) {
      id[ci * pp + pi] = v;
      a[ci * pp + pi] = va;
    }
    if (ctx.checked && ctx.initOver[c] === 1) for (let pi = 0; pi < nP; pi++) record(ctx, c, ctx.pos[pi], 0);
  }
}

/** After a tile: add its sums (ctx.ts) to the exact and the policed accumulators. */
function stepBlock(ctx: Ctx, c0: number, nC: number, pp: number, nP: number, step: number): void {
  const id = ctx.id;
  const a = ctx.a;
  const ts = ctx.ts;
  const tp = ctx.psumSeen ? ctx.tp : ctx.ts;
  let m = ctx.maxAbs;
  for (let ci = 0; ci < nC; ci++) {
    for (let pi = 0; pi < nP; pi++) {
      const r = ci * pp + pi;
      const e = id[r] + ts[r];
      id[r] = e;
      if (e > m) m = e;
      else if (-e > m) m = -e;
      if (ctx.checked) {
        const v = a[r] + tp[r];
        if (v < ctx.lo || v > ctx.hi) {
          record(ctx, c0 + ci, ctx.pos[pi], step);
          a[r] = applyPolicy(v, ctx.policy, ctx.bits);
        } else a[r] = v;
      }
    }
  }
  ctx.maxAbs = m;
}

/** Block end: the −z_w·Σq_x step where the raw form needs it, then the outputs. */
function finishBlock(ctx: Ctx, c0: number, nC: number, pp: number, nP: number): void {
  const id = ctx.id;
  const a = ctx.a;
  const step = ctx.T + 1;
  for (let ci = 0; ci < nC; ci++) {
    const c = c0 + ci;
    const zn = ctx.zwNeg[c];
    for (let pi = 0; pi < nP; pi++) {
      const r = ci * pp + pi;
      const p = ctx.pos[pi];
      let e = id[r];
      let v = a[r];
      if (zn !== 0) {
        const t = zn * ctx.xSum![p];
        e += t;
        const ae = e < 0 ? -e : e;
        if (ae > ctx.maxAbs) ctx.maxAbs = ae;
        if (ctx.checked) {
          v += t;
          if (v < ctx.lo || v > ctx.hi) {
            record(ctx, c, p, step);
            v = applyPolicy(v, ctx.policy, ctx.bits);
          }
        }
      }
      ctx.out[ctx.outBase[p] + c * ctx.cStride] = ctx.checked ? v : e;
    }
  }
}

/**
 * Products of 4 weight rows (r0, r0+K, r0+2K, r0+3K) with the receptive fields of 2 positions (input
 * offsets ba, bb) over arrival indices [j0, j1): ts[2i] channel i × position a, ts[2i+1] × b. The
 * register-blocked inner loop the reference kernel and the timing run's tile kernel share.
 */
export function dot4x2(x: Float64Array, kOff: Int32Array, w: Float64Array, r0: number, K: number, ba: number, bb: number, j0: number, j1: number, ts: Float64Array): void {
  const r1 = r0 + K;
  const r2 = r1 + K;
  const r3 = r2 + K;
  let s00 = 0;
  let s01 = 0;
  let s10 = 0;
  let s11 = 0;
  let s20 = 0;
  let s21 = 0;
  let s30 = 0;
  let s31 = 0;
  for (let j = j0; j < j1; j++) {
    const o = kOff[j];
    const xa = x[ba + o];
    const xb = x[bb + o];
    const w0 = w[r0 + j];
    const w1 = w[r1 + j];
    const w2 = w[r2 + j];
    const w3 = w[r3 + j];
    s00 += w0 * xa;
    s01 += w0 * xb;
    s10 += w1 * xa;
    s11 += w1 * xb;
    s20 += w2 * xa;
    s21 += w2 * xb;
    s30 += w3 * xa;
    s31 += w3 * xb;
  }
  ts[0] = s00;
  ts[1] = s01;
  ts[2] = s10;
  ts[3] = s11;
  ts[4] = s20;
  ts[5] = s21;
  ts[6] = s30;
  ts[7] = s31;
}

/** One weight row (r0) with 4 receptive fields (b0…b3) over [j0, j1): ts[i] = position i. */
export function dot1x4(x: Float64Array, kOff: Int32Array, w: Float64Array, r0: number, b0: number, b1: number, b2: number, b3: number, j0: number, j1: number, ts: Float64Array): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let j = j0; j < j1; j++) {
    const o = kOff[j];
    const w0 = w[r0 + j];
    s0 += w0 * x[b0 + o];
    s1 += w0 * x[b1 + o];
    s2 += w0 * x[b2 + o];
    s3 += w0 * x[b3 + o];
  }
  ts[0] = s0;
  ts[1] = s1;
  ts[2] = s2;
  ts[3] = s3;
}

/** 4 output channels × 2 positions (pb may repeat pa when nP = 1). */
function block4x2(ctx: Ctx, c0: number, pa: number, pb: number, nP: number, gOff: number): void {
  const x = ctx.x;
  const kOff = ctx.kOff;
  const w = ctx.wSeq;
  const K = ctx.K;
  const T = ctx.T;
  const stepEnd = ctx.stepEnd;
  const ts = ctx.ts;
  const r0 = c0 * K;
  const ba = ctx.posBase[pa] + gOff;
  const bb = ctx.posBase[pb] + gOff;
  ctx.pos[0] = pa;
  ctx.pos[1] = pb;
  loadBlock(ctx, c0, 4, 2, nP);
  let j = 0;
  for (let s = 0; s < T; s++) {
    const e = stepEnd[s];
    dot4x2(x, kOff, w, r0, K, ba, bb, j, e, ts);
    j = e;
    stepBlock(ctx, c0, 4, 2, nP, s + 1);
  }
  finishBlock(ctx, c0, 4, 2, nP);
}

/** 1 output channel × 4 positions (repeats of the last valid one beyond nP). */
function block1x4(ctx: Ctx, c: number, p0: number, p1: number, p2: number, p3: number, nP: number, gOff: number): void {
  const x = ctx.x;
  const kOff = ctx.kOff;
  const w = ctx.wSeq;
  const T = ctx.T;
  const stepEnd = ctx.stepEnd;
  const ts = ctx.ts;
  const r0 = c * ctx.K;
  const pb = ctx.posBase;
  const b0 = pb[p0] + gOff;
  const b1 = pb[p1] + gOff;
  const b2 = pb[p2] + gOff;
  const b3 = pb[p3] + gOff;
  ctx.pos[0] = p0;
  ctx.pos[1] = p1;
  ctx.pos[2] = p2;
  ctx.pos[3] = p3;
  loadBlock(ctx, c, 1, 4, nP);
  let j = 0;
  for (let s = 0; s < T; s++) {
    const e = stepEnd[s];
    dot1x4(x, kOff, w, r0, b0, b1, b2, b3, j, e, ts);
    j = e;
    stepBlock(ctx, c, 1, 4, nP, s + 1);
  }
  finishBlock(ctx, c, 1, 4, nP);
}

/**
 * The checked accumulator for one channel and up to 8 positions, from the SIMD kernel's tile sums
 * (O[idx + t·8 + i]: tile t of position p0 + i): bias load, each tile, the z_w step, the output.
 */
function tileEpilogue(ctx: Ctx, O: Int32Array, idx: number, c: number, p0: number, pn: number, T: number): void {
  const lo = ctx.lo;
  const hi = ctx.hi;
  const policy = ctx.policy;
  const bits = ctx.bits;
  const e0 = ctx.init[c];
  const a0 = ctx.initAcc[c];
  const over0 = ctx.initOver[c] === 1 ? 1 : 0;
  const zn = ctx.zwNeg[c];
  const xSum = ctx.xSum;
  const out = ctx.out;
  const ob = c * ctx.cStride;
  const outBase = ctx.outBase;
  let m = ctx.maxAbs;
  // a channel's positions and steps arrive in increasing order here, so its first event is the
  // first one met; events are counted locally (the hot case under a narrow accumulator)
  let ev = 0;
  let firstPos = -1;
  let firstStep = 0;
  for (let i = 0; i < pn; i++) {
    const p = p0 + i;
    let e = e0;
    let a = a0;
    if (over0 === 1) {
      if (firstPos < 0) {
        firstPos = p;
        firstStep = 0;
      }
      ev++;
    }
    for (let t = 0; t < T; t++) {
      const s = O[idx + t * 8 + i];
      e += s;
      if (e > m) m = e;
      else if (-e > m) m = -e;
      const v = a + s;
      if (v < lo || v > hi) {
        if (firstPos < 0) {
          firstPos = p;
          firstStep = t + 1;
        }
        ev++;
        a = applyPolicy(v, policy, bits);
      } else a = v;
    }
    if (zn !== 0 && xSum) {
      const t = zn * xSum[p];
      e += t;
      if (e > m) m = e;
      else if (-e > m) m = -e;
      const v = a + t;
      if (v < lo || v > hi) {
        if (firstPos < 0) {
          firstPos = p;
          firstStep = T + 1;
        }
        ev++;
        a = applyPolicy(v, policy, bits);
      } else a = v;
    }
    out[outBase[p] + ob] = a;
  }
  ctx.maxAbs = m;
  if (ev > 0) {
    ctx.events += ev;
    ctx.perChannel[c] += ev;
    if (ctx.firstPos[c] < 0) {
      ctx.firstPos[c] = firstPos;
      ctx.firstStep[c] = firstStep;
    }
  }
}

/**
 * The proved path for one output channel over all positions, 4 at a time, epilogue inline: the
 * single-channel groups of depthwise convs have short reductions, so per-block calls would cost
 * more than the MACs.
 */
function channelFast(ctx: Ctx, c: number, P: number, gOff: number): void {
  const x = ctx.x;
  const kOff = ctx.kOff;
  const w = ctx.wSeq;
  const T = ctx.T;
  const stepEnd = ctx.stepEnd;
  const r0 = c * ctx.K;
  const posBase = ctx.posBase;
  const outBase = ctx.outBase;
  const out = ctx.out;
  const ob = c * ctx.cStride;
  const init = ctx.init[c];
  const zn = ctx.zwNeg[c];
  const xSum = ctx.xSum;
  let m = ctx.maxAbs;
  for (let p = 0; p < P; p += 4) {
    const n = P - p < 4 ? P - p : 4;
    const b0 = posBase[p] + gOff;
    const b1 = posBase[n > 1 ? p + 1 : p] + gOff;
    const b2 = posBase[n > 2 ? p + 2 : p] + gOff;
    const b3 = posBase[n > 3 ? p + 3 : p] + gOff;
    let e0 = init;
    let e1 = init;
    let e2 = init;
    let e3 = init;
    let j = 0;
    for (let s = 0; s < T; s++) {
      const end = stepEnd[s];
      for (; j < end; j++) {
        const o = kOff[j];
        const wv = w[r0 + j];
        e0 += wv * x[b0 + o];
        e1 += wv * x[b1 + o];
        e2 += wv * x[b2 + o];
        e3 += wv * x[b3 + o];
      }
      // running sums at the step boundary (repeats of the last position change nothing)
      const a0 = e0 < 0 ? -e0 : e0;
      const a1 = e1 < 0 ? -e1 : e1;
      const a2 = e2 < 0 ? -e2 : e2;
      const a3 = e3 < 0 ? -e3 : e3;
      if (a0 > m) m = a0;
      if (a1 > m) m = a1;
      if (a2 > m) m = a2;
      if (a3 > m) m = a3;
    }
    for (let i = 0; i < n; i++) {
      let e = i === 0 ? e0 : i === 1 ? e1 : i === 2 ? e2 : e3;
      if (zn !== 0 && xSum) {
        e += zn * xSum[p + i];
        const ae = e < 0 ? -e : e;
        if (ae > m) m = ae;
      }
      out[outBase[p + i] + ob] = e;
    }
  }
  ctx.maxAbs = m;
}

/** One output, every in-array add checked against psumBits (a partial sum the bounds cannot clear). */
function outputPsumChecked(ctx: Ctx, c: number, p: number, gOff: number): void {
  const x = ctx.x;
  const kOff = ctx.kOff;
  const w = ctx.wSeq;
  const T = ctx.T;
  const stepEnd = ctx.stepEnd;
  const plo = ctx.plo;
  const phi = ctx.phi;
  const pol = ctx.policy;
  const pbits = ctx.psumBits;
  const r0 = c * ctx.K;
  const b = ctx.posBase[p] + gOff;
  ctx.pos[0] = p;
  loadBlock(ctx, c, 1, 1, 1);
  let j = 0;
  let over = 0;
  for (let s = 0; s < T; s++) {
    const e = stepEnd[s];
    let exact = 0;
    let ps = 0;
    for (; j < e; j++) {
      const prod = w[r0 + j] * x[b + kOff[j]];
      exact += prod;
      const v = ps + prod;
      if (v < plo || v > phi) {
        over++;
        ps = applyPolicy(v, pol, pbits);
      } else ps = v;
    }
    // the accumulator receives the in-array sum; the exact running sum (maxAbs) the exact one
    ctx.ts[0] = exact;
    ctx.tp[0] = ps;
    stepBlock(ctx, c, 1, 1, 1, s + 1);
  }
  ctx.psumEvents += over;
  finishBlock(ctx, c, 1, 1, 1);
}

/** Σq_x over each position's receptive field (padding = z_x): the in-array column of ones the raw form's z_w term needs. */
function receptiveSums(x: Float64Array | Int16Array, posBase: Int32Array, gOff: number, kOff: Int32Array, sums: Float64Array): void {
  const K = kOff.length;
  for (let p = 0; p < sums.length; p++) {
    const b = posBase[p] + gOff;
    let s = 0;
    for (let j = 0; j < K; j++) s += x[b + kOff[j]];
    sums[p] = s;
  }
}

/** Layer geometry as the kernels see it (static per layer). */
export interface Geometry {
  posBase: Int32Array;
  outBase: Int32Array;
  cStride: number;
  groupXStride: number;
  /** kOrder-numbered index → offset from posBase */
  offOf: (o: number) => number;
  /** kOrder-numbered index → index within a weight row (ONNX layout) */
  wIndexOf: (o: number) => number;
  positions: number;
  nOut: number;
  group: number;
  k: number;
  outLength: number;
}

function checkRange(data: Int32Array, lo: number, hi: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo || v > hi) throw new ModelError(`${what}[${i}] = ${v} is outside its quantized range [${lo}, ${hi}]`);
  }
}

function validateCommon(a: LinearIntSpec, nOut: number): void {
  invariant(Number.isInteger(a.acc.bits) && a.acc.bits >= 2 && a.acc.bits <= 64, `accumulator bits must be 2…64, got ${a.acc.bits}`);
  const pb = a.order.psumBits;
  invariant(pb === undefined || (Number.isInteger(pb) && pb >= 2 && pb <= 64), `psumBits must be 2…64, got ${pb}`);
  invariant(a.xBits >= 1 && a.xBits <= 32 && a.wBits >= 1 && a.wBits <= 32, 'operand bits must be 1…32');
  invariant(a.zw.length === 1 || a.zw.length === nOut, `zw has ${a.zw.length} entries for ${nOut} output channels`);
  invariant(!a.bias || a.bias.length === nOut, `bias has ${a.bias?.length} entries for ${nOut} output channels`);
  const xr = intRange(a.xBits, a.xSigned);
  if (!Number.isInteger(a.zx) || a.zx < xr.lo || a.zx > xr.hi) throw new ModelError(`input zero point ${a.zx} is outside [${xr.lo}, ${xr.hi}]`);
  const wr = intRange(a.wBits, a.wSigned);
  checkRange(a.zw, wr.lo, wr.hi, 'weight zero point');
}

/**
 * Everything about a layer that does not depend on the input: the bound analysis, the gather
 * table and weights in arrival order, the starting values. Built once, run on many inputs.
 */
export class Prepared {
  readonly K: number;
  readonly kOff: Int32Array;
  readonly stepEnd: Int32Array;
  readonly wSeq: Float64Array;
  readonly init: Float64Array;
  readonly initAcc: Float64Array;
  readonly initOver: Uint8Array;
  readonly zwNeg: Float64Array;
  readonly zwChannels: number;
  readonly checked: boolean;
  readonly psumKernel: boolean;
  readonly policy: number;
  readonly bits: number;
  readonly psumBits: number;
  readonly proved: boolean;
  /** the WebAssembly SIMD kernel, where its int16 / int32 arithmetic is provably exact (proved: whole sums; checked: tile sums) */
  readonly dot: DotLayer | null = null;

  constructor(a: LinearIntSpec, w: Int32Array, geo: Geometry) {
    const { nOut, k: K } = geo;
    const raw = a.form === 'raw';
    const perTensorZw = a.zw.length === 1;
    const bounds = channelBounds({ w, nOut, zw: a.zw, bias: a.bias, zx: a.zx, xBits: a.xBits, xSigned: a.xSigned, form: a.form });
    if (bounds.magnitude >= 2 ** 53) {
      throw new ModelError(`accumulation bound ${bounds.magnitude} reaches 2^53: beyond exact Float64 integer arithmetic (K = ${K})`);
    }
    const { lo, hi } = accRange(a.acc.bits);
    const psumBits = a.order.psumBits;
    let provedAcc = true;
    let provedPsum = true;
    for (let c = 0; c < nOut; c++) {
      if (bounds.lo[c] < lo || bounds.hi[c] > hi) provedAcc = false;
      if (psumBits !== undefined && (bounds.psumLo[c] < -(2 ** (psumBits - 1)) || bounds.psumHi[c] > 2 ** (psumBits - 1) - 1)) provedPsum = false;
    }
    const always = a.checking === 'always';
    this.checked = always || !provedAcc || !provedPsum;
    this.proved = !this.checked;
    this.psumKernel = psumBits !== undefined && (always || !provedPsum);
    this.policy = policyCode(a.acc.policy);
    this.bits = a.acc.bits;
    this.psumBits = psumBits ?? 64;

    const { seq, stepEnd } = arrivalSequence(K, a.order);
    this.K = K;
    this.stepEnd = stepEnd;
    const kOff = new Int32Array(K);
    const wIdx = new Int32Array(K);
    for (let j = 0; j < K; j++) {
      kOff[j] = geo.offOf(seq[j]);
      wIdx[j] = geo.wIndexOf(seq[j]);
    }
    this.kOff = kOff;
    const wSeq = new Float64Array(nOut * K);
    const init = new Float64Array(nOut);
    const initAcc = new Float64Array(nOut);
    const initOver = new Uint8Array(nOut);
    const zwNeg = new Float64Array(nOut);
    let zwChannels = 0;
    for (let c = 0; c < nOut; c++) {
      const zw = perTensorZw ? a.zw[0] : a.zw[c];
      const row = c * K;
      const sub = raw ? 0 : zw;
      let wSum = 0;
      for (let j = 0; j < K; j++) wSeq[row + j] = w[row + wIdx[j]] - sub;
      for (let i = row; i < row + K; i++) wSum += w[i];
      const b = a.bias ? a.bias[c] : 0;
      // raw form: bias' = bias − z_x·Σq_w + K·z_w·z_x, so that bias' + Σq_w·q_x − z_w·Σq_x is exact
      const iv = raw ? b - a.zx * wSum + K * zw * a.zx : b;
      init[c] = iv;
      if (iv < lo || iv > hi) {
        initOver[c] = 1;
        initAcc[c] = applyPolicy(iv, this.policy, this.bits);
      } else initAcc[c] = iv;
      if (raw && zw !== 0) {
        zwNeg[c] = -zw;
        zwChannels++;
      }
    }
    this.wSeq = wSeq;
    this.init = init;
    this.initAcc = initAcc;
    this.initOver = initOver;
    this.zwNeg = zwNeg;
    this.zwChannels = zwChannels;

    // the SIMD kernel: exact when operands fit int16 and every sum it forms fits int32 — on the
    // proved path the running sums, on the checked path (exact partial sums only) the tile sums;
    // worth its im2col only when each gathered input feeds several channels (not depthwise)
    let psumMag = 0;
    for (let c = 0; c < nOut; c++) psumMag = Math.max(psumMag, -bounds.psumLo[c], bounds.psumHi[c]);
    const exactInt32 = this.proved ? bounds.magnitude < 2 ** 31 : !this.psumKernel && psumMag < 2 ** 31;
    if (a.kernel !== 'js' && exactInt32 && nOut / geo.group >= 4) {
      const xr = intRange(a.xBits, a.xSigned);
      const sub = raw ? 0 : a.zx;
      let fits = xr.lo - sub >= -32768 && xr.hi - sub <= 32767;
      for (let i = 0; fits && i < wSeq.length; i++) if (wSeq[i] < -32768 || wSeq[i] > 32767) fits = false;
      if (fits) this.dot = DotLayer.create(wSeq, nOut, K, stepEnd, init, kOff);
    }
  }

  /** The state a run's block kernels share. */
  private context(geo: Geometry, x: Float64Array, out: Float64Array | undefined): Ctx {
    const ctx = new Ctx();
    const { lo, hi } = accRange(this.bits);
    ctx.checked = this.checked;
    ctx.psumSeen = this.psumKernel;
    ctx.policy = this.policy;
    ctx.bits = this.bits;
    ctx.lo = lo;
    ctx.hi = hi;
    ctx.psumBits = this.psumBits;
    ctx.plo = -(2 ** (this.psumBits - 1));
    ctx.phi = 2 ** (this.psumBits - 1) - 1;
    ctx.x = x;
    ctx.posBase = geo.posBase;
    ctx.outBase = geo.outBase;
    ctx.cStride = geo.cStride;
    ctx.kOff = this.kOff;
    ctx.wSeq = this.wSeq;
    ctx.stepEnd = this.stepEnd;
    ctx.K = geo.k;
    ctx.T = this.stepEnd.length;
    ctx.init = this.init;
    ctx.initAcc = this.initAcc;
    ctx.initOver = this.initOver;
    ctx.zwNeg = this.zwNeg;
    ctx.out = out ?? new Float64Array(geo.outLength);
    invariant(ctx.out.length === geo.outLength, `out has ${ctx.out.length} elements, the layer ${geo.outLength}`);
    const nOut = geo.nOut;
    ctx.perChannel = new Float64Array(nOut);
    ctx.firstPos = new Float64Array(nOut).fill(-1);
    ctx.firstStep = new Int32Array(nOut);
    // the bias load is the first value every accumulator holds
    if (geo.positions > 0) for (let c = 0; c < nOut; c++) if (Math.abs(this.init[c]) > ctx.maxAbs) ctx.maxAbs = Math.abs(this.init[c]);
    return ctx;
  }

  private report(ctx: Ctx, positions: number, xSumAdds: number): OverflowReport {
    let first: OverflowReport['first'] = null;
    for (let c = 0; c < ctx.firstPos.length && !first; c++) {
      if (ctx.firstPos[c] >= 0) first = { channel: c, position: ctx.firstPos[c], step: ctx.firstStep[c] };
    }
    return {
      events: ctx.events,
      perChannel: ctx.perChannel,
      first,
      proved: this.proved,
      maxAbs: ctx.maxAbs,
      zwSumSteps: positions * this.zwChannels,
      xSumAdds,
      tiles: ctx.T,
      psumEvents: ctx.psumEvents,
    };
  }

  /**
   * The checked path with tile sums from the SIMD kernel (exact: the partial-sum bounds fit
   * int32): per group im2col, then in chunks of position blocks every tile's sums, which
   * tileEpilogue feeds to the accumulator.
   */
  private runDotChecked(geo: Geometry, input: Int16Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
    const dot = this.dot!;
    const { nOut, k: K, positions: P, group } = geo;
    const ocg = nOut / group;
    const T = this.stepEnd.length;
    const ctx = this.context(geo, EMPTY_F64, out);
    const nPB = Math.ceil(P / 8);
    const xSum = this.zwChannels > 0 ? new Float64Array(P) : null;
    let xSumAdds = 0;
    for (let g = 0; g < group && P > 0; g++) {
      const gOff = g * geo.groupXStride;
      const c0 = g * ocg;
      let needSum = false;
      for (let c = c0; c < c0 + ocg; c++) if (this.zwNeg[c] !== 0) needSum = true;
      if (needSum && xSum) {
        receptiveSums(input, geo.posBase, gOff, this.kOff, xSum);
        ctx.xSum = xSum;
        xSumAdds += P * K;
      }
      dot.gather(gOff);
      for (let pb0 = 0; pb0 < nPB; pb0 += dot.chunk) {
        const nb = Math.min(dot.chunk, nPB - pb0);
        const O = dot.runTiles(c0, ocg, pb0, nb);
        let idx = 0;
        for (let b = 0; b < nb; b++) {
          const p0 = (pb0 + b) * 8;
          const pn = Math.min(8, P - p0);
          for (let ci = 0; ci < ocg; ci++) {
            tileEpilogue(ctx, O, idx, c0 + ci, p0, pn, T);
            idx += T * 8;
          }
        }
      }
    }
    return { out: ctx.out, overflow: this.report(ctx, P, xSumAdds) };
  }

  /**
   * The proved path on the SIMD kernel. The caller has filled `dot.begin`'s posBase and padded
   * int16 input; per group: im2col, one call over all positions, then outputs (and the raw
   * form's z_w step).
   */
  runDot(geo: Geometry, input: Int16Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
    if (this.checked) return this.runDotChecked(geo, input, out);
    const dot = this.dot!;
    const { nOut, k: K, positions: P, group } = geo;
    const ocg = nOut / group;
    const res = out ?? new Float64Array(geo.outLength);
    invariant(res.length === geo.outLength, `out has ${res.length} elements, the layer ${geo.outLength}`);
    let maxAbs = 0;
    if (P > 0) for (let c = 0; c < nOut; c++) if (Math.abs(this.init[c]) > maxAbs) maxAbs = Math.abs(this.init[c]);
    const xSum = this.zwChannels > 0 ? new Float64Array(P) : null;
    let xSumAdds = 0;
    const outBase = geo.outBase;
    const cStride = geo.cStride;
    for (let g = 0; g < group && P > 0; g++) {
      const gOff = g * geo.groupXStride;
      const c0 = g * ocg;
      let needSum = false;
      for (let c = c0; c < c0 + ocg; c++) if (this.zwNeg[c] !== 0) needSum = true;
      if (needSum && xSum) {
        receptiveSums(input, geo.posBase, gOff, this.kOff, xSum);
        xSumAdds += P * K;
      }
      dot.gather(gOff);
      const m = dot.run(c0, ocg);
      if (m > maxAbs) maxAbs = m;
      const O = dot.output(ocg);
      // O is [position block][channel][8 positions]: read it in order, scatter to NCHW
      const nPB = Math.ceil(P / 8);
      let idx = 0;
      for (let pb = 0; pb < nPB; pb++) {
        const p0 = pb * 8;
        const pn = Math.min(8, P - p0);
        for (let ci = 0; ci < ocg; ci++) {
          const c = c0 + ci;
          const zn = this.zwNeg[c];
          const ob = c * cStride;
          if (zn === 0 || !xSum) {
            for (let i = 0; i < pn; i++) res[outBase[p0 + i] + ob] = O[idx + i];
          } else {
            for (let i = 0; i < pn; i++) {
              const v = O[idx + i] + zn * xSum[p0 + i];
              const av = v < 0 ? -v : v;
              if (av > maxAbs) maxAbs = av;
              res[outBase[p0 + i] + ob] = v;
            }
          }
          idx += 8;
        }
      }
    }
    const overflow: OverflowReport = {
      events: 0,
      perChannel: new Float64Array(nOut),
      first: null,
      proved: true,
      maxAbs,
      zwSumSteps: P * this.zwChannels,
      xSumAdds,
      tiles: this.stepEnd.length,
      psumEvents: 0,
    };
    return { out: res, overflow };
  }

  /**
   * Runs the layer on an operand input laid out for `geo` (conv: padded; zp form: minus z_x);
   * `geo` may differ from the constructor's only in its positions (gemm batch size).
   */
  run(geo: Geometry, x: Float64Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
    const { nOut, k: K, positions: P, group } = geo;
    const ocg = nOut / group;
    const ctx = this.context(geo, x, out);

    const kOff = this.kOff;
    const zwNeg = this.zwNeg;
    let xSumAdds = 0;
    const xSum = this.zwChannels > 0 ? new Float64Array(P) : null;
    for (let g = 0; g < group; g++) {
      const gOff = g * geo.groupXStride;
      const cStart = g * ocg;
      const cEnd = cStart + ocg;
      let needSum = false;
      for (let c = cStart; c < cEnd; c++) if (zwNeg[c] !== 0) needSum = true;
      if (needSum && xSum) {
        receptiveSums(x, geo.posBase, gOff, kOff, xSum);
        ctx.xSum = xSum;
        xSumAdds += P * K;
      }
      if (this.psumKernel) {
        for (let c = cStart; c < cEnd; c++) for (let p = 0; p < P; p++) outputPsumChecked(ctx, c, p, gOff);
        continue;
      }
      let c = cStart;
      for (; c + 4 <= cEnd; c += 4) {
        for (let p = 0; p < P; p += 2) {
          const two = p + 1 < P;
          block4x2(ctx, c, p, two ? p + 1 : p, two ? 2 : 1, gOff);
        }
      }
      if (!ctx.checked) {
        for (; c < cEnd; c++) channelFast(ctx, c, P, gOff);
      }
      for (; c < cEnd; c++) {
        for (let p = 0; p < P; p += 4) {
          const n = Math.min(4, P - p);
          block1x4(ctx, c, p, n > 1 ? p + 1 : p, n > 2 ? p + 2 : p, n > 3 ? p + 3 : p, n, gOff);
        }
      }
    }

    const overflow = this.report(ctx, P, xSumAdds);
    return { out: ctx.out, overflow };
  }
}

/** A conv layer prepared for repeated runs: weights, order and bounds are fixed, the input varies. */
export interface PreparedConvInt {
  readonly outShape: readonly [number, number, number, number];
  /** whether the bound analysis proved the layer safe (then runs skip per-step checks) */
  readonly proved: boolean;
  /** which implementation computes the products: WebAssembly SIMD or the Float64 loops */
  readonly kernel: 'wasm' | 'js';
  run(x: Int32Array, out?: Float64Array): ConvIntResult;
}

/** A gemm layer prepared for repeated runs. */
export interface PreparedGemmInt {
  readonly proved: boolean;
  readonly kernel: 'wasm' | 'js';
  run(x: Int32Array, m: number, out?: Float64Array): GemmIntResult;
}

export type ConvIntSpec = Omit<ConvIntArgs, 'x' | 'out'>;
export type GemmIntSpec = Omit<GemmIntArgs, 'x' | 'm' | 'out'>;

/** A conv layer's im2col addressing over its padded input (K numbered in `kOrder`). */
export interface ConvGeometry {
  readonly geo: Geometry;
  /** padded height and width, and their product */
  readonly hp: number;
  readonly wp: number;
  readonly plane: number;
  readonly outShape: [number, number, number, number];
}

/**
 * The addressing prepareConvInt and the timing run's tile kernels share; a message (string) when
 * the kernel does not fit the padded input.
 */
export function convGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  strides: readonly [number, number],
  pads: readonly [number, number, number, number],
  dilations: readonly [number, number],
  group: number,
  kOrder: AccumulationOrder['kOrder'],
): ConvGeometry | string {
  const [n, c, h, wd] = xShape;
  const [oc, icg, kh, kw] = wShape;
  const [sh, sw] = strides;
  const [pt, pl, pbot, pr] = pads;
  const [dh, dw] = dilations;
  const hp = h + pt + pbot;
  const wp = wd + pl + pr;
  const oh = Math.floor((hp - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wp - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) return `output would be ${oh}×${ow}: the kernel does not fit the padded input`;
  const plane = hp * wp;
  const area = oh * ow;
  const positions = n * area;
  const posBase = new Int32Array(positions);
  const outBase = new Int32Array(positions);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const p = b * area + oy * ow + ox;
        posBase[p] = b * c * plane + oy * sh * wp + ox * sw;
        outBase[p] = b * oc * area + oy * ow + ox;
      }
    }
  }
  const kk = kh * kw;
  // kOrder numbering → (ic, ky, kx)
  const ckkOf = kOrder === 'kkc' ? (o: number) => (o % icg) * kk + Math.floor(o / icg) : (o: number) => o;
  const geo: Geometry = {
    posBase,
    outBase,
    cStride: area,
    groupXStride: icg * plane,
    offOf: (o) => {
      const i = ckkOf(o);
      const ic = Math.floor(i / kk);
      const r = i - ic * kk;
      const ky = Math.floor(r / kw);
      const kx = r - ky * kw;
      return ic * plane + ky * dh * wp + kx * dw;
    },
    wIndexOf: ckkOf,
    positions,
    nOut: oc,
    group,
    k: icg * kk,
    outLength: positions * oc,
  };
  return { geo, hp, wp, plane, outShape: [n, oc, oh, ow] };
}

/**
 * Prepares a conv layer: validates it, runs the bound analysis, lays the weights out in arrival
 * order. The weights are copied: later changes to `spec.w` do not reach the prepared layer.
 */
export function prepareConvInt(spec: ConvIntSpec): PreparedConvInt {
  const [n, c, h, wd] = spec.xShape;
  const [oc, icg, kh, kw] = spec.wShape;
  const [sh, sw] = spec.strides;
  const [pt, pl, pbot, pr] = spec.pads;
  const [dh, dw] = spec.dilations;
  const group = spec.group;
  invariant([n, c, h, wd, oc, icg, kh, kw].every((d) => Number.isInteger(d) && d >= 1), `shapes must be positive: x [${spec.xShape}], w [${spec.wShape}]`);
  invariant(spec.w.length === oc * icg * kh * kw, `w has ${spec.w.length} elements for shape [${spec.wShape}]`);
  invariant(Number.isInteger(group) && group >= 1 && c === icg * group && oc % group === 0, `group ${group} does not fit ${c} input / ${oc} output channels (weight expects ${icg} per group)`);
  invariant(sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1, 'strides and dilations must be ≥ 1');
  invariant(pt >= 0 && pl >= 0 && pbot >= 0 && pr >= 0, 'pads must be ≥ 0');
  validateCommon(spec, oc);
  const xr = intRange(spec.xBits, spec.xSigned);
  const wr = intRange(spec.wBits, spec.wSigned);
  checkRange(spec.w, wr.lo, wr.hi, 'weight');
  const cg = convGeometry(spec.xShape, spec.wShape, spec.strides, spec.pads, spec.dilations, group, spec.order.kOrder);
  if (typeof cg === 'string') throw new ModelError(`conv ${cg}`);
  const { geo, hp, wp, plane } = cg;
  const positions = geo.positions;
  const prep = new Prepared(spec, spec.w, geo);
  // padding holds what the PE sees there: z_x in raw form, 0 once z_x is subtracted
  const zp = spec.form === 'zp-subtract';
  const sub = zp ? spec.zx : 0;
  const padValue = zp ? 0 : spec.zx;
  const outShape = cg.outShape;
  return {
    outShape,
    proved: prep.proved,
    kernel: prep.dot ? 'wasm' : 'js',
    run(x: Int32Array, out?: Float64Array): ConvIntResult {
      invariant(x.length === n * c * h * wd, `x has ${x.length} elements for shape [${spec.xShape}]`);
      let r: { out: Float64Array; overflow: OverflowReport };
      if (prep.dot) {
        const buf = prep.dot.begin(n * c * plane, positions, oc / group, prep.checked);
        buf.posBase.set(geo.posBase);
        fillPadded(buf.input, x, n * c, h, wd, hp, wp, pt, pl, padValue, sub, xr.lo, xr.hi);
        r = prep.runDot(geo, buf.input, out);
      } else {
        const xp = new Float64Array(n * c * plane);
        fillPadded(xp, x, n * c, h, wd, hp, wp, pt, pl, padValue, sub, xr.lo, xr.hi);
        r = prep.run(geo, xp, out);
      }
      return { acc: r.out, outShape: [...outShape], overflow: r.overflow };
    },
  };
}

/**
 * The operand input as the PEs see it: each h×w plane inside its padding (which holds padValue),
 * minus `sub`; checks every value against the declared range on the way.
 */
export function fillPadded(
  dst: Float64Array | Int16Array,
  x: Int32Array,
  planes: number,
  h: number,
  wd: number,
  hp: number,
  wp: number,
  pt: number,
  pl: number,
  padValue: number,
  sub: number,
  lo: number,
  hi: number,
): void {
  dst.fill(padValue);
  const plane = hp * wp;
  for (let nc = 0; nc < planes; nc++) {
    const src = nc * h * wd;
    const d = nc * plane + pt * wp + pl;
    for (let y = 0; y < h; y++) {
      const s0 = src + y * wd;
      const d0 = d + y * wp;
      for (let i = 0; i < wd; i++) {
        const q = x[s0 + i];
        if (q < lo || q > hi) throw new ModelError(`input[${s0 + i}] = ${q} is outside its quantized range [${lo}, ${hi}]`);
        dst[d0 + i] = q - sub;
      }
    }
  }
}

/** Prepares a gemm layer (see prepareConvInt); the batch size m may differ between runs. */
export function prepareGemmInt(spec: GemmIntSpec): PreparedGemmInt {
  const { k, nOut } = spec;
  invariant(Number.isInteger(k) && Number.isInteger(nOut) && k >= 1 && nOut >= 1, 'gemm sizes k and nOut must be integers ≥ 1');
  invariant(spec.w.length === nOut * k, `w has ${spec.w.length} elements for [${nOut}, ${k}]`);
  validateCommon(spec, nOut);
  const xr = intRange(spec.xBits, spec.xSigned);
  const wr = intRange(spec.wBits, spec.wSigned);
  checkRange(spec.w, wr.lo, wr.hi, 'weight');
  const sub = spec.form === 'zp-subtract' ? spec.zx : 0;
  const geoFor = (m: number): Geometry => {
    const posBase = new Int32Array(m);
    const outBase = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      posBase[i] = i * k;
      outBase[i] = i * nOut;
    }
    return { posBase, outBase, cStride: 1, groupXStride: 0, offOf: (o) => o, wIndexOf: (o) => o, positions: m, nOut, group: 1, k, outLength: m * nOut };
  };
  const prep = new Prepared(spec, spec.w, geoFor(0));
  const geos = new Map<number, Geometry>();
  return {
    proved: prep.proved,
    kernel: prep.dot ? 'wasm' : 'js',
    run(x: Int32Array, m: number, out?: Float64Array): GemmIntResult {
      invariant(Number.isInteger(m) && m >= 0, `m must be a non-negative integer, got ${m}`);
      invariant(x.length === m * k, `x has ${x.length} elements for [${m}, ${k}]`);
      let geo = geos.get(m);
      if (!geo) {
        geo = geoFor(m);
        geos.set(m, geo);
      }
      let r: { out: Float64Array; overflow: OverflowReport };
      if (prep.dot) {
        const buf = prep.dot.begin(m * k, m, nOut, prep.checked);
        buf.posBase.set(geo.posBase);
        fillPadded(buf.input, x, 1, m, k, m, k, 0, 0, 0, sub, xr.lo, xr.hi);
        r = prep.runDot(geo, buf.input, out);
      } else {
        const xs = new Float64Array(m * k);
        fillPadded(xs, x, 1, m, k, m, k, 0, 0, 0, sub, xr.lo, xr.hi);
        r = prep.run(geo, xs, out);
      }
      return { acc: r.out, overflow: r.overflow };
    },
  };
}

/**
 * Integer convolution (ONNX ConvInteger semantics plus bias and per-channel weight zero points)
 * on the accumulator `acc`, reduced in `order`, with PEs of `form`. For many inputs through one
 * layer, prepareConvInt once and run it.
 */
export function convInt(args: ConvIntArgs): ConvIntResult {
  return prepareConvInt(args).run(args.x, args.out);
}

/**
 * Integer fully connected layer: acc[i, o] = bias[o] + Σ_k (w[o, k] − z_w[o])(x[i, k] − z_x).
 * `w` is [nOut, k] (see GemmIntArgs); `order.kOrder` has no effect (K has one axis).
 */
export function gemmInt(args: GemmIntArgs): GemmIntResult {
  return prepareGemmInt(args).run(args.x, args.m, args.out);
}
