/** `qloom models`: the model zoo — classifiers and, apart, the diffusion models (no top-1). */
import { listModels, readDiffusionManifest } from '../nets/zoo/catalog.js';
import { MODELS_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

export function run(_pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(0, 'models takes no argument');
  flags.check(MODELS_USAGE);
  const models = listModels();
  const diffusion = Object.entries(readDiffusionManifest()).map(([name, d]) => ({
    name,
    origin: 'bundled' as const,
    dataset: d.dataset,
    description: `diffusion model trained here (${d.trainedBy}): ε-prediction UNet, ${d.params.toLocaleString('en-US')} params, ${d.macs.toLocaleString('en-US')} MACs per denoising step; \`qloom diffusion\``,
    diffusion: d,
  }));
  if (values.json) {
    process.stdout.write(JSON.stringify([...models, ...diffusion], null, 2) + '\n');
    return;
  }
  process.stdout.write(table(['name', 'origin', 'data', 'description'], [...models, ...diffusion].map((m) => [m.name, m.origin, m.dataset, m.description])) + '\n');
}
