/**
 * The quantized importer + executor against ONNX's own conformance data (Debian
 * libonnx-testdata, node suite): QLinearConv, QLinearMatMul (2-D and batched 3-D), MatMulInteger,
 * ConvInteger, QuantizeLinear, DequantizeLinear (per-tensor and per-axis) and integer MaxPool.
 * Outputs must equal the suite's expected tensors bit for bit (dtype, shape and every value).
 *
 * The suite feeds weights, scales and zero points as graph inputs; they are given to the importer
 * as `inputValues`, which binds them as constants where the model needs constants.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runQuantized } from '../../sim/qexec.js';
import { dataSets, NODE, plain, QUANT_TESTS, quantSuiteCase } from '../helpers/qconformance.js';

/** Runs one suite test directory; returns the outputs and the expected tensors per data set. */
function runSuiteTest(dir: string, mode: 'float' | 'fixed' = 'float') {
  return dataSets(dir).map((ds) => {
    const { net, feeds, expected, outputs } = quantSuiteCase(dir, ds);
    const res = runQuantized(net, feeds, { requant: { mode }, acc: { bits: 32, policy: 'wrap' } });
    return { net, outputs: outputs.map((n) => res.outputs[n]), expected, overflow: res.overflow };
  });
}

const present = existsSync(NODE);

describe.skipIf(!present)('quantized ops on the ONNX conformance suite (bit-exact)', () => {
  it.each(QUANT_TESTS)('%s', (test) => {
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
