/**
 * A QuantPlan (quant/build.ts) as a trainable tfjs function: the network PTQ would build, with
 * fake quantizers exactly where the integer network has its quantizers (the plan's `quantized`
 * tensors and every linear layer's weights, bias at the accumulator's scale), so QAT trains what
 * `buildQuantizedNetwork` will turn into integers.
 *
 * Trainable: every linear layer's float weight (OIHW / [N, K], as the plan holds it, BN already
 * folded in — static folding, the white paper's recommendation) and bias, every weight scale
 * (per channel or per tensor) and every activation scale (LSQ). Zero points stay PTQ's.
 *
 * tfjs runs NHWC: 4-D tensors are kept NHWC here and turned to NCHW where the graph's element
 * order matters (Flatten / Reshape). Supported steps: Conv (dense or depthwise), Gemm, ReLU /
 * ReLU6 / Clip(min, max), Add, Concat on channels, MaxPool and AveragePool without padding,
 * GlobalAveragePool, Flatten / Reshape / Identity. Anything else is refused up front, all of it
 * at once (`qatProblems`).
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { attrInts, type Graph } from '../../nets/graph.js';
import type { QParams } from '../../qnet/network.js';
import { quantizeBias, type FusedAct, type LinearStep, type PlanStep, type QuantPlan } from '../build.js';
import type { PreparedModel } from '../pipeline.js';
import { fakeQuant, fakeQuantBias, gridQParams, lsqGradScale, type Grid } from './fake-quant.js';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

/** The quantizer parameters QAT starts from: PTQ's weight and activation quantization. */
export interface QatInit {
  /** per linear layer: its weight QParams (axis 0 per channel, or per tensor) */
  readonly weightQ: ReadonlyMap<string, QParams>;
  /**
   * float weights to start from per linear layer (AdaRound's choice: its codes dequantized, so the
   * first forward is the AdaRound network); absent: the plan's (BN-folded) weights
   */
  readonly startWeights?: ReadonlyMap<string, Float32Array>;
  /** float bias per linear layer (after any correction), null for none */
  readonly bias: ReadonlyMap<string, Float32Array | null>;
  /** own quantization of every tensor in plan.quantized */
  readonly acts: ReadonlyMap<string, QParams>;
  /** tensor shapes for one image (tensorShapes) */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
}

/** A trained state as PTQ's build takes it: float weights and biases, weight and activation QParams. */
export interface QatState {
  readonly weights: ReadonlyMap<string, { readonly weight: Float32Array; readonly bias: Float32Array | null; readonly q: QParams }>;
  readonly acts: ReadonlyMap<string, QParams>;
}

/**
 * The integer network's values for a batch (scenarios supplies it: quant/ may not import the
 * executor): the dequantized NCHW value of every integer tensor, by name, for `n` images.
 */
export type IntegerValues = (state: QatState, images: Float32Array, n: number) => ReadonlyMap<string, Float32Array>;

interface Quantizer {
  readonly grid: Grid;
  readonly scale: TfCore.Variable;
  readonly g: number;
}

interface Layer {
  readonly step: LinearStep;
  readonly w: TfCore.Variable;
  readonly b: TfCore.Variable | null;
  readonly wq: Quantizer;
}

/** QAT's starting point from PTQ's prepared model (its weight quantizers, biases, activation quantizers). */
export function qatInitOf(prep: Pick<PreparedModel, 'weights' | 'acts' | 'shapes'>, startWeights?: ReadonlyMap<string, Float32Array>): QatInit {
  return {
    weightQ: new Map([...prep.weights].map(([k, w]) => [k, w.q])),
    bias: new Map([...prep.weights].map(([k, w]) => [k, w.bias])),
    acts: prep.acts,
    shapes: prep.shapes,
    ...(startWeights && { startWeights }),
  };
}

