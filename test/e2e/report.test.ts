/**
 * `qloom scenario` → report.html opened in headless Chromium (Debian package `chromium`, driven by
 * playwright-core): every plot renders as a non-empty <svg> with marks, no console errors, and the
 * page fetches nothing from outside the file. A scenario with findings: the report opens with
 * them (one row per pair group), the terminal prints them instead of the table (`--table` adds
 * it), and the trade-off plots draw one arrow per pt/pc pair that both ran.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);

const SCENARIO = `name: e2e-report
description: small synthetic sweep for the browser check
seed: 11
runner: synthetic
networks: [fmnist-cnn, fmnist-dwsep]
ptq: [w8a8-pc]
archs: [edge-npu]
axes:
  array.shape: [8x8, 16x16]
  memories.dram.bandwidth: [3.2 GB/s, 12.8 GB/s]
  array.dataflow: [ws, os]
metrics: [latencyS, energyPj, edp]
report:
  plots:
    - { x: array.shape, y: latencyS, color: array.dataflow, column: network }
    - { x: memories.dram.bandwidth, y: edp, color: network, mark: bar, yScale: log }
  pareto: { objectives: { latencyS: min, energyPj: min }, groupBy: [network] }
`;

const FINDINGS = `name: e2e-findings
description: pc-vs-pt-shaped synthetic sweep
seed: 5
runner: synthetic
networks: [fmnist-cnn, fmnist-dwsep]
ptq: [{ preset: w8a8-pt, label: W8A8 }, { preset: w4a8-pt, label: W4A8 }]
archs: [edge-npu]
axes:
  ptq.perChannel: [false, true]
  ptq.symmetric: [true, false]
metrics: [accuracy, sqnrDb, cycles, energyPj, energyByComponent, requantParamBits, paramBytes]
data: { dataset: auto, samples: 100 }
findings:
  question: What does per-channel cost, and what does it buy?
  compare:
    - { axis: ptq.perChannel, from: false, to: true, baseline: per-tensor, label: per-channel }
  metrics: [accuracy, sqnrDb, cycles, energyPj, requantParamBits, paramBytes]
  tradeoff: { x: energyPj, y: [accuracy, sqnrDb], panel: network, shape: ptq.symmetric, color: ptq }
  breakdown: { metric: energyByComponent, panel: network }
`;

const MARKS = 'g[class^="mark-symbol"] path, g[class^="mark-rect"] path, g[class^="mark-line"] path, g[class^="mark-trail"] path, g[class^="mark-symbol"] circle';

describe('report.html in headless Chromium', () => {
  it('every plot renders and the console stays clean', async () => {
    // CI must install it: apt-get install -y chromium
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install -y chromium)`).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'qloom-e2e-report-'));
    const file = join(dir, 'e2e-report.yaml');
    writeFileSync(file, SCENARIO);
    const out = join(dir, 'out');
    const { stdout } = await run('node', [join(ROOT, 'cli/qloom.js'), 'scenario', file, '--out', out, '--workers', '2'], { cwd: ROOT, maxBuffer: 16 << 20 });
    const html = join(out, 'report.html');
    expect(stdout).toContain(`report: ${html}`);
    expect(stdout).toContain('16 points (16 run, 0 from');

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const external: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) external.push(r.url());
      });
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

      const plots = await page.$$eval('figure.plot', (figs) =>
        figs.map((f) => {
          const svg = f.querySelector('svg');
          if (!svg) return { svg: false, width: 0, height: 0, marks: 0 };
          const box = svg.getBoundingClientRect();
          // vega draws marks as paths (symbols, rects via path) inside groups with class "mark-…"
          const marks = svg.querySelectorAll('g[class^="mark-symbol"] path, g[class^="mark-rect"] path, g[class^="mark-line"] path, g[class^="mark-symbol"] circle').length;
          return { svg: true, width: box.width, height: box.height, marks };
        }),
      );
      // two plots from the file and the Pareto plot
      expect(plots.length).toBe(3);
      for (const p of plots) {
        expect(p.svg).toBe(true);
        expect(p.width).toBeGreaterThan(50);
        expect(p.height).toBeGreaterThan(50);
        expect(p.marks).toBeGreaterThan(0);
      }
      expect(await page.textContent('#seed')).toBe('11');
      expect(await page.$$eval('#points tbody tr', (r) => r.length)).toBe(16);
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('a scenario with findings: terminal findings first, the report opens with one row per pair group, every plot has marks, an arrow per pair', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-e2e-findings-'));
    const file = join(dir, 'e2e-findings.yaml');
    writeFileSync(file, FINDINGS);
    const out = join(dir, 'out');
    const { stdout } = await run('node', [join(ROOT, 'cli/qloom.js'), 'scenario', file, '--out', out, '--workers', '0'], { cwd: ROOT, maxBuffer: 16 << 20 });
    const html = join(out, 'report.html');
    // findings, then the report path; the table of points only with --table
    expect(stdout).toContain('What does per-channel cost, and what does it buy?');
    expect(stdout).toMatch(/per-channel vs per-tensor \(ptq\.perChannel false → true; everything else equal\)/);
    expect(stdout).toMatch(/• fmnist-cnn, per-channel vs per-tensor \(4 pairs\): costs .* cycles/);
    expect(stdout).not.toMatch(/ptq\.perChannel\s+ptq\.symmetric\s+accuracy %/);
    expect(stdout.indexOf('What does')).toBeLessThan(stdout.indexOf(`report: ${html}`));
    const again = await run('node', [join(ROOT, 'cli/qloom.js'), 'scenario', file, '--out', out, '--table'], { cwd: ROOT, maxBuffer: 16 << 20 });
    expect(again.stdout).toMatch(/ptq\.perChannel\s+ptq\.symmetric\s+accuracy %/);
    expect(again.stdout).toContain('16 points (0 run, 16 from');

    // what the page must show, from results.json: pair groups and the pairs that both ran
    const doc = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { points: { network: string; ptq: string; axes: Record<string, unknown>; metrics: Record<string, unknown> }[] };
    const key = (p: (typeof doc.points)[number]) => JSON.stringify([p.network, p.ptq, p.axes['ptq.symmetric']]);
    const groups = new Set(doc.points.map(key));
    const ran = (p: (typeof doc.points)[number], y: string) => typeof p.metrics.energyPj === 'number' && typeof p.metrics[y] === 'number';
    const arrows = (y: string) =>
      doc.points.filter((a) => a.axes['ptq.perChannel'] === false && ran(a, y) && doc.points.some((b) => b.axes['ptq.perChannel'] === true && key(b) === key(a) && ran(b, y))).length;

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      // the first section of the page is the findings
      expect(await page.$eval('body > section, body > dl, body > h2', (e) => e.id)).toBe('findings');
      expect(await page.$$eval('#findings-0 tbody tr.finding', (r) => r.length)).toBe(groups.size);
      expect(await page.$$eval('#findings ul.sentences li', (r) => r.length)).toBe(2);
      const figs = await page.$$eval(
        'figure.plot',
        (fs, sel) => fs.map((f) => ({ id: f.id, caption: f.querySelector('figcaption')?.textContent ?? '', marks: f.querySelectorAll(sel).length, trails: f.querySelectorAll('g[class^="mark-trail"] path').length })),
        MARKS,
      );
      const findingsFigs = figs.filter((f) => f.id.startsWith('findings-plot-'));
      // accuracy vs energy, SQNR vs energy, energy by component
      expect(findingsFigs.map((f) => f.caption.split(':')[0])).toEqual(['accuracy vs energy', 'SQNR vs energy', 'energyByComponent by component']);
      for (const f of figs) expect(f.marks, f.id).toBeGreaterThan(0);
      expect(findingsFigs[0].trails).toBe(arrows('accuracy'));
      expect(findingsFigs[1].trails).toBe(arrows('sqnrDb'));
      expect(arrows('accuracy')).toBe(16 / 2);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
