/**
 * qnet/qmath.ts scalar helpers: the exact float32 FMA against a BigInt rounding of the exact sum
 * (including the double-rounding traps a plain `Math.fround(a*b + c)` falls into), round-half-even,
 * integer ranges, and the fused clamp bounds against TFLite's CalculateActivationRangeQuantized
 * written out here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fma32, perTensor, qRange, roundHalfAway, roundHalfEven } from '../../../qnet/qmath.js';
import { clampBounds } from '../../../qnet/requant.js';

/** float32 value as (mantissa, exponent) BigInt pair: v = m·2^e */
function decompose(v: number): [bigint, number] {
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0];
  const sign = bits >>> 31 ? -1n : 1n;
  const ex = (bits >>> 23) & 0xff;
  const frac = BigInt(bits & 0x7fffff);
  return ex === 0 ? [sign * frac, -149] : [sign * (frac | (1n << 23n)), ex - 150];
}

/** round_f32(a·b + c) computed exactly in units of 2^−300 */
function fmaRef(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a);
  const [mb, eb] = decompose(b);
  const [mc, ec] = decompose(c);
  const S = ma * mb * (1n << BigInt(ea + eb + 300)) + mc * (1n << BigInt(ec + 300));
  if (S === 0n) return 0;
  const neg = S < 0n;
  const A = neg ? -S : S;
  const E = A.toString(2).length - 1 - 300; // binary exponent of |S|
  const ulpExp = E < -126 ? -149 : E - 23;
  const drop = BigInt(ulpExp + 300);
  let q = A >> drop;
  const rem = A - (q << drop);
  const half = 1n << (drop - 1n);
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  const v = Number(q) * 2 ** ulpExp;
  return neg ? -v : v;
}

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e18), max: Math.fround(1e18) });

describe('fma32', () => {
  it('equals the correctly rounded a·b + c (random float32 operands, cancellations)', () => {
    fc.assert(
      fc.property(f32, f32, f32, fc.boolean(), (a, b, c0, cancel) => {
        // cancel: c ≈ −a·b so the exact sum keeps the product's low bits
        const c = cancel ? Math.fround(-(a * b) * (1 + 2 ** -20)) : c0;
        if (!Number.isFinite(c)) return;
        const r = fmaRef(a, b, c);
        if (Math.abs(r) >= 2 ** 128) return;
        // + 0: the sign of an exact zero is not part of the contract
        expect(fma32(a, b, c) + 0).toBe(r + 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('avoids double rounding: exact sums just off a float32 midpoint', () => {
    // c with an odd significand; a·b = u/2·(1 ∓ 2^−46) where u = ulp(c): the double sum lands on the
    // midpoint c ± u/2 exactly, the true sum is just inside — the answer is c, not the even neighbour
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 23, max: 2 ** 24 - 1 }), fc.integer({ min: -60, max: 60 }), fc.boolean(), fc.boolean(), (m, e, up, negC) => {
        const mOdd = m | 1;
        const c = (negC ? -1 : 1) * mOdd * 2 ** e;
        const u = 2 ** e;
        const a = Math.fround(1 + 2 ** -23);
        const b = (up ? 1 : -1) * Math.fround((u / 2) * (1 - 2 ** -23));
        const naive = Math.fround(a * b + c);
        const r = fmaRef(a, b, c);
        expect(fma32(a, b, c)).toBe(r);
        expect(r).toBe(c);
        expect(naive).not.toBe(r); // the trap is real
      }),
      { numRuns: 500 },
    );
  });

  it('is exact when no rounding is needed and passes infinities through', () => {
    expect(fma32(3, 5, 7)).toBe(22);
    expect(fma32(Infinity, 1, 0)).toBe(Infinity);
    expect(fma32(1e30, 1e30, 0)).toBe(Infinity);
  });
});

describe('rounding and ranges', () => {
  it('roundHalfEven ties to even, roundHalfAway away from zero', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999999999999996, 3.7, -3.7].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 2, 4, -4]);
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5].map(roundHalfAway)).toEqual([1, 2, 3, -1, -2, -3]);
  });

  it('roundHalfEven agrees with a float32 CVTPS2DQ model on random halves', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 30), max: 2 ** 30 }), (k) => {
        const v = k + 0.5;
        expect(roundHalfEven(v)).toBe(k % 2 === 0 ? k : k + 1);
      }),
      { numRuns: 500 },
    );
  });

  it('roundHalfEven equals round-half-up corrected at odd ties, over doubles of every magnitude', () => {
    // the reference: Math.round rounds ties up; at a tie whose result is odd, even is one below
    const ref = (x: number): number => {
      const r = Math.round(x);
      return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
    };
    const around51 = fc.tuple(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.constantFrom(0, 0.25, 0.5, 0.75), fc.boolean()).map(([k, f, neg]) => (neg ? -1 : 1) * (2 ** 51 + k + f));
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), around51), (x) => {
        // +0 for a zero result (Object.is tells −0 apart)
        const want = ref(x) === 0 ? 0 : ref(x);
        expect(Object.is(roundHalfEven(x), want)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('qRange: signed/unsigned, full and narrow', () => {
    expect(qRange({ bits: 8, signed: true, narrow: false })).toEqual({ qmin: -128, qmax: 127 });
    expect(qRange({ bits: 8, signed: true, narrow: true })).toEqual({ qmin: -127, qmax: 127 });
    expect(qRange({ bits: 8, signed: false, narrow: false })).toEqual({ qmin: 0, qmax: 255 });
    expect(qRange({ bits: 8, signed: false, narrow: true })).toEqual({ qmin: 0, qmax: 254 });
    expect(qRange({ bits: 4, signed: true, narrow: false })).toEqual({ qmin: -8, qmax: 7 });
    expect(() => qRange({ bits: 1, signed: true, narrow: false })).toThrow();
  });
});

