/**
 * `qloom run --model`: functional + timing run of a quantized network on dataset images.
 *
 * The model is a quantized ONNX file (QOperator / QDQ, imported by quant/onnx/qimport.ts), or a
 * float model (zoo name or .onnx) quantized here with a PTQ preset (quant/pipeline.ts). The engine
 * times one inference (timing does not depend on the data); each batch of images runs through
 * that timing run's tile events functionally (sim/functional.ts), so overflow counts and accuracy
 * cover every sample while cycles / energy / bits are per inference.
 */
import type { ArchSpec, MemoryModel } from '../arch/spec.js';
import { DATASET_NAMES } from '../nets/data/index.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import type { RequantMode } from '../qnet/requant.js';
import { agreementWithFp32, evaluateOnArch, evaluationSet, inputShapeFor, type ArchEvaluation, type EvalDatasetName } from '../scenarios/evaluate.js';
import { ChromeTraceWriter } from '../traces/chrome.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';

export const RUN_MODEL_USAGE =
  'qloom run --arch <preset|file> --model <name|file.onnx> [--preset <ptq preset> | a quantized .onnx] --data <mnist|fmnist|photos> [--samples N] [--batch B] [--trace <file.json>] [--requant float|fixed] [--json] [--out <result.json>]';

/** the options `qloom run` adds for --model */
export const RUN_MODEL_OPTIONS = {
  model: { type: 'string' },
  preset: { type: 'string' },
  data: { type: 'string' },
  samples: { type: 'string' },
  batch: { type: 'string' },
  trace: { type: 'string' },
  requant: { type: 'string' },
} as const;

function usage(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${RUN_MODEL_USAGE}`);
}

function intOpt(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usage(`--${name} must be a positive integer, got '${String(v)}'`);
  return n;
}

/** The QuantizedNetwork of `--model` (+ `--preset`), calibrated on the dataset's train split. */
async function loadNet(model: string, preset: string | undefined, data: EvalDatasetName): Promise<QuantizedNetwork> {
  if (preset === undefined) {
    if (!model.endsWith('.onnx')) throw usage(`'${model}' is a float model: give --preset <ptq preset> to quantize it, or a quantized .onnx`);
    return loadQuantizedOnnx(model);
  }
  // the PTQ toolkit loads only when a float model is quantized here
  const { resolvePtqConfig } = await import('../quant/config.js');
  const { quantizeModel } = await import('../scenarios/evaluate.js');
  return (await quantizeModel(model, data, resolvePtqConfig(preset))).net;
}

export async function runModel(values: Record<string, unknown>): Promise<void> {
  // run.ts imports this module for its options: import it back lazily (no evaluation-order cycle)
  const { loadRunArch, printRunResult, writeRunResult } = await import('./run.js');
  const model = values.model as string;
  const data = values.data as string | undefined;
  if (data === undefined) throw usage('--data is required with --model');
  const datasets: readonly string[] = [...DATASET_NAMES, 'photos'];
  if (!datasets.includes(data)) throw usage(`--data must be one of ${datasets.join(', ')}, got '${data}'`);
  // unlabelled photos are scored by agreement with the FP32 model, which a quantized file lacks
  if (data === 'photos' && values.preset === undefined) throw usage('--data photos compares with the FP32 model: give a float model (zoo name) and --preset');
  const samples = intOpt(values.samples, 'samples', 100);
  const batch = intOpt(values.batch, 'batch', 100);
  const mode = (values.requant ?? 'float') as RequantMode;
  if (mode !== 'float' && mode !== 'fixed') throw usage(`--requant must be float or fixed, got '${String(values.requant)}'`);
  const spec: ArchSpec = loadRunArch(values.arch as string | undefined, values['scalesim-config'] as string | undefined, values.memory as MemoryModel | undefined);
  const net = await loadNet(model, values.preset as string | undefined, data as EvalDatasetName);
  if (net.inputs.length !== 1) throw usage(`the model has ${net.inputs.length} inputs; --model runs single-input models`);
  const set = evaluationSet(data as EvalDatasetName, model, samples, 0);
  const shape = inputShapeFor(net, set.shape);
  const trace = typeof values.trace === 'string' ? new ChromeTraceWriter(values.trace, { clockHz: spec.clockHz, layerNames: workloadFromQuantizedNetwork(net, [1, ...shape], spec).layers.map((l) => l.name), metadata: { model, arch: spec.name } }) : null;

  const bar = progress('run', process.stderr, values.json === true && !process.stderr.isTTY);
  let evaluation: ArchEvaluation;
  try {
    evaluation = evaluateOnArch(spec, net, set, {
      batch,
      requant: mode,
      seed: 0,
      onEvents: trace ? (c) => trace.chunk(c) : undefined,
      onProgress: (d, t) => bar.update(d, t),
    });
  } catch (e) {
    trace?.abort();
    throw e;
  }
  bar.done();
  const traced = trace?.finish();
  const result = evaluation.result;
  let accuracy: number;
  let sqnr: number | undefined;
  if (data === 'photos') {
    const { loadModel } = await import('../nets/zoo/index.js');
    const { runFp32Batched } = await import('../quant/pipeline.js');
    const { sqnrDb } = await import('../scenarios/debug.js');
    const fp32 = runFp32Batched(loadModel(model).graph, set);
    accuracy = agreementWithFp32(fp32, evaluation.predictions, set.count);
    sqnr = sqnrDb(fp32, evaluation.outputs);
  } else accuracy = (evaluation.correct ?? 0) / set.count;
  if (typeof values.out === 'string') writeRunResult(result, values.out);
  printRunResult(result, values.json === true, { accuracy, ...(sqnr !== undefined && Number.isFinite(sqnr) ? { sqnrDb: sqnr } : {}), samples: set.count, model, dataset: data, requant: mode });
  if (values.json !== true) {
    process.stdout.write(
      `cycles, energy and bits per inference; overflows over ${set.count} sample(s)\n` +
        (data === 'photos'
          ? `top-1 agreement with FP32 on ${set.count} photos: ${(accuracy * 100).toFixed(2)}%, output SQNR ${sqnr?.toFixed(2)} dB\n`
          : `top-1 accuracy on ${data}/test (${set.count} samples): ${(accuracy * 100).toFixed(2)}%\n`) +
        (traced ? `trace: ${traced.path} (${traced.events} events, first inference)\n` : ''),
    );
  }
}
