/**
 * A conv whose output only the next conv reads hands its codes on: its requant writes them, as
 * int16 minus the next conv's z_x, straight into that conv's padded operand input (the kernels of
 * the chain share one WebAssembly memory: sim/kernels/wasm.ts KernelArena) — no codes of its
 * own, no fill. MobileNetV2's inverted residual block — 1×1 expand → 3×3 depthwise → 1×1
 * project (+ the block's input, QLinearAdd) — against onnxruntime-node bit for bit: rows whose
 * width the requant's vectors cover whole, leave a tail (one more vector over the row's end), or
 * are narrower than a vector; the depthwise at stride 2; batches whose convs run in parts. The
 * same network with an observer (nothing handed on) gives the same codes, and so does the
 * fixed-point requant, which ORT does not run.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { DotLayer } from '../../sim/kernels/wasm.js';
import { QuantizedExecutor, runQuantized } from '../../sim/qexec.js';
import { buildModel, f32, type BNode } from '../helpers/onnx-build.js';
import { expectCodesEqualOrt, ortWeightBits } from '../helpers/ort.js';

const u8 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });
const i8 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'int8', shape, data: Int8Array.from(v) });
const i32 = (shape: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const between = (rng: Prng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

/** int8 weights at ortWeightBits(8): 7 bits where ORT's kernels saturate pairs of products (no VNNI) */
const W_MAX = 2 ** (ortWeightBits(8) - 1) - 1;
const C_IN = 16;
const C_MID = 24;

/**
 * QLinearConv with seeded weights and bias; every activation at scale 0.02, zero point 128, so
 * the multiplier is sw ≈ 60 / (std of a sum of k products of ±74 × ±W/√3): codes spread over
 * most of [0, 255]
 */
function conv(rng: Prng, inits: Record<string, Tensor>, name: string, input: string, cin: number, cout: number, kernel: number, stride: number, group: number, sy = 'sx'): BNode {
  const k = (cin / group) * kernel * kernel;
  inits[`${name}_w`] = i8([cout, cin / group, kernel, kernel], Array.from({ length: cout * k }, () => between(rng, -W_MAX, W_MAX)));
  const gain = (inits[sy].data as Float32Array)[0] / 0.02;
  inits[`${name}_sw`] = f32([cout], Array.from({ length: cout }, (_, i) => (60 * gain / (74 * (W_MAX / Math.sqrt(3)) * Math.sqrt(k))) * (1 + i / 32)));
  inits[`${name}_zw`] = i8([cout], new Array(cout).fill(0));
  inits[`${name}_b`] = i32([cout], Array.from({ length: cout }, () => between(rng, -2000, 2000)));
  const p = (kernel - 1) / 2;
  return {
    name,
    op: 'QLinearConv',
    inputs: [input, 'sx', 'zx', `${name}_w`, `${name}_sw`, `${name}_zw`, sy, 'zx', `${name}_b`],
    outputs: [name],
    attrs: { kernel_shape: [kernel, kernel], pads: [p, p, p, p], strides: [stride, stride], group },
  };
}

/** x [n, 16, h, w] → Q → expand 1×1 (24) → depthwise 3×3 at `stride` → project 1×1 (16, scale 0.025) [→ + xq: QLinearAdd] → y */
function block(n: number, h: number, w: number, stride: number, seed: number): { bytes: Uint8Array; x: Tensor } {
  const rng = new Prng(seed);
  const inits: Record<string, Tensor> = { sx: f32([], [0.02]), zx: u8([], [128]), sp: f32([], [0.025]), sy: f32([], [0.03]) };
  const nodes: BNode[] = [
    { name: 'q', op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
    conv(rng, inits, 'expand', 'xq', C_IN, C_MID, 1, 1, 1),
    conv(rng, inits, 'dw', 'expand', C_MID, C_MID, 3, stride, C_MID),
    conv(rng, inits, 'project', 'dw', C_MID, C_IN, 1, 1, 1, 'sp'),
  ];
  const residual = stride === 1;
  if (residual) nodes.push({ name: 'add', op: 'QLinearAdd', domain: 'com.microsoft', inputs: ['project', 'sp', 'zx', 'xq', 'sx', 'zx', 'sy', 'zx'], outputs: ['y'] });
  const bytes = buildModel({
    opset: 13,
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n, C_IN, h, w] }],
    outputs: [{ name: residual ? 'y' : 'project', dtype: 'uint8' }],
    inits,
    nodes,
  });
  return { bytes, x: f32([n, C_IN, h, w], Array.from({ length: n * C_IN * h * w }, () => (between(rng, 0, 255) - 128) * 0.02)) };
}

