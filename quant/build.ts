/**
 * Float graph (BN folded) → quantization plan → QuantizedNetwork.
 *
 * The plan decides, once, what every float node becomes, and is shared by calibration (which
 * tensors need statistics), the passes (which layers have weights), the fake-quant simulation of
 * the debugging workflow and the integer build — so they cannot disagree about where quantizers
 * sit:
 * - Conv, Gemm (alpha = beta = 1, no transA, constant B) and MatMul with a constant 2-D weight
 *   (a following Add of a constant [N] vector becomes its bias) → linear layers; a following Relu /
 *   Clip whose input nothing else reads is fused as the requant unit's clamp, Sigmoid /
 *   HardSigmoid / HardSwish / Swish / Tanh / Gelu as a LUT (its input quantization is the
 *   pre-activation tensor's own range);
 * - Add of two tensors (fused Relu / Clip), Concat, MaxPool, AveragePool, GlobalAveragePool,
 *   Flatten / Reshape / Transpose / Identity, standalone Relu / Clip / LUT activations → their
 *   integer layers when an input is already integer (a float input is quantized for them);
 * - everything else (Softmax, Mul, Div, Sub, Add of a constant, Pad, an unfolded BN …) stays a
 *   'float' layer between a DequantizeLinear and a QuantizeLinear.
 * MaxPool and the data-movement layers carry their input's quantization (no range of their own).
 */
import { InvariantError } from '../nets/errors.js';
import { attrInts, attrNum, attrStr, clipChannelMax, numel, type Graph, type Node, type Tensor } from '../nets/graph.js';
import { nodeOutputShapes } from '../nets/shapes.js';
import { lutActivation } from '../qnet/lut.js';
import { roundHalfEven } from '../qnet/qmath.js';
import { clampBounds } from '../qnet/requant.js';
import { linearInputScale } from '../qnet/split.js';
import type { GeluAlgorithm, LayerNormAlgorithm, SoftmaxAlgorithm } from '../arch/sfu.js';
import type { LutFunction, QActivation, QLayer, QParams, QTensorInfo, QuantizedNetwork, QWindow } from '../qnet/network.js';

export type FusedAct =
  | { readonly kind: 'none' }
  /** `channelMax`: per-channel upper bounds along axis 1 (a Clip's, nets/graph.ts); `max` is their maximum */
  | { readonly kind: 'clamp'; readonly fn: 'relu' | 'relu6' | 'clip'; readonly min: number; readonly max: number; readonly channelMax?: Float32Array }
  | { readonly kind: 'lut'; readonly fn: LutFunction };

/** A Conv / Gemm / MatMul (its window: conv geometry, gemm unused) with what it absorbed. */
export interface LinearStep extends QWindow {
  readonly kind: 'linear';
  /** the Conv / Gemm / MatMul node's name: the layer's name everywhere (overrides, stats) */
  readonly name: string;
  readonly op: 'conv' | 'gemm';
  readonly input: string;
  /** the tensor after the bias, before the fused activation */
  readonly preAct: string;
  /** the layer's output tensor (after the fused activation) */
  readonly output: string;
  /** float weight, conv OIHW, gemm [N, K] */
  readonly weight: Float32Array;
  readonly wShape: readonly number[];
  readonly bias: Float32Array | null;
  readonly group: number;
  readonly act: FusedAct;
  /** the float nodes this step stands for */
  readonly nodes: readonly Node[];
}

export type OpKind = 'add' | 'concat' | 'maxpool' | 'avgpool' | 'globalavgpool' | 'layout' | 'activation' | 'matmul' | 'softmax' | 'layernorm' | 'float';

export interface OpStep {
  readonly kind: OpKind;
  readonly name: string;
  readonly node: Node;
  readonly inputs: readonly string[];
  readonly output: string;
  /** add: fused clamp; activation: its function */
  readonly act: FusedAct;
  /** a fused activation node (add + relu) */
  readonly nodes: readonly Node[];
}

export type PlanStep = LinearStep | OpStep;

