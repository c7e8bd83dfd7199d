/**
 * qloom's Timeloop nest analysis against 10 more Timeloop reference runs (test/golden/data/timeloop-extra,
 * see its README): the dense timeloop-mapper runs of the Accelergy exercises that the golden data set
 * (test/golden/timeloop.test.ts) does not hold — eyeriss_like (two nested fanouts), simba_like (three
 * fanouts, clusters), simple_output_stationary, the ISPASS tutorial's mapper runs, the 2024 interface
 * tutorial. Each run folder goes through `runTimeloop` (the path of `qloom timeloop`, with the
 * mapper's map.yaml) and is compared with Timeloop's own stats.txt (test/helpers/timeloop-stats.ts).
 *
 * Counts are integers and must be equal. Energies are printed by Timeloop with two decimals (pJ per
 * data space / leakage / compute level, fJ per compute), so they are compared to half a unit of the
 * last printed digit, 0.005, plus 1e-12 relative for double-precision summation order — the only
 * slack; no scaled or relative tolerance beyond that.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTimeloop } from '../../scenarios/timeloop.js';
import { parseTimeloopStats } from '../helpers/timeloop-stats.js';

const DATA = resolve(import.meta.dirname, 'data/timeloop-extra');

const CASES = [
  'eyeriss_like',
  'simba_like',
  'simple_output_stationary',
  'ispass_fpmac',
  'ispass_intmac',
  'ispass_05_mapper_baked',
  'ispass_05_mapper_freebypass',
  'ispass_05_mapper_null',
  'ispass_06_mapper_eyeriss',
  'interface_2024',
] as const;

/** |got − printed| within the rounding of a value printed with two decimals */
function printedAs(got: number, printed: number, at: string): void {
  const slack = 0.005 + 1e-12 * Math.abs(printed);
  expect(Math.abs(got - printed), `${at}: ${got} vs printed ${printed}`).toBeLessThanOrEqual(slack);
}

describe('Timeloop extra reference runs (dense exercises, timeloop-mapper)', () => {
  it('holds all 10 runs, each with its input, ERT summary, mapper map and stats', () => {
    const folders = readdirSync(DATA, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(folders.sort()).toEqual([...CASES].sort());
    for (const c of CASES) {
      for (const f of ['parsed-processed-input.yaml', 'timeloop-mapper.ERT_summary.yaml', 'timeloop-mapper.map.yaml', 'timeloop-mapper.stats.txt']) {
        expect(existsSync(join(DATA, c, f)), `${c}/${f}`).toBe(true);
      }
    }
  });

  for (const c of CASES) {
    describe(c, () => {
      const dir = join(DATA, c);
      const want = parseTimeloopStats(readFileSync(join(dir, 'timeloop-mapper.stats.txt'), 'utf8'));
      const run = runTimeloop(dir);
      const r = run.result;
      const storage = want.levels.slice(1);

      it('evaluates the mapping the mapper chose, from the run\'s map.yaml and ERT summary', () => {
        expect(run.files.map).toBe(join(dir, 'timeloop-mapper.map.yaml'));
        expect(run.files.ert).toBe(join(dir, 'timeloop-mapper.ERT_summary.yaml'));
      });

      it('takes as many cycles and computes as Timeloop, on as many compute instances, at every level', () => {
        const mac = want.levels[0];
        expect(r.cycles).toBe(want.cycles);
        expect(r.computes).toBe(want.computes);
        expect(r.computes).toBe(mac.computes);
        expect(r.computeCycles).toBe(mac.cycles);
        expect(r.computeInstances).toBe(mac.utilizedInstances);
        for (const sl of storage) {
          expect({ level: sl.name, cycles: r.levels.find((l) => l.name === sl.name)?.cycles }).toEqual({ level: sl.name, cycles: sl.cycles });
        }
      });

      it('keeps the data spaces Timeloop keeps at every level; the levels it does not print are empty dummy spatial levels', () => {
        for (const sl of storage) {
          const level = r.levels.find((l) => l.name === sl.name);
          expect(level, sl.name).toBeDefined();
          expect({ level: sl.name, keeps: Object.keys(level!.dataSpaces).sort() }).toEqual({ level: sl.name, keeps: Object.keys(sl.dataSpaces).sort() });
        }
        const unprinted = r.levels.filter((l) => !storage.some((s) => s.name === l.name));
        for (const l of unprinted) {
          expect({ level: l.name, keeps: Object.keys(l.dataSpaces) }).toEqual({ level: l.name, keeps: [] });
          expect(l.name).toMatch(/^inter_.*_spatial$/);
        }
        expect(r.levels.length - unprinted.length).toBe(storage.length);
      });

      it('counts the same per-instance reads, fills, updates, temporal reductions, capacity, partition and instances at every level × data space', () => {
        for (const sl of storage) {
          const level = r.levels.find((l) => l.name === sl.name)!;
          for (const [ds, s] of Object.entries(sl.dataSpaces)) {
            const got = level.dataSpaces[ds];
            const at = `${sl.name}.${ds}`;
            expect({
              at,
              reads: got?.reads,
              fills: got?.fills,
              updates: got?.updates,
              temporalReductions: got?.temporalReductions,
              utilizedCapacity: got?.utilizedCapacity,
              partitionSize: got?.partitionSize,
              utilizedInstances: got?.utilizedInstances,
            }).toEqual({
              at,
              reads: s['Scalar reads (per-instance)'],
              fills: s['Scalar fills (per-instance)'],
              updates: s['Scalar updates (per-instance)'],
              temporalReductions: s['Temporal reductions (per-instance)'],
              utilizedCapacity: s['Utilized capacity'],
              partitionSize: s['Partition size'],
              utilizedInstances: s['Utilized instances (max)'],
            });
          }
        }
      });

      it('spends the energy Timeloop prints — per data space, leakage, per level and in total — to its two-decimal rounding', () => {
        printedAs(r.computeEnergyPj, want.levels[0].energyPj!, `${want.levels[0].name} energy (pJ)`);
        printedAs((r.computeEnergyPj * 1000) / r.computes, want.fJPerCompute[want.levels[0].name], `${want.levels[0].name} fJ/compute`);
        for (const sl of storage) {
          const level = r.levels.find((l) => l.name === sl.name)!;
          for (const [ds, s] of Object.entries(sl.dataSpaces)) {
            printedAs(level.dataSpaces[ds].totalEnergyPj, s['Energy (total)'], `${sl.name}.${ds} energy (pJ)`);
          }
          printedAs(level.leakPj, sl.leakagePj!, `${sl.name} leakage (pJ)`);
          printedAs((level.energyPj * 1000) / r.computes, want.fJPerCompute[sl.name], `${sl.name} fJ/compute`);
        }
        // the total: Timeloop prints energy / computes, so total energy = Total × computes to ±0.005 fJ × computes
        printedAs((r.energyPj * 1000) / r.computes, want.fJPerCompute.Total, 'Total fJ/compute');
      });
    });
  }
});
