/**
 * `simulateModel`: functional + timing run of a quantized network on data set images — the library
 * call behind `qloom run --model`. The model is a quantized ONNX file (QOperator / QDQ), or a float
 * model (zoo name or .onnx) quantized here with a PTQ preset. The engine times one inference
 * (timing does not depend on the data); each batch of images runs through that timing run's tile
 * events functionally, so overflow counts and accuracy cover every sample while cycles / energy /
 * bits are per inference — the same calls (scenarios/evaluate.ts) the `qloom` scenario runner makes.
 */
import { basename, dirname } from 'node:path';
import { type ArchSpec, type MemoryModel, type OnChipPolicy, engineHierarchyProblem } from '../arch/spec.js';
import { ConfigError } from '../arch/errors.js';
import { systemError, UsageError } from '../errors/index.js';
import { scoreCtcOutputs } from '../nets/eval-ctc.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqConfig } from '../quant/config.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import { runFp32Batched } from '../quant/pipeline.js';
import type { RequantMode } from '../qnet/requant.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { ARCH_REQUANT_MODE, checkPerChannelSupport, checkRequantSupport } from '../sim/requant-unit.js';
import type { EventChunk } from '../sim/events.js';
import type { RunResult } from '../sim/result.js';
import { ChromeTraceWriter } from '../traces/chrome.js';
import { checkOutputPath, ensureDir, removeStaleTempFiles, trackTempFile } from './files.js';
import { sqnrDb } from './debug.js';
import { dataSplits, evaluationSet, modelRunProblems, TEXT_DATASETS, type EvalDatasetName } from './datasets.js';
import { agreementWithFp32, evaluateOnArch, inputShapeFor, type ArchEvaluation } from './evaluate.js';
import { quantizeModel } from './quantize.js';
import { loadArch } from './simulate.js';

export interface ModelRunOptions {
  /** preset name, spec file (.json / .yaml), SCALE-Sim .cfg, or a spec */
  readonly arch: string | ArchSpec;
  readonly memory?: MemoryModel;
  /** which layer boundaries stay on chip, instead of the arch's `memories.onChipBoundaries` */
  readonly onChip?: OnChipPolicy | 'none';
  /** `bands`: boundaries may also be kept as bands of rows (arch `memories.fusion`) */
  readonly fusion?: 'none' | 'bands';
  /** a quantized .onnx, or a float model (zoo name or .onnx) together with `preset` */
  readonly model: string;
  /** PTQ preset name or config: quantize the float `model` here, calibrated on `data`'s train split */
  readonly preset?: string | PtqConfig;
  readonly data: EvalDatasetName;
  /** test images (photos: at most all of them); default 100, seed 0 */
  readonly samples?: number;
  /** samples per functional run; default 100 */
  readonly batch?: number;
  /** default: the arch's requant unit (`fixed`, M0 at requant.multiplierBits; sim/requant-unit.ts); `float` = ONNX Runtime's */
  readonly requant?: RequantMode;
  /** write a Chrome / Perfetto trace of the first inference here */
  readonly trace?: string;
  /** samples done, of the total */
  readonly onProgress?: (done: number, total: number) => void;
  /** count zero operands per conv / gemm on the data (LayerResult.zeros) even where the arch does not gate them */
  readonly zeros?: boolean;
}

export interface ModelRun {
  /** cycles, energy and bits per inference; overflows over every sample */
  readonly result: RunResult;
  /** top-1 on the test split, or top-1 agreement with FP32 on photos */
  readonly accuracy: number;
  /** photos: output SQNR against FP32 (dB) */
  readonly sqnrDb?: number;
  /** text lines (CTC recognizers): line accuracy; `accuracy` is then the character accuracy */
  readonly lineAccuracy?: number;
  readonly samples: number;
  readonly model: string;
  readonly dataset: EvalDatasetName;
  /** what calibrated and what scored (disjoint by construction) */
  readonly splits: { readonly calibration: string; readonly evaluation: string };
  readonly requant: RequantMode;
  /** the accumulators overflows are counted at (RunResult's overflowsBy): in-array partial sums, then the accumulator */
  readonly accumulator: { readonly dataflow: ArchSpec['array']['dataflow'] } & ArchSpec['accumulator'];
  readonly trace?: { readonly path: string; readonly events: number };
}

