/**
 * The integer-only transformer ops of qnet/ against references written here from the I-BERT paper
 * (Kim et al., ICML 2021, Alg. 1–4) in BigInt — every run-time step an exact integer operation,
 * floor division spelled out (BigInt division truncates) — with the fixed-point output multiplier
 * from test/helpers/fixed-point-ref.ts; plus hand-calculated values and closeness to the real
 * functions they approximate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { erf } from '../../../qnet/lut.js';
import { igeluConsts, igeluTable } from '../../../qnet/igelu.js';
import { isqrtNewton, layerNormInt, layerNormShift } from '../../../qnet/layernorm.js';
import type { QParams } from '../../../qnet/network.js';
import { qRange, roundHalfEven } from '../../../qnet/qmath.js';
import { quantizeMultiplier, type FixedRounding } from '../../../qnet/requant.js';
import { iexp, iexpConsts, softmaxExpTable, softmaxInt } from '../../../qnet/softmax.js';
import { mbqmRef } from '../../helpers/fixed-point-ref.js';

const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const roundingArb = fc.constantFrom<FixedRounding>('double', 'single');

function q8(signed: boolean, scale: number, zp: number, bits = 8): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow: false };
}

/** ⌊a / b⌋ for BigInt (b > 0). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** Exact ⌊√n⌋ by bisection — a different method from the Newton iteration under test. */
function isqrtRef(n: bigint): bigint {
  let lo = 0n;
  let hi = 1n;
  while (hi * hi <= n) hi *= 2n;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (mid * mid <= n) lo = mid;
    else hi = mid;
  }
  return lo;
}

function outputMultiplier(m: number, rounding: FixedRounding, bits: number): (x: bigint) => bigint {
  const q = quantizeMultiplier(m, bits, rounding);
  return (x: bigint) => mbqmRef(x, BigInt(q.m0), q.shift, rounding, bits);
}

const clampTo = (v: bigint, q: QParams): number => {
  const { qmin, qmax } = qRange(q);
  return Number(v < BigInt(qmin) ? BigInt(qmin) : v > BigInt(qmax) ? BigInt(qmax) : v);
};

/** I-BERT softmax of one row of codes, as Alg. 1–2 and the integer normalization define it. */
function ibertSoftmaxRef(row: number[], xq: QParams, yq: QParams, rounding: FixedRounding, bits: number): number[] {
  const s = xq.scale[0];
  const qLn2 = BigInt(Math.floor(Math.LN2 / s));
  const qb = BigInt(Math.floor(1.353 / s));
  const qc = BigInt(Math.floor(0.344 / (0.3585 * s * s)));
  const max = BigInt(Math.max(...row));
  const e = row.map((v) => {
    let d = BigInt(v) - max;
    if (d < -30n * qLn2) d = -30n * qLn2;
    const z = floorDiv(-d, qLn2);
    const p = d + z * qLn2;
    return ((p + qb) * (p + qb) + qc) >> z;
  });
  const sum = e.reduce((a, b) => a + b, 0n);
  const factor = (1n << 32n) / sum;
  const mult = outputMultiplier(2 ** -16 / yq.scale[0], rounding, bits);
  return e.map((v) => clampTo(BigInt(yq.zeroPoint[0]) + mult((v * factor) >> 16n), yq));
}

/** The `lut` softmax: the table as specified (2^15 · exp of the bucket centre), BigInt normalization. */
function lutSoftmaxRef(row: number[], xq: QParams, yq: QParams, entries: number, rounding: FixedRounding, bits: number): number[] {
  const s = xq.scale[0];
  const step = 2 ** xq.bits / entries;
  const max = Math.max(...row);
  const e = row.map((v) => {
    const j = Math.floor((max - v) / step);
    return BigInt(roundHalfEven(32768 * Math.exp(-s * (j * step + (step - 1) / 2))));
  });
  const sum = e.reduce((a, b) => a + b, 0n);
  const factor = (1n << 32n) / sum;
  const mult = outputMultiplier(2 ** -16 / yq.scale[0], rounding, bits);
  return e.map((v) => clampTo(BigInt(yq.zeroPoint[0]) + mult((v * factor) >> 16n), yq));
}

