/**
 * Shift-mode PEs for log-coded probabilities: the arch field, the refusal on an arch whose PEs
 * only multiply, and what the engine counts for P·V with log-coded P — shifts (priced as adders)
 * instead of multiplies, plus one √2 multiply per output — at the cycles of the uniform form.
 */
import { describe, expect, it } from 'vitest';
import { archArea } from '../../../arch/area.js';
import { PRESETS } from '../../../arch/presets.js';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';
import { logStorageQParams, type LogQuant } from '../../../qnet/logquant.js';
import type { QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import { simulate, workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { logQuantProblem, requantUnitProblem } from '../../../sim/requant-unit.js';

const q = (scale: number, zeroPoint = 0, signed = true): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), axis: -1, bits: 8, signed, narrow: false });

function pvNet(H: number, T: number, D: number, log: LogQuant | null): QuantizedNetwork {
  const t = (name: string, shape: number[], qp: QParams, lq?: LogQuant): [string, QTensorInfo] => [name, { name, shape, q: qp, ...(lq && { log: lq }) }];
  const tensors = new Map<string, QTensorInfo>([
    t('s', [1, H, T, T], q(0.1)),
    log ? t('p', [1, H, T, T], logStorageQParams(log), log) : t('p', [1, H, T, T], q(1 / 256, -128)),
    t('v', [1, H, T, D], q(0.05)),
    t('o', [1, H, T, D], q(0.02)),
  ]);
  return {
    name: 'pv',
    inputs: ['s', 'v'].map((name) => ({ name, dtype: 'int8' as const, shape: tensors.get(name)!.shape })),
    outputs: [{ name: 'o', dtype: 'int8', shape: [1, H, T, D] }],
    tensors,
    layers: [
      { kind: 'softmax', name: 'softmax', inputs: ['s'], output: 'p', axis: 3, coerce2d: false, variant: 'ibert' },
      { kind: 'matmul', name: 'pv', inputs: ['p', 'v'], output: 'o', activation: { kind: 'none' } },
    ],
  };
}

const shiftSpec = () => validateArchSpec({ ...PRESETS['edge-npu'], name: 'edge-npu-shift', pe: { ...PRESETS['edge-npu'].pe, shiftMode: true } });

describe('shift-mode PEs', () => {
  it('pe.shiftMode is validated, kept when true and absent from the normalized form when false', () => {
    expect(shiftSpec().pe.shiftMode).toBe(true);
    expect('shiftMode' in presetSpec('edge-npu').pe).toBe(false);
    expect('shiftMode' in validateArchSpec({ ...PRESETS['edge-npu'], pe: { ...PRESETS['edge-npu'].pe, shiftMode: false } }).pe).toBe(false);
    expect(() => validateArchSpec({ ...PRESETS['edge-npu'], pe: { ...PRESETS['edge-npu'].pe, shiftMode: 'yes' as unknown as boolean } })).toThrow(/pe\.shiftMode/);
  });

  it('a network with log-coded probabilities is refused on PEs that only multiply, naming the matmul', () => {
    const net = pvNet(2, 9, 16, { base: 'logsqrt2', bits: 4, scale: 1 });
    expect(logQuantProblem('edge-npu', presetSpec('edge-npu'), net)).toMatch(/edge-npu's PEs have no shift mode \(pe\.shiftMode false\); pv multiply by log-coded/);
    expect(requantUnitProblem('edge-npu', presetSpec('edge-npu'), net)).toMatch(/shift mode/);
    expect(requantUnitProblem('edge-npu-shift', shiftSpec(), net)).toBeNull();
    expect(logQuantProblem('edge-npu', presetSpec('edge-npu'), pvNet(2, 9, 16, null))).toBeNull();
  });

  it('P·V with log-coded P: shifts instead of multiplies, one √2 multiply per output, cycles of the uniform form; area adds a shifter per PE', () => {
    const [H, T, D] = [2, 17, 32];
    const spec = shiftSpec();
    const uni = simulate(spec, workloadFromQuantizedNetwork(pvNet(H, T, D, null), [1, H, T, T], spec));
    const lg = simulate(spec, workloadFromQuantizedNetwork(pvNet(H, T, D, { base: 'logsqrt2', bits: 4, scale: 1 }), [1, H, T, T], spec));
    const pu = uni.layers[1];
    const pl = lg.layers[1];
    const count = (r: typeof pu, label: string, component: string) => r.counts.filter((c) => c.label === label && c.component === component).reduce((s, c) => s + c.count, 0);
    const macs = H * T * T * D;
    expect(count(pu, 'array', 'multiplier')).toBe(macs);
    expect(count(pl, 'array', 'multiplier')).toBe(0);
    expect(count(pl, 'shifter', 'adder')).toBe(macs);
    expect(count(pl, 'sqrt2', 'multiplier')).toBe(H * T * D);
    expect(pl.computeCycles).toBe(pu.computeCycles);
    // the 4-bit codes move as 4 bits
    expect(pl.bits.dramBuffer.attention).toBe(4 * H * T * T);
    // Horowitz 45 nm: an 8×8 multiply (0.2 pJ) costs more than a 32-bit add (0.1 pJ) plus a √2 multiply per D/T-th
    expect(pl.energyPj).toBeLessThan(pu.energyPj);
    const a0 = archArea(presetSpec('edge-npu')).components.find((c) => c.component === 'pe-array')!;
    const a1 = archArea(spec).components.find((c) => c.component === 'pe-array')!;
    expect(a1.mm2).toBeGreaterThan(a0.mm2);
    expect(a1.detail).toMatch(/shift-mode barrel shifter/);
  });
});
