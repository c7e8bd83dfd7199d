/**
 * The Redis job queue end to end: a real `redis-server` (Debian package) on a free loopback port,
 * without persistence; a producer (`qloom scenario --queue`) and three `qloom worker` processes.
 * One worker is SIGKILLed in the middle of a point (its job stalls and goes back to the queue), and
 * Redis is restarted — empty — while points are in flight; results.json still equals a local
 * sweep's byte for byte. The space is the built-in dse's on one network (108 timing-only points):
 * the whole 324-point dse, where each worker calibrates mobilenetv2 for 17 s, would take minutes
 * (bench/queue.ts runs its 324 points through the queue on the synthetic stand-in).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { codeVersion } from '../../scenarios/points.js';
import { KEY_PREFIX, queueName, WORKERS_KEY } from '../../scenarios/queue.js';
import { runScenario } from '../../scenarios/run-scenario.js';
import { ROOT } from '../helpers/cli.js';
import { freePort, redisArgs } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-queue-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Proc {
  readonly child: ChildProcess;
  out: string;
  readonly exit: Promise<number | null>;
}

function start(cmd: string, args: readonly string[]): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const p: Proc = { child, out: '', exit: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stdout!.on('data', (b: Buffer) => (p.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (p.out += b.toString()));
  procs.push(p);
  return p;
}

const qloom = (...args: string[]) => start('node', [join(ROOT, 'cli/qloom.js'), ...args]);

/** every process's output so far, for a failure message */
const outputs = (): string => children.map((c, i) => `--- process ${i} (${c.spawnargs.slice(1, 4).join(' ')}):\n${procs[i]?.out ?? ''}`).join('\n');
const procs: Proc[] = [];

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${outputs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function redisServer(port: number): Promise<Proc> {
  const p = start('redis-server', redisArgs(port, dir));
  await until('redis-server to accept connections (Debian package redis-server)', () => /Ready to accept connections/.test(p.out), 20_000);
  return p;
}

const pointFiles = (out: string) => (existsSync(join(out, 'points')) ? readdirSync(join(out, 'points')).filter((f) => f.endsWith('.json')).length : 0);

describe('qloom scenario --queue and qloom worker', () => {
  it('a worker killed mid-point and a Redis restarted empty mid-sweep: results.json equals the local run byte for byte', async () => {
    const file = join(dir, 'dse-cnn.yaml');
    const dse = readFileSync(join(ROOT, 'scenarios/builtin/dse.yaml'), 'utf8');
    writeFileSync(file, dse.replace(/^networks: .*$/m, 'networks: [fmnist-cnn]').replace(/^name: dse$/m, 'name: dse-cnn'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let redis = await redisServer(port);
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
    client.on('error', () => {});
    const queue = new Queue(queueName(codeVersion()), { connection: client, prefix: KEY_PREFIX });
    queue.on('error', () => {});
    const out = join(dir, 'queued');
    // all at once: the code version is fingerprinted when each process starts
    const producer = qloom('scenario', file, '--queue', url, '--out', out);
    const workers = [0, 1, 2].map(() => qloom('worker', '--queue', url, '--stall-timeout', '1'));

    // SIGKILL a worker holding a point: its first point loads and calibrates the network (seconds)
    let holder = '';
    await until('a worker to take a point', async () => {
      holder = (await queue.getActive())[0]?.processedBy ?? '';
      return holder !== '';
    });
    const victim = workers.find((w) => holder.endsWith(`:${w.child.pid}`))!;
    expect(pointFiles(out)).toBe(0);
    victim.child.kill('SIGKILL');
    const alive = workers.filter((w) => w !== victim);
    await until("the killed worker's point to be put back", () => alive.some((w) => /stalled \(its worker died or hung\): back in the queue/.test(w.out)));

    // Redis goes away while points are in flight, and comes back empty
    const before = pointFiles(out);
    redis.child.kill('SIGTERM');
    await redis.exit;
    await new Promise((r) => setTimeout(r, 1000));
    redis = await redisServer(port);

    const code = await producer.exit;
    expect(code, producer.out).toBe(0);
    expect(producer.out).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ went away/);
    expect(producer.out).toMatch(/is back after [\d.]+ s: checking which of the \d+ outstanding points it still holds/);
    // the local reference, in this process (the same code version, fingerprinted at the start)
    const local = await runScenario(file, { outDir: join(dir, 'local'), workers: 0 });
    const total = local.outcome.points.length;
    expect(total).toBe(108);
    expect(before).toBeLessThan(total);
    expect(producer.out).toContain(`${total} points (${total} run, 0 from`);
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(readFileSync(join(local.outDir, 'results.json'), 'utf8'));
    expect(pointFiles(out)).toBe(total);

    for (const w of alive) w.child.kill('SIGTERM');
    for (const w of alive) expect(await w.exit, w.out).toBe(0);
    expect(alive.map((w) => w.out).join('')).toMatch(/stopped after \d+ points?/);
    await queue.close();
    client.disconnect();
    redis.child.kill('SIGTERM');
    await redis.exit;
  }, 240_000);

  it('says so when no worker runs the producer\'s code version, naming the connected ones; an idle worker names the queues of other versions that wait', async () => {
    const port = await freePort();
    const redis = await redisServer(port);
    const client = new Redis({ port, host: '127.0.0.1' });
    await client.set(`${WORKERS_KEY}elsewhere:42`, JSON.stringify({ host: 'elsewhere', pid: 42, codeVersion: 'qloom@0.0.9/0123456789abcdef', concurrency: 4 }), 'PX', 60_000);
    const file = join(dir, 'tiny.json');
    writeFileSync(file, JSON.stringify({ name: 'tiny', seed: 1, runner: 'synthetic', networks: ['fmnist-cnn'], archs: ['edge-npu'], metrics: ['cycles'] }));
    const p = qloom('scenario', file, '--queue', `redis://127.0.0.1:${port}`, '--out', join(dir, 'tiny'));
    await until('the no-worker notice', () => /no worker runs this code version/.test(p.out), 60_000);
    expect(p.out).toContain(`start one where the same qloom is installed: qloom worker --queue redis://127.0.0.1:${port}`);
    expect(p.out).toContain('elsewhere:42 runs qloom@0.0.9/0123456789abcdef');
    p.child.kill('SIGTERM');
    await p.exit;
    // and the other way round: points of another version wait, and an idle worker says so
    const other = new Queue('points.qloom@0.0.9_0123456789abcdef', { connection: client, prefix: KEY_PREFIX });
    await other.add('point', {}, { jobId: 'abc' });
    const w = qloom('worker', '--queue', `redis://127.0.0.1:${port}`);
    await until("the worker's notice", () => /points wait in queues of other code versions/.test(w.out), 60_000);
    expect(w.out).toContain(`points.qloom@0.0.9_0123456789abcdef: 1); this worker (${codeVersion()}) takes only ${queueName(codeVersion())}`);
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    await other.close();
    client.disconnect();
    redis.child.kill('SIGTERM');
    await redis.exit;
  }, 90_000);

  it('an unreachable Redis fails at once, in words; a bad URL is a usage error', async () => {
    const port = await freePort();
    const p = qloom('scenario', 'dse', '--queue', `redis://127.0.0.1:${port}/2`, '--out', join(dir, 'none'));
    expect(await p.exit).toBe(1);
    expect(p.out).toContain(`cannot use Redis at redis://127.0.0.1:${port}/2: connection refused (ECONNREFUSED)`);
    const w = qloom('worker', '--queue', 'redis://127.0.0.1:1/x', '--concurrency', '0');
    expect(await w.exit).toBe(2);
    expect(w.out).toContain("--queue 'redis://127.0.0.1:1/x': the path must be a database number");
    expect(w.out).toContain('--concurrency must be an integer 1…1024');
  }, 60_000);

  it('a job that completes without a result is run again, and after 5 such runs the sweep stops in words, not with a crash', async () => {
    const port = await freePort();
    const redis = await redisServer(port);
    const connection = { port, host: '127.0.0.1', maxRetriesPerRequest: null };
    // a worker that finishes every point and loses its result (as one finishing while Redis restarts under it)
    const worker = new Worker(queueName(codeVersion()), async () => undefined, { connection, prefix: KEY_PREFIX });
    worker.on('error', () => {});
    const file = join(dir, 'lost.json');
    writeFileSync(file, JSON.stringify({ name: 'lost', seed: 1, runner: 'synthetic', networks: ['fmnist-cnn'], archs: ['edge-npu'], metrics: ['cycles'] }));
    const p = qloom('scenario', file, '--queue', `redis://127.0.0.1:${port}`, '--out', join(dir, 'lost'));
    const code = await p.exit;
    expect(code, p.out).not.toBe(0);
    expect(p.out).toMatch(/point #0 completed in the queue without its result \(Redis restarted under it\?\): enqueued again/);
    expect(p.out).toMatch(/point #0 completed in the queue without a result 5 times; the finished points are in .* run again to resume/);
    expect(p.out).not.toMatch(/internal error|TypeError/);
    await worker.close();
    redis.child.kill('SIGTERM');
    await redis.exit;
  }, 120_000);
});
