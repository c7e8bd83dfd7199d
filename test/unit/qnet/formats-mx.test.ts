/**
 * qnet/formats/mx.ts: blocks computed by hand from the OCP MX v1.0 conversion (§6.3), and random
 * tensors against a reference written here — the shared exponent by comparisons with powers of two,
 * the elements by test/helpers/float-ref.ts's nearest-value search (MXINT8 by a plain clamp of a
 * half-even rounding), the value as 2^(scale − 127) · element.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { FP4_E2M1, FP6_E2M3, FP6_E3M2, FP8_E4M3, FP8_E5M2 } from '../../../qnet/formats/float.js';
import {
  dequantizeMx,
  e8m0Value,
  MX_FORMATS,
  MXFP4_E2M1,
  MXFP8_E4M3,
  MXINT8,
  quantizeMx,
  type BlockLayout,
  type MxFormat,
} from '../../../qnet/formats/mx.js';
import { refDecode, refEncode, REFS, type RefFormat } from '../../helpers/float-ref.js';

const refOf = (m: MxFormat): RefFormat | null => (m.element === null ? null : (REFS.find((r) => r.fmt === m.element) as RefFormat));
/** emax_elem typed in from the spec's table, not read from the descriptors */
const EMAX: Record<string, number> = { 'mxfp8-e4m3': 8, 'mxfp8-e5m2': 15, 'mxfp6-e3m2': 4, 'mxfp6-e2m3': 2, 'mxfp4-e2m1': 2, mxint8: 0 };

