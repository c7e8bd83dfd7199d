/**
 * The zoo's denoising diffusion model `mnist-ddpm` as plain data: its UNet's shape, the noise
 * schedule (DDPM, Ho et al. 2020: linear β from 1e-4 to 0.02 over 1,000 steps) and the sinusoidal
 * timestep embedding — shared by the tfjs trainer (ddpm-tfjs.ts), the graph builder (ddpm.ts) and
 * the samplers (nets/diffusion.ts), so all three compute the same function.
 *
 * The UNet (NCHW, 28×28×1, x_t and t in, predicted noise ε out):
 *   t → [sin, cos](t·ω_k) (k < tDim/2, ω_k = 10000^(−k/(tDim/2))) → Gemm → SiLU → Gemm → SiLU = e
 *   in (3×3, 1→c0) → rb0 @28 → down0 (3×3 s2) → rb1 @14 → down1 (3×3 s2) → mid @7
 *   → 2× nearest → concat rb1 → up1 @14 → 2× nearest → concat rb0 → up0 @28 → out (3×3 → 1)
 * a residual block: h = SiLU(BN(conv1(x))) + Gemm(e) (per channel) ; h = SiLU(BN(conv2(h)));
 * y = skip(x) + h, skip a 1×1 conv where the channel count changes. BatchNorm after each conv
 * (post-activation order), so inference folds it into the conv exactly — the integer network is
 * convolutions, SiLU, adds and concatenations; GroupNorm would need a normalization unit the
 * accelerators here do not have. Batches mix timesteps uniformly, so the batch statistics are the
 * timestep mixture's; the exported statistics are re-estimated on the final (EMA) weights.
 */

export interface DdpmSpec {
  readonly name: string;
  readonly dataset: 'mnist' | 'fmnist';
  /** [C, H, W] of an image (and of the noise) */
  readonly input: readonly [number, number, number];
  /** channels at 28², 14², 7² */
  readonly channels: readonly [number, number, number];
  /** sinusoidal embedding width (sin and cos halves) */
  readonly tDim: number;
  /** embedding MLP width */
  readonly embDim: number;
  /** diffusion steps of the forward process */
  readonly steps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly bnEpsilon: number;
  readonly train: { readonly steps: number; readonly batch: number; readonly lr: number; readonly warmup: number; readonly ema: number };
  readonly description: string;
}

export const DDPM_SPECS: Readonly<Record<string, DdpmSpec>> = {
  'mnist-ddpm': {
    name: 'mnist-ddpm',
    dataset: 'mnist',
    input: [1, 28, 28],
    channels: [16, 32, 64],
    tDim: 32,
    embDim: 64,
    steps: 1000,
    betaStart: 1e-4,
    betaEnd: 0.02,
    bnEpsilon: 1e-5,
    train: { steps: 6000, batch: 64, lr: 2e-3, warmup: 200, ema: 0.995 },
    description: 'DDPM noise predictor: a small UNet (BN, SiLU, concat skips, nearest upsampling) on MNIST digits scaled to [−1, 1]',
  },
};

/** The forward process: β_t, ᾱ_t = Π(1 − β) in float64 (t = 0 … steps−1). */
export function noiseSchedule(spec: DdpmSpec): { beta: Float64Array; alphaBar: Float64Array } {
  const T = spec.steps;
  const beta = new Float64Array(T);
  const alphaBar = new Float64Array(T);
  let a = 1;
  for (let t = 0; t < T; t++) {
    beta[t] = spec.betaStart + ((spec.betaEnd - spec.betaStart) * t) / (T - 1);
    a *= 1 - beta[t];
    alphaBar[t] = a;
  }
  return { beta, alphaBar };
}

/** ω_k as float32 — the graph's Mul constant; the trainer multiplies in float32 the same way. */
export function timeFrequencies(spec: DdpmSpec): Float32Array {
  const half = spec.tDim / 2;
  return Float32Array.from({ length: half }, (_, k) => Math.exp((-Math.log(10000) * k) / half));
}

/** [sin | cos](fround(t·ω)) per row, as the exported graph computes it (Mul, Sin, Cos, Concat). */
export function timeEmbedding(spec: DdpmSpec, ts: ArrayLike<number>, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(ts.length * spec.tDim);
  const w = timeFrequencies(spec);
  const half = w.length;
  for (let i = 0; i < ts.length; i++) {
    const t = Math.fround(ts[i]);
    for (let k = 0; k < half; k++) {
      const a = Math.fround(t * w[k]);
      out[i * spec.tDim + k] = Math.sin(a);
      out[i * spec.tDim + half + k] = Math.cos(a);
    }
  }
  return out;
}

export type BlockName = 'rb0' | 'rb1' | 'mid' | 'up1' | 'up0';

/** Residual blocks in execution order: input channels, output channels, resolution level. */
export function ddpmBlocks(spec: DdpmSpec): readonly { name: BlockName; cin: number; cout: number; level: 0 | 1 | 2 }[] {
  const [c0, c1, c2] = spec.channels;
  return [
    { name: 'rb0', cin: c0, cout: c0, level: 0 },
    { name: 'rb1', cin: c1, cout: c1, level: 1 },
    { name: 'mid', cin: c2, cout: c2, level: 2 },
    { name: 'up1', cin: c2 + c1, cout: c1, level: 1 },
    { name: 'up0', cin: c1 + c0, cout: c0, level: 0 },
  ];
}

/**
 * Every trained tensor in tfjs layouts: conv kernels [kh, kw, cin, cout] (HWIO), dense
 * kernels [in, out]; BN as gamma/beta/mean/variance.
 */
export function ddpmWeightShapes(spec: DdpmSpec): Record<string, Record<string, number[]>> {
  const [c0, c1, c2] = spec.channels;
  const C = spec.input[0];
  const conv = (k: number, cin: number, cout: number) => ({ kernel: [k, k, cin, cout], bias: [cout] });
  const bn = (c: number) => ({ gamma: [c], beta: [c], mean: [c], variance: [c] });
  const out: Record<string, Record<string, number[]>> = {
    temb1: { kernel: [spec.tDim, spec.embDim], bias: [spec.embDim] },
    temb2: { kernel: [spec.embDim, spec.embDim], bias: [spec.embDim] },
    in: conv(3, C, c0),
    down0: conv(3, c0, c1),
    down1: conv(3, c1, c2),
    out: conv(3, c0, C),
  };
  for (const b of ddpmBlocks(spec)) {
    // no bias before a BatchNorm
    out[`${b.name}.conv1`] = { kernel: [3, 3, b.cin, b.cout] };
    out[`${b.name}.bn1`] = bn(b.cout);
    out[`${b.name}.temb`] = { kernel: [spec.embDim, b.cout], bias: [b.cout] };
    out[`${b.name}.conv2`] = { kernel: [3, 3, b.cout, b.cout] };
    out[`${b.name}.bn2`] = bn(b.cout);
    if (b.cin !== b.cout) out[`${b.name}.skip`] = conv(1, b.cin, b.cout);
  }
  return out;
}
