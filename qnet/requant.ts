/**
 * Requantization of int32 accumulators to output codes, the two modes of DESIGN.md:
 *
 * `float` — onnxruntime's QLinearConv / QLinearMatMul output stage. Sources read:
 *   core/providers/cpu/quantization/quantize_linear_matmul.cc and qlinearconv.cc compute the
 *   per-channel multiplier as `a_scale * b_scale[i] / y_scale` in float32 (two roundings:
 *   fround(fround(sx·sw)/sy)); mlas/lib/quantize.cpp `MlasRequantizeOutputVector` then does, per
 *   value, CVTDQ2PS (int32 → float32, round-to-nearest-even for |acc| > 2^24), MULPS by the
 *   multiplier (float32, one rounding), MAXPS/MINPS to [qmin − z, qmax − z], CVTPS2DQ
 *   (half-to-even) and PADDD z. Nothing is computed in double. QLinearConv's kernels on the
 *   AVX-512 VNNI test machine give the same integers (test/golden/qops-vs-ort.test.ts drives
 *   accumulators through its bias); the NEON path (VCVTNQ, saturating narrow, saturating add of z)
 *   is the same arithmetic by construction, not verified here.
 *
 * `fixed` — gemmlowp / TFLite integer-only: M = m0·2^(shift−(bits−1)) from QuantizeMultiplier
 *   (tensorflow/lite/kernels/internal/quantization_util.cc: frexp, round half away, the q = 2^31
 *   edge, flush shift < −31 to zero, single rounding saturates shift > 30), computed from the
 *   DOUBLE product sx·sw/sy as TFLite's PopulateConvolutionQuantizationParams does; then
 *   MultiplyByQuantizedMultiplier (common.h): SaturatingRoundingDoublingHighMul + RoundingDivideByPOT
 *   ('double', gemmlowp) or one 64-bit product + round + arithmetic shift ('single',
 *   TFLITE_SINGLE_ROUNDING).
 *
 * `multiplierBits` < 32 models a narrower hardware multiplier: m0 keeps `bits` bits
 * (m0 ∈ [2^(bits−2), 2^(bits−1))); the arithmetic runs on m0·2^(32−bits), which is exactly what a
 * (bits)-bit multiplier followed by the same rounding network computes.
 */
import { InvariantError } from '../nets/errors.js';
import type { QActivation, QParams } from './network.js';
import { applyIgelu } from './igelu.js';
import { applyLut } from './lut.js';
import { qRange, roundHalfAway, roundHalfEven, type QRangeSpec } from './qmath.js';
import { inRoundRange, requantizeFixedWasm, requantizeFloatWasm, type FixedChannels } from './requant-wasm.js';

export type RequantMode = 'float' | 'fixed';
export type FixedRounding = 'double' | 'single';

export interface RequantConfig {
  readonly mode: RequantMode;
  /** fixed: bits of m0, default 32 (gemmlowp); fewer = narrower hardware multiplier (8…32) */
  readonly multiplierBits?: number;
  /** fixed: gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, or TFLite single rounding */
  readonly rounding?: FixedRounding;
}

export interface RequantParams {
  readonly mode: RequantMode;
  /** 1 (per-tensor) or the number of output channels */
  readonly channels: number;
  /** float32 M per channel, fround(fround(sx·sw[c]) / sy) exactly as ORT computes it */
  readonly multiplier: Float32Array;
  /** fixed-point multiplier per channel (multiplierBits wide, ≥ 0) */
  readonly m0: Int32Array;
  /** exponent per channel, TFLite convention: M ≈ m0 / 2^(bits−1) · 2^shift (> 0 left, ≤ 0 right) */
  readonly shift: Int32Array;
  readonly multiplierBits: number;
  readonly rounding: FixedRounding;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * TFLite QuantizeMultiplier generalised to `bits` (default 32): m ≈ m0 · 2^(shift − (bits−1))
 * with m0 ∈ [2^(bits−2), 2^(bits−1)) — the 2^(bits−1) rounding edge moves to shift + 1 — or
 * m0 = shift = 0 for m = 0 and for multipliers below 2^−31 (flushed, as TFLite does).
 * `rounding: 'single'` additionally saturates shift > 30 (TFLITE_SINGLE_ROUNDING).
 */
export function quantizeMultiplier(m: number, bits = 32, rounding: FixedRounding = 'double'): { m0: number; shift: number } {
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) throw new InvariantError(`multiplier bits must be 2…32, got ${bits}`);
  if (!Number.isFinite(m) || m < 0) throw new InvariantError(`requant multiplier must be finite and ≥ 0, got ${m}`);
  if (m === 0) return { m0: 0, shift: 0 };
  // frexp: m = q·2^e, q ∈ [0.5, 1). Math.log2 can be off by one near powers of two; fix up.
  let e = Math.floor(Math.log2(m)) + 1;
  let q = m / 2 ** e;
  if (q >= 1) {
    q /= 2;
    e++;
  } else if (q < 0.5) {
    q *= 2;
    e--;
  }
  const one = 2 ** (bits - 1);
  let qf = roundHalfAway(q * one); // q·2^(bits−1) is exact (power-of-two scaling)
  if (qf === one) {
    qf /= 2;
    e++;
  }
  if (e < -31) return { m0: 0, shift: 0 };
  if (rounding === 'single' && e > 30) return { m0: one - 1, shift: 30 };
  return { m0: qf, shift: e };
}

