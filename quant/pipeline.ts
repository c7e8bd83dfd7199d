/**
 * The standard PTQ pipeline (white paper §4.1, Fig. 8) as one call:
 *   BN folding → CLE (+ high-bias absorption) → quantizers (plan) → calibration → weight ranges
 *   → AdaRound or bias correction → activation ranges → QuantizedNetwork.
 * and the fake-quant FP32 path (`simulateQuantized`) the debugging workflow switches single
 * quantizers on and off in.
 */
import { batchInput } from '../nets/eval.js';
import { execNode, runFp32 } from '../nets/fp32.js';
import { InvariantError } from '../nets/errors.js';
import { ConfigError } from '../arch/errors.js';
import type { Graph, Node, Tensor } from '../nets/graph.js';
import { lutFunction } from '../qnet/lut.js';
import { qRange } from '../qnet/qmath.js';
export type { AdaRoundStore } from './adaround.js';
import { adaround, adaroundLayerKey, type AdaRoundLayer, type AdaRoundStore } from './adaround.js';
import { foldAttentionScales } from './attention-fold.js';
import { analyticInputMean, correctBias } from './bias-correction.js';
import { foldBatchNorms, type FoldedBn } from './bnfold.js';
import {
  buildQuantizedNetwork,
  perSample,
  planNetwork,
  simpleAct,
  softmaxOutputQuant,
  tensorShapes,
  type FusedAct,
  type LinearStep,
  type LinearWeights,
  type PlanStep,
  type QuantPlan,
} from './build.js';
import { calibPrefix, calibrate, type CalibData, type CalibStats } from './calibrate.js';
import { actConfigFor, configHash, transformerAlgorithms, weightConfigFor, weightRangeFor, type PtqConfig, type TensorQuantConfig, type TransformerAlgorithms } from './config.js';
import { crossLayerEqualize } from './cle.js';
import { applyLogSoftmax } from './log-softmax.js';
import { repqReparameterize, type RepqResult } from './repq.js';
import { applyChannelGroups, type SplitConcatDecision, type UnfoldedPostLn } from './split-concat.js';
import { applyNumberFormat } from './formats.js';
import type { QParams, QuantizedNetwork } from '../qnet/network.js';
import { dequantizeArray, fakeQuantize, qparamsFromRange, qparamsFromRanges, quantizeArray } from './quantizer.js';
import { actRangeBn, actRangeMinMax, actRangeMse, actRangePercentile, logitsRangeCe, weightRangeMinMax, weightRangeMse, type Range } from './ranges.js';

export type { CalibData } from './calibrate.js';

export interface LayerStats {
  readonly layer: string;
  readonly op: 'conv' | 'gemm';
  readonly weightBits: number;
  readonly perChannel: boolean;
  /** per output channel of the float weight the quantizer saw (after BN fold / CLE) */
  readonly weightMin: number[];
  readonly weightMax: number[];
  /** the range the weight quantizer covers, per channel (or one entry) */
  readonly clipMin: number[];
  readonly clipMax: number[];
  readonly weightScale: number[];
  readonly input: string;
  readonly output: string;
}

export interface ActStats {
  readonly tensor: string;
  readonly method: string;
  readonly bits: number;
  /** what calibration saw */
  readonly observedMin: number;
  readonly observedMax: number;
  /** the range set */
  readonly min: number;
  readonly max: number;
  readonly scale: number;
  readonly zeroPoint: number;
}

export interface PtqStats {
  readonly layers: readonly LayerStats[];
  readonly activations: readonly ActStats[];
  /** CLE sets equalized (empty without CLE) */
  readonly clePairs: readonly { first: string; second: string; third?: string; iterations: number }[];
  readonly calibSamples: number;
  /** bias correction per layer: where E[x] came from, and why analytic fell back to calibration */
  readonly biasCorrection: readonly BiasCorrectionSource[];
  /** with config `splitConcat`: what was done with each Concat and why */
  readonly splitConcat?: readonly SplitConcatDecision[];
  /** with config `postLnPerChannel`: which LayerNorm outputs were left per channel */
  readonly postLnPerChannel?: readonly UnfoldedPostLn[];
}

