/**
 * Timeloop's mapspace constraints (`architecture_constraints.targets` and `mapspace.targets` /
 * `mapspace.constraints` of timeloopfe's parsed-processed-input.yaml) → frozen per-level
 * `TimeloopLevelConstraints`, the limits a mapper searches within. Semantics follow NVlabs/timeloop
 * src/mapping/constraints.cpp and src/mapspaces/uber.cpp:
 * - `factors: "R=1 P=0 K<=4 C>=2"`: `D=n` fixes the factor (0 means the whole bound), `D<=n` /
 *   `D>=n` bound it, an unnamed dimension is free;
 * - `permutation: "NPQ_RS"`: innermost first; the letters before `_` are fixed innermost in that
 *   order (the prefix), those after it outermost (the suffix), the others free in between;
 * - `split` (spatial): permutation positions below it fan out along X, the rest along Y;
 * - `keep` / `bypass` (type bypass, datatype or dataspace): fixed, the others free — except the
 *   outermost level, which keeps everything unless told otherwise (Timeloop's bypass strings end
 *   in '1').
 * A dimension, permutation, split or keep flag given twice for one level (within or across the two
 * lists) is a conflict, as in Timeloop. Where Timeloop ignores a factor larger than the bound with
 * a warning, this refuses it: a constraint that silently does nothing is not one. Constraint kinds
 * the mapper does not model (min parallelism, overbooking proportions, residual factors, per-level
 * link/multicast/reuse switches) are refused by name. Every problem goes into one ConfigError.
 */
import { parse as parseYaml } from 'yaml';
import { ConfigError, type Problem } from './errors.js';
import type { TimeloopFile, TimeloopSpec } from './timeloop.js';
import { checkKeys, deepFreeze, describe, isPlainObject, joinPath } from './validate.js';

export interface TimeloopLoopConstraints {
  /** per problem dimension: the fixed factor, or null (free) */
  readonly factors: readonly (number | null)[];
  readonly maxFactors: readonly (number | null)[];
  readonly minFactors: readonly (number | null)[];
  /** dimensions fixed innermost, innermost first */
  readonly prefix: readonly number[];
  /** dimensions fixed outermost, innermost first */
  readonly suffix: readonly number[];
}

export interface TimeloopLevelConstraints {
  readonly temporal: TimeloopLoopConstraints;
  /** meaningful only where the level has a fanout below it */
  readonly spatial: TimeloopLoopConstraints;
  /** spatial split, null: free */
  readonly split: number | null;
  /** per data space: kept (true), bypassed (false) or free (null) */
  readonly keep: readonly (boolean | null)[];
}

export interface TimeloopConstraints {
  /** aligned with `spec.storage` (innermost first) */
  readonly levels: readonly TimeloopLevelConstraints[];
}

const KEYS = ['target', 'type', 'factors', 'permutation', 'split', 'keep', 'bypass', 'default_max_factor', 'default_min_factor'] as const;
const REFUSED_KEYS: Readonly<Record<string, string>> = {
  no_link_transfer: 'per-level link-transfer switches are not supported',
  no_multicast_no_reduction: 'per-level multicast switches are not supported',
  no_reuse: 'per-level reuse switches are not supported',
  no_temporal_reuse: 'per-level temporal-reuse switches are not supported',
  rmw_first_update: 'read-modify-write first updates are not supported',
  no_coalesce: 'no_coalesce is not supported',
  remainders: 'residual (imperfect) factorization is not supported',
};
const REFUSED_TYPES: Readonly<Record<string, string>> = {
  utilization: 'minimum-parallelism constraints are not supported',
  parallelism: 'minimum-parallelism constraints are not supported',
  max_overbooked_proportion: 'overbooking is not supported',
};

interface Mutable {
  factors: (number | null)[];
  maxFactors: (number | null)[];
  minFactors: (number | null)[];
  prefix: number[];
  suffix: number[];
  permutationGiven: boolean;
}

