/**
 * Findings (scenarios/findings.ts): a pc-vs-pt-shaped synthetic sweep, then every delta in
 * findings.json recomputed here from results.json alone — pairs found by comparing the points'
 * dimensions, percentages, percentage points, dB and the Wilson intervals with this file's own
 * arithmetic, not the code under test — including a pair made unsupported by hand. And the schema's
 * validation.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportFromResults, runScenario } from '../../../scenarios/run-scenario.js';
import { validateScenario } from '../../../scenarios/scenario.js';
import { problemsOf } from '../../helpers/errors.js';

const SCENARIO = {
  name: 'findings-small',
  seed: 3,
  runner: 'synthetic',
  networks: ['fmnist-cnn', 'fmnist-dwsep'],
  ptq: [{ preset: 'w8a8-pt', label: 'W8A8' }, { preset: 'w4a8-pt', label: 'W4A8' }],
  archs: ['edge-npu', 'mcu-npu'],
  axes: { 'ptq.perChannel': [false, true], 'ptq.symmetric': [true, false] },
  metrics: ['accuracy', 'sqnrDb', 'cycles', 'energyPj', 'energyByComponent', 'requantParamBits', 'paramBytes', 'note'],
  data: { dataset: 'auto', samples: 100, samplesByNetwork: { 'fmnist-dwsep': 20 } },
  findings: {
    question: 'what does per-channel cost?',
    compare: [
      { axis: 'ptq.perChannel', from: false, to: true, baseline: 'per-tensor', label: 'per-channel' },
      { axis: 'ptq.symmetric', from: true, to: false, baseline: 'symmetric', label: 'asymmetric', pairBy: ['network', 'arch', 'ptq', 'ptq.perChannel'] },
    ],
    metrics: ['accuracy', 'sqnrDb', 'cycles', 'energyPj', 'requantParamBits', 'paramBytes'],
    tradeoff: { x: 'energyPj', y: ['accuracy', 'sqnrDb'], panel: 'network', row: 'arch', shape: 'ptq.symmetric', color: 'ptq' },
    breakdown: { metric: 'energyByComponent', panel: 'network' },
  },
};

interface Pt {
  index: number;
  network: string;
  arch: string;
  ptq: string;
  axes: Record<string, unknown>;
  metrics: Record<string, unknown>;
}
interface Row {
  group: Record<string, unknown>;
  from: number | null;
  to: number | null;
  status: string;
  reason: string | null;
  deltas: Record<string, { from: number; to: number; delta: number | null; samples?: number; interval95?: { from: number[]; to: number[] }; reading?: string } | null>;
}

/** Wilson score interval, written out again (z = 1.96) */
function wilson(k: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [k === 0 ? 0 : c - h, k === n ? 1 : c + h];
}

function checkAgainstResults(results: { points: Pt[] }, findings: { comparisons: { rows: Row[] }[] }): void {
  const dim = (p: Pt, d: string) => (d === 'network' ? p.network : d === 'arch' ? p.arch : d === 'ptq' ? p.ptq : p.axes[d]);
  const dims = ['network', 'arch', 'ptq', 'ptq.perChannel', 'ptq.symmetric'];
  const cmps = [
    { axis: 'ptq.perChannel', from: false, to: true },
    { axis: 'ptq.symmetric', from: true, to: false },
  ];
  cmps.forEach((c, ci) => {
    const rows = findings.comparisons[ci].rows;
    const others = dims.filter((d) => d !== c.axis);
    const froms = results.points.filter((p) => dim(p, c.axis) === c.from);
    // one row per group of the other dimensions; every row a real pair
    expect(rows.length).toBe(froms.length);
    for (const a of froms) {
      const b = results.points.find((q) => dim(q, c.axis) === c.to && others.every((d) => dim(q, d) === dim(a, d)))!;
      const row = rows.find((r) => r.from === a.index)!;
      expect(row.to).toBe(b.index);
      for (const d of others) expect(row.group[d]).toEqual(dim(a, d));
      const note = a.metrics.note ?? b.metrics.note;
      if (note) {
        expect(row.status).toBe('unsupported');
        expect(row.reason).toContain(note as string);
        for (const v of Object.values(row.deltas)) expect(v).toBeNull();
        continue;
      }
      expect(row.status).toBe('ok');
      const m = (p: Pt, k: string) => p.metrics[k] as number;
      for (const k of ['cycles', 'energyPj', 'requantParamBits', 'paramBytes']) {
        expect(row.deltas[k]!.from).toBe(m(a, k));
        expect(row.deltas[k]!.to).toBe(m(b, k));
        expect(row.deltas[k]!.delta).toBeCloseTo(((m(b, k) - m(a, k)) / m(a, k)) * 100, 9);
      }
      expect(row.deltas.sqnrDb!.delta).toBeCloseTo(m(b, 'sqnrDb') - m(a, 'sqnrDb'), 9);
      const acc = row.deltas.accuracy!;
      expect(acc.delta).toBeCloseTo((m(b, 'accuracy') - m(a, 'accuracy')) * 100, 9);
      const n = a.network === 'fmnist-dwsep' ? 20 : 100;
      const ka = m(a, 'accuracy') * n;
      const kb = m(b, 'accuracy') * n;
      if (Math.abs(ka - Math.round(ka)) < 1e-6 && Math.abs(kb - Math.round(kb)) < 1e-6) {
        expect(acc.samples).toBe(n);
        const [alo, ahi] = wilson(Math.round(ka), n);
        const [blo, bhi] = wilson(Math.round(kb), n);
        expect(acc.interval95!.from[0]).toBeCloseTo(alo, 9);
        expect(acc.interval95!.from[1]).toBeCloseTo(ahi, 9);
        expect(acc.interval95!.to[0]).toBeCloseTo(blo, 9);
        expect(acc.interval95!.to[1]).toBeCloseTo(bhi, 9);
        expect(acc.reading).toBe(n < 30 ? 'anecdotal' : ahi >= blo && bhi >= alo ? 'within noise' : 'clear');
      } else expect(acc.samples).toBeUndefined();
    }
  });
}

