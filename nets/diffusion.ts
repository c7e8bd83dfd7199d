/**
 * Sampling a diffusion model with DDIM (Song et al. 2021; η = 0 by default: deterministic given
 * x_T): from x_T ~ N(0, I) (seeded) through S of the T forward-process steps, τ_i = ⌊i·T/S⌋ for
 * i = S−1 … 0:
 *   ε = model(x, τ_i);  x̂₀ = clip((x − √(1−ᾱ_τ)·ε) / √ᾱ_τ, −1, 1);
 *   x ← √ᾱ_prev·x̂₀ + √(1−ᾱ_prev−σ²)·ε̂ + σ·z,  σ = η·√((1−ᾱ_prev)/(1−ᾱ_τ))·√(1−ᾱ_τ/ᾱ_prev)
 * with ᾱ_prev = ᾱ of the next (smaller) τ, or 1 after the last step (σ = 0 there), ε̂ = (x −
 * √ᾱ_τ·x̂₀)/√(1−ᾱ_τ) the noise consistent with the clipped x̂₀ (what the reference implementations
 * do when they clip), and z ~ N(0, I) fresh noise — η = 1 is the DDPM ancestral sampler on the S
 * steps. Each sample draws z from its own seeded stream, so the images do not depend on the batch.
 * The sampler's own arithmetic is float64; the model sees float32 inputs (the x it would get from
 * any executor). The model is a callback, so the same loop runs the FP32 executor, the integer
 * executor or the simulator — and `onStep` sees every model input (the timestep-aware calibration
 * of Q-Diffusion draws its calibration set from these).
 */

import { Prng } from './prng.js';

/** ε prediction for n samples x (n·per float32, back to back) at timestep t (every sample the same t). */
export type Denoiser = (x: Float32Array, t: number, n: number) => Float32Array;

export interface DdimOptions {
  /** ᾱ_t for t = 0 … T−1 */
  readonly alphaBar: Float64Array;
  /** sampling steps S (1 … T) */
  readonly steps: number;
  /** samples and per-sample size */
  readonly count: number;
  readonly per: number;
  /** seeds x_T (and, for η > 0, each sample's noise stream) */
  readonly seed: number;
  /** DDIM's η: 0 deterministic (default), 1 ancestral */
  readonly eta?: number;
  /** samples per model call (default: all) */
  readonly batch?: number;
  /** called before each model call with its input (not to be kept: copy what is needed) */
  readonly onStep?: (step: number, t: number, x: Float32Array, first: number, n: number) => void;
  readonly onProgress?: (done: number, total: number) => void;
}

/** The S timesteps DDIM visits, in visiting order (largest first). */
export function ddimTimesteps(T: number, steps: number): number[] {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= T)) throw new RangeError(`DDIM steps must be an integer in 1…${T}, got ${steps}`);
  const ts: number[] = [];
  for (let i = steps - 1; i >= 0; i--) ts.push(Math.floor((i * T) / steps));
  return ts;
}

/** Generated samples in the model's data range [−1, 1], count·per float32. */
export function sampleDdim(model: Denoiser, opts: DdimOptions): Float32Array {
  const { alphaBar, count, per } = opts;
  const ts = ddimTimesteps(alphaBar.length, opts.steps);
  const batch = Math.max(1, Math.min(opts.batch ?? count, count));
  const eta = opts.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new RangeError(`DDIM η must be in 0…1, got ${eta}`);
  const rng = new Prng(opts.seed);
  const x = new Float32Array(count * per);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const calls = ts.length * Math.ceil(count / batch);
  let done = 0;
  for (let s0 = 0; s0 < count; s0 += batch) {
    const n = Math.min(batch, count - s0);
    const xb = x.subarray(s0 * per, (s0 + n) * per);
    // one noise stream per sample (seeded by the run's seed and the sample's index)
    const noise = eta > 0 ? Array.from({ length: n }, (_, j) => new Prng((Math.imul(opts.seed + 1, 0x9e3779b1) ^ Math.imul(s0 + j + 1, 0x85ebca6b)) >>> 0)) : [];
    ts.forEach((t, k) => {
      opts.onStep?.(k, t, xb, s0, n);
      const eps = model(xb, t, n);
      if (eps.length !== xb.length) throw new RangeError(`the denoiser returned ${eps.length} values for ${xb.length} inputs`);
      const ab = alphaBar[t];
      const abPrev = k + 1 < ts.length ? alphaBar[ts[k + 1]] : 1;
      const sa = Math.sqrt(ab);
      const s1 = Math.sqrt(1 - ab);
      const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
      const sp = Math.sqrt(abPrev);
      const s1p = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
      for (let i = 0; i < xb.length; i++) {
        const x0 = Math.min(1, Math.max(-1, (xb[i] - s1 * eps[i]) / sa));
        const e = (xb[i] - sa * x0) / s1;
        xb[i] = sp * x0 + s1p * e + (sigma > 0 ? sigma * noise[Math.floor(i / per)].normal() : 0);
      }
      opts.onProgress?.(++done, calls);
    });
  }
  return x;
}

/** [−1, 1] samples → pixels in [0, 1] (the data sets' scale), clipped. */
export function toPixels(x: Float32Array): Float32Array {
  return Float32Array.from(x, (v) => Math.min(1, Math.max(0, (v + 1) / 2)));
}