// Exact 32×32-bit products without BigInt: x·m = C·2^16 + L with C an exact double, L ∈ [0, 2^16)
// (the callers' rounding never needs L itself, only its bounds).
let mulC = 0;
function mulSplit(x: number, m: number): void {
  const xh = x >> 16; // |xh| ≤ 2^15
  const xl = x & 0xffff;
  const b = xl * m; // |b| < 2^47
  const bh = Math.floor(b / 65536);
  mulC = xh * m + bh; // |C| < 2^47
}

/**
 * gemmlowp SaturatingRoundingDoublingHighMul: trunc((a·b + nudge) / 2^31), nudge = 2^30 for
 * a·b ≥ 0 else 1 − 2^30; INT32_MIN·INT32_MIN saturates to INT32_MAX.
 */
export function srdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  mulSplit(a, b);
  const neg = a !== 0 && b !== 0 && a < 0 !== b < 0;
  if (!neg) {
    // a·b + 2^30 = (C + 2^14)·2^16 + L with L < 2^16: floor by 2^31 ignores L.
    return Math.floor((mulC + 16384) / 32768) | 0;
  }
  // a·b + 1 − 2^30 = (C − 2^14)·2^16 + (L + 1) < 0 with L + 1 ∈ [1, 2^16]; the division truncates
  // toward zero, i.e. ceil, and ceil((n·2^16 + f) / 2^31) = floor(n / 2^15) + 1 for such f.
  return (Math.floor((mulC - 16384) / 32768) + 1) | 0;
}

/** gemmlowp RoundingDivideByPOT: x / 2^exp rounded half away from zero, exp ∈ [0, 31]. */
export function roundingDivideByPOT(x: number, exp: number): number {
  if (exp === 0) return x;
  const mask = 2 ** exp - 1;
  const remainder = (x & mask) >>> 0;
  const threshold = Math.floor(mask / 2) + (x < 0 ? 1 : 0);
  return (x >> exp) + (remainder > threshold ? 1 : 0);
}

const INV_2_15 = 2 ** -15;
const INV_2_16 = 2 ** -16;

/**
 * MultiplyByQuantizedMultiplier with its per-channel constants worked out once, so the per-value
 * path is a few exact double operations (products split as C·2^16 + L, see `mulSplit`; scaling by
 * powers of two is exact).
 */
export class FixedMultiplier {
  /** m0 widened to 32 bits (m0·2^(32−bits)) */
  readonly m: number;
  readonly single: boolean;
  // double rounding: left-shift multiplier (wrapping int32), right shift, RoundingDivideByPOT mask
  readonly lsMul: number;
  readonly rs: number;
  private readonly mask: number;
  private readonly half: number;
  // single rounding: total shift and its constants
  private readonly ts: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly inv: number;