describe('I-BERT softmax', () => {
  it('i-exp by hand: s = 0.1 gives q_ln2 = 6, q_b = 13, q_c = 95 and e(0, −7, −14) = 264, 119, 54', () => {
    const k = iexpConsts(0.1, 't');
    expect(k).toEqual({ qLn2: 6, qb: 13, qc: 95 });
    // d = −7: z = ⌊7/6⌋ = 1, p = −1, (−1 + 13)² + 95 = 239, >> 1 = 119; d = −14: z = 2, p = −2, 11² + 95 = 216, >> 2 = 54
    expect([0, -7, -14].map((d) => iexp(d, k))).toEqual([264, 119, 54]);
  });

  it('equals the BigInt reference on random rows (int8 / uint8, scales, lengths, multiplier widths)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.double({ min: -5, max: -0.5, noNaN: true }), fc.integer({ min: 1, max: 90 }), roundingArb, fc.constantFrom(32, 24, 16), seedArb, (signed, ls, len, rounding, bits, seed) => {
        const rng = new Prng(seed);
        const lo = signed ? -128 : 0;
        const rows = 1 + rng.int(3);
        const xq = q8(signed, Math.fround(Math.exp(ls)), lo + rng.int(256));
        const yq = rng.int(2) ? q8(signed, 1 / 256, lo) : q8(signed, Math.fround(Math.exp(-5 + rng.normal() * 0.5)), lo + rng.int(40));
        const x = new Int32Array(rows * len).map(() => lo + rng.int(256));
        const ours = softmaxInt(x, [rows, len], xq, yq, { axis: 1, coerce2d: false, variant: 'ibert' }, { mode: 'fixed', rounding, multiplierBits: bits });
        const ref: number[] = [];
        for (let r = 0; r < rows; r++) ref.push(...ibertSoftmaxRef(Array.from(x.subarray(r * len, (r + 1) * len)), xq, yq, rounding, bits));
        expect(Array.from(ours)).toEqual(ref);
      }),
    );
  });

  it('normalizes along a middle axis like the same rows laid out last', () => {
    const rng = new Prng(5);
    const [a, b, c] = [3, 7, 4];
    const x = new Int32Array(a * b * c).map(() => rng.int(256) - 128);
    const xq = q8(true, 0.08, 0);
    const yq = q8(false, 1 / 256, 0);
    const cfg = { mode: 'fixed' as const };
    const mid = softmaxInt(x, [a, b, c], xq, yq, { axis: 1, coerce2d: false, variant: 'ibert' }, cfg);
    // transpose [a, b, c] → [a, c, b], normalize the last axis, compare element by element
    const t = new Int32Array(x.length);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < c; k++) t[(i * c + k) * b + j] = x[(i * b + j) * c + k];
    const last = softmaxInt(t, [a, c, b], xq, yq, { axis: 2, coerce2d: false, variant: 'ibert' }, cfg);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < c; k++) expect(mid[(i * b + j) * c + k]).toBe(last[(i * c + k) * b + j]);
  });

  it('stays within a few output codes of the real softmax where ln 2 / s is fine-grained (s ≤ 0.015)', () => {
    // q_ln2 = ⌊ln 2 / s⌋ quantizes the exp's period: at s = 0.1 it is 6 (0.6 for 0.693), which
    // costs the approximation far more than the polynomial does
    const rng = new Prng(11);
    let worst = 0;
    for (let t = 0; t < 50; t++) {
      const len = 2 + rng.int(60);
      const s = Math.fround(0.004 + rng.next() * 0.011);
      const x = new Int32Array(len).map(() => rng.int(256) - 128);
      const ours = softmaxInt(x, [len], q8(true, s, 0), q8(false, 1 / 256, 0), { axis: 0, coerce2d: false, variant: 'ibert' }, { mode: 'fixed' });
      const m = Math.max(...x);
      const ex = Array.from(x, (v) => Math.exp(s * (v - m)));
      const sum = ex.reduce((p, v) => p + v, 0);
      ex.forEach((v, i) => (worst = Math.max(worst, Math.abs(ours[i] - Math.min(255, (v / sum) * 256)))));
    }
    expect(worst).toBeLessThan(6);
  });

  it('refuses a row whose exp sum can pass 32 bits, naming the layer', () => {
    expect(() => softmaxInt(new Int32Array(8000), [8000], q8(true, 0.002, 0), q8(false, 1 / 256, 0), { axis: 0, coerce2d: false, variant: 'ibert', name: 'attn/softmax' }, { mode: 'fixed' })).toThrow(/attn\/softmax|32 bits/);
  });
});

