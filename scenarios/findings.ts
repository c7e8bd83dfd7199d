/**
 * Findings: the answer a scenario was written for, computed from its results. A scenario declares
 * its question and the comparisons that answer it (`findings:` in the file, validated by
 * `readFindings`); `computeFindings(results)` pairs every two points that differ only in the
 * compared dimension (`pairBy`: everything else equal), and gives per pair the delta of each
 * finding metric — percentage points for fractions (with the sample size and the 95 % Wilson
 * interval of each side; "anecdotal" below 30 samples), dB for SQNR, per cent for costs — plus one
 * sentence per network. Pairs where either point did not run (a `note`: unsupported) are listed,
 * not dropped. The report opens with these; `qloom scenario` prints them.
 *
 * ```yaml
 * findings:
 *   question: What does per-channel weight quantization cost, and what does it buy?
 *   compare:
 *     - { axis: ptq.perChannel, from: false, to: true, label: per-channel, baseline: per-tensor }
 *     - { axis: ptq.symmetric, from: true, to: false, label: asymmetric, baseline: symmetric, pairBy: [network, arch, ptq, ptq.perChannel] }
 *   metrics: [accuracy, sqnrDb, cycles, energyPj, requantParamBits, paramBytes]
 *   tradeoff: { x: energyPj, y: [accuracy, sqnrDb], panel: network, row: arch, shape: ptq.symmetric, color: ptq }
 *   breakdown: { metric: energyByComponent, panel: network }
 * ```
 * `pairBy` defaults to every other dimension; it must name every other dimension that varies.
 * `tradeoff` and `breakdown` draw the first comparison.
 */
import type { Problem } from '../arch/errors.js';
import { checkKeys, describe, didYouMean, isPlainObject } from '../arch/validate.js';
import { wilsonInterval } from '../nets/eval.js';
import type { JsonValue, MetricInfo, Scenario } from './scenario.js';

export interface Comparison {
  /** the dimension compared: network, arch, ptq or an axis path */
  readonly axis: string;
  readonly from: JsonValue;
  readonly to: JsonValue;
  /** names of the two sides: `to` is "label", `from` is "baseline" */
  readonly label: string;
  readonly baseline: string;
  /** the dimensions that must be equal within a pair (every other dimension that varies) */
  readonly pairBy: readonly string[];
}

export interface FindingsSpec {
  readonly question: string;
  readonly compare: readonly Comparison[];
  /** scalar metrics whose deltas are stated */
  readonly metrics: readonly string[];
  readonly tradeoff: { readonly x: string; readonly y: readonly string[]; readonly panel: string; readonly row: string | null; readonly shape: string | null; readonly color: string | null } | null;
  readonly breakdown: { readonly metric: string; readonly panel: string } | null;
}

