/**
 * `qloom qat`: quantization-aware training of a model from its PTQ starting point, exported as a
 * quantized ONNX file (QOperator or QDQ) exactly as `qloom quantize` exports PTQ results. Every
 * flag problem is reported at once before any work (exit 2); the output is written under a temp
 * name and renamed, after the training and the integer evaluation succeeded.
 */
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadModel } from '../nets/zoo/index.js';
import { PRESET_NAMES } from '../quant/config.js';
import { QAT_PRESETS, resolveQatPreset } from '../quant/qat/presets.js';
import { ConfigError } from '../errors/index.js';
import { modelDataset } from '../scenarios/models.js';
import { quantizedOutputs, top1Of } from '../scenarios/debug.js';
import { checkOutputPath } from '../scenarios/files.js';
import { QAT_DATASETS, qatModel } from '../scenarios/qat.js';
import { writeQuantizedOnnx } from '../scenarios/quantize.js';
import { QAT_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { progress } from './progress.js';

function num(values: Record<string, unknown>, key: string, problems: string[], int: boolean): number | undefined {
  const v = values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < 0) {
    problems.push(`--${key} must be a ${int ? 'non-negative integer' : 'non-negative number'}, got '${String(v)}'`);
    return undefined;
  }
  return n;
}

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  const problems = flags.problems;
  flags.positionalCount(1, 'one model name or file');
  const preset = values.preset as string | undefined;
  if (!preset) problems.push(`--preset is required (${Object.keys(QAT_PRESETS).join(', ')}, or a PTQ preset to start from)`);
  else if (!QAT_PRESETS[preset] && !PRESET_NAMES.includes(preset)) problems.push(`--preset: unknown preset '${preset}' (QAT presets: ${Object.keys(QAT_PRESETS).join(', ')}; or a PTQ preset: ${PRESET_NAMES.join(', ')})`);
  const data = (values.data ?? modelDataset(pos[0] ?? '') ?? 'fmnist') as string;
  if (!QAT_DATASETS.includes(data as DatasetName)) problems.push(`--data must be ${QAT_DATASETS.join(' or ')} (a labelled train split), got '${data}'`);
  const out = values.out as string | undefined;
  if (!out) problems.push('--out <file.onnx> is required');
  const format = (values.format ?? 'qop') as string;
  if (format !== 'qop' && format !== 'qdq') problems.push(`--format must be qop or qdq, got '${format}'`);
  const epochs = num(values, 'epochs', problems, true);
  if (epochs === 0) problems.push('--epochs must be at least 1');
  const lr = num(values, 'lr', problems, false);
  const scaleLr = num(values, 'scale-lr', problems, false);
  const seed = num(values, 'seed', problems, true);
  const trainSamples = num(values, 'train-samples', problems, true);
  const samples = num(values, 'samples', problems, true);
  const forward = values.forward as string | undefined;
  if (forward !== undefined && forward !== 'float' && forward !== 'integer') problems.push(`--forward must be float or integer, got '${forward}'`);
  if (preset && (QAT_PRESETS[preset] || PRESET_NAMES.includes(preset))) {
    try {
      resolveQatPreset(preset, { epochs, lr, scaleLr, seed, forward: forward as 'float' | 'integer' | undefined });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) if (!['epochs', 'lr', 'scaleLr', 'seed', 'forward'].includes(p.path)) problems.push(`--preset ${preset}: ${p.path}: ${p.message}`);
    }
  }
  const own = modelDataset(pos[0] ?? '');
  if (own && own !== data && QAT_DATASETS.includes(data as DatasetName)) problems.push(`--data ${data}: ${pos[0]} was trained on ${own}; QAT fine-tunes it on the same data`);
  flags.check(QAT_USAGE);
  checkOutputPath(out!);
  const model = pos[0];
  const quiet = values.json === true && !process.stderr.isTTY;
  let bar = progress(`${model} QAT`, process.stderr, quiet);
  const result = await qatModel(model, {
    preset: preset!,
    data: data as DatasetName,
    hyper: { epochs, lr, scaleLr, seed, ...(forward && { forward: forward as 'float' | 'integer' }) },
    ...(typeof values.checkpoint === 'string' && { checkpoint: values.checkpoint }),
    ...(trainSamples !== undefined && { trainSamples }),
    onStep: (e, s, steps) => bar.update(s, steps),
    onEpoch: (e) => {
      bar.done();
      if (!quiet) process.stderr.write(`epoch ${e.epoch}: train loss ${e.loss.toFixed(4)}${e.evalTop1 !== undefined ? `, integer top-1 ${(100 * e.evalTop1).toFixed(2)} % (2,000 test images)` : ''} (${e.seconds.toFixed(0)} s)\n`);
      bar = progress(`${model} QAT`, process.stderr, quiet);
    },
  });
  bar.done();
  // the integer network on the test split, as `qloom eval --quant` scores a PTQ result
  const test = loadDataset(data as DatasetName, 'test', samples !== undefined ? { samples, seed: 0 } : {});
  const top1 = top1Of(quantizedOutputs(result.net, loadModel(model).graph, test), test.count, test.labels);
  const bytes = writeQuantizedOnnx(result.net, out!, format as 'qop' | 'qdq');
  const summary = {
    model,
    out,
    format,
    bytes,
    preset: result.preset.ptq.preset,
    config: result.preset.ptq,
    qat: result.preset.qat,
    qatHash: result.qatHash,
    trainSamples: result.trainSamples,
    history: result.history,
    ...(result.startTop1 !== undefined && { startTop1: result.startTop1 }),
    test: { samples: test.count, top1 },
  };
  if (values.json === true) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return;
  }
  process.stdout.write(
    `${model} → ${out} (${format}, ${bytes.toLocaleString('en-US')} bytes)  QAT preset ${summary.preset}  ${result.qatHash.slice(0, 12)}\n` +
      `  ${result.history.length} epoch${result.history.length === 1 ? "" : "s"} on ${result.trainSamples} ${data} train images (${result.epochsRun} run now, ${result.seconds.toFixed(0)} s); ` +
      `integer top-1 ${(100 * top1).toFixed(2)} % on ${test.count} test images\n`,
  );
}
