/** `qloom scenario <name|file>`: validate, sweep on the worker pool (resumable), write the report, print the summary table. */
import { join } from 'node:path';
import { UsageError } from '../errors/index.js';
import { pointsTable, serializeResults } from '../scenarios/report.js';
import { runScenario } from '../scenarios/run-scenario.js';
import { loadScenario, METRICS } from '../scenarios/scenario.js';
import { progress } from './progress.js';
import { table } from './table.js';

const MAX_ROWS = 60;

export async function run(pos: string[], values: Record<string, unknown>): Promise<void> {
  if (pos.length !== 1) throw new UsageError('scenario takes exactly one scenario name or file');
  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a whole number ≥ 0, got ${String(values.workers)}`);
  }
  const scenario = loadScenario(pos[0]);
  const bar = progress(`${scenario.name}`, process.stderr, values.json === true);
  const { outDir, outcome, results, report } = await runScenario(scenario, { outDir: values.out as string | undefined, workers, onProgress: (p) => bar.update(p.done, p.total) });
  bar.done();
  if (values.json) {
    process.stdout.write(serializeResults(results));
    return;
  }
  const t = pointsTable(results);
  // scalar metrics only (map metrics are in points.csv / the report), in display units
  const cols = t.columns.filter((c) => c !== 'index' && (METRICS[c] === undefined ? !c.includes('.') || !METRICS[c.split('.')[0]] : METRICS[c].shape !== 'map'));
  const idx = cols.map((c) => t.columns.indexOf(c));
  const rows = t.rows.slice(0, MAX_ROWS).map((r) => idx.map((i, j) => shown(cols[j], r[i])));
  if (scenario.description) process.stdout.write(`${scenario.name}: ${scenario.description}\n\n`);
  process.stdout.write(table(cols.map(header), rows) + '\n');
  if (t.rows.length > MAX_ROWS) process.stdout.write(`… ${t.rows.length - MAX_ROWS} more rows in ${join(outDir, 'points.csv')}\n`);
  process.stdout.write(
    `\n${outcome.points.length} points (${outcome.ran.length} run, ${outcome.cached} from ${join(outDir, 'points')}), seed ${scenario.seed}, runner ${scenario.runner}\n`,
  );
  process.stdout.write(`report: ${report.html}\n`);
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
