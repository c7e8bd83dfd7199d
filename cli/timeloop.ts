/**
 * `qloom timeloop <run-folder|parsed-processed-input.yaml> [--json]`: a Timeloop run evaluated by
 * qloom's nest analysis (scenarios/timeloop.ts) — per level and data space the per-instance reads,
 * fills and updates as Timeloop's stats name them, energy and cycles.
 * `--search [--objective energy|cycles|edp] [--budget N] [--seed S]`: the mapper instead — the best
 * mapping under the run's constraints, as Timeloop mapping entries, and its counts (`--json
 * --timing` adds the search's wall-clock time and mappings per second).
 * `--arith [--psum-bits N] [--acc-bits N] [--overflow saturate|wrap] [--data-seed S]`: the mapping's
 * integer arithmetic in its own order on seeded random int8 operands (the given mapping, and with
 * --search the best one too): outputs that differ from the exact sums, overflows per register.
 */
import { mappedArithmetic, searchTimeloop, runTimeloop, timeloopReport, timeloopSearchReport, type ArithmeticOptions, type MappedArithmetic, type MapperObjective, type TimeloopResult, type TimeloopSpec } from '../scenarios/index.js';
import { TIMELOOP_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

const OBJECTIVES: readonly MapperObjective[] = ['energy', 'cycles', 'edp'];
const OVERFLOWS = ['saturate', 'wrap'] as const;

function arithmeticLine(label: string, a: MappedArithmetic): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  return `${label}: ${n(a.wrongOutputs)} of ${n(a.outputs)} outputs differ from the exact sums; ${n(a.psumEvents)} partial-sum overflows (${a.psumBits}-bit ${a.policy}), ${n(a.accEvents)} accumulator overflows (${a.accBits}-bit), ${n(a.updates)} partial sums sent up — ${n(a.macs)} MACs on random int8 operands (seed ${a.seed})\n`;
}

function printCounts(spec: TimeloopSpec, r: TimeloopResult): void {
  const pj = (x: number): string => x.toFixed(2);
  process.stdout.write(`${r.problem}: ${r.computes.toLocaleString('en-US')} computes on ${r.computeInstances} of ${spec.compute.instances} ${spec.compute.name}, ${r.cycles.toLocaleString('en-US')} cycles, ${pj(r.energyPj)} pJ (${pj((r.energyPj * 1000) / r.computes)} fJ/compute)\n\n`);
  const rows: (string | number)[][] = [[spec.compute.name, 'compute', '', r.computes, '', '', '', '', pj(r.computeEnergyPj)]];
  for (const l of r.levels) {
    for (const [ds, s] of Object.entries(l.dataSpaces)) {
      rows.push([l.name, ds, `${s.utilizedInstances}/${l.instances}`, s.reads, s.fills, s.updates, s.temporalReductions, s.utilizedCapacity, pj(s.totalEnergyPj)]);
    }
    if (l.leakPj > 0) rows.push([l.name, 'leakage', '', '', '', '', '', '', pj(l.leakPj)]);
  }
  process.stdout.write(table(['level', 'data space', 'instances', 'reads', 'fills', 'updates', 'reductions', 'capacity', 'energy pJ'], rows) + '\n');
  process.stdout.write('\ncounts are per instance (as Timeloop reports them); energy is over the utilized instances\n');
}

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one Timeloop run folder or its parsed-processed-input.yaml');
  const search = values.search === true;
  if (!search) flags.unused(['objective', 'budget', 'seed', 'timing'], 'only with --search');
  else if (values.timing === true && values.json !== true) flags.problem('--timing adds the wall-clock times to the --json output: give --json too');
  const objective = flags.oneOf('objective', OBJECTIVES);
  const budget = flags.int('budget', { min: 1, max: 10_000_000 });
  const seed = flags.int('seed', { min: 0, max: 2 ** 32 - 1 });
  const arith = values.arith === true;
  if (!arith) flags.unused(['psum-bits', 'acc-bits', 'overflow', 'data-seed'], 'only with --arith');
  const psumBits = flags.int('psum-bits', { min: 2, max: 52 }) ?? 16;
  const accBits = flags.int('acc-bits', { min: 2, max: 52 }) ?? 32;
  const policy = flags.oneOf('overflow', OVERFLOWS) ?? 'saturate';
  const dataSeed = flags.int('data-seed', { min: 0, max: 2 ** 32 - 1 }) ?? 1;
  flags.check(TIMELOOP_USAGE);
  const ao: ArithmeticOptions = { psumBits, accBits, policy, seed: dataSeed };
  if (!search) {
    const tl = runTimeloop(pos[0]);
    const a = arith ? mappedArithmetic(tl.spec, ao) : undefined;
    if (values.json === true) process.stdout.write(JSON.stringify({ ...timeloopReport(tl), ...(a && { arithmetic: a }) }, null, 2) + '\n');
    else {
      printCounts(tl.spec, tl.result);
      if (a) process.stdout.write('\n' + arithmeticLine('arithmetic in the mapping\'s order', a));
    }
    return;
  }
  const s = searchTimeloop(pos[0], { ...(objective && { objective }), ...(budget !== undefined && { budget }), ...(seed !== undefined && { seed }) });
  const best = arith ? mappedArithmetic(s.search.spec, ao) : undefined;
  const givenArith = arith && s.givenSpec ? mappedArithmetic(s.givenSpec, ao) : undefined;
  if (values.json === true) {
    process.stdout.write(JSON.stringify({ ...timeloopSearchReport(s, { timing: values.timing === true }), ...(best && { arithmetic: { best, given: givenArith ?? null } }) }, null, 2) + '\n');
    return;
  }
  const m = s.search;
  const given = s.given === undefined ? '' : `; the run's own mapping: ${s.given.energyPj.toFixed(2)} pJ, ${s.given.cycles.toLocaleString('en-US')} cycles`;
  process.stdout.write(
    `${m.mode} search for the lowest ${m.objective} (seed ${m.seed}, budget ${m.budget}${m.spaceSize !== null ? `, space ${m.spaceSize.toLocaleString('en-US')}` : ''}): ` +
      `${m.evaluated} mappings evaluated, ${m.invalid} refused, ${m.mappingsPerSecond.toFixed(0)} mappings/s; best found at evaluation ${m.bestAt}${given}\n\nmapping:\n`,
  );
  for (const e of m.mapping) {
    const body = e.type === 'bypass' ? `keep [${(e.keep ?? []).join(', ')}] bypass [${(e.bypass ?? []).join(', ')}]` : `factors ${e.factors} permutation ${e.permutation}${e.split !== undefined ? ` split ${e.split}` : ''}`;
    process.stdout.write(`  ${e.target} ${e.type}: ${body}\n`);
  }
  process.stdout.write('\n');
  printCounts(m.spec, m.result);
  if (best) process.stdout.write('\n' + arithmeticLine('arithmetic in the best mapping\'s order', best) + (givenArith ? arithmeticLine('arithmetic in the run\'s own mapping\'s order', givenArith) : ''));
}
