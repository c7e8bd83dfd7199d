/**
 * QuantizedNetwork → quantized ONNX, in QOperator or QDQ form, such that onnxruntime (CPU, x86-64
 * with AVX2/FMA — the machine class sim/qops.ts reproduces) computes what sim/qexec.ts's
 * runQuantized computes with `requant: { mode: 'float' }` and a 32-bit wrapping accumulator.
 *
 * QOperator form ('qop'):
 *   - quantize / dequantize → QuantizeLinear / DequantizeLinear (per-axis too).
 *   - conv → QLinearConv (int32 bias, per-channel scales). ORT requires one weight zero point for
 *     all channels, so per-channel weight zero points that differ are refused.
 *   - gemm → QLinearMatMul with the weight transposed to [K, N] when there is no bias (any input
 *     rank, per-column scales and zero points); with a bias, a 1×1 QLinearConv on the input
 *     reshaped to [M, K, 1, 1] and reshaped back — QLinearMatMul has no bias input, and adding
 *     it afterwards (QLinearAdd, or MatMulInteger + Add + float requant) rounds twice, whereas
 *     QLinearConv does acc = bias + Σ… and one requantization exactly like qloom's gemm.
 *   - a conv/gemm whose output is int32 with bits 32 (qimport's ConvInteger / MatMulInteger
 *     convention) → ConvInteger / MatMulInteger.
 *   - add / concat / avgpool / globalavgpool / standalone sigmoid (entries = 2^bits) →
 *     com.microsoft QLinearAdd / QLinearConcat / QLinearAveragePool / QLinearGlobalAveragePool /
 *     QLinearSigmoid (v1), whose float arithmetic sim/qops.ts reproduces.
 *   - maxpool, reshape, flatten, transpose, identity → the plain op on the int8/uint8 tensor.
 *   - float layers → their float node (nets/onnx/export's normalization, via a one-node export).
 * QDQ form ('qdq'): weights are int8/uint8 initializers behind DequantizeLinear (axis 0 when
 *   per-channel), biases int32 initializers behind DequantizeLinear with scale f32(s_x·s_w[c]);
 *   activations are Q → DQ pairs around float Conv / Gemm / MatMul / Add / Concat / AveragePool /
 *   GlobalAveragePool / Sigmoid, which ORT's QDQ transformer (graph optimization level 'extended'
 *   or 'all') fuses into the same QLinear kernels as above — then the outputs are bit-exact. Run
 *   un-fused (optimizations off) the float op + QuantizeLinear can differ from the integer path
 *   by one code on values that round near .5 (test/golden/qexport-vs-ort.test.ts measures it).
 *   A gemm is written as Gemm(transB=1) on a 2-D view (Reshape of the integer tensor around it),
 *   which ORT fuses into com.microsoft QGemm. Data movement and MaxPool stay integer ops
 *   (what ORT's QDQ transformer turns DQ → op → Q into anyway).
 *
 * Both forms, what has no QLinear op:
 *   - requant-unit clamps (ReLU / ReLU6 / clip) and activation ranges narrower than the storage
 *     type (bits < 8, narrow range): ORT's QLinear ops saturate to the type only, so a clamp that
 *     is not implied by it becomes DequantizeLinear → Clip → QuantizeLinear with the tensor's own
 *     parameters and the bounds' exact dequantized values. That is exact: DQ is monotone, so
 *     Clip(DQ(q), DQ(lo), DQ(hi)) = DQ(clamp(q, lo, hi)), and Q(DQ(c)) = c for 8-bit codes
 *     (|c − z| ≤ 510 keeps both float32 roundings far below half a code).
 *   - LUT activations other than ORT's own sigmoid table: a Gather over a constant table with
 *     one entry per storage code (the qnet table expanded through lut.ts applyLutValue, so coarse
 *     tables and codes outside the table's input range are covered), indexed by Cast(int32) of the
 *     code — for int8 in byte order, negative indices counting from the end. Exact, but
 *     quant/onnx/qimport.ts does not read integer Cast/Gather back.
 *
 * What cannot be expressed (a ModelError naming every offending layer at once):
 *   - 9–16-bit tensors or weights: ORT's QLinear / QDQ-fused kernels are 8-bit only; int16
 *     QuantizeLinear / DequantizeLinear exist only from opset 21 (or as com.microsoft contrib ops)
 *     and a 16-bit conv would run un-fused in float, so it could not be bit-exact.
 *   - per-channel activations feeding integer layers, per-channel weight zero points that differ
 *     on a conv (or on a gemm with a bias), a bias on a 32-bit-output layer, avgpool dilations.
 * Weight codes of fewer than 8 bits are stored in int8 / uint8. A uint8 weight read by int8
 * activations is re-encoded as int8 (codes and zero point − 128: the differences q − z, hence
 * every accumulator, are unchanged), since ORT has no s8×u8 kernels.
 *
 * Round trip: quant/onnx/qimport.ts reads every export back (except the Gather LUTs) into a
 * network whose runQuantized outputs equal the original's (the bit widths of the re-imported
 * tensors are 8 and the clamps become dequantize / float Clip / quantize layers).
 */
