/** `qloom eval`: FP32 top-1 on a labeled dataset, or the top-1 class per photo. */
import { relative } from 'node:path';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import type { PreprocessName } from '../nets/data/preprocess.js';
import { argmaxRows, evaluateTop1, wilsonInterval } from '../nets/eval.js';
import { evaluatePhotos, photoOutputs } from '../nets/photo-eval.js';
import type { PtqConfig } from '../quant/config.js';
import { quantizedOutputs, sqnrDb, top1Of } from '../scenarios/debug.js';
import { listModels, loadModel, type EvalDataset } from '../nets/zoo/index.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';
import { PTQ_OPTIONS, PTQ_USAGE, ptqConfigFromFlags, runPtq } from './quantize.js';
import { table } from './table.js';

const DATASETS: readonly EvalDataset[] = ['mnist', 'fmnist', 'photos', 'orientation'];

interface EvalRow {
  model: string;
  dataset: EvalDataset;
  split?: string;
  top1?: number;
  correct?: number;
  samples: number;
  /** labeled data: 95 % Wilson interval of top1 */
  interval95?: { lo: number; hi: number };
  manifestTop1?: number;
  seconds: number;
  photos?: { file: string; class: string; classIndex: number; probability: number }[];
  /** --quant: the quantized model beside FP32 */
  quant?: QuantRow;
}

interface QuantRow {
  preset: string;
  configHash: string;
  /** labeled data: top-1 of the integer model and of FP32 on the same images */
  top1?: number;
  correct?: number;
  /** 95 % Wilson interval of top1 */
  interval95?: { lo: number; hi: number };
  fp32Top1?: number;
  /** photos: share of photos whose top-1 class equals FP32's, and the output SQNR */
  agreement?: number;
  sqnrDb?: number;
  calibSamples: number;
  ptqSeconds: number;
}

/** --quant: PTQ calibrated on the dataset's train split (photos: the photos), integer model on the eval images. */
async function quantEval(model: string, dataset: EvalDataset, samples: number | undefined, seed: number, cfg: PtqConfig, quiet: boolean): Promise<EvalRow> {
  const { graph } = loadModel(model);
  const started = Date.now();
  const { result } = await runPtq(model, dataset, cfg, quiet);
  const ptqSeconds = (Date.now() - started) / 1000;
  const bar = progress(`eval ${model} (${cfg.preset}) on ${dataset}`, process.stderr, quiet);
  try {
    const base = { preset: cfg.preset, configHash: result.configHash, calibSamples: result.stats.calibSamples, ptqSeconds };
    if (dataset === 'photos') {
      const fp = photoOutputs(graph, model, { samples, seed, onProgress: (d, t) => bar.update(d, t) });
      const set = loadPhotos(model as PreprocessName, { samples, seed });
      const q = quantizedOutputs(result.net, graph, set);
      const rows = set.count;
      const fpPred = new Int32Array(rows);
      argmaxRows({ dtype: 'float32', shape: [rows, fp.classes], data: fp.outputs }, fpPred, 0);
      return {
        model,
        dataset,
        samples: rows,
        seconds: (Date.now() - started) / 1000,
        quant: { ...base, agreement: top1Of(q, rows, fpPred), sqnrDb: sqnrDb(fp.outputs, q) },
      };
    }
    const set = loadDataset(dataset as DatasetName, 'test', samples === undefined ? {} : { samples, seed });
    const fp = evaluateTop1(graph, set, { onProgress: (d, t) => bar.update(d, t) });
    const q = quantizedOutputs(result.net, graph, set);
    const top1 = top1Of(q, set.count, set.labels);
    const correct = Math.round(top1 * set.count);
    return {
      model,
      dataset,
      split: 'test',
      top1: fp.top1,
      correct: fp.correct,
      samples: set.count,
      interval95: wilsonInterval(fp.correct, set.count),
      seconds: (Date.now() - started) / 1000,
      quant: { ...base, top1, correct, interval95: wilsonInterval(correct, set.count), fp32Top1: fp.top1 },
    };
  } finally {
    bar.done();
  }
}

