/**
 * A MatMul between two activations on number formats (sim/kernels/format-linear.ts
 * runFormatMatMul: Q·Kᵀ and P·V of a transformer on FP8 / MX PEs) against a reference written
 * here: operands decoded from their codes, exact products, each add rounded once to the
 * accumulator (one tile in K order, then the tile onto a zero bias), the result times
 * float32(s_a·s_b); MX operands cut into 32-blocks along K (B re-blocked from its columns), each
 * block summed exactly and rounded once to FP32. Float32 bit patterns compared; batches broadcast.
 */
import { describe, expect, it } from 'vitest';
import { floatFormatByName, snapToFormat } from '../../../qnet/formats/descriptor.js';
import { roundToFloat } from '../../../qnet/formats/float.js';
import { dequantizeMx, quantizeMx, MXFP8_E4M3, MXINT8, type MxFormat } from '../../../qnet/formats/mx.js';
import type { AccFormat, ActFormat } from '../../../qnet/network.js';
import { runFormatMatMul } from '../../../sim/kernels/format-linear.js';
import { dotTile } from '../../helpers/float-acc.js';

function values(n: number, seed: number, a: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * a * (i % 11 === 3 ? 6 : 1);
  }
  return out;
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const ORDER = { kOrder: 'ckk' as const, kTile: 0 };

/** A on `fa`'s grid: the executor passes tensors snapped to their format */
function onGrid(f: ActFormat, x: Float32Array, shape: number[]): Float32Array {
  return snapToFormat(f, x, shape);
}

describe('number-format MatMul between activations', () => {
  const M = 5;
  const K = 40;
  const N = 3;

  for (const [label, el, acc] of [
    ['FP8 E4M3 × E4M3, FP32 accumulator', 'fp8-e4m3', 'fp32'],
    ['FP8 E4M3 × E4M3, FP16 accumulator', 'fp8-e4m3', 'fp16'],
    ['FP8 E5M2 × E5M2, BF16 accumulator', 'fp8-e5m2', 'bf16'],
  ] as const) {
    it(`${label}: bit for bit against exact products and per-add rounding, heads broadcast`, () => {
      const f = floatFormatByName(el);
      // a 16-bit accumulator holds code-unit sums only while they stay below its range (65504):
      // the operands' largest codes are kept at 16 there, at the format's max with FP32 / BF16
      const top = acc === 'fp16' ? 16 : f.maxFinite;
      const fa: ActFormat = { kind: 'float', element: el, scale: Math.fround(3 / top) };
      const fb: ActFormat = { kind: 'float', element: el, scale: Math.fround(0.7 / top) };
      // A: 2 heads; B: 1 (broadcast to both)
      const a = onGrid(fa, values(2 * M * K, 7, 0.5), [2, M, K]);
      const b = onGrid(fb, values(K * N, 8, 0.12), [1, K, N]);
      const pairs = Int32Array.of(0, 0, 1, 0);
      const r = runFormatMatMul({ name: 'mm', a, b, aFormat: fa, bFormat: fb, m: M, k: K, n: N, pairs, acc: acc as AccFormat, order: ORDER });
      const want = new Float32Array(2 * M * N);
      const s = Math.fround(fa.scale * fb.scale);
      for (let h = 0; h < 2; h++)
        for (let m = 0; m < M; m++)
          for (let n = 0; n < N; n++) {
            // the format values the tensors hold: value / scale, back on the format's grid (the
            // float32 product q·s the executor stores need not divide back exactly)
            const prods: number[] = [];
            for (let k = 0; k < K; k++) prods.push(roundToFloat(f, a[h * M * K + m * K + k] / fa.scale, true) * roundToFloat(f, b[k * N + n] / fb.scale, true));
            want[h * M * N + m * N + n] = Math.fround(dotTile(acc as AccFormat, prods, 0) * s);
          }
      expect(bits(r.y)).toEqual(bits(want));
      expect(r.report.adds).toBe(2 * M * N * K);
    });
  }

  for (const [label, mx] of [
    ['MXFP8 E4M3', MXFP8_E4M3],
    ['MXINT8', MXINT8],
  ] as [string, MxFormat][]) {
    it(`${label}: blocks along K for both operands, each block exact, blocks summed in FP32`, () => {
      const fa: ActFormat = { kind: 'mx', mx: mx.name };
      const a = values(M * K, 11, 1);
      const b = values(K * N, 12, 0.3);
      const r = runFormatMatMul({ name: 'mm', a, b, aFormat: fa, bFormat: fa, m: M, k: K, n: N, pairs: Int32Array.of(0, 0), acc: 'fp32', order: ORDER });
      const want = new Float32Array(M * N);
      const lay = { outer: 1, k: K, inner: 1 };
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          const ar = a.subarray(m * K, (m + 1) * K);
          const bc = Float32Array.from({ length: K }, (_, k) => b[k * N + n]);
          const qa = quantizeMx(mx, ar, lay);
          const qb = quantizeMx(mx, bc, lay);
          const ad = dequantizeMx(mx, qa.codes, qa.scales, lay);
          const bd = dequantizeMx(mx, qb.codes, qb.scales, lay);
          const blocks: number[] = [];
          for (let b0 = 0; b0 < K; b0 += 32) {
            let sum = 0;
            for (let k = b0; k < Math.min(K, b0 + 32); k++) sum += ad[k] * bd[k];
            blocks.push(Math.fround(sum));
          }
          want[m * N + n] = dotTile('fp32', blocks, 0);
        }
      expect(bits(r.y)).toEqual(bits(want));
    });
  }

  it('refuses operands of two kinds, naming the layer', () => {
    const f: ActFormat = { kind: 'float', element: 'fp8-e4m3', scale: 1 };
    const m: ActFormat = { kind: 'mx', mx: 'mxfp8-e4m3' };
    expect(() => runFormatMatMul({ name: 'attn.qk', a: new Float32Array(4), b: new Float32Array(4), aFormat: f, bFormat: m, m: 2, k: 2, n: 2, pairs: Int32Array.of(0, 0), acc: 'fp32', order: ORDER })).toThrow(/attn\.qk[\s\S]*float and a mx format/);
  });
});
