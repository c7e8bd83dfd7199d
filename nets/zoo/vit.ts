/**
 * The zoo's vision transformer (`fmnist-vit`): its architecture as plain data and the builder from
 * trained weights to a qloom Network `Graph` in the vocabulary a PyTorch ONNX export of a ViT
 * has, so that the transformer passes see the textbook patterns:
 *   - patch embedding as Conv(kernel = stride = patch) with bias → Reshape [N, D, T] →
 *     Transpose [N, T, D]; learned position embedding as an Add of a [T, D] initializer;
 *   - per pre-LN block: LayerNormalization → three MatMul + Add (Q, K, V; weights [D, D]) →
 *     Reshape [N, T, H, dh] → Transpose (Q, V: [N, H, T, dh]; K: [N, H, dh, T]) →
 *     MatMul(Q, Kᵀ) → Mul 1/√dh → Softmax(−1) → MatMul(P, V) → Transpose → Reshape [N, T, D] →
 *     MatMul + Add (projection) → residual Add; LayerNormalization → MatMul + Add → Gelu (exported
 *     as x·(1 + Erf(x/√2))·0.5) → MatMul + Add → residual Add;
 *   - final LayerNormalization, mean over the tokens (Transpose [N, D, T] → GlobalAveragePool →
 *     Flatten: the IR has no ReduceMean), Gemm head.
 * No tfjs here: vit-tfjs.ts is the same network as a tfjs-core function for training.
 */

import type { Graph, Node, Tensor, ValueInfo } from '../graph.js';
import type { TrainedWeights } from './models.js';

export interface VitSpec {
  readonly kind: 'vit';
  readonly name: string;
  readonly dataset: 'fmnist';
  /** per-image input [C, H, W] */
  readonly input: readonly [number, number, number];
  readonly classes: number;
  /** square patch side (image side must be a multiple) */
  readonly patch: number;
  /** token width D */
  readonly dim: number;
  readonly depth: number;
  readonly heads: number;
  /** MLP hidden width */
  readonly mlp: number;
  /** LayerNormalization epsilon (PyTorch's and ONNX's default) */
  readonly lnEpsilon: number;
  readonly train: {
    readonly epochs: number;
    readonly batch: number;
    /** Adam's peak learning rate: linear warm-up over `warmupSteps`, then cosine decay to 0 */
    readonly lr: number;
    readonly warmupSteps: number;
    /** augmentation: random translation by up to this many pixels (zero fill) */
    readonly shift?: number;
    /** augmentation: horizontal flip with probability 1/2 (clothes are left–right symmetric) */
    readonly flip?: boolean;
  };
  readonly description: string;
}

export const VIT_SPECS: Readonly<Record<string, VitSpec>> = {
  'fmnist-vit': {
    kind: 'vit',
    name: 'fmnist-vit',
    dataset: 'fmnist',
    input: [1, 28, 28],
    classes: 10,
    patch: 4,
    dim: 48,
    depth: 4,
    heads: 2,
    mlp: 96,
    lnEpsilon: 1e-5,
    description: 'ViT: 4×4 patches (49 tokens) → D 48, 4 pre-LN blocks (2-head self-attention, GELU MLP 96), final LN, mean over tokens, dense(10)',
    train: { epochs: 4, batch: 128, lr: 2e-3, warmupSteps: 200 },
  },
};

/** Tokens per image. */
export function vitTokens(spec: VitSpec): number {
  const [, H, W] = spec.input;
  return (H / spec.patch) * (W / spec.patch);
}

/**
 * The trained tensors by layer and key, with their shapes (tfjs layout: dense kernels [in, out]).
 * Patch kernel [P·P·C, D], rows in (py, px, c) order — the image patch flattened row by row.
 */
export function vitWeightShapes(spec: VitSpec): Record<string, Record<string, number[]>> {
  const { dim: D, mlp: M, patch: P, classes } = spec;
  const C = spec.input[0];
  const s: Record<string, Record<string, number[]>> = {
    patch: { kernel: [P * P * C, D], bias: [D] },
    pos: { embedding: [vitTokens(spec), D] },
  };
  for (let b = 0; b < spec.depth; b++) {
    s[`block${b}.ln1`] = { gamma: [D], beta: [D] };
    for (const k of ['q', 'k', 'v', 'proj']) s[`block${b}.${k}`] = { kernel: [D, D], bias: [D] };
    s[`block${b}.ln2`] = { gamma: [D], beta: [D] };
    s[`block${b}.fc1`] = { kernel: [D, M], bias: [M] };
    s[`block${b}.fc2`] = { kernel: [M, D], bias: [D] };
  }
  s['ln_f'] = { gamma: [D], beta: [D] };
  s['head'] = { kernel: [D, classes], bias: [classes] };
  return s;
}

