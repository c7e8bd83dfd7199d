/**
 * Every default-domain node that is not a quantization op goes through nets/onnx's importer as a
 * one-node model, which normalizes it exactly as a float model would be (attributes filled in,
 * operands moved to attributes, shape chains folded); it then stays a float node or — on integer
 * tensors — becomes a data-movement layer, MaxPool or Concat. The quantization ops borrow the same
 * normalization for their conv and pool attributes (a proxy Conv / AveragePool).
 */
import { ModelError } from '../../nets/errors.js';
import type { AttrValue, DType, Graph, Node } from '../../nets/graph.js';
import { importOnnx } from '../../nets/onnx/import.js';
import { ModelProto } from '../../nets/onnx/schema.js';
import { dtypeToOnnx, tensorToProto } from '../../nets/onnx/tensor.js';
import type { QLayer, QPoolLayer } from '../../qnet/network.js';
import { isIntDType, type IntDType } from './common.js';
import type { QImportState, RNode } from './qstate.js';

/** ops whose inputs 1… are operands that must be constant */
const CONST_OPERANDS = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Clip', 'Pad', 'Slice', 'Resize', 'Upsample']);

/** The float importer (nets/onnx) reads up to this opset. */
const FLOAT_MAX_OPSET = 17;
/** Ops whose semantics did not change between opset 17 and 21: a node of a newer model is read as opset 17. */
const STABLE_SINCE_17 = new Set([
  'Conv', 'Gemm', 'MatMul', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'Add', 'Sub', 'Mul', 'Div',
  'Concat', 'MaxPool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Softmax', 'Identity',
  'BatchNormalization', 'Dropout', 'Shape', 'Gather', 'Cast', 'Slice',
]);
/** normalized ops that may run on integer tensors, and the layer they become */
export const INT_LAYOUT = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Resize', 'Upsample']);

/** Conv attributes of a QLinearConv / ConvInteger, normalized by the float importer through a proxy Conv. */
export function convGeometry(
  st: QImportState,
  n: RNode,
  x: string,
  wShape: readonly number[],
  op: 'Conv',
): { strides: [number, number]; pads: [number, number, number, number]; dilations: [number, number]; group: number; outShape?: number[] } | undefined {
  const xShape = st.shapeOf(x) ?? wShape.map(() => -1);
  const w = `${n.name}::w`;
  const res = importOne(st, 
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
    st.problem(n, `group ${group} does not fit input channels ${C} and weight shape [${wShape.join(',')}]`);
    return undefined;
  }
  return { strides: [s[0], s[1]], pads: [p[0], p[1], p[2], p[3]], dilations: [d[0], d[1]], group, outShape: res.outShapes.get(n.outputs[0]) };
}

export function normalizeProxy(st: QImportState, n: RNode, op: string, inputs: string[], xShape: number[] | undefined, dtype: DType): { node: Node; outShape?: number[] } | undefined {
  const res = importOne(st, 
    n,
    { name: n.name, op_type: op, input: inputs, output: [n.outputs[0]], attribute: n.proto.attribute.filter((a) => a.name !== 'channels_last') },
    inputs.map((i) => ({ name: i, dtype, shape: xShape })),
    [n.outputs[0]],
  );
  if (!res?.node) return undefined;
  return { node: res.node, outShape: res.outShapes.get(n.outputs[0]) };
}