function fresh(n: number): Mutable {
  return { factors: new Array(n).fill(null), maxFactors: new Array(n).fill(null), minFactors: new Array(n).fill(null), prefix: [], suffix: [], permutationGiven: false };
}

/** unconstrained limits for `spec` (every factor, order and keep flag free but the outermost level's keeps) */
export function unconstrained(spec: TimeloopSpec): TimeloopConstraints {
  return build(spec, spec.storage.map(() => ({ temporal: fresh(spec.problem.dimensions.length), spatial: fresh(spec.problem.dimensions.length), split: null, keep: spec.problem.dataSpaces.map(() => null) })));
}

function build(spec: TimeloopSpec, levels: { temporal: Mutable; spatial: Mutable; split: number | null; keep: (boolean | null)[] }[]): TimeloopConstraints {
  const last = levels.length - 1;
  const strip = (m: Mutable): TimeloopLoopConstraints => ({ factors: m.factors, maxFactors: m.maxFactors, minFactors: m.minFactors, prefix: m.prefix, suffix: m.suffix });
  return deepFreeze({
    levels: levels.map((l, s) => ({
      temporal: strip(l.temporal),
      spatial: strip(l.spatial),
      split: l.split,
      keep: s === last ? l.keep.map((k) => k ?? true) : l.keep,
    })),
  });
}

function readFactors(v: unknown, path: string, spec: TimeloopSpec, m: Mutable, problems: Problem[]): void {
  const dims = spec.problem.dimensions;
  const text = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(' ') : undefined;
  if (text === undefined) return void problems.push({ path, message: `expected "D=n D<=n D>=n …" factors, got ${describe(v)}` });
  for (const token of text.split('#')[0].split(/[\s,]+/).filter((t) => t !== '')) {
    const t = /^([A-Za-z_][A-Za-z_0-9]*?)\s*(<=|>=|=)\s*(\d+)$/.exec(token);
    const d = t ? dims.indexOf(t[1]) : -1;
    if (!t || d < 0) {
      problems.push({ path, message: `cannot read factor "${token}" (D=n, D<=n or D>=n; dimensions: ${dims.join(', ')})` });
      continue;
    }
    const [, name, op, num] = t;
    const bound = spec.problem.bounds[d];
    let n = Number(num);
    const slot = op === '=' ? m.factors : op === '<=' ? m.maxFactors : m.minFactors;
    if (slot[d] !== null) {
      problems.push({ path, message: `${name}${op} given twice for this level (a conflict between constraints)` });
      continue;
    }
    if (op === '=' && n === 0) n = bound;
    if (n < 1) problems.push({ path, message: `${name}${op}${num}: a factor bound must be ≥ 1` });
    else if (op === '=' && n > bound) problems.push({ path, message: `${name}=${n} exceeds the problem's ${name} = ${bound}` });
    else if (op === '=' && bound % n !== 0) problems.push({ path, message: `${name}=${n} does not divide the problem's ${name} = ${bound} (imperfect factorization is not supported)` });
    else slot[d] = n;
  }
}

function readPermutation(v: unknown, path: string, spec: TimeloopSpec, m: Mutable, problems: Problem[]): void {
  const dims = spec.problem.dimensions;
  let names: string[];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) names = v as string[];
  else if (typeof v === 'string' && /[\s,]/.test(v.trim())) names = v.trim().split(/[\s,]+/).flatMap((t) => (t.includes('_') && t !== '_' ? t.split(/(_)/).filter((x) => x !== '') : [t]));
  else if (typeof v === 'string' && dims.every((d) => d.length === 1)) names = [...v.trim()];
  else return void problems.push({ path, message: `expected a permutation of ${dims.join(', ')} (innermost first, optional "_" before the outermost ones), got ${describe(v)}` });
  if (m.permutationGiven) return void problems.push({ path, message: 'a second permutation for this level (a conflict between constraints)' });
  m.permutationGiven = true;
  let suffix = false;
  const seen = new Set<number>();
  for (const n of names) {
    if (n === '_') {
      if (suffix) problems.push({ path, message: 'more than one "_" separator' });
      suffix = true;
      continue;
    }
    const d = dims.indexOf(n);
    if (d < 0) problems.push({ path, message: `unknown dimension "${n}" (dimensions: ${dims.join(', ')})` });
    else if (seen.has(d)) problems.push({ path, message: `dimension "${n}" listed twice` });
    else {
      seen.add(d);
      (suffix ? m.suffix : m.prefix).push(d);
    }
  }
}

