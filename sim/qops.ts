/**
 * Integer (non-MAC) ops on quantized tensors, each in two modes:
 *
 * `float` — bit-exact to onnxruntime 1.30's CPU contrib kernels on x86-64 with AVX2/FMA (the
 *   machine class the golden tests run on). Sources read, and what they do:
 *   - QLinearAdd (contrib_ops/cpu/quantization/qlinear_binary_op.cc, mlas/lib/intrinsics/avx2/
 *     qladd_avx2.cpp `MlasQLinearAddKernelAvx2Helper`): rA = f32(sA/sC), rB = f32(sB/sC),
 *     F = f32(zC − fma(rA, zA, f32(rB·zB))) — the compiler contracts that C++ expression into an
 *     FMA (the uncontracted form and the other operand order disagree with ORT) — then per
 *     element t = fma(a, rA, fma(b, rB, F)) on the RAW codes (the scalar-B kernel's
 *     F + b·rB is contracted too, so it is the same chain), CVTPS2DQ (half-even; out of int32 →
 *     INT32_MIN) and saturating packs. When the
 *     broadcaster makes input 0 the per-span scalar, ORT swaps the operands (input 1 becomes "A"),
 *     which changes the FMA order; `ortAddSwapsInputs` reproduces core/providers/cpu/math/
 *     element_wise_ops.h `Broadcaster`'s choice.
 *   - QLinearConcat (qlinear_concat.cc, qlinear_lookup_table.cc `QlinearBuildLookupTable`): an input
 *     whose scale and zero point equal the output's is copied; otherwise a 256-entry table
 *     maps code c to QuantizeLinear(f32(sx·(c − zx)), sy, zy) (MlasQuantizeLinear divides).
 *   - QLinearGlobalAveragePool (qlinear_global_average_pool.cc, mlas/lib/qlgavgpool.cpp): int32
 *     sum of the codes − zx·n, then MlasRequantizeOutput with scale f32(sx / f32(sy·n)) (verified
 *     against the two other plausible orders), error unless n < 2^24 and 2^−32 ≤ scale < 256.
 *   - QLinearAveragePool (qlinear_pool.cc): kernel == spatial dims with zero pads falls back to the
 *     global pool above; otherwise codes are dequantized to float32 f32(sx·(c − zx)), summed in
 *     float32 in window order (rows, then columns), divided by the count (count_include_pad: the
 *     full kernel area; else the window clipped to the input), and quantized as
 *     nearbyint(f32(f32(y / sy) + zy)) — the zero point is added BEFORE rounding, unlike
 *     QuantizeLinear.
 *   - QLinearSigmoid (qlinear_activations.cc): the same 256-entry table, built with
 *     MlasComputeLogistic — on AVX2 machines `MlasComputeLogisticF32KernelFma3`
 *     (mlas/lib/x86_64/LogisticKernelFma3.S: Eigen's rational polynomial with FMAs, clamp of the
 *     input to ±18, only the lower clamp of the output) — then MlasQuantizeLinear.
 *   - MaxPool on int8/uint8: an exact max; output sizes as pool_attributes.h (ceil_mode drops a
 *     last window that would start in the end padding).
 *   CPUs without AVX2/FMA, and ARM (NEON QLinearAdd/GlobalAveragePool are fixed-point there), give
 *   different last bits; those kernels are not modelled.
 *
 * The pools live in qops-pool.ts (re-exported here), the helpers all of them share in qops-common.ts.
 *
 * `fixed` — integer-only, the TFLite way (tensorflow/lite/kernels/add.cc, reference_ops
 *   AveragePool, Concatenation): Add with left shift 20 (15 above 8 bits) and per-input multipliers
 *   from QuantizeMultiplierSmallerThanOneExp; average pool with rounding (half away from zero)
 *   integer division when input and output share parameters, else Σ(q − zx) times a multiplier
 *   sx/(sy·count); concat copies or rescales with a multiplier sx/sy; sigmoid is a LUT (lut.ts).
 *   Multiplier width and rounding come from the RequantConfig.
 */
