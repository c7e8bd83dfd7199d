/**
 * Referee: the same model run by TensorFlow.js itself (tfjs-layers / tfjs-converter on the CPU
 * backend) versus our imported graph in the FP32 executor and, exported to ONNX, in
 * onnxruntime-node. Real nsfwjs MobileNetV2 models on real photos, plus small synthetic layers /
 * graph models that exercise what the nsfwjs models do not (asymmetric 'same' pads, Pads that
 * cannot fold, NHWC flatten order, depth multipliers, per-channel constants, quantized weights).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfc from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPhotos } from '../../../nets/data/photos.js';
import { ModelError } from '../../../nets/errors.js';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph, Tensor } from '../../../nets/graph.js';
import { exportOnnx } from '../../../nets/onnx/export.js';
import { Prng } from '../../../nets/prng.js';
import { decodeTfjsWeights, readTfjsArtifacts, type TfjsArtifacts, type TfjsWeightSpec } from '../../../nets/tfjs/artifacts.js';
import { tfjsToGraph } from '../../../nets/tfjs/import.js';
import { NSFWJS_CLASSES, loadNsfwjsModel, nsfwjsModelDir, type NsfwjsVariant } from '../../../nets/tfjs/nsfwjs.js';
import { thrown } from '../../helpers/errors.js';
import { runOrt } from '../../helpers/ort.js';

beforeAll(async () => {
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner
  await tf.setBackend('cpu');
});

/** max over elements of |a − ref| / max(|ref|, 1e-6) */
function maxRelErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(a.length).toBe(ref.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-6));
  return m;
}

function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) y[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
  return y;
}

function handler(art: TfjsArtifacts): tf.io.IOHandler {
  return {
    load: async () => ({
      modelTopology: art.modelTopology as never,
      weightSpecs: art.weightSpecs as tf.io.WeightsManifestEntry[],
      weightData: art.weightData,
      format: art.modelJson.format as string | undefined,
      userDefinedMetadata: art.modelJson.userDefinedMetadata as never,
    }),
  };
}

async function tfjsPredict(art: TfjsArtifacts, nhwc: Float32Array, shape: number[]): Promise<Float32Array> {
  const model = art.format === 'layers-model' ? await tfl.loadLayersModel(handler(art)) : await tfc.loadGraphModel(handler(art));
  const x = tf.tensor(nhwc, shape);
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  if ('dispose' in model) model.dispose();
  return out;
}

function feed(g: Graph, data: Float32Array, shape: number[]): Record<string, Tensor> {
  return { [g.inputs[0].name]: { dtype: 'float32', shape, data } };
}

async function ortOutput(g: Graph, feeds: Record<string, Tensor>): Promise<Float32Array> {
  const res = await runOrt(exportOnnx(g), feeds);
  return res[g.outputs[0].name].data as Float32Array;
}

function opHistogram(g: Graph): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of g.nodes) h[n.op] = (h[n.op] ?? 0) + 1;
  return h;
}

// ---------------------------------------------------------------------------------------------

