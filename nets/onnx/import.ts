/**
 * ONNX → Network IR (nets/graph.ts).
 *
 * Pipeline, each stage collecting every problem before anything is thrown:
 *   1. decode.ts: bytes → raw nodes in topological order, initializers, graph inputs (opset 9–17).
 *   2. one pass in topological order that either constant-folds a node (fold.ts) or normalizes
 *      it to graph.ts's single form (normalize.ts, one handler per op), propagating partial
 *      shapes (shapes.ts) as it goes.
 *   3. fuse.ts: pattern fusion (GELU, Swish, HardSwish), then dead-node removal.
 *   4. one ModelError listing every op we cannot import and every invalid attribute.
 *   5. initializers = the constants that surviving nodes read, in first-use order.
 * The exporter (export.ts) writes the forms this file reads back, so import→export→import is a
 * fixed point.
 */
import { basename } from 'node:path';
import type { Graph, Node, OpType, Tensor, ValueInfo } from '../graph.js';
import { partialOutputShapes } from '../shapes.js';
import { decode, decodeModelProto, parseValueInfo, readModelFile } from './decode.js';
import { tryFold, tryFoldConstant } from './fold.js';
import { fuse, prune } from './fuse.js';
import { normalize } from './normalize.js';
import type { PGraph, PModel } from './schema.js';
import { ImportState, type ImportOptions, type WNode } from './state.js';

export type { ImportOptions } from './state.js';

/** Imports an ONNX model (bytes of a ModelProto). `file` only labels errors and provenance. */
export function importOnnx(bytes: Uint8Array, file?: string, options: ImportOptions = {}): Graph {
  const model = decodeModelProto(bytes, file);
  return importModel(new ImportState(file, options), model);
}

export function loadOnnx(path: string, options: ImportOptions = {}): Graph {
  return importOnnx(readModelFile(path), path, options);
}

function importModel(st: ImportState, m: PModel): Graph {
  const { graph: g, nodes, outputNames } = decode(st, m);

  // --- fold / normalize
  const kept: WNode[] = [];
  for (const n of nodes) {
    if (n.domain === '' && tryFold(st, n)) continue;
    if (n.domain === '') normalize(st, n);
    else n.why = `domain '${n.domain}' is not supported`;
    if (tryFoldConstant(st, n)) continue;
    kept.push(n);
    propagateShapes(st, n);
  }

  // --- fuse, prune, report unsupported
  const outputSet = new Set(outputNames);
  const live = prune(fuse(st, kept, outputSet), outputSet);
  for (const n of live) {
    if (n.normal) continue;
    const opset = st.domainOpset.get(n.domain);
    st.problems.push({
      node: n.name,
      op: n.op,
      opset,
      message: `unsupported (domain '${n.domain || 'ai.onnx'}'${n.why ? `: ${n.why}` : ''})`,
    });
  }
  for (const n of live) for (const e of n.attrErrors) st.problem(n, e);

  const inits = readInitializers(st, live, outputNames);
  // an output whose shape is unknown because an op is unsupported is no news: report the op only
  if (st.problems.length) st.fail();
  // fusion replaced nodes (and with them, ops no rule could see through): propagate again
  for (const n of live) propagateShapes(st, n);

  const outputs = graphOutputs(st, g, inits);
  if (st.problems.length) st.fail();

  const meta: Record<string, string> = {};
  for (const e of m.metadata_props ?? []) if (e.key) meta[e.key] = e.value ?? '';
  if (st.file) meta.source = st.file;
  const producer = [m.producer_name, m.producer_version].filter(Boolean).join(' ');
  if (producer) meta.producer = producer;

  return {
    name: g.name || (st.file ? basename(st.file) : 'graph'),
    inputs: [...st.graphInputs.values()],
    outputs,
    initializers: inits,
    nodes: live.map((n) => ({ name: n.name, op: n.op as OpType, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs })),
    opset: st.opset,
    meta,
  };
}

