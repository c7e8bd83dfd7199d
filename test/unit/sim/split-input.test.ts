/**
 * A conv on a split input (channel groups with their own scale and zero point, qnet/split.ts):
 * the executor's codes against the contract stepped here in BigInt — per-group accumulators,
 * bias in the reference group (largest scale), the other groups rescaled by QuantizeMultiplier
 * (s_g / s_r) through gemmlowp's SRDHM + RoundingDivideByPOT, summed, requantized at s_r·s_w/s_y.
 * Also: the timing run's functional sink gives the same codes, and the workload prices the merge.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec } from '../../../arch/spec.js';
import { Prng } from '../../../nets/prng.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { quantizeMultiplier } from '../../../qnet/requant.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { runQuantized } from '../../../sim/qexec.js';
import { runSimulation, type SimulationResult } from '../../../sim/run.js';
import { mbqmRef } from '../../helpers/fixed-point-ref.js';

const C0 = 3; // channels of group 0 (small range)
const C1 = 2; // channels of group 1 (large range: the reference)
const C = C0 + C1;
const H = 5;
const OC = 4;
const K = 3;
const OH = H - K + 1;
const S0 = 0.01;
const Z0 = 7;
const S1 = 0.8;
const Z1 = 120;
const SW = Float32Array.of(0.02, 0.015, 0.03, 0.025);
const SY = 0.5;
const ZY = 100;

const split: QParams = {
  scale: Float32Array.from({ length: C }, (_, c) => (c < C0 ? S0 : S1)),
  zeroPoint: Int32Array.from({ length: C }, (_, c) => (c < C0 ? Z0 : Z1)),
  axis: 1,
  bits: 8,
  signed: false,
  narrow: false,
};
const yq: QParams = { scale: Float32Array.of(SY), zeroPoint: Int32Array.of(ZY), axis: -1, bits: 8, signed: false, narrow: false };

function build(rng: Prng): { net: QuantizedNetwork; w: Int32Array; bias: Int32Array; xq: Int32Array; x: Float32Array } {
  const w = Int32Array.from({ length: OC * C * K * K }, () => rng.int(255) - 127);
  const bias = Int32Array.from({ length: OC }, () => rng.int(20001) - 10000);
  const xq = Int32Array.from({ length: C * H * H }, () => rng.int(256));
  // float inputs that QuantizeLinear maps back to xq exactly: s·(q − z) in float32
  const x = Float32Array.from(xq, (q, i) => {
    const c = Math.floor(i / (H * H));
    return Math.fround(split.scale[c] * (q - split.zeroPoint[c]));
  });
  const conv: QLinearLayer = {
    kind: 'conv',
    name: 'conv',
    inputs: ['xq'],
    output: 'y8',
    weight: { data: w, shape: [OC, C, K, K], q: { scale: SW, zeroPoint: new Int32Array(OC), axis: 0, bits: 8, signed: true, narrow: true } },
    bias,
    kernel: [K, K],
    strides: [1, 1],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    activation: { kind: 'none' },
  };
  const net: QuantizedNetwork = {
    name: 'split-input',
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, C, H, H] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, OC, OH, OH] }],
    tensors: new Map([
      ['xq', { name: 'xq', shape: [1, C, H, H], q: split }],
      ['y8', { name: 'y8', shape: [1, OC, OH, OH], q: yq }],
    ]),
    layers: [{ kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' }, conv, { kind: 'dequantize', name: 'dq', inputs: ['y8'], output: 'y' }],
  };
  return { net, w, bias, xq, x };
}

/** the contract in BigInt: expected output codes, NCHW (`accs`: the merged accumulators instead) */
function reference(w: Int32Array, bias: Int32Array, xq: Int32Array, accs = false): number[] {
  const r = quantizeMultiplier(S0 / S1); // group 0 rescaled to the reference group 1
  const out: number[] = [];
  for (let o = 0; o < OC; o++) {
    const m = quantizeMultiplier((Math.fround(S1) * SW[o]) / Math.fround(SY));
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OH; ox++) {
        const acc = [0n, 0n];
        for (let c = 0; c < C; c++) {
          const g = c < C0 ? 0 : 1;
          const z = c < C0 ? Z0 : Z1;
          for (let ky = 0; ky < K; ky++) {
            for (let kx = 0; kx < K; kx++) {
              acc[g] += BigInt(xq[(c * H + oy + ky) * H + ox + kx] - z) * BigInt(w[((o * C + c) * K + ky) * K + kx]);
            }
          }
        }
        const merged = acc[1] + BigInt(bias[o]) + mbqmRef(acc[0], BigInt(r.m0), r.shift, 'double');
        if (accs) {
          out.push(Number(merged));
          continue;
        }
        const v = Number(mbqmRef(merged, BigInt(m.m0), m.shift, 'double')) + ZY;
        out.push(Math.min(255, Math.max(0, v)));
      }
    }
  }
  return out;
}