describe('nsfwjs MobileNetV2 models on real photos: tfjs vs runFp32 vs onnxruntime', () => {
  // three real photos, preprocessed exactly as nsfwjs does (x/255, resizeBilinear alignCorners)
  const photos = () => loadPhotos('mobilenetv2', { samples: 3, seed: 2024 });

  for (const variant of ['mobilenet_v2', 'mobilenet_v2_mid'] as NsfwjsVariant[]) {
    it(`${variant}: same 5 class probabilities (max relative error ≤ 1e-4)`, async () => {
      const set = photos();
      const n = set.count;
      const ref = await tfjsPredict(readTfjsArtifacts(nsfwjsModelDir(variant)), nchwToNhwc(set.images, n, 3, 224, 224), [n, 224, 224, 3]);
      expect(ref.length).toBe(n * 5);

      const g = loadNsfwjsModel(variant);
      const feeds = feed(g, set.images, [n, 3, 224, 224]);
      const ours = runFp32(g, feeds, { keep: ['logits'] });
      expect(maxRelErr(ours.probs.data as Float32Array, ref)).toBeLessThanOrEqual(1e-4);
      // probs really is softmax(logits)
      const z = ours.logits.data as Float32Array;
      for (let b = 0; b < n; b++) {
        const row = Array.from(z.subarray(b * 5, b * 5 + 5));
        const m = Math.max(...row);
        const e = row.map((v) => Math.exp(v - m));
        const s = e.reduce((a, v) => a + v, 0);
        e.forEach((v, j) => expect(Math.abs(v / s - (ours.probs.data as Float32Array)[b * 5 + j])).toBeLessThan(1e-6));
      }

      const viaOrt = await ortOutput(g, feeds);
      expect(maxRelErr(viaOrt, ref)).toBeLessThanOrEqual(1e-4);
    });
  }

  it('mobilenet_v2 (layers model) structure: BN kept, pads folded, dropout gone, probs/logits named', () => {
    const g = loadNsfwjsModel('mobilenet_v2');
    expect(g.inputs).toEqual([{ name: 'input_1', dtype: 'float32', shape: [-1, 3, 224, 224] }]);
    expect(g.outputs).toEqual([{ name: 'probs', dtype: 'float32', shape: [-1, 5] }]);
    expect(opHistogram(g)).toEqual({ Conv: 52, BatchNormalization: 52, Clip: 35, Add: 10, GlobalAveragePool: 1, Flatten: 1, Gemm: 3, Relu: 2, Softmax: 1 });
    const conv1 = g.nodes.find((x) => x.name === 'Conv1')!;
    // ZeroPadding2D ((0,1),(0,1)) folded into the stride-2 valid conv: pads [t, l, b, r]
    expect(conv1.attrs.pads).toEqual([0, 0, 1, 1]);
    expect(conv1.inputs[0]).toBe('input_1');
    expect(g.initializers.get('Conv1/weight')!.shape).toEqual([32, 3, 3, 3]);
    const dw = g.nodes.find((x) => x.name === 'expanded_conv_depthwise')!;
    expect(dw.attrs.group).toBe(32);
    expect(g.initializers.get('expanded_conv_depthwise/weight')!.shape).toEqual([32, 1, 3, 3]);
    const bn = g.nodes.find((x) => x.op === 'BatchNormalization')!;
    expect(bn.attrs.epsilon).toBeCloseTo(1e-3, 9);
    for (const c of g.nodes.filter((x) => x.op === 'Clip')) expect([c.attrs.min, c.attrs.max]).toEqual([0, 6]);
    const gemm = g.nodes.find((x) => x.outputs[0] === 'logits')!;
    expect(gemm.op).toBe('Gemm');
    expect(gemm.attrs.transB).toBe(1);
    expect(g.initializers.get(gemm.inputs[1])!.shape).toEqual([5, 128]);
    expect(g.meta?.classes).toBe(NSFWJS_CLASSES.join(','));
  });

  it('mobilenet_v2_mid (graph model) structure: fused ops unfused, in-graph [-1,1] scaling kept', () => {
    const g = loadNsfwjsModel('mobilenet_v2_mid');
    expect(g.inputs[0].shape).toEqual([-1, 3, 224, 224]);
    expect(g.outputs).toEqual([{ name: 'probs', dtype: 'float32', shape: [-1, 5] }]);
    expect(opHistogram(g)).toEqual({ Mul: 1, Sub: 1, Conv: 52, Clip: 35, Add: 10, GlobalAveragePool: 1, Squeeze: 1, Gemm: 1, Softmax: 1 });
    const first = g.nodes.find((x) => x.op === 'Conv')!;
    // TF 'SAME', stride 2, 224 → 112: total pad 1, all of it at the end
    expect(first.attrs.pads).toEqual([0, 0, 1, 1]);
    expect(g.initializers.get(first.inputs[1])!.shape).toEqual([48, 3, 3, 3]);
    expect(first.inputs).toHaveLength(3); // BN folded into the bias by the converter
  });
});

// ---------------------------------------------------------------------------------------------

function fill(p: Prng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * p.next();
  return a;
}

function concatBuffers(d: ArrayBuffer | ArrayBuffer[]): ArrayBuffer {
  if (!Array.isArray(d)) return d;
  const total = d.reduce((s, b) => s + b.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of d) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out.buffer;
}

