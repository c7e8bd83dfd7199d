/**
 * The FP32 executor against onnxruntime-node, op by op, on random shapes and attributes
 * (seeded fast-check). The referee is ORT running the exported ONNX of the same one-node graph.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../nets/fp32.js';
import type { AttrValue, Graph, Node, OpType, Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { Prng } from '../../nets/prng.js';
import { inferShapes } from '../../nets/shapes.js';
import { windowArbs, windowFits } from '../helpers/arbitraries.js';
import { runOrt } from '../helpers/ort.js';

function randTensor(rng: Prng, shape: readonly number[], scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal() * scale;
  return { dtype: 'float32', shape, data: d };
}

interface Case {
  op: OpType;
  attrs: Record<string, AttrValue>;
  /** shapes of runtime inputs */
  inputs: readonly (readonly number[])[];
  /** shapes of weight inputs (initializers) after the runtime inputs; null = omitted optional */
  weights: readonly (readonly number[] | null)[];
  seed: number;
  positiveWeights?: number[];
}

function graphOf(c: Case): { graph: Graph; feeds: Record<string, Tensor> } {
  const rng = new Prng(c.seed);
  const feeds: Record<string, Tensor> = {};
  const inputs = c.inputs.map((s, i) => {
    const name = `x${i}`;
    feeds[name] = randTensor(rng, s);
    return { name, dtype: 'float32' as const, shape: s };
  });
  const initializers = new Map<string, Tensor>();
  const names = inputs.map((i) => i.name);
  c.weights.forEach((s, i) => {
    if (!s) return names.push('');
    const t = randTensor(rng, s, 0.5);
    if (c.positiveWeights?.includes(i)) for (let j = 0; j < t.data.length; j++) (t.data as Float32Array)[j] = Math.abs((t.data as Float32Array)[j]) + 0.1;
    initializers.set(`w${i}`, t);
    names.push(`w${i}`);
  });
  while (names.length && names[names.length - 1] === '') names.pop();
  const node: Node = { name: `n_${c.op}`, op: c.op, inputs: names, outputs: ['y'], attrs: c.attrs };
  const partial: Graph = { name: 'g', inputs, outputs: [], initializers, nodes: [node], opset: 13 };
  const shape = inferShapes(partial).get('y')!;
  return { graph: { ...partial, outputs: [{ name: 'y', dtype: 'float32', shape }] }, feeds };
}

async function compare(c: Case): Promise<void> {
  const { graph, feeds } = graphOf(c);
  const ours = runFp32(graph, feeds).y;
  const ref = (await runOrt(exportOnnx(graph), feeds)).y;
  expect([...ours.shape]).toEqual([...ref.dims]);
  let maxRef = 1e-6;
  for (let i = 0; i < ref.data.length; i++) maxRef = Math.max(maxRef, Math.abs(Number(ref.data[i])));
  let maxErr = 0;
  for (let i = 0; i < ref.data.length; i++) maxErr = Math.max(maxErr, Math.abs((ours.data as Float32Array)[i] - Number(ref.data[i])));
  expect(maxErr / maxRef, `${c.op} ${JSON.stringify(c.attrs)} inputs ${JSON.stringify(c.inputs)}`).toBeLessThanOrEqual(1e-5);
}

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

const convCase: fc.Arbitrary<Case> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.constantFrom(1, 2, 3),
    icPerGroup: fc.integer({ min: 1, max: 3 }),
    ocPerGroup: fc.integer({ min: 1, max: 3 }),
    depthwise: fc.boolean(),
    h: fc.integer({ min: 3, max: 9 }),
    w: fc.integer({ min: 3, max: 9 }),
    ...windowArbs({ k: 3, s: 3, pad: 2 }),
    bias: fc.boolean(),
    seed,
  })
  .filter(windowFits)
  .map((p) => {
    const g = p.depthwise ? 4 : p.groups;
    const icg = p.depthwise ? 1 : p.icPerGroup;
    const oc = g * p.ocPerGroup;
    return {
      op: 'Conv' as const,
      attrs: { kernel_shape: [p.kh, p.kw], strides: [p.sh, p.sw], dilations: [p.dh, p.dw], pads: [...p.pads], group: g },
      inputs: [[p.n, g * icg, p.h, p.w]],
      weights: [[oc, icg, p.kh, p.kw], p.bias ? [oc] : null],
      seed: p.seed,
    };
  });

const gemmCase: fc.Arbitrary<Case> = fc
  .record({
    m: fc.integer({ min: 1, max: 6 }),
    k: fc.integer({ min: 1, max: 40 }),
    n: fc.integer({ min: 1, max: 12 }),
    transA: fc.constantFrom(0, 1),
    transB: fc.constantFrom(0, 1),
    alpha: fc.constantFrom(1, 0.5, 2),
    beta: fc.constantFrom(1, 0.25),
    bias: fc.constantFrom('none', 'vector', 'matrix', 'scalar'),
    seed,
  })
  .map((p) => ({
    op: 'Gemm' as const,
    attrs: { transA: p.transA, transB: p.transB, alpha: p.alpha, beta: p.beta },
    inputs: [p.transA ? [p.k, p.m] : [p.m, p.k]],
    weights: [p.transB ? [p.n, p.k] : [p.k, p.n], p.bias === 'none' ? null : p.bias === 'vector' ? [p.n] : p.bias === 'matrix' ? [p.m, p.n] : [1]],
    seed: p.seed,
  }));