export function poolLayer(st: QImportState, n: { name: string; op: string }, node: Node, kind: 'maxpool' | 'avgpool', x: string, out: string): QPoolLayer | undefined {
  const a = node.attrs;
  const k = a.kernel_shape as number[];
  if (k.length !== 2) {
    st.problem(n, `only 2-D pooling is supported (kernel_shape has ${k.length} entries)`);
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

/**
 * Imports `proto` as a one-node model whose inputs are `ins` (constants become initializers)
 * and whose outputs are `outs`. Problems are recorded against the original node.
 */
export function importOne(
  st: QImportState,
  n: RNode,
  proto: { name: string; op_type: string; input: string[]; output: string[]; attribute: unknown[] },
  ins: { name: string; dtype: DType; shape?: readonly number[] }[],
  outs: string[],
): { node?: Node; graph: Graph; outShapes: Map<string, number[]> } | undefined {
  const opset = st.opset > FLOAT_MAX_OPSET && STABLE_SINCE_17.has(proto.op_type) ? FLOAT_MAX_OPSET : st.opset;
  const initializer: Record<string, unknown>[] = [];
  const input: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const i of ins) {
    if (!i.name || seen.has(i.name)) continue;
    seen.add(i.name);
    const c = st.consts.get(i.name);
    if (c) {
      initializer.push(tensorToProto(c, i.name));
      continue;
    }
    const tt: Record<string, unknown> = { elem_type: dtypeToOnnx(i.dtype) };
    if (i.shape) tt.shape = { dim: i.shape.map((d, j) => (d >= 0 ? { dim_value: d } : { dim_param: `d${j}` })) };
    input.push({ name: i.name, type: { tensor_type: tt } });
  }
  const model = {
    ir_version: st.irVersion,
    opset_import: [{ domain: '', version: opset }],
    graph: { name: n.name, node: [{ ...proto, domain: '' }], initializer, input, output: outs.map((o) => ({ name: o })) },
  };
  let graph: Graph;
  try {
    graph = importOnnx(ModelProto.encode(ModelProto.fromObject(model)).finish(), st.file);
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    for (const p of e.problems) {
      st.problems.push({ node: n.name, op: n.op, opset: n.domain === '' ? st.opset : st.msOpset, message: p.node && p.node !== n.name ? `${p.node}: ${p.message}` : p.message });
    }
    return undefined;
  }
  const outShapes = new Map<string, number[]>();
  for (const o of graph.outputs) outShapes.set(o.name, [...o.shape]);
  return { node: graph.nodes[0], graph, outShapes };
}

export function readOther(st: QImportState, n: RNode): void {
  const outs = n.outputs.filter((o) => o && (st.consumed.has(o) || st.graphOutputs.includes(o)));
  if (outs.length === 0) return;
  const ins: { name: string; dtype: DType; shape?: readonly number[] }[] = [];
  n.inputs.forEach((i, k) => {
    if (i && (st.dtypeOf(i) === 'int64' || (k > 0 && CONST_OPERANDS.has(n.op)))) st.bindInput(i);
  });
  for (const i of n.inputs) {
    if (!i) continue;
    const dtype = st.dtypeOf(i);
    if (!dtype) {
      st.problem(n, `input '${i}' is not available`);
      return;
    }
    ins.push({ name: i, dtype, shape: st.shapeOf(i) });
  }
  const res = importOne(st, n, { name: n.name, op_type: n.op, input: n.inputs, output: n.outputs, attribute: n.proto.attribute }, ins, outs);
  if (!res) return;
  const { node, graph } = res;
  for (const [k, v] of graph.initializers) if (!st.consts.has(k)) st.consts.set(k, v);
  if (!node) {
    // folded to constants (shape arithmetic)
    for (const o of outs) {
      const c = graph.initializers.get(o);
      if (c) st.consts.set(o, c);
      else st.problem(n, `output '${o}' could not be computed`);
    }
    return;
  }
  const out = node.outputs[0];
  const dataIn = node.inputs.filter((i) => i && !st.consts.has(i));
  const intIn = dataIn.filter((i) => isIntDType(st.dtypeOf(i)));
  const outShape = res.outShapes.get(out);
  if (intIn.length === 0) {
    for (const i of node.inputs) {
      const t = i ? st.dtypeOf(i) : undefined;
      if (t && t !== 'float32' && !st.consts.has(i)) {
        st.problem(n, `input '${i}' is ${t}: float ops read float32 tensors`);
        return;
      }
    }
    st.entries.push({ kind: 'float', node });
    st.setInfo(out, 'float32', outShape);
    return;
  }
  const x = node.inputs[0];
  const xType = st.dtypeOf(x) as IntDType;
  const bad = () => st.problem(n, `${n.op} on integer (${xType}) tensors is not supported (integer tensors go through Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity, MaxPool and Concat only)`);
  if (dataIn.length !== intIn.length || !isIntDType(xType)) {
    bad();
    return;
  }
  if (INT_LAYOUT.has(node.op)) {
    const layer = layoutLayer(st, n, node, outShape);
    if (!layer) return;
    st.layer({ layer, decls: [], same: [[x, out]] });
    st.setInfo(out, xType, outShape);
    return;
  }
  if (node.op === 'MaxPool') {
    const pool = poolLayer(st, n, node, 'maxpool', x, out);
    if (!pool) return;
    st.layer({ layer: pool, decls: [], same: [[x, out]] });
    st.setInfo(out, xType, outShape);
    return;
  }
  if (node.op === 'Concat') {
    if (node.inputs.some((i) => st.dtypeOf(i) !== xType)) {
      bad();
      return;
    }
    const rank = outShape?.length;
    const ax = node.attrs.axis as number;
    const axis = ax < 0 && rank !== undefined ? ax + rank : ax;
    if (axis < 0) {
      st.problem(n, `negative axis ${ax} needs the input rank, which is unknown`);
      return;
    }
    st.layer({ layer: { kind: 'concat', name: n.name, inputs: [...node.inputs], output: out, axis }, decls: [], same: node.inputs.map((i) => [i, out] as [string, string]) });
    st.setInfo(out, xType, outShape);
    return;
  }
  bad();
}

export function layoutLayer(st: QImportState, n: { name: string; op: string }, node: Node, outShape: number[] | undefined): QLayer | undefined {
  const base = { name: n.name, inputs: [node.inputs[0]], output: node.outputs[0] };
  switch (node.op) {
    case 'Reshape':
      if (node.attrs.allowzero === 1) {
        st.problem(n, 'allowzero=1 is not supported on integer tensors');
        return undefined;
      }
      return { kind: 'reshape', ...base, param: [...(node.attrs.shape as number[])] };
    case 'Flatten':
      return { kind: 'flatten', ...base, param: [node.attrs.axis as number] };
    case 'Resize':
      return { kind: 'resize', ...base, param: [...(node.attrs.scales as number[])] };
    case 'Transpose': {
      const perm = node.attrs.perm as number[] | undefined;
      if (!perm) {
        st.problem(n, 'perm is absent and the input rank is unknown');
        return undefined;
      }
      return { kind: 'transpose', ...base, param: [...perm] };
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      if (!outShape || outShape.filter((d) => d < 0).length > 1) {
        st.problem(n, `the output shape [${outShape?.join(',') ?? '?'}] must be known up to one dimension`);
        return undefined;
      }
      return { kind: 'reshape', ...base, param: outShape.map((d) => (d < 0 ? -1 : d)) };
    }
    default:
      return { kind: 'identity', ...base, param: [] };
  }
}

/** A node that only carries an op and attributes, for nets/shapes.ts's shape rules. */
export function proxy(op: string, attrs: Record<string, AttrValue>): Node {
  return { name: op, op: op as Node['op'], inputs: [], outputs: [], attrs };
}