/** Why a plan cannot be trained here (empty: it can). */
export function qatProblems(plan: QuantPlan): string[] {
  const out: string[] = [];
  const where = (s: PlanStep) => `node '${s.name}'`;
  for (const s of plan.steps) {
    if (s.kind === 'linear') {
      if (s.op === 'conv') {
        const [cout, cinG] = s.wShape;
        const depthwise = s.group > 1 && cinG === 1 && s.group === cout;
        if (s.group !== 1 && !depthwise) out.push(`${where(s)}: grouped convolution with ${s.group} groups (only dense and depthwise are trained)`);
        if (s.dilations.some((d) => d !== 1)) out.push(`${where(s)}: dilation ${s.dilations.join('×')}`);
      }
      if (!actSupported(s.act)) out.push(`${where(s)}: fused activation ${describe(s.act)}`);
      continue;
    }
    switch (s.kind) {
      case 'add':
        if (!actSupported(s.act)) out.push(`${where(s)}: fused activation ${describe(s.act)}`);
        break;
      case 'activation':
        if (s.act.kind !== 'clamp' || s.act.channelMax) out.push(`${where(s)}: activation ${describe(s.act)}`);
        break;
      case 'maxpool':
      case 'avgpool':
        if (attrInts(s.node, 'pads', [0, 0, 0, 0]).some((p) => p !== 0)) out.push(`${where(s)}: ${s.node.op} with padding`);
        break;
      case 'concat': {
        const axis = Number(s.node.attrs.axis ?? 1);
        if (axis !== 1 && axis !== -3) out.push(`${where(s)}: Concat on axis ${axis} (channels only)`);
        break;
      }
      case 'layout':
        if (s.node.op === 'Transpose') out.push(`${where(s)}: Transpose`);
        break;
      case 'globalavgpool':
        break;
      default:
        out.push(`${where(s)}: ${s.node.op} (${s.kind}) has no QAT form yet`);
    }
  }
  return out;
}

function actSupported(a: FusedAct): boolean {
  return a.kind === 'none' || (a.kind === 'clamp' && !a.channelMax);
}

