/** `qloom models`: the model zoo. */
import { listModels } from '../nets/zoo/catalog.js';
import { table } from './table.js';

export function run(_pos: string[], values: Record<string, unknown>): void {
  const models = listModels();
  if (values.json) {
    process.stdout.write(JSON.stringify(models, null, 2) + '\n');
    return;
  }
  process.stdout.write(table(['name', 'origin', 'data', 'description'], models.map((m) => [m.name, m.origin, m.dataset, m.description])) + '\n');
}