export interface BiasCorrectionSource {
  readonly layer: string;
  readonly source: 'analytic' | 'calibration';
  /** with source 'calibration' under analytic bias correction: why the BN route was not open */
  readonly reason?: string;
}

export interface PtqResult {
  readonly net: QuantizedNetwork;
  readonly config: PtqConfig;
  readonly configHash: string;
  readonly stats: PtqStats;
  readonly timingsMs: Readonly<Record<string, number>>;
}

export interface PtqOptions {
  /** stage names: 'bnfold', 'cle', 'calibrate', 'weights', 'adaround', 'bias-correction', 'activations', 'build' */
  readonly onProgress?: (stage: string, done: number, total: number) => void;
  /** images per FP32 call during calibration */
  readonly batch?: number;
  /** also collect per-channel activation ranges (the debugging workflow's plots) */
  readonly channelRanges?: boolean;
  /** analytic bias correction refuses (ConfigError listing the layers) instead of falling back to calibration means */
  readonly strict?: boolean;
  /**
   * Softmax / LayerNorm / GELU algorithms where the config names none: the target arch's SFU
   * (arch/sfu.ts), so a network quantized for an arch computes what its unit computes
   */
  readonly algorithms?: Partial<TransformerAlgorithms>;
  /**
   * Where finished AdaRound layers are kept, so a long run (the paper's budget: hours) resumes
   * after an interruption; keys are content hashes of everything a layer's result depends on
   */
  readonly adaroundStore?: AdaRoundStore;
}

/** Everything decided before activation ranges: the pieces debugging and the build share. */
export interface PreparedModel {
  readonly graph: Graph;
  readonly bn: ReadonlyMap<string, FoldedBn>;
  readonly plan: QuantPlan;
  readonly stats: CalibStats;
  readonly shapes: Map<string, number[]>;
  readonly weights: Map<string, LinearWeights>;
  readonly acts: Map<string, QParams>;
  readonly layerStats: LayerStats[];
  readonly actStats: ActStats[];
  readonly clePairs: PtqStats['clePairs'];
  readonly biasCorrection: readonly BiasCorrectionSource[];
  /** RepQ-ViT's reparameterization (config `repq`): what was folded and what was left */
  readonly repq?: RepqResult;
}

/** The graph input's shape for one image of `data` (images may be fed flattened). */
function inputShapeOf(graph: Graph, data: CalibData): readonly number[] {
  return batchInput(graph, data.images, data.shape, 0, 1, data.side)[graph.inputs[0].name].shape;
}

function now(): number {
  return performance.now();
}

/** Weight quantization parameters of one linear layer (range method of the config). */
export function weightQParams(step: LinearStep, wcfg: TensorQuantConfig, method: 'minmax' | 'mse'): { q: QParams; range: { min: Float64Array; max: Float64Array } } {
  const range = method === 'mse' ? weightRangeMse(step.weight, step.wShape, wcfg) : weightRangeMinMax(step.weight, step.wShape, wcfg.perChannel);
  return { q: qparamsFromRanges(range.min, range.max, wcfg, 0), range };
}

/** The activation range of one tensor under the config's method. */
function actRange(prep: { plan: QuantPlan; stats: CalibStats; bn: ReadonlyMap<string, FoldedBn> }, t: string, cfg: PtqConfig, acfg: TensorQuantConfig): { range: Range; method: string } {
  const st = prep.stats.tensors.get(t);
  if (!st) throw new InvariantError(`no calibration statistics for '${t}'`);
  if (t === prep.plan.logits && cfg.logitsRange === 'ce' && prep.stats.logits) {
    return { range: logitsRangeCe(prep.stats.logits.data, prep.stats.logits.classes, acfg), method: 'ce' };
  }
  switch (cfg.actRange) {
    case 'minmax':
      return { range: actRangeMinMax(st.hist), method: 'minmax' };
    case 'mse':
      return { range: actRangeMse(st.hist, acfg), method: 'mse' };
    case 'percentile':
      return { range: actRangePercentile(st.hist, cfg.percentile), method: `percentile ${cfg.percentile}` };
    case 'bn': {
      const p = prep.plan.producer.get(t);
      if (p && p.kind === 'linear' && p.output === t) {
        const bn = prep.bn.get(p.name);
        const act = simpleAct(p.act);
        if (bn && act) return { range: actRangeBn(bn, act), method: 'bn' };
      }
      // no BN statistics for this tensor (the input, an Add, a layer without BN): min-max
      return { range: actRangeMinMax(st.hist), method: 'minmax (no BN)' };
    }
  }
}

