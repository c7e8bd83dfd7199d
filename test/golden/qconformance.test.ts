/**
 * The quantized importer + executor against ONNX's own conformance data (Debian
 * libonnx-testdata, node suite): QLinearConv, QLinearMatMul (2-D and batched 3-D), MatMulInteger,
 * ConvInteger, QuantizeLinear, DequantizeLinear (per-tensor and per-axis) and integer MaxPool.
 * Outputs must equal the suite's expected tensors bit for bit (dtype, shape and every value).
 *
 * The suite feeds weights, scales and zero points as graph inputs; they are given to the importer
 * as `inputValues`, which binds them as constants where the model needs constants.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { readTensorPb } from '../../nets/onnx/tensor.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { runQuantized } from '../../sim/qexec.js';
import { TESTDATA } from '../helpers/conformance.js';

const NODE = join(TESTDATA, 'node');

/** Every quantized-op test of the suite qloom must pass (all variants present in Debian's package). */
const TESTS = [
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

function dataSets(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => join(dir, d));
}

function plain(t: Tensor): { dtype: string; shape: number[]; data: number[] } {
  return { dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<number>, Number) };
}

/** Runs one suite test directory; returns the outputs and the expected tensors per data set. */
function runSuiteTest(dir: string, mode: 'float' | 'fixed' = 'float') {
  const bytes = readFileSync(join(dir, 'model.onnx'));
  const model = ModelProto.decode(bytes) as unknown as PModel;
  const inputNames = (model.graph?.input ?? []).map((v) => v.name);
  const outputNames = (model.graph?.output ?? []).map((v) => v.name);
  return dataSets(dir).map((ds) => {
    const values = new Map<string, Tensor>();
    inputNames.forEach((name, i) => {
      const f = join(ds, `input_${i}.pb`);
      if (existsSync(f)) values.set(name, readTensorPb(f).tensor);
    });
    const net = importQuantizedOnnx(bytes, join(dir, 'model.onnx'), { inputValues: values });
    const feeds: Record<string, Tensor> = {};
    for (const i of net.inputs) feeds[i.name] = values.get(i.name)!;
    const res = runQuantized(net, feeds, { requant: { mode }, acc: { bits: 32, policy: 'wrap' } });
    const expected = outputNames.map((_, i) => readTensorPb(join(ds, `output_${i}.pb`)).tensor);
    return { net, outputs: outputNames.map((n) => res.outputs[n]), expected, overflow: res.overflow };
  });
}

const present = existsSync(NODE);

describe.skipIf(!present)('quantized ops on the ONNX conformance suite (bit-exact)', () => {
  it.each(TESTS)('%s', (test) => {
    const dir = join(NODE, test);
    expect(existsSync(join(dir, 'model.onnx')), `${dir}/model.onnx is missing from libonnx-testdata`).toBe(true);
    const runs = runSuiteTest(dir);
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) {
      expect(r.outputs.map(plain)).toEqual(r.expected.map(plain));
    }
  });

  it('weights, scales and zero points fed as inputs become constants; data inputs stay inputs', () => {
    const [r] = runSuiteTest(join(NODE, 'test_qlinearconv'));
    expect(r.net.inputs.map((i) => i.name)).toEqual(['x']);
    expect(r.net.layers.map((l) => l.kind)).toEqual(['conv']);
    // a 1×1 conv of 49 uint8 values with 32-bit accumulation cannot overflow, and the bounds prove it
    expect(r.overflow[r.net.layers[0].name].events).toBe(0);
    expect(r.overflow[r.net.layers[0].name].proved).toBe(true);
  });

  it('a broken expectation is caught: flipping one expected value fails the comparison', () => {
    const [r] = runSuiteTest(join(NODE, 'test_qlinearmatmul_2D'));
    const exp = plain(r.expected[0]);
    exp.data[0] ^= 1;
    expect(plain(r.outputs[0])).not.toEqual(exp);
  });
});

if (!present) {
  describe('quantized ops on the ONNX conformance suite', () => {
    it.skip(`skipped: ${NODE} is absent — install Debian's libonnx-testdata (apt-get install libonnx-testdata) to run these`, () => {});
  });
}
