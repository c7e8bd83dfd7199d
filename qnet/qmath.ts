/**
 * Scalar integer/float32 arithmetic shared by the bit-exact integer ops (DESIGN.md "Integer
 * arithmetic contract"): integer ranges, round-half-even, an exact float32 fused multiply-add,
 * and ONNX QuantizeLinear / DequantizeLinear exactly as onnxruntime's CPU kernels compute them.
 *
 * ORT semantics reproduced here (source read: onnxruntime/core/mlas/lib/quantize.cpp
 * `MlasQuantizeLinearVector` / `MlasQuantizeLinearKernel`, intrinsics/avx512/quantize_avx512f.cpp,
 * mlas/lib/dequantize.cpp, core/providers/cpu/quantization/quantize_linear.cc
 * `DequantizeLinearApply` / `ComputeLoop`):
 * - QuantizeLinear DIVIDES (`x / scale` in float32, never `x * (1/scale)`), then clamps the float
 *   quotient to [qmin − z, qmax − z] (a NaN quotient becomes qmin − z: MAXPS returns its second
 *   operand), then rounds half-to-even (CVTPS2DQ under the default MXCSR) and adds z.
 *   Clamping before rounding is the same as clamping after, since the bounds are integers.
 * - DequantizeLinear computes `float(int32(q) − z) * scale` in float32 (one rounding).
 * - Per-axis variants apply channel c's scale/zero point to the block [.., c, ..] of `axis`.
 *
 * JS doubles reproduce float32 arithmetic exactly with Math.fround after each operation: a product,
 * sum or quotient of two float32 values rounded once to double and then to float32 equals the
 * float32 result (double has more than 2·24+2 bits). A fused multiply-add does NOT have that
 * property, hence `fma32`.
 */
import { InvariantError } from '../nets/errors.js';
import type { QParams } from './network.js';
import { quantizeFloatWasm } from './requant-wasm.js';

/** Integer range of a quantized type. */
export interface QRangeSpec {
  readonly bits: number;
  readonly signed: boolean;
  readonly narrow: boolean;
}

export function qRange(q: QRangeSpec): { qmin: number; qmax: number } {
  if (!Number.isInteger(q.bits) || q.bits < 2 || q.bits > 32) throw new InvariantError(`quantized bits must be 2…32, got ${q.bits}`);
  if (q.signed) {
    const h = 2 ** (q.bits - 1);
    return { qmin: -h + (q.narrow ? 1 : 0), qmax: h - 1 };
  }
  return { qmin: 0, qmax: 2 ** q.bits - 1 - (q.narrow ? 1 : 0) };
}

/** 1.5·2^52: x + this lies in [2^52, 2^53), where the doubles are exactly the integers, for |x| < 2^51 */
const ROUND_MAGIC = 6755399441055744;

/**
 * Round to nearest, ties to even (IEEE default rounding; C nearbyint, x86 CVTPS2DQ); a zero
 * result is +0. For |x| < 2^51 the add of ROUND_MAGIC does the rounding (IEEE's own ties-to-even)
 * and the subtraction is exact — no data-dependent branch, which real data mispredicts half the
 * time (4× slower in quantizeLinear); larger magnitudes take the floor-and-compare path.
 */
