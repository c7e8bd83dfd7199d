/**
 * The WebAssembly SIMD paths of the FP32 executor (nets/wasm-f32.ts) against the scalar loops they
 * replace, on random geometries: Conv (stride, pads, dilation, groups, depthwise, odd sizes,
 * batch), Gemm (transposes, alpha/beta, every bias broadcast) and MatMul (broadcast batches, 1-D);
 * Relu, Clip, BatchNormalization, MaxPool and GlobalAveragePool.
 *
 * The float64-accumulating path ('simd-f64', the default) may differ from the scalar one only in
 * the order of float64 additions: ≤ 1e-6 relative after the single rounding to float32. The
 * float32-lane path ('simd-f32') rounds every add, so it is held to 1e-5 of Σ|w·x| (computed by the
 * scalar path on |w| and |x|).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { execNode, type Fp32Kernels } from '../../../nets/fp32.js';
import type { AttrValue, Node, Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { KC, simdAvailable } from '../../../nets/wasm-f32.js';
import { windowArbs, windowFits } from '../../helpers/arbitraries.js';

function node(op: 'Conv' | 'Gemm' | 'MatMul' | 'Relu' | 'Clip' | 'BatchNormalization' | 'MaxPool' | 'GlobalAveragePool', nInputs: number, attrs: Record<string, AttrValue>): Node {
  return { name: 't', op, inputs: ['a', 'b', 'c', 'd', 'e'].slice(0, nInputs), outputs: ['y'], attrs };
}

function rand(prng: Prng, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = prng.next() * 2 - 1;
  return { dtype: 'float32', shape, data };
}

function abs(t: Tensor | undefined): Tensor | undefined {
  return t && { ...t, data: (t.data as Float32Array).map(Math.abs) };
}

function run(n: Node, ins: (Tensor | undefined)[], kernels: Fp32Kernels): Float32Array {
  return execNode(n, ins, kernels)[0].data as Float32Array;
}

/** max over outputs of |got − ref| / |ref| (an exact 0 must stay within 1e-30) */
function maxRel(got: Float32Array, ref: Float32Array): number {
  expect(got.length).toBe(ref.length);
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (Number.isNaN(d)) return Infinity;
    m = Math.max(m, d <= 1e-30 ? 0 : d / Math.abs(ref[i]));
  }
  return m;
}

/** max over outputs of |got − ref| / scale, scale = Σ|w·x| of that output */
function maxScaled(got: Float32Array, ref: Float32Array, scale: Float32Array): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i] - ref[i]) / Math.max(scale[i], 1e-30));
  return m;
}

/** fast path vs scalar for one case, both accumulations */
function check(n: Node, ins: (Tensor | undefined)[]): void {
  // Σ|alpha·a·b| + |beta·c|: the same node with |alpha|, |beta| on absolute values
  const absAttrs = Object.fromEntries(Object.entries(n.attrs).map(([key, v]) => [key, (key === 'alpha' || key === 'beta') && typeof v === 'number' ? Math.abs(v) : v]));
  const ref = run(n, ins, 'scalar');
  expect(maxRel(run(n, ins, 'simd-f64'), ref)).toBeLessThanOrEqual(1e-6);
  expect(maxRel(run(n, ins, 'auto'), ref)).toBeLessThanOrEqual(1e-6);
  const scale = run({ ...n, attrs: absAttrs }, ins.map(abs), 'scalar');
  expect(maxScaled(run(n, ins, 'simd-f32'), ref, scale)).toBeLessThanOrEqual(1e-5);
}

const convCase = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    // group count; 0 = depthwise over `icg` channels
    group: fc.constantFrom(0, 1, 1, 2, 3),
    icg: fc.integer({ min: 1, max: 6 }),
    ocg: fc.integer({ min: 1, max: 11 }),
    h: fc.integer({ min: 1, max: 13 }),
    w: fc.integer({ min: 1, max: 13 }),
    ...windowArbs({ k: 4, s: 3, pad: 2 }),
    bias: fc.boolean(),
    seed: fc.nat(),
  })
  .filter(windowFits);

