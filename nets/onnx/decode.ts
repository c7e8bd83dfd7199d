/**
 * ONNX import, stage 1: bytes → the importer's working state (state.ts).
 *
 * Decodes the ModelProto (protobufjs, schema.ts), checks the default-domain opset (9–17), reads
 * initializers, graph inputs, value_info and nodes; names unnamed nodes; checks names are unique
 * and every consumed tensor is produced; sorts topologically (files are supposed to be sorted;
 * some are not). Every problem is collected before anything is thrown. The QOperator importer
 * (quant/onnx) reads attributes and value infos with the same functions.
 */
import { readFileSync } from 'node:fs';
import { ModelError } from '../errors.js';
import type { AttrValue, DType } from '../graph.js';
import { topoOrder } from '../topo.js';
import { AttrType, ModelProto, toNum, type PAttribute, type PGraph, type PModel, type PNode, type PTensor, type PValueInfo } from './schema.js';
import { ImportState, isInt, type WNode } from './state.js';
import { MAX_RANK, dataTypeName, dtypeFromOnnx, tensorFromProto } from './tensor.js';

export const MIN_OPSET = 9;
export const MAX_OPSET = 17;

const utf8 = new TextDecoder('utf-8');

/** protobufjs hands back Uint8Array for present bytes fields but a plain [] default for absent ones */
function text(b: unknown): string {
  return b instanceof Uint8Array ? utf8.decode(b) : Array.isArray(b) ? utf8.decode(Uint8Array.from(b as number[])) : '';
}

/** The bytes of a model file; one that cannot be read is a ModelError naming it. */
export function readModelFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ModelError([{ node: '', message: `cannot read: ${(e as Error).message}` }], path);
  }
}

/** Decodes the bytes of a ModelProto; an empty or undecodable file is a ModelError saying so. */
export function decodeModelProto(bytes: Uint8Array, file?: string): PModel {
  if (bytes.length === 0) throw new ModelError([{ node: '', message: 'the file is empty (0 bytes), not an ONNX model (no graph, no opset import)' }], file);
  let model: PModel;
  try {
    model = ModelProto.decode(bytes) as unknown as PModel;
  } catch (e) {
    throw new ModelError([{ node: '', message: `not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})` }], file);
  }
  // bytes that happen to decode as a protobuf message but carry none of a model's fields
  if (!model.graph && !(model.opset_import ?? []).length) {
    throw new ModelError([{ node: '', message: 'not an ONNX model: it has neither a graph nor an opset import' }], file);
  }
  return model;
}

export function attrFromProto(a: PAttribute, where: string, file?: string): AttrValue | { error: string } {
  let type = a.type ?? 0;
  if (a.ref_attr_name) return { error: `attribute '${a.name}' refers to a function attribute (${a.ref_attr_name})` };
  if (type === AttrType.UNDEFINED) {
    // IR v1 files have no discriminator: infer it from which field is present.
    if (a.t) type = AttrType.TENSOR;
    else if (a.ints?.length) type = AttrType.INTS;
    else if (a.floats?.length) type = AttrType.FLOATS;
    else if (a.strings?.length) type = AttrType.STRINGS;
    else if (a.s?.length) type = AttrType.STRING;
    else if (Object.prototype.hasOwnProperty.call(a, 'i')) type = AttrType.INT;
    else if (Object.prototype.hasOwnProperty.call(a, 'f')) type = AttrType.FLOAT;
  }
  switch (type) {
    case AttrType.FLOAT:
      return a.f ?? 0;
    case AttrType.INT: {
      const v = toNum(a.i);
      return isInt(v) ? v : { error: `attribute '${a.name}' value ${v} is not a safe integer` };
    }
    case AttrType.STRING:
      return text(a.s);
    case AttrType.FLOATS:
      return [...(a.floats ?? [])];
    case AttrType.INTS: {
      const v = (a.ints ?? []).map(toNum);
      return v.every(isInt) ? v : { error: `attribute '${a.name}' has values that are not safe integers` };
    }
    case AttrType.STRINGS:
      return (a.strings ?? []).map(text);
    case AttrType.TENSOR:
      if (!a.t) return { error: `attribute '${a.name}' has type TENSOR but no tensor` };
      try {
        return tensorFromProto(a.t, where, file);
      } catch (e) {
        if (e instanceof ModelError) return { error: e.problems.map((p) => p.message).join('; ') };
        throw e;
      }
    default:
      return { error: `attribute '${a.name}' has unsupported type ${type} (graphs, sparse tensors and lists of tensors are not supported)` };
  }
}

export interface ParsedValueInfo {
  dtype?: DType;
  shape?: number[];
  error?: string;
}