  constructor(m0: number, shift: number, rounding: FixedRounding, bits = 32) {
    if (!(m0 >= 0 && m0 < 2 ** (bits - 1)) || !Number.isInteger(m0)) throw new InvariantError(`multiplier ${m0} is not a ${bits}-bit m0`);
    this.m = bits === 32 ? m0 : m0 * 2 ** (32 - bits);
    this.single = rounding === 'single';
    const ls = shift > 0 ? shift : 0;
    this.lsMul = ls === 0 ? 1 : ls > 31 ? 0 : ls === 31 ? INT32_MIN : 1 << ls;
    this.rs = shift > 0 ? 0 : -shift;
    if (!this.single && this.rs > 31) throw new InvariantError(`right shift ${this.rs} exceeds 31`);
    this.mask = 2 ** this.rs - 1;
    this.half = Math.floor(this.mask / 2);
    this.ts = 31 - shift;
    if (this.single && this.ts < 1) throw new InvariantError(`single-rounding shift must be ≤ 30, got ${shift}`);
    if (this.ts >= 17) {
      // + 2^(ts−1) = + 2^(ts−17)·2^16, and the floor by 2^ts ignores L < 2^16
      this.k1 = 2 ** (this.ts - 17);
      this.k2 = 0;
      this.inv = 2 ** -(this.ts - 16);
    } else {
      this.k1 = 2 ** (16 - this.ts);
      this.k2 = 2 ** (this.ts - 1);
      this.inv = 2 ** -this.ts;
    }
  }

  /** the requantized value of an accumulator (saturated to int32 first) */
  apply(acc: number): number {
    const x = acc < INT32_MIN ? INT32_MIN : acc > INT32_MAX ? INT32_MAX : acc;
    const m = this.m;
    if (this.single) {
      const b = (x & 0xffff) * m;
      const bh = Math.floor(b * INV_2_16);
      const c = (x >> 16) * m + bh;
      const r = this.ts >= 17 ? Math.floor((c + this.k1) * this.inv) : c * this.k1 + Math.floor((b - bh * 65536 + this.k2) * this.inv);
      return (r < INT32_MIN ? INT32_MIN : r > INT32_MAX ? INT32_MAX : r) | 0;
    }
    const xs = this.lsMul === 1 ? x : Math.imul(x, this.lsMul);
    // SRDHM(xs, m) with m ≥ 0 (so no INT32_MIN·INT32_MIN case)
    const b = (xs & 0xffff) * m;
    const c = (xs >> 16) * m + Math.floor(b * INV_2_16);
    const h = xs < 0 && m !== 0 ? Math.floor((c - 16384) * INV_2_15) + 1 : Math.floor((c + 16384) * INV_2_15);
    if (this.rs === 0) return h | 0;
    const threshold = this.half + (h < 0 ? 1 : 0);
    return ((h >> this.rs) + ((h & this.mask) > threshold ? 1 : 0)) | 0;
  }
}

/**
 * TFLite MultiplyByQuantizedMultiplier on an int32 `acc` (values outside int32 are saturated
 * first: the requant unit's input is 32 bits). `m0` is `bits` wide; `shift` in TFLite convention.
 * 'double': RoundingDivideByPOT(SRDHM(acc·2^max(shift,0), m0'), max(−shift,0)); the left shift
 * wraps like the compiled int32 multiply. 'single': (acc·m0' + 2^(30−shift)) >> (31 − shift),
 * clamped to int32. Hot loops use a `FixedMultiplier` instead of this one-off form.
 */
export function multiplyByQuantizedMultiplier(acc: number, m0: number, shift: number, rounding: FixedRounding, bits = 32): number {
  return new FixedMultiplier(m0, shift, rounding, bits).apply(acc);
}

/**
 * Requantization constants for a linear layer: input scale `sx`, weight scales `sw` (1 or one per
 * output channel), output scale `sy` — for a fused LUT activation the table's input scale
 * (`requantTarget`). Both the float32 multiplier and (m0, shift) are filled; the mode picks which
 * one `requantize` uses.
 */
export function requantParams(sx: number, sw: Float32Array, sy: number, cfg: RequantConfig): RequantParams {
  const bits = cfg.multiplierBits ?? 32;
  const rounding = cfg.rounding ?? 'double';
  const n = sw.length;
  if (n < 1) throw new InvariantError('requantParams: no weight scales');
  const fsx = Math.fround(sx);
  const fsy = Math.fround(sy);
  const multiplier = new Float32Array(n);
  const m0 = new Int32Array(n);
  const shift = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    multiplier[c] = Math.fround(fsx * sw[c]) / fsy;
    const q = quantizeMultiplier((fsx * sw[c]) / fsy, bits, rounding);
    m0[c] = q.m0;
    shift[c] = q.shift;
  }
  return { mode: cfg.mode, channels: n, multiplier, m0, shift, multiplierBits: bits, rounding };
}

