/**
 * QDQ fusion: DequantizeLinear → op → QuantizeLinear islands become the integer layer onnxruntime
 * fuses them into, one fuser per op (FUSERS) — Conv / Gemm / MatMul with constant DQ'd weights and
 * an int32 DQ'd bias (optionally followed by Relu or Clip, which become the requant unit's clamp);
 * MatMul of two activation DQs (→ QLinearMatMul with a non-constant B); Softmax (→ QLinearSoftmax);
 * LayerNormalization (left in float by ORT: the `float` layernorm); Add; Concat; AveragePool;
 * GlobalAveragePool; Sigmoid; Gelu (either form, and the Erf chain the importer fuses into it: a
 * table of the input codes, where ORT stays in float32); and the data-movement ops and MaxPool when the DQ and the Q carry the
 * same parameters. Whatever does not match stays a float node.
 */
import type { Node, Tensor } from '../../nets/graph.js';
import { buildLut } from '../../qnet/lut.js';
import type { QActivation, QLayer, QLinearLayer, QWeight } from '../../qnet/network.js';
import { clampBounds } from '../../qnet/requant.js';
import { transposeLast2 } from './common.js';
import { perTensor, qparamsOf, sameDecl, toI32, type Decl } from './decl.js';
import { INT_LAYOUT, layoutLayer, poolLayer } from './float-ops.js';
import type { Entry, FloatEntry, LayerEntry, QImportState } from './qstate.js';

/** An integer tensor and the parameters its DequantizeLinear reads it with. */
interface DqSource {
  x: string;
  decl: Decl;
}

/** The entries' graph, and what the fusers have removed or replaced so far. */
class Fusion {
  readonly producer = new Map<string, Entry>();
  readonly consumers = new Map<string, Entry[]>();
  readonly gone = new Set<Entry>();
  readonly replace = new Map<Entry, Entry>();
  readonly outputs: Set<string>;

  constructor(readonly st: QImportState) {
    this.outputs = new Set(st.graphOutputs);
    for (const e of st.entries) {
      for (const o of e.kind === 'layer' ? [e.layer.output] : e.node.outputs.filter(Boolean)) this.producer.set(o, e);
      for (const i of new Set(e.kind === 'layer' ? e.layer.inputs : e.node.inputs.filter(Boolean))) {
        const l = this.consumers.get(i);
        if (l) l.push(e);
        else this.consumers.set(i, [e]);
      }
    }
  }

  /** The only consumer of t, if it has one that is still there (and t is no graph output). */
  single(t: string): Entry | undefined {
    if (this.outputs.has(t)) return undefined;
    const c = this.consumers.get(t);
    return c && c.length === 1 && !this.gone.has(c[0]) && !this.replace.has(c[0]) ? c[0] : undefined;
  }

  /** t is the output of a live, per-tensor DequantizeLinear */
  dqIn(t: string): DqSource | undefined {
    const p = this.producer.get(t);
    if (!p || p.kind !== 'layer' || !p.dq || this.gone.has(p) || !perTensor(p.dq.decl)) return undefined;
    return p.dq;
  }

  /** an activation DQ, or a DQ'd integer constant (per-tensor) */
  operand(t: string): DqSource | undefined {
    const d = this.dqIn(t);
    if (d) return d;
    const c = this.st.dqOf.get(t);
    return c && perTensor(c.decl) && c.decl.dtype !== 'int32' ? { x: c.src, decl: c.decl } : undefined;
  }

  /** the single consumer of t, when it is a per-tensor QuantizeLinear */
  qOf(t: string): LayerEntry | undefined {
    const c = this.single(t);
    return c && c.kind === 'layer' && c.q && perTensor(c.q.decl) ? c : undefined;
  }

  /** The QuantizeLinear that ends a linear op's island at y: y's own, or one after a single Relu / Clip (`act`). */
  quantizedEnd(y: string): { q: LayerEntry; act?: FloatEntry } | undefined {
    const q = this.qOf(y);
    if (q) return { q };
    const act = this.single(y);
    if (!act || act.kind !== 'float' || (act.node.op !== 'Relu' && act.node.op !== 'Clip')) return undefined;
    const qa = this.qOf(act.node.outputs[0]);
    return qa ? { q: qa, act } : undefined;
  }

  /** Float node e (and `also`) are fused into `layer`, which takes the place of QuantizeLinear q. */
  fused(e: FloatEntry, q: LayerEntry, layer: QLayer, decls: [string, Decl][], same: [string, string][], also?: Entry): void {
    this.gone.add(e);
    if (also) this.gone.add(also);
    this.replace.set(q, { kind: 'layer', layer, decls, same });
  }
}

