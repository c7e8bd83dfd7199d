/**
 * Sweeps split across machines with no server: `runShard` evaluates one shard's points (shard.ts)
 * into the usual content-addressed point files plus a manifest (`shard-<i>-of-<N>.json`: the
 * scenario as validated and the code version), and `mergeShards` assembles results.json, the CSVs
 * and the report from any set of shard output folders — the same bytes as an unsharded run, since
 * results.json is a function of the scenario and the point metrics only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Problem } from '../arch/errors.js';
import { canonicalJson } from '../arch/validate.js';
import { checkOutputDir, removeStaleTempFiles, writeFileAtomic } from './files.js';
import { codeVersion, expandPoints } from './points.js';
import { buildResults, writeReport, type ResultsDoc, type WrittenReport } from './report.js';
import type { PointMetrics } from './runners.js';
import type { Point, Scenario } from './scenario.js';
import { type Shard, inShard, shardLabel } from './shard.js';
import { type PointResult, readPointFile, startSweep, type SweepOutcome, type SweepProgress, writePointFile } from './sweep.js';

/** What a shard leaves beside its points: enough for `mergeShards` to rebuild the whole scenario. */
export interface ShardManifest {
  readonly shard: Shard;
  readonly codeVersion: string;
  /** the shard's own points (identical configs counted once per index, as in results.json) */
  readonly points: number;
  readonly scenario: Scenario;
}

export function manifestFile(outDir: string, shard: Shard): string {
  return join(outDir, `shard-${shard.index}-of-${shard.count}.json`);
}

export interface ShardRunOptions {
  readonly outDir: string;
  readonly shard: Shard;
  readonly workers?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: SweepProgress) => void;
}

export interface ShardRun {
  readonly outcome: SweepOutcome;
  readonly manifest: string;
  /** points of this shard */
  readonly points: number;
}

/** Runs one shard of a validated scenario on the local pool; resumable like a whole sweep. */
export async function runShard(s: Scenario, opts: ShardRunOptions): Promise<ShardRun> {
  checkOutputDir(opts.outDir);
  removeStaleTempFiles(join(opts.outDir, 'points'));
  const sweep = startSweep(s, { outDir: opts.outDir, workers: opts.workers, signal: opts.signal, shard: opts.shard });
  if (opts.onProgress) sweep.progress$.subscribe(opts.onProgress);
  const outcome = await sweep.done;
  const points = outcome.points.filter((p) => inShard(p.configHash, opts.shard)).length;
  const manifest: ShardManifest = { shard: opts.shard, codeVersion: codeVersion(), points, scenario: s };
  const file = manifestFile(opts.outDir, opts.shard);
  writeFileAtomic(file, JSON.stringify(manifest, null, 1) + '\n');
  return { outcome, manifest: file, points };
}

/** A scenario output folder as merge sees it: the scenario and code version it was run with. */
interface Source {
  readonly dir: string;
  readonly scenario: Scenario;
  readonly codeVersion: string;
  readonly shard?: Shard;
  readonly file: string;
}

function sourcesOf(dir: string, problems: Problem[]): Source[] {
  if (!existsSync(dir)) {
    problems.push({ path: dir, message: 'no such folder' });
    return [];
  }
  const out: Source[] = [];
  const files = readdirSync(dir).filter((f) => /^shard-\d+-of-\d+\.json$/.test(f) || f === 'results.json');
  for (const f of files.sort()) {
    const file = join(dir, f);
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<ShardManifest & ResultsDoc>;
      const scenario = f === 'results.json' ? doc.config : doc.scenario;
      if (typeof scenario !== 'object' || scenario === null || typeof doc.codeVersion !== 'string') throw new Error('not a qloom shard manifest or results.json');
      out.push({ dir, scenario, codeVersion: doc.codeVersion, shard: doc.shard, file });
    } catch (e) {
      problems.push({ path: file, message: e instanceof SyntaxError ? `not JSON (${e.message})` : (e as Error).message });
    }
  }
  if (files.length === 0) problems.push({ path: dir, message: 'holds no shard-<i>-of-<N>.json or results.json: not the output of qloom scenario' });
  return out;
}

