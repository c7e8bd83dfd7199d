/**
 * Partial shape propagation for the ONNX importer/exporter: dims are numbers, -1 where unknown
 * (dynamic batch, dynamic H/W), `undefined` where even the rank is unknown.
 *
 * This is deliberately not shape inference (that is nets/shapes.ts, which needs concrete input
 * shapes). Import needs to reason about graphs whose inputs are partly symbolic: which dims a
 * Shape node sees, the rank a pre-13 Softmax coerces, the spatial size SAME auto-padding depends on.
 * When a rule cannot tell, it answers "unknown" and the caller decides whether that is an error.
 */
import type { Graph, Node } from '../graph.js';

export type PShape = readonly number[];

function ints(node: Node, key: string): readonly number[] | undefined {
  const v = node.attrs[key];
  return Array.isArray(v) ? (v as readonly number[]) : undefined;
}
function num(node: Node, key: string, dflt: number): number {
  const v = node.attrs[key];
  return typeof v === 'number' ? v : dflt;
}

function bcastDim(a: number, b: number): number {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === -1) return b; // valid broadcasting forces the unknown dim to b (b ≠ 1)
  if (b === -1) return a;
  return -1; // incompatible: not ours to report here
}

export function broadcastPartial(a: PShape, b: PShape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) out.push(bcastDim(a[a.length - r + i] ?? 1, b[b.length - r + i] ?? 1));
  return out;
}

function prod(s: PShape): number {
  let p = 1;
  for (const d of s) {
    if (d < 0) return -1;
    p *= d;
  }
  return p;
}

function normAxis(a: number, rank: number): number | undefined {
  const x = a < 0 ? a + rank : a;
  return x >= 0 && x < rank ? x : undefined;
}

/** Output spatial size of a sliding window; -1 when the input size is unknown. */
export function windowOut(size: number, k: number, s: number, d: number, p0: number, p1: number, ceil: boolean): number {
  if (size < 0) return -1;
  const span = (k - 1) * d + 1;
  const q = (size + p0 + p1 - span) / s;
  let o = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  if (ceil && (o - 1) * s >= size + p0) o--;
  return o;
}

function windowed(node: Node, x: PShape, channels: number, kernel: readonly number[] | undefined, ceil: boolean): number[] | undefined {
  const k = kernel?.length ?? 0;
  if (!kernel || x.length !== k + 2) return undefined;
  const strides = ints(node, 'strides') ?? kernel.map(() => 1);
  const dil = ints(node, 'dilations') ?? kernel.map(() => 1);
  const pads = ints(node, 'pads') ?? [...kernel.map(() => 0), ...kernel.map(() => 0)];
  const out = [x[0], channels];
  for (let i = 0; i < k; i++) out.push(windowOut(x[i + 2], kernel[i], strides[i] ?? 1, dil[i] ?? 1, pads[i] ?? 0, pads[i + k] ?? 0, ceil));
  return out;
}