import { InvariantError } from '../nets/errors.js';
import type { QActivation, QParams } from '../qnet/network.js';
import { buildLut } from '../qnet/lut.js';
import { fma32, qRange, quantizeValue, roundHalfEven } from '../qnet/qmath.js';
import { FixedMultiplier, quantizeMultiplier, type RequantConfig } from '../qnet/requant.js';
import { addFixedWasm, addLookupWasm } from '../qnet/requant-wasm.js';
import { applyActivation, checkLen, NONE, numel, outBuf, scalarParams, type QResult, type QTensorView } from './qops-common.js';

export type { QResult, QTensorView } from './qops-common.js';
export { maxPoolInt, plain2x2Pool, qlinearAveragePool, qlinearGlobalAveragePool, type AutoPad, type PoolAttrs } from './qops-pool.js';

// ------------------------------------------------------------------------------------------------
// Broadcasting

/** Numpy/ONNX multidirectional broadcast of two shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new InvariantError(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Whether onnxruntime's Broadcaster treats input 0 as the per-span scalar (and QLinearAdd then
 * swaps its operands): decided by input 0's extent along the innermost dimension the broadcaster
 * initialises — the innermost one whose broadcast size exceeds 1 among the trailing common dims
 * (or the outermost common dim if all are 1), or the last dim when one input is rank 0.
 */
export function ortAddSwapsInputs(a: readonly number[], b: readonly number[]): boolean {
  const rmin = Math.min(a.length, b.length);
  if (rmin === 0) {
    if (a.length === 0) return true; // Init(1, ·): input 0 is scalar (also when both are)
    return a[a.length - 1] <= 1; // input 1 scalar: Init(axis, axis) keeps input 0 a span only if axis > 1
  }
  for (let i = 0; i < rmin; i++) {
    const a1 = a[a.length - 1 - i];
    const b1 = b[b.length - 1 - i];
    const dim = Math.min(a1, b1) === 0 ? Math.min(a1, b1) : Math.max(a1, b1);
    if (dim <= 1 && i + 1 < rmin) continue;
    return !(a1 > 1);
  }
  return false;
}

/** float-mode Add tables by their constants (a network has a handful of adds; bounded anyway) */
const addTables = new Map<string, Int32Array>();
const ADD_TABLES_MAX = 64;

/**
 * The float-mode Add of every pair of 8-bit codes (p − pmin)·256 + (s − smin) → output code, by
 * `one` itself: a table of 65,536 outputs replaces two emulated float32 FMAs per element. Null
 * (compute directly) for a call too small to pay for building one that is not cached yet.
 */
function addTable(key: string, n: number, pmin: number, smin: number, one: (pv: number, sv: number) => number): Int32Array | null {
  const hit = addTables.get(key);
  if (hit) return hit;
  if (n < 16384) return null;
  const t = new Int32Array(65536);
  for (let u = 0; u < 256; u++) for (let w = 0; w < 256; w++) t[(u << 8) | w] = one(pmin + u, smin + w);
  if (addTables.size >= ADD_TABLES_MAX) addTables.clear();
  addTables.set(key, t);
  return t;
}

/**
 * `data` of `shape` broadcast to `outShape` as a contiguous array (`data` itself when the shapes
 * agree): runs copied with set(), broadcast innermost axes with fill().
 */
function expandTo(data: Int32Array, shape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = numel(outShape);
  if (data.length === n) return data;
  const st = broadcastStrides(shape, outShape);
  const r = outShape.length;
  // the trailing axes that are all broadcast (filled) or contiguous in the source (copied) move as one block
  const repeat = st[r - 1] === 0;
  let inner = 1;
  let k = r;
  for (let expect = 1; k > 0 && st[k - 1] === (repeat ? 0 : expect); ) {
    if (!repeat) expect *= outShape[k - 1];
    inner *= outShape[--k];
  }
  const out = new Int32Array(n);
  const counter = new Array<number>(k).fill(0);
  let src = 0;
  for (let at = 0; at < n; at += inner) {
    if (repeat) out.fill(data[src], at, at + inner);
    else out.set(data.subarray(src, src + inner), at);
    for (let d = k - 1; d >= 0; d--) {
      counter[d]++;
      src += st[d];
      if (counter[d] < outShape[d]) break;
      src -= st[d] * counter[d];
      counter[d] = 0;
    }
  }
  return out;
}

