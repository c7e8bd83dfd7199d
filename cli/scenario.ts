/**
 * `qloom scenario <name|file>`: validate, sweep on the worker pool (resumable), write the report,
 * print the findings (the scenario's question answered pair by pair, then one sentence per
 * network) and the report path; the full table of points with `--table`, or when the scenario
 * declares no findings.
 */
import { join } from 'node:path';
import { deltaCell, type Findings, groupLabel, metricWords, samplesCell } from '../scenarios/findings.js';
import { pointsTable, serializeResults } from '../scenarios/report.js';
import { runScenario, runSearch } from '../scenarios/run-scenario.js';
import { loadScenario, METRICS, type Scenario } from '../scenarios/scenario.js';
import { parseShard, type Shard, shardLabel } from '../scenarios/shard.js';
import { runShard } from '../scenarios/shard-run.js';
import { parseQueueUrl, type QueueTarget } from '../scenarios/queue.js';
import { SCENARIO_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { progress } from './progress.js';
import { table } from './table.js';

const MAX_ROWS = 60;

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(1, 'one scenario name or file');
  const workers = flags.int('workers', { min: 0 });
  let shard: Shard | undefined;
  if (flags.given('shard')) {
    try {
      shard = parseShard(values.shard as string);
    } catch (e) {
      flags.problem((e as Error).message);
    }
    for (const f of ['json', 'table']) if (flags.given(f)) flags.problem(`--${f} shows a whole scenario's results: a shard has a part of them (qloom merge assembles the whole)`);
  }
  let queue: QueueTarget | undefined;
  if (flags.given('queue')) {
    try {
      queue = parseQueueUrl(values.queue as string);
    } catch (e) {
      flags.problem((e as Error).message);
    }
    for (const f of ['shard', 'workers']) if (flags.given(f)) flags.problem(`--${f} and --queue: the queue's workers run the points (qloom worker --concurrency N), not this process`);
  }
  flags.check(SCENARIO_USAGE);
  const scenario = loadScenario(pos[0]);
  if (shard) return runOneShard(scenario, shard, values.out as string | undefined, workers);
  if (scenario.search) return runOneSearch(scenario, values.out as string | undefined, workers, queue);
  const bar = progress(`${scenario.name}`, process.stderr, values.json === true);
  const onNotice = (line: string) => process.stderr.write(`qloom scenario: ${line}\n`);
  const { outDir, outcome, results, report } = await runScenario(scenario, { outDir: values.out as string | undefined, workers, queue, onNotice, onProgress: (p) => bar.update(p.done, p.total) });
  bar.done();
  if (values.json) {
    process.stdout.write(serializeResults(results));
    return;
  }
  if (scenario.description) process.stdout.write(`${scenario.name}: ${scenario.description}\n\n`);
  if (report.findings) process.stdout.write(findingsText(report.findings));
  if (values.table || !report.findings) printTable(results, outDir);
  process.stdout.write(
    `\n${outcome.points.length} points (${outcome.ran.length} run, ${outcome.cached} from ${join(outDir, 'points')}), seed ${scenario.seed}, runner ${scenario.runner}\n`,
  );
  if (report.findings && !values.table) process.stdout.write(`every point: ${join(outDir, 'points.csv')} (or --table)\n`);
  process.stdout.write(`report: ${report.html}\n`);
}

async function runOneShard(scenario: Scenario, shard: Shard, out: string | undefined, workers: number | undefined): Promise<void> {
  const outDir = out ?? join('out', 'scenarios', scenario.name);
  const bar = progress(`${scenario.name} ${shardLabel(shard)}`, process.stderr, false);
  const r = await runShard(scenario, { outDir, shard, workers, onProgress: (p) => bar.update(p.done, p.total) });
  bar.done();
  process.stdout.write(
    `shard ${shardLabel(shard)}: ${r.points} of ${r.outcome.points.length} points (${r.outcome.ran.length} run, ${r.outcome.cached} from ${join(outDir, 'points')})\n` +
      `manifest: ${r.manifest}\nwhen every shard is done: qloom merge <the shards' folders> --out <dir>\n`,
  );
}

async function runOneSearch(scenario: Scenario, out: string | undefined, workers: number | undefined, queue: QueueTarget | undefined): Promise<void> {
  const bar = progress(`${scenario.name} (${scenario.search!.strategy})`, process.stderr, false);
  const onNotice = (line: string) => process.stderr.write(`qloom scenario: ${line}\n`);
  const r = await runSearch(scenario, { outDir: out, workers, queue, onNotice, onGeneration: (n, b) => bar.update(n, b) });
  bar.done();
  const names = Object.keys(scenario.search!.objectives);
  const rows = [...r.result.front]
    .sort((a, b) => r.result.evaluated[a].objectives[0] - r.result.evaluated[b].objectives[0])
    .slice(0, MAX_ROWS)
    .map((i) => {
      const e = r.result.evaluated[i];
      return [e.point.config.network, e.point.config.archLabel, e.point.config.ptqLabel, ...Object.values(e.point.config.axes).map((v) => fmt(v as string | number | boolean | null)), ...names.map((m) => shown(m, e.metrics[m] as number))];
    });
  const axes = scenario.axes.map((a) => a.path);
  process.stdout.write(table(['network', 'arch', 'ptq', ...axes, ...names.map(header)], rows) + '\n');
  process.stdout.write(
    `\n${scenario.search!.strategy}: ${r.result.evaluated.length} of ${r.result.spaceSize} points evaluated in ${r.result.generations} generation${r.result.generations === 1 ? '' : 's'}, ${r.result.front.length} on the front; seed ${scenario.seed}\nfront: ${r.file}\n`,
  );
}