/** The quantization the requant stage produces before the activation: the LUT's or i-GELU's input, or y's. */
export function requantTarget(yq: QParams, act: QActivation): QParams {
  return act.kind === 'lut' || act.kind === 'igelu' ? act.inQ : yq;
}

/**
 * Requantize accumulators `acc` (NCHW-like, channel axis 1; GEMM [m, n]: channel = column) to
 * output codes, then apply the fused activation.
 *
 * `params`, `zy` and `yq` describe the requant stage's output quantization. For a LUT (or i-GELU) activation
 * that is the table's input quantization `act.inQ` (build `params` with sy = act.inQ.scale[0];
 * `requantTarget` picks it): the requantized code indexes the table, whose entries are codes of
 * the layer output. For `clamp`, the bounds are integers of the output quantization.
 */
/**
 * The float mode's constants per channel for `channels` channels (1: per tensor), as the
 * WebAssembly requantizers take them (requant-wasm.ts, and fused behind the SIMD conv kernel):
 * the float32 multiplier, the upper bound (the output range narrowed by a clamp activation and
 * its per-channel bound) and the lower bound, both minus zy. Null where a bound or zy is not an
 * integer below 2^22 in magnitude (inRoundRange), or the parameters do not have `channels` channels.
 */
export function floatRequantChannels(
  params: RequantParams,
  zy: number,
  yq: QRangeSpec,
  act: QActivation,
  channels: number,
): { mult: Float32Array; his: Float64Array; lo: number } | null {
  const chHi = act.kind === 'clamp' ? (act.channelHi ?? null) : null;
  if ((params.channels !== 1 && params.channels !== channels) || (chHi && chHi.length !== channels)) return null;
  let { qmin, qmax } = qRange(yq);
  if (act.kind === 'clamp') {
    qmin = Math.max(qmin, act.lo);
    qmax = Math.min(qmax, act.hi);
  }
  const lo = qmin - zy;
  if (!inRoundRange(lo) || !inRoundRange(zy)) return null;
  const mult = new Float32Array(channels);
  const his = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    mult[c] = params.multiplier[params.channels === 1 ? 0 : c];
    his[c] = (chHi ? Math.min(qmax, chHi[c]) : qmax) - zy;
    if (!inRoundRange(his[c])) return null;
  }
  return { mult, his, lo };
}

/**
 * The fixed mode's constants per channel for `channels` channels, as the WebAssembly requantizers
 * take them (FixedMultiplier's, double rounding only): the channel records and both bounds minus
 * zy. Null for single rounding (its 64-bit saturation has no SIMD form here; the JS loop runs), or
 * where the parameters do not have `channels` channels.
 */
export function fixedRequantChannels(
  params: RequantParams,
  zy: number,
  yq: QRangeSpec,
  act: QActivation,
  channels: number,
): (FixedChannels & { his: Int32Array; lo: number }) | null {
  const chHi = act.kind === 'clamp' ? (act.channelHi ?? null) : null;
  if (params.rounding !== 'double' || (params.channels !== 1 && params.channels !== channels) || (chHi && chHi.length !== channels)) return null;
  let { qmin, qmax } = qRange(yq);
  if (act.kind === 'clamp') {
    qmin = Math.max(qmin, act.lo);
    qmax = Math.min(qmax, act.hi);
  }
  const int32 = (v: number) => Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
  const lo = qmin - zy;
  if (!int32(lo) || !int32(zy)) return null;
  const m = new Int32Array(channels);
  const lsMul = new Int32Array(channels);
  const rs = new Int32Array(channels);
  const his = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const k = params.channels === 1 ? 0 : c;
    const fm = new FixedMultiplier(params.m0[k], params.shift[k], params.rounding, params.multiplierBits);
    m[c] = fm.m;
    lsMul[c] = fm.lsMul;
    rs[c] = fm.rs;
    const hi = (chHi ? Math.min(qmax, chHi[c]) : qmax) - zy;
    if (!int32(hi)) return null;
    his[c] = hi;
  }
  return { m, lsMul, rs, his, lo };
}

/** below this many values a call into WebAssembly costs more than it saves */
const WASM_MIN = 64;

