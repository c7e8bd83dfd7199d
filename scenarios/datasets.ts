/**
 * The images a model is calibrated and evaluated on, picked the same way by every caller
 * (`qloom run --model`, `qloom quantize`, `eval --quant`, `debug`, the `qloom` scenario runner):
 *
 *  - `calibrationSet`: the PTQ calibration images — a seeded subset of the dataset's train split
 *    (photos: the photo set's calibration half);
 *  - `evaluationSet`: the images accuracy is measured on (test split; photos: the evaluation half).
 * The two never share an image, by construction (disjoint splits, `dataSplits` names them).
 */
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import { PREPROCESS_NAMES, type PreprocessName } from '../nets/data/preprocess.js';
import type { CalibData } from '../quant/calibrate.js';
import type { PtqConfig } from '../quant/config.js';

export type EvalDatasetName = 'mnist' | 'fmnist' | 'photos' | 'orientation' | 'textlines';

export const CALIB_DATASETS: readonly EvalDatasetName[] = Object.freeze(['mnist', 'fmnist', 'photos', 'orientation', 'textlines']);

/** data sets scored by reading their text (CTC decoding, nets/eval-ctc.ts), not by top-1 class */
export const TEXT_DATASETS: readonly EvalDatasetName[] = Object.freeze(['textlines']);

/**
 * What is wrong with `dataset` as a calibration / evaluation set for `model`, known without loading
 * anything (`label` names it: a flag, or 'the data set'): missing, not a data set, photos for a
 * model whose preprocessing qloom does not know (only zoo models' is known), or — for a caller that
 * scores top-1 classes (`top1: true`: run, debug) — a data set scored by reading text.
 */
export function datasetProblems(label: string, dataset: unknown, model: string | undefined, opts: { readonly top1?: boolean } = {}): string[] {
  if (dataset === undefined) return [`${label} is required (one of ${CALIB_DATASETS.join(', ')})`];
  if (!(CALIB_DATASETS as readonly unknown[]).includes(dataset)) return [`${label} must be one of ${CALIB_DATASETS.join(', ')}, got '${String(dataset)}'`];
  if (opts.top1 && (TEXT_DATASETS as readonly unknown[]).includes(dataset)) {
    return [`${label} ${String(dataset)} is scored by reading each line's text (CTC character and line accuracy), which only qloom eval does so far, not top-1 classes`];
  }
  if (dataset === 'photos' && model !== undefined && !(PREPROCESS_NAMES as readonly string[]).includes(model)) {
    return [`${label} photos needs a model with known preprocessing (${PREPROCESS_NAMES.join(', ')}), not '${model}'`];
  }
  return [];
}

/**
 * What is wrong with a model run's choice of model, data set and PTQ preset, known without reading
 * anything: unlabelled photos are scored by agreement with the FP32 model, which a quantized file
 * lacks (a zoo model and a preset); a float model needs a preset to be quantized.
 */
export function modelRunProblems(o: { readonly model: string; readonly data: string; readonly preset?: unknown }): string[] {
  if (o.data === 'photos' && o.preset === undefined) return ['photos are scored by agreement with the FP32 model: give a float model (zoo name) and a PTQ preset'];
  if (o.preset === undefined && !o.model.endsWith('.onnx')) return [`'${o.model}' is a float model: give a PTQ preset to quantize it, or a quantized .onnx`];
  return [];
}

/** Calibration images for `model` on `dataset` under `cfg` (calibSamples, seed). */
export function calibrationSet(dataset: EvalDatasetName, model: string, cfg: Pick<PtqConfig, 'calibSamples' | 'seed'>): CalibData {
  if (dataset === 'photos') {
    const all = loadPhotos(model as PreprocessName, { split: 'calib' });
    if (cfg.calibSamples >= all.count) return all;
    return loadPhotos(model as PreprocessName, { split: 'calib', samples: cfg.calibSamples, seed: cfg.seed });
  }
  const full = loadDataset(dataset, 'train');
  if (cfg.calibSamples >= full.count) return full;
  return loadDataset(dataset, 'train', { samples: cfg.calibSamples, seed: cfg.seed });
}

export interface EvalSet extends CalibData {
  /** class labels; absent for photos (accuracy is then agreement with FP32) */
  readonly labels?: Uint8Array;
}

/**
 * The images accuracy is measured on: a seeded subset of the test split (`qloom run` uses seed 0),
 * or of the photos (at most all of them: the set is small).
 */
export function evaluationSet(dataset: EvalDatasetName, model: string, samples: number, seed: number): EvalSet {
  if (dataset === 'photos') {
    const all = loadPhotos(model as PreprocessName, { split: 'eval' });
    return samples >= all.count ? all : loadPhotos(model as PreprocessName, { split: 'eval', samples, seed });
  }
  return loadDataset(dataset as DatasetName, 'test', { samples, seed });
}

/** Which split calibrates and which one scores, as results record them. */
export function dataSplits(dataset: EvalDatasetName): { readonly calibration: string; readonly evaluation: string } {
  return dataset === 'photos' ? { calibration: 'photos/calib', evaluation: 'photos/eval' } : { calibration: `${dataset}/train`, evaluation: `${dataset}/test` };
}
