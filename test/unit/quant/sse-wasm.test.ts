/**
 * The MSE range search's error sum in WebAssembly against quantizer.ts's JS loop, compared as
 * float64 bit patterns (Object.is): random weights, exact rounding ties, a NaN, slices at odd
 * offsets, several grids; and a hand-computed case.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { quantErrorSse } from '../../../quant/quantizer.js';
import { SseTensor } from '../../../quant/sse-wasm.js';

describe('quantization error sum in WebAssembly', () => {
  it('equals the JS loop bit for bit', () => {
    const prng = new Prng(99);
    const n = 20_000;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (prng.next() - 0.5) * 0.4;
    // ties: k/2 · scale with scale 0.01 (as float32 they land next to the tie, either side)
    for (let i = 0; i < 400; i++) x[i] = (i - 200) * 0.5 * 0.01;
    x[777] = NaN;
    const t = SseTensor.of(x)!;
    expect(t).not.toBeNull();
    let compared = 0;
    for (const scale of [0.01, 0.0123, 0.4 / 7, 1e-4, Math.fround(0.002)]) {
      for (const [zp, qmin, qmax] of [
        [0, -8, 7],
        [3, 0, 15],
        [0, -128, 127],
        [-2, -4, 3],
      ]) {
        for (const [off, len] of [
          [0, n],
          [399, 5000],
          [778, 77],
          [5, 0],
        ]) {
          const want = quantErrorSse(x, off, len, scale, zp, qmin, qmax);
          expect(Object.is(t.sse(off, len, scale, zp, qmin, qmax), want), `scale ${scale} zp ${zp} [${qmin}, ${qmax}] slice ${off}+${len}`).toBe(true);
          compared++;
        }
      }
    }
    expect(compared).toBe(80);
    expect(() => t.sse(n - 1, 2, 0.1, 0, -8, 7)).toThrow(/outside/);
  });

  it('a hand-computed case: clamping above, rounding, clamping again', () => {
    // scale 0.25 on [-2, 1]: 0.5 → 2 → clamped to 1 → 0.25 (error 0.25); −0.25 → −1 exact (0);
    // 1.0 → 4 → 1 → 0.25 (error 0.75); 0.125 → 0.5 → ties to 0 (error 0.125)
    const t = SseTensor.of(Float32Array.of(0.5, -0.25, 1.0, 0.125))!;
    expect(t.sse(0, 4, 0.25, 0, -2, 1)).toBe(0.0625 + 0 + 0.5625 + 0.015625);
  });
});
