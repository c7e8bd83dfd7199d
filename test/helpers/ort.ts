import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Tensor } from '../../nets/graph.js';

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
