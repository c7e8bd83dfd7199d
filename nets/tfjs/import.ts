/**
 * TensorFlow.js importer: Keras *layers* models and TF *graph* models → the NCHW Network IR.
 *
 * Layout. TF tensors are NHWC; the IR is NCHW. Every rank-4 TF activation becomes the NCHW
 * tensor holding the same values (the importer tracks which IR tensors stand for NHWC ones and
 * maps axes, per-channel constants and flatten order accordingly); the graph input becomes
 * `[N, C, H, W]` float32, so callers feed NCHW images (`nets/data/photos.ts` does).
 *
 * Weights. Conv kernels HWIO → OIHW. Depthwise kernels `[kh, kw, C, M]` → `[C·M, 1, kh, kw]` with
 * `group = C`; output channel `c·M + m`, TF's depthwise channel order. Dense / MatMul kernels
 * `[in, out]` are stored transposed as `[out, in]` and used by Gemm with `transB = 1`, so every
 * linear layer's weight is output-channel-major like a conv's (what per-channel quantization and
 * the PE array's weight-stationary mapping index by). Quantized tfjs weights (uint8 / uint16 /
 * float16 in the manifest) are dequantized exactly as tfjs does on load, so the imported float
 * network is the one tfjs runs.
 *
 * Padding. TF 'same' becomes explicit Conv / pool `pads`, asymmetric (more at the end) when the
 * total is odd, as TF computes it. Keras ZeroPadding2D / TF Pad become a Pad node, then a Pad
 * whose only consumers are Convs is folded into their `pads` (an accelerator pads at the
 * convolution's input; no padded copy of the activation is materialized). Pads feeding anything
 * else stay Pad nodes.
 *
 * Ops. Keras BatchNormalization stays BatchNormalization (epsilon from the config), ReLU with
 * max_value m → Clip(0, m), Dropout-like layers vanish, a pooling window that covers the whole
 * map (valid padding) becomes GlobalAveragePool; TF fused ops (_FusedConv2D,
 * FusedDepthwiseConv2dNative, _FusedMatMul) are unfused into Conv/Gemm + BatchNormalization /
 * activation nodes. Anything else is collected and reported in one ModelError.
 *
 * Outputs. When a graph output is a softmax, its output tensor is renamed `probs` and the
 * softmax input `logits` (kept as an ordinary intermediate tensor: `runFp32(..., {keep:
 * ['logits']})` returns it); a graph output that is a linear layer is renamed `logits`.
 */
import { ModelError, type ModelProblem } from '../errors.js';
import { numel, type AttrValue, type Graph, type Node, type OpType, type Tensor, type ValueInfo } from '../graph.js';
import { decodeTfjsWeights, readTfjsArtifacts, type TfjsArtifacts } from './artifacts.js';

export interface TfjsImportOptions {
  /** graph name (default: the Keras model name, or the directory) */
  name?: string;
  /** extra provenance merged into graph.meta */
  meta?: Record<string, string>;
}

/** Reads a tfjs model directory (model.json or nsfwjs's model.min.js bundles) and converts it. */
export function loadTfjsModel(dir: string, opts: TfjsImportOptions = {}): Graph {
  return tfjsToGraph(readTfjsArtifacts(dir), { ...opts, meta: { source: dir, ...opts.meta } });
}

export function tfjsToGraph(art: TfjsArtifacts, opts: TfjsImportOptions = {}): Graph {
  const file = art.files[0];
  const weights = decodeTfjsWeights(art.weightSpecs, art.weightData, file);
  const b = new Builder(file);
  let name: string;
  const meta: Record<string, string> = { format: `tfjs ${art.format}` };
  const mj = art.modelJson;
  for (const k of ['generatedBy', 'convertedBy'] as const) if (typeof mj[k] === 'string') meta[k] = mj[k] as string;
  if (art.format === 'layers-model') {
    name = convertLayers(art.modelTopology, weights, b);
    const kv = art.modelTopology.keras_version;
    if (typeof kv === 'string') meta.producer = `keras ${kv}`;
  } else {
    name = convertGraph(art.modelTopology, mj.userDefinedMetadata, weights, b);
    meta.names = 'TF function-call prefixes (…/StatefulPartitionedCall/) stripped from node names';
  }
  b.throwIfProblems();
  const g = b.finish(opts.name ?? name);
  meta.layout = 'NCHW: TF NHWC activations transposed; conv weights OIHW, depthwise (C*M)x1xKhxKw group=C, Gemm B [out,in] transB=1';
  return { ...g, meta: { ...meta, ...g.meta, ...opts.meta } };
}

// ---------------------------------------------------------------------------------------------
// Builder: nodes + initializers + shapes, with the NHWC bookkeeping shared by both formats
// ---------------------------------------------------------------------------------------------

type Attrs = Record<string, AttrValue>;

interface Val {
  /** IR shape (NCHW for rank-4 activations); -1 = batch */
  shape: number[];
  /** true when this rank-4 IR tensor stands for a TF NHWC tensor */
  nhwc: boolean;
}

class Builder {
  readonly nodes: Node[] = [];
  readonly inits = new Map<string, Tensor>();
  readonly vals = new Map<string, Val>();
  readonly inputs: ValueInfo[] = [];
  outputs: string[] = [];
  readonly problems: ModelProblem[] = [];
  private readonly nodeNames = new Set<string>();

  constructor(readonly file: string) {}

  problem(node: string, op: string, message: string): void {
    this.problems.push({ node, op, message });
  }

  throwIfProblems(): void {
    if (this.problems.length) throw new ModelError(this.problems, this.file);
  }

  /** a node name not used yet, derived from `base` */
  private freshNode(base: string): string {
    let n = base;
    for (let i = 1; this.nodeNames.has(n); i++) n = `${base}_${i}`;
    this.nodeNames.add(n);
    return n;
  }

  /** a tensor name not used yet, derived from `base` */
  private freshTensor(base: string): string {
    let n = base;
    for (let i = 1; this.inits.has(n) || this.vals.has(n); i++) n = `${base}_${i}`;
    return n;
  }

  input(name: string, shape: number[], nhwc: boolean): void {
    this.inputs.push({ name, dtype: 'float32', shape });
    this.vals.set(name, { shape, nhwc });
  }

  init(base: string, t: Tensor): string {
    const n = this.freshTensor(base);
    this.inits.set(n, t);
    return n;
  }

  node(op: OpType, name: string, inputs: string[], attrs: Attrs, out: string, shape: number[], nhwc: boolean): string {
    const nodeName = this.freshNode(name);
    const o = this.freshTensor(out);
    this.nodes.push({ name: nodeName, op, inputs, outputs: [o], attrs });
    this.vals.set(o, { shape, nhwc });
    return o;
  }

  val(name: string): Val {
    const v = this.vals.get(name);
    if (!v) throw new ModelError([{ node: name, message: 'tensor used before it is defined (internal importer error)' }], this.file);
    return v;
  }

