/**
 * Search instead of grids (scenarios/search.ts), measured.
 * 1. The built-in dse's space per network (108 points: array shape × buffer × DRAM bandwidth ×
 *    dataflow), real `qloom` runner, timing only: the exhaustive front of (latencyS, energyPj)
 *    against the fronts NSGA-II and random sampling find with 25 % of the evaluations (27), three
 *    seeds each; hypervolume ratio with the reference point at 1.1 × the grid's worst of each.
 *    mobilenetv2 is left out here (17 s calibration + 0.45 s a point on this machine).
 * 2. A space of 110,592 points (8 shapes × 8 buffers × 8 bandwidths × 3 dataflows × 6 accumulator
 *    widths × 4 bank counts × 3 networks) that is not evaluated: NSGA-II with a budget of
 *    2,000 evaluations on the `synthetic` stand-in runner (closed-form costs: the search's own
 *    cost, not the simulator's); evaluations, wall time, front size.
 *
 *   npm run bench -- search        (or: npx tsx bench/search.ts)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runSearch } from '../scenarios/run-scenario.js';
import { type Scenario, validateScenario } from '../scenarios/scenario.js';
import { hypervolume2d, nonDominatedSort, spaceSize } from '../scenarios/search.js';
import { runSweep } from '../scenarios/sweep.js';
import { writeBenchResult } from './common.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'qloom-bench-search-'));
const OBJ = { latencyS: 'min', energyPj: 'min' } as const;

function dseOn(network: string, strategy: 'nsga2' | 'random', seed: number, budget: number): Scenario {
  const doc = parse(readFileSync(join(root, 'scenarios/builtin/dse.yaml'), 'utf8')) as Record<string, unknown>;
  return validateScenario({ ...doc, name: `dse-${network}`, seed, networks: [network], report: {}, search: { strategy, budget, population: 8, objectives: OBJ } });
}

export async function main(): Promise<unknown> {
  const dse: Record<string, unknown> = {};
  for (const network of ['fmnist-cnn', 'fmnist-dwsep']) {
    const out = join(dir, network);
    // the grid with the same seed as the searches: every search's points are these point files
    const ratios: Record<string, number[]> = { nsga2: [], random: [], nsga2Strict: [], randomStrict: [] };
    let exhaustive = 0;
    let frontSize = 0;
    for (const seed of [1, 2, 3]) {
      const grid = dseOn(network, 'nsga2', seed, 27);
      const { search: _, ...plain } = grid;
      const all = await runSweep(plain as Scenario, { outDir: out, workers: 0 });
      const objs = all.results.map((r) => [r.metrics.latencyS as number, r.metrics.energyPj as number]);
      // two reference points: 1.1 × the grid's worst (the usual choice, generous: most of the area
      // is dominated by any decent point) and 1.1 × the exhaustive front's own worst (strict: only
      // the region the front spans counts)
      const worst = (xs: number[][]): [number, number] => [1.1 * Math.max(...xs.map((o) => o[0])), 1.1 * Math.max(...xs.map((o) => o[1]))];
      const front = nonDominatedSort(objs)[0].map((i) => objs[i]);
      const refs = { grid: worst(objs), front: worst(front) };
      exhaustive = all.results.length;
      frontSize = front.length;
      for (const strategy of ['nsga2', 'random'] as const) {
        const r = await runSearch(dseOn(network, strategy, seed, Math.round(0.25 * exhaustive)), { outDir: out, workers: 0 });
        const found = r.result.evaluated.map((e) => e.objectives);
        ratios[strategy].push(hypervolume2d(found, refs.grid) / hypervolume2d(objs, refs.grid));
        ratios[`${strategy}Strict`].push(hypervolume2d(found, refs.front) / hypervolume2d(objs, refs.front));
      }
    }
    const stat = (xs: number[]) => ({ mean: Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4)), min: Number(Math.min(...xs).toFixed(4)), perSeed: xs.map((x) => Number(x.toFixed(4))) });
    dse[network] = { points: exhaustive, evaluations: Math.round(0.25 * exhaustive), exhaustiveFront: frontSize, hypervolumeRatio: { nsga2: stat(ratios.nsga2), random: stat(ratios.random) }, hypervolumeRatioStrictReference: { nsga2: stat(ratios.nsga2Strict), random: stat(ratios.randomStrict) } };
  }

  const t0 = performance.now();
  const big = validateScenario({
    name: 'big-space', seed: 1, runner: 'synthetic', networks: ['fmnist-cnn', 'fmnist-dwsep', 'mobilenetv2'], archs: ['edge-npu'],
    axes: {
      'array.shape': ['4x4', '8x8', '16x16', '32x32', '64x16', '16x64', '64x64', '128x32'],
      'memories.glb.capacity': ['32 KiB', '64 KiB', '128 KiB', '256 KiB', '512 KiB', '1 MiB', '2 MiB', '4 MiB'],
      'memories.dram.bandwidth': ['1.6 GB/s', '3.2 GB/s', '6.4 GB/s', '12.8 GB/s', '25.6 GB/s', '51.2 GB/s', '102.4 GB/s', '204.8 GB/s'],
      'array.dataflow': ['ws', 'os', 'is'],
      'accumulator.bits': [16, 18, 20, 24, 28, 32],
      'memories.glb.banks': [1, 2, 4, 8],
    },
    metrics: ['latencyS', 'energyPj', 'accuracy'],
    data: { dataset: 'auto', samples: 1 },
    search: { strategy: 'nsga2', budget: 2000, population: 100, objectives: { latencyS: 'min', energyPj: 'min', accuracy: 'max' } },
  });
  const validateS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const r = await runSearch(big, { outDir: join(dir, 'big'), workers: 0 });
  const bigSpace = { points: spaceSize(big), validateSeconds: Number(validateS.toFixed(1)), evaluations: r.result.evaluated.length, generations: r.result.generations, seconds: Number(((performance.now() - t1) / 1000).toFixed(1)), frontSize: r.result.front.length };
  const doc = { cpus: cpus().length, loadavg: loadavg().map((x) => Number(x.toFixed(1))), dse, bigSpace };
  writeBenchResult(join(root, 'bench/results/search.json'), JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  return doc;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
