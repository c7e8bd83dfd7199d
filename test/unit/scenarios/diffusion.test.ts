/**
 * The diffusion study's parts that are not the model: which trajectory inputs each calibration
 * strategy keeps (worked out by hand on trajectories whose values encode step and sample), the
 * strategies' parser, the sample grid's pixels read back from the PNG, and the quality report on
 * real digits (the test split against itself: FID 0; mnist-mlp's confidence and histogram).
 */
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { DDPM_SPECS, noiseSchedule } from '../../../nets/zoo/ddpm-spec.js';
import { calibrationSet, imageQuality, parseCalibStrategy, sampleGridPng, type DdpmModel, type Trajectories } from '../../../scenarios/diffusion.js';

const spec = DDPM_SPECS['mnist-ddpm'];
// the graph is not needed to pick calibration inputs
const model = { name: 'mnist-ddpm', spec, alphaBar: noiseSchedule(spec).alphaBar, per: 4, graph: undefined } as unknown as DdpmModel;

/** 8 steps × 6 trajectories, per = 4, x = 100·step + sample */
function trajectories(): Trajectories {
  const steps = 8;
  const count = 6;
  const x = new Float32Array(steps * count * 4);
  for (let k = 0; k < steps; k++) for (let i = 0; i < count; i++) x.fill(100 * k + i, (k * count + i) * 4, (k * count + i + 1) * 4);
  return { steps, count, ts: [875, 750, 625, 500, 375, 250, 125, 0], x };
}

const picks = (c: ReturnType<typeof calibrationSet>) => Array.from({ length: c.count }, (_, i) => [Math.floor(c.images[i * 4] / 100), c.images[i * 4] % 100, c.side!.t.data[i]]);

describe('calibration strategies over FP32 trajectories', () => {
  it('single:3 keeps every trajectory at step 3 (t = 500)', () => {
    const c = calibrationSet(model, trajectories(), { kind: 'single', step: 3 });
    expect(picks(c)).toEqual([0, 1, 2, 3, 4, 5].map((i) => [3, i, 500]));
    expect(c.stepsUsed).toEqual([3]);
    expect(c.side!.t.shape).toEqual([1]);
  });

  it('last spreads over the last quarter (steps 6, 7 of 8: t = 125, 0)', () => {
    const c = calibrationSet(model, trajectories(), { kind: 'last' });
    expect(picks(c)).toEqual([
      [6, 0, 125],
      [7, 1, 0],
      [6, 2, 125],
      [7, 3, 0],
      [6, 4, 125],
      [7, 5, 0],
    ]);
  });

  it('uniform takes trajectory i at step i mod S', () => {
    const c = calibrationSet(model, trajectories(), { kind: 'uniform' });
    expect(picks(c)).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, i, [875, 750, 625, 500, 375, 250][i]]));
    expect(c.stepsUsed).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('parses single[:STEP], last, uniform and refuses the rest by name', () => {
    expect(parseCalibStrategy('single', 20)).toEqual({ kind: 'single', step: 10 });
    expect(parseCalibStrategy('single:19', 20)).toEqual({ kind: 'single', step: 19 });
    expect(parseCalibStrategy('last', 20)).toEqual({ kind: 'last' });
    expect(() => parseCalibStrategy('single:20', 20)).toThrow(/steps 0…19/);
    expect(() => parseCalibStrategy('middle', 20)).toThrow(/'middle' is not a calibration strategy/);
  });
});

describe('sample grid', () => {
  it('puts image i at row ⌊i/cols⌋, column i mod cols, enlarged, grey levels as 255·v', async () => {
    const n = 3;
    const px = new Float32Array(n * 28 * 28);
    // image 2, pixel (y 5, x 7) = 0.5; image 0, pixel (0, 0) = 1
    px[2 * 784 + 5 * 28 + 7] = 0.5;
    px[0] = 1;
    const png = sampleGridPng(px, n, [1, 28, 28], 2, 2);
    const img = await loadImage(png);
    // 2 columns of 56 px + gaps of 2: width 2 + 2·58 = 118; 2 rows
    expect([img.width, img.height]).toEqual([118, 118]);
    const c = createCanvas(img.width, img.height);
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const at = (x: number, y: number) => ctx.getImageData(x, y, 1, 1).data[0];
    expect(at(2, 2)).toBe(255);
    expect(at(3, 3)).toBe(255);
    expect(at(4, 2)).toBe(0);
    // image 2: row 1, column 0 → origin (2, 60); pixel (7, 5) enlarged ×2 → (16, 70)
    expect(at(2 + 14, 60 + 10)).toBe(128);
    expect(at(2 + 15, 60 + 11)).toBe(128);
    // the gap is white
    expect(at(0, 0)).toBe(255);
  });
});

describe('quality report', () => {
  it('real test digits against themselves: FID 0, mnist-mlp confident, every class present', () => {
    const test = loadDataset('mnist', 'test');
    const q = imageQuality(test.images, test.count);
    expect(q.fid).toBeLessThan(1e-6);
    expect(q.meanConfidence).toBeGreaterThan(0.9);
    expect(q.classHistogram.reduce((a, b) => a + b, 0)).toBe(test.count);
    // the split's own label counts, within mnist-mlp's 2.9 % error
    const labels = new Array<number>(10).fill(0);
    for (const l of test.labels) labels[l]++;
    q.classHistogram.forEach((h, d) => expect(Math.abs(h - labels[d])).toBeLessThan(0.1 * labels[d]));
  });

  it('blank images are far from digits', () => {
    const q = imageQuality(new Float32Array(50 * 784), 50);
    expect(q.fid).toBeGreaterThan(50);
  });
});