describe('findings', () => {
  it('every delta equals the one recomputed from results.json; unsupported pairs are listed, not dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-findings-'));
    const s = validateScenario(SCENARIO);
    const run = await runScenario(s, { outDir: join(dir, 'a'), workers: 0 });
    const read = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
    checkAgainstResults(read(join(dir, 'a', 'results.json')), read(join(dir, 'a', 'findings.json')));
    expect(run.report.findings!.comparisons[0].sentences).toHaveLength(2);

    // whole-sample accuracies (so every side has a Wilson interval) and one pair unsupported, by hand
    const doc = read(join(dir, 'a', 'results.json')) as { points: Pt[] };
    for (const p of doc.points) {
      const n = p.network === 'fmnist-dwsep' ? 20 : 100;
      p.metrics.accuracy = Math.round((p.metrics.accuracy as number) * n) / n;
    }
    const victim = doc.points.find((p) => p.arch === 'mcu-npu' && p.axes['ptq.perChannel'] === true && p.network === 'fmnist-cnn')!;
    for (const k of Object.keys(victim.metrics)) victim.metrics[k] = null;
    victim.metrics.note = 'unsupported: by hand';
    const b = join(dir, 'b');
    writeFileSync(join(dir, 'results.json'), JSON.stringify(doc));
    const w = await reportFromResults(join(dir, 'results.json'), b);
    const f = read(join(b, 'findings.json'));
    checkAgainstResults(doc, f);
    const bad = (f.comparisons[0].rows as Row[]).filter((r) => r.status !== 'ok');
    expect(bad.map((r) => r.reason)).toEqual(['unsupported: by hand']);
    expect(w.findings!.comparisons[0].sentences[0]).toMatch(/1 pair on mcu-npu .*did not run \(unsupported: by hand\)/);
    const html = readFileSync(w.html, 'utf8');
    // the report opens with the findings
    expect(html.indexOf('<section id="findings">')).toBeGreaterThan(0);
    expect(html.indexOf('<section id="findings">')).toBeLessThan(html.indexOf('<h2>Plots</h2>'));
    expect(html).toContain('unsupported: by hand');
  }, 60_000);

  it('the schema is validated: unknown axis, values, pairBy that leaves a varying dimension out, non-scalar metrics', () => {
    const bad = structuredClone(SCENARIO) as Record<string, unknown> & { findings: Record<string, unknown> };
    bad.findings = {
      question: '',
      compare: [
        { axis: 'ptq.perChanel', from: false, to: true },
        { axis: 'ptq.symmetric', from: true, to: 'no', pairBy: ['network', 'arch'] },
      ],
      metrics: ['energyByComponent', 'cycles'],
      tradeoff: { x: 'energyPj', y: 'latencyS', panel: 'nets' },
      extra: 1,
    };
    const problems = problemsOf(() => validateScenario(bad));
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'findings.question',
        'findings.compare[0].axis',
        'findings.compare[1].to',
        'findings.compare[1].pairBy',
        'findings.metrics[0]',
        'findings.tradeoff.y[0]',
        'findings.tradeoff.panel',
      ]),
    );
    expect(problems.find((p) => p.path === 'findings.compare[0].axis')!.message).toContain('did you mean "ptq.perChannel"');
    expect(problems.find((p) => p.path === 'findings.compare[1].pairBy')!.message).toContain('missing ptq, ptq.perChannel');
    expect(problems.some((p) => /extra/.test(p.path + p.message))).toBe(true);
  });
});
