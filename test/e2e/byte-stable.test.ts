/**
 * `--json` output is a result, the same bytes on every identical run, so it can be diffed and
 * cached: wall-clock times (eval's seconds and PTQ seconds, quantize's stage times) come only with
 * `--timing`, under their own `timing` key; nothing depends on the process (pid, temp names).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-stable-'));

/** runs `args` twice; both exit 0 with the same stdout, which it returns */
async function twice(...args: string[]): Promise<string> {
  const [a, b] = [await qloom(...args), await qloom(...args)];
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(0);
  expect(b.stdout).toBe(a.stdout);
  return a.stdout;
}

const PTQ = ['--quant', 'w8a8-pt', '--data', 'mnist', '--samples', '40', '--calib-samples', '64'];

describe('byte-stable --json', () => {
  it('eval --json --quant: two identical runs print identical bytes; --timing adds the times under `timing`', async () => {
    const out = await twice('eval', 'mnist-mlp', ...PTQ, '--json');
    const doc = JSON.parse(out) as Record<string, unknown>;
    expect(out).not.toMatch(/[Ss]econds|timing/);
    expect(doc.quant).toMatchObject({ preset: 'w8a8-pt' });
    const timed = await qloom('eval', 'mnist-mlp', ...PTQ, '--json', '--timing');
    expect(timed.code).toBe(0);
    const t = JSON.parse(timed.stdout) as { timing: { seconds: number; ptqSeconds: number } };
    expect(t.timing.seconds).toBeGreaterThanOrEqual(t.timing.ptqSeconds);
    expect(t.timing.ptqSeconds).toBeGreaterThan(0);
    // the result beside it is the same
    expect({ ...t, timing: undefined }).toEqual({ ...doc, timing: undefined });
  }, 120_000);

  it('eval --json (FP32) on a subset, quantize --json: identical bytes; --timing needs --json', async () => {
    expect(await twice('eval', 'mnist-mlp', '--samples', '40', '--json')).not.toMatch(/[Ss]econds/);
    const model = join(dir, 'q.onnx');
    const q = await twice('quantize', 'mnist-mlp', '--preset', 'w8a8-pt', '--calib', 'mnist', '--calib-samples', '64', '--out', model, '--json');
    expect(q).not.toMatch(/[Mm]s"|timing/);
    const timed = JSON.parse((await qloom('quantize', 'mnist-mlp', '--preset', 'w8a8-pt', '--calib', 'mnist', '--calib-samples', '64', '--out', model, '--json', '--timing')).stdout) as { timing: { stagesMs: Record<string, number> } };
    expect(Object.keys(timed.timing.stagesMs)).toEqual(expect.arrayContaining(['calibrate', 'build']));
    for (const args of [['eval', 'mnist-mlp', '--samples', '4', '--timing'], ['quantize', 'mnist-mlp', '--preset', 'w8a8-pt', '--calib', 'mnist', '--out', model, '--timing']]) {
      const r = await qloom(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--timing adds the wall-clock times to the --json output: give --json too');
    }
  }, 180_000);

  it('run --topology --json and its --out file, energy --json, scenario --json: identical bytes', async () => {
    const topology = join(dir, 'small.csv');
    writeFileSync(topology, 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\n');
    const r1 = join(dir, 'r1.json');
    const r2 = join(dir, 'r2.json');
    const a = await qloom('run', '--arch', 'edge-npu', '--topology', topology, '--json', '--out', r1);
    const b = await qloom('run', '--arch', 'edge-npu', '--topology', topology, '--json', '--out', r2);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(readFileSync(r2, 'utf8')).toBe(readFileSync(r1, 'utf8'));
    await twice('energy', r1, '--table', 'horowitz-45nm', '--json');
    const scenario = join(dir, 'tiny.yaml');
    writeFileSync(scenario, 'name: tiny\nseed: 1\nrunner: synthetic\nnetworks: [fmnist-cnn]\narchs: [edge-npu, mcu-npu]\nmetrics: [latencyS, energyPj]\n');
    // one fresh sweep, one served from the point cache: the same document
    const fresh = await qloom('scenario', scenario, '--out', join(dir, 's1'), '--workers', '0', '--json');
    const cached = await qloom('scenario', scenario, '--out', join(dir, 's1'), '--workers', '0', '--json');
    expect(fresh.code).toBe(0);
    expect(cached.stdout).toBe(fresh.stdout);
    expect(existsSync(join(dir, 's1', 'results.json'))).toBe(true);
  }, 180_000);
});
