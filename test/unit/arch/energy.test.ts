import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ActionCount,
  applyEnergyTable,
  energyOf,
  energyTableForSpec,
  energyTableHash,
  HOROWITZ_45NM,
  loadEnergyTable,
  validateEnergyTable,
} from '../../../arch/energy.js';
import { ConfigError } from '../../../arch/errors.js';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';

const T = loadEnergyTable('horowitz-45nm');
const KiB = 1024;
const MiB = 1024 * 1024;

describe('horowitz-45nm: the quoted numbers at their native widths (DESIGN.md)', () => {
  it('arithmetic', () => {
    expect(energyOf(T, 'adder', 'add', 8)).toBe(0.03);
    expect(energyOf(T, 'adder', 'add', 32)).toBe(0.1);
    expect(energyOf(T, 'multiplier', 'mult', [8, 8])).toBe(0.2);
    expect(energyOf(T, 'multiplier', 'mult', 8)).toBe(0.2); // n means n×n
    expect(energyOf(T, 'multiplier', 'mult', [32, 32])).toBe(3.1);
    expect(energyOf(T, 'fp-adder', 'add', 32)).toBe(0.9);
    expect(energyOf(T, 'fp-multiplier', 'mult', 32)).toBe(3.7);
    expect(energyOf(T, 'fp-adder', 'add', 16)).toBe(0.4);
    expect(energyOf(T, 'fp-multiplier', 'mult', 16)).toBe(1.1);
  });
  it('memories: 64-bit SRAM reads at 8 KB / 32 KB / 1 MB, DRAM 1.3 nJ per 64 bits', () => {
    expect(energyOf(T, 'sram', 'read', 64, 8 * KiB)).toBe(10);
    expect(energyOf(T, 'sram', 'read', 64, 32 * KiB)).toBe(20);
    expect(energyOf(T, 'sram', 'read', 64, 1 * MiB)).toBe(100);
    expect(energyOf(T, 'sram', 'write', 64, 32 * KiB)).toBe(20);
    expect(energyOf(T, 'dram', 'read', 64)).toBe(1300);
    expect(energyOf(T, 'dram', 'write', 64)).toBe(1300);
  });
  it('names its source', () => {
    expect(T.source).toContain('Horowitz');
    expect(T.source).toContain('ISSCC 2014');
    expect(HOROWITZ_45NM.entries.length).toBe(T.entries.length);
  });
});

