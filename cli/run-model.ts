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
import { DATASET_NAMES, loadDataset, type DatasetName } from '../nets/data/index.js';
import type { Tensor } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import type { QuantizedNetwork } from '../quant/qnet.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import type { RequantMode } from '../sim/requant.js';
import { runSimulation, type SimulationResult } from '../sim/run.js';
import { withOverflows } from '../sim/result.js';
import { ChromeTraceWriter } from '../traces/chrome.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';

export const RUN_MODEL_USAGE =
  'qloom run --arch <preset|file> --model <name|file.onnx> [--preset <ptq preset> | a quantized .onnx] --data <mnist|fmnist> [--samples N] [--batch B] [--trace <file.json>] [--requant float|fixed] [--json] [--out <result.json>]';

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

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** The QuantizedNetwork of `--model` (+ `--preset`), calibrated on the dataset's train split. */
async function loadNet(model: string, preset: string | undefined, data: DatasetName): Promise<QuantizedNetwork> {
  if (preset === undefined) {
    if (!model.endsWith('.onnx')) throw usage(`'${model}' is a float model: give --preset <ptq preset> to quantize it, or a quantized .onnx`);
    return loadQuantizedOnnx(model);
  }
  // the PTQ toolkit loads only when a float model is quantized here
  const { resolvePtqConfig } = await import('../quant/config.js');
  const { quantizeNetwork } = await import('../quant/pipeline.js');
  const { graph } = loadModel(model);
  const cfg = resolvePtqConfig(preset);
  const calib = loadDataset(data, 'train', { samples: cfg.calibSamples, seed: cfg.seed });
  const r = await quantizeNetwork(graph, { images: calib.images, shape: calib.shape, count: calib.count }, cfg);
  return r.net;
}

/** Top-1 of one output row block against labels. */
function countCorrect(out: Tensor, labels: Uint8Array, offset: number, n: number): number {
  const d = out.data as ArrayLike<number>;
  const k = d.length / n;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (d[i * k + j] > d[i * k + best]) best = j;
    if (best === labels[offset + i]) correct++;
  }
  return correct;
}

export async function runModel(values: Record<string, unknown>): Promise<void> {
  // run.ts imports this module for its options: import it back lazily (no evaluation-order cycle)
  const { loadRunArch, printRunResult, writeRunResult } = await import('./run.js');
  const model = values.model as string;
  const data = values.data as string | undefined;
  if (data === undefined) throw usage('--data is required with --model');
  if (!(DATASET_NAMES as readonly string[]).includes(data)) throw usage(`--data must be one of ${DATASET_NAMES.join(', ')}, got '${data}'`);
  const samples = intOpt(values.samples, 'samples', 100);
  const batch = intOpt(values.batch, 'batch', 100);
  const mode = (values.requant ?? 'float') as RequantMode;
  if (mode !== 'float' && mode !== 'fixed') throw usage(`--requant must be float or fixed, got '${String(values.requant)}'`);
  const spec: ArchSpec = loadRunArch(values.arch as string | undefined, values['scalesim-config'] as string | undefined, values.memory as MemoryModel | undefined);
  const net = await loadNet(model, values.preset as string | undefined, data as DatasetName);
  if (net.inputs.length !== 1) throw usage(`the model has ${net.inputs.length} inputs; --model runs single-input models`);
  const set = loadDataset(data as DatasetName, 'test', { samples, seed: 0 });
  const inp = net.inputs[0];
  const rest = inp.shape.slice(1);
  const per = numel(set.shape);
  const shape = rest.every((d) => d >= 0) && numel(rest) === per ? rest : [...set.shape];
  const workload = workloadFromQuantizedNetwork(net, [1, ...shape], spec);
  const trace = typeof values.trace === 'string' ? new ChromeTraceWriter(values.trace, { clockHz: spec.clockHz, layerNames: workload.layers.map((l) => l.name), metadata: { model, arch: spec.name } }) : null;

  const bar = progress('run', process.stderr, values.json === true && !process.stderr.isTTY);
  let timing: SimulationResult | null = null;
  const overflows = new Array<number>(workload.layers.length).fill(0);
  let correct = 0;
  try {
    for (let start = 0; start < set.count; start += batch) {
      const n = Math.min(batch, set.count - start);
      const feeds = { [inp.name]: { dtype: 'float32', shape: [n, ...shape], data: set.images.subarray(start * per, (start + n) * per) } as Tensor };
      let result: SimulationResult | null = null;
      runSimulation(spec, workload, { net, feeds, requant: { mode }, seed: 0, events: trace !== null && start === 0 }).subscribe({
        next: (u) => {
          if (u.type === 'events') trace!.chunk(u.chunk);
          else if (u.type === 'result') result = u.result;
        },
      });
      const r = result as SimulationResult | null;
      if (!r || !r.outputs) throw new Error('the simulation produced no result');
      timing ??= r;
      r.layers.forEach((l, i) => (overflows[i] += l.overflows));
      correct += countCorrect(r.outputs[net.outputs[0].name], set.labels, start, n);
      bar.update(start + n, set.count);
    }
  } catch (e) {
    trace?.abort();
    throw e;
  }
  bar.done();
  const traced = trace?.finish();
  const base = timing!;
  const { outputs: _o, overflow: _ov, accumulators: _a, ...plainResult } = base;
  const result = withOverflows(plainResult, overflows);
  const accuracy = correct / set.count;
  if (typeof values.out === 'string') writeRunResult(result, values.out);
  printRunResult(result, values.json === true, { accuracy, samples: set.count, model, dataset: data, requant: mode });
  if (values.json !== true) {
    process.stdout.write(
      `cycles, energy and bits per inference; overflows over ${set.count} sample(s)\n` +
        `top-1 accuracy on ${data}/test (${set.count} samples): ${(accuracy * 100).toFixed(2)}%\n` +
        (traced ? `trace: ${traced.path} (${traced.events} events, first inference)\n` : ''),
    );
  }
}
