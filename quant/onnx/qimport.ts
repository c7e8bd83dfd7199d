/**
 * Quantized ONNX → QuantizedNetwork (qnet/network.ts).
 *
 * Two ways of writing a quantized network in ONNX are read:
 *   - QOperator form: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger,
 *     MatMulInteger (a constant B: a gemm layer; a B fed at run time — Q·Kᵀ, P·V — an activation ×
 *     activation matmul layer), and the com.microsoft QLinearAdd / QLinearConcat /
 *     QLinearGlobalAveragePool / QLinearAveragePool / QLinearSigmoid / QLinearSoftmax (its `opset`
 *     attribute picks the axis semantics); integer MaxPool, Concat, Reshape, Flatten, Transpose,
 *     Squeeze, Unsqueeze and Identity; Cast(int32) + Gather of a constant 256-entry table (how
 *     the exporter writes swish, tanh, … LUTs: gather-lut.ts).
 *   - QDQ form: DequantizeLinear → op → QuantizeLinear islands are turned into the integer layer
 *     onnxruntime fuses them into — Conv / Gemm / MatMul (optionally followed by Relu or Clip,
 *     which become the requant unit's clamp) with constant DQ'd weights and an int32 DQ'd bias;
 *     MatMul of two activation DQs (a matmul layer); Softmax (the `ort` softmax, as ORT fuses it
 *     into QLinearSoftmax); LayerNormalization (the `float` layernorm: ORT keeps it in float);
 *     Add; Concat; AveragePool; GlobalAveragePool; Sigmoid; and the data-movement ops and MaxPool
 *     when the DQ and the Q carry the same parameters. Whatever is left between a DQ and a Q
 *     stays a 'float' layer, run by nets/fp32's execNode.
 *
 * Pipeline (every problem collected before one ModelError is thrown), over one QImportState
 * (qstate.ts):
 *   1. decode; initializers and Constant nodes become constants; topological sort (this file).
 *   2. one pass in order: quantization ops are read by their reader (qreaders.ts, one per op;
 *      scales and zero points must be constants); DequantizeLinear of a constant is folded (the
 *      integer source is remembered so QDQ weights and biases can be found); every other
 *      default-domain node goes through nets/onnx's importer as a one-node model (float-ops.ts),
 *      which normalizes it exactly as a float model would be (attributes filled in, operands
 *      moved to attributes, shape chains folded).
 *   3. QDQ fusion (qdq.ts, one fuser per op), then dead-layer removal.
 *   4. parameter assembly (assemble.ts): quantization parameters per integer tensor — each layer
 *      declares those of its operands; data-movement layers and MaxPool tie input and output
 *      together; a tensor declared twice with different parameters is an error.
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
import { ModelError } from '../../nets/errors.js';
import type { Node, Tensor } from '../../nets/graph.js';
import { parseValueInfo, readModelFile, readRawNodes } from '../../nets/onnx/decode.js';
import { fuse as fuseFloat, type FuseContext } from '../../nets/onnx/fuse.js';
import type { WNode } from '../../nets/onnx/state.js';
import { ModelProto, toNum, type PGraph, type PModel } from '../../nets/onnx/schema.js';
import { tensorFromProto } from '../../nets/onnx/tensor.js';
import { topoOrder } from '../../nets/topo.js';
import type { QuantizedNetwork } from '../../qnet/network.js';
import { assemble } from './assemble.js';
import { MS } from './common.js';
import { readOther } from './float-ops.js';
import { checkLutIndices, readLutGather, readLutIndexCast } from './gather-lut.js';
import { fuse } from './qdq.js';
import { quantOpReader, readQuantOp } from './qreaders.js';
import { QImportState, type Entry, type FloatEntry, type QImportOptions, type RNode } from './qstate.js';

export type { QImportOptions } from './qstate.js';

/** Default-domain opsets this importer reads (QuantizeLinear appeared in 10). */
export const MIN_QOPSET = 10;
export const MAX_QOPSET = 21;

/** Opsets, IR version and the graph; a model this importer cannot read at all fails here. */
function readHeader(st: QImportState): PGraph {
  const m = st.model;
  for (const o of m.opset_import ?? []) {
    const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    if (d === '') st.opset = toNum(o.version);
    if (d === MS) st.msOpset = toNum(o.version);
  }
  st.irVersion = Math.max(3, Math.min(toNum(m.ir_version) || 8, 9));
  if (!st.opset) {
    st.problem(null, 'model imports no default-domain (ai.onnx) opset');
    st.fail();
  }
  if (st.opset < MIN_QOPSET || st.opset > MAX_QOPSET) {
    st.problems.push({ node: '', opset: st.opset, message: `default-domain opset ${st.opset} is not supported for quantized models (supported: ${MIN_QOPSET}–${MAX_QOPSET})` });
    st.fail();
  }
  const g = m.graph;
  if (!g) {
    st.problem(null, 'model has no graph');
    st.fail();
  }
  return g;
}