function pointLabel(p: Point): string {
  const axes = Object.entries(p.config.axes).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `#${p.index} (${[p.config.network, p.config.archLabel, p.config.ptqLabel, ...axes].join(', ')})`;
}

export interface MergeOptions {
  readonly outDir: string;
}

export interface Merged {
  readonly results: ResultsDoc;
  readonly report: WrittenReport;
  /** folders that contributed at least one point */
  readonly used: readonly string[];
}

/**
 * Assembles the whole scenario from shard (or whole-run) output folders into `outDir`: the point
 * files are copied to `<outDir>/points/` (so the merged folder resumes like any sweep), then
 * results.json, CSVs, plots and report.html are written. Refused — a ConfigError naming every
 * missing point, by shard — when any point is in none of the folders, or when the folders disagree
 * on the scenario or were run by other code.
 */
export async function mergeShards(dirs: readonly string[], opts: MergeOptions): Promise<Merged> {
  const problems: Problem[] = [];
  const sources = dirs.flatMap((d) => sourcesOf(d, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  const first = sources[0];
  const key = canonicalJson(first.scenario);
  for (const s of sources) {
    if (canonicalJson(s.scenario) !== key) problems.push({ path: s.file, message: `another scenario than ${first.file} (name "${s.scenario.name}" vs "${first.scenario.name}", or other settings)` });
    if (s.codeVersion !== codeVersion()) problems.push({ path: s.file, message: `run by code version ${s.codeVersion}, this qloom is ${codeVersion()}: merge with the qloom that ran the shards` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const scenario = first.scenario;
  checkOutputDir(opts.outDir);

  const points = expandPoints(scenario);
  const found = new Map<string, PointMetrics>();
  const used = new Set<string>();
  const missing: Point[] = [];
  for (const p of points) {
    if (found.has(p.configHash)) continue;
    let m: PointMetrics | undefined;
    for (const d of dirs) {
      m = readPointFile(d, p.configHash);
      if (m) {
        used.add(d);
        break;
      }
    }
    if (m) found.set(p.configHash, m);
    else missing.push(p);
  }
  if (missing.length > 0) {
    // named by the shard that owns them under each shard count the folders were run with
    const counts = [...new Set(sources.flatMap((s) => (s.shard ? [s.shard.count] : [])))];
    const groups = new Map<string, Point[]>();
    for (const p of missing) {
      const owner = counts.map((n) => shardLabel({ index: (parseInt(p.configHash.slice(0, 12), 16) % n) + 1, count: n })).join(' or ') || 'no shard';
      groups.set(owner, [...(groups.get(owner) ?? []), p]);
    }
    for (const [owner, list] of groups) {
      const shown = list.slice(0, 5).map(pointLabel).join('; ');
      problems.push({ path: `shard ${owner}`, message: `${list.length} point${list.length === 1 ? '' : 's'} missing: ${shown}${list.length > 5 ? `; … ${list.length - 5} more` : ''}` });
    }
    throw new ConfigError([{ path: '', message: `${missing.length} of ${points.length} points are in none of ${dirs.join(', ')} — run the shards below and merge again` }, ...problems]);
  }

  const results: PointResult[] = points.map((p) => ({ index: p.index, configHash: p.configHash, metrics: found.get(p.configHash)! }));
  removeStaleTempFiles(join(opts.outDir, 'points'));
  const written = new Set<string>();
  for (const p of points) {
    if (written.has(p.configHash)) continue;
    written.add(p.configHash);
    if (!readPointFile(opts.outDir, p.configHash)) writePointFile(opts.outDir, p, found.get(p.configHash)!);
  }
  const doc = buildResults(scenario, { points, results, ran: [], cached: points.length });
  const report = await writeReport(doc, opts.outDir);
  return { results: doc, report, used: dirs.filter((d) => used.has(d)) };
}
