/** `qloom models`: the model zoo. */
import { listModels } from '../nets/zoo/catalog.js';
import { MODELS_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

export function run(_pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(0, 'models takes no argument');
  flags.check(MODELS_USAGE);
  const models = listModels();
  if (values.json) {
    process.stdout.write(JSON.stringify(models, null, 2) + '\n');
    return;
  }
  process.stdout.write(table(['name', 'origin', 'data', 'description'], models.map((m) => [m.name, m.origin, m.dataset, m.description])) + '\n');
}
