/**
 * A sweep on the Redis job queue (`qloom scenario <s> --queue redis://…`): one BullMQ job per
 * point still missing from `<out>/points/`, its job id the config hash — so enqueueing the same
 * points twice, from a resumed run or a second producer, adds nothing — then it follows the
 * queue until every point's metrics came back, storing each as the usual point file. Workers
 * (queue-worker.ts) return the metrics as the job's result: they need no shared folder, and the
 * finished points are kept in Redis (the jobs are not removed) for any later producer.
 *
 * Nothing is lost and nothing counts twice: a point counts when its metrics are first stored here,
 * by hash; a stalled job (its worker killed) goes back to the queue by BullMQ's stall check; and
 * after Redis went away and came back — perhaps empty, without persistence — the producer asks for
 * each outstanding job and enqueues again those Redis no longer holds. Results are placed by point
 * index as in a local sweep, so results.json is byte-identical to one.
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { ReplaySubject } from 'rxjs';
import { errorOfKind, ResourceError, type ErrorKind, ERROR_KINDS } from '../errors/index.js';
import { codeVersion, expandPoints } from './points.js';
import { type JobData, type JobResult, KEY_PREFIX, listWorkers, probeRedis, type QueueTarget, queueName, readPointFailure, redisProblem } from './queue.js';
import type { PointMetrics } from './runners.js';
import type { Point, Scenario } from './scenario.js';
import { abortError, planSweep, type PointResult, type Sweep, type SweepOutcome, type SweepProgress, writePointFile } from './sweep.js';

export interface QueueSweepOptions {
  readonly outDir: string;
  readonly queue: QueueTarget;
  readonly signal?: AbortSignal;
  /** a line for each event worth telling: Redis lost and back, no worker on this code version, a point retried */
  readonly onNotice?: (line: string) => void;
  /** how long Redis may stay unreachable before the sweep gives up (default 120 s) */
  readonly outageLimitMs?: number;
  /** these points instead of the scenario's grid (a search's generation: index = position) */
  readonly points?: readonly Point[];
  /** how often to look at the workers and, after a quiet spell, at the jobs themselves (default 5 s) */
  readonly checkMs?: number;
}

/** a point the queue failed for a reason of its own (not the runner's) is enqueued again at most this often */
const MAX_QUEUE_RETRIES = 5;
const CHUNK = 500;