describe('synthetic Keras layers model built and run by tfjs-layers', () => {
  it('matches tfjs: same/valid pads, ZeroPadding before conv and pool, depth multiplier, BN, Add, Concatenate, NHWC Flatten, softmax', async () => {
    const x = tfl.input({ shape: [10, 10, 3], name: 'img' });
    const zp0 = tfl.layers.zeroPadding2d({ padding: 1, name: 'zp0' }).apply(x) as tfl.SymbolicTensor;
    const c0 = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'valid', name: 'c0' }).apply(zp0) as tfl.SymbolicTensor;
    const t0 = tfl.layers.activation({ activation: 'tanh', name: 't0' }).apply(c0) as tfl.SymbolicTensor;
    // 10 → 5 with 'same', stride 2: total pad 1, TF puts it at the end
    const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c1' }).apply(t0) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization({ epsilon: 0.01, name: 'bn1' }).apply(c1) as tfl.SymbolicTensor;
    const r1 = tfl.layers.reLU({ maxValue: 6, name: 'r1' }).apply(bn) as tfl.SymbolicTensor;
    const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'dw' }).apply(r1) as tfl.SymbolicTensor;
    const pw = tfl.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, name: 'pw' }).apply(r1) as tfl.SymbolicTensor;
    const add = tfl.layers.add({ name: 'add' }).apply([dw, pw]) as tfl.SymbolicTensor;
    const cat = tfl.layers.concatenate({ name: 'cat' }).apply([add, dw]) as tfl.SymbolicTensor; // 5x5x16
    const zp = tfl.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]], name: 'zp' }).apply(cat) as tfl.SymbolicTensor;
    const mp = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'mp' }).apply(zp) as tfl.SymbolicTensor; // 3x3x16
    const ap = tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'ap' }).apply(mp) as tfl.SymbolicTensor;
    const fl = tfl.layers.flatten({ name: 'fl' }).apply(ap) as tfl.SymbolicTensor; // 144, NHWC order
    const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(mp) as tfl.SymbolicTensor;
    const cat2 = tfl.layers.concatenate({ name: 'cat2' }).apply([fl, gap]) as tfl.SymbolicTensor;
    const d1 = tfl.layers.dense({ units: 6, activation: 'relu', name: 'd1' }).apply(cat2) as tfl.SymbolicTensor;
    const dr = tfl.layers.dropout({ rate: 0.5, name: 'dr' }).apply(d1) as tfl.SymbolicTensor;
    const d2 = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'd2' }).apply(dr) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: x, outputs: d2, name: 'synthetic' });

    // seeded weights; positive BN scale / variance, non-trivial BN statistics
    const p = new Prng(7);
    model.setWeights(
      model.weights.map((w) => {
        const shape = w.shape as number[]; // weights have static shapes
        const n = shape.reduce((a, b) => a * b, 1);
        const pos = /gamma|moving_variance/.test(w.originalName);
        return tf.tensor(fill(p, n, pos ? 0.5 : -0.6, pos ? 1.5 : 0.6), shape);
      }),
    );

    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const art: TfjsArtifacts = {
      format: 'layers-model',
      modelJson: { modelTopology: saved!.modelTopology },
      modelTopology: saved!.modelTopology as Record<string, unknown>,
      weightSpecs: saved!.weightSpecs as TfjsWeightSpec[],
      weightData: concatBuffers(saved!.weightData as ArrayBuffer | ArrayBuffer[]),
      files: ['<memory>'],
    };
    const g = tfjsToGraph(art);
    // the pad before the valid conv folds; the one before the max pool cannot
    expect(g.nodes.filter((n) => n.op === 'Pad').map((n) => n.name)).toEqual(['zp']);
    expect(g.nodes.find((n) => n.name === 'c0')!.attrs.pads).toEqual([1, 1, 1, 1]);
    expect(g.nodes.find((n) => n.name === 'c1')!.attrs.pads).toEqual([0, 0, 1, 1]);
    expect(g.nodes.some((n) => n.op === 'Transpose')).toBe(true); // NHWC flatten order
    expect(g.outputs[0].name).toBe('probs');

    const N = 2;
    const input = fill(new Prng(99), N * 3 * 10 * 10, 0, 1); // NCHW
    const xt = tf.tensor(nchwToNhwc(input, N, 3, 10, 10), [N, 10, 10, 3]);
    const yt = model.predict(xt) as tf.Tensor;
    const ref = yt.dataSync() as Float32Array;
    tf.dispose([xt, yt]);
    const feeds = feed(g, input, [N, 3, 10, 10]);
    expect(maxRelErr(runFp32(g, feeds).probs.data as Float32Array, ref)).toBeLessThanOrEqual(1e-4);
    expect(maxRelErr(await ortOutput(g, feeds), ref)).toBeLessThanOrEqual(1e-4);
  });
});

