/**
 * `qloom eval`: FP32 top-1 on a labeled dataset, the top-1 class per photo, or the character and line
 * accuracy on text lines; `--quant`: the quantized model beside FP32.
 */
import { relative } from 'node:path';
import type { EvalDataset } from '../nets/zoo/index.js';
import { EVAL_DATASETS, evaluateModel, evaluateQuantizedModel, modelDataset, type Interval, type ModelEvaluation } from '../scenarios/models.js';
import { listModels } from '../nets/zoo/index.js';
import { datasetProblems } from '../scenarios/datasets.js';
import { EVAL_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { progress, stageProgress, type Progress } from './progress.js';
import { PTQ_OPTIONS, ptqConfigOrUsage } from './ptq-flags.js';
import { table } from './table.js';

/** photos under node_modules read better as package paths */
function shortPath(file: string): string {
  const i = file.lastIndexOf('node_modules/');
  if (i >= 0) return file.slice(i + 'node_modules/'.length);
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/** "95 % CI 96.53–99.59 %" */
function ci(i: Interval): string {
  return `95 % CI ${(i.lo * 100).toFixed(2)}–${(i.hi * 100).toFixed(2)} %`;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

/** "char accuracy 98.07 %, line accuracy 91.67 % (275/300, 95 % CI …)" */
function textScores(charAccuracy: number, lineAccuracy: number, exact: number, lines: number, interval: Interval): string {
  return `char accuracy ${pct(charAccuracy)}, line accuracy ${pct(lineAccuracy)} (${exact}/${lines}, ${ci(interval)})`;
}

function printRow(r: ModelEvaluation): void {
  if (r.quant) {
    const q = r.quant;
    const head = `${r.model} ${q.preset} (config ${q.configHash.slice(0, 12)}, calibrated on ${q.calibSamples} ${r.dataset} images, PTQ ${(r.timing.ptqSeconds ?? 0).toFixed(1)} s)`;
    if (q.charAccuracy !== undefined) {
      const d = (q.charAccuracy - r.charAccuracy!) * 100;
      process.stdout.write(
        `${head}\n  on ${r.dataset}/${r.split} (${r.samples} lines): quantized ${textScores(q.charAccuracy, q.lineAccuracy!, q.correct!, r.samples, q.interval95!)}\n` +
          `  FP32 char ${pct(r.charAccuracy!)}, line ${pct(r.lineAccuracy!)}  (char ${d >= 0 ? '+' : ''}${d.toFixed(2)} pt)  [${r.timing.seconds.toFixed(1)} s]\n`,
      );
    } else if (q.agreement !== undefined) {
      process.stdout.write(`${head}\n  on ${r.samples} photos: top-1 agreement with FP32 ${(q.agreement * 100).toFixed(2)} %, output SQNR ${q.sqnrDb!.toFixed(2)} dB\n`);
    } else {
      const d = (q.top1! - q.fp32Top1!) * 100;
      process.stdout.write(
        `${head}\n  on ${r.dataset}/${r.split} (${r.samples}): quantized top-1 ${(q.top1! * 100).toFixed(2)} % ${ci(q.interval95!)}  FP32 ${(q.fp32Top1! * 100).toFixed(2)} %  (${d >= 0 ? '+' : ''}${d.toFixed(2)} pt)  [${r.timing.seconds.toFixed(1)} s]\n`,
      );
    }
    return;
  }
  if (r.photos) {
    process.stdout.write(`${r.model} on ${r.samples} photos (top-1 class per image):\n`);
    process.stdout.write(table(['photo', 'class', 'probability'], r.photos.map((p) => [shortPath(p.file), p.class, Number(p.probability.toFixed(4))])) + '\n');
    return;
  }
  if (r.charAccuracy !== undefined) {
    process.stdout.write(`${r.model} on ${r.dataset}/${r.split} (${r.samples} lines): ${textScores(r.charAccuracy, r.lineAccuracy!, r.correct!, r.samples, r.interval95!)}  [${r.timing.seconds.toFixed(1)} s]\n`);
    return;
  }
  const vs = r.manifestTop1 === undefined ? '' : r.manifestTop1 === r.top1 ? '  (= manifest)' : `  (manifest says ${(r.manifestTop1 * 100).toFixed(2)} %)`;
  process.stdout.write(`${r.model} on ${r.dataset}/${r.split}: top-1 ${(r.top1! * 100).toFixed(2)} % (${r.correct}/${r.samples}, ${ci(r.interval95!)})${vs}  [${r.timing.seconds.toFixed(1)} s]\n`);
}

/** A bar that appears with the first progress report. */
function barOnDemand(label: string, quiet: boolean): Progress {
  let bar: Progress | null = null;
  return {
    update(d, t) {
      bar ??= progress(label, process.stderr, quiet);
      bar.update(d, t);
    },
    done() {
      bar?.done();
    },
  };
}

function evalOne(model: string, data: EvalDataset | undefined, samples: number | undefined, seed: number, quiet: boolean): ModelEvaluation {
  // without --data the library takes the zoo model's own data set (and says when there is none)
  const bar = barOnDemand(`eval ${model} on ${data ?? modelDataset(model)}`, quiet);
  try {
    return evaluateModel(model, { data, samples, seed, onProgress: (d, t) => bar.update(d, t) });
  } finally {
    bar.done();
  }
}

/** The --json form: wall-clock times only with --timing, so the same run prints the same bytes. */
function jsonOf({ timing, ...r }: ModelEvaluation, withTiming: boolean): object {
  return withTiming ? { ...r, timing } : r;
}

/** the data set of a model run without --data: its own (zoo models), else a problem */
function ownDataset(model: string, flags: Flags): void {
  if (modelDataset(model) === undefined) flags.problem(`--data is required for '${model}', which is not a zoo model with a data set of its own (one of ${EVAL_DATASETS.join(', ')})`);
}

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  if (values.timing === true && values.json !== true) flags.problem('--timing adds the wall-clock times to the --json output: give --json too');
  const data = values.data as string | undefined;
  const ptqFlags = Object.keys(PTQ_OPTIONS).filter((k) => values[k] !== undefined && k !== 'seed');
  if (values.quant !== undefined || ptqFlags.length > 0) {
    // every flag and config problem at once, before any work
    const problems = flags.problems;
    if (values.quant === undefined) problems.push(`${ptqFlags.map((f) => `--${f}`).join(', ')} need(s) --quant <preset>`);
    if (values.all) problems.push('--quant evaluates one model, not --all');
    flags.positionalCount(1, 'one model name or file (eval --quant)');
    if (flags.oneOf('data', EVAL_DATASETS) !== undefined) problems.push(...datasetProblems('--data', data, pos[0]));
    else if (data === undefined && pos.length === 1) ownDataset(pos[0], flags);
    const samples = flags.int('samples', { min: 1 });
    const cfg = ptqConfigOrUsage((values.quant as string | undefined) ?? 'w8a8-pt', values, problems, EVAL_USAGE, '--quant');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    const dataset = ((data as EvalDataset | undefined) ?? modelDataset(pos[0]))!;
    const json = values.json === true;
    const stages = stageProgress(pos[0], json);
    const bar = barOnDemand(`eval ${pos[0]} (${cfg.preset}) on ${dataset}`, json);
    let row: ModelEvaluation;
    try {
      row = await evaluateQuantizedModel(pos[0], { data: dataset, samples, seed, config: cfg, onStage: stages.onProgress, onProgress: (d, t) => bar.update(d, t) });
    } finally {
      stages.done();
      bar.done();
    }
    if (json) process.stdout.write(JSON.stringify(jsonOf(row, values.timing === true), null, 2) + '\n');
    else printRow(row);
    return;
  }
  const dataOk = flags.oneOf('data', EVAL_DATASETS) !== undefined;
  const samples = flags.int('samples', { min: 1 });
  const seed = flags.int('seed', { def: 0 })!;
  if (values.all) {
    if (pos.length > 0) flags.problem(`--all evaluates every zoo model: give no model name, got ${pos.map((p) => `'${p}'`).join(', ')}`);
    flags.unused(['data'], 'not used with --all (every zoo model is evaluated on its own data set)');
  } else {
    flags.positionalCount(1, 'one model name or file (or --all)');
    if (dataOk) flags.problems.push(...datasetProblems('--data', data, pos[0]));
    else if (data === undefined && pos.length === 1) ownDataset(pos[0], flags);
  }
  flags.check(EVAL_USAGE);
  const json = values.json === true;
  let rows: ModelEvaluation[];
  if (values.all) {
    rows = listModels().map((m) => {
      const r = evalOne(m.name, data as EvalDataset | undefined, samples, seed, json);
      if (!json) printRow(r);
      return r;
    });
    if (!json) {
      const mismatched = rows.filter((r) => r.manifestTop1 !== undefined && r.manifestTop1 !== r.top1);
      process.stdout.write(mismatched.length === 0 ? 'all bundled-model accuracies reproduce the manifest exactly\n' : `${mismatched.length} model(s) differ from the manifest\n`);
    }
  } else {
    rows = [evalOne(pos[0], data as EvalDataset | undefined, samples, seed, json)];
    if (!json) printRow(rows[0]);
  }
  if (json) {
    const out = rows.map((r) => jsonOf(r, values.timing === true));
    process.stdout.write(JSON.stringify(values.all ? out : out[0], null, 2) + '\n');
  }
}