function floorLog2(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

function rne(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** reference MX conversion of one block: E8M0 code and element codes */
function refBlock(m: MxFormat, v: number[]): { scale: number; codes: number[] } {
  let amax = 0;
  for (const x of v) amax = Number.isNaN(x) || Number.isNaN(amax) ? NaN : Math.max(amax, Math.abs(x));
  if (!Number.isFinite(amax)) return { scale: 0xff, codes: v.map(() => 0) };
  const shared = Math.max(-127, floorLog2(amax === 0 ? 2 ** -126 : amax) - EMAX[m.name]);
  const X = 2 ** shared;
  const r = refOf(m);
  const codes = v.map((x) => (r === null ? Math.min(127, Math.max(-128, rne((x / X) * 64))) & 0xff : refEncode(r, x / X, true)));
  return { scale: shared + 127, codes };
}

describe('MX block formats', () => {
  it('E8M0 scale codes: 0 → 2^−127, 127 → 1, 254 → 2^127, 0xFF → NaN', () => {
    expect(e8m0Value(0)).toBe(2 ** -127);
    expect(e8m0Value(127)).toBe(1);
    expect(e8m0Value(254)).toBe(2 ** 127);
    expect(e8m0Value(255)).toBeNaN();
  });

  it('MXFP8 E4M3, a block by hand: max 100 → shared exp floor(log2 100) − 8 = −2, X = 0.25 (code 125); 1 → 4 (0x48), −3.5 → −14 (0xD6), 100 → 400 ties to 384 (0x7C), 0.3 → 1.2 → 1.25 (0x3A), 0.001 → 0.004 → 2·2^−9 (subnormal 0x02)', () => {
    const x = new Float32Array(32);
    x.set([1, -3.5, 100, 0.3, 0.001]);
    const { codes, scales } = quantizeMx(MXFP8_E4M3, x, { outer: 1, k: 32, inner: 1 });
    expect(Array.from(scales)).toEqual([125]);
    expect(Array.from(codes.subarray(0, 6))).toEqual([0x48, 0xd6, 0x7c, 0x3a, 0x02, 0x00]);
    const y = dequantizeMx(MXFP8_E4M3, codes, scales, { outer: 1, k: 32, inner: 1 });
    expect(Array.from(y.subarray(0, 5))).toEqual([1, -3.5, 96, 0.3125, 2 ** -8 * 0.25]);
  });

  it('MXFP4 E2M1, blocks by hand: max 6 → X = 1; 5 ties to 4, −2.6 → −3, 0.25 ties to 0, 0.75 ties to 1; max 7.5 → X = 1 and 7.5 clamps to 6', () => {
    const x = new Float32Array(64);
    x.set([6, 5, -2.6, 0.2, 0.25, 0.75]);
    x.set([7.5, -7.5, 1], 32);
    const { codes, scales } = quantizeMx(MXFP4_E2M1, x, { outer: 1, k: 64, inner: 1 });
    expect(Array.from(scales)).toEqual([127, 127]);
    expect(Array.from(codes.subarray(0, 6))).toEqual([0b0111, 0b0110, 0b1101, 0, 0, 0b0010]);
    expect(Array.from(codes.subarray(32, 35))).toEqual([0b0111, 0b1111, 0b0010]);
  });

  it('MXINT8 by hand: elements are two’s complement × 2^−6; max 1.9999 → X = 1: 1 → 64, −1.9999 → −128 (0x80), 0.5 → 32; max 1.995 rounds to 128 and clamps to 127; max 96 → X = 64', () => {
    const l: BlockLayout = { outer: 1, k: 32, inner: 1 };
    const a = new Float32Array(32);
    a.set([1, -1.9999, 0.5]);
    let r = quantizeMx(MXINT8, a, l);
    expect(Array.from(r.scales)).toEqual([127]);
    expect(Array.from(r.codes.subarray(0, 3))).toEqual([64, 0x80, 32]);
    expect(dequantizeMx(MXINT8, r.codes, r.scales, l)[1]).toBe(-2);
    a.fill(0).set([1.995, -0.75]);
    r = quantizeMx(MXINT8, a, l);
    expect(Array.from(r.codes.subarray(0, 2))).toEqual([127, (-48) & 0xff]);
    a.fill(0).set([96, 3]);
    r = quantizeMx(MXINT8, a, l);
    expect(Array.from(r.scales)).toEqual([127 + 6]);
    expect(Array.from(r.codes.subarray(0, 2))).toEqual([96, 3]); // 96/64·64, 3/64·64
  });

  it('scale edge cases: an all-zero block takes 2^−126 as its max (E4M3: −134 → clamped to −127, code 0; INT8: code 1), float32 subnormals clamp to −127, NaN or inf give the NaN scale and a NaN block', () => {
    const l: BlockLayout = { outer: 1, k: 32, inner: 1 };
    const z = new Float32Array(32);
    expect(Array.from(quantizeMx(MXFP8_E4M3, z, l).scales)).toEqual([0]);
    expect(Array.from(quantizeMx(MXINT8, z, l).scales)).toEqual([1]);
    const sub = new Float32Array(32).fill(2 ** -140);
    expect(Array.from(quantizeMx(MXFP4_E2M1, sub, l).scales)).toEqual([0]);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = new Float32Array(32).fill(1);
      x[7] = bad;
      const r = quantizeMx(MXFP8_E4M3, x, l);
      expect(r.scales[0]).toBe(0xff);
      expect(Array.from(dequantizeMx(MXFP8_E4M3, r.codes, r.scales, l)).every(Number.isNaN)).toBe(true);
    }
    const big = new Float32Array(32).fill(3e38);
    expect(Array.from(quantizeMx(MXINT8, big, l).scales)).toEqual([127 + 127]);
  });

  it('random tensors [outer, k, inner] (k not a multiple of 32, inner > 1, wide dynamic range, special blocks) match the reference conversion and decode, every MX format', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MX_FORMATS), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (m, seed) => {
        const rng = new Prng(seed);
        const layout: BlockLayout = { outer: 1 + rng.int(3), k: 1 + rng.int(100), inner: 1 + rng.int(3) };
        const n = layout.outer * layout.k * layout.inner;
        const x = new Float32Array(n);
        const mag = 2 ** (rng.int(60) - 30);
        for (let i = 0; i < n; i++) {
          const kind = rng.int(20);
          x[i] = kind === 0 ? 0 : kind === 1 ? rng.normal() * mag * 1000 : kind === 2 ? rng.normal() * 2 ** -135 : kind === 3 && rng.int(20) === 0 ? NaN : rng.normal() * mag;
        }
        const { codes, scales } = quantizeMx(m, x, layout);
        const y = dequantizeMx(m, codes, scales, layout);
        const nb = Math.ceil(layout.k / 32);
        const r = refOf(m);
        for (let o = 0; o < layout.outer; o++)
          for (let b = 0; b < nb; b++)
            for (let i = 0; i < layout.inner; i++) {
              const idx: number[] = [];
              for (let kk = b * 32; kk < Math.min(layout.k, b * 32 + 32); kk++) idx.push((o * layout.k + kk) * layout.inner + i);
              const want = refBlock(
                m,
                idx.map((j) => x[j]),
              );
              const s = scales[(o * nb + b) * layout.inner + i];
              expect(s).toBe(want.scale);
              idx.forEach((j, t) => {
                expect(codes[j]).toBe(want.codes[t]);
                const el = r === null ? (codes[j] >= 128 ? codes[j] - 256 : codes[j]) / 64 : refDecode(r, codes[j]);
                const v = s === 0xff ? NaN : Math.fround(2 ** (s - 127) * el);
                if (Number.isNaN(v)) expect(y[j]).toBeNaN();
                else expect(y[j]).toBe(v);
              });
            }
      }),
      { numRuns: 300 },
    );
  });

  it('the element formats and emax_elem are the spec’s: E4M3 8, E5M2 15, E3M2 4, E2M3 2, E2M1 2, INT8 0; k = 32, E8M0 scales', () => {
    expect(MX_FORMATS.map((m) => [m.element, m.emaxElem, m.blockSize, m.scaleBits])).toEqual([
      [FP8_E4M3, 8, 32, 8],
      [FP8_E5M2, 15, 32, 8],
      [FP6_E3M2, 4, 32, 8],
      [FP6_E2M3, 2, 32, 8],
      [FP4_E2M1, 2, 32, 8],
      [null, 0, 32, 8],
    ]);
  });
});
