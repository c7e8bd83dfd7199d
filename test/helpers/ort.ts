import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { runQuantized } from '../../sim/qexec.js';

/** Runs ONNX bytes in onnxruntime-node (single thread, all optimizations off so nothing is fused away). */
export async function runOrt(
  model: Uint8Array,
  feeds: Record<string, Tensor>,
): Promise<Record<string, { dims: readonly number[]; data: ArrayLike<number | bigint> }>> {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'disabled',
  });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.dtype, t.data as never, [...t.shape]);
  const out = await session.run(ortFeeds);
  const res: Record<string, { dims: readonly number[]; data: ArrayLike<number | bigint> }> = {};
  for (const [name, t] of Object.entries(out)) res[name] = { dims: t.dims, data: t.data as ArrayLike<number | bigint> };
  await session.release();
  return res;
}

/**
 * Whether this CPU has VNNI. Without it, MLAS' u8×s8 kernels use VPMADDUBSW, which saturates pairs
 * of products to int16: int8 weights against uint8 activations must keep to 7 bits to match.
 */
export const HAS_VNNI = (() => {
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();

/**
 * Weight bits ORT's x86 kernels compute exactly here: 8 with VNNI; without it 7 — ORT's own
 * quantizer's `reduce_range` advice for such CPUs: a VPMADDUBSW pair of (0…255)·w products fits
 * int16 for |w| ≤ 64. A case meant at 8-bit weights runs at ortWeightBits(8) (a CPU without VNNI,
 * ORT saturates; qloom computes the exact sums the ONNX operators define).
 */
export const ORT_EXACT_WEIGHT_BITS = HAS_VNNI ? 8 : 7;

export function ortWeightBits(bits: number): number {
  return Math.min(bits, ORT_EXACT_WEIGHT_BITS);
}

/**
 * Runs a quantized ONNX model in qloom's integer executor (float requant, 32-bit wrap: ORT's
 * arithmetic) and in onnxruntime-node, and expects each named output equal bit for bit, with its
 * codes spread over more than min(20, half its length) distinct values (so that equality means
 * something).
 */
export async function expectCodesEqualOrt(bytes: Uint8Array, feeds: Record<string, Tensor>, outputs: readonly string[]): Promise<void> {
  const ours = runQuantized(importQuantizedOnnx(bytes), feeds, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
  const want = await runOrt(bytes, feeds);
  for (const o of outputs) {
    expect(ours.outputs[o].shape).toEqual([...want[o].dims]);
    const got = Array.from(ours.outputs[o].data as ArrayLike<number>);
    expect(got).toEqual(Array.from(want[o].data as ArrayLike<number>));
    expect(new Set(got).size).toBeGreaterThan(Math.min(20, got.length / 2));
  }
}
