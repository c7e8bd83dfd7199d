/**
 * Binary floating-point element formats as data (DESIGN.md "Number formats"): FP16, BF16, FP8
 * E4M3 / E5M2 (OCP 8-bit floating point, OFP8), FP6 E3M2 / E2M3 and FP4 E2M1 (OCP Microscaling
 * Formats v1.0, §5.3), with one encoder (round-to-nearest-even, saturate or not) and one decoder.
 *
 * Every format is sign · exponent field · mantissa field with bias 2^(E−1) − 1; exponent field 0
 * holds the subnormals (no implicit 1, exponent 1 − bias). What differs is the top of the range:
 * - `Specials.Ieee` (FP16, BF16, E5M2): the all-ones exponent holds ±inf (mantissa 0) and NaNs;
 * - `Specials.FiniteNan` (E4M3, OCP's "FN"): no infinities; only S.1111.111 is NaN, the rest of the
 *   all-ones exponent is normal (max finite 1.75·2^8 = 448);
 * - `Specials.None` (FP6, FP4): every code is a finite number.
 *
 * Rounding: the value is rounded once, to nearest with ties to even, with an unbounded exponent;
 * a result above max finite overflows. Overflow (inf inputs included) with `saturate` gives ±max
 * finite; without it ±inf (Ieee) or NaN (FiniteNan) — ONNX opset-19 QuantizeLinear / Cast
 * `saturate` semantics. `None` formats have nothing to overflow to: they always saturate, as the
 * MX conversion clamps (MX v1.0 §6.3), and a NaN input has no encoding (InvariantError from the
 * array loops; MX blocks handle NaN through the shared scale instead).
 *
 * Known divergences from onnxruntime's float8 converter (include/onnxruntime/core/framework/
 * float8.h, which follows the ONNX reference `float32_to_float8e4m3` / `…e5m2`), both without
 * saturation and both pinned in test/golden/fp8-vs-ort.test.ts: E4M3FN |x| ∈ [480, 496) — ORT
 * truncates the NaN mantissa 111 to 110 and returns ±448, here it overflows to NaN as everything
 * above 464 (max + half an ulp) does; E5M2 |x| ∈ [61440, 65536) — ORT ORs the inf pattern into max
 * finite (0x7B | 0x7C = 0x7F, a NaN), here it is ±inf as IEEE rounding (and ORT for |x| ≥ 65536)
 * says. Everything else — 600 random Q/DQ cases, every code — is bit-exact to ORT.
 *
 * Numbers: values are float64. A float32 input is exact in a double, a quotient x/2^k stays exact,
 * and every code of every format here is exact in float32, so decode tables are exact.
 */
import { invariant, InvariantError } from '../../nets/errors.js';
import { roundHalfEven } from '../qmath.js';

/** Which formats exist (numeric: hot loops switch on these, not on names). */
export enum FloatKind {
  Fp16 = 0,
  Bf16 = 1,
  E4M3 = 2,
  E5M2 = 3,
  E3M2 = 4,
  E2M3 = 5,
  E2M1 = 6,
}

/** What the all-ones exponent field means (see the file comment). */
export enum Specials {
  Ieee = 0,
  FiniteNan = 1,
  None = 2,
}

export interface FloatFormat {
  readonly kind: FloatKind;
  readonly name: string;
  /** total bits: 1 + expBits + manBits */
  readonly bits: number;
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  readonly specials: Specials;
  /** unbiased exponent of the normals' bottom binade (1 − bias), also the subnormals' exponent */
  readonly emin: number;
  /** unbiased exponent of max finite (MX v1.0's emax_elem) */
  readonly emax: number;
  readonly maxFinite: number;
  readonly minNormal: number;
  readonly minSubnormal: number;
  /** positive code of max finite */
  readonly maxCode: number;
  /** positive code of +inf; −1 without infinities */
  readonly infCode: number;
  /** positive code of the canonical NaN (the one the encoder writes); −1 without NaN */
  readonly nanCode: number;
  /** the sign bit: 1 << (bits − 1) */
  readonly signBit: number;
}

