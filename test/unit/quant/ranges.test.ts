import { describe, expect, it } from 'vitest';
import type { TensorQuantConfig } from '../../../quant/config.js';
import { fakeQuantize, qparamsFromRange } from '../../../quant/quantizer.js';
import {
  actRangeBn,
  actRangeMinMax,
  actRangeMse,
  actRangePercentile,
  Histogram,
  logitsRangeCe,
  meanCrossEntropy,
  weightRangeMinMax,
  weightRangeMse,
} from '../../../quant/ranges.js';
import { Prng } from '../../../nets/prng.js';

const W4: TensorQuantConfig = { bits: 4, perChannel: false, symmetric: true, signed: true, narrow: true, pow2: false };
const A8: TensorQuantConfig = { bits: 8, perChannel: false, symmetric: false, signed: false, narrow: false, pow2: false };

function sse(x: Float32Array, min: number, max: number, cfg: TensorQuantConfig): number {
  const fq = fakeQuantize(x, qparamsFromRange(min, max, cfg), [x.length]);
  let e = 0;
  for (let i = 0; i < x.length; i++) e += (x[i] - fq[i]) ** 2;
  return e;
}

describe('weight ranges', () => {
  it('min-max per tensor and per output channel', () => {
    const w = Float32Array.of(1, -2, 3, 0.5, -0.25, 0.125);
    const pt = weightRangeMinMax(w, [2, 3], false);
    expect([Array.from(pt.min), Array.from(pt.max)]).toEqual([[-2], [3]]);
    const pc = weightRangeMinMax(w, [2, 3], true);
    expect([Array.from(pc.min), Array.from(pc.max)]).toEqual([
      [-2, -0.25],
      [3, 0.5],
    ]);
  });

  it('MSE finds the known optimum: a bulk on the 4-bit grid of [−1, 1] plus one outlier at 10', () => {
    // 15 000 values exactly on the grid k/7 (k = −7…7) quantize with zero error at the clip 1.0;
    // clipping there costs only the outlier's (10 − 1)² = 81. Any wider clip moves the bulk off
    // the grid (15 000 errors), any narrower one clips it. Candidates α·10, α = k/200, include 1.0.
    const vals: number[] = [];
    for (let i = 0; i < 15000; i++) vals.push(((i % 15) - 7) / 7);
    vals.push(10);
    const w = Float32Array.from(vals);
    const r = weightRangeMse(w, [1, w.length], W4);
    expect(r.max[0]).toBeCloseTo(1, 10);
    expect(r.min[0]).toBeCloseTo(-0.1, 10); // min −1 scaled by the same α = 1/10 (symmetric grid)
    // the search's optimum beats min-max by far, and its neighbours on the grid
    const best = sse(w, -1, 1, W4);
    expect(best).toBeCloseTo(81, 3);
    expect(sse(w, -1, 10, W4)).toBeGreaterThan(10 * best);
    expect(sse(w, -1.05, 1.05, W4)).toBeGreaterThan(best);
    expect(sse(w, -0.95, 0.95, W4)).toBeGreaterThan(best);
  });

  it('MSE per channel picks each channel its own clip', () => {
    const per = 15001;
    const w = new Float32Array(2 * per);
    for (let i = 0; i < per - 1; i++) {
      w[i] = ((i % 15) - 7) / 7; // channel 0: grid of [−1, 1] + outlier 10
      w[per + i] = (((i % 15) - 7) / 7) * 0.5; // channel 1: grid of [−0.5, 0.5], no outlier
    }
    w[per - 1] = 10;
    w[2 * per - 1] = 0.5;
    const r = weightRangeMse(w, [2, per], { ...W4, perChannel: true });
    expect(r.max[0]).toBeCloseTo(1, 10);
    expect(r.max[1]).toBeCloseTo(0.5, 10);
  });
});

