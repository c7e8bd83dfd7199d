/**
 * Timing-only simulation speed:
 * - SCALE-Sim's Resnet18.csv (bench/topologies/Resnet18.csv, from scale-sim-v2's topologies; the
 *   same rows as ../shared/golden/scalesim/resnet18_os_32x32) on the `scalesim-default` preset
 *   (32×32 OS, 64 KiB SRAMs) with SCALE-Sim's memory model:
 *   - CALC bandwidth (the preset): SCALE-Sim's compute model in closed form — median of repeated runs;
 *   - USER bandwidth, 10 words/cycle (`qloom run --arch <the preset with dram.mode user>
 *     --topology bench/topologies/Resnet18.csv --memory scalesim`): SCALE-Sim's double-buffered
 *     scratchpads request by request — the first run (compiles as it goes) and the median of the
 *     runs after it.
 * - SCALE-Sim's ResNet-50 (bench/topologies/Resnet50.csv, 54 layers) on `tpu-like` with the native
 *   memory model (the event engine, exact fast-forward) — first run and median; the events it
 *   processed (Σ layers' `tiles`: transfers, sub-tiles, batches, fast-forwarded ones counted) per
 *   second, and the same run stepping every sub-tile (`fastForward: false`) as its peer.
 * Wall times on a shared machine swing with its load: the load average and each run's CPU time
 * (process user + system) are recorded next to them.
 * SCALE-Sim v2 itself needs about 5 minutes for the CALC run on a 2-core machine (issue 5); it is
 * not installed here, so its time is not measured in this run. The CALC cycles equal SCALE-Sim's
 * (test/golden/scalesim.test.ts checks them layer by layer).
 *
 *   npm run bench -- scalesim        (or: npx tsx bench/scalesim.ts)
 */
import { median, writeBenchResult } from './common.js';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, validateArchSpec } from '../arch/spec.js';
import { simulate, workloadFromViews } from '../sim/engine/index.js';
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

  const loadBefore = loadavg()[0];
  // USER: parse + simulate, end to end; the first run, then the median of the rest
  const userRuns = timed(6, () => {
    const views = parseTopologyCsv(readFileSync(file, 'utf8'), file, 'conv');
    return simulateScaleSim(userSpec, views);
  });
  const user = userRuns.last;
  const userCycles = user.reduce((s, r) => s + r.totalCycles, 0);
  const userStalls = user.reduce((s, r) => s + r.stallCycles, 0);

  // native engine: SCALE-Sim's ResNet-50 on tpu-like, parse + workload + simulate
  const r50 = join(here, 'topologies', 'Resnet50.csv');
  const tpu = presetSpec('tpu-like');
  const nativeRun = (fastForward: boolean) => {
    const views = parseTopologyCsv(readFileSync(r50, 'utf8'), r50, 'conv');
    return simulate(tpu, workloadFromViews(views, tpu), undefined, { fastForward });
  };
  const native = timed(11, () => nativeRun(true));
  const stepped = timed(5, () => nativeRun(false));
  const events = native.last.layers.reduce((s, l) => s + l.tiles, 0);
  if (stepped.last.totals.cycles !== native.last.totals.cycles) throw new Error('fast-forward changed the cycles');

  const result = {
    topology: 'Resnet18.csv (21 layers)',
    arch: 'scalesim-default (32×32 OS, 64 KiB ×3)',
    calc: { medianMs: median(calcMs), runs: calcMs.length, totalCycles: calcCycles },
    user: {
      bandwidthWordsPerCycle: userSpec.memories.dram.bytesPerCycle,
      firstMs: userRuns.firstMs,
      medianMs: userRuns.medianMs,
      medianCpuMs: userRuns.medianCpuMs,
      runs: userRuns.runs,
      totalCycles: userCycles,
      stallCycles: userStalls,
    },
    native: {
      topology: 'Resnet50.csv (54 layers, scale-sim-v2 topologies/conv_nets)',
      arch: 'tpu-like',
      firstMs: native.firstMs,
      medianMs: native.medianMs,
      medianCpuMs: native.medianCpuMs,
      runs: native.runs,
      totalCycles: native.last.totals.cycles,
      events,
      eventsPerS: events / (native.medianMs / 1000),
      stepped: { medianMs: stepped.medianMs, medianCpuMs: stepped.medianCpuMs, runs: stepped.runs, eventsPerS: events / (stepped.medianMs / 1000) },
    },
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  };
  const f = (x: number) => x.toFixed(0);
  process.stdout.write(
    `SCALE-Sim Resnet18 on scalesim-default:\n` +
      `  CALC: ${result.calc.medianMs.toFixed(2)} ms (median of ${calcMs.length}), Σ total cycles ${calcCycles}\n` +
      `  USER (10 words/cycle): first ${f(userRuns.firstMs)} ms, median ${f(userRuns.medianMs)} ms (CPU ${f(userRuns.medianCpuMs)} ms) of ${userRuns.runs - 1}, Σ total cycles ${userCycles}, Σ stalls ${userStalls}\n` +
      `Native engine, Resnet50 on tpu-like: first ${f(native.firstMs)} ms, median ${f(native.medianMs)} ms (CPU ${f(native.medianCpuMs)} ms), ${native.last.totals.cycles} cycles, ` +
      `${events} events, ${f(result.native.eventsPerS)} events/s; stepping every sub-tile ${f(stepped.medianMs)} ms\n` +
      `  load average ${loadBefore.toFixed(2)} → ${result.loadAverage.after.toFixed(2)} on ${cpus().length} CPUs\n`,
  );
  const out = join(here, 'results', 'scalesim.json');
  writeBenchResult(out, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** runs `fn` n times: the first run's wall time, the median wall and CPU time of the others, the last result */
function timed<T>(n: number, fn: () => T): { firstMs: number; medianMs: number; medianCpuMs: number; runs: number; last: T } {
  const wall: number[] = [];
  const cpu: number[] = [];
  let last!: T;
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    last = fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { firstMs: wall[0], medianMs: median(wall.slice(1)), medianCpuMs: median(cpu.slice(1)), runs: n, last };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
