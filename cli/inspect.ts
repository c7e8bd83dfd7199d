/** `qloom inspect`: layers of a model with op, shapes, parameters and MACs. */
import { inspectModel } from '../scenarios/models.js';
import { INSPECT_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

const shape = (s: readonly number[]) => `[${s.join(',')}]`;

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one model name or file');
  const width = flags.int('width', { min: 1 });
  flags.check(INSPECT_USAGE);
  const m = inspectModel(pos[0], { width });
  if (values.json) {
    process.stdout.write(JSON.stringify(m, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${m.model}  (${m.source})\n`);
  process.stdout.write(`inputs:  ${m.inputs.map((i) => `${i.name} ${i.dtype}${shape(i.shape)}`).join(', ')}\n`);
  process.stdout.write(`outputs: ${m.outputs.map((o) => `${o.name} ${o.dtype}${shape(o.shape)}`).join(', ')}\n\n`);
  const rows = m.layers.map((l) => [l.name, l.op, shape(l.inputShape), shape(l.outputShape), l.params, l.macs]);
  process.stdout.write(table(['layer', 'op', 'input', 'output', 'params', 'MACs'], rows) + '\n\n');
  process.stdout.write(`layers: ${m.layers.length}   params: ${m.totalParams.toLocaleString('en-US')}   totalMacs: ${m.totalMacs.toLocaleString('en-US')} (batch 1)\n`);
}
