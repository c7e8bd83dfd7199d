/**
 * Q-Diffusion's two techniques measured on the zoo DDPM (`mnist-ddpm`, DDIM): PTQ at W8A8 and
 * W4A8 (per-channel weights) × calibration {one timestep (the trajectory's middle step), the last
 * quarter of the steps, uniform over the trajectory} × split quantization of the UNet's skip
 * concatenations {off, on}, every cell sampling the whole denoising loop on the integer executor in
 * edge-npu's accumulation order (its accumulator, its fixed-point requantization unit); FP32 at 20
 * and 50 steps and real digits (the floor of this FID at this sample count) as references; energy,
 * cycles and DRAM bytes per generated image on edge-npu and tpu-like at 20 and 50 steps.
 *
 * Every cell: 256 calibration inputs from the same FP32 trajectories (seeded), 1,000 generated
 * images from the same x_T (seed 1), FID on mnist-mlp's penultimate features against the 2,004 real
 * test digits (nets/fid.ts: not Inception-FID). A 100-image grid per cell in docs/diffusion/.
 *
 *   npx tsx bench/diffusion-ptq.ts [--precisions w8a8-pc,w4a8-pc|none] [--calibs single,last,uniform] [--samples N] [--steps N] [--calib-samples N] [--no-fp32]
 *   (or: npm run bench -- diffusion-ptq)
 *
 * Cells are merged into bench/results/diffusion-ptq.json as they finish (two processes may split
 * the precisions and calibrations between them; `--precisions none` runs the FP32 references only).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fp32Denoiser, generate, imageQuality, loadDdpm, realDataQuality, recordTrajectories, sampleGridPng, type CalibStrategy } from '../scenarios/diffusion.js';
import { costAtSteps, diffusionCost, diffusionPtq } from '../scenarios/diffusion-ptq.js';
import { loadArch } from '../scenarios/simulate.js';
import { writeBenchResult } from './common.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'results', 'diffusion-ptq.json');
const GRIDS = join(ROOT, 'docs', 'diffusion');
const say = (s: string): void => void process.stdout.write(`${s}\n`);

interface Doc {
  bench: 'diffusion-ptq';
  model: string;
  samples: number;
  calibSamples: number;
  arch: string;
  cells: Record<string, unknown>;
}

function merge(key: string, row: unknown, base: Omit<Doc, 'cells'>): void {
  const doc: Doc = existsSync(OUT) ? (JSON.parse(readFileSync(OUT, 'utf8')) as Doc) : { ...base, cells: {} };
  doc.cells[key] = row;
  writeBenchResult(OUT, JSON.stringify(doc, null, 2) + '\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export async function main(): Promise<unknown> {
  // --precisions none: the FP32 references only
  const precisions = (arg('precisions') ?? 'w8a8-pc,w4a8-pc').split(',').filter((p) => p !== 'none');
  const samples = Number(arg('samples') ?? 1000);
  const steps = Number(arg('steps') ?? 20);
  const calibSamples = Number(arg('calib-samples') ?? 256);
  const seed = 1;
  const m = loadDdpm();
  const arch = loadArch('edge-npu');
  const tpuLike = loadArch('tpu-like');
  const base = { bench: 'diffusion-ptq' as const, model: m.name, samples, calibSamples, arch: arch.name };
  mkdirSync(GRIDS, { recursive: true });
  const grid = (name: string, px: Float32Array) => writeFileSync(join(GRIDS, `${name}.png`), sampleGridPng(px, 100, m.spec.input));
  if (!process.argv.includes('--no-fp32')) {
    for (const s of [steps, 50]) {
      const t0 = performance.now();
      const px = generate(m, fp32Denoiser(m), { steps: s, count: samples, seed });
      const q = imageQuality(px, samples);
      grid(`fp32-${s}`, px);
      say(`FP32 ${s} steps: FID ${q.fid.toFixed(2)}, confidence ${(100 * q.meanConfidence).toFixed(1)} %, classes ${q.classHistogram.join(' ')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      merge(`fp32/${s}`, { precision: 'fp32', steps: s, quality: q, seconds: (performance.now() - t0) / 1000 }, base);
    }
    const real = realDataQuality(samples, seed);
    say(`real training digits (${samples}): FID ${real.fid.toFixed(2)}, confidence ${(100 * real.meanConfidence).toFixed(1)} %, classes ${real.classHistogram.join(' ')}`);
    merge('real', { precision: 'real digits', samples, quality: real }, base);
  }
  if (precisions.length === 0) return JSON.parse(readFileSync(OUT, 'utf8'));
  const t0 = performance.now();
  const trajectories = recordTrajectories(m, { steps, count: calibSamples, seed: seed + 1000 });
  say(`FP32 trajectories for calibration: ${calibSamples} × ${steps} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  const known: Record<string, CalibStrategy> = { single: { kind: 'single', step: Math.floor(steps / 2) }, last: { kind: 'last' }, uniform: { kind: 'uniform' } };
  const calibs = (arg('calibs') ?? 'single,last,uniform').split(',');
  for (const c of calibs) if (!known[c]) throw new Error(`--calibs: unknown '${c}' (known: ${Object.keys(known).join(', ')})`);
  const strategies = calibs.map((c) => known[c]);
  for (const preset of precisions) {
    for (const calib of strategies) {
      for (const splitConcat of [false, true]) {
        const c0 = performance.now();
        const r = await diffusionPtq(m, { preset, calib, splitConcat, steps, samples, calibSamples, seed, arch, trajectories });
        const key = `${preset}/${r.calib}/${splitConcat ? 'split' : 'one-scale'}`;
        grid(key.replaceAll('/', '_').replaceAll(':', '-'), r.pixels);
        const at50 = costAtSteps(r.cost!, 50);
        // the same integer network on the datacenter preset (cost only: sampling ran in edge-npu's order)
        const tpuStep = diffusionCost(m, r.net, tpuLike, steps, seed);
        const tpu = { [steps]: tpuStep, 50: costAtSteps(tpuStep, 50) };
        const seconds = (performance.now() - c0) / 1000;
        say(
          `${key}: FID ${r.quality.fid.toFixed(2)}, confidence ${(100 * r.quality.meanConfidence).toFixed(1)} %, classes ${r.quality.classHistogram.join(' ')}, overflows ${r.overflowByBand.join('/')}, ` +
            `${(r.cost!.perImage.energyPj / 1e6).toFixed(1)} µJ/image at ${steps} steps, ${(at50.perImage.energyPj / 1e6).toFixed(1)} at 50 (${seconds.toFixed(0)} s)`,
        );
        merge(key, { precision: preset, calib: r.calib, calibSteps: r.calibSteps, splitConcat, steps, quality: r.quality, overflowByBand: r.overflowByBand, cost: r.cost, costAt50: at50, tpuLike: tpu, seconds }, base);
      }
    }
  }
  return JSON.parse(readFileSync(OUT, 'utf8'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
