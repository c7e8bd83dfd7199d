/**
 * TF *graph* models (tfjs-converter's GraphDef JSON) → the Network IR through the graph builder
 * (builder.ts). Nodes are converted in dependency order; TF fused ops (_FusedConv2D,
 * FusedDepthwiseConv2dNative, _FusedMatMul) are unfused into Conv/Gemm + BatchNormalization /
 * activation nodes.
 */
import { numel, type OpType, type Tensor } from '../graph.js';
import { topoOrder } from '../topo.js';
import { Builder, defineInput, depthwiseToOihw, emitConv, emitPool, hwioToOihw, isFloat, nhwcAxis, reshaped, transpose2d, type Val } from './builder.js';

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

/** TF activation ops (and fused-op names) → Keras activation names (Builder.activation) */
const TF_ACT: Readonly<Record<string, string>> = { Relu: 'relu', Relu6: 'relu6', Sigmoid: 'sigmoid', Tanh: 'tanh' };

/** TF input reference 'node', 'node:0' (first output), '^node' (control: ignored) */
function refName(r: string): string | undefined {
  if (r.startsWith('^')) return undefined;
  return /^(.*?)(?::(\d+))?$/.exec(r)![1];
}

function dataInputs(n: TfNode): string[] {
  return (n.input ?? []).map(refName).filter((x): x is string => x !== undefined);
}

/** What converting a graph keeps: TF-layout constants and the IR tensor of each converted TF node. */
interface GraphState {
  readonly b: Builder;
  readonly weights: ReadonlyMap<string, Tensor>;
  /** TF-layout constants by TF node name */
  readonly consts: Map<string, Tensor>;
  /** TF node name → IR tensor */
  readonly alias: Map<string, string>;
  /** nodes not converted: their consumers stay silent (one message per root cause) */
  readonly failed: Set<string>;
  /** TF node name → the name used in the IR and in messages */
  sn(tf: string): string;
}

/** One TF node being converted, with the lookups its converter needs. */
class Step {
  readonly ins: string[];
  readonly name: string;
  constructor(
    readonly g: GraphState,
    readonly n: TfNode,
  ) {
    this.ins = dataInputs(n);
    this.name = g.sn(n.name);
  }
  get b(): Builder {
    return this.g.b;
  }
  problem(message: string): void {
    this.g.b.problem(this.name, this.n.op, message);
  }
  /** the IR tensor of input i; reports it (once per root cause) when there is none */
  need(i: number): string | undefined {
    const { g, ins } = this;
    const t = g.alias.get(ins[i]);
    if (t === undefined && !g.consts.has(ins[i]) && !g.failed.has(ins[i])) this.problem(`input '${g.sn(ins[i] ?? '')}' is not available`);
    return t;
  }
  constOf(i: number): Tensor | undefined {
    return this.g.consts.get(this.ins[i]);
  }
  floatConst(i: number, what: string): Tensor | undefined {
    const t = this.constOf(i);
    if (isFloat(t)) return t;
    this.problem(`${what} must be a float32 constant`);
    return undefined;
  }
  /** the node's output is IR tensor `y` (nothing when undefined) */
  out(y: string | undefined): void {
    if (y !== undefined) this.g.alias.set(this.n.name, y);
  }
  /** `y`, then the activation `act` (if any) carrying the node's name; the result is the node's output */
  outActivated(y: string, act: string | undefined): void {
    this.out(act ? (this.b.activation(act, y, this.name, this.name) ?? y) : y);
  }
  /** input 0 (an activation) and input 1 (a constant int operand: axes, shape, pads) */
  withIntOperand(): { x: string; v: Val; ints: number[] } | undefined {
    const x = this.need(0);
    const c = this.constOf(1);
    return x === undefined || !c ? undefined : { x, v: this.b.val(x), ints: Array.from(c.data as Int32Array) };
  }
  nhwcOnly(): boolean {
    if (attrStrOf(this.n, 'data_format', 'NHWC') === 'NHWC') return true;
    this.problem('data_format NCHW is not supported');
    return false;
  }
  /** the fused ops of _Fused* nodes: BiasAdd (input 2), FusedBatchNorm (inputs 2–5, with `bn`), one activation */
  fused(withBn: boolean): { bias?: Tensor; bn?: Tensor[]; act?: string } {
    const n = this.n;
    const ops = n.op.startsWith('_') || n.op.startsWith('Fused') ? attrStrsOf(n, 'fused_ops') : [];
    const r: { bias?: Tensor; bn?: Tensor[]; act?: string } = {};
    for (const f of ops) {
      if (f === 'BiasAdd') r.bias = this.floatConst(2, 'bias');
      else if (f === 'FusedBatchNorm' && withBn) r.bn = [2, 3, 4, 5].map((i) => this.floatConst(i, 'batch-norm parameter')).filter(isFloat);
      else if (TF_ACT[f]) r.act = TF_ACT[f];
      else this.problem(`fused op '${f}' is not supported`);
    }
    return r;
  }
}

