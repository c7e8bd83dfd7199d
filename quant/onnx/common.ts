/** What the QOperator / QDQ importer (qimport.ts) and exporter (qexport.ts) share. */
import type { DType } from '../../nets/graph.js';

/** The contrib-op domain of ONNX Runtime's QLinearAdd, QLinearConcat, … */
export const MS = 'com.microsoft';

/** Integer storage types of quantized tensors. */
export type IntDType = 'int8' | 'uint8' | 'int32';
export const isIntDType = (d: DType | undefined): d is IntDType => d === 'int8' || d === 'uint8' || d === 'int32';

/** Swaps the last two axes: [...batch, R, C] → [...batch, C, R] (MatMul's B [K, N] ↔ a gemm weight [N, K]). */
export function transposeLast2(src: Int32Array, shape: readonly number[]): { data: Int32Array; shape: number[] } {
  const r = shape.length;
  const rows = shape[r - 2];
  const cols = shape[r - 1];
  const batch = src.length / (rows * cols || 1);
  const out = new Int32Array(src.length);
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[o + j * rows + i] = src[o + i * cols + j];
  }
  return { data: out, shape: [...shape.slice(0, r - 2), cols, rows] };
}
