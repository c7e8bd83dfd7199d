/**
 * Sharded sweeps: `i/N` shards partition the points by config hash, and merging the shards'
 * folders gives the unsharded results.json byte for byte (the real `qloom` runner, timing only);
 * a merge with a shard missing names its points and writes nothing.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../errors/index.js';
import { expandPoints } from '../../../scenarios/points.js';
import { runScenario } from '../../../scenarios/run-scenario.js';
import { validateScenario } from '../../../scenarios/scenario.js';
import { inShard, parseShard } from '../../../scenarios/shard.js';
import { mergeShards, runShard } from '../../../scenarios/shard-run.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'qloom-shard-'));

// timing only (samples 1, no accuracy metric): one simulated inference a point
const SMALL = validateScenario({
  name: 'small-timing',
  seed: 1,
  runner: 'qloom',
  networks: ['fmnist-cnn'],
  ptq: [{ preset: 'w8a8-pc', calibSamples: 64, label: 'w8a8-pc' }],
  archs: ['edge-npu'],
  axes: { 'array.shape': ['8x8', '16x16', '32x32'], 'array.dataflow': ['ws', 'os', 'is'] },
  metrics: ['latencyS', 'energyPj', 'cycles'],
  data: { dataset: 'auto', samples: 1 },
});

describe('shards', () => {
  it('i/N parses 1-based and refuses 0, i > N and other shapes', () => {
    expect(parseShard('2/8')).toEqual({ index: 2, count: 8 });
    for (const bad of ['0/3', '4/3', '1/0', '1', 'a/b', '-1/2', '1/2/3']) expect(() => parseShard(bad)).toThrow(/expected i\/N with 1 ≤ i ≤ N/);
  });

  it('every hash falls in exactly one of N shards', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), fc.integer({ min: 1, max: 1000 }), (hash, n) => {
        let owners = 0;
        for (let i = 1; i <= n; i++) if (inShard(hash, { index: i, count: n })) owners++;
        expect(owners).toBe(1);
      }),
      { numRuns: 50 },
    );
  });

  it('3 shards merged give the unsharded results.json byte for byte; without one, the merge names its points', async () => {
    const whole = await runScenario(SMALL, { outDir: tmp(), workers: 0 });
    const dirs = [tmp(), tmp(), tmp()];
    const runs: Awaited<ReturnType<typeof runShard>>[] = [];
    for (let i = 0; i < 3; i++) runs.push(await runShard(SMALL, { outDir: dirs[i], shard: { index: i + 1, count: 3 }, workers: 0 }));
    // a partition: every point run once, by exactly one shard
    expect(runs.reduce((n, r) => n + r.outcome.ran.length, 0)).toBe(expandPoints(SMALL).length);
    expect(existsSync(join(dirs[1], 'shard-2-of-3.json'))).toBe(true);

    const partial = tmp();
    // which points fall in which shard follows the config hashes, which include the code version:
    // leave out a shard that has points (one of three can be empty for some code versions)
    const drop = runs.findIndex((r) => r.points > 0);
    const err = await mergeShards(dirs.filter((_, i) => i !== drop), { outDir: partial }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const missing = runs[drop].points;
    expect((err as Error).message).toContain(`${missing} of 9 points are in none of`);
    expect((err as Error).message).toMatch(new RegExp(`shard ${drop + 1}/3: ${missing} points? missing: #\\d+ \\(fmnist-cnn, edge-npu, w8a8-pc, array.shape=`));
    expect(existsSync(join(partial, 'results.json'))).toBe(false);

    const out = tmp();
    const merged = await mergeShards(dirs, { outDir: out });
    // an empty shard's folder contributes nothing
    expect(merged.used).toEqual(dirs.filter((_, i) => runs[i].points > 0));
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(readFileSync(join(whole.outDir, 'results.json'), 'utf8'));
    expect(readFileSync(join(out, 'points.csv'), 'utf8')).toBe(readFileSync(join(whole.outDir, 'points.csv'), 'utf8'));
    // the merged folder resumes like a sweep: nothing left to run
    expect((await runScenario(SMALL, { outDir: out, workers: 0 })).outcome.ran).toEqual([]);
  });

  it('folders of another scenario, or no scenario output at all, are refused together', async () => {
    const a = tmp();
    await runShard(SMALL, { outDir: a, shard: { index: 1, count: 2 }, workers: 0 });
    const b = tmp();
    await runShard({ ...SMALL, seed: 2 }, { outDir: b, shard: { index: 2, count: 2 }, workers: 0 });
    const empty = tmp();
    const err = (await mergeShards([a, b, empty], { outDir: tmp() }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('holds no shard-<i>-of-<N>.json or results.json');
    const err2 = (await mergeShards([a, b], { outDir: tmp() }).catch((e: unknown) => e)) as Error;
    expect(err2.message).toContain(`shard-2-of-2.json: another scenario than ${join(a, 'shard-1-of-2.json')}`);
  });
});
