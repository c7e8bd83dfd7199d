import { describe, expect, it } from 'vitest';
import type { TensorQuantConfig } from '../../../quant/config.js';
import { dequantizeArray, fakeQuantize, qparamsFromRanges, quantizeArray, scaleZeroFromRange } from '../../../quant/quantizer.js';

const cfg = (o: Partial<TensorQuantConfig>): TensorQuantConfig => ({ bits: 8, perChannel: false, symmetric: true, signed: true, narrow: true, pow2: false, ...o });

describe('quantizer: scale / zero point from a range', () => {
  it('symmetric signed: s = max|x| / 127 (narrow and full alike), z = 0', () => {
    expect(scaleZeroFromRange(-2, 1.27, cfg({}))).toEqual({ scale: Math.fround(2 / 127), zeroPoint: 0 });
    expect(scaleZeroFromRange(-0.5, 1.27, cfg({ narrow: false }))).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
    // 4 bits: 7 positive levels
    expect(scaleZeroFromRange(-0.7, 0.7, cfg({ bits: 4 })).scale).toBe(Math.fround(0.1));
  });

  it('asymmetric unsigned: s = (max − min)/255, z = −round(min/s); a range from 0 gets z = qmin', () => {
    // [−1, 1.55]: s = 2.55/255 = 0.01, z = 100
    expect(scaleZeroFromRange(-1, 1.55, cfg({ symmetric: false, signed: false, narrow: false }))).toEqual({ scale: Math.fround(0.01), zeroPoint: 100 });
    // ReLU output [0, 5.1]: s = 0.02, z = 0 (qmin)
    expect(scaleZeroFromRange(0, 5.1, cfg({ symmetric: false, signed: false, narrow: false }))).toEqual({ scale: Math.fround(0.02), zeroPoint: 0 });
    // signed asymmetric, range from 0: z = −128 (qmin)
    expect(scaleZeroFromRange(0, 5.1, cfg({ symmetric: false, signed: true, narrow: false })).zeroPoint).toBe(-128);
    // a range not containing 0 is widened to contain it
    expect(scaleZeroFromRange(1, 2.55, cfg({ symmetric: false, signed: false, narrow: false }))).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
  });

  it('narrow unsigned: 0…254', () => {
    expect(scaleZeroFromRange(0, 2.54, cfg({ symmetric: false, signed: false, narrow: true })).scale).toBe(Math.fround(0.01));
  });

  it('pow2 rounds the scale UP to a power of two so the range still fits', () => {
    // 1/127 = 0.00787 → 2^-6 = 0.015625; 0.5/127 = 0.003937 → 2^-7
    expect(scaleZeroFromRange(-1, 1, cfg({ pow2: true })).scale).toBe(2 ** -6);
    expect(scaleZeroFromRange(-0.5, 0.5, cfg({ pow2: true })).scale).toBe(2 ** -7);
    // exactly a power of two stays
    expect(scaleZeroFromRange(-127 / 64, 127 / 64, cfg({ pow2: true })).scale).toBe(2 ** -6);
    const sz = scaleZeroFromRange(-3, 7, cfg({ pow2: true, symmetric: false, signed: false, narrow: false }));
    expect(Number.isInteger(Math.log2(sz.scale))).toBe(true);
    expect(sz.scale * (255 - sz.zeroPoint)).toBeGreaterThanOrEqual(7 - sz.scale / 2);
    expect(sz.scale * (0 - sz.zeroPoint)).toBeLessThanOrEqual(-3 + sz.scale / 2);
  });

  it('a zero range still gets a positive scale', () => {
    const sz = scaleZeroFromRange(0, 0, cfg({}));
    expect(sz.scale).toBeGreaterThan(0);
    expect(sz.zeroPoint).toBe(0);
  });

  it('per channel along axis 0: one scale per output channel', () => {
    const q = qparamsFromRanges([-1.27, -0.127], [0.5, 0.1], cfg({ perChannel: true }), 0);
    expect(Array.from(q.scale)).toEqual([Math.fround(0.01), Math.fround(0.001)]);
    expect(q.axis).toBe(0);
    const w = Float32Array.of(0.5, -1.27, 0.1, -0.127);
    const codes = quantizeArray(w, q, [2, 2]);
    expect(Array.from(codes)).toEqual([50, -127, 100, -127]);
    const back = dequantizeArray(codes, q, [2, 2]);
    expect(back[0]).toBeCloseTo(0.5, 6);
    expect(back[3]).toBeCloseTo(-0.127, 6);
  });
});

describe('quantize / dequantize', () => {
  it('rounds half to even and clamps to the restricted range (ONNX QuantizeLinear)', () => {
    // max|x| = 63.5 → s = 0.5 exactly: 0.25 → 0.5 → 0, 0.75 → 1.5 → 2, 1.25 → 2.5 → 2, −0.75 → −2
    const q = qparamsFromRanges([-63.5], [63.5], cfg({}));
    expect(q.scale[0]).toBe(0.5);
    const codes = quantizeArray(Float32Array.of(0.25, 0.75, 1.25, -0.75, 100, -100), q, [6]);
    expect(Array.from(codes)).toEqual([0, 2, 2, -2, 127, -127]);
  });

  it('fakeQuantize equals dequantize(quantize(x)) per tensor and per channel', () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 3)));
    const pt = qparamsFromRanges([-3], [3], cfg({ bits: 4 }));
    expect(Array.from(fakeQuantize(x, pt, [24]))).toEqual(Array.from(dequantizeArray(quantizeArray(x, pt, [24]), pt, [24])));
    const pc = qparamsFromRanges([-1, -2, -3], [1, 2, 3], cfg({ perChannel: true, bits: 5 }), 0);
    expect(Array.from(fakeQuantize(x, pc, [3, 8]))).toEqual(Array.from(dequantizeArray(quantizeArray(x, pc, [3, 8]), pc, [3, 8])));
  });
});
