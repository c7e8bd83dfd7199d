/**
 * The built-in scenarios other than pc-vs-pt state their answer too (issue 19 item 2): fusion's
 * findings (fused → unfused deltas), acc-width's per-metric plots (x = accumulator bits, colour =
 * overflow policy, a panel per network and per PTQ), dse's Pareto plot with the front visually
 * distinct. All checked on the validated scenario files and hand-made results: nothing is run.
 */
import { describe, expect, it } from 'vitest';
import { computeFindings } from '../../../scenarios/findings.js';
import { expandPoints } from '../../../scenarios/points.js';
import { plotsOf, renderReport, type ResultsDoc, vegaLiteSpec } from '../../../scenarios/report.js';
import { loadScenario, type Scenario } from '../../../scenarios/scenario.js';

/** results for every point of `s`, metrics made up by `metrics(i)`: enough for findings and plots */
function fakeResults(s: Scenario, metrics: (i: number) => Record<string, number | string>): ResultsDoc {
  return {
    scenario: s.name,
    description: s.description,
    seed: s.seed,
    runner: s.runner,
    codeVersion: 'test',
    config: s,
    points: expandPoints(s).map((p) => ({
      index: p.index,
      configHash: p.configHash,
      network: p.config.network,
      arch: p.config.archLabel,
      ptq: p.config.ptqLabel,
      axes: p.config.axes,
      metrics: metrics(p.index),
    })),
  };
}

describe('built-in scenarios: findings and plots for their question', () => {
  it('fusion: a findings compare on requant.fused (fused → unfused) with cycles, energy and bits deltas', () => {
    const s = loadScenario('fusion');
    const f = s.findings!;
    expect(f).not.toBeNull();
    expect(f.compare).toHaveLength(1);
    expect(f.compare[0]).toMatchObject({ axis: 'requant.fused', from: true, to: false, baseline: 'fused', label: 'unfused' });
    expect(f.compare[0].pairBy).toEqual(['network', 'arch', 'ptq']);
    expect(f.metrics).toEqual(expect.arrayContaining(['cycles', 'energyPj', 'bitsMoved']));
    expect(f.breakdown).toEqual({ metric: 'energyByComponent', panel: 'network' });
  });

  it('fusion: every (network, arch, ptq) group has both a fused and an unfused point, so every pair is complete', () => {
    const s = loadScenario('fusion');
    const points = expandPoints(s);
    expect(points).toHaveLength(s.networks.length * s.archs.length * s.ptq.length * 2);
    const doc = fakeResults(s, (i) => ({ cycles: 100 + i, stallCycles: i, energyPj: 1000 + i, bitsMoved: 5000 + i, note: '' }));
    const findings = computeFindings(doc)!;
    const rows = findings.comparisons[0].rows;
    expect(rows).toHaveLength(s.networks.length * s.archs.length * s.ptq.length);
    for (const r of rows) {
      expect(r.status).toBe('ok');
      expect(r.from).not.toBeNull();
      expect(r.to).not.toBeNull();
      expect(doc.points[r.from!].axes['requant.fused']).toBe(true);
      expect(doc.points[r.to!].axes['requant.fused']).toBe(false);
      for (const d of ['network', 'arch', 'ptq'] as const) expect(doc.points[r.from!][d]).toBe(doc.points[r.to!][d]);
      for (const m of ['cycles', 'energyPj', 'bitsMoved']) expect(r.deltas[m]?.delta).toEqual(expect.any(Number));
    }
    // every point is in exactly one pair
    expect(new Set(rows.flatMap((r) => [r.from, r.to])).size).toBe(points.length);
  });

  it('acc-width: one plot per metric (accuracy, overflow rate) against accumulator bits, colour = policy, column = network, row = ptq', () => {
    const s = loadScenario('acc-width');
    const byY = new Map(s.report.plots.map((p) => [p.y, p]));
    for (const y of ['accuracy', 'overflowRate']) {
      expect(byY.get(y)).toMatchObject({ x: 'accumulator.bits', color: 'accumulator.overflow', column: 'network', row: 'ptq', mark: 'line' });
    }
    // the row facet reaches the vega-lite spec, and every point of one line differs only in the bits
    const doc = fakeResults(s, (i) => ({ accuracy: 0.5 + (i % 7) / 20, overflowRate: (i % 5) / 10 }));
    const spec = vegaLiteSpec(doc, byY.get('accuracy')!) as unknown as { encoding: Record<string, { field: string }>; data: { values: unknown[] } };
    expect(spec.encoding.row.field).toBe('ptq');
    expect(spec.encoding.column.field).toBe('network');
    expect(spec.encoding.color.field).toBe('accumulator_overflow');
    expect(spec.data.values).toHaveLength(doc.points.length);
  });

  it('dse: the Pareto plot draws on-front points distinct from dominated ones (colour, size, opacity, on top)', () => {
    const s = loadScenario('dse');
    const plot = plotsOf(fakeResults(s, () => ({}))).find((p) => p.color === 'pareto')!;
    expect(plot).toMatchObject({ x: 'latencyS', y: 'energyPj', column: 'network' });
    // latency and energy that trade off: some points on the front, the rest dominated
    const doc = fakeResults(s, (i) => ({ latencyS: 1 + (i % 9), energyPj: 10 + ((i * 7) % 13), edp: 1, cycles: 1, utilization: 0.5 }));
    const spec = vegaLiteSpec(doc, plot) as unknown as { encoding: Record<string, { field: string; scale?: { domain: string[]; range: unknown[] } }>; data: { values: Record<string, unknown>[] } };
    for (const ch of ['color', 'size', 'opacity']) {
      expect(spec.encoding[ch].field).toBe('pareto');
      expect(spec.encoding[ch].scale!.domain).toEqual(['on the front', 'dominated']);
      const [front, dominated] = spec.encoding[ch].scale!.range;
      expect(front).not.toEqual(dominated);
    }
    expect(spec.encoding.order.field).toBe('paretoOrder');
    const kinds = new Set(spec.data.values.map((v) => v.pareto));
    expect(kinds).toEqual(new Set(['on the front', 'dominated']));
    for (const v of spec.data.values) expect(v.paretoOrder).toBe(v.pareto === 'on the front' ? 1 : 0);
  });

  it('the reports render: every plot (row facets, the Pareto encodings, fusion\'s findings plots) becomes SVG with marks', async () => {
    const fake: Record<string, (i: number) => Record<string, number | string>> = {
      'acc-width': (i) => ({ accuracy: 0.5 + (i % 7) / 20, overflowRate: (i % 5) / 10 }),
      dse: (i) => ({ latencyS: 1 + (i % 9), energyPj: 10 + ((i * 7) % 13), edp: 1, cycles: 1, utilization: 0.5 }),
      fusion: (i) => ({ cycles: 100 + i, stallCycles: i, energyPj: 1000 + i, energyByComponent: JSON.parse(`{"array": ${500 + i}, "dram": ${500}}`), bitsMoved: 5000 + i, note: '' }),
    };
    for (const [name, metrics] of Object.entries(fake)) {
      const r = await renderReport(fakeResults(loadScenario(name), metrics));
      expect(r.plots.length).toBeGreaterThanOrEqual(2);
      for (const p of [...r.plots, ...r.findingsPlots]) expect(p.svg, `${name}: ${p.title}`).toMatch(/class="mark-(symbol|line|rect|trail)/);
      if (name === 'fusion') {
        expect(r.html).toContain('<section id="findings">');
        expect(r.findingsPlots).toHaveLength(2);
      }
    }
  }, 60_000);
});
