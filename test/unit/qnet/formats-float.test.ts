/**
 * qnet/formats/float.ts against references independent of the code under test (test/helpers/
 * float-ref.ts and the FP16 / BF16 conversions here):
 * - every code of each ≤ 8-bit format decoded from its sign / exponent / mantissa fields by the
 *   plain formula, with the specials listed by hand (parameters typed in below, not read from the
 *   descriptors);
 * - encoding checked against a brute-force nearest-value search over those decoded values (ties to
 *   the code with an even last bit; the value above max finite as a sentinel for overflow);
 * - FP16 and BF16 against bit-level float32 → half / bfloat16 conversions on the float32 bits;
 * - the max normal / min normal / subnormal rows of the OCP OFP8 and MX v1.0 spec tables, by hand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BF16,
  decodeFloat,
  decodeFloatArray,
  encodeFloat,
  encodeFloatArray,
  FP16,
  FP4_E2M1,
  FP6_E2M3,
  FP6_E3M2,
  FP8_E4M3,
  FP8_E5M2,
  roundToFloat,
  type FloatFormat,
} from '../../../qnet/formats/float.js';
import { refDecode, refEncode, refGrid, REFS, type RefFormat } from '../../helpers/float-ref.js';

/** values around which rounding decisions change: each grid value, midpoints, ± a hair, beyond max */
function probeValues(r: RefFormat): number[] {
  const g = refGrid(r);
  const out: number[] = [0, -0, Infinity, -Infinity, g.max * 2, 1e30, 3.4e38, g.sentinel, (g.max + g.sentinel) / 2];
  const hair = (v: number): number[] => [v, v * (1 + 2 ** -30), v * (1 - 2 ** -30)];
  for (let i = 0; i < g.values.length; i++) {
    out.push(...hair(g.values[i]));
    if (i + 1 < g.values.length) out.push(...hair((g.values[i] + g.values[i + 1]) / 2));
  }
  out.push(...hair((g.max + g.sentinel) / 2), g.values[1] / 2 ** 10, g.values[1] / 4, 2 ** -140);
  const all = out.filter((v) => v !== 0 || Object.is(v, 0));
  return [...all, ...all.map((v) => -v), -0];
}