/** DQ(x) → Conv / Gemm / MatMul (DQ'd constant weight, int32 bias) [→ Relu / Clip] → Q. */
function fuseLinear(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const y = node.outputs[0];
  const x = f.dqIn(node.inputs[0]);
  const w = st.dqOf.get(node.inputs[1]);
  if (!x || !w || (w.q.dtype !== 'int8' && w.q.dtype !== 'uint8')) return;
  let bias: Int32Array | null = null;
  if (node.inputs[2]) {
    const b = st.dqOf.get(node.inputs[2]);
    if (!b || b.q.dtype !== 'int32' || b.decl.zp.some((v) => v !== 0)) return;
    bias = toI32(b.q);
  }
  const end = f.quantizedEnd(y);
  if (!end) return;
  const { q, act } = end;
  const yd = q.q!.decl;
  const layer = fusedLinear(st, node, x, w, bias, act?.node, yd, q.layer.output);
  if (!layer) return;
  f.fused(e, q, layer, [[x.x, x.decl], [layer.output, yd]], [], act);
}

/** DQ'd operands (at least one an activation) → Add / Concat → Q. */
function fuseAddConcat(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const y = node.outputs[0];
  const ops = node.inputs.map((i) => f.operand(i));
  if (ops.some((o) => !o) || !ops.some((_, i) => f.dqIn(node.inputs[i]))) return;
  const q = f.qOf(y);
  if (!q) return;
  const yd = q.q!.decl;
  if (ops.some((o) => o!.decl.dtype !== yd.dtype)) return;
  const xs = ops.map((o) => o!.x);
  const rank = st.shapeOf(y)?.length;
  let layer: QLayer;
  if (node.op === 'Add') layer = { kind: 'add', name: node.name, inputs: xs, output: q.layer.output, activation: { kind: 'none' } };
  else {
    const ax = node.attrs.axis as number;
    if (ax < 0 && rank === undefined) return;
    layer = { kind: 'concat', name: node.name, inputs: xs, output: q.layer.output, axis: ax < 0 ? ax + rank! : ax };
  }
  f.fused(e, q, layer, [...ops.map((o) => [o!.x, o!.decl] as [string, Decl]), [q.layer.output, yd]], []);
}

/** DQ(x) → AveragePool / GlobalAveragePool / Sigmoid → Q of the same 8-bit type. */
function fuseUnary(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const op = node.op;
  const x = f.dqIn(node.inputs[0]);
  const q = x && f.qOf(node.outputs[0]);
  if (!x || !q || q.q!.decl.dtype !== x.decl.dtype || x.decl.dtype === 'int32') return;
  const yd = q.q!.decl;
  const out = q.layer.output;
  let layer: QLayer | undefined;
  if (op === 'Sigmoid' || op === 'Gelu') {
    // one table entry per input code: Sigmoid is what ORT's QLinearSigmoid computes; ORT leaves
    // DQ → Gelu → Q in float32 (so a code can differ by one where float32 and double round apart)
    const fn = op === 'Sigmoid' ? 'sigmoid' : node.attrs.approximate === 'tanh' ? 'gelu_tanh' : 'gelu';
    const inQ = qparamsOf(x.decl);
    const table = buildLut(fn, inQ, qparamsOf(yd), 2 ** inQ.bits);
    layer = { kind: 'activation', name: node.name, inputs: [x.x], output: out, activation: { kind: 'lut', fn, inQ, entries: 2 ** inQ.bits, table } };
  } else if (op === 'GlobalAveragePool') {
    if (st.shapeOf(node.inputs[0])?.length !== 4) return;
    layer = {
      kind: 'globalavgpool', name: node.name, inputs: [x.x], output: out, kernel: [0, 0], strides: [1, 1], pads: [0, 0, 0, 0],
      dilations: [1, 1], ceilMode: false, countIncludePad: false,
    };
  } else {
    if ((node.attrs.kernel_shape as number[]).length !== 2) return;
    layer = poolLayer(st, node, node, 'avgpool', x.x, out);
  }
  if (!layer) return;
  f.fused(e, q, layer, [[x.x, x.decl], [out, yd]], []);
}

/** DQ(x) → data movement / MaxPool → Q with the same parameters: the op on the integer tensor. */
function fuseSameParams(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const op = node.op;
  const y = node.outputs[0];
  const x = f.dqIn(node.inputs[0]);
  const q = x && f.qOf(y);
  if (!x || !q || !sameDecl(x.decl, q.q!.decl)) return;
  if (op === 'MaxPool' && (node.attrs.kernel_shape as number[]).length !== 2) return;
  const before = st.problems.length;
  const renamed: Node = { ...node, inputs: [x.x, ...node.inputs.slice(1)], outputs: [q.layer.output] };
  const layer = op === 'MaxPool' ? poolLayer(st, node, renamed, 'maxpool', x.x, q.layer.output) : layoutLayer(st, node, renamed, st.shapeOf(y));
  if (!layer) {
    st.problems.length = before; // stays a float node then
    return;
  }
  f.fused(e, q, layer, [], [[x.x, q.layer.output]]);
}

