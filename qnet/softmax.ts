/**
 * Softmax on integer codes, the three algorithms an SFU may have (arch/sfu.ts SoftmaxAlgorithm),
 * over rows along one axis (or, ONNX opset < 13, over everything from the axis on).
 *
 * `ort` — com.microsoft QLinearSoftmax, bit for bit (source read:
 *   onnxruntime/contrib_ops/cpu/quantization/qlinear_softmax.cc, EXP_OUT_DTYPE = float):
 *   - a 256-entry float table T[i] = float(exp((i − 255 + β) · s_x)) built in DOUBLE, with
 *     β = max(0, logf(FLT_MAX / D) − 5) / s_x and D the row length (FLT_MAX / D and its
 *     logarithm in float32: `log` of a float is logf — the double log differs in the last bit of
 *     some table entries, and ORT's outputs follow the float one) —
 *     the row maximum is aligned with entry 255, so element x reads T[255 + x − max];
 *   - the row sum in float32, element order; each output nearbyintf(f32(f32(T·⌊1/s_y⌋) / sum))
 *     (the OUTPUT SCALE enters only as the float ⌊1/s_y⌋) plus z_y; uint8 clamps above at 255
 *     only, int8 stores `vq > 255 ? int8(255) : int8(vq)` — a wrapping cast (−1 above 255),
 *     reproduced as ORT computes it. The input zero point plays no part (softmax is shift-free).
 * `ibert` — I-BERT's integer-only softmax (Kim et al., ICML 2021, Alg. 1–2): per row d = q − max ≤ 0,
 *   clamped at −30·q_ln2 as the authors' code does; i-exp with q_ln2 = ⌊ln2/s⌋, z = ⌊−d/q_ln2⌋,
 *   p = d + z·q_ln2, the second-order polynomial L = (p + q_b)² + q_c (q_b = ⌊b/s⌋,
 *   q_c = ⌊c/(a·s²)⌋, a = 0.3585, b = 1.353, c = 0.344) and e = L >> z.
 * `lut` — e from an integer table of `entries` (a power of two ≤ 2^bits) indexed by the top bits
 *   of −d: entry j = round_half_even(2^15 · exp(−s·c_j)) at the bucket's centre distance
 *   c_j = j·step + (step − 1)/2 (step = 2^bits / entries) — values ≤ 2^15, a 16-bit word.
 * Both integer variants normalize alike (integer only): sum = Σe (exact; its worst case
 * D·max e must stay below 2^32, else the layer is refused), factor = ⌊2^32 / sum⌋,
 * p = ⌊e·factor / 2^16⌋ (the probability with 16 fraction bits), then y = z_y + M·p by the
 * fixed-point multiplier M = 2^−16 / s_y (qnet/requant.ts FixedMultiplier with the run's
 * multiplier width and rounding), clamped to y's range.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import type { SoftmaxAlgorithm } from '../arch/sfu.js';
import type { QParams } from './network.js';
import { qRange, roundHalfEven } from './qmath.js';
import { FixedMultiplier, quantizeMultiplier, type RequantConfig } from './requant.js';

/** A softmax's rows: `outer` groups of `len` elements `inner` apart, `inner` rows per group. */
export interface SoftmaxRows {
  readonly outer: number;
  readonly len: number;
  readonly inner: number;
}

export function softmaxRows(shape: readonly number[], axis: number, coerce2d: boolean): SoftmaxRows {
  if (!(Number.isInteger(axis) && axis >= 0 && axis < shape.length)) throw new InvariantError(`softmax axis ${axis} out of range for shape [${shape.join(',')}]`);
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  let rest = 1;
  for (let i = axis + 1; i < shape.length; i++) rest *= shape[i];
  return coerce2d ? { outer, len: shape[axis] * rest, inner: 1 } : { outer, len: shape[axis], inner: rest };
}

export interface SoftmaxSpec {
  readonly axis: number;
  readonly coerce2d: boolean;
  readonly variant: SoftmaxAlgorithm;
  /** `lut`: table entries */
  readonly expLutEntries?: number;
  /** names the layer in errors */
  readonly name?: string;
}

const FLT_MAX = 3.4028234663852886e38;

/** ORT's exp table for input scale `sx` and row length `len`: T[i], i = 255 + x − max. */
export function ortSoftmaxTable(sx: number, len: number): Float32Array {
  const xs = Math.fround(sx);
  // log of a float argument resolves to logf: the shift is a float32 logarithm held in a double
  let shift = Math.fround(Math.log(Math.fround(FLT_MAX / Math.fround(len))));
  shift = Math.max(0, shift - 5) / xs;
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = Math.exp((i - 255 + shift) * xs);
  return t;
}

/** I-BERT's i-exp constants for input scale s (Alg. 1–2; the polynomial's a, b, c). */
export interface IExpConsts {
  readonly qLn2: number;
  readonly qb: number;
  readonly qc: number;
}

export const IEXP_A = 0.3585;
export const IEXP_B = 1.353;
export const IEXP_C = 0.344;
/** d is clamped at −IEXP_MAX_SHIFT·q_ln2 (the authors' code), so shifts stay ≤ 30 */
export const IEXP_MAX_SHIFT = 30;

