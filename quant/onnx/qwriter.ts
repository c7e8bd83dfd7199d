/**
 * The writer of a quantized ONNX export (qexport.ts): fresh names, nodes, initializers, shared
 * scale / zero-point initializers, QuantizeLinear / DequantizeLinear, and the stages that follow an
 * op which saturates to its storage type only (a clamp as DQ → Clip → Q, a LUT as Cast + Gather).
 * A problem inside one layer's emission is a LayerProblem, collected per layer by the caller.
 */
import type { Tensor } from '../../nets/graph.js';
import { AttrType, type PNodeOut } from '../../nets/onnx/schema.js';
import { dtypeToOnnx, tensorToProto } from '../../nets/onnx/tensor.js';
import { applyLutValue, lutLayout } from '../../qnet/lut.js';
import { qRange } from '../../qnet/qmath.js';
import type { QActivation, QParams, QuantizedNetwork } from '../../qnet/network.js';
import { MS, type IntDType } from './common.js';

export interface QExportOptions {
  format: 'qop' | 'qdq';
  /** default-domain opset, 13…21; default 13 (com.microsoft domain v1 where needed) */
  opset?: number;
}


export const aInt = (name: string, i: number) => ({ name, type: AttrType.INT, i });
export const aInts = (name: string, ints: readonly number[]) => ({ name, type: AttrType.INTS, ints: [...ints] });

/** Storage type of a quantized tensor, or undefined for 9–16 bits (not expressible). */
function storageOf(q: QParams): IntDType | undefined {
  if (q.bits <= 8) return q.signed ? 'int8' : 'uint8';
  if (q.bits === 32) return 'int32';
  return undefined;
}

export function typeRange(d: IntDType): { qmin: number; qmax: number } {
  return d === 'int8' ? { qmin: -128, qmax: 127 } : d === 'uint8' ? { qmin: 0, qmax: 255 } : { qmin: -2147483648, qmax: 2147483647 };
}

export function intTensor(dtype: IntDType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = dtype === 'int8' ? Int8Array.from(values) : dtype === 'uint8' ? Uint8Array.from(values) : Int32Array.from(values);
  return { dtype, shape: [...shape], data };
}

/** The float DequantizeLinear gives for code c (qnet/qmath.ts dequantizeLinear, ORT's arithmetic). */
function dqValue(c: number, s: number, z: number): number {
  return Math.fround(Math.fround(c - z) * s);
}


/** Thrown inside one layer's emission; collected per layer. */
export class LayerProblem extends Error {}

export class QWriter {
  readonly taken = new Set<string>();
  readonly nodes: PNodeOut[] = [];
  readonly inits: Record<string, unknown>[] = [];
  /** per-tensor quantization parameter initializers, by tensor name */
  private readonly paramCache = new Map<string, [string, string]>();
  private readonly emittedConsts = new Set<string>();
  usesMs = false;
  readonly opset: number;
  readonly qdq: boolean;

  constructor(
    readonly net: QuantizedNetwork,
    opts: QExportOptions,
  ) {
    this.opset = opts.opset ?? 13;
    this.qdq = opts.format === 'qdq';
    for (const i of net.inputs) this.taken.add(i.name);
    for (const o of net.outputs) this.taken.add(o.name);
    for (const t of net.tensors.keys()) this.taken.add(t);
    for (const k of net.floatConstants?.keys() ?? []) this.taken.add(k);
    for (const l of net.layers) {
      this.taken.add(l.name);
      this.taken.add(l.output);
      for (const i of l.inputs) this.taken.add(i);
      if (l.kind === 'float') for (const t of [...l.node.inputs, ...l.node.outputs]) if (t) this.taken.add(t);
    }
  }

  // ------------------------------------------------------------------------------------------
  // plumbing

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  fail(msg: string): never {
    throw new LayerProblem(msg);
  }

  emit(op: string, input: string[], output: string[], attribute: Record<string, unknown>[] = [], name?: string, domain = ''): void {
    if (domain === MS) this.usesMs = true;
    this.nodes.push({ name: this.fresh(name ?? `${output[0]}/${op}`), op_type: op, domain, input, output, attribute });
  }

  init(base: string, t: Tensor): string {
    const name = this.fresh(base);
    this.inits.push(tensorToProto(t, name));
    return name;
  }