describe('activation histograms and ranges', () => {
  it('the histogram keeps every count while its range grows both ways', () => {
    const h = new Histogram(64);
    h.add(Float32Array.of(0, 1, 2));
    h.add(Float32Array.of(-50, 300));
    h.add(Float32Array.of(1e4));
    expect(h.total).toBe(6);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(6);
    expect([h.min, h.max]).toEqual([-50, 1e4]);
    // every value lies in its bin
    for (const v of [-50, 0, 1, 2, 300, 1e4]) {
      const b = Math.floor((v - h.lo) / h.width);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(64);
      expect(h.counts[b]).toBeGreaterThan(0);
    }
  });

  it('min-max and percentile', () => {
    const h = new Histogram(1000);
    // 0…999 uniform: the 99th percentile is ≈ 990 (one bin of error)
    h.add(Float32Array.from({ length: 1000 }, (_, i) => i));
    expect(actRangeMinMax(h)).toEqual({ min: 0, max: 999 });
    const p = actRangePercentile(h, 99);
    expect(p.min).toBe(0); // one-sided: keeps the exact 0
    expect(Math.abs(p.max - 990)).toBeLessThan(2.5);
  });

  it('MSE clips a long tail: Gaussian bulk with rare outliers', () => {
    const rng = new Prng(7);
    const x = new Float32Array(100000);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    for (let i = 0; i < 10; i++) x[i] = 40 + i; // 0.01 % outliers far out
    const h = new Histogram();
    h.add(x);
    const r = actRangeMse(h, { ...A8, bits: 4 });
    expect(r.max).toBeLessThan(10);
    expect(r.max).toBeGreaterThan(2);
    // it is better than min-max on the real data
    expect(sse(x, r.min, r.max, { ...A8, bits: 4 })).toBeLessThan(sse(x, h.min, h.max, { ...A8, bits: 4 }));
  });

  it('BN-based: β ± 6γ, clipped by ReLU / ReLU6', () => {
    const bn = { gamma: Float32Array.of(1, 0.5), beta: Float32Array.of(2, -1) };
    expect(actRangeBn(bn, 'none')).toEqual({ min: -4, max: 8 });
    expect(actRangeBn(bn, 'relu')).toEqual({ min: 0, max: 8 });
    expect(actRangeBn(bn, 'relu6')).toEqual({ min: 0, max: 6 });
  });

  it('cross-entropy of identical logits is the entropy; CE range keeps the argmax-relevant part', () => {
    // hand value: logits (0, ln 3) → p = (1/4, 3/4), H = −(¼ ln ¼ + ¾ ln ¾)
    const l = Float32Array.of(0, Math.log(3));
    expect(meanCrossEntropy(l, l, 2)).toBeCloseTo(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), 6);
    const rng = new Prng(3);
    const classes = 10;
    const logits = new Float32Array(500 * classes);
    for (let i = 0; i < logits.length; i++) logits[i] = rng.normal() * 3;
    logits[0] = 80; // one outlier logit
    const r = logitsRangeCe(logits, classes, { ...A8, bits: 4 });
    expect(r.max).toBeLessThan(80);
    const ce = (min: number, max: number) => meanCrossEntropy(logits, fakeQuantize(logits, qparamsFromRange(min, max, { ...A8, bits: 4 }), [logits.length]), classes);
    expect(ce(r.min, r.max)).toBeLessThan(ce(Math.min(...logits), 80));
  });

  it('the cross-entropy with the reference softmax precomputed equals the textbook loop bit for bit', () => {
    const rng = new Prng(8);
    const classes = 37;
    const ref = Float32Array.from({ length: 60 * classes }, () => rng.normal() * 4);
    const x = Float32Array.from(ref, (v) => Math.fround(Math.round(v * 3) / 3));
    // −Σ_j p_j·log q_j per row, everything inline (max-shifted exps, log-sum-exp of x)
    let total = 0;
    for (let o = 0; o < ref.length; o += classes) {
      const row = Array.from(ref.subarray(o, o + classes));
      const xr = Array.from(x.subarray(o, o + classes));
      const mr = Math.max(...row);
      const mx = Math.max(...xr);
      let zr = 0;
      let zx = 0;
      for (let j = 0; j < classes; j++) {
        zr += Math.exp(row[j] - mr);
        zx += Math.exp(xr[j] - mx);
      }
      let ce = 0;
      for (let j = 0; j < classes; j++) ce -= (Math.exp(row[j] - mr) / zr) * (xr[j] - mx - Math.log(zx));
      total += ce;
    }
    expect(Object.is(meanCrossEntropy(ref, x, classes), total / 60)).toBe(true);
  });
});
