/**
 * Real-photo image set for calibration and FP32-vs-quantized agreement on ImageNet-style models.
 *
 * Unlabelled: these photos are for activation-range calibration and for comparing a quantized
 * network's outputs with its FP32 outputs, not for accuracy. Sources are packages that install
 * offline (no download at run time):
 *   - Debian `darknet`: /usr/share/darknet/data/*.jpg — 7 images (dog, eagle, giraffe, horses,
 *     kite, person: photos; scream: Munch's painting).
 *   - npm `@vladmandic/face-api` (a dependency): demo/sample1..6.jpg — 6 photos of people,
 *     1920 px wide.
 * Files are listed in a fixed order (source id, then file name) so a seed picks the same subset
 * on every machine, wherever node_modules lives. EXIF orientation is not applied (neither does
 * tf.node.decodeImage nor cv2.imread with IMREAD_UNCHANGED); pixels are used as stored.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { DatasetError, UsageError } from '../errors.js';
import { Prng } from '../prng.js';
import { getPreprocess, type Preprocess, type PreprocessName, type ResizeCoord } from './preprocess.js';

export interface PhotoSource {
  readonly id: string;
  /** how to get it, named in the DatasetError when it is missing */
  readonly provider: string;
  /** absolute directory, or undefined when the providing package is not installed */
  readonly dir: string | undefined;
  readonly match: RegExp;
}

const require = createRequire(import.meta.url);

/** Directory of an installed npm package, found the way Node resolves it (without loading it). */
function npmPackageDir(pkg: string, sub: string): string | undefined {
  for (const base of require.resolve.paths(pkg) ?? []) {
    const dir = join(base, pkg, sub);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

export function photoSources(): readonly PhotoSource[] {
  return [
    {
      id: 'darknet',
      provider: "Debian package 'darknet' (apt-get install darknet)",
      dir: existsSync('/usr/share/darknet/data') ? '/usr/share/darknet/data' : undefined,
      match: /\.jpe?g$/i,
    },
    {
      id: 'face-api',
      provider: "npm package '@vladmandic/face-api' (npm install)",
      dir: npmPackageDir('@vladmandic/face-api', 'demo'),
      match: /^sample\d+\.jpg$/,
    },
  ];
}

export interface PhotoFile {
  /** `<source id>/<file name>`: stable across machines */
  readonly id: string;
  readonly path: string;
}

/** Every photo of every source, sorted by id. Throws one DatasetError naming every missing source. */
export function listPhotos(sources: readonly PhotoSource[] = photoSources()): PhotoFile[] {
  const missing: string[] = [];
  const out: PhotoFile[] = [];
  for (const s of sources) {
    const names = s.dir ? readdirSync(s.dir).filter((f) => s.match.test(f)) : [];
    if (!s.dir || names.length === 0) {
      missing.push(`${s.id}: no photos${s.dir ? ` in ${s.dir}` : ''}; install the ${s.provider}`);
      continue;
    }
    for (const f of names) out.push({ id: `${s.id}/${f}`, path: join(s.dir, f) });
  }
  if (missing.length) throw new DatasetError(`real-photo set incomplete:\n  - ${missing.join('\n  - ')}`);
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** 8-bit RGB, interleaved HWC */
  readonly data: Uint8Array;
}

// Decoding a 1920-px JPEG costs ~0.2 s; callers load the same few photos for several models.
const decodeCache = new Map<string, DecodedImage>();

/** Decodes a JPEG file to 8-bit RGB (memoized per path; `clearPhotoCache` frees it). */
export function decodePhoto(path: string): DecodedImage {
  const hit = decodeCache.get(path);
  if (hit) return hit;
  if (!/\.jpe?g$/i.test(path)) throw new DatasetError(`${path}: only JPEG photos are supported`);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    // formatAsRGBA false: always 3 channels (grey JPEGs replicated), no alpha to strip
    img = jpeg.decode(readFileSync(path), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw new DatasetError(`${path}: cannot decode JPEG (${(e as Error).message})`);
  }
  const out: DecodedImage = { width: img.width, height: img.height, data: img.data };
  decodeCache.set(path, out);
  return out;
}

export function clearPhotoCache(): void {
  decodeCache.clear();
}

/**
 * Bilinear resize of an interleaved HWC image, in float, no antialiasing. Mirrors
 * tfjs-backend-cpu's ResizeBilinear arithmetic (float64 interpolation, top/bottom rows blended
 * after the columns) so that `align_corners` and `asymmetric` agree with tf.image.resizeBilinear;
 * `half_pixel` clamps source coordinates below 0 to 0 as cv2.resize does.
 */
export function resizeBilinear(
  src: Uint8Array | Float32Array,
  srcH: number,
  srcW: number,
  channels: number,
  dstH: number,
  dstW: number,
  coord: ResizeCoord,
  out: Float32Array | Float64Array = new Float32Array(dstH * dstW * channels),
): Float32Array | Float64Array {
  if (out.length < dstH * dstW * channels) throw new RangeError(`resize output holds ${out.length} values, needs ${dstH * dstW * channels}`);
  const xs = axisTaps(srcW, dstW, coord);
  const ys = axisTaps(srcH, dstH, coord);
  const rowStride = srcW * channels;
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const top = ys.lo[y] * rowStride;
    const bot = ys.hi[y] * rowStride;
    const fy = ys.frac[y];
    for (let x = 0; x < dstW; x++) {
      const l = xs.lo[x] * channels;
      const r = xs.hi[x] * channels;
      const fx = xs.frac[x];
      for (let c = 0; c < channels; c++) {
        const tl = src[top + l + c];
        const tr = src[top + r + c];
        const bl = src[bot + l + c];
        const br = src[bot + r + c];
        const t = tl + (tr - tl) * fx;
        const b = bl + (br - bl) * fx;
        out[o++] = t + (b - t) * fy;
      }
    }
  }
  return out;
}

interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float64Array;
}