describe('≤ 8-bit float formats: every code against the field formula', () => {
  for (const r of REFS) {
    it(`${r.fmt.name}: all ${1 << (r.e + r.m + 1)} codes decode to sign·2^(e−bias)·1.m (0.m for subnormals), specials included`, () => {
      expect(r.fmt.bits).toBe(1 + r.e + r.m);
      const out = decodeFloatArray(r.fmt, Uint8Array.from({ length: 1 << r.fmt.bits }, (_, i) => i));
      for (let c = 0; c < 1 << r.fmt.bits; c++) {
        const want = refDecode(r, c);
        if (Number.isNaN(want)) expect(Number.isNaN(out[c]), `code ${c}`).toBe(true);
        else expect(Object.is(out[c], want), `code 0x${c.toString(16)}: ${out[c]} vs ${want}`).toBe(true);
      }
    });

    it(`${r.fmt.name}: every code round-trips (NaNs to the one NaN the encoder writes)`, () => {
      for (let c = 0; c < 1 << r.fmt.bits; c++) {
        const v = refDecode(r, c);
        const back = encodeFloat(r.fmt, v, false, c >= 1 << (r.e + r.m));
        if (Number.isNaN(v)) expect(refDecode(r, back)).toBeNaN();
        else expect(back, `code 0x${c.toString(16)}`).toBe(c);
      }
    });

    for (const saturate of [true, false]) {
      it(`${r.fmt.name}, saturate ${saturate}: values, midpoints (ties to even), ± a hair, subnormals, out of range, ±0, ±inf encode as the nearest-value search says`, () => {
        const probes = probeValues(r);
        expect(probes.length).toBeGreaterThan(50);
        for (const v of probes) {
          const want = refEncode(r, v, saturate);
          const got = encodeFloat(r.fmt, v, saturate);
          expect(got, `${v} → 0x${got.toString(16)}, want 0x${want.toString(16)}`).toBe(want);
        }
      });
    }
  }

  it('NaN keeps its sign where the format has a NaN, and is refused (−1 / error) by FP6 and FP4', () => {
    expect(encodeFloat(FP8_E4M3, NaN, true)).toBe(0x7f);
    expect(encodeFloat(FP8_E4M3, NaN, true, true)).toBe(0xff);
    expect(encodeFloat(FP8_E5M2, NaN, false, true)).toBe(0xff);
    expect(encodeFloat(FP6_E3M2, NaN, true)).toBe(-1);
    expect(() => encodeFloatArray(FP4_E2M1, Float32Array.of(1, NaN), true)).toThrow(/element 1 is NaN.*fp4-e2m1/);
  });

  it('random float32 inputs over every binade agree with the search, both saturation modes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...REFS), fc.float({ noNaN: false }), fc.boolean(), (r, v, sat) => {
        if (Number.isNaN(v)) return;
        expect(encodeFloat(r.fmt, v, sat)).toBe(refEncode(r, v, sat));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('spec tables (OCP OFP8 and MX v1.0 §5.3), typed in by hand', () => {
  const row = (f: FloatFormat, code: number, value: number): void => {
    expect(decodeFloat(f, code), `${f.name} 0x${code.toString(16)}`).toBe(value);
    expect(encodeFloat(f, value, true)).toBe(code);
  };
  it('FP8 E4M3: max normal S.1111.110 = 448, min normal S.0001.000 = 2^−6, max subnormal S.0000.111 = 0.875·2^−6, min subnormal S.0000.001 = 2^−9, NaN S.1111.111, no inf', () => {
    row(FP8_E4M3, 0b0_1111_110, 448);
    row(FP8_E4M3, 0b1_1111_110, -448);
    row(FP8_E4M3, 0b0_0001_000, 2 ** -6);
    row(FP8_E4M3, 0b0_0000_111, 0.875 * 2 ** -6);
    row(FP8_E4M3, 0b0_0000_001, 2 ** -9);
    expect(decodeFloat(FP8_E4M3, 0b0_1111_111)).toBeNaN();
    expect(decodeFloat(FP8_E4M3, 0b1_1111_111)).toBeNaN();
    expect(decodeFloat(FP8_E4M3, 0b0_1111_000)).toBe(256); // not inf: FN
    expect(FP8_E4M3.maxFinite).toBe(448);
    expect(FP8_E4M3.emax).toBe(8);
  });
  it('FP8 E5M2: max normal S.11110.11 = 57344, min normal S.00001.00 = 2^−14, max subnormal S.00000.11 = 0.75·2^−14, min subnormal S.00000.01 = 2^−16, inf S.11111.00, NaN S.11111.{01,10,11}', () => {
    row(FP8_E5M2, 0b0_11110_11, 57344);
    row(FP8_E5M2, 0b0_00001_00, 2 ** -14);
    row(FP8_E5M2, 0b0_00000_11, 0.75 * 2 ** -14);
    row(FP8_E5M2, 0b0_00000_01, 2 ** -16);
    expect(decodeFloat(FP8_E5M2, 0b0_11111_00)).toBe(Infinity);
    expect(decodeFloat(FP8_E5M2, 0b1_11111_00)).toBe(-Infinity);
    for (const c of [0b0_11111_01, 0b0_11111_10, 0b0_11111_11]) expect(decodeFloat(FP8_E5M2, c)).toBeNaN();
    expect(FP8_E5M2.emax).toBe(15);
  });
  it('FP6 E3M2: max normal S 111 11 = 28, min normal S 001 00 = 0.25, max subnormal S 000 11 = 0.1875, min subnormal S 000 01 = 0.0625', () => {
    row(FP6_E3M2, 0b0_111_11, 28);
    row(FP6_E3M2, 0b1_111_11, -28);
    row(FP6_E3M2, 0b0_001_00, 0.25);
    row(FP6_E3M2, 0b0_000_11, 0.1875);
    row(FP6_E3M2, 0b0_000_01, 0.0625);
    expect(FP6_E3M2.emax).toBe(4);
  });
  it('FP6 E2M3: max normal S 11 111 = 7.5, min normal S 01 000 = 1, max subnormal S 00 111 = 0.875, min subnormal S 00 001 = 0.125', () => {
    row(FP6_E2M3, 0b0_11_111, 7.5);
    row(FP6_E2M3, 0b0_01_000, 1);
    row(FP6_E2M3, 0b0_00_111, 0.875);
    row(FP6_E2M3, 0b0_00_001, 0.125);
    expect(FP6_E2M3.emax).toBe(2);
  });
  it('FP4 E2M1: max normal S 11 1 = 6, min normal S 01 0 = 1, subnormal S 00 1 = 0.5; the 8 magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6', () => {
    row(FP4_E2M1, 0b0_11_1, 6);
    row(FP4_E2M1, 0b1_11_1, -6);
    row(FP4_E2M1, 0b0_01_0, 1);
    row(FP4_E2M1, 0b0_00_1, 0.5);
    expect(Array.from(decodeFloatArray(FP4_E2M1, Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7)))).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6]);
    expect(FP4_E2M1.emax).toBe(2);
    // out of range saturates: FP4 has neither inf nor NaN
    expect(encodeFloat(FP4_E2M1, 100, false)).toBe(0b0_11_1);
    expect(encodeFloat(FP4_E2M1, -Infinity, false)).toBe(0b1_11_1);
  });
});

