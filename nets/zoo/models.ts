/**
 * The bundled models' architectures, as plain data, and the builder that turns trained weights
 * into a qloom Network `Graph` (NCHW, ONNX vocabulary). No tfjs here: train.ts builds the tfjs
 * model from the same specs, and conversion can be redone from cached weights alone.
 *
 * Graph conventions (what an ONNX exporter of a PyTorch model would write, so the PTQ passes see
 * the textbook patterns):
 *   - Conv with OIHW weights, no bias when a BatchNormalization follows; depthwise as
 *     group = C with weights [C, 1, kh, kw]; symmetric pads (k−1)/2 on every side.
 *   - BatchNormalization as its own node (scale, B, mean, var; epsilon from tfjs: 1e-3), not
 *     folded — folding is a PTQ pass.
 *   - ReLU6 as Clip(min 0, max 6).
 *   - Dense as Gemm(transB = 1) with W stored [out, in]; a Flatten (axis 1) before it on NCHW
 *     tensors. tfjs flattens NHWC, so the dense weights after a spatial Flatten are permuted to
 *     NCHW order here; after GlobalAveragePool the orders coincide.
 */

import type { Graph, Node, Tensor, ValueInfo } from '../graph.js';

export type LayerSpec =
  /** k×k convolution, stride s, symmetric zero padding (k−1)/2, no bias (a BN follows) */
  | { readonly kind: 'conv'; readonly name: string; readonly filters: number; readonly kernel: number; readonly stride: number }
  /** k×k depthwise convolution (channel multiplier 1), same padding rule, no bias */
  | { readonly kind: 'dwconv'; readonly name: string; readonly kernel: number; readonly stride: number }
  | { readonly kind: 'bn'; readonly name: string }
  | { readonly kind: 'relu'; readonly name: string }
  | { readonly kind: 'relu6'; readonly name: string }
  /** size×size max pool, stride size, no padding */
  | { readonly kind: 'maxpool'; readonly name: string; readonly size: number }
  /** global average pool, then flatten to [N, C] */
  | { readonly kind: 'gap'; readonly name: string }
  | { readonly kind: 'flatten'; readonly name: string }
  /** fully connected with bias */
  | { readonly kind: 'dense'; readonly name: string; readonly units: number }
  /** training only; absent from the exported graph */
  | { readonly kind: 'dropout'; readonly name: string; readonly rate: number };

export interface ModelSpec {
  readonly name: string;
  readonly dataset: 'mnist' | 'fmnist';
  /** per-image input shape: [C, H, W] for CNNs, [features] for MLPs */
  readonly input: readonly number[];
  readonly classes: number;
  readonly layers: readonly LayerSpec[];
  /** training defaults (overridable on the command line) */
  readonly train: {
    readonly epochs: number;
    readonly batch: number;
    /** Adam's initial learning rate, decayed to 0 by a cosine over all steps */
    readonly lr: number;
    /** augmentation: random translation by up to this many pixels in x and y (zero fill) */
    readonly shift?: number;
  };
  readonly description: string;
}

const conv = (name: string, filters: number, stride = 1, kernel = 3): LayerSpec => ({ kind: 'conv', name, filters, kernel, stride });
const dw = (name: string, stride = 1): LayerSpec => ({ kind: 'dwconv', name, kernel: 3, stride });
const bn = (name: string): LayerSpec => ({ kind: 'bn', name });

function convBnRelu(i: number, filters: number): LayerSpec[] {
  return [conv(`conv${i}`, filters), bn(`bn${i}`), { kind: 'relu', name: `relu${i}` }];
}

function dwsepBlock(i: number, filters: number, stride: number): LayerSpec[] {
  return [
    dw(`dw${i}`, stride),
    bn(`dw${i}_bn`),
    { kind: 'relu6', name: `dw${i}_relu6` },
    conv(`pw${i}`, filters, 1, 1),
    bn(`pw${i}_bn`),
    { kind: 'relu6', name: `pw${i}_relu6` },
  ];
}

