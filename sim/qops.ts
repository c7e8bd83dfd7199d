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
 * `fixed` — integer-only, the TFLite way (tensorflow/lite/kernels/add.cc, reference_ops
 *   AveragePool, Concatenation): Add with left shift 20 (15 above 8 bits) and per-input multipliers
 *   from QuantizeMultiplierSmallerThanOneExp; average pool with rounding (half away from zero)
 *   integer division when input and output share parameters, else Σ(q − zx) times a multiplier
 *   sx/(sy·count); concat copies or rescales with a multiplier sx/sy; sigmoid is a LUT (lut.ts).
 *   Multiplier width and rounding come from the RequantConfig.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import { stridedOffsets } from '../nets/fp32-tensor.js';
import type { Window2d } from '../nets/shapes.js';
import type { QActivation, QParams } from '../qnet/network.js';
import { applyIgelu } from '../qnet/igelu.js';
import { applyLutValue, buildLut, lutLayout } from '../qnet/lut.js';
import { fma32, qRange, quantizeValue, roundHalfEven } from '../qnet/qmath.js';
import { clampCodes, FixedMultiplier, quantizeMultiplier, type RequantConfig } from '../qnet/requant.js';

/** An integer tensor with its quantization (per-tensor for every op here). */
export interface QTensorView {
  readonly data: Int32Array;
  readonly shape: readonly number[];
  readonly q: QParams;
}

export interface QResult {
  readonly data: Int32Array;
  readonly shape: number[];
}

const NONE: QActivation = { kind: 'none' };

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function scalarParams(q: QParams, what: string): { s: number; z: number } {
  if (q.scale.length !== 1) throw new InvariantError(`${what}: per-tensor quantization expected, got ${q.scale.length} scales`);
  return { s: q.scale[0], z: q.zeroPoint[0] };
}

function checkLen(t: { data: Int32Array; shape: readonly number[] }, what: string): void {
  if (t.data.length !== numel(t.shape)) throw new InvariantError(`${what}: ${t.data.length} values for shape [${t.shape.join(',')}]`);
}

/** An op's output buffer: `out`, or from the allocator `out` (the executor's pool: n elements, all written), or new. */
function outBuf(n: number, out: Int32Array | ((n: number) => Int32Array) | undefined, what: string): Int32Array {
  if (!out) return new Int32Array(n);
  if (typeof out === 'function') return out(n);
  if (out.length !== n) throw new InvariantError(`${what}: output buffer has ${out.length} elements, needs ${n}`);
  return out;
}