describe('scaling rules (hand-computed)', () => {
  it('multiplier ∝ product of operand widths, from the nearest quoted product', () => {
    expect(energyOf(T, 'multiplier', 'mult', [9, 8])).toBeCloseTo((0.2 * 72) / 64, 12); // 0.225: zp-subtract operands
    expect(energyOf(T, 'multiplier', 'mult', [9, 9])).toBeCloseTo((0.2 * 81) / 64, 12);
    expect(energyOf(T, 'multiplier', 'mult', [4, 4])).toBeCloseTo(0.05, 12);
    // 16×16 = 256 is 2 octaves from 64 and from 1024: the tie goes to the larger (32×32)
    expect(energyOf(T, 'multiplier', 'mult', [16, 16])).toBeCloseTo((3.1 * 256) / 1024, 12); // 0.775
    expect(energyOf(T, 'multiplier', 'mult', [32, 16])).toBeCloseTo((3.1 * 512) / 1024, 12);
  });
  it('adder ∝ width, from the nearest quoted width', () => {
    expect(energyOf(T, 'adder', 'add', 4)).toBeCloseTo(0.015, 12);
    expect(energyOf(T, 'adder', 'add', 12)).toBeCloseTo((0.03 * 12) / 8, 12); // log2 distance 0.58 vs 1.42
    expect(energyOf(T, 'adder', 'add', 16)).toBeCloseTo(0.05, 12); // tie → 32-bit entry: 0.1·16/32
    expect(energyOf(T, 'adder', 'add', 64)).toBeCloseTo(0.2, 12);
    expect(energyOf(T, 'fp-adder', 'add', 64)).toBeCloseTo(1.8, 12);
  });
  it('memory ∝ bits, and SRAM log-linear in capacity', () => {
    expect(energyOf(T, 'sram', 'read', 8, 8 * KiB)).toBeCloseTo(1.25, 12);
    expect(energyOf(T, 'dram', 'read', 8)).toBeCloseTo(162.5, 12);
    expect(energyOf(T, 'dram', 'read', 1)).toBeCloseTo(20.3125, 12);
    // between 8 KiB (2^13, 10 pJ) and 32 KiB (2^15, 20 pJ): 16 KiB → 15 pJ
    expect(energyOf(T, 'sram', 'read', 64, 16 * KiB)).toBeCloseTo(15, 12);
    // between 32 KiB (2^15, 20) and 1 MiB (2^20, 100): 256 KiB = 2^18 → 20 + 3·16 = 68
    expect(energyOf(T, 'sram', 'read', 64, 256 * KiB)).toBeCloseTo(68, 12);
    expect(energyOf(T, 'sram', 'read', 8, 256 * KiB)).toBeCloseTo(8.5, 12);
    // above 1 MiB the last slope (16 pJ per doubling) continues: 2 MiB → 116, 24 MiB → 100 + 16·log2(24)
    expect(energyOf(T, 'sram', 'read', 64, 2 * MiB)).toBeCloseTo(116, 12);
    expect(energyOf(T, 'sram', 'read', 64, 24 * MiB)).toBeCloseTo(100 + 16 * Math.log2(24), 12);
    // below 8 KiB: the 8 KiB value
    expect(energyOf(T, 'sram', 'read', 64, 1 * KiB)).toBe(10);
    // 108 KiB (Eyeriss GLB): 20 + 16·(log2(110592) − 15)
    expect(energyOf(T, 'sram', 'read', 64, 108 * KiB)).toBeCloseTo(20 + 16 * (Math.log2(110592) - 15), 12);
  });
  it('register file: one int8 MAC (0.23 pJ) per 8-bit access, ∝ bits', () => {
    expect(energyOf(T, 'regfile', 'read', 8)).toBeCloseTo(0.23, 12);
    expect(energyOf(T, 'regfile', 'write', 32)).toBeCloseTo(0.92, 12);
  });
  it('rejects queries the table cannot answer', () => {
    expect(() => energyOf(T, 'sram', 'erase', 64, 8 * KiB)).toThrow(ConfigError);
    expect(() => energyOf(T, 'sram', 'read', 64)).toThrow(/capacityBytes/);
    expect(() => energyOf(T, 'adder', 'add', [8, 8])).toThrow(RangeError);
    expect(() => energyOf(T, 'adder', 'add', 0)).toThrow(RangeError);
    try {
      energyOf(T, 'multiplyer', 'mult', 8);
    } catch (e) {
      expect((e as Error).message).toContain('did you mean multiplier/mult');
    }
  });
});

