/** `qloom report <results.json>`: re-render CSVs, plots and report.html from a results file. */
import { UsageError } from '../errors/index.js';
import { reportFromResults } from '../scenarios/run-scenario.js';

export async function run(pos: string[], values: Record<string, unknown>): Promise<void> {
  if (pos.length !== 1) throw new UsageError('report takes exactly one results.json');
  const written = await reportFromResults(pos[0], values.out as string | undefined);
  process.stdout.write(`report: ${written.html}\n`);
}
