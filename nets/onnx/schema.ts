/**
 * The subset of onnx.proto (package `onnx`, proto2) that qloom reads and writes, as protobufjs
 * reflection types. Field numbers were checked one by one against upstream onnx/onnx.proto; fields
 * we never read (training info, functions, quantization annotations, doc strings of inner
 * messages) are left out — protobufjs skips unknown fields on decode, so files carrying them still
 * load. Message/enum names and field numbers are upstream's; only the selection is ours.
 */
import protobuf from 'protobufjs';

const ONNX_SUBSET = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12;
  }
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  optional SparseTensorProto sparse_tensor = 22;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13; COMPLEX64 = 14;
    COMPLEX128 = 15; BFLOAT16 = 16;
  }
  message Segment {
    optional int64 begin = 1;
    optional int64 end = 2;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  enum DataLocation { DEFAULT = 0; EXTERNAL = 1; }
  optional DataLocation data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

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