  /**
   * Appends an activation given by its Keras name as node `node` writing tensor `out`; returns
   * the output tensor ('linear' returns `x` itself).
   */
  activation(act: string, x: string, node: string, out: string): string | undefined {
    const v = this.val(x);
    switch (act) {
      case 'linear':
        return x;
      case 'relu':
        return this.node('Relu', node, [x], {}, out, v.shape, v.nhwc);
      case 'relu6':
        return this.node('Clip', node, [x], { min: 0, max: 6 }, out, v.shape, v.nhwc);
      case 'sigmoid':
        return this.node('Sigmoid', node, [x], {}, out, v.shape, v.nhwc);
      case 'tanh':
        return this.node('Tanh', node, [x], {}, out, v.shape, v.nhwc);
      case 'hard_sigmoid':
        // Keras / tfjs hard_sigmoid: clip(0.2·x + 0.5, 0, 1)
        return this.node('HardSigmoid', node, [x], { alpha: 0.2, beta: 0.5 }, out, v.shape, v.nhwc);
      case 'swish':
        return this.node('Swish', node, [x], {}, out, v.shape, v.nhwc);
      case 'softmax':
        // TF softmax is over the last (channel) axis
        return this.node('Softmax', node, [x], { axis: v.nhwc ? 1 : -1 }, out, v.shape, v.nhwc);
      default:
        this.problem(node, act, `activation '${act}' is not supported`);
        return undefined;
    }
  }

  finish(name: string): Graph {
    foldPads(this);
    nameOutputs(this);
    const nodes = topoSort(this.nodes, new Set([...this.inits.keys(), ...this.inputs.map((i) => i.name)]), this.file);
    const used = new Set<string>();
    for (const n of nodes) for (const i of n.inputs) used.add(i);
    const inits = new Map<string, Tensor>();
    for (const [k, t] of this.inits) if (used.has(k)) inits.set(k, t);
    const outputs: ValueInfo[] = this.outputs.map((o) => ({ name: o, dtype: 'float32', shape: this.val(o).shape }));
    return { name, inputs: this.inputs, outputs, initializers: inits, nodes, opset: 13 };
  }
}

// ---------------------------------------------------------------------------------------------
// Weight layout transforms
// ---------------------------------------------------------------------------------------------

/** [kh, kw, ci, co] → [co, ci, kh, kw] */
function hwioToOihw(t: Tensor): Tensor {
  const [kh, kw, ci, co] = t.shape;
  const src = t.data as Float32Array;
  const dst = new Float32Array(src.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++) {
        const s = ((h * kw + w) * ci + i) * co;
        for (let o = 0; o < co; o++) dst[((o * ci + i) * kh + h) * kw + w] = src[s + o];
      }
  return { dtype: 'float32', shape: [co, ci, kh, kw], data: dst };
}

/** depthwise [kh, kw, C, M] → [C·M, 1, kh, kw]; output channel c·M + m as in TF */
function depthwiseToOihw(t: Tensor): Tensor {
  const [kh, kw, c, m] = t.shape;
  const src = t.data as Float32Array;
  const dst = new Float32Array(src.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let ch = 0; ch < c; ch++)
        for (let k = 0; k < m; k++) dst[((ch * m + k) * kh + h) * kw + w] = src[((h * kw + w) * c + ch) * m + k];
  return { dtype: 'float32', shape: [c * m, 1, kh, kw], data: dst };
}

/** [rows, cols] → [cols, rows] */
function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.shape;
  const src = t.data as Float32Array;
  const dst = new Float32Array(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: dst };
}

function reshaped(t: Tensor, shape: number[]): Tensor {
  return { dtype: t.dtype, shape, data: t.data };
}

function isFloat(t: Tensor | undefined): t is Tensor & { data: Float32Array } {
  return !!t && t.data instanceof Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

/** TF 'SAME' / 'VALID' along one axis → [begin, end] pads and output size. */
function tfPad(mode: string, inSize: number, k: number, stride: number, dilation: number): { b: number; e: number; out: number } {
  const ek = (k - 1) * dilation + 1;
  if (mode === 'same') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + ek - inSize, 0);
    const b = Math.floor(total / 2);
    return { b, e: total - b, out };
  }
  return { b: 0, e: 0, out: Math.floor((inSize - ek) / stride) + 1 };
}

function pair(v: unknown, dflt: number): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  if (Array.isArray(v) && v.length === 1) return [Number(v[0]), Number(v[0])];
  return [dflt, dflt];
}

interface Conv2dSpec {
  node: string;
  x: string;
  /** OIHW weight initializer */
  w: string;
  bias?: string;
  group: number;
  kh: number;
  kw: number;
  co: number;
  strides: [number, number];
  dilations: [number, number];
  /** 'same' | 'valid' | explicit [t, l, b, r] */
  padding: string | number[];
  out: string;
}

/** Emits a Conv for a TF/Keras 2-D convolution on an NHWC-standing tensor. */
function emitConv(b: Builder, s: Conv2dSpec): string {
  const x = b.val(s.x);
  const [n, , h, w] = x.shape;
  let pads: number[];
  let oh: number;
  let ow: number;
  if (typeof s.padding === 'string') {
    const ph = tfPad(s.padding, h, s.kh, s.strides[0], s.dilations[0]);
    const pw = tfPad(s.padding, w, s.kw, s.strides[1], s.dilations[1]);
    pads = [ph.b, pw.b, ph.e, pw.e];
    oh = ph.out;
    ow = pw.out;
  } else {
    pads = s.padding;
    oh = Math.floor((h + pads[0] + pads[2] - ((s.kh - 1) * s.dilations[0] + 1)) / s.strides[0]) + 1;
    ow = Math.floor((w + pads[1] + pads[3] - ((s.kw - 1) * s.dilations[1] + 1)) / s.strides[1]) + 1;
  }
  const inputs = s.bias ? [s.x, s.w, s.bias] : [s.x, s.w];
  const attrs: Attrs = {
    auto_pad: 'NOTSET',
    dilations: [...s.dilations],
    group: s.group,
    kernel_shape: [s.kh, s.kw],
    pads,
    strides: [...s.strides],
  };
  return b.node('Conv', s.node, inputs, attrs, s.out, [n, s.co, oh, ow], true);
}

/** Pooling on an NHWC-standing tensor; a valid window covering the whole map → GlobalAveragePool. */
function emitPool(
  b: Builder,
  node: string,
  op: 'AveragePool' | 'MaxPool',
  xName: string,
  k: [number, number],
  strides: [number, number],
  padding: string,
  out: string,
): string {
  const x = b.val(xName);
  const [n, c, h, w] = x.shape;
  if (op === 'AveragePool' && padding === 'valid' && k[0] === h && k[1] === w) {
    return b.node('GlobalAveragePool', node, [xName], {}, out, [n, c, 1, 1], true);
  }
  const ph = tfPad(padding, h, k[0], strides[0], 1);
  const pw = tfPad(padding, w, k[1], strides[1], 1);
  const attrs: Attrs = { auto_pad: 'NOTSET', ceil_mode: 0, kernel_shape: [...k], pads: [ph.b, pw.b, ph.e, pw.e], strides: [...strides] };
  // TF averages over the valid (unpadded) window elements only
  if (op === 'AveragePool') attrs.count_include_pad = 0;
  else attrs.dilations = [1, 1];
  return b.node(op, node, [xName], attrs, out, [n, c, ph.out, pw.out], true);
}

