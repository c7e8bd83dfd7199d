/**
 * `qloom map`: a network's conv / dense layers on the arch as a memory hierarchy (scenarios/map-model.ts)
 * — the fixed schedule, the mapper's best mapping (`--search`) or a given one (`--mapping`) —
 * energy, cycles and the real integer arithmetic in each mapping's order, as a table or `--json`.
 */
import { mapModel, type MappedRun, type MapModelResult } from '../scenarios/map-model.js';
import { PRESET_NAMES as PTQ_PRESETS } from './ptq-flags.js';
import { MAP_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { progress } from './progress.js';
import { table } from './table.js';

const DATASETS = ['mnist', 'fmnist', 'photos'] as const;
const OBJECTIVES = ['energy', 'cycles', 'edp'] as const;
const OVERFLOWS = ['saturate', 'wrap'] as const;

function print(r: MapModelResult): void {
  const n = (x: number): string => x.toLocaleString('en-US');
  const uj = (pj: number): string => (pj / 1e6).toFixed(3);
  const cells = (m: MappedRun | undefined): (string | number)[] => (m ? [uj(m.energyPj), n(m.cycles), `${n(m.wrongOutputs)} / ${n(m.outputs)}`, `${n(m.psumEvents)} / ${n(m.accEvents)}`] : ['', '', '', '']);
  const fixed = r.layers.some((l) => l.fixed);
  const searched = r.layers.some((l) => l.searched);
  const given = r.layers.some((l) => l.given);
  const heads = (what: string): string[] => [`${what} µJ`, 'cycles', 'outputs ≠ exact', 'overflows reg / acc'];
  const rows = r.layers.map((l) => [l.layer, `${l.dims.R}×${l.dims.S} ${l.dims.P}×${l.dims.Q} C${l.dims.C} M${l.dims.M} N${l.dims.N} G${l.dims.G}`, n(l.macs), ...(fixed ? cells(l.fixed) : []), ...(searched ? cells(l.searched) : []), ...(given ? cells(l.given) : [])]);
  process.stdout.write(`${r.model} on ${r.arch} as a hierarchy, ${r.images} image(s); registers: partial sums ${r.registers.psumBits}-bit, accumulator ${r.registers.accBits}-bit, ${r.registers.policy}\n\n`);
  process.stdout.write(table(['layer', 'problem (padded)', 'MACs', ...(fixed ? heads('fixed') : []), ...(searched ? heads('searched') : []), ...(given ? heads('given') : [])], rows) + '\n');
  const sum = (k: 'fixed' | 'searched' | 'given'): number => r.layers.reduce((a, l) => a + (l[k]?.energyPj ?? 0), 0);
  process.stdout.write(
    `\nenergy (MACs and data movement under the hierarchy's nest analysis): ` +
      [
        ...(fixed ? [`fixed ${uj(sum('fixed'))} µJ`] : []),
        ...(searched ? [`searched ${uj(sum('searched'))} µJ${fixed ? ` (${(sum('searched') / sum('fixed')).toFixed(3)}×)` : ''}`] : []),
        ...(given ? [`given ${uj(sum('given'))} µJ`] : []),
      ].join(', ') +
      (fixed ? '' : ` (${r.arch} has no fixed schedule: split buffers or levels between the buffer and the registers)`) +
      '\noutputs ≠ exact: accumulators that differ from exact integer sums on these images, in that mapping\'s order of adds\n',
  );
}

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(0, 'map takes flags only');
  const model = flags.string('model', '<name|file.onnx>');
  const arch = flags.string('arch', '<preset|file>');
  const data = flags.oneOf('data', DATASETS, '<dataset>');
  flags.oneOf('preset', PTQ_PRESETS);
  const images = flags.int('images', { min: 1, max: 64 });
  const search = values.search === true;
  if (!search) flags.unused(['budget', 'seed', 'objective'], 'only with --search');
  const budget = flags.int('budget', { min: 1, max: 1_000_000 });
  const seed = flags.int('seed', { min: 0, max: 2 ** 32 - 1 });
  const objective = flags.oneOf('objective', OBJECTIVES);
  const psumBits = flags.int('psum-bits', { min: 2, max: 52 });
  const accBits = flags.int('acc-bits', { min: 2, max: 52 });
  const overflow = flags.oneOf('overflow', OVERFLOWS);
  const layers = typeof values.layer === 'string' ? values.layer.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
  flags.check(MAP_USAGE);
  const json = values.json === true;
  const bar = progress('map', process.stderr, json && !process.stderr.isTTY);
  const r = await mapModel({
    arch: arch!,
    model: model!,
    data: data!,
    ...(values.preset !== undefined && { preset: values.preset as string }),
    ...(images !== undefined && { images }),
    ...(layers && { layers }),
    ...(values.mapping !== undefined && { mapping: values.mapping as string }),
    ...(search && { search: { ...(budget !== undefined && { budget }), ...(seed !== undefined && { seed }), ...(objective && { objective }) } }),
    registers: { ...(psumBits !== undefined && { psumBits }), ...(accBits !== undefined && { accBits }), ...(overflow && { policy: overflow }) },
    onLayer: (d, t) => bar.update(d, t),
  });
  bar.done();
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else print(r);
}
