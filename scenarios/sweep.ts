/**
 * The sweep driver: runs a scenario's points on a worker-thread pool (tinypool) with bounded
 * concurrency (rxjs `mergeMap(…, workers)`), stores each finished point as
 * `<out>/points/<configHash>.json` (temp name + rename: a killed sweep never leaves a half file),
 * and on start loads the points already on disk instead of running them again — so a killed sweep
 * resumes where it stopped and a repeated one is instant.
 *
 * Results are ordered by point index, never by completion, and a point's metrics depend only on
 * its config: the outcome is the same for any worker count and any interruption history.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMPTY, Observable, ReplaySubject, concatMap, defer, from, fromEvent, map, mergeMap, takeUntil } from 'rxjs';
import Tinypool from 'tinypool';
import { ERROR_KINDS, errorOfKind, type ErrorKind } from '../errors/index.js';
import { writeFileAtomic } from './files.js';
import { type PointMetrics, type PointRunnerModule, runnerModuleUrl } from './runners.js';
import { codeVersion, expandPoints } from './points.js';
import { inShard, type Shard } from './shard.js';
import type { Point, Scenario } from './scenario.js';

export interface SweepOptions {
  /** output folder; points go to `<outDir>/points/` */
  readonly outDir: string;
  /**
   * worker threads (default: available parallelism, at most the points to run);
   * 0 runs the points in this thread (debugging; no isolation)
   */
  readonly workers?: number;
  /** aborting stops scheduling, cancels points in flight and rejects `done` with an AbortError */
  readonly signal?: AbortSignal;
  /** run only this shard's points (shard.ts); the other points' results stay empty */
  readonly shard?: Shard;
  /** these points instead of the scenario's grid (a search's generation: index = position) */
  readonly points?: readonly Point[];
}

export interface SweepProgress {
  /** points finished, cached ones included */
  readonly done: number;
  readonly total: number;
  /** points found on disk at start */
  readonly cached: number;
}

export interface PointResult {
  readonly index: number;
  readonly configHash: string;
  readonly metrics: PointMetrics;
}

export interface SweepOutcome {
  readonly points: readonly Point[];
  /** one per point, by index (a shard's sweep: its own points only, the others empty) */
  readonly results: readonly PointResult[];
  /** hashes of the points this call ran (not loaded from disk), in completion order */
  readonly ran: readonly string[];
  readonly cached: number;
}

export interface Sweep {
  /** {done, total} after the cache is read and after each point; completes when the sweep ends */
  readonly progress$: Observable<SweepProgress>;
  readonly done: Promise<SweepOutcome>;
}

/** What a point file holds: the config with its hash, so a file is self-describing. */
export interface PointFile {
  configHash: string;
  codeVersion: string;
  config: Point['config'];
  metrics: PointMetrics;
}

export function pointFile(outDir: string, configHash: string): string {
  return join(outDir, 'points', `${configHash}.json`);
}

/** The metrics stored for a point under `outDir`, or undefined (no file, or not this point's). */
export function readPointFile(outDir: string, configHash: string): PointMetrics | undefined {
  const file = pointFile(outDir, configHash);
  if (!existsSync(file)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as PointFile;
    // a file under the right name but with other content (edited, from a bug) is run again
    if (doc.configHash !== configHash || typeof doc.metrics !== 'object' || doc.metrics === null) return undefined;
    return doc.metrics;
  } catch {
    return undefined;
  }
}

/** Stores a finished point as `<outDir>/points/<configHash>.json` (temp + rename). */
export function writePointFile(outDir: string, p: Point, metrics: PointMetrics): void {
  const doc: PointFile = { configHash: p.configHash, codeVersion: codeVersion(), config: p.config, metrics };
  writeFileAtomic(pointFile(outDir, p.configHash), JSON.stringify(doc, null, 1) + '\n');
}

