/**
 * `qloom quantize`: the standard PTQ pipeline on a model, calibrated on a dataset's train split,
 * exported as a quantized ONNX file (QOperator or QDQ). Also the PTQ flag parsing `eval --quant`
 * and `debug` share: every flag and config problem is collected and reported at once, before any
 * model, dataset or calibration work (exit 2).
 */
import { calibrationSet } from '../scenarios/evaluate.js';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../arch/errors.js';
import { PREPROCESS_NAMES } from '../nets/data/preprocess.js';
import { loadModel } from '../nets/zoo/index.js';
import { PRESET_NAMES, resolvePtqConfig, type PtqConfig, type PtqFlags } from '../quant/config.js';
import { exportQuantizedOnnx } from '../quant/onnx/qexport.js';
import { quantizeNetwork, type CalibData, type PtqResult } from '../quant/pipeline.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { progress, type Progress } from './progress.js';

export const CALIB_DATASETS = ['mnist', 'fmnist', 'photos', 'orientation'] as const;
export type CalibDataset = (typeof CALIB_DATASETS)[number];

/** parseArgs options of the PTQ flags (shared by quantize, eval --quant, debug). */
export const PTQ_OPTIONS = {
  cle: { type: 'boolean' },
  'no-cle': { type: 'boolean' },
  'bias-correction': { type: 'string' },
  'weight-range': { type: 'string' },
  'act-range': { type: 'string' },
  'logits-range': { type: 'string' },
  percentile: { type: 'string' },
  adaround: { type: 'boolean' },
  'adaround-iters': { type: 'string' },
  'w-bits': { type: 'string' },
  'a-bits': { type: 'string' },
  'per-channel': { type: 'boolean' },
  'per-tensor': { type: 'boolean' },
  'act-per-channel': { type: 'boolean' },
  pow2: { type: 'boolean' },
  'calib-samples': { type: 'string' },
  seed: { type: 'string' },
} as const;

export const PTQ_USAGE =
  '[--cle] [--bias-correction empirical|analytic|none] [--weight-range minmax|mse] [--act-range minmax|mse|percentile|bn] [--logits-range ce|same] [--percentile P] [--adaround] [--adaround-iters N] [--w-bits N] [--a-bits N] [--per-channel|--per-tensor] [--pow2] [--calib-samples N] [--seed S]';

/** A number flag; a malformed one is a problem, not an exception, so all can be reported at once. */
function num(values: Record<string, unknown>, key: string, problems: string[], integer = true): number | undefined {
  const v = values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    problems.push(`--${key} must be ${integer ? 'an integer' : 'a number'}, got '${String(v)}'`);
    return undefined;
  }
  return n;
}

/**
 * The PTQ config from a preset and the flags. Every problem (malformed flags, contradictory
 * flags, config validation) ends in ONE UsageError listing all of them.
 */
export function ptqConfigFromFlags(preset: string | undefined, values: Record<string, unknown>, extraProblems: string[] = []): PtqConfig {
  const problems = [...extraProblems];
  if (preset === undefined) problems.push(`a preset is required (one of ${PRESET_NAMES.join(', ')})`);
  if (values['per-channel'] && values['per-tensor']) problems.push('--per-channel and --per-tensor contradict each other');
  if (values.cle && values['no-cle']) problems.push('--cle and --no-cle contradict each other');
  const wBits = num(values, 'w-bits', problems);
  const aBits = num(values, 'a-bits', problems);
  const calibSamples = num(values, 'calib-samples', problems);
  const seed = num(values, 'seed', problems);
  const percentile = num(values, 'percentile', problems, false);
  const iters = num(values, 'adaround-iters', problems);
  const flags: PtqFlags = {
    wBits,
    aBits,
    calibSamples,
    seed,
    percentile,
    perChannel: values['per-channel'] ? true : values['per-tensor'] ? false : undefined,
    actsPerChannel: values['act-per-channel'] ? true : undefined,
    pow2: values.pow2 ? true : undefined,
    cle: values.cle ? true : values['no-cle'] ? false : undefined,
    weightRange: values['weight-range'] as string | undefined,
    actRange: values['act-range'] as string | undefined,
    logitsRange: values['logits-range'] as string | undefined,
    biasCorrection: values['bias-correction'] as string | undefined,
    adaround: iters !== undefined ? { iterations: iters } : values.adaround ? true : undefined,
  };
  try {
    const cfg = resolvePtqConfig(preset ?? 'w8a8-pt', flags);
    if (problems.length) throw new UsageError(formatProblems(problems));
    return cfg;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) problems.push(p.path ? `${flagName(p.path)}: ${p.message}` : p.message);
      throw new UsageError(formatProblems(problems));
    }
    throw e;
  }
}

/** Config paths as the flag a CLI user would change. */
function flagName(path: string): string {
  const map: Record<string, string> = {
    preset: '--preset',
    'weights.bits': '--w-bits',
    'activations.bits': '--a-bits',
    'activations.perChannel': '--act-per-channel',
    weightRange: '--weight-range',
    actRange: '--act-range',
    logitsRange: '--logits-range',
    biasCorrection: '--bias-correction',
    percentile: '--percentile',
    calibSamples: '--calib-samples',
    'adaround.iterations': '--adaround-iters',
  };
  return map[path] ?? path;
}

