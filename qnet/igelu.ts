/**
 * I-BERT's integer-only GELU (Kim et al., ICML 2021, Alg. 3), the QActivation `igelu`:
 *
 *   i-erf on s' = s/√2: q_b = ⌊b/s'⌋, q_c = ⌊c/(a·s'²)⌋ (a = −0.2888, b = −1.769, c = 1),
 *     L = (min(|x|, −q_b) + q_b)² + q_c, q_erf = sign(x)·L with scale S_erf = a·s'² (negative);
 *   then, as the authors' code does against overflow, q_erf is floored by 2^k and S_erf scaled by
 *   2^k, with k the smallest shift that keeps |x|·(|q_erf| + |q_1|) below 2^31 for every input
 *   code (0 for 8-bit inputs of ordinary scales); q_1 = ⌊1/S_erf⌋;
 *   q_out = x·(q_erf + q_1) with scale S_out = s·S_erf/2 (negative, so y = −q_out·|S_out|);
 *   the output code z_y + M·(−q_out) by the fixed-point multiplier M = |S_out|/s_y
 *   (qnet/requant.ts FixedMultiplier: multiplier width and rounding of the run), clamped.
 *
 * Here x = q − z_in is an input code of `inQ` relative to its zero point. The result depends on
 * the code only, so it is tabulated over inQ's codes once per activation (what the SFU computes
 * element by element; the table is the executor's shortcut, not a hardware LUT).
 */
import { ModelError } from '../nets/errors.js';
import type { QActivation, QParams } from './network.js';
import { qRange } from './qmath.js';
import { FixedMultiplier, quantizeMultiplier, type FixedRounding } from './requant.js';

export const IGELU_A = -0.2888;
export const IGELU_B = -1.769;
export const IGELU_C = 1;

/** The integer constants of i-GELU for input scale `s` and input codes of magnitude ≤ `xMax`. */
export interface IGeluConsts {
  readonly qb: number;
  readonly qc: number;
  /** right shift applied to q_erf */
  readonly k: number;
  readonly q1: number;
  /** scale of q_out (negative) */
  readonly sOut: number;
}

export function igeluConsts(s: number, xMax: number, what = 'igelu'): IGeluConsts {
  const s1 = s / Math.SQRT2;
  const qb = Math.floor(IGELU_B / s1);
  const qc = Math.floor(IGELU_C / (IGELU_A * s1 * s1));
  const sErf = IGELU_A * s1 * s1;
  // |q_erf| ≤ max(q_b² + |q_c|) over the clipped range
  const erfMax = qb * qb + Math.abs(qc);
  for (let k = 0; k < 40; k++) {
    const sk = sErf * 2 ** k;
    const q1 = Math.floor(1 / sk);
    if (xMax * (Math.ceil(erfMax / 2 ** k) + Math.abs(q1)) < 2 ** 31) return { qb, qc, k, q1, sOut: (s * sk) / 2 };
  }
  throw new ModelError([{ node: what, message: `i-GELU: input scale ${s} leaves no 32-bit evaluation` }]);
}

/** q_out of i-GELU for x = q − z_in (scale `c.sOut`). */
export function igeluOut(x: number, c: IGeluConsts): number {
  const ax = x < 0 ? -x : x;
  const m = ax < -c.qb ? ax : -c.qb;
  const t = m + c.qb;
  const l = t * t + c.qc;
  const erf = Math.floor((x < 0 ? -l : x > 0 ? l : 0) / 2 ** c.k);
  return x * (erf + c.q1);
}

/** i-GELU over every code of `inQ` (index = code − qmin) into codes of `outQ`. */
export function igeluTable(inQ: QParams, outQ: QParams, bits = 32, rounding: FixedRounding = 'double', what = 'igelu'): Int32Array {
  if (inQ.scale.length !== 1 || outQ.scale.length !== 1) throw new ModelError([{ node: what, message: 'i-GELU needs per-tensor input and output quantization' }]);
  const { qmin, qmax } = qRange(inQ);
  const z = inQ.zeroPoint[0];
  const c = igeluConsts(inQ.scale[0], Math.max(Math.abs(qmin - z), Math.abs(qmax - z)), what);
  const qm = quantizeMultiplier(-c.sOut / outQ.scale[0], bits, rounding);
  const fm = new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
  const out = qRange(outQ);
  const zy = outQ.zeroPoint[0];
  const t = new Int32Array(qmax - qmin + 1);
  for (let q = qmin; q <= qmax; q++) {
    const v = fm.apply(-igeluOut(q - z, c)) + zy;
    t[q - qmin] = v < out.qmin ? out.qmin : v > out.qmax ? out.qmax : v;
  }
  return t;
}

const cache = new WeakMap<object, Map<string, Int32Array>>();

/** Maps codes of an `igelu` activation's inQ (in place when `out` is `codes`). */
export function applyIgelu(codes: Int32Array, act: Extract<QActivation, { kind: 'igelu' }>, bits = 32, rounding: FixedRounding = 'double', out?: Int32Array): Int32Array {
  const key = `${bits}/${rounding}`;
  let m = cache.get(act);
  if (!m) cache.set(act, (m = new Map()));
  let t = m.get(key);
  if (!t) m.set(key, (t = igeluTable(act.inQ, act.outQ, bits, rounding)));
  const { qmin, qmax } = qRange(act.inQ);
  const y = out ?? new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] < qmin ? qmin : codes[i] > qmax ? qmax : codes[i];
    y[i] = t[c - qmin];
  }
  return y;
}
