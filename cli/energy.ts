/**
 * `qloom energy <result.json> --table <name|file>`: prices a saved run result with another energy
 * table, from its stored counts — no re-run (DESIGN.md "Energy and bits").
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../arch/errors.js';
import { loadEnergyTable } from '../arch/energy.js';
import { parseRunResult, recomputeEnergy } from '../sim/result.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { table } from './table.js';

const USAGE = 'qloom energy <result.json> --table <name|file.json|file.yaml> [--json]';

export const energyCommand: Command = {
  summary: 'recompute the energy of a saved run result with another energy table',
  usage: USAGE,
  options: { table: { type: 'string' }, json: { type: 'boolean' } },
  run(pos, values) {
    if (pos.length !== 1) throw new UsageError(`energy takes exactly one result file\nusage: ${USAGE}`);
    const tableName = values.table as string | undefined;
    if (tableName === undefined) throw new UsageError(`--table is required\nusage: ${USAGE}`);
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(pos[0], 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read the result (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, pos[0]);
    }
    const result = recomputeEnergy(parseRunResult(doc, pos[0]), loadEnergyTable(tableName));
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
    const uj = (pj: number): string => (pj / 1e6).toFixed(3);
    process.stdout.write(`energy table ${result.energy.table} (${result.energy.tableHash.slice(0, 12)})\n\n`);
    process.stdout.write(table(['layer', 'energy µJ'], [...result.layers.map((l) => [l.name, uj(l.energyPj)]), ['total', uj(result.totals.energyPj)]]) + '\n\n');
    const rows = Object.entries(result.energy.byLabel).map(([label, pj]) => [label, uj(pj)]);
    process.stdout.write(table(['component', 'energy µJ'], rows) + '\n');
  },
};
