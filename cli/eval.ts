/** `qloom eval`: FP32 top-1 on a labeled dataset, or the top-1 class per photo. */
import { relative } from 'node:path';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { evaluateTop1 } from '../nets/eval.js';
import { evaluatePhotos } from '../nets/photo-eval.js';
import { listModels, loadModel, type EvalDataset } from '../nets/zoo/index.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';
import { table } from './table.js';

const DATASETS: readonly EvalDataset[] = ['mnist', 'fmnist', 'photos'];

interface EvalRow {
  model: string;
  dataset: EvalDataset;
  split?: string;
  top1?: number;
  correct?: number;
  samples: number;
  manifestTop1?: number;
  seconds: number;
  photos?: { file: string; class: string; classIndex: number; probability: number }[];
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
  if (r.photos) {
    process.stdout.write(`${r.model} on ${r.samples} photos (top-1 class per image):\n`);
    process.stdout.write(table(['photo', 'class', 'probability'], r.photos.map((p) => [shortPath(p.file), p.class, Number(p.probability.toFixed(4))])) + '\n');
    return;
  }
  const vs = r.manifestTop1 === undefined ? '' : r.manifestTop1 === r.top1 ? '  (= manifest)' : `  (manifest says ${(r.manifestTop1 * 100).toFixed(2)} %)`;
  process.stdout.write(`${r.model} on ${r.dataset}/${r.split}: top-1 ${(r.top1! * 100).toFixed(2)} % (${r.correct}/${r.samples})${vs}  [${r.seconds.toFixed(1)} s]\n`);
}

export const evalCommand: Command = {
  summary: 'FP32 top-1 of a model on a dataset (photos: top-1 class per image)',
  usage: 'qloom eval <model|file> [--data mnist|fmnist|photos] [--samples N] [--seed S] [--json]  |  qloom eval --all',
  options: {
    data: { type: 'string' },
    samples: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    all: { type: 'boolean' },
  },
  run(pos, values) {
    const data = values.data as string | undefined;
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
