/**
 * Fixed-point requantization (qnet/requant.ts) against BigInt implementations of gemmlowp /
 * TFLite written here from their definitions:
 * - SaturatingRoundingDoublingHighMul: (a·b + (a·b ≥ 0 ? 2^30 : 1 − 2^30)) / 2^31 truncated,
 *   INT32_MIN·INT32_MIN → INT32_MAX (gemmlowp fixedpoint.h);
 * - RoundingDivideByPOT: x >> e, +1 when the low bits exceed mask/2 (+1 for negative x) —
 *   round half away from zero;
 * - MultiplyByQuantizedMultiplier: double rounding (left shift as a wrapping int32 multiply), or
 *   TFLITE_SINGLE_ROUNDING (x·m + 2^(30−shift)) >> (31 − shift);
 * - QuantizeMultiplier: frexp, round(q·2^31) half away, q = 2^31 → 2^30 and shift + 1, shift < −31
 *   flushed to 0, single rounding saturating shift > 30 — here on the exact binary expansion of
 *   the double, generalised to a `bits`-wide multiplier.
 * At least 500 runs per property, edges (INT32_MIN, ties, every shift) mixed in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { I32MAX, I32MIN, mbqmRef, rdbpotRef, sat32, srdhmRef } from '../helpers/fixed-point-ref.js';
import {
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  requantize,
  requantParams,
  roundingDivideByPOT,
  srdhm,
  type FixedRounding,
} from '../../qnet/requant.js';

const RUNS = { numRuns: 600 };

/** QuantizeMultiplier on the exact binary expansion of the double. */
function quantizeMultiplierRef(m: number, bits: number, rounding: FixedRounding): { m0: number; shift: number } {
  if (m === 0) return { m0: 0, shift: 0 };
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, m);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (bexp === 0) {
    e2 = -1074;
  } else {
    mant |= 1n << 52n;
    e2 = bexp - 1075;
  }
  const bl = mant.toString(2).length; // m = mant·2^e2, frexp exponent = bl + e2
  let e = bl + e2;
  const sh = bits - 1 - bl; // q·2^(bits−1) = mant·2^sh
  let qf: bigint;
  if (sh >= 0) qf = mant << BigInt(sh);
  else {
    const d = 1n << BigInt(-sh);
    qf = (mant + d / 2n) / d; // half away from zero (mant > 0)
  }
  const one = 1n << BigInt(bits - 1);
  if (qf === one) {
    qf /= 2n;
    e++;
  }
  if (e < -31) return { m0: 0, shift: 0 };
  if (rounding === 'single' && e > 30) return { m0: Number(one - 1n), shift: 30 };
  return { m0: Number(qf), shift: e };
}

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const int32Edges = fc.oneof(
  { weight: 4, arbitrary: int32 },
  { weight: 1, arbitrary: fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 0, 1, -1, 2 ** 30, -(2 ** 30), 2 ** 30 - 1, 1 - 2 ** 30, 2 ** 16, -(2 ** 16)) },
  { weight: 1, arbitrary: fc.integer({ min: -300, max: 300 }) },
);
/** a·b exactly halfway between two multiples of 2^31: b = ±2^k, a an odd multiple of 2^(30−k) */
const srdhmTie = fc
  .tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.boolean())
  .map(([k, t, neg]) => {
    const a = (2 * t + 1) * 2 ** (30 - k);
    const b = (neg ? -1 : 1) * 2 ** k;
    return [Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, a)), Math.max(-(2 ** 31), b)] as const;
  })
  .filter(([a]) => Number.isSafeInteger(a) && a >= -(2 ** 31) && a < 2 ** 31);

describe('SaturatingRoundingDoublingHighMul vs BigInt', () => {
  it('random, edge and tie operands', () => {
    fc.assert(
      fc.property(fc.oneof(fc.tuple(int32Edges, int32Edges), srdhmTie), ([a, b]) => {
        expect(srdhm(a, b)).toEqual(Number(srdhmRef(BigInt(a), BigInt(b))));
      }),
      RUNS,
    );
  });

  it('INT32_MIN · INT32_MIN saturates; other extremes round', () => {
    const M = -(2 ** 31);
    expect(srdhm(M, M)).toEqual(2 ** 31 - 1);
    for (const [a, b] of [
      [M, 2 ** 31 - 1],
      [2 ** 31 - 1, 2 ** 31 - 1],
      [M, 1],
      [M, -1],
      [1, 2 ** 30],
      [-1, 2 ** 30],
      [3, 2 ** 30],
      [-3, 2 ** 30],
    ]) {
      expect(srdhm(a, b)).toEqual(Number(srdhmRef(BigInt(a), BigInt(b))));
    }
  });
});