function positiveInt(v: number | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** A step of the trace's writing; a failed system call names the trace (its temp file means nothing to a user). */
function traceWrite<T>(file: string, step: () => T): T {
  try {
    return step();
  } catch (e) {
    throw systemError(e, file, 'cannot write') ?? e;
  }
}

/** Functional + timing run of a quantized network on data set images (`qloom run --model`). */
export async function simulateModel(opts: ModelRunOptions): Promise<ModelRun> {
  const { model, data } = opts;
  const problems = modelRunProblems(opts);
  if (problems.length) throw new UsageError(problems.join('; '));
  const samples = positiveInt(opts.samples, 'samples', 100);
  const batch = positiveInt(opts.batch, 'batch', 100);
  const mode = opts.requant ?? ARCH_REQUANT_MODE;
  if (mode !== 'float' && mode !== 'fixed') throw new UsageError(`requant must be float or fixed, got '${String(mode)}'`);
  const spec = loadArch(opts.arch, opts.memory, opts.onChip, opts.fusion);
  // a hierarchy the event engine cannot run is refused before any PTQ work
  const deep = engineHierarchyProblem(spec);
  if (deep) throw new ConfigError([deep], spec.source || spec.name);
  const ptq = opts.preset === undefined ? undefined : typeof opts.preset === 'string' ? resolvePtqConfig(opts.preset) : opts.preset;
  // a preset the arch's requant unit cannot run is refused before its PTQ run (evaluateOnArch checks the network again)
  if (ptq) checkPerChannelSupport(spec, ptq.weights.perChannel);
  // what can be refused is refused before the PTQ run: the trace's path, the number of samples
  if (opts.trace !== undefined) checkOutputPath(opts.trace);
  const set = evaluationSet(data, model, samples, 0);
  // quantized for this arch: the transformer ops' algorithms the preset leaves open are its SFU's
  const net = ptq === undefined ? loadQuantizedOnnx(model) : (await quantizeModel(model, data, ptq, spec.sfu ? { algorithms: spec.sfu } : {})).net;
  checkRequantSupport(spec, net);
  if (net.inputs.length !== 1) throw new UsageError(`the model has ${net.inputs.length} inputs; model runs take single-input models`);
  const shape = inputShapeFor(net, set.shape);
  let trace: ChromeTraceWriter | null = null;
  let release = (): void => {};
  if (opts.trace !== undefined) {
    ensureDir(dirname(opts.trace));
    // the temp files of an earlier run of this trace that was killed
    removeStaleTempFiles(dirname(opts.trace), `${basename(opts.trace)}.`);
    const layerNames = workloadFromQuantizedNetwork(net, [1, ...shape], spec).layers.map((l) => l.name);
    trace = traceWrite(opts.trace, () => new ChromeTraceWriter(opts.trace!, { clockHz: spec.clockHz, layerNames, metadata: { model, arch: spec.name } }));
    release = trackTempFile(trace.tempPath);
  }
  let evaluation: ArchEvaluation;
  let traced;
  try {
    const t = trace;
    const onEvents = t ? (c: EventChunk) => traceWrite(opts.trace!, () => t.chunk(c)) : undefined;
    evaluation = await evaluateOnArch(spec, net, set, { batch, requant: mode, seed: 0, onEvents, onProgress: opts.onProgress, zeros: opts.zeros === true });
    traced = t ? traceWrite(opts.trace!, () => t.finish()) : undefined;
  } catch (e) {
    trace?.abort();
    throw e;
  } finally {
    release();
  }
  let accuracy: number;
  let sqnr: number | undefined;
  let lineAccuracy: number | undefined;
  if (data === 'photos') {
    const fp32 = runFp32Batched(loadModel(model).graph, set);
    accuracy = agreementWithFp32(fp32, evaluation.predictions, set.count);
    sqnr = sqnrDb(fp32, evaluation.outputs);
  } else if (TEXT_DATASETS.includes(data)) {
    // a recognizer: its outputs decoded and read against each line's text
    const scores = scoreCtcOutputs(evaluation.outputs, set.count, (set as { texts?: readonly string[] }).texts ?? []);
    accuracy = scores.charAccuracy;
    lineAccuracy = scores.lineAccuracy;
  } else accuracy = (evaluation.correct ?? 0) / set.count;
  return {
    result: evaluation.result,
    accuracy,
    ...(sqnr !== undefined ? { sqnrDb: sqnr } : {}),
    ...(lineAccuracy !== undefined ? { lineAccuracy } : {}),
    samples: set.count,
    model,
    dataset: data,
    splits: dataSplits(data),
    requant: mode,
    accumulator: { dataflow: spec.array.dataflow, ...spec.accumulator },
    ...(traced ? { trace: traced } : {}),
  };
}

