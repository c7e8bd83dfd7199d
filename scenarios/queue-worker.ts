/**
 * A queue worker (`qloom worker --queue redis://…`): takes points from the queue of its own code
 * version, runs each with the same runner and thread pool as a local sweep (sweep.ts's
 * `openPointPool`), and returns the metrics as the job's result (the producer stores the point
 * file). Any number of workers on any machines; each registers itself (host, pid, code version)
 * under a key that expires unless renewed, so a producer can say who is connected.
 *
 * A worker killed mid-point holds its job's lock until it expires (`stallTimeoutMs`); then another
 * worker's stall check puts the job back in the queue. The points run on worker threads, so this
 * thread stays free to renew the locks of long points.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { codeVersion, configHash } from './points.js';
import { type JobData, type JobResult, KEY_PREFIX, otherVersionsWaiting, type PointFailure, probeRedis, type QueueTarget, queueName, redisProblem, type WorkerInfo, workerKey } from './queue.js';
import { runnerModuleUrl } from './runners.js';
import type { Point } from './scenario.js';
import { openPointPool, type PointPool } from './sweep.js';

export interface QueueWorkerOptions {
  readonly queue: QueueTarget;
  /** points at a time (worker threads) */
  readonly concurrency: number;
  /** how long a job's lock lives without renewal: a killed worker's points return to the queue after this (default 30 s) */
  readonly stallTimeoutMs?: number;
  /** aborting stops taking points; points in flight are left to the stall check */
  readonly signal?: AbortSignal;
  readonly onNotice?: (line: string) => void;
  /** after each point (a count for the caller's display) */
  readonly onPoint?: (hash: string) => void;
}

function failure(name: string, kind: string | null, message: string): UnrecoverableError {
  const doc: PointFailure = { qloomPointError: { name, kind, message } };
  return new UnrecoverableError(JSON.stringify(doc));
}

/** Runs until `signal` aborts; resolves with the number of points this worker finished. */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<number> {
  await probeRedis(opts.queue);
  const notice = opts.onNotice ?? (() => {});
  const where = opts.queue.display;
  const me = `${hostname()}:${process.pid}`;
  const version = codeVersion();
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const pools = new Map<string, PointPool>();
  let finishedPoints = 0;
  /** points in the processor now */
  let busy = 0;

  const connection = { ...opts.queue.options, retryStrategy: (n: number) => Math.min(100 * n, 1000) };
  const worker = new Worker<JobData, JobResult>(
    queueName(version),
    async (job) => {
      const { config, index } = job.data;
      // the queue is per code version, so this only trips on a job written by hand or a hash collision of versions
      if (job.data.codeVersion !== version || configHash(config) !== job.id) {
        throw failure('ConfigError', 'config', `point #${index}: worker ${me} runs code version ${version}, the point was enqueued by ${job.data.codeVersion} (its config hash differs): run workers of the producer's version`);
      }
      const url = runnerModuleUrl(config.runner);
      let pool = pools.get(url);
      // threads live while the worker does: their caches (a calibrated network) serve points that arrive after a pause
      if (!pool) pools.set(url, (pool = openPointPool(url, opts.concurrency, { idleTimeoutMs: 2 ** 31 - 1 })));
      const p: Point = { index, configHash: job.id, config };
      busy++;
      try {
        return await pool.run(p);
      } catch (e) {
        const err = e as Error & { kind?: string };
        throw failure(err.name, typeof err.kind === 'string' ? err.kind : null, `${err.message} (on worker ${me})`);
      } finally {
        busy--;
      }
    },
    {
      connection: { ...connection, maxRetriesPerRequest: null },
      prefix: KEY_PREFIX,
      // a job's processedBy: who holds a point
      name: me,
      concurrency: opts.concurrency,
      lockDuration: stallTimeoutMs,
      stalledInterval: Math.max(500, Math.floor(stallTimeoutMs / 2)),
      // a point whose workers keep dying is retried this often before it fails; the producer enqueues it again then
      maxStalledCount: 5,
      autorun: false,
    },
  );

  let down = false;
  const lost = (e: unknown): void => {
    if (down) return;
    down = true;
    notice(`Redis at ${where} unreachable (${redisProblem(e)}); retrying — points in flight finish, their results may be enqueued again`);
  };
  worker.on('error', lost);
  worker.on('stalled', (jobId: string) => notice(`point ${jobId.slice(0, 12)} stalled (its worker died or hung): back in the queue`));
  worker.on('completed', (job) => {
    finishedPoints++;
    opts.onPoint?.(job.id!);
  });

  // the registry entry: renewed well inside its expiry; a failed renewal (Redis gone) is the outage above
  const registry = new Redis({ ...connection, maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
  registry.on('error', lost);
  registry.on('ready', () => {
    if (!down) return;
    down = false;
    notice(`Redis at ${where} is back`);
  });
  const info: WorkerInfo = { host: hostname(), pid: process.pid, codeVersion: version, concurrency: opts.concurrency };
  // points waiting for another code version while this worker idles: say so (once per change)
  let othersNote = '';
  const lookAtOthers = async (): Promise<void> => {
    if (busy === 0) {
      const others = await otherVersionsWaiting(registry, queueName(version));
      const note = others.length
        ? `points wait in queues of other code versions (${others.map(([q, n]) => `${q}: ${n}`).join(', ')}); this worker (${version}) takes only ${queueName(version)} — run the producer's qloom version here`
        : '';
      if (note !== othersNote && note !== '') notice(note);
      othersNote = note;
    }
  };
  const register = () =>
    registry
      .set(workerKey(), JSON.stringify(info), 'PX', 15_000)
      .then(lookAtOthers)
      .catch(() => {});
  // registered before the first notice: a producer started next sees this worker at once
  await registry.connect().catch(lost);
  await register();
  const heartbeat = setInterval(() => void register(), 5000);
  notice(`worker ${me}: code version ${version}, queue ${queueName(version)} on ${where}, ${opts.concurrency} at a time`);

  const running = worker.run();
  await new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(heartbeat);
  // a Redis that is gone must not hold the exit: closing waits a moment, then the connections are cut
  const settle = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  await settle(worker.close(true));
  await settle(running);
  await settle(registry.del(workerKey()));
  registry.disconnect();
  await settle(worker.disconnect());
  await Promise.all([...pools.values()].map((p) => p.destroy()));
  return finishedPoints;
}
