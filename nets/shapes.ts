/**
 * Shape inference and per-layer statistics (parameters, MACs) for the Network IR.
 *
 * One rule per op computes output shapes from input shapes, for known shapes (what inspect
 * reports; the FP32 executor allocates with the same rules, so the two cannot drift) and for
 * partly known ones (what the importers can tell before any input is fed).
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, numel, type Graph, type Node, type Tensor, type ValueInfo } from './graph.js';

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

/** Output spatial size of a sliding window; -1 when the input size is unknown. */
export function windowOut(size: number, k: number, s: number, d: number, p0: number, p1: number, ceil: boolean): number {
  if (size < 0) return -1;
  const span = (k - 1) * d + 1;
  const q = (size + p0 + p1 - span) / s;
  let o = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  // ONNX (like PyTorch): with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (o - 1) * s >= size + p0) o--;
  return o;
}

/** Strict checks of a 2-D window: attribute values an importer refuses, then the fit. */
function checkWindow(node: Node, kernel: readonly number[], strides: readonly number[], dilations: readonly number[], pads: readonly number[]): void {
  const below = (what: string, v: readonly number[], min: number): void => {
    if (!v.every((d) => d >= min)) bad(node, `${what} [${v.join(',')}]: every entry must be ≥ ${min}`);
  };
  below('kernel_shape', kernel, 1);
  below('strides', strides, 1);
  below('dilations', dilations, 1);
  below('pads', pads, 0);
}

export function window2d(node: Node, inShape: Shape, kernel: readonly number[], ceilMode = false): Window2d {
  if (inShape.length !== 4 || kernel.length !== 2) bad(node, `only 2-D spatial (NCHW) inputs are supported, got input shape [${inShape.join(',')}]`);
  const [sh, sw] = attrInts(node, 'strides', [1, 1]);
  const [dh, dw] = attrInts(node, 'dilations', [1, 1]);
  const [pt, pl, pb, pr] = attrInts(node, 'pads', [0, 0, 0, 0]);
  const [kh, kw] = kernel;
  const h = inShape[2];
  const w = inShape[3];
  checkWindow(node, kernel, [sh, sw], [dh, dw], [pt, pl, pb, pr]);
  const oh = windowOut(h, kh, sh, dh, pt, pb, ceilMode);
  const ow = windowOut(w, kw, sw, dw, pl, pr, ceilMode);
  if (oh <= 0 || ow <= 0) bad(node, `window ${kh}x${kw} does not fit input ${h}x${w} with the given pads`);
  return { kh, kw, sh, sw, dh, dw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr, oh, ow };
}