/** Strides of `shape` right-aligned into an output of rank `r`, 0 where broadcast. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const r = outShape.length;
  const st = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = i + (r - shape.length);
    st[o] = shape[i] === 1 && outShape[o] !== 1 ? 0 : s;
    s *= shape[i];
  }
  return st;
}

// ------------------------------------------------------------------------------------------------
// Add

/**
 * QLinearAdd: y = a + b requantized to `yq`, with broadcasting, then the fused activation
 * (its `inQ` replaces `yq` as the add's target for a LUT).
 */
export function qlinearAdd(a: QTensorView, b: QTensorView, yq: QParams, cfg: RequantConfig, act: QActivation = NONE, out?: Int32Array): QResult {
  checkLen(a, 'qlinearAdd A');
  checkLen(b, 'qlinearAdd B');
  const shape = broadcastShape(a.shape, b.shape);
  const n = numel(shape);
  const y = outBuf(n, out, 'qlinearAdd');
  const tq = act.kind === 'lut' || act.kind === 'igelu' ? act.inQ : yq;
  const A = scalarParams(a.q, 'qlinearAdd A');
  const B = scalarParams(b.q, 'qlinearAdd B');
  const C = scalarParams(tq, 'qlinearAdd Y');
  const { qmin, qmax } = qRange(tq);
  // both operands laid out as the output (a broadcast one expanded), so the loops run straight
  const ad = expandTo(a.data, a.shape, shape);
  const bd = expandTo(b.data, b.shape, shape);

  if (cfg.mode === 'float') {
    // Operand roles as ORT's kernel sees them: "p" is the span input, "s" the other.
    const swap = ortAddSwapsInputs(a.shape, b.shape);
    const P = swap ? B : A;
    const S = swap ? A : B;
    const pd = swap ? bd : ad;
    const sd = swap ? ad : bd;
    const rp = Math.fround(P.s / C.s);
    const rs = Math.fround(S.s / C.s);
    const fixed = Math.fround(C.z - fma32(rp, P.z, Math.fround(rs * S.z)));
    const one = (pv: number, sv: number): number => {
      const t = fma32(pv, rp, fma32(sv, rs, fixed));
      // CVTPS2DQ gives INT32_MIN out of range; the saturating packs then clamp.
      const v = t >= -2147483648 && t < 2147483648 ? roundHalfEven(t) : qmin;
      return v < qmin ? qmin : v > qmax ? qmax : v;
    };
    const pq = qRange(swap ? b.q : a.q);
    const sq = qRange(swap ? a.q : b.q);
    const table = pq.qmax - pq.qmin < 256 && sq.qmax - sq.qmin < 256 ? addTable(`${rp} ${rs} ${fixed} ${qmin} ${qmax} ${pq.qmin} ${sq.qmin}`, n, pq.qmin, sq.qmin, one) : null;
    if (table && !addLookupWasm(pd, sd, y, n, table, pq.qmin, sq.qmin)) {
      for (let i = 0; i < n; i++) {
        const u = pd[i] - pq.qmin;
        const w = sd[i] - sq.qmin;
        y[i] = (u | w) >>> 8 === 0 ? table[(u << 8) | w] : one(pd[i], sd[i]);
      }
    } else if (!table) for (let i = 0; i < n; i++) y[i] = one(pd[i], sd[i]);
  } else {
    const bits = cfg.multiplierBits ?? 32;
    const rounding = cfg.rounding ?? 'double';
    const wideBits = Math.max(a.q.bits, b.q.bits, tq.bits);
    const leftShift = wideBits > 8 ? 15 : 20;
    const twiceMax = 2 * Math.max(A.s, B.s);
    const fixedOf = (m: number): FixedMultiplier => {
      const qm = quantizeMultiplier(m, bits, rounding);
      return new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
    };
    const ma = fixedOf(A.s / twiceMax);
    const mb = fixedOf(B.s / twiceMax);
    const mo = fixedOf(twiceMax / Math.fround(2 ** leftShift * C.s));
    const lsf = 2 ** leftShift;
    // the SIMD form needs operands whose shifted differences stay inside int32 (≤ 16 bits)
    const simd = rounding === 'double' && wideBits <= 16 && n >= 64 && addFixedWasm(ad, bd, y, n, ma, mb, mo, A.z, B.z, leftShift, C.z, qmin, qmax);
    if (!simd) {
      for (let i = 0; i < n; i++) {
        const xa = ma.apply((ad[i] - A.z) * lsf);
        const xb = mb.apply((bd[i] - B.z) * lsf);
        let v = mo.apply(xa + xb) + C.z;
        if (v < qmin) v = qmin;
        if (v > qmax) v = qmax;
        y[i] = v;
      }
    }
  }
  applyActivation(y, shape, act, cfg);
  return { data: y, shape };
}

