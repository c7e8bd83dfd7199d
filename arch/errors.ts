/**
 * `ConfigError`: a specification (ArchSpec, energy table, SCALE-Sim .cfg) that cannot be used.
 * It lists EVERY problem found, each with the path of the offending value, so a user fixes a file
 * in one go (DESIGN.md "Errors"). Thrown once, at validation time; never from a hot path.
 */

/** One thing wrong with a spec: `path` is dotted/indexed (`memories.glb.capacity`, `entries[3].bits`). */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/** Formats one problem as `path: message` (just `message` when the path is empty). */
export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

export class ConfigError extends Error {
  readonly problems: readonly Problem[];
  /** the file or preset the spec came from, when known */
  readonly source?: string;
  constructor(problems: readonly Problem[] | string, source?: string) {
    const list: Problem[] = typeof problems === 'string' ? [{ path: '', message: problems }] : [...problems];
    const where = source ? `${source}: ` : '';
    const lines = list.map(formatProblem);
    super(
      list.length === 1
        ? `${where}${lines[0]}`
        : `${where}${list.length} problems:\n  - ${lines.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
    this.problems = Object.freeze(list.map((p) => Object.freeze({ path: p.path, message: p.message })));
    if (source !== undefined) this.source = source;
  }
}