describe('clampBounds', () => {
  // TFLite CalculateActivationRangeQuantized: quantize(f) = z + round_away(float32(f / s))
  const tfl = (f: number, s: number, z: number): number => z + roundHalfAway(Math.fround(f / s));

  it('relu / relu6 / clip as TFLite computes them, clamped to the type range', () => {
    fc.assert(
      fc.property(fc.double({ min: -7, max: 1, noNaN: true }), fc.integer({ min: -128, max: 127 }), fc.double({ min: -3, max: 0, noNaN: true }), fc.double({ min: 0.1, max: 8, noNaN: true }), (ls, z, cmin, cmax) => {
        const s = Math.fround(Math.exp(ls));
        const yq = perTensor(s, z);
        const cl = (v: number): number => Math.min(127, Math.max(-128, v));
        expect(clampBounds('relu', yq)).toEqual({ kind: 'clamp', fn: 'relu', lo: cl(tfl(0, s, z)), hi: 127 });
        const r6 = clampBounds('relu6', yq);
        expect(r6).toEqual({ kind: 'clamp', fn: 'relu6', lo: cl(tfl(0, s, z)), hi: cl(tfl(6, s, z)) });
        const fmin = Math.fround(cmin);
        const fmax = Math.fround(cmax);
        expect(clampBounds('clip', yq, { min: fmin, max: fmax })).toEqual({ kind: 'clamp', fn: 'clip', lo: cl(tfl(fmin, s, z)), hi: cl(tfl(fmax, s, z)) });
      }),
      { numRuns: 300 },
    );
  });

  it("'even' rounding equals QuantizeLinear of the bound", () => {
    const yq = perTensor(0.5, 3);
    // 6 / 0.5 = 12 → 15; 0 → 3; clip(−0.75) = −1.5 → −2 (even) + 3 = 1 vs away: −2 + 3 = 1; −1.25 → −2.5 → −2 / −3
    expect(clampBounds('relu6', yq, { rounding: 'even' })).toMatchObject({ lo: 3, hi: 15 });
    expect(clampBounds('clip', yq, { min: -1.25, max: 1, rounding: 'even' })).toMatchObject({ lo: 1, hi: 5 });
    expect(clampBounds('clip', yq, { min: -1.25, max: 1 })).toMatchObject({ lo: 0, hi: 5 });
  });
});
