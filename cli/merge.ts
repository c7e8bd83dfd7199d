/** `qloom merge <dir>… --out <dir>`: one scenario's results and report from its shards' folders. */
import { MERGE_USAGE } from './commands.js';
import type { Flags } from './flags.js';

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  if (pos.length === 0) flags.problem('expected one or more shard output folders, got none');
  flags.string('out', '<dir>');
  flags.check(MERGE_USAGE);
  const { mergeShards } = await import('../scenarios/shard-run.js');
  const { printTable } = await import('./scenario.js');
  const outDir = values.out as string;
  const m = await mergeShards(pos, { outDir });
  if (values.table) printTable(m.results, outDir);
  process.stdout.write(`${m.results.points.length} points of ${m.results.scenario} from ${m.used.length} folder${m.used.length === 1 ? '' : 's'}\nreport: ${m.report.html}\n`);
}
