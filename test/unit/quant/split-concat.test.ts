/**
 * Split quantization of concatenations through the PTQ pipeline, on a hand-made graph whose two
 * concatenated branches differ ~60× in range (the Q-Diffusion situation): which concats split and
 * why not, the parameters the split output carries, what it buys against one scale per concat
 * (output SQNR against the FP32 graph on held-out inputs), and the refused ONNX export.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { exportQuantizedOnnx } from '../../../quant/onnx/qexport.js';
import { quantizeNetwork, runFp32Batched } from '../../../quant/pipeline.js';
import { quantizedOutputs, sqnrDb } from '../../../scenarios/debug.js';

const t = (shape: number[], data: Float32Array): Tensor => ({ dtype: 'float32', shape, data });
const conv = (name: string, x: string, w: string, b: string, y: string, k = 1): Node => ({
  name,
  op: 'Conv',
  inputs: [x, w, b],
  outputs: [y],
  attrs: { kernel_shape: [k, k], strides: [1, 1], pads: k === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0], dilations: [1, 1], group: 1 },
});

/** x[N,3,6,6] → conv a (×0.05) / conv b (×3) → concat → conv m 3×3 (a's channels weighed ×50) → relu → out; a second concat feeds a MaxPool */
function graph(rng: Prng): Graph {
  const w = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  return {
    name: 'two-ranges',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 6, 6] }],
    outputs: [
      { name: 'y', dtype: 'float32', shape: [-1, 4, 6, 6] },
      { name: 'p', dtype: 'float32', shape: [-1, 8, 3, 3] },
    ],
    initializers: new Map([
      ['wa', t([4, 3, 1, 1], w(12, 0.05))],
      ['ba', t([4], w(4, 0.01))],
      ['wb', t([4, 3, 1, 1], w(12, 3))],
      ['bb', t([4], w(4, 0.5))],
      // the next conv weighs both branches alike (a skip whose features matter): the small one ×50
      ['wm', t([4, 8, 3, 3], Float32Array.from(w(288, 0.3), (v, i) => (Math.floor(i / 9) % 8 < 4 ? v * 50 : v)))],
      ['bm', t([4], w(4, 0.1))],
    ]),
    nodes: [
      conv('a', 'x', 'wa', 'ba', 'ya'),
      conv('b', 'x', 'wb', 'bb', 'yb'),
      { name: 'cat', op: 'Concat', inputs: ['ya', 'yb'], outputs: ['c'], attrs: { axis: 1 } },
      conv('m', 'c', 'wm', 'bm', 'ym', 3),
      { name: 'relu', op: 'Relu', inputs: ['ym'], outputs: ['y'], attrs: {} },
      { name: 'cat2', op: 'Concat', inputs: ['ya', 'yb'], outputs: ['c2'], attrs: { axis: 1 } },
      { name: 'pool', op: 'MaxPool', inputs: ['c2'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] } },
    ],
    opset: 13,
  };
}

describe('split concat quantization (PTQ pipeline)', () => {
  const rng = new Prng(5);
  const g = graph(rng);
  const data = (count: number) => ({ images: Float32Array.from({ length: count * 108 }, () => rng.next() * 2 - 1), shape: [3, 6, 6], count });
  const calib = data(64);
  const test = data(64);
  const fp = runFp32Batched(g, test);

  it('splits the concat read by a conv, keeps the one a MaxPool reads, and says why', async () => {
    const r = await quantizeNetwork(g, calib, resolvePtqConfig('w8a8-pc', { splitConcat: true, actRange: 'minmax' }));
    const d = r.stats.splitConcat!;
    expect(d.map((x) => [x.concat, x.split])).toEqual([
      ['cat', true],
      ['cat2', false],
    ]);
    expect(d[1].reason).toMatch(/'pool' \(maxpool\) reads it/);
    // the split output carries each input's own (scale, zero point) on its channels
    const cq = r.net.tensors.get('c')!.q;
    const qa = r.net.tensors.get('ya')!.q;
    const qb = r.net.tensors.get('yb')!.q;
    expect(cq.axis).toBe(1);
    expect(Array.from(cq.scale)).toEqual([...Array(4).fill(qa.scale[0]), ...Array(4).fill(qb.scale[0])]);
    expect(Array.from(cq.zeroPoint)).toEqual([...Array(4).fill(qa.zeroPoint[0]), ...Array(4).fill(qb.zeroPoint[0])]);
    expect(qb.scale[0] / qa.scale[0]).toBeGreaterThan(20);
    // the unsplit concat keeps one scale
    expect(r.net.tensors.get('c2')!.q.scale.length).toBe(1);
  });

  it('buys output SQNR against FP32 where one scale crushes the small-range branch', async () => {
    const sq = async (splitConcat: boolean) => {
      const r = await quantizeNetwork(g, calib, resolvePtqConfig('w8a8-pc', { splitConcat, actRange: 'minmax' }));
      return sqnrDb(fp, quantizedOutputs(r.net, g, test, 250, 'y'));
    };
    const one = await sq(false);
    const split = await sq(true);
    expect(split).toBeGreaterThan(one + 3);
  });

  it('refuses the ONNX export naming the split concat and its conv', async () => {
    const r = await quantizeNetwork(g, calib, resolvePtqConfig('w8a8-pc', { splitConcat: true }));
    expect(() => exportQuantizedOnnx(r.net, { format: 'qop' })).toThrow(/cat[\s\S]*per channel group[\s\S]*m[\s\S]*per channel group/);
  });

  it('is part of the config hash only when on (existing hashes unchanged)', () => {
    expect(resolvePtqConfig('w8a8-pc', { splitConcat: false })).toEqual(resolvePtqConfig('w8a8-pc'));
    expect(resolvePtqConfig('w8a8-pc', { splitConcat: true }).splitConcat).toBe(true);
    expect(() => resolvePtqConfig('fp8e4m3', { splitConcat: true })).toThrow(/splitConcat/);
  });
});
