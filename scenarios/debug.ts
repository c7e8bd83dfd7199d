/**
 * The PTQ debugging workflow (white paper §4.4, Fig. 9), on the fake-quant FP32 path of
 * pipeline.ts so single quantizers can be switched on and off:
 *   1. FP32 sanity: every quantizer at 32 bits (min-max ranges) must give the FP32 outputs back
 *      (within 1e-5, relative to the output's magnitude) — a check of the quantizer placement and
 *      of the simulation itself;
 *   2. weights-only vs activations-only accuracy at the target bits;
 *   3. per-quantizer sensitivity: each quantizer alone at the target bits, the rest FP32;
 *   4. per-channel weight and activation range statistics (data for range plots).
 * Accuracy is top-1 against labels, or top-1 agreement with FP32 when there are none (photos).
 * Every stage is also compared as output SQNR on the logits (the Softmax's input when the network
 * ends in one: probabilities saturate) against two references: the prepared FP32 graph the
 * quantizers sit in (BN folded, CLE'd, ReLU6 possibly replaced) and the ORIGINAL FP32 model — a
 * preparation step that changes the function shows up only against the latter. Per-layer SQNR
 * (every quantized tensor, all quantizers on, against the prepared FP32) says where noise enters.
 */
import type { Graph } from '../nets/graph.js';
import { InvariantError } from '../nets/errors.js';
import { batchInput } from '../nets/eval.js';
import { runFp32 } from '../nets/fp32.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import { QuantizedBatchRunner } from './qexec-pool.js';
import type { QuantPlan, LinearWeights } from '../quant/build.js';
import { buildQuantizedNetwork } from '../quant/build.js';
import type { CalibData } from '../quant/calibrate.js';
import { configHash, transformerAlgorithms, type PtqConfig, type TensorQuantConfig } from '../quant/config.js';
import { concatF32, prepareModel, simulateQuantized, type LayerStats, type PreparedModel, type QuantizerSet } from '../quant/pipeline.js';
import type { QParams, QuantizedNetwork } from '../qnet/network.js';
import { qparamsFromRange, qparamsFromRanges, quantizeArray } from '../quant/quantizer.js';
import { weightRangeMinMax } from '../quant/ranges.js';

export interface EvalData extends CalibData {
  /** class labels; absent: accuracy is top-1 agreement with FP32 */
  readonly labels?: Uint8Array;
}

export interface SensitivityRow {
  /** `weight:<layer>` or `act:<tensor>` */
  readonly quantizer: string;
  readonly kind: 'weight' | 'activation';
  /** the layer (weights) or tensor (activations) */
  readonly target: string;
  readonly bits: number;
  readonly top1: number;
  /** FP32 top-1 minus this */
  readonly drop: number;
  /** logits SQNR against the prepared FP32, dB */
  readonly sqnrDb: number;
}

export interface ActRangeStats {
  readonly tensor: string;
  readonly min: number;
  readonly max: number;
  readonly channelMin: number[];
  readonly channelMax: number[];
}

/** One stage of the workflow against both references. */
export interface StageScore {
  /** top-1 (labels) or agreement with the prepared FP32's top-1 */
  readonly top1: number;
  /** logits SQNR against the prepared FP32 graph, dB */
  readonly sqnrDb: number;
  /** logits SQNR against the original FP32 model, dB */
  readonly sqnrDbOriginal: number;
}

export interface LayerSqnr {
  readonly tensor: string;
  /** all quantizers on vs the prepared FP32, on the first `perLayerSamples` samples */
  readonly sqnrDb: number;
}

export interface DebugReport {
  readonly config: PtqConfig;
  readonly configHash: string;
  readonly samples: number;
  /** 'labels' or 'fp32-agreement' */
  readonly metric: 'labels' | 'fp32-agreement';
  readonly fp32Top1: number;
  readonly sanity: { readonly bits: 32; readonly maxAbsDiff: number; readonly maxAbsOutput: number; readonly tolerance: number; readonly pass: boolean };
  /** fake quant, every quantizer at the target bits */
  readonly quantizedTop1: number;
  /** the integer QuantizedNetwork on sim/qexec (float requant, 32-bit accumulator) */
  readonly integerTop1: number;
  readonly weightsOnlyTop1: number;
  readonly activationsOnlyTop1: number;
  /** the tensor the SQNRs are measured on */
  readonly logits: string;
  /** the prepared FP32 graph against the original (top1: agreement with the original's top-1) */
  readonly prepared: { readonly top1: number; readonly sqnrDbOriginal: number };
  readonly quantized: StageScore;
  readonly integer: StageScore;
  readonly weightsOnly: StageScore;
  readonly activationsOnly: StageScore;
  readonly perLayer: readonly LayerSqnr[];
  readonly perLayerSamples: number;
  /** sorted by drop, largest first */
  readonly sensitivity: readonly SensitivityRow[];
  readonly weightRanges: readonly LayerStats[];
  readonly activationRanges: readonly ActRangeStats[];
}

