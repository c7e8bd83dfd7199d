/**
 * The Timeloop mapper (sim/mapping/mapper.ts) on the 10 Timeloop reference runs
 * (../shared/golden/timeloop): per run the search mode, the space size, mappings evaluated and
 * refused, evaluations per second, search time, and the best energy as a ratio to the run's given
 * mapping (its peer, evaluated by the same model). simple_weight_stationary's given mapping is
 * timeloop-mapper's choice (EDP objective, random search): there the search runs for energy and
 * for EDP, each against it, and for energy with six seeds. Budgets and seeds are fixed here and
 * recorded with the results.
 * Wall times on a shared machine swing with its load: the load average is recorded.
 *
 *   npm run bench -- mapper        (or: npx tsx bench/mapper.ts)
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { searchTimeloop, type MapperObjective } from '../scenarios/timeloop.js';
import { writeBenchResult } from './common.js';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../shared/golden/timeloop');
const SEED = 1;
const SWS = 'simple_weight_stationary/ref_outputs/default_problem';
/** [run, budget, objective, seed] */
const RUNS: readonly (readonly [string, number, MapperObjective, number?])[] = [
  ['ex00_conv1d_1level/ref-output', 2000, 'energy'],
  ['ex01_conv1d_2level/ref-output/ws', 2000, 'energy'],
  ['ex01_conv1d_2level/ref-output/os', 2000, 'energy'],
  ['ex02_conv1d_oc_2level/ref-output/no-tiling', 2000, 'energy'],
  ['ex02_conv1d_oc_2level/ref-output/tiling', 2000, 'energy'],
  ['ex03_conv1d_oc_3level/ref-output/no-bypass', 2000, 'energy'],
  ['ex03_conv1d_oc_3level/ref-output/bypass', 2000, 'energy'],
  ['ex04_conv1d_oc_ic_3levelspatial/ref-output/cp', 2000, 'energy'],
  ['ex04_conv1d_oc_ic_3levelspatial/ref-output/kp', 2000, 'energy'],
  [SWS, 400, 'energy'],
  // the spread over seeds, where the space is far too large to cover
  [SWS, 400, 'energy', 2],
  [SWS, 400, 'energy', 3],
  [SWS, 400, 'energy', 4],
  [SWS, 400, 'energy', 5],
  [SWS, 400, 'energy', 6],
  [SWS, 400, 'edp'],
];

export async function main(): Promise<unknown> {
  const rows = [];
  const load = loadavg()[0];
  for (const [folder, budget, objective, seed = SEED] of RUNS) {
    const path = join(GOLDEN, folder);
    if (!existsSync(join(path, 'parsed-processed-input.yaml'))) throw new Error(`no Timeloop reference run at ${path}`);
    const s = searchTimeloop(path, { objective, budget, seed });
    const m = s.search;
    const given = s.given!;
    const givenValue = objective === 'energy' ? given.energyPj : objective === 'cycles' ? given.cycles : given.energyPj * given.cycles;
    rows.push({
      run: folder,
      objective,
      seed,
      mode: m.mode,
      budget,
      spaceSize: m.spaceSize,
      evaluated: m.evaluated,
      invalid: m.invalid,
      bestAt: m.bestAt,
      searchMs: Math.round(m.elapsedMs),
      mappingsPerSecond: Math.round(m.mappingsPerSecond),
      bestEnergyPj: m.result.energyPj,
      bestCycles: m.result.cycles,
      givenEnergyPj: given.energyPj,
      givenCycles: given.cycles,
      /** the objective, best ÷ given (≤ 1: at least as good as the run's own mapping) */
      ratioToGiven: m.bestValue / givenValue,
      mapping: m.mapping,
    });
    process.stdout.write(`${folder} [${objective}, seed ${seed}]: ${m.mode}, ${m.evaluated} evaluated / ${m.invalid} refused in ${(m.elapsedMs / 1000).toFixed(2)} s (${m.mappingsPerSecond.toFixed(0)}/s); best ÷ given ${(m.bestValue / givenValue).toFixed(4)}\n`);
  }
  const result = {
    loadAverage1m: load,
    note: 'simple_weight_stationary: the given mapping is timeloop-mapper\'s (edp objective); ratioToGiven < 1 is below it',
    runs: rows,
  };
  writeBenchResult(join(here, 'results', 'mapper.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