const EXEC = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };

describe('convs handing codes to the next conv vs ORT', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    // rows of 24 (whole vectors), the residual Add over 18,432 values (its lookup table in WebAssembly)
    [2, 24, 24, 1],
    // rows of 13: a tail of one after three vectors
    [2, 13, 13, 1],
    // rows of 3: narrower than a vector (the scalar loop)
    [3, 3, 3, 1],
    // depthwise at stride 2: 30 → 15-wide rows handed to project
    [2, 30, 30, 2],
    // 13 images of 32×32: expand's outputs run in several parts of a few images
    [13, 32, 32, 1],
  ])('batch %i, %i×%i, depthwise stride %i: the codes are ORT’s, expand and dw hand theirs on', async (n, h, w, stride) => {
    const handoff = vi.spyOn(DotLayer.prototype, 'requantHandoff');
    const fill = vi.spyOn(DotLayer.prototype, 'fill');
    const { bytes, x } = block(n, h, w, stride, 7 * h + stride);
    await expectCodesEqualOrt(bytes, { x }, [stride === 1 ? 'y' : 'project']);
    // expand → dw and dw → project: only expand fills its operand input from codes
    const layers = new Set(handoff.mock.contexts as DotLayer[]);
    expect(layers.size).toBe(2);
    expect(fill).toHaveBeenCalledTimes(1);
  });

  it('an observer sees every layer’s codes (nothing handed on), the same codes; a reused executor keeps its earlier output', async () => {
    const a = block(2, 13, 13, 1, 3);
    const b = block(2, 13, 13, 1, 4);
    const net = importQuantizedOnnx(a.bytes);
    const seen = new Map<string, number[]>();
    const observed = runQuantized(net, { x: a.x }, { ...EXEC, onLayer: (l, t) => seen.set(l.name, Array.from(t.data as ArrayLike<number>)) });
    expect(seen.get('dw')!.length).toBe(2 * C_MID * 13 * 13);
    const handoff = vi.spyOn(DotLayer.prototype, 'requantHandoff');
    const ex = new QuantizedExecutor(net, EXEC);
    const first = ex.run({ x: a.x }).outputs.y;
    expect(handoff).toHaveBeenCalled();
    const kept = Array.from(first.data as ArrayLike<number>);
    expect(kept).toEqual(Array.from(observed.outputs.y.data as ArrayLike<number>));
    ex.run({ x: { ...a.x, data: b.x.data } });
    expect(Array.from(first.data as ArrayLike<number>)).toEqual(kept);
  });

  it.each([
    ['fixed', 'raw'],
    ['fixed', 'zp-subtract'],
    ['float', 'zp-subtract'],
  ] as const)('the %s requant with %s PEs hands on the codes it computes unchained', (mode, form) => {
    // zp-subtract PEs take operands minus z_x: the codes handed on carry that offset
    const { bytes, x } = block(3, 13, 13, 2, 11);
    const net = importQuantizedOnnx(bytes);
    const opts = { ...EXEC, form, requant: mode === 'fixed' ? { mode, multiplierBits: 32, rounding: 'double' as const } : { mode } };
    const handoff = vi.spyOn(DotLayer.prototype, 'requantHandoff');
    const chained = runQuantized(net, { x }, opts).outputs.project;
    expect(handoff).toHaveBeenCalled();
    const plain = runQuantized(net, { x }, { ...opts, onLayer: () => {} }).outputs.project;
    const got = Array.from(chained.data as ArrayLike<number>);
    expect(got).toEqual(Array.from(plain.data as ArrayLike<number>));
    expect(new Set(got).size).toBeGreaterThan(20);
  });
});
