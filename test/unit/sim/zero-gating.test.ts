/**
 * Zero-operand gating through a whole functional + timing run: a hand-built padded conv whose input
 * is a ReLU-like map (many zero codes) and whose weights have zeros, on an arch without gating, with
 * activation gating (Eyeriss) and with operand gating. The expected zero counts are taken by
 * visiting every multiplication here; the energy difference is the gated MACs' multiply and add
 * (priced by the arch's own table entries) less the zero detectors.
 */
import { describe, expect, it } from 'vitest';
import { energyOf, energyTableForSpec } from '../../../arch/energy.js';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { runSimulation, type SimulationResult } from '../../../sim/run.js';

const qp = (scale: number, zp: number, signed = false): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits: 8, signed, narrow: false });
const C = 3;
const HW = 6;
const OC = 4;
const K = 3;
const SAMPLES = 2;
const ZX = 10;

function network(w: Int32Array): QuantizedNetwork {
  const conv: QLinearLayer = {
    kind: 'conv', name: 'conv', inputs: ['xq'], output: 'y8', weight: { data: w, shape: [OC, C, K, K], q: qp(0.01, 0, true) }, bias: new Int32Array(OC),
    kernel: [K, K], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, activation: { kind: 'none' },
  };
  return {
    name: 'gating',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, C, HW, HW] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, OC, HW, HW] }],
    tensors: new Map([
      ['xq', { name: 'xq', shape: [-1, C, HW, HW], q: qp(1, ZX) }],
      ['y8', { name: 'y8', shape: [-1, OC, HW, HW], q: qp(50, 128) }],
    ]),
    layers: [{ kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' }, conv, { kind: 'dequantize', name: 'dq', inputs: ['y8'], output: 'y' }],
  };
}

function simulate(spec: ArchSpec, n: QuantizedNetwork, x: Float32Array, zeros = false): SimulationResult {
  const feeds: Record<string, Tensor> = { x: { dtype: 'float32', shape: [SAMPLES, C, HW, HW], data: x } };
  let r: SimulationResult | null = null;
  runSimulation(spec, workloadFromQuantizedNetwork(n, [1, C, HW, HW], spec), { net: n, feeds, seed: 0, zeros }).subscribe({ next: (u) => (u.type === 'result' ? (r = u.result) : undefined) });
  return r!;
}