/** nanMan: the mantissa of the NaN the encoder writes (Ieee formats; FN has only all-ones) */
function define(kind: FloatKind, name: string, expBits: number, manBits: number, specials: Specials, nanMan = 0): FloatFormat {
  const bias = 2 ** (expBits - 1) - 1;
  const topField = 2 ** expBits - 1;
  const m1 = 2 ** manBits;
  // max finite: IEEE keeps the top exponent for inf/NaN; FN loses one mantissa code to NaN there
  const maxField = specials === Specials.Ieee ? topField - 1 : topField;
  const maxMan = specials === Specials.FiniteNan ? m1 - 2 : m1 - 1;
  const emin = 1 - bias;
  const emax = maxField - bias;
  const maxCode = maxField * m1 + maxMan;
  return {
    kind,
    name,
    bits: 1 + expBits + manBits,
    expBits,
    manBits,
    bias,
    specials,
    emin,
    emax,
    maxFinite: ((m1 + maxMan) / m1) * 2 ** emax,
    minNormal: 2 ** emin,
    minSubnormal: 2 ** (emin - manBits),
    maxCode,
    infCode: specials === Specials.Ieee ? topField * m1 : -1,
    nanCode: specials === Specials.Ieee ? topField * m1 + nanMan : specials === Specials.FiniteNan ? topField * m1 + m1 - 1 : -1,
    signBit: 2 ** (expBits + manBits),
  };
}

// NaNs written: FP16 / BF16 the quiet NaN with only the top mantissa bit (0x7E00, 0x7FC0: what
// float32 NaN → half / bfloat16 conversions produce); E5M2 S.11111.11, as onnxruntime and CUDA's
// __nv_cvt_float_to_fp8 write it
export const FP16 = define(FloatKind.Fp16, 'fp16', 5, 10, Specials.Ieee, 0x200);
export const BF16 = define(FloatKind.Bf16, 'bf16', 8, 7, Specials.Ieee, 0x40);
export const FP8_E4M3 = define(FloatKind.E4M3, 'fp8-e4m3', 4, 3, Specials.FiniteNan);
export const FP8_E5M2 = define(FloatKind.E5M2, 'fp8-e5m2', 5, 2, Specials.Ieee, 3);
export const FP6_E3M2 = define(FloatKind.E3M2, 'fp6-e3m2', 3, 2, Specials.None);
export const FP6_E2M3 = define(FloatKind.E2M3, 'fp6-e2m3', 2, 3, Specials.None);
export const FP4_E2M1 = define(FloatKind.E2M1, 'fp4-e2m1', 2, 1, Specials.None);

/** By kind (index = FloatKind). */
export const FLOAT_FORMATS: readonly FloatFormat[] = [FP16, BF16, FP8_E4M3, FP8_E5M2, FP6_E3M2, FP6_E2M3, FP4_E2M1];

// Scratch views of one double for exponent extraction (no allocation per value).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** 2^(i − 1100) for i = 0…2100: exact powers of two without Math.pow in hot loops */
const POW2_OFFSET = 1100;
const POW2 = Float64Array.from({ length: 2101 }, (_, i) => 2 ** (i - POW2_OFFSET));

/** floor(log2 a) for a positive normal double, from its exponent field (double subnormals: −1023) */
export function floorLog2(a: number): number {
  F64[0] = a;
  return ((U32[HI] >>> 20) & 0x7ff) - 1023;
}

/** 2^e, exact, for integer e in −1100…1000 (a table read, not Math.pow) */
export function pow2(e: number): number {
  return POW2[POW2_OFFSET + e];
}

/**
 * The positive code of |v| (v not NaN, a = |v| ≥ 0), rounded to nearest-even; overflow as the
 * file comment says. Returns the code without the sign bit.
 */
export function encodeMagnitude(f: FloatFormat, a: number, saturate: boolean): number {
  if (a === Infinity) return overflowCode(f, saturate);
  // double subnormals land below emin anyway
  let e = floorLog2(a);
  if (e < f.emin) e = f.emin;
  const m = f.manBits;
  // a / 2^(e−m) is exact (a power-of-two scaling of a double) and below 2^(m+1): r is its RNE
  const r = roundHalfEven(a * POW2[POW2_OFFSET + m - e]);
  // code = (e − emin)·2^m + r covers the subnormals (e = emin, r < 2^m), the normals, and a
  // round-up into the next binade (r = 2^(m+1)) alike
  const code = (e - f.emin) * POW2[POW2_OFFSET + m] + r;
  if (code > f.maxCode) return overflowCode(f, saturate);
  return code;
}

