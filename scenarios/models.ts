/**
 * Models on their own: the library calls behind `qloom models`, `qloom inspect` and `qloom eval`.
 *
 *  - `inspectModel`: layers with op, shapes, parameters and MACs (batch 1);
 *  - `evaluateModel`: FP32 top-1 on a labelled test split, or the top-1 class per photo, or — on a
 *    text-line set (`textlines`) — the character and line accuracy of the CTC-decoded text;
 *  - `evaluateQuantizedModel`: PTQ (calibrated on the train split, photos: the photos), then the
 *    integer model beside FP32 on the same images — top-1, agreement with FP32 and output SQNR, or
 *    character and line accuracy.
 */
import { UsageError } from '../errors/index.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import type { PreprocessName } from '../nets/data/preprocess.js';
import { argmaxRows, evaluateTop1, wilsonInterval } from '../nets/eval.js';
import { evaluateCtc, scoreCtcOutputs, type TextScores } from '../nets/eval-ctc.js';
import type { ValueInfo } from '../nets/graph.js';
import { evaluatePhotos, photoOutputs, type PhotoPrediction } from '../nets/photo-eval.js';
import { layerStats, type LayerStat } from '../nets/shapes.js';
import { listModels, loadModel, type EvalDataset } from '../nets/zoo/index.js';
import type { PtqConfig } from '../quant/config.js';
import { quantizedOutputs, quantizedOutputsOnWorkers, sqnrDb, top1Of } from './debug.js';
import { defaultWorkers } from './qexec-pool.js';
import { quantizeModel } from './quantize.js';
import { dataSplits, TEXT_DATASETS } from './datasets.js';

export const EVAL_DATASETS: readonly EvalDataset[] = Object.freeze(['mnist', 'fmnist', 'photos', 'orientation', 'textlines']);

export interface Interval {
  readonly lo: number;
  readonly hi: number;
}

export interface ModelInspection {
  readonly model: string;
  /** where it was read from */
  readonly source: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly layers: readonly LayerStat[];
  readonly totalMacs: number;
  readonly totalParams: number;
}

/** A model's layers (op, input / output shapes, parameters, MACs at batch 1) and totals; `width` binds ppocr-rec's. */
export function inspectModel(model: string, opts: { readonly width?: number } = {}): ModelInspection {
  const { graph, source } = loadModel(model, opts);
  const stats = layerStats(graph);
  return { model, source, inputs: graph.inputs, outputs: graph.outputs, layers: stats.layers, totalMacs: stats.totalMacs, totalParams: stats.totalParams };
}

/** The data set a zoo model is evaluated on, or undefined (a model file, or a name not in the zoo). */
export function modelDataset(model: string): EvalDataset | undefined {
  return listModels().find((m) => m.name === model)?.dataset;
}