export interface QuantPlan {
  readonly graph: Graph;
  readonly steps: readonly PlanStep[];
  /** tensors (original names) that are integer in the quantized network */
  readonly intTensors: ReadonlySet<string>;
  /** tensors that get their own quantizer (a range is set for each): integer outputs that are not
   * tied, float tensors quantized for an integer consumer, LUT inputs */
  readonly quantized: ReadonlySet<string>;
  /** integer tensors that share another tensor's quantization (maxpool / layout output → input) */
  readonly tiedTo: ReadonlyMap<string, string>;
  /** the logits tensor (input of a final Softmax, or the graph output) when a linear layer makes it */
  readonly logits: string | null;
  /** tensor → the step that produces it */
  readonly producer: ReadonlyMap<string, PlanStep>;
  /** tensor → the layer name whose output it is (for per-layer activation bit overrides) */
  readonly layerOf: ReadonlyMap<string, string>;
  readonly linears: readonly LinearStep[];
}

const LUT_OPS: Partial<Record<string, (n: Node) => LutFunction | null>> = {
  Sigmoid: () => 'sigmoid',
  HardSigmoid: (n) => (Math.abs(attrNum(n, 'alpha', 0.2) - 0.2) < 1e-6 && Math.abs(attrNum(n, 'beta', 0.5) - 0.5) < 1e-6 ? 'hardsigmoid' : null),
  HardSwish: () => 'hardswish',
  Swish: () => 'swish',
  Tanh: () => 'tanh',
  Gelu: (n) => (attrStr(n, 'approximate', 'none') === 'tanh' ? 'gelu_tanh' : 'gelu'),
};
/** data movement that keeps the codes' quantization (a nearest Resize replicates codes) */
const LAYOUT_OPS = new Set(['Flatten', 'Reshape', 'Transpose', 'Identity', 'Resize']);

function clampOf(n: Node): FusedAct | null {
  if (n.op === 'Relu') return { kind: 'clamp', fn: 'relu', min: 0, max: Infinity };
  if (n.op === 'Clip') {
    const min = attrNum(n, 'min', -Infinity);
    const max = attrNum(n, 'max', Infinity);
    const channelMax = clipChannelMax(n);
    // per-channel bounds (CLE through ReLU6): a clip, never mistaken for ReLU6 by its `max`
    if (channelMax) return { kind: 'clamp', fn: 'clip', min, max, channelMax };
    if (min === 0 && max === 6) return { kind: 'clamp', fn: 'relu6', min, max };
    if (min === 0 && max === Infinity) return { kind: 'clamp', fn: 'relu', min, max };
    return { kind: 'clamp', fn: 'clip', min, max };
  }
  return null;
}

function actOf(n: Node): FusedAct | null {
  const c = clampOf(n);
  if (c) return c;
  const f = LUT_OPS[n.op]?.(n);
  return f ? { kind: 'lut', fn: f } : null;
}

/** The activation as AdaRound / analytic bias correction / BN ranges know it. */
export function simpleAct(a: FusedAct): 'none' | 'relu' | 'relu6' | null {
  if (a.kind === 'none') return 'none';
  if (a.kind === 'clamp' && a.fn === 'relu') return 'relu';
  if (a.kind === 'clamp' && a.fn === 'relu6') return 'relu6';
  return null;
}

function f32Const(g: Graph, name: string): Tensor | undefined {
  const t = g.initializers.get(name);
  return t && t.dtype === 'float32' ? t : undefined;
}

function transpose2(w: Float32Array, k: number, n: number): Float32Array {
  // [K, N] → [N, K]
  const out = new Float32Array(w.length);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[j * k + i] = w[i * n + j];
  return out;
}

