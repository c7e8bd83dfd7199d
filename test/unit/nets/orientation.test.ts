/**
 * The `orientation` data set (nets/data/orientation.ts) and the Wilson interval (nets/eval.ts):
 * determinism, disjoint splits, label balance, ppocr-cls's preprocessing, and ppocr-cls's FP32
 * accuracy on a seeded test subset (labels in the classifier's own class order).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../../nets/errors.js';
import { evaluateTop1, wilsonInterval } from '../../../nets/eval.js';
import { loadDataset } from '../../../nets/data/index.js';
import {
  loadOrientation,
  ORIENTATION_CLASSES,
  ORIENTATION_SIZES,
  orientationImage,
  orientationOverlap,
  orientationSample,
  readsSameTurned,
  sampleSeed,
  splitWords,
} from '../../../nets/data/orientation.js';
import { getPreprocess } from '../../../nets/data/preprocess.js';
import { Prng } from '../../../nets/prng.js';
import { checkFonts, loadWords, rotate180 } from '../../../nets/data/textlines.js';
import { listModels, loadModel } from '../../../nets/zoo/index.js';

const sha = (b: ArrayBufferView): string => createHash('sha256').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex');
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('wilsonInterval (95 %)', () => {
  it('8/13: 35.5–82.3 % (by hand: centre 0.58906, half-width 0.23384)', () => {
    const { lo, hi } = wilsonInterval(8, 13);
    expect(lo).toBeCloseTo(0.35522, 4);
    expect(hi).toBeCloseTo(0.82290, 4);
  });

  it("Newcombe (1998), Table II, method 3: 81/263, 15/148, 0/20, 1/29", () => {
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, lo, hi] of cases) {
      const r = wilsonInterval(k, n);
      expect(r.lo, `${k}/${n} lo`).toBeCloseTo(lo, 4);
      expect(r.hi, `${k}/${n} hi`).toBeCloseTo(hi, 4);
    }
  });

  it('is [0, 1]-bounded, contains p̂, and rejects impossible counts', () => {
    expect(wilsonInterval(20, 20).hi).toBe(1);
    expect(wilsonInterval(0, 5).lo).toBe(0);
    const r = wilsonInterval(1960, 2000);
    expect(r.lo).toBeLessThan(0.98);
    expect(r.hi).toBeGreaterThan(0.98);
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(1, 0)).toThrow(RangeError);
  });
});

describe('orientation: construction', () => {
  it('labels are ppocr-cls classes: 0 = upright, 1 = turned by 180°', () => {
    expect(ORIENTATION_CLASSES).toEqual(['0', '180']);
    expect(listModels().find((m) => m.name === 'ppocr-cls')?.dataset).toBe('orientation');
  });

  it('the sample styles are pinned by the seed (hash of the first 64 of each split)', () => {
    // pure PRNG + wamerican's word list: the same on every machine (the pixels are Skia's, below)
    const plan = (split: 'train' | 'test'): string => createHash('sha256').update(JSON.stringify(range(64).map((i) => orientationSample(split, i)))).digest('hex');
    expect(orientationSample('test', 3)).toEqual(orientationSample('test', 3));
    expect({ train: plan('train').slice(0, 16), test: plan('test').slice(0, 16) }).toMatchInlineSnapshot(`
      {
        "test": "0909e10f9f033370",
        "train": "c3c79d77b846256a",
      }
    `);
  });

  it('same indices → same bytes; a subset renders exactly the samples the full split holds there', () => {
    const a = loadDataset('orientation', 'test', { samples: 12, seed: 5 });
    const b = loadDataset('orientation', 'test', { samples: 12, seed: 5 });
    expect(sha(a.images)).toBe(sha(b.images));
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    // the subset rule of every dataset: first k of Prng(seed).permutation(count), in file order;
    // rendering only those indices gives what the full split holds there
    const idx = new Prng(5).permutation(ORIENTATION_SIZES.test).subarray(0, 12).sort();
    const direct = loadOrientation('test', idx);
    expect(sha(direct.images)).toBe(sha(a.images));
    const other = loadDataset('orientation', 'test', { samples: 12, seed: 6 });
    expect(sha(other.images)).not.toBe(sha(a.images));
  });

  it('splits are disjoint: separate PRNG streams, separate words, no text in both', () => {
    const seeds = (split: 'train' | 'test'): Set<number> => new Set(range(ORIENTATION_SIZES[split]).map((i) => sampleSeed(split, i)));
    const train = seeds('train');
    const test = seeds('test');
    expect(train.size).toBe(ORIENTATION_SIZES.train);
    expect(test.size).toBe(ORIENTATION_SIZES.test);
    for (const s of test) expect(train.has(s)).toBe(false);
    const trainWords = new Set(splitWords('train').map((w) => w.toLowerCase()));
    expect(splitWords('test').some((w) => trainWords.has(w.toLowerCase()))).toBe(false);
    expect(trainWords.size).toBeGreaterThan(5000);
    expect(orientationOverlap()).toEqual([]);
  });

  it('sizes meet the protocol (train ≥ 256 for calibration, test ≥ 2,000) and each split is exactly half turned', () => {
    expect(ORIENTATION_SIZES.train).toBeGreaterThanOrEqual(256);
    expect(ORIENTATION_SIZES.test).toBeGreaterThanOrEqual(2000);
    for (const split of ['train', 'test'] as const) {
      const turned = range(ORIENTATION_SIZES[split]).filter((i) => orientationSample(split, i).label === 1).length;
      expect(turned * 2).toBe(ORIENTATION_SIZES[split]);
    }
    const sub = loadDataset('orientation', 'train', { samples: 64, seed: 2 });
    const ones = sub.labels.reduce((a, b) => a + b, 0);
    expect(ones).toBeGreaterThan(16);
    expect(ones).toBeLessThan(48);
  });

  it('no line reads the same turned by 180° (those are undecidable)', () => {
    expect(readsSameTurned('SOS')).toBe(true);
    expect(readsSameTurned('suns')).toBe(true);
    expect(readsSameTurned('pod')).toBe(true);
    expect(readsSameTurned('dog')).toBe(false);
    expect(range(500).some((i) => readsSameTurned(orientationSample('test', i).text))).toBe(false);
  });

  it('a missing word list or font is a DatasetError naming the Debian package', () => {
    expect(() => loadWords('/nonexistent/words')).toThrow(DatasetError);
    expect(() => loadWords('/nonexistent/words')).toThrow(/wamerican/);
    const fake = [{ id: 'x', file: '/nonexistent/NotoSans-Regular.ttf', pkg: 'fonts-noto-core' }];
    expect(() => checkFonts(fake)).toThrow(DatasetError);
    expect(() => checkFonts(fake)).toThrow(/apt-get install -y fonts-noto-core/);
  });
});

describe('orientation: ppocr-cls preprocessing', () => {
  it('[3, 48, 192], BGR, height 48 keeping the aspect, (x/255 − 0.5)/0.5, zero right padding', () => {
    const p = getPreprocess('ppocr-cls');
    // a short word (padding on the right) and the turned sample after it
    const i = range(200).find((j) => j % 2 === 0 && orientationSample('test', j).text.length <= 6)!;
    const set = loadOrientation('test', [i, i + 1]);
    expect(set.shape).toEqual([3, 48, 192]);
    expect(set.images.length).toBe(2 * 3 * 48 * 192);
    expect(Array.from(set.labels)).toEqual([0, 1]);
    const img = orientationImage(orientationSample('test', i));
    const rw = Math.min(192, Math.ceil((48 * img.width) / img.height));
    expect(rw).toBeLessThan(192);
    const plane = 48 * 192;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 48; y++) for (let x = rw; x < 192; x++) expect(set.images[c * plane + y * 192 + x]).toBe(0);
    let min = Infinity;
    let max = -Infinity;
    for (const v of set.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(1); // ink and paper
    // channel 0 is blue: the mean over the resized area, against the source image's blue mean
    const mean = (c: number): number => {
      let s = 0;
      for (let y = 0; y < 48; y++) for (let x = 0; x < rw; x++) s += set.images[c * plane + y * 192 + x];
      return s / (48 * rw);
    };
    const srcMean = (c: number): number => {
      let s = 0;
      for (let k = c; k < img.data.length; k += 3) s += img.data[k];
      return (s / (img.data.length / 3) / 255 - p.mean[0]) / p.std[0];
    };
    for (const [model, rgb] of [[0, 2], [1, 1], [2, 0]]) expect(mean(model)).toBeCloseTo(srcMean(rgb), 1);
  });

  it('a turned sample is its upright rendering turned by 180°', () => {
    const s = orientationSample('test', 1);
    expect(s.label).toBe(1);
    const turned = orientationImage(s);
    const upright = orientationImage({ ...s, label: 0 });
    expect(sha(rotate180(upright).data)).toBe(sha(turned.data));
  });
});

describe('orientation: ppocr-cls FP32 accuracy', () => {
  it('≥ 93 % on 96 seeded test lines (full test split: see nets/data/orientation.ts)', () => {
    const { graph } = loadModel('ppocr-cls');
    const set = loadDataset('orientation', 'test', { samples: 96, seed: 11 });
    const res = evaluateTop1(graph, set, { batch: 48 });
    expect(res.top1).toBeGreaterThanOrEqual(0.93);
    // both classes are recognized (a swapped class order would give ≈ 2 %)
    for (const label of [0, 1]) {
      const idx = range(set.count).filter((i) => set.labels[i] === label);
      expect(idx.filter((i) => res.predictions[i] === label).length / idx.length).toBeGreaterThan(0.85);
    }
  });
});