// ------------------------------------------------------------------------------------------------
// Concat

/** QLinearConcat along `axis` (negative counts from the end) into `yq`. */
export function qlinearConcat(inputs: readonly QTensorView[], axis: number, yq: QParams, cfg: RequantConfig, out?: Int32Array): QResult {
  if (inputs.length === 0) throw new InvariantError('qlinearConcat: no inputs');
  const rank = inputs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank) throw new InvariantError(`qlinearConcat: axis ${axis} out of range for rank ${rank}`);
  const shape = [...inputs[0].shape];
  shape[ax] = 0;
  for (const t of inputs) {
    checkLen(t, 'qlinearConcat input');
    if (t.shape.length !== rank || t.shape.some((d, i) => i !== ax && d !== inputs[0].shape[i])) {
      throw new InvariantError(`qlinearConcat: shapes [${t.shape.join(',')}] and [${inputs[0].shape.join(',')}] differ off axis ${ax}`);
    }
    shape[ax] += t.shape[ax];
  }
  let outer = 1;
  for (let i = 0; i < ax; i++) outer *= shape[i];
  let inner = 1;
  for (let i = ax + 1; i < rank; i++) inner *= shape[i];
  const outPitch = shape[ax] * inner;
  const y = outBuf(numel(shape), out, 'qlinearConcat');
  // a split output (qnet/split.ts): per channel along the concat axis, one (scale, zero point)
  // per input — each input is requantized to its own part (a copy when they are its own)
  const splitY = yq.axis === ax && yq.scale.length === shape[ax];
  if (!splitY) scalarParams(yq, 'qlinearConcat Y');
  const yr = qRange(yq);
  let offset = 0;
  let channel = 0;
  for (const t of inputs) {
    const X = scalarParams(t.q, 'qlinearConcat input');
    const c0 = splitY ? channel : 0;
    const Y = { s: yq.scale[c0], z: yq.zeroPoint[c0] };
    if (splitY) {
      for (let c = c0; c < c0 + t.shape[ax]; c++) {
        if (yq.scale[c] !== Y.s || yq.zeroPoint[c] !== Y.z) throw new InvariantError(`qlinearConcat: a split output's channels ${c0}…${c0 + t.shape[ax] - 1} (one input's) must share one scale and zero point`);
      }
    }
    channel += t.shape[ax];
    const pitch = t.shape[ax] * inner;
    const copy = X.s === Y.s && X.z === Y.z;
    // Per-code table over the input's range (ORT builds the same 256 entries for 8 bits).
    let table: Int32Array | null = null;
    const xr = qRange(t.q);
    if (!copy) {
      table = new Int32Array(xr.qmax - xr.qmin + 1);
      if (cfg.mode === 'float') {
        for (let c = xr.qmin; c <= xr.qmax; c++) {
          table[c - xr.qmin] = quantizeValue(Math.fround(X.s * (c - X.z)), Y.s, Y.z, yr.qmin, yr.qmax);
        }
      } else {
        const bits = cfg.multiplierBits ?? 32;
        const rounding = cfg.rounding ?? 'double';
        const qm = quantizeMultiplier(X.s / Y.s, bits, rounding);
        const m = new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
        for (let c = xr.qmin; c <= xr.qmax; c++) {
          const v = m.apply(c - X.z) + Y.z;
          table[c - xr.qmin] = v < yr.qmin ? yr.qmin : v > yr.qmax ? yr.qmax : v;
        }
      }
    }
    const src = t.data;
    for (let o = 0; o < outer; o++) {
      const si = o * pitch;
      const di = o * outPitch + offset;
      if (table === null) {
        y.set(src.subarray(si, si + pitch), di);
      } else {
        for (let k = 0; k < pitch; k++) {
          let c = src[si + k];
          c = c < xr.qmin ? xr.qmin : c > xr.qmax ? xr.qmax : c;
          y[di + k] = table[c - xr.qmin];
        }
      }
    }
    offset += pitch;
  }
  return { data: y, shape };
}