  i64(base: string, v: readonly number[]): string {
    return this.init(base, { dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map((x) => BigInt(x))) });
  }

  /** Makes a constant integer / float tensor of the network available as an initializer. */
  useConst(name: string): void {
    const c = this.net.floatConstants?.get(name);
    if (!c || this.emittedConsts.has(name)) return;
    this.emittedConsts.add(name);
    this.inits.push(tensorToProto(c, name));
  }

  tq(name: string): QParams {
    const t = this.net.tensors.get(name);
    if (!t) this.fail(`tensor '${name}' has no quantization parameters`);
    return t.q;
  }

  dtypeOfQ(q: QParams, what: string): IntDType {
    const d = storageOf(q);
    if (!d) {
      this.fail(
        `${what} is ${q.bits}-bit: ORT's QLinear and QDQ-fused kernels are 8-bit only (int16 QuantizeLinear / DequantizeLinear need opset 21 or com.microsoft, and a 16-bit layer would run un-fused in float)`,
      );
    }
    return d;
  }

  /** Activation parameters of an integer layer operand: per-tensor, 8-bit. */
  act8(name: string): { q: QParams; dtype: 'int8' | 'uint8' } {
    const q = this.tq(name);
    if (q.scale.length !== 1) this.fail(`tensor '${name}' is quantized per channel: integer layers read per-tensor activations`);
    const d = this.dtypeOfQ(q, `tensor '${name}'`);
    if (d === 'int32') this.fail(`tensor '${name}' is int32: integer layers read 8-bit activations`);
    return { q, dtype: d };
  }

  /** Scale / zero-point initializers of parameters `q` stored as `dtype` (shared per key). */
  params(key: string, q: QParams, dtype: IntDType, zeroPoint = q.zeroPoint): [string, string] {
    const k = `${key}\u0000${dtype}`;
    const hit = this.paramCache.get(k);
    if (hit) return hit;
    const per = q.scale.length > 1;
    const s = this.init(`${key}_scale`, { dtype: 'float32', shape: per ? [q.scale.length] : [], data: Float32Array.from(q.scale) });
    const z = this.init(`${key}_zero_point`, intTensor(dtype, per ? [zeroPoint.length] : [], zeroPoint));
    const r: [string, string] = [s, z];
    this.paramCache.set(k, r);
    return r;
  }

  /** Parameters of integer tensor `name`. */
  tparams(name: string): [string, string] {
    const q = this.tq(name);
    return this.params(name, q, this.dtypeOfQ(q, `tensor '${name}'`));
  }

  quantizeNode(x: string, y: string, q: QParams, dtype: IntDType, key: string): void {
    const [s, z] = this.params(key, q, dtype);
    this.emit('QuantizeLinear', [x, s, z], [y], q.scale.length > 1 ? [aInt('axis', q.axis)] : []);
  }

  dequantizeNode(x: string, y: string, q: QParams, dtype: IntDType, key: string): void {
    const [s, z] = this.params(key, q, dtype);
    this.emit('DequantizeLinear', [x, s, z], [y], q.scale.length > 1 ? [aInt('axis', q.axis)] : []);
  }

  /** QDQ: a fresh float view of integer tensor `x` (one DQ per consumer, as ORT's QDQ selectors like). */
  dq(x: string): string {
    this.useConst(x);
    const q = this.tq(x);
    const f = this.fresh(`${x}/dq`);
    this.dequantizeNode(x, f, q, this.dtypeOfQ(q, `tensor '${x}'`), x);
    return f;
  }

  // ------------------------------------------------------------------------------------------
  // what follows an op that saturates to its storage type only

  /**
   * The op quantizes to `tq` (y's parameters, or a LUT's input parameters) and saturates to the
   * storage type; returns the name it should write and the stage that turns that into `out`.
   */
  after(out: string, yq: QParams, act: QActivation): { tq: QParams; opOut: string; finish: () => void } {
    if (act.kind === 'igelu') this.fail('a fused i-GELU has no ONNX Runtime op');
    if (act.kind === 'lut') {
      const tq = act.inQ;
      if (tq.scale.length !== 1) this.fail('a LUT input quantization must be per-tensor');
      const opOut = this.fresh(`${out}/lut_in`);
      return { tq, opOut, finish: () => this.lutStage(opOut, this.dtypeOfQ(tq, 'the LUT input'), act, out, yq) };
    }
    const d = this.dtypeOfQ(yq, `tensor '${out}'`);
    let { qmin, qmax } = qRange(yq);
    const channelHi = act.kind === 'clamp' ? act.channelHi : undefined;
    if (act.kind === 'clamp') {
      qmin = Math.max(qmin, act.lo);
      qmax = Math.min(qmax, act.hi);
    }
    const t = typeRange(d);
    if (qmin <= t.qmin && qmax >= t.qmax && !channelHi) return { tq: yq, opOut: out, finish: () => {} };
    const opOut = this.fresh(`${out}/saturated`);
    return { tq: yq, opOut, finish: () => this.clampStage(opOut, out, yq, d, qmin, qmax, channelHi) };
  }

  /**
   * DequantizeLinear → Clip(DQ(lo), DQ(hi)) → QuantizeLinear with the same parameters: exact.
   * Per-channel upper bounds (`channelHi`, axis 1) add a Min with DQ(hi_c) shaped [1, C, 1, …]
   * after the Clip (ONNX's Clip takes scalars, its Min broadcasts): DQ is monotonic, so the
   * requantized code of min(DQ(v), DQ(hi_c)) is min(v, hi_c).
   */
  clampStage(x: string, out: string, q: QParams, dtype: IntDType, lo: number, hi: number, channelHi?: Int32Array): void {
    if (q.scale.length !== 1) this.fail('a clamp on a per-channel tensor cannot be written');
    if (lo > hi) this.fail(`empty clamp range [${lo}, ${hi}]`);
    const s = q.scale[0];
    const z = q.zeroPoint[0];
    const t = typeRange(dtype);
    const key = `${out}/clamp`;
    const f = this.fresh(`${out}/clamp_in`);
    const g = this.fresh(`${out}/clamped`);
    this.dequantizeNode(x, f, q, dtype, key);
    const ins = [f, lo > t.qmin ? this.init(`${out}/clamp_min`, { dtype: 'float32', shape: [], data: Float32Array.of(dqValue(lo, s, z)) }) : ''];
    if (hi < t.qmax) ins.push(this.init(`${out}/clamp_max`, { dtype: 'float32', shape: [], data: Float32Array.of(dqValue(hi, s, z)) }));
    this.emit('Clip', ins, [g]);
    let y = g;
    if (channelHi) {
      const rank = this.net.tensors.get(out)?.shape.length ?? 0;
      if (rank < 2) this.fail(`per-channel clamp bounds on '${out}' need its shape (rank ≥ 2)`);
      const shape = [1, channelHi.length, ...new Array<number>(rank - 2).fill(1)];
      const bounds = Float32Array.from(channelHi, (v) => dqValue(Math.min(v, hi), s, z));
      y = this.fresh(`${out}/channel_clamped`);
      this.emit('Min', [g, this.init(`${out}/channel_max`, { dtype: 'float32', shape, data: bounds })], [y]);
    }
    this.quantizeNode(y, out, q, dtype, key);
  }

  /** Gather over the table expanded to one entry per storage code of `x`. */
  lutStage(x: string, xDtype: IntDType, act: Extract<QActivation, { kind: 'lut' }>, out: string, yq: QParams): void {
    if (xDtype === 'int32') this.fail('a LUT on an int32 tensor cannot be written');
    const yd = this.dtypeOfQ(yq, `tensor '${out}'`);
    const lay = lutLayout(act.inQ, act.entries, act.table);
    const table = new Int32Array(256);
    // uint8: index = code; int8: index = code, negative codes count from the end (byte order)
    for (let c = xDtype === 'int8' ? -128 : 0, end = c + 256; c < end; c++) table[c & 255] = applyLutValue(c, lay, act.table);
    const tr = typeRange(yd);
    for (const v of table) if (v < tr.qmin || v > tr.qmax) this.fail(`LUT entry ${v} does not fit the output type ${yd}`);
    const data = this.init(`${out}/lut`, intTensor(yd, [256], table));
    const idx = this.fresh(`${x}/index`);
    this.emit('Cast', [x], [idx], [aInt('to', dtypeToOnnx('int32'))]);
    this.emit('Gather', [data, idx], [out], [aInt('axis', 0)]);
  }

  /** DQ of `x` with the parameters of tensor `paramsOf` (a reshaped view of it). */
  dqNamed(x: string, paramsOf: string): string {
    const q = this.tq(paramsOf);
    const f = this.fresh(`${x}/dq`);
    this.dequantizeNode(x, f, q, this.dtypeOfQ(q, `tensor '${paramsOf}'`), paramsOf);
    return f;
  }
}
