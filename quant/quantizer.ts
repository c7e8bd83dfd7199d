/**
 * Quantizers: scale and zero point from a real range for a TensorQuantConfig, and quantize /
 * dequantize / fake-quantize of float arrays with exactly ONNX QuantizeLinear / DequantizeLinear
 * semantics (qnet/qmath.ts: float32 division, clamp, round half to even), per tensor or per channel.
 *
 * Range → parameters (the white paper §2.2, and what ORT / TFLite compute):
 * - the range is first widened to contain 0, so that zero (padding, ReLU) is exact;
 * - symmetric signed: s = max(|min|, |max|) / (2^(b−1) − 1), z = 0 — the same divisor for the
 *   full and the restricted range, so +max always maps to the top code;
 * - symmetric unsigned: s = max / qmax, z = 0 (negative values clip to 0: a ReLU output);
 * - asymmetric: s = (max − min) / (qmax − qmin), z = clamp(qmin − round(min / s)); a range
 *   starting at 0 gives z = qmin, which lets an exporter drop a fused ReLU clamp;
 * - pow2: s rounded UP to 2^k so the range still fits (z recomputed for the new s);
 * - scales are stored as float32 (rounded to nearest), as the ONNX graph stores them.
 */
import { InvariantError } from '../nets/errors.js';
import { dequantizeLinear, fakeQuantizeLinear, qRange, quantizeLinear, roundHalfEven } from '../qnet/qmath.js';
import type { QParams } from '../qnet/network.js';
import type { TensorQuantConfig } from './config.js';

/** Smallest scale handed out: a range of exactly zero still needs a positive, finite scale. */
const MIN_SCALE = 1e-12;

export interface ScaleZero {
  /** float32-representable */
  readonly scale: number;
  readonly zeroPoint: number;
}

/** Scale and zero point for the real range [min, max] under `cfg` (per tensor). */
export function scaleZeroFromRange(min: number, max: number, cfg: TensorQuantConfig): ScaleZero {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new InvariantError(`quantizer: bad range [${min}, ${max}]`);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const { qmin, qmax } = qRange(cfg);
  let scale: number;
  if (cfg.symmetric) {
    if (cfg.signed) scale = Math.max(-lo, hi) / (2 ** (cfg.bits - 1) - 1);
    else scale = hi / qmax;
  } else scale = (hi - lo) / (qmax - qmin);
  if (!(scale > MIN_SCALE)) scale = MIN_SCALE;
  if (cfg.pow2) scale = 2 ** Math.ceil(Math.log2(scale));
  // float32 rounding may land a hair below the real scale: the top value then still rounds to the
  // top code (QuantizeLinear clamps), as in ORT, which computes the scale in float32 too
  const s32 = Math.fround(scale);
  let zeroPoint = 0;
  if (!cfg.symmetric) {
    zeroPoint = qmin - roundHalfEven(lo / s32);
    if (zeroPoint < qmin) zeroPoint = qmin;
    if (zeroPoint > qmax) zeroPoint = qmax;
  }
  return { scale: s32, zeroPoint };
}

/**
 * QParams for per-tensor (`mins.length === 1`, axis −1) or per-channel ranges along `axis`
 * (weights: 0 = output channel).
 */
export function qparamsFromRanges(mins: ArrayLike<number>, maxs: ArrayLike<number>, cfg: TensorQuantConfig, axis = 0): QParams {
  const n = mins.length;
  if (n !== maxs.length || n < 1) throw new InvariantError(`quantizer: ${n} minima for ${maxs.length} maxima`);
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    const sz = scaleZeroFromRange(mins[c], maxs[c], cfg);
    scale[c] = sz.scale;
    zeroPoint[c] = sz.zeroPoint;
  }
  return { scale, zeroPoint, axis: n > 1 ? axis : -1, bits: cfg.bits, signed: cfg.signed, narrow: cfg.narrow };
}

/** Per-tensor QParams for [min, max]. */
export function qparamsFromRange(min: number, max: number, cfg: TensorQuantConfig): QParams {
  return qparamsFromRanges([min], [max], cfg);
}

/** ONNX QuantizeLinear (bit-exact, qnet/qmath.ts). */
export function quantizeArray(x: Float32Array, q: QParams, shape: readonly number[], out?: Int32Array): Int32Array {
  return quantizeLinear(x, q, shape, out);
}

/** ONNX DequantizeLinear (bit-exact, qnet/qmath.ts). */
export function dequantizeArray(q: Int32Array, p: QParams, shape: readonly number[], out?: Float32Array): Float32Array {
  return dequantizeLinear(q, p, shape, out);
}

/**
 * Quantize then dequantize in place or into `out`: the float value the integer model sees.
 * Per-tensor params on any shape; per-channel along `q.axis` (qnet/qmath.ts, the one loop).
 */
export function fakeQuantize(x: Float32Array, q: QParams, shape: readonly number[], out: Float32Array = new Float32Array(x.length)): Float32Array {
  return fakeQuantizeLinear(x, q, shape, out);
}

/** 1.5·2^52 (see quantErrorSse) */
const ROUND_MAGIC = 6755399441055744;

/** Sum of squared errors of fake-quantizing x[off … off+len) with one scale / zero point. */
export function quantErrorSse(x: Float32Array, off: number, len: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const lo = qmin - zeroPoint;
  const hi = qmax - zeroPoint;
  let sse = 0;
  for (let i = off, end = off + len; i < end; i++) {
    const xv = x[i];
    let v = Math.fround(xv / scale);
    if (!(v >= lo)) v = lo;
    if (v > hi) v = hi;
    // roundHalfEven(v) without its branches (a tie test per weight mispredicts half the time):
    // adding and subtracting 1.5·2^52 rounds a double below 2^51 to an integer, ties to even
    const d = xv - Math.fround(v + ROUND_MAGIC - ROUND_MAGIC) * scale;
    sse += d * d;
  }
  return sse;
}