/** A dimension's values as the scenario lists them (network names, arch and PTQ labels, axis values). */
export type DimValues = ReadonlyMap<string, readonly JsonValue[]>;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Validates `findings:` against the scenario's dimensions and metrics; problems are pushed, null returned when absent or broken. */
export function readFindings(v: unknown, dims: DimValues, metrics: readonly string[], info: Readonly<Record<string, MetricInfo>>, problems: Problem[]): FindingsSpec | null {
  if (v === undefined) return null;
  const before = problems.length;
  if (!isPlainObject(v)) {
    problems.push({ path: 'findings', message: `expected {question, compare, metrics, tradeoff?, breakdown?}, got ${describe(v)}` });
    return null;
  }
  checkKeys(v, 'findings', ['question', 'compare', 'metrics', 'tradeoff', 'breakdown'], problems);
  const dimNames = [...dims.keys()];
  const scalars = metrics.filter((m) => info[m]?.shape === 'scalar');
  const dim = (d: unknown, path: string): string | null => {
    if (typeof d === 'string' && dims.has(d)) return d;
    const hint = typeof d === 'string' ? didYouMean(d, dimNames) : undefined;
    problems.push({ path, message: `${describe(d)} is not a dimension of this scenario${hint ? ` (did you mean "${hint}"?)` : ''}; dimensions: ${dimNames.join(', ')}` });
    return null;
  };
  const metric = (m: unknown, path: string, allowed: readonly string[], what: string): string | null => {
    if (typeof m === 'string' && allowed.includes(m)) return m;
    const hint = typeof m === 'string' ? didYouMean(m, allowed) : undefined;
    problems.push({ path, message: `${describe(m)} is not ${what} of this scenario${hint ? ` (did you mean "${hint}"?)` : ''}; ${what}s: ${allowed.join(', ') || 'none'}` });
    return null;
  };
  const text = (x: unknown, path: string, dflt?: string): string => {
    if (x === undefined && dflt !== undefined) return dflt;
    if (typeof x === 'string' && x.trim() !== '') return x;
    problems.push({ path, message: `expected a non-empty string, got ${describe(x)}` });
    return '';
  };

  const question = text(v.question, 'findings.question');
  const compare: Comparison[] = [];
  if (!Array.isArray(v.compare) || v.compare.length === 0) problems.push({ path: 'findings.compare', message: 'expected a non-empty list of {axis, from, to, label?, baseline?, pairBy?}' });
  else
    v.compare.forEach((c: unknown, i: number) => {
      const path = `findings.compare[${i}]`;
      if (!isPlainObject(c)) {
        problems.push({ path, message: `expected {axis, from, to, label?, baseline?, pairBy?}, got ${describe(c)}` });
        return;
      }
      checkKeys(c, path, ['axis', 'from', 'to', 'label', 'baseline', 'pairBy'], problems);
      const n = problems.length;
      const axis = dim(c.axis, `${path}.axis`);
      if (axis) {
        const values = dims.get(axis)!;
        for (const side of ['from', 'to'] as const) {
          if (!values.some((x) => same(x, c[side]))) problems.push({ path: `${path}.${side}`, message: `${describe(c[side])} is not a value of ${axis}; values: ${values.map((x) => JSON.stringify(x)).join(', ')}` });
        }
        if (same(c.from, c.to)) problems.push({ path: `${path}.to`, message: 'from and to are the same value: nothing to compare' });
      }
      let pairBy: string[] = dimNames.filter((d) => d !== axis);
      if (c.pairBy !== undefined) {
        if (!Array.isArray(c.pairBy)) problems.push({ path: `${path}.pairBy`, message: `expected a list of dimensions, got ${describe(c.pairBy)}` });
        else {
          pairBy = [];
          c.pairBy.forEach((d: unknown, j: number) => {
            const ok = dim(d, `${path}.pairBy[${j}]`);
            if (ok === axis && ok !== null) problems.push({ path: `${path}.pairBy[${j}]`, message: `${ok} is the compared dimension; a pair differs in it` });
            else if (ok && !pairBy.includes(ok)) pairBy.push(ok);
          });
          if (axis) {
            const loose = dimNames.filter((d) => d !== axis && !pairBy.includes(d) && dims.get(d)!.length > 1);
            if (loose.length) problems.push({ path: `${path}.pairBy`, message: `must name every other dimension that varies (missing ${loose.join(', ')}): a pair is two points equal in everything but ${axis}` });
          }
        }
      }
      const label = text(c.label, `${path}.label`, `${axis} = ${JSON.stringify(c.to)}`);
      const baseline = text(c.baseline, `${path}.baseline`, `${axis} = ${JSON.stringify(c.from)}`);
      if (problems.length === n) compare.push({ axis: axis!, from: c.from as JsonValue, to: c.to as JsonValue, label, baseline, pairBy });
    });

  const fm: string[] = [];
  if (!Array.isArray(v.metrics) || v.metrics.length === 0) problems.push({ path: 'findings.metrics', message: `expected a non-empty list of scalar metrics (${scalars.join(', ')})` });
  else v.metrics.forEach((m: unknown, i: number) => {
    const ok = metric(m, `findings.metrics[${i}]`, scalars, 'a scalar metric');
    if (ok && !fm.includes(ok)) fm.push(ok);
  });

  let tradeoff: FindingsSpec['tradeoff'] = null;
  if (v.tradeoff !== undefined) {
    const t = v.tradeoff;
    if (!isPlainObject(t)) problems.push({ path: 'findings.tradeoff', message: `expected {x, y, panel, row?, shape?, color?}, got ${describe(t)}` });
    else {
      checkKeys(t, 'findings.tradeoff', ['x', 'y', 'panel', 'row', 'shape', 'color'], problems);
      const x = metric(t.x, 'findings.tradeoff.x', scalars, 'a scalar metric');
      const ys = (Array.isArray(t.y) ? t.y : [t.y]).map((y: unknown, i: number) => metric(y, `findings.tradeoff.y[${i}]`, scalars, 'a scalar metric'));
      const panel = dim(t.panel, 'findings.tradeoff.panel');
      const shape = t.shape === undefined ? null : dim(t.shape, 'findings.tradeoff.shape');
      const color = t.color === undefined ? null : dim(t.color, 'findings.tradeoff.color');
      const row = t.row === undefined ? null : dim(t.row, 'findings.tradeoff.row');
      if (x && panel && ys.every((y) => y !== null)) tradeoff = { x, y: ys as string[], panel, row, shape, color };
    }
  }
  let breakdown: FindingsSpec['breakdown'] = null;
  if (v.breakdown !== undefined) {
    const b = v.breakdown;
    if (!isPlainObject(b)) problems.push({ path: 'findings.breakdown', message: `expected {metric, panel}, got ${describe(b)}` });
    else {
      checkKeys(b, 'findings.breakdown', ['metric', 'panel'], problems);
      const m = metric(b.metric, 'findings.breakdown.metric', metrics.filter((x) => info[x]?.shape === 'map'), 'a map metric');
      const panel = dim(b.panel, 'findings.breakdown.panel');
      if (m && panel) breakdown = { metric: m, panel };
    }
  }
  if (problems.length > before) return null;
  return { question, compare, metrics: fm, tradeoff, breakdown };
}

