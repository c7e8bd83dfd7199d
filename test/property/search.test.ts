/**
 * NSGA-II's parts (scenarios/search.ts) against their definitions, on seeded random objective sets:
 * the fronts partition the points, no point of a front is dominated by one of the same or a later
 * front and each is dominated by one of the previous front; crowding puts the extremes at
 * infinity; the 2-D hypervolume equals a grid count; and a whole search is a pure function of the
 * seed that resumes from its point files.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runSearch } from '../../scenarios/run-scenario.js';
import { validateScenario } from '../../scenarios/scenario.js';
import { crowding, dominates, hypervolume2d, nonDominatedSort } from '../../scenarios/search.js';

const objectiveSets = fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 40 });

describe('NSGA-II parts', () => {
  it('fronts partition the points; front k is non-dominated within fronts ≥ k, and each member is dominated from front k−1', () => {
    fc.assert(
      fc.property(objectiveSets, (objs) => {
        const fronts = nonDominatedSort(objs);
        expect(fronts.flat().sort((a, b) => a - b)).toEqual(objs.map((_, i) => i));
        fronts.forEach((f, k) => {
          const rest = fronts.slice(k).flat();
          for (const i of f) {
            for (const j of rest) expect(dominates(objs[j], objs[i])).toBe(false);
            if (k > 0) expect(fronts[k - 1].some((j) => dominates(objs[j], objs[i]))).toBe(true);
          }
        });
      }),
    );
  });

  it('crowding: each objective\'s extremes are infinite, the others finite and ≥ 0', () => {
    fc.assert(
      fc.property(objectiveSets, (objs) => {
        const front = nonDominatedSort(objs)[0];
        const d = crowding(objs, front);
        for (let m = 0; m < 3; m++) {
          const vals = front.map((i) => objs[i][m]);
          const lo = front.find((i) => objs[i][m] === Math.min(...vals))!;
          expect(d.get(lo)).toBe(Infinity);
        }
        for (const v of d.values()) expect(v).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('2-D hypervolume equals the count of unit cells dominated (integer points, reference 10 × 10)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })), { maxLength: 20 }), (pts) => {
        let cells = 0;
        for (let x = 0; x < 10; x++) for (let y = 0; y < 10; y++) if (pts.some(([a, b]) => a <= x && b <= y)) cells++;
        expect(hypervolume2d(pts, [10, 10])).toBe(cells);
      }),
    );
    // by hand: (1,3) and (2,1) under (4,4): 3·1 + 2·2 = 7
    expect(hypervolume2d([[1, 3], [2, 1]], [4, 4])).toBe(7);
  });
});

describe('search', () => {
  const scenario = (strategy: string) =>
    validateScenario({
      name: 'search-small', seed: 7, runner: 'synthetic', networks: ['fmnist-cnn', 'fmnist-dwsep'], archs: ['edge-npu'],
      axes: { 'array.shape': ['8x8', '16x16', '32x32', '64x16'], 'memories.glb.capacity': ['64 KiB', '256 KiB', '1 MiB'], 'array.dataflow': ['ws', 'os', 'is'] },
      metrics: ['latencyS', 'energyPj'],
      search: { strategy, budget: 30, population: 8, objectives: { latencyS: 'min', energyPj: 'min' } },
    });

  it('is a function of the seed: the same points and front twice; a rerun in the same folder evaluates nothing new', async () => {
    for (const strategy of ['nsga2', 'random']) {
      const out = mkdtempSync(join(tmpdir(), 'qloom-search-'));
      const a = await runSearch(scenario(strategy), { outDir: out, workers: 0 });
      const b = await runSearch(scenario(strategy), { outDir: mkdtempSync(join(tmpdir(), 'qloom-search-')), workers: 0 });
      expect(a.result.evaluated.length).toBe(30);
      expect(new Set(a.result.evaluated.map((e) => e.point.configHash)).size).toBe(30);
      expect(b.result.evaluated.map((e) => e.point.configHash)).toEqual(a.result.evaluated.map((e) => e.point.configHash));
      expect(b.result.front).toEqual(a.result.front);
      const again = await runSearch(scenario(strategy), { outDir: out, workers: 0 });
      expect(again.result.evaluated.map((e) => e.point.configHash)).toEqual(a.result.evaluated.map((e) => e.point.configHash));
      expect(a.result.ran).toBe(30);
      expect(again.result.ran).toBe(0);
      // every point of the front is non-dominated among all evaluated
      const objs = a.result.evaluated.map((e) => e.objectives);
      for (const i of a.result.front) expect(objs.some((o) => dominates(o, objs[i]))).toBe(false);
    }
  });

  it('a search point has the grid point\'s config hash', async () => {
    const { expandPoints } = await import('../../scenarios/points.js');
    const s = scenario('random');
    const grid = new Set(expandPoints(s).map((p) => p.configHash));
    const r = await runSearch(s, { outDir: mkdtempSync(join(tmpdir(), 'qloom-search-')), workers: 0 });
    for (const e of r.result.evaluated) expect(grid.has(e.point.configHash)).toBe(true);
  });

  it('a bad search: block names each field', () => {
    expect(() =>
      validateScenario({ name: 'x', seed: 1, runner: 'synthetic', networks: ['fmnist-cnn'], archs: ['edge-npu'], metrics: ['latencyS'], search: { strategy: 'grid', budget: 0, objectives: { cycles: 'min', latencyS: 'up' }, extra: 1 } }),
    ).toThrow(/search\.extra: unknown key[\s\S]*search\.strategy: expected random or nsga2[\s\S]*search\.budget: expected an integer ≥ 1[\s\S]*search\.objectives\.cycles: not a scalar metric[\s\S]*search\.objectives\.latencyS: expected min or max/);
  });
});
