/**
 * LUT activations (qnet/lut.ts): every table entry against a float reference computed here —
 * dequantize the (bucket-centre) code, apply the function (written out independently: sigmoid via
 * tanh, tanh via exp, erf by Simpson integration), quantize with round-half-even — plus the
 * indexing contract for coarser tables, narrower entries, and the fused LUT in requantize.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LutFunction, QParams } from '../../../qnet/network.js';
import { applyLut, buildLut, erf, lutActivation } from '../../../qnet/lut.js';
import { requantize, requantParams, requantTarget } from '../../../qnet/requant.js';

const FNS: LutFunction[] = ['sigmoid', 'hardsigmoid', 'hardswish', 'swish', 'tanh', 'gelu', 'gelu_tanh'];

/** erf by composite Simpson on 2/√π ∫0^x e^(−t²) dt (4000 panels: error far below 1e-12);
 *  beyond |x| = 6, erf is ±1 to double precision (erfc(6) ≈ 2e-17) */
function erfSimpson(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  const n = 4000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}

function tanhRef(x: number): number {
  if (Math.abs(x) > 20) return Math.sign(x);
  const e = Math.exp(2 * x);
  return (e - 1) / (e + 1);
}

function fRef(fn: LutFunction, x: number): number {
  switch (fn) {
    case 'sigmoid':
      return 0.5 * (1 + tanhRef(x / 2));
    case 'hardsigmoid':
      return Math.min(1, Math.max(0, x / 5 + 0.5));
    case 'hardswish':
      return x <= -3 ? 0 : x >= 3 ? x : (x * (x + 3)) / 6;
    case 'swish':
      return x * 0.5 * (1 + tanhRef(x / 2));
    case 'tanh':
      return tanhRef(x);
    case 'gelu':
      return 0.5 * x * (1 + erfSimpson(x / Math.SQRT2));
    case 'gelu_tanh':
      return 0.5 * x * (1 + tanhRef(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  }
}

function rhe(v: number): number {
  const f = Math.floor(v);
  if (v - f !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

function q(scale: number, zp: number, signed: boolean, bits = 8): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow: false };
}

const range = (p: QParams): [number, number] => (p.signed ? [-(2 ** (p.bits - 1)), 2 ** (p.bits - 1) - 1] : [0, 2 ** p.bits - 1]);

function refEntry(fn: LutFunction, inQ: QParams, outQ: QParams, code: number): number {
  const [lo, hi] = range(outQ);
  const y = fRef(fn, inQ.scale[0] * (code - inQ.zeroPoint[0]));
  return Math.min(hi, Math.max(lo, rhe(y / outQ.scale[0]) + outQ.zeroPoint[0]));
}

const qArb = (bits: number): fc.Arbitrary<QParams> =>
  fc.record({ ls: fc.double({ min: -7, max: 0, noNaN: true }), signed: fc.boolean(), z: fc.integer({ min: 0, max: 2 ** bits - 1 }) }).map(({ ls, signed, z }) => q(Math.fround(Math.exp(ls)), signed ? z - 2 ** (bits - 1) : z, signed, bits));

describe('erf', () => {
  it('agrees with Simpson integration to 1e-12 and is odd', () => {
    fc.assert(
      fc.property(fc.double({ min: -6, max: 6, noNaN: true }), (x) => {
        expect(Math.abs(erf(x) - erfSimpson(x))).toBeLessThan(1e-12);
        expect(erf(-x) + erf(x)).toBe(0);
      }),
      { numRuns: 300 },
    );
    expect(erf(0)).toBe(0);
    expect(erf(10)).toBe(1);
  });
});

describe('buildLut', () => {
  it('one entry per code: equals dequantize → f → quantize(round half even) for every function', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FNS), qArb(8), qArb(8), (fn, inQ, outQ) => {
        const table = buildLut(fn, inQ, outQ);
        const [lo] = range(inQ);
        const ref = Array.from({ length: 256 }, (_, i) => refEntry(fn, inQ, outQ, lo + i));
        expect(Array.from(table)).toEqual(ref);
      }),
      { numRuns: 200 },
    );
  });

  it('other input/output widths (4…10 bits)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FNS),
        fc.integer({ min: 4, max: 10 }).chain((b) => qArb(b)),
        fc.integer({ min: 4, max: 10 }).chain((b) => qArb(b)),
        (fn, inQ, outQ) => {
          const table = buildLut(fn, inQ, outQ);
          const [lo] = range(inQ);
          expect(Array.from(table)).toEqual(Array.from({ length: 2 ** inQ.bits }, (_, i) => refEntry(fn, inQ, outQ, lo + i)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('fewer entries: bucket e covers codes qmin + e·step … + step − 1 and holds f at the bucket centre', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FNS), qArb(8), qArb(8), fc.integer({ min: 0, max: 7 }), (fn, inQ, outQ, lg) => {
        const entries = 2 ** lg;
        const step = 256 / entries;
        const act = lutActivation(fn, inQ, outQ, entries);
        const [lo, hi] = range(inQ);
        const ref = Array.from({ length: entries }, (_, e) => refEntry(fn, inQ, outQ, lo + e * step + (step - 1) / 2));
        expect(Array.from(act.kind === 'lut' ? act.table : [])).toEqual(ref);
        // applyLut indexes by the top lg bits of (code − qmin)
        const codes = Int32Array.from({ length: 256 }, (_, i) => lo + i);
        const y = applyLut(codes, act as Extract<typeof act, { kind: 'lut' }>);
        for (let c = lo; c <= hi; c++) expect(y[c - lo]).toEqual(ref[Math.floor((c - lo) / step)]);
      }),
      { numRuns: 200 },
    );
  });

  it('narrower entries: rounded to the grid qmin + k·2^(outBits − bits)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FNS), qArb(8), qArb(8), fc.integer({ min: 1, max: 8 }), (fn, inQ, outQ, bits) => {
        const table = buildLut(fn, inQ, outQ, 256, bits);
        const [lo] = range(inQ);
        const [olo, ohi] = range(outQ);
        const g = 2 ** (8 - bits);
        const top = olo + Math.floor((ohi - olo) / g) * g;
        const ref = Array.from({ length: 256 }, (_, i) => Math.min(top, olo + rhe((refEntry(fn, inQ, outQ, lo + i) - olo) / g) * g));
        expect(Array.from(table)).toEqual(ref);
        for (const v of table) expect((v - olo) % g).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a table size that is not a power of two or exceeds the codes', () => {
    const p = q(0.1, 0, true);
    expect(() => buildLut('sigmoid', p, p, 100)).toThrow(/power of two/);
    expect(() => buildLut('sigmoid', p, p, 512)).toThrow(/power of two/);
  });

  it('hard-sigmoid and hard-swish hit the ONNX breakpoints exactly', () => {
    // scale 1/8: codes reach ±3 exactly; hardswish(−3) = 0, hardswish(3) = 3, hardsigmoid(2.5) = 1
    const inQ = q(0.125, 0, true);
    const outQ = q(0.125, 0, true);
    const hs = buildLut('hardswish', inQ, outQ);
    expect(hs[-24 + 128]).toBe(0);
    expect(hs[24 + 128]).toBe(24);
    // hardsigmoid(±2.5) = 1 / 0 → codes 128 − 128 = 0 and −128 with scale 1/128, zero point −128
    const hsig = buildLut('hardsigmoid', inQ, q(1 / 128, -128, true));
    expect(hsig[20 + 128]).toBe(0);
    expect(hsig[-20 + 128]).toBe(-128);
  });
});

describe('fused LUT in requantize', () => {
  it('requantizes into the LUT input quantization, then maps through the table', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FNS), qArb(8), qArb(8), fc.array(fc.integer({ min: -20000, max: 20000 }), { minLength: 1, maxLength: 40 }), (fn, inQ, outQ, accs) => {
        const act = lutActivation(fn, inQ, outQ);
        const sx = 0.02;
        const sw = Float32Array.of(0.01);
        const target = requantTarget(outQ, act);
        expect(target).toBe(inQ);
        for (const mode of ['float', 'fixed'] as const) {
          const params = requantParams(sx, sw, target.scale[0], { mode });
          const acc = Float64Array.from(accs);
          const ours = requantize(acc, [1, 1, accs.length], params, target.zeroPoint[0], target, act);
          const mid = requantize(acc, [1, 1, accs.length], params, target.zeroPoint[0], target, { kind: 'none' });
          const [lo] = range(inQ);
          expect(Array.from(ours)).toEqual(Array.from(mid, (c) => refEntry(fn, inQ, outQ, c)));
          expect(Array.from(mid, (c) => (act.kind === 'lut' ? act.table[c - lo] : NaN))).toEqual(Array.from(ours));
        }
      }),
      { numRuns: 100 },
    );
  });
});
