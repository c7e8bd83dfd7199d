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
import { parseJson } from '../errors/hints.js';
import { writeFileAtomic } from './files.js';
import { computeFindings, deltaCell, dimValue, type Findings, groupLabel, metricWords, samplesCell } from './findings.js';
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
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read results (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const doc = parseJson(text, (message) => new ConfigError(message, file));
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
      // images are shown in the report's gallery (imagesHtml), not in the tables and CSV
      if (METRICS[m]?.shape === 'image') continue;
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
  const used = [plot.x, plot.y, plot.color, plot.column, plot.row ?? null].filter((f): f is string => f !== null);
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
  if (plot.row) enc.row = { field: safeKey(plot.row), type: 'nominal', title: plot.row, sort: null };
  if (plot.color === 'pareto') {
    // the front stands out: a fixed strong colour, larger filled points, drawn on top; dominated
    // points small, grey and faint behind it
    enc.color = { field: 'pareto', type: 'nominal', title: 'Pareto', scale: { domain: ['on the front', 'dominated'], range: ['#d62728', '#9e9e9e'] } };
    enc.size = { field: 'pareto', type: 'nominal', legend: null, scale: { domain: ['on the front', 'dominated'], range: [90, 18] } };
    enc.opacity = { field: 'pareto', type: 'nominal', legend: null, scale: { domain: ['on the front', 'dominated'], range: [1, 0.35] } };
    enc.order = { field: 'paretoOrder', type: 'quantitative' };
    for (const v of values) v.paretoOrder = v.pareto === 'on the front' ? 1 : 0;
  }
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

// ---------------------------------------------------------------------------------------------
// The findings' pictures: the first comparison's trade-off (a quality metric against a cost, one
// panel per value of \`panel\`, every pair an arrow baseline → label) and its cost breakdown

export interface FindingsPlot {
  readonly title: string;
  /** 'tradeoff': its arrows are the trail marks, one per pair that both ran */
  readonly kind: 'tradeoff' | 'breakdown';
  readonly spec: TopLevelSpec;
  /** arrows drawn (tradeoff) or bars' pairs (breakdown) */
  readonly pairs: number;
}

const str = (v: JsonValue): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function findingsPlots(doc: ResultsDoc, findings: Findings | null): FindingsPlot[] {
  const spec = doc.config.findings;
  if (!spec || !findings || findings.comparisons.length === 0) return [];
  const c = findings.comparisons[0];
  const cmp = c.comparison;
  const byIndex = new Map(doc.points.map((p) => [p.index, p]));
  const sideOf = (p: ResultPoint): string => {
    const v = JSON.stringify(dimValue(p, cmp.axis));
    return v === JSON.stringify(cmp.from) ? cmp.baseline : v === JSON.stringify(cmp.to) ? cmp.label : 'other';
  };
  const out: FindingsPlot[] = [];
  const t = spec.tradeoff;
  if (t) {
    for (const y of t.y) {
      const values: Record<string, JsonValue>[] = [];
      const num = (p: ResultPoint | undefined, m: string) => (p && typeof p.metrics[m] === 'number' ? (p.metrics[m] as number) : null);
      for (const p of doc.points) {
        const xv = num(p, t.x);
        const yv = num(p, y);
        if (xv === null || yv === null) continue;
        values.push({ role: 'point', panel: str(dimValue(p, t.panel)), row: t.row ? str(dimValue(p, t.row)) : '', shape: t.shape ? str(dimValue(p, t.shape)) : '', color: t.color ? str(dimValue(p, t.color)) : '', side: sideOf(p), x: xv, y: yv });
      }
      let pairs = 0;
      c.rows.forEach((r, i) => {
        if (r.status !== 'ok') return;
        const a = byIndex.get(r.from!);
        const b = byIndex.get(r.to!);
        const ends = [a, b].map((p) => [num(p, t.x), num(p, y)]);
        if (ends.some(([xv, yv]) => xv === null || yv === null)) return;
        pairs++;
        ends.forEach(([xv, yv], end) => values.push({ role: 'arrow', pair: i, end, panel: str(dimValue(a!, t.panel)), row: t.row ? str(dimValue(a!, t.row)) : '', color: t.color ? str(dimValue(a!, t.color)) : '', x: xv, y: yv }));
      });
      const x = { field: 'x', type: 'quantitative', title: `${metricWords(t.x)} (${METRICS[t.x]?.unit ?? ''})`, scale: { zero: false } };
      const yEnc = { field: 'y', type: 'quantitative', title: `${metricWords(y)} (${METRICS[y]?.unit ?? ''})`, scale: { zero: false } };
      const color = t.color ? { field: 'color', type: 'nominal', title: t.color, sort: null } : { value: '#4c78a8' };
      out.push({
        title: `${metricWords(y)} vs ${metricWords(t.x)}: ${cmp.baseline} → ${cmp.label} (arrow per pair; hollow ${cmp.baseline}, filled ${cmp.label})`,
        kind: 'tradeoff',
        pairs,
        spec: {
          data: { values },
          facet: { column: { field: 'panel', type: 'nominal', title: t.panel, sort: null }, ...(t.row ? { row: { field: 'row', type: 'nominal', title: t.row, sort: null } } : {}) },
          spec: {
            width: 260,
            height: 200,
            layer: [
              {
                transform: [{ filter: "datum.role === 'arrow'" }],
                mark: { type: 'trail', opacity: 0.55 },
                encoding: { x, y: yEnc, detail: { field: 'pair', type: 'nominal' }, order: { field: 'end', type: 'quantitative' }, size: { field: 'end', type: 'quantitative', scale: { domain: [0, 1], range: [1, 8] }, legend: null }, color },
              },
              {
                transform: [{ filter: "datum.role === 'point'" }],
                // hollow (fill transparent, stroke kept) for the baseline, filled for the other side
                mark: { type: 'point', filled: true, size: 70, strokeWidth: 1.5 },
                encoding: {
                  x,
                  y: yEnc,
                  color,
                  stroke: t.color ? { field: 'color', type: 'nominal', sort: null, legend: null } : { value: '#4c78a8' },
                  ...(t.shape ? { shape: { field: 'shape', type: 'nominal', title: t.shape, sort: null } } : {}),
                  fillOpacity: { field: 'side', type: 'nominal', title: cmp.axis, scale: { domain: [cmp.baseline, cmp.label, 'other'], range: [0, 1, 0.3] } },
                },
              },
            ],
          },
          resolve: { scale: { x: 'independent', y: 'independent' } },
          config: { font: 'sans-serif' },
        } as unknown as TopLevelSpec,
      });
    }
  }
  const b = spec.breakdown;
  if (b) {
    const values: Record<string, JsonValue>[] = [];
    let pairs = 0;
    for (const r of c.rows) {
      if (r.status !== 'ok') continue;
      const sides = [byIndex.get(r.from!)!, byIndex.get(r.to!)!];
      const maps = sides.map((p) => p.metrics[b.metric]);
      if (maps.some((m) => typeof m !== 'object' || m === null || Array.isArray(m))) continue;
      pairs++;
      sides.forEach((p, k) => {
        for (const [component, v] of Object.entries(maps[k] as Record<string, JsonValue>)) {
          if (typeof v === 'number') values.push({ panel: str(dimValue(p, b.panel)), group: groupLabel(r.group, [b.panel]), side: k === 0 ? cmp.baseline : cmp.label, component, value: v });
        }
      });
    }
    out.push({
      title: `${metricWords(b.metric)} by component: ${cmp.baseline} (left, pale) vs ${cmp.label} (right) per configuration`,
      kind: 'breakdown',
      pairs,
      spec: {
        data: { values },
        facet: { column: { field: 'panel', type: 'nominal', title: b.panel, sort: null } },
        spec: {
          width: { step: 34 },
          height: 200,
          mark: { type: 'bar' },
          encoding: {
            x: { field: 'group', type: 'nominal', title: null, sort: null, axis: { labelAngle: -35, labelLimit: 260 } },
            xOffset: { field: 'side', type: 'nominal', sort: [cmp.baseline, cmp.label] },
            y: { field: 'value', type: 'quantitative', aggregate: 'sum', stack: 'zero', title: `${b.metric} (${METRICS[b.metric]?.unit ?? ''})` },
            color: { field: 'component', type: 'nominal', title: 'component', sort: null },
            opacity: { field: 'side', type: 'nominal', title: cmp.axis, scale: { domain: [cmp.baseline, cmp.label], range: [0.55, 1] } },
          },
        },
        resolve: { scale: { x: 'independent', y: 'independent' } },
        config: { font: 'sans-serif' },
      } as unknown as TopLevelSpec,
    });
  }
  return out;
}

/** The findings section: the question, a table per comparison (one row per pair group, unsupported ones with the reason), the sentences. */
function findingsHtml(f: Findings, plots: readonly { title: string; svg: string }[]): string {
  const parts = ['<section id="findings">', '<h2>Findings</h2>', `<p class="question">${esc(f.question)}</p>`];
  f.comparisons.forEach((c, ci) => {
    const cmp = c.comparison;
    const cols = [...cmp.pairBy, ...f.metrics.flatMap((m) => (c.rows.some((r) => r.deltas[m]?.samples !== undefined) ? [m, `${m}: samples`] : [m]))];
    const head = cols.map((h) => `<th>${esc(h.endsWith(': samples') ? 'samples, 95 % interval' : metricWords(h))}</th>`).join('');
    const body = c.rows.map((r) => {
      const g = cmp.pairBy.map((d) => `<td>${esc(str(r.group[d]))}</td>`).join('');
      if (r.status !== 'ok') return `<tr class="finding" data-status="${r.status}">${g}<td colspan="${cols.length - cmp.pairBy.length}" class="reason">${esc((r.reason ?? '').startsWith(r.status) ? r.reason! : `${r.status}: ${r.reason ?? ''}`)}</td></tr>`;
      const cells = cols.slice(cmp.pairBy.length).map((h) => {
        if (h.endsWith(': samples')) {
          const d = r.deltas[h.slice(0, -': samples'.length)];
          const iv = d?.interval95;
          const title = iv ? ` title="95 % Wilson: ${(iv.from[0] * 100).toFixed(1)}–${(iv.from[1] * 100).toFixed(1)} % → ${(iv.to[0] * 100).toFixed(1)}–${(iv.to[1] * 100).toFixed(1)} %"` : '';
          return `<td${title}>${esc(samplesCell(d ?? null))}</td>`;
        }
        return `<td class="num" data-metric="${esc(h)}">${esc(deltaCell(h, r.deltas[h]))}</td>`;
      });
      return `<tr class="finding" data-status="ok" data-from="${r.from}" data-to="${r.to}">${g}${cells.join('')}</tr>`;
    });
    parts.push(
      `<h3>${esc(cmp.label)} vs ${esc(cmp.baseline)}</h3>`,
      `<p>Each row: two points equal in ${esc(cmp.pairBy.join(', '))}, ${esc(cmp.axis)} = ${esc(JSON.stringify(cmp.from))} (${esc(cmp.baseline)}) → ${esc(JSON.stringify(cmp.to))} (${esc(cmp.label)}). Costs in per cent of the ${esc(cmp.baseline)} point; accuracy in percentage points, with the samples behind it (a difference inside both 95 % intervals is noise; below 30 samples it is an anecdote).</p>`,
      `<table class="findings" id="findings-${ci}"><thead><tr>${head}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table>`,
      `<ul class="sentences">${c.sentences.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`,
    );
  });
  if (plots.length) parts.push('<div class="plots">', ...plots.map((p, i) => `<figure class="plot findings-plot" id="findings-plot-${i}"><figcaption>${esc(p.title)}</figcaption>\n${p.svg}\n</figure>`), '</div>');
  parts.push('</section>');
  return parts.join('\n');
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
.scroll{max-height:40em;overflow:auto}.samples{display:flex;flex-wrap:wrap;gap:1em}figure.sample{margin:0;max-width:330px;font-size:12px}figure.sample img{image-rendering:pixelated;width:320px}#findings{border-bottom:2px solid #ddd;margin-bottom:1em}.question{font-size:16px;font-weight:bold}
tr[data-status=unsupported] td.reason,tr[data-status=missing] td.reason{color:#8a5a00;font-style:italic}ul.sentences li{margin:.3em 0}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}`;

/** Every point's image metrics (PNG data: URLs): metric, point index, the point's caption and the URL. */
function imagesOf(doc: ResultsDoc): { metric: string; index: number; caption: string; url: string }[] {
  const out: { metric: string; index: number; caption: string; url: string }[] = [];
  const scalars = doc.config.metrics.filter((m) => METRICS[m]?.shape === 'scalar');
  for (const m of doc.config.metrics.filter((x) => METRICS[x]?.shape === 'image')) {
    for (const p of doc.points) {
      const url = p.metrics[m];
      if (typeof url !== 'string' || !url.startsWith('data:image/png;base64,')) continue;
      const values = scalars.map((s) => (typeof p.metrics[s] === 'number' ? `${s} ${fmt(p.metrics[s] as number)}` : '')).filter(Boolean);
      out.push({ metric: m, index: p.index, caption: [p.network, p.arch, p.ptq, ...doc.config.axes.map((a) => `${a.path}=${JSON.stringify(p.axes[a.path])}`), ...values].join(' · '), url });
    }
  }
  return out;
}

function imagesHtml(doc: ResultsDoc): string {
  const imgs = imagesOf(doc);
  if (imgs.length === 0) return '';
  return [
    '<h2>Samples</h2><div class="samples">',
    ...imgs.map((i) => `<figure class="sample" id="sample-${i.index}"><img src="${i.url}" alt="${esc(i.metric)} of point ${i.index}"><figcaption>${esc(i.caption)}</figcaption></figure>`),
    '</div>',
  ].join('\n');
}

export interface RenderedReport {
  readonly html: string;
  readonly plots: readonly { readonly title: string; readonly svg: string }[];
  readonly tables: Readonly<Record<string, Table>>;
  readonly findings: Findings | null;
  readonly findingsPlots: readonly { readonly title: string; readonly svg: string }[];
}

export async function renderReport(doc: ResultsDoc): Promise<RenderedReport> {
  const plots: { title: string; svg: string }[] = [];
  for (const p of plotsOf(doc)) plots.push({ title: p.title, svg: await renderSvg(vegaLiteSpec(doc, p)) });
  const findings = computeFindings(doc);
  const fPlots: { title: string; svg: string }[] = [];
  for (const p of findingsPlots(doc, findings)) fPlots.push({ title: p.title, svg: await renderSvg(p.spec) });
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
    findings ? findingsHtml(findings, fPlots) : '',
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
    imagesHtml(doc),
    `<h2>Results</h2><div class="scroll">${htmlTable(tables.points, 'points')}</div>`,
    '<h2>Configuration</h2><p>The scenario exactly as validated; with the seed above it reproduces every number here.</p>',
    `<pre id="config">${esc(JSON.stringify(cfg, null, 2))}</pre>`,
    '</body></html>',
  ];
  return { html: parts.filter((s) => s !== '').join('\n') + '\n', plots, tables, findings, findingsPlots: fPlots };
}

export interface WrittenReport {
  readonly resultsJson: string;
  readonly html: string;
  readonly files: readonly string[];
  /** computed from the results (findings.json), null when the scenario declares none */
  readonly findings: Findings | null;
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
  r.findingsPlots.forEach((p, i) => put(`plots/findings-${i}.svg`, p.svg));
  for (const i of imagesOf(doc)) {
    const file = join(outDir, 'samples', `point-${i.index}-${i.metric}.png`);
    writeFileAtomic(file, Buffer.from(i.url.slice('data:image/png;base64,'.length), 'base64'));
    files.push(file);
  }
  if (r.findings) put('findings.json', JSON.stringify(r.findings, null, 2) + '\n');
  put('report.html', r.html);
  return { resultsJson: join(outDir, 'results.json'), html: join(outDir, 'report.html'), files, findings: r.findings };
}