/** NHWC axis → NCHW axis for rank-4 tensors */
function nhwcAxis(a: number): number {
  const ax = a < 0 ? a + 4 : a;
  return [0, 2, 3, 1][ax];
}

/** Flattens an NHWC-standing tensor in TF (NHWC) element order to [N, H·W·C]. */
function flattenNhwc(b: Builder, node: string, xName: string, out: string): string {
  const x = b.val(xName);
  const [n, c, h, w] = x.shape;
  let src = xName;
  if (h !== 1 || w !== 1) {
    // TF flattens H, W, C; NCHW data must be put back in NHWC order first
    src = b.node('Transpose', `${node}/to_nhwc`, [xName], { perm: [0, 2, 3, 1] }, `${node}/nhwc`, [n, h, w, c], false);
  }
  return b.node('Flatten', node, [src], { axis: 1 }, out, [n, c * h * w], false);
}

// ---------------------------------------------------------------------------------------------
// Keras layers models
// ---------------------------------------------------------------------------------------------

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

function convertLayers(topo: Record<string, unknown>, weights: Map<string, Tensor>, b: Builder): string {
  const mc = (topo.model_config ?? topo) as { class_name?: string; config?: unknown };
  const cls = mc.class_name ?? '';
  const cfg = (mc.config ?? {}) as Record<string, unknown>;
  const layers: KerasLayer[] = Array.isArray(cfg) ? (cfg as KerasLayer[]) : ((cfg.layers ?? []) as KerasLayer[]);
  const modelName = typeof cfg.name === 'string' ? cfg.name : 'tfjs_model';
  const sequential = cls === 'Sequential';
  if (!sequential && cls !== 'Model' && cls !== 'Functional') {
    b.problem('', cls, `Keras model class '${cls}' is not supported (Model, Functional, Sequential are)`);
    return modelName;
  }

  // IR tensor standing for output (node k, tensor t) of a layer
  const tensorOf = new Map<string, string>();
  const key = (layer: string, nodeIdx: number, t: number): string => `${layer}\u0000${nodeIdx}\u0000${t}`;
  const lname = (l: KerasLayer): string => String(l.name ?? l.config.name);

  const weight = (layer: string, param: string, op: string): Tensor | undefined => {
    const t = weights.get(`${layer}/${param}`);
    if (!t) {
      // some exporters prefix the model name: '<model>/<layer>/<param>'
      for (const [k, v] of weights) if (k.endsWith(`/${layer}/${param}`)) return v;
      b.problem(layer, op, `weight '${layer}/${param}' missing from the manifest`);
      return undefined;
    }
    if (!isFloat(t)) {
      b.problem(layer, op, `weight '${layer}/${param}' is ${t.dtype}, expected float32`);
      return undefined;
    }
    return t;
  };

  let prev: string | undefined; // Sequential: previous layer's output
  const outputs: string[] = [];
  // layers not converted: their consumers are skipped silently (one message per root cause)
  const failed = new Set<string>();
  for (let li = 0; li < layers.length; li++) {
    const layer = layers[li];
    const ln = lname(layer);
    const c = layer.config;
    const op = layer.class_name;
    if (!KERAS_LAYERS.has(op)) {
      b.problem(ln, op, 'Keras layer type is not supported');
      failed.add(ln);
      continue;
    }
    // inputs of this layer's first (and, for these models, only) call
    let ins: string[] = [];
    if (sequential) {
      if (prev === undefined && op !== 'InputLayer') {
        const bis = c.batch_input_shape as (number | null)[] | undefined;
        if (!bis) {
          b.problem(ln, op, 'first Sequential layer has no batch_input_shape');
          return modelName;
        }
        prev = defineInput(b, 'input', bis);
      }
      if (prev !== undefined) ins = [prev];
    } else {
      const nodes = (layer.inbound_nodes ?? []) as unknown[];
      if (nodes.length > 1) b.problem(ln, op, `layer is called ${nodes.length} times; shared layers are not supported`);
      const first = nodes[0];
      if (first !== undefined && !Array.isArray(first)) {
        b.problem(ln, op, 'inbound_nodes in a format other than tfjs / Keras 2 ([[layer, node, tensor, kwargs], ...])');
        continue;
      }
      let skip = false;
      for (const ref of (first ?? []) as unknown[]) {
        if (!Array.isArray(ref)) continue;
        const src = String(ref[0]);
        const t = tensorOf.get(key(src, Number(ref[1] ?? 0), Number(ref[2] ?? 0)));
        if (t !== undefined) ins.push(t);
        else {
          if (!failed.has(src)) b.problem(ln, op, `input '${src}' is not defined before this layer`);
          skip = true;
        }
      }
      if (!skip && ins.length === 0 && op !== 'InputLayer') b.problem(ln, op, 'layer has no inputs');
      if (skip || (ins.length === 0 && op !== 'InputLayer')) {
        failed.add(ln);
        continue;
      }
    }
    const out = convertLayer(b, layer, ln, ins, weight);
    if (out === undefined) {
      failed.add(ln);
      continue;
    }
    tensorOf.set(key(ln, 0, 0), out);
    prev = out;
  }

  if (sequential) {
    if (prev !== undefined) outputs.push(prev);
  } else {
    const earlier = b.problems.length > 0; // an unconverted output is then only their consequence
    for (const ref of (cfg.output_layers ?? []) as unknown[][]) {
      const t = tensorOf.get(key(String(ref[0]), Number(ref[1] ?? 0), Number(ref[2] ?? 0)));
      if (t !== undefined) outputs.push(t);
      else if (!earlier) b.problem(String(ref[0]), '', 'model output layer was not converted');
    }
  }
  b.outputs = outputs;
  return modelName;
}

function defineInput(b: Builder, name: string, bis: readonly (number | null)[]): string {
  const dims = bis.map((d) => (d === null || d === undefined ? -1 : d));
  if (dims.length === 4) {
    const [n, h, w, c] = dims;
    b.input(name, [n, c, h, w], true);
  } else b.input(name, dims, false);
  return name;
}

