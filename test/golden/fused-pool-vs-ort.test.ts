/**
 * A conv whose output only a 2×2 stride-2 MaxPool reads runs with the pool fused behind its
 * requantization (sim/kernels/wasm-out.ts pool2): the pooled codes must equal onnxruntime-node's
 * QLinearConv → MaxPool bit for bit — on widths that take the vector loop only, vector + scalar
 * tail, the scalar tail only, odd sizes whose last row and column the pool drops, and batches
 * whose conv runs in parts (sim/kernels/simd.ts runs a conv's positions a few images at a time).
 * Where the conv output has a second reader, or the pool is another shape, nothing is fused and
 * the result is still ORT's.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { DotLayer } from '../../sim/kernels/wasm.js';
import { buildModel, f32, type BNode } from '../helpers/onnx-build.js';
import { expectCodesEqualOrt, HAS_VNNI } from '../helpers/ort.js';

const u8 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });
const i8 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'int8', shape, data: Int8Array.from(v) });
const i32 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });

/** a seeded integer in [lo, hi] */
const between = (rng: Prng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

/** weights in int8 (7 bits without VNNI: MLAS' VPMADDUBSW path saturates pairs of products otherwise) */
const W_MAX = HAS_VNNI ? 127 : 63;

interface ConvSpec {
  name: string;
  input: string;
  output: string;
  cin: number;
  cout: number;
}

/**
 * QLinearConv 3×3 pad 1 with seeded weights and bias, per-channel weight scales; input and output
 * at scale sx, zero point 128 (no clamp at 0: the pool sees both signs)
 */
function conv(c: ConvSpec, rng: Prng, inits: Record<string, Tensor>): BNode {
  const k = c.cin * 9;
  inits[`${c.name}_w`] = i8([c.cout, c.cin, 3, 3], Array.from({ length: c.cout * k }, () => between(rng, -W_MAX, W_MAX)));
  // input and output share the scale, so the multiplier is sw ≈ 60 / (std of a sum of k products
  // of ±74 × ±73): codes spread over most of [0, 255]
  inits[`${c.name}_sw`] = f32([c.cout], Array.from({ length: c.cout }, (_, i) => (60 / (74 * 73 * Math.sqrt(k))) * (1 + i / 16)));
  inits[`${c.name}_zw`] = i8([c.cout], new Array(c.cout).fill(0));
  inits[`${c.name}_b`] = i32([c.cout], Array.from({ length: c.cout }, () => between(rng, -20000, 20000)));
  return {
    name: c.name,
    op: 'QLinearConv',
    inputs: [c.input, 'sx', 'zx', `${c.name}_w`, `${c.name}_sw`, `${c.name}_zw`, 'sx', 'zx', `${c.name}_b`],
    outputs: [c.output],
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  };
}

/**
 * x [n,3,h,w] → Q → conv1 → pool1 → conv2 → pool2 → conv3 → pool3 → x3 (uint8). `extra` adds
 * nodes and graph outputs (a conv output as a second reader).
 */
function model(n: number, h: number, w: number, seed: number, pool: Record<string, number | number[]> = { kernel_shape: [2, 2], strides: [2, 2] }, extra: { nodes: BNode[]; outputs: string[] } = { nodes: [], outputs: [] }) {
  const rng = new Prng(seed);
  const inits: Record<string, Tensor> = { sx: f32([], [0.02]), zx: u8([], [128]) };
  const nodes: BNode[] = [{ name: 'q', op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['x0'] }];
  const ch = [3, 8, 8, 4];
  for (let i = 1; i <= 3; i++) {
    nodes.push(conv({ name: `conv${i}`, input: `x${i - 1}`, output: `c${i}`, cin: ch[i - 1], cout: ch[i] }, rng, inits));
    nodes.push({ name: `pool${i}`, op: 'MaxPool', inputs: [`c${i}`], outputs: [`x${i}`], attrs: pool });
  }
  nodes.push(...extra.nodes);
  const bytes = buildModel({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: [n, 3, h, w] }],
    outputs: [{ name: 'x3', dtype: 'uint8' }, ...extra.outputs.map((name) => ({ name, dtype: 'uint8' as const }))],
    inits,
    nodes,
  });
  const x = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < x.length; i++) x[i] = (between(rng, 0, 255) - 128) * 0.02;
  return { bytes, x: f32([n, 3, h, w], Array.from(x)) };
}

describe('conv → MaxPool 2×2 fused vs ORT QLinearConv → MaxPool', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    // 30 → 15 (3 vectors + 3 tail) → 7 (1 vector + 3 tail, 15 drops a row and column) → 3 (tail only)
    [2, 30, 30, 3],
    // 16 → 8 → 4 → 2: vectors only, then a whole vector, then the tail
    [3, 16, 16, 3],
    // non-square, odd: 9×22 → 4×11 → 2×5 → 1×2
    [1, 9, 22, 3],
    // conv1's 13 images of 30×30×8 outputs run in two parts (8 images, 256 KiB, then 5): its pool runs twice
    [13, 30, 30, 4],
  ])('batch %i of %i×%i: the pooled codes are ORT’s, and every conv ran its pool fused (%i pool runs)', async (n, h, w, poolRuns) => {
    const spy = vi.spyOn(DotLayer.prototype, 'pool2x2');
    const { bytes, x } = model(n, h, w, 7 + h);
    await expectCodesEqualOrt(bytes, { x }, ['x3']);
    expect(spy).toHaveBeenCalledTimes(poolRuns);
  });

  it('a conv output with a second reader is not fused; another pool shape is not fused; both still ORT’s', async () => {
    const spy = vi.spyOn(DotLayer.prototype, 'pool2x2');
    // c1 also a graph output: conv1 runs unfused (in two parts: 13 images of 30×30×8), conv2 and conv3 fused
    const a = model(13, 30, 30, 3, undefined, { nodes: [], outputs: ['c1'] });
    await expectCodesEqualOrt(a.bytes, { x: a.x }, ['x3', 'c1']);
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockClear();
    // 3×3 windows, stride 2, ceil mode: MaxPool's own kernel
    const b = model(2, 20, 20, 4, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
    await expectCodesEqualOrt(b.bytes, { x: b.x }, ['x3']);
    expect(spy).not.toHaveBeenCalled();
  });
});