const matmulCase: fc.Arbitrary<Case> = fc
  .record({ b: fc.constantFrom([], [2], [3, 1]), bb: fc.constantFrom([], [1], [2]), m: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 9 }), n: fc.integer({ min: 1, max: 5 }), seed })
  .map((p) => ({ op: 'MatMul' as const, attrs: {}, inputs: [[...p.b, p.m, p.k]], weights: [[...p.bb, p.k, p.n]], seed: p.seed }));

const poolCase: fc.Arbitrary<Case> = fc
  .record({
    op: fc.constantFrom('MaxPool' as const, 'AveragePool' as const),
    k: fc.integer({ min: 1, max: 3 }),
    s: fc.integer({ min: 1, max: 3 }),
    pad: fc.nat(1),
    countPad: fc.constantFrom(0, 1),
    h: fc.integer({ min: 3, max: 8 }),
    seed,
  })
  .filter((p) => p.pad < p.k)
  .map((p) => ({
    op: p.op,
    attrs: { kernel_shape: [p.k, p.k], strides: [p.s, p.s], pads: [p.pad, p.pad, p.pad, p.pad], ...(p.op === 'AveragePool' ? { count_include_pad: p.countPad } : {}) },
    inputs: [[1, 2, p.h, p.h + 1]],
    weights: [],
    seed: p.seed,
  }));

const unaryCase: fc.Arbitrary<Case> = fc
  .record({
    op: fc.constantFrom<OpType>('Relu', 'Sigmoid', 'Tanh', 'Erf', 'HardSwish', 'HardSigmoid', 'Swish', 'Gelu', 'Clip', 'Softmax', 'GlobalAveragePool', 'Flatten', 'Identity'),
    approximate: fc.constantFrom('none', 'tanh'),
    seed,
  })
  .map((p) => ({
    op: p.op,
    attrs: (p.op === 'Gelu' ? { approximate: p.approximate } : p.op === 'Clip' ? { min: 0, max: 6 } : p.op === 'Softmax' ? { axis: 1 } : p.op === 'HardSigmoid' ? { alpha: 0.2, beta: 0.5 } : {}) as Record<string, AttrValue>,
    inputs: [[2, 3, 4, 5]],
    weights: [],
    seed: p.seed,
  }));

const binaryCase: fc.Arbitrary<Case> = fc
  .record({ op: fc.constantFrom<OpType>('Add', 'Sub', 'Mul', 'Div'), other: fc.constantFrom([2, 3, 4, 5], [1, 3, 1, 1], [5], [3, 1, 5], [1]), seed })
  .map((p) => ({ op: p.op, attrs: {}, inputs: [[2, 3, 4, 5]], weights: [p.other], seed: p.seed, positiveWeights: p.op === 'Div' ? [0] : undefined }));

const layoutCase: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ perm: fc.constantFrom([0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3]), seed }).map((p) => ({ op: 'Transpose' as const, attrs: { perm: p.perm }, inputs: [[2, 3, 4, 5]], weights: [], seed: p.seed })),
  fc
    .record({ mode: fc.constantFrom('constant', 'reflect', 'edge'), pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), seed })
    .map((p) => ({ op: 'Pad' as const, attrs: { mode: p.mode, pads: [0, 0, p.pads[0], p.pads[1], 0, 0, p.pads[2], p.pads[3]], value: 0.5 }, inputs: [[1, 2, 4, 5]], weights: [], seed: p.seed })),
  fc.record({ axis: fc.constantFrom(0, 1, 3, -1), seed }).map((p) => ({ op: 'Concat' as const, attrs: { axis: p.axis }, inputs: [[2, 3, 4, 5], [2, 3, 4, 5]], weights: [], seed: p.seed })),
  fc.record({ shape: fc.constantFrom([0, -1], [2, 60], [-1, 4, 5], [2, 3, 20]), seed }).map((p) => ({ op: 'Reshape' as const, attrs: { shape: p.shape }, inputs: [[2, 3, 4, 5]], weights: [], seed: p.seed })),
  fc.record({ seed }).map((p) => ({ op: 'BatchNormalization' as const, attrs: { epsilon: 1e-3 }, inputs: [[2, 3, 4, 5]], weights: [[3], [3], [3], [3]], positiveWeights: [3], seed: p.seed })),
);

describe('FP32 executor equals onnxruntime-node (max |err| / max |ref| ≤ 1e-5)', () => {
  it.each<[string, fc.Arbitrary<Case>, number]>([
    ['Conv: strides, pads, dilations, groups, depthwise, bias', convCase, 150],
    ['Gemm: transposes, alpha, beta, bias broadcast', gemmCase, 80],
    ['MatMul with batch broadcast', matmulCase, 40],
    ['MaxPool / AveragePool', poolCase, 60],
    ['activations, softmax, global pooling', unaryCase, 60],
    ['broadcast binary ops', binaryCase, 40],
    ['Transpose, Pad, Concat, Reshape, BatchNormalization', layoutCase, 60],
  ])('%s', async (_, cases, numRuns) => {
    await fc.assert(fc.asyncProperty(cases, compare), { numRuns });
  });
});