/** Applies a clamp or LUT activation in place (codes are in `requantTarget` quantization; clamp bounds per channel along axis 1 of `shape` when given so). */
function applyActivation(y: Int32Array, shape: readonly number[], act: QActivation, cfg: RequantConfig): void {
  if (act.kind === 'clamp') {
    clampCodes(y, shape, act);
  } else if (act.kind === 'lut') {
    const lay = lutLayout(act.inQ, act.entries, act.table);
    for (let i = 0; i < y.length; i++) y[i] = applyLutValue(y[i], lay, act.table);
  } else if (act.kind === 'igelu') applyIgelu(y, act, cfg.multiplierBits, cfg.rounding, y);
}

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
  // the element of A and of B each output element reads
  const ia = stridedOffsets(shape, broadcastStrides(a.shape, shape));
  const ib = stridedOffsets(shape, broadcastStrides(b.shape, shape));
  const ad = a.data;
  const bd = b.data;

  if (cfg.mode === 'float') {
    // Operand roles as ORT's kernel sees them: "p" is the span input, "s" the other.
    const swap = ortAddSwapsInputs(a.shape, b.shape);
    const P = swap ? B : A;
    const S = swap ? A : B;
    const rp = Math.fround(P.s / C.s);
    const rs = Math.fround(S.s / C.s);
    const fixed = Math.fround(C.z - fma32(rp, P.z, Math.fround(rs * S.z)));
    for (let i = 0; i < n; i++) {
      const pv = swap ? bd[ib[i]] : ad[ia[i]];
      const sv = swap ? ad[ia[i]] : bd[ib[i]];
      const t = fma32(pv, rp, fma32(sv, rs, fixed));
      // CVTPS2DQ gives INT32_MIN out of range; the saturating packs then clamp.
      let v = t >= -2147483648 && t < 2147483648 ? roundHalfEven(t) : qmin;
      if (v < qmin) v = qmin;
      if (v > qmax) v = qmax;
      y[i] = v;
    }
  } else {
    const bits = cfg.multiplierBits ?? 32;
    const rounding = cfg.rounding ?? 'double';
    const leftShift = Math.max(a.q.bits, b.q.bits, tq.bits) > 8 ? 15 : 20;
    const twiceMax = 2 * Math.max(A.s, B.s);
    const fixedOf = (m: number): FixedMultiplier => {
      const qm = quantizeMultiplier(m, bits, rounding);
      return new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
    };
    const ma = fixedOf(A.s / twiceMax);
    const mb = fixedOf(B.s / twiceMax);
    const mo = fixedOf(twiceMax / Math.fround(2 ** leftShift * C.s));
    const lsf = 2 ** leftShift;
    for (let i = 0; i < n; i++) {
      const xa = ma.apply((ad[ia[i]] - A.z) * lsf);
      const xb = mb.apply((bd[ib[i]] - B.z) * lsf);
      let v = mo.apply(xa + xb) + C.z;
      if (v < qmin) v = qmin;
      if (v > qmax) v = qmax;
      y[i] = v;
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
// Pooling geometry

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

/** Pool attributes over 1 or 2 spatial dims (ONNX names; pads = [begins…, ends…]). */
export interface PoolAttrs {
  readonly kernel: readonly number[];
  readonly strides?: readonly number[];
  readonly pads?: readonly number[];
  readonly dilations?: readonly number[];
  readonly ceilMode?: boolean;
  readonly autoPad?: AutoPad;
  /** average pools only */
  readonly countIncludePad?: boolean;
  /** NHWC-like layout [N, spatial…, C] (ORT's channels_last attribute) */
  readonly channelsLast?: boolean;
}

/** A pool's geometry; spatial sizes padded to 2 dims (1-D pools use a height of 1). */
interface PoolGeom extends Window2d {
  n: number;
  c: number;
  ih: number;
  iw: number;
  outShape: number[];
}

/** Output size and pads as onnxruntime's PoolAttributes (ComputeSizePadDilations). */
function poolAxis(inSize: number, k: number, s: number, d: number, padHead: number, padTail: number, ceil: boolean, auto: AutoPad): { out: number; head: number; tail: number } {
  let head = padHead;
  let tail = padTail;
  if (auto === 'VALID') {
    head = 0;
    tail = 0;
  } else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    // C++ integer division (truncation): a negative pad_needed (kernel < stride) gives head 0
    const target = Math.trunc((inSize + s - 1) / s);
    const needed = (target - 1) * s + k - inSize;
    head = auto === 'SAME_LOWER' ? Math.trunc((needed + 1) / 2) : Math.trunc(needed / 2);
    tail = needed - head;
  }
  const num = inSize + head + tail - d * (k - 1) - 1;
  let out = Math.trunc(num / s) + 1;
  if (ceil) {
    out = Math.ceil(Math.fround(Math.fround(num) / s)) + 1;
    if ((out - 1) * s >= inSize + head) out--;
  }
  if (out <= 0) throw new ModelError(`pool window ${k} (dilation ${d}, stride ${s}) does not fit input ${inSize} with pads ${head}+${tail}`);
  return { out, head, tail };
}

function poolGeom(shape: readonly number[], p: PoolAttrs): PoolGeom {
  const sp = p.kernel.length;
  if (sp < 1 || sp > 2) throw new InvariantError(`pools support 1 or 2 spatial dims, got kernel [${p.kernel.join(',')}]`);
  if (shape.length !== sp + 2) throw new InvariantError(`pool input rank ${shape.length} does not match kernel [${p.kernel.join(',')}]`);
  const cl = p.channelsLast === true;
  const n = shape[0];
  const c = cl ? shape[shape.length - 1] : shape[1];
  const spatial = cl ? shape.slice(1, 1 + sp) : shape.slice(2);
  const strides = p.strides ?? p.kernel.map(() => 1);
  const dil = p.dilations ?? p.kernel.map(() => 1);
  const pads = p.pads ?? p.kernel.map(() => 0).concat(p.kernel.map(() => 0));
  const auto = p.autoPad ?? 'NOTSET';
  const ax = spatial.map((s, i) => poolAxis(s, p.kernel[i], strides[i], dil[i], pads[i], pads[i + sp], p.ceilMode === true, auto));
  const g: PoolGeom = {
    n,
    c,
    ih: sp === 2 ? spatial[0] : 1,
    iw: spatial[sp - 1],
    oh: sp === 2 ? ax[0].out : 1,
    ow: ax[sp - 1].out,
    kh: sp === 2 ? p.kernel[0] : 1,
    kw: p.kernel[sp - 1],
    sh: sp === 2 ? strides[0] : 1,
    sw: strides[sp - 1],
    dh: sp === 2 ? dil[0] : 1,
    dw: dil[sp - 1],
    padTop: sp === 2 ? ax[0].head : 0,
    padLeft: ax[sp - 1].head,
    padBottom: sp === 2 ? ax[0].tail : 0,
    padRight: ax[sp - 1].tail,
    outShape: [],
  };
  const outSpatial = ax.map((a) => a.out);
  g.outShape = cl ? [n, ...outSpatial, c] : [n, c, ...outSpatial];
  return g;
}

/** Element index of (image b, channel ch, row h, column w) in NCHW or NHWC. */
function pix(g: PoolGeom, cl: boolean, b: number, ch: number, h: number, w: number): number {
  return cl ? ((b * g.ih + h) * g.iw + w) * g.c + ch : ((b * g.c + ch) * g.ih + h) * g.iw + w;
}

function opix(g: PoolGeom, cl: boolean, b: number, ch: number, h: number, w: number): number {
  return cl ? ((b * g.oh + h) * g.ow + w) * g.c + ch : ((b * g.c + ch) * g.oh + h) * g.ow + w;
}

// ------------------------------------------------------------------------------------------------
// MaxPool

/** First and one-past-last kernel tap inside [0, size) for a window starting at `start`, step `d`. */
function tapRange(start: number, k: number, d: number, size: number, into: Int32Array, at: number): void {
  const first = start < 0 ? Math.ceil(-start / d) : 0;
  const last = Math.min(k, Math.floor((size - 1 - start) / d) + 1);
  into[at] = first;
  into[at + 1] = last > first ? last : first;
}

/** The common 2×2 stride-2 pool with every window inside: straight loops, branch-free maxima. */
function maxPool2x2(xd: Int32Array, y: Int32Array, planes: number, ih: number, iw: number, OH: number, OW: number): void {
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * ih * iw;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = base + 2 * oh * iw;
      const r1 = r0 + iw;
      for (let ow = 0; ow < OW; ow++, o++) {
        let m = xd[r0 + 2 * ow];
        let d = m - xd[r0 + 2 * ow + 1];
        m -= d & (d >> 31);
        d = m - xd[r1 + 2 * ow];
        m -= d & (d >> 31);
        d = m - xd[r1 + 2 * ow + 1];
        m -= d & (d >> 31);
        y[o] = m;
      }
    }
  }
}

