/**
 * Quantization-aware training of a model (`qloom qat`, the `qat-vs-ptq` scenario): PTQ's prepared
 * network (static BN folding, quantizers, MSE ranges) is the starting point; quant/qat trains its
 * weights, biases and scales (STE + LSQ) on the data set's train split on tfjs's WebAssembly
 * backend; the result is built into a QuantizedNetwork by the same `buildQuantizedNetwork` as a PTQ
 * result, so it exports and simulates like one.
 *
 * Checkpoints: with a folder, `<model>-<qat hash>.json` after every epoch (temp + rename); a rerun
 * with the same model, data, preset and hyperparameters resumes after the last finished epoch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors/index.js';
import { loadDataset, type DatasetName, type LabeledSet } from '../nets/data/index.js';
import { loadModel } from '../nets/zoo/index.js';
import { initTf } from '../nets/zoo/tfjs-models.js';
import { buildQuantizedNetwork, type LinearWeights } from '../quant/build.js';
import { transformerAlgorithms, type PtqConfig } from '../quant/config.js';
import { prepareModel, type PreparedModel } from '../quant/pipeline.js';
import { InvariantError } from '../nets/errors.js';
import { batchInput } from '../nets/eval.js';
import type { Graph } from '../nets/graph.js';
import { dequantizeLinear } from '../qnet/qmath.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import { dequantizeArray, quantizeArray } from '../quant/quantizer.js';
import { QatModel, qatInitOf, qatProblems, type IntegerValues, type QatState } from '../quant/qat/model.js';
import { qatHash, resolveQatPreset, type QatHyper, type QatPreset } from '../quant/qat/presets.js';
import { qatTop1, trainQat, type QatCheckpoint, type QatCheckpointStore, type QatEpoch } from '../quant/qat/train.js';
import type { QParams, QuantizedNetwork } from '../qnet/network.js';
import { calibrationSet } from './datasets.js';
import { checkOutputDir, ensureDir, writeFileAtomic } from './files.js';

export const QAT_DATASETS: readonly DatasetName[] = Object.freeze(['fmnist', 'mnist']);

/**
 * Where scenarios keep QAT checkpoints (QLOOM_QAT_CACHE, else .qloom-cache/qat in the checkout,
 * git-ignored): a finished run is one file, so a scenario rerun — or `qloom qat --checkpoint` on
 * the same folder — loads it instead of training again.
 */
export function qatCacheDir(): string {
  return process.env.QLOOM_QAT_CACHE ?? join(dirname(fileURLToPath(import.meta.url)), '..', '.qloom-cache', 'qat');
}

export interface QatOptions {
  readonly preset: string;
  /** the PTQ starting point instead of the preset's (e.g. the preset's widths with AdaRound) */
  readonly config?: PtqConfig;
  readonly data: DatasetName;
  readonly hyper?: Partial<QatHyper>;
  /** a folder for per-epoch checkpoints (resumed when they match) */
  readonly checkpoint?: string;
  /** train on a seeded subset of this many images (smoke runs and tests) */
  readonly trainSamples?: number;
  /** test images scored (fake quant) after each epoch; default 2000, 0 for none */
  readonly evalSamples?: number;
  readonly onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  readonly onEpoch?: (e: QatEpoch) => void;
  readonly onStage?: (stage: string) => void;
}

export interface QatResult {
  readonly net: QuantizedNetwork;
  readonly preset: QatPreset;
  /** sha256 of the PTQ config and the hyperparameters */
  readonly qatHash: string;
  readonly history: readonly QatEpoch[];
  /** the PTQ starting point's integer top-1 on the per-epoch images (absent without them) */
  readonly startTop1?: number;
  readonly epochsRun: number;
  readonly trainSamples: number;
  readonly seconds: number;
}

/** Per-epoch checkpoints as one JSON file (float arrays in base64), written temp + rename. */
export function qatCheckpointFile(file: string): QatCheckpointStore {
  const enc = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const dec = (s: string) => new Float32Array(new Uint8Array(Buffer.from(s, 'base64')).buffer);
  return {
    load() {
      if (!existsSync(file)) return undefined;
      const j = JSON.parse(readFileSync(file, 'utf8')) as {
        epoch: number;
        history: QatEpoch[];
        variables: Record<string, string>;
        optimizers: { name: string; shape: number[]; data: string }[][];
      };
      return {
        epoch: j.epoch,
        history: j.history,
        variables: Object.fromEntries(Object.entries(j.variables).map(([k, v]) => [k, dec(v)])),
        optimizers: j.optimizers.map((o) => o.map((w) => ({ name: w.name, shape: w.shape, data: dec(w.data) }))),
      };
    },
    save(c: QatCheckpoint) {
      const j = {
        epoch: c.epoch,
        history: c.history,
        variables: Object.fromEntries(Object.entries(c.variables).map(([k, v]) => [k, enc(v)])),
        optimizers: c.optimizers.map((o) => o.map((w) => ({ name: w.name, shape: w.shape, data: enc(w.data) }))),
      };
      writeFileAtomic(file, JSON.stringify(j));
    },
  };
}

/**
 * The QuantizedNetwork of a trained state: weight codes from the trained float weights on the
 * learned grids, the learned activation scales (zero points PTQ's), built by PTQ's own build.
 */
