/**
 * `qloom area <arch> [--json]`: the arch's silicon area at 45 nm by component (arch/area.ts says
 * how each is computed and from which sources).
 */
import { archArea, loadArch } from '../scenarios/index.js';
import { AREA_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one arch (a preset name or a spec file)');
  flags.check(AREA_USAGE);
  const report = archArea(loadArch(pos[0]));
  if (values.json === true) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const mm2 = (x: number): string => x.toFixed(4);
  process.stdout.write(`${report.arch}: ${mm2(report.totalMm2)} mm² at ${report.technology}\n\n`);
  process.stdout.write(table(['component', 'mm²', 'how'], [...report.components.map((c) => [c.component, mm2(c.mm2), c.detail]), ['total', mm2(report.totalMm2), '']]) + '\n\n');
  process.stdout.write(`not included: ${report.notIncluded.join(', ')}\nsources: ${report.source}\n`);
}
