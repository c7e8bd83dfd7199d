/**
 * Depthwise QLinearConv (3×3, pad 1, one channel per group) at stride 1 and 2 against
 * onnxruntime-node, bit for bit: the SIMD path's depthwise kernel (sim/kernels/wasm-depthwise.ts)
 * loads 8 positions' inputs of a tap as one vector at stride 1, as the even lanes of two at
 * stride 2, and as two vectors blended where a block runs across an output row or image; sizes
 * whose output rows hold whole blocks of 8, rows that do not, and rows too narrow for the kernel.
 * 3×3 kernels run its unrolled form (two taps a dot product; at stride 2 a raw load's lane pairs
 * are a row's first two taps), 5×5 ones its loop over taps.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { DotLayer } from '../../sim/kernels/wasm.js';
import { QuantizedExecutor } from '../../sim/qexec.js';
import { buildModel, f32 } from '../helpers/onnx-build.js';
import { expectCodesEqualOrt, HAS_VNNI, runOrt } from '../helpers/ort.js';

const C = 12;
const W_MAX = HAS_VNNI ? 127 : 63;
const between = (rng: Prng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

function model(n: number, h: number, w: number, stride: number, k = 3): { bytes: Uint8Array; x: Tensor } {
  const rng = new Prng(100 * stride + h + 1000 * k);
  const p = (k - 1) / 2;
  // multiplier ≈ 60 / (std of a sum of k² products of ±74 × ±73): codes over most of [0, 255]
  const sw = 60 / (74 * 73 * k);
  const inits: Record<string, Tensor> = {
    sx: f32([], [0.02]),
    zx: { dtype: 'uint8', shape: [], data: Uint8Array.of(128) },
    w: { dtype: 'int8', shape: [C, 1, k, k], data: Int8Array.from({ length: C * k * k }, () => between(rng, -W_MAX, W_MAX)) },
    sw: f32([C], Array.from({ length: C }, (_, i) => sw * (1 + i / 24))),
    zw: { dtype: 'int8', shape: [C], data: new Int8Array(C) },
    b: { dtype: 'int32', shape: [C], data: Int32Array.from({ length: C }, () => between(rng, -3000, 3000)) },
  };
  const bytes = buildModel({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: [n, C, h, w] }],
    outputs: [{ name: 'y', dtype: 'uint8' }],
    inits,
    nodes: [
      { name: 'q', op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
      { name: 'dw', op: 'QLinearConv', inputs: ['xq', 'sx', 'zx', 'w', 'sw', 'zw', 'sx', 'zx', 'b'], outputs: ['y'], attrs: { kernel_shape: [k, k], pads: [p, p, p, p], strides: [stride, stride], group: C } },
    ],
  });
  return { bytes, x: f32([n, C, h, w], Array.from({ length: n * C * h * w }, () => (between(rng, 0, 255) - 128) * 0.02)) };
}

describe('depthwise QLinearConv vs ORT', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    // stride 1: 24-wide rows (3 blocks), 20-wide and 14-wide (blocks across rows: two runs), 7-wide
    // (every block across a row, some across an image), 5-wide (blocks across two rows: the gathering kernel)
    [2, 24, 24, 1, true],
    [2, 20, 20, 1, true],
    [3, 14, 14, 1, true],
    [3, 7, 7, 1, true],
    [2, 5, 5, 1, false],
    // stride 2: 32 → 16-wide output rows (2 whole blocks each), 64 → 32
    [2, 32, 32, 2, true],
    [1, 64, 48, 2, true],
    // stride 2, 30 → 15-wide rows: most blocks cross a row, the gathering kernel runs
    [2, 30, 30, 2, false],
  ])('batch %i, %i×%i, stride %i: the codes are ORT’s (depthwise kernel: %s)', async (n, h, w, stride, dwKernel) => {
    const spy = vi.spyOn(DotLayer.prototype, 'depthwise');
    const { bytes, x } = model(n, h, w, stride);
    await expectCodesEqualOrt(bytes, { x }, ['y']);
    // depthwise() returns −1 where the layer keeps the gathering kernel
    expect(spy.mock.results.some((r) => (r.value as number) >= 0)).toBe(dwKernel);
    // a 3×3 kernel runs the unrolled form (taps in pairs, stride 2 from raw loads)
    expect((spy.mock.contexts as DotLayer[]).every((d) => d.dwUnrolled)).toBe(true);
  });

  it.each([
    [2, 24, 24, 1],
    [2, 14, 14, 1],
    [2, 32, 32, 2],
  ])('a 5×5 kernel (the loop over taps), batch %i, %i×%i, stride %i: the codes are ORT’s', async (n, h, w, stride) => {
    const spy = vi.spyOn(DotLayer.prototype, 'depthwise');
    const { bytes, x } = model(n, h, w, stride, 5);
    await expectCodesEqualOrt(bytes, { x }, ['y']);
    expect(spy.mock.results.some((r) => (r.value as number) >= 0)).toBe(true);
    expect((spy.mock.contexts as DotLayer[]).some((d) => d.dwUnrolled)).toBe(false);
  });

  it('an executor run again keeps the codes it returned before', async () => {
    const a = model(2, 24, 24, 1);
    const b = model(2, 24, 24, 2);
    const ex = new QuantizedExecutor(importQuantizedOnnx(a.bytes), { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const first = ex.run({ x: a.x }).outputs.y;
    const kept = Array.from(first.data as ArrayLike<number>);
    // the same layer on other data, its outputs through the same kernel memory
    ex.run({ x: { ...a.x, data: b.x.data } });
    expect(Array.from(first.data as ArrayLike<number>)).toEqual(kept);
    expect(kept).toEqual(Array.from((await runOrt(a.bytes, { x: a.x })).y.data as ArrayLike<number>));
  });
});
