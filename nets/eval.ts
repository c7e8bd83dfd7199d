/**
 * Top-1 evaluation of a Network on a labeled set with the FP32 executor, batched.
 * The same routine produces the manifest numbers and `qloom eval`'s, so they agree exactly.
 */
import { ModelError } from './errors.js';
import { runFp32 } from './fp32.js';
import { numel, type Graph, type Tensor } from './graph.js';
import type { LabeledSet } from './data/types.js';

export interface EvalOptions {
  /** images per executor call (memory vs call overhead) */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Top1Result {
  top1: number;
  correct: number;
  samples: number;
  /** predicted class per image */
  predictions: Int32Array;
}

/**
 * Shapes one batch of dataset images as the graph's single input expects: the image shape itself
 * ([N,C,H,W], dynamic dims taken from the images) or flattened when the graph wants [N,784].
 */
export function batchInput(graph: Graph, images: Float32Array, imageShape: readonly number[], start: number, count: number, side?: SideInputs): Record<string, Tensor> {
  const others = graph.inputs.slice(1);
  const missing = others.filter((i) => !side?.[i.name]).map((i) => `'${i.name}'`);
  if (missing.length) throw new ModelError([{ node: graph.name, message: `the graph's input${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'have' : 'has'} no data (only the first input takes images)` }]);
  const feeds: Record<string, Tensor> = {};
  for (const o of others) {
    const s = side![o.name];
    const per = numel(s.shape);
    feeds[o.name] = { dtype: 'float32', shape: [count, ...s.shape], data: s.data.subarray(start * per, (start + count) * per) };
  }
  const inp = graph.inputs[0];
  const rest = inp.shape.slice(1);
  const per = numel(imageShape);
  let shape: readonly number[];
  if (rest.length === imageShape.length && rest.every((d, i) => d < 0 || d === imageShape[i])) shape = imageShape;
  else if (rest.every((d) => d >= 0) && numel(rest) === per) shape = rest;
  else throw new ModelError([{ node: inp.name, message: `graph input [${inp.shape.join(',')}] does not take images of shape [${imageShape.join(',')}]` }]);
  const data = images.subarray(start * per, (start + count) * per);
  return { [inp.name]: { dtype: 'float32', shape: [count, ...shape], data }, ...feeds };
}

/**
 * Per-sample data of a graph's inputs after the first (a diffusion UNet's timestep): by input
 * name, `shape` one sample's, `data` every sample's back to back in the images' order.
 */
export type SideInputs = Readonly<Record<string, { readonly data: Float32Array; readonly shape: readonly number[] }>>;

/** Index of the largest value in each row of an [N, K] tensor (first one on ties, like argmax). */
export function argmaxRows(t: Tensor, into: Int32Array, offset: number): void {
  const [n, k] = t.shape.length === 2 ? t.shape : [t.shape[0], numel(t.shape.slice(1))];
  const d = t.data as Float32Array;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (d[i * k + j] > d[i * k + best]) best = j;
    into[offset + i] = best;
  }
}

export function evaluateTop1(graph: Graph, set: LabeledSet, opts: EvalOptions = {}): Top1Result {
  const batch = opts.batch ?? 250;
  const predictions = new Int32Array(set.count);
  const outName = graph.outputs[0].name;
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const res = runFp32(graph, batchInput(graph, set.images, set.shape, s, n));
    argmaxRows(res[outName], predictions, s);
    opts.onProgress?.(s + n, set.count);
  }
  let correct = 0;
  for (let i = 0; i < set.count; i++) if (predictions[i] === set.labels[i]) correct++;
  return { top1: correct / set.count, correct, samples: set.count, predictions };
}

/** z of a two-sided 95 % normal interval, Φ⁻¹(0.975) */
export const Z95 = 1.959963984540054;

/**
 * Wilson score interval of a binomial proportion (Wilson 1927; Newcombe 1998's method 3): the
 * p with |k − np| ≤ z·√(np(1 − p)), i.e.
 * `(p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)`. Stays inside [0, 1] and is not empty at
 * k = 0 or k = n, unlike the normal (Wald) interval. `z` defaults to the 95 % two-sided value.
 */
export function wilsonInterval(successes: number, trials: number, z: number = Z95): { lo: number; hi: number } {
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`wilsonInterval: trials must be a positive integer, got ${trials}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > trials) {
    throw new RangeError(`wilsonInterval: successes must be an integer in 0…${trials}, got ${successes}`);
  }
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials));
  // the bounds are exactly 0 and 1 at k = 0 and k = n; keep rounding from leaving [0, 1]
  return { lo: successes === 0 ? 0 : Math.max(0, centre - half), hi: successes === trials ? 1 : Math.min(1, centre + half) };
}
