/** `qloom report <results.json>`: re-render CSVs, plots and report.html from a results file. */
import { REPORT_USAGE } from './commands.js';
import type { Flags } from './flags.js';

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(1, 'one results.json');
  flags.check(REPORT_USAGE);
  // the report renderer (vega) loads only for a command line that is right
  const { reportFromResults } = await import('../scenarios/run-scenario.js');
  const written = await reportFromResults(pos[0], values.out as string | undefined);
  process.stdout.write(`report: ${written.html}\n`);
}
