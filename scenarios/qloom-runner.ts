/**
 * The `qloom` point runner: one sweep point = the PTQ pipeline with the point's settings
 * (quant/pipeline.ts, calibrated on the dataset's train split — photos: the photo set) and the
 * simulator on the point's arch (sim/engine + the functional sink), through the same library calls
 * `qloom run --model` makes (scenarios/evaluate.ts). Cycles, stalls, energy and bits are per
 * inference; accuracy and overflow counts come from running every sample through the arch's
 * accumulator (width, policy, PE form, dataflow order) — the integers `qloom run` computes.
 *
 * Unsupported combinations are data, not errors: per-channel weights on an arch whose requant unit
 * is per-tensor only (`requant.perChannel: false`, e.g. mcu-npu) cannot be run as they are — one
 * (M0, shift) per output channel has nowhere to go — so every metric of such a point is null and
 * `note` says why (the report shows it). Emulating per-channel requant in software would be a
 * different design, not this arch.
 *
 * Per worker thread, caches keep what does not depend on the arch: the quantized network per
 * (network, data, PTQ config) — so the arch axis of a sweep never re-quantizes — the evaluation
 * images, and the FP32 reference outputs. Functional execution (and its data) only runs when a
 * requested metric needs it; otherwise one timing-only inference is simulated.
 */
