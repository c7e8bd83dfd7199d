/**
 * A command line, checked before any work (README "Exit codes"). Parsing and every check of a
 * command's arguments add their problems to one list — unknown, repeated or valueless flags,
 * malformed or out-of-range values, values outside a closed list, missing or contradicting flags,
 * flags the chosen mode does not use — and `check` throws ONE UsageError naming each (exit 2).
 * Only then does a command read a file named on the command line; what is wrong with that file is
 * a ConfigError / ModelError / DatasetError (exit 1).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../errors/hints.js';
import { UsageError } from '../errors/index.js';

export type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** One problem as it is; several as `N problems:` and one `  - ` line each. */
export function formatProblems(problems: readonly string[]): string {
  return problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`;
}

const quoted = (v: unknown): string => `'${String(v)}'`;

/** A command's arguments: the parsed values, and every problem found in them so far. */
export class Flags {
  readonly problems: string[];
  constructor(
    readonly positionals: string[],
    readonly values: Record<string, unknown>,
    problems: readonly string[] = [],
    /** flags parsing already found wrong (no value, given twice): not reported again as missing */
    private readonly reported: ReadonlySet<string> = new Set(),
  ) {
    this.problems = [...problems];
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  given(name: string): boolean {
    return this.values[name] !== undefined;
  }

  /** exactly `n` positional arguments (`what` says which) */
  positionalCount(n: number, what: string): void {
    if (this.positionals.length === n) return;
    if (n === 0) this.problem(`unexpected argument${this.positionals.length > 1 ? 's' : ''} ${this.positionals.map(quoted).join(', ')} (${what})`);
    else this.problem(`expected ${what}, got ${this.positionals.length === 0 ? 'none' : this.positionals.map(quoted).join(', ')}`);
  }

  /** --name's value; a problem when it is missing and `required` says what it is */
  string(name: string, required?: string): string | undefined {
    const v = this.values[name];
    if (v === undefined && required !== undefined && !this.reported.has(name)) this.problem(`--${name} ${required} is required`);
    return v as string | undefined;
  }

  /** --name as a whole number in [min, max]; absent → `def`; malformed → a problem */
  int(name: string, { min = -Infinity, max = Infinity, def }: { min?: number; max?: number; def?: number } = {}): number | undefined {
    const v = this.values[name];
    if (v === undefined) return def;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    const range =
      max !== Infinity ? `an integer ${min}…${max}` : min === 1 ? 'a positive integer' : min === -Infinity ? 'an integer' : `an integer ≥ ${min}`;
    this.problem(`--${name} must be ${range}, got ${quoted(v)}`);
    return undefined;
  }

  /** --name as a number in [min, max]; absent → `def`; malformed → a problem */
  number(name: string, { min, max, def }: { min: number; max: number; def?: number }): number | undefined {
    const v = this.values[name];
    if (v === undefined) return def;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isFinite(n) && n >= min && n <= max) return n;
    this.problem(`--${name} must be a number ${min}…${max}, got ${quoted(v)}`);
    return undefined;
  }

  /** --name, one of `allowed` (with a did-you-mean); `required` says what it is when it must be given */
  oneOf<T extends string>(name: string, allowed: readonly T[], required?: string): T | undefined {
    const v = this.values[name];
    if (v === undefined) {
      if (required !== undefined && !this.reported.has(name)) this.problem(`--${name} ${required} is required (one of ${allowed.join(', ')})`);
      return undefined;
    }
    if ((allowed as readonly unknown[]).includes(v)) return v as T;
    const hint = didYouMean(String(v), allowed);
    this.problem(`--${name} must be one of ${allowed.join(', ')}, got ${quoted(v)}${hint ? ` (did you mean '${hint}'?)` : ''}`);
    return undefined;
  }

  /** the flags among `names` that are given, as one problem naming each: `--a, --b: ${why}` */
  unused(names: readonly string[], why: string): void {
    const given = names.filter((n) => this.given(n));
    if (given.length) this.problem(`${given.map((n) => `--${n}`).join(', ')}: ${why}`);
  }

  /** throws one UsageError listing every problem, then the usage; nothing when there is none */
  check(usage: string): void {
    if (this.problems.length) throw new UsageError(`${formatProblems(this.problems)}\nusage: ${usage}`);
  }
}

/**
 * `args` against a command's parseArgs `options`, without stopping at the first problem: unknown
 * options (with a did-you-mean), an option without its value (a string option followed by another
 * option, which would silently take it as its value), a value given to a boolean, a single-value
 * option given twice. The problems travel with the values to the command's own checks.
 */
export function parseCommandLine(args: string[], options: FlagOptions): Flags {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const problems: string[] = [];
  const values: Record<string, unknown> = Object.create(null);
  const positionals: string[] = [];
  const names = Object.keys(options);
  const seen = new Set<string>();
  const reported = new Set<string>();
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    if (t.kind !== 'option') continue;
    const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (!o) {
      const hint = didYouMean(t.name, names);
      problems.push(`unknown option '${t.rawName}'${hint ? ` (did you mean --${hint}?)` : ''}`);
      continue;
    }
    if (o.type === 'boolean') {
      if (t.value !== undefined) problems.push(`${t.rawName} takes no value, got '${t.value}'`);
      else values[t.name] = true;
      continue;
    }
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-') && !/^-\d/.test(t.value))) {
      problems.push(`${t.rawName} needs a value${t.value === undefined ? '' : ` (got the option '${t.value}'; write ${t.rawName}=${t.value} if that is the value)`}`);
      reported.add(t.name);
      continue;
    }
    if (o.multiple) {
      ((values[t.name] ??= []) as string[]).push(t.value);
      continue;
    }
    if (seen.has(t.name)) problems.push(`${t.rawName} is given twice ('${String(values[t.name])}', '${t.value}')`);
    seen.add(t.name);
    values[t.name] = t.value;
  }
  return new Flags(positionals, values, problems, reported);
}
