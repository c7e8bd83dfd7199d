/**
 * Post-training quantization of a model: the library calls behind `qloom quantize` and
 * `qloom debug`, `qloom eval --quant`, `qloom run --model` and the `qloom` scenario runner.
 * Calibration images are a seeded subset of the data set's train split (photos: the photo set),
 * picked by `calibrationSet` (datasets.ts) as every caller picks them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors/index.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqConfig } from '../quant/config.js';
import { exportQuantizedOnnx } from '../quant/onnx/qexport.js';
import { quantizeNetwork, type AdaRoundStore, type CalibData, type PtqOptions, type PtqResult } from '../quant/pipeline.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { debugNetwork, type DebugReport } from './debug.js';
import { calibrationSet, datasetProblems, evaluationSet, type EvalDatasetName } from './datasets.js';
import { checkOutputDir, ensureDir, writeFileAtomic } from './files.js';

export { CALIB_DATASETS, datasetProblems } from './datasets.js';

export interface QuantizeOptions {
  /** calibration data set */
  readonly calib: EvalDatasetName;
  /** a PTQ preset name, or a config from `resolvePtqConfig` */
  readonly config: string | PtqConfig;
  /** pipeline stages: stage name, done, total */
  readonly onProgress?: (stage: string, done: number, total: number) => void;
  /** a folder keeping each finished AdaRound layer, so an interrupted run resumes there */
  readonly checkpoint?: string;
}

/**
 * AdaRound layers kept as files `<content key>.i32` (little-endian int32 codes) in `dir`, written
 * under a temp name and renamed: a run killed mid-write leaves no layer half-stored, and a later
 * run with the same config, calibration and earlier layers picks every finished layer up.
 */
export function adaroundStoreDir(dir: string): AdaRoundStore {
  checkOutputDir(dir);
  ensureDir(dir);
  return {
    load(key) {
      const file = join(dir, `${key}.i32`);
      if (!existsSync(file)) return undefined;
      const b = readFileSync(file);
      if (b.byteLength % 4 !== 0) return undefined;
      const codes = new Int32Array(b.byteLength / 4);
      new Uint8Array(codes.buffer).set(b);
      return codes;
    },
    save(key, codes) {
      writeFileAtomic(join(dir, `${key}.i32`), new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength));
    },
  };
}

/**
 * A zoo model (or model file) quantized with `cfg`, calibrated with `calibrationSet` (or `calib`,
 * when the caller already holds exactly that set).
 */
export async function quantizeModel(model: string, dataset: EvalDatasetName, cfg: PtqConfig, opts: PtqOptions = {}, calib: CalibData = calibrationSet(dataset, model, cfg)): Promise<PtqResult> {
  const { graph } = loadModel(model);
  return quantizeNetwork(graph, { images: calib.images, shape: calib.shape, count: calib.count }, cfg, opts);
}

function configOf(config: string | PtqConfig): PtqConfig {
  return typeof config === 'string' ? resolvePtqConfig(config) : config;
}

function checkDataset(dataset: EvalDatasetName, model: string): void {
  const problems = datasetProblems('the data set', dataset, model);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
}

/**
 * The standard PTQ pipeline on a zoo model or model file (BN folding → CLE → quantizers → weight
 * ranges → AdaRound or bias correction → activation ranges), calibrated on `calib`.
 */
export function quantize(model: string, opts: QuantizeOptions): Promise<PtqResult> {
  checkDataset(opts.calib, model);
  return quantizeModel(model, opts.calib, configOf(opts.config), { onProgress: opts.onProgress, ...(opts.checkpoint ? { adaroundStore: adaroundStoreDir(opts.checkpoint) } : {}) });
}

/** Writes a quantized network as QOperator or QDQ ONNX (temp file + rename); returns its size in bytes. */
export function writeQuantizedOnnx(net: QuantizedNetwork, file: string, format: 'qop' | 'qdq' = 'qop'): number {
  const bytes = exportQuantizedOnnx(net, { format });
  writeFileAtomic(file, bytes);
  return bytes.length;
}

/**
 * A short JSON-friendly summary of a PTQ result: the same on every run of the same config (the
 * wall-clock stage times are `ptqTimings`, apart).
 */
export function ptqSummary(r: PtqResult): Record<string, unknown> {
  return {
    config: r.config,
    configHash: r.configHash,
    layers: r.net.layers.length,
    linearLayers: r.stats.layers.length,
    calibSamples: r.stats.calibSamples,
    clePairs: r.stats.clePairs,
  };
}

/** The wall-clock time of each PTQ stage, in whole milliseconds (differs from run to run). */
export function ptqTimings(r: PtqResult): Record<string, number> {
  return Object.fromEntries(Object.entries(r.timingsMs).map(([k, v]) => [k, Math.round(v)]));
}

export interface DebugModelOptions {
  /** calibrated on its train split (photos: the photos), evaluated on its test split */
  readonly data: EvalDatasetName;
  /** evaluation images, a seeded subset (the config's seed); default 500 */
  readonly samples?: number;
  readonly config: string | PtqConfig;
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

/**
 * The white paper's PTQ debugging workflow on a model (`qloom debug`): FP32 sanity at 32 bits,
 * weights-only vs activations-only, per-quantizer sensitivity, per-channel range statistics.
 */
export function debugModel(model: string, opts: DebugModelOptions): Promise<DebugReport> {
  const cfg = configOf(opts.config);
  const { data } = opts;
  checkDataset(data, model);
  const samples = opts.samples ?? 500;
  if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`samples must be a positive integer, got ${String(samples)}`);
  const { graph } = loadModel(model);
  const calib = calibrationSet(data, model, cfg);
  let evalData;
  if (data === 'photos') evalData = evaluationSet(data, model, samples, cfg.seed);
  else {
    const test = loadDataset(data as DatasetName, 'test');
    evalData = samples >= test.count ? test : evaluationSet(data, model, samples, cfg.seed);
  }
  return debugNetwork(graph, calib, evalData, cfg, { onProgress: opts.onProgress });
}
