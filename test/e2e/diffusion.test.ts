/**
 * `qloom diffusion` as a user runs it: the bundled DDPM sampled in FP32 and quantized on an arch,
 * --json and the table, the sample grid written whole, and bad flags refused together by name.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-diffusion-'));

describe('qloom diffusion', () => {
  it('FP32: FID, confidence, classes; the grid PNG; the same numbers twice', async () => {
    const grid = join(dir, 'fp32.png');
    const args = ['diffusion', '--steps', '3', '--samples', '12', '--seed', '5', '--json'];
    const r = await qloom(...args, '--grid', grid);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ model: 'mnist-ddpm', precision: 'fp32', steps: 3, samples: 12, seed: 5, grid });
    expect(doc.quality.fid).toBeGreaterThan(0);
    expect(doc.quality.classHistogram.reduce((a: number, b: number) => a + b, 0)).toBe(12);
    expect(readFileSync(grid).subarray(1, 4).toString()).toBe('PNG');
    const again = JSON.parse((await qloom(...args)).stdout);
    expect(again.quality).toEqual(doc.quality);
  }, 120_000);

  it('quantized on edge-npu: calibration steps, overflow bands, cost per image = steps × one evaluation', async () => {
    const r = await qloom('diffusion', '--steps', '4', '--samples', '6', '--preset', 'w8a8-pc', '--calib', 'last', '--calib-samples', '8', '--split-concat', '--arch', 'edge-npu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ precision: 'w8a8-pc', calib: 'last', calibSteps: [3], splitConcat: true });
    expect(doc.overflowByBand).toHaveLength(4);
    expect(doc.cost.arch).toBe('edge-npu');
    expect(doc.cost.perImage.energyPj).toBeCloseTo(4 * doc.cost.perStep.energyPj, 6);
    expect(doc.cost.perImage.cycles).toBe(4 * doc.cost.perStep.cycles);
    // the table form says the same
    const t = await qloom('diffusion', '--steps', '4', '--samples', '6', '--preset', 'w8a8-pc', '--calib', 'last', '--calib-samples', '8', '--split-concat', '--arch', 'edge-npu');
    expect(t.stdout).toContain(`FID (mnist-mlp penultimate features`);
    expect(t.stdout).toContain(doc.quality.fid.toFixed(2));
  }, 120_000);

  it('bad flags: every problem at once, exit 2, no stack trace, no grid written', async () => {
    const grid = join(dir, 'never.png');
    const r = await qloom('diffusion', '--steps', '0', '--calib', 'middle', '--arch', 'edge-npu', '--preset', 'w9a9', '--grid', grid);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--steps/);
    expect(r.stderr).toMatch(/--calib/);
    expect(r.stderr).toMatch(/--preset/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(grid)).toBe(false);
    const s = await qloom('diffusion', '--arch', 'edge-npu');
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--arch.*only with --preset/);
  });
});
