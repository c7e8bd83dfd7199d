/**
 * `qloom quantize`: the standard PTQ pipeline on a model, calibrated on a dataset's train split,
 * exported as a quantized ONNX file (QOperator or QDQ). Every flag and config problem is reported
 * at once, before any model, dataset or calibration work (exit 2).
 */
import { UsageError } from '../errors/index.js';
import type { EvalDatasetName } from '../scenarios/datasets.js';
import { checkOutputPath } from '../scenarios/files.js';
import { datasetProblems, ptqSummary, ptqTimings, quantize, writeQuantizedOnnx } from '../scenarios/quantize.js';
import { QUANTIZE_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { stageProgress } from './progress.js';
import { ptqConfigOrUsage } from './ptq-flags.js';

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  const problems = flags.problems;
  flags.positionalCount(1, 'one model name or file');
  problems.push(...datasetProblems('--calib', values.calib, pos[0]));
  const out = values.out as string | undefined;
  if (!out) problems.push('--out <file.onnx> is required');
  const format = (values.format ?? 'qop') as string;
  if (format !== 'qop' && format !== 'qdq') problems.push(`--format must be qop or qdq, got '${format}'`);
  if (values.timing === true && values.json !== true) problems.push('--timing adds the wall-clock times to the --json output: give --json too');
  const cfg = ptqConfigOrUsage(values.preset as string | undefined, values, problems, QUANTIZE_USAGE);
  const model = pos[0];
  if (values.checkpoint !== undefined && !cfg.adaround) throw new UsageError(`--checkpoint keeps AdaRound layers: give a preset with AdaRound (e.g. w4a8-pc-adaround) or --adaround\nusage: ${QUANTIZE_USAGE}`);
  // refused before the PTQ run, not after it
  checkOutputPath(out!);
  const p = stageProgress(model, false);
  let result;
  try {
    result = await quantize(model, { calib: values.calib as EvalDatasetName, config: cfg, onProgress: p.onProgress, ...(typeof values.checkpoint === 'string' ? { checkpoint: values.checkpoint } : {}) });
  } finally {
    p.done();
  }
  // written under a temp name and renamed: a failed run never leaves a half-written model behind
  const bytes = writeQuantizedOnnx(result.net, out!, format as 'qop' | 'qdq');
  if (values.json === true) {
    // wall-clock times only with --timing: the same run prints the same bytes
    const timing = values.timing === true ? { timing: { stagesMs: ptqTimings(result) } } : {};
    process.stdout.write(JSON.stringify({ model, out, format, bytes, ...ptqSummary(result), ...timing }, null, 2) + '\n');
    return;
  }
  const t = result.timingsMs;
  process.stdout.write(
    `${model} → ${out} (${format}, ${bytes.toLocaleString('en-US')} bytes)  preset ${cfg.preset}  config ${result.configHash.slice(0, 12)}\n` +
      `  ${result.stats.layers.length} linear layers, ${result.net.layers.length} layers; calibrated on ${result.stats.calibSamples} ${String(values.calib)} images; ` +
      `${(t.total / 1000).toFixed(1)} s (calibration ${((t.calibrate ?? 0) / 1000).toFixed(1)} s)\n`,
  );
}
