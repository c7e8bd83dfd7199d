import { describe, expect, it } from 'vitest';
import { validateArchSpec, type ArchSpec, type ArchSpecInput } from '../../../arch/spec.js';
import { simulate, workloadFromViews, type WorkloadLayer } from '../../../sim/engine/index.js';
import { sfuCost, type SfuWork } from '../../../sim/engine/sfu-cost.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';

function arch(sfu: ArchSpecInput['sfu'], mode: 'calc' | 'user' = 'calc'): ArchSpec {
  return validateArchSpec({
    name: 'sfu-test',
    array: { rows: 4, cols: 4, dataflow: 'ws' },
    memories: {
      ifmap: { capacityBytes: 65536 },
      filter: { capacityBytes: 65536 },
      ofmap: { capacityBytes: 65536 },
      dram: { bytesPerCycle: 4, latencyCycles: mode === 'calc' ? 0 : 10, mode },
    },
    requant: { lanesPerCycle: 4, latencyCycles: 0 },
    dma: { engines: 2, burstBytes: 1, maxOutstanding: 65536 },
    sfu,
  } as ArchSpecInput);
}

const SFU = { lanes: 4, latencyCycles: { exp: 4, divide: 16, rsqrt: 12, lut: 1 } } as const;

/** a vector layer carrying SFU work: rows × rowLength int8 in, int8 out */
function sfuLayer(spec: ArchSpec, work: SfuWork): WorkloadLayer {
  const base = workloadFromViews([gemmViewOfGemm('L', 4, 4, 4)], spec).layers[0];
  const E = work.rows * work.rowLength;
  return { ...base, name: work.op, kind: 'vector', view: null, vectorOp: 'sfu', vectorElements: E, weightBytes: 0, ifmapBytes: E, ofmapBytes: E, biasBytes: 0, requantParamBytes: 0, sfu: work };
}

/** counts of a cost by "component bits" */
function byComponent(counts: readonly { component: string; bits: number | readonly number[]; count: number; capacityBytes?: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of counts) {
    const k = `${c.component} ${String(c.bits)}${c.capacityBytes !== undefined ? ` ${c.capacityBytes}B` : ''}`;
    out[k] = (out[k] ?? 0) + c.count;
  }
  return out;
}

describe('special-function unit: what each algorithm costs', () => {
  const work: SfuWork = { op: 'softmax', rows: 8, rowLength: 16, inputBits: 8, outputBits: 8 };

  it('I-BERT softmax: 3 passes, a division per row, polynomial exp', () => {
    const spec = arch({ ...SFU, softmax: 'ibert' });
    const c = sfuCost(work, spec.sfu!);
    const E = 128;
    const R = 8;
    expect(c.passes).toBe(3);
    expect(c.rowOps).toBe(R);
    expect(c.chainLatencyCycles).toBe(4 + 16);
    expect(byComponent(c.counts)).toEqual({
      // compares for the maximum + round-and-clamp at the output, both 8 bits
      'adder 8': E + E,
      // i-exp: 2 multiplies; normalization: e·factor and the output multiplier
      'multiplier 32,32': 2 * E + 2 * E,
      // i-exp 3 adds + the sum; 32 restoring-division steps per row
      'adder 32': 3 * E + E + 32 * R,
    });
  });

  it('ORT softmax: a 256-entry float table, float sum, Newton–Raphson reciprocal per row', () => {
    const c = sfuCost(work, arch({ ...SFU, softmax: 'ort' }).sfu!);
    expect(byComponent(c.counts)).toEqual({ 'adder 8': 256, 'sram 32 1024B': 128, 'fp-adder 32': 128 + 3 * 8, 'fp-multiplier 32,32': 3 * 2 * 8 + 128 });
    expect(c.chainLatencyCycles).toBe(1 + 16);
  });

  it('LUT softmax reads a table of the configured size', () => {
    const c = sfuCost(work, arch({ ...SFU, softmax: 'lut', expLutEntries: 64 }).sfu!);
    // 64 entries of 16 bits
    expect(byComponent(c.counts)['sram 16 128B']).toBe(128);
  });

  it('LayerNorm: float uses fp32 units, integer uses Newton square root by divisions', () => {
    const ln: SfuWork = { op: 'layernorm', rows: 17, rowLength: 64, inputBits: 8, outputBits: 8 };
    const E = 17 * 64;
    const f = sfuCost(ln, arch({ ...SFU, layerNorm: 'float' }).sfu!);
    expect(byComponent(f.counts)).toEqual({ 'fp-multiplier 32,32': E + E + 3 * E + 17 * 9, 'fp-adder 32': E + 2 * E + 2 * E + 17 * 3, 'adder 8': E });
    const i = sfuCost(ln, arch({ ...SFU, layerNorm: 'integer' }).sfu!);
    expect(byComponent(i.counts)).toEqual({ 'adder 32': E + 2 * E + 17 * (5 * 32 + 8) + E + E, 'multiplier 32,32': E + 2 * E, 'adder 8': E });
    expect(i.chainLatencyCycles).toBe(12);
  });

  it('i-GELU: one pass, no row op', () => {
    const c = sfuCost({ op: 'igelu', rows: 1, rowLength: 100, inputBits: 8, outputBits: 8 }, arch(SFU).sfu!);
    expect(c).toMatchObject({ passes: 1, rowOps: 0, chainLatencyCycles: 4 });
    expect(byComponent(c.counts)).toEqual({ 'multiplier 32,32': 300, 'adder 32': 500 });
  });
});