/**
 * maxPoolInt on NCHW planes whose values differ by less than 2^31: the taps inside the image found
 * once per output row and column (no bound test per tap), a window's maximum started from its
 * first tap, without branches.
 */
function maxPoolPlanes(xd: Int32Array, y: Int32Array, g: PoolGeom, emptyValue: number): void {
  const { ih, iw, oh: OH, ow: OW, kh, kw, sh, sw, dh, dw } = g;
  const rows = new Int32Array(2 * OH);
  const cols = new Int32Array(2 * OW);
  for (let oh = 0; oh < OH; oh++) tapRange(oh * sh - g.padTop, kh, dh, ih, rows, 2 * oh);
  for (let ow = 0; ow < OW; ow++) tapRange(ow * sw - g.padLeft, kw, dw, iw, cols, 2 * ow);
  const planes = g.n * g.c;
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && dh === 1 && dw === 1 && g.padTop === 0 && g.padLeft === 0 && 2 * OH <= ih && 2 * OW <= iw) {
    maxPool2x2(xd, y, planes, ih, iw, OH, OW);
    return;
  }
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * ih * iw;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - g.padTop;
      const i0 = rows[2 * oh];
      const i1 = rows[2 * oh + 1];
      for (let ow = 0; ow < OW; ow++, o++) {
        const w0 = ow * sw - g.padLeft;
        const j0 = cols[2 * ow];
        const j1 = cols[2 * ow + 1];
        if (i0 === i1 || j0 === j1) {
          y[o] = emptyValue;
          continue;
        }
        let m = xd[base + (h0 + i0 * dh) * iw + w0 + j0 * dw];
        for (let i = i0; i < i1; i++) {
          const r = base + (h0 + i * dh) * iw + w0;
          for (let j = j0; j < j1; j++) {
            // max without a branch (real activations make `v > m` unpredictable); exact while |m − v| < 2^31
            const d = m - xd[r + j * dw];
            m -= d & (d >> 31);
          }
        }
        y[o] = m;
      }
    }
  }
}

