/**
 * Error kinds shared by every layer above `arch/` (see DESIGN.md "Errors").
 * Expected outcomes (an overflow, a stall) are data, never exceptions.
 */

export interface ModelProblem {
  /** node name (or tensor / file position when there is no node) */
  node: string;
  op?: string;
  opset?: number;
  message: string;
}

/** A model that cannot be read or run: names every offending node at once. */
export class ModelError extends Error {
  readonly problems: readonly ModelProblem[];
  readonly file?: string;
  constructor(problems: ModelProblem[] | string, file?: string) {
    const list: ModelProblem[] = typeof problems === 'string' ? [{ node: '', message: problems }] : problems;
    const where = file ? `${file}: ` : '';
    const lines = list.map((p) => {
      const who = [p.node && `node '${p.node}'`, p.op && `op ${p.op}`, p.opset !== undefined && `opset ${p.opset}`]
        .filter(Boolean)
        .join(', ');
      return who ? `${who}: ${p.message}` : p.message;
    });
    super(list.length === 1 ? `${where}${lines[0]}` : `${where}${list.length} problems:\n  - ${lines.join('\n  - ')}`);
    this.name = 'ModelError';
    this.problems = Object.freeze(list);
    this.file = file;
  }
}

/** A dataset that is missing or malformed; says which package provides it. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** A broken internal assumption: a bug in qloom, not in the user's input. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
