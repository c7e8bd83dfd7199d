/**
 * The main job's machinery as a user runs it: a reduced `pc-vs-pt`-style scenario (one network,
 * two points: edge-npu and mcu-npu, few samples) through `qloom scenario` with the real `qloom`
 * runner — the summary table, results.json and report.html — then the same point through
 * `qloom run --model … --json`: cycles, energy and bits of a per-tensor symmetric W8A8 network do
 * not depend on the calibration images, so they must be equal to the runner's exactly. A second
 * run of the scenario is served from the point cache.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';

const SCENARIO = `name: start-small
description: reduced pc-vs-pt for the e2e test
seed: 0
runner: qloom
networks: [fmnist-cnn]
ptq: [{ preset: w8a8-pt, calibSamples: 64, label: w8a8-pt }]
archs: [edge-npu, mcu-npu]
metrics: [accuracy, cycles, energyPj, bitsMoved, requantParamBits, paramBytes, overflows, note]
data: { dataset: auto, samples: 30 }
`;

interface ResultsDoc {
  runner: string;
  points: { arch: string; metrics: Record<string, number | string | null> }[];
}

describe('qloom scenario with the real runner', () => {
  it('runs two points, prints the table and the report path; equals `qloom run` on cost; a rerun is cached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-start-'));
    const file = join(dir, 'small.yaml');
    writeFileSync(file, SCENARIO);
    const out = join(dir, 'out');
    const r = await qloom('scenario', file, '--out', out, '--workers', '1');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/accuracy %\s+cycles\s+energy µJ\s+bitsMoved\s+requantParamBits\s+param KiB\s+overflows/);
    expect(r.stdout).toMatch(/2 points \(2 run, 0 from .*\), seed 0, runner qloom/);
    expect(r.stdout).toContain(`report: ${join(out, 'report.html')}`);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    const doc = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ResultsDoc;
    expect(doc.runner).toBe('qloom');
    expect(doc.points.map((p) => p.arch)).toEqual(['edge-npu', 'mcu-npu']);
    const [edge, mcu] = doc.points.map((p) => p.metrics);
    for (const m of [edge, mcu]) {
      expect(m.note).toBeNull();
      expect(m.accuracy as number).toBeGreaterThan(0.5);
    }
    // the 8×8 output-stationary MCU array takes longer than the 16×16 edge array
    expect(mcu.cycles as number).toBeGreaterThan(edge.cycles as number);

    const run = await qloom('run', '--arch', 'edge-npu', '--model', 'fmnist-cnn', '--preset', 'w8a8-pt', '--data', 'fmnist', '--samples', '30', '--json');
    expect(run.code).toBe(0);
    const j = JSON.parse(run.stdout) as { totals: { cycles: number; energyPj: number; bits: { dramBuffer: Record<string, number>; bufferArray: Record<string, number> } } };
    expect(edge.cycles).toEqual(j.totals.cycles);
    expect(edge.energyPj).toBe(j.totals.energyPj);
    const b = j.totals.bits;
    expect(edge.requantParamBits).toEqual(b.dramBuffer.requantParams + b.bufferArray.requantParams);
    // each bit once: Σ levels × classes (issue 20)
    const bits = Object.values(b.dramBuffer).reduce((a, x) => a + x, 0) + Object.values(b.bufferArray).reduce((a, x) => a + x, 0);
    expect(edge.bitsMoved).toEqual(bits);

    const again = await qloom('scenario', file, '--out', out, '--json');
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(readFileSync(join(out, 'results.json'), 'utf8'));
  }, 120_000);
});
