/**
 * TensorProto ↔ Tensor, and the ONNX test-data `.pb` file format (a bare serialized TensorProto).
 *
 * Reading is defensive because the bytes come from files: dims are validated and their product is
 * checked against the bytes actually present *before* anything is allocated, so a bit-flipped
 * file yields a ModelError instead of a multi-gigabyte allocation or a hang. raw_data is always
 * copied: it is a view into the file buffer at an arbitrary (possibly unaligned) offset.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ModelError } from '../errors.js';
import type { DType, Tensor, TensorData } from '../graph.js';
import { DataType, TensorProto, toBig, toNum, type Int64, type PTensor } from './schema.js';

/** Hard cap on elements per tensor: well above any model we simulate, well below typed-array limits. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;
/** Ranks above this are certainly corruption: ONNX runtimes cap rank far lower in practice. */
export const MAX_RANK = 64;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const DATA_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'STRING',
  9: 'BOOL',
  10: 'FLOAT16',
  11: 'DOUBLE',
  12: 'UINT32',
  13: 'UINT64',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
};

export function dataTypeName(code: number): string {
  return DATA_TYPE_NAMES[code] ?? `data type ${code}`;
}

/** ONNX elem_type → qloom dtype (DOUBLE maps to float32: we convert on read). */
export function dtypeFromOnnx(code: number): DType | undefined {
  switch (code) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
      return 'float32';
    case DataType.UINT8:
      return 'uint8';
    case DataType.INT8:
      return 'int8';
    case DataType.INT32:
      return 'int32';
    case DataType.INT64:
      return 'int64';
    default:
      return undefined;
  }
}

export function dtypeToOnnx(dtype: DType): number {
  switch (dtype) {
    case 'float32':
      return DataType.FLOAT;
    case 'uint8':
      return DataType.UINT8;
    case 'int8':
      return DataType.INT8;
    case 'int32':
      return DataType.INT32;
    case 'int64':
      return DataType.INT64;
  }
}

function fail(where: string, message: string, file?: string): never {
  throw new ModelError([{ node: where, message }], file);
}

/**
 * Validates dims and returns the element count; `where` names the tensor in errors.
 * Rejects negative, non-integer or overflowing dims before any allocation depends on them.
 */
export function checkedDims(dims: readonly Int64[], where: string, file?: string): { shape: number[]; n: number } {
  if (dims.length > MAX_RANK) fail(where, `tensor rank ${dims.length} exceeds ${MAX_RANK}`, file);
  const shape = dims.map(toNum);
  let n = 1;
  for (const v of shape) {
    if (!Number.isSafeInteger(v) || v < 0) fail(where, `invalid dimension ${v} in dims [${shape.join(',')}]`, file);
    n *= v;
  }
  // n is exact or +large here (each factor < 2^53, at most MAX_RANK of them): the comparison is safe.
  if (n > MAX_TENSOR_ELEMENTS) fail(where, `dims [${shape.join(',')}] exceed ${MAX_TENSOR_ELEMENTS} elements`, file);
  return { shape, n: shape.includes(0) ? 0 : n };
}

/** Copies `n*size` bytes of raw_data into a fresh, aligned buffer (byte-swapped on big-endian hosts). */
function rawCopy(raw: Uint8Array, size: number): ArrayBuffer {
  const buf = new ArrayBuffer(raw.length);
  const dst = new Uint8Array(buf);
  if (LITTLE_ENDIAN || size === 1) {
    dst.set(raw);
  } else {
    for (let i = 0; i < raw.length; i += size) for (let b = 0; b < size; b++) dst[i + b] = raw[i + size - 1 - b];
  }
  return buf;
}

function elemSize(code: number): number {
  switch (code) {
    case DataType.FLOAT:
    case DataType.INT32:
      return 4;
    case DataType.DOUBLE:
    case DataType.INT64:
      return 8;
    default:
      return 1;
  }
}

/**
 * TensorProto → Tensor. `where` names the tensor (or node) in errors, `file` the model file.
 * Supported element types: FLOAT, UINT8, INT8, INT32, INT64, and DOUBLE (converted to float32).
 */
