/**
 * Conservation (DESIGN.md "Referees", issue 20): every total qloom reports is the sum of its parts,
 * over random layers, arrays, buffers and dataflows (test/helpers/sim-arbitraries.ts, as the
 * roofline test draws them), plus one layer computed by hand:
 * - energy = Σ components = Σ labels = Σ layers;
 * - bits moved = Σ levels × classes = Σ layers, each bit once (the psums class is the spill
 *   traffic; its levels are the spill destinations);
 * - DRAM: bits = 8 × DRAM bytes, and DRAM energy = ⌈bytes ÷ 8⌉ 64-bit accesses per layer and
 *   direction × the table's per-access energy, so within one access per layer and direction of
 *   DRAM bits × the table's per-bit energy;
 * - MACs = Σ layers = Σ views' M·K·N·groups;
 * - cycles ≥ compute cycles and ≥ MACs ÷ PEs, and (DRAM not in CALC mode) ≥ DRAM bytes ÷ bandwidth, on the totals (the per-layer
 *   roofline is test/property/roofline.test.ts);
 * - utilization ≤ 1; every count a finite non-negative integer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { energyTableForSpec } from '../../arch/energy.js';
import { validateArchSpec, type ArchSpec } from '../../arch/spec.js';
import { simulate, workloadFromViews } from '../../sim/engine/index.js';
import { BITS_CLASSES, bitsByClass, bitsTotal, dramBits, psumSpillBits, runSummary, type BitsMoved, type RunResult } from '../../sim/result.js';
import { gemmViewOfGemm, type GemmView } from '../../sim/timing/gemm-view.js';
import { archArb, specOf, viewArb } from '../helpers/sim-arbitraries.js';

const SEED = 20;
const rel = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** the spec's table's energy of one 64-bit DRAM access */
function dramAccessPj(spec: ArchSpec, action: string): number {
  const e = energyTableForSpec(spec).entries.find((x) => x.component === 'dram' && x.action === action)!;
  expect(e.bits).toEqual([64]);
  return e.energyPj;
}

const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);
const isCount = (x: number) => Number.isSafeInteger(x) && x >= 0;

/** every conservation law of one run */
function checkConserved(r: RunResult, views: readonly GemmView[], spec: ArchSpec): void {
  const t = r.totals;
  const pes = spec.array.pes;
  const bytesPerCycle = spec.memories.dram.bytesPerCycle;
  // energy
  const byComponent = sum(Object.values(r.energy.byComponent).flatMap((a) => Object.values(a)));
  expect(rel(byComponent, t.energyPj)).toBe(true);
  expect(rel(sum(Object.values(r.energy.byLabel)), t.energyPj)).toBe(true);
  expect(rel(sum(r.layers.map((l) => l.energyPj)), t.energyPj)).toBe(true);
  expect(t.energyPj).toBe(r.energy.totalPj);
  // bits: Σ levels × classes = Σ layers = the JSON's total; classes partition it
  const cells = (b: BitsMoved) => BITS_CLASSES.flatMap((k) => [b.dramBuffer[k], b.bufferArray[k]]);
  expect(Object.keys(t.bits).sort()).toEqual(['bufferArray', 'dramBuffer']);
  expect(bitsTotal(t.bits)).toEqual(sum(cells(t.bits)));
  expect(bitsTotal(t.bits)).toEqual(sum(r.layers.map((l) => bitsTotal(l.bits))));
  expect(sum(Object.values(bitsByClass(t.bits)))).toEqual(bitsTotal(t.bits));
  expect(runSummary(r).totals.bitsMoved).toEqual(bitsTotal(t.bits));
  for (const k of BITS_CLASSES) {
    expect(t.bits.dramBuffer[k]).toEqual(sum(r.layers.map((l) => l.bits.dramBuffer[k])));
    expect(t.bits.bufferArray[k]).toEqual(sum(r.layers.map((l) => l.bits.bufferArray[k])));
  }
  // spills: the psums class by destination, nothing else moves partial sums
  const sp = psumSpillBits(t.bits);
  expect(sp.toBuffer + sp.toDram).toEqual(bitsByClass(t.bits).psums);
  for (const l of r.layers) {
    if (l.spills.toBuffer === 0) expect(l.bits.bufferArray.psums).toEqual(0);
    if (l.spills.toDram === 0) expect(l.bits.dramBuffer.psums).toEqual(0);
    // DRAM: bits = 8 × bytes; energy = ⌈bytes / 8⌉ accesses each way
    expect(dramBits(l.bits)).toEqual(8 * (l.dramBytes.read + l.dramBytes.write));
    const dramPj = sum(l.counts.filter((c) => c.component === 'dram').map((c) => c.count * dramAccessPj(spec, c.action)));
    expect(rel(dramPj, Math.ceil(l.dramBytes.read / 8) * dramAccessPj(spec, 'read') + Math.ceil(l.dramBytes.write / 8) * dramAccessPj(spec, 'write'))).toBe(true);
  }
  const dramPj = sum(Object.values(r.energy.byComponent.dram ?? {}));
  const perBit = dramAccessPj(spec, 'read') / 64;
  expect(dramAccessPj(spec, 'write')).toBe(dramAccessPj(spec, 'read'));
  expect(dramPj).toBeGreaterThanOrEqual(dramBits(t.bits) * perBit * (1 - 1e-12));
  expect(dramPj).toBeLessThanOrEqual((dramBits(t.bits) + 2 * 64 * r.layers.length) * perBit * (1 + 1e-12));
  // MACs
  expect(t.macs).toEqual(sum(r.layers.map((l) => l.macs)));
  expect(t.macs).toEqual(sum(views.map((v) => v.M * v.K * v.N * v.groups)));
  // cycles: Σ layers, roofline on the totals, utilization
  expect(t.cycles).toEqual(sum(r.layers.map((l) => l.cycles)));
  expect(t.computeCycles).toEqual(sum(r.layers.map((l) => l.computeCycles)));
  expect(t.cycles).toBeGreaterThanOrEqual(t.computeCycles);
  if (spec.memories.dram.mode !== 'calc') {
    // CALC DRAM never stalls the array (SCALE-Sim's model): no bandwidth floor there
    expect(t.cycles).toBeGreaterThanOrEqual((t.dramBytes.read + t.dramBytes.write) / bytesPerCycle);
    expect(t.cycles).toBeGreaterThanOrEqual(dramBits(t.bits) / 8 / bytesPerCycle);
  }
  expect(t.cycles).toBeGreaterThanOrEqual(Math.ceil(t.macs / pes));
  expect(t.utilization).toBeLessThanOrEqual(1);
  for (const l of r.layers) expect(l.utilization).toBeLessThanOrEqual(1);
  // every count a finite non-negative integer
  const counts = [t.cycles, t.computeCycles, t.stallCycles, t.macs, t.extraAdds, t.overflows, ...cells(t.bits), ...r.counts.map((c) => c.count)];
  for (const l of r.layers) counts.push(l.cycles, l.computeCycles, l.stallCycles, l.tailCycles, l.macs, l.extraAdds, l.spills.toBuffer, l.spills.toDram, l.tiles, ...cells(l.bits), ...l.counts.map((c) => c.count));
  for (const c of counts) expect(isCount(c)).toBe(true);
}