describe('RoundingDivideByPOT vs BigInt', () => {
  it('every exponent 0…31, ties (x = odd·2^(e−1)) included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 31 }),
        fc.oneof(int32Edges, fc.tuple(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.integer({ min: 1, max: 31 })).map(([t, e]) => (2 * t + 1) * 2 ** (e - 1))),
        (e, x0) => {
          const x = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x0));
          expect(roundingDivideByPOT(x, e)).toEqual(Number(rdbpotRef(BigInt(x), e)));
        },
      ),
      RUNS,
    );
  });

  it('rounds half away from zero', () => {
    expect(roundingDivideByPOT(5, 1)).toEqual(3);
    expect(roundingDivideByPOT(-5, 1)).toEqual(-3);
    expect(roundingDivideByPOT(-4, 1)).toEqual(-2);
    expect(roundingDivideByPOT(-(2 ** 31), 31)).toEqual(-1);
  });
});

describe('QuantizeMultiplier vs BigInt', () => {
  const multiplier = fc.oneof(
    // spread over binades: multipliers ≥ 1 (shift > 0) and < 1 (shift ≤ 0)
    { weight: 4, arbitrary: fc.tuple(fc.double({ min: 0.5, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: -40, max: 40 })).map(([q, e]) => q * 2 ** e) },
    // just below a power of two: q·2^31 rounds up to 2^31 (the edge)
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: -35, max: 35 })).map(([d, e]) => (1 - d * 2 ** -53) * 2 ** e) },
    // exact powers of two and tiny values flushed to zero
    { weight: 1, arbitrary: fc.integer({ min: -45, max: 35 }).map((e) => 2 ** e) },
    { weight: 1, arbitrary: fc.double({ min: 2 ** -40, max: 2 ** -30, noNaN: true }) },
    { weight: 1, arbitrary: fc.constant(0) },
  );

  it('matches for 32-bit multipliers, both rounding modes', () => {
    fc.assert(
      fc.property(multiplier, fc.constantFrom<FixedRounding>('double', 'single'), (m, rounding) => {
        expect(quantizeMultiplier(m, 32, rounding)).toEqual(quantizeMultiplierRef(m, 32, rounding));
      }),
      RUNS,
    );
  });

  it('matches for narrower multipliers (bits 8…31)', () => {
    fc.assert(
      fc.property(multiplier, fc.integer({ min: 8, max: 31 }), fc.constantFrom<FixedRounding>('double', 'single'), (m, bits, rounding) => {
        expect(quantizeMultiplier(m, bits, rounding)).toEqual(quantizeMultiplierRef(m, bits, rounding));
      }),
      RUNS,
    );
  });

  it('known values: 0.5, 1, 2^31 edge, flush below 2^−31', () => {
    expect(quantizeMultiplier(0.5)).toEqual({ m0: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(1)).toEqual({ m0: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0.75)).toEqual({ m0: 3 * 2 ** 29, shift: 0 });
    expect(quantizeMultiplier(1 - 2 ** -40)).toEqual({ m0: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(2 ** -33)).toEqual({ m0: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** 40, 32, 'single')).toEqual({ m0: 2 ** 31 - 1, shift: 30 });
  });
});

