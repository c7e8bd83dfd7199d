/**
 * The Redis job queue's throughput with 1, 2 and 4 local `qloom worker` processes (concurrency 1
 * each), and the per-point costs the "scale on paper" section of scenarios/README.md extrapolates.
 * Each case: a fresh redis-server (no persistence) on a loopback port, the workers started and
 * warmed (they have calibrated the network on a first point), then one producer (in this process)
 * timed from enqueue to the last result; Redis commands per point from INFO's
 * total_commands_processed over the run. Points: timing-only — the built-in dse's axes on
 * fmnist-cnn with the real `qloom` runner (108 points), and the whole 324-point dse on the
 * `synthetic` stand-in (microseconds a point: what the queue itself costs).
 *
 *   npm run bench -- queue        (or: npx tsx bench/queue.ts)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseQueueUrl } from '../scenarios/queue.js';
import { startQueueSweep } from '../scenarios/queue-producer.js';
import { runSweep } from '../scenarios/sweep.js';
import { loadScenario, type Scenario, validateScenario } from '../scenarios/scenario.js';
import { parse } from 'yaml';
import { freePort, redisArgs } from '../test/helpers/redis.js';
import { writeBenchResult } from './common.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'qloom-bench-queue-'));

function spawnUntil(cmd: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const on = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) resolve(c);
    };
    c.stdout!.on('data', on);
    c.stderr!.on('data', on);
    c.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out}`)));
  });
}

function dseOn(networks: string[], runner: string): Scenario {
  const doc = parse(readFileSync(join(root, 'scenarios/builtin/dse.yaml'), 'utf8')) as Record<string, unknown>;
  return validateScenario({ ...doc, networks, runner, name: `dse-${runner}` });
}

interface Case {
  readonly points: number;
  readonly workers: number;
  readonly seconds: number;
  readonly pointsPerSecond: number;
  readonly redisCommandsPerPoint: number;
}

async function queueCase(s: Scenario, workers: number): Promise<Case> {
  const port = await freePort();
  const redis = await spawnUntil('redis-server', redisArgs(port, dir), /Ready to accept/);
  const url = `redis://127.0.0.1:${port}`;
  const procs = await Promise.all(
    Array.from({ length: workers }, () => spawnUntil('node', [join(root, 'cli/qloom.js'), 'worker', '--queue', url], /at a time/)),
  );
  const target = parseQueueUrl(url);
  // warm-up: each worker calibrates the network on its first point; other metrics make other hashes, the same PTQ
  const warm = warmupOf(s);
  // notices on stderr: a worker fingerprinted after a file changed runs another code version and would never take these points
  const onNotice = (line: string) => process.stderr.write(`bench queue: ${line}\n`);
  await startQueueSweep(warm, { outDir: join(dir, `warm-${port}`), queue: target, onNotice }).done;
  const client = new Redis({ port, host: '127.0.0.1' });
  const commands = async () => Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))![1]);
  const c0 = await commands();
  const t0 = performance.now();
  const outcome = await startQueueSweep(s, { outDir: join(dir, `run-${port}`), queue: target, onNotice }).done;
  const seconds = (performance.now() - t0) / 1000;
  const used = (await commands()) - c0 - 1;
  client.disconnect();
  await Promise.all(procs.map((p) => new Promise((r) => (p.once('exit', r), p.kill('SIGTERM')))));
  redis.kill('SIGTERM');
  const points = outcome.ran.length;
  return { points, workers, seconds: Number(seconds.toFixed(2)), pointsPerSecond: Number((points / seconds).toFixed(1)), redisCommandsPerPoint: Number((used / points).toFixed(1)) };
}

/** 12 points of `s` with other hashes (another metric list) and the same calibration */
function warmupOf(s: Scenario): Scenario {
  return { ...s, metrics: ['cycles'], axes: s.axes.map((a, i) => (i < 2 ? a : { ...a, values: [a.values[0]] })) };
}

/** seconds a point in this thread, after a first point has warmed the caches */
async function perPoint(s: Scenario): Promise<number> {
  await runSweep(warmupOf(s), { outDir: join(dir, `pp-warm-${s.name}`), workers: 0 });
  const t0 = performance.now();
  const o = await runSweep(s, { outDir: join(dir, `pp-${s.name}`), workers: 0 });
  return (performance.now() - t0) / 1000 / o.ran.length;
}

export async function main(): Promise<unknown> {
  const real = dseOn(['fmnist-cnn'], 'qloom');
  const synthetic = { ...loadScenario('dse'), runner: 'synthetic' };
  const cases: Record<string, Case[]> = { 'dse on fmnist-cnn, qloom runner, timing only': [], 'dse (324 points), synthetic runner': [] };
  for (const n of [1, 2, 4]) {
    cases['dse on fmnist-cnn, qloom runner, timing only'].push(await queueCase(real, n));
    cases['dse (324 points), synthetic runner'].push(await queueCase(synthetic, n));
  }
  const functional = validateScenario({
    name: 'functional-100', seed: 1, runner: 'qloom', networks: ['fmnist-cnn'], ptq: [{ preset: 'w8a8-pc', calibSamples: 256, label: 'w8a8-pc' }], archs: ['edge-npu'],
    axes: { 'array.shape': ['8x8', '16x16'], 'array.dataflow': ['ws', 'os'] }, metrics: ['accuracy', 'cycles', 'energyPj'], data: { dataset: 'auto', samples: 100 },
  });
  const perPointSeconds = {
    'timing only (fmnist-cnn, in-process, warm)': Number((await perPoint(real)).toPrecision(3)),
    'functional, 100 images (fmnist-cnn, in-process, warm)': Number((await perPoint(functional)).toPrecision(3)),
  };
  const doc = { cpus: cpus().length, loadavg: loadavg().map((x) => Number(x.toFixed(1))), cases, perPointSeconds };
  writeBenchResult(join(root, 'bench/results/queue.json'), JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  return doc;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