/** The findings as text: per comparison, a row per pair that ran, the pairs that did not, one sentence per network. */
export function findingsText(f: Findings): string {
  const out: string[] = [`${f.question}\n`];
  for (const c of f.comparisons) {
    const cmp = c.comparison;
    out.push(`\n${cmp.label} vs ${cmp.baseline} (${cmp.axis} ${JSON.stringify(cmp.from)} → ${JSON.stringify(cmp.to)}; everything else equal):\n`);
    const ok = c.rows.filter((r) => r.status === 'ok');
    const sampled = f.metrics.filter((m) => ok.some((r) => r.deltas[m]?.samples !== undefined));
    const head = [...cmp.pairBy, ...f.metrics.flatMap((m) => (sampled.includes(m) ? [metricWords(m), 'samples'] : [metricWords(m)]))];
    const rows = ok.map((r) => [
      ...cmp.pairBy.map((d) => fmt(r.group[d] as string | number | boolean | null)),
      ...f.metrics.flatMap((m) => (sampled.includes(m) ? [deltaCell(m, r.deltas[m]), samplesCell(r.deltas[m])] : [deltaCell(m, r.deltas[m])])),
    ]);
    if (rows.length) out.push(table(head, rows) + '\n');
    const bad = c.rows.filter((r) => r.status !== 'ok');
    for (const reason of new Set(bad.map((r) => r.reason))) {
      const which = bad.filter((r) => r.reason === reason);
      // the values every such pair shares (mcu-npu), else each pair named
      const common = cmp.pairBy.filter((d) => new Set(which.map((r) => JSON.stringify(r.group[d]))).size === 1 && d !== 'network');
      const where = common.length ? `on ${groupLabel(Object.fromEntries(common.map((d) => [d, which[0].group[d]])))}` : which.map((r) => groupLabel(r.group)).join('; ');
      out.push(`not run: ${which.length} pair${which.length === 1 ? '' : 's'} ${where} — ${reason}\n`);
    }
    out.push('\n' + c.sentences.map((x) => `• ${x}`).join('\n') + '\n');
  }
  return out.join('');
}

export function printTable(results: Parameters<typeof pointsTable>[0], outDir: string): void {
  const t = pointsTable(results);
  // scalar metrics only (map metrics are in points.csv / the report), in display units
  const cols = t.columns.filter((c) => c !== 'index' && (METRICS[c] === undefined ? !c.includes('.') || !METRICS[c.split('.')[0]] : METRICS[c].shape !== 'map'));
  const idx = cols.map((c) => t.columns.indexOf(c));
  const rows = t.rows.slice(0, MAX_ROWS).map((r) => idx.map((i, j) => shown(cols[j], r[i])));
  process.stdout.write(table(cols.map(header), rows) + '\n');
  if (t.rows.length > MAX_ROWS) process.stdout.write(`… ${t.rows.length - MAX_ROWS} more rows in ${join(outDir, 'points.csv')}\n`);
}

/** metric → how the summary shows it (the CSVs and results.json keep the raw units) */
const DISPLAY: Readonly<Record<string, { header: string; scale: number; digits?: number }>> = {
  accuracy: { header: 'accuracy %', scale: 100, digits: 1 },
  top1: { header: 'top-1 %', scale: 100, digits: 1 },
  agreement: { header: 'agreement %', scale: 100, digits: 1 },
  energyPj: { header: 'energy µJ', scale: 1e-6, digits: 2 },
  paramBytes: { header: 'param KiB', scale: 1 / 1024, digits: 1 },
  latencyS: { header: 'latency ms', scale: 1e3 },
  overflowRate: { header: 'overflow %', scale: 100 },
};

function header(c: string): string {
  return DISPLAY[c]?.header ?? c;
}

function shown(c: string, v: string | number | boolean | null): string | number {
  // a text metric's first clause keeps the table narrow; the whole text is in points.csv / the report
  if (METRICS[c]?.shape === 'text' && typeof v === 'string') return v.split(' (')[0];
  const d = DISPLAY[c];
  if (d && typeof v === 'number') {
    const x = v * d.scale;
    return d.digits !== undefined ? Number(x.toFixed(d.digits)) : Number(x.toPrecision(4));
  }
  return fmt(v);
}

function fmt(c: string | number | boolean | null): string | number {
  if (c === null) return '';
  if (typeof c === 'number') return Number.isInteger(c) ? c : Number(c.toPrecision(4));
  return String(c);
}
