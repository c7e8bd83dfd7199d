/**
 * Nearest upsampling on integer tensors (a UNet's decoder: Conv → Resize ×2 → Concat with a skip →
 * Conv), quantized by the PTQ pipeline and exported: onnxruntime-node running the QOperator and the
 * QDQ files gives, bit for bit, what qloom's integer executor gives; the files import back to a
 * network that runs the same. The Resize keeps its input's quantization (a copy of codes).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Graph, Node, Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { resolvePtqConfig } from '../../quant/config.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { exportQuantizedOnnx } from '../../quant/onnx/qexport.js';
import { quantizeNetwork } from '../../quant/pipeline.js';
import { runQuantized } from '../../sim/qexec.js';
import { ortWeightBits } from '../helpers/ort.js';

const EXEC = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };

function unet(seed: number): Graph {
  const rng = new Prng(seed);
  const t = (shape: number[], scale: number): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale) });
  const conv = (name: string, x: string, cin: number, cout: number, stride: number, out = `${name}_out`) => ({
    node: {
      name,
      op: 'Conv' as const,
      inputs: [x, `${name}.w`, `${name}.b`],
      outputs: [out],
      attrs: { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
    },
    init: [
      [`${name}.w`, t([cout, cin, 3, 3], 0.4)],
      [`${name}.b`, t([cout], 0.1)],
    ] as [string, Tensor][],
  });
  const c0 = conv('c0', 'x', 1, 4, 1);
  const c1 = conv('c1', 'r0', 4, 6, 2);
  const c2 = conv('c2', 'cat', 10, 2, 1, 'y');
  return {
    name: 'unet',
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2, 8, 8] }],
    initializers: new Map([...c0.init, ...c1.init, ...c2.init]),
    nodes: ([
      c0.node,
      { name: 'relu0', op: 'Relu', inputs: ['c0_out'], outputs: ['r0'], attrs: {} },
      c1.node,
      { name: 'relu1', op: 'Relu', inputs: ['c1_out'], outputs: ['s1'], attrs: {} },
      { name: 'up', op: 'Resize', inputs: ['s1'], outputs: ['u'], attrs: { mode: 'nearest', scales: [1, 1, 2, 2] } },
      { name: 'concat', op: 'Concat', inputs: ['u', 'r0'], outputs: ['cat'], attrs: { axis: 1 } },
      c2.node,
    ] as Node[]),
  };
}

async function ortRun(bytes: Uint8Array, x: Tensor, level: 'disabled' | 'all'): Promise<number[]> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: level, logSeverityLevel: 3 });
  const out = await s.run({ x: new ort.Tensor('float32', x.data as Float32Array, [...x.shape]) });
  await s.release();
  return Array.from(out.y.data as Float32Array);
}

describe('quantized nearest upsampling against ORT', () => {
  it.each([
    ['w8a8-pc', 11],
    ['w8a8-pt-asym', 12],
  ])('%s: ORT on the QOperator export equals the integer executor bit for bit, and the round trip too', async (preset, seed) => {
    const graph = unet(seed);
    const rng = new Prng(seed + 100);
    const calib = Float32Array.from({ length: 32 * 64 }, () => rng.next());
    const { net } = await quantizeNetwork(graph, { images: calib, shape: [1, 8, 8], count: 32 }, resolvePtqConfig(preset, { wBits: preset === 'w8a8-pc' ? ortWeightBits(8) : 8 }));
    const resize = net.layers.find((l) => l.kind === 'resize');
    expect(resize?.kind).toBe('resize');
    // tied: the copy keeps its input's scale and zero point
    expect(net.tensors.get(resize!.output)!.q).toEqual(net.tensors.get(resize!.inputs[0])!.q);
    const x: Tensor = { dtype: 'float32', shape: [2, 1, 8, 8], data: Float32Array.from({ length: 128 }, () => rng.next()) };
    const ref = runQuantized(net, { x }, EXEC).outputs.y;
    const want = Array.from(ref.data as Float32Array);
    const qop = exportQuantizedOnnx(net, { format: 'qop' });
    expect(await ortRun(qop, x, 'disabled')).toEqual(want);
    expect(await ortRun(qop, x, 'all')).toEqual(want);
    expect(Array.from(runQuantized(importQuantizedOnnx(qop, 'rt.onnx'), { x }, EXEC).outputs.y.data as Float32Array)).toEqual(want);
    // the upsampled codes are the input's codes replicated (read off the executor's layers)
    const seen = new Map<string, Tensor>();
    runQuantized(net, { x }, { ...EXEC, onLayer: (l, out) => seen.set(l.output, out) });
    const a = seen.get(resize!.inputs[0])!;
    const b = seen.get(resize!.output)!;
    const [n, c, h, w] = a.shape;
    expect([...b.shape]).toEqual([n, c, 2 * h, 2 * w]);
    let same = 0;
    for (let i = 0; i < n * c; i++)
      for (let yy = 0; yy < 2 * h; yy++) for (let xx = 0; xx < 2 * w; xx++) same += b.data[(i * 2 * h + yy) * 2 * w + xx] === a.data[(i * h + (yy >> 1)) * w + (xx >> 1)] ? 1 : 0;
    expect(same).toBe(b.data.length);
  });
});