export function tensorFromProto(p: PTensor, where: string, file?: string): Tensor {
  const code = p.data_type ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) fail(where, `tensor element type ${dataTypeName(code)} is not supported (float32, int8, uint8, int32, int64, double)`, file);
  if (p.data_location === 1 || (p.external_data && p.external_data.length > 0)) {
    fail(where, 'tensor data is stored externally (data_location EXTERNAL); save the model with weights embedded', file);
  }
  if (p.segment) fail(where, 'segmented tensors are not supported', file);
  const { shape, n } = checkedDims(p.dims ?? [], where, file);
  const raw = p.raw_data;
  const size = elemSize(code);
  let data: TensorData;
  if (raw && raw.length > 0) {
    if (raw.length !== n * size) fail(where, `raw_data has ${raw.length} bytes, dims [${shape.join(',')}] of ${dataTypeName(code)} need ${n * size}`, file);
    const buf = rawCopy(raw, size);
    switch (code) {
      case DataType.FLOAT:
        data = new Float32Array(buf);
        break;
      case DataType.DOUBLE:
        data = Float32Array.from(new Float64Array(buf));
        break;
      case DataType.UINT8:
        data = new Uint8Array(buf);
        break;
      case DataType.INT8:
        data = new Int8Array(buf);
        break;
      case DataType.INT32:
        data = new Int32Array(buf);
        break;
      default:
        data = new BigInt64Array(buf);
    }
  } else {
    const field: readonly unknown[] =
      code === DataType.FLOAT ? p.float_data : code === DataType.DOUBLE ? p.double_data : code === DataType.INT64 ? p.int64_data : p.int32_data;
    const have = field?.length ?? 0;
    if (have !== n) fail(where, `tensor has ${have} values, dims [${shape.join(',')}] need ${n}`, file);
    switch (code) {
      case DataType.FLOAT:
      case DataType.DOUBLE:
        data = Float32Array.from(field as number[]);
        break;
      case DataType.INT64: {
        const out = new BigInt64Array(n);
        const src = field as Int64[];
        for (let i = 0; i < n; i++) out[i] = toBig(src[i]);
        data = out;
        break;
      }
      default: {
        const src = field as number[];
        const lo = code === DataType.UINT8 ? 0 : code === DataType.INT8 ? -128 : -2147483648;
        const hi = code === DataType.UINT8 ? 255 : code === DataType.INT8 ? 127 : 2147483647;
        for (let i = 0; i < n; i++) {
          const v = src[i];
          if (!(v >= lo && v <= hi)) fail(where, `int32_data value ${v} out of range for ${dataTypeName(code)}`, file);
        }
        data = code === DataType.UINT8 ? Uint8Array.from(src) : code === DataType.INT8 ? Int8Array.from(src) : Int32Array.from(src);
      }
    }
  }
  return { dtype: dtype!, shape, data };
}

/** Little-endian bytes of a typed array (a view when the host is little-endian). */
function rawBytes(data: TensorData): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const size = data.BYTES_PER_ELEMENT;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += size) for (let b = 0; b < size; b++) out[i + b] = view[i + size - 1 - b];
  return out;
}

/** Tensor → TensorProto message fields (raw_data, little-endian), ready for protobufjs encode. */
export function tensorToProto(t: Tensor, name: string): Record<string, unknown> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) {
    throw new ModelError([{ node: name, message: `tensor data has ${t.data.length} elements, shape [${t.shape.join(',')}] needs ${n}` }]);
  }
  return { name, dims: [...t.shape], data_type: dtypeToOnnx(t.dtype), raw_data: rawBytes(t.data) };
}

/** Decodes a bare serialized TensorProto (ONNX test-data format). */
export function decodeTensorPb(bytes: Uint8Array, file?: string): { name: string; tensor: Tensor } {
  let p: PTensor;
  try {
    p = TensorProto.decode(bytes) as unknown as PTensor;
  } catch (e) {
    throw new ModelError([{ node: '', message: `not a valid TensorProto: ${(e as Error).message}` }], file);
  }
  const name = p.name ?? '';
  return { name, tensor: tensorFromProto(p, name || 'tensor', file) };
}

export function encodeTensorPb(name: string, tensor: Tensor): Uint8Array {
  return TensorProto.encode(TensorProto.create(tensorToProto(tensor, name))).finish();
}

export function readTensorPb(path: string): { name: string; tensor: Tensor } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelError([{ node: '', message: `cannot read: ${(e as Error).message}` }], path);
  }
  return decodeTensorPb(bytes, path);
}

/** Writes atomically (temp file in the same directory, then rename) so readers never see half a file. */
export function writeTensorPb(path: string, name: string, tensor: Tensor): void {
  const bytes = encodeTensorPb(name, tensor);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may never have been created
    }
    throw e;
  }
}
