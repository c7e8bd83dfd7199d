/** quant/build.ts: the int32 bias of channels whose weight range is (near) zero. */
import { describe, expect, it } from 'vitest';
import { fitBiasScale, quantizeBias } from '../../../quant/build.js';

describe('fitBiasScale', () => {
  it('a dead channel (all-zero weights, scale at the floor) keeps its bias instead of saturating int32', () => {
    // 2 output channels × 2 weights; channel 1 is dead: range 0 → scale 1e-12, bias 0.5
    const sx = 0.01;
    const w = {
      codes: Int32Array.from([7, -3, 0, 0]),
      q: { scale: Float32Array.from([0.1, 1e-12]), zeroPoint: Int32Array.from([0, 0]), axis: 0, bits: 4, signed: true, narrow: true },
      bias: Float32Array.from([0.25, 0.5]),
    };
    // unfitted, 0.5 / (0.01 · 1e-12) = 5e13 does not fit: the bias would saturate to 2^31 − 1
    expect(quantizeBias(w.bias, sx, w.q.scale)[1]).toEqual(2 ** 31 - 1);
    const f = fitBiasScale(w, sx, [2, 2]);
    const b = quantizeBias(f.bias!, sx, f.q.scale);
    // channel 0 untouched: 0.25 / (0.01 · 0.1) = 250
    expect(f.q.scale[0]).toEqual(Math.fround(0.1));
    expect(Array.from(f.codes)).toEqual([7, -3, 0, 0]);
    expect(b[0]).toEqual(250);
    // channel 1: the bias fits in 2^30 and dequantizes back to 0.5
    expect(Math.abs(b[1])).toBeLessThanOrEqual(2 ** 30);
    expect(Math.abs(b[1] * sx * f.q.scale[1] - 0.5)).toBeLessThan(1e-6);
  });

  it('leaves layers whose biases fit alone (same object back)', () => {
    const w = {
      codes: Int32Array.from([1, 2]),
      q: { scale: Float32Array.from([0.05]), zeroPoint: Int32Array.from([0]), axis: -1, bits: 8, signed: true, narrow: false },
      bias: Float32Array.from([3]),
    };
    expect(fitBiasScale(w, 0.02, [1, 2])).toBe(w);
  });

  it('re-rounds the codes of a fitted asymmetric channel around its zero point', () => {
    // per tensor, z = 8, codes 8 ± 2 at scale 1e-9; the bias needs a scale of 1/(1·2^30) ≈ 9.3e-10… → larger
    const w = {
      codes: Int32Array.from([10, 6, 8]),
      q: { scale: Float32Array.from([1e-10]), zeroPoint: Int32Array.from([8]), axis: -1, bits: 4, signed: false, narrow: false },
      bias: Float32Array.from([1]),
    };
    const f = fitBiasScale(w, 1, [1, 3]);
    const r = 1e-10 / f.q.scale[0];
    expect(f.q.scale[0]).toBeGreaterThanOrEqual(1 / 2 ** 30);
    // (q − z)·r rounds to 0 → codes at the zero point
    expect(r).toBeLessThan(0.25);
    expect(Array.from(f.codes)).toEqual([8, 8, 8]);
  });
});