import { ModelError, type ModelProblem } from '../../nets/errors.js';
import type { DType, Graph, Node, Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { AttrType, ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { dtypeToOnnx, tensorToProto } from '../../nets/onnx/tensor.js';
import { applyLutValue, lutLayout } from '../../qnet/lut.js';
import { qRange } from '../../qnet/qmath.js';
import type { QActivation, QLayer, QLinearLayer, QParams, QPoolLayer, QuantizedNetwork } from '../../qnet/network.js';

export interface QExportOptions {
  format: 'qop' | 'qdq';
  /** default-domain opset, 13…21; default 13 (com.microsoft domain v1 where needed) */
  opset?: number;
}

const MS = 'com.microsoft';
const MIN_EXPORT_OPSET = 13;
const MAX_EXPORT_OPSET = 21;
/** nets/onnx/export writes float nodes up to this opset */
const FLOAT_EXPORT_MAX_OPSET = 17;
const IR_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

type IntDType = 'int8' | 'uint8' | 'int32';

interface PNodeOut {
  name: string;
  op_type: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
}

const aInt = (name: string, i: number) => ({ name, type: AttrType.INT, i });
const aInts = (name: string, ints: readonly number[]) => ({ name, type: AttrType.INTS, ints: [...ints] });

/** Storage type of a quantized tensor, or undefined for 9–16 bits (not expressible). */
function storageOf(q: QParams): IntDType | undefined {
  if (q.bits <= 8) return q.signed ? 'int8' : 'uint8';
  if (q.bits === 32) return 'int32';
  return undefined;
}

function typeRange(d: IntDType): { qmin: number; qmax: number } {
  return d === 'int8' ? { qmin: -128, qmax: 127 } : d === 'uint8' ? { qmin: 0, qmax: 255 } : { qmin: -2147483648, qmax: 2147483647 };
}

function intTensor(dtype: IntDType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = dtype === 'int8' ? Int8Array.from(values) : dtype === 'uint8' ? Uint8Array.from(values) : Int32Array.from(values);
  return { dtype, shape: [...shape], data };
}

/** The float DequantizeLinear gives for code c (qnet/qmath.ts dequantizeLinear, ORT's arithmetic). */
function dqValue(c: number, s: number, z: number): number {
  return Math.fround(Math.fround(c - z) * s);
}

/** Thrown inside one layer's emission; collected per layer. */
class LayerProblem extends Error {}

class QExporter {
  private readonly problems: ModelProblem[] = [];
  private readonly taken = new Set<string>();
  private readonly nodes: PNodeOut[] = [];
  private readonly inits: Record<string, unknown>[] = [];
  /** per-tensor quantization parameter initializers, by tensor name */
  private readonly paramCache = new Map<string, [string, string]>();
  private readonly emittedConsts = new Set<string>();
  private usesMs = false;
  private readonly opset: number;
  private readonly qdq: boolean;

  constructor(
    private readonly net: QuantizedNetwork,
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

  private fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  private fail(msg: string): never {
    throw new LayerProblem(msg);
  }

  private emit(op: string, input: string[], output: string[], attribute: Record<string, unknown>[] = [], name?: string, domain = ''): void {
    if (domain === MS) this.usesMs = true;
    this.nodes.push({ name: this.fresh(name ?? `${output[0]}/${op}`), op_type: op, domain, input, output, attribute });
  }

  private init(base: string, t: Tensor): string {
    const name = this.fresh(base);
    this.inits.push(tensorToProto(t, name));
    return name;
  }

  private i64(base: string, v: readonly number[]): string {
    return this.init(base, { dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map((x) => BigInt(x))) });
  }

  /** Makes a constant integer / float tensor of the network available as an initializer. */
  private useConst(name: string): void {
    const c = this.net.floatConstants?.get(name);
    if (!c || this.emittedConsts.has(name)) return;
    this.emittedConsts.add(name);
    this.inits.push(tensorToProto(c, name));
  }

  private tq(name: string): QParams {
    const t = this.net.tensors.get(name);
    if (!t) this.fail(`tensor '${name}' has no quantization parameters`);
    return t.q;
  }

  private dtypeOfQ(q: QParams, what: string): IntDType {
    const d = storageOf(q);
    if (!d) {
      this.fail(
        `${what} is ${q.bits}-bit: ORT's QLinear and QDQ-fused kernels are 8-bit only (int16 QuantizeLinear / DequantizeLinear need opset 21 or com.microsoft, and a 16-bit layer would run un-fused in float)`,
      );
    }
    return d;
  }

  /** Activation parameters of an integer layer operand: per-tensor, 8-bit. */
  private act8(name: string): { q: QParams; dtype: 'int8' | 'uint8' } {
    const q = this.tq(name);
    if (q.scale.length !== 1) this.fail(`tensor '${name}' is quantized per channel: integer layers read per-tensor activations`);
    const d = this.dtypeOfQ(q, `tensor '${name}'`);
    if (d === 'int32') this.fail(`tensor '${name}' is int32: integer layers read 8-bit activations`);
    return { q, dtype: d };
  }

  /** Scale / zero-point initializers of parameters `q` stored as `dtype` (shared per key). */
  private params(key: string, q: QParams, dtype: IntDType, zeroPoint = q.zeroPoint): [string, string] {
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
  private tparams(name: string): [string, string] {
    const q = this.tq(name);
    return this.params(name, q, this.dtypeOfQ(q, `tensor '${name}'`));
  }

  private quantizeNode(x: string, y: string, q: QParams, dtype: IntDType, key: string): void {
    const [s, z] = this.params(key, q, dtype);
    this.emit('QuantizeLinear', [x, s, z], [y], q.scale.length > 1 ? [aInt('axis', q.axis)] : []);
  }

  private dequantizeNode(x: string, y: string, q: QParams, dtype: IntDType, key: string): void {
    const [s, z] = this.params(key, q, dtype);
    this.emit('DequantizeLinear', [x, s, z], [y], q.scale.length > 1 ? [aInt('axis', q.axis)] : []);
  }

  /** QDQ: a fresh float view of integer tensor `x` (one DQ per consumer, as ORT's QDQ selectors like). */
  private dq(x: string): string {
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
  private after(out: string, yq: QParams, act: QActivation): { tq: QParams; opOut: string; finish: () => void } {
    if (act.kind === 'lut') {
      const tq = act.inQ;
      if (tq.scale.length !== 1) this.fail('a LUT input quantization must be per-tensor');
      const opOut = this.fresh(`${out}/lut_in`);
      return { tq, opOut, finish: () => this.lutStage(opOut, this.dtypeOfQ(tq, 'the LUT input'), act, out, yq) };
    }
    const d = this.dtypeOfQ(yq, `tensor '${out}'`);
    let { qmin, qmax } = qRange(yq);
    if (act.kind === 'clamp') {
      qmin = Math.max(qmin, act.lo);
      qmax = Math.min(qmax, act.hi);
    }
    const t = typeRange(d);
    if (qmin <= t.qmin && qmax >= t.qmax) return { tq: yq, opOut: out, finish: () => {} };
    const opOut = this.fresh(`${out}/saturated`);
    return { tq: yq, opOut, finish: () => this.clampStage(opOut, out, yq, d, qmin, qmax) };
  }

  /** DequantizeLinear → Clip(DQ(lo), DQ(hi)) → QuantizeLinear with the same parameters: exact. */
  private clampStage(x: string, out: string, q: QParams, dtype: IntDType, lo: number, hi: number): void {
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
    this.quantizeNode(g, out, q, dtype, key);
  }

  /** Gather over the table expanded to one entry per storage code of `x`. */
  private lutStage(x: string, xDtype: IntDType, act: Extract<QActivation, { kind: 'lut' }>, out: string, yq: QParams): void {
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

  // ------------------------------------------------------------------------------------------
  // layers

  run(): Uint8Array {
    const net = this.net;
    if (!(Number.isInteger(this.opset) && this.opset >= MIN_EXPORT_OPSET && this.opset <= MAX_EXPORT_OPSET)) {
      throw new ModelError([{ node: '', opset: this.opset, message: `cannot export a quantized network to opset ${this.opset} (supported: ${MIN_EXPORT_OPSET}–${MAX_EXPORT_OPSET}; per-axis QuantizeLinear needs 13)` }]);
    }
    for (const l of net.layers) {
      try {
        for (const i of l.inputs) this.useConst(i);
        this.layer(l);
      } catch (e) {
        if (e instanceof LayerProblem) this.problems.push({ node: l.name, op: l.kind, opset: this.opset, message: e.message });
        else if (e instanceof ModelError) this.problems.push(...e.problems.map((p) => ({ ...p, node: p.node ? `${l.name}: ${p.node}` : l.name })));
        else throw e;
      }
    }
    const produced = new Set([...net.layers.map((l) => l.output), ...net.inputs.map((i) => i.name)]);
    for (const o of net.outputs) if (!produced.has(o.name)) this.problems.push({ node: o.name, message: `graph output '${o.name}' is not produced by any layer` });
    if (this.problems.length) throw new ModelError(this.problems);

    const vi = (name: string, dtype: DType, shape: readonly number[] | undefined) => {
      const tt: Record<string, unknown> = { elem_type: dtypeToOnnx(dtype) };
      if (shape) tt.shape = { dim: shape.map((d) => (d >= 0 ? { dim_value: d } : {})) };
      return { name, type: { tensor_type: tt } };
    };
    const opsets = [{ domain: '', version: this.opset }];
    if (this.usesMs) opsets.push({ domain: MS, version: 1 });
    const meta = Object.entries(net.meta ?? {}).map(([key, value]) => ({ key, value }));
    meta.push({ key: 'qloom.format', value: this.qdq ? 'qdq' : 'qop' });
    const model = {
      ir_version: IR_FOR_OPSET[this.opset],
      opset_import: opsets,
      producer_name: 'qloom',
      producer_version: '0.1.0',
      graph: {
        name: net.name,
        node: this.nodes,
        initializer: this.inits,
        input: net.inputs.map((i) => vi(i.name, i.dtype, i.shape)),
        // an empty shape may mean "unknown" in a QuantizedNetwork: the rank is then left open
        output: net.outputs.map((o) => vi(o.name, o.dtype, o.shape.length ? o.shape : undefined)),
      },
      metadata_props: meta,
    };
    return ModelProto.encode(model).finish();
  }

  private layer(l: QLayer): void {
    switch (l.kind) {
      case 'quantize': {
        const q = this.tq(l.output);
        const d = this.dtypeOfQ(q, `tensor '${l.output}'`);
        if (q.scale.length > 1) {
          const t = typeRange(d);
          const r = qRange(q);
          if (r.qmin > t.qmin || r.qmax < t.qmax) this.fail(`per-axis ${q.bits}-bit${q.narrow ? ' narrow' : ''} quantization narrower than ${d} cannot be written`);
          this.quantizeNode(l.inputs[0], l.output, q, d, l.output);
          return;
        }
        const a = this.after(l.output, q, { kind: 'none' });
        this.quantizeNode(l.inputs[0], a.opOut, q, d, l.output);
        a.finish();
        return;
      }
      case 'dequantize': {
        const q = this.tq(l.inputs[0]);
        this.dequantizeNode(l.inputs[0], l.output, q, this.dtypeOfQ(q, `tensor '${l.inputs[0]}'`), l.inputs[0]);
        return;
      }
      case 'conv':
      case 'gemm':
        this.linear(l);
        return;
      case 'add': {
        const yq = this.tq(l.output);
        const a = this.act8(l.inputs[0]);
        const b = this.act8(l.inputs[1]);
        const post = this.after(l.output, yq, l.activation);
        const td = this.dtypeOfQ(post.tq, `tensor '${l.output}'`);
        if (a.dtype !== td || b.dtype !== td) this.fail(`QLinearAdd needs one integer type, got ${a.dtype}, ${b.dtype} → ${td}`);
        const key = post.opOut === l.output ? l.output : post.opOut;
        if (this.qdq) {
          const f = this.fresh(`${l.output}/sum`);
          this.emit('Add', [this.dq(l.inputs[0]), this.dq(l.inputs[1])], [f], [], l.name);
          this.quantizeNode(f, post.opOut, post.tq, td, key);
        } else {
          const [cs, cz] = this.params(key, post.tq, td);
          this.emit('QLinearAdd', [l.inputs[0], ...this.tparams(l.inputs[0]), l.inputs[1], ...this.tparams(l.inputs[1]), cs, cz], [post.opOut], [], l.name, MS);
        }
        post.finish();
        return;
      }
      case 'concat': {
        const yq = this.tq(l.output);
        const post = this.after(l.output, yq, { kind: 'none' });
        const yd = this.dtypeOfQ(yq, `tensor '${l.output}'`);
        for (const i of l.inputs) if (this.act8(i).dtype !== yd) this.fail(`QLinearConcat needs one integer type: '${i}' is not ${yd}`);
        if (this.qdq) {
          const f = this.fresh(`${l.output}/concat`);
          this.emit('Concat', l.inputs.map((i) => this.dq(i)), [f], [aInt('axis', l.axis)], l.name);
          this.quantizeNode(f, post.opOut, yq, yd, l.output);
        } else {
          const [ys, yz] = this.params(l.output, yq, yd);
          const ins = [ys, yz];
          for (const i of l.inputs) ins.push(i, ...this.tparams(i));
          this.emit('QLinearConcat', ins, [post.opOut], [aInt('axis', l.axis)], l.name, MS);
        }
        post.finish();
        return;
      }
      case 'maxpool': {
        this.act8(l.inputs[0]); // 8-bit, per-tensor: MaxPool's int8/uint8 kernels
        this.emit('MaxPool', [l.inputs[0]], [l.output], this.poolAttrs(l, true), l.name);
        return;
      }
      case 'avgpool':
      case 'globalavgpool': {
        const yq = this.tq(l.output);
        const x = this.act8(l.inputs[0]);
        const post = this.after(l.output, yq, { kind: 'none' });
        const yd = this.dtypeOfQ(yq, `tensor '${l.output}'`);
        if (yd !== x.dtype) this.fail(`input and output must share one integer type, got ${x.dtype} and ${yd}`);
        const global = l.kind === 'globalavgpool';
        if (!global && (l.dilations[0] !== 1 || l.dilations[1] !== 1)) this.fail('QLinearAveragePool has no dilations');
        const attrs = global ? [] : this.poolAttrs(l, false);
        if (this.qdq) {
          const f = this.fresh(`${l.output}/pool`);
          this.emit(global ? 'GlobalAveragePool' : 'AveragePool', [this.dq(l.inputs[0])], [f], attrs, l.name);
          this.quantizeNode(f, post.opOut, yq, yd, l.output);
        } else {
          const [ys, yz] = this.params(l.output, yq, yd);
          this.emit(global ? 'QLinearGlobalAveragePool' : 'QLinearAveragePool', [l.inputs[0], ...this.tparams(l.inputs[0]), ys, yz], [post.opOut], [...attrs, aInt('channels_last', 0)], l.name, MS);
        }
        post.finish();
        return;
      }
      case 'activation':
        this.activation(l.inputs[0], l.output, l.activation, l.name);
        return;
      case 'reshape': {
        this.emit('Reshape', [l.inputs[0], this.i64(`${l.name}/shape`, l.param)], [l.output], [], l.name);
        return;
      }
      case 'flatten':
        this.emit('Flatten', [l.inputs[0]], [l.output], [aInt('axis', l.param[0] ?? 1)], l.name);
        return;
      case 'transpose':
        this.emit('Transpose', [l.inputs[0]], [l.output], [aInts('perm', l.param)], l.name);
        return;
      case 'identity':
        this.emit('Identity', [l.inputs[0]], [l.output], [], l.name);
        return;
      case 'float':
        this.floatNode(l.node);
        return;
    }
  }

  private poolAttrs(l: QPoolLayer, max: boolean): Record<string, unknown>[] {
    const a = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInt('ceil_mode', l.ceilMode ? 1 : 0)];
    if (max) a.push(aInts('dilations', l.dilations));
    else a.push(aInt('count_include_pad', l.countIncludePad ? 1 : 0));
    return a;
  }

  /** A standalone activation layer (clamp, ORT's sigmoid, or a table). */
  private activation(x: string, out: string, act: QActivation, name: string): void {
    const xa = this.act8(x);
    const yq = this.tq(out);
    const yd = this.dtypeOfQ(yq, `tensor '${out}'`);
    if (act.kind === 'none') {
      if (yd !== xa.dtype) this.fail(`an identity activation cannot change the type (${xa.dtype} → ${yd})`);
      this.emit('Identity', [x], [out], [], name);
      return;
    }
    if (act.kind === 'clamp') {
      // sim/qexec.ts clamps the codes in place: the parameters of x are those that keep them
      if (yd !== xa.dtype) this.fail(`a clamp cannot change the type (${xa.dtype} → ${yd})`);
      const r = qRange(yq);
      const lo = Math.max(r.qmin, act.lo);
      const hi = Math.min(r.qmax, act.hi);
      const t = typeRange(yd);
      if (lo <= t.qmin && hi >= t.qmax) this.emit('Identity', [x], [out], [], name);
      else this.clampStage(x, out, xa.q, yd, lo, hi);
      return;
    }
    if (act.fn === 'sigmoid' && act.entries === 2 ** act.inQ.bits) {
      // sim/qexec.ts runs ORT's own QLinearSigmoid table here
      if (yd !== xa.dtype) this.fail(`QLinearSigmoid cannot change the type (${xa.dtype} → ${yd})`);
      const post = this.after(out, yq, { kind: 'none' });
      if (this.qdq) {
        const f = this.fresh(`${out}/sigmoid`);
        this.emit('Sigmoid', [this.dq(x)], [f], [], name);
        this.quantizeNode(f, post.opOut, yq, yd, out);
      } else {
        const [ys, yz] = this.params(out, yq, yd);
        this.emit('QLinearSigmoid', [x, ...this.tparams(x), ys, yz], [post.opOut], [], name, MS);
      }
      post.finish();
      return;
    }
    this.lutStage(x, xa.dtype, act, out, yq);
  }

  // ------------------------------------------------------------------------------------------
  // conv / gemm

  /** Weight codes as stored: int8/uint8 (uint8 re-encoded as int8 against int8 activations). */
  private weightStore(l: QLinearLayer, xDtype: 'int8' | 'uint8'): { dtype: 'int8' | 'uint8'; data: Int32Array; zp: Int32Array } {
    const w = l.weight;
    let dtype = this.dtypeOfQ(w.q, 'the weight');
    if (dtype === 'int32') this.fail('32-bit weights cannot be written');
    const t = typeRange(dtype);
    for (let i = 0; i < w.data.length; i++) {
      if (w.data[i] < t.qmin || w.data[i] > t.qmax) this.fail(`weight code ${w.data[i]} does not fit ${dtype}`);
    }
    let data = w.data;
    let zp = w.q.zeroPoint;
    if (dtype === 'uint8' && xDtype === 'int8') {
      // ORT has no s8×u8 kernels; q − z is unchanged by moving both by 128
      data = data.map((v) => v - 128);
      zp = zp.map((v) => v - 128);
      dtype = 'int8';
    }
    for (const z of zp) if (z < typeRange(dtype).qmin || z > typeRange(dtype).qmax) this.fail(`weight zero point ${z} does not fit ${dtype}`);
    return { dtype, data, zp };
  }

  private linear(l: QLinearLayer): void {
    const x = this.act8(l.inputs[0]);
    const yq = this.tq(l.output);
    const w = l.weight;
    const perCh = w.q.scale.length > 1;
    const ws = this.weightStore(l, x.dtype);
    const uniformZp = ws.zp.every((z) => z === ws.zp[0]);
    const rank = w.shape.length;
    const N = w.shape[rank - (l.kind === 'conv' ? 4 : 2)];
    if (l.bias && l.bias.length !== N) this.fail(`bias has ${l.bias.length} values for ${N} output channels`);
    if (perCh && w.q.scale.length !== N) this.fail(`${w.q.scale.length} weight scales for ${N} output channels`);

    if (yq.bits === 32) {
      this.integerLinear(l, x, ws);
      return;
    }
    const post = this.after(l.output, yq, l.activation);
    const td = this.dtypeOfQ(post.tq, `tensor '${l.output}'`);
    if (td !== x.dtype) this.fail(`the output type ${td} differs from the input type ${x.dtype} (ORT's QLinear ops keep it)`);
    const key = post.opOut === l.output ? l.output : post.opOut;

    // weight parameters: one zero point when uniform (QLinearConv requires it)
    const wq: QParams = { ...w.q, zeroPoint: uniformZp ? Int32Array.of(ws.zp[0]) : ws.zp };
    const wKey = `${l.name}/w`;

    if (l.kind === 'conv') {
      if (!uniformZp) this.fail('per-channel weight zero points differ: QLinearConv needs one zero point for all channels');
      const attrs = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInts('dilations', l.dilations), aInt('group', l.group)];
      this.convCore(l, l.inputs[0], post.opOut, post.tq, td, key, ws, wq, w.shape, attrs, N);
      post.finish();
      return;
    }

    // gemm: [..., K] → [..., N]
    const K = w.shape[rank - 1];
    if (rank > 2) {
      // batched weight [...batch, N, K]: MatMul semantics, no per-channel, no bias
      if (l.bias) this.fail('a batched gemm weight with a bias cannot be written');
      if (perCh) this.fail('a batched gemm weight must be quantized per tensor');
    }
    const xShape = this.net.tensors.get(l.inputs[0])?.shape ?? [];
    const outShape = this.net.tensors.get(l.output)?.shape ?? [];
    const lead = xShape.length >= 1 ? xShape.slice(0, -1) : outShape.length >= 1 ? outShape.slice(0, -1) : undefined;
    const useMatMul = !l.bias && !this.qdq;
    if (useMatMul || rank > 2) {
      const wt = transposeLast2(ws.data, w.shape);
      const bName = this.init(`${l.name}/B`, intTensor(ws.dtype, wt.shape, wt.data));
      if (this.qdq) {
        const bq: QParams = { ...wq, zeroPoint: perCh ? ws.zp : wq.zeroPoint, axis: perCh ? wt.shape.length - 1 : -1 };
        const bf = this.fresh(`${bName}/dq`);
        this.dequantizeNode(bName, bf, bq, ws.dtype, `${wKey}/dq`);
        const f = this.fresh(`${l.output}/matmul`);
        this.emit('MatMul', [this.dq(l.inputs[0]), bf], [f], [], l.name);
        this.quantizeNode(f, post.opOut, post.tq, td, key);
      } else {
        const [as, az] = this.tparams(l.inputs[0]);
        const [bs, bz] = this.params(wKey, wq, ws.dtype);
        const [ys, yz] = this.params(key, post.tq, td);
        this.emit('QLinearMatMul', [l.inputs[0], as, az, bName, bs, bz, ys, yz], [post.opOut], [], l.name);
      }
      post.finish();
      return;
    }
    if (!lead) this.fail(`the input shape of '${l.inputs[0]}' is unknown: the gemm cannot be reshaped to 2-D`);
    if (lead.filter((d) => d < 0).length > 1) this.fail(`input shape [${xShape.join(',')}] has more than one unknown dimension`);
    const outTarget = [...lead.map((d) => (d < 0 ? -1 : d)), N];
    if (this.qdq) {
      // 2-D view → Gemm(transB) → Q → back
      const x2 = lead.length === 1 ? l.inputs[0] : this.fresh(`${l.inputs[0]}/2d`);
      if (x2 !== l.inputs[0]) this.emit('Reshape', [l.inputs[0], this.i64(`${l.name}/in_shape`, [-1, K])], [x2]);
      const wName = this.init(`${l.name}/W`, intTensor(ws.dtype, w.shape, ws.data));
      const wf = this.fresh(`${wName}/dq`);
      this.dequantizeNode(wName, wf, { ...wq, zeroPoint: perCh ? ws.zp : wq.zeroPoint, axis: perCh ? 0 : -1 }, ws.dtype, `${wKey}/dq`);
      const ins = [this.dqNamed(x2, l.inputs[0]), wf];
      if (l.bias) ins.push(this.biasDq(l, x.q, N));
      const f = this.fresh(`${l.output}/gemm`);
      this.emit('Gemm', ins, [f], [aInt('transB', 1)], l.name);
      const y2 = lead.length === 1 ? post.opOut : this.fresh(`${post.opOut}/2d`);
      this.quantizeNode(f, y2, post.tq, td, key);
      if (y2 !== post.opOut) this.emit('Reshape', [y2, this.i64(`${l.name}/out_shape`, outTarget)], [post.opOut]);
      post.finish();
      return;
    }
    if (!uniformZp) this.fail('per-channel weight zero points differ and the gemm has a bias: neither QLinearMatMul (no bias) nor QLinearConv (one zero point) expresses it');
    // 1×1 QLinearConv on [M, K, 1, 1]
    const x4 = this.fresh(`${l.inputs[0]}/as_nchw`);
    this.emit('Reshape', [l.inputs[0], this.i64(`${l.name}/in_shape`, [-1, K, 1, 1])], [x4]);
    const y4 = this.fresh(`${post.opOut}/nchw`);
    const attrs = [aInts('kernel_shape', [1, 1]), aInts('strides', [1, 1]), aInts('pads', [0, 0, 0, 0]), aInts('dilations', [1, 1]), aInt('group', 1)];
    this.convCore(l, x4, y4, post.tq, td, key, ws, wq, [N, K, 1, 1], attrs, N, l.inputs[0]);
    this.emit('Reshape', [y4, this.i64(`${l.name}/out_shape`, outTarget)], [post.opOut]);
    post.finish();
  }

  /** DQ of `x` with the parameters of tensor `paramsOf` (a reshaped view of it). */
  private dqNamed(x: string, paramsOf: string): string {
    const q = this.tq(paramsOf);
    const f = this.fresh(`${x}/dq`);
    this.dequantizeNode(x, f, q, this.dtypeOfQ(q, `tensor '${paramsOf}'`), paramsOf);
    return f;
  }

  /** int32 bias behind a DequantizeLinear with scale f32(s_x·s_w[c]), zero point 0. */
  private biasDq(l: QLinearLayer, xq: QParams, N: number): string {
    const sw = l.weight.q.scale;
    const per = sw.length > 1;
    const scale = new Float32Array(per ? N : 1);
    for (let c = 0; c < scale.length; c++) scale[c] = Math.fround(xq.scale[0] * sw[c]);
    const bName = this.init(`${l.name}/bias`, intTensor('int32', [N], l.bias!));
    const bq: QParams = { scale, zeroPoint: new Int32Array(scale.length), axis: per ? 0 : -1, bits: 32, signed: true, narrow: false };
    const f = this.fresh(`${bName}/dq`);
    this.dequantizeNode(bName, f, bq, 'int32', `${l.name}/bias`);
    return f;
  }

  private convCore(
    l: QLinearLayer,
    xIn: string,
    yOut: string,
    tq: QParams,
    td: IntDType,
    key: string,
    ws: { dtype: 'int8' | 'uint8'; data: Int32Array },
    wq: QParams,
    wShape: readonly number[],
    attrs: Record<string, unknown>[],
    N: number,
    paramsOf = xIn,
  ): void {
    const wName = this.init(`${l.name}/W`, intTensor(ws.dtype, wShape, ws.data));
    if (this.qdq) {
      const wf = this.fresh(`${wName}/dq`);
      const per = wq.scale.length > 1;
      this.dequantizeNode(wName, wf, { ...wq, zeroPoint: per ? new Int32Array(wq.scale.length).fill(wq.zeroPoint[0]) : wq.zeroPoint, axis: per ? 0 : -1 }, ws.dtype, `${l.name}/w/dq`);
      const ins = [this.dqNamed(xIn, paramsOf), wf];
      if (l.bias) ins.push(this.biasDq(l, this.tq(paramsOf), N));
      const f = this.fresh(`${yOut}/conv`);
      this.emit('Conv', ins, [f], attrs, l.name);
      this.quantizeNode(f, yOut, tq, td, key);
      return;
    }
    const [xs, xz] = this.tparams(paramsOf);
    const [wsn, wzn] = this.params(`${l.name}/w`, wq, ws.dtype);
    const [ys, yz] = this.params(key, tq, td);
    const ins = [xIn, xs, xz, wName, wsn, wzn, ys, yz];
    if (l.bias) ins.push(this.init(`${l.name}/bias`, intTensor('int32', [N], l.bias)));
    this.emit('QLinearConv', ins, [yOut], attrs, l.name);
  }

  /** int32-output conv / gemm (the raw accumulators): ConvInteger / MatMulInteger. */
  private integerLinear(l: QLinearLayer, x: { q: QParams; dtype: 'int8' | 'uint8' }, ws: { dtype: 'int8' | 'uint8'; data: Int32Array; zp: Int32Array }): void {
    if (l.bias) this.fail('a bias on a layer with int32 output (ConvInteger / MatMulInteger) cannot be written');
    if (l.activation.kind !== 'none') this.fail('an activation on a layer with int32 output cannot be written');
    const yq = this.tq(l.output);
    if (yq.zeroPoint.some((z) => z !== 0)) this.fail('an int32 accumulator output has zero point 0');
    const xz = this.init(`${l.inputs[0]}_zero_point`, intTensor(x.dtype, [], [x.q.zeroPoint[0]]));
    const uniform = ws.zp.every((z) => z === ws.zp[0]);
    const wz = this.init(`${l.name}/w_zero_point`, intTensor(ws.dtype, uniform ? [] : [ws.zp.length], uniform ? [ws.zp[0]] : ws.zp));
    if (l.kind === 'conv') {
      const wName = this.init(`${l.name}/W`, intTensor(ws.dtype, l.weight.shape, ws.data));
      const attrs = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInts('dilations', l.dilations), aInt('group', l.group)];
      this.emit('ConvInteger', [l.inputs[0], wName, xz, wz], [l.output], attrs, l.name);
      return;
    }
    const wt = transposeLast2(ws.data, l.weight.shape);
    const bName = this.init(`${l.name}/B`, intTensor(ws.dtype, wt.shape, wt.data));
    this.emit('MatMulInteger', [l.inputs[0], bName, xz, wz], [l.output], [], l.name);
  }

  // ------------------------------------------------------------------------------------------
  // float layers

  /** Writes a float node with nets/onnx/export's normalization (one-node export, spliced in). */
  private floatNode(node: Node): void {
    const consts = new Map<string, Tensor>();
    for (const i of node.inputs) {
      const c = i ? this.net.floatConstants?.get(i) : undefined;
      if (c) consts.set(i, c);
    }
    const g: Graph = {
      name: node.name,
      inputs: node.inputs.filter((i) => i && !consts.has(i)).map((i) => ({ name: i, dtype: 'float32', shape: [] })),
      outputs: node.outputs.filter(Boolean).map((o) => ({ name: o, dtype: 'float32', shape: [] })),
      initializers: consts,
      nodes: [node],
      opset: Math.min(this.opset, FLOAT_EXPORT_MAX_OPSET),
    };
    const bytes = exportOnnx(g, { opset: Math.min(this.opset, FLOAT_EXPORT_MAX_OPSET) });
    const m = ModelProto.decode(bytes) as unknown as PModel;
    const rename = new Map<string, string>();
    for (const t of m.graph?.initializer ?? []) {
      const name = t.name ?? '';
      if (consts.has(name)) {
        this.useConst(name);
        continue;
      }
      const fresh = this.fresh(name);
      if (fresh !== name) rename.set(name, fresh);
      (t as { name: string }).name = fresh;
      this.inits.push(t as unknown as Record<string, unknown>);
    }
    for (const n of m.graph?.node ?? []) {
      const input = (n.input ?? []).map((i) => rename.get(i) ?? i);
      const output = [...(n.output ?? [])];
      for (const o of output) this.taken.add(o);
      this.nodes.push({ name: this.fresh(n.name || `${node.name}/${n.op_type}`), op_type: n.op_type ?? '', domain: n.domain ?? '', input, output, attribute: (n.attribute ?? []) as unknown as Record<string, unknown>[] });
    }
  }
}

/** [...batch, N, K] → [...batch, K, N] */
function transposeLast2(src: Int32Array, shape: readonly number[]): { data: Int32Array; shape: number[] } {
  const r = shape.length;
  const n = shape[r - 2];
  const k = shape[r - 1];
  const batch = src.length / (n * k || 1);
  const out = new Int32Array(src.length);
  for (let b = 0; b < batch; b++) {
    const o = b * n * k;
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[o + j * n + i] = src[o + i * k + j];
  }
  return { data: out, shape: [...shape.slice(0, r - 2), k, n] };
}

/**
 * Serializes a QuantizedNetwork as ONNX in QOperator ('qop') or QDQ ('qdq') form (see the file
 * comment for what each layer becomes and what is refused). Every problem is reported at once in
 * one ModelError naming the layers.
 */
export function exportQuantizedOnnx(net: QuantizedNetwork, opts: QExportOptions): Uint8Array {
  return new QExporter(net, opts).run();
}
