/**
 * Diffusion models in qloom: the zoo DDPM sampled with DDIM on the FP32 executor or on the integer
 * executor (a quantized network, accumulators and requantization as the run says), the quality of
 * what it generates, and the calibration sets of Q-Diffusion's study.
 *
 * Quality without downloads: the Fréchet distance on the penultimate features of the bundled
 * MNIST classifier `mnist-mlp` (nets/fid.ts — not Inception-FID, comparable within qloom only),
 * against the real MNIST test split (2,004 digits); plus that classifier's mean top-1 confidence
 * and its class histogram of the samples (a collapse to a few digits shows there).
 *
 * Calibration (Q-Diffusion, Li et al. 2023): the FP32 model's own DDIM trajectories from seeded
 * noise, every model input (x_t, t) recorded; a strategy picks the calibration samples among them —
 * `single` (every sample at one step of the trajectory), `last` (spread over the last quarter of the
 * steps, nearest the data, as PTQ4DM-style calibration), `uniform` (spread evenly over all steps,
 * Q-Diffusion's time-step-aware calibration). The same trajectories serve all three, so the
 * strategies differ only in which inputs they keep.
 */

import { createCanvas } from '@napi-rs/canvas';
import { loadDataset } from '../nets/data/index.js';
import { ddimTimesteps, sampleDdim, toPixels, type Denoiser } from '../nets/diffusion.js';
import { classifierFeatures, featureStats, frechetDistance, type FeatureStats } from '../nets/fid.js';
import { runFp32 } from '../nets/fp32.js';
import type { Graph, Tensor } from '../nets/graph.js';
import { DDPM_SPECS, noiseSchedule, type DdpmSpec } from '../nets/zoo/ddpm-spec.js';
import { loadModel } from '../nets/zoo/index.js';
import type { CalibData } from '../quant/pipeline.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import type { QExecOptions } from '../sim/qexec-types.js';
import { ConfigError } from '../errors/index.js';

export interface DdpmModel {
  readonly name: string;
  readonly graph: Graph;
  readonly spec: DdpmSpec;
  readonly alphaBar: Float64Array;
  /** values per image */
  readonly per: number;
}

export function loadDdpm(name = 'mnist-ddpm'): DdpmModel {
  const spec = DDPM_SPECS[name];
  if (!spec) throw new ConfigError([{ path: 'model', message: `'${name}' is not a diffusion model (known: ${Object.keys(DDPM_SPECS).join(', ')})` }], 'diffusion');
  const { graph } = loadModel(name);
  return { name, graph, spec, alphaBar: noiseSchedule(spec).alphaBar, per: spec.input[0] * spec.input[1] * spec.input[2] };
}

function feeds(m: DdpmModel, x: Float32Array, t: number, n: number): Record<string, Tensor> {
  return { x: { dtype: 'float32', shape: [n, ...m.spec.input], data: x }, t: { dtype: 'float32', shape: [n, 1], data: new Float32Array(n).fill(t) } };
}

export function fp32Denoiser(m: DdpmModel): Denoiser {
  return (x, t, n) => runFp32(m.graph, feeds(m, x, t, n)).eps.data as Float32Array;
}

/** Overflow events of the integer run, by timestep (summed over layers and samples). */
export type OverflowByStep = Map<number, number>;

/** The integer network as a denoiser (layers prepared once); overflow events summed per timestep into `overflow`. */
export function quantDenoiser(m: DdpmModel, net: QuantizedNetwork, exec: QExecOptions, overflow?: OverflowByStep): Denoiser {
  const out = net.outputs[0].name;
  const executor = new QuantizedExecutor(net, exec);
  return (x, t, n) => {
    const r = executor.run(feeds(m, x, t, n));
    if (overflow) {
      let e = 0;
      for (const o of Object.values(r.overflow)) e += o.events;
      overflow.set(t, (overflow.get(t) ?? 0) + e);
    }
    return r.outputs[out].data as Float32Array;
  };
}

