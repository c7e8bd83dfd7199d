/**
 * Photos have no labels here: evaluation reports each photo's top-1 class (and, later, the
 * agreement of a quantized model's top-1 with the FP32 one). Preprocessing is the model's own.
 */
import { loadPhotos, type PhotoSplit } from './data/photos.js';
import { getPreprocess } from './data/preprocess.js';
import { ModelError } from './errors.js';
import { batchInput } from './eval.js';
import { runFp32 } from './fp32.js';
import type { Graph } from './graph.js';

/** Class names of the pretrained photo models, in output order. */
export const PHOTO_CLASSES: Readonly<Record<string, readonly string[]>> = {
  // nsfwjs 4.3.0 dist: the five categories of its MobileNetV2 head, alphabetical
  mobilenetv2: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'],
  // PaddleOCR cls label_list ['0', '180']: text rotated 0° or 180°
  'ppocr-cls': ['0', '180'],
};

export interface PhotoPrediction {
  file: string;
  classIndex: number;
  class: string;
  probability: number;
}

export interface PhotoEvalOptions {
  /** only the photo set's calibration or evaluation half */
  split?: PhotoSplit;
  samples?: number;
  seed?: number;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Raw model outputs for photos preprocessed the model's way: [count, classes] float32. */
export function photoOutputs(graph: Graph, model: string, opts: PhotoEvalOptions = {}): { files: string[]; outputs: Float32Array; classes: number } {
  const pre = getPreprocess(model);
  const set = loadPhotos(pre, { split: opts.split, samples: opts.samples, seed: opts.seed });
  const batch = opts.batch ?? 8;
  const outName = graph.outputs[0].name;
  let classes = 0;
  let outputs = new Float32Array(0);
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const y = runFp32(graph, batchInput(graph, set.images, set.shape, s, n))[outName];
    if (s === 0) {
      classes = y.data.length / n;
      outputs = new Float32Array(set.count * classes);
    }
    outputs.set(y.data as Float32Array, s * classes);
    opts.onProgress?.(s + n, set.count);
  }
  return { files: set.files, outputs, classes };
}

export function evaluatePhotos(graph: Graph, model: string, opts: PhotoEvalOptions = {}): PhotoPrediction[] {
  const names = PHOTO_CLASSES[model];
  if (!names) throw new ModelError(`--data photos needs a model with known preprocessing and classes (${Object.keys(PHOTO_CLASSES).join(', ')}), not '${model}'`);
  const { files, outputs, classes } = photoOutputs(graph, model, opts);
  return files.map((file, i) => {
    const row = outputs.subarray(i * classes, (i + 1) * classes);
    const probs = toProbabilities(row);
    let best = 0;
    for (let j = 1; j < classes; j++) if (row[j] > row[best]) best = j;
    return { file, classIndex: best, class: names[best] ?? String(best), probability: probs[best] };
  });
}

/** Softmax unless the row already is a probability vector (models that end in Softmax). */
function toProbabilities(row: Float32Array): Float64Array {
  let sum = 0;
  let inRange = true;
  for (const v of row) {
    sum += v;
    if (v < 0 || v > 1) inRange = false;
  }
  const p = new Float64Array(row.length);
  if (inRange && Math.abs(sum - 1) < 1e-3) {
    p.set(row);
    return p;
  }
  const m = Math.max(...row);
  let z = 0;
  for (let j = 0; j < row.length; j++) z += (p[j] = Math.exp(row[j] - m));
  for (let j = 0; j < row.length; j++) p[j] /= z;
  return p;
}
