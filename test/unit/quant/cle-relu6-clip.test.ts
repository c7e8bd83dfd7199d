/**
 * CLE through ReLU6 with `relu6: 'clip'`: every Clip(0, 6) between equalized layers keeps its
 * place with channel i's bound 6/s_i (`channelMax`), so the FP32 function is the BN-folded
 * original's — where `replace` (ReLU6 → ReLU) changes it — and the weights are equalized as much as
 * with `replace`. Checked by hand on a constructed conv → ReLU6 → conv (the bounds and, with
 * high-bias absorption, B_i − c_i), on fmnist-dwsep and the pretrained MobileNetV2, and by ONNX
 * Runtime, which runs the exported form (Clip, then Min with the bounds) independently of qloom.
 *
 * Tolerance of "the same function": max |Δ| ÷ max |output| ≤ 1e-5. Equalized weights are
 * W·s_i rounded to float32 (relative error ≤ 2^−24 each) and the bounds 6/s_i likewise, so the
 * outputs move by float rounding only (measured: 1.9e-7 on fmnist-dwsep, 3.0e-7 on MobileNetV2);
 * `replace` moves them by 5.8e-2 and 7.2e-1 there.
 */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { batchInput } from '../../../nets/eval.js';
import { runFp32 } from '../../../nets/fp32.js';
import { clipChannelMax, type Graph, type Node, type Tensor } from '../../../nets/graph.js';
import { exportOnnx } from '../../../nets/onnx/export.js';
import { ModelProto } from '../../../nets/onnx/schema.js';
import { photoOutputs } from '../../../nets/photo-eval.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { foldBatchNorms } from '../../../quant/bnfold.js';
import { crossLayerEqualize } from '../../../quant/cle.js';
import { maxRelErr } from '../../helpers/numeric.js';
import { runOrt } from '../../helpers/ort.js';

const SAME_FUNCTION = 1e-5;
const t = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const conv1x1 = (name: string, x: string, w: string, b: string, y: string): Node => ({
  name,
  op: 'Conv',
  inputs: [x, w, b],
  outputs: [y],
  attrs: { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
});

/**
 * x [1, 2, 1, 1] → conv1 (W1 rows [2, 1] and [0.5, 0.25], bias B1) → ReLU6 → conv2 (W2 = [8, 0.5]).
 * Ranges r1 = (2, 0.5), r2 = (8, 0.5): s = sqrt(r1/r2) = (0.5, 1), so channel 0 is doubled after
 * CLE and its ReLU6 becomes a clip at 6/0.5 = 12; channel 1 keeps 6.
 */
function handGraph(b1: number[]): Graph {
  return {
    name: 'hand',
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 2, 1, 1] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 1, 1, 1] }],
    initializers: new Map([
      ['W1', t([2, 2, 1, 1], [2, 1, 0.5, 0.25])],
      ['B1', t([2], b1)],
      ['W2', t([1, 2, 1, 1], [8, 0.5])],
      ['B2', t([1], [0])],
    ]),
    nodes: [conv1x1('conv1', 'x', 'W1', 'B1', 'h'), { name: 'relu6', op: 'Clip', inputs: ['h'], outputs: ['r'], attrs: { min: 0, max: 6 } }, conv1x1('conv2', 'r', 'W2', 'B2', 'y')],
    opset: 13,
  };
}

const run = (g: Graph, x: number[]) => Array.from(runFp32(g, { x: t([1, 2, 1, 1], x) }).y.data as Float32Array);
const nodeOf = (g: Graph, name: string) => g.nodes.find((n) => n.name === name)!;

describe("crossLayerEqualize relu6: 'clip' by hand", () => {
  it('clips channel i at 6/s_i: bounds (12, 6), the saturated output unchanged where replace changes it', () => {
    const g = handGraph([0, 0]);
    const res = crossLayerEqualize(g, new Map(), { relu6: 'clip', highBiasAbsorption: false });
    expect(res.relu6Clipped).toEqual(['relu6']);
    expect(res.relu6Replaced).toEqual([]);
    const clip = nodeOf(res.graph, 'relu6');
    expect(clip.op).toBe('Clip');
    expect([clip.attrs.min, clip.attrs.max]).toEqual([0, 12]);
    expect(Array.from(clipChannelMax(clip)!)).toEqual([12, 6]);
    expect(Array.from(res.graph.initializers.get(nodeOf(res.graph, 'conv1').inputs[1])!.data as Float32Array)).toEqual([4, 2, 0.5, 0.25]);
    // x = (3, 1): pre-activations (7, 1.75); ReLU6 → (6, 1.75); y = 8·6 + 0.5·1.75 = 48.875
    expect(run(g, [3, 1])).toEqual([48.875]);
    expect(run(res.graph, [3, 1])).toEqual([48.875]);
    // ReLU6 → ReLU lets channel 0 through at 7: 8·7 + 0.875 = 56.875
    const replaced = crossLayerEqualize(g, new Map(), { relu6: 'replace', highBiasAbsorption: false });
    expect(run(replaced.graph, [3, 1])).toEqual([56.875]);
  });

  it('high-bias absorption through the clip: bound 6/s_i − c_i, c_i capped at 6/s_i so no bound goes below 0', () => {
    // BN statistics of conv1's pre-activation (before CLE): channel 0 ~ N(5, 0.5²), channel 1 ~ N(7, 0.1²).
    // After CLE channel 0 is doubled: N(10, 1²), c_0 = 10 − 3 = 7, bound 12 − 7 = 5; channel 1:
    // c_1 = 7 − 0.3 = 6.7 > 6, capped at 6, bound 0 (the channel is saturated: the constant moves on).
    const g = handGraph([0, 6.5]);
    const bn = new Map([['conv1', { gamma: Float32Array.of(0.5, 0.1), beta: Float32Array.of(5, 7) }]]);
    const res = crossLayerEqualize(g, bn, { relu6: 'clip', highBiasAbsorption: true });
    const bounds = Array.from(clipChannelMax(nodeOf(res.graph, 'relu6'))!);
    expect(bounds[0]).toBeCloseTo(5, 5);
    expect(bounds[1]).toBe(0);
    expect(res.absorbed.get('conv1')).toBeCloseTo(7, 5);
    // exact wherever each pre-activation is at least its c (x = (3, 1): 14 ≥ 7 and 8.25 ≥ 6)
    expect(run(res.graph, [3, 1])[0]).toBeCloseTo(run(g, [3, 1])[0], 4);
    // ReLU6's saturated channel 1 (6) reaches conv2 as the constant 0.5·6 in its bias
    expect(run(g, [3, 1])).toEqual([48 + 0.5 * 6]);
  });
});