export const MODEL_SPECS: Readonly<Record<string, ModelSpec>> = {
  'fmnist-cnn': {
    name: 'fmnist-cnn',
    dataset: 'fmnist',
    input: [1, 28, 28],
    classes: 10,
    description: 'conv3x3(32)-BN-ReLU-maxpool, conv3x3(64)-BN-ReLU-maxpool, conv3x3(64)-BN-ReLU, flatten, dense(128)-ReLU, dense(10)',
    layers: [
      ...convBnRelu(1, 32),
      { kind: 'maxpool', name: 'pool1', size: 2 },
      ...convBnRelu(2, 64),
      { kind: 'maxpool', name: 'pool2', size: 2 },
      ...convBnRelu(3, 64),
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dropout', name: 'drop1', rate: 0.3 },
      { kind: 'dense', name: 'fc1', units: 128 },
      { kind: 'relu', name: 'fc1_relu' },
      { kind: 'dropout', name: 'drop2', rate: 0.3 },
      { kind: 'dense', name: 'fc2', units: 10 },
    ],
    train: { epochs: 5, batch: 64, lr: 2e-3 },
  },
  'fmnist-dwsep': {
    name: 'fmnist-dwsep',
    dataset: 'fmnist',
    input: [1, 28, 28],
    classes: 10,
    description:
      'MobileNet-style: conv3x3(16)-BN-ReLU6 stem, 5 × [dw3x3-BN-ReLU6, pw1x1-BN-ReLU6] (s2 32, 64, s2 128, 128, 128), global average pool, dense(10)',
    layers: [
      conv('stem', 16),
      bn('stem_bn'),
      { kind: 'relu6', name: 'stem_relu6' },
      ...dwsepBlock(1, 32, 2),
      ...dwsepBlock(2, 64, 1),
      ...dwsepBlock(3, 128, 2),
      ...dwsepBlock(4, 128, 1),
      ...dwsepBlock(5, 128, 1),
      { kind: 'gap', name: 'gap' },
      { kind: 'dropout', name: 'drop', rate: 0.2 },
      { kind: 'dense', name: 'fc', units: 10 },
    ],
    train: { epochs: 4, batch: 64, lr: 2e-3 },
  },
  'mnist-mlp': {
    name: 'mnist-mlp',
    dataset: 'mnist',
    input: [784],
    classes: 10,
    description: 'dense(256)-ReLU, dense(128)-ReLU, dense(10) on the flattened 28×28 image',
    layers: [
      { kind: 'dense', name: 'fc1', units: 256 },
      { kind: 'relu', name: 'fc1_relu' },
      { kind: 'dropout', name: 'drop1', rate: 0.2 },
      { kind: 'dense', name: 'fc2', units: 128 },
      { kind: 'relu', name: 'fc2_relu' },
      { kind: 'dropout', name: 'drop2', rate: 0.2 },
      { kind: 'dense', name: 'fc3', units: 10 },
    ],
    // 8k training images: random ±2 px shifts keep the MLP from memorizing them
    train: { epochs: 40, batch: 64, lr: 1e-3, shift: 2 },
  },
};

/** tfjs-layers' BatchNormalization default, kept in the graph's BN nodes */
export const BN_EPSILON = 1e-3;

/** A trained float array with its tfjs shape. */
export interface WeightArray {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Trained weights by layer name, in tfjs layouts:
 *   conv: kernel [kh, kw, Cin, Cout]; dwconv: kernel [kh, kw, C, 1];
 *   bn: gamma, beta, mean, variance [C]; dense: kernel [in, out], bias [out].
 */
export type TrainedWeights = Readonly<Record<string, Readonly<Record<string, WeightArray>>>>;

/** Output size of a k×k, stride-s window with symmetric padding p. */
export function convOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

function f32(shape: readonly number[], data: Float32Array): Tensor {
  return { dtype: 'float32', shape: [...shape], data };
}

function need(weights: TrainedWeights, layer: string, key: string, shape: readonly number[]): Float32Array {
  const w = weights[layer]?.[key];
  if (!w) throw new Error(`trained weights lack ${layer}.${key}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (w.data.length !== n || w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${layer}.${key} has shape [${w.shape.join(',')}], the spec needs [${shape.join(',')}]`);
  }
  return w.data;
}

/** HWIO [kh, kw, ci, co] → OIHW [co, ci, kh, kw] */
function hwioToOihw(w: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o];
  return out;
}

/**
 * tfjs dense kernel [in, out] → Gemm B [out, in] (transB = 1). With `nhwc` = [C, H, W] the input
 * came from a tfjs Flatten of an NHWC tensor (feature index (h·W + w)·C + c); the Graph flattens
 * NCHW (c·H·W + h·W + w), so columns are permuted to match.
 */
function denseToGemm(w: Float32Array, nIn: number, nOut: number, nhwc?: readonly [number, number, number]): Float32Array {
  const out = new Float32Array(w.length);
  for (let j = 0; j < nIn; j++) {
    let src = j;
    if (nhwc) {
      const [C, H, W] = nhwc;
      const c = Math.floor(j / (H * W));
      const hw = j % (H * W);
      src = hw * C + c;
    }
    for (let o = 0; o < nOut; o++) out[o * nIn + j] = w[src * nOut + o];
  }
  return out;
}

