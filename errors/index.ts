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
 *  - `resource`: the machine refused — a file or folder that cannot be read or written (the path
 *    and the system's reason: no such folder, permission, a file where a folder is expected, disk
 *    full, read-only), or memory that cannot be allocated; `systemError` maps Node's errors to it;
 *  - `invariant`: a broken internal assumption — a bug in qloom, not in the user's input.
 *
 * Expected outcomes (an overflow, a stall) are data, never exceptions. `nets/errors.ts` and
 * `arch/errors.ts` re-export these classes for their folders.
 */

export type ErrorKind = 'usage' | 'config' | 'model' | 'data' | 'resource' | 'invariant';
export const ERROR_KINDS: readonly ErrorKind[] = Object.freeze(['usage', 'config', 'model', 'data', 'resource', 'invariant']);

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

/** The machine refused: a path that cannot be read or written, or memory that cannot be allocated. */
export class ResourceError extends QloomError {
  constructor(message: string) {
    super('resource', 'ResourceError', message);
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
    case 'resource':
      return new ResourceError(message);
    case 'invariant':
      return new InvariantError(message);
  }
}

/** the system's reasons, in words (the code stays in the message, for searching) */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder',
  EEXIST: 'it already exists',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOTEMPTY: 'the folder is not empty',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EFBIG: 'the file is too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error',
  EXDEV: 'a rename across file systems',
  EBUSY: 'the file or folder is busy',
  ETXTBSY: 'the file is busy',
};

/** what a failed system call was doing, from Node's `syscall` */
const VERBS: Readonly<Record<string, string>> = {
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write',
  rename: 'cannot write',
  copyfile: 'cannot write',
  mkdir: 'cannot create the folder',
  scandir: 'cannot list the folder',
  opendir: 'cannot list the folder',
  unlink: 'cannot remove',
  rmdir: 'cannot remove the folder',
  stat: 'cannot access',
  lstat: 'cannot access',
  access: 'cannot access',
};

/** RangeErrors (and Node's errors) that mean "more memory than can be allocated" */
const OUT_OF_MEMORY = /^(Array buffer allocation failed|Invalid (typed )?array (buffer )?length|Invalid string length)|^Cannot create a string longer than/;

/**
 * A QloomError (kind `resource`) for an error of the system — a failed file-system call (ENOENT,
 * EACCES, EISDIR, EEXIST, ENOTDIR, ENOSPC, EROFS, …) or an allocation that failed — as one line
 * that names the path: `cannot write out/r.json: no space left on the device (ENOSPC)`. `path` and
 * `verb` ("cannot write") override what the error says (a rename's temp file → the file meant).
 * Anything else (a bug) gives undefined. The one place such errors get their words: the CLI maps
 * what reaches it here, and the library's file helpers (scenarios/files.ts) name their files.
 */
export function systemError(e: unknown, path?: string, verb?: string): QloomError | undefined {
  if (e instanceof QloomError) return e;
  if (!(e instanceof Error)) return undefined;
  const code = (e as NodeJS.ErrnoException).code;
  if ((e instanceof RangeError && OUT_OF_MEMORY.test(e.message)) || code === 'ERR_STRING_TOO_LONG' || code === 'ERR_BUFFER_TOO_LARGE' || code === 'ERR_MEMORY_ALLOCATION_FAILED') {
    return new ResourceError(`not enough memory: ${e.message.split('\n')[0]} (the input asks for more than this machine can allocate)`);
  }
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return undefined;
  const { syscall, path: sysPath } = e as NodeJS.ErrnoException;
  const where = path ?? sysPath;
  const reason = `${REASONS[code] ?? 'system error'} (${code})`;
  const what = verb ?? (syscall !== undefined ? VERBS[syscall] : undefined) ?? 'cannot use';
  return new ResourceError(where !== undefined ? `${what} ${where}: ${reason}` : `${what}: ${reason}`);
}