describe("crossLayerEqualize relu6: 'clip' on trained networks", () => {
  const { graph } = loadModel('fmnist-dwsep');
  const folded = foldBatchNorms(graph);
  const set = loadDataset('fmnist', 'test', { samples: 64, seed: 4 });
  const feeds = batchInput(graph, set.images, set.shape, 0, set.count);
  const out = (g: Graph) => runFp32(g, feeds)[g.outputs[0].name].data as Float32Array;

  it('fmnist-dwsep: the folded function kept, the weights equalized exactly as replace equalizes them', () => {
    const clip = crossLayerEqualize(folded.graph, folded.bn, { relu6: 'clip', highBiasAbsorption: false });
    const replace = crossLayerEqualize(folded.graph, folded.bn, { relu6: 'replace', highBiasAbsorption: false });
    expect(clip.relu6Clipped.length).toBe(10);
    expect(clip.pairs).toEqual(replace.pairs);
    const ref = out(folded.graph);
    expect(maxRelErr(ref, out(clip.graph))).toBeLessThan(SAME_FUNCTION);
    expect(maxRelErr(ref, out(replace.graph))).toBeGreaterThan(1e-2);
    for (const p of clip.pairs) {
      for (const layer of [p.first, p.second, p.third!]) {
        const w = (g: Graph) => g.initializers.get(nodeOf(g, layer).inputs[1])!.data;
        expect(w(clip.graph)).toEqual(w(replace.graph));
      }
    }
  });

  it('ONNX Runtime agrees: the exported clip graph (Clip, then Min with the bounds) computes the original function', async () => {
    const clip = crossLayerEqualize(folded.graph, folded.bn, { relu6: 'clip', highBiasAbsorption: false });
    const bytes = exportOnnx(clip.graph);
    const x = feeds[graph.inputs[0].name];
    const name = graph.outputs[0].name;
    const ortClip = (await runOrt(bytes, { [graph.inputs[0].name]: x }))[name].data as Float32Array;
    const ortOrig = (await runOrt(exportOnnx(folded.graph), { [graph.inputs[0].name]: x }))[name].data as Float32Array;
    expect(maxRelErr(ortOrig, ortClip)).toBeLessThan(SAME_FUNCTION);
    // and qloom's executor runs the same graph as ORT does (float32 vs float64 accumulation)
    expect(maxRelErr(ortClip, out(clip.graph))).toBeLessThan(1e-4);
    const decoded = ModelProto.toObject(ModelProto.decode(bytes)) as { graph: { node: { op_type: string; input: string[] }[] } };
    const mins = decoded.graph.node.filter((n) => n.op_type === 'Min');
    expect(mins.length).toBe(10);
  });

  it('pretrained MobileNetV2: the function kept on photos (replace changes it by 0.7 of the logit range)', () => {
    const mv2 = foldBatchNorms(loadModel('mobilenetv2').graph);
    const photos = (g: Graph) => photoOutputs(g, 'mobilenetv2', { samples: 2, seed: 6 }).outputs as Float32Array;
    const clip = crossLayerEqualize(mv2.graph, mv2.bn, { relu6: 'clip', highBiasAbsorption: false });
    expect(clip.relu6Clipped.length).toBe(34);
    const ref = photos(mv2.graph);
    expect(maxRelErr(ref, photos(clip.graph))).toBeLessThan(SAME_FUNCTION);
    const replace = crossLayerEqualize(mv2.graph, mv2.bn, { relu6: 'replace', highBiasAbsorption: false });
    expect(maxRelErr(ref, photos(replace.graph))).toBeGreaterThan(0.1);
  }, 120_000);
});