// ---------------------------------------------------------------------------------------------

/** A hand-written TF graph model (tfjs graph-model JSON + weights), run by tfjs-converter. */
function syntheticGraphModel(): TfjsArtifacts {
  const p = new Prng(5);
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const ints = (...v: number[]) => ({ list: { i: v.map(String) } });
  const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });
  const nodes: Record<string, unknown>[] = [];
  const specs: TfjsWeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  const node = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}) => nodes.push({ name, op, input, attr });
  const constNode = (name: string, shape: number[], dtype: 'float32' | 'int32') =>
    node(name, 'Const', [], {
      value: { tensor: { dtype: dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32', tensorShape: dims(shape) } },
      dtype: { type: dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32' },
    });
  const f32 = (name: string, shape: number[], lo: number, hi: number) => {
    constNode(name, shape, 'float32');
    specs.push({ name, shape, dtype: 'float32' });
    chunks.push(new Uint8Array(fill(p, shape.reduce((a, b) => a * b, 1), lo, hi).buffer));
  };
  const i32 = (name: string, shape: number[], values: number[]) => {
    constNode(name, shape, 'int32');
    specs.push({ name, shape, dtype: 'int32' });
    chunks.push(new Uint8Array(Int32Array.from(values).buffer));
  };
  const u16 = (name: string, shape: number[]) => {
    // uint16-quantized float weights: tfjs dequantizes q·scale + min
    constNode(name, shape, 'float32');
    const n = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, dtype: 'float32', quantization: { dtype: 'uint16', scale: 1.2 / 65535, min: -0.6 } });
    chunks.push(new Uint8Array(Uint16Array.from({ length: n }, () => p.int(65536)).buffer));
  };
  const f16 = (name: string, shape: number[]) => {
    constNode(name, shape, 'float32');
    const n = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    // random normal halves in ±[2^-4, 2^0): sign, exponent 11..14, any mantissa
    chunks.push(new Uint8Array(Uint16Array.from({ length: n }, () => (p.int(2) << 15) | ((11 + p.int(4)) << 10) | p.int(1024)).buffer));
  };
  const conv = { T: { type: 'DT_FLOAT' }, data_format: { s: b64('NHWC') }, dilations: ints(1, 1, 1, 1) };

  node('x', 'Placeholder', [], { shape: { shape: dims([-1, 8, 8, 3]) }, dtype: { type: 'DT_FLOAT' } });
  f32('scale', [], 1.5, 2.5);
  node('mul', 'Mul', ['x', 'scale']);
  f32('shift', [3], -0.5, 0.5);
  node('shifted', 'AddV2', ['mul', 'shift']);
  i32('pads', [4, 2], [0, 0, 1, 1, 1, 1, 0, 0]);
  node('pad', 'Pad', ['shifted', 'pads']);
  u16('w1', [3, 3, 3, 4]);
  node('conv1', 'Conv2D', ['pad', 'w1'], { ...conv, strides: ints(1, 1, 1, 1), padding: { s: b64('VALID') } });
  f16('b1', [4]);
  node('bias1', 'BiasAdd', ['conv1', 'b1'], { T: { type: 'DT_FLOAT' }, data_format: { s: b64('NHWC') } });
  node('relu1', 'Relu6', ['bias1']);
  f32('dw_w', [3, 3, 4, 2], -0.5, 0.5);
  // 8 → 4, 'SAME' stride 2: pads (0, 1)
  node('dw', 'DepthwiseConv2dNative', ['relu1', 'dw_w'], { ...conv, strides: ints(1, 2, 2, 1), padding: { s: b64('SAME') } });
  f32('bn_s', [8], 0.5, 1.5);
  f32('bn_o', [8], -0.5, 0.5);
  f32('bn_m', [8], -0.5, 0.5);
  f32('bn_v', [8], 0.5, 1.5);
  node('bn', 'FusedBatchNormV3', ['dw', 'bn_s', 'bn_o', 'bn_m', 'bn_v'], { epsilon: { f: 0.001 }, data_format: { s: b64('NHWC') }, T: { type: 'DT_FLOAT' } });
  node('relu2', 'Relu', ['bn']);
  f32('fw', [3, 3, 8, 8], -0.3, 0.3);
  f32('fb', [8], -0.2, 0.2);
  node('fused', '_FusedConv2D', ['relu2', 'fw', 'fb'], {
    ...conv,
    strides: ints(1, 1, 1, 1),
    padding: { s: b64('SAME') },
    num_args: { i: '1' },
    fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
    epsilon: { f: 0 },
  });
  node('mp', 'MaxPool', ['fused'], { ksize: ints(1, 3, 3, 1), strides: ints(1, 2, 2, 1), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } });
  i32('axes', [2], [1, 2]);
  node('mean', 'Mean', ['mp', 'axes'], { keep_dims: { b: false } });
  f32('mm_w', [8, 5], -1, 1);
  node('mm', 'MatMul', ['mean', 'mm_w'], { transpose_a: { b: false }, transpose_b: { b: false } });
  f32('mm_b', [5], -0.5, 0.5);
  node('logit', 'BiasAdd', ['mm', 'mm_b'], { data_format: { s: b64('NHWC') } });
  node('sm', 'Softmax', ['logit']);
  node('out', 'Identity', ['sm']);

  const total = chunks.reduce((s, c) => s + c.length, 0);
  const data = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    data.set(c, o);
    o += c.length;
  }
  const topo = { node: nodes, versions: { producer: 440 }, library: {} };
  return {
    format: 'graph-model',
    modelJson: { format: 'graph-model', modelTopology: topo },
    modelTopology: topo,
    weightSpecs: specs,
    weightData: data.buffer,
    files: ['<memory>'],
  };
}