describe('FP32 executor: WebAssembly SIMD paths equal the scalar loops', () => {
  it('WebAssembly SIMD is available here (else only the scalar path would be tested)', () => {
    expect(simdAvailable()).toBe(true);
  });

  it('Conv: random geometries (stride, pads, dilation, groups, depthwise, batch)', () => {
    fc.assert(
      fc.property(convCase, (cc) => {
        const prng = new Prng(cc.seed);
        const dwise = cc.group === 0;
        const group = dwise ? cc.icg : cc.group;
        const icg = dwise ? 1 : cc.icg;
        const ocg = dwise ? 1 : cc.ocg;
        const x = rand(prng, [cc.n, icg * group, cc.h, cc.w]);
        const w = rand(prng, [ocg * group, icg, cc.kh, cc.kw]);
        const b = cc.bias ? rand(prng, [ocg * group]) : undefined;
        const attrs = { strides: [cc.sh, cc.sw], dilations: [cc.dh, cc.dw], pads: [...cc.pads], group };
        check(node('Conv', b ? 3 : 2, attrs), [x, w, b]);
      }),
    );
  });

  it('Conv: layer sizes of the zoo models (many tiles, long K)', () => {
    const prng = new Prng(11);
    const cases: [number[], number[], Record<string, AttrValue>][] = [
      [[2, 32, 14, 14], [64, 32, 3, 3], { pads: [1, 1, 1, 1] }],
      [[3, 24, 9, 9], [40, 24, 1, 1], {}],
      [[1, 3, 33, 31], [16, 3, 3, 3], { pads: [0, 1, 1, 1], strides: [2, 2] }],
      [[2, 96, 15, 15], [96, 1, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2], group: 96 }],
      [[1, 8, 10, 10], [8, 1, 5, 5], { pads: [2, 2, 2, 2], dilations: [2, 1], group: 8 }],
      // K ≥ 64 and ≥ 32 output channels at stride 1: the input staged as float64 (conv64w), padded or not
      [[2, 80, 7, 7], [48, 80, 1, 1], {}],
      [[1, 16, 9, 11], [37, 16, 3, 3], { pads: [1, 0, 1, 2], dilations: [1, 2] }],
    ];
    for (const [xs, ws, attrs] of cases) check(node('Conv', 3, attrs), [rand(prng, xs), rand(prng, ws), rand(prng, [ws[0]])]);
  });

  it('Conv: depthwise stride 1 and 2 reproduce the scalar loop bit for bit (same accumulation order)', () => {
    const prng = new Prng(5);
    for (const sw of [1, 2]) {
      const attrs = { pads: [1, 1, 1, 1], strides: [sw, sw], group: 12 };
      const ins = [rand(prng, [2, 12, 11, 13]), rand(prng, [12, 1, 3, 3]), rand(prng, [12])];
      const n = node('Conv', 3, attrs);
      expect(Array.from(run(n, ins, 'simd-f64'))).toEqual(Array.from(run(n, ins, 'scalar')));
    }
  });

  it('Gemm and MatMul with K past one K block (KC) of the kernel: partial sums carried between blocks', () => {
    const prng = new Prng(13);
    const k = 2 * KC + 37;
    for (const tb of [0, 1]) {
      const ins = [rand(prng, [6, k]), rand(prng, tb ? [9, k] : [k, 9]), rand(prng, [9])];
      check(node('Gemm', 3, { transB: tb }), ins);
    }
    check(node('MatMul', 2, {}), [rand(prng, [2, 5, k]), rand(prng, [k, 11])]);
    check(node('Conv', 3, { pads: [1, 1, 1, 1] }), [rand(prng, [1, 70, 5, 6]), rand(prng, [9, 70, 3, 3]), rand(prng, [9])]);
  });

  it('Gemm: random shapes, transposes, alpha/beta, every bias broadcast', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 19 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 19 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom('none', 'scalar', 'row', '1xn', 'mx1', 'mxn', '1x1'),
        fc.constantFrom(1, 0.5, -2),
        fc.constantFrom(1, 0, 3),
        fc.nat(),
        (m, k, nn, ta, tb, cKind, alpha, beta, seed) => {
          const prng = new Prng(seed);
          const a = rand(prng, ta ? [k, m] : [m, k]);
          const b = rand(prng, tb ? [nn, k] : [k, nn]);
          const cShape: Record<string, number[]> = { scalar: [], row: [nn], '1xn': [1, nn], mx1: [m, 1], mxn: [m, nn], '1x1': [1, 1] };
          const c = cKind === 'none' ? undefined : rand(prng, cShape[cKind]);
          check(node('Gemm', c ? 3 : 2, { transA: ta ? 1 : 0, transB: tb ? 1 : 0, alpha: alpha, beta: beta }), [a, b, c]);
        },
      ),
    );
  });

  it('MatMul: broadcast batches and 1-D operands', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom('2d', 'batchA', 'batchB', 'both', 'bcast', 'vecA', 'vecB'),
        fc.nat(),
        (m, k, nn, kind, seed) => {
          const prng = new Prng(seed);
          const shapes: Record<string, [number[], number[]]> = {
            '2d': [[m, k], [k, nn]],
            batchA: [[3, m, k], [k, nn]],
            batchB: [[m, k], [2, k, nn]],
            both: [[2, m, k], [2, k, nn]],
            bcast: [[2, 1, m, k], [3, k, nn]],
            vecA: [[k], [2, k, nn]],
            vecB: [[2, m, k], [k]],
          };
          const [as, bs] = shapes[kind];
          check(node('MatMul', 2, {}), [rand(prng, as), rand(prng, bs)]);
        },
      ),
    );
  });

  it('Relu and Clip in f32x4 lanes give the scalar results bit for bit (NaN, ±0, ±∞, bounds between float32 values)', () => {
    const prng = new Prng(3);
    const specials = [NaN, 0, -0, Infinity, -Infinity, 0.1, Math.fround(0.1), 6, 6.000001, -1e-45, 1e-45, 3.4e38];
    const data = new Float32Array(1003);
    for (let i = 0; i < data.length; i++) data[i] = i < specials.length ? specials[i] : (prng.next() - 0.5) * 16;
    const x: Tensor = { dtype: 'float32', shape: [1, 1003], data };
    const cases: [op: 'Relu' | 'Clip', attrs: Record<string, AttrValue>][] = [
      ['Relu', {}],
      ['Clip', { min: 0, max: 6 }],
      ['Clip', { min: 0.1, max: 5.9 }],
      ['Clip', { min: -0.3 }],
      ['Clip', {}],
    ];
    for (const [op, attrs] of cases) {
      const n = node(op, 1, attrs);
      const fast = Array.from(run(n, [x], 'simd-f64'));
      // Object.is per element: NaN equals NaN, +0 differs from −0
      const ref = Array.from(run(n, [x], 'scalar'));
      expect(fast.map((v, i) => Object.is(v, ref[i]) || `${i}: ${v} vs ${ref[i]}`).filter((v) => v !== true)).toEqual([]);
    }
  });

  it('BatchNormalization in f64x2 lanes gives the scalar results bit for bit (planes of 4k and 4k+1…3 values)', () => {
    const prng = new Prng(17);
    for (const shape of [[2, 3, 8], [3, 5, 7, 7], [4, 6], [1, 2, 1, 3]]) {
      const c = shape[1];
      const x = rand(prng, shape);
      (x.data as Float32Array)[0] = NaN;
      (x.data as Float32Array)[1] = -0;
      const variance = rand(prng, [c]);
      (variance.data as Float32Array).forEach((v, i, a) => (a[i] = Math.abs(v) + 0.01));
      const ins = [x, rand(prng, [c]), rand(prng, [c]), rand(prng, [c]), variance];
      const n = node('BatchNormalization', 5, { epsilon: 1e-3 });
      const fast = Array.from(run(n, ins, 'simd-f64'));
      const ref = Array.from(run(n, ins, 'scalar'));
      expect(fast.map((v, i) => Object.is(v, ref[i]) || `${i}: ${v} vs ${ref[i]}`).filter((v) => v !== true)).toEqual([]);
    }
  });

  it('GlobalAveragePool in f64x2 lanes within 1e-6 of the scalar loop (float64 sums in another order; planes of 4k and 4k+1…3 values, NaN)', () => {
    const prng = new Prng(19);
    for (const shape of [[2, 3, 8, 8], [3, 5, 7, 7], [1, 4, 1, 3], [2, 2, 29, 31]]) {
      const x = rand(prng, shape);
      (x.data as Float32Array)[shape[2] * shape[3] + 1] = NaN;
      const n = node('GlobalAveragePool', 1, {});
      const fast = run(n, [x], 'simd-f64');
      const ref = run(n, [x], 'scalar');
      expect(Number.isNaN(fast[1]) && Number.isNaN(ref[1])).toBe(true);
      fast[1] = ref[1] = 0;
      expect(maxRel(fast, ref)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('MaxPool with hoisted tap ranges gives the generic loop\'s results bit for bit (pads, dilation, ceil_mode, NaN)', () => {
    fc.assert(
      fc.property(
        fc.record({
          h: fc.integer({ min: 1, max: 9 }),
          w: fc.integer({ min: 1, max: 9 }),
          ...windowArbs({ k: 3, s: 3, pad: 1 }),
          ceil: fc.boolean(),
          seed: fc.nat(),
        }),
        (p) => {
          // ONNX: pads smaller than the kernel; the window must fit the padded input
          fc.pre(p.pads[0] < p.kh && p.pads[2] < p.kh && p.pads[1] < p.kw && p.pads[3] < p.kw);
          fc.pre(windowFits(p));
          const prng = new Prng(p.seed);
          const x = rand(prng, [2, 3, p.h, p.w]);
          (x.data as Float32Array)[p.seed % x.data.length] = NaN;
          const attrs = { kernel_shape: [p.kh, p.kw], strides: [p.sh, p.sw], dilations: [p.dh, p.dw], pads: [...p.pads], ceil_mode: p.ceil ? 1 : 0 };
          const n = node('MaxPool', 1, attrs);
          const fast = Array.from(run(n, [x], 'auto'));
          const ref = Array.from(run(n, [x], 'scalar'));
          expect(fast.map((v, i) => Object.is(v, ref[i]) || `${i}: ${v} vs ${ref[i]}`).filter((v) => v !== true)).toEqual([]);
        },
      ),
    );
  });
});
