/**
 * `qloom run`: simulate a workload on an accelerator. This file holds the timing-only path
 * (a SCALE-Sim topology CSV on an arch); the functional path (`--model`) is added next to it and
 * reuses `loadRunArch`, `printRunResult` and `writeRunResult`.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../arch/errors.js';
import { loadArchSpec, validateArchSpec, type ArchSpec, type MemoryModel } from '../arch/spec.js';
import { simulate, workloadFromViews } from '../sim/engine/index.js';
import type { EngineSinks } from '../sim/events.js';
import { runSummary, type RunResult } from '../sim/result.js';
import { simulateScaleSim } from '../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../sim/timing/topology.js';
import { ScaleSimTraceWriter } from '../traces/scalesim-trace.js';
import { writeFileAtomic } from '../scenarios/files.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';
import { RUN_MODEL_OPTIONS, RUN_MODEL_USAGE, runModel } from './run-model.js';
import { table } from './table.js';

const USAGE =
  'qloom run --arch <preset|file.json|file.yaml|file.cfg> --topology <file.csv> [--scalesim-config <file.cfg>] [--gemm] [--memory native|scalesim] [--scalesim-trace <dir>] [--json] [--out <result.json>]\n' +
  '             --scalesim-trace <dir>: SCALE-Sim access traces, <dir>/layer<i>/{IFMAP,FILTER,OFMAP}_{SRAM,DRAM}_TRACE.csv\n' +
  '               (scalesim memory model only: a .cfg, or --memory scalesim; DRAM traces in USER bandwidth mode only, empty in CALC)';

export interface TimingRunArgs {
  /** preset name or spec file; may be omitted when `scalesimConfig` is given */
  readonly arch?: string;
  readonly scalesimConfig?: string;
  readonly topology: string;
  readonly gemm: boolean;
  readonly memory?: MemoryModel;
  /** write SCALE-Sim SRAM/DRAM traces here (scalesim memory model only) */
  readonly scalesimTrace?: string;
}

/** The arch of a run: `--arch` or `--scalesim-config` (one of them), with `--memory` applied. */
export function loadRunArch(arch: string | undefined, scalesimConfig: string | undefined, memory: MemoryModel | undefined): ArchSpec {
  if (arch !== undefined && scalesimConfig !== undefined) throw new UsageError('give --arch or --scalesim-config, not both (a .cfg is an arch)');
  const from = arch ?? scalesimConfig;
  if (from === undefined) throw new UsageError(`--arch is required\nusage: ${USAGE}`);
  const spec = loadArchSpec(from);
  if (memory === undefined || memory === spec.memoryModel) return spec;
  return validateArchSpec({ ...spec, memoryModel: memory }, `${from} with --memory ${memory}`);
}

/** A progress bar that only appears once a run has taken more than a second. */
function lateProgress(label: string): { update(done: number, total: number): void; done(): void } {
  const started = Date.now();
  let bar: ReturnType<typeof progress> | null = null;
  return {
    update(done, total) {
      if (!bar && Date.now() - started > 1000) bar = progress(label);
      bar?.update(done, total);
    },
    done() {
      bar?.done();
    },
  };
}