describe('synthetic TF graph model run by tfjs-converter', () => {
  it('matches tfjs: scalar/per-channel constants, Pad folded, asymmetric SAME, FusedBatchNorm, fused conv, Mean, MatMul, uint16/float16 weights', async () => {
    const art = syntheticGraphModel();
    const g = tfjsToGraph(art);
    expect(g.nodes.some((n) => n.op === 'Pad')).toBe(false);
    expect(g.nodes.find((n) => n.name === 'conv1')!.attrs.pads).toEqual([1, 1, 1, 1]);
    expect(g.nodes.find((n) => n.name === 'dw')!.attrs.pads).toEqual([0, 0, 1, 1]);
    expect(g.initializers.get('shift')!.shape).toEqual([3, 1, 1]);
    expect(g.outputs[0].name).toBe('probs');

    const N = 3;
    const input = fill(new Prng(3), N * 3 * 8 * 8, 0, 1);
    const ref = await tfjsPredict(art, nchwToNhwc(input, N, 3, 8, 8), [N, 8, 8, 3]);
    const feeds = feed(g, input, [N, 3, 8, 8]);
    expect(maxRelErr(runFp32(g, feeds).probs.data as Float32Array, ref)).toBeLessThanOrEqual(1e-4);
    expect(maxRelErr(await ortOutput(g, feeds), ref)).toBeLessThanOrEqual(1e-4);
  });
});

// ---------------------------------------------------------------------------------------------