/**
 * ONNX MaxPool on integer codes (int8/uint8 in ORT): exact. A window that covers no input element
 * (possible only with pads ≥ kernel) yields `emptyValue`. `valueRange` (the codes' type range)
 * lets NCHW inputs take the branch-free planes loop.
 */
export function maxPoolInt(x: { readonly data: Int32Array; readonly shape: readonly number[] }, p: PoolAttrs, out?: Int32Array | ((n: number) => Int32Array), emptyValue = -128, valueRange?: { readonly qmin: number; readonly qmax: number }): QResult {
  checkLen(x, 'maxPoolInt');
  const g = poolGeom(x.shape, p);
  const cl = p.channelsLast === true;
  const y = outBuf(numel(g.outShape), out, 'maxPoolInt');
  const xd = x.data;
  // the planes' branch-free maximum needs every difference of two values inside int32
  if (!cl && valueRange && valueRange.qmax - valueRange.qmin < 2 ** 31) {
    maxPoolPlanes(xd, y, g, emptyValue);
    return { data: y, shape: g.outShape };
  }
  for (let b = 0; b < g.n; b++) {
    for (let ch = 0; ch < g.c; ch++) {
      for (let oh = 0; oh < g.oh; oh++) {
        const h0 = oh * g.sh - g.padTop;
        for (let ow = 0; ow < g.ow; ow++) {
          const w0 = ow * g.sw - g.padLeft;
          let m = -Infinity;
          for (let i = 0; i < g.kh; i++) {
            const h = h0 + i * g.dh;
            if (h < 0 || h >= g.ih) continue;
            for (let j = 0; j < g.kw; j++) {
              const w = w0 + j * g.dw;
              if (w < 0 || w >= g.iw) continue;
              const v = xd[pix(g, cl, b, ch, h, w)];
              if (v > m) m = v;
            }
          }
          y[opix(g, cl, b, ch, oh, ow)] = m === -Infinity ? emptyValue : m;
        }
      }
    }
  }
  return { data: y, shape: g.outShape };
}

// ------------------------------------------------------------------------------------------------
// Average pools

