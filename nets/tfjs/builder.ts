/**
 * The tfjs importers' graph builder: nodes, initializers and shapes of the Network IR being built,
 * with the NHWC bookkeeping both formats share (which IR tensors stand for NHWC ones), the weight
 * layout transforms (HWIO → OIHW, depthwise, dense), TF padding geometry, and the post-passes
 * every import ends with (Pad folding into Convs, output naming, topological order).
 */
import { ModelError, type ModelProblem } from '../errors.js';
import type { AttrValue, Graph, Node, OpType, Tensor, ValueInfo } from '../graph.js';
import { topoOrderByTensors } from '../topo.js';

export type Attrs = Record<string, AttrValue>;

/** Keras activation names → the IR op (and attributes) computing them */
const ACTIVATIONS: Readonly<Record<string, readonly [OpType, Attrs]>> = {
  relu: ['Relu', {}],
  relu6: ['Clip', { min: 0, max: 6 }],
  sigmoid: ['Sigmoid', {}],
  tanh: ['Tanh', {}],
  // Keras / tfjs hard_sigmoid: clip(0.2·x + 0.5, 0, 1)
  hard_sigmoid: ['HardSigmoid', { alpha: 0.2, beta: 0.5 }],
  swish: ['Swish', {}],
};

export interface Val {
  /** IR shape (NCHW for rank-4 activations); -1 = batch */
  shape: number[];
  /** true when this rank-4 IR tensor stands for a TF NHWC tensor */
  nhwc: boolean;
}

export class Builder {
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

  /**
   * `convert()` for one layer / node of an untrusted model file: a field of the wrong type or size
   * there (a string where a list belongs, a missing config) surfaces as a TypeError or RangeError
   * deep in a converter — it becomes a problem of that layer, like any other, instead of escaping.
   */
  guarded<T>(node: string, op: string, convert: () => T): T | undefined {
    try {
      return convert();
    } catch (e) {
      if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
      this.problem(node, op, `malformed in the model file (${e.message})`);
      return undefined;
    }
  }

  throwIfProblems(): void {
    if (this.problems.length) throw new ModelError(this.problems, this.file);
  }

  /** `base`, or `base_1`, `base_2`, … : the first that is not taken */
  private static fresh(base: string, taken: (n: string) => boolean): string {
    let n = base;
    for (let i = 1; taken(n); i++) n = `${base}_${i}`;
    return n;
  }

  /** a node name not used yet, derived from `base` */
  private freshNode(base: string): string {
    const n = Builder.fresh(base, (c) => this.nodeNames.has(c));
    this.nodeNames.add(n);
    return n;
  }

  /** a tensor name not used yet, derived from `base` */
  private freshTensor(base: string): string {
    return Builder.fresh(base, (c) => this.inits.has(c) || this.vals.has(c));
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
    if (act === 'linear') return x;
    // TF softmax is over the last (channel) axis
    const form = act === 'softmax' ? (['Softmax', { axis: v.nhwc ? 1 : -1 }] as const) : Object.hasOwn(ACTIVATIONS, act) ? ACTIVATIONS[act] : undefined;
    if (form) return this.node(form[0], node, [x], { ...form[1] }, out, v.shape, v.nhwc);
    this.problem(node, act, `activation '${act}' is not supported`);
    return undefined;
  }

  /** GlobalAveragePool of an NHWC-standing tensor: [N, C, 1, 1], or flattened to [N, C] */
  globalAveragePool(node: string, x: string, keepDims: boolean): string {
    const [n, ch] = this.val(x).shape;
    if (keepDims) return this.node('GlobalAveragePool', node, [x], {}, node, [n, ch, 1, 1], true);
    const g = this.node('GlobalAveragePool', `${node}/pool`, [x], {}, `${node}/pool`, [n, ch, 1, 1], true);
    return this.node('Flatten', node, [g], { axis: 1 }, node, [n, ch], false);
  }

  /** Concat along a TF axis (an NHWC one for NHWC-standing tensors) */
  concat(node: string, xs: readonly string[], tfAxis: number): string {
    const v = this.val(xs[0]);
    const a = v.nhwc ? nhwcAxis(tfAxis) : tfAxis < 0 ? tfAxis + v.shape.length : tfAxis;
    const shape = [...v.shape];
    shape[a] = 0;
    for (const x of xs) shape[a] += this.val(x).shape[a];
    return this.node('Concat', node, [...xs], { axis: a }, node, shape, v.nhwc);
  }

  /** Pad of an NHWC-standing tensor's H and W */
  spatialPad(node: string, x: string, p: { top: number; bottom: number; left: number; right: number }, mode: string, value: number): string {
    const [n, ch, h, w] = this.val(x).shape;
    const pads = [0, 0, p.top, p.left, 0, 0, p.bottom, p.right];
    return this.node('Pad', node, [x], { mode, pads, value }, node, [n, ch, h + p.top + p.bottom, w + p.left + p.right], true);
  }

  finish(name: string): Graph {
    foldPads(this);
    nameOutputs(this);
    const nodes = sortNodes(this.nodes, new Set([...this.inits.keys(), ...this.inputs.map((i) => i.name)]), this.file);
    const used = new Set<string>();
    for (const n of nodes) for (const i of n.inputs) used.add(i);
    const inits = new Map<string, Tensor>();
    for (const [k, t] of this.inits) if (used.has(k)) inits.set(k, t);
    const outputs: ValueInfo[] = this.outputs.map((o) => ({ name: o, dtype: 'float32', shape: this.val(o).shape }));
    return { name, inputs: this.inputs, outputs, initializers: inits, nodes, opset: 13 };
  }
}