export interface GenerateOptions {
  readonly steps: number;
  readonly count: number;
  readonly seed: number;
  /** DDIM's η (default 0, deterministic; 1: ancestral) */
  readonly eta?: number;
  readonly batch?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Generated images as pixels in [0, 1] (count × C×H×W). */
export function generate(m: DdpmModel, denoiser: Denoiser, o: GenerateOptions): Float32Array {
  return toPixels(sampleDdim(denoiser, { alphaBar: m.alphaBar, steps: o.steps, count: o.count, per: m.per, seed: o.seed, eta: o.eta, batch: o.batch ?? 50, onProgress: o.onProgress }));
}

export interface QualityReport {
  readonly samples: number;
  /** Fréchet distance to the real test digits on mnist-mlp's penultimate features */
  readonly fid: number;
  /** mnist-mlp's mean top-1 probability on the samples */
  readonly meanConfidence: number;
  /** how many samples mnist-mlp puts in each class */
  readonly classHistogram: number[];
}

let reference: { stats: FeatureStats; classifier: Graph } | undefined;

/** mnist-mlp and the feature statistics of the real MNIST test split (computed once). */
export function realReference(): { stats: FeatureStats; classifier: Graph } {
  if (!reference) {
    const classifier = loadModel('mnist-mlp').graph;
    const test = loadDataset('mnist', 'test');
    const f = classifierFeatures(classifier, test.images, test.count);
    reference = { stats: featureStats(f.rows, test.count, f.dim), classifier };
  }
  return reference;
}

export function imageQuality(pixels: Float32Array, count: number): QualityReport {
  const { stats, classifier } = realReference();
  const f = classifierFeatures(classifier, pixels, count);
  const fid = frechetDistance(featureStats(f.rows, count, f.dim), stats);
  // the classifier's probabilities: its own head on the same images
  const per = pixels.length / count;
  const hist = new Array<number>(10).fill(0);
  let conf = 0;
  for (let s = 0; s < count; s += 250) {
    const n = Math.min(250, count - s);
    const out = Object.values(runFp32(classifier, { [classifier.inputs[0].name]: { dtype: 'float32', shape: [n, per], data: pixels.subarray(s * per, (s + n) * per) } }))[0];
    const k = out.data.length / n;
    const d = out.data as Float32Array;
    for (let i = 0; i < n; i++) {
      // softmax of the logits (the zoo classifiers end in logits)
      let mx = -Infinity;
      let arg = 0;
      for (let j = 0; j < k; j++) if (d[i * k + j] > mx) [mx, arg] = [d[i * k + j], j];
      let z = 0;
      for (let j = 0; j < k; j++) z += Math.exp(d[i * k + j] - mx);
      conf += 1 / z;
      hist[arg]++;
    }
  }
  return { samples: count, fid, meanConfidence: conf / count, classHistogram: hist };
}

/** What a perfect generator would score with this many samples: real training digits (a seeded subset) against the test split. */
export function realDataQuality(count: number, seed: number): QualityReport {
  const train = loadDataset('mnist', 'train', { samples: count, seed });
  return imageQuality(train.images, train.count);
}

export type CalibStrategy = { readonly kind: 'single'; readonly step: number } | { readonly kind: 'last' } | { readonly kind: 'uniform' };

export function parseCalibStrategy(s: string, steps: number): CalibStrategy {
  if (s === 'uniform' || s === 'last') return { kind: s };
  const m = /^single(?::(\d+))?$/.exec(s);
  if (m) {
    const step = m[1] === undefined ? Math.floor(steps / 2) : Number(m[1]);
    if (step >= steps) throw new ConfigError([{ path: 'calib', message: `single:${step}: the trajectory has steps 0…${steps - 1}` }], 'diffusion');
    return { kind: 'single', step };
  }
  throw new ConfigError([{ path: 'calib', message: `'${s}' is not a calibration strategy (single[:STEP], last, uniform)` }], 'diffusion');
}

export function strategyLabel(c: CalibStrategy): string {
  return c.kind === 'single' ? `single:${c.step}` : c.kind;
}

/** Every model input of the FP32 model's DDIM trajectories: trajectories × steps (x_t, t). */
export interface Trajectories {
  readonly count: number;
  readonly steps: number;
  /** timestep of each step, in visiting order */
  readonly ts: readonly number[];
  /** [step][sample] x_t, back to back: steps × count × per */
  readonly x: Float32Array;
}

export function recordTrajectories(m: DdpmModel, o: { steps: number; count: number; seed: number; eta?: number; onProgress?: (d: number, t: number) => void }): Trajectories {
  const x = new Float32Array(o.steps * o.count * m.per);
  sampleDdim(fp32Denoiser(m), {
    alphaBar: m.alphaBar,
    steps: o.steps,
    count: o.count,
    per: m.per,
    seed: o.seed,
    eta: o.eta,
    batch: 50,
    onProgress: o.onProgress,
    onStep: (k, _t, xb, first) => x.set(xb, (k * o.count + first) * m.per),
  });
  return { count: o.count, steps: o.steps, ts: ddimTimesteps(m.spec.steps, o.steps), x };
}

/**
 * The calibration set a strategy keeps: one input per trajectory (so `count` samples), trajectory i
 * at step `single`'s step, or at step ⌊S·3/4⌋ + (i mod ⌈S/4⌉) (`last`), or at step i mod S (`uniform`).
 */
export function calibrationSet(m: DdpmModel, tr: Trajectories, c: CalibStrategy): CalibData & { readonly stepsUsed: number[] } {
  const S = tr.steps;
  const lastFrom = Math.floor((S * 3) / 4);
  const lastN = S - lastFrom;
  const images = new Float32Array(tr.count * m.per);
  const t = new Float32Array(tr.count);
  const used = new Set<number>();
  for (let i = 0; i < tr.count; i++) {
    const k = c.kind === 'single' ? c.step : c.kind === 'last' ? lastFrom + (i % lastN) : i % S;
    used.add(k);
    images.set(tr.x.subarray((k * tr.count + i) * m.per, (k * tr.count + i + 1) * m.per), i * m.per);
    t[i] = tr.ts[k];
  }
  return { images, shape: m.spec.input, count: tr.count, side: { t: { data: t, shape: [1] } }, stepsUsed: [...used].sort((a, b) => a - b) };
}

/** A grid of grey images (pixels in [0, 1]) as PNG bytes, `scale`× enlarged. */
export function sampleGridPng(pixels: Float32Array, count: number, shape: readonly [number, number, number], cols = 10, scale = 2): Buffer {
  const [, H, W] = shape;
  const rows = Math.ceil(count / cols);
  const gap = 2;
  const cw = cols * (W * scale + gap) + gap;
  const ch = rows * (H * scale + gap) + gap;
  const canvas = createCanvas(cw, ch);
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(cw, ch);
  img.data.fill(255);
  for (let i = 0; i < count; i++) {
    const ox = gap + (i % cols) * (W * scale + gap);
    const oy = gap + Math.floor(i / cols) * (H * scale + gap);
    for (let y = 0; y < H * scale; y++)
      for (let x = 0; x < W * scale; x++) {
        // white digits on black, as MNIST is stored
        const v = Math.round(255 * pixels[i * H * W + Math.floor(y / scale) * W + Math.floor(x / scale)]);
        const o = ((oy + y) * cw + ox + x) * 4;
        img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
        img.data[o + 3] = 255;
      }
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toBuffer('image/png');
}
