/**
 * `qloom mixed` as a user runs it, on mnist-mlp (three Gemm layers: 784·256 + 256·128 + 128·10 =
 * 234,752 weights). The checks that do not lean on the search's own arithmetic: weight traffic of
 * the uniform points against that hand count, the front's measurements against `simulateModel`
 * run alone on the same config, and bad input refused with every problem named.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configHash, resolvePtqConfig } from '../../quant/config.js';
import { expandPoints, loadScenario } from '../../scenarios/index.js';
import { ptqConfigOf } from '../../scenarios/ptq.js';
import { assignmentConfig, type MixedResult } from '../../scenarios/mixed.js';
import { simulateModel } from '../../scenarios/simulate-model.js';
import { qloom } from '../helpers/cli.js';

const WEIGHTS = 784 * 256 + 256 * 128 + 128 * 10;

describe('qloom mixed', () => {
  it('searches, measures every point, and writes mixed.json, mixed.svg and a scenario of its points', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qloom-mixed-'));
    const r = await qloom('mixed', 'mnist-mlp', '--arch', 'edge-npu', '--data', 'mnist', '--choices', 'w8a8,w4a8,w8a4', '--sens-samples', '64', '--samples', '100', '--points', '4', '--out', out, '--json');
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as MixedResult;
    expect(doc.layers).toEqual(['fc1', 'fc2', 'fc3']);
    expect(doc.reference).toBe('w8a8');
    expect(doc.table).toHaveLength(9);
    expect(doc.seed).toBe(0);
    expect(doc.baseConfigHash).toMatch(/^[0-9a-f]{64}$/);
    const uniform = (c: string) => doc.points.find((p) => p.kind === 'uniform' && p.assignment.every((a) => a === c))!;
    // weights cross from DRAM once per inference: 8 and 4 bits per weight
    expect(uniform('w8a8').measured.weightBits).toBe(WEIGHTS * 8);
    expect(uniform('w4a8').measured.weightBits).toBe(WEIGHTS * 4);
    expect(uniform('w8a4').measured.weightBits).toBe(WEIGHTS * 8);
    const front = doc.points.filter((p) => p.kind === 'front');
    expect(front.length).toBeGreaterThan(1);
    // cheapest first, none above the dearest assignment, every one under the budget it was solved at
    for (let i = 1; i < front.length; i++) expect(front[i].predicted.cost).toBeGreaterThan(front[i - 1].predicted.cost);
    for (const p of front) expect(p.predicted.cost).toBeLessThanOrEqual(p.budget! * (1 + 1e-9));
    // the widest assignment is the front's dearest point, and measures as the uniform reference does
    expect(front.at(-1)!.assignment).toEqual(['w8a8', 'w8a8', 'w8a8']);
    expect(front.at(-1)!.measured).toEqual(uniform('w8a8').measured);
    expect(doc.solver.name).toBe('HiGHS');
    expect(doc.solver.solves).toBe(4);
    expect(JSON.parse(readFileSync(join(out, 'mixed.json'), 'utf8'))).toEqual(doc);
    expect(readFileSync(join(out, 'mixed.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // scenario.yaml: every distinct point as a ptq entry whose config is the search's, hash for hash
    const sc = loadScenario(join(out, 'scenario.yaml'));
    const hashes = expandPoints(sc).map((p) => configHash(ptqConfigOf(p.config.ptq, p.config.seed)));
    expect(new Set(hashes)).toEqual(new Set(doc.points.map((p) => p.configHash)));

    // the cheapest front point, run alone through `qloom run`'s library call: the same numbers
    const cheapest = front[0];
    const pick = cheapest.assignment.map((a) => doc.choices.findIndex((c) => c.name === a));
    const cfg = assignmentConfig(resolvePtqConfig('w8a8-pc'), doc.layers, doc.choices, pick);
    const alone = await simulateModel({ arch: 'edge-npu', model: 'mnist-mlp', preset: cfg, data: 'mnist', samples: 100 });
    expect(alone.accuracy).toBe(cheapest.measured.top1);
    expect(alone.result.totals.energyPj).toBe(cheapest.measured.energyPj);
    expect(alone.result.totals.cycles).toBe(cheapest.measured.cycles);
    expect(cheapest.measured.energyPj).toBeLessThan(uniform('w8a8').measured.energyPj);
  }, 300_000);

  it('refuses bad choices, budgets and data sets, naming each, before any work', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qloom-mixed-bad-'));
    const r = await qloom('mixed', 'mnist-mlp', '--arch', 'edge-npu', '--data', 'textlines', '--budget', 'energy=5furlongs', '--points', '1', '--out', join(out, 'x'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--data must be one of');
    expect(r.stderr).toContain("unknown unit 'furlongs'");
    expect(r.stderr).toContain('--points must be an integer 2…200');
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(join(out, 'x'))).toBe(false);
    const c = await qloom('mixed', 'mnist-mlp', '--arch', 'edge-npu', '--data', 'mnist', '--choices', 'w4g32a8,w9a,w4a8,int4,w4a4');
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain("'w4g32a8': per-group weights");
    expect(c.stderr).toContain("'w9a' is not a choice");
    expect(c.stderr).toContain("'w4a4' is given twice");
    expect(c.stderr).not.toContain('    at ');
  });

  it('INT8 or FP8 per layer on PEs with both datapaths; an integer-only arch refused before any work', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-mixed-fp8-'));
    const arch = join(dir, 'fp8-int.yaml');
    writeFileSync(arch, 'name: fp8-int\narray: { rows: 16, cols: 16 }\nmemories: { glb: { capacity: 256 KiB } }\noperands: { format: fp8-e4m3, alsoInt: true }\n');
    const r = await qloom('mixed', 'mnist-mlp', '--arch', arch, '--data', 'mnist', '--choices', 'w8a8,fp8e4m3', '--sens-samples', '32', '--samples', '100', '--points', '3', '--json');
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as MixedResult;
    expect(doc.reference).toBe('w8a8');
    expect(doc.table.filter((t) => t.choice === 'fp8e4m3').map((t) => t.layer)).toEqual(['fc1', 'fc2', 'fc3']);
    // networks with INT8 and FP8 layers side by side were measured (conversions at their edges)
    expect(doc.points.some((p) => p.assignment.includes('fp8e4m3') && p.assignment.includes('w8a8'))).toBe(true);
    // all-FP8 moves exactly the hand-counted 8-bit weights
    const fp8 = doc.points.find((p) => p.kind === 'uniform' && p.assignment.every((a) => a === 'fp8e4m3'))!;
    expect(fp8.measured.weightBits).toBe(WEIGHTS * 8);
    expect(fp8.measured.top1).toBeGreaterThan(0.8);
    const refused = await qloom('mixed', 'mnist-mlp', '--arch', 'edge-npu', '--data', 'mnist', '--choices', 'w8a8,fp8e4m3');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("--choices fp8e4m3: edge-npu's PEs multiply int operands");
    expect(refused.stderr).not.toContain('    at ');
  }, 300_000);

  it('a budget below the cheapest assignment is refused with what the cheapest costs', async () => {
    const r = await qloom('mixed', 'mnist-mlp', '--arch', 'edge-npu', '--data', 'mnist', '--choices', 'w8a8,w4a8', '--sens-samples', '16', '--samples', '10', '--budget', 'energy=1pJ');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/budget 1 pJ: the cheapest assignment costs \d+ pJ per inference/);
    expect(r.stderr).not.toContain('    at ');
  }, 300_000);
});
