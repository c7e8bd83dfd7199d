/**
 * Transformer ops in the FP32 executor against onnxruntime-node, on ONNX files written straight from
 * the schema (test/helpers/onnx-build.ts, no exporter involved) and run by ORT as they are (graph
 * optimizations off, so ORT computes the decomposed chains node by node):
 *   - LayerNorm written out (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add), which the importer
 *     fuses into one LayerNormalization, against ORT running the chain; opset 17's own
 *     LayerNormalization; the near misses the importer must leave alone;
 *   - GELU written with Erf (and with Tanh), fused into Gelu, against the chain;
 *   - Softmax at opset 9/11 (the 2-D coercion at `axis`) and at opset 13 (one axis);
 *   - MatMul of two activations (batched, broadcast), Slice, ReduceMean, Pow, Sqrt, and broadcast
 *     binary ops with the small operand first.
 * Error measure: max |ours − ORT| ≤ tol × max |ORT| (tol 1e-5; fused against unfused: float32
 * rounding of the chain's intermediates).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../nets/fp32.js';
import type { Graph, Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { importOnnx } from '../../nets/onnx/import.js';
import { Prng } from '../../nets/prng.js';
import { modelErrorOf } from '../helpers/errors.js';
import { buildModel, f32, i64, scalar, type BAttr, type BNode } from '../helpers/onnx-build.js';
import { runOrt } from '../helpers/ort.js';

function rand(rng: Prng, shape: readonly number[], scale = 1, offset = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal() * scale + offset;
  return { dtype: 'float32', shape, data: d };
}

interface Built {
  bytes: Uint8Array;
  feeds: Record<string, Tensor>;
}

function model(opset: number, feeds: Record<string, Tensor>, nodes: BNode[], inits: Record<string, Tensor> = {}): Built {
  const bytes = buildModel({
    opset,
    inputs: Object.entries(feeds).map(([name, t]) => ({ name, shape: [...t.shape] })),
    outputs: [{ name: 'y' }],
    inits,
    nodes,
  });
  return { bytes, feeds };
}

/** Imports the bytes, runs our executor and ORT on the same file; returns the imported graph. */
async function compare(b: Built, tol = 1e-5): Promise<Graph> {
  const g = importOnnx(b.bytes);
  const ours = runFp32(g, b.feeds).y;
  const ref = (await runOrt(b.bytes, b.feeds)).y;
  expect([...ours.shape]).toEqual([...ref.dims]);
  let maxRef = 1e-6;
  let maxErr = 0;
  const d = ours.data as Float32Array;
  let nanMismatch = 0;
  for (let i = 0; i < d.length; i++) {
    const r = Number(ref.data[i]);
    // NaN where ORT has NaN (a near miss's √ of a negative mean) is agreement
    if (Number.isNaN(r) || Number.isNaN(d[i])) {
      if (Number.isNaN(r) !== Number.isNaN(d[i])) nanMismatch++;
      continue;
    }
    maxRef = Math.max(maxRef, Math.abs(r));
    maxErr = Math.max(maxErr, Math.abs(d[i] - r));
  }
  expect(nanMismatch).toBe(0);
  expect(maxErr / maxRef).toBeLessThanOrEqual(tol);
  return g;
}

const ops = (g: Graph) => g.nodes.map((n) => n.op);
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

interface LnCase {
  opset: number;
  shape: number[];
  k: number;
  eps: number;
  square: 'pow' | 'mul';
  bias: boolean;
  gammaFirst: boolean;
  positiveAxes: boolean;
  offset: number;
  seed: number;
}

const lnCase: fc.Arbitrary<LnCase> = fc
  .record({
    opset: fc.constantFrom(9, 13, 17),
    lead: fc.constantFrom([2], [1, 3], [2, 2, 2], []),
    last: fc.constantFrom([8], [40, 16], [3, 5], [120]),
    k: fc.constantFrom(1, 2),
    eps: fc.constantFrom(1e-5, 1e-6, 1e-12),
    square: fc.constantFrom<'pow' | 'mul'>('pow', 'mul'),
    bias: fc.boolean(),
    gammaFirst: fc.boolean(),
    positiveAxes: fc.boolean(),
    offset: fc.constantFrom(0, 3),
    seed,
  })
  .map((p) => ({ ...p, shape: [...p.lead, ...p.last], k: Math.min(p.k, p.last.length) }));

