/**
 * The unfolded per-channel post-LayerNorm quantizer (what RepQ-ViT folds away): a LayerNorm whose
 * output has one (scale, zero point) per channel, and a gemm reading it with every input channel
 * its own accumulator group (qnet/split.ts) — the gemm against the contract stepped in BigInt,
 * the LayerNorm against itself run per tensor with each channel's parameters.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { layerNormInt } from '../../../qnet/layernorm.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { quantizeMultiplier } from '../../../qnet/requant.js';
import { runQuantized } from '../../../sim/qexec.js';
import { mbqmRef } from '../../helpers/fixed-point-ref.js';

const M = 5;
const K = 6;
const N = 3;

describe('gemm on a per-channel input', () => {
  const rng = new Prng(12);
  const scale = Float32Array.from({ length: K }, (_, k) => Math.fround(0.01 * (k + 1) ** 2));
  const zeroPoint = Int32Array.from({ length: K }, (_, k) => 100 + 10 * k);
  const xq: QParams = { scale, zeroPoint, axis: 1, bits: 8, signed: false, narrow: false };
  const w = Int32Array.from({ length: N * K }, () => rng.int(255) - 127);
  const bias = Int32Array.from({ length: N }, () => rng.int(2001) - 1000);
  const codes = Int32Array.from({ length: M * K }, () => rng.int(256));
  const x = Float32Array.from(codes, (q, i) => Math.fround(scale[i % K] * (q - zeroPoint[i % K])));
  const layer: QLinearLayer = {
    kind: 'gemm',
    name: 'fc',
    inputs: ['xq'],
    output: 'acc',
    weight: { data: w, shape: [N, K], q: { scale: Float32Array.of(0.01, 0.02, 0.03), zeroPoint: new Int32Array(N), axis: 0, bits: 8, signed: true, narrow: true } },
    bias,
    kernel: [1, 1],
    strides: [1, 1],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    activation: { kind: 'none' },
  };
  const net: QuantizedNetwork = {
    name: 'per-channel-gemm',
    inputs: [{ name: 'x', dtype: 'float32', shape: [M, K] }],
    outputs: [{ name: 'acc', dtype: 'int32', shape: [M, N] }],
    tensors: new Map([
      ['xq', { name: 'xq', shape: [M, K], q: xq }],
      ['acc', { name: 'acc', shape: [M, N], q: { scale: Float32Array.of(1), zeroPoint: Int32Array.of(0), axis: -1, bits: 32, signed: true, narrow: false } }],
    ]),
    layers: [{ kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' }, layer],
  };

  it('accumulates per channel, rescales each to the largest scale and adds in channel order (BigInt)', () => {
    const r = K - 1; // the largest scale: the reference group
    const expected: number[] = [];
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = BigInt(codes[m * K + r] - zeroPoint[r]) * BigInt(w[n * K + r]) + BigInt(bias[n]);
        for (let k = 0; k < K; k++) {
          if (k === r) continue;
          const mq = quantizeMultiplier(scale[k] / scale[r]);
          sum += mbqmRef(BigInt(codes[m * K + k] - zeroPoint[k]) * BigInt(w[n * K + k]), BigInt(mq.m0), mq.shift, 'double');
        }
        expected.push(Number(sum));
      }
    }
    const out = runQuantized(net, { x: { dtype: 'float32', shape: [M, K], data: x } }, { requant: { mode: 'fixed' }, acc: { bits: 32, policy: 'wrap' } });
    expect(Array.from(out.outputs.acc.data as Int32Array)).toEqual(expected);
  });
});

describe('LayerNorm with a per-channel output quantizer', () => {
  const rng = new Prng(4);
  const T = 7;
  const C = 8;
  const xq: QParams = { scale: Float32Array.of(0.05), zeroPoint: Int32Array.of(128), axis: -1, bits: 8, signed: false, narrow: false };
  const x = Int32Array.from({ length: T * C }, () => rng.int(256));
  const gamma = Float32Array.from({ length: C }, () => Math.fround(0.5 + rng.next() * 3));
  const beta = Float32Array.from({ length: C }, () => Math.fround(rng.next() - 0.5));
  const yq: QParams = {
    scale: Float32Array.from({ length: C }, (_, c) => Math.fround(0.004 * (c + 1))),
    zeroPoint: Int32Array.from({ length: C }, (_, c) => 60 + 9 * c),
    axis: 2,
    bits: 8,
    signed: false,
    narrow: false,
  };

  for (const variant of ['float', 'integer'] as const) {
    it(`${variant}: channel c's codes are the per-tensor run's with channel c's (scale, zero point)`, () => {
      const spec = { axis: 2, epsilon: 1e-5, gamma, beta, variant };
      const shape = [1, T, C];
      const y = layerNormInt(x, shape, xq, yq, spec, { mode: 'fixed' });
      for (let c = 0; c < C; c++) {
        const one: QParams = { ...yq, scale: Float32Array.of(yq.scale[c]), zeroPoint: Int32Array.of(yq.zeroPoint[c]), axis: -1 };
        const ref = layerNormInt(x, shape, xq, one, spec, { mode: 'fixed' });
        for (let t = 0; t < T; t++) expect(y[t * C + c]).toBe(ref[t * C + c]);
      }
    });
  }
});