export interface TaskError {
  name: string;
  /** errors/index.ts kind of a QloomError, else null */
  kind?: string | null;
  message: string;
  stack?: string;
}
type TaskReply = { ok: true; metrics: PointMetrics } | { ok: false; error: TaskError };

export function pointError(p: Point, e: TaskError): Error {
  const what = `sweep point #${p.index} (${p.config.network} on ${p.config.archLabel}, ${p.config.ptqLabel}${
    Object.keys(p.config.axes).length ? `, ${Object.entries(p.config.axes).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}` : ''
  }): ${e.message}`;
  // keep the kind the CLI maps to an exit code; anything else stays an Error with its name
  const kind = e.kind ?? undefined;
  const err = kind !== undefined && (ERROR_KINDS as readonly string[]).includes(kind) ? errorOfKind(kind as ErrorKind, what) : Object.assign(new Error(what), { name: e.name });
  if (e.stack) err.stack = `${err.name}: ${what}\n--- in the worker:\n${e.stack}`;
  return err;
}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the sweep was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * The points to run, cut into lanes that run one after another: points sharing a network, data and
 * PTQ settings go in the same lane (in index order), so a runner's per-thread caches (a quantized
 * network, a loaded data set) serve the next point instead of being built again on another thread.
 * A lane holds at most ~1/4 of one worker's share, so one big group cannot leave the other workers
 * idle at the end. Only the schedule changes: results are still placed by point index.
 */
function lanesOf(todo: readonly Point[], workers: number): Point[][] {
  const maxLane = Math.max(1, Math.ceil(todo.length / (workers * 4)));
  const groups = new Map<string, Point[]>();
  for (const p of todo) {
    const c = p.config;
    const key = JSON.stringify([c.network, c.dataset, c.samples, c.seed, c.ptq]);
    const g = groups.get(key);
    if (g) g.push(p);
    else groups.set(key, [p]);
  }
  const lanes: Point[][] = [];
  for (const g of groups.values()) for (let i = 0; i < g.length; i += maxLane) lanes.push(g.slice(i, i + maxLane));
  return lanes;
}

/** Runs points of one runner module: on worker threads, or in the calling thread (`workers` 0). */
export interface PointPool {
  /** the point's metrics; a runner error is re-thrown naming the point, with its kind */
  run(p: Point, signal?: AbortSignal): Promise<PointMetrics>;
  destroy(): Promise<void>;
}

/** The pool behind a local sweep and a queue worker (queue-worker.ts): the same runner either way. */
export function openPointPool(runnerUrl: string, workers: number, { idleTimeoutMs = 1000 }: { idleTimeoutMs?: number } = {}): PointPool {
  const workerFile = fileURLToPath(new URL('./worker.mjs', import.meta.url));
  // isolateWorkers: false — tinypool's default recycles the thread after every task, and a fresh
  // thread pays the tsx registration and runner import again (~40 ms a point). useAtomics: false —
  // spinning idle workers starve busy ones when threads outnumber cores.
  const pool =
    workers > 0
      ? new Tinypool({ filename: workerFile, minThreads: 0, maxThreads: workers, idleTimeout: idleTimeoutMs, isolateWorkers: false, useAtomics: false })
      : undefined;
  let inline: Promise<PointRunnerModule> | undefined;
  return {
    async run(p, signal) {
      if (pool) {
        const reply = (await pool.run({ runnerUrl, config: p.config }, signal ? { signal } : {})) as TaskReply;
        if (!reply.ok) throw pointError(p, reply.error);
        return reply.metrics;
      }
      inline ??= import(runnerUrl) as Promise<PointRunnerModule>;
      try {
        // a plain JSON copy, as a worker would receive: a runner cannot depend on sharing
        return structuredClone(await (await inline).runPoint(p.config));
      } catch (e) {
        throw pointError(p, e instanceof Error ? e : { name: 'Error', message: String(e) });
      }
    },
    async destroy() {
      if (pool) await pool.destroy();
    },
  };
}