/**
 * MatMul: with a DQ'd constant B the linear fuser; with two activation DQs (Q·Kᵀ, P·V) — what
 * ORT's QDQ transformer turns into QLinearMatMul with a non-constant B — a matmul layer
 * (optionally followed by Relu / Clip, the requant unit's clamp).
 */
function fuseMatMul(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  if (st.dqOf.has(node.inputs[1])) {
    fuseLinear(st, f, e);
    return;
  }
  const a = f.dqIn(node.inputs[0]);
  const b = f.dqIn(node.inputs[1]);
  if (!a || !b || a.decl.dtype === 'int32' || b.decl.dtype === 'int32') return;
  const y = node.outputs[0];
  const end = f.quantizedEnd(y);
  if (!end) return;
  const { q, act } = end;
  const yd = q.q!.decl;
  const activation = act ? clampOf(act.node, yd) : { kind: 'none' as const };
  if (!activation) return;
  const out = q.layer.output;
  f.fused(e, q, { kind: 'matmul', name: node.name, inputs: [a.x, b.x], output: out, activation }, [[a.x, a.decl], [b.x, b.decl], [out, yd]], [], act);
}

/**
 * DQ(x) → Softmax → Q of the same 8-bit type: ORT's QDQ transformer fuses it into
 * com.microsoft QLinearSoftmax (opset attribute = the model's), so it becomes the `ort` softmax.
 * For int8, ORT 1.30 on x86 first moves the island to uint8 (zero points + 128) and runs the
 * uint8 kernel: the same codes except on a row so short that T·⌊1/s_y⌋ overflows float32
 * (uint8 then yields z_y, the int8 kernel saturates) — qnet/softmax.ts's `ort` is the int8 kernel.
 */
function fuseSoftmax(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const x = f.dqIn(node.inputs[0]);
  const q = x && f.qOf(node.outputs[0]);
  if (!x || !q || q.q!.decl.dtype !== x.decl.dtype || x.decl.dtype === 'int32') return;
  const rank = st.shapeOf(node.inputs[0])?.length;
  if (rank === undefined) return;
  const ax = node.attrs.axis as number;
  const axis = ax < 0 ? ax + rank : ax;
  const coerce2d = st.opset < 13 || node.attrs.coerce2d === 1;
  const out = q.layer.output;
  f.fused(e, q, { kind: 'softmax', name: node.name, inputs: [x.x], output: out, axis, coerce2d, variant: 'ort' }, [[x.x, x.decl], [out, q.q!.decl]], []);
}

/**
 * DQ(x) → LayerNormalization (constant Scale, optional constant B) → Q: a layernorm of the
 * `float` variant — ORT runs this chain in float32 with the arithmetic that variant reproduces.
 */
function fuseLayerNorm(st: QImportState, f: Fusion, e: FloatEntry): void {
  const node = e.node;
  const x = f.dqIn(node.inputs[0]);
  const q = x && f.qOf(node.outputs[0]);
  if (!x || !q || x.decl.dtype === 'int32' || node.outputs.filter(Boolean).length > 1) return;
  const shape = st.shapeOf(node.inputs[0]);
  if (!shape) return;
  const ax = node.attrs.axis as number;
  const axis = ax < 0 ? ax + shape.length : ax;
  const norm = shape.slice(axis);
  if (norm.some((d) => d < 0)) return;
  const n = norm.reduce((p, d) => p * d, 1);
  const full = (name: string | undefined): Float32Array | null | undefined => {
    if (!name) return null;
    const c = st.consts.get(name);
    if (!c || c.dtype !== 'float32') return undefined;
    const v = c.data as Float32Array;
    if (v.length === n) return Float32Array.from(v);
    if (v.length === 1) return new Float32Array(n).fill(v[0]);
    const last = norm[norm.length - 1];
    // a Scale / B over the last axis only broadcasts along the others
    if (v.length === last) return Float32Array.from({ length: n }, (_, i) => v[i % last]);
    return undefined;
  };
  const gamma = full(node.inputs[1]);
  const beta = full(node.inputs[2]);
  if (!gamma || beta === undefined) return;
  const out = q.layer.output;
  const layer: QLayer = { kind: 'layernorm', name: node.name, inputs: [x.x], output: out, axis, epsilon: (node.attrs.epsilon as number | undefined) ?? 1e-5, gamma, beta, variant: 'float' };
  f.fused(e, q, layer, [[x.x, x.decl], [out, q.q!.decl]], []);
}