/** Decides what every node of `graph` becomes (see the file comment). */
export function planNetwork(graph: Graph): QuantPlan {
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const only = (t: string): Node | null => {
    const c = consumers.get(t);
    return !outputs.has(t) && c && c.length === 1 ? c[0] : null;
  };
  const isConst = (t: string) => graph.initializers.has(t);

  const steps: PlanStep[] = [];
  const intTensors = new Set<string>();
  const quantized = new Set<string>();
  const tiedTo = new Map<string, string>();
  const producer = new Map<string, PlanStep>();
  const layerOf = new Map<string, string>();
  const done = new Set<Node>();

  const needInt = (t: string) => {
    if (!intTensors.has(t)) quantized.add(t);
  };
  /** The activation `of` makes of t's only consumer, absorbed into the step of `nodes` (whose output becomes the activation's). */
  const absorb = (t: string, nodes: Node[], of: (n: Node) => FusedAct | null): { act: FusedAct; output: string } => {
    const an = only(t);
    const a = an ? of(an) : null;
    if (!an || !a) return { act: { kind: 'none' }, output: t };
    nodes.push(an);
    done.add(an);
    return { act: a, output: an.outputs[0] };
  };
  const push = (s: PlanStep) => {
    steps.push(s);
    producer.set(s.output, s);
    if (s.kind === 'linear') layerOf.set(s.output, s.name);
    else layerOf.set(s.output, s.nodes[s.nodes.length - 1].name);
  };

  for (const node of graph.nodes) {
    if (done.has(node)) continue;
    done.add(node);
    const dataIns = node.inputs.filter((i) => i && !isConst(i));
    const anyInt = dataIns.some((i) => intTensors.has(i));
    const lin = linearOf(graph, node);
    if (lin) {
      let out = node.outputs[0];
      const nodes: Node[] = [node];
      let bias = lin.bias;
      // MatMul + Add(constant [N]) → the bias of one gemm
      const next = only(out);
      if (node.op === 'MatMul' && next && next.op === 'Add' && !bias) {
        const other = next.inputs[0] === out ? next.inputs[1] : next.inputs[0];
        const c = f32Const(graph, other);
        if (c && c.data.length === lin.wShape[0] && (c.shape.length === 1 || (c.shape.length === 2 && c.shape[0] === 1))) {
          bias = Float32Array.from(c.data as Float32Array);
          nodes.push(next);
          done.add(next);
          out = next.outputs[0];
        }
      }
      const preAct = out;
      const { act, output } = absorb(out, nodes, actOf);
      out = output;
      needInt(lin.input);
      const step: LinearStep = { kind: 'linear', name: node.name, ...lin, bias, preAct, output: out, act, nodes };
      push(step);
      intTensors.add(out);
      quantized.add(out);
      if (act.kind === 'lut') quantized.add(preAct);
      continue;
    }
    const out = node.outputs[0];
    const op = (kind: OpKind, act: FusedAct = { kind: 'none' }, nodes: Node[] = [node], output = out): OpStep => ({
      kind,
      name: node.name,
      node,
      inputs: kind === 'float' ? node.inputs : dataIns,
      output,
      act,
      nodes,
    });
    let step: OpStep;
    if (node.op === 'MatMul' && dataIns.length === 2) step = op('matmul');
    // attention's softmax (one whose result the network computes on) and LayerNorm with constant γ, β
    // are integer layers whatever their input (a float input is quantized for them); a Softmax
    // that makes a graph output stays float, as the final probabilities do
    else if (node.op === 'Softmax' && dataIns.length === 1 && !outputs.has(out)) step = op('softmax');
    else if (node.op === 'LayerNormalization' && dataIns.length === 1 && node.outputs.filter(Boolean).length === 1 && f32Const(graph, node.inputs[1])) step = op('layernorm');
    else if (node.op === 'Add' && dataIns.length === 2 && anyInt) {
      const nodes = [node];
      const { act, output } = absorb(out, nodes, clampOf);
      step = op('add', act, nodes, output);
    } else if (node.op === 'Concat' && anyInt && dataIns.length === node.inputs.length) step = op('concat');
    else if (node.op === 'MaxPool' && anyInt && node.outputs.length === 1) step = op('maxpool');
    else if (node.op === 'AveragePool' && anyInt) step = op('avgpool');
    else if (node.op === 'GlobalAveragePool' && anyInt) step = op('globalavgpool');
    else if (LAYOUT_OPS.has(node.op) && anyInt && dataIns.length === 1) step = op('layout');
    else if (anyInt && dataIns.length === 1 && actOf(node)) step = op('activation', actOf(node)!);
    else step = op('float');
    if (step.kind === 'float') {
      for (const o of node.outputs) if (o) producer.set(o, step);
      steps.push(step);
      layerOf.set(out, node.name);
      continue;
    }
    for (const i of step.inputs) needInt(i);
    push(step);
    intTensors.add(step.output);
    if (step.kind === 'maxpool' || step.kind === 'layout') tiedTo.set(step.output, step.inputs[0]);
    else quantized.add(step.output);
  }

  // the logits: the tensor a final Softmax reads, or the graph output itself
  let logits: string | null = null;
  if (graph.outputs.length === 1) {
    let t = graph.outputs[0].name;
    const p = producer.get(t);
    if (p && p.kind === 'float' && p.node.op === 'Softmax') t = p.node.inputs[0];
    const lp = producer.get(t);
    if (lp && lp.kind === 'linear' && lp.act.kind === 'none') logits = t;
  }
  // a softmax's output is a probability: fixed parameters (fixedQuant), no range of its own
  for (const st of steps) if (st.kind === 'softmax') quantized.delete(st.output);
  if (graph.outputs.length === 1) {
  }
  const linears = steps.filter((s): s is LinearStep => s.kind === 'linear');
  return { graph, steps, intTensors, quantized, tiedTo, logits, producer, layerOf, linears };
}