export interface SweepPlan {
  /** config hash → the points with that config (a repeated axis value makes several) */
  readonly byHash: ReadonlyMap<string, readonly Point[]>;
  /** one point per config still to run, in index order */
  readonly todo: readonly Point[];
  /** points this sweep covers (all, or the shard's) */
  readonly total: number;
  /** of those, found on disk (their results are filled in) */
  readonly done: number;
}

/** Which points a sweep must run: identical configs are one piece of work, stored ones are loaded into `results`. */
export function planSweep(points: readonly Point[], outDir: string, results: (PointResult | undefined)[], shard?: Shard): SweepPlan {
  const byHash = new Map<string, Point[]>();
  for (const p of points) {
    const list = byHash.get(p.configHash);
    if (list) list.push(p);
    else byHash.set(p.configHash, [p]);
  }
  let done = 0;
  let total = 0;
  const todo: Point[] = [];
  for (const [hash, list] of byHash) {
    if (shard && !inShard(hash, shard)) continue;
    total += list.length;
    const metrics = readPointFile(outDir, hash);
    if (metrics) {
      for (const p of list) results[p.index] = { index: p.index, configHash: hash, metrics };
      done += list.length;
    } else todo.push(list[0]);
  }
  return { byHash, todo, total, done };
}

/**
 * Starts a sweep over every point of `scenario`. Subscribe to `progress$` for a bar; await `done`
 * for the results.
 */
export function startSweep(scenario: Scenario, opts: SweepOptions): Sweep {
  const points = opts.points ?? expandPoints(scenario);
  const runnerUrl = runnerModuleUrl(scenario.runner);
  const results: (PointResult | undefined)[] = new Array(points.length);
  const ran: string[] = [];

  const { byHash, todo, total, done: cached } = planSweep(points, opts.outDir, results, opts.shard);
  let done = cached;
  // replays the latest value even after completion: a late subscriber still sees the final count
  const progress = new ReplaySubject<SweepProgress>(1);
  progress.next({ done, total, cached });

  const requested = opts.workers ?? availableParallelism();
  const workers = Math.max(0, Math.min(Math.floor(requested), todo.length));
  const pool = openPointPool(runnerUrl, workers);
  const runOne = (p: Point): Promise<PointMetrics> => pool.run(p, opts.signal);

  const abort$ = opts.signal ? fromEvent(opts.signal, 'abort') : EMPTY;
  const donePromise = new Promise<SweepOutcome>((resolvePromise, reject) => {
    const finish = async (err?: unknown) => {
      await pool.destroy();
      progress.complete();
      if (err !== undefined) reject(err);
      else if (opts.signal?.aborted) reject(abortError(opts.signal));
      else resolvePromise({ points, results: results as PointResult[], ran, cached });
    };
    if (opts.signal?.aborted) {
      void finish();
      return;
    }
    from(lanesOf(todo, Math.max(1, workers)))
      .pipe(
        mergeMap((lane) => from(lane).pipe(concatMap((p) => defer(() => runOne(p)).pipe(map((metrics) => ({ p, metrics }))))), Math.max(1, workers)),
        takeUntil(abort$),
      )
      .subscribe({
        next: ({ p, metrics }) => {
          if (opts.signal?.aborted) return;
          writePointFile(opts.outDir, p, metrics);
          ran.push(p.configHash);
          for (const q of byHash.get(p.configHash)!) results[q.index] = { index: q.index, configHash: p.configHash, metrics };
          done += byHash.get(p.configHash)!.length;
          progress.next({ done, total, cached });
        },
        error: (e: unknown) => void finish(opts.signal?.aborted ? undefined : e),
        complete: () => void finish(),
      });
  });
  return { progress$: progress.asObservable(), done: donePromise };
}

/** startSweep without progress: resolves with the outcome. */
export function runSweep(scenario: Scenario, opts: SweepOptions): Promise<SweepOutcome> {
  return startSweep(scenario, opts).done;
}