describe('conv on a split input', () => {
  const rng = new Prng(41);
  const { net, w, bias, xq, x } = build(rng);
  const expected = reference(w, bias, xq);
  const expectedY = expected.map((q) => Math.fround(SY * (q - ZY)));

  it('computes the per-group accumulate, rescale, merge and requant of the contract (BigInt reference)', () => {
    for (const form of ['raw', 'zp-subtract'] as const) {
      const r = runQuantized(net, { x: { dtype: 'float32', shape: [1, C, H, H], data: x } }, { requant: { mode: 'fixed' }, form, acc: { bits: 32, policy: 'wrap' } });
      expect(Array.from(r.outputs.y.data as Float32Array)).toEqual(expectedY);
      expect(r.overflow.conv.events).toBe(0);
    }
  });

  it('merges the groups exactly: the accumulators themselves (a 32-bit output: ConvInteger)', () => {
    const y32: QParams = { scale: Float32Array.of(1), zeroPoint: Int32Array.of(0), axis: -1, bits: 32, signed: true, narrow: false };
    const acc = { ...net, outputs: [{ name: 'y8', dtype: 'int32' as const, shape: [1, OC, OH, OH] }], tensors: new Map([...net.tensors, ['y8', { name: 'y8', shape: [1, OC, OH, OH], q: y32 }]]), layers: net.layers.slice(0, 2) };
    const r = runQuantized(acc, { x: { dtype: 'float32', shape: [1, C, H, H], data: x } }, { requant: { mode: 'fixed' }, acc: { bits: 32, policy: 'wrap' } });
    expect(Array.from(r.outputs.y8.data as Int32Array)).toEqual(reference(w, bias, xq, true));
  });

  it('the timing run (functional sink) gives the same outputs and prices the merge on the requant unit', () => {
    const spec = validateArchSpec({ ...PRESETS['edge-npu'] });
    const wl = workloadFromQuantizedNetwork(net, [1, C, H, H], spec);
    let res: SimulationResult | null = null;
    runSimulation(spec, wl, { net, feeds: { x: { dtype: 'float32', shape: [1, C, H, H], data: x } }, requant: { mode: 'fixed' }, seed: 0 }).subscribe({ next: (u) => (u.type === 'result' ? (res = u.result) : undefined) });
    expect(Array.from((res as SimulationResult | null)!.outputs!.y.data as Float32Array)).toEqual(expectedY);
    const merge = wl.layers.find((l) => l.name === 'conv/merge');
    // one further group: one rescale and add per output element
    expect(merge?.vectorElements).toBe(OC * OH * OH);
    const conv = wl.layers.find((l) => l.name === 'conv')!;
    const plain = workloadFromQuantizedNetwork({ ...net, tensors: new Map([...net.tensors, ['xq', { name: 'xq', shape: [1, C, H, H], q: { ...yq } }]]) }, [1, C, H, H], spec).layers.find((l) => l.name === 'conv')!;
    // + one (M0, shift) pair for the further group
    expect(conv.requantParamBytes).toBeGreaterThan(plain.requantParamBytes);
  });
});
