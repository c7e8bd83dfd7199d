/**
 * LayerNormalization on integer codes over axes axis…rank−1 (arch/sfu.ts LayerNormAlgorithm):
 *
 * `float` — the special-function unit in float32: DequantizeLinear, then LayerNormalization as
 *   ONNX defines it (its opset-17 function body, stash_type float32): mean = ReduceMean(x),
 *   d = x − mean, var = ReduceMean(d·d), std = Sqrt(var + ε), y = d · Reciprocal(std) · γ + β —
 *   every operation one float32 rounding, the reductions summed in element order — then
 *   QuantizeLinear (qmath.ts). ONNX Runtime leaves DQ → LayerNormalization → Q in float and its
 *   kernel rounds differently (neither this order nor the one its source shows: one pass over x
 *   and x², var = E[x²] − E[x]²), so it is a close reference there, not a bit-exact one
 *   (test/golden/attention-vs-ort.test.ts measures how close).
 * `integer` — I-BERT (Kim et al., ICML 2021, §3.5 and Alg. 4), integer only at run time:
 *   μ = ⌊(Σq + ⌊n/2⌋) / n⌋ (round half up), y = q − μ; var = Σ ⌊y / 2^s⌋² with the smallest
 *   shift s ≥ 0 that keeps var below 2^31 for any input in range (0 for 8-bit rows up to 33,025
 *   elements); σ' = isqrt(var)·2^s by Newton's iterations (Alg. 4); factor = ⌊2^31 / σ'⌋;
 *   t = ⌊y·factor / 2^15⌋, the normalized value (x − μ)/σ with real scale √n / 2^16; then per
 *   element k, γ_k and β_k folded into an integer offset b_k = round_half_even(β_k / (γ_k·√n/2^16))
 *   and a fixed-point multiplier |γ_k|·√n/2^16 / s_y (qnet/requant.ts FixedMultiplier, the run's
 *   width and rounding; the sign of γ_k negates t + b_k): y = z_y + M_k·(±(t + b_k)), clamped.
 *   γ_k = 0 gives the constant QuantizeLinear(β_k). ε plays no part (as in I-BERT). The offsets
 *   and multipliers are compile-time constants derived from γ, β and the scales, as a conv's
 *   requant parameters are.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import type { LayerNormAlgorithm } from '../arch/sfu.js';
import type { QParams } from './network.js';
import { qRange, quantizeValue, roundHalfEven } from './qmath.js';
import { FixedMultiplier, quantizeMultiplier, type RequantConfig } from './requant.js';

export interface LayerNormSpec {
  readonly axis: number;
  readonly epsilon: number;
  readonly gamma: Float32Array;
  readonly beta: Float32Array | null;
  readonly variant: LayerNormAlgorithm;
  /** names the layer in errors */
  readonly name?: string;
}

/**
 * Integer square root ⌊√n⌋ by Newton's iterations (I-BERT Alg. 4): x₀ = 2^⌈bits(n)/2⌉,
 * x_{i+1} = ⌊(x_i + ⌊n/x_i⌋) / 2⌋ until it stops decreasing. Exact for 0 ≤ n < 2^53.
 */
export function isqrtNewton(n: number): number {
  if (n <= 0) return 0;
  const bits = Math.floor(Math.log2(n)) + 1;
  let x = 2 ** Math.ceil(bits / 2);
  for (;;) {
    const next = Math.floor((x + Math.floor(n / x)) / 2);
    if (next >= x) return x;
    x = next;
  }
}

/** Fraction bits of the integer variant's normalized value t (real scale √n / 2^16). */
export const LN_NORM_BITS = 16;

/** The integer variant's variance shift: smallest s with n·⌈span/2^s⌉² < 2^31. */
export function layerNormShift(n: number, span: number): number {
  let s = 0;
  while (n * Math.ceil(span / 2 ** s) ** 2 >= 2 ** 31) s++;
  return s;
}

/** LayerNormalization of codes `x` (quantized by `xq`) into codes of `yq`. */
export function layerNormInt(x: Int32Array, shape: readonly number[], xq: QParams, yq: QParams, spec: LayerNormSpec, cfg: RequantConfig, out?: Int32Array): Int32Array {
  const what = spec.name ?? 'layernorm';
  const axis = spec.axis;
  if (!(Number.isInteger(axis) && axis >= 0 && axis < shape.length)) throw new InvariantError(`${what}: axis ${axis} out of range for shape [${shape.join(',')}]`);
  let total = 1;
  for (const d of shape) total *= d;
  let n = 1;
  for (let i = axis; i < shape.length; i++) n *= shape[i];
  if (x.length !== total) throw new InvariantError(`${what}: ${x.length} values for shape [${shape.join(',')}]`);
  // the output may be quantized per channel of the normalized (last) axis: the unfolded per-channel
  // post-LN quantizer (qnet/split.ts) — one (scale, zero point) per normalized element
  if (xq.scale.length !== 1 || (yq.scale.length !== 1 && !(yq.scale.length === n && yq.axis === shape.length - 1))) {
    throw new ModelError([{ node: what, message: 'layernorm input must be quantized per tensor, its output per tensor or per channel of the normalized axis' }]);
  }
  if (spec.gamma.length !== n || (spec.beta && spec.beta.length !== n)) {
    throw new ModelError([{ node: what, message: `γ has ${spec.gamma.length} and β ${spec.beta?.length ?? 0} values for ${n} normalized elements` }]);
  }
  const y = out ?? new Int32Array(total);
  if (n === 0) return y;
  if (spec.variant === 'float') floatRows(x, y, n, xq, yq, spec);
  else if (spec.variant === 'integer') intRows(x, y, n, xq, yq, spec, cfg);
  else throw new InvariantError(`unknown layernorm variant '${spec.variant as string}'`);
  return y;
}

