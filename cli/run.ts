/**
 * `qloom run`: simulate on an accelerator — a SCALE-Sim topology timing only (`--topology`), or a
 * quantized network functionally and in time on data set images (`--model`).
 */
import type { MemoryModel } from '../arch/spec.js';
import { UsageError } from '../errors/index.js';
import { DATASET_NAMES } from '../nets/data/index.js';
import { bitsLine, overflowSummary, runSummary, type LayerResult, type RunResult, type RunTotals } from '../sim/result.js';
import { datasetProblems, modelRunProblems, TEXT_DATASETS, type EvalDatasetName } from '../scenarios/datasets.js';
import { checkOutputPath } from '../scenarios/files.js';
import { loadArch, saveRunResult, simulateTopology } from '../scenarios/simulate.js';
import { RUN_MODEL_USAGE, RUN_TOPOLOGY_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { PRESET_NAMES as PTQ_PRESETS } from './ptq-flags.js';
import { lateProgress, progress } from './progress.js';
import { table } from './table.js';

const MEMORY: readonly MemoryModel[] = ['native', 'scalesim'];
// a run scores top-1 classes: not the text-line sets (scored by reading their text, qloom eval)
const DATASETS: readonly EvalDatasetName[] = [...DATASET_NAMES, 'photos' as const];
const REQUANT = ['float', 'fixed'] as const;
const ON_CHIP = ['none', 'greedy', 'optimal', 'greedy+bands', 'optimal+bands'] as const;

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const uj = (pj: number): string => (pj / 1e6).toFixed(3);

/** overflow columns of a functional run: events over every sample, per sample, and by accumulator (sim/result.ts OverflowsBy) */
const OVERFLOW_HEADERS = ['overflows', 'per sample', 'in array', 'in acc.'];
function overflowCells(x: LayerResult | RunTotals): (string | number)[] {
  const o = overflowSummary(x);
  return [o.overflows, Number(o.overflowsPerSample.toPrecision(6)), o.overflowsBy.array, o.overflowsBy.accumulator];
}

/** what stays on chip at a layer's boundaries: its input read in place, its output kept (and written) */
function onChipCell(l: LayerResult): string {
  const o = l.onChip;
  if (!o) return '';
  const parts = [...(o.inputBytes > 0 ? ['in'] : []), ...(o.output === 'kept' ? ['out'] : o.output === 'kept-and-written' ? ['out+dram'] : [])];
  return parts.join(', ') + (o.bandReserveBytes !== undefined ? ' (band)' : '');
}

/** Human table (per layer + totals) or the `--json` summary, on stdout. */
function printRunResult(result: RunResult, json: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...runSummary(result), ...extra }, null, 2) + '\n');
    return;
  }
  // a timing-only run computes no values, so it has no overflow columns
  const functional = result.samples !== undefined;
  // data-dependent savings, when the arch has them (or zeros were counted)
  const zeros = result.layers.some((l) => l.zeros);
  const compressed = result.layers.some((l) => l.compression);
  const onChip = result.layers.some((l) => l.onChip);
  const skips = result.layers.some((l) => l.zeros?.zeroVectorFraction !== undefined);
  const dataCells = (x: LayerResult | RunTotals): (string | number)[] => {
    const l = 'name' in x ? x : undefined;
    return [
      ...(zeros ? [l?.zeros ? pct(l.zeros.zeroActMacFraction) : '', l?.zeros ? Math.round(l.zeros.gatedMacs) : l ? '' : Math.round(result.layers.reduce((a, y) => a + (y.zeros?.gatedMacs ?? 0), 0))] : []),
      ...(skips ? [l?.zeros?.zeroVectorFraction !== undefined ? pct(l.zeros.zeroVectorFraction) : ''] : []),
      ...(compressed ? [Math.round((l ? (l.compression?.savedBits ?? 0) : result.layers.reduce((a, y) => a + (y.compression?.savedBits ?? 0), 0)) / 8192)] : []),
      ...(onChip ? [l ? onChipCell(l) : `${result.layers.filter((y) => y.onChip && y.onChip.output !== 'dram').length} kept`] : []),
    ];
  };
  const row = (name: string, x: LayerResult | RunTotals): (string | number)[] => [
    name,
    x.cycles,
    x.computeCycles,
    x.stallCycles,
    pct(x.utilization),
    x.macs,
    Math.round((x.dramBytes.read + x.dramBytes.write) / 1024),
    uj(x.energyPj),
    ...(functional ? overflowCells(x) : []),
    ...dataCells(x),
  ];
  const rows = result.layers.map((l) => row(l.name, l));
  const t = result.totals;
  rows.push(row('total', t));
  process.stdout.write(`arch ${result.arch.name} (${result.arch.configHash.slice(0, 12)}), memory model ${result.memoryModel}, energy table ${result.energy.table}\n\n`);
  const dataHeaders = [...(zeros ? ['zero-act MACs', 'gated MACs'] : []), ...(skips ? ['zero vectors'] : []), ...(compressed ? ['DRAM KiB saved'] : []), ...(onChip ? ['on chip'] : [])];
  process.stdout.write(table(['layer', 'cycles', 'compute', 'stall', 'util', 'MACs', 'DRAM KiB', 'energy µJ', ...(functional ? OVERFLOW_HEADERS : []), ...dataHeaders], rows) + '\n\n');
  const s = t.stalls;
  process.stdout.write(
    `cycles ${t.cycles.toLocaleString('en-US')} (${(t.seconds * 1e3).toFixed(3)} ms)   stalls: operand late ${s.operandLate.toLocaleString('en-US')}, buffer full ${s.bufferFull.toLocaleString('en-US')}, requant busy ${s.requantBusy.toLocaleString('en-US')}\n` +
      `energy ${uj(t.energyPj)} µJ   DRAM read ${t.dramBytes.read.toLocaleString('en-US')} B, write ${t.dramBytes.write.toLocaleString('en-US')} B\n` +
      bitsLine(t.bits) + '\n',
  );
}

