/**
 * Shape inference and per-layer statistics (parameters, MACs) for the Network IR.
 *
 * One function per op computes output shapes from input shapes; the FP32 executor allocates
 * with the same functions, so "what inspect reports" and "what eval computes" cannot drift.
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, numel, type Graph, type Node, type Tensor } from './graph.js';

export type Shape = readonly number[];

/** Spatial geometry of a Conv / pool node with 2-D spatial dims (NCHW). */
export interface Window2d {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  oh: number;
  ow: number;
}

export function window2d(node: Node, inShape: Shape, kernel: readonly number[], ceilMode = false): Window2d {
  if (inShape.length !== 4 || kernel.length !== 2) {
    throw new ModelError([{ node: node.name, op: node.op, message: `only 2-D spatial (NCHW) inputs are supported, got input shape [${inShape.join(',')}]` }]);
  }
  const [sh, sw] = attrInts(node, 'strides', [1, 1]);
  const [dh, dw] = attrInts(node, 'dilations', [1, 1]);
  const [pt, pl, pb, pr] = attrInts(node, 'pads', [0, 0, 0, 0]);
  const [kh, kw] = kernel;
  const h = inShape[2];
  const w = inShape[3];
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  const div = ceilMode ? Math.ceil : Math.floor;
  let oh = div((h + pt + pb - ekh) / sh) + 1;
  let ow = div((w + pl + pr - ekw) / sw) + 1;
  // ONNX (like PyTorch): with ceil_mode the last window must start inside the input or left padding.
  if (ceilMode) {
    if ((oh - 1) * sh >= h + pt) oh--;
    if ((ow - 1) * sw >= w + pl) ow--;
  }
  if (oh <= 0 || ow <= 0) {
    throw new ModelError([{ node: node.name, op: node.op, message: `window ${kh}x${kw} does not fit input ${h}x${w} with the given pads` }]);
  }
  return { kh, kw, sh, sw, dh, dw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr, oh, ow };
}

export function normAxis(axis: number, rank: number, node: Node): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ModelError([{ node: node.name, op: node.op, message: `axis ${axis} out of range for rank ${rank}` }]);
  return a;
}

/** numpy-style multidirectional broadcast */
export function broadcastShapes(a: Shape, b: Shape, node: Node): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ModelError([{ node: node.name, op: node.op, message: `cannot broadcast [${a.join(',')}] with [${b.join(',')}]` }]);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function reshapeTarget(node: Node, inShape: Shape): number[] {
  const spec = attrInts(node, 'shape', []);
  const allowZero = attrNum(node, 'allowzero', 0) === 1;
  const total = numel(inShape);
  const out = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const known = out.reduce((p, d, i) => (i === neg ? p : p * d), 1);
    out[neg] = known === 0 ? 0 : total / known;
  }
  if (numel(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ModelError([{ node: node.name, op: node.op, message: `cannot reshape [${inShape.join(',')}] to [${spec.join(',')}]` }]);
  }
  return out;
}

export function transposePerm(node: Node, rank: number): number[] {
  const perm = attrInts(node, 'perm', []);
  if (perm.length === 0) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank) throw new ModelError([{ node: node.name, op: node.op, message: `perm has ${perm.length} entries for rank ${rank}` }]);
  return [...perm];
}

function bad(node: Node, message: string): never {
  throw new ModelError([{ node: node.name, op: node.op, message }]);
}

