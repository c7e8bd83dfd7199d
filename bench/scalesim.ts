/**
 * SCALE-Sim's Resnet18.csv (bench/topologies/Resnet18.csv, from scale-sim-v2's topologies; the
 * same rows as ../shared/golden/scalesim/resnet18_os_32x32) on the `scalesim-default` preset
 * (32×32 OS, 64 KiB SRAMs), timing only:
 * - CALC bandwidth (the preset): SCALE-Sim's compute model in closed form — median of repeated runs;
 * - USER bandwidth, 10 words/cycle: SCALE-Sim's double-buffered scratchpads request by request — one run.
 * SCALE-Sim v2 itself needs about 5 minutes for the CALC run on a 2-core machine (issue 5); it is
 * not installed here, so its time is not measured in this run. The CALC cycles equal SCALE-Sim's
 * (test/golden/scalesim.test.ts checks them layer by layer).
 *
 *   npm run bench -- scalesim        (or: npx tsx bench/scalesim.ts)
 */
import { median, writeBenchResult } from './common.js';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, validateArchSpec } from '../arch/spec.js';
import { simulateScaleSim } from '../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../sim/timing/topology.js';

const here = dirname(fileURLToPath(import.meta.url));

export async function main(): Promise<unknown> {
  const file = join(here, 'topologies', 'Resnet18.csv');
  const calcSpec = presetSpec('scalesim-default');
  const userSpec = validateArchSpec({ ...JSON.parse(JSON.stringify(calcSpec)), memories: { ...JSON.parse(JSON.stringify(calcSpec.memories)), dram: { ...calcSpec.memories.dram, mode: 'user' } } });

  // CALC: parse + simulate, end to end, repeated
  const calcMs: number[] = [];
  let calcCycles = 0;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const views = parseTopologyCsv(readFileSync(file, 'utf8'), file, 'conv');
    const res = simulateScaleSim(calcSpec, views);
    calcMs.push(performance.now() - t0);
    calcCycles = res.reduce((s, r) => s + r.totalCycles, 0);
  }

  const t0 = performance.now();
  const views = parseTopologyCsv(readFileSync(file, 'utf8'), file, 'conv');
  const user = simulateScaleSim(userSpec, views);
  const userMs = performance.now() - t0;
  const userCycles = user.reduce((s, r) => s + r.totalCycles, 0);
  const userStalls = user.reduce((s, r) => s + r.stallCycles, 0);

  const result = {
    topology: 'Resnet18.csv (21 layers)',
    arch: 'scalesim-default (32×32 OS, 64 KiB ×3)',
    calc: { medianMs: median(calcMs), runs: calcMs.length, totalCycles: calcCycles },
    user: { bandwidthWordsPerCycle: userSpec.memories.dram.bytesPerCycle, ms: userMs, totalCycles: userCycles, stallCycles: userStalls },
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  };
  process.stdout.write(
    `SCALE-Sim Resnet18 on scalesim-default:\n` +
      `  CALC: ${result.calc.medianMs.toFixed(2)} ms (median of ${calcMs.length}), Σ total cycles ${calcCycles}\n` +
      `  USER (10 words/cycle): ${userMs.toFixed(0)} ms, Σ total cycles ${userCycles}, Σ stalls ${userStalls}\n`,
  );
  const out = join(here, 'results', 'scalesim.json');
  writeBenchResult(out, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
