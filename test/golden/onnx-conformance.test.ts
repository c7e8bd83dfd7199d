/**
 * The importer and exporter against ONNX's own conformance suite (Debian's libonnx-testdata):
 * every model is imported; what imports is exported again and run in onnxruntime-node on the
 * suite's inputs, and must reproduce the suite's expected outputs. That checks our normalizations
 * (auto_pad → pads, operand inputs → attributes, opset-specific defaults) against the reference
 * implementation's numbers rather than against our own reading of the spec.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../nets/errors.js';
import type { Graph } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { conformanceDirs, dataSet, load, TESTDATA } from '../helpers/conformance.js';
import { runOrt } from '../helpers/ort.js';

/** Tests that exercise a normalization and must import and pass. */
const MUST_PASS = [
  'test_conv_with_autopad_same',
  'test_conv_with_strides_and_asymmetric_padding',
  'test_maxpool_2d_same_lower',
  'test_maxpool_2d_same_upper',
  'test_maxpool_2d_ceil',
  'test_maxpool_2d_dilations',
  'test_averagepool_2d_same_upper',
  'test_averagepool_2d_pads_count_include_pad',
  'test_clip_default_min',
  'test_clip_splitbounds',
  'test_reshape_zero_and_negative_dim',
  'test_softmax_axis_0',
  'test_softmax_default_axis',
  'test_hardswish',
  'test_hardswish_expanded',
  'test_gemm_all_attributes',
  'test_gemm_default_no_bias',
  'test_constant_pad',
  'test_edge_pad',
  'test_reflect_pad',
  'test_squeeze_negative_axes',
  'test_unsqueeze_unsorted_axes',
  'test_dropout_default',
  'test_flatten_negative_axis1',
  'test_batchnorm_example',
  'test_transpose_default',
  'test_shape_start_1_end_negative_1',
  'test_MaxPool2d_stride_padding_dilation',
];

describe.skipIf(!existsSync(TESTDATA))('ONNX conformance models through import → export → onnxruntime-node', () => {
  it('every model imports or is refused with a ModelError; what imports reproduces the expected outputs', async () => {
    const passed: string[] = [];
    const failures: string[] = [];
    let refused = 0;
    for (const { test, dir } of conformanceDirs()) {
      {
        let g: Graph;
        try {
          g = load(dir);
        } catch (e) {
          expect(e, test).toBeInstanceOf(ModelError);
          refused++;
          continue;
        }
        const { feeds, expected } = dataSet(dir, g);
        let out: Awaited<ReturnType<typeof runOrt>>;
        try {
          out = await runOrt(exportOnnx(g), feeds);
        } catch (e) {
          // some suite models use types ORT's CPU kernels lack (uint8 Add…): then the original fails too
          const original = await runOrt(new Uint8Array(readFileSync(join(dir, 'model.onnx'))), feeds).then(
            () => true,
            () => false,
          );
          if (original) failures.push(`${test}: ORT runs the original but not our export: ${(e as Error).message}`);
          continue;
        }
        let ok = true;
        g.outputs.forEach((v, i) => {
          const want = expected[i];
          const got = out[v.name];
          if (!got || got.data.length !== want.data.length || [...got.dims].join() !== want.shape.join()) {
            ok = false;
            failures.push(`${test}: output ${v.name} shape [${got ? [...got.dims] : '?'}] vs expected [${want.shape}]`);
            return;
          }
          for (let j = 0; j < want.data.length; j++) {
            const a = Number(want.data[j]);
            const b = Number(got.data[j]);
            if (!(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a))) && !(Number.isNaN(a) && Number.isNaN(b))) {
              ok = false;
              failures.push(`${test}: output ${v.name}[${j}] = ${b}, expected ${a}`);
              return;
            }
          }
        });
        if (ok) passed.push(test);
      }
    }
    expect(failures).toEqual([]);
    for (const t of MUST_PASS) expect(passed, t).toContain(t);
    expect(passed.length).toBeGreaterThan(140);
    expect(refused).toBeGreaterThan(0);
  });
});