function convertLayer(
  b: Builder,
  layer: KerasLayer,
  ln: string,
  ins: string[],
  weight: (layer: string, param: string, op: string) => Tensor | undefined,
): string | undefined {
  const c = layer.config;
  const op = layer.class_name;
  const x = ins[0];
  const need4d = (): boolean => {
    const v = b.val(x);
    if (v.nhwc) return true;
    b.problem(ln, op, `expects a rank-4 channels_last input, got shape [${v.shape.join(',')}]`);
    return false;
  };
  if (c.data_format !== undefined && c.data_format !== 'channels_last') {
    b.problem(ln, op, `data_format '${String(c.data_format)}' is not supported (channels_last only)`);
    return undefined;
  }
  switch (op) {
    case 'InputLayer':
      return defineInput(b, ln, (c.batch_input_shape ?? c.batch_shape) as (number | null)[]);

    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianDropout':
    case 'GaussianNoise':
    case 'AlphaDropout':
      // inference: identity
      return x;

    case 'ZeroPadding2D': {
      if (!need4d()) return undefined;
      // Keras forms: p (all sides), [h, w] (symmetric per axis), [[top, bottom], [left, right]]
      const p = c.padding ?? 1;
      let t: number, bo: number, l: number, r: number;
      if (typeof p === 'number') t = bo = l = r = p;
      else if (Array.isArray(p) && Array.isArray(p[0])) [[t, bo], [l, r]] = p as [[number, number], [number, number]];
      else {
        const [h, w] = p as [number, number];
        t = bo = h;
        l = r = w;
      }
      const v = b.val(x);
      const [n, ch, h, w] = v.shape;
      return b.node('Pad', ln, [x], { mode: 'constant', pads: [0, 0, t, l, 0, 0, bo, r], value: 0 }, ln, [n, ch, h + t + bo, w + l + r], true);
    }

    case 'Conv2D':
    case 'DepthwiseConv2D': {
      if (!need4d()) return undefined;
      const depthwise = op === 'DepthwiseConv2D';
      const kt = weight(ln, depthwise ? 'depthwise_kernel' : 'kernel', op);
      const useBias = c.use_bias !== false;
      const bt = useBias ? weight(ln, 'bias', op) : undefined;
      if (!kt || (useBias && !bt)) return undefined;
      const padding = String(c.padding ?? 'valid');
      if (padding !== 'same' && padding !== 'valid') {
        b.problem(ln, op, `padding '${padding}' is not supported`);
        return undefined;
      }
      const [kh, kw, ci, m] = kt.shape;
      const cin = b.val(x).shape[1];
      const groups = depthwise ? cin : Number(c.groups ?? 1);
      const co = depthwise ? ci * m : m;
      if (depthwise ? ci !== cin : ci * groups !== cin) {
        b.problem(ln, op, `kernel [${kt.shape.join(',')}] does not fit ${cin} input channels`);
        return undefined;
      }
      const w = b.init(`${ln}/weight`, depthwise ? depthwiseToOihw(kt) : hwioToOihw(kt));
      const bias = bt ? b.init(`${ln}/bias`, bt) : undefined;
      const act = String(c.activation ?? 'linear');
      const y = emitConv(b, {
        node: ln,
        x,
        w,
        bias,
        group: groups,
        kh,
        kw,
        co,
        strides: pair(c.strides, 1),
        dilations: pair(c.dilation_rate, 1),
        padding,
        out: act === 'linear' ? ln : `${ln}/preact`,
      });
      return b.activation(act, y, `${ln}/${act}`, ln);
    }

    case 'BatchNormalization': {
      const v = b.val(x);
      const axis = Number(Array.isArray(c.axis) ? c.axis[0] : (c.axis ?? -1));
      const rank = v.shape.length;
      if (!(axis === -1 || axis === rank - 1)) {
        b.problem(ln, op, `normalizes axis ${axis}; only the channel (last) axis is supported`);
        return undefined;
      }
      const ch = v.shape[1];
      const ones = (): Tensor => ({ dtype: 'float32', shape: [ch], data: new Float32Array(ch).fill(1) });
      const zeros = (): Tensor => ({ dtype: 'float32', shape: [ch], data: new Float32Array(ch) });
      const gamma = c.scale === false ? ones() : weight(ln, 'gamma', op);
      const beta = c.center === false ? zeros() : weight(ln, 'beta', op);
      const mean = weight(ln, 'moving_mean', op);
      const variance = weight(ln, 'moving_variance', op);
      if (!gamma || !beta || !mean || !variance) return undefined;
      const inputs = [
        x,
        b.init(`${ln}/gamma`, gamma),
        b.init(`${ln}/beta`, beta),
        b.init(`${ln}/moving_mean`, mean),
        b.init(`${ln}/moving_variance`, variance),
      ];
      const attrs: Attrs = { epsilon: Number(c.epsilon ?? 1e-3), momentum: Number(c.momentum ?? 0.99) };
      return b.node('BatchNormalization', ln, inputs, attrs, ln, v.shape, v.nhwc);
    }

    case 'ReLU': {
      const slope = Number(c.negative_slope ?? 0);
      const thr = Number(c.threshold ?? 0);
      if (slope !== 0 || thr !== 0) {
        b.problem(ln, op, `ReLU with negative_slope ${slope} / threshold ${thr} is not supported`);
        return undefined;
      }
      const v = b.val(x);
      const mx = c.max_value;
      if (mx === null || mx === undefined) return b.node('Relu', ln, [x], {}, ln, v.shape, v.nhwc);
      return b.node('Clip', ln, [x], { min: 0, max: Number(mx) }, ln, v.shape, v.nhwc);
    }

    case 'Activation':
      return b.activation(String(c.activation), x, ln, ln);

    case 'Softmax': {
      const axis = Number(c.axis ?? -1);
      const v = b.val(x);
      const a = v.nhwc ? nhwcAxis(axis) : axis;
      return b.node('Softmax', ln, [x], { axis: a }, ln, v.shape, v.nhwc);
    }

    case 'Add':
    case 'Multiply':
    case 'Subtract': {
      if (ins.length < 2 || (op === 'Subtract' && ins.length !== 2)) {
        b.problem(ln, op, `needs ${op === 'Subtract' ? 'exactly' : 'at least'} 2 inputs, got ${ins.length}`);
        return undefined;
      }
      const irOp: OpType = op === 'Add' ? 'Add' : op === 'Multiply' ? 'Mul' : 'Sub';
      const v = b.val(x);
      for (const i of ins) {
        const vi = b.val(i);
        if (vi.nhwc !== v.nhwc || vi.shape.join() !== v.shape.join()) {
          b.problem(ln, op, `input shapes differ ([${v.shape.join(',')}] vs [${vi.shape.join(',')}])`);
          return undefined;
        }
      }
      // ONNX Add/Mul are binary: chain them, the last one carrying the layer's name
      let acc = ins[0];
      for (let i = 1; i < ins.length; i++) {
        const last = i === ins.length - 1;
        acc = b.node(irOp, last ? ln : `${ln}/${i}`, [acc, ins[i]], {}, last ? ln : `${ln}/${i}`, v.shape, v.nhwc);
      }
      return acc;
    }

    case 'Concatenate': {
      const v = b.val(x);
      const axis = Number(c.axis ?? -1);
      const a = v.nhwc ? nhwcAxis(axis) : axis < 0 ? axis + v.shape.length : axis;
      const shape = [...v.shape];
      shape[a] = 0;
      for (const i of ins) shape[a] += b.val(i).shape[a];
      return b.node('Concat', ln, ins, { axis: a }, ln, shape, v.nhwc);
    }

    case 'AveragePooling2D':
    case 'MaxPooling2D': {
      if (!need4d()) return undefined;
      const k = pair(c.pool_size, 2);
      const s = c.strides === null || c.strides === undefined ? k : pair(c.strides, 1);
      const padding = String(c.padding ?? 'valid');
      return emitPool(b, ln, op === 'AveragePooling2D' ? 'AveragePool' : 'MaxPool', x, k, s, padding, ln);
    }

    case 'GlobalAveragePooling2D': {
      if (!need4d()) return undefined;
      const [n, ch] = b.val(x).shape;
      if (c.keepdims === true) return b.node('GlobalAveragePool', ln, [x], {}, ln, [n, ch, 1, 1], true);
      const g = b.node('GlobalAveragePool', `${ln}/pool`, [x], {}, `${ln}/pool`, [n, ch, 1, 1], true);
      return b.node('Flatten', ln, [g], { axis: 1 }, ln, [n, ch], false);
    }

    case 'Flatten': {
      const v = b.val(x);
      if (v.nhwc) return flattenNhwc(b, ln, x, ln);
      if (v.shape.length === 2) return x;
      const [n, ...rest] = v.shape;
      return b.node('Flatten', ln, [x], { axis: 1 }, ln, [n, numel(rest)], false);
    }

    case 'Dense': {
      const v = b.val(x);
      if (v.shape.length !== 2) {
        b.problem(ln, op, `Dense on a rank-${v.shape.length} input is not supported (rank 2 only)`);
        return undefined;
      }
      const kt = weight(ln, 'kernel', op);
      const useBias = c.use_bias !== false;
      const bt = useBias ? weight(ln, 'bias', op) : undefined;
      if (!kt || (useBias && !bt)) return undefined;
      const [fin, fout] = kt.shape;
      if (fin !== v.shape[1]) {
        b.problem(ln, op, `kernel [${kt.shape.join(',')}] does not fit ${v.shape[1]} input features`);
        return undefined;
      }
      const w = b.init(`${ln}/weight`, transpose2d(kt));
      const inputs = bt ? [x, w, b.init(`${ln}/bias`, bt)] : [x, w];
      const act = String(c.activation ?? 'linear');
      const y = b.node('Gemm', ln, inputs, { alpha: 1, beta: 1, transA: 0, transB: 1 }, act === 'linear' ? ln : `${ln}/preact`, [v.shape[0], fout], false);
      return b.activation(act, y, `${ln}/${act}`, ln);
    }

    default:
      // KERAS_LAYERS and this switch disagree: a bug here, reported like any other problem
      b.problem(ln, op, 'Keras layer type is not supported');
      return undefined;
  }
}

