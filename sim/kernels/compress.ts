/**
 * Compressed sizes of activation tensors on the DRAM interface (arch
 * `memories.dram.activationCompression`), from their codes: "zero" is the code equal to the
 * tensor's zero point (the real value 0).
 *   bitmap — a presence bit per element, then the nonzero codes: n + nnz·b bits;
 *   rle    — Eyeriss's run-length code (Chen et al., JSSC 2017): per nonzero a 5-bit count of the
 *            zeros before it and the b-bit code; a run longer than 31 spends an entry (31, a zero
 *            code) and goes on; trailing zeros end with entries of the same kind.
 * Each sample's tensor is sent as the smaller of raw (n·b) and compressed — a design falls back to
 * raw where compression would grow the data (the one flag per tensor is not counted).
 */
import type { ActivationCompression } from '../../arch/spec.js';

export const RLE_RUN_BITS = 5;
const RLE_MAX_RUN = (1 << RLE_RUN_BITS) - 1;

/** Bits of one sample's tensor `codes[from, to)` of b-bit codes with zero point `zero`, compressed. */
export function compressedBits(codes: ArrayLike<number>, from: number, to: number, zero: number, bits: number, format: ActivationCompression): number {
  const n = to - from;
  if (format === 'bitmap') {
    let nnz = 0;
    for (let i = from; i < to; i++) if (codes[i] !== zero) nnz++;
    return Math.min(n * bits, n + nnz * bits);
  }
  let entries = 0;
  let run = 0;
  for (let i = from; i < to; i++) {
    if (codes[i] !== zero) {
      entries++;
      run = 0;
    } else if (run === RLE_MAX_RUN) {
      // this zero is stored as the value of a full-run entry
      entries++;
      run = 0;
    } else run++;
  }
  // trailing zeros: the run must still be stated (one more entry whose value is a zero)
  if (run > 0) entries++;
  return Math.min(n * bits, entries * (RLE_RUN_BITS + bits));
}

/** Raw and compressed bits of a tensor holding `samples` equal-sized samples. */
export function tensorCompression(codes: ArrayLike<number>, samples: number, zero: number, bits: number, format: ActivationCompression): { rawBits: number; compressedBits: number } {
  const per = codes.length / samples;
  let c = 0;
  for (let s = 0; s < samples; s++) c += compressedBits(codes, s * per, (s + 1) * per, zero, bits, format);
  return { rawBits: codes.length * bits, compressedBits: c };
}
