/**
 * `qloom energy <result.json> --table <name|file>`: prices a saved run result with another energy
 * table, from its stored counts — no re-run (DESIGN.md "Energy and bits").
 */
import { repriceRunResult } from '../scenarios/simulate.js';
import { ENERGY_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

const uj = (pj: number): string => (pj / 1e6).toFixed(3);

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one result file (qloom run --out)');
  const tableName = flags.string('table', '<name|file>');
  flags.check(ENERGY_USAGE);
  const result = repriceRunResult(pos[0], tableName!);
  if (values.json === true) {
    const out = {
      table: result.energy.table,
      tableHash: result.energy.tableHash,
      layers: result.layers.map((l) => ({ name: l.name, energyPj: l.energyPj })),
      totals: { energyPj: result.totals.energyPj },
      byComponent: result.energy.byComponent,
      byLabel: result.energy.byLabel,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  process.stdout.write(`energy table ${result.energy.table} (${result.energy.tableHash.slice(0, 12)})\n\n`);
  process.stdout.write(table(['layer', 'energy µJ'], [...result.layers.map((l) => [l.name, uj(l.energyPj)]), ['total', uj(result.totals.energyPj)]]) + '\n\n');
  const rows = Object.entries(result.energy.byLabel).map(([label, pj]) => [label, uj(pj)]);
  process.stdout.write(table(['component', 'energy µJ'], rows) + '\n');
}