type TfConverter = (s: Step) => void;

const constant: TfConverter = (s) => {
  const t = s.g.weights.get(s.n.name);
  if (!t) s.problem('constant has no value in the weights manifest');
  else s.g.consts.set(s.n.name, t);
};

const placeholder: TfConverter = (s) => {
  const dims = (s.n.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  if (dims.length === 0) s.problem('input has no static shape');
  s.out(defineInput(s.b, s.name, dims.map((d) => (d < 0 ? null : d))));
};

const identity: TfConverter = (s) => {
  const { g, ins } = s;
  const t = g.alias.get(ins[0]);
  if (t !== undefined) s.out(t);
  else if (g.consts.has(ins[0])) g.consts.set(s.n.name, g.consts.get(ins[0])!);
  else s.need(0);
};

const conv2d: TfConverter = (s) => {
  const { b, n, name, ins } = s;
  const x = s.need(0);
  const k = s.floatConst(1, 'filter');
  if (x === undefined || !k || !s.nhwcOnly()) return;
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
    s.problem(`filter [${k.shape.join(',')}] does not fit ${cin} input channels`);
    return;
  }
  const f = s.fused(true);
  const bias = f.bias && b.init(s.g.sn(ins[2]), f.bias);
  const w = b.init(s.g.sn(ins[1]), depthwise ? depthwiseToOihw(k) : hwioToOihw(k));
  const preName = f.act || f.bn ? `${name}/conv` : name;
  const strides: [number, number] = [st[1] ?? 1, st[2] ?? 1];
  const dilations: [number, number] = [dl[1] ?? 1, dl[2] ?? 1];
  let y = emitConv(b, { node: preName, x, w, bias, group, kh, kw, co: depthwise ? ci * m : m, strides, dilations, padding, out: preName });
  if (f.bn && f.bn.length === 4) {
    const v = b.val(y);
    const ps = f.bn.map((t, i) => b.init(`${name}/bn_${['scale', 'offset', 'mean', 'variance'][i]}`, t));
    y = b.node('BatchNormalization', `${name}/bn`, [y, ...ps], { epsilon: attrNumOf(n, 'epsilon', 1e-3), momentum: 0.9 }, f.act ? `${name}/bn` : name, v.shape, true);
  }
  s.outActivated(y, f.act);
};

const matmul: TfConverter = (s) => {
  const { b, n, name } = s;
  const x = s.need(0);
  if (x === undefined) return;
  const v = b.val(x);
  if (v.shape.length !== 2) {
    s.problem(`MatMul on a rank-${v.shape.length} input is not supported`);
    return;
  }
  const ta = attrBoolOf(n, 'transpose_a');
  const tb = attrBoolOf(n, 'transpose_b');
  const wt = s.constOf(1);
  const f = s.fused(false);
  // named after the layer: converter constants of MatMuls are often anonymous ('…/_262')
  const bias = f.bias && b.init(`${name}/bias`, f.bias);
  const preName = f.act ? `${name}/matmul` : name;
  let y: string;
  if (isFloat(wt)) {
    // B stored [out, in], Gemm transB=1
    const w = b.init(`${name}/weight`, tb ? wt : transpose2d(wt));
    const fout = tb ? wt.shape[0] : wt.shape[1];
    const inputs = bias ? [x, w, bias] : [x, w];
    y = b.node('Gemm', preName, inputs, { alpha: 1, beta: 1, transA: ta ? 1 : 0, transB: 1 }, preName, [ta ? v.shape[1] : v.shape[0], fout], false);
  } else {
    const w = s.need(1);
    if (w === undefined) return;
    if (ta || tb) {
      s.problem('transposed MatMul of two activations is not supported');
      return;
    }
    const wv = b.val(w);
    y = b.node('MatMul', preName, [x, w], {}, bias ? `${name}/matmul` : preName, [v.shape[0], wv.shape[1]], false);
    if (bias) y = b.node('Add', `${name}/bias`, [y, bias], {}, preName, [v.shape[0], wv.shape[1]], false);
  }
  s.outActivated(y, f.act);
};

const batchNorm: TfConverter = (s) => {
  const { b, name, ins } = s;
  const x = s.need(0);
  const ps = [1, 2, 3, 4].map((i) => s.floatConst(i, 'batch-norm parameter'));
  if (x === undefined || !ps.every(isFloat)) return;
  const v = b.val(x);
  const inits = ps.map((t, i) => b.init(s.g.sn(ins[i + 1]), t!));
  s.out(b.node('BatchNormalization', name, [x, ...inits], { epsilon: attrNumOf(s.n, 'epsilon', 1e-3), momentum: 0.9 }, name, v.shape, v.nhwc));
};