export function qatNetwork(prep: PreparedModel, state: QatState, name: string, meta: Readonly<Record<string, string>>, algorithms?: Parameters<typeof buildQuantizedNetwork>[0]['algorithms']): QuantizedNetwork {
  const weights = new Map<string, LinearWeights>();
  for (const s of prep.plan.linears) {
    const w = state.weights.get(s.name);
    if (!w) throw new InvariantError(`QAT: no trained weights for '${s.name}'`);
    weights.set(s.name, { codes: quantizeArray(w.weight, w.q, s.wShape), q: w.q, bias: w.bias });
  }
  const acts = new Map<string, QParams>(prep.acts);
  for (const [t, q] of state.acts) acts.set(t, q);
  return buildQuantizedNetwork({ plan: prep.plan, weights, acts, shapes: prep.shapes, name, meta, ...(algorithms && { algorithms }) });
}

/**
 * The integer network's values for QAT's exact forward: the network of `state` built as the
 * export builds it and run by qloom's integer executor (float requant, 32-bit accumulators — what
 * ORT computes), every integer tensor dequantized (NCHW), by name.
 */
export function integerValues(prep: PreparedModel, graph: Graph, shape: readonly number[]): IntegerValues {
  return (state, images, n) => {
    const net = qatNetwork(prep, state, graph.name, {});
    const out = new Map<string, Float32Array>();
    const exec = new QuantizedExecutor(net, {
      requant: { mode: 'float' },
      acc: { bits: 32, policy: 'wrap' },
      onLayer: (layer, t) => {
        // a graph output is an integer tensor dequantized under the graph's name: take that value
        if (layer.kind === 'dequantize' && t.dtype === 'float32') {
          out.set(layer.output, t.data as Float32Array);
          return;
        }
        const info = net.tensors.get(layer.output);
        if (!info || t.dtype === 'float32') return;
        out.set(layer.output, dequantizeLinear(t.data instanceof Int32Array ? t.data : Int32Array.from(t.data as ArrayLike<number>), info.q, t.shape));
      },
    });
    exec.run(batchInput(graph, images, shape, 0, n));
    return out;
  };
}

/** QAT of a zoo model (or model file) on `data`'s train split; the QuantizedNetwork it trains. */
export async function qatModel(model: string, opts: QatOptions): Promise<QatResult> {
  if (!QAT_DATASETS.includes(opts.data)) throw new UsageError(`QAT trains on a labelled train split: --data must be ${QAT_DATASETS.join(' or ')}, got '${opts.data}'`);
  const preset = resolveQatPreset(opts.preset, opts.hyper, opts.config);
  const cfg = preset.ptq;
  const { graph } = loadModel(model);
  const hash = qatHash(preset);
  if (opts.checkpoint) {
    checkOutputDir(opts.checkpoint);
    ensureDir(opts.checkpoint);
  }
  const t0 = Date.now();
  opts.onStage?.('ptq');
  const calib = calibrationSet(opts.data, model, cfg);
  const prep = await prepareModel(graph, calib, cfg);
  const problems = qatProblems(prep.plan);
  if (problems.length) throw new UsageError(`QAT cannot train ${model}:\n  ${problems.join('\n  ')}`);
  const { tf } = await initTf('wasm');
  // a starting point with AdaRound: QAT starts from the weights AdaRound rounded to
  const start = cfg.adaround ? new Map(prep.plan.linears.map((s) => [s.name, dequantizeArray(prep.weights.get(s.name)!.codes, prep.weights.get(s.name)!.q, s.wShape)])) : undefined;
  const qm = new QatModel(tf, prep.plan, qatInitOf(prep, start));
  try {
    const train: LabeledSet =
      opts.trainSamples !== undefined ? loadDataset(opts.data, 'train', { samples: opts.trainSamples, seed: preset.qat.seed }) : loadDataset(opts.data, 'train');
    const evalSamples = opts.evalSamples ?? 2000;
    const evalSet = evalSamples > 0 ? loadDataset(opts.data, 'test', { samples: evalSamples, seed: preset.qat.seed }) : undefined;
    const checkpoint = opts.checkpoint ? qatCheckpointFile(join(opts.checkpoint, `${model.replace(/[^A-Za-z0-9._-]/g, '_')}-${opts.data}-${train.count}-${hash.slice(0, 16)}.json`)) : undefined;
    opts.onStage?.('train');
    const integer = integerValues(prep, graph, calib.shape);
    const startTop1 = evalSet ? await qatTop1(tf, qm, evalSet, 500, integer) : undefined;
    const trained = await trainQat(tf, qm, train, {
      ...preset.qat,
      integer,
      exactTraining: preset.qat.forward === 'integer',
      evalSet,
      checkpoint,
      onStep: opts.onStep,
      onEpoch: opts.onEpoch,
    });
    opts.onStage?.('build');
    const net = qatNetwork(prep, qm.state(), graph.name, { producer: 'qloom QAT', preset: cfg.preset, configHash: hash }, transformerAlgorithms(cfg));
    return {
      net,
      preset,
      qatHash: hash,
      history: trained.history,
      ...(startTop1 !== undefined && { startTop1 }),
      epochsRun: trained.epochsRun,
      trainSamples: train.count,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    qm.dispose();
  }
}