// ---------- FP16 / BF16 against bit-level float32 conversions written here ----------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number): number => {
  f32[0] = v;
  return u32[0];
};

/** float32 bits → bfloat16 bits: round-to-nearest-even on the upper 16 bits (NaN: quiet, sign kept) */
function bf16Ref(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) & 0x8000) | 0x7fc0;
  const lsb = (b >>> 16) & 1;
  return Math.floor((b + 0x7fff + lsb) / 65536) & 0xffff;
}

/** float32 bits → IEEE half bits, RNE, overflow to inf, subnormals, by integer shifts */
function fp16Ref(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const ex = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (ex === 0xff) return sign | (man ? 0x7e00 : 0x7c00);
  if (ex === 0) return sign; // float32 subnormals are far below half's min subnormal 2^−24
  const e = ex - 127;
  const full = man + 0x800000; // 24-bit significand, value = full·2^(e−23)
  // target quantum: 2^(e−10) for normals, 2^−24 below 2^−14
  const qe = e >= -14 ? e - 10 : -24;
  const shift = qe - (e - 23); // bits dropped
  if (shift > 25) return sign;
  let q = Math.floor(full / 2 ** shift);
  const rem = full - q * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (rem > half || (rem === half && q % 2 === 1)) q++;
  // q·2^qe; normals: q ∈ [2^10, 2^11]; code = (qe + 24)·2^10 + q − … as in IEEE's continuous layout
  const code = e >= -14 ? (e + 15 - 1) * 1024 + q : q;
  return sign | (code >= 0x7c00 ? 0x7c00 : code);
}

/** half bits → value, by the field formula */
function fp16Val(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}

/** bfloat16 bits → value: the upper half of a float32 */
function bf16Val(h: number): number {
  u32[0] = h * 65536;
  return f32[0];
}

