/**
 * Builds small ONNX ModelProto byte strings for importer tests, straight from the schema (no
 * exporter involved, so importer tests do not depend on the exporter's choices).
 */
import type { DType, Tensor } from '../../nets/graph.js';
import { AttrType, ModelProto } from '../../nets/onnx/schema.js';
import { dtypeToOnnx, tensorToProto } from '../../nets/onnx/tensor.js';

/** int → INT, {f} → FLOAT, number[] → INTS, {floats} → FLOATS, string → STRING, Tensor → TENSOR */
export type BAttr = number | { f: number } | number[] | { floats: number[] } | string | Tensor;

export interface BNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, BAttr>;
}

export interface BValue {
  name: string;
  dtype?: DType;
  /** numbers are dim_value, strings dim_param */
  shape?: (number | string)[];
}

export interface BModel {
  opset?: number;
  extraOpsets?: { domain: string; version: number }[];
  irVersion?: number;
  inputs: BValue[];
  outputs: BValue[];
  inits?: Record<string, Tensor>;
  nodes: BNode[];
  valueInfo?: BValue[];
}

export const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
export const i64 = (values: number[], scalar = false): Tensor => ({
  dtype: 'int64',
  shape: scalar ? [] : [values.length],
  data: BigInt64Array.from(values.map(BigInt)),
});
export const scalar = (v: number): Tensor => ({ dtype: 'float32', shape: [], data: Float32Array.of(v) });

function attr(name: string, v: BAttr): Record<string, unknown> {
  if (typeof v === 'number') return { name, type: AttrType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ('f' in v) return { name, type: AttrType.FLOAT, f: v.f };
  if ('floats' in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  return { name, type: AttrType.TENSOR, t: tensorToProto(v, '') };
}

function valueInfo(v: BValue): Record<string, unknown> {
  const tt: Record<string, unknown> = { elem_type: dtypeToOnnx(v.dtype ?? 'float32') };
  if (v.shape) tt.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) };
  return { name: v.name, type: { tensor_type: tt } };
}

export function buildModel(m: BModel): Uint8Array {
  const opset = m.opset ?? 13;
  const model = {
    ir_version: m.irVersion ?? (opset >= 15 ? 8 : 7),
    opset_import: [{ domain: '', version: opset }, ...(m.extraOpsets ?? [])],
    producer_name: 'qloom-test',
    graph: {
      name: 'test',
      node: m.nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        op_type: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)),
      })),
      initializer: Object.entries(m.inits ?? {}).map(([k, t]) => tensorToProto(t, k)),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
      value_info: (m.valueInfo ?? []).map(valueInfo),
    },
  };
  return ModelProto.encode(model).finish();
}
