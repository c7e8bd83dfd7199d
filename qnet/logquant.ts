/**
 * Logarithmic quantization of post-Softmax probabilities (RepQ-ViT, Li et al., ICCV 2023 §3.3)
 * and the shift-add P·V it makes possible.
 *
 * A log tensor holds codes q ∈ 0…Z with Z = 2^bits − 1: code q < Z stands for s·2^(−u·q)
 * (u = 1 for `log2`, u = ½ for `logsqrt2`), code Z for 0 — a b-bit tensor has 2^b − 1 levels and
 * a zero (RepQ-ViT's fake quantizer maps everything past the last level to 0 without a code for
 * it; a tensor in memory needs one). Quantization rounds in the log domain:
 * q = round(−log2(x/s)/u), clamped at 0, and Z from the first exponent past the last level.
 *
 * From the softmax's integer probability p (SOFTMAX_PROB_BITS fraction bits) the code is the
 * number of boundaries p lies below: T_j = ⌈s·2^16·2^(−u(j + ½))⌉, j = 0…Z−1 (the geometric
 * midpoints; a comparator ladder or a leading-one detector plus one compare in hardware).
 *
 * P·V with log-coded P (`logMatmulInt`): every product is a shift of (v − z_v). log√2 is
 * reparameterized to base 2 + parity as RepQ-ViT does: s·√2^(−q) = s·2^(−⌈q/2⌉)·(√2 if q odd), so
 * even and odd codes accumulate apart by the same shifter,
 *   E = Σ_{q even} ⌊(v − z_v)·2^F / 2^⌈q/2⌉⌋,   O = Σ_{q odd} ⌊(v − z_v)·2^F / 2^⌈q/2⌉⌋
 * (arithmetic right shifts: floor; F = LOG_ACC_FRAC_BITS), and meet once per output:
 * A = E + ⌊(O·R + 2^(C−1)) / 2^C⌋ with R = round(√2·2^C), C = SQRT2_FRAC_BITS — one fixed-point
 * multiply per output, none per product. A carries F fraction bits; it is requantized like any
 * accumulator with multiplier s·s_v·2^(−F)/s_y (qnet/requant.ts, float or fixed mode).
 * log2 codes go to E alone.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import type { QActivation, QParams } from './network.js';
import { requantize, requantParams, type RequantConfig } from './requant.js';

export type LogBase = 'log2' | 'logsqrt2';
export const LOG_BASES: readonly LogBase[] = Object.freeze(['log2', 'logsqrt2']);

/** A log-quantized tensor: codes 0…2^bits − 2 are scale·2^(−u·q), code 2^bits − 1 is zero. */
export interface LogQuant {
  readonly base: LogBase;
  /** 2…8 */
  readonly bits: number;
  /** the value of code 0 (the largest representable) */
  readonly scale: number;
}

/** Fraction bits of the shift-add accumulator: a product shifted further right floors to 0 or −1. */
export const LOG_ACC_FRAC_BITS = 16;
/** Fraction bits of the √2 constant the odd-code sum is multiplied by once per output. */
export const SQRT2_FRAC_BITS = 14;
export const SQRT2_FIXED = Math.round(Math.SQRT2 * 2 ** SQRT2_FRAC_BITS);

/** Fraction bits of the probability the softmax hands to the log encoder (qnet/softmax.ts SOFTMAX_PROB_BITS). */
const PROB_BITS = 16;

export function logZeroCode(lq: LogQuant): number {
  return 2 ** lq.bits - 1;
}

function unit(lq: LogQuant): number {
  return lq.base === 'log2' ? 1 : 0.5;
}

export function checkLogQuant(lq: LogQuant, what: string): void {
  const problems: string[] = [];
  if (!LOG_BASES.includes(lq.base)) problems.push(`base must be one of ${LOG_BASES.join(', ')}, got '${String(lq.base)}'`);
  if (!(Number.isInteger(lq.bits) && lq.bits >= 2 && lq.bits <= 8)) problems.push(`bits must be an integer in 2…8, got ${String(lq.bits)}`);
  if (!(lq.scale > 0 && Number.isFinite(lq.scale))) problems.push(`scale must be a finite number > 0, got ${String(lq.scale)}`);
  if (problems.length) throw new ModelError(problems.map((message) => ({ node: what, message: `log quantizer: ${message}` })));
}

/** The real value of a code. */
export function logDequantize(q: number, lq: LogQuant): number {
  if (q >= logZeroCode(lq)) return 0;
  if (lq.base === 'log2') return lq.scale * 2 ** -q;
  // the inference form: base 2 and parity (RepQ-ViT's reparameterization)
  return lq.scale * 2 ** -Math.ceil(q / 2) * (q & 1 ? Math.SQRT2 : 1);
}

/** The code of a real value (x ≤ 0 → zero code): round(−log2(x/s)/u) clamped to 0…Z. */
export function logQuantize(x: number, lq: LogQuant): number {
  const z = logZeroCode(lq);
  if (!(x > 0)) return z;
  const c = Math.round(-Math.log2(x / lq.scale) / unit(lq));
  return c <= 0 ? 0 : c >= z ? z : c;
}