const KERAS_LAYERS = new Set([
  'InputLayer',
  'Dropout',
  'SpatialDropout2D',
  'GaussianDropout',
  'GaussianNoise',
  'AlphaDropout',
  'ZeroPadding2D',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'Softmax',
  'Add',
  'Multiply',
  'Subtract',
  'Concatenate',
  'AveragePooling2D',
  'MaxPooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dense',
]);

// ---------------------------------------------------------------------------------------------
// TF graph models
// ---------------------------------------------------------------------------------------------

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
  list?: { s?: string[]; i?: (string | number)[]; f?: number[] };
  tensor?: unknown;
}

const attrStrOf = (n: TfNode, k: string, d = ''): string => {
  const s = n.attr?.[k]?.s;
  return s === undefined ? d : Buffer.from(s, 'base64').toString('utf8');
};
const attrIntsOf = (n: TfNode, k: string): number[] => (n.attr?.[k]?.list?.i ?? []).map(Number);
const attrStrsOf = (n: TfNode, k: string): string[] => (n.attr?.[k]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
const attrNumOf = (n: TfNode, k: string, d: number): number => {
  const a = n.attr?.[k];
  if (a?.f !== undefined) return Number(a.f);
  if (a?.i !== undefined) return Number(a.i);
  return d;
};
const attrBoolOf = (n: TfNode, k: string): boolean => n.attr?.[k]?.b === true;

/** Drops TF function-call wrappers: '…/StatefulPartitionedCall/predict/X' → 'predict/X'. */
function shortNames(names: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  const seen = new Set<string>();
  for (const n of names) {
    const i = n.lastIndexOf('StatefulPartitionedCall/');
    const s = i >= 0 ? n.slice(i + 'StatefulPartitionedCall/'.length) : n;
    if (!s || seen.has(s)) return new Map(names.map((x) => [x, x])); // ambiguous: keep full names
    seen.add(s);
    m.set(n, s);
  }
  return m;
}

const TF_ACT: Record<string, string> = { Relu: 'relu', Relu6: 'relu6', Sigmoid: 'sigmoid', Tanh: 'tanh' };

function convertGraph(topo: Record<string, unknown>, udm: unknown, weights: Map<string, Tensor>, b: Builder): string {
  const nodes = (topo.node ?? []) as TfNode[];
  const short = shortNames(nodes.map((n) => n.name));
  const sn = (n: string): string => short.get(n) ?? n;
  const consts = new Map<string, Tensor>(); // TF-layout constants by TF node name
  const alias = new Map<string, string>(); // TF node name → IR tensor
  const byName = new Map(nodes.map((n) => [n.name, n]));

  // TF input reference 'node', 'node:0' (first output), '^node' (control: ignored)
  const refName = (r: string): string | undefined => {
    if (r.startsWith('^')) return undefined;
    const m = /^(.*?)(?::(\d+))?$/.exec(r)!;
    return m[1];
  };
  const dataInputs = (n: TfNode): string[] => (n.input ?? []).map(refName).filter((x): x is string => x !== undefined);
  const irOf = (tf: string): string | undefined => alias.get(tf);

  // nodes not converted: their consumers stay silent (one message per root cause)
  const failed = new Set<string>();
  // emit in dependency order (tfjs graph JSON is not required to be sorted)
  const order = tfTopo(nodes, byName, dataInputs);
  for (const n of order) {
    const ins = dataInputs(n);
    const name = sn(n.name);
    const constOf = (i: number): Tensor | undefined => consts.get(ins[i]);
    const need = (i: number): string | undefined => {
      const t = irOf(ins[i]);
      if (t === undefined && !consts.has(ins[i]) && !failed.has(ins[i])) b.problem(name, n.op, `input '${sn(ins[i] ?? '')}' is not available`);
      return t;
    };
    const before = b.problems.length;
    const floatConst = (i: number, what: string): Tensor | undefined => {
      const t = constOf(i);
      if (!isFloat(t)) {
        b.problem(name, n.op, `${what} must be a float32 constant`);
        return undefined;
      }
      return t;
    };
    switch (n.op) {
      case 'Const': {
        const t = weights.get(n.name);
        if (!t) b.problem(name, n.op, 'constant has no value in the weights manifest');
        else consts.set(n.name, t);
        break;
      }
      case 'Placeholder': {
        const dims = (n.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
        if (dims.length === 0) b.problem(name, n.op, 'input has no static shape');
        alias.set(n.name, defineInput(b, name, dims.map((d) => (d < 0 ? null : d))));
        break;
      }
      case 'Identity':
      case 'IdentityN':
      case 'StopGradient':
      case 'Snapshot': {
        const t = irOf(ins[0]);
        if (t !== undefined) alias.set(n.name, t);
        else if (consts.has(ins[0])) consts.set(n.name, consts.get(ins[0])!);
        else need(0);
        break;
      }
      case 'NoOp':
        break;

      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative': {
        const x = need(0);
        const k = floatConst(1, 'filter');
        if (x === undefined || !k) break;
        if (attrStrOf(n, 'data_format', 'NHWC') !== 'NHWC') {
          b.problem(name, n.op, 'data_format NCHW is not supported');
          break;
        }
        const depthwise = n.op.includes('Depthwise');
        const st = attrIntsOf(n, 'strides');
        const dl = attrIntsOf(n, 'dilations');
        const pmode = attrStrOf(n, 'padding', 'VALID');
        let padding: string | number[];
        if (pmode === 'EXPLICIT') {
          const e = attrIntsOf(n, 'explicit_paddings'); // NHWC pairs
          padding = [e[2], e[4], e[3], e[5]];
        } else padding = pmode.toLowerCase();
        const [kh, kw, ci, m] = k.shape;
        const cin = b.val(x).shape[1];
        const group = depthwise ? cin : cin / ci;
        if (!Number.isInteger(group) || (depthwise && ci !== cin)) {
          b.problem(name, n.op, `filter [${k.shape.join(',')}] does not fit ${cin} input channels`);
          break;
        }
        const fused = n.op.startsWith('_') || n.op.startsWith('Fused') ? attrStrsOf(n, 'fused_ops') : [];
        let bias: string | undefined;
        let bn: Tensor[] | undefined;
        let act: string | undefined;
        for (const f of fused) {
          if (f === 'BiasAdd') {
            const bt = floatConst(2, 'bias');
            if (bt) bias = b.init(sn(ins[2]), bt);
          } else if (f === 'FusedBatchNorm') {
            bn = [2, 3, 4, 5].map((i) => floatConst(i, 'batch-norm parameter')).filter(isFloat);
          } else if (TF_ACT[f]) act = TF_ACT[f];
          else b.problem(name, n.op, `fused op '${f}' is not supported`);
        }
        const w = b.init(sn(ins[1]), depthwise ? depthwiseToOihw(k) : hwioToOihw(k));
        const preName = act || bn ? `${name}/conv` : name;
        let y = emitConv(b, {
          node: preName,
          x,
          w,
          bias,
          group,
          kh,
          kw,
          co: depthwise ? ci * m : m,
          strides: [st[1] ?? 1, st[2] ?? 1],
          dilations: [dl[1] ?? 1, dl[2] ?? 1],
          padding,
          out: preName,
        });
        if (bn && bn.length === 4) {
          const v = b.val(y);
          const ps = bn.map((t, i) => b.init(`${name}/bn_${['scale', 'offset', 'mean', 'variance'][i]}`, t));
          y = b.node('BatchNormalization', `${name}/bn`, [y, ...ps], { epsilon: attrNumOf(n, 'epsilon', 1e-3), momentum: 0.9 }, act ? `${name}/bn` : name, v.shape, true);
        }
        if (act) {
          const r = b.activation(act, y, name, name);
          if (r !== undefined) y = r;
        }
        alias.set(n.name, y);
        break;
      }

      case 'MatMul':
      case '_FusedMatMul': {
        const x = need(0);
        if (x === undefined) break;
        const v = b.val(x);
        if (v.shape.length !== 2) {
          b.problem(name, n.op, `MatMul on a rank-${v.shape.length} input is not supported`);
          break;
        }
        const ta = attrBoolOf(n, 'transpose_a');
        const tb = attrBoolOf(n, 'transpose_b');
        const wt = constOf(1);
        const fused = n.op === '_FusedMatMul' ? attrStrsOf(n, 'fused_ops') : [];
        let bias: string | undefined;
        let act: string | undefined;
        // named after the layer: converter constants of MatMuls are often anonymous ('…/_262')
        for (const f of fused) {
          if (f === 'BiasAdd') {
            const bt = floatConst(2, 'bias');
            if (bt) bias = b.init(`${name}/bias`, bt);
          } else if (TF_ACT[f]) act = TF_ACT[f];
          else b.problem(name, n.op, `fused op '${f}' is not supported`);
        }
        const preName = act ? `${name}/matmul` : name;
        let y: string;
        if (isFloat(wt)) {
          // B stored [out, in], Gemm transB=1
          const w = b.init(`${name}/weight`, tb ? wt : transpose2d(wt));
          const fout = tb ? wt.shape[0] : wt.shape[1];
          const inputs = bias ? [x, w, bias] : [x, w];
          y = b.node('Gemm', preName, inputs, { alpha: 1, beta: 1, transA: ta ? 1 : 0, transB: 1 }, preName, [ta ? v.shape[1] : v.shape[0], fout], false);
        } else {
          const w = need(1);
          if (w === undefined) break;
          if (ta || tb) {
            b.problem(name, n.op, 'transposed MatMul of two activations is not supported');
            break;
          }
          const wv = b.val(w);
          y = b.node('MatMul', preName, [x, w], {}, bias ? `${name}/matmul` : preName, [v.shape[0], wv.shape[1]], false);
          if (bias) y = b.node('Add', `${name}/bias`, [y, bias], {}, preName, [v.shape[0], wv.shape[1]], false);
        }
        if (act) {
          const r = b.activation(act, y, name, name);
          if (r !== undefined) y = r;
        }
        alias.set(n.name, y);
        break;
      }

      case 'FusedBatchNorm':
      case 'FusedBatchNormV2':
      case 'FusedBatchNormV3': {
        const x = need(0);
        const ps = [1, 2, 3, 4].map((i) => floatConst(i, 'batch-norm parameter'));
        if (x === undefined || !ps.every(isFloat)) break;
        const v = b.val(x);
        const inits = ps.map((t, i) => b.init(sn(ins[i + 1]), t!));
        alias.set(n.name, b.node('BatchNormalization', name, [x, ...inits], { epsilon: attrNumOf(n, 'epsilon', 1e-3), momentum: 0.9 }, name, v.shape, v.nhwc));
        break;
      }

      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh': {
        const x = need(0);
        if (x === undefined) break;
        const y = b.activation(TF_ACT[n.op], x, name, name);
        if (y !== undefined) alias.set(n.name, y);
        break;
      }
      case 'Softmax': {
        const x = need(0);
        if (x === undefined) break;
        const y = b.activation('softmax', x, name, name);
        if (y !== undefined) alias.set(n.name, y);
        break;
      }

      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
      case 'Sub':
      case 'Mul':
      case 'RealDiv': {
        const irOp: OpType = n.op === 'Sub' ? 'Sub' : n.op === 'Mul' ? 'Mul' : n.op === 'RealDiv' ? 'Div' : 'Add';
        const operands: string[] = [];
        let ref: Val | undefined;
        for (const i of [0, 1]) {
          const t = irOf(ins[i]);
          if (t !== undefined) {
            operands.push(t);
            ref ??= b.val(t);
          }
        }
        if (!ref) {
          b.problem(name, n.op, 'both operands are constants (constant folding is not supported)');
          break;
        }
        const ops: string[] = [];
        let ok = true;
        for (const i of [0, 1]) {
          const t = irOf(ins[i]);
          if (t !== undefined) {
            ops.push(t);
            continue;
          }
          const cst = constOf(i);
          if (!isFloat(cst)) {
            need(i);
            ok = false;
            continue;
          }
          const ct = layoutConst(cst, ref);
          if (!ct) {
            b.problem(name, n.op, `constant of shape [${cst.shape.join(',')}] does not broadcast in NCHW against [${ref.shape.join(',')}]`);
            ok = false;
            continue;
          }
          ops.push(b.init(sn(ins[i]), ct));
        }
        if (!ok) break;
        for (const o of operands) {
          const vo = b.val(o);
          if (vo.nhwc !== ref.nhwc || vo.shape.join() !== ref.shape.join()) {
            b.problem(name, n.op, `operand shapes differ ([${ref.shape.join(',')}] vs [${vo.shape.join(',')}])`);
            ok = false;
          }
        }
        if (ok) alias.set(n.name, b.node(irOp, name, ops, {}, name, ref.shape, ref.nhwc));
        break;
      }

      case 'AvgPool':
      case 'MaxPool': {
        const x = need(0);
        if (x === undefined) break;
        if (attrStrOf(n, 'data_format', 'NHWC') !== 'NHWC') {
          b.problem(name, n.op, 'data_format NCHW is not supported');
          break;
        }
        const k = attrIntsOf(n, 'ksize');
        const s = attrIntsOf(n, 'strides');
        const y = emitPool(b, name, n.op === 'AvgPool' ? 'AveragePool' : 'MaxPool', x, [k[1], k[2]], [s[1], s[2]], attrStrOf(n, 'padding', 'VALID').toLowerCase(), name);
        alias.set(n.name, y);
        break;
      }

      case 'Mean': {
        const x = need(0);
        const axes = constOf(1);
        if (x === undefined || !axes) break;
        const v = b.val(x);
        const ax = new Set(Array.from(axes.data as Int32Array, (a) => (a < 0 ? a + 4 : a)));
        if (!v.nhwc || ax.size !== 2 || !ax.has(1) || !ax.has(2)) {
          b.problem(name, n.op, 'only Mean over H and W of an NHWC tensor is supported');
          break;
        }
        const [nn, ch] = v.shape;
        if (attrBoolOf(n, 'keep_dims')) {
          alias.set(n.name, b.node('GlobalAveragePool', name, [x], {}, name, [nn, ch, 1, 1], true));
        } else {
          const g = b.node('GlobalAveragePool', `${name}/pool`, [x], {}, `${name}/pool`, [nn, ch, 1, 1], true);
          alias.set(n.name, b.node('Flatten', name, [g], { axis: 1 }, name, [nn, ch], false));
        }
        break;
      }

      case 'Squeeze': {
        const x = need(0);
        if (x === undefined) break;
        const v = b.val(x);
        let dims = attrIntsOf(n, 'squeeze_dims');
        if (dims.length === 0) dims = attrIntsOf(n, 'axis');
        const rank = v.shape.length;
        const tfShape = v.nhwc ? [v.shape[0], v.shape[2], v.shape[3], v.shape[1]] : v.shape;
        if (dims.length === 0) dims = tfShape.flatMap((d, i) => (d === 1 ? [i] : []));
        const norm = dims.map((d) => (d < 0 ? d + rank : d));
        const axes = v.nhwc ? norm.map(nhwcAxis) : norm;
        const kept = tfShape.filter((_, i) => !norm.includes(i));
        // the remaining dims keep their order in NCHW only if both spatial dims go
        if (v.nhwc && !(norm.includes(1) && norm.includes(2))) {
          b.problem(name, n.op, 'squeezing an NHWC tensor while keeping a spatial dim is not supported');
          break;
        }
        alias.set(n.name, b.node('Squeeze', name, [x], { axes: [...axes].sort((p, q) => p - q) }, name, kept, false));
        break;
      }

      case 'Reshape': {
        const x = need(0);
        const sh = constOf(1);
        if (x === undefined || !sh) break;
        const v = b.val(x);
        const target = Array.from(sh.data as Int32Array);
        if (v.nhwc && !(v.shape[2] === 1 && v.shape[3] === 1)) {
          b.problem(name, n.op, 'reshaping an NHWC tensor with spatial extent is not supported');
          break;
        }
        if (target.length === 4) {
          b.problem(name, n.op, 'reshape to rank 4 is not supported');
          break;
        }
        const known = numel(v.shape.map((d) => (d < 0 ? 1 : d)));
        const outShape = target.map((d) => (d === -1 ? -1 : d));
        const fixed = numel(outShape.filter((d) => d > 0));
        if (outShape.filter((d) => d === -1).length === 1 && v.shape[0] !== -1) outShape[outShape.indexOf(-1)] = known / fixed;
        alias.set(n.name, b.node('Reshape', name, [x], { shape: target }, name, outShape, false));
        break;
      }

      case 'Pad':
      case 'PadV2':
      case 'MirrorPad': {
        const x = need(0);
        const pc = constOf(1);
        if (x === undefined || !pc) break;
        const v = b.val(x);
        const p = Array.from(pc.data as Int32Array);
        if (!v.nhwc || p.length !== 8 || p[0] || p[1] || p[6] || p[7]) {
          b.problem(name, n.op, 'only spatial padding of an NHWC tensor is supported');
          break;
        }
        let mode = 'constant';
        let value = 0;
        if (n.op === 'MirrorPad') {
          const m = attrStrOf(n, 'mode');
          if (m !== 'REFLECT') {
            b.problem(name, n.op, `MirrorPad mode ${m} is not supported`);
            break;
          }
          mode = 'reflect';
        } else if (n.op === 'PadV2') {
          const cv = constOf(2);
          value = cv ? Number(cv.data[0]) : 0;
        }
        const [t, bo, l, r] = [p[2], p[3], p[4], p[5]];
        const [nn, ch, h, w] = v.shape;
        alias.set(n.name, b.node('Pad', name, [x], { mode, pads: [0, 0, t, l, 0, 0, bo, r], value }, name, [nn, ch, h + t + bo, w + l + r], true));
        break;
      }

      case 'ConcatV2': {
        const nIn = ins.length - 1;
        const axT = constOf(nIn);
        const xs = ins.slice(0, nIn).map((_, i) => need(i));
        if (!axT || xs.some((q) => q === undefined)) break;
        const v = b.val(xs[0]!);
        const ax = Number(axT.data[0]);
        const a = v.nhwc ? nhwcAxis(ax) : ax < 0 ? ax + v.shape.length : ax;
        const shape = [...v.shape];
        shape[a] = 0;
        for (const q of xs) shape[a] += b.val(q!).shape[a];
        alias.set(n.name, b.node('Concat', name, xs as string[], { axis: a }, name, shape, v.nhwc));
        break;
      }

      default:
        b.problem(name, n.op, 'TF op is not supported');
    }
    const converted = alias.has(n.name) || consts.has(n.name) || n.op === 'NoOp';
    if (!converted && (b.problems.length > before || ins.some((i) => failed.has(i)))) failed.add(n.name);
  }

  // outputs: the signature's, else every non-Const node nobody consumes
  const sig = (udm as { signature?: { outputs?: Record<string, { name?: string }> } } | undefined)?.signature?.outputs;
  let outNames = sig ? Object.values(sig).map((o) => refName(o.name ?? '')!) : [];
  if (outNames.length === 0) {
    const consumed = new Set(nodes.flatMap(dataInputs));
    outNames = nodes.filter((n) => n.op !== 'Const' && n.op !== 'NoOp' && !consumed.has(n.name)).map((n) => n.name);
  }
  const outs: string[] = [];
  const earlier = b.problems.length > 0; // an unconverted output is then only their consequence
  for (const o of outNames) {
    const t = alias.get(o);
    if (t !== undefined) outs.push(t);
    else if (!earlier) b.problem(sn(o), byName.get(o)?.op ?? '', 'graph output was not converted');
  }
  b.outputs = outs;
  return 'tfjs_graph_model';
}