type LinearGeom = Pick<LinearStep, 'op' | 'input' | 'weight' | 'wShape' | 'bias' | 'kernel' | 'strides' | 'pads' | 'dilations' | 'group'>;

function linearOf(g: Graph, node: Node): LinearGeom | null {
  if (node.op === 'Conv') {
    const w = f32Const(g, node.inputs[1]);
    if (!w || w.shape.length !== 4) return null;
    const b = node.inputs[2] ? f32Const(g, node.inputs[2]) : undefined;
    if (node.inputs[2] && !b) return null;
    const [sh, sw] = attrInts(node, 'strides', [1, 1]);
    const [dh, dw] = attrInts(node, 'dilations', [1, 1]);
    const [pt, pl, pb, pr] = attrInts(node, 'pads', [0, 0, 0, 0]);
    if (attrStr(node, 'auto_pad', 'NOTSET') !== 'NOTSET') return null;
    return {
      op: 'conv',
      input: node.inputs[0],
      weight: w.data as Float32Array,
      wShape: [...w.shape],
      bias: b ? (b.data as Float32Array) : null,
      kernel: [w.shape[2], w.shape[3]],
      strides: [sh, sw],
      pads: [pt, pl, pb, pr],
      dilations: [dh, dw],
      group: attrNum(node, 'group', 1),
    };
  }
  const gemmBase = { kernel: [1, 1] as const, strides: [1, 1] as const, pads: [0, 0, 0, 0] as const, dilations: [1, 1] as const, group: 1 };
  if (node.op === 'Gemm') {
    const w = f32Const(g, node.inputs[1]);
    if (!w || w.shape.length !== 2) return null;
    if (attrNum(node, 'transA', 0) !== 0 || attrNum(node, 'alpha', 1) !== 1 || attrNum(node, 'beta', 1) !== 1) return null;
    const tb = attrNum(node, 'transB', 0) === 1;
    const [n, k] = tb ? w.shape : [w.shape[1], w.shape[0]];
    let bias: Float32Array | null = null;
    if (node.inputs[2]) {
      const b = f32Const(g, node.inputs[2]);
      if (!b) return null;
      if (b.data.length === n && (b.shape.length === 1 || b.shape[0] === 1)) bias = b.data as Float32Array;
      else if (b.data.length === 1) bias = new Float32Array(n).fill((b.data as Float32Array)[0]);
      else return null;
    }
    return { op: 'gemm', input: node.inputs[0], weight: tb ? (w.data as Float32Array) : transpose2(w.data as Float32Array, k, n), wShape: [n, k], bias, ...gemmBase };
  }
  if (node.op === 'MatMul') {
    const w = f32Const(g, node.inputs[1]);
    if (!w || w.shape.length !== 2 || g.initializers.has(node.inputs[0])) return null;
    const [k, n] = w.shape;
    return { op: 'gemm', input: node.inputs[0], weight: transpose2(w.data as Float32Array, k, n), wShape: [n, k], bias: null, ...gemmBase };
  }
  return null;
}

