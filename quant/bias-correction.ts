/**
 * Bias correction (white paper §4.2; Nagel et al. 2019 §4.2): weight quantization error ε = Ŵ − W
 * shifts a layer's expected output by ε·E[x]; subtracting that shift from the bias removes the
 * biased part of the error. E[x] per input channel comes either from calibration data (empirical)
 * or from the previous layer's BN statistics pushed through its activation (analytic).
 */
import { erf } from '../nets/fp32.js';
import type { FoldedBn } from './bnfold.js';

/**
 * b − Σ_k (Ŵ − W)[c, k]·E[x_k] per output channel c.
 * Conv: wShape [O, I/g, kh, kw], `inputChannelMean` per input channel (length I), broadcast over the
 * kernel taps; output channel c reads input channels of its group only. Gemm: wShape [N, K]
 * (output-major, i.e. transB = 1 layout), `inputChannelMean` of length K.
 * Border taps that read zero padding see 0, not E[x]; the correction ignores that (as the paper).
 */
export function correctBias(
  bias: Float32Array | null,
  wFloat: Float32Array,
  wDequant: Float32Array,
  wShape: readonly number[],
  group: number,
  inputChannelMean: Float64Array,
): Float32Array {
  const cout = wShape[0];
  const icg = wShape.length >= 2 ? wShape[1] : 1;
  let taps = 1;
  for (let i = 2; i < wShape.length; i++) taps *= wShape[i];
  const per = icg * taps;
  if (wFloat.length !== cout * per || wDequant.length !== wFloat.length) {
    throw new RangeError(`correctBias: weights have ${wFloat.length}/${wDequant.length} elements, shape [${wShape.join(',')}] needs ${cout * per}`);
  }
  if (inputChannelMean.length !== icg * group || cout % group !== 0) {
    throw new RangeError(`correctBias: ${inputChannelMean.length} input means for ${icg}×${group} input channels (${cout} outputs)`);
  }
  const ocg = cout / group;
  const out = new Float32Array(cout);
  for (let c = 0; c < cout; c++) {
    const inBase = Math.floor(c / ocg) * icg;
    const wBase = c * per;
    let shift = 0;
    for (let i = 0; i < icg; i++) {
      const mean = inputChannelMean[inBase + i];
      let errSum = 0;
      const o = wBase + i * taps;
      for (let t = 0; t < taps; t++) errSum += wDequant[o + t] - wFloat[o + t];
      shift += errSum * mean;
    }
    out[c] = (bias ? bias[c] : 0) - shift;
  }
  return out;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** standard normal CDF */
function phi(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

/** standard normal density */
function pdf(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/** E[max(0, x)], x ~ N(μ, σ²): μ·Φ(μ/σ) + σ·φ(μ/σ) (Nagel et al. 2019, appendix C). */
export function expectedRelu(mu: number, sigma: number): number {
  if (!(sigma > 0)) return Math.max(0, mu);
  const z = mu / sigma;
  return mu * phi(z) + sigma * pdf(z);
}

/**
 * E[min(max(0, x), 6)] = E[ReLU(x)] − E[ReLU(x − 6)], since clip(x, 0, 6) = ReLU(x) − ReLU(x − 6).
 */
export function expectedRelu6(mu: number, sigma: number): number {
  return expectedRelu(mu, sigma) - expectedRelu(mu - 6, sigma);
}

/**
 * Per channel E[act(x)], x ~ N(β, γ²): the expected input of the next layer, from the previous
 * layer's folded BN statistics (analytic bias correction).
 */
export function analyticInputMean(bn: FoldedBn, act: 'none' | 'relu' | 'relu6'): Float64Array {
  const n = bn.beta.length;
  const out = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const mu = bn.beta[c];
    const sigma = Math.abs(bn.gamma[c]);
    out[c] = act === 'none' ? mu : act === 'relu' ? expectedRelu(mu, sigma) : expectedRelu6(mu, sigma);
  }
  return out;
}
