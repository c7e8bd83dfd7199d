/**
 * `qloom diffusion`: the zoo DDPM sampled with DDIM — FP32, or quantized (a calibration strategy
 * over the FP32 trajectories, optional split quantization of the skip concatenations) on the
 * integer executor or an arch — scored by FID on mnist-mlp's features, its confidence and class
 * histogram; a sample grid as PNG; cost per generated image on an arch.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { fp32Denoiser, generate, imageQuality, loadDdpm, parseCalibStrategy, realDataQuality, sampleGridPng } from '../scenarios/diffusion.js';
import { diffusionPtq, type DiffusionPtqResult } from '../scenarios/diffusion-ptq.js';
import { loadArch } from '../scenarios/simulate.js';
import { DIFFUSION_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { progress } from './progress.js';
import { PRESET_NAMES } from './ptq-flags.js';

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(0, 'diffusion takes flags only');
  const model = (values.model as string | undefined) ?? 'mnist-ddpm';
  const steps = flags.int('steps', { min: 1, max: 1000, def: 20 })!;
  const samples = flags.int('samples', { min: 2, max: 100_000, def: 1000 })!;
  const seed = flags.int('seed', { min: 0, max: 2 ** 31 - 1, def: 1 })!;
  const eta = flags.number('eta', { min: 0, max: 1, def: 0 }) ?? 0;
  const preset = flags.oneOf('preset', PRESET_NAMES);
  if (!preset) flags.unused(['calib', 'calib-samples', 'split-concat', 'arch'], 'only with --preset (they describe a quantized run)');
  const calibSamples = flags.int('calib-samples', { min: 2, max: 100_000, def: 256 })!;
  let calib;
  try {
    calib = parseCalibStrategy((values.calib as string | undefined) ?? 'uniform', steps);
  } catch (e) {
    flags.problem(`--calib: ${(e as Error).message.replace(/^.*?: /, '')}`);
  }
  flags.check(DIFFUSION_USAGE);
  const json = values.json === true;
  const m = loadDdpm(model);
  const arch = typeof values.arch === 'string' ? loadArch(values.arch) : undefined;
  const bar = progress('diffusion', process.stderr, json && !process.stderr.isTTY);
  let pixels: Float32Array;
  let result: Record<string, unknown>;
  const t0 = Date.now();
  if (!preset) {
    pixels = generate(m, fp32Denoiser(m), { steps, count: samples, seed, eta, onProgress: (d, t) => bar.update(d, t) });
    bar.done();
    result = { model, precision: 'fp32', steps, eta, samples, seed, quality: imageQuality(pixels, samples) };
  } else {
    let stage = '';
    const r: DiffusionPtqResult = await diffusionPtq(m, {
      preset,
      calib: calib!,
      splitConcat: values['split-concat'] === true,
      steps,
      eta,
      samples,
      calibSamples,
      seed,
      ...(arch && { arch }),
      onProgress: (what, d, t) => {
        if (what !== stage) bar.done();
        stage = what;
        bar.update(d, t);
      },
    });
    bar.done();
    pixels = r.pixels;
    result = { model, precision: preset, calib: r.calib, calibSteps: r.calibSteps, calibSamples, splitConcat: r.splitConcat, steps, eta, samples, seed, quality: r.quality, overflowByBand: r.overflowByBand, ...(r.cost && { cost: r.cost }) };
  }
  if (values.reference === true) result.realDataFid = realDataQuality(Math.min(samples, 7996), seed).fid;
  if (typeof values.grid === 'string') {
    const n = Math.min(100, samples);
    const tmp = `${values.grid}.${process.pid}.tmp`;
    writeFileSync(tmp, sampleGridPng(pixels, n, m.spec.input));
    renameSync(tmp, values.grid);
    result.grid = values.grid;
  }
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const q = result.quality as ReturnType<typeof imageQuality>;
  const w = (s: string) => process.stdout.write(s + '\n');
  w(`${model}: ${result.precision}${preset ? ` (calibration ${result.calib}, ${calibSamples} FP32 trajectory inputs from steps ${(result.calibSteps as number[]).join(',')}${result.splitConcat ? ', split skip quantization' : ''})` : ''}, DDIM ${steps} steps${eta > 0 ? ` (η ${eta})` : ''}, ${samples} samples, seed ${seed} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  w(`  FID (mnist-mlp penultimate features, vs the 2,004 real test digits; not Inception-FID): ${q.fid.toFixed(2)}`);
  if (result.realDataFid !== undefined) w(`  the same FID of ${Math.min(samples, 7996)} real training digits (the floor): ${(result.realDataFid as number).toFixed(2)}`);
  w(`  mnist-mlp mean confidence ${(100 * q.meanConfidence).toFixed(1)} %; classes 0–9: ${q.classHistogram.join(' ')}`);
  if (result.overflowByBand) w(`  accumulator overflow events per quarter of the trajectory (noisiest first): ${(result.overflowByBand as number[]).join(' / ')}`);
  const c = result.cost as DiffusionPtqResult['cost'];
  if (c) {
    w(`  on ${c.arch}: one UNet evaluation ${c.perStep.cycles.toLocaleString('en-US')} cycles, ${(c.perStep.energyPj / 1e6).toFixed(2)} µJ, ${(c.perStep.dramBytes / 1024).toFixed(1)} KiB DRAM (${(c.perStep.paramBytes / 1024).toFixed(1)} KiB of it parameters, re-read every step)`);
    w(`  per generated image (${steps} steps): ${c.perImage.cycles.toLocaleString('en-US')} cycles (${(c.seconds * 1e3).toFixed(2)} ms), ${(c.perImage.energyPj / 1e6).toFixed(1)} µJ, ${(c.perImage.dramBytes / 1024 / 1024).toFixed(2)} MiB DRAM`);
    w(`  with the parameters kept on chip between steps (a bound; buffer ${(c.bufferBytes / 1024).toFixed(0)} KiB): ${(c.weightsResidentDramBytesPerImage / 1024 / 1024).toFixed(2)} MiB DRAM per image`);
  }
  if (result.grid) w(`  sample grid: ${result.grid}`);
}
