/**
 * The sweep driver on the `synthetic` runner, through real worker threads (tsx registered inside
 * each worker): kill-and-resume, worker-count independence, the on-disk cache.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildResults, serializeResults } from '../../../scenarios/report.js';
import { expandPoints } from '../../../scenarios/points.js';
import { loadScenario, validateScenario } from '../../../scenarios/scenario.js';
import { pointFile, runSweep, startSweep } from '../../../scenarios/sweep.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'qloom-sweep-'));
const pointFiles = (out: string) => (existsSync(join(out, 'points')) ? readdirSync(join(out, 'points')).filter((f) => f.endsWith('.json')) : []);

const SMALL = validateScenario({
  name: 'small',
  seed: 3,
  runner: 'synthetic',
  networks: ['fmnist-cnn', 'fmnist-dwsep'],
  archs: ['edge-npu', 'mcu-npu'],
  axes: { 'accumulator.bits': [12, 16, 32], 'ptq.weightBits': [8, 4] },
  metrics: ['cycles', 'energyPj', 'accuracy', 'overflowRateByLayer'],
});

describe('sweep', () => {
  it('kill half way and resume: same results.json bytes as an uninterrupted run, only the missing points re-run', async () => {
    // the built-in dse's shape (324 points) on the fast stand-in runner: this tests the sweep machinery
    const dse = { ...loadScenario('dse'), runner: 'synthetic' };
    const total = expandPoints(dse).length;

    const clean = tmp();
    const full = await runSweep(dse, { outDir: clean, workers: 1 });
    expect(full.ran.length).toBe(total);
    const cleanBytes = serializeResults(buildResults(dse, full));

    const out = tmp();
    const ac = new AbortController();
    const k = Math.floor(total / 3);
    const first = startSweep(dse, { outDir: out, workers: 2, signal: ac.signal });
    first.progress$.subscribe((p) => {
      if (p.done >= k) ac.abort();
    });
    await expect(first.done).rejects.toThrow(/abort/i);
    const onDisk = pointFiles(out);
    expect(onDisk.length).toBeGreaterThanOrEqual(k);
    expect(onDisk.length).toBeLessThan(total);
    // nothing half-written is left behind under a final name
    for (const f of onDisk) expect(() => JSON.parse(readFileSync(join(out, 'points', f), 'utf8'))).not.toThrow();

    const second = await runSweep(dse, { outDir: out, workers: 2 });
    expect(second.cached).toBe(onDisk.length);
    expect(second.ran.length).toBe(total - onDisk.length);
    expect(second.ran.some((h) => onDisk.includes(`${h}.json`))).toBe(false);
    expect(serializeResults(buildResults(dse, second))).toBe(cleanBytes);

    // and a repeated run is served from disk entirely
    const third = await runSweep(dse, { outDir: out, workers: 2 });
    expect(third.ran).toEqual([]);
    expect(serializeResults(buildResults(dse, third))).toBe(cleanBytes);
  });

  it('1 worker, 2 workers and in-thread give identical results', async () => {
    const runs = await Promise.all([0, 1, 2].map((w) => runSweep(SMALL, { outDir: tmp(), workers: w })));
    const bytes = runs.map((r) => serializeResults(buildResults(SMALL, r)));
    expect(bytes[1]).toBe(bytes[0]);
    expect(bytes[2]).toBe(bytes[0]);
    expect(runs[0].results.map((r) => r.index)).toEqual(expandPoints(SMALL).map((p) => p.index));
  });

  it('a corrupt or foreign point file is re-run; a stray temp file is ignored', async () => {
    const out = tmp();
    const points = expandPoints(SMALL);
    const a = await runSweep(SMALL, { outDir: out, workers: 1 });
    writeFileSync(pointFile(out, points[0].configHash), '{"configHash": "trunc');
    writeFileSync(pointFile(out, points[1].configHash), JSON.stringify({ configHash: points[2].configHash, metrics: {} }));
    writeFileSync(`${pointFile(out, points[3].configHash)}.999.1.tmp`, '{');
    const b = await runSweep(SMALL, { outDir: out, workers: 1 });
    expect([...b.ran].sort()).toEqual([points[0].configHash, points[1].configHash].sort());
    expect(serializeResults(buildResults(SMALL, b))).toBe(serializeResults(buildResults(SMALL, a)));
  });

  it('progress goes from the cached count to the total', async () => {
    const out = tmp();
    const seen: number[] = [];
    const s = startSweep(SMALL, { outDir: out, workers: 2 });
    s.progress$.subscribe((p) => seen.push(p.done));
    await s.done;
    const total = expandPoints(SMALL).length;
    expect(seen[0]).toBe(0);
    expect(seen[seen.length - 1]).toBe(total);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  it('a runner error names the point', async () => {
    const out = tmp();
    const runner = join(out, 'bad-runner.mts');
    writeFileSync(runner, "export function runPoint(c: { network: string }) { if (c.network === 'fmnist-dwsep') throw new Error('boom'); return { cycles: 1 }; }\n");
    const s = validateScenario({ ...structuredClone({ name: 'bad', seed: 1, networks: ['fmnist-cnn', 'fmnist-dwsep'], archs: ['edge-npu'], metrics: ['cycles'] }), runner });
    await expect(runSweep(s, { outDir: out, workers: 1 })).rejects.toThrow(/point #1 \(fmnist-dwsep on edge-npu.*boom/);
  });
});
