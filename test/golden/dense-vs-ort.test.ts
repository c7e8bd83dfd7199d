/**
 * Dense layers on batches of rows: a QLinearMatMul [m, K] × [K, N] and the same layer exported as a
 * QLinearConv 1×1 on [m, K, 1, 1] images. From 16 rows the executor runs them as one 1×1 conv
 * over an image m wide (sim/qexec.ts denseTransposed: the input transposed, the codes transposed
 * back); the codes must equal onnxruntime-node's bit for bit on both sides of that threshold,
 * with K odd (a padded lane pair) and m not a multiple of the kernel's 8 positions.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { buildModel, f32, type BNode } from '../helpers/onnx-build.js';
import { expectCodesEqualOrt, HAS_VNNI } from '../helpers/ort.js';

const K = 201;
const N = 24;
const W_MAX = HAS_VNNI ? 127 : 63;

const between = (rng: Prng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

function model(m: number, asConv: boolean): { bytes: Uint8Array; x: Tensor } {
  const rng = new Prng(11 + m);
  const w = Array.from({ length: K * N }, () => between(rng, -W_MAX, W_MAX));
  // multiplier ≈ 60 / (std of a sum of K products of ±74 × ±73): codes over most of [0, 255]
  const sw = 60 / (74 * 73 * Math.sqrt(K));
  const inits: Record<string, Tensor> = {
    sx: f32([], [0.02]),
    zx: { dtype: 'uint8', shape: [], data: Uint8Array.of(128) },
    sw: f32([], [sw]),
    zw: { dtype: 'int8', shape: [], data: Int8Array.of(0) },
  };
  let node: BNode;
  if (asConv) {
    // conv weights [N, K, 1, 1]: w[n][k]
    inits.w = { dtype: 'int8', shape: [N, K, 1, 1], data: Int8Array.from({ length: K * N }, (_, i) => w[i]) };
    inits.b = { dtype: 'int32', shape: [N], data: Int32Array.from({ length: N }, () => between(rng, -30000, 30000)) };
    node = { name: 'fc', op: 'QLinearConv', inputs: ['xq', 'sx', 'zx', 'w', 'sw', 'zw', 'sx', 'zx', 'b'], outputs: ['y'], attrs: { kernel_shape: [1, 1] } };
  } else {
    // MatMul B [K, N]: B[k][n] = w[n][k]
    inits.w = { dtype: 'int8', shape: [K, N], data: Int8Array.from({ length: K * N }, (_, i) => w[(i % N) * K + Math.floor(i / N)]) };
    node = { name: 'fc', op: 'QLinearMatMul', inputs: ['xq', 'sx', 'zx', 'w', 'sw', 'zw', 'sx', 'zx'], outputs: ['y'] };
  }
  const shape = asConv ? [m, K, 1, 1] : [m, K];
  const bytes = buildModel({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape }],
    outputs: [{ name: 'y', dtype: 'uint8' }],
    inits,
    nodes: [{ name: 'q', op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] }, node],
  });
  return { bytes, x: f32(shape, Array.from({ length: m * K }, () => (between(rng, 0, 255) - 128) * 0.02)) };
}

describe('dense layers on batches of rows vs ORT', () => {
  it.each([
    [15, false],
    [16, false],
    [37, false],
    [15, true],
    [16, true],
    [37, true],
  ])('%i rows, as a conv: %s — the codes are ORT’s', async (m, asConv) => {
    const { bytes, x } = model(m, asConv);
    await expectCodesEqualOrt(bytes, { x }, ['y']);
  });
});
