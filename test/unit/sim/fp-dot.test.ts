/**
 * sim/kernels/fp-dot.ts against an exact-rational reference written here: every value is a BigInt
 * multiple of 2^−1200, sums are exact, and each add is rounded to the accumulator format (precision,
 * smallest exponent, max finite — FP32, FP16, BF16 typed in by hand) with ties to even and IEEE
 * overflow. The order (tiles of kTile, tileOrder) is re-derived here from its definition; MX blocks
 * are summed as BigInts of the element values (test/helpers/float-ref.ts decodes the elements).
 * Swamping is counted by the definition: a nonzero addend, a result equal to the old value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { BF16, encodeFloatArray, FP16, FP8_E4M3, FP8_E5M2, type FloatFormat } from '../../../qnet/formats/float.js';
import { MX_FORMATS, MXFP8_E5M2, MXINT8, quantizeMx, type MxFormat } from '../../../qnet/formats/mx.js';
import { AccFloat, fpConv, fpGemm, mxGemm, type FpOperand, type SwampReport } from '../../../sim/kernels/fp-dot.js';
import { refDecode, REFS } from '../../helpers/float-ref.js';

const SH = 1200n;

/** exact value of a double as a BigInt numerator over 2^1200 */
function toBig(v: number): bigint {
  if (!Number.isFinite(v)) throw new Error(`toBig(${v})`);
  if (v === 0) return 0n;
  const neg = v < 0;
  let a = Math.abs(v);
  let e = 0;
  while (a !== Math.floor(a)) {
    a *= 2;
    e--;
  }
  while (a >= 2 ** 53) {
    a /= 2;
    e++;
  }
  const n = BigInt(a) * (e + Number(SH) >= 0 ? 1n << BigInt(e + Number(SH)) : 0n);
  return neg ? -n : n;
}

interface AccRef {
  p: number; // significand bits incl. the implicit one
  emin: number;
  max: number;
}
const ACC: Record<number, AccRef> = {
  [AccFloat.Fp32]: { p: 24, emin: -126, max: (2 - 2 ** -23) * 2 ** 127 },
  [AccFloat.Fp16]: { p: 11, emin: -14, max: 65504 },
  [AccFloat.Bf16]: { p: 8, emin: -126, max: (2 - 2 ** -7) * 2 ** 127 },
};