export function parseValueInfo(v: PValueInfo): ParsedValueInfo {
  const tt = v.type?.tensor_type;
  if (!tt) return { error: 'has no tensor type' };
  const dtype = tt.elem_type === 11 ? undefined : dtypeFromOnnx(tt.elem_type ?? 0);
  if (!dtype) return { error: `element type ${dataTypeName(tt.elem_type ?? 0)} is not supported (float32, int8, uint8, int32, int64)` };
  if (!tt.shape) return { dtype };
  const dims = tt.shape.dim ?? [];
  if (dims.length > MAX_RANK) return { error: `rank ${dims.length} exceeds ${MAX_RANK}` };
  const shape: number[] = [];
  for (const d of dims) {
    // presence, not value: protobufjs reads an absent oneof member as its default (0)
    const has = Object.prototype.hasOwnProperty.call(d, 'dim_value');
    if (!has) {
      shape.push(-1);
      continue;
    }
    const n = toNum(d.dim_value);
    if (!isInt(n) || n < 0) return { error: `invalid dimension ${n}` };
    shape.push(n);
  }
  return { dtype, shape };
}

export interface Decoded {
  graph: PGraph;
  /** raw nodes in topological order */
  nodes: WNode[];
  outputNames: string[];
}

/** Stage 1 (see the file comment); throws the collected problems, if any. */
export function decode(st: ImportState, m: PModel): Decoded {
  for (const o of m.opset_import ?? []) {
    const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    st.domainOpset.set(d, toNum(o.version));
  }
  const opset = st.domainOpset.get('');
  if (opset === undefined) {
    st.problems.push({ node: '', message: 'model imports no default-domain (ai.onnx) opset' });
    st.fail();
  }
  if (!(opset >= MIN_OPSET && opset <= MAX_OPSET)) {
    st.problems.push({ node: '', opset, message: `default-domain opset ${opset} is not supported (supported: ${MIN_OPSET}–${MAX_OPSET})` });
    st.fail();
  }
  st.opset = opset;
  const g = m.graph;
  if (!g) {
    st.problems.push({ node: '', message: 'model has no graph' });
    st.fail();
  }

  for (const t of g.initializer ?? []) loadInitializer(st, t);
  for (const sp of (g.sparse_initializer ?? []) as { values?: PTensor | null }[]) {
    const name = sp?.values?.name ?? '';
    if (name) st.badConsts.set(name, 'sparse initializers are not supported');
  }
  readGraphInputs(st, g.input ?? []);
  for (const v of g.value_info ?? []) {
    const p = v.name ? parseValueInfo(v) : undefined;
    if (p?.shape && !st.shapes.has(v.name)) st.valueInfo.set(v.name, p.shape);
  }

  const raw = readNodes(st, g.node ?? []);
  const outputNames: string[] = [];
  for (const v of g.output ?? []) {
    if (!v.name) st.problem(null, 'graph output without a name');
    else outputNames.push(v.name);
  }
  if (outputNames.length === 0) st.problem(null, 'graph has no outputs');
  const nodes = checkAndSort(st, raw, outputNames);
  if (st.problems.length) st.fail();
  return { graph: g, nodes, outputNames };
}

function loadInitializer(st: ImportState, t: PTensor): void {
  const name = t.name ?? '';
  if (!name) {
    st.problem(null, 'initializer without a name');
    return;
  }
  if (st.consts.has(name) || st.badConsts.has(name)) {
    st.problem(null, `initializer '${name}' is defined twice`);
    return;
  }
  try {
    st.setConst(name, tensorFromProto(t, name, st.file));
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    st.badConsts.set(name, e.problems.map((p) => p.message).join('; '));
  }
}

/** Graph inputs; IR < 4 lists initializers as inputs too: those are constants. */
function readGraphInputs(st: ImportState, inputs: readonly PValueInfo[]): void {
  for (const v of inputs) {
    const name = v.name ?? '';
    if (!name) {
      st.problem(null, 'graph input without a name');
      continue;
    }
    if (st.consts.has(name) || st.badConsts.has(name)) continue;
    const bound = st.options.constInputs?.get(name);
    if (bound) {
      st.setConst(name, bound);
      continue;
    }
    const p = parseValueInfo(v);
    if (p.error || !p.shape) {
      st.problem(null, `graph input '${name}' ${p.error ?? 'has unknown rank'}`);
      st.badConsts.set(name, 'graph input could not be read'); // known, so consumers do not cascade
      continue;
    }
    if (st.graphInputs.has(name)) st.problem(null, `graph input '${name}' is listed twice`);
    const shape = boundShape(st, name, p.shape);
    st.graphInputs.set(name, { name, dtype: p.dtype!, shape });
    st.shapes.set(name, shape);
  }
  for (const name of st.options.inputShapes?.keys() ?? []) {
    if (!st.graphInputs.has(name)) st.problem(null, `input shape given for '${name}', which is not a graph input (inputs: ${[...st.graphInputs.keys()].join(', ') || 'none'})`);
  }
}