/** Activation-quantizer config of a tensor: its layer's override if any. */
function actCfg(plan: QuantPlan, cfg: PtqConfig, t: string): TensorQuantConfig {
  return actConfigFor(cfg, plan.layerOf.get(t));
}

/** Runs the pipeline up to (not including) the integer build. */
export async function prepareModel(graph0: Graph, calib: CalibData, cfg: PtqConfig, opts: PtqOptions = {}, timings: Record<string, number> = {}): Promise<PreparedModel> {
  const progress = opts.onProgress;
  const timed = <T>(stage: string, f: () => T): T => {
    const t0 = now();
    const r = f();
    timings[stage] = (timings[stage] ?? 0) + (now() - t0);
    return r;
  };
  if (calib.count < 1) throw new InvariantError('the calibration set is empty');
  const biasSources: BiasCorrectionSource[] = [];
  const folded = timed('bnfold', () => foldBatchNorms(foldAttentionScales(graph0).graph));
  let graph = folded.graph;
  let bn = folded.bn;
  let clePairs: PtqStats['clePairs'] = [];
  if (cfg.cle) {
    const r = timed('cle', () => crossLayerEqualize(graph, bn, { highBiasAbsorption: cfg.highBiasAbsorption, relu6: cfg.cleRelu6, padding: cfg.hbaPadding }));
    graph = r.graph;
    bn = r.bn;
    clePairs = r.pairs.map((p) => ({ ...p }));
  }
  const repq = cfg.repq ? timed('repq', () => repqReparameterize(graph, calib, cfg.activations)) : undefined;
  if (repq) graph = repq.graph;
  const plan = timed('plan', () => planNetwork(graph));
  const shapes = tensorShapes(graph, inputShapeOf(graph, calib));
  const stats = timed('calibrate', () =>
    calibrate(plan, calib, {
      batch: opts.batch,
      inputMeans: cfg.biasCorrection !== 'none',
      channelRanges: opts.channelRanges,
      onProgress: (d, t) => progress?.('calibrate', d, t),
    }),
  );
  await Promise.resolve();

  // weight quantizers and ranges
  const weights = new Map<string, LinearWeights>();
  const layerStats: LayerStats[] = [];
  const wq = new Map<string, QParams>();
  timed('weights', () => {
    plan.linears.forEach((s, i) => {
      const wcfg = weightConfigFor(cfg, s.name);
      const { q, range } = weightQParams(s, wcfg, weightRangeFor(cfg, s.name));
      wq.set(s.name, q);
      const mm = weightRangeMinMax(s.weight, s.wShape, true);
      layerStats.push({
        layer: s.name,
        op: s.op,
        weightBits: wcfg.bits,
        perChannel: wcfg.perChannel,
        weightMin: Array.from(mm.min),
        weightMax: Array.from(mm.max),
        clipMin: Array.from(range.min),
        clipMax: Array.from(range.max),
        weightScale: Array.from(q.scale),
        input: s.input,
        output: s.output,
      });
      weights.set(s.name, { codes: quantizeArray(s.weight, q, s.wShape), q, bias: s.bias });
      progress?.('weights', i + 1, plan.linears.length);
    });
  });

  if (cfg.adaround) {
    const t0 = now();
    await runAdaround(plan, calib, cfg, weights, progress, opts.adaroundStore);
    timings.adaround = now() - t0;
  } else if (cfg.biasCorrection !== 'none') {
    const analytic = cfg.biasCorrection === 'analytic';
    const means = plan.linears.map((s) => inputMean(plan, bn, stats, s, analytic));
    if (analytic && opts.strict) {
      const problems = plan.linears.flatMap((s, i) => (means[i].source === 'analytic' ? [] : [{ path: `biasCorrection.${s.name}`, message: `no analytic input mean: ${means[i].reason}` }]));
      if (problems.length) throw new ConfigError(problems, 'analytic bias correction (strict)');
    }
    plan.linears.forEach((s, i) => biasSources.push({ layer: s.name, source: means[i].source, ...(means[i].reason ? { reason: means[i].reason } : {}) }));
    timed('bias-correction', () => {
      plan.linears.forEach((s, i) => {
        const w = weights.get(s.name)!;
        const mean = means[i].mean;
        if (!mean) return;
        const wdq = dequantizeArray(w.codes, w.q, s.wShape);
        const bias = correctBias(s.bias, s.weight, wdq, s.wShape, s.group, mean);
        weights.set(s.name, { ...w, bias });
        progress?.('bias-correction', i + 1, plan.linears.length);
      });
    });
  }

  // activation ranges
  const acts = new Map<string, QParams>();
  const actStats: ActStats[] = [];
  timed('activations', () => {
    const scores = new Set(cfg.scoresBits ? plan.steps.flatMap((st) => (st.kind === 'softmax' ? [st.inputs[0]] : [])) : []);
    for (const t of plan.quantized) {
      const acfg = scores.has(t) ? { ...actCfg(plan, cfg, t), bits: cfg.scoresBits! } : actCfg(plan, cfg, t);
      const { range, method } = actRange({ plan, stats, bn }, t, cfg, acfg);
      const q = qparamsFromRange(range.min, range.max, acfg);
      acts.set(t, q);
      const h = stats.tensors.get(t)!.hist;
      actStats.push({ tensor: t, method, bits: acfg.bits, observedMin: h.min, observedMax: h.max, min: range.min, max: range.max, scale: q.scale[0], zeroPoint: q.zeroPoint[0] });
    }
    // softmax outputs are probabilities: fixed parameters, not calibrated
    for (const st of plan.steps) {
      if (st.kind !== 'softmax') continue;
      const acfg = actCfg(plan, cfg, st.output);
      acts.set(st.output, softmaxOutputQuant(acfg.bits, acfg.signed));
    }
    // RepQ-ViT: the reparameterized post-LN tensors take the mean of their per-channel quantizers
    if (repq) for (const [t, q] of repq.acts) acts.set(t, q);
  });
  return { graph, bn, plan, stats, shapes, weights, acts, layerStats, actStats, clePairs, biasCorrection: biasSources, ...(repq && { repq }) };
}

