/**
 * `qloom debug`: the PTQ debugging workflow (white paper Fig. 9) — FP32 sanity at 32 bits,
 * weights-only vs activations-only, and the per-quantizer sensitivity table.
 * Calibrated on the dataset's train split (photos: the photos), evaluated on a seeded subset of
 * its test split (default 500 images: every quantizer costs one pass of the FP32 executor).
 */
import type { DebugReport } from '../scenarios/debug.js';
import type { EvalDatasetName } from '../scenarios/datasets.js';
import { datasetProblems, debugModel } from '../scenarios/quantize.js';
import { DEBUG_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { stageProgress } from './progress.js';
import { ptqConfigOrUsage } from './ptq-flags.js';
import { table } from './table.js';

const pct = (v: number) => Number((v * 100).toFixed(2));
const db = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : v > 0 ? 'exact' : String(v));

function print(model: string, r: DebugReport): void {
  const metric = r.metric === 'labels' ? 'top-1' : 'top-1 agreement with FP32';
  const out: string[] = [];
  out.push(`${model} ${r.config.preset} (config ${r.configHash.slice(0, 12)}), ${metric} on ${r.samples} images`);
  out.push(
    `  FP32 sanity (all quantizers at 32 bits): max |Δ| ${r.sanity.maxAbsDiff.toExponential(2)} (tolerance ${r.sanity.tolerance.toExponential(2)}) ${r.sanity.pass ? 'PASS' : 'FAIL'}`,
  );
  out.push(`  prepared FP32 (BN folded${r.config.cle ? ', CLE' : ''}) vs the original model: top-1 agreement ${pct(r.prepared.top1)} %, logits SQNR ${db(r.prepared.sqnrDbOriginal)} dB`);
  out.push(`  logits SQNR (dB) on '${r.logits}' against the prepared / the original FP32:`);
  out.push('');
  out.push(
    table(
      ['stage', `${metric} %`, 'SQNR vs prepared', 'SQNR vs original'],
      [
        ['FP32 (prepared)', pct(r.fp32Top1), 'exact', db(r.prepared.sqnrDbOriginal)],
        ['quantized (fake quant)', pct(r.quantized.top1), db(r.quantized.sqnrDb), db(r.quantized.sqnrDbOriginal)],
        ['integer model', pct(r.integer.top1), db(r.integer.sqnrDb), db(r.integer.sqnrDbOriginal)],
        ['weights only', pct(r.weightsOnly.top1), db(r.weightsOnly.sqnrDb), db(r.weightsOnly.sqnrDbOriginal)],
        ['activations only', pct(r.activationsOnly.top1), db(r.activationsOnly.sqnrDb), db(r.activationsOnly.sqnrDbOriginal)],
      ],
    ),
  );
  out.push('');
  const lowest = [...r.perLayer].sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 8);
  out.push(`  noisiest tensors (all quantizers on, SQNR vs prepared FP32, first ${r.perLayerSamples} samples): ${lowest.map((l) => `${l.tensor} ${db(l.sqnrDb)}`).join(', ')}`);
  out.push('');
  out.push(
    table(
      ['quantizer', 'kind', 'bits', 'top-1 %', 'drop pt', 'logits SQNR dB'],
      r.sensitivity.map((s) => [s.target, s.kind, s.bits, pct(s.top1), Number((s.drop * 100).toFixed(2)), db(s.sqnrDb)]),
    ),
  );
  process.stdout.write(out.join('\n') + '\n');
}

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(1, 'one model name or file');
  flags.problems.push(...datasetProblems('--data', values.data, pos[0], { top1: true }));
  const samples = flags.int('samples', { min: 1, def: 500 })!;
  const cfg = ptqConfigOrUsage(values.preset as string | undefined, values, flags.problems, DEBUG_USAGE);
  const model = pos[0];
  const json = values.json === true;
  const p = stageProgress(model, json);
  let report: DebugReport;
  try {
    report = await debugModel(model, { data: values.data as EvalDatasetName, samples, config: cfg, onProgress: p.onProgress });
  } finally {
    p.done();
  }
  if (json) process.stdout.write(JSON.stringify({ model, ...report }, null, 2) + '\n');
  else print(model, report);
}
