/**
 * The integer-only (`fixed`) modes of sim/qops.ts against TFLite's reference kernels written out
 * here with BigInt arithmetic (tensorflow/lite/kernels/add.cc Prepare + reference_integer_ops Add;
 * reference_ops AveragePool; the multiplier form for rescaling), with independent index
 * arithmetic for broadcasting and pooling windows. quantizeMultiplier itself is checked against
 * BigInt in test/property/fixed-point-vs-bigint.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import type { QParams } from '../../../qnet/network.js';
import { buildLut } from '../../../qnet/lut.js';
import { qlinearAdd, qlinearAveragePool, qlinearConcat, qlinearGlobalAveragePool, qlinearSigmoid, type QTensorView } from '../../../sim/qops.js';
import { quantizeMultiplier, type FixedRounding } from '../../../qnet/requant.js';

const I32MIN = -(2n ** 31n);
const I32MAX = 2n ** 31n - 1n;

function mbqm(x: number, m0: number, shift: number, rounding: FixedRounding, bits: number): number {
  const X = BigInt(x) < I32MIN ? I32MIN : BigInt(x) > I32MAX ? I32MAX : BigInt(x);
  const m = BigInt(m0) << BigInt(32 - bits);
  if (rounding === 'single') {
    const ts = BigInt(31 - shift);
    return Number((X * m + (1n << (ts - 1n))) >> ts);
  }
  const xs = BigInt.asIntN(32, X << BigInt(Math.max(shift, 0)));
  let h: bigint;
  if (xs === I32MIN && m === I32MIN) h = I32MAX;
  else {
    const ab = xs * m;
    h = (ab + (ab >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n);
  }
  const e = BigInt(Math.max(-shift, 0));
  const mask = (1n << e) - 1n;
  const threshold = (mask >> 1n) + (h < 0n ? 1n : 0n);
  return Number((h >> e) + ((h & mask) > threshold ? 1n : 0n));
}

function q(scale: number, zp: number, signed = true): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits: 8, signed, narrow: false };
}

const cfgArb = fc.record({
  mode: fc.constant('fixed' as const),
  multiplierBits: fc.constantFrom(32, 24, 16),
  rounding: fc.constantFrom<FixedRounding>('double', 'single'),
});

function codes(rng: Prng, n: number, signed: boolean): Int32Array {
  return Int32Array.from({ length: n }, () => (signed ? -128 : 0) + rng.int(256));
}

const lsArb = fc.double({ min: -6, max: 0, noNaN: true });

describe('qlinearAdd, fixed mode', () => {
  it('equals TFLite integer Add (left shift 20, per-input multipliers) with broadcasting, small tensors and ones large enough for the SIMD path', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        lsArb,
        lsArb,
        lsArb,
        cfgArb,
        fc.boolean(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (shape, ones, l1, l2, l3, cfg, signed, seed) => {
          const rng = new Prng(seed);
          const bShape = shape.map((d, i) => (ones[i] ? 1 : d));
          const lo = signed ? -128 : 0;
          const [sa, sb, sc] = [l1, l2, l3].map((l) => Math.fround(Math.exp(l)));
          const [za, zb, zc] = [0, 1, 2].map(() => lo + rng.int(256));
          const a: QTensorView = { data: codes(rng, shape.reduce((p, d) => p * d, 1), signed), shape, q: q(sa, za, signed) };
          const b: QTensorView = { data: codes(rng, bShape.reduce((p, d) => p * d, 1), signed), shape: bShape, q: q(sb, zb, signed) };
          const ours = qlinearAdd(a, b, q(sc, zc, signed), cfg);
          // TFLite Prepare (doubles), then the per-element integer pipeline
          const twiceMax = 2 * Math.max(sa, sb);
          const m1 = quantizeMultiplier(sa / twiceMax, cfg.multiplierBits, cfg.rounding);
          const m2 = quantizeMultiplier(sb / twiceMax, cfg.multiplierBits, cfg.rounding);
          const mo = quantizeMultiplier(twiceMax / (2 ** 20 * sc), cfg.multiplierBits, cfg.rounding);
          const n = ours.data.length;
          for (let i = 0; i < n; i++) {
            // unravel i, then ravel into b with broadcast dims pinned to 0
            let rem = i;
            let bi = 0;
            let bStride = 1;
            for (let d = shape.length - 1; d >= 0; d--) {
              const idx = rem % shape[d];
              rem = Math.floor(rem / shape[d]);
              bi += (bShape[d] === 1 ? 0 : idx) * bStride;
              bStride *= bShape[d];
            }
            const x1 = mbqm((a.data[i] - za) * 2 ** 20, m1.m0, m1.shift, cfg.rounding, cfg.multiplierBits);
            const x2 = mbqm((b.data[bi] - zb) * 2 ** 20, m2.m0, m2.shift, cfg.rounding, cfg.multiplierBits);
            const raw = mbqm(x1 + x2, mo.m0, mo.shift, cfg.rounding, cfg.multiplierBits) + zc;
            expect(ours.data[i]).toEqual(Math.min(lo + 255, Math.max(lo, raw)));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stays within one code of the float (ORT) mode, and a fused clamp clamps', () => {
    fc.assert(
      fc.property(lsArb, lsArb, fc.double({ min: -4, max: 0, noNaN: true }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (l1, l2, l3, seed) => {
        const rng = new Prng(seed);
        const a: QTensorView = { data: codes(rng, 64, true), shape: [64], q: q(Math.fround(Math.exp(l1)), rng.int(256) - 128) };
        const b: QTensorView = { data: codes(rng, 64, true), shape: [64], q: q(Math.fround(Math.exp(l2)), rng.int(256) - 128) };
        const yq = q(Math.fround(Math.exp(l3)), rng.int(256) - 128);
        const fx = qlinearAdd(a, b, yq, { mode: 'fixed' }).data;
        const fl = qlinearAdd(a, b, yq, { mode: 'float' }).data;
        for (let i = 0; i < 64; i++) expect(Math.abs(fx[i] - fl[i])).toBeLessThanOrEqual(1);
        const act = { kind: 'clamp', fn: 'clip', lo: -10, hi: 20 } as const;
        const cl = qlinearAdd(a, b, yq, { mode: 'float' }, act).data;
        expect(Array.from(cl)).toEqual(Array.from(fl, (v) => Math.min(20, Math.max(-10, v))));
      }),
      { numRuns: 100 },
    );
  });
});

describe('qlinearConcat, fixed mode', () => {
  it('copies equal-parameter inputs and rescales others by the multiplier sx/sy', () => {
    fc.assert(
      fc.property(lsArb, fc.array(fc.tuple(lsArb, fc.boolean(), fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 4 }), cfgArb, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (ly, ins, cfg, seed) => {
        const rng = new Prng(seed);
        const yq = q(Math.fround(Math.exp(ly)), rng.int(256) - 128);
        const inputs: QTensorView[] = ins.map(([l, same, w]) => ({
          data: codes(rng, 2 * w * 3, true),
          shape: [2, w, 3],
          q: same ? yq : q(Math.fround(Math.exp(l)), rng.int(256) - 128),
        }));
        const ours = qlinearConcat(inputs, 1, yq, cfg);
        const total = ins.reduce((s, [, , w]) => s + w, 0);
        expect(ours.shape).toEqual([2, total, 3]);
        let off = 0;
        for (const t of inputs) {
          const w = t.shape[1];
          const m = quantizeMultiplier(t.q.scale[0] / yq.scale[0], cfg.multiplierBits, cfg.rounding);
          const same = t.q === yq;
          for (let o = 0; o < 2; o++) {
            for (let j = 0; j < w * 3; j++) {
              const x = t.data[o * w * 3 + j];
              const ref = same ? x : Math.min(127, Math.max(-128, mbqm(x - t.q.zeroPoint[0], m.m0, m.shift, cfg.rounding, cfg.multiplierBits) + yq.zeroPoint[0]));
              expect(ours.data[o * total * 3 + off * 3 + j]).toEqual(ref);
            }
          }
          off += w;
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('average pools, fixed mode', () => {
  /** TFLite reference AveragePool: Σ raw codes, round half away by integer division */
  const tfliteAvg = (sum: number, count: number): number => {
    const half = Math.trunc(count / 2);
    return (sum > 0 ? Math.trunc((sum + half) / count) : Math.trunc((sum - half) / count)) | 0;
  };

  it('shared parameters: TFLite rounding division; different: Σ(q − zx)·M(count) + zy', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        cfgArb,
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        ([h, w], [kh, kw], [sh, sw], p, countIncludePad, same, signed, cfg, seed) => {
          const rng = new Prng(seed);
          const H = Math.max(h, kh);
          const W = Math.max(w, kw);
          const pads = [Math.min(p[0], kh - 1), Math.min(p[1], kw - 1), Math.min(p[2], kh - 1), Math.min(p[3], kw - 1)];
          const lo = signed ? -128 : 0;
          const xq = q(Math.fround(Math.exp(rng.normal() - 3)), lo + rng.int(256), signed);
          const yq = same ? xq : q(Math.fround(Math.exp(rng.normal() - 3)), lo + rng.int(256), signed);
          const x: QTensorView = { data: codes(rng, 2 * H * W, signed), shape: [1, 2, H, W], q: xq };
          const ours = qlinearAveragePool(x, { kernel: [kh, kw], strides: [sh, sw], pads, countIncludePad }, yq, cfg);
          const oh = Math.floor((H + pads[0] + pads[2] - kh) / sh) + 1;
          const ow = Math.floor((W + pads[1] + pads[3] - kw) / sw) + 1;
          expect(ours.shape).toEqual([1, 2, oh, ow]);
          for (let c = 0; c < 2; c++) {
            for (let i = 0; i < oh; i++) {
              for (let j = 0; j < ow; j++) {
                let sum = 0;
                let inside = 0;
                for (let a = 0; a < kh; a++) {
                  for (let b = 0; b < kw; b++) {
                    const r = i * sh - pads[0] + a;
                    const s = j * sw - pads[1] + b;
                    if (r >= 0 && r < H && s >= 0 && s < W) {
                      sum += x.data[(c * H + r) * W + s];
                      inside++;
                    }
                  }
                }
                const count = countIncludePad ? kh * kw : inside;
                const zx = xq.zeroPoint[0];
                let ref: number;
                if (same) ref = tfliteAvg(sum + (count - inside) * zx, count);
                else {
                  const m = quantizeMultiplier(xq.scale[0] / (yq.scale[0] * count), cfg.multiplierBits, cfg.rounding);
                  ref = yq.zeroPoint[0] + mbqm(sum - inside * zx, m.m0, m.shift, cfg.rounding, cfg.multiplierBits);
                }
                expect(ours.data[(c * oh + i) * ow + j]).toEqual(Math.min(lo + 255, Math.max(lo, ref)));
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('global average pool equals the average pool with the whole image as kernel', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), cfgArb, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (h, w, same, cfg, seed) => {
        const rng = new Prng(seed);
        const xq = q(Math.fround(Math.exp(rng.normal() - 3)), rng.int(256) - 128);
        const yq = same ? xq : q(Math.fround(Math.exp(rng.normal() - 3)), rng.int(256) - 128);
        const x: QTensorView = { data: codes(rng, 3 * h * w, true), shape: [1, 3, h, w], q: xq };
        const g = qlinearGlobalAveragePool(x, yq, cfg);
        const a = qlinearAveragePool(x, { kernel: [h, w] }, yq, cfg);
        expect(g.shape).toEqual([1, 3, 1, 1]);
        expect(Array.from(g.data)).toEqual(Array.from(a.data));
      }),
      { numRuns: 100 },
    );
  });
});

describe('qlinearSigmoid, fixed mode', () => {
  it("is the accelerator's LUT (lut.ts), one entry per code", () => {
    const xq = q(0.05, 3);
    const yq = q(1 / 256, -128);
    const x = Int32Array.from({ length: 256 }, (_, i) => i - 128);
    const ours = qlinearSigmoid({ data: x, shape: [256], q: xq }, yq, { mode: 'fixed' });
    expect(Array.from(ours.data)).toEqual(Array.from(buildLut('sigmoid', xq, yq)));
  });
});