/** The dimensions of a scenario and their values, in file order. */
export function dimValues(s: Pick<Scenario, 'networks' | 'archs' | 'ptq' | 'axes'>): Map<string, readonly JsonValue[]> {
  return new Map<string, readonly JsonValue[]>([
    ['network', s.networks],
    ['arch', s.archs.map((a) => a.label)],
    ['ptq', s.ptq.map((p) => p.label)],
    ...s.axes.map((a) => [a.path, a.values] as [string, readonly JsonValue[]]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Computing them

/** The least a findings computation needs of a results.json (report.ts's ResultsDoc fits). */
export interface FindingsInput {
  readonly config: Scenario;
  readonly points: readonly {
    readonly index: number;
    readonly network: string;
    readonly arch: string;
    readonly ptq: string;
    readonly axes: { readonly [path: string]: JsonValue };
    readonly metrics: { readonly [metric: string]: JsonValue };
  }[];
}
type InputPoint = FindingsInput['points'][number];

export type DeltaKind = 'pt' | 'dB' | 'pct';

export interface Delta {
  readonly from: number;
  readonly to: number;
  readonly kind: DeltaKind;
  /** pt: (to − from)·100; dB: to − from; pct: (to / from − 1)·100, null when from is 0 */
  readonly delta: number | null;
  /** fractions: samples per side, each side's 95 % Wilson interval, and how to read the delta */
  readonly samples?: number;
  readonly interval95?: { readonly from: readonly [number, number]; readonly to: readonly [number, number] };
  /** 'anecdotal' below 30 samples; 'within noise' when the two intervals overlap; else 'clear' */
  readonly reading?: 'anecdotal' | 'within noise' | 'clear';
}

export interface FindingRow {
  /** the pairBy dimensions' values */
  readonly group: Readonly<Record<string, JsonValue>>;
  readonly from: number | null;
  readonly to: number | null;
  readonly status: 'ok' | 'unsupported' | 'missing';
  /** unsupported: the note(s); missing: which side is absent */
  readonly reason: string | null;
  /** per finding metric; null where either side has no number */
  readonly deltas: Readonly<Record<string, Delta | null>>;
}

export interface ComparisonFindings {
  readonly comparison: Comparison;
  readonly rows: readonly FindingRow[];
  /** one per network, in file order */
  readonly sentences: readonly string[];
}

export interface Findings {
  readonly question: string;
  readonly metrics: readonly string[];
  readonly comparisons: readonly ComparisonFindings[];
}

/** Below this many samples an accuracy is an anecdote, not an estimate. */
export const ANECDOTAL_BELOW = 30;
/** Metrics where more is better (the rest are costs). */
const QUALITY = new Set(['accuracy', 'top1', 'agreement', 'sqnrDb', 'utilization']);
const FRACTIONS = new Set(['accuracy', 'top1', 'agreement', 'utilization', 'overflowRate']);

export function deltaKind(metric: string): DeltaKind {
  return FRACTIONS.has(metric) ? 'pt' : metric === 'sqnrDb' ? 'dB' : 'pct';
}

export function dimValue(p: InputPoint, d: string): JsonValue {
  return d === 'network' ? p.network : d === 'arch' ? p.arch : d === 'ptq' ? p.ptq : (p.axes[d] ?? null);
}

/** Samples a point was scored on (the scenario's data settings), or null for a timing-only metric set. */
export function samplesOf(cfg: Scenario, network: string): number {
  return cfg.data.samplesByNetwork?.[network] ?? cfg.data.samples;
}

function accuracyDelta(from: number, to: number, n: number): Delta {
  const base: Delta = { from, to, kind: 'pt', delta: (to - from) * 100 };
  const kf = from * n;
  const kt = to * n;
  // the interval needs whole counts: a fraction that is not k/n (a capped photo set) gets none
  if (Math.abs(kf - Math.round(kf)) > 1e-3 || Math.abs(kt - Math.round(kt)) > 1e-3) return base;
  const a = wilsonInterval(Math.round(kf), n);
  const b = wilsonInterval(Math.round(kt), n);
  const reading = n < ANECDOTAL_BELOW ? 'anecdotal' : a.hi >= b.lo && b.hi >= a.lo ? 'within noise' : 'clear';
  return { ...base, samples: n, interval95: { from: [a.lo, a.hi], to: [b.lo, b.hi] }, reading };
}

export function computeFindings(doc: FindingsInput): Findings | null {
  const spec = doc.config.findings;
  if (!spec) return null;
  return {
    question: spec.question,
    metrics: spec.metrics,
    comparisons: spec.compare.map((c) => {
      const groups = new Map<string, { group: Record<string, JsonValue>; from?: InputPoint; to?: InputPoint }>();
      for (const p of doc.points) {
        const v = dimValue(p, c.axis);
        const side = same(v, c.from) ? 'from' : same(v, c.to) ? 'to' : null;
        if (!side) continue;
        const group = Object.fromEntries(c.pairBy.map((d) => [d, dimValue(p, d)]));
        const key = JSON.stringify(group);
        const g = groups.get(key) ?? { group };
        g[side] = p;
        groups.set(key, g);
      }
      const rows: FindingRow[] = [...groups.values()].map((g) => {
        const notes = [g.from, g.to].map((p) => p?.metrics.note).filter((n): n is string => typeof n === 'string' && n !== '');
        const status = !g.from || !g.to ? 'missing' : notes.length ? 'unsupported' : 'ok';
        const reason = status === 'missing' ? `no ${!g.from ? c.baseline : c.label} point` : status === 'unsupported' ? [...new Set(notes)].join('; ') : null;
        const deltas: Record<string, Delta | null> = {};
        for (const m of spec.metrics) {
          const a = g.from?.metrics[m];
          const b = g.to?.metrics[m];
          if (status !== 'ok' || typeof a !== 'number' || typeof b !== 'number') deltas[m] = null;
          else if (deltaKind(m) === 'pt' && m !== 'utilization' && m !== 'overflowRate') deltas[m] = accuracyDelta(a, b, samplesOf(doc.config, g.from!.network));
          else deltas[m] = { from: a, to: b, kind: deltaKind(m), delta: deltaKind(m) === 'pct' ? (a === 0 ? null : (b / a - 1) * 100) : deltaKind(m) === 'pt' ? (b - a) * 100 : b - a };
        }
        return { group: g.group, from: g.from?.index ?? null, to: g.to?.index ?? null, status, reason, deltas };
      });
      return { comparison: c, rows, sentences: sentencesOf(doc, c, spec.metrics, rows) };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Words

const METRIC_WORDS: Readonly<Record<string, string>> = {
  accuracy: 'accuracy',
  top1: 'top-1',
  agreement: 'agreement with FP32',
  sqnrDb: 'SQNR',
  cycles: 'cycles',
  stallCycles: 'stall cycles',
  latencyS: 'latency',
  energyPj: 'energy',
  edp: 'energy-delay product',
  bitsMoved: 'bits moved',
  requantParamBits: 'requant-parameter traffic',
  paramBytes: 'parameter storage',
  overflows: 'overflows (all samples)',
  overflowsPerSample: 'overflows per sample',
  overflowRate: 'overflow rate',
  utilization: 'utilization',
};
export const metricWords = (m: string): string => METRIC_WORDS[m] ?? m;

const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
const grouped = (x: number): string => Math.round(x).toLocaleString('en-US');

/** A quantity in its unit, short: bytes in KiB/MiB, bits grouped, fractions in %. */
export function quantity(metric: string, x: number): string {
  if (metric === 'paramBytes') return x >= 1 << 20 ? `${(x / (1 << 20)).toFixed(2)} MiB` : `${(x / 1024).toFixed(1)} KiB`;
  if (metric === 'energyPj') return x >= 1e6 ? `${(x / 1e6).toFixed(2)} µJ` : `${(x / 1e3).toFixed(2)} nJ`;
  if (metric === 'sqnrDb') return `${x.toFixed(1)} dB`;
  if (FRACTIONS.has(metric)) return `${(x * 100).toFixed(1)} %`;
  if (metric === 'latencyS') return `${(x * 1e3).toPrecision(4)} ms`;
  return Number.isInteger(x) ? grouped(x) : String(Number(x.toPrecision(4)));
}

/** One delta as a table cell: "+0.06 %", "+23.7 dB", "93.0 → 94.0 % (+1.0 pt)", "400 → 23,840 bits". */
export function deltaCell(metric: string, d: Delta | null): string {
  if (!d) return '';
  if (d.kind === 'pt') {
    if (d.samples !== undefined && d.samples < ANECDOTAL_BELOW) return `${Math.round(d.from * d.samples)}/${d.samples} → ${Math.round(d.to * d.samples)}/${d.samples}`;
    return `${(d.from * 100).toFixed(1)} → ${(d.to * 100).toFixed(1)} % (${signed(d.delta!, 1)} pt)`;
  }
  if (d.kind === 'dB') return `${d.from.toFixed(1)} → ${d.to.toFixed(1)} dB (${signed(d.delta!, 1)})`;
  if (metric === 'requantParamBits' || metric === 'bitsMoved') return `${grouped(d.from)} → ${grouped(d.to)} bits`;
  if (metric === 'paramBytes') return `${quantity(metric, d.from)} → ${quantity(metric, d.to)}`;
  return d.delta === null ? `${quantity(metric, d.from)} → ${quantity(metric, d.to)}` : `${signed(d.delta, Math.abs(d.delta) < 1 ? 2 : 1)} %`;
}

/** The sample size and how to read an accuracy delta: "n 100, ±8.6 pt: within noise", "n 3: anecdotal". */
export function samplesCell(d: Delta | null): string {
  if (!d || d.samples === undefined) return '';
  if (d.reading === 'anecdotal') return `n ${d.samples}: anecdotal`;
  const half = Math.max(d.interval95!.from[1] - d.interval95!.from[0], d.interval95!.to[1] - d.interval95!.to[0]) * 50;
  return `n ${d.samples}, ±${half.toFixed(1)} pt: ${d.reading}`;
}

/** A group's values as one label: "fmnist-cnn edge-npu W8A8 ptq.symmetric=false". */
export function groupLabel(group: Readonly<Record<string, JsonValue>>, skip: readonly string[] = []): string {
  return Object.entries(group)
    .filter(([d]) => !skip.includes(d))
    .map(([d, v]) => (d === 'network' || d === 'arch' || d === 'ptq' ? String(v) : `${d}=${typeof v === 'string' ? v : JSON.stringify(v)}`))
    .join(' ');
}

function range(xs: readonly number[], digits: number, unit: string): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(digits) === hi.toFixed(digits) ? `${signed(lo, digits)}${unit}` : `${signed(lo, digits)} to ${signed(hi, digits)}${unit}`;
}

/** Per network: what the comparison costs (the cost metrics' range over its pairs), what it buys (the quality metrics', extremes named), and where it did not run. */
function sentencesOf(doc: FindingsInput, c: Comparison, metrics: readonly string[], rows: readonly FindingRow[]): string[] {
  const out: string[] = [];
  for (const net of doc.config.networks) {
    const mine = rows.filter((r) => (r.group.network ?? doc.points.find((p) => p.index === (r.from ?? r.to))?.network) === net);
    if (mine.length === 0) continue;
    const ok = mine.filter((r) => r.status === 'ok');
    const bad = mine.filter((r) => r.status !== 'ok');
    // a pair's name: the dimensions that vary among this network's pairs that ran
    const varying = c.pairBy.filter((d) => d !== 'network' && new Set(ok.map((r) => JSON.stringify(r.group[d]))).size > 1);
    const name = (r: FindingRow) => groupLabel(Object.fromEntries(varying.map((d) => [d, r.group[d]])));
    const cost: string[] = [];
    const buy: string[] = [];
    for (const m of metrics) {
      const ds = ok.map((r) => [r, r.deltas[m]] as const).filter((x): x is readonly [FindingRow, Delta] => x[1] !== null);
      if (ds.length === 0) continue;
      if (m === 'requantParamBits' || m === 'paramBytes') {
        const moves = [...new Set(ds.filter(([, d]) => d.from !== d.to).map(([, d]) => (m === 'paramBytes' ? `${signed((d.to - d.from) / 1024, 1)} KiB` : `${grouped(d.from)} → ${grouped(d.to)} bits`)))];
        if (moves.length) cost.push(`${metricWords(m)} ${moves.join(', ')}`);
        continue;
      }
      const vals = ds.filter(([, d]) => d.delta !== null);
      if (vals.length === 0) continue;
      const kind = vals[0][1].kind;
      const unit = kind === 'pct' ? ' %' : kind === 'pt' ? ' pt' : ' dB';
      const digits = kind === 'pct' ? 2 : 1;
      if (!QUALITY.has(m)) {
        cost.push(`${range(vals.map(([, d]) => d.delta!), digits, unit)} ${metricWords(m)}`);
        continue;
      }
      const counts = (d: Delta) => (d.reading === 'anecdotal' ? `, ${Math.round(d.from * d.samples!)}/${d.samples} → ${Math.round(d.to * d.samples!)}/${d.samples}` : '');
      const at = ([r, d]: readonly [FindingRow, Delta]) => `${signed(d.delta!, digits)}${unit}${varying.length ? ` (${name(r)}${counts(d)})` : counts(d) ? ` (${counts(d).slice(2)})` : ''}`;
      const sorted = [...vals].sort((a, b) => a[1].delta! - b[1].delta!);
      let text = sorted.length === 1 || sorted[0][1].delta!.toFixed(digits) === sorted[sorted.length - 1][1].delta!.toFixed(digits) ? at(sorted[0]) : `${at(sorted[0])} to ${at(sorted[sorted.length - 1])}`;
      text += ` ${metricWords(m)}`;
      const sampled = vals.map(([, d]) => d).filter((d) => d.samples !== undefined);
      if (sampled.length) {
        const n = [...new Set(sampled.map((d) => d.samples))].join('/');
        const clear = sampled.filter((d) => d.reading === 'clear').length;
        text += sampled.some((d) => d.reading === 'anecdotal') ? ` (${n} samples: anecdotal)` : clear === 0 ? ` (${n} samples: within noise)` : ` (${n} samples: ${clear} of ${sampled.length} beyond noise)`;
      }
      buy.push(text);
    }
    let s = `${net}, ${c.label} vs ${c.baseline}`;
    if (ok.length === 0) s += ': no pair ran';
    else {
      s += ` (${ok.length} pair${ok.length === 1 ? '' : 's'})`;
      if (cost.length) s += `: costs ${cost.join(', ')}`;
      if (buy.length) s += `${cost.length ? '; ' : ': '}buys ${buy.join(', ')}`;
    }
    if (bad.length) {
      const common = c.pairBy.filter((d) => d !== 'network' && new Set(bad.map((r) => JSON.stringify(r.group[d]))).size === 1);
      const on = common.length ? ` on ${groupLabel(Object.fromEntries(common.map((d) => [d, bad[0].group[d]])))}` : '';
      s += `; ${bad.length} pair${bad.length === 1 ? '' : 's'}${on} did not run (${[...new Set(bad.map((r) => (r.reason ?? '').split(' (')[0]))].join('; ')})`;
    }
    out.push(s + '.');
  }
  return out;
}