/**
 * E[x] per input channel of a linear layer: analytic from the BN of the layer producing its input
 * (through its ReLU / ReLU6) when asked and available, else the calibration mean — with the reason.
 */
function inputMean(plan: QuantPlan, bn: ReadonlyMap<string, FoldedBn>, stats: CalibStats, s: LinearStep, analytic: boolean): { mean: Float64Array | null; source: 'analytic' | 'calibration'; reason?: string } {
  const calib = stats.inputMeans.get(s.name) ?? null;
  if (!analytic) return { mean: calib, source: 'calibration' };
  const p = plan.producer.get(s.input);
  if (!p || p.kind !== 'linear') return { mean: calib, source: 'calibration', reason: `its input '${s.input}' is not a conv/gemm output (${p ? p.kind : 'graph input or float op'})` };
  const b = bn.get(p.name);
  if (!b) return { mean: calib, source: 'calibration', reason: `'${p.name}', which produces its input, had no BatchNorm` };
  const act = simpleAct(p.act);
  if (!act) return { mean: calib, source: 'calibration', reason: `'${p.name}' ends in ${p.act.kind === 'lut' ? p.act.fn : p.act.kind}, which has no closed-form mean` };
  return { mean: analyticInputMean(b, act), source: 'analytic' };
}

/** Element budget for AdaRound's cached layer inputs + targets (float32). */
const ADAROUND_ELEMENTS = 48 << 20;