/** Initializers (constants), graph inputs (or the constants bound to them) and graph outputs. */
function readSources(st: QImportState, g: PGraph): void {
  // --- constants
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    if (!name) {
      st.problem(null, 'initializer without a name');
      continue;
    }
    try {
      st.consts.set(name, tensorFromProto(t, name, st.file));
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      st.badConsts.set(name, e.problems.map((p) => p.message).join('; '));
    }
  }
  for (const v of g.input ?? []) {
    const name = v.name ?? '';
    if (!name || st.consts.has(name) || st.badConsts.has(name)) continue;
    const bound = st.options.constInputs?.get(name);
    if (bound) {
      st.consts.set(name, bound);
      continue;
    }
    const p = parseValueInfo(v);
    if (p.error || !p.shape || !p.dtype) {
      st.problem(null, `graph input '${name}' ${p.error ?? 'has unknown rank'}`);
      st.broken.add(name);
      continue;
    }
    if (p.dtype === 'int64' && !st.options.inputValues?.has(name)) {
      st.problem(null, `graph input '${name}' is int64: only float32, int8, uint8 and int32 inputs are supported`);
      st.broken.add(name);
      continue;
    }
    st.graphInputs.push({ name, dtype: p.dtype, shape: p.shape });
    st.info.set(name, { dtype: p.dtype, shape: p.shape });
  }
  for (const v of g.output ?? []) {
    if (!v.name) st.problem(null, 'graph output without a name');
    else st.graphOutputs.push(v.name);
  }
  if (st.graphOutputs.length === 0) st.problem(null, 'graph has no outputs');
}

/** Topological order (nets/topo.ts), stable for files that are already sorted; reports unknown inputs and cycles. */
function sortNodes(st: QImportState, nodes: RNode[]): RNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (!o) continue;
      if (producer.has(o) || st.consts.has(o) || st.info.has(o)) st.problem(n, `tensor '${o}' is produced more than once`);
      else producer.set(o, i);
    }
  });
  const known = (t: string) => t === '' || producer.has(t) || st.consts.has(t) || st.badConsts.has(t) || st.info.has(t) || st.broken.has(t);
  for (const n of nodes) for (const i of n.inputs) if (!known(i)) st.problem(n, `input '${i}' is not produced by any node, initializer or graph input`);
  for (const o of st.graphOutputs) if (!known(o)) st.problem(null, `graph output '${o}' is not produced by any node`);
  if (st.problems.length) return nodes;
  const { order, cycle } = topoOrder(nodes.length, (i) => nodes[i].inputs.map((t) => producer.get(t) ?? -1));
  if (cycle) st.problem(nodes[cycle.node], 'graph has a cycle through this node');
  return order.map((i) => nodes[i]);
}

/** The nodes some graph output needs, in order (those nothing needs are dropped before anything is reported about them). */
function liveNodes(st: QImportState, sorted: RNode[]): RNode[] {
  const needed = new Set(st.graphOutputs);
  const alive: boolean[] = new Array(sorted.length).fill(false);
  for (let i = sorted.length - 1; i >= 0; i--) {
    if (!sorted[i].outputs.some((o) => o && needed.has(o))) continue;
    alive[i] = true;
    for (const inp of sorted[i].inputs) if (inp) needed.add(inp);
  }
  return sorted.filter((_, i) => alive[i]);
}

function readConstant(st: QImportState, n: RNode): void {
  const out = n.outputs[0];
  const a = n.attrs;
  let t: Tensor | undefined;
  if (a.value && typeof a.value === 'object' && 'dtype' in a.value) t = a.value;
  else if (typeof a.value_float === 'number') t = { dtype: 'float32', shape: [], data: Float32Array.of(a.value_float) };
  else if (Array.isArray(a.value_floats)) t = { dtype: 'float32', shape: [a.value_floats.length], data: Float32Array.from(a.value_floats as number[]) };
  else if (typeof a.value_int === 'number') t = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(a.value_int)) };
  else if (Array.isArray(a.value_ints)) t = { dtype: 'int64', shape: [a.value_ints.length], data: BigInt64Array.from((a.value_ints as number[]).map(BigInt)) };
  if (t) st.consts.set(out, t);
  else st.problem(n, 'Constant has no supported value attribute (value, value_float(s), value_int(s))');
}


