/**
 * The activation × activation matmul layer runs through the same gemm machinery as a constant
 * weight: per head, B as the stationary operand. A matmul of A and B therefore equals, bit for bit
 * — outputs, accumulators, overflow reports in dataflow order, accumulator policy — a gemm layer
 * whose weight is that B, in both requant modes and on narrow wrapping and saturating
 * accumulators; and it broadcasts batch (head) dims as MatMul.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import type { QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import { runQuantized, type QExecOptions } from '../../../sim/qexec.js';

const q8 = (s: number, z: number, signed: boolean): QParams => ({ scale: Float32Array.of(s), zeroPoint: Int32Array.of(z), axis: -1, bits: 8, signed, narrow: false });

function tensors(list: [string, number[], QParams][]): Map<string, QTensorInfo> {
  return new Map(list.map(([name, shape, q]) => [name, { name, shape, q }]));
}

describe('matmul layer', () => {
  it('equals a gemm layer whose weight is B, per head: codes, accumulators and overflow reports', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom<QExecOptions['requant']>({ mode: 'float' }, { mode: 'fixed' }, { mode: 'fixed', rounding: 'single', multiplierBits: 16 }),
        fc.constantFrom<QExecOptions['acc']>({ bits: 32, policy: 'wrap' }, { bits: 14, policy: 'saturate' }, { bits: 13, policy: 'wrap' }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (signed, requant, acc, seed) => {
          const rng = new Prng(seed);
          const lo = signed ? -128 : 0;
          // every tenth case large enough (M·K·N ≥ 2^18) for the WebAssembly kernel
          const [H, M, K, N] = rng.int(10) === 0 ? [1, 64, 64 + rng.int(8), 64] : [1 + rng.int(3), 1 + rng.int(5), 1 + rng.int(40), 1 + rng.int(7)];
          const qa = q8(0.02, lo + rng.int(256), signed);
          const qb = q8(0.03, lo + rng.int(256), signed);
          const qy = q8(0.02 * 0.03 * Math.sqrt(K) * 20, lo + rng.int(256), signed);
          const a = Int32Array.from({ length: H * M * K }, () => lo + rng.int(256));
          const b = Int32Array.from({ length: H * K * N }, () => lo + rng.int(256));
          const dt = signed ? 'int8' : 'uint8';
          const feed = (shape: number[], v: Int32Array): Tensor => ({ dtype: dt, shape, data: signed ? Int8Array.from(v) : Uint8Array.from(v) });
          const opts: QExecOptions = { requant, acc, order: { kOrder: 'ckk', kTile: 8 } };
          const mm: QuantizedNetwork = {
            name: 'mm',
            inputs: [{ name: 'a', dtype: dt, shape: [H, M, K] }, { name: 'b', dtype: dt, shape: [H, K, N] }],
            outputs: [{ name: 'y', dtype: dt, shape: [H, M, N] }],
            tensors: tensors([['a', [H, M, K], qa], ['b', [H, K, N], qb], ['y', [H, M, N], qy]]),
            layers: [{ kind: 'matmul', name: 'mm', inputs: ['a', 'b'], output: 'y', activation: { kind: 'none' } }],
          };
          const ours = runQuantized(mm, { a: feed([H, M, K], a), b: feed([H, K, N], b) }, opts);
          for (let h = 0; h < H; h++) {
            // B[h] [K, N] as a gemm weight [N, K]
            const w = new Int32Array(N * K);
            for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) w[n * K + k] = b[(h * K + k) * N + n];
            const gemm: QuantizedNetwork = {
              name: 'gemm',
              inputs: [{ name: 'a', dtype: dt, shape: [M, K] }],
              outputs: [{ name: 'y', dtype: dt, shape: [M, N] }],
              tensors: tensors([['a', [M, K], qa], ['y', [M, N], qy]]),
              layers: [
                {
                  kind: 'gemm', name: 'g', inputs: ['a'], output: 'y', weight: { data: w, shape: [N, K], q: qb }, bias: null, group: 1,
                  kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], activation: { kind: 'none' },
                },
              ],
            };
            const ref = runQuantized(gemm, { a: feed([M, K], a.subarray(h * M * K, (h + 1) * M * K)) }, opts);
            expect(Array.from(ours.outputs.y.data as ArrayLike<number>).slice(h * M * N, (h + 1) * M * N)).toEqual(Array.from(ref.outputs.y.data as ArrayLike<number>));
            if (H === 1) {
              const { perChannel, ...rest } = ours.overflow.mm;
              const { perChannel: refPer, ...refRest } = ref.overflow.g;
              expect(rest).toEqual(refRest);
              expect(Array.from(perChannel)).toEqual(Array.from(refPer));
            }
          }
          expect(ours.accumulators.mm.bits).toBe(acc.bits);
        },
      ),
    );
  });

  it('broadcasts a shared Kᵀ over heads and reports a narrow accumulator overflowing', () => {
    const q = q8(1, 0, false);
    const net: QuantizedNetwork = {
      name: 'bcast',
      inputs: [{ name: 'a', dtype: 'uint8', shape: [3, 1, 4] }, { name: 'b', dtype: 'uint8', shape: [1, 4, 2] }],
      outputs: [{ name: 'y', dtype: 'int32', shape: [3, 1, 2] }],
      tensors: tensors([['a', [3, 1, 4], q], ['b', [1, 4, 2], q], ['y', [3, 1, 2], { ...q, bits: 32, signed: true }]]),
      layers: [{ kind: 'matmul', name: 'mm', inputs: ['a', 'b'], output: 'y', activation: { kind: 'none' } }],
    };
    const a: Tensor = { dtype: 'uint8', shape: [3, 1, 4], data: Uint8Array.of(1, 1, 1, 1, 2, 2, 2, 2, 255, 255, 255, 255) };
    const b: Tensor = { dtype: 'uint8', shape: [1, 4, 2], data: Uint8Array.of(1, 255, 1, 255, 1, 255, 1, 255) };
    const wide = runQuantized(net, { a, b }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    // head h: [Σa, 255·Σa]; 255·1020 = 260,100 needs 19 bits
    expect(Array.from(wide.outputs.y.data as Int32Array)).toEqual([4, 1020, 8, 2040, 1020, 260100]);
    expect(wide.overflow.mm.events).toBe(0);
    expect(wide.accumulators.mm.minSafeBits).toBe(19);
    const narrow = runQuantized(net, { a, b }, { requant: { mode: 'float' }, acc: { bits: 16, policy: 'saturate' } });
    expect(Array.from(narrow.outputs.y.data as Int32Array)).toEqual([4, 1020, 8, 2040, 1020, 32767]);
    expect(narrow.overflow.mm.events).toBeGreaterThan(0);
  });

  it('a fused i-GELU equals the matmul requantized to its input quantization, then a standalone i-GELU layer', () => {
    const rng = new Prng(9);
    const [M, K, N] = [3, 12, 5];
    const qa = q8(0.05, 3, true);
    const qb = q8(0.04, -2, true);
    const inQ = q8(0.08, 0, true);
    const qy = q8(0.06, -5, true);
    const act = { kind: 'igelu' as const, inQ, outQ: qy };
    const feeds = {
      a: { dtype: 'int8' as const, shape: [M, K], data: Int8Array.from({ length: M * K }, () => rng.int(256) - 128) },
      b: { dtype: 'int8' as const, shape: [K, N], data: Int8Array.from({ length: K * N }, () => rng.int(256) - 128) },
    };
    const io = { inputs: [{ name: 'a', dtype: 'int8' as const, shape: [M, K] }, { name: 'b', dtype: 'int8' as const, shape: [K, N] }], outputs: [{ name: 'y', dtype: 'int8' as const, shape: [M, N] }] };
    const fused: QuantizedNetwork = {
      name: 'fused', ...io,
      tensors: tensors([['a', [M, K], qa], ['b', [K, N], qb], ['y', [M, N], qy]]),
      layers: [{ kind: 'matmul', name: 'mm', inputs: ['a', 'b'], output: 'y', activation: act }],
    };
    const split: QuantizedNetwork = {
      name: 'split', ...io,
      tensors: tensors([['a', [M, K], qa], ['b', [K, N], qb], ['t', [M, N], inQ], ['y', [M, N], qy]]),
      layers: [
        { kind: 'matmul', name: 'mm', inputs: ['a', 'b'], output: 't', activation: { kind: 'none' } },
        { kind: 'activation', name: 'gelu', inputs: ['t'], output: 'y', activation: act },
      ],
    };
    for (const requant of [{ mode: 'float' as const }, { mode: 'fixed' as const, rounding: 'single' as const }]) {
      const opts = { requant, acc: { bits: 32, policy: 'wrap' as const } };
      const a = runQuantized(fused, feeds, opts).outputs.y.data;
      const b = runQuantized(split, feeds, opts).outputs.y.data;
      expect(Array.from(a as Int8Array)).toEqual(Array.from(b as Int8Array));
      expect(new Set(Array.from(a as Int8Array)).size).toBeGreaterThan(3);
    }
  });
});