describe('LUT-exp softmax', () => {
  it('its table holds 2^15 · exp of each bucket centre: entry 0 of a full table is 2^15', () => {
    const t = softmaxExpTable(0.05, 8, 256);
    expect(t[0]).toBe(32768);
    expect(t[20]).toBe(Math.round(32768 * Math.exp(-1)));
    // 16 entries of 16 codes: centre 7.5 codes below the maximum
    expect(softmaxExpTable(0.05, 8, 16)[0]).toBe(Math.round(32768 * Math.exp(-0.05 * 7.5)));
  });

  it('equals the BigInt reference for several table sizes', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom(16, 32, 64, 256), fc.integer({ min: 1, max: 70 }), roundingArb, seedArb, (signed, entries, len, rounding, seed) => {
        const rng = new Prng(seed);
        const lo = signed ? -128 : 0;
        const xq = q8(signed, Math.fround(Math.exp(-4 + rng.next() * 3)), lo + rng.int(256));
        const yq = q8(signed, Math.fround(1 / (128 + rng.int(256))), lo + rng.int(16));
        const x = new Int32Array(len).map(() => lo + rng.int(256));
        const ours = softmaxInt(x, [1, len], xq, yq, { axis: 1, coerce2d: false, variant: 'lut', expLutEntries: entries }, { mode: 'fixed', rounding });
        expect(Array.from(ours)).toEqual(lutSoftmaxRef(Array.from(x), xq, yq, entries, rounding, 32));
      }),
    );
  });
});

/** I-BERT LayerNorm of one row, integer steps in BigInt. */
function intLayerNormRef(row: number[], xq: QParams, yq: QParams, gamma: Float32Array, beta: Float32Array, rounding: FixedRounding, bits: number): number[] {
  const n = row.length;
  const { qmin, qmax } = qRange(xq);
  const s = layerNormShift(n, qmax - qmin);
  const sum = row.reduce((a, v) => a + BigInt(v), 0n);
  const mu = floorDiv(sum + BigInt(Math.floor(n / 2)), BigInt(n));
  const y = row.map((v) => BigInt(v) - mu);
  const pow = 1n << BigInt(s);
  const v = y.reduce((a, d) => a + floorDiv(d, pow) ** 2n, 0n);
  const std = isqrtRef(v) * pow;
  const factor = std > 0n ? (1n << 31n) / std : 0n;
  const scaleT = Math.sqrt(n) / 65536;
  return y.map((d, k) => {
    const g = gamma[k];
    if (g === 0) return clampTo(BigInt(yq.zeroPoint[0] + roundHalfEven(Math.fround(beta[k] / yq.scale[0]))), yq);
    const t = floorDiv(d * factor, 1n << 15n) + BigInt(roundHalfEven(beta[k] / (g * scaleT)));
    const mult = outputMultiplier((Math.abs(g) * scaleT) / yq.scale[0], rounding, bits);
    return clampTo(BigInt(yq.zeroPoint[0]) + mult(g < 0 ? -t : t), yq);
  });
}

describe('I-BERT integer LayerNorm', () => {
  it('integer square root by Newton iterations equals the exact ⌊√n⌋', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.double({ min: 0, max: 2 ** 52, noNaN: true }).map(Math.floor)), (n) => {
        expect(isqrtNewton(n)).toBe(Number(isqrtRef(BigInt(n))));
      }),
    );
    // by hand: ⌊√15⌋ = 3, ⌊√16⌋ = 4, ⌊√(2^31 − 1)⌋ = 46340
    expect([15, 16, 2 ** 31 - 1].map(isqrtNewton)).toEqual([3, 4, 46340]);
  });

  it('equals the BigInt reference (γ of both signs and zero, β, multiplier widths)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 1, max: 100 }), roundingArb, fc.constantFrom(32, 20), seedArb, (signed, n, rounding, bits, seed) => {
        const rng = new Prng(seed);
        const lo = signed ? -128 : 0;
        const rows = 1 + rng.int(3);
        const xq = q8(signed, Math.fround(Math.exp(-3 + rng.normal())), lo + rng.int(256));
        const yq = q8(signed, Math.fround(Math.exp(-3 + rng.normal() * 0.5)), lo + rng.int(256));
        const gamma = Float32Array.from({ length: n }, () => (rng.int(10) === 0 ? 0 : rng.normal()));
        const beta = Float32Array.from({ length: n }, () => rng.normal() * 0.5);
        const x = new Int32Array(rows * n).map(() => lo + rng.int(256));
        const ours = layerNormInt(x, [rows, n], xq, yq, { axis: 1, epsilon: 1e-5, gamma, beta, variant: 'integer' }, { mode: 'fixed', rounding, multiplierBits: bits });
        const ref: number[] = [];
        for (let r = 0; r < rows; r++) ref.push(...intLayerNormRef(Array.from(x.subarray(r * n, (r + 1) * n)), xq, yq, gamma, beta, rounding, bits));
        expect(Array.from(ours)).toEqual(ref);
      }),
    );
  });

  it('a wide row needs a variance shift to stay in 32 bits: 8-bit rows of 33,026 elements do, 33,025 do not', () => {
    // 33,025 · 255² = 2,147,450,625 < 2^31 ≤ 33,026 · 255²
    expect(layerNormShift(33025, 255)).toBe(0);
    expect(layerNormShift(33026, 255)).toBe(1);
  });

  it('stays within a few codes of the float layernorm on ordinary data', () => {
    const rng = new Prng(3);
    const n = 64;
    const gamma = Float32Array.from({ length: n }, () => 1 + rng.normal() * 0.2);
    const beta = Float32Array.from({ length: n }, () => rng.normal() * 0.2);
    const xq = q8(true, 0.05, 0);
    const yq = q8(true, 0.03, 0);
    const x = new Int32Array(8 * n).map(() => Math.round(rng.normal() * 40));
    const spec = { axis: 1, epsilon: 1e-5, gamma, beta };
    const a = layerNormInt(x, [8, n], xq, yq, { ...spec, variant: 'integer' }, { mode: 'fixed' });
    const b = layerNormInt(x, [8, n], xq, yq, { ...spec, variant: 'float' }, { mode: 'float' });
    let worst = 0;
    a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]))));
    expect(worst).toBeLessThanOrEqual(2);
  });
});

