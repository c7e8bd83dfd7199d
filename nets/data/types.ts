/**
 * Shared dataset types. Kept apart from `index.ts` so that the per-dataset loaders (mnist.ts,
 * fmnist.ts, photos.ts) can use them without importing the dispatcher.
 */

export type Split = 'train' | 'test';

/** A whole split as a loader produces it, before any subset is taken. */
export interface RawSplit {
  /** count × C×H×W float32 pixels, NCHW order, pixel/255 in [0, 1] */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  /** per-image [C, H, W] */
  readonly shape: readonly [number, number, number];
  readonly classes: readonly string[];
  /** text-line sets (`textlines`): the printed text of every image; `labels` are then all 0, `classes` empty */
  readonly texts?: readonly string[];
}

export interface LabeledSet {
  readonly name: string;
  readonly split: Split;
  /** count × C×H×W float32, NCHW order ([N,1,28,28] for the 28×28 grey datasets) */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  /**
   * per-image [C, H, W]; [1, 28, 28] for mnist and fmnist. Typed as a general triple so that
   * datasets with other image sizes (photos) fit the same interface.
   */
  readonly shape: readonly [number, number, number];
  readonly classes: readonly string[];
  /** text-line sets (`textlines`): the printed text of every image, the ground truth a recognizer is scored on */
  readonly texts?: readonly string[];
}
