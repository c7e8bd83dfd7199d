/**
 * The Network noun: a float graph plus weights, in ONNX vocabulary and semantics (NCHW).
 *
 * Node op types and attribute names are ONNX's so that import/export is a near-identity and
 * semantics are pinned by an outside spec. Importers *normalize* a few ops whose operands moved
 * between attributes and inputs across opsets, so executors and passes see one form only:
 *   - Clip: attrs `min`, `max` (numbers; ±Infinity when absent), never inputs. One qloom extension
 *     (not ONNX): `channelMax`, a float32 tensor [C] of per-channel upper bounds along axis 1 (what
 *     cross-layer equalization through ReLU6 leaves: channel i clipped at 6/s_i, quant/cle.ts);
 *     `max` is then their maximum. The ONNX exporter writes it as Clip followed by Min.
 *   - Reshape: attr `shape` (number[], ONNX 0 / -1 conventions kept), one input.
 *   - Pad: attrs `pads` (number[]), `mode` ('constant'|'reflect'|'edge'), `value` (number), one input.
 *   - Squeeze / Unsqueeze: attr `axes` (number[]), one input.
 *   - Slice: attrs `starts`, `ends`, `axes`, `steps` (number[] of one length, all written out; ends
 *     past the end are clamped to ±(2^53 − 1)), one input.
 *   - ReduceMean: attrs `axes` (written out when the input rank is known), `keepdims` (0 | 1).
 *   - Softmax: attr `axis`, opset 13's meaning (one axis). An opset < 13 Softmax whose `axis` is not
 *     the last non-1 axis carries `coerce2d: 1` (a qloom extension, not ONNX): the input is then
 *     flattened to 2-D at `axis` and normalized jointly over axes axis…rank−1, as opset 9–12 define.
 *   - Gelu: attr `approximate` ('none' | 'tanh'); Swish (x·sigmoid(x)); LayerNormalization (opset
 *     17's op: attrs `axis`, `epsilon`; inputs X, Scale, optional B) — fused forms, which the importer
 *     recognises from their decomposed patterns and the exporter decomposes again for older opsets.
 *   - Everything else: exactly ONNX's attributes, defaults filled in by the importer.
 */

export type DType = 'float32' | 'int8' | 'uint8' | 'int32' | 'int64';

export type TensorData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export const OP_TYPES = [
  'Conv',
  'Gemm',
  'MatMul',
  'BatchNormalization',
  'Relu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Swish',
  'Tanh',
  'Erf',
  'Gelu',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Concat',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Flatten',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Pad',
  'Softmax',
  'LayerNormalization',
  'ReduceMean',
  'Pow',
  'Sqrt',
  'Sin',
  'Cos',
  'Resize',
  'Slice',
  'Identity',
] as const;

export type OpType = (typeof OP_TYPES)[number];

export type AttrValue = number | string | readonly number[] | readonly string[] | Tensor;

export interface Node {
  readonly name: string;
  readonly op: OpType;
  /** tensor names; '' marks an omitted optional input (ONNX convention) */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

export interface ValueInfo {
  readonly name: string;
  readonly dtype: DType;
  /** -1 marks a dynamic dimension (normally the batch) */
  readonly shape: readonly number[];
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** weights and constants, by tensor name */
  readonly initializers: ReadonlyMap<string, Tensor>;
  /** topologically sorted */
  readonly nodes: readonly Node[];
  /** ONNX default-domain opset the graph was imported from (informational) */
  readonly opset: number;
  /** free-form provenance: source file, producer, preprocessing notes */
  readonly meta?: Readonly<Record<string, string>>;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function floatTensor(shape: readonly number[], data?: Float32Array): Tensor {
  const n = numel(shape);
  if (data && data.length !== n) throw new RangeError(`tensor data has ${data.length} elements, shape ${shape.join('x')} needs ${n}`);
  return { dtype: 'float32', shape: [...shape], data: data ?? new Float32Array(n) };
}

export function attrNum(node: Node, key: string, dflt: number): number {
  const v = node.attrs[key];
  return typeof v === 'number' ? v : dflt;
}

export function attrInts(node: Node, key: string, dflt: readonly number[]): readonly number[] {
  const v = node.attrs[key];
  return Array.isArray(v) ? (v as readonly number[]) : dflt;
}

/** A Clip's per-channel upper bounds (`channelMax`, along axis 1), or null when it has one scalar `max`. */
export function clipChannelMax(node: Node): Float32Array | null {
  const v = node.attrs.channelMax;
  return v !== undefined && typeof v === 'object' && 'data' in v && v.data instanceof Float32Array ? v.data : null;
}

export function attrStr(node: Node, key: string, dflt: string): string {
  const v = node.attrs[key];
  return typeof v === 'string' ? v : dflt;
}
