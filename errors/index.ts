/**
 * The one error hierarchy (DESIGN.md "Errors"). Everything qloom throws on purpose is a
 * `QloomError` whose `kind` says whose problem it is, so a caller (the CLI's exit code, a program
 * using the library) branches on the kind instead of on class names:
 *
 *  - `usage`: the call itself — options missing, malformed or contradicting each other (a bad
 *    command line, or bad options to a library function);
 *  - `config`: a specification that cannot be used (arch spec, energy table, .cfg, scenario file),
 *    listing every `{path, message}` problem at once;
 *  - `model`: a model that cannot be read or run, naming the node and op;
 *  - `data`: a data set that is missing or malformed, naming the package that provides it;
 *  - `invariant`: a broken internal assumption — a bug in qloom, not in the user's input.
 *
 * Expected outcomes (an overflow, a stall) are data, never exceptions. `nets/errors.ts` and
 * `arch/errors.ts` re-export these classes for their folders.
 */

export type ErrorKind = 'usage' | 'config' | 'model' | 'data' | 'invariant';
export const ERROR_KINDS: readonly ErrorKind[] = Object.freeze(['usage', 'config', 'model', 'data', 'invariant']);

export class QloomError extends Error {
  readonly kind: ErrorKind;
  protected constructor(kind: ErrorKind, name: string, message: string) {
    super(message);
    this.kind = kind;
    this.name = name;
  }
}

/** Options missing, malformed or contradicting each other: the call is wrong, not its inputs. */
export class UsageError extends QloomError {
  constructor(message: string) {
    super('usage', 'UsageError', message);
  }
}

/** One thing wrong with a spec: `path` is dotted/indexed (`memories.glb.capacity`, `entries[3].bits`). */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/** Formats one problem as `path: message` (just `message` when the path is empty). */
export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** `source: one problem`, or `source: N problems:` and one indented line per problem. */
function listed(source: string | undefined, lines: readonly string[]): string {
  const where = source ? `${source}: ` : '';
  return lines.length === 1 ? `${where}${lines[0]}` : `${where}${lines.length} problems:\n  - ${lines.join('\n  - ')}`;
}

/**
 * A specification (ArchSpec, energy table, SCALE-Sim .cfg, scenario) that cannot be used. Lists
 * EVERY problem found, each with the path of the offending value, so a user fixes a file in one go.
 * Thrown once, at validation time; never from a hot path.
 */
export class ConfigError extends QloomError {
  readonly problems: readonly Problem[];
  /** the file or preset the spec came from, when known */
  readonly source?: string;
  constructor(problems: readonly Problem[] | string, source?: string) {
    const list: Problem[] = typeof problems === 'string' ? [{ path: '', message: problems }] : [...problems];
    super('config', 'ConfigError', listed(source, list.map(formatProblem)));
    this.problems = Object.freeze(list.map((p) => Object.freeze({ path: p.path, message: p.message })));
    if (source !== undefined) this.source = source;
  }
}

export interface ModelProblem {
  /** node name (or tensor / file position when there is no node) */
  node: string;
  op?: string;
  opset?: number;
  message: string;
}

/** A model that cannot be read or run: names every offending node at once. */
export class ModelError extends QloomError {
  readonly problems: readonly ModelProblem[];
  readonly file?: string;
  constructor(problems: ModelProblem[] | string, file?: string) {
    const list: ModelProblem[] = typeof problems === 'string' ? [{ node: '', message: problems }] : problems;
    const lines = list.map((p) => {
      const who = [p.node && `node '${p.node}'`, p.op && `op ${p.op}`, p.opset !== undefined && `opset ${p.opset}`].filter(Boolean).join(', ');
      return who ? `${who}: ${p.message}` : p.message;
    });
    super('model', 'ModelError', listed(file, lines));
    this.problems = Object.freeze(list);
    this.file = file;
  }
}

/** A dataset that is missing or malformed; says which package provides it. */
export class DatasetError extends QloomError {
  constructor(message: string) {
    super('data', 'DatasetError', message);
  }
}

/** A broken internal assumption: a bug in qloom, not in the user's input. */
export class InvariantError extends QloomError {
  constructor(message: string) {
    super('invariant', 'InvariantError', message);
  }
}

export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}

/**
 * The error of `kind` with `message` as it is: for an error that crossed a thread as data (a
 * structured clone keeps neither the class nor the problem list) and must keep its kind.
 */
export function errorOfKind(kind: ErrorKind, message: string): QloomError {
  switch (kind) {
    case 'usage':
      return new UsageError(message);
    case 'config':
      return new ConfigError(message);
    case 'model':
      return new ModelError(message);
    case 'data':
      return new DatasetError(message);
    case 'invariant':
      return new InvariantError(message);
  }
}
