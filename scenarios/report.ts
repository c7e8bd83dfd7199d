/**
 * Scenario reports: `results.json` (the scenario as validated, its seed and code version, every
 * point with its metrics), CSV tables, SVG plots rendered in Node by vega-lite + vega (renderer
 * 'none': no canvas, no browser), and one self-contained `report.html` (plots inline, tables,
 * the exact configuration and seed; no external URL). Every file is written temp + rename.
 *
 * `results.json` is a pure function of the scenario and the point metrics (no times, worker
 * counts or cache flags), so an interrupted-and-resumed sweep writes the same bytes as a clean one,
 * and `qloom report` can re-render everything from it alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ConfigError } from '../arch/errors.js';
import { writeFileAtomic } from './files.js';
import { type Objective, pareto } from './pareto.js';
import { dataSplits, type EvalDatasetName } from './datasets.js';
import { codeVersion } from './points.js';
import { type JsonValue, METRICS, type PlotSpec, type Scenario } from './scenario.js';
import type { SweepOutcome } from './sweep.js';

export interface ResultPoint {
  readonly index: number;
  readonly configHash: string;
  readonly network: string;
  readonly arch: string;
  readonly ptq: string;
  readonly axes: { readonly [path: string]: JsonValue };
  /** what calibrated and what scored (disjoint by construction: scenarios/datasets.ts) */
  readonly splits?: { readonly calibration: string; readonly evaluation: string };
  readonly metrics: { readonly [metric: string]: JsonValue };
}

export interface ResultsDoc {
  readonly scenario: string;
  readonly description: string;
  readonly seed: number;
  readonly runner: string;
  readonly codeVersion: string;
  /** the validated scenario: everything needed to run it again */
  readonly config: Scenario;
  readonly points: readonly ResultPoint[];
}

export function buildResults(scenario: Scenario, outcome: SweepOutcome): ResultsDoc {
  return {
    scenario: scenario.name,
    description: scenario.description,
    seed: scenario.seed,
    runner: scenario.runner,
    codeVersion: codeVersion(),
    config: scenario,
    points: outcome.points.map((p) => ({
      index: p.index,
      configHash: p.configHash,
      network: p.config.network,
      arch: p.config.archLabel,
      ptq: p.config.ptqLabel,
      axes: p.config.axes,
      splits: dataSplits(p.config.dataset as EvalDatasetName),
      metrics: outcome.results[p.index].metrics,
    })),
  };
}

/** The exact bytes of results.json. */
export function serializeResults(doc: ResultsDoc): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

