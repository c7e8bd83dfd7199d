/** `qloom scenario <name|file>`: validate, sweep on the worker pool (resumable), write the report. */
import { join } from 'node:path';
import { buildResults, loadScenario, METRICS, pointsTable, serializeResults, startSweep, writeReport } from '../scenarios/index.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { progress } from './progress.js';
import { table } from './table.js';

const MAX_ROWS = 40;

export const scenarioCommand: Command = {
  summary: 'run a scenario sweep (built-in name or YAML/JSON file) and write its report',
  usage: 'qloom scenario <name|file> [--out <dir>] [--workers N] [--json]',
  options: { out: { type: 'string' }, workers: { type: 'string' }, json: { type: 'boolean' } },
  async run(pos, values) {
    if (pos.length !== 1) throw new UsageError('scenario takes exactly one scenario name or file');
    let workers: number | undefined;
    if (values.workers !== undefined) {
      workers = Number(values.workers);
      if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a whole number ≥ 0, got ${String(values.workers)}`);
    }
    const scenario = loadScenario(pos[0]);
    const outDir = (values.out as string | undefined) ?? join('out', 'scenarios', scenario.name);
    const bar = progress(`${scenario.name}`, process.stderr, values.json === true);
    const sweep = startSweep(scenario, { outDir, ...(workers !== undefined ? { workers } : {}) });
    sweep.progress$.subscribe((p) => bar.update(p.done, p.total));
    const outcome = await sweep.done;
    bar.done();
    const doc = buildResults(scenario, outcome);
    const written = await writeReport(doc, outDir);
    if (values.json) {
      process.stdout.write(serializeResults(doc));
      return;
    }
    const t = pointsTable(doc);
    const scalar = t.columns.filter((c) => !c.includes('.') || !METRICS[c.split('.')[0]]);
    const cols = scalar.filter((c) => c !== 'index');
    const idx = cols.map((c) => t.columns.indexOf(c));
    const rows = t.rows.slice(0, MAX_ROWS).map((r) => idx.map((i) => fmt(r[i])));
    process.stdout.write(table(cols, rows) + '\n');
    if (t.rows.length > MAX_ROWS) process.stdout.write(`… ${t.rows.length - MAX_ROWS} more rows in ${join(outDir, 'points.csv')}\n`);
    process.stdout.write(
      `\n${outcome.points.length} points (${outcome.ran.length} run, ${outcome.cached} from ${join(outDir, 'points')}), seed ${scenario.seed}, runner ${scenario.runner}\n`,
    );
    process.stdout.write(`report: ${written.html}\n`);
  },
};

function fmt(c: string | number | boolean | null): string | number {
  if (c === null) return '';
  if (typeof c === 'number') return Number.isInteger(c) ? c : Number(c.toPrecision(4));
  return String(c);
}