/** The constants that surviving nodes and the graph outputs read, in first-use order. */
function readInitializers(st: ImportState, live: readonly WNode[], outputNames: readonly string[]): Map<string, Tensor> {
  const produced = new Set<string>();
  for (const n of live) for (const o of n.outputs) if (o) produced.add(o);
  const inits = new Map<string, Tensor>();
  const need = (name: string, who: WNode | null): void => {
    if (name === '' || produced.has(name) || st.graphInputs.has(name) || inits.has(name)) return;
    const t = st.constValue(name);
    if (t) inits.set(name, t);
    else if (st.extraOutputs.has(name)) st.problem(who, st.extraOutputs.get(name)!);
    else if (st.badConsts.has(name)) st.problem(who, `constant '${name}': ${st.badConsts.get(name)}`);
    else if (st.syms.has(name)) st.problem(who, `input '${name}' depends on a dynamic dimension and cannot be constant-folded`);
    else st.problem(who, `input '${name}' is not available after import`);
  };
  for (const n of live) for (const i of n.inputs) need(i, n);
  for (const o of outputNames) need(o, null);
  return inits;
}

function graphOutputs(st: ImportState, g: PGraph, inits: ReadonlyMap<string, Tensor>): ValueInfo[] {
  const outputs: ValueInfo[] = [];
  for (const v of g.output ?? []) {
    if (!v.name) continue;
    const p = parseValueInfo(v);
    const inferred = st.shapes.get(v.name) ?? inits.get(v.name)?.shape;
    // the file's dynamic dims that inference knows (a bound input's consequences) are filled in
    const fill = p.shape && inferred && inferred.length === p.shape.length;
    const shape = fill ? p.shape!.map((d, i) => (d >= 0 ? d : inferred[i])) : (p.shape ?? (inferred ? [...inferred] : undefined));
    if (p.error && v.type?.tensor_type) st.problem(null, `graph output '${v.name}' ${p.error}`);
    else if (!shape) st.problem(null, `graph output '${v.name}' has no shape and none could be inferred`);
    else outputs.push({ name: v.name, dtype: p.dtype ?? inits.get(v.name)?.dtype ?? 'float32', shape });
  }
  return outputs;
}

/** ops whose output provably keeps the input's dim 0 (normalize.ts sameBatch follows them) */
const KEEPS_BATCH = new Set([
  'Conv', 'BatchNormalization', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'MaxPool',
  'AveragePool', 'GlobalAveragePool', 'Identity', 'Softmax', 'LayerNormalization', 'Sqrt', 'Sin', 'Cos', 'Resize',
]);

/** Partial output shapes of a normalized node, value_info filling in what the rules cannot tell. */
function propagateShapes(st: ImportState, n: WNode): void {
  if (!n.normal) return;
  const node: Node = { name: n.name, op: n.op as OpType, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs };
  const ins = n.inputs.map((i) => (i === '' ? undefined : (st.shapes.get(i) ?? st.constValue(i)?.shape)));
  let outs: (number[] | undefined)[];
  try {
    outs = partialOutputShapes(node, ins);
  } catch {
    outs = [];
  }
  n.outputs.forEach((o, i) => {
    if (!o) return;
    let s = outs[i];
    if (s && !s.every((d) => Number.isInteger(d) && d >= -1)) s = undefined;
    const vi = st.valueInfo.get(o);
    if (vi && (!s || (s.length === vi.length && s.every((d, j) => d === -1 || vi[j] === -1 || d === vi[j])))) {
      s = vi.map((d, j) => (d >= 0 ? d : (s?.[j] ?? -1)));
    }
    if (s) st.shapes.set(o, s);
  });
  if (KEEPS_BATCH.has(n.op) && n.outputs[0] && n.inputs[0]) st.batchSource.set(n.outputs[0], n.inputs[0]);
}