describe('special-function unit in the engine', () => {
  it('a softmax layer computes passes × ⌈E / lanes⌉ + ⌈R / lanes⌉ + its chain latency (CALC: no stalls)', () => {
    const spec = arch({ ...SFU, softmax: 'ibert' });
    const l = simulate(spec, { name: 'w', layers: [sfuLayer(spec, { op: 'softmax', rows: 8, rowLength: 16, inputBits: 8, outputBits: 8 })] }).layers[0];
    // 3 × 128/4 + 8/4 + (4 + 16)
    expect(l.computeCycles).toBe(96 + 2 + 20);
    expect(l.cycles).toBe(118);
    expect(l.macs).toBe(0);
    expect(l.counts.filter((c) => c.label === 'sfu').reduce((s, c) => s + c.count, 0)).toBe(256 + 512 + 768);
    expect(l.energyPj).toBeGreaterThan(0);
  });

  it('with DRAM latency the layer is cut into whole-row sub-tiles and still does the same work', () => {
    const spec = arch({ ...SFU, softmax: 'ibert' }, 'user');
    const w = { op: 'softmax' as const, rows: 64, rowLength: 64, inputBits: 8, outputBits: 8 };
    const l = simulate(spec, { name: 'w', layers: [sfuLayer(spec, w)] }).layers[0];
    expect(l.computeCycles).toBe(3 * 1024 + 16 + 20);
    expect(l.cycles).toBeGreaterThan(l.computeCycles);
    expect(l.dramBytes).toEqual({ read: 4096, write: 4096 });
    // the same with every sub-tile stepped (no fast-forward)
    const slow = simulate(spec, { name: 'w', layers: [sfuLayer(spec, w)] }, {}, { fastForward: false }).layers[0];
    expect(slow.cycles).toBe(l.cycles);
  });

  it('the algorithm the arch names changes the cost, not the layer', () => {
    const w: SfuWork = { op: 'softmax', rows: 32, rowLength: 32, inputBits: 8, outputBits: 8 };
    const ort = arch({ ...SFU, softmax: 'ort' });
    const ib = arch({ ...SFU, softmax: 'ibert' });
    const a = simulate(ort, { name: 'w', layers: [sfuLayer(ort, w)] }).layers[0];
    const b = simulate(ib, { name: 'w', layers: [sfuLayer(ib, w)] }).layers[0];
    // the same bytes moved, different arithmetic priced
    expect(a.bits).toEqual(b.bits);
    expect(a.energyPj).not.toBe(b.energyPj);
    expect(a.counts.filter((c) => c.label === 'sfu').map((c) => c.component).sort()).toEqual(['adder', 'fp-adder', 'fp-multiplier', 'sram']);
    expect(b.counts.filter((c) => c.label === 'sfu').map((c) => c.component).sort()).toEqual(['adder', 'adder', 'multiplier']);
  });
});