/** Partial output shapes of a normalized node (graph.ts vocabulary). */
export function partialOutputShapes(node: Node, ins: readonly (PShape | undefined)[]): (number[] | undefined)[] {
  const x = ins[0];
  const same = x ? [[...x]] : [undefined];
  switch (node.op) {
    case 'Conv': {
      const w = ins[1];
      if (!x || !w) return [undefined];
      return [windowed(node, x, w[0], ints(node, 'kernel_shape') ?? w.slice(2), false)];
    }
    case 'MaxPool':
    case 'AveragePool':
      if (!x) return [undefined];
      return [windowed(node, x, x[1], ints(node, 'kernel_shape'), num(node, 'ceil_mode', 0) === 1)];
    case 'GlobalAveragePool':
      return x && x.length >= 2 ? [[x[0], x[1], ...x.slice(2).map(() => 1)]] : [undefined];
    case 'Gemm': {
      const b = ins[1];
      if (!x || !b || x.length !== 2 || b.length !== 2) return [undefined];
      const m = num(node, 'transA', 0) === 1 ? x[1] : x[0];
      const n = num(node, 'transB', 0) === 1 ? b[0] : b[1];
      return [[m, n]];
    }
    case 'MatMul': {
      const b = ins[1];
      if (!x || !b || x.length === 0 || b.length === 0) return [undefined];
      const a2 = x.length === 1 ? [1, x[0]] : x;
      const b2 = b.length === 1 ? [b[0], 1] : b;
      const out = [...broadcastPartial(a2.slice(0, -2), b2.slice(0, -2)), a2[a2.length - 2], b2[b2.length - 1]];
      if (x.length === 1) out.splice(out.length - 2, 1);
      if (b.length === 1) out.splice(out.length - 1, 1);
      return [out];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return x && ins[1] ? [broadcastPartial(x, ins[1])] : [undefined];
    case 'Concat': {
      if (ins.some((s) => !s)) return [undefined];
      const shapes = ins as PShape[];
      const rank = shapes[0].length;
      const axis = normAxis(num(node, 'axis', 0), rank);
      if (axis === undefined || shapes.some((s) => s.length !== rank)) return [undefined];
      const out: number[] = [];
      for (let i = 0; i < rank; i++) {
        if (i === axis) {
          out.push(shapes.some((s) => s[i] < 0) ? -1 : shapes.reduce((a, s) => a + s[i], 0));
        } else {
          out.push(shapes.find((s) => s[i] >= 0)?.[i] ?? -1);
        }
      }
      return [out];
    }
    case 'Flatten': {
      if (!x) return [undefined];
      const a = normAxis(num(node, 'axis', 1), x.length + 1);
      if (a === undefined) return [undefined];
      return [[prod(x.slice(0, a)), prod(x.slice(a))]];
    }
    case 'Reshape': {
      const spec = ints(node, 'shape');
      if (!spec) return [undefined];
      const allowZero = num(node, 'allowzero', 0) === 1;
      const out = spec.map((d, i) => (d === 0 && !allowZero ? (x ? (x[i] ?? -1) : -1) : d));
      const neg = spec.indexOf(-1);
      if (neg >= 0) {
        const total = x ? prod(x) : -1;
        const rest = prod(out.filter((_, i) => i !== neg));
        out[neg] = total >= 0 && rest > 0 ? total / rest : -1;
      }
      return [out];
    }
    case 'Transpose': {
      if (!x) return [undefined];
      const perm = ints(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
      if (perm.length !== x.length) return [undefined];
      return [perm.map((p) => x[p] ?? -1)];
    }
    case 'Squeeze': {
      if (!x) return [undefined];
      const axes = ints(node, 'axes');
      if (!axes || axes.length === 0) return x.some((d) => d < 0) ? [undefined] : [x.filter((d) => d !== 1)];
      const norm = axes.map((a) => normAxis(a, x.length));
      return [x.filter((_, i) => !norm.includes(i))];
    }
    case 'Unsqueeze': {
      if (!x) return [undefined];
      const axes = ints(node, 'axes') ?? [];
      const rank = x.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank));
      const out: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : (x[j++] ?? -1));
      return [out];
    }
    case 'Pad': {
      const pads = ints(node, 'pads');
      if (!x || !pads || pads.length !== 2 * x.length) return [undefined];
      return [x.map((d, i) => (d < 0 ? -1 : d + pads[i] + pads[i + x.length]))];
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
      return same;
    default:
      return node.outputs.map(() => undefined);
  }
}

/** Partial shapes of every tensor of a graph (initializers exact, inputs with -1 for dynamic dims). */
export function partialShapes(graph: Graph): Map<string, PShape> {
  const shapes = new Map<string, PShape>();
  for (const [name, t] of graph.initializers) shapes.set(name, t.shape);
  for (const v of graph.inputs) shapes.set(v.name, v.shape);
  for (const node of graph.nodes) {
    const outs = partialOutputShapes(
      node,
      node.inputs.map((n) => (n === '' ? undefined : shapes.get(n))),
    );
    node.outputs.forEach((o, i) => {
      const s = outs[i];
      if (o !== '' && s) shapes.set(o, s);
    });
  }
  return shapes;
}