function describe(a: FusedAct): string {
  return a.kind === 'lut' ? a.fn : a.kind === 'clamp' ? (a.channelMax ? 'per-channel clip' : a.fn) : 'none';
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** tfjs registers variables by name process-wide: each model's names get its own prefix */
let instances = 0;

export class QatModel {
  readonly layers: Layer[] = [];
  /** this model's variable-name prefix (checkpoints store names without it) */
  readonly prefix = `qat${++instances}:`;
  readonly acts = new Map<string, Quantizer>();
  private readonly graph: Graph;

  constructor(
    private readonly tf: Tf,
    readonly plan: QuantPlan,
    readonly init: QatInit,
  ) {
    const problems = qatProblems(plan);
    if (problems.length) throw new Error(`QAT cannot train this network:\n  ${problems.join('\n  ')}`);
    this.graph = plan.graph;
    for (const s of plan.linears) {
      const q = init.weightQ.get(s.name);
      if (!q) throw new Error(`QAT: no weight quantizer for '${s.name}'`);
      const grid: Grid = { bits: q.bits, signed: q.signed, narrow: q.narrow, zeroPoint: Int32Array.from(q.zeroPoint) };
      const per = s.weight.length / q.scale.length;
      const bias = init.bias.get(s.name) ?? s.bias;
      this.layers.push({
        step: s,
        w: tf.variable(tf.tensor(Float32Array.from(init.startWeights?.get(s.name) ?? s.weight), [...s.wShape]), true, this.prefix + `${s.name}/w`),
        b: bias ? tf.variable(tf.tensor1d(Float32Array.from(bias)), true, this.prefix + `${s.name}/b`) : null,
        wq: { grid, scale: tf.variable(tf.tensor1d(Float32Array.from(q.scale)), true, this.prefix + `${s.name}/ws`), g: lsqGradScale(grid, per) },
      });
    }
    for (const [t, q] of init.acts) {
      if (!plan.quantized.has(t)) continue;
      const grid: Grid = { bits: q.bits, signed: q.signed, narrow: q.narrow, zeroPoint: Int32Array.from(q.zeroPoint) };
      const per = numel(init.shapes.get(t) ?? [1]);
      this.acts.set(t, { grid, scale: tf.variable(tf.tensor1d(Float32Array.from(q.scale)), true, this.prefix + `act/${t}`), g: lsqGradScale(grid, per) });
    }
    for (const t of plan.quantized) if (!this.acts.has(t)) throw new Error(`QAT: no activation quantizer for '${t}'`);
  }

  /** Every trainable variable: weights and biases, then the scales. */
  variables(): { weights: TfCore.Variable[]; scales: TfCore.Variable[] } {
    const weights: TfCore.Variable[] = [];
    const scales: TfCore.Variable[] = [];
    for (const l of this.layers) {
      weights.push(l.w);
      if (l.b) weights.push(l.b);
      scales.push(l.wq.scale);
    }
    for (const a of this.acts.values()) scales.push(a.scale);
    return { weights, scales };
  }

  /**
   * Logits [n, classes] for `n` images given NCHW (the dataset's order), with every quantizer on;
   * or, with `tensor`, that tensor in the graph's (NCHW) layout.
   *
   * `exact`: the integer network's own values of its quantized tensors for this batch (dequantized,
   * NCHW, by tensor name — what the exported network computes with this state). Each replaces the
   * fake-quant value where it is produced, the gradient passing straight through to the float
   * path: the forward is then the integer network's, bit for bit, and training sees exactly what
   * runs (float and integer paths differ where float sums in another order cross a rounding
   * boundary, and where fixed-point requant rounds what float fake quant would not).
   */
  forward(x: T, n: number, tensor?: string, exact?: ReadonlyMap<string, Float32Array>): T {
    this.exact = exact;
    const tf = this.tf;
    const vals = new Map<string, { t: T; nhwc: boolean }>();
    const inName = this.graph.inputs[0].name;
    const inShape = this.init.shapes.get(inName)!;
    let x0 = tf.reshape(x, [n, ...inShape.slice(1)]);
    let nhwc = false;
    if (x0.rank === 4) {
      x0 = tf.transpose(x0, [0, 2, 3, 1]);
      nhwc = true;
    }
    vals.set(inName, { t: this.fq(inName, x0), nhwc });
    const scaleOf = (t: string): TfCore.Variable => {
      const a = this.acts.get(this.rootOf(t));
      if (!a) throw new Error(`QAT: '${t}' has no quantizer (its layer's input scale)`);
      return a.scale;
    };
    const get = (t: string) => {
      const v = vals.get(t);
      if (!v) throw new Error(`QAT: '${t}' not computed`);
      return v;
    };
    let li = 0;
    for (const s of this.plan.steps) {
      if (s.kind === 'linear') {
        const l = this.layers[li++];
        const inp = get(s.input);
        const wq = fakeQuant(tf, l.wq.grid, l.w, l.wq.scale, l.wq.g);
        const bq = l.b ? fakeQuantBias(tf, l.b, scaleOf(s.input), l.wq.scale, quantizeBias) : null;
        let y: T;
        let outNhwc: boolean;
        if (s.op === 'conv') {
          if (!inp.nhwc) throw new Error(`QAT: '${s.name}' reads a tensor that is not 4-D`);
          const [pt, pl, pb, pr] = s.pads;
          const xin = pt || pl || pb || pr ? tf.pad(inp.t, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) : inp.t;
          if (s.group === 1) y = tf.conv2d(xin as TfCore.Tensor4D, tf.transpose(wq, [2, 3, 1, 0]) as TfCore.Tensor4D, [s.strides[0], s.strides[1]], 'valid');
          else y = tf.depthwiseConv2d(xin as TfCore.Tensor4D, tf.transpose(wq, [2, 3, 0, 1]) as TfCore.Tensor4D, [s.strides[0], s.strides[1]], 'valid');
          outNhwc = true;
        } else {
          const x2 = inp.nhwc ? tf.reshape(tf.transpose(inp.t, [0, 3, 1, 2]), [n, -1]) : tf.reshape(inp.t, [-1, s.wShape[1]]);
          y = tf.matMul(x2, wq, false, true);
          outNhwc = false;
        }
        if (bq) y = tf.add(y, bq);
        y = this.act(s.act, y);
        vals.set(s.output, { t: this.fq(s.output, y), nhwc: outNhwc });
        continue;
      }
      const ins = s.inputs.map(get);
      let y: T;
      let outNhwc = ins[0].nhwc;
      const k = attrInts(s.node, 'kernel_shape', [1, 1]);
      const st = attrInts(s.node, 'strides', [1, 1]);
      switch (s.kind) {
        case 'add':
          y = this.act(s.act, tf.add(ins[0].t, ins[1].t));
          break;
        case 'activation':
          y = this.act(s.act, ins[0].t);
          break;
        case 'concat':
          y = tf.concat(ins.map((i) => i.t), ins[0].nhwc ? 3 : 1);
          break;
        case 'maxpool':
          y = tf.maxPool(ins[0].t as TfCore.Tensor4D, [k[0], k[1]], [st[0], st[1]], 'valid');
          break;
        case 'avgpool':
          y = tf.avgPool(ins[0].t as TfCore.Tensor4D, [k[0], k[1]], [st[0], st[1]], 'valid');
          break;
        case 'globalavgpool':
          y = tf.mean(ins[0].t, [1, 2], true);
          break;
        case 'layout': {
          if (s.node.op === 'Identity') {
            y = ins[0].t;
            break;
          }
          const shape = this.init.shapes.get(s.output)!;
          const nchw = ins[0].nhwc ? tf.transpose(ins[0].t, [0, 3, 1, 2]) : ins[0].t;
          y = tf.reshape(nchw, [n, ...shape.slice(1)]);
          outNhwc = y.rank === 4;
          if (outNhwc) y = tf.transpose(y, [0, 2, 3, 1]);
          break;
        }
        default:
          throw new Error(`QAT: step '${s.name}' (${s.kind}) not supported`);
      }
      // maxpool / layout outputs share their input's quantization: already on its grid
      vals.set(s.output, { t: this.plan.tiedTo.has(s.output) ? y : this.fq(s.output, y), nhwc: outNhwc });
    }
    const v = get(tensor ?? this.logitsName());
    if (tensor) return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
    return v.nhwc ? tf.reshape(tf.transpose(v.t, [0, 3, 1, 2]), [n, -1]) : tf.reshape(v.t, [n, -1]);
  }

  /** Classes of the logits (their last dimension). */
  classes(): number {
    const shape = this.init.shapes.get(this.logitsName());
    if (!shape) throw new Error(`QAT: no shape for the logits '${this.logitsName()}'`);
    return shape[shape.length - 1];
  }

  /** The tensor the loss reads: the graph output, or the input of a final float Softmax. */
  logitsName(): string {
    let t = this.graph.outputs[0].name;
    const p = this.plan.producer.get(t);
    if (p && p.kind === 'float' && p.node.op === 'Softmax') t = p.node.inputs[0];
    return t;
  }

  /** The tensor whose quantizer `t` uses (itself, or what it is tied to). */
  private rootOf(t: string): string {
    let r = t;
    for (let i = 0; i < 64 && this.plan.tiedTo.has(r); i++) r = this.plan.tiedTo.get(r)!;
    return r;
  }

  private exact?: ReadonlyMap<string, Float32Array>;

  private fq(t: string, y: T): T {
    const a = this.acts.get(t);
    const q = a ? fakeQuant(this.tf, a.grid, y, a.scale, a.g) : y;
    const v = this.exact?.get(t);
    return v ? this.replaced(q, v) : q;
  }

  /** `y` with its value replaced by `nchw` (same numbers, graph layout), the gradient passed as is. */
  private replaced(y: T, nchw: Float32Array): T {
    const tf = this.tf;
    if (nchw.length !== y.size) throw new Error(`QAT: integer values of ${nchw.length} elements for a tensor of ${y.size}`);
    const f = tf.customGrad(((yIn: T) => {
      const sh = yIn.shape as number[];
      let value: T = tf.tensor(nchw, yIn.rank === 4 ? [sh[0], sh[3], sh[1], sh[2]] : sh, 'float32');
      if (yIn.rank === 4) value = tf.transpose(value, [0, 2, 3, 1]);
      return { value, gradFunc: (dy: T) => [tf.clone(dy)] };
    }) as unknown as Parameters<Tf['customGrad']>[0]);
    return f(y);
  }

  private act(a: FusedAct, y: T): T {
    if (a.kind === 'none') return y;
    if (a.kind !== 'clamp') throw new Error(`QAT: activation ${describe(a)}`);
    if (a.fn === 'relu') return this.tf.relu(y);
    return this.tf.clipByValue(y, a.min, a.max);
  }

  /** The trained state as PTQ's build takes it: float weights, weight and activation QParams. */
  state(): QatState {
    const weights = new Map<string, { weight: Float32Array; bias: Float32Array | null; q: QParams }>();
    for (const l of this.layers) {
      const weight = Float32Array.from(l.w.dataSync() as Float32Array);
      const bias = l.b ? Float32Array.from(l.b.dataSync() as Float32Array) : null;
      weights.set(l.step.name, { weight, bias, q: gridQParams(l.wq.grid, l.wq.scale.dataSync() as Float32Array, 0) });
    }
    const acts = new Map<string, QParams>();
    for (const [t, a] of this.acts) acts.set(t, gridQParams(a.grid, a.scale.dataSync() as Float32Array, -1));
    return { weights, acts };
  }

  /** Every variable's values by name (checkpoints). */
  async snapshot(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    const { weights, scales } = this.variables();
    for (const v of [...weights, ...scales]) out[v.name.slice(this.prefix.length)] = Float32Array.from((await v.data()) as Float32Array);
    return out;
  }

  /** Restores `snapshot()`'s values (same network, same variables). */
  restore(values: Readonly<Record<string, Float32Array>>): void {
    const { weights, scales } = this.variables();
    for (const v of [...weights, ...scales]) {
      const key = v.name.slice(this.prefix.length);
      const d = values[key];
      if (!d || d.length !== v.size) throw new Error(`QAT checkpoint: '${key}' missing or of the wrong size`);
      v.assign(this.tf.tensor(d, v.shape));
    }
  }

  dispose(): void {
    const { weights, scales } = this.variables();
    for (const v of [...weights, ...scales]) v.dispose();
  }
}