/** ORT's requant of a global-average sum (MlasRequantizeOutput with scale sx/(sy·n)). */
function ortGlobalScale(sx: number, sy: number, count: number): number {
  const scale = Math.fround(sx / Math.fround(sy * count));
  if (count >= 0x1000000 || scale < 2 ** -32 || scale >= 256) {
    throw new ModelError(`QLinearGlobalAveragePool: parameters out of computation range (image size ${count}, scale ${scale})`);
  }
  return scale;
}

/** Fixed-mode average of `count` codes with raw sum `rawSum` (Σq) — see the file comment. */
class FixedAverager {
  private readonly same: boolean;
  private readonly mults = new Map<number, FixedMultiplier>();
  constructor(
    private readonly X: { s: number; z: number },
    private readonly Y: { s: number; z: number },
    private readonly cfg: RequantConfig,
  ) {
    this.same = X.s === Y.s && X.z === Y.z;
  }
  /** `rawSum` = Σ codes over `count` positions (padding included as zx when counted) */
  average(rawSum: number, count: number): number {
    if (this.same) {
      // TFLite reference AveragePool: round half away from zero by integer division
      const half = Math.trunc(count / 2);
      return rawSum > 0 ? Math.trunc((rawSum + half) / count) : Math.trunc((rawSum - half) / count);
    }
    let m = this.mults.get(count);
    if (!m) {
      const bits = this.cfg.multiplierBits ?? 32;
      const rounding = this.cfg.rounding ?? 'double';
      const qm = quantizeMultiplier(this.X.s / (this.Y.s * count), bits, rounding);
      m = new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
      this.mults.set(count, m);
    }
    return this.Y.z + m.apply(rawSum - this.X.z * count);
  }
}

/**
 * QLinearGlobalAveragePool over all spatial dims of an [N, C, …] (or channels-last [N, …, C])
 * tensor of rank ≥ 3; the output keeps the rank with spatial sizes 1.
 */
export function qlinearGlobalAveragePool(x: QTensorView, yq: QParams, cfg: RequantConfig, opts: { channelsLast?: boolean } = {}, out?: Int32Array): QResult {
  checkLen(x, 'qlinearGlobalAveragePool');
  if (x.shape.length < 3) throw new InvariantError(`qlinearGlobalAveragePool: rank ≥ 3 expected, got [${x.shape.join(',')}]`);
  const cl = opts.channelsLast === true;
  const nb = x.shape[0];
  const c = cl ? x.shape[x.shape.length - 1] : x.shape[1];
  const img = numel(x.shape) / (nb * c);
  const shape = x.shape.map((d, i) => (i === 0 || i === (cl ? x.shape.length - 1 : 1) ? d : 1));
  const y = outBuf(nb * c, out, 'qlinearGlobalAveragePool');
  const X = scalarParams(x.q, 'qlinearGlobalAveragePool X');
  const Y = scalarParams(yq, 'qlinearGlobalAveragePool Y');
  const { qmin, qmax } = qRange(yq);
  const xd = x.data;
  const sumOf = (b: number, ch: number): number => {
    let s = 0;
    if (cl) for (let i = 0; i < img; i++) s += xd[(b * img + i) * c + ch];
    else for (let i = 0, base = (b * c + ch) * img; i < img; i++) s += xd[base + i];
    return s;
  };
  if (cfg.mode === 'float') {
    const scale = ortGlobalScale(X.s, Y.s, img);
    const lo = qmin - Y.z;
    const hi = qmax - Y.z;
    const bias = -X.z * img;
    for (let b = 0; b < nb; b++) {
      for (let ch = 0; ch < c; ch++) {
        let v = Math.fround(Math.fround((sumOf(b, ch) + bias) | 0) * scale);
        if (!(v >= lo)) v = lo;
        if (v > hi) v = hi;
        y[b * c + ch] = roundHalfEven(v) + Y.z;
      }
    }
  } else {
    const avg = new FixedAverager(X, Y, cfg);
    for (let b = 0; b < nb; b++) {
      for (let ch = 0; ch < c; ch++) {
        const v = avg.average(sumOf(b, ch), img);
        y[b * c + ch] = v < qmin ? qmin : v > qmax ? qmax : v;
      }
    }
  }
  return { data: y, shape };
}