describe('MultiplyByQuantizedMultiplier vs BigInt', () => {
  const m0Arb = (bits: number): fc.Arbitrary<number> =>
    fc.oneof(fc.integer({ min: 2 ** (bits - 2), max: 2 ** (bits - 1) - 1 }), fc.constantFrom(2 ** (bits - 2), 2 ** (bits - 1) - 1, 0));

  it('double rounding, every shift −31…31 (left shifts wrap like int32)', () => {
    fc.assert(
      fc.property(int32Edges, m0Arb(32), fc.integer({ min: -31, max: 31 }), (x, m0, shift) => {
        expect(multiplyByQuantizedMultiplier(x, m0, shift, 'double')).toEqual(Number(mbqmRef(BigInt(x), BigInt(m0), shift, 'double')));
      }),
      RUNS,
    );
  });

  it('single rounding, every shift −31…30', () => {
    fc.assert(
      fc.property(int32Edges, m0Arb(32), fc.integer({ min: -31, max: 30 }), (x, m0, shift) => {
        expect(multiplyByQuantizedMultiplier(x, m0, shift, 'single')).toEqual(Number(mbqmRef(BigInt(x), BigInt(m0), shift, 'single')));
      }),
      RUNS,
    );
  });

  it('narrower multipliers (bits 8…31), both roundings', () => {
    fc.assert(
      fc.property(
        int32Edges,
        fc.integer({ min: 8, max: 31 }).chain((bits) => fc.tuple(fc.constant(bits), m0Arb(bits))),
        fc.integer({ min: -31, max: 30 }),
        fc.constantFrom<FixedRounding>('double', 'single'),
        (x, [bits, m0], shift, rounding) => {
          expect(multiplyByQuantizedMultiplier(x, m0, shift, rounding, bits)).toEqual(Number(mbqmRef(BigInt(x), BigInt(m0), shift, rounding, bits)));
        },
      ),
      RUNS,
    );
  });

  it('ties: x·m exactly halfway after the shift', () => {
    // m0 = 2^30 (0.5): x·m0/2^31 = x/4 for shift −1; odd multiples of 2 are halfway
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 28), max: 2 ** 28 }), fc.integer({ min: -20, max: 0 }), fc.constantFrom<FixedRounding>('double', 'single'), (t, shift, rounding) => {
        const x = (2 * t + 1) * 2 ** Math.max(0, -shift);
        if (x < -(2 ** 31) || x >= 2 ** 31) return;
        expect(multiplyByQuantizedMultiplier(x, 2 ** 30, shift, rounding)).toEqual(Number(mbqmRef(BigInt(x), 2n ** 30n, shift, rounding)));
      }),
      RUNS,
    );
  });
});

describe('requantize (fixed mode) vs BigInt', () => {
  it('per-tensor and per-channel, saturated accumulators, clamp activation, narrow multipliers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.double({ min: -12, max: 0, noNaN: true }),
        fc.array(fc.double({ min: -12, max: 2, noNaN: true }), { minLength: 5, maxLength: 5 }),
        fc.double({ min: -8, max: 3, noNaN: true }),
        fc.integer({ min: 8, max: 32 }),
        fc.constantFrom<FixedRounding>('double', 'single'),
        fc.constantFrom(false, true),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (nb, c, hw, perChannel, lsx, lsw, lsy, bits, rounding, signed, seed) => {
          const sx = Math.fround(Math.exp(lsx));
          const sy = Math.fround(Math.exp(lsy));
          const sw = Float32Array.from(perChannel ? lsw.slice(0, c).map((v) => Math.exp(v)) : [Math.exp(lsw[0])]);
          const params = requantParams(sx, sw, sy, { mode: 'fixed', multiplierBits: bits, rounding });
          const qmin = signed ? -128 : 0;
          const qmax = signed ? 127 : 255;
          const zy = qmin + (seed % 256);
          const lo = qmin + (seed % 7);
          const hi = qmax - (seed % 5);
          const n = nb * c * hw;
          const acc = new Float64Array(n);
          let s = seed;
          for (let i = 0; i < n; i++) {
            s = (Math.imul(s, 1103515245) + 12345) | 0;
            const kind = (s >>> 16) % 8;
            acc[i] = kind === 0 ? (s % 2 === 0 ? 2 ** 40 : -(2 ** 40)) : kind === 1 ? -(2 ** 31) : s >> (kind * 3);
          }
          const shape = [nb, c, hw];
          const ours = requantize(acc, shape, params, zy, { bits: 8, signed, narrow: false }, { kind: 'clamp', fn: 'clip', lo, hi });
          for (let i = 0; i < n; i++) {
            const ch = perChannel ? Math.floor(i / hw) % c : 0;
            const q = quantizeMultiplierRef((sx * sw[ch]) / sy, bits, rounding);
            expect([params.m0[ch], params.shift[ch]]).toEqual([q.m0, q.shift]);
            const r = mbqmRef(sat32(BigInt(acc[i])), BigInt(q.m0), q.shift, rounding, bits) + BigInt(zy);
            const ref = Number(r < BigInt(lo) ? BigInt(lo) : r > BigInt(hi) ? BigInt(hi) : r);
            expect(ours[i]).toEqual(ref);
          }
        },
      ),
      RUNS,
    );
  });
});
