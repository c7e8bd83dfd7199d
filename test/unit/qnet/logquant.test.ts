/**
 * Log2 / log√2 quantization of probabilities and the shift-add P·V (qnet/logquant.ts) against
 * hand-calculated codes and a BigInt reference of the shift-add written here from the definition
 * (RepQ-ViT's base-2 + parity form: ⌈q/2⌉-bit shifts, odd codes summed apart and multiplied once
 * by √2 in 14 fraction bits).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { logCodesOfProbs, logDequantize, logMatmulHead, logMatmulInt, logQuantize, logStorageQParams, type LogQuant } from '../../../qnet/logquant.js';
import type { QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import { softmaxProbs } from '../../../qnet/softmax.js';
import { runQuantized } from '../../../sim/qexec.js';

const q8 = (s: number, z: number, signed = false): QParams => ({ scale: Float32Array.of(s), zeroPoint: Int32Array.of(z), axis: -1, bits: 8, signed, narrow: false });

/** √2 · 2^14 = 23170.475… → 23170 */
const SQRT2_Q14 = 23170n;

/** ⌊a / 2^e⌋ — BigInt's >> is a floor shift. */
const floorShift = (a: bigint, e: number): bigint => a >> BigInt(e);

function shiftAddRef(p: Int32Array, v: Int32Array, zv: number, lq: LogQuant, M: number, K: number, N: number): bigint[] {
  const zero = 2 ** lq.bits - 1;
  const out: bigint[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let even = 0n;
      let odd = 0n;
      for (let k = 0; k < K; k++) {
        const q = p[m * K + k];
        if (q === zero) continue;
        const shifted = BigInt(v[k * N + n] - zv) * 65536n;
        if (lq.base === 'log2') even += floorShift(shifted, q);
        else if (q % 2 === 0) even += floorShift(shifted, q / 2);
        else odd += floorShift(shifted, (q + 1) / 2);
      }
      out.push(even + floorShift(odd * SQRT2_Q14 + 8192n, 14));
    }
  }
  return out;
}