/** A graph input's shape with the importer's binding (ImportOptions.inputShapes) applied. */
function boundShape(st: ImportState, name: string, file: number[]): number[] {
  const bound = st.options.inputShapes?.get(name);
  if (!bound) return file;
  const bad = (why: string): number[] => {
    st.problem(null, `graph input '${name}' has shape [${file.join(',')}] in the file; cannot bind it to [${bound.join(',')}]: ${why}`);
    return file;
  };
  if (bound.length !== file.length) return bad(`rank ${bound.length} ≠ ${file.length}`);
  if (!bound.every((d) => Number.isSafeInteger(d) && d >= -1 && d !== 0)) return bad('dims must be positive integers or -1 (dynamic)');
  const clash = bound.findIndex((d, i) => d >= 0 && file[i] >= 0 && d !== file[i]);
  if (clash >= 0) return bad(`dim ${clash} is fixed to ${file[clash]}`);
  return file.map((d, i) => (d >= 0 ? d : bound[i]));
}

/** A node as the file states it, attributes decoded (undecodable ones listed in `attrErrors`). */
export interface RawNode {
  name: string;
  op: string;
  /** '' for the default domain (also written 'ai.onnx') */
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  attrErrors: string[];
}

/** Nodes with decoded attributes; unnamed and duplicate-named nodes get a fresh, stable name. */
export function readRawNodes(pnodes: readonly PNode[], file?: string): RawNode[] {
  const names = new Set<string>();
  for (const p of pnodes) if (p.name) names.add(p.name);
  const used = new Set<string>();
  const nextSuffix = new Map<string, number>();
  return pnodes.map((p, idx) => {
    const op = p.op_type ?? '';
    let name = p.name ?? '';
    // Node names carry no semantics: give unnamed/duplicate nodes a fresh, stable one.
    if (!name || used.has(name)) {
      const base = name || `${op || 'node'}_${idx}`;
      let k = nextSuffix.get(base) ?? 0;
      let cand = name ? `${base}_${++k}` : base;
      while (used.has(cand) || names.has(cand)) cand = `${base}_${++k}`;
      nextSuffix.set(base, k);
      name = cand;
    }
    used.add(name);
    const attrs: Record<string, AttrValue> = {};
    const attrErrors: string[] = [];
    for (const a of p.attribute ?? []) {
      if (!a.name) {
        attrErrors.push('attribute without a name');
        continue;
      }
      const v = attrFromProto(a, `${name}.${a.name}`, file);
      if (typeof v === 'object' && v !== null && 'error' in v) attrErrors.push(v.error);
      else attrs[a.name] = v;
    }
    const domain = p.domain === 'ai.onnx' ? '' : (p.domain ?? '');
    return { name, op, domain, inputs: [...(p.input ?? [])], outputs: [...(p.output ?? [])], attrs, attrErrors };
  });
}

function readNodes(st: ImportState, pnodes: readonly PNode[]): WNode[] {
  return readRawNodes(pnodes, st.file).map((raw) => {
    const node: WNode = { ...raw, normal: false };
    if (!node.op) st.problem(node, 'node has no op_type');
    return node;
  });
}

/** Unique producers, every consumed tensor available, topological order (stable when already sorted). */
function checkAndSort(st: ImportState, nodes: WNode[], outputNames: readonly string[]): WNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (o === '') continue;
      if (producer.has(o) || st.isSource(o)) st.problem(n, `tensor '${o}' is produced more than once`);
      else producer.set(o, i);
    }
  });
  const known = (t: string): boolean => t === '' || producer.has(t) || st.isSource(t);
  for (const n of nodes) for (const i of n.inputs) if (!known(i)) st.problem(n, `input '${i}' is not produced by any node, initializer or graph input`);
  for (const o of outputNames) if (!known(o) || o === '') st.problem(null, `graph output '${o}' is not produced by any node`);
  if (st.problems.length) return nodes;
  const { order, cycle } = topoOrder(nodes.length, (i) => nodes[i].inputs.map((t) => producer.get(t) ?? -1));
  if (cycle) {
    st.problem(nodes[cycle.node], `graph has a cycle through tensor '${nodes[cycle.node].inputs[cycle.at]}'`);
    return nodes;
  }
  return order.map((i) => nodes[i]);
}
