/**
 * Lookup-table activations for the requant/activation unit (DESIGN.md "Fused activation"):
 * sigmoid, hard-sigmoid, hard-swish, swish, tanh, GELU (erf and tanh forms).
 *
 * Table semantics (the contract `QActivation { kind: 'lut' }` carries):
 * - The table is indexed by the input CODE relative to the bottom of the input range:
 *   index = (code − qmin(inQ)) >> (inQ.bits − log2(entries)). With entries = 2^inQ.bits that is
 *   one entry per code (int8: index = code + 128, not ORT's raw-byte order). With fewer entries
 *   (a power of two) the top log2(entries) bits of the offset code select a bucket of
 *   step = 2^bits / entries consecutive codes.
 * - Entry e holds f evaluated at the bucket's centre code c = qmin + e·step + (step − 1)/2
 *   (for step > 1 that centre lies between two codes; it is dequantized as a real number):
 *   x = s_in·(c − z_in), y = f(x), entry = clamp(round_half_even(y / s_out) + z_out) — in double
 *   precision (this is our accelerator's table, not a replica of a runtime; ORT's QLinearSigmoid
 *   table is reproduced in qops.ts).
 * - `bits` < outQ.bits models a narrower table word: entries are rounded (half even) to the grid
 *   qmin(outQ) + k·2^(outQ.bits − bits), the top grid point not above qmax being the largest.
 */
import { InvariantError } from '../nets/errors.js';
import type { LutFunction, QActivation, QParams } from './network.js';
import { qRange, roundHalfEven } from './qmath.js';

/**
 * erf(x) to ~1 ulp-level accuracy in double: Maclaurin series for |x| < 2.5, continued fraction
 * for erfc beyond (both converge fast there; JS has no Math.erf).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf(x) = 2/√π · Σ (−1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + …))))), modified Lentz
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let k = 1; k < 300; k++) {
    const a = k / 2;
    d = ax + a * d;
    d = d === 0 ? tiny : 1 / d;
    c = ax + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Every function a LUT activation can hold (qnet/network.ts LutFunction). */
export const LUT_FUNCTIONS: readonly LutFunction[] = ['sigmoid', 'hardsigmoid', 'hardswish', 'swish', 'tanh', 'gelu', 'gelu_tanh'];

/**
 * The real-valued activation, in double. hardsigmoid uses ONNX HardSigmoid's defaults
 * (alpha 0.2, beta 0.5); hardswish is ONNX HardSwish, x·max(0, min(1, x/6 + 1/2)).
 */
export function lutFunction(fn: LutFunction): (x: number) => number {
  switch (fn) {
    case 'sigmoid':
      return (x) => 1 / (1 + Math.exp(-x));
    case 'hardsigmoid':
      return (x) => Math.max(0, Math.min(1, 0.2 * x + 0.5));
    case 'hardswish':
      return (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5));
    case 'swish':
      return (x) => x / (1 + Math.exp(-x));
    case 'tanh':
      return Math.tanh;
    case 'gelu':
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh':
      return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  }
}

/** Precomputed indexing of a table (built once per tensor, not per element). */
export interface LutLayout {
  readonly qmin: number;
  readonly qmax: number;
  /** right shift of (code − qmin) giving the index */
  readonly drop: number;
}

export function lutLayout(inQ: QParams, entries: number, table: Int32Array): LutLayout {
  const full = 2 ** inQ.bits;
  const lg = Math.log2(entries);
  if (!Number.isInteger(lg) || entries < 1 || entries > full) {
    throw new InvariantError(`LUT entries must be a power of two ≤ 2^${inQ.bits}, got ${entries}`);
  }
  if (table.length !== entries) throw new InvariantError(`LUT has ${table.length} entries, expected ${entries}`);
  const { qmin, qmax } = qRange(inQ);
  return { qmin, qmax, drop: inQ.bits - lg };
}

/** Table entry for one input code (codes outside inQ's range are clamped into it first). */
export function applyLutValue(code: number, lay: LutLayout, table: Int32Array): number {
  const c = code < lay.qmin ? lay.qmin : code > lay.qmax ? lay.qmax : code;
  return table[(c - lay.qmin) >> lay.drop];
}

/**
 * Builds the table of `fn` from input quantization `inQ` to output quantization `outQ`
 * (per-tensor both), `entries` (power of two, default one per input code) of `bits` each.
 */
export function buildLut(fn: LutFunction, inQ: QParams, outQ: QParams, entries = 2 ** inQ.bits, bits = outQ.bits): Int32Array {
  if (inQ.scale.length !== 1 || outQ.scale.length !== 1) throw new InvariantError('buildLut: per-tensor quantization only');
  if (!Number.isInteger(bits) || bits < 1 || bits > outQ.bits) throw new InvariantError(`buildLut: entry bits must be 1…${outQ.bits}, got ${bits}`);
  const f = lutFunction(fn);
  const table = new Int32Array(entries);
  const lay = lutLayout(inQ, entries, table);
  const step = 2 ** lay.drop;
  const sIn = inQ.scale[0];
  const zIn = inQ.zeroPoint[0];
  const sOut = outQ.scale[0];
  const zOut = outQ.zeroPoint[0];
  const out = qRange(outQ);
  const grid = 2 ** (outQ.bits - bits);
  const top = out.qmin + Math.floor((out.qmax - out.qmin) / grid) * grid;
  for (let e = 0; e < entries; e++) {
    const c = lay.qmin + e * step + (step - 1) / 2;
    const y = f(sIn * (c - zIn));
    let q = roundHalfEven(y / sOut) + zOut;
    if (!(q >= out.qmin)) q = out.qmin; // NaN as well
    if (q > out.qmax) q = out.qmax;
    if (grid > 1) {
      q = out.qmin + roundHalfEven((q - out.qmin) / grid) * grid;
      if (q > top) q = top;
    }
    table[e] = q;
  }
  return table;
}

/** A fused LUT activation: the requant stage targets `inQ`, the table maps to `outQ` codes. */
export function lutActivation(fn: LutFunction, inQ: QParams, outQ: QParams, entries = 2 ** inQ.bits, bits = outQ.bits): QActivation {
  return { kind: 'lut', fn, inQ, entries, table: buildLut(fn, inQ, outQ, entries, bits) };
}

/** Maps codes of the activation's `inQ` through its table. */
export function applyLut(codes: Int32Array, act: Extract<QActivation, { kind: 'lut' }>, out?: Int32Array): Int32Array {
  const lay = lutLayout(act.inQ, act.entries, act.table);
  const y = out ?? new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) y[i] = applyLutValue(codes[i], lay, act.table);
  return y;
}
