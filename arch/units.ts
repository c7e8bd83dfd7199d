/**
 * Units in specs: `"256 KiB"`, `"64 KB"`, `"16 GB/s"`, `"1 GHz"`, `"100 ns"`, `"0.2 pJ"`, `"1.3 nJ"`,
 * plain numbers and simple expressions (`"2 * 128 KiB"`), parsed with mathjs — at validation time
 * only, never in a hot path. Results are plain numbers in BASE units:
 *
 * | kind        | base unit | examples                                   |
 * | ----------- | --------- | ------------------------------------------ |
 * | `size`      | bytes     | `"256 KiB"` → 262144, `"64 KB"` → 65536, `"64 bits"` → 8 |
 * | `rate`      | bytes/s   | `"16 GB/s"` → 16e9, `"1 GiB/s"` → 2^30      |
 * | `frequency` | Hz        | `"1 GHz"` → 1e9                              |
 * | `time`      | s         | `"100 ns"` → 1e-7                            |
 * | `energy`    | pJ        | `"0.2 pJ"` → 0.2, `"1.3 nJ"` → 1300          |
 * | `number`    | —         | `"2 * 64"` → 128                             |
 *
 * A plain number (JSON number, or a string without a unit such as `"65536"`) is taken as already
 * in the base unit.
 *
 * **Kilo in sizes vs rates (decided here, JEDEC's memory convention):**
 * - in a SIZE, `KB`/`kB`, `MB`, `GB`, `TB` (and `Kb`… for bits) are BINARY: 1 KB = 1024 B,
 *   1 MB = 2^20 B. That is how on-chip memory capacities are written (SRAM datasheets, Horowitz's
 *   "8 KB / 32 KB / 1 MB", Eyeriss's "108 KB") and how SCALE-Sim reads its `…SramSzkB` keys
 *   (`ifmap_buf_size_bytes = 1024 * ifmap_sz_kb`). For a decimal size write the bytes or an
 *   expression: `"64000 B"`, `"64 * 1000 B"`.
 * - in a RATE, `kB/s`, `KB/s`, `MB/s`, `GB/s` are DECIMAL (1 GB/s = 1e9 B/s), as DRAM bandwidths are
 *   quoted (LPDDR4-3200 ×32 = 12.8 GB/s).
 * - `KiB`, `MiB`, `GiB`, `TiB` are binary everywhere (`"1 GiB/s"` = 2^30 B/s).
 *
 * Errors are RETURNED (`{ ok: false, message }`, or pushed onto a problem list by `readQuantity`)
 * so that a validator can collect every problem of a spec before throwing one ConfigError.
 */
import { createRequire } from 'node:module';
import type { MathJsInstance, Unit } from 'mathjs';
import type { Problem } from './errors.js';

export type QuantityKind = 'size' | 'rate' | 'frequency' | 'time' | 'energy' | 'number';

export type Parsed = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string };

/** The base unit each kind is returned in (for messages and docs). */
export const BASE_UNIT: Readonly<Record<QuantityKind, string>> = Object.freeze({
  size: 'bytes',
  rate: 'bytes/s',
  frequency: 'Hz',
  time: 's',
  energy: 'pJ',
  number: '',
});

const EXAMPLE: Readonly<Record<QuantityKind, string>> = {
  size: '"256 KiB"',
  rate: '"16 GB/s"',
  frequency: '"1 GHz"',
  time: '"100 ns"',
  energy: '"0.2 pJ"',
  number: '"2 * 64"',
};

const ARTICLE: Readonly<Record<QuantityKind, string>> = {
  size: 'a size',
  rate: 'a rate',
  frequency: 'a frequency',
  time: 'a time',
  energy: 'an energy',
  number: 'a number',
};

/** mathjs unit each kind must reduce to, and the unit its value is read in. */
const MATH_UNIT: Readonly<Record<Exclude<QuantityKind, 'number'>, { base: string; read: string }>> = {
  size: { base: 'B', read: 'B' },
  rate: { base: 'B/s', read: 'B/s' },
  frequency: { base: 'Hz', read: 'Hz' },
  time: { base: 's', read: 's' },
  energy: { base: 'J', read: 'pJ' },
};

let mathInstance: MathJsInstance | undefined;
let evaluateExpr: ((expr: string) => unknown) | undefined;
const baseUnits = new Map<string, Unit>();

/**
 * A private, sandboxed mathjs instance (created on first use): expressions in a spec can compute
 * but not redefine units or import functions into it (mathjs's documented hardening).
 */
function math(): { m: MathJsInstance; evaluate: (expr: string) => unknown } {
  if (!mathInstance || !evaluateExpr) {
    // loading mathjs takes about a second: required here, on the first quantity parsed, so a
    // command that parses none (a refused command line, --help) never waits for it
    const { all, create } = createRequire(import.meta.url)('mathjs') as typeof import('mathjs');
    const m = create(all, { number: 'number' });
    const evaluate = m.evaluate.bind(m) as (expr: string) => unknown;
    const disabled = (name: string) => () => {
      throw new Error(`function ${name} is not allowed in a spec`);
    };
    m.import(
      {
        import: disabled('import'),
        createUnit: disabled('createUnit'),
        evaluate: disabled('evaluate'),
        parse: disabled('parse'),
        simplify: disabled('simplify'),
        derivative: disabled('derivative'),
        resolve: disabled('resolve'),
        compile: disabled('compile'),
        reviver: disabled('reviver'),
      },
      { override: true },
    );
    mathInstance = m;
    evaluateExpr = evaluate;
  }
  return { m: mathInstance, evaluate: evaluateExpr };
}

