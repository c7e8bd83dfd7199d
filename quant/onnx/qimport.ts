/**
 * Quantized ONNX → QuantizedNetwork (qnet/network.ts).
 *
 * Two ways of writing a quantized network in ONNX are read:
 *   - QOperator form: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger,
 *     MatMulInteger, and the com.microsoft QLinearAdd / QLinearConcat / QLinearGlobalAveragePool /
 *     QLinearAveragePool / QLinearSigmoid; integer MaxPool, Concat, Reshape, Flatten, Transpose,
 *     Squeeze, Unsqueeze and Identity.
 *   - QDQ form: DequantizeLinear → op → QuantizeLinear islands are turned into the integer layer
 *     onnxruntime fuses them into — Conv / Gemm / MatMul (optionally followed by Relu or Clip,
 *     which become the requant unit's clamp) with constant DQ'd weights and an int32 DQ'd bias;
 *     Add; Concat; AveragePool; GlobalAveragePool; Sigmoid; and the data-movement ops and MaxPool
 *     when the DQ and the Q carry the same parameters. Whatever is left between a DQ and a Q
 *     stays a 'float' layer, run by nets/fp32's execNode.
 *
 * Pipeline (every problem collected before one ModelError is thrown):
 *   1. decode; initializers and Constant nodes become constants; topological sort.
 *   2. one pass in order: quantization ops are read here (scales and zero points must be
 *      constants); DequantizeLinear of a constant is folded (the integer source is remembered so
 *      QDQ weights and biases can be found); every other default-domain node goes through
 *      nets/onnx's importer as a one-node model, which normalizes it exactly as a float model
 *      would be (attributes filled in, operands moved to attributes, shape chains folded).
 *   3. QDQ fusion, then dead-layer removal.
 *   4. quantization parameters per integer tensor: each layer declares those of its operands;
 *      data-movement layers and MaxPool tie input and output together; a tensor declared twice
 *      with different parameters is an error.
 *
 * Conventions the executor (sim/qexec.ts) relies on, beyond qnet.ts:
 *   - ConvInteger / MatMulInteger become conv/gemm layers whose output tensor is int32 with
 *     `bits: 32` (scale 1, zero point 0): the executor returns the raw accumulator there.
 *     Tensors whose scale is never given (ConvInteger inputs) get scale 1.
 *   - a 'gemm' layer maps an input [..., K] to [..., N] (QLinearMatMul / MatMul semantics, leading
 *     dims are rows); a batched QLinearMatMul weight has shape [...batch, N, K] and is broadcast
 *     against the input's leading dims as MatMul does.
 *   - integer constants a layer reads (QLinearAdd with a constant operand, a constant input of a
 *     QLinearConcat) are kept in `floatConstants` next to the float ones, with their own dtype.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ModelError, type ModelProblem } from '../../nets/errors.js';
import type { AttrValue, DType, Graph, Node, Tensor } from '../../nets/graph.js';
import { parseValueInfo, readRawNodes, type RawNode } from '../../nets/onnx/decode.js';
import { importOnnx } from '../../nets/onnx/import.js';
import { ModelProto, toNum, type PModel, type PNode } from '../../nets/onnx/schema.js';
import { dtypeToOnnx, tensorFromProto, tensorToProto } from '../../nets/onnx/tensor.js';
import { partialOutputShapes } from '../../nets/shapes.js';
import { topoOrder } from '../../nets/topo.js';
import { buildLut } from '../../qnet/lut.js';
import { dequantizeLinear, quantizeLinear } from '../../qnet/qmath.js';
import { clampBounds } from '../../qnet/requant.js';
import type {
  QActivation,
  QLayer,
  QLinearLayer,
  QParams,
  QPoolLayer,
  QTensorInfo,
  QuantizedNetwork,
  QWeight,
} from '../../qnet/network.js';

export interface QImportOptions {
  /**
   * Graph inputs to bind to constant values (they become initializers): ONNX's conformance models
   * feed weights, scales and zero points as graph inputs.
   */
  constInputs?: ReadonlyMap<string, Tensor>;
  /**
   * Values of graph inputs that are bound as constants only where the model needs a constant
   * (weights, scales, zero points, biases, shape / axes / bounds operands) and stay graph inputs
   * elsewhere — `qloom exec` and the conformance tests, whose files feed everything as inputs.
   */
  inputValues?: ReadonlyMap<string, Tensor>;
}

/** ops whose inputs 1… are operands that must be constant */
const CONST_OPERANDS = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Clip', 'Pad', 'Slice']);

/** Default-domain opsets this importer reads (QuantizeLinear appeared in 10). */
export const MIN_QOPSET = 10;
export const MAX_QOPSET = 21;
/** The float importer (nets/onnx) reads up to this opset. */
const FLOAT_MAX_OPSET = 17;
/** Ops whose semantics did not change between opset 17 and 21: a node of a newer model is read as opset 17. */
const STABLE_SINCE_17 = new Set([
  'Conv', 'Gemm', 'MatMul', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'Add', 'Sub', 'Mul', 'Div',
  'Concat', 'MaxPool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Softmax', 'Identity',
  'BatchNormalization', 'Dropout', 'Shape', 'Gather', 'Cast', 'Slice',
]);

const MS = 'com.microsoft';
const DEFAULT_QUANT_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger']);
const MS_QUANT_OPS = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'QLinearAdd', 'QLinearConcat', 'QLinearGlobalAveragePool', 'QLinearAveragePool', 'QLinearSigmoid',
]);
/** normalized ops that may run on integer tensors, and the layer they become */
const INT_LAYOUT = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

type IntDType = 'int8' | 'uint8' | 'int32';
const isIntDType = (d: DType | undefined): d is IntDType => d === 'int8' || d === 'uint8' || d === 'int32';

/** Quantization parameters one layer states for one tensor. scale undefined: not stated (ConvInteger). */
interface Decl {
  scale?: Float32Array;
  zp: Int32Array;
  axis: number;
  dtype: IntDType;
  by: string;
}

interface RNode extends RawNode {
  proto: PNode;
}

interface LayerEntry {
  kind: 'layer';
  layer: QLayer;
  decls: [string, Decl][];
  /** pass-through: these integer tensors carry the same parameters */
  same: [string, string][];
  /** for DQ layers: the integer input and its parameters */
  dq?: { x: string; decl: Decl };
  /** for Q layers: the float input and the output parameters */
  q?: { x: string; decl: Decl };
}
interface FloatEntry {
  kind: 'float';
  node: Node;
}
type Entry = LayerEntry | FloatEntry;

interface TInfo {
  dtype: DType;
  /** undefined when even the rank is unknown */
  shape?: number[];
}

