/**
 * The FP32 executor against the expected outputs of ONNX's conformance suite (Debian
 * libonnx-testdata): every float model qloom imports must reproduce the suite's outputs.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../nets/errors.js';
import { runFp32 } from '../../nets/fp32.js';
import type { Graph } from '../../nets/graph.js';
import { conformanceDirs, dataSet, load, TESTDATA } from '../helpers/conformance.js';

/** op families the executor must cover (each needs at least one passing suite test) */
const MUST_PASS = [
  'test_conv_with_strides_padding',
  'test_conv_with_strides_and_asymmetric_padding',
  'test_conv_with_autopad_same',
  'test_gemm_all_attributes',
  'test_gemm_transposeA',
  'test_gemm_default_scalar_bias',
  'test_matmul_4d',
  'test_batchnorm_epsilon',
  'test_relu',
  'test_clip_splitbounds',
  'test_sigmoid',
  'test_hardswish',
  'test_tanh',
  'test_erf',
  'test_add_bcast',
  'test_mul_bcast',
  'test_div_bcast',
  'test_concat_3d_axis_negative_2',
  'test_maxpool_2d_dilations',
  'test_maxpool_2d_ceil',
  'test_averagepool_2d_pads_count_include_pad',
  'test_averagepool_2d_same_lower',
  'test_flatten_negative_axis3',
  'test_reshape_negative_extended_dims',
  'test_transpose_all_permutations_5',
  'test_squeeze_negative_axes',
  'test_unsqueeze_three_axes',
  'test_softmax_axis_1',
  'test_softmax_large_number',
];

describe.skipIf(!existsSync(TESTDATA))('FP32 executor on the ONNX conformance suite', () => {
  it('every float model that imports reproduces the expected outputs (|err| ≤ 1e-5·max(1,|ref|))', () => {
    const passed: string[] = [];
    const failures: string[] = [];
    for (const { test, dir } of conformanceDirs()) {
      let g: Graph;
      try {
        g = load(dir);
      } catch (e) {
        if (e instanceof ModelError) continue;
        throw e;
      }
      const { feeds, expected } = dataSet(dir, g);
      if (Object.values(feeds).some((t) => t.dtype !== 'float32')) continue;
      let outs: ReturnType<typeof runFp32>;
      try {
        outs = runFp32(g, feeds);
      } catch (e) {
        // a ModelError is a refusal (1-D / 3-D pooling: the IR is 2-D spatial); anything else is a bug
        if (!(e instanceof ModelError)) failures.push(`${test}: ${(e as Error).message}`);
        continue;
      }
      let ok = true;
      g.outputs.forEach((v, i) => {
        const want = expected[i];
        const got = outs[v.name];
        if (!got || got.shape.join() !== want.shape.join()) {
          ok = false;
          failures.push(`${test}: ${v.name} shape [${got?.shape}] vs expected [${want.shape}]`);
          return;
        }
        for (let j = 0; j < want.data.length; j++) {
          const a = Number(want.data[j]);
          const b = Number(got.data[j]);
          if (!(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)))) {
            ok = false;
            failures.push(`${test}: ${v.name}[${j}] = ${b}, expected ${a}`);
            return;
          }
        }
      });
      if (ok) passed.push(test);
    }
    expect(failures).toEqual([]);
    for (const t of MUST_PASS) expect(passed, t).toContain(t);
  });
});