/** Builds the NCHW Network graph of `spec` from tfjs-layout trained weights. */
export function buildGraph(spec: ModelSpec, weights: TrainedWeights, meta: Record<string, string> = {}): Graph {
  const nodes: Node[] = [];
  const inits = new Map<string, Tensor>();
  let cur = 'input';
  // current per-image shape: [C, H, W] or [features]
  let shape: number[] = [...spec.input];
  // set by a spatial Flatten: the tfjs (NHWC) order the next dense layer's weights are in
  let flattenedFrom: [number, number, number] | undefined;
  const last = spec.layers.map((l) => l.kind !== 'dropout').lastIndexOf(true);

  spec.layers.forEach((l, idx) => {
    if (l.kind === 'dropout') return;
    const out = idx === last ? 'logits' : `${l.name}_out`;
    const add = (op: Node['op'], inputs: string[], attrs: Node['attrs'] = {}, name = l.name, output = out): void => {
      nodes.push({ name, op, inputs, outputs: [output], attrs });
    };
    switch (l.kind) {
      case 'conv':
      case 'dwconv': {
        const [C, H, W] = shape;
        const k = l.kernel;
        const p = (k - 1) / 2;
        const co = l.kind === 'conv' ? l.filters : C;
        const wName = `${l.name}.weight`;
        if (l.kind === 'conv') {
          inits.set(wName, f32([co, C, k, k], hwioToOihw(need(weights, l.name, 'kernel', [k, k, C, co]), k, k, C, co)));
        } else {
          // [kh, kw, C, 1] → [C, 1, kh, kw]
          inits.set(wName, f32([C, 1, k, k], hwioToOihw(need(weights, l.name, 'kernel', [k, k, C, 1]), k, k, C, 1)));
        }
        add('Conv', [cur, wName], {
          kernel_shape: [k, k],
          strides: [l.stride, l.stride],
          pads: [p, p, p, p],
          dilations: [1, 1],
          group: l.kind === 'conv' ? 1 : C,
        });
        shape = [co, convOut(H, k, l.stride, p), convOut(W, k, l.stride, p)];
        break;
      }
      case 'bn': {
        const C = shape[0];
        const names = ['scale', 'bias', 'mean', 'var'].map((s) => `${l.name}.${s}`);
        ['gamma', 'beta', 'mean', 'variance'].forEach((key, i) => inits.set(names[i], f32([C], need(weights, l.name, key, [C]).slice())));
        add('BatchNormalization', [cur, ...names], { epsilon: BN_EPSILON, momentum: 0.99 });
        break;
      }
      case 'relu':
        add('Relu', [cur]);
        break;
      case 'relu6':
        add('Clip', [cur], { min: 0, max: 6 });
        break;
      case 'maxpool': {
        const [C, H, W] = shape;
        add('MaxPool', [cur], { kernel_shape: [l.size, l.size], strides: [l.size, l.size], pads: [0, 0, 0, 0] });
        shape = [C, Math.floor(H / l.size), Math.floor(W / l.size)];
        break;
      }
      case 'gap':
        add('GlobalAveragePool', [cur], {}, l.name, `${l.name}_pooled`);
        add('Flatten', [`${l.name}_pooled`], { axis: 1 }, `${l.name}_flatten`);
        shape = [shape[0]];
        break;
      case 'flatten':
        if (shape.length === 3) flattenedFrom = [shape[0], shape[1], shape[2]];
        add('Flatten', [cur], { axis: 1 });
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense': {
        if (shape.length !== 1) throw new Error(`${spec.name}: dense layer ${l.name} needs a flat input, got [${shape.join(',')}]`);
        const nIn = shape[0];
        const wName = `${l.name}.weight`;
        const bName = `${l.name}.bias`;
        inits.set(wName, f32([l.units, nIn], denseToGemm(need(weights, l.name, 'kernel', [nIn, l.units]), nIn, l.units, flattenedFrom)));
        inits.set(bName, f32([l.units], need(weights, l.name, 'bias', [l.units]).slice()));
        add('Gemm', [cur, wName, bName], { alpha: 1, beta: 1, transA: 0, transB: 1 });
        flattenedFrom = undefined;
        shape = [l.units];
        break;
      }
    }
    cur = nodes[nodes.length - 1].outputs[0];
  });
  if (cur !== 'logits' || shape.length !== 1 || shape[0] !== spec.classes) {
    throw new Error(`${spec.name}: the last layer must produce ${spec.classes} logits, got [${shape.join(',')}]`);
  }
  const inputs: ValueInfo[] = [{ name: 'input', dtype: 'float32', shape: [-1, ...spec.input] }];
  const outputs: ValueInfo[] = [{ name: 'logits', dtype: 'float32', shape: [-1, spec.classes] }];
  return { name: spec.name, inputs, outputs, initializers: inits, nodes, opset: 13, meta };
}