import type { SfuSpec } from '../arch/spec.js';
import { archArea } from '../arch/area.js';
import { PTQ_PRESETS as QUANT_PRESETS, stableJson, transformerAlgorithms, type PtqConfig } from '../quant/config.js';
import { sqnrDb } from './debug.js';
import { runFp32Batched, type CalibData, type PtqResult } from '../quant/pipeline.js';
import { scoreCtcOutputs } from '../nets/eval-ctc.js';
import { loadModel } from '../nets/zoo/index.js';
import { simulate, workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { operandFormatProblem, perChannelProblem, requantUnitProblem } from '../sim/requant-unit.js';
import { addOverflows, bitsByClass, bitsTotal, NO_OVERFLOWS, type OverflowsBy, type RunResult } from '../sim/result.js';
import { calibrationSet, evaluationSet, type EvalSet } from './datasets.js';
import { agreementWithFp32, evaluateOnArch, inputShapeFor, type ArchEvaluation } from './evaluate.js';
import { quantizeModel } from './quantize.js';
import { qatCacheDir, qatModel } from './qat.js';
import type { DatasetName } from '../nets/data/index.js';
import { ptqConfigOf } from './ptq.js';
import type { PointMetrics } from './runners.js';
import type { JsonValue, PointConfig } from './scenario.js';

/** metrics that need every sample run through the integer kernels */
const FUNCTIONAL = new Set(['top1', 'agreement', 'accuracy', 'sqnrDb', 'overflows', 'overflowsPerSample', 'overflowsBy', 'overflowRate', 'overflowRateByLayer', 'minSafeAccBits']);
/** samples per functional run: bounds the batch's memory, amortizes the per-run setup */
const BATCH = 100;

const ptqCache = new Map<string, Promise<PtqResult>>();
/** the algorithms the first quantization of a config was built with, by its cache key */
const algOf = new Map<string, unknown>();
const calibCache = new Map<string, CalibData>();
const setCache = new Map<string, EvalSet>();
const fp32Cache = new Map<string, Float32Array>();

/** layers whose integers depend on the transformer algorithms (softmax / LayerNorm / i-GELU variants) */
function usesAlgorithms(r: PtqResult): boolean {
  return r.net.layers.some((l) => l.kind === 'softmax' || l.kind === 'layernorm' || ('activation' in l && l.activation.kind === 'igelu') || (l.kind === 'gemm' && l.activation.kind === 'lut' && l.activation.fn === 'gelu'));
}

/**
 * The quantized network of a point (cached per thread). The arch changes it only through its SFU's
 * algorithms, and only for a network that has such layers: a CNN is quantized once for every arch.
 */
export function quantizedFor(network: string, dataset: PointConfig['dataset'], cfg: PtqConfig, algorithms?: SfuSpec | null): Promise<PtqResult> {
  const base = `${network}|${dataset}|${stableJson(cfg)}`;
  // the arch's SFU decides the transformer ops' algorithms the config leaves open
  const alg = algorithms ? transformerAlgorithms(cfg, algorithms) : null;
  const quantize = (key: string, a: typeof alg): Promise<PtqResult> => {
    let r = ptqCache.get(key);
    if (!r) {
      // the calibration images depend on (network, data, count, seed) only: shared by every PTQ config
      const ckey = `${network}|${dataset}|${cfg.calibSamples}|${cfg.seed}`;
      let calib = calibCache.get(ckey);
      if (!calib) {
        calib = calibrationSet(dataset, network, cfg);
        calibCache.set(ckey, calib);
      }
      r = quantizeModel(network, dataset, cfg, a ? { algorithms: a } : {}, calib);
      // a failed quantization is not cached: the error reaches this point, and the next one retries
      r.catch(() => ptqCache.delete(key));
      ptqCache.set(key, r);
    }
    return r;
  };
  // the first quantization of this config decides: no algorithm-dependent layer → the same network for every arch
  if (!ptqCache.has(base)) algOf.set(base, alg);
  const first = quantize(base, alg);
  return first.then((r) => (alg === null || !usesAlgorithms(r) || stableJson(algOf.get(base)) === stableJson(alg) ? r : quantize(`${base}|${stableJson(alg)}`, alg)));
}

const qatCache = new Map<string, Promise<PtqResult>>();

/**
 * The QAT network of a point (cached per thread, and on disk: qatCacheDir's checkpoints make a
 * finished training a file read). Shaped as a PTQ result: the runner treats both alike.
 */
function qatFor(network: string, dataset: PointConfig['dataset'], preset: string, trainSamples?: number): Promise<PtqResult> {
  const key = `${network}|${dataset}|${preset}|${trainSamples ?? 'all'}`;
  let r = qatCache.get(key);
  if (!r) {
    r = qatModel(network, { preset, data: dataset as DatasetName, checkpoint: qatCacheDir(), evalSamples: 0, ...(trainSamples !== undefined && { trainSamples }) }).then((q) => ({
      net: q.net,
      config: q.preset.ptq,
      configHash: q.qatHash,
      stats: { layers: [], activations: [], clePairs: [], calibSamples: q.preset.ptq.calibSamples, biasCorrection: [] },
      timingsMs: { total: q.seconds * 1000 },
    }));
    r.catch(() => qatCache.delete(key));
    qatCache.set(key, r);
  }
  return r;
}

function evalSetFor(c: PointConfig, samples: number): EvalSet {
  const key = `${c.network}|${c.dataset}|${samples}|${c.seed}`;
  let s = setCache.get(key);
  if (!s) {
    s = evaluationSet(c.dataset, c.network, samples, c.seed);
    setCache.set(key, s);
  }
  return s;
}

function fp32For(c: PointConfig, set: EvalSet): Float32Array {
  const key = `${c.network}|${c.dataset}|${c.samples}|${c.seed}`;
  let out = fp32Cache.get(key);
  if (!out) {
    out = runFp32Batched(loadModel(c.network).graph, set);
    fp32Cache.set(key, out);
  }
  return out;
}

/** Why a point cannot run on its arch, or null. */
export function unsupportedReason(c: PointConfig): string | null {
  // the same check `qloom run` refuses with (sim/requant-unit.ts), here before the PTQ run
  const fmt = QUANT_PRESETS[c.ptq.preset]?.format;
  const required = !fmt ? 'int' : fmt.kind === 'group' ? 'int-group' : fmt.element;
  const problem = operandFormatProblem(c.archLabel, c.arch, required, fmt?.acc ?? 'int') ?? perChannelProblem(c.archLabel, c.arch, c.ptq.perChannel);
  return problem === null ? null : `unsupported: ${problem}`;
}

/** The cost metrics of a run result (per inference). */
export function costMetrics(r: RunResult): Record<string, JsonValue> {
  const t = r.totals;
  const byComponent: Record<string, number> = {};
  for (const [comp, actions] of Object.entries(r.energy.byComponent)) byComponent[comp] = Object.values(actions).reduce((a, b) => a + b, 0);
  // each bit once: Σ levels × classes, the same cells `qloom run --json` reports (issue 20); the
  // partial-sum spills are the psums class, not an addend
  const byClass: Record<string, number> = bitsByClass(t.bits);
  const bitsMoved = bitsTotal(t.bits);
  return {
    cycles: t.cycles,
    stallCycles: t.stallCycles,
    latencyS: t.seconds,
    utilization: t.utilization,
    macs: t.macs,
    energyPj: t.energyPj,
    energyByComponent: byComponent,
    edp: t.energyPj * t.seconds,
    bitsMoved,
    dramBytes: t.dramBytes.read + t.dramBytes.write,
    bitsByClass: byClass,
    requantParamBits: byClass.requantParams,
    paramBytes: t.paramBytes,
  };
}

/** every overflow event ÷ every add that could overflow, at every accumulator (the metric overflowRate) */
function overflowRate(events: OverflowsBy, adds: OverflowsBy): number {
  const n = adds.array + adds.accumulator;
  return n > 0 ? (events.array + events.accumulator) / n : 0;
}

/**
 * The accuracy and overflow metrics of a functional evaluation. Overflows (scenario.ts METRICS)
 * count the events of every accumulator — in-array partial sums at psumBits and the accumulator —
 * summed over every sample, with the per-sample figure and the split beside them; the rate
 * divides by the adds of the same accumulators.
 */
function functionalMetrics(c: PointConfig, ev: ArchEvaluation, set: EvalSet): Record<string, JsonValue> {
  const labeled = set.labels !== undefined;
  // text lines (a CTC recognizer): the decoded text read against each line's truth
  const texts = (set as { readonly texts?: readonly string[] }).texts;
  const read = texts ? scoreCtcOutputs(ev.outputs, ev.samples, texts) : null;
  const wantsFp32 = c.metrics.includes('sqnrDb') || (!labeled && !read);
  const fp32 = wantsFp32 ? fp32For(c, set) : null;
  const top1 = labeled ? ev.correct! / ev.samples : null;
  const agreement = labeled || read ? null : agreementWithFp32(fp32!, ev.predictions, ev.samples);
  let events = NO_OVERFLOWS;
  let adds = NO_OVERFLOWS;
  const byLayer: Record<string, number> = {};
  const minSafe: Record<string, number> = {};
  for (const l of ev.overflow) {
    events = addOverflows(events, l.events);
    adds = addOverflows(adds, l.adds);
    byLayer[l.name] = overflowRate(l.events, l.adds);
    const a = ev.accumulators[l.name];
    if (a) minSafe[l.name] = a.minSafeBits;
  }
  const sqnr = fp32 && c.metrics.includes('sqnrDb') ? sqnrDb(fp32, ev.outputs) : null;
  return {
    top1,
    agreement,
    accuracy: read?.charAccuracy ?? top1 ?? agreement,
    // an exact match has no finite SQNR; JSON has no Infinity
    sqnrDb: sqnr === null || !Number.isFinite(sqnr) ? null : sqnr,
    overflows: ev.result.totals.overflows,
    overflowsPerSample: ev.result.totals.overflowsPerSample ?? 0,
    overflowsBy: { array: events.array, accumulator: events.accumulator },
    overflowRate: overflowRate(events, adds),
    overflowRateByLayer: byLayer,
    minSafeAccBits: minSafe,
  };
}

export async function runPoint(c: PointConfig): Promise<PointMetrics> {
  const out: Record<string, JsonValue> = {};
  const reason = unsupportedReason(c);
  if (reason !== null) {
    for (const m of c.metrics) out[m] = m === 'note' ? reason : null;
    return out;
  }
  const ptq = c.ptq.qat ? await qatFor(c.network, c.dataset, c.ptq.qat, c.ptq.qatTrainSamples) : await quantizedFor(c.network, c.dataset, ptqConfigOf(c.ptq, c.seed), c.arch.sfu);
  const net = ptq.net;
  // what only the quantized network shows (per-channel clamp bounds from CLE through ReLU6), by the same check
  const after = requantUnitProblem(c.archLabel, c.arch, net);
  if (after !== null) {
    for (const m of c.metrics) out[m] = m === 'note' ? `unsupported: ${after}` : null;
    return out;
  }
  let all: Record<string, JsonValue>;
  if (c.metrics.some((m) => FUNCTIONAL.has(m))) {
    const set = evalSetFor(c, c.samples);
    const ev = await evaluateOnArch(c.arch, net, set, { batch: BATCH, seed: c.seed });
    all = { ...costMetrics(ev.result), ...functionalMetrics(c, ev, set) };
  } else {
    // timing does not depend on the data: one timing-only inference, no samples loaded
    const shape = inputShapeFor(net, evalSetFor(c, 1).shape);
    all = costMetrics(simulate(c.arch, workloadFromQuantizedNetwork(net, [1, ...shape], c.arch)));
  }
  if (c.metrics.includes('areaMm2')) all.areaMm2 = archArea(c.arch).totalMm2;
  for (const m of c.metrics) out[m] = m === 'note' ? null : (all[m] ?? null);
  return out;
}
