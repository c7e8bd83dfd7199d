/**
 * A whole scenario, end to end: validate, sweep on the worker pool (resumable from the point
 * cache), assemble `results.json`, write the report — the library calls behind `qloom scenario`
 * and `qloom report`.
 */
import { dirname, join } from 'node:path';
import { ConfigError } from '../arch/errors.js';
import { checkOutputDir, removeStaleTempFiles, writeFileAtomic } from './files.js';
import { search, searchDoc, type SearchResult } from './search.js';
import { buildResults, readResults, writeReport, type ResultsDoc, type WrittenReport } from './report.js';
import type { QueueTarget } from './queue.js';
import { loadScenario, type Point, type Scenario } from './scenario.js';
import { startSweep, type SweepOutcome, type SweepProgress } from './sweep.js';

export interface ScenarioRunOptions {
  /** default `out/scenarios/<name>` (relative to the working folder) */
  readonly outDir?: string;
  /** worker threads (default: available parallelism); 0 runs the points in this thread */
  readonly workers?: number;
  /** aborting stops scheduling and rejects with an AbortError; finished points stay on disk */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: SweepProgress) => void;
  /** run the points on the Redis job queue (queue-producer.ts) instead of the local pool; `workers` is then unused */
  readonly queue?: QueueTarget;
  /** the queue's news, one line each (Redis lost and back, no worker on this code version) */
  readonly onNotice?: (line: string) => void;
}

export interface ScenarioRun {
  readonly scenario: Scenario;
  readonly outDir: string;
  readonly outcome: SweepOutcome;
  readonly results: ResultsDoc;
  readonly report: WrittenReport;
}

/** Runs a built-in scenario (by name), a YAML / JSON scenario file, or a validated scenario. */
export async function runScenario(scenario: string | Scenario, opts: ScenarioRunOptions = {}): Promise<ScenarioRun> {
  const s = typeof scenario === 'string' ? loadScenario(scenario) : scenario;
  const outDir = opts.outDir ?? join('out', 'scenarios', s.name);
  // a folder that cannot take the points and the report is refused before the sweep; the temp
  // files of an earlier run that was killed are removed (a live run's stay)
  checkOutputDir(outDir);
  removeStaleTempFiles(join(outDir, 'points'));
  const sweep = opts.queue
    ? // bullmq and ioredis load only for a queue run
      (await import('./queue-producer.js')).startQueueSweep(s, { outDir, queue: opts.queue, signal: opts.signal, onNotice: opts.onNotice })
    : startSweep(s, { outDir, workers: opts.workers, signal: opts.signal });
  if (opts.onProgress) sweep.progress$.subscribe(opts.onProgress);
  const outcome = await sweep.done;
  const results = buildResults(s, outcome);
  const report = await writeReport(results, outDir);
  return { scenario: s, outDir, outcome, results, report };
}

/** Re-renders a scenario's CSVs, plots and report.html from its results.json (into `outDir`, default its folder). */
export async function reportFromResults(resultsFile: string, outDir: string = dirname(resultsFile)): Promise<WrittenReport> {
  const doc = readResults(resultsFile);
  checkOutputDir(outDir);
  // the results file itself is only rewritten when the report goes elsewhere
  return writeReport(doc, outDir, { writeResults: outDir !== dirname(resultsFile) });
}

export interface SearchRun {
  readonly scenario: Scenario;
  readonly outDir: string;
  readonly result: SearchResult;
  /** `<outDir>/search.json` */
  readonly file: string;
}

/**
 * Runs a scenario's `search:` (search.ts) a generation at a time on the local pool or the queue;
 * every evaluated point is a point file under `<outDir>/points/`, so a rerun resumes.
 */
export async function runSearch(scenario: string | Scenario, opts: ScenarioRunOptions & { readonly onGeneration?: (evaluated: number, budget: number) => void } = {}): Promise<SearchRun> {
  const s = typeof scenario === 'string' ? loadScenario(scenario) : scenario;
  if (!s.search) throw new ConfigError(`scenario ${s.name} has no search: block`, s.source ?? undefined);
  const outDir = opts.outDir ?? join('out', 'scenarios', s.name);
  checkOutputDir(outDir);
  removeStaleTempFiles(join(outDir, 'points'));
  const producer = opts.queue ? await import('./queue-producer.js') : undefined;
  const evaluate = (points: readonly Point[]) =>
    producer
      ? producer.startQueueSweep(s, { outDir, queue: opts.queue!, signal: opts.signal, onNotice: opts.onNotice, points }).done
      : startSweep(s, { outDir, workers: opts.workers, signal: opts.signal, points }).done;
  const result = await search(s, s.search, evaluate, opts.onGeneration);
  const file = join(outDir, 'search.json');
  writeFileAtomic(file, JSON.stringify(searchDoc(s, result), null, 2) + '\n');
  return { scenario: s, outDir, result, file };
}