export function readResults(file: string): ResultsDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read results: ${(e as Error).message}`, file);
  }
  const d = doc as Partial<ResultsDoc>;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.points) || typeof d.config !== 'object' || typeof d.scenario !== 'string') {
    throw new ConfigError('not a qloom results.json (expected scenario, config and points)', file);
  }
  return d as ResultsDoc;
}

// ---------------------------------------------------------------------------------------------
// Flat rows: one per point, dimensions then metrics; map metrics become `metric.key` columns

export type Cell = string | number | boolean | null;
export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

function dims(doc: ResultsDoc): string[] {
  return ['network', 'arch', 'ptq', ...doc.config.axes.map((a) => a.path)];
}

/** Rows as objects keyed by field name (dimension, scalar metric or `map.key`). */
export function flatRows(doc: ResultsDoc): Record<string, Cell>[] {
  return doc.points.map((p) => {
    const row: Record<string, Cell> = { index: p.index, network: p.network, arch: p.arch, ptq: p.ptq };
    for (const a of doc.config.axes) {
      const v = p.axes[a.path];
      row[a.path] = typeof v === 'object' && v !== null ? JSON.stringify(v) : (v as Cell);
    }
    for (const m of doc.config.metrics) {
      const v = p.metrics[m];
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) row[`${m}.${k}`] = typeof x === 'object' ? JSON.stringify(x) : (x as Cell);
      } else row[m] = (v ?? null) as Cell;
    }
    return row;
  });
}

function columnsOf(rows: readonly Record<string, Cell>[], first: readonly string[]): string[] {
  const cols = [...first];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols;
}

export function pointsTable(doc: ResultsDoc): Table {
  const rows = flatRows(doc);
  const columns = columnsOf(rows, ['index', ...dims(doc)]);
  return { columns, rows: rows.map((r) => columns.map((c) => r[c] ?? null)) };
}

/** The Pareto front of the scenario's `report.pareto` (per group), or null when it has none. */
export function paretoTable(doc: ResultsDoc): Table | null {
  const spec = doc.config.report.pareto;
  if (!spec) return null;
  const rows = flatRows(doc);
  const groups = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const key = JSON.stringify(spec.groupBy.map((g) => r[g]));
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  const objectives: Objective[] = spec.objectives.map((o) => ({ metric: o.metric, goal: o.goal }));
  const onFront: number[] = [];
  for (const members of groups.values()) {
    const front = pareto(members.map((i) => rows[i]), objectives);
    for (const f of front) onFront.push(members[f]);
  }
  onFront.sort((a, b) => a - b);
  const columns = ['index', ...dims(doc), ...objectives.map((o) => o.metric)];
  return { columns, rows: onFront.map((i) => columns.map((c) => rows[i][c] ?? null)) };
}

function csvCell(c: Cell): string {
  if (c === null) return '';
  const s = String(c);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(t: Table): string {
  return [t.columns, ...t.rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Plots

/** The scenario's plots, or defaults: each scalar metric against the first axis, by network. */
export function plotsOf(doc: ResultsDoc): PlotSpec[] {
  const plots: PlotSpec[] = [...doc.config.report.plots];
  const cfg = doc.config;
  if (plots.length === 0) {
    const x = cfg.axes[0]?.path ?? (cfg.ptq.length > 1 ? 'ptq' : cfg.archs.length > 1 ? 'arch' : 'network');
    const color = x !== 'network' && cfg.networks.length > 1 ? 'network' : (cfg.axes[1]?.path ?? null);
    for (const m of cfg.metrics.filter((name) => METRICS[name]?.shape === 'scalar').slice(0, 6)) {
      plots.push({ title: `${m} vs ${x}`, x, y: m, color, column: null, mark: 'point', xScale: 'linear', yScale: 'linear' });
    }
  }
  const p = cfg.report.pareto;
  if (p && p.objectives.length >= 2) {
    plots.push({
      title: `Pareto front: ${p.objectives[0].metric} vs ${p.objectives[1].metric}`,
      x: p.objectives[0].metric,
      y: p.objectives[1].metric,
      color: 'pareto',
      column: p.groupBy[0] ?? null,
      mark: 'point',
      xScale: 'linear',
      yScale: 'linear',
    });
  }
  return plots;
}

const safeKey = (f: string): string => f.replace(/[^\w]/g, '_');

/** The vega-lite spec of one plot over the flat rows (field names made dot-free: vega-lite reads dots as nesting). */
export function vegaLiteSpec(doc: ResultsDoc, plot: PlotSpec): TopLevelSpec {
  const rows = flatRows(doc);
  if (plot.color === 'pareto') {
    const front = new Set((paretoTable(doc)?.rows ?? []).map((r) => r[0]));
    for (const r of rows) r.pareto = front.has(r.index) ? 'on the front' : 'dominated';
  }
  const used = [plot.x, plot.y, plot.color, plot.column].filter((f): f is string => f !== null);
  const values = rows
    .filter((r) => typeof r[plot.y] === 'number' && (METRICS[plot.x] === undefined || typeof r[plot.x] === 'number'))
    .map((r) => Object.fromEntries(used.map((f) => [safeKey(f), typeof r[f] === 'boolean' ? String(r[f]) : r[f]])));
  const numeric = (f: string) => values.length > 0 && values.every((v) => typeof v[safeKey(f)] === 'number');
  const xType = numeric(plot.x) ? 'quantitative' : 'nominal';
  const enc: Record<string, unknown> = {
    // nominal axes keep the order the values have in the scenario file (points are in index order)
    x: { field: safeKey(plot.x), type: xType, title: plot.x, ...(xType === 'quantitative' ? { scale: plot.xScale === 'log' ? { type: 'log' } : { zero: false } } : { sort: null }) },
    y: { field: safeKey(plot.y), type: 'quantitative', title: plot.y, scale: plot.yScale === 'log' ? { type: 'log' } : { zero: false } },
  };
  if (plot.color) enc.color = { field: safeKey(plot.color), type: 'nominal', title: plot.color, sort: null };
  if (plot.column) enc.column = { field: safeKey(plot.column), type: 'nominal', title: plot.column, sort: null };
  // the title is the HTML figcaption, not drawn twice
  return {
    data: { values },
    mark: plot.mark === 'point' ? { type: 'point', filled: true, size: 40 } : { type: plot.mark },
    width: 320,
    height: 220,
    encoding: enc,
    config: { font: 'sans-serif' },
  } as TopLevelSpec;
}

const SILENT = (() => {
  const logger = {
    level(_?: number) {
      return _ === undefined ? 0 : logger;
    },
    error: () => logger,
    warn: () => logger,
    info: () => logger,
    debug: () => logger,
  };
  return logger;
})();

/** Renders a vega-lite spec to an SVG string in Node (vega's headless 'none' renderer). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // library code never prints: vega-lite's and vega's warnings are dropped, not logged
  const vg = compile(spec, { logger: SILENT }).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// ---------------------------------------------------------------------------------------------
// HTML

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmt(c: Cell): string {
  if (c === null) return '';
  if (typeof c === 'number') return Number.isInteger(c) ? c.toLocaleString('en-US') : Math.abs(c) >= 1e-3 && Math.abs(c) < 1e6 ? String(Number(c.toPrecision(5))) : c.toExponential(4);
  return String(c);
}

function htmlTable(t: Table, id: string): string {
  const head = t.columns.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(fmt(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `body{font:14px/1.4 sans-serif;margin:2em;color:#222;max-width:1400px}
h1{margin-bottom:0}.sub{color:#555;margin-top:.3em}
.banner{background:#fff4d6;border:1px solid #e0b84c;padding:.6em 1em;border-radius:4px}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}
.plots{display:flex;flex-wrap:wrap;gap:1.5em}figure.plot{margin:0}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:40em;overflow:auto}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}`;

export interface RenderedReport {
  readonly html: string;
  readonly plots: readonly { readonly title: string; readonly svg: string }[];
  readonly tables: Readonly<Record<string, Table>>;
}

export async function renderReport(doc: ResultsDoc): Promise<RenderedReport> {
  const plots: { title: string; svg: string }[] = [];
  for (const p of plotsOf(doc)) plots.push({ title: p.title, svg: await renderSvg(vegaLiteSpec(doc, p)) });
  const tables: Record<string, Table> = { points: pointsTable(doc) };
  const front = paretoTable(doc);
  if (front) tables.pareto = front;

  const cfg = doc.config;
  const synthetic = doc.runner === 'synthetic';
  const parts = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>qloom scenario ${esc(doc.scenario)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>Scenario <code>${esc(doc.scenario)}</code></h1>`,
    doc.description ? `<p class="sub">${esc(doc.description)}</p>` : '',
    synthetic
      ? '<p class="banner"><b>Synthetic runner:</b> these numbers come from the closed-form stand-in model (scenarios/synthetic.ts), not from the simulator or the PTQ pipeline.</p>'
      : '',
    '<dl>',
    `<dt>seed</dt><dd id="seed">${doc.seed}</dd>`,
    `<dt>runner</dt><dd>${esc(doc.runner)}</dd>`,
    `<dt>code version</dt><dd>${esc(doc.codeVersion)}</dd>`,
    `<dt>points</dt><dd>${doc.points.length}</dd>`,
    `<dt>networks</dt><dd>${esc(cfg.networks.join(', '))}</dd>`,
    `<dt>architectures</dt><dd>${esc(cfg.archs.map((a) => a.label).join(', '))}</dd>`,
    `<dt>PTQ</dt><dd>${esc(cfg.ptq.map((p) => p.label).join(', '))}</dd>`,
    `<dt>axes</dt><dd>${esc(cfg.axes.map((a) => `${a.path} ∈ {${a.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}}`).join('; ') || '—')}</dd>`,
    `<dt>data</dt><dd>${esc(`${cfg.data.dataset}, ${cfg.data.samples} samples per point${Object.entries(cfg.data.samplesByNetwork ?? {}).map(([n, k]) => `, ${n}: ${k}`).join('')}`)}</dd>`,
    '</dl>',
    '<h2>Plots</h2><div class="plots">',
    ...plots.map((p, i) => `<figure class="plot" id="plot-${i}"><figcaption>${esc(p.title)}</figcaption>\n${p.svg}\n</figure>`),
    '</div>',
    front ? `<h2>Pareto front</h2><p>${esc(cfg.report.pareto!.objectives.map((o) => `${o.goal} ${o.metric}`).join(', '))}${cfg.report.pareto!.groupBy.length ? `, per ${esc(cfg.report.pareto!.groupBy.join(', '))}` : ''}</p>${htmlTable(front, 'pareto')}` : '',
    `<h2>Results</h2><div class="scroll">${htmlTable(tables.points, 'points')}</div>`,
    '<h2>Configuration</h2><p>The scenario exactly as validated; with the seed above it reproduces every number here.</p>',
    `<pre id="config">${esc(JSON.stringify(cfg, null, 2))}</pre>`,
    '</body></html>',
  ];
  return { html: parts.filter((s) => s !== '').join('\n') + '\n', plots, tables };
}

export interface WrittenReport {
  readonly resultsJson: string;
  readonly html: string;
  readonly files: readonly string[];
}

/** Writes results.json, <table>.csv, plots/plot-N.svg and report.html under `outDir`. */
export async function writeReport(doc: ResultsDoc, outDir: string, opts: { writeResults?: boolean } = {}): Promise<WrittenReport> {
  const files: string[] = [];
  const put = (name: string, text: string) => {
    const file = join(outDir, name);
    writeFileAtomic(file, text);
    files.push(file);
  };
  if (opts.writeResults !== false) put('results.json', serializeResults(doc));
  const r = await renderReport(doc);
  for (const [name, t] of Object.entries(r.tables)) put(`${name}.csv`, toCsv(t));
  r.plots.forEach((p, i) => put(`plots/plot-${i}.svg`, p.svg));
  put('report.html', r.html);
  return { resultsJson: join(outDir, 'results.json'), html: join(outDir, 'report.html'), files };
}
