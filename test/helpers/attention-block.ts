/**
 * A pre-LN transformer block built as a Graph with seeded random weights (LayerNorm → Q, K, V
 * projections → two-head attention with a 1/√d score scale → projection → residual; LayerNorm →
 * GELU MLP → residual), and seeded normal inputs [count, T, C] — for the transformer PTQ tests.
 * `gammaSpread` > 0 draws the LayerNorm γ as exp(spread·N(0,1)) instead of 1 + 0.2·N(0,1): the
 * strong inter-channel variation of post-LN activations RepQ-ViT targets.
 */
import type { Graph, Node, Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';

export const T = 8;
export const C = 16;
const H = 2;
const D = C / H;

export function block(seed: number, gammaSpread = 0): Graph {
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
  const ln = (name: string, x: string) => add(name, 'LayerNormalization', [x, init(`${name}.g`, [C], () => (gammaSpread > 0 ? Math.exp(gammaSpread * rng.normal()) : 1 + 0.2 * rng.normal())), init(`${name}.b`, [C], () => 0.1 * rng.normal())], { axis: -1, epsilon: 1e-5 });
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

export function data(seed: number, count: number) {
  const rng = new Prng(seed);
  const images = new Float32Array(count * T * C);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  return { images, shape: [T, C], count };
}