/** Shapes of every tensor for an input of `inputShape` (a dynamic batch is reported as −1). */
export function tensorShapes(graph: Graph, inputShape: readonly number[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const [name, t] of graph.initializers) shapes.set(name, [...t.shape]);
  // the first input takes the data's shape; the others (a diffusion UNet's timestep) their declared one, batch 1
  graph.inputs.forEach((i, k) => shapes.set(i.name, k === 0 ? [1, ...inputShape.slice(1)] : i.shape.map((d, j) => (j === 0 || d < 0 ? 1 : d))));
  for (const node of graph.nodes) {
    const outs = nodeOutputShapes(
      node,
      node.inputs.map((n) => (n === '' ? undefined : shapes.get(n))),
    );
    node.outputs.forEach((o, i) => o !== '' && outs[i] && shapes.set(o, outs[i]));
  }
  const dynamicBatch = graph.inputs.some((i) => i.shape[0] < 0);
  if (dynamicBatch) {
    for (const [name, s] of shapes) if (!graph.initializers.has(name) && s.length > 0) shapes.set(name, [-1, ...s.slice(1)]);
  }
  return shapes;
}

/** Per-tensor quantization of every quantized tensor, ties resolved (maxpool / layout outputs). */
export function resolveTied(plan: QuantPlan, own: ReadonlyMap<string, QParams>): Map<string, QParams> {
  const all = new Map(own);
  for (const s of plan.steps) {
    const src = plan.tiedTo.get(s.output);
    if (src === undefined) continue;
    const q = all.get(src);
    if (!q) throw new InvariantError(`tensor '${s.output}' is tied to '${src}', which has no quantization`);
    all.set(s.output, q);
  }
  for (const t of plan.quantized) if (!all.has(t)) throw new InvariantError(`tensor '${t}' has no quantization`);
  return all;
}

export interface LinearWeights {
  readonly codes: Int32Array;
  readonly q: QParams;
  /** float bias after any correction (null: none) */
  readonly bias: Float32Array | null;
}

export interface BuildInput {
  readonly plan: QuantPlan;
  /** by linear layer name */
  readonly weights: ReadonlyMap<string, LinearWeights>;
  /** own quantization of every tensor in plan.quantized */
  readonly acts: ReadonlyMap<string, QParams>;
  /** shapes from `tensorShapes` */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly name?: string;
  readonly meta?: Readonly<Record<string, string>>;
  /** algorithms of the Softmax / LayerNorm / GELU layers (default: ORT's softmax, float LayerNorm, GELU table) */
  readonly algorithms?: { readonly softmax: SoftmaxAlgorithm; readonly layerNorm: LayerNormAlgorithm; readonly gelu: GeluAlgorithm; readonly expLutEntries?: number };
}

const INT32_MAX = 2147483647;

/** int32 bias = round(b / (s_x·s_w[c])) in the scale the accumulator has. */
/** largest |bias code| a weight scale may imply: half the int32 range, so products still fit */
const BIAS_LIMIT = 2 ** 30;

/**
 * Raises the weight scale of every channel whose bias would not fit the int32 bias at scale
 * s_x·s_w[c] — a channel whose weights are (almost) all zero, e.g. the dead filters of a
 * pretrained net after BN folding, gets a near-zero scale from its range, and its bias would
 * saturate. Such channels' codes are re-rounded to the coarser scale (they are ~0 anyway), as
 * ONNX Runtime's quantizer does; other channels are untouched.
 */
