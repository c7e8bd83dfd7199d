/**
 * A banked buffer's accesses are priced per bank: one access touches one
 * `wordBits` word of one bank, so its energy is that of a `capacityBytes / banks` macro
 * (sim/engine/accounting.ts). Hand calculation with the default table (Horowitz 45 nm, 64-bit
 * SRAM read 10 / 20 / 100 pJ at 8 KiB / 32 KiB / 1 MiB, linear in log2 capacity, arch/energy.ts):
 * - a 16 KiB bank: 10 + (14 − 13) · (20 − 10) / (15 − 13) = 15 pJ per 64-bit word;
 * - the whole 64 KiB: 20 + (16 − 15) · (100 − 20) / (20 − 15) = 36 pJ — what a 4-bank 64 KiB
 *   buffer was priced at before.
 */
import { describe, expect, it } from 'vitest';
import { applyEnergyTable, energyOf, loadEnergyTable } from '../../../arch/energy.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import { simulate, workloadFromViews } from '../../../sim/engine/index.js';
import { BufferTraffic } from '../../../sim/engine/accounting.js';
import type { ActionCount } from '../../../arch/energy.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';

const KiB = 1024;
const table = loadEnergyTable('horowitz-45nm');

function spec(banks: number): ArchSpec {
  const buf = { capacityBytes: 64 * KiB, banks, wordBits: 64 };
  return validateArchSpec({
    name: 'banked',
    array: { rows: 4, cols: 4, dataflow: 'ws' },
    memories: { ifmap: buf, filter: buf, ofmap: buf, dram: { bytesPerCycle: 8, latencyCycles: 0, mode: 'calc' } },
  });
}

describe('SRAM energy per bank', () => {
  it('the table at the hand-calculated points', () => {
    expect(energyOf(table, 'sram', 'read', 64, 16 * KiB)).toBeCloseTo(15, 12);
    expect(energyOf(table, 'sram', 'read', 64, 64 * KiB)).toBeCloseTo(36, 12);
  });

  it('a 64 KiB 4-bank buffer reads a word at the 16 KiB macro energy, not the 64 KiB one', () => {
    for (const [banks, pj] of [[4, 15], [1, 36]] as const) {
      const counts: ActionCount[] = [];
      const t = new BufferTraffic(spec(banks));
      // 800 bytes read, 8 written: 100 and 1 64-bit words
      t.add('ifmap', 800, 8);
      t.counts(counts);
      expect(counts.map((c) => [c.action, c.count, c.capacityBytes, c.bits])).toEqual([
        ['write', 1, (64 * KiB) / banks, 64],
        ['read', 100, (64 * KiB) / banks, 64],
      ]);
      const e = applyEnergyTable(counts, table);
      expect(e.rows.map((r) => r.energyPjPerAction)).toEqual([pj, pj].map((x) => expect.closeTo(x, 12)));
      expect(e.totalPj).toBeCloseTo(101 * pj, 9);
    }
  });

  it('a run prices every buffer access per bank: 4 banks cost 15/36 of 1 bank, the rest unchanged', () => {
    const view = gemmViewOfGemm('g', 64, 32, 16);
    const run = (banks: number) => simulate(spec(banks), workloadFromViews([view], spec(banks)));
    const four = run(4);
    const one = run(1);
    const sramPj = (r: typeof four) => Object.values(r.energy.byComponent.sram).reduce((s, x) => s + x, 0);
    // same accesses (the bank count changes no count), each at 15 instead of 36 pJ
    expect(four.counts.map((c) => c.count)).toEqual(one.counts.map((c) => c.count));
    expect(sramPj(four)).toBeCloseTo((sramPj(one) * 15) / 36, 6);
    expect(four.totals.energyPj - sramPj(four)).toBeCloseTo(one.totals.energyPj - sramPj(one), 6);
    for (const row of four.energy.rows.filter((r) => r.component === 'sram')) expect(row.capacityBytes).toBe(16 * KiB);
  });
});