async function runAdaround(plan: QuantPlan, calib: CalibData, cfg: PtqConfig, weights: Map<string, LinearWeights>, progress: PtqOptions['onProgress'], store?: AdaRoundStore): Promise<void> {
  const ada = cfg.adaround!;
  const graph = plan.graph;
  const shapes = tensorShapes(graph, inputShapeOf(graph, calib));
  let maxPer = 1;
  for (const s of plan.linears) maxPer = Math.max(maxPer, perSample(shapes.get(s.input)) + perSample(shapes.get(s.preAct)));
  const n = Math.max(1, Math.min(calib.count, 1024, Math.floor(ADAROUND_ELEMENTS / maxPer)));
  const sub = calibPrefix(calib, n);
  const total = plan.linears.length * ada.iterations;
  // Layer inputs from the model with the earlier layers' weights quantized (activations FP32),
  // targets from the FP32 model: both advanced one layer at a time over the subset, so each step
  // runs once per model (a layer's AdaRound finishes before the quantized model runs it).
  const qModel = new Advancer(plan, sub, { weights, acts: new Map() }, { weights: () => true, acts: () => false });
  const fpModel = new Advancer(plan, sub, { weights, acts: new Map() }, { weights: () => false, acts: () => false });
  let layerIdx = 0;
  for (const s of plan.linears) {
    const act = simpleAct(s.act);
    const targetName = act ? s.output : s.preAct;
    const at = plan.steps.indexOf(s);
    qModel.advance(at);
    fpModel.advance(at + 1);
    const input = qModel.capture(s.input);
    const target = fpModel.capture(targetName);
    const w = weights.get(s.name)!;
    const { qmin, qmax } = qRange(w.q);
    const layer: AdaRoundLayer = {
      kind: s.op,
      weight: s.weight,
      wShape: s.wShape,
      bias: w.bias,
      strides: s.strides,
      pads: s.pads,
      dilations: s.dilations,
      group: s.group,
      scale: w.q.scale,
      zeroPoint: w.q.zeroPoint,
      qmin,
      qmax,
      activation: act ?? 'none',
      input: input.data as Float32Array,
      inputShape: s.op === 'gemm' ? [input.data.length / s.wShape[1], s.wShape[1]] : input.shape,
      target: target.data as Float32Array,
    };
    const base = layerIdx * ada.iterations;
    const layerOpts = { ...ada, seed: ada.seed + layerIdx };
    const key = store ? adaroundLayerKey(layer, layerOpts) : '';
    let codes = store?.load(key);
    if (codes && codes.length !== s.weight.length) codes = undefined;
    if (!codes) {
      codes = adaround(layer, { ...layerOpts, onIteration: (it: number, tot: number) => progress?.('adaround', base + Math.round((it * ada.iterations) / tot), total) });
      store?.save(key, codes);
    } else progress?.('adaround', base + ada.iterations, total);
    weights.set(s.name, { ...w, codes });
    layerIdx++;
    await Promise.resolve();
  }
}

/**
 * A plan run over a data set in batches of 64, one segment of steps at a time; a tensor is dropped
 * once no step from the next segment on reads it (what the last segment produced stays readable).
 */
class Advancer {
  private readonly exec: ReturnType<typeof stepExecutor>;
  private readonly envs: StepEnv[] = [];
  private readonly lastUse = new Map<string, number>();
  private next = 0;

  constructor(
    private readonly plan: QuantPlan,
    data: CalibData,
    q: QuantizerSet,
    active: ActiveQuantizers,
  ) {
    this.exec = stepExecutor(plan, q, active);
    for (let s0 = 0; s0 < data.count; s0 += 64) this.envs.push(this.exec.env(batchInput(plan.graph, data.images, data.shape, s0, Math.min(64, data.count - s0), data.side)));
    plan.steps.forEach((s, i) => {
      const ins = s.kind === 'linear' ? [s.input] : s.nodes.flatMap((n) => n.inputs);
      const outs = s.kind === 'linear' ? [s.preAct, s.output] : s.kind === 'float' ? s.node.outputs : [s.output];
      for (const t of [...ins, ...outs]) if (t) this.lastUse.set(t, i);
    });
  }

