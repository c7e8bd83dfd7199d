/**
 * Small helpers shared by the spec, energy-table and .cfg validators: read fields of untrusted
 * JSON, collect problems with paths, flag unknown keys with a "did you mean", freeze deeply and
 * hash canonically. Validation-time code only.
 */
import { createHash } from 'node:crypto';
import { didYouMean, editDistance } from '../errors/hints.js';
import { ConfigError, type Problem } from './errors.js';
import { BASE_UNIT, type QuantityKind, parseQuantity } from './units.js';

export type Obj = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  return path ? `${path}.${k}` : k;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** near-miss names (errors/hints.ts; the CLI's start-up path uses them without mathjs) */
export { didYouMean, editDistance };

/** `unknown key "rowz" (did you mean "rows"?)` problems for keys outside `allowed`. */
export function checkKeys(obj: Obj, path: string, allowed: readonly string[], problems: Problem[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const hint = didYouMean(key, allowed);
    problems.push({
      path: joinPath(path, key),
      message: hint ? `unknown key (did you mean "${hint}"?)` : `unknown key (expected one of: ${allowed.join(', ')})`,
    });
  }
}

/** Reads `obj[key]` as a plain object; absent → `{}` when `optional`, else a problem. */
export function readObject(obj: Obj, key: string, path: string, problems: Problem[], optional = true): Obj | undefined {
  const v = obj[key];
  const p = joinPath(path, key);
  if (v === undefined) {
    if (optional) return {};
    problems.push({ path: p, message: 'is required' });
    return undefined;
  }
  if (!isPlainObject(v)) {
    problems.push({ path: p, message: `expected an object, got ${describe(v)}` });
    return undefined;
  }
  return v;
}

export interface IntOpts {
  min?: number;
  max?: number;
  /** undefined → required */
  default?: number;
}

export function readInt(obj: Obj, key: string, path: string, problems: Problem[], opts: IntOpts): number | undefined {
  const v = obj[key];
  const p = joinPath(path, key);
  if (v === undefined) {
    if (opts.default === undefined) problems.push({ path: p, message: 'is required' });
    return opts.default;
  }
  return checkInt(v, p, problems, opts);
}

export function checkInt(v: unknown, p: string, problems: Problem[], opts: { min?: number; max?: number }): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    problems.push({ path: p, message: `expected an integer, got ${describe(v)}` });
    return undefined;
  }
  if (opts.min !== undefined && v < opts.min) {
    problems.push({ path: p, message: `${v} is below the minimum ${opts.min}${opts.max !== undefined ? ` (allowed ${opts.min}…${opts.max})` : ''}` });
    return undefined;
  }
  if (opts.max !== undefined && v > opts.max) {
    problems.push({ path: p, message: `${v} is above the maximum ${opts.max}${opts.min !== undefined ? ` (allowed ${opts.min}…${opts.max})` : ''}` });
    return undefined;
  }
  return v;
}

export function readEnum<T extends string>(
  obj: Obj,
  key: string,
  path: string,
  problems: Problem[],
  values: readonly T[],
  def?: T,
): T | undefined {
  const v = obj[key];
  const p = joinPath(path, key);
  if (v === undefined) {
    if (def === undefined) problems.push({ path: p, message: `is required (one of: ${values.join(', ')})` });
    return def;
  }
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  const hint = typeof v === 'string' ? didYouMean(v, values) : undefined;
  problems.push({
    path: p,
    message: `${describe(v)} is not one of: ${values.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`,
  });
  return undefined;
}

export function readBool(obj: Obj, key: string, path: string, problems: Problem[], def: boolean): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return def;
  if (typeof v === 'boolean') return v;
  problems.push({ path: joinPath(path, key), message: `expected true or false, got ${describe(v)}` });
  return undefined;
}

export function readString(obj: Obj, key: string, path: string, problems: Problem[], def?: string, nonEmpty = false): string | undefined {
  const v = obj[key];
  const p = joinPath(path, key);
  if (v === undefined) {
    if (def === undefined) problems.push({ path: p, message: 'is required' });
    return def;
  }
  if (typeof v !== 'string' || (nonEmpty && v.trim() === '')) {
    problems.push({ path: p, message: `expected a${nonEmpty ? ' non-empty' : ''} string, got ${describe(v)}` });
    return undefined;
  }
  return v;
}

/** Relative agreement of two forms of one quantity (1e-9). */
/**
 * The opening every spec file shares: a plain object with only `allowed` keys, a required non-empty
 * `name`, optional `source` and `description`. A non-object is refused at once (nothing else to read).
 */
