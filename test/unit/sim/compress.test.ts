/**
 * Compressed activation sizes (sim/kernels/compress.ts) against encoders written here that build
 * the actual streams — a presence bitmap plus values, and Eyeriss's (run, value) pairs — and decode
 * them back to the input, so the sizes are those of streams that work; and by hand on small cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compressedBits, RLE_RUN_BITS, tensorCompression } from '../../../sim/kernels/compress.js';

/** (run, value) pairs: run = zeros before the value, at most 2^runBits − 1; a value may itself be the zero code */
function rleEncode(codes: readonly number[], zero: number, runBits: number): [number, number][] {
  const max = (1 << runBits) - 1;
  const out: [number, number][] = [];
  let run = 0;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] === zero && run < max && i < codes.length - 1) run++;
    else {
      out.push([run, codes[i]]);
      run = 0;
    }
  }
  return out;
}

function rleDecode(pairs: readonly [number, number][], zero: number): number[] {
  const out: number[] = [];
  for (const [run, v] of pairs) {
    for (let i = 0; i < run; i++) out.push(zero);
    out.push(v);
  }
  return out;
}

describe('compressed activation sizes', () => {
  it('by hand: bitmap n + nnz·b, run-length 13-bit pairs, raw when smaller', () => {
    const x = [0, 0, 5, 0, 7, 0, 0, 0];
    expect(compressedBits(x, 0, 8, 0, 8, 'bitmap')).toBe(8 + 2 * 8);
    // pairs (2, 5), (1, 7), (2, 0): the trailing three zeros as two zeros and a zero value
    expect(compressedBits(x, 0, 8, 0, 8, 'rle')).toBe(3 * (RLE_RUN_BITS + 8));
    // 40 zeros then a 1: (31, 0) covers 32 zeros, (8, 1) the rest
    expect(compressedBits([...new Array<number>(40).fill(3), 9], 0, 41, 3, 8, 'rle')).toBe(2 * 13);
    // dense: compression would grow it, raw is sent
    expect(compressedBits([1, 2, 3], 0, 3, 0, 8, 'bitmap')).toBe(24);
    expect(compressedBits([1, 2, 3], 0, 3, 0, 8, 'rle')).toBe(24);
    // per sample: [0 0 0 0 | 1 2 3 4] at 4 bits: bitmap 4 + 0 and raw 16
    expect(tensorCompression([0, 0, 0, 0, 1, 2, 3, 4], 2, 0, 4, 'bitmap')).toEqual({ rawBits: 32, compressedBits: 4 + 16 });
  });

  it('equal the lengths of working streams (encoded here, decoded back) on random sparse tensors', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 2, max: 8 }), (raw, zero, bits) => {
        // mostly zeros: each drawn 0..2 becomes the zero code
        const codes = raw.map((v) => (v < 3 ? zero : 10 + v));
        const n = codes.length;
        const pairs = rleEncode(codes, zero, RLE_RUN_BITS);
        expect(rleDecode(pairs, zero)).toEqual(codes);
        expect(compressedBits(codes, 0, n, zero, bits, 'rle')).toBe(Math.min(n * bits, pairs.length * (RLE_RUN_BITS + bits)));
        const present = codes.map((c) => (c === zero ? 0 : 1));
        const values = codes.filter((c) => c !== zero);
        let k = 0;
        expect(present.map((p) => (p ? values[k++] : zero))).toEqual(codes);
        expect(compressedBits(codes, 0, n, zero, bits, 'bitmap')).toBe(Math.min(n * bits, present.length + values.length * bits));
      }),
      { numRuns: 300, seed: 77 },
    );
  });
});