function sameF32(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
function sameI32(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function perTensor(d: Decl): boolean {
  return d.zp.length === 1 && (!d.scale || d.scale.length === 1);
}
function sameDecl(a: Decl, b: Decl): boolean {
  return a.dtype === b.dtype && a.axis === b.axis && sameI32(a.zp, b.zp) && !!a.scale && !!b.scale && sameF32(a.scale, b.scale);
}
function fmtDecl(d: Decl): string {
  const s = d.scale ? `scale ${d.scale.length === 1 ? d.scale[0] : `[${Array.from(d.scale).join(',')}]`}` : 'no scale';
  return `${d.dtype}, ${s}, zero point ${d.zp.length === 1 ? d.zp[0] : `[${Array.from(d.zp).join(',')}]`}`;
}

function qparamsOf(d: Decl): QParams {
  const bits = d.dtype === 'int32' ? 32 : 8;
  const n = Math.max(d.scale?.length ?? 1, d.zp.length);
  const scale = d.scale ? (d.scale.length === n ? d.scale : new Float32Array(n).fill(d.scale[0])) : new Float32Array(n).fill(1);
  const zeroPoint = d.zp.length === n ? d.zp : new Int32Array(n).fill(d.zp[0]);
  return { scale, zeroPoint, axis: n > 1 ? d.axis : -1, bits, signed: d.dtype !== 'uint8', narrow: false };
}

function toI32(t: Tensor): Int32Array {
  if (t.data instanceof BigInt64Array) return Int32Array.from(t.data, (v) => Number(v));
  if (t.data instanceof Int32Array) return Int32Array.from(t.data);
  return Int32Array.from(t.data as ArrayLike<number>);
}

/** [...batch, K, N] → [...batch, N, K] */
function transposeLast2(src: Int32Array, shape: readonly number[]): { data: Int32Array; shape: number[] } {
  const r = shape.length;
  const k = shape[r - 2];
  const n = shape[r - 1];
  const batch = src.length / (k * n || 1);
  const out = new Int32Array(src.length);
  for (let b = 0; b < batch; b++) {
    const o = b * k * n;
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[o + j * k + i] = src[o + i * n + j];
  }
  return { data: out, shape: [...shape.slice(0, r - 2), n, k] };
}

class QImporter {
  private readonly problems: ModelProblem[] = [];
  private readonly consts = new Map<string, Tensor>();
  private readonly badConsts = new Map<string, string>();
  private readonly info = new Map<string, TInfo>();
  /** tensors that could not be produced: consumers stay quiet about them */
  private readonly broken = new Set<string>();
  /** float constants that are DequantizeLinear of an integer constant */
  private readonly dqOf = new Map<string, { src: string; q: Tensor; decl: Decl }>();
  private readonly entries: Entry[] = [];
  private readonly graphInputs: { name: string; dtype: DType; shape: number[] }[] = [];
  private graphOutputs: string[] = [];
  private readonly consumed = new Set<string>();
  private opset = 0;
  private msOpset = 0;
  private irVersion = 8;

  constructor(
    private readonly model: PModel,
    private readonly file: string | undefined,
    private readonly options: QImportOptions,
  ) {}

  private fail(): never {
    throw new ModelError(this.problems, this.file);
  }

  private problem(n: { name: string; op: string } | null, message: string): void {
    if (n) this.problems.push({ node: n.name, op: n.op, opset: this.opset, message });
    else this.problems.push({ node: '', message });
  }

  run(): QuantizedNetwork {
    const m = this.model;
    for (const o of m.opset_import ?? []) {
      const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
      if (d === '') this.opset = toNum(o.version);
      if (d === MS) this.msOpset = toNum(o.version);
    }
    this.irVersion = Math.max(3, Math.min(toNum(m.ir_version) || 8, 9));
    if (!this.opset) {
      this.problem(null, 'model imports no default-domain (ai.onnx) opset');
      this.fail();
    }
    if (this.opset < MIN_QOPSET || this.opset > MAX_QOPSET) {
      this.problems.push({ node: '', opset: this.opset, message: `default-domain opset ${this.opset} is not supported for quantized models (supported: ${MIN_QOPSET}–${MAX_QOPSET})` });
      this.fail();
    }
    const g = m.graph;
    if (!g) {
      this.problem(null, 'model has no graph');
      this.fail();
    }

    // --- constants
    for (const t of g.initializer ?? []) {
      const name = t.name ?? '';
      if (!name) {
        this.problem(null, 'initializer without a name');
        continue;
      }
      try {
        this.consts.set(name, tensorFromProto(t, name, this.file));
      } catch (e) {
        if (!(e instanceof ModelError)) throw e;
        this.badConsts.set(name, e.problems.map((p) => p.message).join('; '));
      }
    }
    for (const v of g.input ?? []) {
      const name = v.name ?? '';
      if (!name || this.consts.has(name) || this.badConsts.has(name)) continue;
      const bound = this.options.constInputs?.get(name);
      if (bound) {
        this.consts.set(name, bound);
        continue;
      }
      const p = parseValueInfo(v);
      if (p.error || !p.shape || !p.dtype) {
        this.problem(null, `graph input '${name}' ${p.error ?? 'has unknown rank'}`);
        this.broken.add(name);
        continue;
      }
      if (p.dtype === 'int64' && !this.options.inputValues?.has(name)) {
        this.problem(null, `graph input '${name}' is int64: only float32, int8, uint8 and int32 inputs are supported`);
        this.broken.add(name);
        continue;
      }
      this.graphInputs.push({ name, dtype: p.dtype, shape: p.shape });
      this.info.set(name, { dtype: p.dtype, shape: p.shape });
    }
    for (const v of g.output ?? []) {
      if (!v.name) this.problem(null, 'graph output without a name');
      else this.graphOutputs.push(v.name);
    }
    if (this.graphOutputs.length === 0) this.problem(null, 'graph has no outputs');

    const sorted = this.sortNodes(this.readNodes(g.node ?? []));
    if (this.problems.length) this.fail();
    // nodes nothing needs are dropped before anything is reported about them
    const needed = new Set(this.graphOutputs);
    const alive: boolean[] = new Array(sorted.length).fill(false);
    for (let i = sorted.length - 1; i >= 0; i--) {
      if (!sorted[i].outputs.some((o) => o && needed.has(o))) continue;
      alive[i] = true;
      for (const inp of sorted[i].inputs) if (inp) needed.add(inp);
    }
    const nodes = sorted.filter((_, i) => alive[i]);
    for (const n of nodes) for (const i of n.inputs) if (i) this.consumed.add(i);

    // --- one pass in topological order
    for (const n of nodes) {
      if (n.outputs.every((o) => !o)) continue;
      if (n.inputs.some((i) => i && this.broken.has(i))) {
        for (const o of n.outputs) if (o) this.broken.add(o);
        continue;
      }
      const before = this.problems.length;
      for (const e of n.attrErrors) this.problem(n, e);
      if (this.problems.length === before) {
        if (n.domain === '' && n.op === 'Constant') this.readConstant(n);
        else if ((n.domain === '' && DEFAULT_QUANT_OPS.has(n.op)) || (n.domain === MS && MS_QUANT_OPS.has(n.op))) this.readQuantOp(n);
        else if (n.domain === '') this.readOther(n);
        else this.problem(n, `unsupported (domain '${n.domain}')`);
      }
      if (this.problems.length !== before) for (const o of n.outputs) if (o) this.broken.add(o);
    }
    for (const o of this.graphOutputs) {
      if (this.consts.has(o) && !this.info.has(o)) this.problem(null, `graph output '${o}' is a constant: not supported`);
    }
    if (this.problems.length) this.fail();

    // --- QDQ fusion, dead layers
    this.fuse();
    const live = this.prune();
    return this.assemble(live);
  }

  // -------------------------------------------------------------------------------------------
  // reading

  private readNodes(pnodes: PNode[]): RNode[] {
    return readRawNodes(pnodes, this.file).map((n, i) => ({ ...n, proto: pnodes[i] }));
  }

  /** Topological order (nets/topo.ts), stable for files that are already sorted; reports unknown inputs and cycles. */
  private sortNodes(nodes: RNode[]): RNode[] {
    const producer = new Map<string, number>();
    nodes.forEach((n, i) => {
      for (const o of n.outputs) {
        if (!o) continue;
        if (producer.has(o) || this.consts.has(o) || this.info.has(o)) this.problem(n, `tensor '${o}' is produced more than once`);
        else producer.set(o, i);
      }
    });
    const known = (t: string) => t === '' || producer.has(t) || this.consts.has(t) || this.badConsts.has(t) || this.info.has(t) || this.broken.has(t);
    for (const n of nodes) for (const i of n.inputs) if (!known(i)) this.problem(n, `input '${i}' is not produced by any node, initializer or graph input`);
    for (const o of this.graphOutputs) if (!known(o)) this.problem(null, `graph output '${o}' is not produced by any node`);
    if (this.problems.length) return nodes;
    const { order, cycle } = topoOrder(nodes.length, (i) => nodes[i].inputs.map((t) => producer.get(t) ?? -1));
    if (cycle) this.problem(nodes[cycle.node], 'graph has a cycle through this node');
    return order.map((i) => nodes[i]);
  }

  private readConstant(n: RNode): void {
    const out = n.outputs[0];
    const a = n.attrs;
    let t: Tensor | undefined;
    if (a.value && typeof a.value === 'object' && 'dtype' in a.value) t = a.value;
    else if (typeof a.value_float === 'number') t = { dtype: 'float32', shape: [], data: Float32Array.of(a.value_float) };
    else if (Array.isArray(a.value_floats)) t = { dtype: 'float32', shape: [a.value_floats.length], data: Float32Array.from(a.value_floats as number[]) };
    else if (typeof a.value_int === 'number') t = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(a.value_int)) };
    else if (Array.isArray(a.value_ints)) t = { dtype: 'int64', shape: [a.value_ints.length], data: BigInt64Array.from((a.value_ints as number[]).map(BigInt)) };
    if (t) this.consts.set(out, t);
    else this.problem(n, 'Constant has no supported value attribute (value, value_float(s), value_int(s))');
  }

  /** Binds a graph input that has a value in `inputValues` as a constant (see QImportOptions). */
  private bindInput(name: string): Tensor | undefined {
    const c = this.consts.get(name);
    if (c) return c;
    const v = this.options.inputValues?.get(name);
    if (!v || !this.info.has(name) || !this.graphInputs.some((i) => i.name === name)) return undefined;
    this.consts.set(name, v);
    return v;
  }

  private constOf(n: RNode, name: string | undefined, what: string): Tensor | undefined {
    if (!name) return undefined;
    const c = this.bindInput(name);
    if (c) return c;
    if (this.badConsts.has(name)) this.problem(n, `${what} '${name}': ${this.badConsts.get(name)}`);
    else if (this.graphInputs.some((i) => i.name === name)) this.problem(n, `${what} '${name}' is a graph input: it must be a constant (an initializer, a Constant node, or a value bound to the input)`);
    else this.problem(n, `${what} '${name}' must be a constant (an initializer or a Constant node)`);
    return undefined;
  }

  /** Checks every operand that must be constant, reporting all that are not; false if any. */
  private requireConsts(n: RNode, list: [string | undefined, string][]): boolean {
    let ok = true;
    for (const [name, what] of list) if (name && !this.bindInput(name) && !this.constOf(n, name, what)) ok = false;
    return ok;
  }

  /** Operand positions (input index → description) that must be constant, per quantization op. */
  private static readonly CONST_INPUTS: Record<string, [number, string][]> = {
    QuantizeLinear: [[1, 'y scale'], [2, 'y zero point']],
    DequantizeLinear: [[1, 'x scale'], [2, 'x zero point']],
    QLinearConv: [[1, 'x scale'], [2, 'x zero point'], [3, 'weight'], [4, 'w scale'], [5, 'w zero point'], [6, 'y scale'], [7, 'y zero point'], [8, 'bias']],
    ConvInteger: [[1, 'weight'], [2, 'x zero point'], [3, 'w zero point']],
    QLinearMatMul: [[1, 'a scale'], [2, 'a zero point'], [3, 'B'], [4, 'b scale'], [5, 'b zero point'], [6, 'y scale'], [7, 'y zero point']],
    MatMulInteger: [[1, 'B'], [2, 'a zero point'], [3, 'b zero point']],
    QLinearAdd: [[1, 'A scale'], [2, 'A zero point'], [4, 'B scale'], [5, 'B zero point'], [6, 'C scale'], [7, 'C zero point']],
    QLinearGlobalAveragePool: [[1, 'X scale'], [2, 'X zero point'], [3, 'Y scale'], [4, 'Y zero point']],
    QLinearAveragePool: [[1, 'X scale'], [2, 'X zero point'], [3, 'Y scale'], [4, 'Y zero point']],
    QLinearSigmoid: [[1, 'X scale'], [2, 'X zero point'], [3, 'Y scale'], [4, 'Y zero point']],
  };

  private shapeOf(t: string): number[] | undefined {
    const c = this.consts.get(t);
    if (c) return [...c.shape];
    return this.info.get(t)?.shape;
  }
  private dtypeOf(t: string): DType | undefined {
    return this.consts.get(t)?.dtype ?? this.info.get(t)?.dtype;
  }

  private int(n: RNode, key: string, dflt: number): number {
    const v = n.attrs[key];
    if (v === undefined) return dflt;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.problem(n, `attribute '${key}' should be an int`);
    return dflt;
  }

  /**
   * Scale and zero point operands of a quantization op. `dtypeHint` is the integer type when the
   * zero point is absent (QuantizeLinear: uint8; DequantizeLinear: the input's type).
   * `axisOf`: how per-axis parameters map to an axis (undefined: per-tensor only).
   */
  private readQ(
    n: RNode,
    scaleName: string | undefined,
    zpName: string | undefined,
    what: string,
    dtypeHint: DType | undefined,
    axis: number | undefined,
    allowInt32 = false,
  ): Decl | undefined {
    if (!scaleName) {
      this.problem(n, `${what} scale is required`);
      return undefined;
    }
    const s = this.constOf(n, scaleName, `${what} scale`);
    const z = zpName ? this.constOf(n, zpName, `${what} zero point`) : undefined;
    if (!s || (zpName && !z)) return undefined;
    if (s.dtype !== 'float32') {
      this.problem(n, `${what} scale '${scaleName}' must be float32, got ${s.dtype}`);
      return undefined;
    }
    const dtype = z?.dtype ?? dtypeHint ?? 'uint8';
    if (!isIntDType(dtype) || (dtype === 'int32' && !allowInt32)) {
      this.problem(n, `${what} zero point type ${dtype} is not supported (${allowInt32 ? 'int8, uint8, int32' : 'int8, uint8'})`);
      return undefined;
    }
    const scale = Float32Array.from(s.data as Float32Array);
    if (scale.length === 0 || s.shape.length > 1) {
      this.problem(n, `${what} scale must be a scalar or 1-D, got shape [${s.shape.join(',')}]`);
      return undefined;
    }
    for (const v of scale) {
      if (!(v > 0) || !Number.isFinite(v)) {
        this.problem(n, `${what} scale ${v} must be positive and finite`);
        return undefined;
      }
    }
    const zp = z ? toI32(z) : new Int32Array(scale.length);
    if (zp.length !== scale.length && zp.length !== 1) {
      this.problem(n, `${what} zero point has ${zp.length} values, scale has ${scale.length}`);
      return undefined;
    }
    const fullZp = zp.length === scale.length ? zp : new Int32Array(scale.length).fill(zp[0]);
    if (scale.length > 1 && axis === undefined) {
      this.problem(n, `${what} must be per-tensor (scalar scale), got ${scale.length} scales`);
      return undefined;
    }
    return { scale, zp: fullZp, axis: scale.length > 1 ? axis! : -1, dtype, by: n.name };
  }

  private setInfo(name: string, dtype: DType, shape: readonly number[] | undefined): void {
    this.info.set(name, { dtype, shape: shape ? [...shape] : undefined });
  }

  private layer(entry: Omit<LayerEntry, 'kind'>): void {
    this.entries.push({ kind: 'layer', ...entry });
  }

  // -------------------------------------------------------------------------------------------
  // quantization ops

  private readQuantOp(n: RNode): void {
    const ins = n.inputs;
    const out = n.outputs[0];
    if (!out) return;
    const constInputs: [string | undefined, string][] = (QImporter.CONST_INPUTS[n.op] ?? []).map(([i, what]) => [ins[i], what]);
    if (n.op === 'QLinearConcat') {
      constInputs.push([ins[0], 'Y scale'], [ins[1], 'Y zero point']);
      for (let i = 2; i + 2 < ins.length; i += 3) constInputs.push([ins[i + 1], `input ${(i - 2) / 3} scale`], [ins[i + 2], `input ${(i - 2) / 3} zero point`]);
    }
    if (!this.requireConsts(n, constInputs)) return;
    switch (n.op) {
      case 'QuantizeLinear':
      case 'DequantizeLinear': {
        const quant = n.op === 'QuantizeLinear';
        if (this.int(n, 'block_size', 0) !== 0) {
          this.problem(n, 'blocked quantization (block_size) is not supported');
          return;
        }
        const x = ins[0];
        const xShape = this.shapeOf(x);
        const xType = this.dtypeOf(x);
        if (quant && xType !== 'float32') {
          this.problem(n, `input must be float32, got ${xType}`);
          return;
        }
        if (!quant && !isIntDType(xType)) {
          this.problem(n, `input must be int8, uint8 or int32, got ${xType}`);
          return;
        }
        let axis = this.opset >= 13 || n.domain === MS ? this.int(n, 'axis', 1) : undefined;
        if (axis !== undefined && axis < 0) {
          if (!xShape) {
            this.problem(n, `negative axis ${axis} needs the input's rank, which is unknown`);
            return;
          }
          axis += xShape.length;
        }
        const outCode = quant ? this.int(n, 'output_dtype', 0) : 0;
        const outType = outCode === 0 ? undefined : outCode === 2 ? 'uint8' : outCode === 3 ? 'int8' : null;
        if (outType === null) {
          this.problem(n, `output_dtype ${outCode} is not supported (uint8, int8)`);
          return;
        }
        const decl = this.readQ(n, ins[1], ins[2], quant ? 'y' : 'x', quant ? outType : xType, axis, !quant);
        if (!decl) return;
        if (!quant && decl.dtype !== xType) {
          this.problem(n, `zero point type ${decl.dtype} differs from the input type ${xType}`);
          return;
        }
        if (decl.axis >= 0 && xShape) {
          if (decl.axis >= xShape.length || (xShape[decl.axis] >= 0 && xShape[decl.axis] !== decl.scale!.length)) {
            this.problem(n, `${decl.scale!.length} scales do not match axis ${decl.axis} of input shape [${xShape.join(',')}]`);
            return;
          }
        }
        const c = this.consts.get(x);
        if (c) {
          // fold: constants are quantized / dequantized at import, with the executor's arithmetic
          const q = qparamsOf(decl);
          if (quant) {
            const codes = quantizeLinear(c.data as Float32Array, q, c.shape);
            const data = decl.dtype === 'uint8' ? Uint8Array.from(codes) : decl.dtype === 'int8' ? Int8Array.from(codes) : codes;
            this.consts.set(out, { dtype: decl.dtype, shape: [...c.shape], data });
          } else {
            const f = dequantizeLinear(toI32(c), q, c.shape);
            this.consts.set(out, { dtype: 'float32', shape: [...c.shape], data: f });
            this.dqOf.set(out, { src: x, q: c, decl });
          }
          return;
        }
        if (quant) {
          this.layer({ layer: { kind: 'quantize', name: n.name, inputs: [x], output: out }, decls: [[out, decl]], same: [], q: { x, decl } });
          this.setInfo(out, decl.dtype, xShape);
        } else {
          this.layer({ layer: { kind: 'dequantize', name: n.name, inputs: [x], output: out }, decls: [[x, decl]], same: [], dq: { x, decl } });
          this.setInfo(out, 'float32', xShape);
        }
        return;
      }
      case 'QLinearConv':
      case 'ConvInteger': {
        const q = n.op === 'QLinearConv';
        const [x, w] = q ? [ins[0], ins[3]] : [ins[0], ins[1]];
        const xType = this.dtypeOf(x);
        if (!isIntDType(xType) || xType === 'int32') {
          this.problem(n, `input x must be int8 or uint8, got ${xType}`);
          return;
        }
        const wt = this.constOf(n, w, 'weight');
        if (!wt) return;
        if (wt.dtype !== 'int8' && wt.dtype !== 'uint8') {
          this.problem(n, `weight must be int8 or uint8, got ${wt.dtype}`);
          return;
        }
        if (wt.shape.length !== 4) {
          this.problem(n, `only 2-D convolutions are supported (weight rank ${wt.shape.length})`);
          return;
        }
        if (this.int(n, 'channels_last', 0) !== 0) {
          this.problem(n, 'channels_last=1 is not supported');
          return;
        }
        const M = wt.shape[0];
        let xd: Decl | undefined, wd: Decl | undefined, yd: Decl | undefined;
        if (q) {
          xd = this.readQ(n, ins[1], ins[2], 'x', xType, undefined);
          wd = this.readQ(n, ins[4], ins[5], 'w', wt.dtype, 0);
          yd = this.readQ(n, ins[6], ins[7], 'y', xType, undefined);
        } else {
          const xz = ins[2] ? this.constOf(n, ins[2], 'x zero point') : undefined;
          const wz = ins[3] ? this.constOf(n, ins[3], 'w zero point') : undefined;
          if ((ins[2] && !xz) || (ins[3] && !wz)) return;
          xd = { zp: xz ? toI32(xz) : Int32Array.of(0), axis: -1, dtype: xType, by: n.name };
          const wzp = wz ? toI32(wz) : Int32Array.of(0);
          wd = { scale: new Float32Array(wzp.length).fill(1), zp: wzp, axis: wzp.length > 1 ? 0 : -1, dtype: wt.dtype, by: n.name };
          yd = { scale: Float32Array.of(1), zp: Int32Array.of(0), axis: -1, dtype: 'int32', by: n.name };
          if (xd.zp.length !== 1) {
            this.problem(n, 'x zero point must be a scalar');
            return;
          }
        }
        if (!xd || !wd || !yd) return;
        if (xd.dtype !== xType) {
          this.problem(n, `x zero point type ${xd.dtype} differs from the input type ${xType}`);
          return;
        }
        if (wd.dtype !== wt.dtype) {
          this.problem(n, `w zero point type ${wd.dtype} differs from the weight type ${wt.dtype}`);
          return;
        }
        const wlen = Math.max(wd.zp.length, wd.scale?.length ?? 1);
        if (wlen !== 1 && wlen !== M) {
          this.problem(n, `w has ${wlen} scales / zero points for ${M} output channels`);
          return;
        }
        let bias: Int32Array | null = null;
        if (q && ins[8]) {
          const b = this.constOf(n, ins[8], 'bias');
          if (!b) return;
          if (b.dtype !== 'int32' || b.data.length !== M) {
            this.problem(n, `bias must be int32 with ${M} values, got ${b.dtype}[${b.shape.join(',')}]`);
            return;
          }
          bias = toI32(b);
        }
        const geo = this.convGeometry(n, x, wt.shape, 'Conv');
        if (!geo) return;
        const weight = this.weight(wt, wt.shape, toI32(wt), wd);
        const layer: QLinearLayer = {
          kind: 'conv', name: n.name, inputs: [x], output: out, weight, bias,
          kernel: [wt.shape[2], wt.shape[3]], strides: geo.strides, pads: geo.pads, dilations: geo.dilations, group: geo.group,
          activation: { kind: 'none' },
        };
        this.layer({ layer, decls: [[x, xd], [out, yd]], same: [] });
        this.setInfo(out, yd.dtype, geo.outShape);
        return;
      }
      case 'QLinearMatMul':
      case 'MatMulInteger': {
        const q = n.op === 'QLinearMatMul';
        const [a, b] = q ? [ins[0], ins[3]] : [ins[0], ins[1]];
        const aType = this.dtypeOf(a);
        if (!isIntDType(aType) || aType === 'int32') {
          this.problem(n, `input A must be int8 or uint8, got ${aType}`);
          return;
        }
        if (!this.bindInput(b)) {
          this.problem(n, `input B '${b}' must be a constant: a product of two activations has no integer layer in QuantizedNetwork`);
          return;
        }
        const bt = this.consts.get(b)!;
        if (bt.dtype !== 'int8' && bt.dtype !== 'uint8') {
          this.problem(n, `B must be int8 or uint8, got ${bt.dtype}`);
          return;
        }
        if (bt.shape.length < 2) {
          this.problem(n, `B must have rank ≥ 2, got [${bt.shape.join(',')}]`);
          return;
        }
        const N = bt.shape[bt.shape.length - 1];
        const perColumn = bt.shape.length === 2 ? 0 : undefined;
        let ad: Decl | undefined, bd: Decl | undefined, yd: Decl | undefined;
        if (q) {
          ad = this.readQ(n, ins[1], ins[2], 'a', aType, undefined);
          // B's parameters: scalar, [N] or [1, N] (per column; ORT's IsBQuantParamSupported)
          bd = this.readQ(n, ins[4], ins[5], 'b', bt.dtype, perColumn);
          yd = this.readQ(n, ins[6], ins[7], 'y', aType, undefined);
        } else {
          const az = ins[2] ? this.constOf(n, ins[2], 'a zero point') : undefined;
          const bz = ins[3] ? this.constOf(n, ins[3], 'b zero point') : undefined;
          if ((ins[2] && !az) || (ins[3] && !bz)) return;
          ad = { zp: az ? toI32(az) : Int32Array.of(0), axis: -1, dtype: aType, by: n.name };
          const bzp = bz ? toI32(bz) : Int32Array.of(0);
          if (bzp.length > 1 && perColumn === undefined) {
            this.problem(n, 'per-column b zero points are supported for 2-D B only');
            return;
          }
          bd = { scale: new Float32Array(bzp.length).fill(1), zp: bzp, axis: bzp.length > 1 ? 0 : -1, dtype: bt.dtype, by: n.name };
          yd = { scale: Float32Array.of(1), zp: Int32Array.of(0), axis: -1, dtype: 'int32', by: n.name };
          if (ad.zp.length !== 1) {
            this.problem(n, 'a zero point must be a scalar (per-row zero points are not supported)');
            return;
          }
        }
        if (!ad || !bd || !yd) return;
        if (ad.dtype !== aType) {
          this.problem(n, `a zero point type ${ad.dtype} differs from the input type ${aType}`);
          return;
        }
        if (bd.dtype !== bt.dtype) {
          this.problem(n, `b zero point type ${bd.dtype} differs from B's type ${bt.dtype}`);
          return;
        }
        const blen = Math.max(bd.zp.length, bd.scale?.length ?? 1);
        if (blen !== 1 && blen !== N) {
          this.problem(n, `B has ${blen} scales / zero points for ${N} columns`);
          return;
        }
        if (blen > 1) bd = { ...bd, axis: 0 };
        const tw = transposeLast2(toI32(bt), bt.shape);
        const weight = this.weight(bt, tw.shape, tw.data, bd);
        const aShape = this.shapeOf(a);
        const outShape = aShape ? partialOutputShapes(proxy('MatMul', {}), [aShape, bt.shape])[0] : undefined;
        const layer: QLinearLayer = {
          kind: 'gemm', name: n.name, inputs: [a], output: out, weight, bias: null,
          kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: { kind: 'none' },
        };
        this.layer({ layer, decls: [[a, ad], [out, yd]], same: [] });
        this.setInfo(out, yd.dtype, outShape);
        return;
      }
      case 'QLinearAdd': {
        const ad = this.operandDecl(n, ins[0], ins[1], ins[2], 'A');
        const bd = this.operandDecl(n, ins[3], ins[4], ins[5], 'B');
        const yd = this.readQ(n, ins[6], ins[7], 'C', ad?.dtype, undefined);
        if (!ad || !bd || !yd) return;
        if (yd.dtype !== ad.dtype || bd.dtype !== ad.dtype) {
          this.problem(n, `A, B and C must share one integer type, got ${ad.dtype}, ${bd.dtype}, ${yd.dtype}`);
          return;
        }
        const sa = this.shapeOf(ins[0]);
        const sb = this.shapeOf(ins[3]);
        this.layer({ layer: { kind: 'add', name: n.name, inputs: [ins[0], ins[3]], output: out, activation: { kind: 'none' } }, decls: [[ins[0], ad], [ins[3], bd], [out, yd]], same: [] });
        this.setInfo(out, yd.dtype, sa && sb ? partialOutputShapes(proxy('Add', {}), [sa, sb])[0] : undefined);
        return;
      }
      case 'QLinearConcat': {
        const yd = this.readQ(n, ins[0], ins[1], 'Y', undefined, undefined);
        if ((ins.length - 2) % 3 !== 0 || ins.length < 5) {
          this.problem(n, `expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples, got ${ins.length} inputs`);
          return;
        }
        const axisAttr = n.attrs.axis;
        if (typeof axisAttr !== 'number') {
          this.problem(n, 'axis is required');
          return;
        }
        const xs: string[] = [];
        const decls: [string, Decl][] = [];
        for (let i = 2; i < ins.length; i += 3) {
          const d = this.operandDecl(n, ins[i], ins[i + 1], ins[i + 2], `input ${(i - 2) / 3}`);
          if (!d) return;
          xs.push(ins[i]);
          decls.push([ins[i], d]);
        }
        if (!yd) return;
        // ORT's QLinearConcat reads Y's type from the output: it must be the inputs' type
        for (const [, d] of decls) {
          if (d.dtype !== yd.dtype && ins[1]) {
            this.problem(n, `inputs and output must share one integer type, got ${d.dtype} and ${yd.dtype}`);
            return;
          }
        }
        const yDecl: Decl = ins[1] ? yd : { ...yd, dtype: decls[0][1].dtype };
        const shapes = xs.map((x) => this.shapeOf(x));
        const rank = shapes.find((s) => s)?.length;
        const axis = axisAttr < 0 && rank !== undefined ? axisAttr + rank : axisAttr;
        if (axis < 0) {
          this.problem(n, `negative axis ${axisAttr} needs the input rank, which is unknown`);
          return;
        }
        const outShape = shapes.every((s) => s) ? partialOutputShapes(proxy('Concat', { axis }), shapes)[0] : undefined;
        this.layer({ layer: { kind: 'concat', name: n.name, inputs: xs, output: out, axis }, decls: [...decls, [out, yDecl]], same: [] });
        this.setInfo(out, yDecl.dtype, outShape);
        return;
      }
      case 'QLinearGlobalAveragePool':
      case 'QLinearAveragePool':
      case 'QLinearSigmoid': {
        const x = ins[0];
        const xType = this.dtypeOf(x);
        if (xType !== 'int8' && xType !== 'uint8') {
          this.problem(n, `input must be int8 or uint8, got ${xType}`);
          return;
        }
        const xd = this.readQ(n, ins[1], ins[2], 'X', xType, undefined);
        const yd = this.readQ(n, ins[3], ins[4], 'Y', xType, undefined);
        if (!xd || !yd) return;
        if (xd.dtype !== xType || yd.dtype !== xType) {
          this.problem(n, `zero point types (${xd.dtype}, ${yd.dtype}) must match the input type ${xType}`);
          return;
        }
        if (n.op !== 'QLinearSigmoid' && this.int(n, 'channels_last', 0) !== 0) {
          this.problem(n, 'channels_last=1 is not supported');
          return;
        }
        const xShape = this.shapeOf(x);
        if (n.op === 'QLinearSigmoid') {
          const inQ = qparamsOf(xd);
          const table = buildLut('sigmoid', inQ, qparamsOf(yd), 2 ** inQ.bits);
          this.layer({
            layer: { kind: 'activation', name: n.name, inputs: [x], output: out, activation: { kind: 'lut', fn: 'sigmoid', inQ, entries: 2 ** inQ.bits, table } },
            decls: [[x, xd], [out, yd]],
            same: [],
          });
          this.setInfo(out, xType, xShape);
          return;
        }
        if (n.op === 'QLinearGlobalAveragePool') {
          if (xShape && xShape.length !== 4) {
            this.problem(n, `only 2-D pooling (rank-4 input) is supported, got rank ${xShape.length}`);
            return;
          }
          const layer: QPoolLayer = {
            kind: 'globalavgpool', name: n.name, inputs: [x], output: out, kernel: [0, 0], strides: [1, 1], pads: [0, 0, 0, 0],
            dilations: [1, 1], ceilMode: false, countIncludePad: false,
          };
          this.layer({ layer, decls: [[x, xd], [out, yd]], same: [] });
          this.setInfo(out, xType, xShape ? [xShape[0], xShape[1], 1, 1] : undefined);
          return;
        }
        const norm = this.normalizeProxy(n, 'AveragePool', [x], xShape ?? [-1, -1, -1, -1], xType);
        if (!norm) return;
        const pool = this.poolLayer(n, norm.node, 'avgpool', x, out);
        if (!pool) return;
        this.layer({ layer: pool, decls: [[x, xd], [out, yd]], same: [] });
        this.setInfo(out, xType, norm.outShape);
        return;
      }
      default:
        this.problem(n, 'unsupported');
    }
  }

  /** Parameters of an operand that may be an activation or a constant integer tensor. */
  private operandDecl(n: RNode, x: string, s: string, z: string, what: string): Decl | undefined {
    const t = this.dtypeOf(x);
    if (t !== 'int8' && t !== 'uint8') {
      this.problem(n, `${what} must be int8 or uint8, got ${t}`);
      return undefined;
    }
    const d = this.readQ(n, s, z, what, t, undefined);
    if (d && d.dtype !== t) {
      this.problem(n, `${what} zero point type ${d.dtype} differs from the tensor type ${t}`);
      return undefined;
    }
    return d;
  }

  private weight(t: Tensor, shape: readonly number[], data: Int32Array, d: Decl): QWeight {
    const q = qparamsOf(d);
    return { data, shape: [...shape], q: { ...q, axis: q.scale.length > 1 ? 0 : -1, signed: t.dtype === 'int8' } };
  }

  /** Conv attributes of a QLinearConv / ConvInteger, normalized by the float importer through a proxy Conv. */
  private convGeometry(
    n: RNode,
    x: string,
    wShape: readonly number[],
    op: 'Conv',
  ): { strides: [number, number]; pads: [number, number, number, number]; dilations: [number, number]; group: number; outShape?: number[] } | undefined {
    const xShape = this.shapeOf(x) ?? wShape.map(() => -1);
    const w = `${n.name}::w`;
    const res = this.importOne(
      n,
      { name: n.name, op_type: op, input: [x, w], output: [n.outputs[0]], attribute: n.proto.attribute.filter((a) => a.name !== 'channels_last') },
      [
        { name: x, dtype: 'float32', shape: xShape },
        { name: w, dtype: 'float32', shape: wShape },
      ],
      [n.outputs[0]],
    );
    const node = res?.node;
    if (!node) return undefined;
    const a = node.attrs;
    const s = a.strides as number[];
    const p = a.pads as number[];
    const d = a.dilations as number[];
    const group = a.group as number;
    const C = xShape[1];
    if (wShape[0] % group !== 0 || (C >= 0 && C !== wShape[1] * group)) {
      this.problem(n, `group ${group} does not fit input channels ${C} and weight shape [${wShape.join(',')}]`);
      return undefined;
    }
    return { strides: [s[0], s[1]], pads: [p[0], p[1], p[2], p[3]], dilations: [d[0], d[1]], group, outShape: res.outShapes.get(n.outputs[0]) };
  }

  private normalizeProxy(n: RNode, op: string, inputs: string[], xShape: number[] | undefined, dtype: DType): { node: Node; outShape?: number[] } | undefined {
    const res = this.importOne(
      n,
      { name: n.name, op_type: op, input: inputs, output: [n.outputs[0]], attribute: n.proto.attribute.filter((a) => a.name !== 'channels_last') },
      inputs.map((i) => ({ name: i, dtype, shape: xShape })),
      [n.outputs[0]],
    );
    if (!res?.node) return undefined;
    return { node: res.node, outShape: res.outShapes.get(n.outputs[0]) };
  }

  private poolLayer(n: { name: string; op: string }, node: Node, kind: 'maxpool' | 'avgpool', x: string, out: string): QPoolLayer | undefined {
    const a = node.attrs;
    const k = a.kernel_shape as number[];
    if (k.length !== 2) {
      this.problem(n, `only 2-D pooling is supported (kernel_shape has ${k.length} entries)`);
      return undefined;
    }
    const s = a.strides as number[];
    const p = a.pads as number[];
    const d = (a.dilations as number[] | undefined) ?? [1, 1];
    return {
      kind, name: n.name, inputs: [x], output: out, kernel: [k[0], k[1]], strides: [s[0], s[1]], pads: [p[0], p[1], p[2], p[3]],
      dilations: [d[0], d[1]], ceilMode: a.ceil_mode === 1, countIncludePad: a.count_include_pad === 1,
    };
  }

  // -------------------------------------------------------------------------------------------
  // every other default-domain node: normalized by nets/onnx's importer

  /**
   * Imports `proto` as a one-node model whose inputs are `ins` (constants become initializers)
   * and whose outputs are `outs`. Problems are recorded against the original node.
   */
  private importOne(
    n: RNode,
    proto: { name: string; op_type: string; input: string[]; output: string[]; attribute: unknown[] },
    ins: { name: string; dtype: DType; shape?: readonly number[] }[],
    outs: string[],
  ): { node?: Node; graph: Graph; outShapes: Map<string, number[]> } | undefined {
    const opset = this.opset > FLOAT_MAX_OPSET && STABLE_SINCE_17.has(proto.op_type) ? FLOAT_MAX_OPSET : this.opset;
    const initializer: Record<string, unknown>[] = [];
    const input: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    for (const i of ins) {
      if (!i.name || seen.has(i.name)) continue;
      seen.add(i.name);
      const c = this.consts.get(i.name);
      if (c) {
        initializer.push(tensorToProto(c, i.name));
        continue;
      }
      const tt: Record<string, unknown> = { elem_type: dtypeToOnnx(i.dtype) };
      if (i.shape) tt.shape = { dim: i.shape.map((d, j) => (d >= 0 ? { dim_value: d } : { dim_param: `d${j}` })) };
      input.push({ name: i.name, type: { tensor_type: tt } });
    }
    const model = {
      ir_version: this.irVersion,
      opset_import: [{ domain: '', version: opset }],
      graph: { name: n.name, node: [{ ...proto, domain: '' }], initializer, input, output: outs.map((o) => ({ name: o })) },
    };
    let graph: Graph;
    try {
      graph = importOnnx(ModelProto.encode(ModelProto.fromObject(model)).finish(), this.file);
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      for (const p of e.problems) {
        this.problems.push({ node: n.name, op: n.op, opset: n.domain === '' ? this.opset : this.msOpset, message: p.node && p.node !== n.name ? `${p.node}: ${p.message}` : p.message });
      }
      return undefined;
    }
    const outShapes = new Map<string, number[]>();
    for (const o of graph.outputs) outShapes.set(o.name, [...o.shape]);
    return { node: graph.nodes[0], graph, outShapes };
  }

  private readOther(n: RNode): void {
    const outs = n.outputs.filter((o) => o && (this.consumed.has(o) || this.graphOutputs.includes(o)));
    if (outs.length === 0) return;
    const ins: { name: string; dtype: DType; shape?: readonly number[] }[] = [];
    n.inputs.forEach((i, k) => {
      if (i && (this.dtypeOf(i) === 'int64' || (k > 0 && CONST_OPERANDS.has(n.op)))) this.bindInput(i);
    });
    for (const i of n.inputs) {
      if (!i) continue;
      const dtype = this.dtypeOf(i);
      if (!dtype) {
        this.problem(n, `input '${i}' is not available`);
        return;
      }
      ins.push({ name: i, dtype, shape: this.shapeOf(i) });
    }
    const res = this.importOne(n, { name: n.name, op_type: n.op, input: n.inputs, output: n.outputs, attribute: n.proto.attribute }, ins, outs);
    if (!res) return;
    const { node, graph } = res;
    for (const [k, v] of graph.initializers) if (!this.consts.has(k)) this.consts.set(k, v);
    if (!node) {
      // folded to constants (shape arithmetic)
      for (const o of outs) {
        const c = graph.initializers.get(o);
        if (c) this.consts.set(o, c);
        else this.problem(n, `output '${o}' could not be computed`);
      }
      return;
    }
    const out = node.outputs[0];
    const dataIn = node.inputs.filter((i) => i && !this.consts.has(i));
    const intIn = dataIn.filter((i) => isIntDType(this.dtypeOf(i)));
    const outShape = res.outShapes.get(out);
    if (intIn.length === 0) {
      for (const i of node.inputs) {
        const t = i ? this.dtypeOf(i) : undefined;
        if (t && t !== 'float32' && !this.consts.has(i)) {
          this.problem(n, `input '${i}' is ${t}: float ops read float32 tensors`);
          return;
        }
      }
      this.entries.push({ kind: 'float', node });
      this.setInfo(out, 'float32', outShape);
      return;
    }
    const x = node.inputs[0];
    const xType = this.dtypeOf(x) as IntDType;
    const bad = () => this.problem(n, `${n.op} on integer (${xType}) tensors is not supported (integer tensors go through Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity, MaxPool and Concat only)`);
    if (dataIn.length !== intIn.length || !isIntDType(xType)) {
      bad();
      return;
    }
    if (INT_LAYOUT.has(node.op)) {
      const layer = this.layoutLayer(n, node, outShape);
      if (!layer) return;
      this.layer({ layer, decls: [], same: [[x, out]] });
      this.setInfo(out, xType, outShape);
      return;
    }
    if (node.op === 'MaxPool') {
      const pool = this.poolLayer(n, node, 'maxpool', x, out);
      if (!pool) return;
      this.layer({ layer: pool, decls: [], same: [[x, out]] });
      this.setInfo(out, xType, outShape);
      return;
    }
    if (node.op === 'Concat') {
      if (node.inputs.some((i) => this.dtypeOf(i) !== xType)) {
        bad();
        return;
      }
      const rank = outShape?.length;
      const ax = node.attrs.axis as number;
      const axis = ax < 0 && rank !== undefined ? ax + rank : ax;
      if (axis < 0) {
        this.problem(n, `negative axis ${ax} needs the input rank, which is unknown`);
        return;
      }
      this.layer({ layer: { kind: 'concat', name: n.name, inputs: [...node.inputs], output: out, axis }, decls: [], same: node.inputs.map((i) => [i, out] as [string, string]) });
      this.setInfo(out, xType, outShape);
      return;
    }
    bad();
  }

  private layoutLayer(n: { name: string; op: string }, node: Node, outShape: number[] | undefined): QLayer | undefined {
    const base = { name: n.name, inputs: [node.inputs[0]], output: node.outputs[0] };
    switch (node.op) {
      case 'Reshape':
        if (node.attrs.allowzero === 1) {
          this.problem(n, 'allowzero=1 is not supported on integer tensors');
          return undefined;
        }
        return { kind: 'reshape', ...base, param: [...(node.attrs.shape as number[])] };
      case 'Flatten':
        return { kind: 'flatten', ...base, param: [node.attrs.axis as number] };
      case 'Transpose': {
        const perm = node.attrs.perm as number[] | undefined;
        if (!perm) {
          this.problem(n, 'perm is absent and the input rank is unknown');
          return undefined;
        }
        return { kind: 'transpose', ...base, param: [...perm] };
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        if (!outShape || outShape.filter((d) => d < 0).length > 1) {
          this.problem(n, `the output shape [${outShape?.join(',') ?? '?'}] must be known up to one dimension`);
          return undefined;
        }
        return { kind: 'reshape', ...base, param: outShape.map((d) => (d < 0 ? -1 : d)) };
      }
      default:
        return { kind: 'identity', ...base, param: [] };
    }
  }

  // -------------------------------------------------------------------------------------------
  // QDQ fusion

  private fuse(): void {
    const entries = this.entries;
    const producer = new Map<string, Entry>();
    const consumers = new Map<string, Entry[]>();
    const outsOf = (e: Entry) => (e.kind === 'layer' ? [e.layer.output] : e.node.outputs.filter(Boolean));
    const insOf = (e: Entry) => (e.kind === 'layer' ? e.layer.inputs : e.node.inputs.filter(Boolean));
    for (const e of entries) {
      for (const o of outsOf(e)) producer.set(o, e);
      for (const i of new Set(insOf(e))) {
        const l = consumers.get(i);
        if (l) l.push(e);
        else consumers.set(i, [e]);
      }
    }
    const gone = new Set<Entry>();
    const replace = new Map<Entry, Entry>();
    const outputs = new Set(this.graphOutputs);
    const single = (t: string): Entry | undefined => {
      if (outputs.has(t)) return undefined;
      const c = consumers.get(t);
      return c && c.length === 1 && !gone.has(c[0]) && !replace.has(c[0]) ? c[0] : undefined;
    };
    /** t is the output of a live, per-tensor DequantizeLinear */
    const dqIn = (t: string): { x: string; decl: Decl } | undefined => {
      const p = producer.get(t);
      if (!p || p.kind !== 'layer' || !p.dq || gone.has(p) || !perTensor(p.dq.decl)) return undefined;
      return p.dq;
    };
    /** an activation DQ, or a DQ'd integer constant (per-tensor) */
    const operand = (t: string): { x: string; decl: Decl } | undefined => {
      const d = dqIn(t);
      if (d) return d;
      const c = this.dqOf.get(t);
      return c && perTensor(c.decl) && c.decl.dtype !== 'int32' ? { x: c.src, decl: c.decl } : undefined;
    };
    /** the single consumer of t, when it is a per-tensor QuantizeLinear */
    const qOf = (t: string): LayerEntry | undefined => {
      const c = single(t);
      return c && c.kind === 'layer' && c.q && perTensor(c.q.decl) ? c : undefined;
    };

    for (const e of entries) {
      if (e.kind !== 'float' || gone.has(e)) continue;
      const node = e.node;
      const y = node.outputs[0];
      const op = node.op;
      if (op === 'Conv' || op === 'Gemm' || op === 'MatMul') {
        const x = dqIn(node.inputs[0]);
        const w = this.dqOf.get(node.inputs[1]);
        if (!x || !w || (w.q.dtype !== 'int8' && w.q.dtype !== 'uint8')) continue;
        let bias: Int32Array | null = null;
        if (node.inputs[2]) {
          const b = this.dqOf.get(node.inputs[2]);
          if (!b || b.q.dtype !== 'int32' || b.decl.zp.some((v) => v !== 0)) continue;
          bias = toI32(b.q);
        }
        let act: Node | undefined;
        let q = qOf(y);
        if (!q) {
          const c = single(y);
          if (!c || c.kind !== 'float' || (c.node.op !== 'Relu' && c.node.op !== 'Clip')) continue;
          act = c.node;
          q = qOf(act.outputs[0]);
          if (!q) continue;
        }
        const yd = q.q!.decl;
        const layer = this.fusedLinear(node, x, w, bias, act, yd, q.layer.output);
        if (!layer) continue;
        gone.add(e);
        if (act) gone.add(consumers.get(y)![0]);
        replace.set(q, { kind: 'layer', layer, decls: [[x.x, x.decl], [layer.output, yd]], same: [] });
        continue;
      }
      if (op === 'Add' || op === 'Concat') {
        const ops = node.inputs.map((i) => operand(i));
        if (ops.some((o) => !o) || !ops.some((_, i) => dqIn(node.inputs[i]))) continue;
        const q = qOf(y);
        if (!q) continue;
        const yd = q.q!.decl;
        if (ops.some((o) => o!.decl.dtype !== yd.dtype)) continue;
        const xs = ops.map((o) => o!.x);
        const rank = this.shapeOf(y)?.length;
        let layer: QLayer;
        if (op === 'Add') layer = { kind: 'add', name: node.name, inputs: xs, output: q.layer.output, activation: { kind: 'none' } };
        else {
          const ax = node.attrs.axis as number;
          if (ax < 0 && rank === undefined) continue;
          layer = { kind: 'concat', name: node.name, inputs: xs, output: q.layer.output, axis: ax < 0 ? ax + rank! : ax };
        }
        gone.add(e);
        replace.set(q, { kind: 'layer', layer, decls: [...ops.map((o) => [o!.x, o!.decl] as [string, Decl]), [q.layer.output, yd]], same: [] });
        continue;
      }
      if (op === 'AveragePool' || op === 'GlobalAveragePool' || op === 'Sigmoid') {
        const x = dqIn(node.inputs[0]);
        const q = x && qOf(y);
        if (!x || !q || q.q!.decl.dtype !== x.decl.dtype || x.decl.dtype === 'int32') continue;
        const yd = q.q!.decl;
        let layer: QLayer | undefined;
        if (op === 'Sigmoid') {
          const inQ = qparamsOf(x.decl);
          const table = buildLut('sigmoid', inQ, qparamsOf(yd), 2 ** inQ.bits);
          layer = { kind: 'activation', name: node.name, inputs: [x.x], output: q.layer.output, activation: { kind: 'lut', fn: 'sigmoid', inQ, entries: 2 ** inQ.bits, table } };
        } else if (op === 'GlobalAveragePool') {
          if (this.shapeOf(node.inputs[0])?.length !== 4) continue;
          layer = {
            kind: 'globalavgpool', name: node.name, inputs: [x.x], output: q.layer.output, kernel: [0, 0], strides: [1, 1], pads: [0, 0, 0, 0],
            dilations: [1, 1], ceilMode: false, countIncludePad: false,
          };
        } else {
          if ((node.attrs.kernel_shape as number[]).length !== 2) continue;
          layer = this.poolLayer(node, node, 'avgpool', x.x, q.layer.output);
        }
        if (!layer) continue;
        gone.add(e);
        replace.set(q, { kind: 'layer', layer, decls: [[x.x, x.decl], [q.layer.output, yd]], same: [] });
        continue;
      }
      if (INT_LAYOUT.has(op) || op === 'MaxPool') {
        const x = dqIn(node.inputs[0]);
        const q = x && qOf(y);
        if (!x || !q || !sameDecl(x.decl, q.q!.decl)) continue;
        if (op === 'MaxPool' && (node.attrs.kernel_shape as number[]).length !== 2) continue;
        const before = this.problems.length;
        const renamed: Node = { ...node, inputs: [x.x, ...node.inputs.slice(1)], outputs: [q.layer.output] };
        const layer = op === 'MaxPool' ? this.poolLayer(node, renamed, 'maxpool', x.x, q.layer.output) : this.layoutLayer(node, renamed, this.shapeOf(y));
        if (!layer) {
          this.problems.length = before; // stays a float node then
          continue;
        }
        gone.add(e);
        replace.set(q, { kind: 'layer', layer, decls: [], same: [[x.x, q.layer.output]] });
      }
    }
    const next: Entry[] = [];
    for (const e of entries) {
      if (gone.has(e)) continue;
      next.push(replace.get(e) ?? e);
    }
    entries.length = 0;
    entries.push(...next);
  }

  private fusedLinear(
    node: Node,
    x: { x: string; decl: Decl },
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
      weight = this.weight(wt, wt.shape, toI32(wt), wd);
      N = wt.shape[0];
    } else {
      if (wt.shape.length !== 2) return undefined;
      const transB = node.op === 'Gemm' && node.attrs.transB === 1;
      if (node.op === 'Gemm' && (node.attrs.transA !== 0 || node.attrs.alpha !== 1 || (bias && node.attrs.beta !== 1))) return undefined;
      if (perCh && wd.axis !== (transB ? 0 : 1)) return undefined;
      const tw = transB ? { data: toI32(wt), shape: [...wt.shape] } : transposeLast2(toI32(wt), wt.shape);
      weight = this.weight(wt, tw.shape, tw.data, { ...wd, axis: 0 });
      N = tw.shape[0];
    }
    if (bias && bias.length !== N) return undefined;
    if (act && node.op === 'Gemm' && this.shapeOf(node.inputs[0])?.length !== 2) return undefined;
    const activation = act ? this.clampOf(act, yd) : { kind: 'none' as const };
    if (!activation) return undefined;
    return { kind: node.op === 'Conv' ? 'conv' : 'gemm', name: node.name, inputs: [x.x], output: out, weight, bias, ...geo, activation };
  }

  /**
   * Relu / Clip between the linear op and its QuantizeLinear, as an integer clamp of the output:
   * Q(relu(y)) = max(Q(y), Q(0)) and Q(clip(y, a, b)) = clamp(Q(y), Q(a), Q(b)) exactly, since
   * QuantizeLinear is monotone — the bounds are QuantizeLinear of the real bounds (half-even).
   */
  private clampOf(act: Node, yd: Decl): QActivation | undefined {
    const q = qparamsOf(yd);
    if (act.op === 'Relu') return clampBounds('relu', q, { rounding: 'even' });
    const min = act.attrs.min as number;
    const max = act.attrs.max as number;
    if (min > max) return undefined;
    if (min === 0 && max === 6) return clampBounds('relu6', q, { rounding: 'even' });
    if (min === 0 && max === Infinity) return clampBounds('relu', q, { rounding: 'even' });
    return clampBounds('clip', q, { min, max, rounding: 'even' });
  }

  // -------------------------------------------------------------------------------------------

  private prune(): Entry[] {
    const needed = new Set(this.graphOutputs);
    const keep: boolean[] = new Array(this.entries.length).fill(false);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      const outs = e.kind === 'layer' ? [e.layer.output] : e.node.outputs;
      if (!outs.some((o) => o && needed.has(o))) continue;
      keep[i] = true;
      for (const inp of e.kind === 'layer' ? e.layer.inputs : e.node.inputs) if (inp) needed.add(inp);
    }
    return this.entries.filter((_, i) => keep[i]);
  }

  private assemble(live: Entry[]): QuantizedNetwork {
    // union-find over pass-through integer tensors
    const parent = new Map<string, string>();
    const find = (t: string): string => {
      let r = t;
      while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
      let c = t;
      while (c !== r) {
        const nx = parent.get(c)!;
        parent.set(c, r);
        c = nx;
      }
      return r;
    };
    const intTensors = new Set<string>();
    const declsBy = new Map<string, Decl[]>();
    const layers: QLayer[] = [];
    const constants = new Map<string, Tensor>();
    for (const e of live) {
      if (e.kind === 'float') {
        const node = e.node;
        layers.push({ kind: 'float', name: node.name, inputs: node.inputs.filter(Boolean), output: node.outputs[0], node });
        for (const i of node.inputs) if (i && this.consts.has(i)) constants.set(i, this.consts.get(i)!);
        continue;
      }
      layers.push(e.layer);
      for (const i of e.layer.inputs) if (this.consts.has(i)) constants.set(i, this.consts.get(i)!);
      for (const [a, b] of e.same) {
        intTensors.add(a).add(b);
        const ra = find(a);
        const rb = find(b);
        if (ra !== rb) parent.set(rb, ra);
      }
      for (const [t] of e.decls) intTensors.add(t);
    }
    for (const e of live) {
      if (e.kind !== 'layer') continue;
      for (const [t, d] of e.decls) {
        const r = find(t);
        const l = declsBy.get(r);
        if (l) l.push(d);
        else declsBy.set(r, [d]);
      }
    }
    const tensors = new Map<string, QTensorInfo>();
    const rootDecl = new Map<string, Decl>();
    for (const t of intTensors) {
      const r = find(t);
      if (!rootDecl.has(r)) {
        const ds = declsBy.get(r) ?? [];
        const dtype = this.dtypeOf(t) as IntDType;
        let merged: Decl = { zp: Int32Array.of(0), axis: -1, dtype, by: '' };
        let first: Decl | undefined;
        for (const d of ds) {
          if (!first) {
            first = d;
            merged = { ...d };
            continue;
          }
          const clash = d.dtype !== merged.dtype || d.axis !== merged.axis || !sameI32(d.zp, merged.zp) || (d.scale && merged.scale && !sameF32(d.scale, merged.scale));
          if (clash) {
            this.problems.push({
              node: d.by,
              opset: this.opset,
              message: `tensor '${t}' is read with different quantization parameters here (${fmtDecl(d)}) and by node '${first.by}' (${fmtDecl(first)})`,
            });
            continue;
          }
          if (!merged.scale && d.scale) merged.scale = d.scale;
        }
        rootDecl.set(r, merged);
      }
      const d = rootDecl.get(r)!;
      const actual = this.dtypeOf(t);
      if (actual !== d.dtype) {
        this.problems.push({ node: d.by, opset: this.opset, message: `tensor '${t}' is ${actual} but its zero point is ${d.dtype}` });
        continue;
      }
      tensors.set(t, { name: t, shape: this.shapeOf(t) ?? [], q: qparamsOf(d) });
    }
    if (this.problems.length) this.fail();

    const dtypeIO = (name: string): 'float32' | 'int8' | 'uint8' | 'int32' => {
      const d = this.dtypeOf(name);
      return d === 'int64' || d === undefined ? 'float32' : d;
    };
    const usedInputs = new Set<string>();
    for (const l of layers) for (const i of l.inputs) usedInputs.add(i);
    for (const o of this.graphOutputs) usedInputs.add(o);
    const inputs = this.graphInputs
      .filter((i) => usedInputs.has(i.name) && !this.consts.has(i.name))
      .map((i) => ({ name: i.name, dtype: dtypeIO(i.name), shape: [...i.shape] }));
    const outputs = this.graphOutputs.map((o) => ({ name: o, dtype: dtypeIO(o), shape: this.shapeOf(o) ?? [] }));
    // declared output shapes win over inferred ones when the file has them
    for (const v of this.model.graph?.output ?? []) {
      const p = parseValueInfo(v);
      const o = outputs.find((x) => x.name === v.name);
      if (o && p.shape && (o.shape.length === 0 || o.shape.length === p.shape.length)) o.shape = p.shape.map((d, i) => (d >= 0 ? d : (o.shape[i] ?? -1)));
    }

    const meta: Record<string, string> = {};
    for (const e of this.model.metadata_props ?? []) if (e.key) meta[e.key] = e.value ?? '';
    if (this.file) meta.source = this.file;
    const producer = [this.model.producer_name, this.model.producer_version].filter(Boolean).join(' ');
    if (producer) meta.producer = producer;
    meta.opset = String(this.opset);
    return {
      name: this.model.graph?.name || (this.file ? basename(this.file) : 'graph'),
      inputs,
      outputs,
      tensors,
      layers,
      floatConstants: constants,
      meta,
    };
  }
}

function proxy(op: string, attrs: Record<string, AttrValue>): Node {
  return { name: op, op: op as Node['op'], inputs: [], outputs: [], attrs };
}

/** Imports a quantized ONNX model (QOperator or QDQ form). `file` only labels errors and provenance. */
export function importQuantizedOnnx(bytes: Uint8Array, file?: string, options: QImportOptions = {}): QuantizedNetwork {
  let model: PModel;
  try {
    model = ModelProto.decode(bytes) as unknown as PModel;
  } catch (e) {
    throw new ModelError([{ node: '', message: `not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})` }], file);
  }
  return new QImporter(model, file, options).run();
}

export function loadQuantizedOnnx(path: string, options: QImportOptions = {}): QuantizedNetwork {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelError([{ node: '', message: `cannot read: ${(e as Error).message}` }], path);
  }
  return importQuantizedOnnx(bytes, path, options);
}