function baseUnit(m: MathJsInstance, u: string): Unit {
  let b = baseUnits.get(u);
  if (!b) {
    b = m.unit(u);
    baseUnits.set(u, b);
  }
  return b;
}

/** Rewrites kilo/mega/… byte and bit suffixes per the size-vs-rate convention above. */
function rewritePrefixes(text: string, kind: QuantityKind): string {
  if (kind === 'size') {
    // 64 KB → 64 KiB, 1 MB → 1 MiB, 8 Kb → 8 Kib (binary sizes)
    return text.replace(/(?<![A-Za-z_])([kKMGTPE])([Bb])(?![A-Za-z_])/g, (_s, p: string, u: string) => `${p.toUpperCase()}i${u}`);
  }
  if (kind === 'rate') {
    // mathjs spells decimal kilo with a lowercase k
    return text.replace(/(?<![A-Za-z_])K([Bb])(?![A-Za-z_])/g, 'k$1');
  }
  return text;
}

/** Removes float noise (`10.000000000000002` → 10) from unit conversions. */
function clean(v: number): number {
  return v === 0 ? 0 : Number(v.toPrecision(15));
}

function describeUnit(m: MathJsInstance, u: Unit): string {
  for (const kind of ['size', 'rate', 'frequency', 'time', 'energy'] as const) {
    if (u.equalBase(baseUnit(m, MATH_UNIT[kind].base))) return `it is ${ARTICLE[kind]}`;
  }
  return `its unit is ${u.formatUnits() || 'unknown'}`;
}

function show(input: unknown): string {
  return typeof input === 'string' ? JSON.stringify(input) : String(input);
}

/**
 * Parses a quantity to a number in the base unit of `kind` (table above). Never throws.
 * Range checks (positive, integer, …) are the caller's.
 */
export function parseQuantity(input: unknown, kind: QuantityKind): Parsed {
  if (typeof input === 'number') {
    return Number.isFinite(input) ? { ok: true, value: input } : { ok: false, message: `${show(input)} is not ${ARTICLE[kind]}` };
  }
  if (typeof input !== 'string') {
    const got = input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input;
    return { ok: false, message: `expected ${ARTICLE[kind]} such as ${EXAMPLE[kind]}, got ${got}` };
  }
  if (input.trim() === '') return { ok: false, message: `expected ${ARTICLE[kind]} such as ${EXAMPLE[kind]}, got an empty string` };
  const { m, evaluate } = math();
  let result: unknown;
  try {
    result = evaluate(rewritePrefixes(input, kind));
  } catch (e) {
    return { ok: false, message: `${show(input)} is not ${ARTICLE[kind]} (${(e as Error).message})` };
  }
  if (typeof result === 'number') {
    return Number.isFinite(result) ? { ok: true, value: clean(result) } : { ok: false, message: `${show(input)} is not ${ARTICLE[kind]} (not finite)` };
  }
  if (m.isUnit(result)) {
    const u = result as Unit;
    if (kind === 'number') return { ok: false, message: `${show(input)} is not ${ARTICLE[kind]} (${describeUnit(m, u)})` };
    const { base, read } = MATH_UNIT[kind];
    if (!u.equalBase(baseUnit(m, base))) {
      return { ok: false, message: `${show(input)} is not ${ARTICLE[kind]} (${describeUnit(m, u)})` };
    }
    const v = u.toNumber(read);
    return Number.isFinite(v) ? { ok: true, value: clean(v) } : { ok: false, message: `${show(input)} is not ${ARTICLE[kind]} (not finite)` };
  }
  return { ok: false, message: `${show(input)} is not ${ARTICLE[kind]}` };
}

export const parseSize = (input: unknown): Parsed => parseQuantity(input, 'size');
export const parseRate = (input: unknown): Parsed => parseQuantity(input, 'rate');
export const parseFrequency = (input: unknown): Parsed => parseQuantity(input, 'frequency');
export const parseTime = (input: unknown): Parsed => parseQuantity(input, 'time');
export const parseEnergy = (input: unknown): Parsed => parseQuantity(input, 'energy');

/**
 * Collector form: returns the value, or pushes `{ path, message }` onto `problems` and returns
 * undefined.
 */
export function readQuantity(input: unknown, kind: QuantityKind, path: string, problems: Problem[]): number | undefined {
  const r = parseQuantity(input, kind);
  if (r.ok) return r.value;
  problems.push({ path, message: r.message });
  return undefined;
}

/** Bytes as a short binary-unit string for messages and reports: 262144 → "256 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (i < units.length - 1 && Math.abs(v) >= 1024 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v} ${units[i]}`;
}
