/**
 * The subset of onnx.proto that qloom reads and writes (onnx-subset.proto, checked field by field
 * against upstream) as protobufjs reflection types, and the TypeScript shapes of what they decode.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

/** the schema text, beside this file (copied beside the compiled JavaScript by scripts/build.mjs) */
const ONNX_SUBSET = readFileSync(new URL('./onnx-subset.proto', import.meta.url), 'utf8');

const root = protobuf.parse(ONNX_SUBSET, { keepCase: true }).root;

export const ModelProto = root.lookupType('onnx.ModelProto');
export const TensorProto = root.lookupType('onnx.TensorProto');

/** TensorProto.DataType values (upstream numbering). */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
}

/** AttributeProto.AttributeType values (upstream numbering). */
export enum AttrType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSOR = 11,
  SPARSE_TENSORS = 12,
}

/** protobufjs decodes int64 as long.js `Long` (or a plain number when safe). */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
export type Int64 = number | LongLike;

// Plain shapes of the decoded messages, as protobufjs fills them (keepCase). Absent optional
// scalars read as the proto2 default from the prototype; absent messages read as null.
export interface PTensor {
  dims: Int64[];
  data_type: number;
  segment?: { begin: Int64; end: Int64 } | null;
  float_data: number[];
  int32_data: number[];
  string_data: Uint8Array[];
  int64_data: Int64[];
  name: string;
  raw_data: Uint8Array;
  external_data: PStringEntry[];
  data_location: number;
  double_data: number[];
  uint64_data: Int64[];
}
export interface PStringEntry {
  key: string;
  value: string;
}
export interface PAttribute {
  name: string;
  ref_attr_name: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t: PTensor | null;
  g: PGraph | null;
  sparse_tensor: unknown;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: PTensor[];
  graphs: PGraph[];
  sparse_tensors: unknown[];
}
export interface PDim {
  dim_value?: Int64 | null;
  dim_param?: string | null;
  value?: string;
}
export interface PValueInfo {
  name: string;
  type: { tensor_type?: { elem_type: number; shape: { dim: PDim[] } | null } | null; value?: string } | null;
}
/** A node as the exporters write it (ModelProto.fromObject input). */
export interface PNodeOut {
  name: string;
  op_type: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
}

export interface PNode {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain: string;
  attribute: PAttribute[];
}
export interface PGraph {
  node: PNode[];
  name: string;
  initializer: PTensor[];
  sparse_initializer: unknown[];
  doc_string: string;
  input: PValueInfo[];
  output: PValueInfo[];
  value_info: PValueInfo[];
}
export interface POpset {
  domain: string;
  version: Int64;
}
export interface PModel {
  ir_version: Int64;
  opset_import: POpset[];
  producer_name: string;
  producer_version: string;
  domain: string;
  model_version: Int64;
  doc_string: string;
  graph: PGraph | null;
  metadata_props: PStringEntry[];
}

/** int64 → number; values beyond 2^53 come back inexact, which callers range-check anyway. */
export function toNum(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  // high is signed for int64, unsigned for uint64: mirror long.js toNumber without importing it.
  const hi = v.unsigned ? v.high >>> 0 : v.high | 0;
  return hi * 4294967296 + (v.low >>> 0);
}

export function toBig(v: Int64 | null | undefined, unsigned = false): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}