/** [kh, kw, ci, co] → [co, ci, kh, kw] */
export function hwioToOihw(t: Tensor): Tensor {
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

/** depthwise [kh, kw, C, M] → [C·M, 1, kh, kw]; output channel c·M + m as in TF (HWIO with one input channel) */
export function depthwiseToOihw(t: Tensor): Tensor {
  const [kh, kw, c, m] = t.shape;
  return hwioToOihw(reshaped(t, [kh, kw, 1, c * m]));
}

/** [rows, cols] → [cols, rows] */
export function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.shape;
  const src = t.data as Float32Array;
  const dst = new Float32Array(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: dst };
}

export function reshaped(t: Tensor, shape: number[]): Tensor {
  return { dtype: t.dtype, shape, data: t.data };
}

export function isFloat(t: Tensor | undefined): t is Tensor & { data: Float32Array } {
  return !!t && t.data instanceof Float32Array;
}


/** TF 'SAME' / 'VALID' along one axis → [begin, end] pads and output size. */
export function tfPad(mode: string, inSize: number, k: number, stride: number, dilation: number): { b: number; e: number; out: number } {
  const ek = (k - 1) * dilation + 1;
  if (mode === 'same') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + ek - inSize, 0);
    const b = Math.floor(total / 2);
    return { b, e: total - b, out };
  }
  return { b: 0, e: 0, out: Math.floor((inSize - ek) / stride) + 1 };
}

export function pair(v: unknown, dflt: number): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  if (Array.isArray(v) && v.length === 1) return [Number(v[0]), Number(v[0])];
  return [dflt, dflt];
}

export interface Conv2dSpec {
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

/**
 * Window attributes no executor could run (a kernel, stride or dilation below 1, negative
 * explicit pads) are problems of the layer: refused at import, all at once.
 */
function checkWindow(b: Builder, node: string, op: string, parts: Record<string, readonly number[]>): void {
  for (const [what, v] of Object.entries(parts)) {
    const min = what === 'pads' ? 0 : 1;
    if (!v.every((d) => Number.isInteger(d) && d >= min)) b.problem(node, op, `${what} [${v.join(',')}]: every entry must be ≥ ${min}`);
  }
}

/** Emits a Conv for a TF/Keras 2-D convolution on an NHWC-standing tensor. */
export function emitConv(b: Builder, s: Conv2dSpec): string {
  checkWindow(b, s.node, 'Conv', { kernel: [s.kh, s.kw], strides: s.strides, dilations: s.dilations, pads: typeof s.padding === 'string' ? [] : s.padding });
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
export function emitPool(
  b: Builder,
  node: string,
  op: 'AveragePool' | 'MaxPool',
  xName: string,
  k: [number, number],
  strides: [number, number],
  padding: string,
  out: string,
): string {
  checkWindow(b, node, op, { pool_size: k, strides, dilations: [], pads: [] });
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
export function nhwcAxis(a: number): number {
  const ax = a < 0 ? a + 4 : a;
  return [0, 2, 3, 1][ax];
}

/** Flattens an NHWC-standing tensor in TF (NHWC) element order to [N, H·W·C]. */
export function flattenNhwc(b: Builder, node: string, xName: string, out: string): string {
  const x = b.val(xName);
  const [n, c, h, w] = x.shape;
  let src = xName;
  if (h !== 1 || w !== 1) {
    // TF flattens H, W, C; NCHW data must be put back in NHWC order first
    src = b.node('Transpose', `${node}/to_nhwc`, [xName], { perm: [0, 2, 3, 1] }, `${node}/nhwc`, [n, h, w, c], false);
  }
  return b.node('Flatten', node, [src], { axis: 1 }, out, [n, c * h * w], false);
}

/** The model input `name` of TF shape `bis` (null: any size); undefined, with a problem, when the shape is not one. */
export function defineInput(b: Builder, name: string, bis: unknown): string | undefined {
  if (!Array.isArray(bis) || !bis.every((d) => d === null || (Number.isSafeInteger(d) && d >= 1))) {
    b.problem(name, 'Input', `the input shape must be a list of positive whole numbers or null, got ${JSON.stringify(bis)?.slice(0, 60)}`);
    return undefined;
  }
  const dims = bis.map((d: number | null) => (d === null ? -1 : d));
  if (dims.length === 4) {
    const [n, h, w, c] = dims;
    b.input(name, [n, c, h, w], true);
  } else b.input(name, dims, false);
  return name;
}


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

/** Topological order (nets/topo.ts), stable in emission order; reports inputs never computed. */
function sortNodes(nodes: readonly Node[], available: ReadonlySet<string>, file: string): Node[] {
  const have = new Set(available);
  const out: Node[] = [];
  const problems: ModelProblem[] = [];
  for (const i of topoOrderByTensors(nodes).order) {
    const n = nodes[i];
    const missing = n.inputs.filter((x) => x !== '' && !have.has(x));
    if (missing.length) problems.push({ node: n.name, op: n.op, message: `inputs never computed: ${missing.join(', ')}` });
    else {
      for (const o of n.outputs) have.add(o);
      out.push(n);
    }
  }
  if (problems.length) throw new ModelError(problems, file);
  return out;
}
