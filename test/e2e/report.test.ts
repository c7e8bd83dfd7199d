/**
 * `qloom scenario` → report.html opened in headless Chromium (Debian package `chromium`, driven by
 * playwright-core): every plot renders as a non-empty <svg> with marks, no console errors, and the
 * page fetches nothing from outside the file.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
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
});