function overflowCode(f: FloatFormat, saturate: boolean): number {
  if (saturate || f.specials === Specials.None) return f.maxCode;
  return f.specials === Specials.Ieee ? f.infCode : f.nanCode;
}

/**
 * Code of v (sign included). `negative` is the sign to give a NaN, whose sign bit a double
 * comparison cannot see (callers holding float32 bits pass bit 31); ignored for other values.
 * Returns −1 for a NaN in a format without NaN.
 */
export function encodeFloat(f: FloatFormat, v: number, saturate: boolean, negative = false): number {
  if (v !== v) return f.nanCode < 0 ? -1 : f.nanCode + (negative ? f.signBit : 0);
  const neg = v < 0 || (v === 0 && 1 / v < 0);
  const c = encodeMagnitude(f, neg ? -v : v, saturate);
  return neg ? c + f.signBit : c;
}

/** Value of a code, by the field formula (the tables below are built from it). */
function decodeFormula(f: FloatFormat, code: number): number {
  const neg = code >= f.signBit;
  const c = neg ? code - f.signBit : code;
  const m1 = 2 ** f.manBits;
  const field = Math.floor(c / m1);
  const man = c - field * m1;
  let v: number;
  if (c === f.nanCode || (f.specials === Specials.Ieee && field === 2 ** f.expBits - 1)) v = man === 0 ? Infinity : NaN;
  else if (field === 0) v = man * f.minSubnormal;
  else v = (m1 + man) * 2 ** (field - f.bias - f.manBits);
  return neg ? -v : v;
}

const TABLES: (Float64Array | undefined)[] = [];

/** Value of every code (2^bits entries; ±0 distinct, NaNs NaN), built once per format. */
export function decodeTable(f: FloatFormat): Float64Array {
  let t = TABLES[f.kind];
  if (t === undefined) {
    t = new Float64Array(2 ** f.bits);
    for (let c = 0; c < t.length; c++) t[c] = decodeFormula(f, c);
    TABLES[f.kind] = t;
  }
  return t;
}

/** Value of one code. */
export function decodeFloat(f: FloatFormat, code: number): number {
  invariant(Number.isInteger(code) && code >= 0 && code < 2 ** f.bits, `${f.name}: code ${code} out of range`);
  return decodeTable(f)[code];
}

/** 1.5·2^52: adding then subtracting 1.5·2^52·q rounds a double to a multiple of q, ties to even */
const ROUNDER = 1.5 * 2 ** 52;

/**
 * v rounded to the format: the float64 value the format stores for v, = value(encodeFloat(v)) —
 * without the code, for accumulators that round every add. (v + C) − C with C = 1.5·2^52·q rounds
 * v to a multiple of the quantum q once (|v| < 2^51·q holds: q is the ulp of v's binade, or the
 * subnormal step below the normals); overflow as encodeFloat's.
 */
export function roundToFloat(f: FloatFormat, v: number, saturate: boolean): number {
  if (v - v !== 0) {
    if (v !== v) return NaN;
    return overflowValue(f, v, saturate);
  }
  if (v === 0) return v;
  const a = v < 0 ? -v : v;
  let e = floorLog2(a);
  if (e > f.emax) return overflowValue(f, v, saturate); // ≥ 2^(emax+1) > max finite (and keeps c finite)
  if (e < f.emin) e = f.emin;
  const c = ROUNDER * POW2[POW2_OFFSET + e - f.manBits];
  const r = v + c - c;
  if (r > f.maxFinite || r < -f.maxFinite) return overflowValue(f, v, saturate);
  // an underflow to zero keeps v's sign (IEEE), which the subtraction above loses
  return r === 0 ? (v < 0 ? -0 : 0) : r;
}

function overflowValue(f: FloatFormat, v: number, saturate: boolean): number {
  if (saturate || f.specials === Specials.None) return v < 0 ? -f.maxFinite : f.maxFinite;
  if (f.specials === Specials.FiniteNan) return NaN;
  return v < 0 ? -Infinity : Infinity;
}

export type Codes = Uint8Array | Uint16Array;

function checkCodes(f: FloatFormat, out: Codes, what: string): void {
  if (f.bits > 8 && !(out instanceof Uint16Array)) throw new InvariantError(`${what}: ${f.name} codes need a Uint16Array`);
}