  /** runs steps [next, to) on every batch */
  advance(to: number): void {
    for (const env of this.envs) {
      for (const [t] of env.vals) {
        const u = this.lastUse.get(t);
        if (u !== undefined && u < this.next && !this.plan.graph.initializers.has(t)) {
          env.vals.delete(t);
          env.intView.delete(t);
        }
      }
      for (let i = this.next; i < to; i++) this.exec.run(this.plan.steps[i], env);
    }
    this.next = Math.max(this.next, to);
  }

  capture(t: string): Tensor {
    return catTensors(this.envs.map((env) => {
      const v = this.exec.value(t, env);
      if (!v) throw new InvariantError(`adaround: '${t}' not computed`);
      return v;
    }));
  }
}

/** The standard PTQ pipeline: FP32 graph + calibration images + config → QuantizedNetwork. */
export async function quantizeNetwork(graph: Graph, calib: CalibData, cfg: PtqConfig, opts: PtqOptions = {}): Promise<PtqResult> {
  const timings: Record<string, number> = {};
  const t0 = now();
  const prep = await prepareModel(graph, calib, cfg, opts, timings);
  const t1 = now();
  const hash = configHash(cfg);
  const { acts, splitConcat, postLn } = applyChannelGroups(prep.plan, prep.acts, prep.shapes, calib, cfg, (t) => actCfg(prep.plan, cfg, t));
  const built = buildQuantizedNetwork({
    plan: prep.plan,
    weights: prep.weights,
    acts,
    shapes: prep.shapes,
    name: graph.name,
    meta: { producer: 'qloom PTQ', preset: cfg.preset, configHash: hash },
    algorithms: transformerAlgorithms(cfg, opts.algorithms),
  });
  let net = cfg.format ? applyNumberFormat(built, prep.plan, prep.weights, cfg.format) : built;
  if (cfg.softmaxQuant && cfg.softmaxQuant !== 'uniform') net = applyLogSoftmax(net, prep.graph, calib, cfg.softmaxQuant, cfg.activations.bits).net;
  timings.build = now() - t1;
  timings.total = now() - t0;
  progress(opts, 'build', 1, 1);
  return {
    net,
    config: cfg,
    configHash: hash,
    stats: { layers: prep.layerStats, activations: prep.actStats, clePairs: prep.clePairs, calibSamples: calib.count, biasCorrection: prep.biasCorrection, ...(splitConcat && { splitConcat }), ...(postLn && { postLnPerChannel: postLn }) },
    timingsMs: timings,
  };
}

function progress(opts: PtqOptions, stage: string, d: number, t: number): void {
  opts.onProgress?.(stage, d, t);
}

// ---------------------------------------------------------------------------------------------
// fake-quant simulation

/** The quantizers a simulation may switch on: weight codes per layer, activation params per tensor. */
export interface QuantizerSet {
  readonly weights: ReadonlyMap<string, LinearWeights>;
  readonly acts: ReadonlyMap<string, QParams>;
}

/** Which quantizers are active: by linear layer name / by tensor name. */
export interface ActiveQuantizers {
  readonly weights: (layer: string) => boolean;
  readonly acts: (tensor: string) => boolean;
}

export const ALL_ACTIVE: ActiveQuantizers = { weights: () => true, acts: () => true };

export interface SimulateOptions {
  /** return these tensors (concatenated over the batches) */
  readonly capture?: readonly string[];
  /** stop after this linear layer (its output computed) */
  readonly stopAfter?: string;
  readonly batch?: number;
}

export interface SimulateResult {
  /** the graph's first output, [count, …] */
  readonly output: Tensor;
  readonly captured: Map<string, Tensor>;
}

function applyAct(act: FusedAct, x: Float32Array, shape: readonly number[]): void {
  if (act.kind === 'none') return;
  if (act.kind === 'clamp') {
    const lo = act.min;
    const his = act.channelMax;
    if (his) {
      // per-channel bounds along axis 1 (CLE through ReLU6)
      const inner = shape.slice(2).reduce((a, b) => a * b, 1);
      if (shape[1] !== his.length) throw new InvariantError(`${his.length} clip bounds for shape [${shape.join(',')}]`);
      for (let i = 0; i < x.length; i++) {
        const hi = his[Math.floor(i / inner) % his.length];
        x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
      }
      return;
    }
    const hi = act.max;
    for (let i = 0; i < x.length; i++) x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    return;
  }
  const f = lutFunction(act.fn);
  for (let i = 0; i < x.length; i++) x[i] = f(x[i]);
}