/** Source index pair and weight for each output index along one axis. */
function axisTaps(inSize: number, outSize: number, coord: ResizeCoord): Taps {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  const ac = coord === 'align_corners' && outSize > 1;
  const scale = (ac ? inSize - 1 : inSize) / (ac ? outSize - 1 : outSize);
  for (let i = 0; i < outSize; i++) {
    const s = coord === 'half_pixel' ? scale * (i + 0.5) - 0.5 : scale * i;
    const f = Math.floor(s);
    // as tfjs: floor clamped at 0, weight s − that, ceil clamped at the last index; for s < 0
    // both taps are index 0, which is also what cv2's half-pixel clamp gives.
    lo[i] = Math.max(0, f);
    hi[i] = Math.min(inSize - 1, Math.ceil(s));
    frac[i] = s - lo[i];
  }
  return { lo, hi, frac };
}

// ITU-R BT.601 luma, the weights of tf.image.rgbToGrayscale
const LUMA = [0.2989, 0.587, 0.114] as const;

/**
 * Writes one decoded photo, preprocessed per `p`, into `out` at `offset` as C×H×W float32.
 * `scratch` is reused between images to avoid one allocation per photo.
 */
export function preprocessInto(img: DecodedImage, p: Preprocess, out: Float32Array, offset: number, scratch?: Float64Array): Float64Array {
  const H = p.height;
  const W = p.width;
  const rw = p.fit === 'stretch' ? W : Math.min(W, Math.ceil(H * (img.width / img.height)));
  const need = H * rw * 3;
  // float64 scratch: one rounding to float32 at the end, like tfjs (which interpolates in float64)
  const buf = scratch && scratch.length >= need ? scratch : new Float64Array(need);
  resizeBilinear(img.data, img.height, img.width, 3, H, rw, p.coord, buf);
  const plane = H * W;
  for (let c = 0; c < p.channels; c++) {
    // model channel c reads source channel sc (RGB order after decode)
    const sc = p.channelOrder === 'rgb' ? c : 2 - c;
    const base = offset + c * plane;
    for (let y = 0; y < H; y++) {
      const row = base + y * W;
      for (let x = 0; x < rw; x++) {
        const i = (y * rw + x) * 3;
        const v = p.channels === 1 ? LUMA[0] * buf[i] + LUMA[1] * buf[i + 1] + LUMA[2] * buf[i + 2] : buf[i + sc];
        out[row + x] = (v * p.scale - p.mean[c]) / p.std[c];
      }
      for (let x = rw; x < W; x++) out[row + x] = p.padValue;
    }
  }
  return buf;
}

/**
 * The photo set's fixed calibration / evaluation split, so that no photo is both calibrated on and
 * scored: by position in the sorted file list, odd positions calibrate, even ones evaluate (of 13
 * photos, 6 and 7). Fixed by construction, not by a seed, so every command and scenario agrees.
 */
export type PhotoSplit = 'calib' | 'eval';

export interface PhotoOptions {
  /** only this half of the set (default: every photo) */
  split?: PhotoSplit;
  /** take a seeded random subset of this many photos (default: all, in file order) */
  samples?: number;
  /** seed of the subset choice (default 0) */
  seed?: number;
  /** photo sources (default: `photoSources()`) */
  sources?: readonly PhotoSource[];
}

export interface PhotoSet {
  /** count × C×H×W float32, NCHW, ready to feed */
  readonly images: Float32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number];
  /** absolute paths, in the order of `images` */
  readonly files: string[];
  /** stable ids (`darknet/dog.jpg`), in the order of `images` */
  readonly ids: string[];
  readonly preprocess: Preprocess;
}

/**
 * Loads the real photos preprocessed for one model: `loadPhotos('mobilenetv2', { samples: 8,
 * seed: 1 })`, or with a (possibly modified) descriptor from preprocess.ts. A subset is chosen by
 * a seeded permutation of the sorted file list and then kept in file order, so `samples: k, seed:
 * s` names the same photos everywhere.
 */
export function loadPhotos(preprocess: Preprocess | PreprocessName, opts: PhotoOptions = {}): PhotoSet {
  const p = typeof preprocess === 'string' ? getPreprocess(preprocess) : preprocess;
  if (p.mean.length < p.channels || p.std.length < p.channels) {
    throw new DatasetError(`preprocessing '${p.model}': mean/std need one value per channel (${p.channels})`);
  }
  const listed = listPhotos(opts.sources);
  const all = opts.split === undefined ? listed : listed.filter((_, i) => (i % 2 === 1) === (opts.split === 'calib'));
  let chosen = all;
  if (opts.samples !== undefined) {
    const k = opts.samples;
    if (!Number.isInteger(k) || k < 1 || k > all.length) {
      throw new UsageError(`asked for ${k} photos; the real-photo set${opts.split ? `'s ${opts.split} split` : ''} has ${all.length} (1..${all.length})`);
    }
    const perm = new Prng(opts.seed ?? 0).permutation(all.length).subarray(0, k);
    perm.sort();
    chosen = Array.from(perm, (i) => all[i]);
  }
  const per = p.channels * p.height * p.width;
  const images = new Float32Array(chosen.length * per);
  let scratch: Float64Array | undefined;
  chosen.forEach((f, i) => {
    scratch = preprocessInto(decodePhoto(f.path), p, images, i * per, scratch);
  });
  return {
    images,
    count: chosen.length,
    shape: [p.channels, p.height, p.width],
    files: chosen.map((f) => f.path),
    ids: chosen.map((f) => f.id),
    preprocess: p,
  };
}
