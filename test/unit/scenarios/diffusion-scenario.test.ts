/**
 * A diffusion scenario as a user writes one (the `diffusion` runner, `diffusion: {steps, calib}` in
 * its PTQ entries): it validates, every problem named by path; a small run of two cells gives
 * finite FIDs, a per-image cost equal to steps × the per-evaluation cost, and a report whose
 * gallery shows each point's samples (and writes them as PNG files).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../../scenarios/run-scenario.js';
import { validateScenario } from '../../../scenarios/scenario.js';

const SMALL = {
  name: 'diffusion-small',
  seed: 3,
  runner: 'diffusion',
  networks: ['mnist-ddpm'],
  ptq: [
    { preset: 'w8a8-pc', calibSamples: 8, diffusion: { steps: 3, calib: 'uniform' }, label: 'uniform' },
    { preset: 'w8a8-pc', calibSamples: 8, diffusion: { steps: 3, calib: 'single:1' }, splitConcat: true, label: 'one timestep + split' },
  ],
  archs: ['edge-npu'],
  metrics: ['fid', 'confidence', 'energyPerImagePj', 'energyPj', 'cyclesPerImage', 'cycles', 'overflows', 'samplesPng', 'note'],
  data: { dataset: 'auto', samples: 6 },
};

function problems(doc: unknown): string[] {
  try {
    validateScenario(doc);
    return [];
  } catch (e) {
    return ((e as { problems?: { path: string; message: string }[] }).problems ?? []).map((p) => `${p.path}: ${p.message}`);
  }
}

describe('diffusion scenarios', () => {
  it('refuses bad diffusion settings, each by path, all at once', () => {
    const p = problems({
      ...SMALL,
      ptq: [
        { preset: 'w8a8-pc', diffusion: { steps: 0, calib: 'middle' } },
        { preset: 'w8a8-pc', diffusion: { steps: 3, calib: 'single:3' } },
        { preset: 'w8a8-pc', diffusion: { steps: 3, eta: 1 } },
      ],
    });
    expect(p.some((x) => /^ptq\[0\]\.diffusion\.steps: .*1…1000/.test(x))).toBe(true);
    expect(p.some((x) => /^ptq\[0\]\.diffusion\.calib: .*'?middle/.test(x))).toBe(true);
    expect(p.some((x) => /^ptq\[1\]\.diffusion\.calib: single:3: the trajectory has steps 0…2/.test(x))).toBe(true);
    expect(p.some((x) => /^ptq\[2\]\.diffusion.*eta/.test(x))).toBe(true);
  });

  it('runs: finite FIDs, per-image cost = steps × one evaluation, samples in the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-diffusion-'));
    const run = await runScenario(validateScenario(SMALL), { outDir: dir, workers: 0 });
    expect(run.results.points.length).toBe(2);
    for (const p of run.results.points) {
      const m = p.metrics as Record<string, number | string | null>;
      expect(m.note).toBeNull();
      expect(Number.isFinite(m.fid)).toBe(true);
      expect(m.confidence as number).toBeGreaterThan(0);
      expect(m.energyPerImagePj).toBeCloseTo(3 * (m.energyPj as number), 6);
      expect(m.cyclesPerImage).toBe(3 * (m.cycles as number));
      expect(String(m.samplesPng).startsWith('data:image/png;base64,')).toBe(true);
    }
    // the split point moves more bits (its merge), so its energy is not the other's
    const [a, b] = run.results.points.map((p) => (p.metrics as Record<string, number>).energyPj);
    expect(b).toBeGreaterThan(a);
    const html = readFileSync(run.report.html, 'utf8');
    expect(html.match(/<img src="data:image\/png;base64,/g)?.length).toBe(2);
    expect(html).toContain('one timestep + split');
    const png = join(dir, 'samples', 'point-0-samplesPng.png');
    expect(existsSync(png)).toBe(true);
    expect([...readFileSync(png).subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    // the CSV has no image column
    expect(readFileSync(join(dir, 'points.csv'), 'utf8')).not.toContain('base64');
  }, 240_000);
});