/** QLinearAveragePool (1-D or 2-D, NCHW or channels-last). Dilations are not part of the op. */
export function qlinearAveragePool(x: QTensorView, p: PoolAttrs, yq: QParams, cfg: RequantConfig, out?: Int32Array): QResult {
  checkLen(x, 'qlinearAveragePool');
  if (p.dilations && p.dilations.some((d) => d !== 1)) throw new InvariantError('qlinearAveragePool: dilations are not supported');
  const g = poolGeom(x.shape, p);
  const cl = p.channelsLast === true;
  const X = scalarParams(x.q, 'qlinearAveragePool X');
  const Y = scalarParams(yq, 'qlinearAveragePool Y');
  const { qmin, qmax } = qRange(yq);
  const sp = p.kernel.length;
  const spatialIn = sp === 2 ? [g.ih, g.iw] : [g.iw];
  const noPads = g.padTop === 0 && g.padLeft === 0 && g.padBottom === 0 && g.padRight === 0;
  if (cfg.mode === 'float' && noPads && p.kernel.every((k, i) => k === spatialIn[i])) {
    // ORT's fallback_to_global (strides and ceil_mode do not matter: one window)
    const r = qlinearGlobalAveragePool(x, yq, cfg, { channelsLast: cl }, out);
    return { data: r.data, shape: g.outShape };
  }
  const y = outBuf(numel(g.outShape), out, 'qlinearAveragePool');
  const xd = x.data;
  const kArea = g.kh * g.kw;
  const incl = p.countIncludePad === true;
  // float mode (ORT): codes dequantized by table, summed in float32; fixed mode: integer sums, FixedAverager
  const xr = qRange(x.q);
  const deq = new Float32Array(cfg.mode === 'float' ? xr.qmax - xr.qmin + 1 : 0);
  for (let cd = xr.qmin; cd < xr.qmin + deq.length; cd++) deq[cd - xr.qmin] = X.s * (cd - X.z);
  const fixed = cfg.mode === 'float' ? null : new FixedAverager(X, Y, cfg);
  for (let b = 0; b < g.n; b++) {
    for (let ch = 0; ch < g.c; ch++) {
      for (let oh = 0; oh < g.oh; oh++) {
        let h0 = oh * g.sh - g.padTop;
        const h1 = Math.min(h0 + g.kh, g.ih);
        h0 = Math.max(h0, 0);
        for (let ow = 0; ow < g.ow; ow++) {
          let w0 = ow * g.sw - g.padLeft;
          const w1 = Math.min(w0 + g.kw, g.iw);
          w0 = Math.max(w0, 0);
          const inside = (h1 - h0) * (w1 - w0);
          const cnt = incl ? kArea : inside;
          let v: number;
          if (fixed === null) {
            let acc = 0;
            for (let h = h0; h < h1; h++) {
              for (let w = w0; w < w1; w++) {
                let cd = xd[pix(g, cl, b, ch, h, w)];
                cd = cd < xr.qmin ? xr.qmin : cd > xr.qmax ? xr.qmax : cd;
                acc = Math.fround(acc + deq[cd - xr.qmin]);
              }
            }
            const avg = Math.fround(acc / cnt);
            const t = Math.fround(Math.fround(avg / Y.s) + Y.z);
            v = roundHalfEven(t);
            if (!(v >= qmin)) v = qmin;
            if (v > qmax) v = qmax;
          } else {
            let s = 0;
            for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += xd[pix(g, cl, b, ch, h, w)];
            // padding counted as real 0, i.e. the code zx
            v = fixed.average(s + (cnt - inside) * X.z, cnt);
            v = v < qmin ? qmin : v > qmax ? qmax : v;
          }
          y[opix(g, cl, b, ch, oh, ow)] = v;
        }
      }
    }
  }
  return { data: y, shape: g.outShape };
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
