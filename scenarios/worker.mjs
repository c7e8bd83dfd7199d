// Worker-thread entry of the sweep pool (sweep.ts). Plain JavaScript on purpose: it runs as it is
// from the sources and from an installed package's compiled dist/. A worker thread starts without
// the parent's module hooks (neither the CLI's tsx nor vitest's transformer reach it), so before it
// imports a TypeScript point runner (the sources' own, or a user's .ts module) it registers tsx
// itself; compiled JavaScript runners load without it.

/** runner module URL → its loaded module (one import per worker, reused by every point) */
const modules = new Map();
/** tsx's registration, once per worker, only when a TypeScript runner needs it */
let tsx = null;

function typeScriptNeeded(url) {
  return /\.[cm]?ts$/.test(new URL(url).pathname);
}

async function registerTsx(url) {
  tsx ??= import('tsx/esm/api').then(
    (m) => m.register(),
    () => {
      const e = new Error(`point runner ${url} is TypeScript: install tsx (npm install tsx) to run it, or compile it to JavaScript`);
      e.name = 'ConfigError';
      e.kind = 'config';
      throw e;
    },
  );
  await tsx;
}

/**
 * One sweep point: `{ runnerUrl, config }` → `{ ok: true, metrics }` or `{ ok: false, error }`.
 * Errors come back as data because a structured clone would turn a ModelError into a plain Error;
 * `kind` (errors/index.ts) lets the pool rebuild the same kind.
 */
export default async function runTask({ runnerUrl, config }) {
  try {
    let mod = modules.get(runnerUrl);
    if (!mod) {
      if (typeScriptNeeded(runnerUrl)) await registerTsx(runnerUrl);
      mod = await import(runnerUrl);
      modules.set(runnerUrl, mod);
    }
    if (typeof mod.runPoint !== 'function') throw new Error(`${runnerUrl} does not export runPoint(config)`);
    return { ok: true, metrics: await mod.runPoint(config) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, error: { name: err.name, kind: typeof err.kind === 'string' ? err.kind : null, message: err.message, stack: err.stack ?? '' } };
  }
}
