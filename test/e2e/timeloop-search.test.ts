/** `qloom timeloop --search` as a user runs it, on a small Timeloop reference run folder. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, ROOT } from '../helpers/cli.js';

const RUN = resolve(ROOT, '../shared/golden/timeloop/ex01_conv1d_2level/ref-output/os');

interface SearchReport {
  objective: string;
  mode: string;
  seed: number;
  budget: number;
  spaceSize: number;
  evaluated: number;
  invalid: number;
  timing?: { elapsedMs: number; mappingsPerSecond: number };
  bestValue: number;
  given: { energyPj: number; cycles: number };
  mapping: { target: string; type: string; factors?: string; permutation?: string; keep?: string[]; bypass?: string[] }[];
  best: { energyPj: number; cycles: number; computes: number; levels: { name: string }[] };
}

describe('qloom timeloop --search', () => {
  it.skipIf(!existsSync(RUN))('--json: an exhaustive search of the small space, its best mapping as Timeloop entries and its counts', async () => {
    const r = await qloom('timeloop', RUN, '--search', '--objective', 'energy', '--seed', '3', '--json', '--timing');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as SearchReport;
    expect(doc).toEqual(expect.objectContaining({ objective: 'energy', mode: 'exhaustive', seed: 3, budget: 2000 }));
    expect(doc.evaluated + doc.invalid).toBe(doc.spaceSize);
    expect(doc.timing!.mappingsPerSecond).toBeGreaterThan(0);
    // the run's own mapping (ex01 os, 360.0039 pJ in Timeloop's stats) is in the space
    expect(doc.given.energyPj).toBeCloseTo(360.0039, 3);
    expect(doc.bestValue).toBeLessThanOrEqual(doc.given.energyPj);
    expect(doc.best.energyPj).toBe(doc.bestValue);
    expect(doc.best.computes).toBe(48);
    // outermost first, one temporal and one bypass entry per level, as in a Timeloop map.yaml
    expect(doc.mapping.map((e) => `${e.target}/${e.type}`)).toEqual(['MainMemory/temporal', 'MainMemory/bypass', 'Buffer/temporal', 'Buffer/bypass']);
    expect(doc.mapping[0].factors).toMatch(/^R=\d+ P=\d+$/);
  });

  it.skipIf(!existsSync(RUN))('a seeded random search: without --timing, the same command prints the same bytes', async () => {
    const args = ['timeloop', RUN, '--search', '--budget', '40', '--seed', '11', '--objective', 'edp', '--json'];
    const [a, b] = [await qloom(...args), await qloom(...args)];
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const doc = JSON.parse(a.stdout) as SearchReport;
    expect(doc).toEqual(expect.objectContaining({ mode: 'random', seed: 11, objective: 'edp' }));
    expect(doc.timing).toBeUndefined();
    expect(doc.evaluated).toBeLessThanOrEqual(40);
    expect(doc.bestValue).toBe(doc.best.energyPj * doc.best.cycles);
  });

  it.skipIf(!existsSync(RUN))('without --json: the search line, the mapping and the table', async () => {
    const r = await qloom('timeloop', RUN, '--search', '--budget', '50');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^random search for the lowest energy \(seed 1, budget 50, space \d+\): \d+ mappings evaluated, \d+ refused/);
    expect(r.stdout).toMatch(/MainMemory temporal: factors R=\d+ P=\d+ permutation/);
    expect(r.stdout).toMatch(/48 computes on 1 of 1 MACC/);
  });

  it('search flags without --search, or malformed, are usage errors naming each', async () => {
    const r = await qloom('timeloop', RUN, '--budget', '10', '--seed', '2');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--budget, --seed: only with --search');
    const timing = await qloom('timeloop', RUN, '--search', '--timing');
    expect(timing.code).not.toBe(0);
    expect(timing.stderr).toContain('--timing adds the wall-clock times to the --json output');
    const bad = await qloom('timeloop', RUN, '--search', '--objective', 'power', '--budget', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--objective must be one of energy, cycles, edp');
    expect(bad.stderr).toContain('--budget must be an integer 1…10000000');
    expect(bad.stderr).not.toContain('    at ');
  });
});
