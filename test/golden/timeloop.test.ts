/**
 * qloom's Timeloop nest analysis against Timeloop's own outputs (../shared/golden/timeloop: the
 * Accelergy exercises' reference runs, see its README). Each run folder goes through the same
 * path as `qloom timeloop` (scenarios/timeloop.ts); the numbers it is compared with come from
 * Timeloop's stats.txt and map+stats.xml (derived/*.golden.json): cycles, computes and every
 * kept level's per-instance reads / fills / updates / temporal reductions, utilized capacity,
 * partition size and utilized instances exactly; per-data-space energy against the XML's full
 * precision to 1e-6 relative, and the total against the README's XML total.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTimeloop } from '../../scenarios/timeloop.js';

const GOLDEN = resolve(import.meta.dirname, '../../../shared/golden/timeloop');

/** [case, run folder, golden name, the XML total (incl. leakage) the golden README states, pJ] */
const RUNS: readonly (readonly [string, string, string, number])[] = [
  ['ex00_conv1d_1level', 'ref-output', 'default', 115.514],
  ['ex01_conv1d_2level', 'ref-output/ws', 'ws', 360.0039],
  ['ex01_conv1d_2level', 'ref-output/os', 'os', 360.0039],
  ['ex02_conv1d_oc_2level', 'ref-output/no-tiling', 'no-tiling', 9612.5893],
  ['ex02_conv1d_oc_2level', 'ref-output/tiling', 'tiling', 7929.295],
  ['ex03_conv1d_oc_3level', 'ref-output/no-bypass', 'no-bypass', 49352.4694],
  ['ex03_conv1d_oc_3level', 'ref-output/bypass', 'bypass', 60471.873],
  ['ex04_conv1d_oc_ic_3levelspatial', 'ref-output/cp', 'cp', 639537.5972],
  ['ex04_conv1d_oc_ic_3levelspatial', 'ref-output/kp', 'kp', 720795.8885],
  ['simple_weight_stationary', 'ref_outputs/default_problem', 'default_problem', 151669736.1505],
];

interface GoldenDs {
  'Partition size': number;
  'Utilized capacity': number;
  'Utilized instances (max)': number;
  'Scalar reads (per-instance)': number;
  'Scalar fills (per-instance)': number;
  'Scalar updates (per-instance)': number;
  'Temporal reductions (per-instance)': number;
}
interface Golden {
  levels: { name: string; stats: { Cycles: number; 'Computes (total)'?: number; 'Utilized instances'?: number; dataspaces?: Record<string, GoldenDs> } }[];
  xml_levels: { name: string; energy_pJ?: number; energy_per_instance_pJ?: number[]; utilized_instances?: number[] | number }[];
}

function golden(c: string, name: string): Golden {
  const derived = join(GOLDEN, c, 'derived');
  return JSON.parse(readFileSync(join(derived, `${name}.golden.json`), 'utf8')) as Golden;
}

function close(a: number, b: number, rel = 1e-6): void {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b)));
}

const present = RUNS.filter(([c, folder]) => existsSync(join(GOLDEN, c, folder, 'parsed-processed-input.yaml')));

describe('Timeloop reference runs', () => {
  it('finds all 10 reference runs', () => {
    expect(present).toHaveLength(10);
  });

  for (const [c, folder, name, xmlTotal] of present) {
    describe(`${c} / ${name}`, () => {
      const g = golden(c, name);
      const run = runTimeloop(join(GOLDEN, c, folder));
      const r = run.result;

      it('cycles, computes and used compute instances equal Timeloop\'s', () => {
        const mac = g.levels[0].stats;
        expect(r.cycles).toBe(mac.Cycles);
        expect(r.computes).toBe(mac['Computes (total)']);
        expect(r.computeInstances).toBe(mac['Utilized instances']);
      });

      it('every level\'s per-instance reads, fills, updates and reductions equal Timeloop\'s', () => {
        for (const gl of g.levels.slice(1)) {
          const level = r.levels.find((l) => l.name === gl.name);
          expect(level, gl.name).toBeDefined();
          const want = gl.stats.dataspaces ?? {};
          // the same data spaces kept (stats.txt lists only the kept ones)
          expect(Object.keys(level!.dataSpaces).sort(), gl.name).toEqual(Object.keys(want).sort());
          for (const [ds, s] of Object.entries(want)) {
            const got = level!.dataSpaces[ds];
            const at = `${gl.name}.${ds}`;
            expect({ at, reads: got.reads, fills: got.fills, updates: got.updates, temporalReductions: got.temporalReductions }).toEqual({
              at,
              reads: s['Scalar reads (per-instance)'],
              fills: s['Scalar fills (per-instance)'],
              updates: s['Scalar updates (per-instance)'],
              temporalReductions: s['Temporal reductions (per-instance)'],
            });
            expect({ at, capacity: got.utilizedCapacity, partition: got.partitionSize, instances: got.utilizedInstances }).toEqual({
              at,
              capacity: s['Utilized capacity'],
              partition: s['Partition size'],
              instances: s['Utilized instances (max)'],
            });
          }
        }
      });

      it('per-data-space energy matches the XML to 1e-6, and the total the XML total', () => {
        const names = run.spec.problem.dataSpaces.map((d) => d.name);
        for (const xl of g.xml_levels) {
          if (xl.energy_per_instance_pJ === undefined) {
            close(r.computeEnergyPj, xl.energy_pJ!);
            continue;
          }
          const level = r.levels.find((l) => l.name === xl.name)!;
          xl.energy_per_instance_pJ.forEach((e, pv) => close(level.dataSpaces[names[pv]]?.energyPj ?? 0, e));
        }
        // the README prints the XML total to 4 decimals
        expect(Math.abs(r.energyPj - xmlTotal)).toBeLessThanOrEqual(5e-5 + 1e-9 * xmlTotal);
      });
    });
  }
});