export function roundHalfEven(x: number): number {
  if (x < 2251799813685248 && x > -2251799813685248) return x + ROUND_MAGIC - ROUND_MAGIC;
  const f = Math.floor(x);
  const d = x - f; // exact: x and floor(x) share the binade or x is an integer
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Round to nearest, ties away from zero (C round, TfLiteRound). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

// Scratch view of one double for the round-to-odd step of fma32 (no allocation per call).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE ? 0 : 1;
const HI = LITTLE ? 1 : 0;

/**
 * p + c rounded to a double with round-to-odd: the nearest double toward zero, its last bit set
 * when the sum was inexact (error-free TwoSum tells). Rounding that double once more to any
 * format at least 2 bits narrower (float32, float16, bfloat16, FP8, …) is then the correctly
 * rounded p + c — plain double rounding would be wrong on rare midpoints. Inf / NaN pass through.
 */
export function addRoundToOdd(p: number, c: number): number {
  const s = p + c;
  if (s - s !== 0) return s; // inf / NaN
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  if (err === 0) return s;
  F64[0] = s;
  const lo = U32[LO];
  if ((lo & 1) === 0) {
    // s is "even": step one ulp toward the exact sum so the double carries a sticky bit.
    if (err > 0 === s > 0) {
      U32[LO] = lo + 1;
    } else if (lo === 0) {
      U32[LO] = 0xffffffff;
      U32[HI] = U32[HI] - 1;
    } else {
      U32[LO] = lo - 1;
    }
  }
  return F64[0];
}

/**
 * float32 fused multiply-add fma(a, b, c) = round_f32(a·b + c) with ONE rounding, for float32
 * inputs (VFMADD231PS): a·b is exact in a double (48 significant bits), the sum is rounded to
 * odd (`addRoundToOdd`), then to float32.
 */
export function fma32(a: number, b: number, c: number): number {
  return Math.fround(addRoundToOdd(a * b, c));
}

/** Rank, channel count and inner block size of a per-axis parameter layout. */
function axisLayout(p: QParams, shape: readonly number[], what: string): { per: boolean; ch: number; inner: number } {
  const n = p.scale.length;
  if (p.zeroPoint.length !== n) throw new InvariantError(`${what}: scale has ${n} entries, zero point ${p.zeroPoint.length}`);
  if (n === 1 || p.axis < 0) {
    if (n !== 1) throw new InvariantError(`${what}: ${n} scales but axis ${p.axis} (per-tensor needs 1)`);
    // one run over the whole tensor: the loops' per-run set-up (scale, zero point, bounds) once, not per value
    return { per: false, ch: 1, inner: numelOf(shape) };
  }
  if (p.axis >= shape.length) throw new InvariantError(`${what}: axis ${p.axis} out of range for shape [${shape.join(',')}]`);
  if (shape[p.axis] !== n) throw new InvariantError(`${what}: ${n} scales for axis ${p.axis} of size ${shape[p.axis]}`);
  let inner = 1;
  for (let i = p.axis + 1; i < shape.length; i++) inner *= shape[i];
  return { per: true, ch: n, inner };
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The one QuantizeLinear loop: per-tensor or per-axis along `q.axis`, writing the codes (q + z)
 * into `codes` or, for fake quantization, their DequantizeLinear value into `fake` (the float the
 * integer model sees: float32((q − z)·s) = float32(round(x/s clamped)·s)).
 */
function quantizeLoop(x: Float32Array, q: QParams, shape: readonly number[], codes: Int32Array | null, fake: Float32Array | null, what: string): void {
  const n = numelOf(shape);
  if (x.length !== n) throw new InvariantError(`${what}: ${x.length} values for shape [${shape.join(',')}]`);
  const { qmin, qmax } = qRange(q);
  const { ch, inner } = axisLayout(q, shape, what);
  if (ch === 1 && codes !== null && n >= 64 && quantizeFloatWasm(x, codes, n, q.scale[0], qmin - q.zeroPoint[0], qmax - q.zeroPoint[0], q.zeroPoint[0])) return;
  const blocks = n === 0 ? 0 : n / (ch * inner);
  let i = 0;
  for (let b = 0; b < blocks; b++) {
    for (let c = 0; c < ch; c++) {
      const s = q.scale[c];
      const z = q.zeroPoint[c];
      const lo = qmin - z;
      const hi = qmax - z;
      for (const end = i + inner; i < end; i++) {
        let v = Math.fround(x[i] / s);
        if (!(v >= lo)) v = lo; // also NaN → lo, as MAXPS does
        if (v > hi) v = hi;
        const r = roundHalfEven(v);
        if (codes !== null) codes[i] = r + z;
        else (fake as Float32Array)[i] = Math.fround(r) * s;
      }
    }
  }
}

/**
 * ONNX QuantizeLinear, bit-exact to onnxruntime (see the file comment): per-tensor or per-axis
 * along `q.axis`, into the integer range of `q` (bits, signed, narrow).
 */
export function quantizeLinear(x: Float32Array, q: QParams, shape: readonly number[], out?: Int32Array): Int32Array {
  const y = out ?? new Int32Array(x.length);
  quantizeLoop(x, q, shape, y, null, 'quantizeLinear');
  return y;
}

/** Quantize then dequantize (fake quantization), bit-exact to QuantizeLinear → DequantizeLinear. */
export function fakeQuantizeLinear(x: Float32Array, q: QParams, shape: readonly number[], out: Float32Array = new Float32Array(x.length)): Float32Array {
  quantizeLoop(x, q, shape, null, out, 'fakeQuantize');
  return out;
}

/** One value through QuantizeLinear (float32 x, scale; integer z), same semantics as above. */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  let v = Math.fround(x / scale);
  if (!(v >= qmin - zeroPoint)) v = qmin - zeroPoint;
  if (v > qmax - zeroPoint) v = qmax - zeroPoint;
  return roundHalfEven(v) + zeroPoint;
}

/** ONNX DequantizeLinear, bit-exact to onnxruntime: float32((q − z)·s), per-tensor or per-axis. */
export function dequantizeLinear(q: Int32Array, p: QParams, shape: readonly number[], out?: Float32Array): Float32Array {
  const n = numelOf(shape);
  if (q.length !== n) throw new InvariantError(`dequantizeLinear: ${q.length} values for shape [${shape.join(',')}]`);
  const y = out ?? new Float32Array(n);
  const { ch, inner } = axisLayout(p, shape, 'dequantizeLinear');
  // runs of `inner` values share channel c, which wraps around every ch runs
  for (let start = 0, c = 0; start < n; start += inner, c = c + 1 === ch ? 0 : c + 1) {
    const s = p.scale[c];
    const z = p.zeroPoint[c];
    // float(q − z) first: exact for 8/16-bit codes, rounded like ORT's cast for int32 beyond 2^24;
    // the Float32Array store then rounds the product once, as MULPS does.
    for (let i = start; i < start + inner; i++) y[i] = Math.fround(q[i] - z) * s;
  }
  return y;
}

/** Per-tensor QParams (scale rounded to float32). */
export function perTensor(scale: number, zeroPoint: number, bits = 8, signed = true, narrow = false): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), axis: -1, bits, signed, narrow };
}