/** Reads one node: a Constant, a quantization op (its reader), any other default-domain node, or an unsupported one. */
function readNode(st: QImportState, n: RNode): void {
  const reader = quantOpReader(n.domain, n.op);
  if (n.domain === '' && n.op === 'Constant') readConstant(st, n);
  else if (reader) readQuantOp(st, n, reader);
  else if (n.domain === '' && (readLutIndexCast(st, n) || readLutGather(st, n))) return;
  else if (n.domain === '') readOther(st, n);
  else st.problem(n, `unsupported (domain '${n.domain}')`);
}

function importModel(st: QImportState): QuantizedNetwork {
  const g = readHeader(st);
  readSources(st, g);
  const pnodes = g.node ?? [];
  const sorted = sortNodes(
    st,
    readRawNodes(pnodes, st.file).map((n, i) => ({ ...n, proto: pnodes[i] })),
  );
  if (st.problems.length) st.fail();
  const nodes = liveNodes(st, sorted);
  for (const n of nodes) for (const i of n.inputs) if (i) st.consumed.add(i);

  // --- one pass in topological order
  for (const n of nodes) {
    if (n.outputs.every((o) => !o)) continue;
    if (n.inputs.some((i) => i && st.broken.has(i))) {
      for (const o of n.outputs) if (o) st.broken.add(o);
      continue;
    }
    const before = st.problems.length;
    for (const e of n.attrErrors) st.problem(n, e);
    if (st.problems.length === before) readNode(st, n);
    if (st.problems.length !== before) for (const o of n.outputs) if (o) st.broken.add(o);
  }
  for (const o of st.graphOutputs) {
    if (st.consts.has(o) && !st.info.has(o)) st.problem(null, `graph output '${o}' is a constant: not supported`);
  }
  checkLutIndices(st);
  if (st.problems.length) st.fail();

  // --- GELU chains, QDQ fusion, dead layers, parameters
  fuseGeluChains(st);
  fuse(st);
  return assemble(st);
}

/**
 * GELU written out among the float nodes (the Erf chain or the tanh chain, as exporters write it
 * before opset 20) becomes one Gelu node — the float importer's own pattern matcher, GELU patterns
 * only — so that a DQ → GELU → Q island can fuse into the LUT unit. Integer layers take part as
 * consumers only: an intermediate they read is not single-use, and the chain stays as written.
 */
function fuseGeluChains(st: QImportState): void {
  if (!st.entries.some((e) => e.kind === 'float' && (e.node.op === 'Erf' || e.node.op === 'Tanh'))) return;
  const own = new Map<WNode, FloatEntry>();
  const list: WNode[] = st.entries.map((e) => {
    if (e.kind === 'layer') return { name: e.layer.name, op: e.layer.kind, domain: 'qloom', inputs: [...e.layer.inputs], outputs: [e.layer.output], attrs: {}, attrErrors: [], normal: false };
    const w: WNode = { ...e.node, inputs: [...e.node.inputs], outputs: [...e.node.outputs], domain: '', attrErrors: [], normal: true };
    own.set(w, e);
    return w;
  });
  const ctx: FuseContext = { consts: st.consts, shapes: new Map(), constValue: (name: string) => st.consts.get(name) };
  const byOut = new Map(fuseFloat(ctx, list, new Set(st.graphOutputs), true).map((n) => [n.outputs[0], n]));
  const next: Entry[] = [];
  st.entries.forEach((e, i) => {
    const w = list[i];
    if (e.kind === 'layer') next.push(e);
    else {
      const r = byOut.get(w.outputs[0]);
      if (r === w) next.push(own.get(w)!);
      else if (r) next.push({ kind: 'float', node: { name: r.name, op: r.op as Node['op'], inputs: r.inputs, outputs: r.outputs, attrs: r.attrs } });
    }
  });
  st.entries.length = 0;
  st.entries.push(...next);
}

/** Imports a quantized ONNX model (QOperator or QDQ form). `file` only labels errors and provenance. */
export function importQuantizedOnnx(bytes: Uint8Array, file?: string, options: QImportOptions = {}): QuantizedNetwork {
  let model: PModel;
  try {
    model = ModelProto.decode(bytes) as unknown as PModel;
  } catch (e) {
    throw new ModelError([{ node: '', message: `not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})` }], file);
  }
  return importModel(new QImportState(model, file, options));
}

export function loadQuantizedOnnx(path: string, options: QImportOptions = {}): QuantizedNetwork {
  return importQuantizedOnnx(readModelFile(path), path, options);
}
