/**
 * PTQ of a transformer block (pre-LN attention with two heads + a GELU MLP, seeded random weights):
 * the plan makes integer MatMul / Softmax / LayerNorm layers, the score scale is folded into the
 * query projection (no float op left inside the block), the algorithms asked for are the ones
 * built, and the integer network stays close to FP32 (SQNR against the float graph).
 */
import { describe, expect, it } from 'vitest';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { runFp32 } from '../../../nets/fp32.js';
import { Prng } from '../../../nets/prng.js';
import { foldAttentionScales } from '../../../quant/attention-fold.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { quantizeNetwork } from '../../../quant/pipeline.js';
import { quantizedOutputs, sqnrDb } from '../../../scenarios/debug.js';

const T = 8;
const C = 16;
const H = 2;
const D = C / H;

function block(seed: number): Graph {
  const rng = new Prng(seed);
  const inits = new Map<string, Tensor>();
  const nodes: Node[] = [];
  const init = (name: string, shape: number[], f: () => number): string => {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = f();
    inits.set(name, { dtype: 'float32', shape, data: d });
    return name;
  };
  const w = (name: string, k: number, n: number) => init(name, [k, n], () => rng.normal() / Math.sqrt(k));
  const add = (name: string, op: Node['op'], inputs: string[], attrs: Node['attrs'] = {}): string => {
    nodes.push({ name, op, inputs, outputs: [name], attrs });
    return name;
  };
  const linear = (name: string, x: string, k: number, n: number) => add(name, 'Add', [add(`${name}/mm`, 'MatMul', [x, w(`${name}.w`, k, n)]), init(`${name}.b`, [n], () => 0.1 * rng.normal())]);
  const ln = (name: string, x: string) => add(name, 'LayerNormalization', [x, init(`${name}.g`, [C], () => 1 + 0.2 * rng.normal()), init(`${name}.b`, [C], () => 0.1 * rng.normal())], { axis: -1, epsilon: 1e-5 });
  const heads = (name: string, x: string, perm: number[]) => add(`${name}/t`, 'Transpose', [add(`${name}/r`, 'Reshape', [x], { shape: [0, 0, H, D] })], { perm });
  const a = ln('ln1', 'x');
  const q = heads('q', linear('q', a, C, C), [0, 2, 1, 3]);
  const k = heads('k', linear('k', a, C, C), [0, 2, 3, 1]);
  const v = heads('v', linear('v', a, C, C), [0, 2, 1, 3]);
  const s = add('scores', 'MatMul', [q, k]);
  const ss = add('scaled', 'Mul', [s, init('scale', [], () => 1 / Math.sqrt(D))]);
  const p = add('softmax', 'Softmax', [ss], { axis: -1 });
  const o = add('context', 'MatMul', [p, v]);
  const m = add('merge', 'Reshape', [add('merge/t', 'Transpose', [o], { perm: [0, 2, 1, 3] })], { shape: [0, 0, C] });
  const r = add('residual', 'Add', ['x', linear('proj', m, C, C)]);
  const h = add('gelu', 'Gelu', [linear('fc1', ln('ln2', r), C, 2 * C)]);
  const y = add('y', 'Add', [r, linear('fc2', h, 2 * C, C)]);
  return { name: 'block', inputs: [{ name: 'x', dtype: 'float32', shape: [-1, T, C] }], outputs: [{ name: y, dtype: 'float32', shape: [-1, T, C] }], initializers: inits, nodes, opset: 17 };
}

function data(seed: number, count: number) {
  const rng = new Prng(seed);
  const images = new Float32Array(count * T * C);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  return { images, shape: [T, C], count };
}

describe('transformer PTQ', () => {
  const graph = block(3);
  const calib = data(1, 64);
  const test = data(2, 32);
  const fp = runFp32(graph, { x: { dtype: 'float32', shape: [test.count, T, C], data: test.images } })[graph.outputs[0].name].data as Float32Array;

  it('the score scale folds into the query projection without changing the function', () => {
    const { graph: g, folded } = foldAttentionScales(graph);
    expect(folded).toEqual(['scaled']);
    expect(g.nodes.some((n) => n.op === 'Mul')).toBe(false);
    const out = runFp32(g, { x: { dtype: 'float32', shape: [test.count, T, C], data: test.images } })[g.outputs[0].name].data as Float32Array;
    // float32 rounding of c·w only
    expect(sqnrDb(fp, out)).toBeGreaterThan(100);
  });

  it('W8A8: integer MatMul, Softmax and LayerNorm layers, no float op left, close to FP32', async () => {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 64 }));
    const kinds = r.net.layers.map((l) => l.kind);
    expect(kinds.filter((k) => k === 'matmul')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'layernorm')).toHaveLength(2);
    expect(kinds).toContain('softmax');
    expect(kinds).not.toContain('float');
    const sm = r.net.layers.find((l) => l.kind === 'softmax')!;
    expect(sm).toMatchObject({ axis: 3, coerce2d: false, variant: 'ort' });
    // probabilities: scale 1/256 from the bottom of the unsigned range
    expect(Array.from(r.net.tensors.get(sm.output)!.q.scale)).toEqual([1 / 256]);
    const fc1 = r.net.layers.find((l) => l.name === 'fc1/mm')!;
    expect(fc1.kind === 'gemm' && fc1.activation.kind === 'lut' && fc1.activation.fn).toBe('gelu');
    const q = quantizedOutputs(r.net, graph, test);
    // measured 32.5 dB
    expect(sqnrDb(fp, q)).toBeGreaterThan(25);
  });

  it('integer-only algorithms (I-BERT softmax, LayerNorm, i-GELU) are built as asked and stay usable', async () => {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 64, softmax: 'ibert', layerNorm: 'integer', gelu: 'igelu' }));
    expect(r.net.layers.find((l) => l.kind === 'softmax')).toMatchObject({ variant: 'ibert' });
    expect(r.net.layers.filter((l) => l.kind === 'layernorm').every((l) => l.kind === 'layernorm' && l.variant === 'integer')).toBe(true);
    const fc1 = r.net.layers.find((l) => l.name === 'fc1/mm')!;
    expect(fc1.kind === 'gemm' && fc1.activation.kind).toBe('igelu');
    // measured 31.3 dB
    expect(sqnrDb(fp, quantizedOutputs(r.net, graph, test))).toBeGreaterThan(24);
  });

  it('an unknown algorithm is a config problem', () => {
    expect(() => resolvePtqConfig('w8a8-pc', { softmax: 'taylor' })).toThrow(/softmax: must be one of ort, ibert, lut, got 'taylor'/);
  });
});