/** Timing-only run of a topology CSV; the library call behind `qloom run --topology`. */
export function runTopology(args: TimingRunArgs, sinks: EngineSinks = {}): RunResult {
  const spec = loadRunArch(args.arch, args.scalesimConfig, args.memory);
  let text: string;
  try {
    text = readFileSync(args.topology, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the topology (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, args.topology);
  }
  const views = parseTopologyCsv(text, args.topology, args.gemm ? 'gemm' : 'conv');
  if (args.scalesimTrace !== undefined && spec.memoryModel !== 'scalesim') {
    throw new UsageError(`--scalesim-trace needs the scalesim memory model (a .cfg, or --memory scalesim); ${spec.name} uses '${spec.memoryModel}'`);
  }
  const result = simulate(spec, workloadFromViews(views, spec, args.topology), sinks);
  if (args.scalesimTrace !== undefined) {
    // the engine does not take a trace sink: a second, trace-only pass of the same SCALE-Sim model
    const writer = new ScaleSimTraceWriter(args.scalesimTrace);
    try {
      simulateScaleSim(spec, views, { trace: writer });
    } finally {
      writer.close();
    }
  }
  return result;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const uj = (pj: number): string => (pj / 1e6).toFixed(3);

/** Human table (per layer + totals) or the `--json` summary, on stdout. */
export function printRunResult(result: RunResult, json: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...runSummary(result), ...extra }, null, 2) + '\n');
    return;
  }
  const rows = result.layers.map((l) => [
    l.name,
    l.cycles,
    l.computeCycles,
    l.stallCycles,
    pct(l.utilization),
    l.macs,
    Math.round((l.dramBytes.read + l.dramBytes.write) / 1024),
    uj(l.energyPj),
    l.overflows,
  ]);
  const t = result.totals;
  rows.push(['total', t.cycles, t.computeCycles, t.stallCycles, pct(t.utilization), t.macs, Math.round((t.dramBytes.read + t.dramBytes.write) / 1024), uj(t.energyPj), t.overflows]);
  process.stdout.write(`arch ${result.arch.name} (${result.arch.configHash.slice(0, 12)}), memory model ${result.memoryModel}, energy table ${result.energy.table}\n\n`);
  process.stdout.write(table(['layer', 'cycles', 'compute', 'stall', 'util', 'MACs', 'DRAM KiB', 'energy µJ', 'overflows'], rows) + '\n\n');
  const s = t.stalls;
  process.stdout.write(
    `cycles ${t.cycles.toLocaleString('en-US')} (${(t.seconds * 1e3).toFixed(3)} ms)   stalls: operand late ${s.operandLate.toLocaleString('en-US')}, buffer full ${s.bufferFull.toLocaleString('en-US')}, requant busy ${s.requantBusy.toLocaleString('en-US')}\n` +
      `energy ${uj(t.energyPj)} µJ   DRAM read ${t.dramBytes.read.toLocaleString('en-US')} B, write ${t.dramBytes.write.toLocaleString('en-US')} B   psum spill ${(t.bits.psumSpill / 8).toLocaleString('en-US')} B\n`,
  );
}

/** Writes the full result (counts included, so `qloom energy` can reprice it). */
export function writeRunResult(result: RunResult, file: string): void {
  writeFileAtomic(file, JSON.stringify(result) + '\n');
}

const MEMORY: readonly MemoryModel[] = ['native', 'scalesim'];

export const runCommand: Command = {
  summary: 'simulate on an accelerator: timing only (SCALE-Sim topology) or a quantized model on real data (functional + timing)',
  get usage() {
    return `${USAGE}\n             ${RUN_MODEL_USAGE}`;
  },
  options: {
    arch: { type: 'string' },
    topology: { type: 'string' },
    'scalesim-config': { type: 'string' },
    gemm: { type: 'boolean' },
    memory: { type: 'string' },
    'scalesim-trace': { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    ...RUN_MODEL_OPTIONS,
  },
  run(pos, values) {
    if (pos.length > 0) throw new UsageError(`unexpected argument '${pos[0]}'\nusage: ${USAGE}`);
    // functional + timing run of a quantized network (cli/run-model.ts)
    if (values.model !== undefined) return runModel(values);
    const topology = values.topology as string | undefined;
    if (topology === undefined) throw new UsageError(`--topology or --model is required\nusage: ${USAGE}\n   or: ${RUN_MODEL_USAGE}`);
    const memory = values.memory as string | undefined;
    if (memory !== undefined && !MEMORY.includes(memory as MemoryModel)) throw new UsageError(`--memory must be native or scalesim, got '${memory}'`);
    const bar = lateProgress('run');
    const result = runTopology(
      {
        arch: values.arch as string | undefined,
        scalesimConfig: values['scalesim-config'] as string | undefined,
        topology,
        gemm: values.gemm === true,
        memory: memory as MemoryModel | undefined,
        scalesimTrace: values['scalesim-trace'] as string | undefined,
      },
      { progress: (d, n) => bar.update(d, n) },
    );
    bar.done();
    if (typeof values.out === 'string') writeRunResult(result, values.out);
    printRunResult(result, values.json === true);
  },
};