/** The LayerNorm chain as exporters write it (PaddlePaddle's p2o, PyTorch before opset 17). */
function lnChain(c: LnCase): Built {
  const rng = new Prng(c.seed);
  const rank = c.shape.length;
  const axes = Array.from({ length: c.k }, (_, i) => (c.positiveAxes ? rank - c.k + i : i - c.k));
  const norm = c.shape.slice(rank - c.k);
  const inits: Record<string, Tensor> = { eps: scalar(c.eps), gamma: rand(rng, norm, 0.5, 1), beta: rand(rng, norm, 0.3), two: scalar(2) };
  const nodes: BNode[] = [
    { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes } },
    { op: 'Sub', inputs: ['x', 'm'], outputs: ['d'] },
    c.square === 'pow' ? { op: 'Pow', inputs: ['d', 'two'], outputs: ['sq'] } : { op: 'Mul', inputs: ['d', 'd'], outputs: ['sq'] },
    { op: 'ReduceMean', inputs: ['sq'], outputs: ['v'], attrs: { axes } },
    { op: 'Add', inputs: ['v', 'eps'], outputs: ['ve'] },
    { op: 'Sqrt', inputs: ['ve'], outputs: ['s'] },
    { op: 'Div', inputs: ['d', 's'], outputs: ['n'] },
    { op: 'Mul', inputs: c.gammaFirst ? ['gamma', 'n'] : ['n', 'gamma'], outputs: [c.bias ? 'g' : 'y'] },
  ];
  if (c.bias) nodes.push({ op: 'Add', inputs: ['g', 'beta'], outputs: ['y'] });
  return model(c.opset, { x: rand(rng, c.shape, 2, c.offset) }, nodes, inits);
}

describe('LayerNorm: the decomposed chain becomes one LayerNormalization, equal to ORT running the chain', () => {
  it('shapes, trailing axes, ε, Pow or d·d, with and without bias, operand orders', async () => {
    await fc.assert(
      fc.asyncProperty(lnCase, async (c) => {
        const g = await compare(lnChain(c));
        expect(ops(g)).toEqual(['LayerNormalization']);
        expect(g.nodes[0].attrs).toEqual({ axis: -c.k, epsilon: Math.fround(c.eps) });
        expect(g.nodes[0].inputs).toEqual(c.bias ? ['x', 'gamma', 'beta'] : ['x', 'gamma']);
      }),
      { numRuns: 40 },
    );
  });

  it('near misses stay unfused and still run as ORT runs them', async () => {
    /** the chain over the last axis of [2, 6, 8] with one change */
    const nearMiss = (mutate: (at: (out: string) => BNode) => void): Built => {
      const rng = new Prng(5);
      const x = rand(rng, [2, 6, 8], 2);
      const inits: Record<string, Tensor> = { eps: scalar(1e-5), gamma: rand(rng, [8], 0.5, 1), beta: rand(rng, [8], 0.3), two: scalar(2), three: scalar(3), gamma2: rand(rng, [6, 8], 0.5, 1), gammaw: rand(rng, [1, 1, 1, 8], 0.5, 1), epsv: f32([8], Array(8).fill(1e-5)) };
      const nodes: BNode[] = [
        { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: [-1] } },
        { op: 'Sub', inputs: ['x', 'm'], outputs: ['d'] },
        { op: 'Pow', inputs: ['d', 'two'], outputs: ['sq'] },
        { op: 'ReduceMean', inputs: ['sq'], outputs: ['v'], attrs: { axes: [-1] } },
        { op: 'Add', inputs: ['v', 'eps'], outputs: ['ve'] },
        { op: 'Sqrt', inputs: ['ve'], outputs: ['s'] },
        { op: 'Div', inputs: ['d', 's'], outputs: ['n'] },
        { op: 'Mul', inputs: ['n', 'gamma'], outputs: ['g'] },
        { op: 'Add', inputs: ['g', 'beta'], outputs: ['y'] },
      ];
      mutate((out) => nodes.find((n) => n.outputs[0] === out)!);
      return model(13, { x }, nodes, inits);
    };
    expect(ops(await compare(nearMiss(() => {})))).toEqual(['LayerNormalization']);
    const variants: [string, (at: (out: string) => BNode) => void][] = [
      ['Pow(d, 3)', (at) => (at('sq').inputs[1] = 'three')],
      ['ε a vector', (at) => (at('ve').inputs[1] = 'epsv')],
      ['the variance over another axis', (at) => (at('v').attrs = { axes: [1] })],
      ['mean − x instead of x − mean', (at) => (at('d').inputs = ['m', 'x'])],
      ['γ over two axes', (at) => (at('g').inputs[1] = 'gamma2')],
      ['γ with more axes than x (the output broadcasts up)', (at) => (at('g').inputs[1] = 'gammaw')],
      ['d also read elsewhere', (at) => (at('y').inputs = ['g', 'd'])],
      ['Div the other way round', (at) => (at('n').inputs = ['s', 'd'])],
    ];
    for (const [what, mutate] of variants) expect(ops(await compare(nearMiss(mutate))), what).not.toContain('LayerNormalization');
  });

  it("opset 17's LayerNormalization (the ViT export's op): axes, with and without B", async () => {
    for (const [shape, axis, bias] of [
      [[2, 5, 16], -1, true],
      [[2, 5, 16], 1, false],
      [[3, 4, 2, 6], 2, true],
    ] as const) {
      const rng = new Prng(shape.length * 10 + axis);
      const norm = shape.slice(axis < 0 ? shape.length + axis : axis);
      const inits: Record<string, Tensor> = { s: rand(rng, norm, 0.5, 1), b: rand(rng, norm, 0.3) };
      const attrs: Record<string, BAttr> = { axis, epsilon: { f: 1e-6 } };
      const g = await compare(model(17, { x: rand(rng, shape, 3, 1) }, [{ op: 'LayerNormalization', inputs: bias ? ['x', 's', 'b'] : ['x', 's'], outputs: ['y'], attrs }], inits));
      expect(g.nodes[0].attrs.axis).toBe(axis < 0 ? axis : axis - shape.length);
    }
  });
});