/** `--arch`, or `--scalesim-config` (the same thing for a .cfg), never both. */
function archOf(flags: Flags): string | undefined {
  const arch = flags.values.arch as string | undefined;
  const cfg = flags.values['scalesim-config'] as string | undefined;
  if (arch !== undefined && cfg !== undefined) flags.problem('give --arch or --scalesim-config, not both (--scalesim-config <file.cfg> is --arch <file.cfg>)');
  else if (arch === undefined && cfg === undefined) flags.problem('--arch <preset|file> is required');
  return arch ?? cfg;
}

function runTopology(topology: string, arch: string, memory: MemoryModel | undefined, values: Record<string, unknown>): void {
  const spec = loadArch(arch, memory);
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

/** a --model run's settings, checked */
interface ModelFlags {
  readonly model: string;
  readonly arch: string;
  readonly memory?: MemoryModel;
  readonly data: EvalDatasetName;
  readonly samples?: number;
  readonly batch?: number;
  /** undefined: the arch's requant unit */
  readonly requant?: 'float' | 'fixed';
  readonly onChip?: (typeof ON_CHIP)[number];
}

async function runModel({ model, arch, memory, data, samples, batch, requant, onChip }: ModelFlags, values: Record<string, unknown>): Promise<void> {
  const json = values.json === true;
  // refused before the PTQ run and the simulation, not after
  if (typeof values.out === 'string') checkOutputPath(values.out);
  const { simulateModel } = await import('../scenarios/simulate-model.js');
  const bar = progress('run', process.stderr, json && !process.stderr.isTTY);
  const r = await simulateModel({
    arch,
    memory,
    ...(onChip !== undefined && { onChip: onChip.replace('+bands', '') as 'none' | 'greedy' | 'optimal', fusion: onChip.endsWith('+bands') ? ('bands' as const) : ('none' as const) }),
    model,
    preset: values.preset as string | undefined,
    data: data as EvalDatasetName,
    samples,
    batch,
    requant,
    trace: values.trace as string | undefined,
    zeros: values.zeros === true,
    onProgress: (d, t) => bar.update(d, t),
  });
  bar.done();
  if (typeof values.out === 'string') saveRunResult(r.result, values.out);
  const sqnr = r.sqnrDb !== undefined && Number.isFinite(r.sqnrDb) ? { sqnrDb: r.sqnrDb } : {};
  const text = TEXT_DATASETS.includes(data as EvalDatasetName);
  printRunResult(r.result, json, { ...(text ? { charAccuracy: r.accuracy, lineAccuracy: r.lineAccuracy } : { accuracy: r.accuracy }), ...sqnr, samples: r.samples, model, dataset: data, requant: r.requant });
  if (json) return;
  const a = r.accumulator;
  process.stdout.write(
    `cycles, energy and bits per inference; overflows: events over all ${r.samples} sample(s), per sample, and by accumulator — ` +
      `in array: partial sums at ${a.psumBits} bits (${a.dataflow === 'os' ? 'the PE registers, which hold the whole K sum' : 'passed between PEs'}), ` +
      `in acc.: the ${a.bits}-bit ${a.overflow} accumulator; requant ${r.requant}\n` +
      (data === 'photos'
        ? `top-1 agreement with FP32 on ${r.samples} photos: ${(r.accuracy * 100).toFixed(2)}%, output SQNR ${r.sqnrDb?.toFixed(2)} dB\n`
        : text
          ? `on ${data}/test (${r.samples} lines): character accuracy ${(r.accuracy * 100).toFixed(2)}%, line accuracy ${((r.lineAccuracy ?? 0) * 100).toFixed(2)}%\n`
          : `top-1 accuracy on ${data}/test (${r.samples} samples): ${(r.accuracy * 100).toFixed(2)}%\n`) +
      (r.trace ? `trace: ${r.trace.path} (${r.trace.events} events, first inference)\n` : ''),
  );
}

/** the flags of a --model run, and those of a --topology run: each refused in the other kind of run */
const MODEL_FLAGS = ['preset', 'data', 'samples', 'batch', 'trace', 'requant', 'zeros', 'on-chip'] as const;
const TOPOLOGY_FLAGS = ['gemm', 'scalesim-trace'] as const;

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(0, 'run takes flags only');
  const model = values.model as string | undefined;
  const topology = values.topology as string | undefined;
  const arch = archOf(flags);
  const memory = flags.oneOf('memory', MEMORY);
  if (model !== undefined && topology !== undefined) {
    flags.problem('give --topology (a timing-only run) or --model (a network on data), not both');
  } else if (topology !== undefined) {
    flags.unused(MODEL_FLAGS, '--model flags, not used by a --topology run');
    flags.check(RUN_TOPOLOGY_USAGE);
    return runTopology(topology, arch!, memory, values);
  } else if (model !== undefined) {
    flags.unused(TOPOLOGY_FLAGS, '--topology flags, not used by a --model run');
    const data = flags.oneOf('data', DATASETS, '<dataset>');
    const samples = flags.int('samples', { min: 1 });
    const batch = flags.int('batch', { min: 1 });
    const requant = flags.oneOf('requant', REQUANT);
    const onChip = flags.oneOf('on-chip', ON_CHIP);
    flags.oneOf('preset', PTQ_PRESETS);
    if (data !== undefined) flags.problems.push(...datasetProblems('--data', data, model), ...modelRunProblems({ model, data, preset: values.preset }));
    flags.check(RUN_MODEL_USAGE);
    return runModel({ model, arch: arch!, memory, data: data!, samples, batch, requant, onChip }, values);
  } else {
    flags.problem('--topology <file.csv> or --model <name|file.onnx> is required');
  }
  flags.check(`${RUN_TOPOLOGY_USAGE}\n   or: ${RUN_MODEL_USAGE}`);
}