export function iexpConsts(s: number, what: string): IExpConsts {
  const qLn2 = Math.floor(Math.LN2 / s);
  if (!(qLn2 >= 1)) throw new ModelError([{ node: what, message: `I-BERT softmax needs an input scale ≤ ln 2, got ${s}` }]);
  return { qLn2, qb: Math.floor(IEXP_B / s), qc: Math.floor(IEXP_C / (IEXP_A * s * s)) };
}

/** i-exp of d ≤ 0 (codes below the row maximum): ⌊((p + q_b)² + q_c) / 2^z⌋. */
export function iexp(d: number, k: IExpConsts): number {
  const lo = -IEXP_MAX_SHIFT * k.qLn2;
  const dd = d < lo ? lo : d;
  const z = Math.floor(-dd / k.qLn2);
  const p = dd + z * k.qLn2;
  const t = p + k.qb;
  return Math.floor((t * t + k.qc) / 2 ** z);
}

/** Fraction bits of the `lut` variant's table entries. */
export const SOFTMAX_LUT_FRAC_BITS = 15;

/** The `lut` variant's exp table: `entries` values over distances 0…2^bits − 1 below the maximum. */
export function softmaxExpTable(s: number, bits: number, entries: number): Int32Array {
  const lg = Math.log2(entries);
  if (!Number.isInteger(lg) || entries < 1 || entries > 2 ** bits) throw new InvariantError(`softmax exp table entries must be a power of two ≤ 2^${bits}, got ${entries}`);
  const step = 2 ** bits / entries;
  const t = new Int32Array(entries);
  for (let j = 0; j < entries; j++) t[j] = roundHalfEven(2 ** SOFTMAX_LUT_FRAC_BITS * Math.exp(-s * (j * step + (step - 1) / 2)));
  return t;
}

/** Fraction bits of the normalized probability before the output multiplier. */
export const SOFTMAX_PROB_BITS = 16;

/** Softmax of integer codes `x` (quantized by `xq`) into codes of `yq`. */
export function softmaxInt(x: Int32Array, shape: readonly number[], xq: QParams, yq: QParams, spec: SoftmaxSpec, cfg: RequantConfig, out?: Int32Array): Int32Array {
  let n = 1;
  for (const d of shape) n *= d;
  const what = spec.name ?? 'softmax';
  if (x.length !== n) throw new InvariantError(`${what}: ${x.length} values for shape [${shape.join(',')}]`);
  if (xq.scale.length !== 1 || yq.scale.length !== 1) throw new ModelError([{ node: what, message: 'softmax input and output must be quantized per tensor' }]);
  const y = out ?? new Int32Array(n);
  const rows = softmaxRows(shape, spec.axis, spec.coerce2d);
  if (rows.len === 0 || n === 0) return y;
  if (spec.variant === 'ort') ortRows(x, y, rows, xq, yq, what);
  else intRows(x, y, rows, xq, spec, cfg, what, yq);
  return y;
}

/**
 * The probabilities alone, as integers with SOFTMAX_PROB_BITS fraction bits (what an encoder other
 * than the affine output multiplier — qnet/logquant.ts — reads): the integer variants' p; for
 * `ort`, ⌊f32(T / sum)·2^16⌋ from ORT's table and float sum (its output division without ⌊1/s_y⌋).
 */
export function softmaxProbs(x: Int32Array, shape: readonly number[], xq: QParams, spec: SoftmaxSpec, out?: Int32Array): Int32Array {
  let n = 1;
  for (const d of shape) n *= d;
  const what = spec.name ?? 'softmax';
  if (x.length !== n) throw new InvariantError(`${what}: ${x.length} values for shape [${shape.join(',')}]`);
  if (xq.scale.length !== 1) throw new ModelError([{ node: what, message: 'softmax input must be quantized per tensor' }]);
  const p = out ?? new Int32Array(n);
  const rows = softmaxRows(shape, spec.axis, spec.coerce2d);
  if (rows.len === 0 || n === 0) return p;
  if (spec.variant === 'ort') {
    if (xq.bits !== 8) throw new ModelError([{ node: what, message: `QLinearSoftmax arithmetic needs an 8-bit input, got ${xq.bits}-bit` }]);
    ortRows(x, p, rows, xq, null, what);
  }
  else intRows(x, p, rows, xq, spec, { mode: 'fixed' }, what, null);
  return p;
}