describe('GELU: written with Erf or Tanh, fused into Gelu, equal to ORT running the chain', () => {
  it('exact (erf) and tanh forms', async () => {
    const rng = new Prng(11);
    const x = rand(rng, [2, 7, 33], 3);
    const consts = { sqrt2: scalar(Math.SQRT2), one: scalar(1), half: scalar(0.5), k: scalar(0.044715), s2pi: scalar(Math.sqrt(2 / Math.PI)), three: scalar(3) };
    const erf = await compare(
      model(13, { x }, [
        { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['a'] },
        { op: 'Erf', inputs: ['a'], outputs: ['b'] },
        { op: 'Add', inputs: ['b', 'one'], outputs: ['c'] },
        { op: 'Mul', inputs: ['x', 'c'], outputs: ['d'] },
        { op: 'Mul', inputs: ['d', 'half'], outputs: ['y'] },
      ], consts),
    );
    expect(erf.nodes).toMatchObject([{ op: 'Gelu', attrs: { approximate: 'none' }, inputs: ['x'] }]);
    const tanh = await compare(
      model(13, { x }, [
        { op: 'Pow', inputs: ['x', 'three'], outputs: ['x3'] },
        { op: 'Mul', inputs: ['x3', 'k'], outputs: ['m'] },
        { op: 'Add', inputs: ['x', 'm'], outputs: ['w'] },
        { op: 'Mul', inputs: ['w', 's2pi'], outputs: ['u'] },
        { op: 'Tanh', inputs: ['u'], outputs: ['v'] },
        { op: 'Add', inputs: ['v', 'one'], outputs: ['a'] },
        { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
        { op: 'Mul', inputs: ['h', 'a'], outputs: ['y'] },
      ], consts),
    );
    expect(tanh.nodes).toMatchObject([{ op: 'Gelu', attrs: { approximate: 'tanh' }, inputs: ['x'] }]);
  });
});

describe('Softmax: opset 9–12 coerce to 2-D at axis, opset 13 normalizes one axis', () => {
  it.each([
    [9, [2, 3, 4], 1],
    [9, [2, 3, 4, 5], 1],
    [11, [2, 3, 4, 5], 2],
    [11, [2, 3, 4, 5], 0],
    [11, [6, 7], -1],
    [9, [2, 3, 4], -2],
    [13, [2, 3, 4, 5], 1],
    [13, [2, 3, 4, 5], -1],
    [13, [2, 3, 4], 0],
  ])('opset %i, shape %j, axis %i', async (opset, shape, axis) => {
    const rng = new Prng(opset * 100 + shape.length * 10 + axis);
    const g = await compare(model(opset, { x: rand(rng, shape, 4) }, [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis } }]));
    const ax = axis < 0 ? axis + shape.length : axis;
    const coerced = opset < 13 && ax < shape.length - 1;
    expect(g.nodes[0].attrs.coerce2d).toBe(coerced ? 1 : undefined);
  });

  it('a coerced Softmax exports at its own opset (the default) and refuses opset 13', async () => {
    const rng = new Prng(4);
    const x = rand(rng, [2, 3, 4]);
    const b = model(9, { x }, [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }]);
    const g = importOnnx(b.bytes);
    const again = exportOnnx(g);
    expect(importOnnx(again).nodes[0].attrs).toEqual({ axis: 1, coerce2d: 1 });
    expect(Array.from((await runOrt(again, { x })).y.data, Number)).toEqual(Array.from((await runOrt(b.bytes, { x })).y.data, Number));
    expect(modelErrorOf(() => exportOnnx(g, { opset: 13 })).problems[0].message).toContain('cannot be written for opset 13');
  });

  it('the two semantics differ where they should: opset 9 axis 1 of [2, 3, 4] sums to 1 over 12 values', async () => {
    const rng = new Prng(3);
    const x = rand(rng, [2, 3, 4]);
    const y = runFp32(importOnnx(model(9, { x }, [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }]).bytes), { x }).y.data as Float32Array;
    let s = 0;
    for (let i = 0; i < 12; i++) s += y[i];
    expect(s).toBeCloseTo(1, 6);
    const y13 = runFp32(importOnnx(model(13, { x }, [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }]).bytes), { x }).y.data as Float32Array;
    expect(y13[0] + y13[4] + y13[8]).toBeCloseTo(1, 6);
  });
});

