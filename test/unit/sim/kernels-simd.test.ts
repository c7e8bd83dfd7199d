/**
 * The WebAssembly SIMD kernel (sim/kernels/wasm.ts, simd.ts) against the Float64 kernels on
 * layers large enough for its register blocks and gather paths: output rows that are whole
 * 8-position blocks (vector gather) and rows that are not (scalar gather), channel counts that
 * are not multiples of 4, groups and depthwise, strides and dilations, batches, gemm batches of
 * ≤ 4 rows (the 4-position blocks), odd tiles (padded to lane pairs), both PE forms, per-channel
 * weight zero points, proved 32-bit and checked 16-bit accumulators — on random inputs and on the
 * extremes of the operand ranges. Accumulators and every field of the overflow report must be
 * identical; each case must actually run on the SIMD kernel.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import type { AccPolicy, AccumulationOrder, OverflowReport, PeForm } from '../../../sim/kernels/accumulator.js';
import { prepareConvInt, prepareGemmInt } from '../../../sim/kernels/linear.js';
import { FixedMultiplier } from '../../../qnet/requant.js';
import { mbqmRef, sat32 } from '../../helpers/fixed-point-ref.js';

interface Arith {
  bits: number;
  policy: AccPolicy;
  order: AccumulationOrder;
  form: PeForm;
  zx: number;
  /** per-channel weight zero points (raw form: the −z_w·Σq_x step) */
  zw: 'zero' | 'per-channel';
}

const ARITHS: Arith[] = [
  { bits: 32, policy: 'wrap', order: { kOrder: 'ckk', kTile: 0 }, form: 'raw', zx: 128, zw: 'zero' },
  { bits: 16, policy: 'wrap', order: { kOrder: 'ckk', kTile: 0 }, form: 'raw', zx: 128, zw: 'zero' },
  { bits: 16, policy: 'saturate', order: { kOrder: 'kkc', kTile: 5 }, form: 'raw', zx: 3, zw: 'per-channel' },
  { bits: 18, policy: 'wrap', order: { kOrder: 'ckk', kTile: 7, tileOrder: 'reverse' }, form: 'zp-subtract', zx: 200, zw: 'per-channel' },
  { bits: 32, policy: 'wrap', order: { kOrder: 'kkc', kTile: 64 }, form: 'zp-subtract', zx: 0, zw: 'zero' },
];

type Fill = 'random' | 'max' | 'min' | 'alternating';

function values(prng: Prng, n: number, lo: number, hi: number, fill: Fill): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (fill === 'random') a[i] = lo + prng.int(hi - lo + 1);
    else if (fill === 'max') a[i] = hi;
    else if (fill === 'min') a[i] = lo;
    else a[i] = i % 2 === 0 ? lo : hi;
  }
  return a;
}

function zwOf(a: Arith, prng: Prng, nOut: number): Int32Array {
  if (a.zw === 'zero') return Int32Array.of(0);
  return values(prng, nOut, -3, 3, 'random');
}

function common(a: Arith, prng: Prng, nOut: number) {
  return {
    zx: a.zx,
    zw: zwOf(a, prng, nOut),
    bias: values(prng, nOut, -5000, 5000, 'random'),
    acc: { bits: a.bits, policy: a.policy },
    order: a.order,
    form: a.form,
    xBits: 8,
    xSigned: false,
    wBits: 8,
    wSigned: true,
  };
}

function expectSame(what: string, simd: { acc: Float64Array; overflow: OverflowReport }, js: { acc: Float64Array; overflow: OverflowReport }): void {
  expect(simd.acc, what).toEqual(js.acc);
  expect(simd.overflow, what).toEqual(js.overflow);
}

