/**
 * `qloom run`: simulate on an accelerator — a SCALE-Sim topology timing only (`--topology`), or a
 * quantized network functionally and in time on data set images (`--model`).
 */
import type { MemoryModel } from '../arch/spec.js';
import { UsageError } from '../errors/index.js';
import { DATASET_NAMES } from '../nets/data/index.js';
import { bitsLine, runSummary, type RunResult } from '../sim/result.js';
import type { EvalDatasetName } from '../scenarios/datasets.js';
import { checkOutputPath } from '../scenarios/files.js';
import { loadArch, saveRunResult, simulateTopology } from '../scenarios/simulate.js';
import { RUN_MODEL_USAGE, RUN_TOPOLOGY_USAGE } from './commands.js';
import { lateProgress, progress } from './progress.js';
import { table } from './table.js';

const MEMORY: readonly MemoryModel[] = ['native', 'scalesim'];
const DATASETS: readonly EvalDatasetName[] = [...DATASET_NAMES, 'photos'];

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const uj = (pj: number): string => (pj / 1e6).toFixed(3);

/** Human table (per layer + totals) or the `--json` summary, on stdout. */
function printRunResult(result: RunResult, json: boolean, extra: Record<string, unknown> = {}): void {
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
      `energy ${uj(t.energyPj)} µJ   DRAM read ${t.dramBytes.read.toLocaleString('en-US')} B, write ${t.dramBytes.write.toLocaleString('en-US')} B\n` +
      bitsLine(t.bits) + '\n',
  );
}

/** `--arch`, or `--scalesim-config` (the same thing for a .cfg), never both. */
function archOf(values: Record<string, unknown>): string {
  const arch = values.arch as string | undefined;
  const cfg = values['scalesim-config'] as string | undefined;
  if (arch !== undefined && cfg !== undefined) throw new UsageError('give --arch or --scalesim-config, not both (--scalesim-config <file.cfg> is --arch <file.cfg>)');
  const from = arch ?? cfg;
  if (from === undefined) throw new UsageError(`--arch is required\nusage: ${RUN_TOPOLOGY_USAGE}\n   or: ${RUN_MODEL_USAGE}`);
  return from;
}

function memoryOf(values: Record<string, unknown>): MemoryModel | undefined {
  const memory = values.memory as string | undefined;
  if (memory !== undefined && !MEMORY.includes(memory as MemoryModel)) throw new UsageError(`--memory must be native or scalesim, got '${memory}'`);
  return memory as MemoryModel | undefined;
}

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${String(v)}'\nusage: ${RUN_MODEL_USAGE}`);
  return n;
}

function runTopology(topology: string, values: Record<string, unknown>): void {
  const memory = memoryOf(values);
  const spec = loadArch(archOf(values), memory);
  const scalesimTrace = values['scalesim-trace'] as string | undefined;
  if (scalesimTrace !== undefined && spec.memoryModel !== 'scalesim') {
    throw new UsageError(`--scalesim-trace needs the scalesim memory model (a .cfg, or --memory scalesim); ${spec.name} uses '${spec.memoryModel}'`);
  }
  if (typeof values.out === 'string') checkOutputPath(values.out);
  const bar = lateProgress('run');
  const result = simulateTopology({ arch: spec, topology, gemm: values.gemm === true, scalesimTrace, onProgress: (d, n) => bar.update(d, n) });
  bar.done();
  if (typeof values.out === 'string') saveRunResult(result, values.out);
  printRunResult(result, values.json === true);
}

async function runModel(model: string, values: Record<string, unknown>): Promise<void> {
  const data = values.data as string | undefined;
  if (data === undefined) throw new UsageError(`--data is required with --model\nusage: ${RUN_MODEL_USAGE}`);
  if (!(DATASETS as readonly string[]).includes(data)) throw new UsageError(`--data must be one of ${DATASETS.join(', ')}, got '${data}'\nusage: ${RUN_MODEL_USAGE}`);
  const samples = positiveInt(values.samples, 'samples');
  const batch = positiveInt(values.batch, 'batch');
  const requant = values.requant ?? 'float';
  if (requant !== 'float' && requant !== 'fixed') throw new UsageError(`--requant must be float or fixed, got '${String(requant)}'\nusage: ${RUN_MODEL_USAGE}`);
  const arch = archOf(values);
  const memory = memoryOf(values);
  const json = values.json === true;
  // refused before the PTQ run and the simulation, not after
  if (typeof values.out === 'string') checkOutputPath(values.out);
  const { simulateModel } = await import('../scenarios/simulate-model.js');
  const bar = progress('run', process.stderr, json && !process.stderr.isTTY);
  const r = await simulateModel({
    arch,
    memory,
    model,
    preset: values.preset as string | undefined,
    data: data as EvalDatasetName,
    samples,
    batch,
    requant,
    trace: values.trace as string | undefined,
    onProgress: (d, t) => bar.update(d, t),
  });
  bar.done();
  if (typeof values.out === 'string') saveRunResult(r.result, values.out);
  const sqnr = r.sqnrDb !== undefined && Number.isFinite(r.sqnrDb) ? { sqnrDb: r.sqnrDb } : {};
  printRunResult(r.result, json, { accuracy: r.accuracy, ...sqnr, samples: r.samples, model, dataset: data, requant });
  if (json) return;
  process.stdout.write(
    `cycles, energy and bits per inference; overflows over ${r.samples} sample(s)\n` +
      (data === 'photos'
        ? `top-1 agreement with FP32 on ${r.samples} photos: ${(r.accuracy * 100).toFixed(2)}%, output SQNR ${r.sqnrDb?.toFixed(2)} dB\n`
        : `top-1 accuracy on ${data}/test (${r.samples} samples): ${(r.accuracy * 100).toFixed(2)}%\n`) +
      (r.trace ? `trace: ${r.trace.path} (${r.trace.events} events, first inference)\n` : ''),
  );
}

export async function run(pos: string[], values: Record<string, unknown>): Promise<void> {
  if (pos.length > 0) throw new UsageError(`unexpected argument '${pos[0]}'\nusage: ${RUN_TOPOLOGY_USAGE}`);
  if (values.model !== undefined) return runModel(values.model as string, values);
  const topology = values.topology as string | undefined;
  if (topology === undefined) throw new UsageError(`--topology or --model is required\nusage: ${RUN_TOPOLOGY_USAGE}\n   or: ${RUN_MODEL_USAGE}`);
  runTopology(topology, values);
}