function formatProblems(problems: string[]): string {
  return problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`;
}

/** Calibration images: a seeded subset of the train split (photos: the photo set, no split). */
export function loadCalibration(dataset: CalibDataset, model: string, cfg: PtqConfig): CalibData {
  return calibrationSet(dataset, model, cfg);
}

/** The dataset problems known without loading anything. */
export function datasetProblems(flag: string, dataset: unknown, model: string | undefined): string[] {
  if (dataset === undefined) return [`${flag} is required (one of ${CALIB_DATASETS.join(', ')})`];
  if (!CALIB_DATASETS.includes(dataset as CalibDataset)) return [`${flag} must be one of ${CALIB_DATASETS.join(', ')}, got '${String(dataset)}'`];
  if (dataset === 'photos' && model !== undefined && !(PREPROCESS_NAMES as readonly string[]).includes(model)) {
    return [`${flag} photos needs a model with known preprocessing (${PREPROCESS_NAMES.join(', ')}), not '${model}'`];
  }
  return [];
}

/** Progress of the pipeline's stages on stderr: one bar (or line series) per stage. */
export function stageProgress(model: string, quiet: boolean): { onProgress: (stage: string, d: number, t: number) => void; done: () => void } {
  let current = '';
  let bar: Progress | null = null;
  return {
    onProgress(stage, d, t) {
      if (stage !== current) {
        bar?.done();
        current = stage;
        bar = progress(`${model}: ${stage}`, process.stderr, quiet);
      }
      bar!.update(d, t);
    },
    done() {
      bar?.done();
    },
  };
}

/** Runs the pipeline with progress on stderr. */
export async function runPtq(model: string, dataset: CalibDataset, cfg: PtqConfig, quiet: boolean): Promise<{ result: PtqResult; calib: CalibData }> {
  const { graph } = loadModel(model);
  const calib = loadCalibration(dataset, model, cfg);
  const p = stageProgress(model, quiet);
  try {
    const result = await quantizeNetwork(graph, calib, cfg, { onProgress: p.onProgress });
    return { result, calib };
  } finally {
    p.done();
  }
}

/** A short JSON-friendly summary of a PTQ result. */
export function ptqSummary(r: PtqResult): Record<string, unknown> {
  return {
    config: r.config,
    configHash: r.configHash,
    layers: r.net.layers.length,
    linearLayers: r.stats.layers.length,
    calibSamples: r.stats.calibSamples,
    clePairs: r.stats.clePairs,
    timingsMs: Object.fromEntries(Object.entries(r.timingsMs).map(([k, v]) => [k, Math.round(v)])),
  };
}

const USAGE = `qloom quantize <model> --preset <${PRESET_NAMES.join('|')}> ${PTQ_USAGE} --calib mnist|fmnist|photos --out <file.onnx> [--format qop|qdq] [--json]`;

export const quantizeCommand: Command = {
  summary: 'post-training quantization (standard PTQ pipeline) → quantized ONNX',
  usage: USAGE,
  options: {
    ...PTQ_OPTIONS,
    preset: { type: 'string' },
    calib: { type: 'string' },
    out: { type: 'string' },
    format: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(pos, values) {
    const problems: string[] = [];
    if (pos.length !== 1) problems.push('quantize takes exactly one model name or file');
    problems.push(...datasetProblems('--calib', values.calib, pos[0]));
    const out = values.out as string | undefined;
    if (!out) problems.push('--out <file.onnx> is required');
    const format = (values.format ?? 'qop') as string;
    if (format !== 'qop' && format !== 'qdq') problems.push(`--format must be qop or qdq, got '${format}'`);
    let cfg: PtqConfig;
    try {
      cfg = ptqConfigFromFlags(values.preset as string | undefined, values, problems);
    } catch (e) {
      if (e instanceof UsageError) throw new UsageError(`${e.message}\nusage: ${USAGE}`);
      throw e;
    }
    const json = values.json === true;
    const { result } = await runPtq(pos[0], values.calib as CalibDataset, cfg, false);
    const bytes = exportQuantizedOnnx(result.net, { format: format as 'qop' | 'qdq' });
    // a failed run never leaves a half-written model behind
    const tmp = join(dirname(out!), `.${basename(out!)}.${process.pid}.tmp`);
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, out!);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to clean */
      }
      throw e;
    }
    if (json) {
      process.stdout.write(JSON.stringify({ model: pos[0], out, format, bytes: bytes.length, ...ptqSummary(result) }, null, 2) + '\n');
    } else {
      const t = result.timingsMs;
      process.stdout.write(
        `${pos[0]} → ${out} (${format}, ${bytes.length.toLocaleString('en-US')} bytes)  preset ${cfg.preset}  config ${result.configHash.slice(0, 12)}\n` +
          `  ${result.stats.layers.length} linear layers, ${result.net.layers.length} layers; calibrated on ${result.stats.calibSamples} ${String(values.calib)} images; ` +
          `${(t.total / 1000).toFixed(1)} s (calibration ${((t.calibrate ?? 0) / 1000).toFixed(1)} s)\n`,
      );
    }
  },
};