describe('conservation over random layers and accelerators', () => {
  it('energy, bits, DRAM, MACs, cycles and utilization add up', () => {
    fc.assert(
      fc.property(fc.array(viewArb, { minLength: 1, maxLength: 3 }), archArb, fc.boolean(), fc.boolean(), (views, a, zp, calc) => {
        const spec = specOf(a, calc);
        const w = workloadFromViews(views, spec);
        const r = simulate(spec, { ...w, layers: w.layers.map((l) => ({ ...l, zeroPointTerm: zp })) });
        checkConserved(r, views, spec);
      }),
      { numRuns: 120, seed: SEED },
    );
  });
});

describe('one layer by hand', () => {
  // 4×4 weight-stationary, GEMM M=64 K=8 N=4, int8 operands and outputs, 32-bit accumulators, one
  // int32 accumulator per PE (16 entries), 64 KiB split buffers, CALC DRAM at 16 B/cycle
  const spec = validateArchSpec({
    name: 'golden',
    array: { rows: 4, cols: 4, dataflow: 'ws' },
    memories: { ifmap: { capacityBytes: 65536 }, filter: { capacityBytes: 65536 }, ofmap: { capacityBytes: 65536 }, dram: { bytesPerCycle: 16, latencyCycles: 0, mode: 'calc' } },
    requant: { lanesPerCycle: 4, latencyCycles: 0 },
  });
  const view = gemmViewOfGemm('g', 64, 8, 4);
  const r = simulate(spec, workloadFromViews([view], spec));
  const l = r.layers[0];

  it('counts what the arithmetic says', () => {
    // MACs: 64 · 8 · 4
    expect(l.macs).toBe(2048);
    // K = 8 on 4 rows: 2 K folds, 1 column fold; partial tile 64 · 4 = 256 entries > 16 → spill
    // 256 after K fold 0 and read them back before K fold 1, to the buffer (1 KiB fits the ofmap share)
    expect(l.spills).toEqual({ toBuffer: 256, toDram: 0 });
    // each K fold: 4 + 4 fill + 64 rows − 2 + 4 = 70 cycles (SCALE-Sim WS: 2·rows + cols + M − 2)
    expect(l.computeCycles).toBe(2 * (2 * 4 + 4 + 64 - 2));
    // buffer ↔ array: im2col inputs 64·8 B, weights 8·4 B, outputs 64·4 B, psums (256 out + 256 in) · 32 b
    expect(l.bits.bufferArray).toMatchObject({ inputs: 64 * 8 * 8, weights: 8 * 4 * 8, outputs: 64 * 4 * 8, psums: 512 * 32 });
    // DRAM ↔ buffer: each input and weight byte once, each output byte once, no psums
    expect(l.bits.dramBuffer).toMatchObject({ inputs: 64 * 8 * 8, weights: 8 * 4 * 8, outputs: 64 * 4 * 8, psums: 0 });
    expect(l.dramBytes.read).toBe(64 * 8 + 8 * 4 + (l.bits.dramBuffer.bias + l.bits.dramBuffer.requantParams) / 8);
    expect(l.dramBytes.write).toBe(64 * 4);
  });

  it('adds up: bits once, energy by component, DRAM energy = accesses × 1.3 nJ', () => {
    const b = l.bits;
    const extra = b.dramBuffer.bias + b.dramBuffer.requantParams + b.bufferArray.bias + b.bufferArray.requantParams;
    // 4096 + 256 + 2048 + 16384 buffer↔array, 4096 + 256 + 2048 DRAM↔buffer, + bias and requant parameters
    expect(bitsTotal(r.totals.bits)).toBe(4096 + 256 + 2048 + 16384 + 4096 + 256 + 2048 + extra);
    expect(runSummary(r).totals.bitsMoved).toBe(bitsTotal(r.totals.bits));
    // DRAM: ⌈read B / 8⌉ + 256 / 8 64-bit accesses at 1.3 nJ (Horowitz, the default table)
    const accesses = Math.ceil(l.dramBytes.read / 8) + 256 / 8;
    expect(sum(Object.values(r.energy.byComponent.dram))).toBeCloseTo(accesses * 1300, 6);
    checkConserved(r, [view], spec);
  });
});
