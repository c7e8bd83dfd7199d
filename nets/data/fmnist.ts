/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the Debian package `dataset-fashion-mnist`:
 * `/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`, the
 * original gzipped IDX files. 60,000 train / 10,000 test images, 28×28 grey, 10 classes.
 *
 * IDX format (big-endian): magic `0x0000_08_DD` (0x08 = unsigned byte, DD = number of dimensions),
 * then DD uint32 dimension sizes, then the bytes row-major. Images are 0x00000803 [N, 28, 28],
 * labels 0x00000801 [N]. Magic, dimensions, exact payload length, label range and the image/label
 * count match are all checked; any mismatch is a DatasetError.
 *
 * Images are returned as pixel/255 in float32, NCHW [N, 1, 28, 28], in file order.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from '../errors.js';
import type { RawSplit, Split } from './types.js';

export const FMNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FMNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

const INSTALL_HINT = 'install the Debian package dataset-fashion-mnist: apt-get install -y dataset-fashion-mnist';

const IDX_UBYTE = 0x08;

export interface IdxArray {
  readonly dims: readonly number[];
  /** view into the decompressed buffer */
  readonly data: Uint8Array;
}

/**
 * Parses an uncompressed IDX file of unsigned bytes with `ndim` dimensions. `source` names the
 * file in error messages.
 */
export function parseIdx(buf: Uint8Array, ndim: number, source: string): IdxArray {
  const fail = (why: string): never => {
    throw new DatasetError(`fmnist: ${source}: ${why}; ${INSTALL_HINT}`);
  };
  if (buf.length < 4 + 4 * ndim) fail(`${buf.length} bytes is shorter than an IDX header with ${ndim} dimensions`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  const want = (IDX_UBYTE << 8) | ndim;
  if (magic !== want) {
    fail(`bad IDX magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x${want.toString(16).padStart(8, '0')}`);
  }
  const dims: number[] = [];
  let n = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    n *= d;
  }
  const header = 4 + 4 * ndim;
  if (buf.length !== header + n) {
    fail(`payload is ${buf.length - header} bytes, dimensions [${dims.join(', ')}] need ${n}${buf.length < header + n ? ' (truncated)' : ''}`);
  }
  return { dims, data: buf.subarray(header) };
}

function readGz(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new DatasetError(`fmnist: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${INSTALL_HINT}`);
  }
  try {
    return gunzipSync(raw);
  } catch (e) {
    throw new DatasetError(`fmnist: ${file} is not valid gzip (${(e as Error).message}); ${INSTALL_HINT}`);
  }
}

interface ByteSplit {
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

// Keep the bytes (47 MB for train), not the float32 images (188 MB): rebuilding floats is cheap
// and hands every caller its own array.
const cache = new Map<string, ByteSplit>();

function loadBytes(split: Split, dir: string): ByteSplit {
  const prefix = split === 'train' ? 'train' : 't10k';
  const key = `${dir}\0${prefix}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const imgFile = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  const lblFile = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  const img = parseIdx(readGz(imgFile), 3, imgFile);
  const lbl = parseIdx(readGz(lblFile), 1, lblFile);
  const [count, h, w] = img.dims;
  if (h !== 28 || w !== 28) throw new DatasetError(`fmnist: ${imgFile}: images are ${h}×${w}, expected 28×28; ${INSTALL_HINT}`);
  if (lbl.dims[0] !== count) {
    throw new DatasetError(`fmnist: ${lblFile} has ${lbl.dims[0]} labels but ${imgFile} has ${count} images; ${INSTALL_HINT}`);
  }
  for (let i = 0; i < count; i++) {
    if (lbl.data[i] > 9) throw new DatasetError(`fmnist: ${lblFile}: label #${i} is ${lbl.data[i]}, outside 0…9; ${INSTALL_HINT}`);
  }
  const out = { pixels: img.data, labels: lbl.data, count };
  cache.set(key, out);
  return out;
}

/**
 * One Fashion-MNIST split, full and in file order. `dir` overrides the Debian install location
 * (tests use it to feed corrupted files). Fresh arrays each call.
 */
export function loadFmnist(split: Split, dir: string = FMNIST_DIR): RawSplit {
  const { pixels, labels, count } = loadBytes(split, dir);
  const images = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) images[i] = pixels[i] / 255;
  // copy into a plain Uint8Array: `labels` views a Node Buffer, whose slice() would not copy
  return { images, labels: new Uint8Array(labels), count, shape: [1, 28, 28], classes: FMNIST_CLASSES };
}
