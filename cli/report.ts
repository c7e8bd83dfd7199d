/** `qloom report <results.json>`: re-render CSVs, plots and report.html from a results file. */
import { dirname } from 'node:path';
import { readResults, writeReport } from '../scenarios/index.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';

export const reportCommand: Command = {
  summary: 're-render a scenario report (CSVs, SVG plots, report.html) from its results.json',
  usage: 'qloom report <results.json> [--out <dir>]',
  options: { out: { type: 'string' } },
  async run(pos, values) {
    if (pos.length !== 1) throw new UsageError('report takes exactly one results.json');
    const doc = readResults(pos[0]);
    const outDir = (values.out as string | undefined) ?? dirname(pos[0]);
    // the results file itself is only rewritten when the report goes elsewhere
    const written = await writeReport(doc, outDir, { writeResults: outDir !== dirname(pos[0]) });
    process.stdout.write(`report: ${written.html}\n`);
  },
};