describe('applyEnergyTable: counts × table after the run', () => {
  const counts: ActionCount[] = [
    { component: 'multiplier', action: 'mult', bits: [8, 8], count: 1000, label: 'pe' },
    { component: 'adder', action: 'add', bits: 32, count: 1000, label: 'pe' },
    { component: 'sram', action: 'read', bits: 64, capacityBytes: 32 * KiB, count: 10, label: 'glb' },
    { component: 'dram', action: 'read', bits: 64, count: 2 },
  ];

  it('sums per row, component/action, label and total (hand-computed)', () => {
    const r = applyEnergyTable(counts, T);
    expect(r.rows.map((x) => x.energyPj)).toEqual([200, 100, 200, 2600].map((v) => expect.closeTo(v, 9)));
    expect(r.byComponent.multiplier.mult).toBeCloseTo(200, 9);
    expect(r.byComponent.sram.read).toBeCloseTo(200, 9);
    expect(r.byLabel.pe).toBeCloseTo(300, 9);
    expect(r.byLabel.glb).toBeCloseTo(200, 9);
    expect(r.byLabel.dram).toBeCloseTo(2600, 9);
    expect(r.totalPj).toBeCloseTo(3100, 9);
    expect(r.table).toBe('horowitz-45nm');
    expect(r.tableHash).toBe(energyTableHash(T));
    expect(Object.isFrozen(r.rows[0])).toBe(true);
  });

  it('a table can be swapped without re-running', () => {
    const high = validateEnergyTable({
      ...HOROWITZ_45NM,
      name: 'horowitz-45nm-dram-high',
      entries: HOROWITZ_45NM.entries.map((e) => (e.component === 'dram' ? { ...e, energy: '2.6 nJ' } : e)),
    });
    const r = applyEnergyTable(counts, high);
    expect(r.byComponent.dram.read).toBeCloseTo(5200, 9);
    expect(r.totalPj).toBeCloseTo(5700, 9);
    expect(energyTableHash(high)).not.toBe(energyTableHash(T));
  });

  it('lists every count the table cannot price in one ConfigError', () => {
    let err: ConfigError | undefined;
    try {
      applyEnergyTable(
        [...counts, { component: 'noc', action: 'hop', bits: 8, count: 5 }, { component: 'sram', action: 'read', bits: 8, count: 1 }, { component: 'adder', action: 'add', bits: 8, count: -1 }],
        T,
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems.map((p) => p.path)).toEqual(['counts[4]', 'counts[5]', 'counts[6].count']);
  });
});

describe('energy tables: validation and files', () => {
  it('collects every problem with its path', () => {
    let err: ConfigError | undefined;
    try {
      validateEnergyTable({
        name: 'bad',
        entires: [],
        entries: [
          { component: 'adder', action: 'add', energy: '0.03 pJJ', bits: 8, scaling: 'width' },
          { component: 'multiplier', action: 'mult', energy: '0.2 pJ', bits: [8, 8], scaling: 'product' },
          { component: 'adder', action: 'add', energy: '1 GHz', bits: [8, 8], scaling: 'width' },
          { component: 'sram', action: 'read', energy: '10 pJ', bits: 64, capacity: '8 KB', scaling: 'bits' },
          { component: 'sram', action: 'read', energy: '20 pJ', bits: 64, scaling: 'bits' },
          { component: 'dram', action: 'read', energy: '1.3 nJ', bits: 64, scaling: 'linear', colour: 'red' },
          { component: 'dram', action: 'write', energyPj: 1300, energy: '1.2 nJ', bits: 64, scaling: 'bits' },
          { component: 'multiplier', action: 'mult', energy: '0.3 pJ', bits: 8, scaling: 'product' },
        ],
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const byPath = Object.fromEntries(err!.problems.map((p) => [p.path, p.message]));
    expect(byPath.entires).toContain('did you mean "entries"');
    expect(byPath['entries[0].energy']).toContain('is not an energy');
    expect(byPath['entries[5].colour']).toContain('unknown key');
    expect(byPath['entries[2].energy']).toContain('it is a frequency');
    expect(byPath['entries[2].bits']).toContain('only go with scaling "product"');
    expect(byPath['entries[4]']).toContain('either every entry gives a capacity or none does');
    expect(byPath['entries[5].scaling']).toContain('"linear" is not one of');
    expect(byPath['entries[6].energyPj']).toContain('disagrees');
    expect(byPath['entries[7]']).toContain('duplicate multiplier/mult entry at 8×8 bits');
  });

  it('built-in tables are deep-frozen and cached', () => {
    expect(Object.isFrozen(T.entries[0])).toBe(true);
    expect(Object.isFrozen(T.entries[0].bits)).toBe(true);
    expect(loadEnergyTable('horowitz-45nm')).toBe(T);
    expect(() => loadEnergyTable('horowitz-45')).toThrow(/did you mean "horowitz-45nm"/);
  });

  it('loads user tables from JSON and YAML in the same format', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-ert-'));
    const table = { name: 'mine', source: 'test', entries: [{ component: 'adder', action: 'add', energy: '0.05 pJ', bits: 16, scaling: 'width' }] };
    writeFileSync(join(dir, 't.json'), JSON.stringify(table));
    expect(energyOf(loadEnergyTable(join(dir, 't.json')), 'adder', 'add', 8)).toBeCloseTo(0.025, 12);
    writeFileSync(join(dir, 't.yaml'), 'name: mine\nentries:\n  - { component: adder, action: add, energyPj: 0.05, bits: 16, scaling: width }\n');
    expect(energyOf(loadEnergyTable(join(dir, 't.yaml')), 'adder', 'add', 32)).toBeCloseTo(0.1, 12);
    expect(() => loadEnergyTable(join(dir, 'none.json'))).toThrow(ConfigError);
  });

  it('energyTableForSpec applies a spec DRAM energy override', () => {
    expect(energyTableForSpec(presetSpec('edge-npu'))).toBe(T);
    const s = validateArchSpec({ name: 'o', array: { rows: 2, cols: 2 }, memories: { glb: { capacity: '8 KiB' }, dram: { energyPerBit: '10 pJ' } } });
    expect(s.memories.dram.energyPerBitPj).toBe(10);
    const t = energyTableForSpec(s);
    expect(energyOf(t, 'dram', 'read', 64)).toBeCloseTo(640, 9);
    expect(energyOf(t, 'dram', 'write', 8)).toBeCloseTo(80, 9);
    expect(energyOf(t, 'adder', 'add', 8)).toBe(0.03);
  });
});
