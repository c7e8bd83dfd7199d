// Worker-thread entry of the sweep pool (sweep.ts). Plain JavaScript on purpose: a worker thread
// starts without the parent's module hooks (neither the CLI's tsx nor vitest's transformer reach
// it), so it registers tsx itself before importing a TypeScript point runner — the same way
// cli/qloom.js does for the CLI.
import { register } from 'tsx/esm/api';

register();

/** runner module URL → its loaded module (one import per worker, reused by every point) */
const modules = new Map();

/**
 * One sweep point: `{ runnerUrl, config }` → `{ ok: true, metrics }` or `{ ok: false, error }`.
 * Errors come back as data because a structured clone would turn a ModelError into a plain Error.
 */
export default async function runTask({ runnerUrl, config }) {
  try {
    let mod = modules.get(runnerUrl);
    if (!mod) {
      mod = await import(runnerUrl);
      modules.set(runnerUrl, mod);
    }
    if (typeof mod.runPoint !== 'function') throw new Error(`${runnerUrl} does not export runPoint(config)`);
    return { ok: true, metrics: await mod.runPoint(config) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, error: { name: err.name, message: err.message, stack: err.stack ?? '' } };
  }
}