describe('zero-operand gating priced from the data', () => {
  const rng = new Prng(5);
  // x real value = code − 10: half the codes are the zero point (a post-ReLU map), padding is zero too
  const codes = Int32Array.from({ length: SAMPLES * C * HW * HW }, () => (rng.int(2) === 0 ? ZX : ZX + 1 + rng.int(100)));
  const x = Float32Array.from(codes, (c) => c - ZX);
  const w = Int32Array.from({ length: OC * C * K * K }, () => (rng.int(3) === 0 ? 0 : rng.int(200) - 100));
  const n = network(w);

  // every multiplication, visited: output (s, o, oy, ox) × (c, ky, kx), input (oy + ky − 1, ox + kx − 1)
  let macs = 0;
  let zAct = 0;
  let zAny = 0;
  for (let s = 0; s < SAMPLES; s++)
    for (let o = 0; o < OC; o++)
      for (let oy = 0; oy < HW; oy++)
        for (let ox = 0; ox < HW; ox++)
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < K; ky++)
              for (let kx = 0; kx < K; kx++) {
                const iy = oy + ky - 1;
                const ix = ox + kx - 1;
                const xz = iy < 0 || iy >= HW || ix < 0 || ix >= HW || codes[((s * C + c) * HW + iy) * HW + ix] === ZX;
                const wz = w[((o * C + c) * K + ky) * K + kx] === 0;
                macs++;
                if (xz) zAct++;
                if (xz || wz) zAny++;
              }

  const base = validateArchSpec({ ...PRESETS['edge-npu'], name: 'no-gating' });
  const act = validateArchSpec({ ...PRESETS['edge-npu'], name: 'gate-act', pe: { ...PRESETS['edge-npu'].pe, zeroGating: 'activation' } });
  const any = validateArchSpec({ ...PRESETS['edge-npu'], name: 'gate-any', pe: { ...PRESETS['edge-npu'].pe, zeroGating: 'operand' } });
  const r0 = simulate(base, n, x, true);
  const rA = simulate(act, n, x);
  const rO = simulate(any, n, x);
  const layer = (r: SimulationResult) => r.layers.find((l) => l.name === 'conv')!;
  const count = (r: SimulationResult, component: string, label: string) => layer(r).counts.filter((c) => c.component === component && c.label === label).reduce((a, c) => a + c.count, 0);

  it('an arch without gating reports the zero fractions when asked, and prices every MAC', () => {
    expect(layer(simulate(base, n, x)).zeros).toBeUndefined();
    const z = layer(r0).zeros!;
    expect(z.zeroActMacFraction).toBe(zAct / macs);
    expect(z.zeroOperandMacFraction).toBe(zAny / macs);
    expect(z.inputZeroFraction).toBe(codes.filter((c) => c === ZX).length / codes.length);
    expect(z.weightZeroFraction).toBe(w.filter((v) => v === 0).length / w.length);
    expect(z.gatedMacs).toBe(0);
    expect(count(r0, 'multiplier', 'array')).toBe(macs / SAMPLES);
    expect(count(r0, 'adder', 'zero-detect')).toBe(0);
  });

  it('gating takes the gated multiply-adds out of the energy, adds the detectors, and leaves cycles and outputs alone', () => {
    for (const [r, spec, gated, detect] of [
      [rA, act, zAct / SAMPLES, C * HW * HW],
      [rO, any, zAny / SAMPLES, C * HW * HW + OC * C * K * K],
    ] as const) {
      expect(layer(r).zeros!.gatedMacs).toBe(gated);
      expect(count(r, 'multiplier', 'array')).toBe(macs / SAMPLES - gated);
      expect(count(r, 'adder', 'array')).toBe(macs / SAMPLES - gated);
      expect(count(r, 'adder', 'zero-detect')).toBe(detect);
      expect(r.totals.cycles).toBe(r0.totals.cycles);
      expect(Array.from(r.outputs!.y.data as Float32Array)).toEqual(Array.from(r0.outputs!.y.data as Float32Array));
      // the saving, from the table's own per-op energies
      const t = energyTableForSpec(spec);
      const mult = energyOf(t, 'multiplier', 'mult', [spec.pe.weightOperandBits, spec.pe.activationOperandBits]);
      const add = energyOf(t, 'adder', 'add', spec.accumulator.psumBits);
      const aDet = energyOf(t, 'adder', 'add', spec.pe.activationOperandBits);
      const wDet = energyOf(t, 'adder', 'add', spec.pe.weightOperandBits);
      const detectPj = C * HW * HW * aDet + (spec === any ? OC * C * K * K * wDet : 0);
      const want = layer(r0).energyPj - gated * (mult + add) + detectPj;
      expect(Math.abs(layer(r).energyPj - want)).toBeLessThanOrEqual(1e-9 * want);
      expect(Math.abs(r.totals.energyPj - (r0.totals.energyPj - layer(r0).energyPj + layer(r).energyPj))).toBeLessThanOrEqual(1e-9 * r.totals.energyPj);
    }
    expect(layer(rO).energyPj).toBeLessThan(layer(rA).energyPj);
    expect(layer(rA).energyPj).toBeLessThan(layer(r0).energyPj);
  });

  it('an unknown gating mode is refused by path', () => {
    expect(() => validateArchSpec({ ...PRESETS['edge-npu'], name: 'bad', pe: { ...PRESETS['edge-npu'].pe, zeroGating: 'weights' as never } })).toThrow(/pe\.zeroGating/);
  });
});