export interface EvaluationOptions {
  /** default: the zoo model's own data set */
  readonly data?: EvalDataset;
  /** a seeded subset of the test split (photos: of the photos); default all */
  readonly samples?: number;
  readonly seed?: number;
  /** samples done, of the total */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ModelEvaluation {
  readonly model: string;
  readonly dataset: EvalDataset;
  readonly split?: string;
  readonly top1?: number;
  readonly correct?: number;
  readonly samples: number;
  /** labeled data: 95 % Wilson interval of top1 (text lines: of lineAccuracy) */
  readonly interval95?: Interval;
  /** text lines (nets/eval-ctc.ts): 1 − edits / chars over every line (1 − CER) */
  readonly charAccuracy?: number;
  /** text lines: share of lines read exactly (`correct` of `samples`) */
  readonly lineAccuracy?: number;
  /** text lines: 1 − mean per-line edits / max(|read|, |truth|) (PaddleOCR RecMetric's norm_edit_dis) */
  readonly normEditAccuracy?: number;
  /** text lines: Levenshtein edits over every line, and the characters of the truth */
  readonly edits?: number;
  readonly chars?: number;
  /** the manifest's top-1 of a bundled model, when this evaluation is the one it records */
  readonly manifestTop1?: number;
  /** wall-clock times: apart from the results, which are the same on every run */
  readonly timing: EvaluationTiming;
  /** photos: the top-1 class of each */
  readonly photos?: readonly PhotoPrediction[];
  /** evaluateQuantizedModel: the quantized model beside FP32 */
  readonly quant?: QuantizedEvaluation;
}

export interface QuantizedEvaluation {
  readonly preset: string;
  readonly configHash: string;
  /** labelled data: top-1 of the integer model and of FP32 on the same images */
  readonly top1?: number;
  readonly correct?: number;
  /** 95 % Wilson interval of top1 */
  readonly interval95?: Interval;
  readonly fp32Top1?: number;
  /** text lines: the integer model's scores, and FP32's on the same lines */
  readonly charAccuracy?: number;
  readonly lineAccuracy?: number;
  readonly normEditAccuracy?: number;
  readonly edits?: number;
  readonly chars?: number;
  readonly fp32CharAccuracy?: number;
  readonly fp32LineAccuracy?: number;
  /** photos: share of photos whose top-1 class equals FP32's, and the output SQNR */
  readonly agreement?: number;
  readonly sqnrDb?: number;
  readonly calibSamples: number;
}

/** How long an evaluation took (wall clock; differs from run to run, unlike everything else). */
export interface EvaluationTiming {
  /** the whole evaluation, PTQ included */
  readonly seconds: number;
  /** evaluateQuantizedModel: the PTQ run */
  readonly ptqSeconds?: number;
}

function datasetOf(model: string, data: EvalDataset | undefined): EvalDataset {
  const dataset = data ?? modelDataset(model);
  if (!dataset) throw new UsageError(`no data set given for '${model}', which is not a zoo model with one of its own (one of ${EVAL_DATASETS.join(', ')})`);
  return dataset;
}

const subset = (samples: number | undefined, seed: number) => (samples === undefined ? {} : { samples, seed });

const isText = (dataset: EvalDataset): boolean => (TEXT_DATASETS as readonly string[]).includes(dataset);

/** The text scores as a result reports them (`correct` = lines read exactly). */
function textFields(s: TextScores) {
  return { charAccuracy: s.charAccuracy, lineAccuracy: s.lineAccuracy, normEditAccuracy: s.normEditAccuracy, edits: s.edits, chars: s.chars, correct: s.exact };
}

/** FP32 top-1 on the test split, or the top-1 class per photo (`qloom eval`). */
export function evaluateModel(model: string, opts: EvaluationOptions = {}): ModelEvaluation {
  const { graph, entry } = loadModel(model);
  const dataset = datasetOf(model, opts.data ?? entry?.dataset);
  const { samples, seed = 0, onProgress } = opts;
  const started = Date.now();
  if (dataset === 'photos') {
    const res = evaluatePhotos(graph, model, { samples, seed, onProgress });
    return { model, dataset, samples: res.length, timing: { seconds: (Date.now() - started) / 1000 }, photos: res };
  }
  const set = loadDataset(dataset as DatasetName, 'test', subset(samples, seed));
  if (isText(dataset)) {
    const r = evaluateCtc(graph, { ...set, texts: set.texts! }, { onProgress });
    return { model, dataset, split: 'test', ...textFields(r), samples: r.lines, interval95: wilsonInterval(r.exact, r.lines), timing: { seconds: (Date.now() - started) / 1000 } };
  }
  const res = evaluateTop1(graph, set, { onProgress });
  return {
    model,
    dataset,
    split: 'test',
    top1: res.top1,
    correct: res.correct,
    samples: res.samples,
    interval95: wilsonInterval(res.correct, res.samples),
    manifestTop1: entry?.manifest && entry.manifest.dataset === dataset && samples === undefined ? entry.manifest.top1 : undefined,
    timing: { seconds: (Date.now() - started) / 1000 },
  };
}

export interface QuantizedEvaluationOptions extends EvaluationOptions {
  readonly config: PtqConfig;
  /** PTQ stages: stage name, done, total */
  readonly onStage?: (stage: string, done: number, total: number) => void;
}

/**
 * PTQ calibrated on the data set's train split (photos: the photos), then the integer model on the
 * evaluation images beside FP32 (`qloom eval --quant`).
 */
export async function evaluateQuantizedModel(model: string, opts: QuantizedEvaluationOptions): Promise<ModelEvaluation> {
  const dataset = datasetOf(model, opts.data);
  const { samples, seed = 0, onProgress, config: cfg } = opts;
  const { graph } = loadModel(model);
  const started = Date.now();
  const ptq = async () => {
    const t0 = Date.now();
    const result = await quantizeModel(model, dataset, cfg, { onProgress: opts.onStage });
    const base = { preset: cfg.preset, configHash: result.configHash, calibSamples: result.stats.calibSamples, splits: dataSplits(dataset) };
    return { net: result.net, base, ptqSeconds: (Date.now() - t0) / 1000 };
  };
  // the evaluation images are loaded first: a sample count the set cannot give is refused before the PTQ run
  if (dataset === 'photos') {
    // scored on the evaluation half: the calibration half calibrated it
    const set = loadPhotos(model as PreprocessName, { split: 'eval', samples, seed });
    const { net, base, ptqSeconds } = await ptq();
    const fp = photoOutputs(graph, model, { split: 'eval', samples, seed, onProgress });
    const q = quantizedOutputs(net, graph, set);
    const rows = set.count;
    const fpPred = new Int32Array(rows);
    argmaxRows({ dtype: 'float32', shape: [rows, fp.classes], data: fp.outputs }, fpPred, 0);
    const timing = { seconds: (Date.now() - started) / 1000, ptqSeconds };
    return { model, dataset, samples: rows, timing, quant: { ...base, agreement: top1Of(q, rows, fpPred), sqnrDb: sqnrDb(fp.outputs, q) } };
  }
  const set = loadDataset(dataset as DatasetName, 'test', subset(samples, seed));
  const { net, base, ptqSeconds } = await ptq();
  if (isText(dataset)) {
    const texts = set.texts!;
    const fp = evaluateCtc(graph, { ...set, texts }, { onProgress });
    const q = scoreCtcOutputs(quantizedOutputs(net, graph, set, 16), set.count, texts);
    return {
      model,
      dataset,
      split: 'test',
      ...textFields(fp),
      samples: set.count,
      interval95: wilsonInterval(fp.exact, set.count),
      timing: { seconds: (Date.now() - started) / 1000, ptqSeconds },
      quant: { ...base, ...textFields(q), interval95: wilsonInterval(q.exact, set.count), fp32CharAccuracy: fp.charAccuracy, fp32LineAccuracy: fp.lineAccuracy },
    };
  }
  const fp = evaluateTop1(graph, set, { onProgress });
  const q = await quantizedOutputsOnWorkers(net, graph, set, defaultWorkers());
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
    timing: { seconds: (Date.now() - started) / 1000, ptqSeconds },
    quant: { ...base, top1, correct, interval95: wilsonInterval(correct, set.count), fp32Top1: fp.top1 },
  };
}