function f32(shape: readonly number[], data: Float32Array): Tensor {
  return { dtype: 'float32', shape: [...shape], data };
}

/** Builds the NCHW-input Network graph of the ViT from tfjs-layout trained weights. */
export function buildVitGraph(spec: VitSpec, weights: TrainedWeights, meta: Record<string, string> = {}): Graph {
  const shapes = vitWeightShapes(spec);
  const w = (layer: string, key: string): Float32Array => {
    const t = weights[layer]?.[key];
    const want = shapes[layer]?.[key];
    if (!t || !want) throw new Error(`trained weights lack ${layer}.${key}`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new Error(`${layer}.${key} has shape [${t.shape.join(',')}], the spec needs [${want.join(',')}]`);
    }
    return t.data;
  };
  const { dim: D, heads: H, patch: P, mlp: M } = spec;
  const [C] = spec.input;
  const T = vitTokens(spec);
  const dh = D / H;
  const nodes: Node[] = [];
  const inits = new Map<string, Tensor>();
  const add = (name: string, op: Node['op'], inputs: string[], attrs: Node['attrs'] = {}, output = `${name}_out`): string => {
    nodes.push({ name, op, inputs, outputs: [output], attrs });
    return output;
  };
  const init = (name: string, shape: readonly number[], data: Float32Array): string => {
    inits.set(name, f32(shape, data.slice()));
    return name;
  };
  const linear = (layer: string, x: string, nIn: number, nOut: number): string => {
    const mm = add(`${layer}/matmul`, 'MatMul', [x, init(`${layer}.weight`, [nIn, nOut], w(layer, 'kernel'))]);
    return add(layer, 'Add', [mm, init(`${layer}.bias`, [nOut], w(layer, 'bias'))]);
  };
  const layerNorm = (layer: string, x: string): string =>
    add(layer, 'LayerNormalization', [x, init(`${layer}.weight`, [D], w(layer, 'gamma')), init(`${layer}.bias`, [D], w(layer, 'beta'))], {
      axis: -1,
      epsilon: spec.lnEpsilon,
    });

  // patch kernel rows (py, px, c) → Conv OIHW [D, C, P, P]
  const pk = w('patch', 'kernel');
  const convW = new Float32Array(D * C * P * P);
  for (let py = 0; py < P; py++)
    for (let px = 0; px < P; px++)
      for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) convW[((d * C + c) * P + py) * P + px] = pk[((py * P + px) * C + c) * D + d];
  let x = add('patch_embed', 'Conv', ['input', init('patch_embed.weight', [D, C, P, P], convW), init('patch_embed.bias', [D], w('patch', 'bias'))], {
    kernel_shape: [P, P],
    strides: [P, P],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
  });
  x = add('patch_embed/flatten', 'Reshape', [x], { shape: [0, D, T] });
  x = add('patch_embed/tokens', 'Transpose', [x], { perm: [0, 2, 1] });
  x = add('pos_embed', 'Add', [x, init('pos_embed', [T, D], w('pos', 'embedding'))]);

  const scale = init('attn_scale', [], Float32Array.of(1 / Math.sqrt(dh)));
  for (let b = 0; b < spec.depth; b++) {
    const p = `block${b}`;
    const h = layerNorm(`${p}.ln1`, x);
    const heads = (k: string, perm: number[]): string => {
      const y = linear(`${p}.${k}`, h, D, D);
      const r = add(`${p}.${k}/split_heads`, 'Reshape', [y], { shape: [0, 0, H, dh] });
      return add(`${p}.${k}/heads`, 'Transpose', [r], { perm });
    };
    const q = heads('q', [0, 2, 1, 3]);
    const kT = heads('k', [0, 2, 3, 1]);
    const v = heads('v', [0, 2, 1, 3]);
    let a = add(`${p}.attn/scores`, 'MatMul', [q, kT]);
    a = add(`${p}.attn/scaled`, 'Mul', [a, scale]);
    a = add(`${p}.attn/softmax`, 'Softmax', [a], { axis: -1 });
    a = add(`${p}.attn/context`, 'MatMul', [a, v]);
    a = add(`${p}.attn/merge`, 'Transpose', [a], { perm: [0, 2, 1, 3] });
    a = add(`${p}.attn/merge_heads`, 'Reshape', [a], { shape: [0, 0, D] });
    a = linear(`${p}.proj`, a, D, D);
    x = add(`${p}.residual1`, 'Add', [x, a]);
    let m = layerNorm(`${p}.ln2`, x);
    m = linear(`${p}.fc1`, m, D, M);
    m = add(`${p}.gelu`, 'Gelu', [m], { approximate: 'none' });
    m = linear(`${p}.fc2`, m, M, D);
    x = add(`${p}.residual2`, 'Add', [x, m]);
  }
  x = layerNorm('ln_f', x);
  x = add('pool/channels_first', 'Transpose', [x], { perm: [0, 2, 1] });
  x = add('pool', 'GlobalAveragePool', [x]);
  x = add('pool/flatten', 'Flatten', [x], { axis: 1 });
  // head kernel [D, classes] → Gemm B [classes, D] (transB = 1)
  const hk = w('head', 'kernel');
  const hw = new Float32Array(hk.length);
  for (let i = 0; i < D; i++) for (let o = 0; o < spec.classes; o++) hw[o * D + i] = hk[i * spec.classes + o];
  add('head', 'Gemm', [x, init('head.weight', [spec.classes, D], hw), init('head.bias', [spec.classes], w('head', 'bias'))], { alpha: 1, beta: 1, transA: 0, transB: 1 }, 'logits');

  const inputs: ValueInfo[] = [{ name: 'input', dtype: 'float32', shape: [-1, ...spec.input] }];
  const outputs: ValueInfo[] = [{ name: 'logits', dtype: 'float32', shape: [-1, spec.classes] }];
  // LayerNormalization is a default-domain op from opset 17
  return { name: spec.name, inputs, outputs, initializers: inits, nodes, opset: 17, meta };
}