export function normAxis(axis: number, rank: number, node: Node): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) bad(node, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * numpy-style multidirectional broadcast. Strict: incompatible dims throw. Partial: an unknown dim
 * (-1) against a known one ≠ 1 is that one (valid broadcasting forces it), incompatible dims give -1.
 */
function broadcast(a: Shape, b: Shape, node: Node, strict: boolean): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else if (strict) bad(node, `cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
    else out[i] = da === -1 ? db : db === -1 ? da : -1;
  }
  return out;
}

/** numpy-style multidirectional broadcast of known shapes; incompatible dims throw ModelError. */
export function broadcastShapes(a: Shape, b: Shape, node: Node): number[] {
  return broadcast(a, b, node, true);
}

/**
 * Reshape's output: ONNX's 0 copies the input dim (unless allowzero), one -1 takes the rest.
 * Strict: a target that does not hold the input's elements throws; partial: -1 where unknown.
 */
function reshapeTarget(node: Node, inShape: Shape, strict: boolean): number[] {
  const spec = attrInts(node, 'shape', []);
  const allowZero = attrNum(node, 'allowzero', 0) === 1;
  const out = spec.map((d, i) => (d === 0 && !allowZero ? (inShape[i] ?? -1) : d));
  const neg = spec.indexOf(-1);
  const total = knownProduct(inShape);
  if (neg >= 0) {
    // a dim copied by 0 is on both sides of the count: it cancels, known or not (dynamic batch)
    const copied = (i: number): boolean => spec[i] === 0 && !allowZero && i < inShape.length;
    const rest = knownProduct(out.filter((_, i) => i !== neg && !copied(i)));
    const held = knownProduct(inShape.filter((_, i) => !copied(i)));
    out[neg] = rest === 0 ? 0 : held >= 0 && rest > 0 ? held / rest : -1;
  }
  if (strict && (numel(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0))) {
    bad(node, `cannot reshape [${inShape.join(',')}] to [${spec.join(',')}]`);
  }
  return out;
}

export function transposePerm(node: Node, rank: number): number[] {
  const perm = attrInts(node, 'perm', []);
  if (perm.length === 0) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank) bad(node, `perm has ${perm.length} entries for rank ${rank}`);
  return [...perm];
}

function bad(node: Node, message: string): never {
  throw new ModelError([{ node: node.name, op: node.op, message }]);
}

/**
 * The shape rules, one per op, in two modes.
 *  - strict (`nodeOutputShapes`, `inferShapes`): every dim is known; an input the rule needs but
 *    lacks, or shapes that do not fit, throw ModelError naming the node — what inspect reports and
 *    what the FP32 executor allocates.
 *  - partial (`partialOutputShapes`, `partialShapes`, for the ONNX importer / exporter and the
 *    QOperator importer): dims are -1 where unknown (dynamic batch, dynamic H/W) and an output is
 *    `undefined` where even its rank is unknown. Import reasons about graphs whose inputs are
 *    partly symbolic: which dims a Shape node sees, the rank a pre-13 Softmax coerces, the spatial
 *    size SAME auto-padding depends on. A rule that cannot tell answers "unknown"; consistency
 *    checks are strict-only (partial mode computes what it can and leaves judging to the caller).
 */
function outputShapes(node: Node, ins: readonly (Shape | undefined)[], strict: boolean): (number[] | undefined)[] {
  /** strict: throws; partial: the rule's answer is "unknown" */
  const unknown = (message: string): [undefined] => {
    if (strict) bad(node, message);
    return [undefined];
  };
  /** a consistency check, strict mode only */
  const check = (ok: boolean, message: () => string): void => {
    if (strict && !ok) bad(node, message());
  };
  const x = ins[0];
  if (!x) {
    if (strict) bad(node, 'first input has no known shape');
    return node.outputs.map(() => undefined);
  }
  switch (node.op) {
    case 'Conv': {
      const w = ins[1];
      if (!w) return unknown('missing weight');
      const group = attrNum(node, 'group', 1);
      check(x[1] === w[1] * group, () => `input has ${x[1]} channels, weight expects ${w[1]}×group ${group}`);
      check(w[0] % group === 0, () => `output channels ${w[0]} not divisible by group ${group}`);
      return [windowShape(node, x, w[0], attrInts(node, 'kernel_shape', w.slice(2)), false, strict)];
    }
    case 'MaxPool':
    case 'AveragePool':
      return [windowShape(node, x, x[1], attrInts(node, 'kernel_shape', []), attrNum(node, 'ceil_mode', 0) === 1, strict)];
    case 'GlobalAveragePool':
      if (x.length < 2) return unknown(`input of rank ${x.length}: needs N and C`);
      return [[x[0], x[1], ...x.slice(2).map(() => 1)]];
    case 'Gemm': {
      const b = ins[1];
      if (!b) return unknown('missing B');
      if (x.length !== 2 || b.length !== 2) return unknown('Gemm needs 2-D A and B');
      const ta = attrNum(node, 'transA', 0) === 1;
      const tb = attrNum(node, 'transB', 0) === 1;
      const [m, k] = ta ? [x[1], x[0]] : [x[0], x[1]];
      const [k2, n] = tb ? [b[1], b[0]] : [b[0], b[1]];
      check(k === k2, () => `inner dimensions differ: A [${x.join(',')}] B [${b.join(',')}]`);
      return [[m, n]];
    }
    case 'MatMul': {
      const b = ins[1];
      if (!b) return unknown('missing B');
      if (x.length === 0 || b.length === 0) return unknown('MatMul needs operands of rank ≥ 1');
      const a2 = x.length === 1 ? [1, x[0]] : x;
      const b2 = b.length === 1 ? [b[0], 1] : b;
      check(a2[a2.length - 1] === b2[b2.length - 2], () => `inner dimensions differ: [${x.join(',')}] x [${b.join(',')}]`);
      const out = [...broadcast(a2.slice(0, -2), b2.slice(0, -2), node, strict), a2[a2.length - 2], b2[b2.length - 1]];
      if (x.length === 1) out.splice(out.length - 2, 1);
      if (b.length === 1) out.splice(out.length - 1, 1);
      return [out];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow': {
      const b = ins[1];
      return b ? [broadcast(x, b, node, strict)] : unknown('missing second operand');
    }
    case 'Concat': {
      const rank = x.length;
      const axis = axisIn(attrNum(node, 'axis', 1), rank);
      if (axis === undefined) return unknown(`axis ${attrNum(node, 'axis', 1)} out of range for rank ${rank}`);
      for (let i = 1; i < ins.length; i++) {
        const s = ins[i];
        if (!s) return unknown(`input ${i} has no shape`);
        if (s.length !== rank) return unknown(`input ${i} shape [${s.join(',')}] does not match [${x.join(',')}]`);
        check(s.every((d, j) => j === axis || d === x[j]), () => `input ${i} shape [${s.join(',')}] does not match [${x.join(',')}]`);
      }
      const shapes = ins as readonly Shape[];
      const out: number[] = [];
      for (let j = 0; j < rank; j++) {
        if (j === axis) out.push(shapes.some((s) => s[j] < 0) ? -1 : shapes.reduce((a, s) => a + s[j], 0));
        else out.push(shapes.find((s) => s[j] >= 0)?.[j] ?? -1);
      }
      return [out];
    }
    case 'Flatten': {
      const axis = attrNum(node, 'axis', 1);
      // axis ∈ [−r, r]: a negative one counts from the end of the rank-r input
      const a = axis < 0 ? axis + x.length : axis;
      if (!(a >= 0 && a <= x.length)) return unknown(`axis ${axis} out of range for rank ${x.length}`);
      return [[knownProduct(x.slice(0, a)), knownProduct(x.slice(a))]];
    }
    case 'Reshape':
      return [reshapeTarget(node, x, strict)];
    case 'Transpose': {
      const perm = attrInts(node, 'perm', []);
      if (perm.length === 0) return [x.map((_, i) => x[x.length - 1 - i])];
      if (perm.length !== x.length) return unknown(`perm has ${perm.length} entries for rank ${x.length}`);
      return [perm.map((p) => x[p] ?? -1)];
    }
    case 'Squeeze': {
      const axes = normAxes(node, attrInts(node, 'axes', []), x.length, strict);
      if (!axes) return [undefined];
      if (axes.length === 0) return x.some((d) => d < 0) ? [undefined] : [x.filter((d) => d !== 1)];
      for (const a of axes) check(x[a] === 1, () => `cannot squeeze axis ${a} of size ${x[a]}`);
      return [x.filter((_, i) => !axes.includes(i))];
    }
    case 'Unsqueeze': {
      const given = attrInts(node, 'axes', []);
      const rank = x.length + given.length;
      const axes = normAxes(node, given, rank, strict);
      if (!axes) return [undefined];
      const out: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : (x[j++] ?? -1));
      return [out];
    }
    case 'ReduceMean': {
      const axes = normAxes(node, attrInts(node, 'axes', x.map((_, i) => i)), x.length, strict);
      if (!axes) return [undefined];
      if (new Set(axes).size !== axes.length) return unknown(`axes [${axes.join(',')}] repeat an axis`);
      const keep = attrNum(node, 'keepdims', 1) === 1;
      const out: number[] = [];
      x.forEach((d, i) => {
        if (!axes.includes(i)) out.push(d);
        else if (keep) out.push(1);
      });
      return [out];
    }
    case 'Slice': {
      const spec = sliceSpec(node, x, strict);
      return spec ? [x.map((d, i) => (spec[i] ? spec[i].count : d))] : [undefined];
    }
    case 'Pad': {
      const pads = attrInts(node, 'pads', []);
      if (pads.length !== 2 * x.length) return unknown(`pads has ${pads.length} entries for rank ${x.length}`);
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
    case 'Sqrt':
    case 'Sin':
    case 'Cos':
    case 'Softmax':
    case 'Identity':
      return [[...x]];
    case 'Resize': {
      const f = attrInts(node, 'scales', []);
      if (f.length !== x.length) return unknown(`scales has ${f.length} entries for rank ${x.length}`);
      if (!f.every((s) => Number.isInteger(s) && s >= 1)) return unknown(`scales [${f.join(',')}] are not integers ≥ 1`);
      return [x.map((d, i) => (d < 0 ? -1 : d * f[i]))];
    }
    case 'LayerNormalization': {
      const axis = attrNum(node, 'axis', -1);
      if (axisIn(axis, x.length) === undefined) return unknown(`axis ${axis} out of range for rank ${x.length}`);
      return [[...x]];
    }
    default:
      if (strict) bad(node, `no shape rule for op ${node.op as string}`);
      return node.outputs.map(() => undefined);
  }
}

/** What a Slice takes along one axis: the first index, the step and how many elements. */
export interface SliceRange {
  start: number;
  step: number;
  count: number;
}

/**
 * ONNX Slice along one axis of size `dim`: negative starts/ends count from the end, then starts
 * clamp to [0, dim] ([0, dim − 1] for negative steps) and ends to [0, dim] ([−1, dim − 1]).
 */
export function sliceRange(dim: number, start: number, end: number, step: number): SliceRange {
  const s0 = start < 0 ? start + dim : start;
  const e0 = end < 0 ? end + dim : end;
  if (step > 0) {
    const s = Math.min(Math.max(s0, 0), dim);
    const e = Math.min(Math.max(e0, 0), dim);
    return { start: s, step, count: e > s ? Math.ceil((e - s) / step) : 0 };
  }
  const s = Math.min(Math.max(s0, 0), dim - 1);
  const e = Math.min(Math.max(e0, -1), dim - 1);
  return { start: s, step, count: s > e ? Math.ceil((s - e) / -step) : 0 };
}

/**
 * A Slice node's range per input axis (undefined for axes it leaves whole; count -1 where the
 * dim is unknown). Strict: bad attributes throw; partial: undefined.
 */
export function sliceSpec(node: Node, x: Shape, strict: boolean): (SliceRange | undefined)[] | undefined {
  const starts = attrInts(node, 'starts', []);
  const ends = attrInts(node, 'ends', []);
  const axes = normAxes(node, attrInts(node, 'axes', starts.map((_, i) => i)), x.length, strict);
  const steps = attrInts(node, 'steps', starts.map(() => 1));
  const fail = (message: string): undefined => {
    if (strict) bad(node, message);
    return undefined;
  };
  if (!axes) return undefined;
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) return fail('starts, ends, axes and steps must have one length');
  if (new Set(axes).size !== axes.length) return fail(`axes [${axes.join(',')}] repeat an axis`);
  const spec: (SliceRange | undefined)[] = x.map(() => undefined);
  for (let i = 0; i < axes.length; i++) {
    if (steps[i] === 0) return fail('a step of 0 is not valid');
    const d = x[axes[i]];
    spec[axes[i]] = d < 0 ? { start: 0, step: steps[i], count: -1 } : sliceRange(d, starts[i], ends[i], steps[i]);
  }
  return spec;
}

/** axis in [0, rank) after adding rank to a negative one; undefined when out of range */
function axisIn(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

/** normalized axes; strict: an axis out of range throws, partial: undefined */
function normAxes(node: Node, axes: readonly number[], rank: number, strict: boolean): number[] | undefined {
  const out: number[] = [];
  for (const a of axes) {
    const n = axisIn(a, rank);
    if (n === undefined) {
      if (strict) normAxis(a, rank, node);
      return undefined;
    }
    out.push(n);
  }
  return out;
}

/** product of dims; -1 when one is unknown */
function knownProduct(s: Shape): number {
  let p = 1;
  for (const d of s) {
    if (d < 0) return -1;
    p *= d;
  }
  return p;
}

/** Output shape of a sliding-window op: [N, channels, spatial dims…], -1 where the input size is unknown. */
function windowShape(node: Node, x: Shape, channels: number, kernel: readonly number[], ceil: boolean, strict: boolean): number[] | undefined {
  const k = kernel.length;
  if (strict && (x.length !== 4 || k !== 2)) bad(node, `only 2-D spatial (NCHW) inputs are supported, got input shape [${x.join(',')}]`);
  if (k === 0 || x.length !== k + 2) return undefined;
  const strides = attrInts(node, 'strides', []);
  const dil = attrInts(node, 'dilations', []);
  const pads = attrInts(node, 'pads', []);
  if (strict) checkWindow(node, kernel, strides, dil, pads);
  const out = [x[0], channels];
  for (let i = 0; i < k; i++) out.push(windowOut(x[i + 2], kernel[i], strides[i] ?? 1, dil[i] ?? 1, pads[i] ?? 0, pads[i + k] ?? 0, ceil));
  if (strict && (out[2] <= 0 || out[3] <= 0)) bad(node, `window ${kernel[0]}x${kernel[1]} does not fit input ${x[2]}x${x[3]} with the given pads`);
  return out;
}

/** Output shapes of one node given its input shapes (missing optional inputs are undefined); throws ModelError. */
export function nodeOutputShapes(node: Node, ins: readonly (Shape | undefined)[]): number[][] {
  return outputShapes(node, ins, true) as number[][];
}

/** Partial output shapes of a normalized node (graph.ts vocabulary): -1 unknown dims, undefined unknown rank. */
export function partialOutputShapes(node: Node, ins: readonly (Shape | undefined)[]): (number[] | undefined)[] {
  return outputShapes(node, ins, false);
}

function propagate(graph: Graph, inputShape: (v: ValueInfo) => number[], strict: boolean): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const [name, t] of graph.initializers) shapes.set(name, [...t.shape]);
  for (const i of graph.inputs) shapes.set(i.name, inputShape(i));
  for (const node of graph.nodes) {
    const outs = outputShapes(
      node,
      node.inputs.map((n) => (n === '' ? undefined : shapes.get(n))),
      strict,
    );
    node.outputs.forEach((o, i) => {
      const s = outs[i];
      if (o !== '' && s) shapes.set(o, s);
    });
  }
  return shapes;
}

/**
 * Shapes of every tensor for a given batch size (dynamic dims of the inputs become `batch`).
 * Throws ModelError listing the first node whose shapes do not work out.
 */
export function inferShapes(graph: Graph, batch = 1): Map<string, number[]> {
  return propagate(graph, (i) => i.shape.map((d) => (d < 0 ? batch : d)), true);
}

/** Partial shapes of every tensor of a graph (initializers exact, inputs with -1 for dynamic dims). */
export function partialShapes(graph: Graph): Map<string, Shape> {
  return propagate(graph, (i) => [...i.shape], false);
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