/** Starts a queue sweep over every point of `scenario`; the same interface as a local sweep. */
export function startQueueSweep(scenario: Scenario, opts: QueueSweepOptions): Sweep {
  const points = opts.points ?? expandPoints(scenario);
  const results: (PointResult | undefined)[] = new Array(points.length);
  const ran: string[] = [];
  const { byHash, todo, total, done: cached } = planSweep(points, opts.outDir, results);
  let done = cached;
  const pending = new Map<string, Point>(todo.map((p) => [p.configHash, p]));
  const progress = new ReplaySubject<SweepProgress>(1);
  progress.next({ done, total, cached });
  const notice = opts.onNotice ?? (() => {});
  const outageLimitMs = opts.outageLimitMs ?? 120_000;
  const checkMs = opts.checkMs ?? 5000;
  const name = queueName();
  const where = opts.queue.display;

  const donePromise = new Promise<SweepOutcome>((resolvePromise, reject) => {
    let finished = false;
    let client: Redis | undefined;
    let queue: Queue<JobData, JobResult> | undefined;
    let events: QueueEvents | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => void finish(abortError(opts.signal!));

    const finish = async (err?: unknown): Promise<void> => {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // closing must not wait for a Redis that is gone
      const closing = Promise.allSettled([events?.close(), queue?.close()]);
      await Promise.race([closing, new Promise((r) => setTimeout(r, 2000).unref())]);
      events?.disconnect().catch(() => {});
      queue?.disconnect().catch(() => {});
      client?.disconnect();
      progress.complete();
      if (err !== undefined) reject(err);
      else resolvePromise({ points, results: results as PointResult[], ran, cached });
    };
    if (pending.size === 0) {
      void finish();
      return;
    }
    if (opts.signal?.aborted) {
      void finish(abortError(opts.signal));
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const accept = (hash: string, metrics: PointMetrics): void => {
      const p = pending.get(hash);
      if (!p || finished) return;
      // a job seen completed without its result (Redis restarted under a finishing worker): run it again
      if (metrics === null || typeof metrics !== 'object') {
        lost(hash, p);
        return;
      }
      pending.delete(hash);
      writePointFile(opts.outDir, p, metrics);
      ran.push(hash);
      for (const q of byHash.get(hash)!) results[q.index] = { index: q.index, configHash: hash, metrics };
      done += byHash.get(hash)!.length;
      progress.next({ done, total, cached });
      if (pending.size === 0) void finish();
    };

    const retries = new Map<string, number>();
    const lost = (hash: string, p: Point): void => {
      const n = (retries.get(hash) ?? 0) + 1;
      retries.set(hash, n);
      if (n > MAX_QUEUE_RETRIES) {
        void finish(new ResourceError(`point #${p.index} completed in the queue without a result ${MAX_QUEUE_RETRIES} times; the finished points are in ${opts.outDir}/points — run again to resume`));
        return;
      }
      notice(`point #${p.index} completed in the queue without its result (Redis restarted under it?): enqueued again`);
      void queue!
        .getJob(hash)
        .then(async (job) => {
          if (job) await job.remove();
          await enqueue([p]);
        })
        .catch(() => {}); // Redis gone: the check after it is back enqueues it
    };
    const failed = (hash: string, reason: string | undefined): void => {
      const p = pending.get(hash);
      if (!p || finished) return;
      const e = readPointFailure(reason);
      if (e) {
        // the runner's own error, with its kind: the sweep stops as a local one would
        const kind = e.kind !== null && (ERROR_KINDS as readonly string[]).includes(e.kind) ? (e.kind as ErrorKind) : undefined;
        void finish(kind ? errorOfKind(kind, e.message) : Object.assign(new Error(e.message), { name: e.name }));
        return;
      }
      const n = (retries.get(hash) ?? 0) + 1;
      retries.set(hash, n);
      if (n > MAX_QUEUE_RETRIES) {
        void finish(new ResourceError(`point #${p.index} failed in the queue ${MAX_QUEUE_RETRIES} times (last: ${reason ?? 'no reason given'}); the finished points are in ${opts.outDir}/points — run again to resume`));
        return;
      }
      notice(`point #${p.index} failed in the queue (${reason ?? 'no reason given'}): enqueued again`);
      void queue!
        .getJob(hash)
        .then((job) => (job ? job.retry('failed') : enqueue([p])))
        .catch(() => {}); // Redis gone: the check after it is back enqueues it
    };

    const enqueue = async (list: readonly Point[]): Promise<void> => {
      for (let i = 0; i < list.length; i += CHUNK) {
        const chunk = list.slice(i, i + CHUNK).filter((p) => pending.has(p.configHash));
        await queue!.addBulk(
          chunk.map((p) => ({
            name: 'point',
            data: { config: p.config, codeVersion: codeVersion(), index: p.index },
            opts: { jobId: p.configHash, removeOnComplete: false, removeOnFail: false, attempts: 1 },
          })),
        );
      }
    };

    // ask for each outstanding job: completed ones (before we listened, or while events were lost)
    // are taken, failed ones handled, missing ones (Redis came back empty) enqueued again
    let checking: Promise<void> | undefined;
    let lastNews = Date.now();
    const reconcile = (): Promise<void> =>
      (checking ??= (async () => {
        try {
          const missing: Point[] = [];
          const hashes = [...pending.keys()];
          for (let i = 0; i < hashes.length && !finished; i += CHUNK) {
            const jobs = await Promise.all(hashes.slice(i, i + CHUNK).map((h) => queue!.getJob(h)));
            const states = await Promise.all(jobs.map((j) => (j ? j.getState() : Promise.resolve('missing'))));
            jobs.forEach((job, k) => {
              const hash = hashes[i + k];
              if (!job) missing.push(pending.get(hash)!);
              else if (states[k] === 'completed') accept(hash, job.returnvalue);
              else if (states[k] === 'failed') failed(hash, job.failedReason);
            });
          }
          if (missing.length > 0 && !finished) await enqueue(missing);
          lastNews = Date.now();
        } finally {
          checking = undefined;
        }
      })());

    let downSince: number | undefined;
    let workersNote = '';
    let lookingAtWorkers = false;
    const checkWorkers = async (): Promise<void> => {
      // one look at a time: two overlapping ones would both tell the same news
      if (lookingAtWorkers) return;
      lookingAtWorkers = true;
      const all = await listWorkers(client!).finally(() => (lookingAtWorkers = false));
      const ours = all.filter((w) => w.codeVersion === codeVersion());
      let note: string;
      if (ours.length > 0) note = workersNote === '' ? '' : `${ours.length} worker${ours.length === 1 ? '' : 's'} on this code version: points are being taken`;
      else {
        const others = all.map((w) => `${w.host}:${w.pid} runs ${w.codeVersion}`);
        note =
          `no worker runs this code version (${codeVersion()}) — start one where the same qloom is installed: qloom worker --queue ${where}` +
          (others.length ? `; connected workers run other code and take only their own version's points: ${others.join(', ')}` : '');
      }
      if (note !== '' && note !== workersNote) notice(note);
      workersNote = ours.length > 0 ? '' : note;
    };

    void (async () => {
      try {
        await probeRedis(opts.queue);
        const connection = { ...opts.queue.options, enableAutoPipelining: true, retryStrategy: (n: number) => Math.min(100 * n, 1000) };
        client = new Redis({ ...connection, maxRetriesPerRequest: null });
        client.on('error', (e: unknown) => {
          if (downSince !== undefined || finished) return;
          downSince = Date.now();
          notice(`Redis at ${where} went away (${redisProblem(e)}); waiting up to ${outageLimitMs / 1000} s for it — the ${done - cached} points stored so far stay in ${opts.outDir}/points`);
        });
        client.on('ready', () => {
          if (downSince === undefined || finished) return;
          notice(`Redis at ${where} is back after ${((Date.now() - downSince) / 1000).toFixed(1)} s: checking which of the ${pending.size} outstanding points it still holds`);
          downSince = undefined;
          reconcile().catch(() => {});
        });
        queue = new Queue<JobData, JobResult>(name, { connection: { ...connection, maxRetriesPerRequest: null }, prefix: KEY_PREFIX });
        queue.on('error', () => {}); // the client above reports the outage once
        events = new QueueEvents(name, { connection, prefix: KEY_PREFIX });
        events.on('error', () => {});
        events.on('completed', ({ jobId, returnvalue }) => {
          lastNews = Date.now();
          accept(jobId, (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as PointMetrics);
        });
        events.on('failed', ({ jobId, failedReason }) => {
          lastNews = Date.now();
          failed(jobId, failedReason);
        });
        await events.waitUntilReady();
        if (finished) return;
        await enqueue([...pending.values()]);
        await reconcile();
        await checkWorkers();
        timer = setInterval(() => {
          if (finished) return;
          if (downSince !== undefined) {
            if (Date.now() - downSince > outageLimitMs) {
              void finish(new ResourceError(`Redis at ${where} unreachable for ${outageLimitMs / 1000} s; the ${done - cached} points stored are in ${opts.outDir}/points — run the same command again to resume`));
            }
            return;
          }
          checkWorkers().catch(() => {});
          if (Date.now() - lastNews > checkMs) reconcile().catch(() => {});
        }, Math.min(1000, checkMs));
      } catch (e) {
        void finish(e instanceof ResourceError ? e : new ResourceError(`Redis at ${where}: ${redisProblem(e)}`));
      }
    })();
  });
  return { progress$: progress.asObservable(), done: donePromise };
}