/** Quantize then dequantize an array (calibration's error measure, fake quantization). */
export function logFakeQuantize(x: Float32Array, lq: LogQuant, out = new Float32Array(x.length)): Float32Array {
  const z = logZeroCode(lq);
  const table = new Float64Array(z + 1);
  for (let q = 0; q <= z; q++) table[q] = logDequantize(q, lq);
  for (let i = 0; i < x.length; i++) out[i] = table[logQuantize(x[i], lq)];
  return out;
}

/** The boundaries T_j (j = 0…Z−1) on the 16-fraction-bit probability: p < T_j ⇔ code > j. */
export function logThresholds(lq: LogQuant): Float64Array {
  const z = logZeroCode(lq);
  const u = unit(lq);
  const t = new Float64Array(z);
  for (let j = 0; j < z; j++) t[j] = Math.ceil(lq.scale * 2 ** PROB_BITS * 2 ** (-u * (j + 0.5)));
  return t;
}

/** Codes of integer probabilities `p` (16 fraction bits), in place into `out`. */
export function logCodesOfProbs(p: Int32Array, lq: LogQuant, out: Int32Array = new Int32Array(p.length)): Int32Array {
  const t = logThresholds(lq);
  const z = t.length;
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    let j = 0;
    while (j < z && v < t[j]) j++;
    out[i] = j;
  }
  return out;
}

/** The QParams a log tensor is costed and stored with (bits; scale for information; unsigned codes). */
export function logStorageQParams(lq: LogQuant): QParams {
  return { scale: Float32Array.of(lq.scale), zeroPoint: Int32Array.of(0), axis: -1, bits: lq.bits, signed: false, narrow: false };
}

export interface LogMatmulResult {
  /** A per output, F fraction bits, [batch·M, N] */
  readonly acc: Float64Array;
  readonly codes: Int32Array;
}

/**
 * One head of P·V: `p` codes [M, K] (log), `v` codes [K, N] (affine, zero point zv) into the
 * shift-add accumulators `acc` [M, N] (F fraction bits, E + √2·O combined).
 */
export function logMatmulHead(p: Int32Array, pOff: number, lq: LogQuant, v: Int32Array, vOff: number, zv: number, M: number, K: number, N: number, acc: Float64Array, accOff: number): void {
  const z = logZeroCode(lq);
  const sqrt2 = lq.base === 'logsqrt2';
  const half = 2 ** (SQRT2_FRAC_BITS - 1);
  const scaleC = 2 ** SQRT2_FRAC_BITS;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let even = 0;
      let odd = 0;
      for (let k = 0; k < K; k++) {
        const q = p[pOff + m * K + k];
        if (q >= z) continue;
        const e = sqrt2 ? (q + 1) >> 1 : q;
        const d = (v[vOff + k * N + n] - zv) * 65536;
        // an arithmetic right shift by ≥ 31 leaves the sign only (JS shifts count mod 32)
        const t = e >= 31 ? (d < 0 ? -1 : 0) : d >> e;
        if (sqrt2 && q & 1) odd += t;
        else even += t;
      }
      acc[accOff + m * N + n] = even + Math.floor((odd * SQRT2_FIXED + half) / scaleC);
    }
  }
}

/**
 * Activation × activation MatMul whose A is log-coded (shapes as qexec's matmul after its batch
 * broadcast: `pairs` gives per output batch A's and B's flat batch index), requantized to `yq`.
 */
export function logMatmulInt(
  a: Int32Array,
  lq: LogQuant,
  b: Int32Array,
  bq: QParams,
  yq: QParams,
  act: QActivation,
  dims: { readonly M: number; readonly K: number; readonly N: number; readonly pairs: Int32Array },
  cfg: RequantConfig,
  what: string,
): LogMatmulResult {
  checkLogQuant(lq, what);
  if (bq.scale.length !== 1) throw new ModelError([{ node: what, message: 'the value operand of a log-coded matmul must be quantized per tensor' }]);
  if (bq.bits > 14) throw new ModelError([{ node: what, message: `the value operand of a log-coded matmul must be at most 14 bits (its shifted differences stay in 31 bits), got ${bq.bits}` }]);
  if (yq.bits === 32) throw new InvariantError(`${what}: a log-coded matmul has no raw int32 output (its accumulator has ${LOG_ACC_FRAC_BITS} fraction bits)`);
  const { M, K, N, pairs } = dims;
  const nb = pairs.length / 2;
  const acc = new Float64Array(nb * M * N);
  const zv = bq.zeroPoint[0];
  for (let i = 0; i < nb; i++) logMatmulHead(a, pairs[2 * i] * M * K, lq, b, pairs[2 * i + 1] * K * N, zv, M, K, N, acc, i * M * N);
  const target = act.kind === 'lut' || act.kind === 'igelu' ? act.inQ : yq;
  const params = requantParams(lq.scale * 2 ** -LOG_ACC_FRAC_BITS, bq.scale, target.scale[0], cfg);
  const codes = requantize(acc, [acc.length / N, N], params, target.zeroPoint[0], target, act);
  return { acc, codes };
}