/** One fuser per float op that has an integer form. */
const FUSERS: Readonly<Record<string, (st: QImportState, f: Fusion, e: FloatEntry) => void>> = {
  Conv: fuseLinear,
  Gemm: fuseLinear,
  MatMul: fuseMatMul,
  Softmax: fuseSoftmax,
  LayerNormalization: fuseLayerNorm,
  Add: fuseAddConcat,
  Concat: fuseAddConcat,
  AveragePool: fuseUnary,
  GlobalAveragePool: fuseUnary,
  Sigmoid: fuseUnary,
  Gelu: fuseUnary,
  MaxPool: fuseSameParams,
  ...Object.fromEntries([...INT_LAYOUT].map((op) => [op, fuseSameParams])),
};

/** Fuses every QDQ island it can, in entry order; st.entries then holds the result. */
export function fuse(st: QImportState): void {
  const f = new Fusion(st);
  for (const e of st.entries) {
    if (e.kind !== 'float' || f.gone.has(e)) continue;
    const fuser = Object.hasOwn(FUSERS, e.node.op) ? FUSERS[e.node.op] : undefined;
    fuser?.(st, f, e);
  }
  const next: Entry[] = [];
  for (const e of st.entries) {
    if (f.gone.has(e)) continue;
    next.push(f.replace.get(e) ?? e);
  }
  st.entries.length = 0;
  st.entries.push(...next);
}

/** The conv / gemm layer of a fused Conv / Gemm / MatMul, or undefined when its attributes have no integer form. */
function fusedLinear(
  st: QImportState,
  node: Node,
  x: DqSource,
  w: { src: string; q: Tensor; decl: Decl },
  bias: Int32Array | null,
  act: Node | undefined,
  yd: Decl,
  out: string,
): QLinearLayer | undefined {
  const wt = w.q;
  const wd = w.decl;
  const perCh = wd.scale!.length > 1;
  let weight: QWeight;
  let geo = { kernel: [1, 1] as [number, number], strides: [1, 1] as [number, number], pads: [0, 0, 0, 0] as [number, number, number, number], dilations: [1, 1] as [number, number], group: 1 };
  let N: number;
  if (node.op === 'Conv') {
    const k = node.attrs.kernel_shape as number[];
    if (wt.shape.length !== 4 || k.length !== 2 || (perCh && wd.axis !== 0)) return undefined;
    const s = node.attrs.strides as number[];
    const p = node.attrs.pads as number[];
    const d = node.attrs.dilations as number[];
    geo = { kernel: [k[0], k[1]], strides: [s[0], s[1]], pads: [p[0], p[1], p[2], p[3]], dilations: [d[0], d[1]], group: node.attrs.group as number };
    weight = st.weight(wt, wt.shape, toI32(wt), wd);
    N = wt.shape[0];
  } else {
    if (wt.shape.length !== 2) return undefined;
    const transB = node.op === 'Gemm' && node.attrs.transB === 1;
    if (node.op === 'Gemm' && (node.attrs.transA !== 0 || node.attrs.alpha !== 1 || (bias && node.attrs.beta !== 1))) return undefined;
    if (perCh && wd.axis !== (transB ? 0 : 1)) return undefined;
    const tw = transB ? { data: toI32(wt), shape: [...wt.shape] } : transposeLast2(toI32(wt), wt.shape);
    weight = st.weight(wt, tw.shape, tw.data, { ...wd, axis: 0 });
    N = tw.shape[0];
  }
  if (bias && bias.length !== N) return undefined;
  if (act && node.op === 'Gemm' && st.shapeOf(node.inputs[0])?.length !== 2) return undefined;
  const activation = act ? clampOf(act, yd) : { kind: 'none' as const };
  if (!activation) return undefined;
  return { kind: node.op === 'Conv' ? 'conv' : 'gemm', name: node.name, inputs: [x.x], output: out, weight, bias, ...geo, activation };
}

/**
 * Relu / Clip between the linear op and its QuantizeLinear, as an integer clamp of the output:
 * Q(relu(y)) = max(Q(y), Q(0)) and Q(clip(y, a, b)) = clamp(Q(y), Q(a), Q(b)) exactly, since
 * QuantizeLinear is monotone — the bounds are QuantizeLinear of the real bounds (half-even).
 */
function clampOf(act: Node, yd: Decl): QActivation | undefined {
  const q = qparamsOf(yd);
  if (act.op === 'Relu') return clampBounds('relu', q, { rounding: 'even' });
  const min = act.attrs.min as number;
  const max = act.attrs.max as number;
  if (min > max) return undefined;
  if (min === 0 && max === 6) return clampBounds('relu6', q, { rounding: 'even' });
  if (min === 0 && max === Infinity) return clampBounds('relu', q, { rounding: 'even' });
  return clampBounds('clip', q, { min, max, rounding: 'even' });
}