/** i-GELU of one code (x = q − z), Alg. 3 with the overflow shift k, in BigInt. */
function igeluRef(q: number, inQ: QParams, outQ: QParams, rounding: FixedRounding, bits: number): number {
  const s = inQ.scale[0];
  const s1 = s / Math.SQRT2;
  const qb = BigInt(Math.floor(-1.769 / s1));
  const qc = BigInt(Math.floor(1 / (-0.2888 * s1 * s1)));
  const { qmin, qmax } = qRange(inQ);
  const z = inQ.zeroPoint[0];
  const k = igeluConsts(s, Math.max(Math.abs(qmin - z), Math.abs(qmax - z))).k;
  const sErf = -0.2888 * s1 * s1 * 2 ** k;
  const q1 = BigInt(Math.floor(1 / sErf));
  const x = BigInt(q - z);
  const ax = x < 0n ? -x : x;
  const m = ax < -qb ? ax : -qb;
  const l = (m + qb) * (m + qb) + qc;
  const erfQ = floorDiv(x < 0n ? -l : x > 0n ? l : 0n, 1n << BigInt(k));
  const out = x * (erfQ + q1);
  const mult = outputMultiplier((-(s * sErf) / 2) / outQ.scale[0], rounding, bits);
  return clampTo(BigInt(outQ.zeroPoint[0]) + mult(-out), outQ);
}

describe('I-BERT i-GELU', () => {
  it('equals the BigInt reference on every input code (8 and 12-bit inputs)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom(8, 12), fc.double({ min: -7, max: -1, noNaN: true }), roundingArb, seedArb, (signed, bits, ls, rounding, seed) => {
        const rng = new Prng(seed);
        const inQ = q8(signed, Math.fround(Math.exp(ls)), (signed ? 0 : 2 ** (bits - 1)) + rng.int(9) - 4, bits);
        const outQ = q8(signed, Math.fround(inQ.scale[0] * Math.exp(rng.normal() * 0.3)), signed ? rng.int(9) - 4 : rng.int(40));
        const t = igeluTable(inQ, outQ, 32, rounding);
        const { qmin, qmax } = qRange(inQ);
        for (let q = qmin; q <= qmax; q += bits === 8 ? 1 : 7) expect(t[q - qmin]).toBe(igeluRef(q, inQ, outQ, rounding, 32));
      }),
    );
  });

  it('by hand at s = 0.1: q_b = ⌊−1.769/(0.1/√2)⌋ = −26, q_c = ⌊1/(−0.2888·0.005)⌋ = −693', () => {
    const c = igeluConsts(0.1, 128);
    expect([c.qb, c.qc, c.k]).toEqual([-26, -693, 0]);
  });

  it('approximates GELU within a couple of output codes', () => {
    const inQ = q8(true, 0.05, 0);
    const outQ = q8(true, 0.05, 0);
    const t = igeluTable(inQ, outQ);
    let worst = 0;
    for (let q = -128; q <= 127; q++) {
      const x = 0.05 * q;
      const g = 0.5 * x * (1 + erf(x / Math.SQRT2));
      worst = Math.max(worst, Math.abs(t[q + 128] - Math.max(-128, Math.min(127, g / 0.05))));
    }
    expect(worst).toBeLessThan(2.5);
  });
});