/** A TF constant operand of an elementwise op, rearranged to broadcast against `ref` in NCHW. */
function layoutConst(t: Tensor, ref: Val): Tensor | undefined {
  const r = t.shape.length;
  if (r === 0 || numel(t.shape) === 1) return reshaped(t, []);
  if (!ref.nhwc) return t; // same layout: numpy broadcasting is identical
  if (r === 1 || (t.shape.slice(0, -1).every((d) => d === 1) && r <= 4)) {
    const c = t.shape[r - 1];
    // per-channel vector: [C] over NHWC's last axis is [C,1,1] over NCHW's axis 1
    if (c === ref.shape[1]) return reshaped(t, [c, 1, 1]);
  }
  return undefined;
}

/** Kahn order of TF nodes, stable in file order. */
function tfTopo(nodes: readonly TfNode[], byName: Map<string, TfNode>, deps: (n: TfNode) => string[]): TfNode[] {
  const done = new Set<string>();
  const out: TfNode[] = [];
  const visiting = new Set<string>();
  const visit = (n: TfNode): void => {
    if (done.has(n.name) || visiting.has(n.name)) return;
    visiting.add(n.name);
    for (const d of deps(n)) {
      const m = byName.get(d);
      if (m) visit(m);
    }
    visiting.delete(n.name);
    done.add(n.name);
    out.push(n);
  };
  for (const n of nodes) visit(n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// IR post-passes
// ---------------------------------------------------------------------------------------------

/** Folds constant-zero spatial Pads whose every consumer is a Conv into those Convs' pads. */
function foldPads(b: Builder): void {
  const outs = new Set(b.outputs);
  for (let i = 0; i < b.nodes.length; i++) {
    const pad = b.nodes[i];
    if (pad.op !== 'Pad' || pad.attrs.mode !== 'constant' || pad.attrs.value !== 0) continue;
    const p = pad.attrs.pads as readonly number[];
    if (p[0] || p[1] || p[4] || p[5] || p.some((v) => v < 0)) continue;
    const y = pad.outputs[0];
    if (outs.has(y)) continue;
    const consumers = b.nodes.filter((n) => n.inputs.includes(y));
    if (consumers.length === 0 || !consumers.every((n) => n.op === 'Conv' && n.inputs[0] === y && !n.inputs.slice(1).includes(y))) continue;
    for (const cn of consumers) {
      const cp = cn.attrs.pads as readonly number[];
      const j = b.nodes.indexOf(cn);
      b.nodes[j] = {
        ...cn,
        inputs: [pad.inputs[0], ...cn.inputs.slice(1)],
        attrs: { ...cn.attrs, pads: [cp[0] + p[2], cp[1] + p[3], cp[2] + p[6], cp[3] + p[7]] },
      };
    }
    b.nodes.splice(i, 1);
    b.vals.delete(y);
    i--;
  }
}

/** Renames a softmax graph output to `probs` (its input to `logits`); a linear output to `logits`. */
function nameOutputs(b: Builder): void {
  if (b.outputs.length !== 1) return;
  const producer = (t: string): Node | undefined => b.nodes.find((n) => n.outputs.includes(t));
  const out = b.outputs[0];
  const p = producer(out);
  const renames = new Map<string, string>();
  if (p?.op === 'Softmax') {
    renames.set(out, 'probs');
    const pre = p.inputs[0];
    const pp = producer(pre);
    if (pp && (pp.op === 'Gemm' || pp.op === 'MatMul' || pp.op === 'Add')) renames.set(pre, 'logits');
  } else if (p && (p.op === 'Gemm' || p.op === 'MatMul')) renames.set(out, 'logits');
  for (const [from, to] of renames) {
    if (b.vals.has(to) || b.inits.has(to) || b.inputs.some((i) => i.name === to)) renames.delete(from);
  }
  if (renames.size === 0) return;
  const rn = (t: string): string => renames.get(t) ?? t;
  for (let i = 0; i < b.nodes.length; i++) {
    const n = b.nodes[i];
    b.nodes[i] = { ...n, inputs: n.inputs.map(rn), outputs: n.outputs.map(rn) };
  }
  for (const [from, to] of renames) {
    b.vals.set(to, b.vals.get(from)!);
    b.vals.delete(from);
  }
  b.outputs = b.outputs.map(rn);
}

/** Kahn order over tensors, stable in emission order; reports undefined inputs. */
function topoSort(nodes: readonly Node[], available: Set<string>, file: string): Node[] {
  const have = new Set(available);
  const pending = [...nodes];
  const out: Node[] = [];
  while (pending.length) {
    const i = pending.findIndex((n) => n.inputs.every((x) => x === '' || have.has(x)));
    if (i < 0) {
      const problems = pending.map((n) => ({ node: n.name, op: n.op, message: `inputs never computed: ${n.inputs.filter((x) => x && !have.has(x)).join(', ')}` }));
      throw new ModelError(problems, file);
    }
    const [n] = pending.splice(i, 1);
    for (const o of n.outputs) have.add(o);
    out.push(n);
  }
  return out;
}
