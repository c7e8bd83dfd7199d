import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildResults, flatRows, readResults, renderReport, serializeResults, writeReport } from '../../../scenarios/report.js';
import { validateScenario } from '../../../scenarios/scenario.js';
import { runSweep } from '../../../scenarios/sweep.js';

const SCENARIO = validateScenario({
  name: 'rep',
  description: 'a <small> & quick one',
  seed: 5,
  runner: 'synthetic',
  networks: ['fmnist-cnn', 'fmnist-dwsep'],
  archs: ['edge-npu'],
  axes: { 'array.shape': ['8x8', '16x16', '32x8'], 'memories.dram.bandwidth': ['3.2 GB/s', '12.8 GB/s'] },
  metrics: ['latencyS', 'energyPj', 'energyByComponent'],
  report: {
    plots: [{ x: 'array.shape', y: 'latencyS', color: 'memories.dram.bandwidth', column: 'network' }, { x: 'array.shape', y: 'energyByComponent.dram', mark: 'bar' }],
    pareto: { objectives: { latencyS: 'min', energyPj: 'min' }, groupBy: ['network'] },
  },
});

describe('report', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'qloom-report-'));
  const doc = buildResults(SCENARIO, await runSweep(SCENARIO, { outDir, workers: 0 }));
  const written = await writeReport(doc, outDir);

  it('report.html is self-contained: every plot inline as SVG, the seed and the configuration, no external URL', () => {
    const html = readFileSync(written.html, 'utf8');
    // two plots of the file + the Pareto plot
    expect(html.match(/<figure class="plot"/g)?.length).toBe(3);
    expect(html.match(/<svg[\s>]/g)?.length).toBe(3);
    expect(html).toContain('<dd id="seed">5</dd>');
    expect(html).toContain('a &lt;small&gt; &amp; quick one');
    const urls = [...html.matchAll(/(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1]);
    expect(urls).toEqual([]);
    expect(html.replace(/xmlns(:\w+)?="http:\/\/www\.w3\.org\/[^"]*"/g, '')).not.toMatch(/https?:\/\//);
  });

  it('results.json round-trips and re-renders the same report', async () => {
    const back = readResults(written.resultsJson);
    expect(serializeResults(back)).toBe(readFileSync(written.resultsJson, 'utf8'));
    expect((await renderReport(back)).html).toBe(readFileSync(written.html, 'utf8'));
  });

  it('points.csv has one row per point and flattens map metrics', () => {
    const lines = readFileSync(join(outDir, 'points.csv'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(1 + 2 * 3 * 2);
    const header = lines[0].split(',');
    expect(header.slice(0, 6)).toEqual(['index', 'network', 'arch', 'ptq', 'array.shape', 'memories.dram.bandwidth']);
    expect(header).toContain('energyByComponent.dram');
  });

  it('pareto.csv: within each network no listed point is dominated, and every unlisted one is', () => {
    const lines = readFileSync(join(outDir, 'pareto.csv'), 'utf8').trim().split('\n').slice(1);
    const listed = new Set(lines.map((l) => Number(l.split(',')[0])));
    const rows = flatRows(doc);
    const dominates = (a: (typeof rows)[0], b: (typeof rows)[0]) =>
      (a.latencyS as number) <= (b.latencyS as number) && (a.energyPj as number) <= (b.energyPj as number) && (a.latencyS !== b.latencyS || a.energyPj !== b.energyPj);
    for (const r of rows) {
      const dominated = rows.some((o) => o.network === r.network && dominates(o, r));
      expect(listed.has(r.index as number)).toBe(!dominated);
    }
  });
});