describe('attention building blocks equal ORT', () => {
  it('MatMul of two activations: batched, broadcast, rank 1', async () => {
    const shapes: [number[], number[]][] = [
      [[1, 8, 40, 15], [1, 8, 15, 40]],
      [[2, 3, 4, 5], [3, 5, 6]],
      [[2, 1, 4, 5], [1, 3, 5, 2]],
      [[4, 5], [2, 5, 3]],
      [[5], [2, 5, 3]],
      [[2, 4, 5], [5]],
    ];
    for (const [sa, sb] of shapes) {
      const rng = new Prng(sa.length * 7 + sb.length);
      await compare(model(13, { a: rand(rng, sa), b: rand(rng, sb) }, [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }]));
    }
  });

  it('Slice on activations (opset 9 attributes, opset 13 inputs with negative steps and ±INT64 bounds)', async () => {
    const rng = new Prng(21);
    const x = rand(rng, [3, 2, 5, 6]);
    const g9 = await compare(model(9, { x }, [{ op: 'Slice', inputs: ['x'], outputs: ['y'], attrs: { axes: [0], starts: [1], ends: [2] } }]));
    expect(g9.nodes[0].attrs).toEqual({ starts: [1], ends: [2], axes: [0], steps: [1] });
    const big = 2n ** 63n - 1n;
    const bounds = (v: bigint[]): Tensor => ({ dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v) });
    for (const [starts, ends, axes, steps] of [
      [[-1n, 0n], [-big - 1n, big], [3n, 2n], [-2n, 2n]],
      [[1n], [-1n], [-1n], [1n]],
      [[10n, -100n], [-10n, 100n], [2n, 3n], [-1n, 3n]],
      [[0n], [0n], [1n], [1n]],
    ] as const) {
      const inits = { s: bounds([...starts]), e: bounds([...ends]), a: bounds([...axes]), st: bounds([...steps]) };
      await compare(model(13, { x }, [{ op: 'Slice', inputs: ['x', 's', 'e', 'a', 'st'], outputs: ['y'] }], inits));
    }
  });

  it('ReduceMean (axes anywhere, keepdims 0/1, all axes), Pow, Sqrt', async () => {
    const rng = new Prng(31);
    const x = rand(rng, [2, 3, 4, 5], 2, 1);
    for (const attrs of [{ axes: [1] }, { axes: [0, 2], keepdims: 0 }, { axes: [-1, -2] }, {}, { keepdims: 0 }, { axes: [] }] as Record<string, BAttr>[]) {
      await compare(model(13, { x }, [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attrs }]));
    }
    const inits = { e: f32([5], [2, 0.5, 3, -1, 1.5]), two: scalar(2), ie: i64([2], true) };
    const pos = rand(rng, [2, 3, 4, 5], 1, 3);
    await compare(model(13, { x: pos }, [{ op: 'Pow', inputs: ['x', 'e'], outputs: ['y'] }], inits));
    await compare(model(13, { x }, [{ op: 'Pow', inputs: ['x', 'two'], outputs: ['y'] }], inits));
    await compare(model(13, { x }, [{ op: 'Pow', inputs: ['x', 'ie'], outputs: ['y'] }], inits));
    await compare(model(13, { x: pos }, [{ op: 'Sqrt', inputs: ['x'], outputs: ['y'] }]));
  });

  it('broadcast binary ops with the small operand first (a scalar, a bias vector, one value per channel)', async () => {
    const rng = new Prng(41);
    const x = rand(rng, [2, 3, 4, 5], 1, 3);
    for (const small of [[1], [5], [3, 1, 1], [1, 3, 1, 1], [4, 5], [3, 1, 5]]) {
      for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow']) {
        const c = rand(rng, small, 0.5, op === 'Div' || op === 'Pow' ? 2 : 0);
        await compare(model(13, { x }, [{ op, inputs: ['c', 'x'], outputs: ['y'] }], { c }));
        await compare(model(13, { x }, [{ op, inputs: ['x', 'c'], outputs: ['y'] }], { c }));
      }
    }
  });
});
