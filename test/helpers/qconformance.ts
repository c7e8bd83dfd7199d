/**
 * The quantized-op tests of ONNX's conformance suite (Debian libonnx-testdata, node suite), read
 * into a QuantizedNetwork with their feeds and expected outputs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../../nets/graph.js';
import { ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { readTensorPb } from '../../nets/onnx/tensor.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import type { QuantizedNetwork } from '../../qnet/network.js';
import { TESTDATA } from './conformance.js';

export const NODE = join(TESTDATA, 'node');

/** Every quantized-op test of the suite qloom must pass (all variants present in Debian's package). */
export const QUANT_TESTS = [
  'test_qlinearconv',
  'test_qlinearmatmul_2D',
  'test_qlinearmatmul_3D',
  'test_matmulinteger',
  'test_convinteger_with_padding',
  'test_convinteger_without_padding',
  'test_basic_convinteger',
  'test_quantizelinear',
  'test_quantizelinear_axis',
  'test_dequantizelinear',
  'test_dequantizelinear_axis',
  'test_maxpool_2d_uint8',
];

/** a tensor as plain numbers, for toEqual */
export function plain(t: Tensor): { dtype: string; shape: number[]; data: number[] } {
  return { dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<number>, Number) };
}

/** a suite test directory's data sets, sorted */
export function dataSets(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => join(dir, d));
}

export interface QuantSuiteCase {
  net: QuantizedNetwork;
  /** the data set's values for the network's (remaining) inputs */
  feeds: Record<string, Tensor>;
  /** the data set's expected outputs, in the model's output order */
  expected: Tensor[];
  /** the model's output names */
  outputs: string[];
}

/**
 * Imports a suite test directory's model with data set `ds`: the suite feeds weights, scales and
 * zero points as graph inputs; they are given to the importer as `inputValues`, which binds them as
 * constants where the model needs constants. `file` is the name the importer reports.
 */
export function quantSuiteCase(dir: string, ds: string, file = join(dir, 'model.onnx')): QuantSuiteCase {
  const bytes = readFileSync(join(dir, 'model.onnx'));
  const model = ModelProto.decode(bytes) as unknown as PModel;
  const inputNames = (model.graph?.input ?? []).map((v) => v.name);
  const outputs = (model.graph?.output ?? []).map((v) => v.name);
  const values = new Map<string, Tensor>();
  inputNames.forEach((name, i) => {
    const f = join(ds, `input_${i}.pb`);
    if (existsSync(f)) values.set(name, readTensorPb(f).tensor);
  });
  const net = importQuantizedOnnx(bytes, file, { inputValues: values });
  const feeds: Record<string, Tensor> = {};
  for (const i of net.inputs) feeds[i.name] = values.get(i.name)!;
  const expected = outputs.map((_, i) => readTensorPb(join(ds, `output_${i}.pb`)).tensor);
  return { net, feeds, expected, outputs };
}