/** Output shapes of one node given its input shapes (missing optional inputs are undefined). */
export function nodeOutputShapes(node: Node, ins: readonly (Shape | undefined)[]): number[][] {
  const x = ins[0];
  if (!x) bad(node, 'first input has no known shape');
  switch (node.op) {
    case 'Conv': {
      const w = ins[1] ?? bad(node, 'missing weight');
      const group = attrNum(node, 'group', 1);
      if (x[1] !== w[1] * group) bad(node, `input has ${x[1]} channels, weight expects ${w[1]}×group ${group}`);
      if (w[0] % group !== 0) bad(node, `output channels ${w[0]} not divisible by group ${group}`);
      const win = window2d(node, x, attrInts(node, 'kernel_shape', w.slice(2)));
      return [[x[0], w[0], win.oh, win.ow]];
    }
    case 'MaxPool':
    case 'AveragePool': {
      const win = window2d(node, x, attrInts(node, 'kernel_shape', []), attrNum(node, 'ceil_mode', 0) === 1);
      return [[x[0], x[1], win.oh, win.ow]];
    }
    case 'GlobalAveragePool':
      return [[x[0], x[1], ...x.slice(2).map(() => 1)]];
    case 'Gemm': {
      const b = ins[1] ?? bad(node, 'missing B');
      if (x.length !== 2 || b.length !== 2) bad(node, 'Gemm needs 2-D A and B');
      const ta = attrNum(node, 'transA', 0) === 1;
      const tb = attrNum(node, 'transB', 0) === 1;
      const [m, k] = ta ? [x[1], x[0]] : [x[0], x[1]];
      const [k2, n] = tb ? [b[1], b[0]] : [b[0], b[1]];
      if (k !== k2) bad(node, `inner dimensions differ: A [${x.join(',')}] B [${b.join(',')}]`);
      return [[m, n]];
    }
    case 'MatMul': {
      const b = ins[1] ?? bad(node, 'missing B');
      const a2 = x.length === 1 ? [1, x[0]] : x;
      const b2 = b.length === 1 ? [b[0], 1] : b;
      if (a2[a2.length - 1] !== b2[b2.length - 2]) bad(node, `inner dimensions differ: [${x.join(',')}] x [${b.join(',')}]`);
      const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2), node);
      const out = [...batch, a2[a2.length - 2], b2[b2.length - 1]];
      if (x.length === 1) out.splice(out.length - 2, 1);
      if (b.length === 1) out.splice(out.length - 1, 1);
      return [out];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return [broadcastShapes(x, ins[1] ?? bad(node, 'missing second operand'), node)];
    case 'Concat': {
      const axis = normAxis(attrNum(node, 'axis', 1), x.length, node);
      const out = [...x];
      for (let i = 1; i < ins.length; i++) {
        const s = ins[i] ?? bad(node, `input ${i} has no shape`);
        if (s.length !== x.length || s.some((d, j) => j !== axis && d !== x[j])) bad(node, `input ${i} shape [${s.join(',')}] does not match [${x.join(',')}]`);
        out[axis] += s[axis];
      }
      return [out];
    }
    case 'Flatten': {
      const axis = attrNum(node, 'axis', 1);
      const a = axis < 0 ? axis + x.length : axis;
      return [[numel(x.slice(0, a)), numel(x.slice(a))]];
    }
    case 'Reshape':
      return [reshapeTarget(node, x)];
    case 'Transpose': {
      const perm = transposePerm(node, x.length);
      return [perm.map((p) => x[p])];
    }
    case 'Squeeze': {
      const axes = attrInts(node, 'axes', []).map((a) => normAxis(a, x.length, node));
      if (axes.length === 0) return [x.filter((d) => d !== 1)];
      for (const a of axes) if (x[a] !== 1) bad(node, `cannot squeeze axis ${a} of size ${x[a]}`);
      return [x.filter((_, i) => !axes.includes(i))];
    }
    case 'Unsqueeze': {
      const rank = x.length + attrInts(node, 'axes', []).length;
      const axes = attrInts(node, 'axes', []).map((a) => normAxis(a, rank, node));
      const out: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x[j++]);
      return [out];
    }
    case 'Pad': {
      const pads = attrInts(node, 'pads', []);
      if (pads.length !== 2 * x.length) bad(node, `pads has ${pads.length} entries for rank ${x.length}`);
      return [x.map((d, i) => d + pads[i] + pads[i + x.length])];
    }
    case 'BatchNormalization':
    case 'Relu':
    case 'Clip':
    case 'Sigmoid':
    case 'HardSigmoid':
    case 'HardSwish':
    case 'Swish':
    case 'Tanh':
    case 'Erf':
    case 'Gelu':
    case 'Softmax':
    case 'Identity':
      return [[...x]];
    default:
      return bad(node, `no shape rule for op ${node.op as string}`);
  }
}

/**
 * Shapes of every tensor for a given batch size (dynamic dims of the inputs become `batch`).
 * Throws ModelError listing the first node whose shapes do not work out.
 */
export function inferShapes(graph: Graph, batch = 1): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const [name, t] of graph.initializers) shapes.set(name, [...t.shape]);
  for (const i of graph.inputs) shapes.set(i.name, i.shape.map((d) => (d < 0 ? batch : d)));
  for (const node of graph.nodes) {
    const ins = node.inputs.map((n) => (n === '' ? undefined : shapes.get(n)));
    const outs = nodeOutputShapes(node, ins);
    node.outputs.forEach((o, i) => {
      if (o !== '' && outs[i]) shapes.set(o, outs[i]);
    });
  }
  return shapes;
}

export interface LayerStat {
  name: string;
  op: string;
  inputShape: number[];
  outputShape: number[];
  /** weights + bias + BN parameters held by this node */
  params: number;
  /** multiply-accumulates for the given batch (1 by default) */
  macs: number;
}

/** Parameter counts and MACs per node (MACs only for Conv / Gemm / MatMul: the array's work). */
export function layerStats(graph: Graph, batch = 1): { layers: LayerStat[]; totalMacs: number; totalParams: number } {
  const shapes = inferShapes(graph, batch);
  const layers: LayerStat[] = [];
  let totalMacs = 0;
  let totalParams = 0;
  for (const node of graph.nodes) {
    let params = 0;
    for (const i of node.inputs) {
      const t: Tensor | undefined = graph.initializers.get(i);
      if (t && t.dtype === 'float32') params += numel(t.shape);
    }
    const inShape = shapes.get(node.inputs[0]) ?? [];
    const outShape = shapes.get(node.outputs[0]) ?? [];
    let macs = 0;
    if (node.op === 'Conv') {
      const w = shapes.get(node.inputs[1])!;
      macs = numel(outShape) * numel(w.slice(1));
    } else if (node.op === 'Gemm') {
      const ta = attrNum(node, 'transA', 0) === 1;
      macs = numel(outShape) * (ta ? inShape[0] : inShape[1]);
    } else if (node.op === 'MatMul') {
      macs = numel(outShape) * inShape[inShape.length - 1];
    }
    totalMacs += macs;
    totalParams += params;
    layers.push({ name: node.name, op: node.op, inputShape: inShape, outputShape: outShape, params, macs });
  }
  return { layers, totalMacs, totalParams };
}