/**
 * The inverse of buildVitGraph: the tfjs-layout trained weights back from a built (or exported and
 * re-imported) graph — the transposes undone exactly, so training can continue from the bundled
 * model when no weight cache is at hand.
 */
export function vitWeightsFromGraph(spec: VitSpec, graph: Graph): TrainedWeights {
  const shapes = vitWeightShapes(spec);
  const problems: string[] = [];
  const get = (name: string, n: number): Float32Array => {
    const t = graph.initializers.get(name);
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== n) {
      problems.push(`${name}: ${t ? `${t.data.length} ${t.dtype} values, need ${n} float32` : 'missing'}`);
      return new Float32Array(n);
    }
    return t.data;
  };
  const { dim: D, patch: P, classes } = spec;
  const [C] = spec.input;
  const out: Record<string, Record<string, { shape: number[]; data: Float32Array }>> = {};
  const put = (layer: string, key: string, data: Float32Array): void => {
    (out[layer] ??= {})[key] = { shape: [...shapes[layer][key]], data: data.slice() };
  };
  const convW = get('patch_embed.weight', D * C * P * P);
  const pk = new Float32Array(D * C * P * P);
  for (let py = 0; py < P; py++)
    for (let px = 0; px < P; px++)
      for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) pk[((py * P + px) * C + c) * D + d] = convW[((d * C + c) * P + py) * P + px];
  put('patch', 'kernel', pk);
  put('patch', 'bias', get('patch_embed.bias', D));
  put('pos', 'embedding', get('pos_embed', vitTokens(spec) * D));
  for (const [layer, keys] of Object.entries(shapes)) {
    if (layer === 'patch' || layer === 'pos' || layer === 'head') continue;
    const ln = 'gamma' in keys;
    for (const [key, shape] of Object.entries(keys)) {
      const onnxKey = ln ? (key === 'gamma' ? 'weight' : 'bias') : key === 'kernel' ? 'weight' : 'bias';
      put(layer, key, get(`${layer}.${onnxKey}`, shape.reduce((a, b) => a * b, 1)));
    }
  }
  const hw = get('head.weight', classes * D);
  const hk = new Float32Array(hw.length);
  for (let i = 0; i < D; i++) for (let o = 0; o < classes; o++) hk[i * classes + o] = hw[o * D + i];
  put('head', 'kernel', hk);
  put('head', 'bias', get('head.bias', classes));
  if (problems.length > 0) throw new Error(`${graph.name}: not a ${spec.name} graph — ${problems.join('; ')}`);
  return out;
}