const activation: TfConverter = (s) => {
  const x = s.need(0);
  if (x !== undefined) s.out(s.b.activation(s.n.op === 'Softmax' ? 'softmax' : TF_ACT[s.n.op], x, s.name, s.name));
};

const ELEMENTWISE: Readonly<Record<string, OpType>> = { Add: 'Add', AddV2: 'Add', BiasAdd: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div' };

/** Binary elementwise ops of an activation and an activation or a (layout-adjusted) constant. */
const elementwise: TfConverter = (s) => {
  const { b, g, ins } = s;
  const operands: string[] = [];
  let ref: Val | undefined;
  for (const i of [0, 1]) {
    const t = g.alias.get(ins[i]);
    if (t !== undefined) {
      operands.push(t);
      ref ??= b.val(t);
    }
  }
  if (!ref) {
    s.problem('both operands are constants (constant folding is not supported)');
    return;
  }
  const ops: string[] = [];
  let ok = true;
  for (const i of [0, 1]) {
    const t = g.alias.get(ins[i]);
    if (t !== undefined) {
      ops.push(t);
      continue;
    }
    const cst = s.constOf(i);
    if (!isFloat(cst)) {
      s.need(i);
      ok = false;
      continue;
    }
    const ct = layoutConst(cst, ref);
    if (!ct) {
      s.problem(`constant of shape [${cst.shape.join(',')}] does not broadcast in NCHW against [${ref.shape.join(',')}]`);
      ok = false;
      continue;
    }
    ops.push(b.init(g.sn(ins[i]), ct));
  }
  if (!ok) return;
  for (const o of operands) {
    const vo = b.val(o);
    if (vo.nhwc !== ref.nhwc || vo.shape.join() !== ref.shape.join()) {
      s.problem(`operand shapes differ ([${ref.shape.join(',')}] vs [${vo.shape.join(',')}])`);
      ok = false;
    }
  }
  if (ok) s.out(b.node(ELEMENTWISE[s.n.op], s.name, ops, {}, s.name, ref.shape, ref.nhwc));
};

const pool: TfConverter = (s) => {
  const { n, name } = s;
  const x = s.need(0);
  if (x === undefined || !s.nhwcOnly()) return;
  const k = attrIntsOf(n, 'ksize');
  const st = attrIntsOf(n, 'strides');
  const padding = attrStrOf(n, 'padding', 'VALID').toLowerCase();
  s.out(emitPool(s.b, name, n.op === 'AvgPool' ? 'AveragePool' : 'MaxPool', x, [k[1], k[2]], [st[1], st[2]], padding, name));
};

const mean: TfConverter = (s) => {
  const o = s.withIntOperand();
  if (!o) return;
  const { x, v } = o;
  const ax = new Set(o.ints.map((a) => (a < 0 ? a + 4 : a)));
  if (!v.nhwc || ax.size !== 2 || !ax.has(1) || !ax.has(2)) {
    s.problem('only Mean over H and W of an NHWC tensor is supported');
    return;
  }
  s.out(s.b.globalAveragePool(s.name, x, attrBoolOf(s.n, 'keep_dims')));
};

const squeeze: TfConverter = (s) => {
  const { b, n, name } = s;
  const x = s.need(0);
  if (x === undefined) return;
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
    s.problem('squeezing an NHWC tensor while keeping a spatial dim is not supported');
    return;
  }
  s.out(b.node('Squeeze', name, [x], { axes: [...axes].sort((p, q) => p - q) }, name, kept, false));
};

const reshape: TfConverter = (s) => {
  const o = s.withIntOperand();
  if (!o) return;
  const { x, v, ints: target } = o;
  if (v.nhwc && !(v.shape[2] === 1 && v.shape[3] === 1)) return s.problem('reshaping an NHWC tensor with spatial extent is not supported');
  if (target.length === 4) return s.problem('reshape to rank 4 is not supported');
  const known = numel(v.shape.map((d) => (d < 0 ? 1 : d)));
  const outShape = target.map((d) => (d === -1 ? -1 : d));
  const fixed = numel(outShape.filter((d) => d > 0));
  if (outShape.filter((d) => d === -1).length === 1 && v.shape[0] !== -1) outShape[outShape.indexOf(-1)] = known / fixed;
  s.out(s.b.node('Reshape', s.name, [x], { shape: target }, s.name, outShape, false));
};