/** round an exact value (numerator over 2^1200) to the format: RNE, IEEE overflow to ±inf */
function roundBig(S: bigint, f: AccRef): number {
  if (S === 0n) return 0;
  const neg = S < 0n;
  const A = neg ? -S : S;
  const E = A.toString(2).length - 1 - Number(SH);
  const ulpExp = Math.max(E, f.emin) - (f.p - 1);
  const drop = BigInt(ulpExp) + SH;
  let q: bigint;
  if (drop <= 0n) q = A << -drop;
  else {
    q = A >> drop;
    const rem = A - (q << drop);
    const half = 1n << (drop - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  }
  let v = Number(q) * 2 ** ulpExp;
  if (v > f.max) v = Infinity;
  return neg ? -v : v;
}

interface RefCount {
  events: number;
  psumEvents: number;
  perChannel: number[];
  first: { channel: number; position: number; step: number; k: number } | null;
  adds: number;
  inexact: number;
  nonFinite: number;
  maxAbs: number;
}

/** tiles in arrival order, each a list of K indices, from the definition */
function tilesOf(k: number, kTile: number, tileOrder: 'forward' | 'reverse' | number[]): number[][] {
  const t = kTile === 0 || kTile >= k ? Math.max(k, 1) : kTile;
  const tiles: number[][] = [];
  for (let a = 0; a < k; a += t) tiles.push(Array.from({ length: Math.min(t, k - a) }, (_, i) => a + i));
  if (tiles.length === 0) tiles.push([]);
  if (tileOrder === 'reverse') tiles.reverse();
  else if (Array.isArray(tileOrder)) return tileOrder.map((i) => tiles[i]);
  return tiles;
}

/** one output, exactly: addends as doubles (exact products or block values) */
function refOutput(addends: number[], tiles: number[][], bias: number, f: AccRef, c: number, p: number, cnt: RefCount): number {
  const add = (a: number, b: number, step: number, k: number): number => {
    cnt.adds++;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return a + b; // IEEE: nothing left to lose
    const exact = toBig(a) + toBig(b);
    const r = roundBig(exact, f);
    if (!Number.isFinite(r)) {
      cnt.inexact++;
      cnt.nonFinite++;
      return r;
    }
    if (toBig(r) !== exact) cnt.inexact++;
    if (b !== 0 && r === a) {
      cnt.events++;
      if (k >= 0) cnt.psumEvents++;
      cnt.perChannel[c]++;
      cnt.first ??= { channel: c, position: p, step, k };
    }
    return r;
  };
  let acc = roundBig(toBig(bias), f);
  let mx = Math.abs(acc);
  tiles.forEach((tile, s) => {
    if (tile.length === 0) return;
    let ps = roundBig(toBig(addends[tile[0]]), f);
    for (let i = 1; i < tile.length; i++) ps = add(ps, addends[tile[i]], s + 1, tile[i]);
    acc = add(acc, ps, s + 1, -1);
    if (Math.abs(acc) > mx) mx = Math.abs(acc); // a NaN accumulator has no magnitude
  });
  if (mx > cnt.maxAbs) cnt.maxAbs = mx;
  return acc;
}

function expectReport(r: SwampReport, c: RefCount): void {
  expect({ events: r.events, psumEvents: r.psumEvents, perChannel: Array.from(r.perChannel), first: r.first, adds: r.adds, inexact: r.inexact, nonFinite: r.nonFinite, maxAbs: r.maxAbs }).toEqual({
    ...c,
  });
}

const newCount = (n: number): RefCount => ({ events: 0, psumEvents: 0, perChannel: new Array(n).fill(0), first: null, adds: 0, inexact: 0, nonFinite: 0, maxAbs: 0 });

const orderArb = (nTiles: (kt: number) => number) =>
  fc.integer({ min: 0, max: 9 }).chain((kt) =>
    fc.oneof(fc.constant<'forward' | 'reverse' | number[]>('forward'), fc.constant<'forward' | 'reverse' | number[]>('reverse'), fc.shuffledSubarray(Array.from({ length: nTiles(kt) }, (_, i) => i), { minLength: nTiles(kt), maxLength: nTiles(kt) })).map((to) => ({ kt, to })),
  );

describe('float dot products on a float accumulator', () => {
  it('by hand: on an FP16 accumulator 2048 + 1 + 1 + 1 + 1 stays 2048 (4 swamped adds, the ulp at 2048 is 2), while 1 + 1 + 1 + 1 + 2048 = 2052; FP32 gets 2052 both ways', () => {
    const run = (vals: number[], acc: AccFloat) =>
      fpGemm({ x: { values: Float32Array.from(vals) }, w: { values: new Float32Array(vals.length).fill(1) }, m: 1, k: vals.length, n: 1, acc, order: { kOrder: 'ckk', kTile: 0 } });
    const a = run([2048, 1, 1, 1, 1], AccFloat.Fp16);
    expect(a.y[0]).toBe(2048);
    expect(a.report.events).toBe(4);
    expect(a.report.psumEvents).toBe(4);
    expect(a.report.first).toEqual({ channel: 0, position: 0, step: 1, k: 1 });
    const b = run([1, 1, 1, 1, 2048], AccFloat.Fp16);
    expect(b.y[0]).toBe(2052);
    expect(b.report.events).toBe(0);
    expect(run([2048, 1, 1, 1, 1], AccFloat.Fp32).y[0]).toBe(2052);
    // BF16 (8 significant bits): 256 + 1 is lost, 256 + 2 is kept
    const c = run([256, 1, 2], AccFloat.Bf16);
    expect(c.y[0]).toBe(258);
    expect(c.report.events).toBe(1);
  });

  it('by hand: tiles change what is lost — FP16, [2048, 1, 1, 1, 1] in tiles of 2 (2048+1 | 1+1 | 1): 2048 + 1 is lost in the array, the tile sum 2 survives, and the last 1 rounds 2051 up to 2052 (ties to even)', () => {
    const r = fpGemm({ x: { values: Float32Array.of(2048, 1, 1, 1, 1) }, w: { values: Float32Array.of(1, 1, 1, 1, 1) }, m: 1, k: 5, n: 1, acc: AccFloat.Fp16, order: { kOrder: 'ckk', kTile: 2 } });
    // tile 1: 2048 + 1 → 2048 (lost); acc 0 + 2048; tile 2: 1 + 1 = 2; acc 2050; tile 3: 1; acc 2050 + 1 = 2051, a tie: 2050 = 1025·2 is odd, 2052 even
    expect(r.y[0]).toBe(2052);
    expect(r.report.events).toBe(1);
    expect(r.report.adds).toBe(2 + 3);
  });

  it('random GEMMs with FP8 / FP16 / BF16 / FP32 operands on FP32 / FP16 / BF16 accumulators, any tile size and tile order, with bias: outputs and swamping reports equal the exact reference', () => {
    const FORMATS: (FloatFormat | null)[] = [FP8_E4M3, FP8_E5M2, FP16, BF16, null];
    fc.assert(
      fc.property(
        fc.constantFrom(...FORMATS),
        fc.constantFrom(...FORMATS),
        fc.constantFrom(AccFloat.Fp32, AccFloat.Fp16, AccFloat.Bf16),
        fc.integer({ min: 1, max: 40 }).chain((k) => fc.tuple(fc.constant(k), orderArb((kt) => (kt === 0 || kt >= k ? 1 : Math.ceil(k / kt))))),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (xf, wf, acc, [k, { kt, to }], seed) => {
          const rng = new Prng(seed);
          const m = 1 + rng.int(3);
          const n = 1 + rng.int(3);
          // wide dynamic range so that swamping, underflow and overflow all happen
          const gen = (len: number) => Float32Array.from({ length: len }, () => (rng.int(8) === 0 ? 0 : rng.normal() * 2 ** (rng.int(24) - 8)));
          const xs = gen(m * k);
          const ws = gen(n * k);
          const op = (f: FloatFormat | null, v: Float32Array): FpOperand => (f === null ? { values: v } : { codes: encodeFloatArray(f, v, true), format: f });
          const xo = op(xf, xs);
          const wo = op(wf, ws);
          const bias = rng.int(2) ? gen(n) : undefined;
          const r = fpGemm({ x: xo, w: wo, m, k, n, bias, acc, order: { kOrder: 'ckk', kTile: kt, tileOrder: to } });
          // reference: decode operands independently (value of a code via the float-ref / bit formulas)
          const val = (o: FpOperand, i: number): number => ('values' in o ? o.values[i] : refValue(o.format, o.codes[i]));
          const tiles = tilesOf(k, kt, to);
          const cnt = newCount(n);
          for (let c = 0; c < n; c++)
            for (let p = 0; p < m; p++) {
              const prods = Array.from({ length: k }, (_, j) => val(xo, p * k + j) * val(wo, c * k + j));
              const want = Math.fround(refOutput(prods, tiles, bias ? bias[c] : 0, ACC[acc], c, p, cnt));
              const got = r.y[p * n + c];
              if (!Object.is(got, want) && !(Number.isNaN(got) && Number.isNaN(want))) expect.fail(`y[${p},${c}] = ${got}, reference ${want}`);
            }
          expectReport(r.report, cnt);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('float convolution', () => {
  it('equals the GEMM of an im2col written here (K in ckk or kkc order, groups, padding, strides, dilations): outputs and swamping reports, positions n·OH·OW + oy·OW + ox', () => {
    fc.assert(
      fc.property(fc.constantFrom<'ckk' | 'kkc'>('ckk', 'kkc'), fc.constantFrom(AccFloat.Fp16, AccFloat.Bf16, AccFloat.Fp32), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (kOrder, acc, kTile, seed) => {
        const rng = new Prng(seed);
        const group = 1 + rng.int(2);
        const icg = 1 + rng.int(3);
        const oc = group * (1 + rng.int(2));
        const [n, c, h, wd] = [1 + rng.int(2), icg * group, 2 + rng.int(4), 2 + rng.int(4)];
        const [kh, kw] = [1 + rng.int(3), 1 + rng.int(2)];
        const strides: [number, number] = [1 + rng.int(2), 1 + rng.int(2)];
        const dil: [number, number] = [1 + rng.int(2), 1];
        const pads: [number, number, number, number] = [rng.int(2), rng.int(2), rng.int(2), rng.int(2)];
        const oh = Math.floor((h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) / strides[0]) + 1;
        const ow = Math.floor((wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) / strides[1]) + 1;
        if (oh < 1 || ow < 1) return;
        const gen = (len: number) => Float32Array.from({ length: len }, () => rng.normal() * 2 ** (rng.int(16) - 4));
        const xc = encodeFloatArray(FP8_E4M3, gen(n * c * h * wd), true);
        const wc = encodeFloatArray(FP16, gen(oc * icg * kh * kw), true);
        const bias = gen(oc);
        const order = { kOrder, kTile };
        const r = fpConv({ x: { codes: xc, format: FP8_E4M3 }, xShape: [n, c, h, wd], w: { codes: wc, format: FP16 }, wShape: [oc, icg, kh, kw], strides, pads, dilations: dil, group, bias, acc, order });
        expect(r.outShape).toEqual([n, oc, oh, ow]);
        // im2col per group: rows = positions, columns = K in kOrder (ckk: ic, ky, kx; kkc: ky, kx, ic)
        const K = icg * kh * kw;
        const colOf = (j: number): [number, number, number] => (kOrder === 'ckk' ? [Math.floor(j / (kh * kw)), Math.floor((j % (kh * kw)) / kw), j % kw] : [j % icg, Math.floor(j / icg / kw), Math.floor(j / icg) % kw]);
        const xval = (b: number, ch: number, yy: number, xx: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= wd ? 0 : refValue(FP8_E4M3, xc[((b * c + ch) * h + yy) * wd + xx]));
        const perG = oc / group;
        for (let g = 0; g < group; g++) {
          const M = n * oh * ow;
          const cols = new Float32Array(M * K);
          for (let b = 0; b < n; b++)
            for (let oy = 0; oy < oh; oy++)
              for (let ox = 0; ox < ow; ox++)
                for (let j = 0; j < K; j++) {
                  const [ic, ky, kx] = colOf(j);
                  cols[((b * oh + oy) * ow + ox) * K + j] = xval(b, g * icg + ic, oy * strides[0] - pads[0] + ky * dil[0], ox * strides[1] - pads[1] + kx * dil[1]);
                }
          const wrows = new Float32Array(perG * K);
          for (let co = 0; co < perG; co++) for (let j = 0; j < K; j++) {
            const [ic, ky, kx] = colOf(j);
            wrows[co * K + j] = refValue(FP16, wc[(((g * perG + co) * icg + ic) * kh + ky) * kw + kx]);
          }
          const ref = fpGemm({ x: { values: cols }, w: { values: wrows }, m: M, k: K, n: perG, bias: bias.subarray(g * perG, (g + 1) * perG), acc, order });
          for (let co = 0; co < perG; co++) {
            expect(r.report.perChannel[g * perG + co]).toBe(ref.report.perChannel[co]);
            for (let b = 0; b < n; b++)
              for (let pix = 0; pix < oh * ow; pix++) {
                const got = r.y[(b * oc + g * perG + co) * oh * ow + pix];
                const want = ref.y[(b * oh * ow + pix) * perG + co];
                if (!Object.is(got, want) && !(Number.isNaN(got) && Number.isNaN(want))) expect.fail(`y[${b},${g * perG + co},${pix}] = ${got}, im2col GEMM ${want}`);
              }
          }
          if (group === 1) expect(r.report.first).toEqual(ref.report.first);
        }
      }),
      { numRuns: 150 },
    );
  });
});

/** value of a ≤ 16-bit code by the bit formulas: ≤ 8-bit via float-ref, FP16 by fields, BF16 as the top of a float32 */
function refValue(f: FloatFormat, c: number): number {
  const r = REFS.find((x) => x.fmt === f);
  if (r) return refDecode(r, c);
  if (f === FP16) {
    const e = (c >> 10) & 31;
    const mm = c & 1023;
    const s = c & 0x8000 ? -1 : 1;
    return e === 31 ? (mm ? NaN : s * Infinity) : s * (e === 0 ? mm * 2 ** -24 : (1024 + mm) * 2 ** (e - 25));
  }
  return new Float32Array(Uint32Array.of(c * 65536).buffer)[0];
}

/** element value of an MX code, independently */
function mxElem(f: MxFormat, c: number): number {
  if (f.element === null) return (c >= 128 ? c - 256 : c) / 64;
  return refValue(f.element, c);
}

describe('MX dot products', () => {
  it('by hand: MXINT8 blocks — x = [1, 0.5, −1, …] (X = 1), w = [2, 4, 8, …] (max 8 → X = 8, elements 0.25, 0.5, 1) give 1·2 + 0.5·4 − 1·8 = −4', () => {
    const k = 32;
    const x = new Float32Array(k);
    x.set([1, 0.5, -1]);
    const w = new Float32Array(k);
    w.set([2, 4, 8]);
    const qx = quantizeMx(MXINT8, x, { outer: 1, k, inner: 1 });
    const qw = quantizeMx(MXINT8, w, { outer: 1, k, inner: 1 });
    expect(Array.from(qw.scales)).toEqual([130]);
    const r = mxGemm({ x: { format: MXINT8, ...qx }, w: { format: MXINT8, ...qw }, m: 1, k, n: 1, order: { kOrder: 'ckk', kTile: 0 } });
    expect(r.y[0]).toBe(-4);
    expect(r.report.adds).toBe(1);
  });

  it('random MX GEMMs (every MX format pair incl. MXFP8 E5M2, whose block sums need more than 53 bits), several blocks, tile orders and bias: outputs and reports equal the exact reference (BigInt block sums, one FP32 rounding per block, FP32 accumulation)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MX_FORMATS),
        fc.constantFrom(...MX_FORMATS, MXFP8_E5M2, MXFP8_E5M2),
        fc.integer({ min: 1, max: 130 }).chain((k) => fc.tuple(fc.constant(k), orderArb((kt) => (kt === 0 || kt >= Math.ceil(k / 32) ? 1 : Math.ceil(Math.ceil(k / 32) / kt))))),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (xf, wf, [k, { kt, to }], seed) => {
          const rng = new Prng(seed);
          const m = 1 + rng.int(3);
          const n = 1 + rng.int(3);
          const gen = (len: number) => Float32Array.from({ length: len }, () => (rng.int(6) === 0 ? 0 : rng.normal() * 2 ** (rng.int(40) - 20)));
          const qx = quantizeMx(xf, gen(m * k), { outer: m, k, inner: 1 });
          const qw = quantizeMx(wf, gen(n * k), { outer: n, k, inner: 1 });
          const bias = rng.int(2) ? gen(n) : undefined;
          const r = mxGemm({ x: { format: xf, ...qx }, w: { format: wf, ...qw }, m, k, n, bias, order: { kOrder: 'ckk', kTile: kt, tileOrder: to } });
          const nb = Math.ceil(k / 32);
          const tiles = tilesOf(nb, kt, to);
          const cnt = newCount(n);
          for (let c = 0; c < n; c++)
            for (let p = 0; p < m; p++) {
              const blocks = Array.from({ length: nb }, (_, b) => {
                let S = 0n;
                for (let j = b * 32; j < Math.min(k, b * 32 + 32); j++) S += toBig(mxElem(xf, qx.codes[p * k + j])) * toBig(mxElem(wf, qw.codes[c * k + j]));
                // S is over 2^2400; the scales are powers of two: shift, then round to FP32
                const e = qx.scales[p * nb + b] - 127 + qw.scales[c * nb + b] - 127;
                const scaled = e >= 0 ? S << BigInt(e) : S >> BigInt(-e); // exact: S carries 1200 spare bits
                return roundBig(scaled / (1n << SH), ACC[AccFloat.Fp32]);
              });
              const want = refOutput(blocks, tiles, bias ? bias[c] : 0, ACC[AccFloat.Fp32], c, p, cnt);
              expect(r.y[p * n + c]).toBe(want);
            }
          expectReport(r.report, cnt);
        },
      ),
      { numRuns: 200 },
    );
  });
});
