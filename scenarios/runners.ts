/**
 * Point runners: the code that turns one sweep point (a PointConfig) into its metrics. A runner is
 * a module exporting `runPoint(config: PointConfig): PointMetrics | Promise<PointMetrics>`; it is
 * named by a kind in the registry (a scenario's `runner:` field) and imported by path inside each
 * worker thread — so only the path crosses threads, never a function.
 *
 * Built in: `qloom` (qloom-runner.ts), the real one — the PTQ pipeline and the simulator, the
 * numbers `qloom run` gives — and `synthetic` (synthetic.ts), a deterministic closed-form stand-in
 * the tests of the sweep machinery use (fast, no data).
 */
import { extname, isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../arch/errors.js';
import type { JsonValue, PointConfig } from './scenario.js';

/** metric name → a number, null (not available for this point), or a map (per layer / component) */
export type PointMetrics = { readonly [metric: string]: JsonValue };

export interface PointRunnerModule {
  runPoint(config: PointConfig): PointMetrics | Promise<PointMetrics>;
}

/** the built-in runners sit beside this module: .ts in the sources, .js in a compiled package */
const builtin = (name: string): string => fileURLToPath(new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

const registry = new Map<string, string>([
  ['synthetic', builtin('synthetic')],
  ['qloom', builtin('qloom-runner')],
  ['diffusion', builtin('diffusion-runner')],
]);

/** Registers (or replaces) a runner kind; `modulePath` is an absolute path or a file: URL. */
export function registerPointRunner(kind: string, modulePath: string | URL): void {
  const path = modulePath instanceof URL ? fileURLToPath(modulePath) : modulePath.startsWith('file:') ? fileURLToPath(modulePath) : modulePath;
  if (!/^[\w-]+$/.test(kind)) throw new ConfigError(`point-runner kind ${JSON.stringify(kind)} must be letters, digits, '_' or '-'`);
  if (!isAbsolute(path)) throw new ConfigError(`point-runner module for "${kind}" must be an absolute path, got ${JSON.stringify(path)}`);
  registry.set(kind, path);
}

export function runnerKinds(): string[] {
  return [...registry.keys()].sort();
}

/** The file: URL a worker imports for a scenario's `runner` (a registered kind or an absolute path). */
export function runnerModuleUrl(runner: string): string {
  const path = registry.get(runner) ?? (isAbsolute(runner) ? runner : undefined);
  if (path === undefined) throw new ConfigError(`unknown point runner ${JSON.stringify(runner)}; registered: ${runnerKinds().join(', ')}`);
  return pathToFileURL(path).href;
}