// ------------------------------------------------------------------------------------------------
// Sigmoid

// MlasLogisticConstants (mlas/lib/logistic.cpp), as the float32 values the kernels load.
const LOG_LO = -18;
const LOG_HI = 18;
const A9 = Math.fround(4.37031012579801e-11);
const A7 = Math.fround(1.15627324459942e-7);
const A5 = Math.fround(6.08574864600143e-5);
const A3 = Math.fround(8.51377133304701e-3);
const A1 = Math.fround(2.48287947061529e-1);
const B10 = Math.fround(6.10247389755681e-13);
const B8 = Math.fround(5.76102136993427e-9);
const B6 = Math.fround(6.2910678501704e-6);
const B4 = Math.fround(1.70198817374094e-3);
const B2 = Math.fround(1.16817656904453e-1);
const B0 = Math.fround(9.9315192102318e-1);

/** One value of MlasComputeLogisticF32KernelFma3 (float32 in, float32 out). */
export function logisticFma3(x: number): number {
  let v = x < LOG_LO ? LOG_LO : x;
  v = v > LOG_HI ? LOG_HI : v;
  const x2 = Math.fround(v * v);
  let p = fma32(x2, A9, A7);
  p = fma32(x2, p, A5);
  p = fma32(x2, p, A3);
  p = fma32(x2, p, A1);
  let q = fma32(x2, B10, B8);
  q = fma32(x2, q, B6);
  q = fma32(x2, q, B4);
  q = fma32(x2, q, B2);
  q = fma32(x2, q, B0);
  p = Math.fround(v * p);
  const r = Math.fround(Math.fround(p / q) + 0.5);
  return r > 0 ? r : 0;
}

/**
 * ORT's QLinearSigmoid table over the codes of `xq` (index = code − qmin, not ORT's raw byte):
 * QuantizeLinear(logistic(f32(sx·(c − zx))), sy, zy).
 */
export function ortSigmoidTable(xq: QParams, yq: QParams): Int32Array {
  const X = scalarParams(xq, 'qlinearSigmoid X');
  const Y = scalarParams(yq, 'qlinearSigmoid Y');
  const xr = qRange(xq);
  const yr = qRange(yq);
  const t = new Int32Array(xr.qmax - xr.qmin + 1);
  for (let c = xr.qmin; c <= xr.qmax; c++) {
    t[c - xr.qmin] = quantizeValue(logisticFma3(Math.fround(X.s * (c - X.z))), Y.s, Y.z, yr.qmin, yr.qmax);
  }
  return t;
}

/** QLinearSigmoid: ORT's table (float mode) or our LUT (fixed mode, lut.ts semantics). */
export function qlinearSigmoid(x: QTensorView, yq: QParams, cfg: RequantConfig, out?: Int32Array): QResult {
  checkLen(x, 'qlinearSigmoid');
  const table = cfg.mode === 'float' ? ortSigmoidTable(x.q, yq) : buildLut('sigmoid', x.q, yq);
  const xr = qRange(x.q);
  const y = outBuf(x.data.length, out, 'qlinearSigmoid');
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) {
    const c = xd[i] < xr.qmin ? xr.qmin : xd[i] > xr.qmax ? xr.qmax : xd[i];
    y[i] = table[c - xr.qmin];
  }
  return { data: y, shape: [...x.shape] };
}