export interface DebugOptions {
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

function argmax(d: Float32Array, rows: number): Int32Array {
  const k = d.length / rows;
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (d[i * k + j] > d[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/**
 * The logits tensor of a graph: the input of the Softmax that produces its first output, or the
 * first output itself.
 */
export function logitsTensor(graph: Graph): string {
  const out = graph.outputs[0].name;
  const soft = graph.nodes.find((n) => n.op === 'Softmax' && n.outputs[0] === out);
  return soft ? soft.inputs[0] : out;
}

/**
 * Float outputs of an integer QuantizedNetwork over `data` (float32, batched): the first graph
 * output, or with `tensor` that float tensor of the run (e.g. the dequantized logits before a
 * float Softmax).
 */
export function quantizedOutputs(net: QuantizedNetwork, graph: Graph, data: CalibData, batch = 250, tensor?: string): Float32Array {
  // an integer tensor is read where a DequantizeLinear turns it into float (the logits of a network
  // whose last Add is integer, as ppocr-cls's)
  const wanted = tensor ?? net.outputs[0].name;
  const name = net.layers.find((l) => l.kind === 'dequantize' && l.inputs[0] === wanted)?.output ?? wanted;
  const parts: Float32Array[] = [];
  let got: Float32Array | undefined;
  // one executor for every batch: its linear layers are prepared once
  const exec = new QuantizedExecutor(net, {
    requant: { mode: 'float' },
    acc: { bits: 32, policy: 'wrap' },
    onLayer: (layer, out) => {
      if (layer.output === name && out.data instanceof Float32Array) got = out.data;
    },
  });
  for (let s = 0; s < data.count; s += batch) {
    const n = Math.min(batch, data.count - s);
    got = undefined;
    const res = exec.run(batchInput(graph, data.images, data.shape, s, n));
    const out = got ?? (res.outputs[name]?.data as Float32Array | undefined);
    if (!(out instanceof Float32Array)) throw new InvariantError(`quantizedOutputs: '${wanted}' is neither a float tensor of the integer network nor dequantized by one of its layers`);
    parts.push(out);
  }
  return concatF32(parts);
}

/**
 * quantizedOutputs of the first graph output on `workers` threads across samples
 * (qexec-pool.ts QuantizedBatchRunner: each thread's layers prepared once; the same values for
 * any number of workers). Where the first output is not a float tensor of the integer network,
 * the single-thread quantizedOutputs (it finds the dequantized tensor).
 */
export async function quantizedOutputsOnWorkers(net: QuantizedNetwork, graph: Graph, data: CalibData, workers: number, batch = 250): Promise<Float32Array> {
  const first = net.outputs[0];
  if (workers <= 1 || net.inputs.length !== 1 || net.inputs[0].dtype !== 'float32' || first.dtype !== 'float32' || data.count === 0) return quantizedOutputs(net, graph, data, batch);
  const sampleShape = Object.values(batchInput(graph, data.images, data.shape, 0, 1))[0].shape.slice(1);
  const runner = new QuantizedBatchRunner(net, sampleShape, { exec: { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }, batch, workers });
  try {
    return (await runner.run(data.images, data.count)).outputs;
  } finally {
    await runner.close();
  }
}

/** `tensor` of the FP32 `graph` over `data`, batched. */
function fp32Tensor(graph: Graph, data: CalibData, tensor: string, batch = 64): Float32Array {
  const parts: Float32Array[] = [];
  for (let s = 0; s < data.count; s += batch) {
    const n = Math.min(batch, data.count - s);
    let got: Float32Array | undefined;
    runFp32(graph, batchInput(graph, data.images, data.shape, s, n), {
      onNode: (node, outs) => {
        const k = node.outputs.indexOf(tensor);
        if (k >= 0) got = outs[k].data as Float32Array;
      },
    });
    if (!got) throw new InvariantError(`fp32Tensor: '${tensor}' is not computed by ${graph.name}`);
    parts.push(got);
  }
  return concatF32(parts);
}

/** Fraction of rows whose argmax equals the label (or the reference row's argmax). */
export function top1Of(outputs: Float32Array, rows: number, labels: Uint8Array | Int32Array): number {
  const p = argmax(outputs, rows);
  let c = 0;
  for (let i = 0; i < rows; i++) if (p[i] === labels[i]) c++;
  return rows > 0 ? c / rows : 0;
}

/** Output SQNR in dB: 10·log10(Σ ref² / Σ (ref − x)²). */
export function sqnrDb(ref: Float32Array, x: Float32Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    const d = ref[i] - x[i];
    e += d * d;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

/** Quantizers at `bits` with min-max weight ranges and widened activation ranges (the sanity check's 32-bit set). */
function quantizersAt(prep: PreparedModel, bits: number): QuantizerSet {
  const plan: QuantPlan = prep.plan;
  const weights = new Map<string, LinearWeights>();
  const wcfg: TensorQuantConfig = { bits, perChannel: true, symmetric: true, signed: true, narrow: true, pow2: false };
  for (const s of plan.linears) {
    const r = weightRangeMinMax(s.weight, s.wShape, true);
    const q = qparamsFromRanges(r.min, r.max, wcfg, 0);
    weights.set(s.name, { codes: quantizeArray(s.weight, q, s.wShape), q, bias: s.bias });
  }
  const acfg: TensorQuantConfig = { bits, perChannel: false, symmetric: false, signed: false, narrow: false, pow2: false };
  const acts = new Map<string, QParams>();
  for (const t of plan.quantized) {
    const h = prep.stats.tensors.get(t)!.hist;
    // 16× the calibration range: evaluation images may exceed it, and a clipped value would be a
    // range finding, not the bit-width check this is; 32 bits leave ample resolution for it
    acts.set(t, qparamsFromRange(16 * Math.min(h.min, 0), 16 * Math.max(h.max, 0), acfg));
  }
  return { weights, acts };
}

/** At most this many samples feed the per-layer SQNR (every quantized tensor is kept for them). */
const PER_LAYER_SAMPLES = 64;

/** The debugging workflow on `graph` with calibration `calib` and evaluation `evalData`. */
export async function debugNetwork(graph: Graph, calib: CalibData, evalData: EvalData, cfg: PtqConfig, opts: DebugOptions = {}): Promise<DebugReport> {
  const progress = opts.onProgress;
  const prep = await prepareModelForDebug(graph, calib, cfg, progress);
  const plan = prep.plan;
  const q: QuantizerSet = { weights: prep.weights, acts: prep.acts };
  const none = { weights: () => false, acts: () => false };
  const allOn = { weights: () => true, acts: () => true };
  const rows = evalData.count;
  const quantizers = [...plan.linears.map((s) => `weight:${s.name}`), ...[...plan.quantized].map((t) => `act:${t}`)];
  const totalRuns = 8 + quantizers.length;
  let runs = 0;
  const logits = logitsTensor(plan.graph);
  const tick = () => progress?.('debug', ++runs, totalRuns);
  /** the graph output and the logits of one fake-quant configuration */
  const sim = (set: QuantizerSet, active: { weights: (l: string) => boolean; acts: (t: string) => boolean }): { out: Float32Array; logits: Float32Array } => {
    const r = simulateQuantized(plan, evalData, set, active, { capture: [logits] });
    tick();
    return { out: r.output.data as Float32Array, logits: (r.captured.get(logits)?.data as Float32Array | undefined) ?? (r.output.data as Float32Array) };
  };

  const fp32 = sim(q, none);
  const original = fp32Tensor(graph, evalData, logitsTensor(graph));
  tick();
  const fpPred = argmax(fp32.out, rows);
  const labels = evalData.labels ?? fpPred;
  const top1 = (o: Float32Array) => top1Of(o, rows, labels);
  const score = (r: { out: Float32Array; logits: Float32Array }): StageScore => ({ top1: top1(r.out), sqnrDb: sqnrDb(fp32.logits, r.logits), sqnrDbOriginal: sqnrDb(original, r.logits) });

  const q32 = quantizersAt(prep, 32);
  const s32 = sim(q32, allOn).out;
  let maxAbsDiff = 0;
  let maxAbsOutput = 0;
  for (let i = 0; i < fp32.out.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(fp32.out[i] - s32[i]));
    maxAbsOutput = Math.max(maxAbsOutput, Math.abs(fp32.out[i]));
  }
  const tolerance = 1e-5 * Math.max(1, maxAbsOutput);

  const all = sim(q, allOn);
  const wOnly = sim(q, { weights: () => true, acts: () => false });
  const aOnly = sim(q, { weights: () => false, acts: () => true });
  const net = buildQuantizedNetwork({ plan, weights: prep.weights, acts: prep.acts, shapes: prep.shapes, algorithms: transformerAlgorithms(cfg) });
  const integerOut = quantizedOutputs(net, graph, evalData);
  const integerLogits = logits === net.outputs[0].name ? integerOut : quantizedOutputs(net, graph, evalData, 250, logits);
  tick();

  // per layer: every quantized tensor with all quantizers on vs the prepared FP32, on a prefix
  const perLayerSamples = Math.min(rows, PER_LAYER_SAMPLES);
  const head: CalibData = { ...evalData, count: perLayerSamples };
  const tensors = [...plan.quantized];
  const refT = simulateQuantized(plan, head, q, none, { capture: tensors }).captured;
  const qT = simulateQuantized(plan, head, q, allOn, { capture: tensors }).captured;
  tick();
  const perLayer: LayerSqnr[] = [];
  for (const t of tensors) {
    const a = refT.get(t);
    const b = qT.get(t);
    if (a && b) perLayer.push({ tensor: t, sqnrDb: sqnrDb(a.data as Float32Array, b.data as Float32Array) });
  }

  const fpTop1 = top1(fp32.out);
  const sensitivity: SensitivityRow[] = [];
  const bitsOf = (t: string) => prep.actStats.find((a) => a.tensor === t)?.bits ?? cfg.activations.bits;
  for (const id of quantizers) {
    const isW = id.startsWith('weight:');
    const target = id.slice(isW ? 7 : 4);
    const r = sim(q, { weights: (l) => isW && l === target, acts: (t) => !isW && t === target });
    const t1 = top1(r.out);
    sensitivity.push({
      quantizer: id,
      kind: isW ? 'weight' : 'activation',
      target,
      bits: isW ? prep.layerStats.find((l) => l.layer === target)!.weightBits : bitsOf(target),
      top1: t1,
      drop: fpTop1 - t1,
      sqnrDb: sqnrDb(fp32.logits, r.logits),
    });
    await Promise.resolve();
  }
  sensitivity.sort((a, b) => b.drop - a.drop || a.sqnrDb - b.sqnrDb);

  const activationRanges: ActRangeStats[] = [];
  for (const t of plan.quantized) {
    const st = prep.stats.tensors.get(t)!;
    activationRanges.push({
      tensor: t,
      min: st.hist.min,
      max: st.hist.max,
      channelMin: st.channelMin ? Array.from(st.channelMin) : [],
      channelMax: st.channelMax ? Array.from(st.channelMax) : [],
    });
  }
  const origPred = argmax(original, rows);
  const integer = { top1: top1(integerOut), sqnrDb: sqnrDb(fp32.logits, integerLogits), sqnrDbOriginal: sqnrDb(original, integerLogits) };
  return {
    config: cfg,
    configHash: configHash(cfg),
    samples: rows,
    metric: evalData.labels ? 'labels' : 'fp32-agreement',
    fp32Top1: fpTop1,
    sanity: { bits: 32, maxAbsDiff, maxAbsOutput, tolerance, pass: maxAbsDiff <= tolerance },
    quantizedTop1: top1(all.out),
    integerTop1: integer.top1,
    weightsOnlyTop1: top1(wOnly.out),
    activationsOnlyTop1: top1(aOnly.out),
    logits,
    prepared: { top1: top1Of(fp32.logits, rows, origPred), sqnrDbOriginal: sqnrDb(original, fp32.logits) },
    quantized: score(all),
    integer,
    weightsOnly: score(wOnly),
    activationsOnly: score(aOnly),
    perLayer,
    perLayerSamples,
    sensitivity,
    weightRanges: prep.layerStats,
    activationRanges,
  };
}

async function prepareModelForDebug(graph: Graph, calib: CalibData, cfg: PtqConfig, progress: DebugOptions['onProgress']): Promise<PreparedModel> {
  return prepareModel(graph, calib, cfg, { onProgress: progress, channelRanges: true });
}