describe('log quantizers', () => {
  it('decode log√2 codes as base 2 with a parity bit and reserve the top code for zero (hand values)', () => {
    const lq: LogQuant = { base: 'logsqrt2', bits: 4, scale: 1 };
    expect(logDequantize(0, lq)).toBe(1);
    expect(logDequantize(1, lq)).toBeCloseTo(Math.SQRT1_2, 15); // 2^−1·√2
    expect(logDequantize(2, lq)).toBe(0.5);
    expect(logDequantize(3, lq)).toBeCloseTo(0.25 * Math.SQRT2, 15);
    expect(logDequantize(14, lq)).toBe(2 ** -7);
    expect(logDequantize(15, lq)).toBe(0);
    // −2·log2(0.6) = 1.474 → 1; −2·log2(0.01) = 13.29 → 13; 2^−7.4 rounds past the last level → zero
    expect(logQuantize(0.6, lq)).toBe(1);
    expect(logQuantize(0.01, lq)).toBe(13);
    expect(logQuantize(2 ** -7.8, lq)).toBe(15);
    expect(logQuantize(3, lq)).toBe(0);
    expect(logQuantize(0, lq)).toBe(15);
    const l2: LogQuant = { base: 'log2', bits: 3, scale: 0.5 };
    // −log2(0.1/0.5) = 2.32 → 2, value 0.125
    expect(logQuantize(0.1, l2)).toBe(2);
    expect(logDequantize(2, l2)).toBe(0.125);
    expect(logDequantize(7, l2)).toBe(0);
  });

  it('code integer probabilities as the real-domain quantizer does, away from exact midpoints', () => {
    fc.assert(
      fc.property(fc.constantFrom<LogQuant['base']>('log2', 'logsqrt2'), fc.integer({ min: 2, max: 8 }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.integer({ min: 0, max: 65536 }), (base, bits, scale, p) => {
        const lq: LogQuant = { base, bits, scale };
        const code = logCodesOfProbs(Int32Array.of(p), lq)[0];
        const u = base === 'log2' ? 1 : 0.5;
        const exponent = -Math.log2(p / 65536 / scale) / u;
        if (Math.abs(exponent - Math.round(exponent) - 0.5) < 1e-9 || Math.abs(exponent - Math.round(exponent) + 0.5) < 1e-9) return;
        expect(code).toBe(logQuantize(p / 65536, lq));
      }),
    );
  });
});

describe('shift-add P·V', () => {
  it('equals the BigInt shift-add reference bit for bit (log2 and log√2, 2…8-bit codes)', () => {
    fc.assert(
      fc.property(fc.constantFrom<LogQuant['base']>('log2', 'logsqrt2'), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (base, bits, seed) => {
        const rng = new Prng(seed);
        const lq: LogQuant = { base, bits, scale: 0.25 + rng.next() };
        const [M, K, N] = [1 + rng.int(4), 1 + rng.int(50), 1 + rng.int(5)];
        const p = Int32Array.from({ length: M * K }, () => rng.int(2 ** bits));
        const v = Int32Array.from({ length: K * N }, () => rng.int(256));
        const zv = rng.int(256);
        const acc = new Float64Array(M * N);
        logMatmulHead(p, 0, lq, v, 0, zv, M, K, N, acc, 0);
        expect(Array.from(acc, (x) => BigInt(x))).toEqual(shiftAddRef(p, v, zv, lq, M, K, N));
      }),
    );
  });

  it('approximates P·V: requantized output within one code of the real product of the dequantized operands', () => {
    const rng = new Prng(7);
    const lq: LogQuant = { base: 'logsqrt2', bits: 4, scale: 1 };
    const [M, K, N] = [3, 17, 4];
    const p = Int32Array.from({ length: M * K }, () => rng.int(16));
    const v = Int32Array.from({ length: K * N }, () => rng.int(256));
    const vq = q8(0.05, 128);
    const yq = q8(0.1, 128);
    const r = logMatmulInt(p, lq, v, vq, yq, { kind: 'none' }, { M, K, N, pairs: Int32Array.of(0, 0) }, { mode: 'float' }, 'pv');
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let real = 0;
        for (let k = 0; k < K; k++) real += logDequantize(p[m * K + k], lq) * 0.05 * (v[k * N + n] - 128);
        const want = Math.min(255, Math.max(0, Math.round(real / 0.1) + 128));
        expect(Math.abs(r.codes[m * N + n] - want)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('runs softmax → P·V in the executor with P log-coded: the composition of the two steps', () => {
    const lq: LogQuant = { base: 'logsqrt2', bits: 4, scale: 1 };
    const [H, M, K, N] = [2, 3, 5, 4];
    const rng = new Prng(3);
    const x = Int32Array.from({ length: H * M * K }, () => rng.int(256));
    const v = Int32Array.from({ length: H * K * N }, () => rng.int(256));
    const xq = q8(0.08, 0);
    const vq = q8(0.05, 100);
    const yq = q8(0.04, 128);
    const info = (name: string, shape: number[], q: QParams, log?: LogQuant): [string, QTensorInfo] => [name, { name, shape, q, ...(log && { log }) }];
    for (const variant of ['ort', 'ibert', 'lut'] as const) {
      const net: QuantizedNetwork = {
        name: 'attn',
        inputs: [{ name: 'x', dtype: 'uint8', shape: [H, M, K] }, { name: 'v', dtype: 'uint8', shape: [H, K, N] }],
        outputs: [{ name: 'y', dtype: 'uint8', shape: [H, M, N] }],
        tensors: new Map([info('x', [H, M, K], xq), info('p', [H, M, K], logStorageQParams(lq), lq), info('v', [H, K, N], vq), info('y', [H, M, N], yq)]),
        layers: [
          { kind: 'softmax', name: 'sm', inputs: ['x'], output: 'p', axis: 2, coerce2d: false, variant },
          { kind: 'matmul', name: 'pv', inputs: ['p', 'v'], output: 'y', activation: { kind: 'none' } },
        ],
      };
      const feed = (shape: number[], d: Int32Array): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(d) });
      let codes: Int32Array | null = null;
      const res = runQuantized(net, { x: feed([H, M, K], x), v: feed([H, K, N], v) }, {
        requant: { mode: 'fixed' },
        acc: { bits: 32, policy: 'wrap' },
        onLayer: (l, out) => {
          if (l.name === 'sm') codes = Int32Array.from(out.data as Uint8Array);
        },
      });
      const probs = softmaxProbs(x, [H, M, K], xq, { axis: 2, coerce2d: false, variant });
      const wantCodes = logCodesOfProbs(probs, lq);
      expect(Array.from(codes!)).toEqual(Array.from(wantCodes));
      const pv = logMatmulInt(wantCodes, lq, v, vq, yq, { kind: 'none' }, { M, K, N, pairs: Int32Array.of(0, 0, 1, 1) }, { mode: 'fixed' }, 'pv');
      expect(Array.from(res.outputs.y.data as Uint8Array)).toEqual(Array.from(pv.codes));
      // each row's probabilities sum to about one (16 fraction bits)
      for (let r = 0; r < H * M; r++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += probs[r * K + k];
        expect(Math.abs(s - 65536)).toBeLessThan(K * 300);
      }
    }
  });
});