const pad: TfConverter = (s) => {
  const { b, n } = s;
  const o = s.withIntOperand();
  if (!o) return;
  const { x, v, ints: p } = o;
  if (!v.nhwc || p.length !== 8 || p[0] || p[1] || p[6] || p[7]) {
    s.problem('only spatial padding of an NHWC tensor is supported');
    return;
  }
  let mode = 'constant';
  let value = 0;
  if (n.op === 'MirrorPad') {
    const m = attrStrOf(n, 'mode');
    if (m !== 'REFLECT') {
      s.problem(`MirrorPad mode ${m} is not supported`);
      return;
    }
    mode = 'reflect';
  } else if (n.op === 'PadV2') {
    const cv = s.constOf(2);
    value = cv ? Number(cv.data[0]) : 0;
  }
  s.out(b.spatialPad(s.name, x, { top: p[2], bottom: p[3], left: p[4], right: p[5] }, mode, value));
};

const concat: TfConverter = (s) => {
  const nIn = s.ins.length - 1;
  const axT = s.constOf(nIn);
  const xs = s.ins.slice(0, nIn).map((_, i) => s.need(i));
  if (!axT || xs.some((q) => q === undefined)) return;
  s.out(s.b.concat(s.name, xs as string[], Number(axT.data[0])));
};

/** One converter per TF op; a Map, not an object: op names come from the file. */
const CONVERTERS: ReadonlyMap<string, TfConverter> = new Map([
  ['Const', constant],
  ['Placeholder', placeholder],
  ...['Identity', 'IdentityN', 'StopGradient', 'Snapshot'].map((op) => [op, identity] as const),
  ['NoOp', () => {}],
  ...['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative'].map((op) => [op, conv2d] as const),
  ['MatMul', matmul],
  ['_FusedMatMul', matmul],
  ...['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3'].map((op) => [op, batchNorm] as const),
  ...[...Object.keys(TF_ACT), 'Softmax'].map((op) => [op, activation] as const),
  ...Object.keys(ELEMENTWISE).map((op) => [op, elementwise] as const),
  ['AvgPool', pool],
  ['MaxPool', pool],
  ['Mean', mean],
  ['Squeeze', squeeze],
  ['Reshape', reshape],
  ...['Pad', 'PadV2', 'MirrorPad'].map((op) => [op, pad] as const),
  ['ConcatV2', concat],
]);

export function convertGraph(topo: Record<string, unknown>, udm: unknown, weights: Map<string, Tensor>, b: Builder): string {
  const nodes = (topo.node ?? []) as TfNode[];
  const bad = Array.isArray(nodes)
    ? nodes.findIndex((n: unknown) => {
        const o = n as TfNode | null;
        return typeof o !== 'object' || o === null || typeof o.name !== 'string' || typeof o.op !== 'string' || !(o.input === undefined || (Array.isArray(o.input) && o.input.every((i) => typeof i === 'string')));
      })
    : 0;
  if (bad >= 0) {
    b.problem('', '', Array.isArray(nodes) ? `node ${bad} is not {name, op, input: [names]}` : 'the graph has no list of nodes');
    return 'tfjs_graph_model';
  }
  const short = shortNames(nodes.map((n) => n.name));
  const g: GraphState = { b, weights, consts: new Map(), alias: new Map(), failed: new Set(), sn: (n) => short.get(n) ?? n };
  // emit in dependency order (tfjs graph JSON is not required to be sorted)
  const index = new Map(nodes.map((n, i) => [n.name, i]));
  for (const i of topoOrder(nodes.length, (j) => dataInputs(nodes[j]).map((d) => index.get(d) ?? -1)).order) {
    const s = new Step(g, nodes[i]);
    const before = b.problems.length;
    const convert = CONVERTERS.get(s.n.op);
    if (convert) b.guarded(s.name, s.n.op, () => convert(s));
    else s.problem('TF op is not supported');
    const converted = g.alias.has(s.n.name) || g.consts.has(s.n.name) || s.n.op === 'NoOp';
    if (!converted && (b.problems.length > before || s.ins.some((t) => g.failed.has(t)))) g.failed.add(s.n.name);
  }

  // outputs: the signature's, else every non-Const node nobody consumes
  const sig = (udm as { signature?: { outputs?: Record<string, { name?: string }> } } | undefined)?.signature?.outputs;
  let outNames = sig ? Object.values(sig).map((o: { name?: unknown } | null) => refName(typeof o?.name === 'string' ? o.name : '')!) : [];
  if (outNames.length === 0) {
    const consumed = new Set(nodes.flatMap(dataInputs));
    outNames = nodes.filter((n) => n.op !== 'Const' && n.op !== 'NoOp' && !consumed.has(n.name)).map((n) => n.name);
  }
  const outs: string[] = [];
  const earlier = b.problems.length > 0; // an unconverted output is then only their consequence
  for (const o of outNames) {
    const t = g.alias.get(o);
    if (t !== undefined) outs.push(t);
    else if (!earlier) b.problem(g.sn(o), nodes[index.get(o) ?? -1]?.op ?? '', 'graph output was not converted');
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