function evalOne(model: string, data: EvalDataset | undefined, samples: number | undefined, seed: number, quiet: boolean): EvalRow {
  const { graph, entry } = loadModel(model);
  const dataset = data ?? entry?.dataset;
  if (!dataset) throw new UsageError(`--data is required for '${model}' (one of ${DATASETS.join(', ')})`);
  const started = Date.now();
  const bar = progress(`eval ${model} on ${dataset}`, process.stderr, quiet);
  try {
    if (dataset === 'photos') {
      const res = evaluatePhotos(graph, model, { samples, seed, onProgress: (d, t) => bar.update(d, t) });
      return { model, dataset, samples: res.length, seconds: (Date.now() - started) / 1000, photos: res };
    }
    const set = loadDataset(dataset as DatasetName, 'test', samples === undefined ? {} : { samples, seed });
    const res = evaluateTop1(graph, set, { onProgress: (d, t) => bar.update(d, t) });
    return {
      model,
      dataset,
      split: 'test',
      top1: res.top1,
      correct: res.correct,
      samples: res.samples,
      interval95: wilsonInterval(res.correct, res.samples),
      manifestTop1: entry?.manifest && entry.manifest.dataset === dataset && samples === undefined ? entry.manifest.top1 : undefined,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    bar.done();
  }
}

/** photos under node_modules read better as package paths */
function shortPath(file: string): string {
  const i = file.lastIndexOf('node_modules/');
  if (i >= 0) return file.slice(i + 'node_modules/'.length);
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function printRow(r: EvalRow): void {
  if (r.quant) {
    const q = r.quant;
    const head = `${r.model} ${q.preset} (config ${q.configHash.slice(0, 12)}, calibrated on ${q.calibSamples} ${r.dataset} images, PTQ ${q.ptqSeconds.toFixed(1)} s)`;
    if (q.agreement !== undefined) {
      process.stdout.write(`${head}\n  on ${r.samples} photos: top-1 agreement with FP32 ${(q.agreement * 100).toFixed(2)} %, output SQNR ${q.sqnrDb!.toFixed(2)} dB\n`);
    } else {
      const d = (q.top1! - q.fp32Top1!) * 100;
      process.stdout.write(
        `${head}\n  on ${r.dataset}/${r.split} (${r.samples}): quantized top-1 ${(q.top1! * 100).toFixed(2)} % ${ci(q.interval95!)}  FP32 ${(q.fp32Top1! * 100).toFixed(2)} %  (${d >= 0 ? '+' : ''}${d.toFixed(2)} pt)  [${r.seconds.toFixed(1)} s]\n`,
      );
    }
    return;
  }
  if (r.photos) {
    process.stdout.write(`${r.model} on ${r.samples} photos (top-1 class per image):\n`);
    process.stdout.write(table(['photo', 'class', 'probability'], r.photos.map((p) => [shortPath(p.file), p.class, Number(p.probability.toFixed(4))])) + '\n');
    return;
  }
  const vs = r.manifestTop1 === undefined ? '' : r.manifestTop1 === r.top1 ? '  (= manifest)' : `  (manifest says ${(r.manifestTop1 * 100).toFixed(2)} %)`;
  process.stdout.write(`${r.model} on ${r.dataset}/${r.split}: top-1 ${(r.top1! * 100).toFixed(2)} % (${r.correct}/${r.samples}, ${ci(r.interval95!)})${vs}  [${r.seconds.toFixed(1)} s]\n`);
}

/** "95 % CI 96.53–99.59 %" */
function ci(i: { lo: number; hi: number }): string {
  return `95 % CI ${(i.lo * 100).toFixed(2)}–${(i.hi * 100).toFixed(2)} %`;
}

export const evalCommand: Command = {
  summary: 'FP32 top-1 of a model on a dataset (photos: top-1 class per image)',
  usage: `qloom eval <model|file> [--data mnist|fmnist|photos] [--samples N] [--seed S] [--json]  |  qloom eval --all  |  qloom eval <model> --quant <preset> ${PTQ_USAGE} --data <dataset> [--json]`,
  options: {
    ...PTQ_OPTIONS,
    quant: { type: 'string' },
    data: { type: 'string' },
    samples: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    all: { type: 'boolean' },
  },
  async run(pos, values) {
    const data = values.data as string | undefined;
    const ptqFlags = Object.keys(PTQ_OPTIONS).filter((k) => values[k] !== undefined && k !== 'seed');
    if (values.quant !== undefined || ptqFlags.length > 0) {
      // every flag and config problem at once, before any work
      const problems: string[] = [];
      if (values.quant === undefined) problems.push(`${ptqFlags.map((f) => `--${f}`).join(', ')} need(s) --quant <preset>`);
      if (values.all) problems.push('--quant evaluates one model, not --all');
      if (pos.length !== 1) problems.push('eval --quant takes exactly one model name or file');
      if (data !== undefined && !DATASETS.includes(data as EvalDataset)) problems.push(`--data must be one of ${DATASETS.join(', ')}, got '${data}'`);
      const samples = values.samples === undefined ? undefined : Number(values.samples);
      if (samples !== undefined && (!Number.isInteger(samples) || samples < 1)) problems.push(`--samples must be a positive integer, got '${String(values.samples)}'`);
      const cfg = ptqConfigFromFlags((values.quant as string | undefined) ?? 'w8a8-pt', values, problems);
      const seed = values.seed === undefined ? 0 : Number(values.seed);
      const dataset = (data ?? listModels().find((m) => m.name === pos[0])?.dataset) as EvalDataset | undefined;
      if (!dataset) throw new UsageError(`--data is required for '${pos[0]}' (one of ${DATASETS.join(', ')})`);
      const json = values.json === true;
      const row = await quantEval(pos[0], dataset, samples, seed, cfg, json);
      if (json) process.stdout.write(JSON.stringify((({ seconds: _s, ...r }) => r)(row), null, 2) + '\n');
      else printRow(row);
      return;
    }
    if (data !== undefined && !DATASETS.includes(data as EvalDataset)) throw new UsageError(`--data must be one of ${DATASETS.join(', ')}, got '${data}'`);
    const samples = values.samples === undefined ? undefined : Number(values.samples);
    if (samples !== undefined && (!Number.isInteger(samples) || samples < 1)) throw new UsageError(`--samples must be a positive integer, got '${String(values.samples)}'`);
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${String(values.seed)}'`);
    const json = values.json === true;
    let rows: EvalRow[];
    if (values.all) {
      if (pos.length > 0) throw new UsageError('--all takes no model name');
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
      if (pos.length !== 1) throw new UsageError('eval takes exactly one model name or file (or --all)');
      rows = [evalOne(pos[0], data as EvalDataset | undefined, samples, seed, json)];
      if (!json) printRow(rows[0]);
    }
    if (json) {
      const out = rows.map(({ seconds: _s, ...r }) => r);
      process.stdout.write(JSON.stringify(values.all ? out : out[0], null, 2) + '\n');
    }
  },
};