describe('FP16 and BF16 against bit-level references', () => {
  it('every FP16 and BF16 code decodes as the reference says (FP16 by fields, BF16 as the upper half of a float32)', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const h = decodeFloatArray(FP16, all);
    const bf = decodeFloatArray(BF16, all);
    for (let c = 0; c < 65536; c++) {
      const a = fp16Val(c);
      const b = bf16Val(c);
      const okH = Number.isNaN(a) ? Number.isNaN(h[c]) : Object.is(h[c], a);
      const okB = Number.isNaN(b) ? Number.isNaN(bf[c]) : Object.is(bf[c], b);
      if (!okH) expect.fail(`fp16 0x${c.toString(16)}: ${h[c]} vs ${a}`);
      if (!okB) expect.fail(`bf16 0x${c.toString(16)}: ${bf[c]} vs ${b}`);
    }
  });

  it('float32 → FP16 / BF16 matches the bit-level conversions on random float32 bit patterns, all half values and their midpoints', () => {
    const n = 200_000;
    const x = new Float32Array(n + 4 * 65536);
    const xb = new Uint32Array(x.buffer);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      xb[i] = s;
    }
    // every half value, and the float32 nearest to each midpoint above it, ± one float32 ulp
    let j = n;
    for (let c = 0; c < 0x7c00; c++) {
      const v = fp16Val(c);
      const mid = (v + fp16Val(c + 1)) / 2; // exact in float32 (12 significant bits)
      x[j++] = v;
      x[j++] = mid;
      xb[j] = bitsOf(mid) + 1;
      j++;
      xb[j] = Math.max(0, bitsOf(mid) - 1);
      j++;
    }
    const h = encodeFloatArray(FP16, x.subarray(0, j), false) as Uint16Array;
    const bf = encodeFloatArray(BF16, x.subarray(0, j), false) as Uint16Array;
    let checked = 0;
    for (let i = 0; i < j; i++) {
      const b = xb[i];
      const isNan = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
      const wantH = fp16Ref(b);
      if (isNan) expect(h[i] & 0x7fff).toBe(0x7e00);
      else if (h[i] !== wantH) expect.fail(`fp16 of 0x${b.toString(16)} (${x[i]}): 0x${h[i].toString(16)} vs 0x${wantH.toString(16)}`);
      if (bf[i] !== bf16Ref(b)) expect.fail(`bf16 of 0x${b.toString(16)} (${x[i]}): 0x${bf[i].toString(16)} vs 0x${bf16Ref(b).toString(16)}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(300_000);
  });

  it('roundToFloat (the accumulators’ value rounding) equals decoding the encoder’s code, every format, both saturation modes, random doubles over the whole range and ±0 / ±inf / NaN', () => {
    const fmts = [FP16, BF16, FP8_E4M3, FP8_E5M2, FP6_E3M2, FP6_E2M3, FP4_E2M1];
    fc.assert(
      fc.property(fc.constantFrom(...fmts), fc.double(), fc.boolean(), fc.integer({ min: -40, max: 40 }), (f, d, sat, sh) => {
        const v = d * 2 ** sh;
        const code = encodeFloat(f, v, sat);
        const want = code < 0 ? NaN : decodeFloat(f, code);
        const got = roundToFloat(f, v, sat);
        if (Number.isNaN(want)) expect(got).toBeNaN();
        else expect(Object.is(got, want), `${f.name} ${v}: ${got} vs ${want}`).toBe(true);
      }),
      { numRuns: 20000 },
    );
    // and every midpoint (ties), a hair either side, and the overflow boundary
    for (const f of fmts) {
      const codes = Array.from({ length: f.maxCode + 1 }, (_, i) => i);
      const t = decodeFloatArray(f, f.bits > 8 ? Uint16Array.from(codes) : Uint8Array.from(codes));
      for (let c = 0; c <= f.maxCode; c += f.bits > 8 ? 7 : 1) {
        const next = c < f.maxCode ? t[c + 1] : f.maxFinite + 2 ** (f.emax - f.manBits);
        const mid = (t[c] + next) / 2;
        for (const v of [mid, mid * (1 + 2 ** -40), mid * (1 - 2 ** -40), -mid])
          for (const sat of [true, false]) {
            const want = decodeFloat(f, encodeFloat(f, v, sat));
            const got = roundToFloat(f, v, sat);
            if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) expect.fail(`${f.name} ${v} sat=${sat}: ${got} vs ${want}`);
          }
      }
    }
  });

  it('saturating FP16 / BF16 stop at max finite (65504, 0x7f7f…) instead of inf', () => {
    expect(encodeFloat(FP16, 1e6, true)).toBe(0x7bff);
    expect(encodeFloat(FP16, 1e6, false)).toBe(0x7c00);
    expect(encodeFloat(FP16, 65520, false)).toBe(0x7c00); // max + half ulp, tie to even → inf
    expect(encodeFloat(FP16, 65519.99, false)).toBe(0x7bff);
    expect(encodeFloat(BF16, -Infinity, true)).toBe(0xff7f);
    expect(roundToFloat(FP16, 1 + 2 ** -11, false)).toBe(1); // tie to even
    expect(roundToFloat(FP16, 1 + 3 * 2 ** -11, false)).toBe(1 + 2 ** -9);
  });
});