interface ConvShape {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

const CONVS: ConvShape[] = [
  { name: '3×3 8→13, rows of 16 (vector gather)', x: [1, 8, 6, 16], w: [13, 8, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
  { name: '3×3 5→12, rows of 19 (blocks cross rows)', x: [1, 5, 7, 19], w: [12, 5, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
  { name: '1×1 16→8, batch 2', x: [2, 16, 4, 8], w: [8, 16, 1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
  { name: 'stride 2, dilation 2, asymmetric pads', x: [1, 6, 11, 13], w: [9, 6, 3, 2], strides: [2, 2], pads: [2, 1, 0, 3], dilations: [2, 2], group: 1 },
  { name: 'groups of 6 outputs', x: [1, 8, 5, 17], w: [12, 4, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 2 },
  { name: 'depthwise ×5', x: [1, 5, 9, 24], w: [5, 1, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 5 },
  { name: 'depthwise ×6, rows of 13, batch 2 (blocks across rows and images)', x: [2, 6, 7, 13], w: [6, 1, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 6 },
  { name: 'depthwise ×4, stride 2, dilation 2', x: [1, 4, 11, 19], w: [4, 1, 3, 3], strides: [2, 2], pads: [2, 2, 2, 2], dilations: [2, 2], group: 4 },
];

describe('SIMD kernel = Float64 kernel, conv', () => {
  for (const s of CONVS) {
    it(`${s.name}: every arithmetic, random and extreme inputs`, () => {
      const prng = new Prng(0xc0417 ^ s.x[1] ^ (s.w[0] << 8));
      for (const a of ARITHS) {
        for (const fill of ['random', 'max', 'min', 'alternating'] as const) {
          const spec = { ...common(a, prng, s.w[0]), xShape: s.x, w: values(prng, s.w[0] * s.w[1] * s.w[2] * s.w[3], -128, 127, fill === 'random' ? 'random' : fill), wShape: s.w, strides: s.strides, pads: s.pads, dilations: s.dilations, group: s.group };
          const simd = prepareConvInt(spec);
          const js = prepareConvInt({ ...spec, kernel: 'js' });
          expect(simd.kernel, `${s.name} ${JSON.stringify(a)}`).toBe('wasm');
          expect(js.kernel).toBe('js');
          const x = values(prng, s.x[0] * s.x[1] * s.x[2] * s.x[3], 0, 255, fill);
          // twice through the prepared layer: nothing of one run leaks into the next
          for (let run = 0; run < 2; run++) expectSame(`${s.name} ${fill} ${JSON.stringify(a)} run ${run}`, simd.run(x), js.run(x));
        }
      }
    });
  }
});

describe('SIMD kernel = Float64 kernel, gemm', () => {
  it('batches of 1, 3, 4 (4-position blocks), 8, 11 rows; 1000-wide and 7-wide outputs', () => {
    const prng = new Prng(0x6e33);
    for (const [k, nOut] of [
      [300, 7],
      [129, 1000],
    ]) {
      for (const a of ARITHS) {
        const spec = { ...common(a, prng, nOut), w: values(prng, k * nOut, -128, 127, 'random'), k, nOut };
        const simd = prepareGemmInt(spec);
        const js = prepareGemmInt({ ...spec, kernel: 'js' });
        expect(simd.kernel).toBe('wasm');
        for (const m of [1, 3, 4, 8, 11]) {
          for (const fill of ['random', 'max', 'alternating'] as const) {
            const x = values(prng, m * k, 0, 255, fill);
            expectSame(`gemm k ${k} n ${nOut} m ${m} ${fill} ${JSON.stringify(a)}`, simd.run(x, m), js.run(x, m));
          }
        }
      }
    }
  });
});

/** round half to even, written here (Math.round plus a tie fix-up) */
function rhe(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** float requant of accumulators laid out NCHW (or [m, nOut]: cStride 1), written here */
function requantRef(acc: Float64Array, nOut: number, cStride: number, fr: { mult: Float32Array; his: Float64Array; lo: number; zy: number }): number[] {
  return Array.from(acc, (a, i) => {
    const c = Math.floor(i / cStride) % nOut;
    const v = Math.fround(Math.fround(a) * fr.mult[c]);
    return rhe(Math.min(Math.max(v, fr.lo), fr.his[c])) + fr.zy;
  });
}

describe('SIMD kernel with its float requant fused = Float64 kernel, then requant', () => {
  const a = ARITHS[0];
  function fused(prng: Prng, nOut: number) {
    const mult = new Float32Array(nOut);
    const his = new Float64Array(nOut);
    for (let c = 0; c < nOut; c++) {
      mult[c] = Math.fround(c % 3 === 0 ? 0.5 : 2 ** -(6 + prng.int(6)) * (1 + prng.next()));
      his[c] = 100 + prng.int(155);
    }
    // a ReLU's zero below the zero point 128 and per-channel upper clamps (CLE through ReLU6)
    return { mode: 'float' as const, mult, his, lo: 0, zy: -128 };
  }
  for (const s of CONVS) {
    it(`${s.name}: codes and report`, () => {
      const prng = new Prng(0xf05ed ^ s.x[1] ^ (s.w[0] << 8));
      for (const fill of ['random', 'max', 'alternating'] as const) {
        const spec = { ...common(a, prng, s.w[0]), xShape: s.x, w: values(prng, s.w[0] * s.w[1] * s.w[2] * s.w[3], -128, 127, fill === 'random' ? 'random' : fill), wShape: s.w, strides: s.strides, pads: s.pads, dilations: s.dilations, group: s.group };
        const simd = prepareConvInt(spec);
        const js = prepareConvInt({ ...spec, kernel: 'js' });
        const x = values(prng, s.x[0] * s.x[1] * s.x[2] * s.x[3], 0, 255, fill);
        const fr = fused(prng, s.w[0]);
        const ref = js.run(x);
        const codes = new Int32Array(ref.acc.length);
        const rep = simd.runCodes(x, fr, codes);
        expect(rep, s.name).not.toBeNull();
        expect(Array.from(codes), `${s.name} ${fill}`).toEqual(requantRef(ref.acc, s.w[0], simd.outShape[2] * simd.outShape[3], fr));
        expect(rep, `${s.name} ${fill}`).toEqual(ref.overflow);
      }
    });
  }
  it('gemm: codes and report; a layer with weight zero points is declined (null, nothing run)', () => {
    const prng = new Prng(0x6e34);
    for (const [k, nOut] of [
      [300, 7],
      [129, 1000],
    ]) {
      const spec = { ...common(a, prng, nOut), w: values(prng, k * nOut, -128, 127, 'random'), k, nOut };
      const simd = prepareGemmInt(spec);
      const js = prepareGemmInt({ ...spec, kernel: 'js' });
      for (const m of [1, 3, 8, 11]) {
        const x = values(prng, m * k, 0, 255, 'random');
        const fr = fused(prng, nOut);
        const ref = js.run(x, m);
        const codes = new Int32Array(m * nOut);
        const rep = simd.runCodes(x, m, fr, codes);
        expect(Array.from(codes)).toEqual(requantRef(ref.acc, nOut, 1, fr));
        expect(rep).toEqual(ref.overflow);
      }
    }
    const zw = prepareGemmInt({ ...common(ARITHS[2], prng, 7), acc: { bits: 32, policy: 'wrap' as const }, w: values(prng, 70, -128, 127, 'random'), k: 10, nOut: 7 });
    expect(zw.runCodes(values(prng, 20, 0, 255, 'random'), 2, fused(prng, 7), new Int32Array(14))).toBeNull();
  });
});

/** fixed-point double-rounding requant of NCHW accumulators by the BigInt gemmlowp reference */
function fixedRef(acc: Float64Array, nOut: number, cStride: number, m0: Int32Array, shift: Int32Array, bits: number, lo: number, his: Int32Array, zy: number): number[] {
  return Array.from(acc, (a, i) => {
    const c = Math.floor(i / cStride) % nOut;
    const r = Number(mbqmRef(sat32(BigInt(a)), BigInt(m0[c]), shift[c], 'double', bits));
    return Math.min(Math.max(r, lo), his[c]) + zy;
  });
}

describe('SIMD kernel with the fixed-point (gemmlowp) requant fused = Float64 kernel, then the BigInt reference', () => {
  const a = ARITHS[0];
  for (const bits of [32, 16]) {
    it(`convolutions and a gemm, ${bits}-bit multipliers: codes and report`, () => {
      const prng = new Prng(0xf1ced + bits);
      const fixedFor = (nOut: number) => {
        const m0 = new Int32Array(nOut);
        const shift = new Int32Array(nOut);
        const m = new Int32Array(nOut);
        const lsMul = new Int32Array(nOut);
        const rs = new Int32Array(nOut);
        const his = new Int32Array(nOut);
        for (let c = 0; c < nOut; c++) {
          m0[c] = 2 ** (bits - 2) + prng.int(2 ** (bits - 2));
          shift[c] = c % 5 === 0 ? 1 : -(4 + prng.int(10));
          const fm = new FixedMultiplier(m0[c], shift[c], 'double', bits);
          m[c] = fm.m;
          lsMul[c] = fm.lsMul;
          rs[c] = fm.rs;
          his[c] = 100 + prng.int(155) - -128;
        }
        return { m0, shift, fr: { mode: 'fixed' as const, fixed: { m, lsMul, rs }, his, lo: 128, zy: -128 } };
      };
      for (const s of CONVS) {
        const spec = { ...common(a, prng, s.w[0]), xShape: s.x, w: values(prng, s.w[0] * s.w[1] * s.w[2] * s.w[3], -128, 127, 'random'), wShape: s.w, strides: s.strides, pads: s.pads, dilations: s.dilations, group: s.group };
        const simd = prepareConvInt(spec);
        const ref = prepareConvInt({ ...spec, kernel: 'js' }).run;
        const x = values(prng, s.x[0] * s.x[1] * s.x[2] * s.x[3], 0, 255, 'random');
        const { m0, shift, fr } = fixedFor(s.w[0]);
        const r = ref(x);
        const codes = new Int32Array(r.acc.length);
        const rep = simd.runCodes(x, fr, codes);
        expect(rep, s.name).not.toBeNull();
        expect(Array.from(codes), s.name).toEqual(fixedRef(r.acc, s.w[0], simd.outShape[2] * simd.outShape[3], m0, shift, bits, fr.lo, fr.his, fr.zy));
        expect(rep, s.name).toEqual(r.overflow);
      }
      const [k, nOut, mRows] = [129, 40, 5];
      const gspec = { ...common(a, prng, nOut), w: values(prng, k * nOut, -128, 127, 'random'), k, nOut };
      const x = values(prng, mRows * k, 0, 255, 'random');
      const { m0, shift, fr } = fixedFor(nOut);
      const r = prepareGemmInt({ ...gspec, kernel: 'js' }).run(x, mRows);
      const codes = new Int32Array(mRows * nOut);
      expect(prepareGemmInt(gspec).runCodes(x, mRows, fr, codes)).toEqual(r.overflow);
      expect(Array.from(codes)).toEqual(fixedRef(r.acc, nOut, 1, m0, shift, bits, fr.lo, fr.his, fr.zy));
    });
  }
});

describe('the SIMD kernel fills its operand input in WebAssembly', () => {
  it('accepts in-range inputs of rows narrower than a vector step (1×1 and 7×7 planes) and refuses an out-of-range one', async () => {
    const { DotLayer } = await import('../../../sim/kernels/wasm.js');
    const { operandLayout } = await import('../../../sim/kernels/geometry.js');
    const dot = DotLayer.create(new Float64Array(4 * 9).fill(1), 4, 9, 1, Int32Array.of(9), new Float64Array(4), Int32Array.from({ length: 9 }, (_, j) => j))!;
    expect(dot).not.toBeNull();
    for (const [planes, h, w] of [
      [5, 1, 1],
      [3, 7, 7],
      [2, 3, 9],
    ]) {
      const lay = operandLayout('raw', 0, 0, 255, planes, h, w, [1, 1, 1, 1]);
      const x = Int32Array.from({ length: planes * h * w }, (_, i) => (i * 37) % 256);
      const buf = dot.begin(lay.length, 1, false, x.length);
      expect(dot.fill(x, lay, buf.input), `${planes}×${h}×${w} in range`).toBe(true);
      // the padded layout: row y of plane n at (n·hp + 1 + y)·wp + 1
      for (let n = 0; n < planes; n++) for (let y = 0; y < h; y++) for (let i = 0; i < w; i++) expect(buf.input[(n * lay.hp + 1 + y) * lay.wp + 1 + i]).toBe(x[(n * h + y) * w + i]);
      x[x.length - 1] = 256;
      const again = dot.begin(lay.length, 1, false, x.length);
      expect(dot.fill(x, lay, again.input), `${planes}×${h}×${w} out of range`).toBe(false);
    }
  });
});