export function readSpecHeader(
  input: unknown,
  what: string,
  allowed: readonly string[],
  problems: Problem[],
  source: string | undefined,
): { obj: Obj; name: string | undefined; source: string | undefined; description: string | undefined } {
  if (!isPlainObject(input)) throw new ConfigError([{ path: '', message: `${what} must be an object, got ${describe(input)}` }], source);
  checkKeys(input, '', allowed, problems);
  return {
    obj: input,
    name: readString(input, 'name', '', problems, undefined, true),
    source: readString(input, 'source', '', problems, ''),
    description: readString(input, 'description', '', problems, ''),
  };
}

export function agree(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

export interface QuantityField {
  /** key taking a unit string or expression, e.g. `capacity: "256 KiB"` */
  unitKey: string;
  /** key taking a plain number in the named unit, e.g. `capacityBytes: 262144` */
  numberKey: string;
  kind: QuantityKind;
  /** base-unit value when neither key is given; undefined → required */
  default?: number;
  /** `positive` (> 0) or `nonNegative` (≥ 0); default positive */
  sign?: 'positive' | 'nonNegative';
  /** the value must be a whole number of base units (bytes) */
  integer?: boolean;
  /** the physically meaningful range of the value (base units), checked after the sign */
  range?: Range;
  /** what the value is, for the range message (`a clock`, `a buffer capacity`) */
  what?: string;
}

/** An inclusive range of a quantity in base units, with how to say it (`"1 kHz … 100 GHz"`). */
export interface Range {
  readonly min: number;
  readonly max: number;
  readonly text: string;
}

/** `value` within `range`, else a problem naming the range; `shown` is how the user wrote it. */
export function checkRange(value: number, range: Range, path: string, shown: string, problems: Problem[], what = 'the value', unit = ''): boolean {
  if (value >= range.min && value <= range.max) return true;
  const eq = shown === String(value) ? '' : ` (= ${value}${unit ? ` ${unit}` : ''})`;
  problems.push({ path, message: `${shown}${eq} is out of range: ${what} must be ${range.text}` });
  return false;
}

/**
 * A quantity that may be written either with units (`capacity: "256 KiB"`) or as a number in the
 * unit its name carries (`capacityBytes: 262144`); both → they must agree. The normalized spec
 * uses the number key, so a normalized spec validates again unchanged.
 */
export function readQuantityField(obj: Obj, path: string, problems: Problem[], f: QuantityField): number | undefined {
  const hasUnit = obj[f.unitKey] !== undefined;
  const hasNum = obj[f.numberKey] !== undefined;
  const pu = joinPath(path, f.unitKey);
  const pn = joinPath(path, f.numberKey);
  if (!hasUnit && !hasNum) {
    if (f.default === undefined) problems.push({ path: pu, message: `is required (or give ${f.numberKey})` });
    return f.default;
  }
  let value: number | undefined;
  let where = pu;
  let ok = true;
  if (hasUnit) {
    const r = parseQuantity(obj[f.unitKey], f.kind);
    if (r.ok) value = r.value;
    else {
      problems.push({ path: pu, message: r.message });
      ok = false;
    }
  }
  if (hasNum) {
    const n = obj[f.numberKey];
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      problems.push({ path: pn, message: `expected a number, got ${describe(n)}` });
      ok = false;
    } else if (value !== undefined && !agree(value, n)) {
      problems.push({ path: pn, message: `${n} disagrees with ${f.unitKey} ${describe(obj[f.unitKey])} (= ${value})` });
      ok = false;
    } else if (value === undefined && ok) {
      value = n;
      where = pn;
    }
  }
  if (!ok || value === undefined) return undefined;
  const sign = f.sign ?? 'positive';
  if (sign === 'positive' ? !(value > 0) : !(value >= 0)) {
    problems.push({ path: where, message: `${describe(hasUnit ? obj[f.unitKey] : value)} must be ${sign === 'positive' ? 'positive' : 'zero or more'}` });
    return undefined;
  }
  if (f.integer && !Number.isInteger(value)) {
    problems.push({ path: where, message: `${describe(hasUnit ? obj[f.unitKey] : value)} is not a whole number of ${f.kind === 'size' ? 'bytes' : 'units'} (${value})` });
    return undefined;
  }
  if (f.range && !checkRange(value, f.range, where, describe(hasUnit ? obj[f.unitKey] : value), problems, f.what, BASE_UNIT[f.kind])) return undefined;
  return value;
}

/** Freezes an object graph (plain objects and arrays). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Obj)[k]);
  }
  return v;
}

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).filter((k) => (v as Obj)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Obj)[k])}`).join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
  return JSON.stringify(v);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
