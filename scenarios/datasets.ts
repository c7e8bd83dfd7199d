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
import type { PreprocessName } from '../nets/data/preprocess.js';
import type { CalibData } from '../quant/calibrate.js';
import type { PtqConfig } from '../quant/config.js';

export type EvalDatasetName = 'mnist' | 'fmnist' | 'photos' | 'orientation';

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