function nanError(f: FloatFormat, what: string, i: number): InvariantError {
  return new InvariantError(`${what}: element ${i} is NaN, which ${f.name} cannot encode (no NaN code)`);
}

/** Plain conversion: out[i] = code of x[i] (float32 NaN signs kept). */
export function encodeFloatArray(f: FloatFormat, x: Float32Array, saturate: boolean, out?: Codes): Codes {
  const y = out ?? (f.bits > 8 ? new Uint16Array(x.length) : new Uint8Array(x.length));
  checkCodes(f, y, 'encodeFloatArray');
  invariant(y.length === x.length, `encodeFloatArray: ${y.length} codes for ${x.length} values`);
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const c = encodeFloat(f, x[i], saturate, bits[i] >= 0x80000000);
    if (c < 0) throw nanError(f, 'encodeFloatArray', i);
    y[i] = c;
  }
  return y;
}

/** out[i] = value of codes[i] (float32: every code here is exact in float32). */
export function decodeFloatArray(f: FloatFormat, codes: Codes, out?: Float32Array): Float32Array {
  const y = out ?? new Float32Array(codes.length);
  invariant(y.length === codes.length, `decodeFloatArray: ${y.length} outputs for ${codes.length} codes`);
  const t = decodeTable(f);
  for (let i = 0; i < codes.length; i++) y[i] = t[codes[i]];
  return y;
}

/** Channel count and inner block size of a per-axis scale layout (axis < 0: per tensor). */
function scaleLayout(scale: Float32Array, shape: readonly number[], axis: number, what: string): { ch: number; inner: number; n: number } {
  let n = 1;
  for (const d of shape) n *= d;
  if (axis < 0) {
    invariant(scale.length === 1, `${what}: ${scale.length} scales but no axis (per tensor needs 1)`);
    return { ch: 1, inner: n, n };
  }
  invariant(axis < shape.length, `${what}: axis ${axis} out of range for shape [${shape.join(',')}]`);
  invariant(scale.length === shape[axis], `${what}: ${scale.length} scales for axis ${axis} of size ${shape[axis]}`);
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { ch: scale.length, inner, n };
}

/**
 * ONNX QuantizeLinear (opset 19) to a float format: code = encode(float32(x / scale)), per tensor
 * (axis < 0) or per axis. onnxruntime divides in float32 and ignores the (required zero) float8
 * zero point; a NaN quotient keeps x's sign.
 */
export function quantizeFloatLinear(
  f: FloatFormat,
  x: Float32Array,
  scale: Float32Array,
  shape: readonly number[],
  axis: number,
  saturate: boolean,
  out?: Codes,
): Codes {
  const { ch, inner, n } = scaleLayout(scale, shape, axis, 'quantizeFloatLinear');
  invariant(x.length === n, `quantizeFloatLinear: ${x.length} values for shape [${shape.join(',')}]`);
  const y = out ?? (f.bits > 8 ? new Uint16Array(n) : new Uint8Array(n));
  checkCodes(f, y, 'quantizeFloatLinear');
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let start = 0, c = 0; start < n; start += inner, c = c + 1 === ch ? 0 : c + 1) {
    const s = scale[c];
    for (let i = start; i < start + inner; i++) {
      const code = encodeFloat(f, Math.fround(x[i] / s), saturate, bits[i] >= 0x80000000);
      if (code < 0) throw nanError(f, 'quantizeFloatLinear', i);
      y[i] = code;
    }
  }
  return y;
}

/** ONNX DequantizeLinear from a float format: float32(value(code) · scale), per tensor or per axis. */
export function dequantizeFloatLinear(
  f: FloatFormat,
  codes: Codes,
  scale: Float32Array,
  shape: readonly number[],
  axis: number,
  out?: Float32Array,
): Float32Array {
  const { ch, inner, n } = scaleLayout(scale, shape, axis, 'dequantizeFloatLinear');
  invariant(codes.length === n, `dequantizeFloatLinear: ${codes.length} codes for shape [${shape.join(',')}]`);
  const y = out ?? new Float32Array(n);
  const t = decodeTable(f);
  // value·scale is one float32 rounding of an exact double product (≤ 24 × 24 significant bits)
  for (let start = 0, c = 0; start < n; start += inner, c = c + 1 === ch ? 0 : c + 1) {
    const s = scale[c];
    for (let i = start; i < start + inner; i++) y[i] = t[codes[i]] * s;
  }
  return y;
}