/** requantize's float mode in JS: requant-wasm.ts's reference, and its fallback. */
function requantizeFloatJs(
  acc: Float64Array,
  y: Int32Array,
  blocks: number,
  walk: number,
  run: number,
  params: RequantParams,
  ch: number,
  qmin: number,
  qmax: number,
  his: ArrayLike<number> | null,
  zy: number,
): void {
  let i = 0;
  for (let b = 0; b < blocks; b++) {
    for (let c = 0; c < walk; c++) {
      const m = params.multiplier[ch === 1 ? 0 : c];
      const lo = qmin - zy;
      const hi = (his ? Math.min(qmax, his[c]) : qmax) - zy;
      for (const end = i + run; i < end; i++) {
        let v = Math.fround(Math.fround(acc[i]) * m);
        if (!(v >= lo)) v = lo;
        if (v > hi) v = hi;
        y[i] = roundHalfEven(v) + zy;
      }
    }
  }
}

function requantizeFixedWasmWalk(acc: Float64Array, y: Int32Array, blocks: number, walk: number, run: number, params: RequantParams, zy: number, yq: QRangeSpec, act: QActivation): boolean {
  const f = fixedRequantChannels(params, zy, yq, act, walk);
  return f !== null && requantizeFixedWasm(acc, y, blocks, walk, run, f, f.lo, f.his, zy);
}

export function requantize(
  acc: Float64Array,
  outShape: readonly number[],
  params: RequantParams,
  zy: number,
  yq: QRangeSpec,
  act: QActivation,
  out?: Int32Array,
): Int32Array {
  const n = acc.length;
  let total = 1;
  for (const d of outShape) total *= d;
  if (total !== n) throw new InvariantError(`requantize: ${n} accumulators for shape [${outShape.join(',')}]`);
  const ch = params.channels;
  if (ch !== 1 && (outShape.length < 2 || outShape[1] !== ch)) {
    throw new InvariantError(`requantize: ${ch} channel multipliers for shape [${outShape.join(',')}] (channel axis 1)`);
  }
  // per-channel clamp bounds (CLE through ReLU6) walk the channels like per-channel multipliers
  const his = act.kind === 'clamp' ? (act.channelHi ?? null) : null;
  if (his && (outShape.length < 2 || outShape[1] !== his.length)) {
    throw new InvariantError(`requantize: ${his.length} clamp bounds for shape [${outShape.join(',')}] (channel axis 1)`);
  }
  const walk = his ? his.length : ch;
  let inner = 1;
  for (let i = 2; i < outShape.length; i++) inner *= outShape[i];
  const y = out ?? new Int32Array(n);
  let { qmin, qmax } = qRange(yq);
  // A clamp activation narrows the same saturation; a LUT follows it.
  if (act.kind === 'clamp') {
    qmin = Math.max(qmin, act.lo);
    qmax = Math.min(qmax, act.hi);
  }
  const blocks = walk === 1 ? 1 : n / (walk * inner);
  const run = walk === 1 ? n : inner;
  if (params.mode === 'float') {
    const f = n >= WASM_MIN ? floatRequantChannels(params, zy, yq, act, walk) : null;
    if (!f || !requantizeFloatWasm(acc, y, blocks, walk, run, f.mult, f.lo, f.his, zy)) requantizeFloatJs(acc, y, blocks, walk, run, params, ch, qmin, qmax, his, zy);
  } else if (!(n >= WASM_MIN && requantizeFixedWasmWalk(acc, y, blocks, walk, run, params, zy, yq, act))) {
    let i = 0;
    const mults: FixedMultiplier[] = [];
    for (let c = 0; c < ch; c++) mults.push(new FixedMultiplier(params.m0[c], params.shift[c], params.rounding, params.multiplierBits));
    for (let b = 0; b < blocks; b++) {
      for (let c = 0; c < walk; c++) {
        const fm = mults[ch === 1 ? 0 : c];
        const hi = his ? Math.min(qmax, his[c]) : qmax;
        for (const end = i + run; i < end; i++) {
          let v = fm.apply(acc[i]) + zy;
          if (v < qmin) v = qmin;
          if (v > hi) v = hi;
          y[i] = v;
        }
      }
    }
  }
  if (act.kind === 'lut') {
    applyLut(y, act, y);
  } else if (act.kind === 'igelu') applyIgelu(y, act, params.multiplierBits, params.rounding, y);
  return y;
}