export function fitBiasScale(w: LinearWeights, sx: number, wShape: readonly number[]): LinearWeights {
  if (!w.bias) return w;
  const sw = w.q.scale;
  const perChannel = sw.length > 1;
  const need = new Float32Array(sw.length);
  let changed = false;
  for (let c = 0; c < w.bias.length; c++) {
    const i = perChannel ? c : 0;
    const req = Math.abs(w.bias[c]) / (Math.fround(sx) * BIAS_LIMIT);
    if (req > sw[i] && req > need[i]) {
      need[i] = req;
      changed = true;
    }
  }
  if (!changed) return w;
  const scale = Float32Array.from(sw);
  for (let i = 0; i < sw.length; i++) {
    if (need[i] > sw[i]) {
      let v = Math.fround(need[i]);
      if (v < need[i]) v = Math.fround(v * (1 + 2 ** -23));
      scale[i] = v;
    }
  }
  const codes = Int32Array.from(w.codes);
  const per = perChannel ? w.codes.length / wShape[0] : w.codes.length;
  for (let i = 0; i < sw.length; i++) {
    if (scale[i] === sw[i]) continue;
    const z = w.q.zeroPoint[i];
    const r = sw[i] / scale[i];
    for (let j = i * per, e = j + per; j < e; j++) codes[j] = z + roundHalfEven((codes[j] - z) * r);
  }
  return { codes, q: { ...w.q, scale }, bias: w.bias };
}

export function quantizeBias(bias: Float32Array, sx: number, sw: Float32Array): Int32Array {
  const n = bias.length;
  const out = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    const s = Math.fround(Math.fround(sx) * sw[sw.length === 1 ? 0 : c]);
    let v = Math.round(bias[c] / s);
    if (v > INT32_MAX) v = INT32_MAX;
    if (v < -INT32_MAX) v = -INT32_MAX;
    out[c] = v;
  }
  return out;
}

/**
 * The quantization of a softmax output (probabilities in [0, 1]): scale 1/256, zero point at the
 * bottom of the range (0 unsigned, −128 signed at 8 bits) — what ONNX Runtime's quantizer gives a
 * QLinearSoftmax output, and what `ort`'s ⌊1/s_y⌋ reads exactly
 */
export function softmaxOutputQuant(bits: number, signed: boolean): QParams {
  const zp = signed ? -(2 ** (bits - 1)) : 0;
  return { scale: Float32Array.of(2 ** -bits), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow: false };
}

function qActivation(act: FusedAct, yq: QParams, preQ: QParams | undefined, gelu: GeluAlgorithm = 'lut'): QActivation {
  if (act.kind === 'none') return { kind: 'none' };
  if (act.kind === 'lut' && act.fn === 'gelu' && gelu === 'igelu') {
    if (!preQ) throw new InvariantError('i-GELU needs the quantization of its input');
    return { kind: 'igelu', inQ: preQ, outQ: yq };
  }
  if (act.kind === 'clamp') {
    // kept even when it cannot cut anything (a ReLU output whose zero point is qmin): an exporter
    // drops it then, the executor's saturation does the same work
    return clampBounds(act.fn, yq, { rounding: 'even', min: act.min, max: act.max, channelMax: act.channelMax });
  }
  if (!preQ) throw new InvariantError('a LUT activation needs the quantization of its input');
  return lutActivation(act.fn, preQ, yq);
}