describe('artifacts and weights', () => {
  it('reads the nsfwjs bundles without network: uint8-quantized manifests', () => {
    const a = readTfjsArtifacts(nsfwjsModelDir('mobilenet_v2'));
    expect(a.format).toBe('layers-model');
    expect(a.weightSpecs).toHaveLength(266);
    expect(a.weightSpecs.every((s) => s.quantization?.dtype === 'uint8')).toBe(true);
    expect(a.weightData.byteLength).toBe(a.weightSpecs.reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0));
    const m = readTfjsArtifacts(nsfwjsModelDir('mobilenet_v2_mid'));
    expect(m.format).toBe('graph-model');
    expect(m.weightSpecs).toHaveLength(108);
    expect(m.files.map((f) => f.split('/').pop())).toEqual(['model.min.js', 'group1-shard1of2.min.js', 'group1-shard2of2.min.js']);
  });

  it('dequantizes as tfjs does', () => {
    const specs: TfjsWeightSpec[] = [
      { name: 'u8', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1 } },
      { name: 'u16', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.5, min: 2 } },
      { name: 'f16', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'f32', shape: [1], dtype: 'float32' },
      { name: 'i32', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.4, min: 0 } },
    ];
    const buf = new Uint8Array(3 + 4 + 8 + 4 + 2);
    const dv = new DataView(buf.buffer);
    buf.set([0, 10, 255], 0);
    dv.setUint16(3, 1, true);
    dv.setUint16(5, 65535, true);
    [0x3c00, 0xc000, 0x0001, 0x7bff].forEach((h, i) => dv.setUint16(7 + 2 * i, h, true));
    dv.setFloat32(15, 0.1, true);
    buf.set([3, 4], 19);
    const w = decodeTfjsWeights(specs, buf.buffer);
    expect(Array.from(w.get('u8')!.data as Float32Array | Int32Array)).toEqual(Array.from(Float32Array.of(-1, 10 * 0.1 - 1, 255 * 0.1 - 1)));
    expect(Array.from(w.get('u16')!.data as Float32Array | Int32Array)).toEqual([2.5, 65535 * 0.5 + 2]);
    expect(Array.from(w.get('f16')!.data as Float32Array | Int32Array)).toEqual([1, -2, 2 ** -24, 65504]);
    expect(w.get('f32')!.data[0]).toBe(Math.fround(0.1));
    expect(w.get('i32')!.dtype).toBe('int32');
    expect(Array.from(w.get('i32')!.data as Float32Array | Int32Array)).toEqual([1, 2]); // round(1.2), round(1.6)
  });
});

describe('unsupported content', () => {
  it('one ModelError lists every unsupported Keras layer', () => {
    const layers = [
      { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 4, 4, 2] }, inbound_nodes: [] },
      { class_name: 'Conv3D', name: 'c3', config: { name: 'c3' }, inbound_nodes: [[['in', 0, 0, {}]]] },
      { class_name: 'ReLU', name: 'leaky', config: { name: 'leaky', negative_slope: 0.1 }, inbound_nodes: [[['in', 0, 0, {}]]] },
      { class_name: 'LSTM', name: 'rnn', config: { name: 'rnn' }, inbound_nodes: [[['leaky', 0, 0, {}]]] },
    ];
    const topo = { class_name: 'Model', config: { name: 'bad', layers, input_layers: [['in', 0, 0]], output_layers: [['c3', 0, 0]] } };
    const art: TfjsArtifacts = { format: 'layers-model', modelJson: { modelTopology: topo }, modelTopology: topo, weightSpecs: [], weightData: new ArrayBuffer(0), files: ['bad.json'] };
    const err = thrown(ModelError, () => tfjsToGraph(art));
    const problems = err.problems;
    // one problem per root cause: 'rnn' is reported for its own type, not for its failed input
    expect(problems.map((q) => [q.node, q.op])).toEqual([
      ['c3', 'Conv3D'],
      ['leaky', 'ReLU'],
      ['rnn', 'LSTM'],
    ]);
    expect(err.message).toMatch(/Conv3D[\s\S]*ReLU/);
  });

  it('one ModelError lists every unsupported TF op', () => {
    const topo = {
      node: [
        { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '4' }] } } } },
        { name: 'a', op: 'Erfinv', input: ['x'] },
        { name: 'b', op: 'TopKV2', input: ['x'] },
        { name: 'c', op: 'Relu', input: ['a'] }, // fails only because 'a' did: no own message
      ],
      versions: { producer: 1 },
    };
    const art: TfjsArtifacts = { format: 'graph-model', modelJson: { modelTopology: topo }, modelTopology: topo, weightSpecs: [], weightData: new ArrayBuffer(0), files: ['bad.json'] };
    expect(() => tfjsToGraph(art)).toThrow(ModelError);
    try {
      tfjsToGraph(art);
    } catch (e) {
      expect((e as ModelError).problems.map((q) => q.op)).toEqual(['Erfinv', 'TopKV2']);
    }
  });

  it('a missing model names the npm package', () => {
    expect(() => nsfwjsModelDir('inception' as NsfwjsVariant)).toThrow(ModelError);
  });
});