/**
 * Clamps output codes in place to a clamp activation's bounds narrowed to [qmin, qmax] — per
 * channel along axis 1 of `shape` when it has `channelHi` (a standalone activation or an Add's
 * fused clamp; linear layers clamp inside `requantize`).
 */
export function clampCodes(codes: Int32Array, shape: readonly number[], act: Extract<QActivation, { kind: 'clamp' }>, qmin = -Infinity, qmax = Infinity): Int32Array {
  const lo = Math.max(qmin, act.lo);
  const his = act.channelHi;
  if (!his) {
    const hi = Math.min(qmax, act.hi);
    for (let i = 0; i < codes.length; i++) codes[i] = codes[i] < lo ? lo : codes[i] > hi ? hi : codes[i];
    return codes;
  }
  if (shape.length < 2 || shape[1] !== his.length) throw new InvariantError(`${his.length} clamp bounds for shape [${shape.join(',')}] (channel axis 1)`);
  let inner = 1;
  for (let k = 2; k < shape.length; k++) inner *= shape[k];
  for (let i = 0; i < codes.length; ) {
    for (let c = 0; c < his.length; c++) {
      const hi = Math.min(qmax, his[c]);
      for (const end = i + inner; i < end; i++) codes[i] = codes[i] < lo ? lo : codes[i] > hi ? hi : codes[i];
    }
  }
  return codes;
}

/** Integer clamp bounds of a fused ReLU / ReLU6 / Clip in the output quantization `yq`. */
export interface ClampBoundsOptions {
  /** Clip bounds in real units (relu: [0, ∞); relu6: [0, 6]) */
  readonly min?: number;
  readonly max?: number;
  /**
   * 'away' — TFLite CalculateActivationRangeQuantized: z + round_half_away(float32(f / s));
   * 'even' — what QuantizeLinear of the bound gives (ORT): clamp(round_half_even(float32(f / s)) + z).
   * Default 'away'.
   */
  readonly rounding?: 'away' | 'even';
  /**
   * clip only: per-channel upper bounds in real units (axis 1; CLE through ReLU6). Each becomes an
   * integer bound with the same rounding as `max`, saturated to [lo, qmax] — `channelHi` of the
   * result; its `hi` is their maximum.
   */
  readonly channelMax?: Float32Array;
}

export function clampBounds(fn: 'relu' | 'relu6' | 'clip', yq: QParams, opts: ClampBoundsOptions = {}): QActivation {
  if (yq.scale.length !== 1) throw new InvariantError('clampBounds: activation quantization must be per-tensor');
  const s = yq.scale[0];
  const z = yq.zeroPoint[0];
  const { qmin, qmax } = qRange(yq);
  const rnd = opts.rounding === 'even' ? roundHalfEven : roundHalfAway;
  const quant = (f: number): number => z + rnd(Math.fround(Math.fround(f) / s));
  const fmin = fn === 'clip' ? (opts.min ?? -Infinity) : 0;
  const fmax = fn === 'relu6' ? 6 : fn === 'clip' ? (opts.max ?? Infinity) : Infinity;
  const lo = fmin === -Infinity ? qmin : Math.min(qmax, Math.max(qmin, quant(fmin)));
  const hi = fmax === Infinity ? qmax : Math.max(qmin, Math.min(qmax, quant(fmax)));
  if (lo > hi) throw new InvariantError(`clampBounds: empty range [${fmin}, ${fmax}] for scale ${s}, zero point ${z}`);
  const cm = opts.channelMax;
  if (!cm) return { kind: 'clamp', fn, lo, hi };
  if (fn !== 'clip') throw new InvariantError(`clampBounds: per-channel bounds are a clip, not ${fn}`);
  const channelHi = new Int32Array(cm.length);
  let top = lo;
  for (let c = 0; c < cm.length; c++) {
    const f = cm[c];
    if (!(f >= fmin)) throw new InvariantError(`clampBounds: channel ${c}'s bound ${f} is below the lower bound ${fmin}`);
    channelHi[c] = f === Infinity ? qmax : Math.max(lo, Math.min(qmax, quant(f)));
    top = Math.max(top, channelHi[c]);
  }
  return { kind: 'clamp', fn, lo, hi: top, channelHi };
}
