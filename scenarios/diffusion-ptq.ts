/**
 * One cell of Q-Diffusion's study on the zoo DDPM: calibrate on the FP32 model's trajectories with
 * a strategy (scenarios/diffusion.ts), quantize with a PTQ preset (optionally with split
 * quantization of the UNet's skip concatenations, quant/split-concat.ts), sample the whole DDIM
 * loop on the integer executor — on an arch, in its accumulation order with its accumulator and
 * requantization unit, or with float requant and 32-bit accumulators — and score what comes out.
 *
 * Cost per generated image on an arch: the engine times one UNet evaluation (its cycles, energy
 * and DRAM traffic do not depend on the data, except where the arch gates or skips zeros, which
 * this run does not price from the data), times the sampling steps. What would stay on chip
 * between steps is reported apart: the weights and requant parameters every step re-reads from
 * DRAM (`paramBytes`) — an accelerator whose buffer held them would fetch them once per batch of
 * images instead of once per step.
 */

import type { ArchSpec } from '../arch/spec.js';
import { resolvePtqConfig, type PtqConfig } from '../quant/config.js';
import { quantizeNetwork } from '../quant/pipeline.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/workload.js';
import { timingAccumulator, timingOrder } from '../sim/functional.js';
import type { QExecOptions } from '../sim/qexec-types.js';
import { archRequant } from '../sim/requant-unit.js';
import {
  calibrationSet,
  generate,
  imageQuality,
  quantDenoiser,
  recordTrajectories,
  strategyLabel,
  type CalibStrategy,
  type DdpmModel,
  type OverflowByStep,
  type QualityReport,
  type Trajectories,
} from './diffusion.js';
import { runOnce } from './evaluate.js';

export interface DiffusionPtqOptions {
  readonly preset: string;
  /** the PTQ configuration (default: the preset's, with splitConcat as asked) */
  readonly config?: PtqConfig;
  readonly calib: CalibStrategy;
  readonly splitConcat: boolean;
  /** DDIM steps for sampling (and for the calibration trajectories) */
  readonly steps: number;
  /** DDIM's η for sampling and the calibration trajectories (default 0) */
  readonly eta?: number;
  /** generated images scored */
  readonly samples: number;
  /** FP32 trajectories recorded for calibration (= calibration samples) */
  readonly calibSamples: number;
  readonly seed: number;
  readonly arch?: ArchSpec;
  /** reuse recorded trajectories (the same steps, count and seed) across cells */
  readonly trajectories?: Trajectories;
  readonly onProgress?: (what: string, done: number, total: number) => void;
}

export interface DiffusionCost {
  readonly arch: string;
  /** per UNet evaluation */
  readonly perStep: { readonly cycles: number; readonly energyPj: number; readonly dramBytes: number; readonly paramBytes: number; readonly macs: number; readonly seconds: number };
  /** per generated image: steps × one evaluation */
  readonly perImage: { readonly cycles: number; readonly energyPj: number; readonly dramBytes: number };
  /**
   * per generated image if the parameters stayed on chip between steps (fetched once per image,
   * not once per step): steps × (DRAM bytes − parameter bytes) + parameter bytes — a bound, not a
   * run: it assumes a buffer that holds every parameter beside each layer's working set
   */
  readonly weightsResidentDramBytesPerImage: number;
  /** the arch's on-chip buffer capacity (unified buffer, or the filter buffer of a split one) */
  readonly bufferBytes: number;
  readonly seconds: number;
}

export interface DiffusionPtqResult {
  readonly preset: string;
  readonly calib: string;
  /** trajectory steps the calibration inputs came from */
  readonly calibSteps: readonly number[];
  readonly splitConcat: boolean;
  readonly steps: number;
  readonly quality: QualityReport;
  /** overflow events per quarter of the trajectory (first quarter = the noisiest timesteps) */
  readonly overflowByBand: readonly number[];
  readonly cost?: DiffusionCost;
  readonly pixels: Float32Array;
  readonly net: QuantizedNetwork;
}

/** The executor options of a run: the arch's (order, accumulator, requant unit) or float requant on 32 bits. */
export function execOptionsFor(arch: ArchSpec | undefined): QExecOptions {
  if (!arch) return { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } };
  return { requant: archRequant(arch), acc: timingAccumulator(arch), order: timingOrder(arch), form: arch.pe.form };
}

export function diffusionCost(m: DdpmModel, net: QuantizedNetwork, arch: ArchSpec, steps: number, seed: number): DiffusionCost {
  const wl = workloadFromQuantizedNetwork(net, [1, ...m.spec.input], arch);
  const r = runOnce(arch, wl, { seed }, undefined);
  const t = r.totals;
  const perStep = { cycles: t.cycles, energyPj: t.energyPj, dramBytes: t.dramBytes.read + t.dramBytes.write, paramBytes: t.paramBytes, macs: t.macs, seconds: t.seconds };
  return costAtSteps({ arch: arch.name, perStep, bufferBytes: arch.memories.glb?.capacityBytes ?? arch.memories.filter?.capacityBytes ?? 0 }, steps);
}

/** A cost at another number of sampling steps: every step is one UNet evaluation, so no new run. */
export function costAtSteps(c: Pick<DiffusionCost, 'arch' | 'perStep' | 'bufferBytes'>, steps: number): DiffusionCost {
  const p = c.perStep;
  return {
    arch: c.arch,
    perStep: p,
    perImage: { cycles: p.cycles * steps, energyPj: p.energyPj * steps, dramBytes: p.dramBytes * steps },
    weightsResidentDramBytesPerImage: steps * (p.dramBytes - p.paramBytes) + p.paramBytes,
    bufferBytes: c.bufferBytes,
    seconds: p.seconds * steps,
  };
}

export async function diffusionPtq(m: DdpmModel, o: DiffusionPtqOptions): Promise<DiffusionPtqResult> {
  const tr = o.trajectories ?? recordTrajectories(m, { steps: o.steps, count: o.calibSamples, seed: o.seed + 1000, eta: o.eta, onProgress: (d, t) => o.onProgress?.('FP32 trajectories', d, t) });
  if (tr.steps !== o.steps || tr.count !== o.calibSamples) throw new RangeError(`the trajectories have ${tr.steps} steps × ${tr.count}, the run asks ${o.steps} × ${o.calibSamples}`);
  const calib = calibrationSet(m, tr, o.calib);
  const cfg = o.config ?? resolvePtqConfig(o.preset, o.splitConcat ? { splitConcat: true } : {});
  const { net } = await quantizeNetwork(m.graph, calib, cfg);
  const overflow: OverflowByStep = new Map();
  const pixels = generate(m, quantDenoiser(m, net, execOptionsFor(o.arch), overflow), { steps: o.steps, count: o.samples, seed: o.seed, eta: o.eta, onProgress: (d, t) => o.onProgress?.('integer sampling', d, t) });
  const quality = imageQuality(pixels, o.samples);
  const bands = [0, 0, 0, 0];
  tr.ts.forEach((t, k) => (bands[Math.min(3, Math.floor((4 * k) / tr.steps))] += overflow.get(t) ?? 0));
  return {
    preset: o.preset,
    calib: strategyLabel(o.calib),
    calibSteps: calib.stepsUsed,
    splitConcat: o.splitConcat,
    steps: o.steps,
    quality,
    overflowByBand: bands,
    ...(o.arch && { cost: diffusionCost(m, net, o.arch, o.steps, o.seed) }),
    pixels,
    net,
  };
}
