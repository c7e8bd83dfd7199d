/**
 * BN folding: the folded graph computes the original's function (FP32 executor, real inputs), has
 * no BatchNormalization left where a Conv/Gemm precedes it, and reports each BN's (|γ|, β) under the
 * layer it went into. Hand-built graphs cover Gemm (transB 0/1, α, β, C), MatMul, and the cases
 * that must be left alone (BN after an input, after an Add, a layer output read twice).
 */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { batchInput } from '../../../nets/eval.js';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { photoOutputs } from '../../../nets/photo-eval.js';
import { Prng } from '../../../nets/prng.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { foldBatchNorms } from '../../../quant/bnfold.js';
import { maxRelErr } from '../../helpers/numeric.js';

function rand(prng: Prng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = prng.normal() * scale;
  return a;
}

const t = (shape: number[], data: Float32Array): Tensor => ({ dtype: 'float32', shape, data });

function bnNode(name: string, x: string, y: string): Node {
  return { name, op: 'BatchNormalization', inputs: [x, `${name}.s`, `${name}.b`, `${name}.m`, `${name}.v`], outputs: [y], attrs: { epsilon: 1e-3 } };
}

function bnInits(prng: Prng, name: string, c: number, into: Map<string, Tensor>): void {
  const s = rand(prng, c);
  const v = new Float32Array(c);
  for (let i = 0; i < c; i++) v[i] = 0.1 + prng.next() * 3;
  into.set(`${name}.s`, t([c], s));
  into.set(`${name}.b`, t([c], rand(prng, c)));
  into.set(`${name}.m`, t([c], rand(prng, c)));
  into.set(`${name}.v`, t([c], v));
}

describe('foldBatchNorms on the zoo', () => {
  it.each(['fmnist-cnn', 'fmnist-dwsep'])('%s: same outputs on 64 test images, no BN left', (name) => {
    const { graph } = loadModel(name);
    const set = loadDataset('fmnist', 'test', { samples: 64, seed: 3 });
    const feeds = batchInput(graph, set.images, set.shape, 0, set.count);
    const ref = runFp32(graph, feeds)[graph.outputs[0].name].data as Float32Array;
    const { graph: folded, bn } = foldBatchNorms(graph);
    expect(folded.nodes.filter((n) => n.op === 'BatchNormalization')).toEqual([]);
    const nBn = graph.nodes.filter((n) => n.op === 'BatchNormalization').length;
    expect(bn.size).toBe(nBn);
    const got = runFp32(folded, feeds)[folded.outputs[0].name].data as Float32Array;
    expect(maxRelErr(ref, got)).toBeLessThan(1e-5);
    // the original graph is untouched (passes return new graphs)
    expect(graph.nodes.filter((n) => n.op === 'BatchNormalization').length).toBe(nBn);
  });

  it('fmnist-cnn: reported statistics are the BN’s |γ| and β, keyed by the conv', () => {
    const { graph } = loadModel('fmnist-cnn');
    const { bn } = foldBatchNorms(graph);
    const bnNode2 = graph.nodes.find((n) => n.name === 'bn2')!;
    const gamma = graph.initializers.get(bnNode2.inputs[1])!.data as Float32Array;
    const beta = graph.initializers.get(bnNode2.inputs[2])!.data as Float32Array;
    const f = bn.get('conv2')!;
    expect(f).toBeDefined();
    expect(Array.from(f.gamma)).toEqual(Array.from(gamma, Math.abs));
    expect(Array.from(f.beta)).toEqual(Array.from(beta));
  });

  it('mobilenetv2 (tfjs, pretrained): same outputs on 2 photos, every BN folded', () => {
    const { graph } = loadModel('mobilenetv2');
    const { graph: folded, bn } = foldBatchNorms(graph);
    expect(folded.nodes.filter((n) => n.op === 'BatchNormalization')).toEqual([]);
    expect(bn.size).toBe(graph.nodes.filter((n) => n.op === 'BatchNormalization').length);
    const ref = photoOutputs(graph, 'mobilenetv2', { samples: 2, seed: 5 }).outputs;
    const got = photoOutputs(folded, 'mobilenetv2', { samples: 2, seed: 5 }).outputs;
    expect(maxRelErr(ref, got)).toBeLessThan(1e-5);
  });
});

describe('foldBatchNorms on constructed graphs', () => {
  function run(g: Graph, x: Float32Array, shape: number[]): Float32Array {
    return runFp32(g, { x: t(shape, x) })[g.outputs[0].name].data as Float32Array;
  }

  it('Gemm (transB 0 and 1, alpha, beta, C) and MatMul → BN fold exactly enough', () => {
    const prng = new Prng(11);
    for (const variant of ['gemmT', 'gemmN', 'matmul'] as const) {
      const inits = new Map<string, Tensor>();
      const [m, k, n] = [5, 7, 6];
      const w = rand(prng, k * n);
      inits.set('W', t(variant === 'gemmT' ? [n, k] : [k, n], w));
      inits.set('C', t([n], rand(prng, n)));
      bnInits(prng, 'bn', n, inits);
      const layer: Node =
        variant === 'matmul'
          ? { name: 'fc', op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'], attrs: {} }
          : { name: 'fc', op: 'Gemm', inputs: ['x', 'W', 'C'], outputs: ['h'], attrs: { alpha: 0.7, beta: 1.3, transA: 0, transB: variant === 'gemmT' ? 1 : 0 } };
      const g: Graph = {
        name: variant,
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, k] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, n] }],
        initializers: inits,
        nodes: [layer, bnNode('bn', 'h', 'y')],
        opset: 17,
      };
      const x = rand(prng, m * k);
      const { graph: folded, bn } = foldBatchNorms(g);
      expect(folded.nodes.map((nd) => nd.op)).toEqual(['Gemm']);
      expect(bn.has('fc')).toBe(true);
      expect(maxRelErr(run(g, x, [m, k]), run(folded, x, [m, k]))).toBeLessThan(1e-5);
    }
  });

  it('leaves BN after an input, after an Add, and after a conv whose output is read twice', () => {
    const prng = new Prng(12);
    const inits = new Map<string, Tensor>();
    const c = 3;
    inits.set('W', t([c, c, 1, 1], rand(prng, c * c)));
    for (const b of ['bn0', 'bn1', 'bn2']) bnInits(prng, b, c, inits);
    const g: Graph = {
      name: 'unfoldable',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, c, 4, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, c, 4, 4] }],
      initializers: inits,
      nodes: [
        bnNode('bn0', 'x', 'a'),
        { name: 'conv', op: 'Conv', inputs: ['a', 'W'], outputs: ['h'], attrs: { group: 1, kernel_shape: [1, 1], pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1] } },
        bnNode('bn1', 'h', 'hb'),
        { name: 'add', op: 'Add', inputs: ['hb', 'h'], outputs: ['s'], attrs: {} },
        bnNode('bn2', 's', 'y'),
      ],
      opset: 17,
    };
    const { graph: folded, bn } = foldBatchNorms(g);
    expect(bn.size).toBe(0);
    expect(folded.nodes.map((n) => n.op)).toEqual(g.nodes.map((n) => n.op));
    const x = rand(prng, 2 * c * 16);
    expect(run(folded, x, [2, c, 4, 4])).toEqual(run(g, x, [2, c, 4, 4]));
  });
});
