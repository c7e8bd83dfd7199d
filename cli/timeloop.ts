/**
 * `qloom timeloop <run-folder|parsed-processed-input.yaml> [--json]`: a Timeloop run evaluated by
 * qloom's nest analysis (scenarios/timeloop.ts) — per level and data space the per-instance reads,
 * fills and updates as Timeloop's stats name them, energy and cycles.
 */
import { runTimeloop, timeloopReport } from '../scenarios/index.js';
import { TIMELOOP_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one Timeloop run folder or its parsed-processed-input.yaml');
  flags.check(TIMELOOP_USAGE);
  const tl = runTimeloop(pos[0]);
  if (values.json === true) {
    process.stdout.write(JSON.stringify(timeloopReport(tl), null, 2) + '\n');
    return;
  }
  const r = tl.result;
  const pj = (x: number): string => x.toFixed(2);
  process.stdout.write(`${r.problem}: ${r.computes.toLocaleString('en-US')} computes on ${r.computeInstances} of ${tl.spec.compute.instances} ${tl.spec.compute.name}, ${r.cycles.toLocaleString('en-US')} cycles, ${pj(r.energyPj)} pJ (${pj((r.energyPj * 1000) / r.computes)} fJ/compute)\n\n`);
  const rows: (string | number)[][] = [[tl.spec.compute.name, 'compute', '', r.computes, '', '', '', '', pj(r.computeEnergyPj)]];
  for (const l of r.levels) {
    for (const [ds, s] of Object.entries(l.dataSpaces)) {
      rows.push([l.name, ds, `${s.utilizedInstances}/${l.instances}`, s.reads, s.fills, s.updates, s.temporalReductions, s.utilizedCapacity, pj(s.totalEnergyPj)]);
    }
    if (l.leakPj > 0) rows.push([l.name, 'leakage', '', '', '', '', '', '', pj(l.leakPj)]);
  }
  process.stdout.write(table(['level', 'data space', 'instances', 'reads', 'fills', 'updates', 'reductions', 'capacity', 'energy pJ'], rows) + '\n');
  process.stdout.write('\ncounts are per instance (as Timeloop reports them); energy is over the utilized instances\n');
}