/**
 * Reads the constraints of a Timeloop input for `spec` (parsed from the same input). Constraint
 * lists: `architecture_constraints.targets`, then `mapspace.targets` or `mapspace.constraints`.
 */
export function parseTimeloopConstraints(input: TimeloopFile, spec: TimeloopSpec): TimeloopConstraints {
  const problems: Problem[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(input.text);
  } catch (e) {
    throw new ConfigError([{ path: '', message: `not valid YAML: ${(e as Error).message.split('\n')[0]}` }], input.file);
  }
  if (!isPlainObject(doc)) throw new ConfigError([{ path: '', message: `expected a YAML mapping at the top, got ${describe(doc)}` }], input.file);
  const lists: [unknown, string][] = [];
  const collect = (section: string): void => {
    const sec = doc[section];
    if (sec === undefined || sec === null) return;
    if (Array.isArray(sec)) return void lists.push([sec, section]);
    if (!isPlainObject(sec)) return void problems.push({ path: section, message: `expected an object with a targets list, got ${describe(sec)}` });
    for (const key of ['targets', 'constraints']) {
      const v = sec[key];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) lists.push([v, `${section}.${key}`]);
      else problems.push({ path: `${section}.${key}`, message: `expected a list of constraints, got ${describe(v)}` });
    }
  };
  collect('architecture_constraints');
  collect('mapspace');
  const nDims = spec.problem.dimensions.length;
  const dsNames = spec.problem.dataSpaces.map((d) => d.name);
  const names = spec.storage.map((l) => l.name);
  const levels = spec.storage.map(() => ({ temporal: fresh(nDims), spatial: fresh(nDims), split: null as number | null, keep: dsNames.map(() => null as boolean | null) }));
  for (const [entries, base] of lists) {
    (entries as unknown[]).forEach((e, i) => {
      const at = `${base}[${i}]`;
      if (!isPlainObject(e)) return void problems.push({ path: at, message: `expected a constraint, got ${describe(e)}` });
      const body = isPlainObject(e.attributes) ? { ...e, ...e.attributes } : e;
      for (const [k, why] of Object.entries(REFUSED_KEYS)) if (body[k] !== undefined) problems.push({ path: joinPath(at, k), message: why });
      checkKeys(Object.fromEntries(Object.entries(body).filter(([k]) => !(k in REFUSED_KEYS) && k !== 'attributes')), at, KEYS, problems);
      const type = body.type;
      if (typeof type === 'string' && type in REFUSED_TYPES) return void problems.push({ path: `${at}.type`, message: REFUSED_TYPES[type] });
      const target = body.target ?? body.name;
      const s = typeof target === 'string' ? names.indexOf(target) : typeof target === 'number' && Number.isInteger(target) ? target : -1;
      if (s < 0 || s >= names.length) {
        problems.push({ path: `${at}.target`, message: target === undefined ? 'is required' : `no storage level ${describe(target)} (levels: ${names.join(', ')})` });
        return;
      }
      const level = levels[s];
      const lname = spec.storage[s];
      if (type === 'temporal' || type === 'spatial') {
        if (type === 'spatial' && lname.fanoutX * lname.fanoutY === 1) return void problems.push({ path: `${at}.type`, message: `"${lname.name}" has no fanout below it, so no spatial loops` });
        const m = type === 'temporal' ? level.temporal : level.spatial;
        if (body.factors !== undefined) readFactors(body.factors, `${at}.factors`, spec, m, problems);
        for (const key of ['default_max_factor', 'default_min_factor'] as const) {
          const v = body[key];
          if (v === undefined) continue;
          const slot = key === 'default_max_factor' ? m.maxFactors : m.minFactors;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) problems.push({ path: `${at}.${key}`, message: `expected a positive integer, got ${describe(v)}` });
          else slot.forEach((x, d) => (slot[d] = x ?? v));
        }
        if (body.permutation !== undefined) readPermutation(body.permutation, `${at}.permutation`, spec, m, problems);
        if (body.split !== undefined) {
          if (type !== 'spatial') problems.push({ path: `${at}.split`, message: 'split belongs to a spatial constraint' });
          else if (typeof body.split !== 'number' || !Number.isInteger(body.split) || body.split < 0 || body.split > nDims) problems.push({ path: `${at}.split`, message: `expected an integer in 0…${nDims}, got ${describe(body.split)}` });
          else if (level.split !== null) problems.push({ path: `${at}.split`, message: 'a second split for this level (a conflict between constraints)' });
          else level.split = body.split;
        }
        for (const k of ['keep', 'bypass']) if (body[k] !== undefined) problems.push({ path: `${at}.${k}`, message: `${k} belongs to a bypass constraint` });
      } else if (type === 'bypass' || type === 'datatype' || type === 'dataspace' || type === 'bypassing') {
        for (const [key, value] of [['keep', true], ['bypass', false]] as const) {
          const v = body[key];
          if (v === undefined || v === null) continue;
          if (!Array.isArray(v)) {
            problems.push({ path: `${at}.${key}`, message: `expected a list of data spaces, got ${describe(v)}` });
            continue;
          }
          v.forEach((n, j) => {
            const pv = typeof n === 'string' ? dsNames.indexOf(n) : -1;
            if (pv < 0) return void problems.push({ path: `${at}.${key}[${j}]`, message: `unknown data space ${describe(n)} (data spaces: ${dsNames.join(', ')})` });
            if (level.keep[pv] !== null) return void problems.push({ path: `${at}.${key}[${j}]`, message: `keep/bypass of ${n} at "${lname.name}" given twice (a conflict between constraints)` });
            level.keep[pv] = value;
          });
        }
        for (const k of ['factors', 'permutation', 'split']) if (body[k] !== undefined) problems.push({ path: `${at}.${k}`, message: `${k} belongs to a temporal or spatial constraint` });
      } else {
        problems.push({ path: `${at}.type`, message: `unsupported constraint type ${describe(type)} (supported: temporal, spatial, bypass)` });
      }
    });
  }
  // a fixed factor outside its own level's min/max, or fixed factors that cannot multiply to the bound
  levels.forEach((l, s) => {
    for (const [kind, m] of [['temporal', l.temporal], ['spatial', l.spatial]] as const) {
      m.factors.forEach((f, d) => {
        if (f === null) return;
        if ((m.maxFactors[d] !== null && f > (m.maxFactors[d] as number)) || (m.minFactors[d] !== null && f < (m.minFactors[d] as number))) {
          problems.push({ path: `${base(names[s])} ${kind}`, message: `${spec.problem.dimensions[d]}=${f} is outside its own min/max` });
        }
      });
    }
  });
  spec.problem.dimensions.forEach((dim, d) => {
    let fixed = 1;
    let allFixed = true;
    levels.forEach((l, s) => {
      fixed *= l.temporal.factors[d] ?? 1;
      if (l.temporal.factors[d] === null) allFixed = false;
      if (spec.storage[s].fanoutX * spec.storage[s].fanoutY > 1) {
        fixed *= l.spatial.factors[d] ?? 1;
        if (l.spatial.factors[d] === null) allFixed = false;
      }
    });
    const bound = spec.problem.bounds[d];
    if (bound % fixed !== 0 || (allFixed && fixed !== bound)) problems.push({ path: 'constraints', message: `the fixed factors of ${dim} multiply to ${fixed}, which ${allFixed ? 'is not' : 'does not divide'} the problem's ${dim} = ${bound}` });
  });
  if (problems.length > 0) throw new ConfigError(problems, input.file);
  return build(spec, levels);
}

const base = (level: string): string => `constraints (target ${level})`;