/** With `yq` null, `y` receives ⌊f32(T / sum)·2^SOFTMAX_PROB_BITS⌋ instead of codes. */
function ortRows(x: Int32Array, y: Int32Array, r: SoftmaxRows, xq: QParams, yq: QParams | null, what: string): void {
  if (yq && (xq.bits !== 8 || yq.bits !== 8 || xq.signed !== yq.signed)) {
    throw new ModelError([{ node: what, message: `QLinearSoftmax arithmetic needs 8-bit input and output of one signedness, got ${xq.bits}-bit ${xq.signed ? 'signed' : 'unsigned'} → ${yq.bits}-bit ${yq.signed ? 'signed' : 'unsigned'}` }]);
  }
  const t = ortSoftmaxTable(xq.scale[0], r.len);
  const ysc = yq ? Math.floor(Math.fround(1 / yq.scale[0])) : 0;
  const zy = yq ? yq.zeroPoint[0] : 0;
  const signed = yq ? yq.signed : false;
  const one = 2 ** SOFTMAX_PROB_BITS;
  const hi = signed ? 127 : 255;
  const lo = signed ? -128 : 0;
  const { outer, len, inner } = r;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let max = -Infinity;
      for (let k = 0, p = base; k < len; k++, p += inner) if (x[p] > max) max = x[p];
      const off = 255 - max;
      let sum = 0;
      for (let k = 0, p = base; k < len; k++, p += inner) sum = Math.fround(sum + t[off + x[p]]);
      if (!yq) {
        for (let k = 0, p = base; k < len; k++, p += inner) y[p] = Math.floor(Math.fround(t[off + x[p]] / sum) * one);
        continue;
      }
      for (let k = 0, p = base; k < len; k++, p += inner) {
        const r = Math.fround(Math.fround(t[off + x[p]] * ysc) / sum);
        const vq = signed ? (toInt32(r) + zy) | 0 : (toUint32(r) + zy) >>> 0;
        y[p] = vq > hi ? hi : vq < lo ? lo : vq;
      }
    }
  }
}

/**
 * x86-64 float → int32 (CVTTSS2SI on nearbyintf's integral result): out of range and NaN give
 * INT32_MIN, the "integer indefinite".
 */
function toInt32(r: number): number {
  const v = roundHalfEven(r);
  return v >= -2147483648 && v < 2147483648 ? v : -2147483648;
}

/**
 * x86-64 float → uint32 as GCC compiles it: a 64-bit CVTTSS2SI, then the low 32 bits — out of
 * int64 range and NaN give 2^63, whose low bits are 0 (an overflowed product of a short row).
 */
function toUint32(r: number): number {
  const v = roundHalfEven(r);
  if (!(v >= -(2 ** 63) && v < 2 ** 63)) return 0;
  return ((v % 4294967296) + 4294967296) % 4294967296;
}

/** With `yq` null, `y` receives the probabilities p (SOFTMAX_PROB_BITS fraction bits) instead of codes. */
function intRows(x: Int32Array, y: Int32Array, r: SoftmaxRows, xq: QParams, spec: SoftmaxSpec, cfg: RequantConfig, what: string, yq: QParams | null): void {
  const s = xq.scale[0];
  const { qmin: xmin, qmax: xmax } = qRange(xq);
  const span = xmax - xmin;
  let k: IExpConsts | null = null;
  let table: Int32Array | null = null;
  let drop = 0;
  let eMax: number;
  if (spec.variant === 'ibert') {
    k = iexpConsts(s, what);
    eMax = k.qb * k.qb + k.qc;
  } else if (spec.variant === 'lut') {
    const entries = spec.expLutEntries ?? 2 ** xq.bits;
    table = softmaxExpTable(s, xq.bits, entries);
    drop = xq.bits - Math.log2(entries);
    eMax = 2 ** SOFTMAX_LUT_FRAC_BITS;
  } else throw new InvariantError(`unknown softmax variant '${spec.variant as string}'`);
  if (r.len * eMax >= 2 ** 32) {
    throw new ModelError([{ node: what, message: `${spec.variant} softmax: ${r.len} elements of up to ${eMax} sum past 32 bits (input scale ${s})` }]);
  }
  const bits = cfg.multiplierBits ?? 32;
  const rounding = cfg.rounding ?? 'double';
  const qm = quantizeMultiplier(yq ? 2 ** -SOFTMAX_PROB_BITS / yq.scale[0] : 1, bits, rounding);
  const fm = new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
  const zy = yq ? yq.zeroPoint[0] : 0;
  const { qmin, qmax } = yq ? qRange(yq) : { qmin: 0, qmax: 0 };
  const probsOnly = yq === null;
  const { outer, len, inner } = r;
  const e = new Float64Array(len);
  const down = 2 ** (32 - SOFTMAX_PROB_BITS);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let max = -Infinity;
      for (let j = 0, p = base; j < len; j++, p += inner) if (x[p] > max) max = x[p];
      let sum = 0;
      for (let j = 0, p = base; j < len; j++, p += inner) {
        const d = x[p] - max;
        let v: number;
        if (k !== null) v = iexp(d, k);
        else {
          const dist = -d > span ? span : -d;
          v = (table as Int32Array)[dist >> drop];
        }
        e[j] = v;
        sum += v;
      }
      const factor = sum > 0 ? Math.floor(2 ** 32 / sum) : 0;
      for (let j = 0, p = base; j < len; j++, p += inner) {
        const prob = Math.floor((e[j] * factor) / down);
        if (probsOnly) {
          y[p] = prob;
          continue;
        }
        const v = fm.apply(prob) + zy;
        y[p] = v < qmin ? qmin : v > qmax ? qmax : v;
      }
    }
  }
}