function floatRows(x: Int32Array, y: Int32Array, n: number, xq: QParams, yq: QParams, spec: LayerNormSpec): void {
  const f = Math.fround;
  const sx = xq.scale[0];
  const zx = xq.zeroPoint[0];
  const pc = yq.scale.length > 1;
  const { qmin, qmax } = qRange(yq);
  const eps = f(spec.epsilon);
  const g = spec.gamma;
  const b = spec.beta;
  const d = new Float32Array(n);
  for (let base = 0; base < x.length; base += n) {
    let sum = 0;
    for (let h = 0; h < n; h++) {
      const v = f(f(x[base + h] - zx) * sx);
      d[h] = v;
      sum = f(sum + v);
    }
    const mean = f(sum / n);
    let sq = 0;
    for (let h = 0; h < n; h++) {
      d[h] = f(d[h] - mean);
      sq = f(sq + f(d[h] * d[h]));
    }
    const inv = f(1 / f(Math.sqrt(f(f(sq / n) + eps))));
    for (let h = 0; h < n; h++) {
      let r = f(f(d[h] * inv) * g[h]);
      if (b) r = f(r + b[h]);
      y[base + h] = quantizeValue(r, yq.scale[pc ? h : 0], yq.zeroPoint[pc ? h : 0], qmin, qmax);
    }
  }
}

function intRows(x: Int32Array, y: Int32Array, n: number, xq: QParams, yq: QParams, spec: LayerNormSpec, cfg: RequantConfig): void {
  const { qmin: xmin, qmax: xmax } = qRange(xq);
  const s = layerNormShift(n, xmax - xmin);
  const pow = 2 ** s;
  const scaleT = Math.sqrt(n) / 2 ** LN_NORM_BITS;
  const pc = yq.scale.length > 1;
  const { qmin, qmax } = qRange(yq);
  const bits = cfg.multiplierBits ?? 32;
  const rounding = cfg.rounding ?? 'double';
  // per normalized element: offset, sign, multiplier (or the constant code when γ = 0)
  const off = new Float64Array(n);
  const neg = new Uint8Array(n);
  const konst = new Int32Array(n);
  const fms: (FixedMultiplier | null)[] = [];
  const zys = new Int32Array(n);
  for (let h = 0; h < n; h++) {
    const sy = yq.scale[pc ? h : 0];
    zys[h] = yq.zeroPoint[pc ? h : 0];
    const zy = zys[h];
    const g = spec.gamma[h];
    const be = spec.beta ? spec.beta[h] : 0;
    if (g === 0 || !Number.isFinite(g)) {
      konst[h] = quantizeValue(be, sy, zy, qmin, qmax);
      fms.push(null);
      continue;
    }
    const o = roundHalfEven(be / (g * scaleT));
    off[h] = o < -2147483648 ? -2147483648 : o > 2147483647 ? 2147483647 : o;
    neg[h] = g < 0 ? 1 : 0;
    const qm = quantizeMultiplier((Math.abs(g) * scaleT) / sy, bits, rounding);
    fms.push(new FixedMultiplier(qm.m0, qm.shift, rounding, bits));
  }
  const half = Math.floor(n / 2);
  const down = 2 ** (31 - LN_NORM_BITS);
  for (let base = 0; base < x.length; base += n) {
    let sum = 0;
    for (let h = 0; h < n; h++) sum += x[base + h];
    const mu = Math.floor((sum + half) / n);
    let v = 0;
    for (let h = 0; h < n; h++) {
      const d = Math.floor((x[base + h] - mu) / pow);
      v += d * d;
    }
    const std = isqrtNewton(v) * pow;
    const factor = std > 0 ? Math.floor(2 ** 31 / std) : 0;
    for (let h = 0; h < n; h++) {
      const fm = fms[h];
      if (fm === null) {
        y[base + h] = konst[h];
        continue;
      }
      const t = Math.floor(((x[base + h] - mu) * factor) / down) + off[h];
      const r = fm.apply(neg[h] === 1 ? -t : t) + zys[h];
      y[base + h] = r < qmin ? qmin : r > qmax ? qmax : r;
    }
  }
}
