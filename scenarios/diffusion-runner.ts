/**
 * The `diffusion` point runner: one cell of Q-Diffusion's study per point (scenarios/diffusion-ptq.ts)
 * — the point's PTQ settings (preset and fields, `splitConcat`, `diffusion: {steps, calib}`,
 * `calibSamples` FP32 trajectories) on the zoo DDPM named by the point's network, sampling
 * `samples` images on the integer executor in the point's arch order. Metrics: fid, confidence,
 * energyPerImagePj, cyclesPerImage, dramBytesPerImage, overflows, samplesPng (a grid of the first
 * 50 images); the per-inference cost metrics of one UNet evaluation as the qloom runner names them.
 * The FP32 trajectories are recorded once per worker for each (network, steps, count, seed).
 */
import { readDiffusionManifest } from '../nets/zoo/index.js';
import { ConfigError } from '../errors/index.js';
import { operandFormatProblem, perChannelProblem } from '../sim/requant-unit.js';
import { PTQ_PRESETS as QUANT_PRESETS } from '../quant/config.js';
import { loadDdpm, parseCalibStrategy, recordTrajectories, sampleGridPng, type DdpmModel, type Trajectories } from './diffusion.js';
import { diffusionPtq } from './diffusion-ptq.js';
import { ptqConfigOf } from './ptq.js';
import type { PointMetrics } from './runners.js';
import type { JsonValue, PointConfig } from './scenario.js';

const models = new Map<string, DdpmModel>();
const trajectories = new Map<string, Trajectories>();

export async function runPoint(c: PointConfig): Promise<PointMetrics> {
  if (!readDiffusionManifest()[c.network]) throw new ConfigError([{ path: 'networks', message: `the diffusion runner samples diffusion models (${Object.keys(readDiffusionManifest()).join(', ')}); '${c.network}' is not one` }], 'scenario');
  const out: Record<string, JsonValue> = {};
  const fmt = QUANT_PRESETS[c.ptq.preset]?.format;
  const problem = (fmt ? `the diffusion runner samples integer networks; preset '${c.ptq.preset}' puts layers on ${fmt.kind === 'group' ? 'group' : fmt.element} formats` : null) ?? operandFormatProblem(c.archLabel, c.arch, 'int', 'int') ?? perChannelProblem(c.archLabel, c.arch, c.ptq.perChannel);
  if (problem) {
    for (const m of c.metrics) out[m] = m === 'note' ? `unsupported: ${problem}` : null;
    return out;
  }
  const d = c.ptq.diffusion ?? { steps: 20, calib: 'uniform' };
  const m = models.get(c.network) ?? loadDdpm(c.network);
  models.set(c.network, m);
  const key = `${c.network}/${d.steps}/${c.ptq.calibSamples}/${c.seed}`;
  const tr = trajectories.get(key) ?? recordTrajectories(m, { steps: d.steps, count: c.ptq.calibSamples, seed: c.seed + 1000 });
  trajectories.set(key, tr);
  const r = await diffusionPtq(m, {
    preset: c.ptq.preset,
    config: ptqConfigOf(c.ptq, c.seed),
    calib: parseCalibStrategy(d.calib, d.steps),
    splitConcat: c.ptq.splitConcat === true,
    steps: d.steps,
    samples: c.samples,
    calibSamples: c.ptq.calibSamples,
    seed: c.seed + 1,
    arch: c.arch,
    trajectories: tr,
  });
  const cost = r.cost!;
  const all: Record<string, JsonValue> = {
    fid: r.quality.fid,
    confidence: r.quality.meanConfidence,
    energyPerImagePj: cost.perImage.energyPj,
    cyclesPerImage: cost.perImage.cycles,
    dramBytesPerImage: cost.perImage.dramBytes,
    overflows: r.overflowByBand.reduce((a, b) => a + b, 0),
    energyPj: cost.perStep.energyPj,
    cycles: cost.perStep.cycles,
    macs: cost.perStep.macs,
    dramBytes: cost.perStep.dramBytes,
    samplesPng: `data:image/png;base64,${sampleGridPng(r.pixels, Math.min(50, c.samples), m.spec.input).toString('base64')}`,
  };
  for (const k of c.metrics) out[k] = k === 'note' ? null : (all[k] ?? null);
  return out;
}