/** The QuantizedNetwork of a plan with its weights and activation quantization decided. */
export function buildQuantizedNetwork(input: BuildInput): QuantizedNetwork {
  const { plan, weights, shapes } = input;
  const graph = plan.graph;
  const alg = input.algorithms ?? { softmax: 'ort', layerNorm: 'float', gelu: 'lut' };
  const qOf = resolveTied(plan, input.acts);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const taken = new Set<string>();
  for (const n of graph.nodes) for (const t of [...n.inputs, ...n.outputs]) if (t) taken.add(t);
  for (const t of graph.inputs) taken.add(t.name);
  const fresh = (base: string): string => {
    let s = base;
    for (let k = 1; taken.has(s); k++) s = `${base}_${k}`;
    taken.add(s);
    return s;
  };
  const intNames = new Map<string, string>();
  const floatNames = new Map<string, string>();
  const intName = (t: string): string => {
    let n = intNames.get(t);
    if (!n) intNames.set(t, (n = plan.intTensors.has(t) && !graphOutputs.has(t) ? t : fresh(`${t}_quantized`)));
    return n;
  };
  const floatName = (t: string): string => {
    let n = floatNames.get(t);
    if (!n) floatNames.set(t, (n = !plan.intTensors.has(t) || graphOutputs.has(t) ? t : fresh(`${t}_dequantized`)));
    return n;
  };

  const layers: QLayer[] = [];
  const tensors = new Map<string, QTensorInfo>();
  const floatConstants = new Map<string, Tensor>();
  const haveInt = new Set<string>();
  const haveFloat = new Set<string>();
  const shapeOf = (t: string): readonly number[] => shapes.get(t) ?? [];
  const declare = (t: string): void => {
    const q = qOf.get(t);
    if (!q) throw new InvariantError(`integer tensor '${t}' has no quantization`);
    tensors.set(intName(t), { name: intName(t), shape: [...shapeOf(t)], q });
  };
  const asInt = (t: string): string => {
    if (plan.intTensors.has(t) || haveInt.has(t)) return intName(t);
    declare(t);
    layers.push({ kind: 'quantize', name: `${intName(t)}_QuantizeLinear`, inputs: [floatName(t)], output: intName(t) });
    haveInt.add(t);
    return intName(t);
  };
  const asFloat = (t: string): string => {
    if (graph.initializers.has(t)) {
      floatConstants.set(t, graph.initializers.get(t)!);
      return t;
    }
    if (!plan.intTensors.has(t) || haveFloat.has(t)) return floatName(t);
    layers.push({ kind: 'dequantize', name: `${floatName(t)}_DequantizeLinear`, inputs: [intName(t)], output: floatName(t) });
    haveFloat.add(t);
    return floatName(t);
  };

  for (const s of plan.steps) {
    if (s.kind === 'linear') {
      const w = weights.get(s.name);
      if (!w) throw new InvariantError(`linear layer '${s.name}' has no quantized weights`);
      const x = asInt(s.input);
      declare(s.output);
      const xq = qOf.get(s.input)!;
      const yq = qOf.get(s.output)!;
      // a split input (qnet/split.ts): bias and requant at the reference group's scale
      const sx = linearInputScale(xq);
      const fw = fitBiasScale(w, sx, s.wShape);
      layers.push({
        kind: s.op,
        name: s.name,
        inputs: [x],
        output: intName(s.output),
        weight: { data: fw.codes, shape: [...s.wShape], q: fw.q },
        bias: fw.bias ? quantizeBias(fw.bias, sx, fw.q.scale) : null,
        kernel: s.kernel,
        strides: s.strides,
        pads: s.pads,
        dilations: s.dilations,
        group: s.group,
        activation: qActivation(s.act, yq, s.act.kind === 'lut' ? qOf.get(s.preAct) : undefined, alg.gelu),
      });
      continue;
    }
    if (s.kind === 'float') {
      const ins = s.node.inputs.map((i) => (i ? asFloat(i) : ''));
      layers.push({ kind: 'float', name: s.name, inputs: ins.filter(Boolean), output: s.node.outputs[0], node: { ...s.node, inputs: ins } });
      continue;
    }
    const ins = s.inputs.map(asInt);
    if (!plan.tiedTo.has(s.output)) declare(s.output);
    else tensors.set(intName(s.output), { name: intName(s.output), shape: [...shapeOf(s.output)], q: qOf.get(s.output)! });
    const base = { name: s.name, inputs: ins, output: intName(s.output) };
    const n = s.node;
    switch (s.kind) {
      case 'add':
        layers.push({ ...base, kind: 'add', activation: qActivation(s.act, qOf.get(s.output)!, undefined) });
        break;
      case 'concat':
        layers.push({ ...base, kind: 'concat', axis: attrNum(n, 'axis', 1) < 0 ? attrNum(n, 'axis', 1) + shapeOf(s.output).length : attrNum(n, 'axis', 1) });
        break;
      case 'maxpool':
      case 'avgpool':
      case 'globalavgpool': {
        const k = attrInts(n, 'kernel_shape', [1, 1]);
        const st = attrInts(n, 'strides', [1, 1]);
        const p = attrInts(n, 'pads', [0, 0, 0, 0]);
        const d = attrInts(n, 'dilations', [1, 1]);
        layers.push({
          ...base,
          kind: s.kind,
          kernel: [k[0], k[1]],
          strides: [st[0], st[1]],
          pads: [p[0], p[1], p[2], p[3]],
          dilations: [d[0], d[1]],
          ceilMode: attrNum(n, 'ceil_mode', 0) === 1,
          countIncludePad: attrNum(n, 'count_include_pad', 0) === 1,
        });
        break;
      }
      case 'layout': {
        const kind = n.op === 'Flatten' ? 'flatten' : n.op === 'Reshape' ? 'reshape' : n.op === 'Transpose' ? 'transpose' : n.op === 'Resize' ? 'resize' : 'identity';
        const rank = shapeOf(s.inputs[0]).length;
        const param =
          kind === 'flatten'
            ? [attrNum(n, 'axis', 1)]
            : kind === 'reshape'
              ? [...attrInts(n, 'shape', [])]
              : kind === 'transpose'
                ? [...attrInts(n, 'perm', Array.from({ length: rank }, (_, i) => rank - 1 - i))]
                : kind === 'resize'
                  ? [...attrInts(n, 'scales', [])]
                  : [];
        layers.push({ ...base, kind, param });
        break;
      }
      case 'activation': {
        const yq = qOf.get(s.output)!;
        layers.push({ ...base, kind: 'activation', activation: qActivation(s.act, yq, qOf.get(s.inputs[0]), alg.gelu) });
        break;
      }
      case 'matmul':
        layers.push({ ...base, kind: 'matmul', activation: { kind: 'none' } });
        break;
      case 'softmax': {
        const rank = shapeOf(s.inputs[0]).length;
        const coerce2d = attrNum(n, 'coerce2d', 0) === 1;
        const axis = attrNum(n, 'axis', coerce2d ? 1 : -1);
        layers.push({ ...base, kind: 'softmax', axis: axis < 0 ? axis + rank : axis, coerce2d, variant: alg.softmax, ...(alg.softmax === 'lut' && { expLutEntries: Math.min(alg.expLutEntries ?? 256, 2 ** qOf.get(s.inputs[0])!.bits) }) });
        break;
      }
      case 'layernorm': {
        const xs = shapeOf(s.inputs[0]);
        const a = attrNum(n, 'axis', -1);
        const axis = a < 0 ? a + xs.length : a;
        const normalized = numel(xs.slice(axis));
        const broadcast = (t: Tensor | undefined): Float32Array | null => {
          if (!t) return null;
          const d = t.data as Float32Array;
          // Scale / B broadcast to the normalized shape (their trailing dims); written out element by element
          const out = new Float32Array(normalized);
          for (let i = 0; i < normalized; i++) out[i] = d[i % d.length];
          return out;
        };
        layers.push({
          ...base,
          kind: 'layernorm',
          axis,
          epsilon: attrNum(n, 'epsilon', 1e-5),
          gamma: broadcast(f32Const(graph, n.inputs[1]))!,
          beta: n.inputs[2] ? broadcast(f32Const(graph, n.inputs[2])) : null,
          variant: alg.layerNorm,
        });
        break;
      }
    }
  }
  for (const o of graph.outputs) asFloat(o.name);
  // every integer tensor a layer reads or writes is declared (tied ones included above)
  for (const l of layers) {
    if (l.kind === 'float' || l.kind === 'dequantize') continue;
    if (!tensors.has(l.output)) throw new InvariantError(`layer '${l.name}' writes '${l.output}' without quantization parameters`);
  }
  return {
    name: input.name ?? graph.name,
    inputs: graph.inputs.map((i) => ({ name: i.name, dtype: 'float32' as const, shape: [...i.shape] })),
    outputs: graph.outputs.map((o) => ({ name: o.name, dtype: 'float32' as const, shape: [...o.shape] })),
    tensors,
    layers,
    floatConstants: floatConstants.size ? floatConstants : undefined,
    meta: input.meta,
  };
}

/** Numbers of elements of one sample of a tensor (shape with the batch dimension dropped). */
export function perSample(shape: readonly number[] | undefined): number {
  return shape && shape.length > 1 ? numel(shape.slice(1)) : 1;
}