/**
 * The FP32 graph of `plan` with fake quantization: active weight quantizers replace a layer's
 * weights by their dequantized codes (and its bias by the corrected one), active activation
 * quantizers quantize-dequantize the tensor where the integer model has it. Nothing active =
 * the FP32 model.
 */
export function simulateQuantized(plan: QuantPlan, data: CalibData, q: QuantizerSet, active: ActiveQuantizers = ALL_ACTIVE, opts: SimulateOptions = {}): SimulateResult {
  const graph = plan.graph;
  const batch = opts.batch ?? 64;
  const capture = new Set(opts.capture ?? []);
  const parts = new Map<string, Tensor[]>();
  const outName = graph.outputs[0].name;
  const outParts: Tensor[] = [];
  const exec = stepExecutor(plan, q, active);

  for (let s0 = 0; s0 < data.count; s0 += batch) {
    const n = Math.min(batch, data.count - s0);
    const env = exec.env(batchInput(graph, data.images, data.shape, s0, n, data.side));
    let stopped = false;
    for (const s of plan.steps) {
      exec.run(s, env);
      if (s.kind === 'linear' && opts.stopAfter === s.name) stopped = true;
      if (stopped) break;
    }
    for (const c of capture) {
      const v = exec.value(c, env);
      if (v) (parts.get(c) ?? parts.set(c, []).get(c)!).push(v);
    }
    if (!stopped) outParts.push(exec.get(outName, env));
  }
  const captured = new Map<string, Tensor>();
  for (const [k, v] of parts) captured.set(k, catTensors(v));
  return { output: catTensors(outParts), captured };
}

/** One batch's tensors: values by name, and integer views (quantized copies) of float-produced ones. */
export interface StepEnv {
  readonly vals: Map<string, Tensor>;
  readonly intView: Map<string, Tensor>;
}

/**
 * Runs plan steps on a batch with fake quantization (simulateQuantized's step semantics): active
 * weight quantizers replace a layer's weights by their dequantized codes (computed once, at the
 * layer's first run), active activation quantizers quantize-dequantize where the integer model
 * has integer tensors.
 */
