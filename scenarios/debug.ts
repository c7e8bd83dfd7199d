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
 */
import type { Graph, Tensor } from '../nets/graph.js';
import { batchInput } from '../nets/eval.js';
import { runQuantized } from '../sim/qexec.js';
import type { QuantPlan, LinearWeights } from '../quant/build.js';
import { buildQuantizedNetwork } from '../quant/build.js';
import type { CalibData } from '../quant/calibrate.js';
import { configHash, type PtqConfig, type TensorQuantConfig } from '../quant/config.js';
import { prepareModel, simulateQuantized, type LayerStats, type PreparedModel, type QuantizerSet } from '../quant/pipeline.js';
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
}

export interface ActRangeStats {
  readonly tensor: string;
  readonly min: number;
  readonly max: number;
  readonly channelMin: number[];
  readonly channelMax: number[];
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

/** Graph outputs of an integer QuantizedNetwork over `data` (float32, first output), batched. */
export function quantizedOutputs(net: QuantizedNetwork, graph: Graph, data: CalibData, batch = 250): Float32Array {
  const name = net.outputs[0].name;
  const parts: Float32Array[] = [];
  for (let s = 0; s < data.count; s += batch) {
    const n = Math.min(batch, data.count - s);
    const res = runQuantized(net, batchInput(graph, data.images, data.shape, s, n), { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    parts.push((res.outputs[name] as Tensor).data as Float32Array);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
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

/** The debugging workflow on `graph` with calibration `calib` and evaluation `evalData`. */
export async function debugNetwork(graph: Graph, calib: CalibData, evalData: EvalData, cfg: PtqConfig, opts: DebugOptions = {}): Promise<DebugReport> {
  const progress = opts.onProgress;
  const prep = await prepareModelForDebug(graph, calib, cfg, progress);
  const plan = prep.plan;
  const q: QuantizerSet = { weights: prep.weights, acts: prep.acts };
  const none = { weights: () => false, acts: () => false };
  const rows = evalData.count;
  const quantizers = [...plan.linears.map((s) => `weight:${s.name}`), ...[...plan.quantized].map((t) => `act:${t}`)];
  const totalRuns = 6 + quantizers.length;
  let runs = 0;
  const sim = (set: QuantizerSet, active: { weights: (l: string) => boolean; acts: (t: string) => boolean }): Float32Array => {
    const out = simulateQuantized(plan, evalData, set, active).output.data as Float32Array;
    progress?.('debug', ++runs, totalRuns);
    return out;
  };

  const fp32 = sim(q, none);
  const fpPred = argmax(fp32, rows);
  const labels = evalData.labels ?? fpPred;
  const top1 = (o: Float32Array) => top1Of(o, rows, labels);

  const q32 = quantizersAt(prep, 32);
  const s32 = sim(q32, { weights: () => true, acts: () => true });
  let maxAbsDiff = 0;
  let maxAbsOutput = 0;
  for (let i = 0; i < fp32.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(fp32[i] - s32[i]));
    maxAbsOutput = Math.max(maxAbsOutput, Math.abs(fp32[i]));
  }
  const tolerance = 1e-5 * Math.max(1, maxAbsOutput);

  const all = sim(q, { weights: () => true, acts: () => true });
  const wOnly = sim(q, { weights: () => true, acts: () => false });
  const aOnly = sim(q, { weights: () => false, acts: () => true });
  const net = buildQuantizedNetwork({ plan, weights: prep.weights, acts: prep.acts, shapes: prep.shapes });
  const integer = quantizedOutputs(net, graph, evalData);
  progress?.('debug', ++runs, totalRuns);

  const fpTop1 = top1(fp32);
  const sensitivity: SensitivityRow[] = [];
  const bitsOf = (t: string) => prep.actStats.find((a) => a.tensor === t)?.bits ?? cfg.activations.bits;
  for (const id of quantizers) {
    const isW = id.startsWith('weight:');
    const target = id.slice(isW ? 7 : 4);
    const out = sim(q, { weights: (l) => isW && l === target, acts: (t) => !isW && t === target });
    const t1 = top1(out);
    sensitivity.push({
      quantizer: id,
      kind: isW ? 'weight' : 'activation',
      target,
      bits: isW ? prep.layerStats.find((l) => l.layer === target)!.weightBits : bitsOf(target),
      top1: t1,
      drop: fpTop1 - t1,
    });
    await Promise.resolve();
  }
  sensitivity.sort((a, b) => b.drop - a.drop);

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
  return {
    config: cfg,
    configHash: configHash(cfg),
    samples: rows,
    metric: evalData.labels ? 'labels' : 'fp32-agreement',
    fp32Top1: fpTop1,
    sanity: { bits: 32, maxAbsDiff, maxAbsOutput, tolerance, pass: maxAbsDiff <= tolerance },
    quantizedTop1: top1(all),
    integerTop1: top1(integer),
    weightsOnlyTop1: top1(wOnly),
    activationsOnlyTop1: top1(aOnly),
    sensitivity,
    weightRanges: prep.layerStats,
    activationRanges,
  };
}

async function prepareModelForDebug(graph: Graph, calib: CalibData, cfg: PtqConfig, progress: DebugOptions['onProgress']): Promise<PreparedModel> {
  return prepareModel(graph, calib, cfg, { onProgress: progress, channelRanges: true });
}
