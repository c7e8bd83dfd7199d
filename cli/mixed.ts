/**
 * `qloom mixed <model> --arch <a> --data <d> …`: the mixed-precision search of scenarios/mixed.ts —
 * its sensitivity and cost tables, the program's front and the uniform choices, each measured.
 */
import type { EvalDatasetName } from '../scenarios/datasets.js';
import { checkOutputDir } from '../scenarios/files.js';
import { assignmentLabel, mixedPrecision, writeMixedResult, type MixedObjective, type MixedResult } from '../scenarios/mixed.js';
import { MIXED_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { stageProgress } from './progress.js';
import { table } from './table.js';

const DATASETS: readonly EvalDatasetName[] = ['mnist', 'fmnist', 'orientation', 'photos'];
const ENERGY_UNITS: Record<string, number> = { pj: 1, nj: 1e3, uj: 1e6, 'µj': 1e6, mj: 1e9 };

/** `energy=80uJ`, `energy=85%`, `cycles=140000` → objective and budget (absolute, or a fraction of the reference) */
function parseBudget(v: string, flags: Flags): { objective: MixedObjective; budget?: number; budgetFraction?: number } | undefined {
  const m = /^(energy|cycles)=([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-zµ%]*)$/i.exec(v.trim());
  if (!m) {
    flags.problem(`--budget must be energy=<E>[pJ|nJ|uJ|mJ|%] or cycles=<N>[%], got '${v}'`);
    return undefined;
  }
  const objective = m[1].toLowerCase() as MixedObjective;
  const x = Number(m[2]);
  const unit = m[3].toLowerCase();
  if (unit === '%') return { objective, budgetFraction: x / 100 };
  if (objective === 'cycles') {
    if (unit !== '') flags.problem(`--budget cycles=${m[2]}${m[3]}: cycles take no unit (or %)`);
    return { objective, budget: x };
  }
  const scale = unit === '' ? 1e6 : ENERGY_UNITS[unit];
  if (scale === undefined) {
    flags.problem(`--budget energy: unknown unit '${m[3]}' (pJ, nJ, uJ, mJ or %; none = µJ)`);
    return undefined;
  }
  return { objective, budget: x * scale };
}

function printResult(r: MixedResult): void {
  const unit = r.objective === 'energy' ? 'µJ' : 'cycles';
  const fmtCost = (x: number) => (r.objective === 'energy' ? (x / 1e6).toFixed(3) : Math.round(x).toLocaleString('en-US'));
  process.stdout.write(
    `${r.model} on ${r.arch.name} (${r.arch.configHash.slice(0, 12)}), base preset ${r.preset} (${r.baseConfigHash.slice(0, 12)}), seed ${r.seed}\n` +
      `choices ${r.choices.map((c) => c.name).join(', ')} on ${r.layers.length} layers; reference ${r.reference}; objective ${r.objective}${r.budget !== null ? `, budget ${fmtCost(r.budget)} ${unit}` : ''}\n\n`,
  );
  const sens = r.layers.map((layer) => [layer, ...r.choices.map((c) => {
    const row = r.table.find((t) => t.layer === layer && t.choice === c.name)!;
    const d = r.objective === 'energy' ? (row.energyPj - r.table.find((t) => t.layer === layer && t.choice === r.reference)!.energyPj) / 1e6 : row.cycles - r.table.find((t) => t.layer === layer && t.choice === r.reference)!.cycles;
    return c.name === r.reference ? '—' : `${(row.noise - r.referenceNoise).toExponential(2)} / ${r.objective === 'energy' ? d.toFixed(3) : d}`;
  })]);
  process.stdout.write(`sensitivity (Δ output MSE vs FP32 on ${r.sensitivitySamples} calibration images) / Δ ${unit}, one layer changed:\n`);
  process.stdout.write(table(['layer', ...r.choices.map((c) => c.name)], sens) + '\n\n');
  const rows = r.points.map((p) => [
    p.kind,
    assignmentLabel(r, p.assignment),
    p.predicted.sqnrDb.toFixed(2),
    fmtCost(p.predicted.cost),
    (100 * p.measured.top1).toFixed(2),
    (100 * (p.measured.top1 - r.fp32Top1)).toFixed(2),
    p.measured.sqnrDb.toFixed(2),
    (p.measured.energyPj / 1e6).toFixed(3),
    p.measured.cycles.toLocaleString('en-US'),
    (p.measured.weightBits / 8 / 1024).toFixed(1),
    p.measured.overflows,
  ]);
  process.stdout.write(`points (measured on ${r.samples} test images, FP32 top-1 ${(100 * r.fp32Top1).toFixed(2)} %; simulated per inference):\n`);
  process.stdout.write(table(['kind', 'assignment', 'pred. SQNR dB', `pred. ${unit}`, 'top-1 %', 'Δ pt', 'SQNR dB', 'energy µJ', 'cycles', 'weights KiB', 'overflows'], rows) + '\n\n');
  process.stdout.write(`HiGHS: ${r.solver.solves} solves in ${r.solver.ms.toFixed(1)} ms; sensitivity ${r.seconds.sensitivity.toFixed(1)} s, evaluation ${r.seconds.evaluation.toFixed(1)} s\n`);
}

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(1, 'one model (a zoo name or a float .onnx)');
  const arch = flags.string('arch', '<preset|file>');
  const data = flags.oneOf('data', DATASETS, '<dataset>');
  const points = flags.int('points', { min: 2, max: 200 });
  const sensSamples = flags.int('sens-samples', { min: 1 });
  const samples = flags.int('samples', { min: 1 });
  let objective = flags.oneOf('objective', ['energy', 'cycles'] as const);
  const budget = typeof values.budget === 'string' ? parseBudget(values.budget, flags) : undefined;
  if (budget && objective !== undefined && objective !== budget.objective) flags.problem(`--objective ${objective} and --budget ${budget.objective}=…: the budget is on the objective`);
  objective ??= budget?.objective;
  const choices = typeof values.choices === 'string' ? values.choices.split(',').filter((s) => s.trim() !== '') : undefined;
  const out = flags.string('out');
  flags.check(MIXED_USAGE);
  if (out !== undefined) checkOutputDir(out);
  const json = values.json === true;
  const stages = stageProgress(pos[0], false);
  const r = await mixedPrecision({
    model: pos[0],
    arch: arch!,
    data: data!,
    ...(choices && { choices }),
    ...(typeof values.preset === 'string' && { preset: values.preset }),
    ...(objective && { objective }),
    ...(budget?.budget !== undefined && { budget: budget.budget }),
    ...(budget?.budgetFraction !== undefined && { budgetFraction: budget.budgetFraction }),
    ...(points !== undefined && { points }),
    ...(sensSamples !== undefined && { sensitivitySamples: sensSamples }),
    ...(samples !== undefined && { samples }),
    onProgress: stages.onProgress,
  });
  stages.done();
  let written: { json: string; svg: string; scenario: string } | undefined;
  if (out !== undefined) written = await writeMixedResult(r, out);
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    printResult(r);
    if (written) process.stdout.write(`wrote ${written.json}, ${written.svg} and ${written.scenario} (qloom scenario ${written.scenario} re-evaluates the points as a grid)\n`);
  }
}