export function stepExecutor(plan: QuantPlan, q: QuantizerSet, active: ActiveQuantizers) {
  const graph = plan.graph;
  // dequantized weights per active layer, computed once
  const wCache = new Map<string, { w: Tensor; b: Tensor | undefined }>();
  const linNodes = new Map<string, Node>();
  for (const s of plan.linears) {
    linNodes.set(
      s.name,
      s.op === 'conv'
        ? { name: s.name, op: 'Conv', inputs: ['x', 'w', 'b'], outputs: [s.preAct], attrs: { kernel_shape: [...s.kernel], strides: [...s.strides], pads: [...s.pads], dilations: [...s.dilations], group: s.group } }
        : { name: s.name, op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: [s.preAct], attrs: { transB: 1, alpha: 1, beta: 1, transA: 0 } },
    );
  }
  const weightOf = (s: LinearStep): { w: Tensor; b: Tensor | undefined } => {
    const on = active.weights(s.name) && q.weights.has(s.name);
    const key = on ? s.name : `${s.name}\u0000fp`;
    let e = wCache.get(key);
    if (!e) {
      const lw = on ? q.weights.get(s.name)! : null;
      const w = lw ? dequantizeArray(lw.codes, lw.q, s.wShape) : s.weight;
      const b = lw ? lw.bias : s.bias;
      e = { w: { dtype: 'float32', shape: [...s.wShape], data: w }, b: b ? { dtype: 'float32', shape: [b.length], data: b } : undefined };
      wCache.set(key, e);
    }
    return e;
  };
  const fq = (t: string, x: Tensor): Tensor => {
    const p = q.acts.get(t);
    if (!p || !active.acts(t)) return x;
    return { dtype: 'float32', shape: x.shape, data: fakeQuantize(x.data as Float32Array, p, x.shape) };
  };
  const get = (t: string, env: StepEnv): Tensor => {
    const v = env.vals.get(t);
    if (!v) throw new InvariantError(`simulateQuantized: '${t}' not computed`);
    return v;
  };
  const getInt = (t: string, env: StepEnv): Tensor => {
    if (plan.intTensors.has(t) || graph.initializers.has(t)) return get(t, env);
    let v = env.intView.get(t);
    if (!v) env.intView.set(t, (v = fq(t, get(t, env))));
    return v;
  };
  return {
    get,
    env(feeds: Record<string, Tensor>): StepEnv {
      const vals = new Map<string, Tensor>();
      for (const [k, v] of graph.initializers) vals.set(k, v);
      for (const [k, v] of Object.entries(feeds)) vals.set(k, v);
      return { vals, intView: new Map() };
    },
    /** a captured tensor as simulateQuantized returns it (the graph input as the integer model sees it) */
    value(t: string, env: StepEnv): Tensor | undefined {
      return t === graph.inputs[0].name ? getInt(t, env) : env.vals.get(t);
    },
    run(s: PlanStep, env: StepEnv): void {
      const vals = env.vals;
      if (s.kind === 'linear') {
        let x = getInt(s.input, env);
        if (s.op === 'gemm' && x.shape.length !== 2) x = { ...x, shape: [x.data.length / s.wShape[1], s.wShape[1]] };
        const { w, b } = weightOf(s);
        let y = execNode(linNodes.get(s.name)!, [x, w, b])[0];
        if (s.op === 'gemm') {
          const xs = getInt(s.input, env).shape;
          y = { ...y, shape: [...xs.slice(0, -1), s.wShape[0]] };
        }
        if (s.act.kind === 'lut') y = fq(s.preAct, y);
        if (s.preAct !== s.output) vals.set(s.preAct, y);
        if (s.act.kind !== 'none') {
          const d = Float32Array.from(y.data as Float32Array);
          applyAct(s.act, d, y.shape);
          y = { dtype: 'float32', shape: y.shape, data: d };
        }
        vals.set(s.output, fq(s.output, y));
      } else if (s.kind === 'float') {
        const outs = execNode(s.node, s.node.inputs.map((i) => (i ? get(i, env) : undefined)));
        s.node.outputs.forEach((o, i) => o && vals.set(o, outs[i]));
      } else {
        let y = execNode(s.node, s.node.inputs.map((i) => (i ? getInt(i, env) : undefined)))[0];
        if (s.nodes.length > 1) y = execNode(s.nodes[1], [y])[0];
        vals.set(s.output, plan.tiedTo.has(s.output) ? y : fq(s.output, y));
      }
    },
  };
}

/** Tensors of batches one after another along axis 0. */
function catTensors(ts: Tensor[]): Tensor {
  if (ts.length === 0) return { dtype: 'float32', shape: [0], data: new Float32Array(0) };
  const total = ts.reduce((a, t) => a + t.data.length, 0);
  const d = new Float32Array(total);
  let o = 0;
  let rows = 0;
  for (const t of ts) {
    d.set(t.data as Float32Array, o);
    o += t.data.length;
    rows += t.shape[0];
  }
  return { dtype: 'float32', shape: [rows, ...ts[0].shape.slice(1)], data: d };
}

/** FP32 outputs of a graph over `data` (graph's first output), batched. */
export function runFp32Batched(graph: Graph, data: CalibData, batch = 64): Float32Array {
  const outName = graph.outputs[0].name;
  const parts: Float32Array[] = [];
  for (let s = 0; s < data.count; s += batch) {
    const n = Math.min(batch, data.count - s);
    parts.push(runFp32(graph, batchInput(graph, data.images, data.shape, s, n, data.side))[outName].data as Float32Array);
  }
  return concatF32(parts);
}

/** The arrays one after another (batched outputs → one). */
export function concatF32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
