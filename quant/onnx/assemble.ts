/**
 * Parameter assembly: the live entries (after QDQ fusion and dead-layer removal) become the
 * QuantizedNetwork. Quantization parameters per integer tensor: each layer declares those of its
 * operands; data-movement layers and MaxPool tie input and output together (one set of
 * parameters for the lot); a tensor declared twice with different parameters is an error.
 */
import { finishGatherLuts } from './gather-lut.js';
import { basename } from 'node:path';
import type { Tensor } from '../../nets/graph.js';
import { parseValueInfo } from '../../nets/onnx/decode.js';
import type { QLayer, QTensorInfo, QuantizedNetwork } from '../../qnet/network.js';
import type { IntDType } from './common.js';
import { fmtDecl, qparamsOf, sameF32, sameI32, type Decl } from './decl.js';
import type { Entry, QImportState } from './qstate.js';

/** Entries some graph output needs, in order. */
function prune(st: QImportState): Entry[] {
  const needed = new Set(st.graphOutputs);
  const keep: boolean[] = new Array(st.entries.length).fill(false);
  for (let i = st.entries.length - 1; i >= 0; i--) {
    const e = st.entries[i];
    const outs = e.kind === 'layer' ? [e.layer.output] : e.node.outputs;
    if (!outs.some((o) => o && needed.has(o))) continue;
    keep[i] = true;
    for (const inp of e.kind === 'layer' ? e.layer.inputs : e.node.inputs) if (inp) needed.add(inp);
  }
  return st.entries.filter((_, i) => keep[i]);
}

/** The layers, and the constants they read. */
function layersOf(st: QImportState, live: Entry[]): { layers: QLayer[]; constants: Map<string, Tensor> } {
  const layers: QLayer[] = [];
  const constants = new Map<string, Tensor>();
  for (const e of live) {
    const l: QLayer = e.kind === 'float' ? { kind: 'float', name: e.node.name, inputs: e.node.inputs.filter(Boolean), output: e.node.outputs[0], node: e.node } : e.layer;
    layers.push(l);
    for (const i of e.kind === 'float' ? e.node.inputs : e.layer.inputs) if (i && st.consts.has(i)) constants.set(i, st.consts.get(i)!);
  }
  return { layers, constants };
}

/** Union-find over tensor names: tensors tied by pass-through layers share one root. */
class Ties {
  private readonly parent = new Map<string, string>();

  find(t: string): string {
    const parent = this.parent;
    let r = t;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    let c = t;
    while (c !== r) {
      const nx = parent.get(c)!;
      parent.set(c, r);
      c = nx;
    }
    return r;
  }

  tie(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

/** One set of parameters from every declaration of a group of tied tensors; clashes are problems. */
function merge(st: QImportState, t: string, ds: readonly Decl[]): Decl {
  let merged: Decl = { zp: Int32Array.of(0), axis: -1, dtype: st.dtypeOf(t) as IntDType, by: '' };
  let first: Decl | undefined;
  for (const d of ds) {
    if (!first) {
      first = d;
      merged = { ...d };
      continue;
    }
    const clash = d.dtype !== merged.dtype || d.axis !== merged.axis || !sameI32(d.zp, merged.zp) || (d.scale && merged.scale && !sameF32(d.scale, merged.scale));
    if (clash) {
      st.problems.push({
        node: d.by,
        opset: st.opset,
        message: `tensor '${t}' is read with different quantization parameters here (${fmtDecl(d)}) and by node '${first.by}' (${fmtDecl(first)})`,
      });
      continue;
    }
    if (!merged.scale && d.scale) merged.scale = d.scale;
  }
  return merged;
}

/** The quantization parameters of every integer tensor. */
function tensorParams(st: QImportState, live: Entry[]): Map<string, QTensorInfo> {
  const ties = new Ties();
  const intTensors = new Set<string>();
  for (const e of live) {
    if (e.kind !== 'layer') continue;
    for (const [a, b] of e.same) {
      intTensors.add(a).add(b);
      ties.tie(a, b);
    }
    for (const [t] of e.decls) intTensors.add(t);
  }
  const declsBy = new Map<string, Decl[]>();
  for (const e of live) {
    if (e.kind !== 'layer') continue;
    for (const [t, d] of e.decls) {
      const r = ties.find(t);
      const l = declsBy.get(r);
      if (l) l.push(d);
      else declsBy.set(r, [d]);
    }
  }
  const tensors = new Map<string, QTensorInfo>();
  const rootDecl = new Map<string, Decl>();
  for (const t of intTensors) {
    const r = ties.find(t);
    if (!rootDecl.has(r)) rootDecl.set(r, merge(st, t, declsBy.get(r) ?? []));
    const d = rootDecl.get(r)!;
    const actual = st.dtypeOf(t);
    if (actual !== d.dtype) {
      st.problems.push({ node: d.by, opset: st.opset, message: `tensor '${t}' is ${actual} but its zero point is ${d.dtype}` });
      continue;
    }
    tensors.set(t, { name: t, shape: st.shapeOf(t) ?? [], q: qparamsOf(d) });
  }
  return tensors;
}

/** The QuantizedNetwork of an import whose entries are read and fused. */
export function assemble(st: QImportState): QuantizedNetwork {
  const live = prune(st);
  const { layers, constants } = layersOf(st, live);
  const tensors = tensorParams(st, live);
  finishGatherLuts(st, layers, tensors);
  if (st.problems.length) st.fail();

  const dtypeIO = (name: string): 'float32' | 'int8' | 'uint8' | 'int32' => {
    const d = st.dtypeOf(name);
    return d === 'int64' || d === undefined ? 'float32' : d;
  };
  const usedInputs = new Set<string>();
  for (const l of layers) for (const i of l.inputs) usedInputs.add(i);
  for (const o of st.graphOutputs) usedInputs.add(o);
  const inputs = st.graphInputs
    .filter((i) => usedInputs.has(i.name) && !st.consts.has(i.name))
    .map((i) => ({ name: i.name, dtype: dtypeIO(i.name), shape: [...i.shape] }));
  const outputs = st.graphOutputs.map((o) => ({ name: o, dtype: dtypeIO(o), shape: st.shapeOf(o) ?? [] }));
  // declared output shapes win over inferred ones when the file has them
  for (const v of st.model.graph?.output ?? []) {
    const p = parseValueInfo(v);
    const o = outputs.find((x) => x.name === v.name);
    if (o && p.shape && (o.shape.length === 0 || o.shape.length === p.shape.length)) o.shape = p.shape.map((d, i) => (d >= 0 ? d : (o.shape[i] ?? -1)));
  }

  const meta: Record<string, string> = {};
  for (const e of st.model.metadata_props ?? []) if (e.key) meta[e.key] = e.value ?? '';
  if (st.file) meta.source = st.file;
  const producer = [st.model.producer_name, st.model.producer_version].filter(Boolean).join(' ');
  if (producer) meta.producer = producer;
  meta.opset = String(st.opset);
  return {
    name: st.model.graph?.name || (st.file ? basename(st.file) : 'graph'),
    inputs,
    outputs,
    tensors,
    layers,
    floatConstants: constants,
    meta,
  };
}
