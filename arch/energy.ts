/**
 * Energy reference tables (ERT): energy per ACTION of a COMPONENT, quoted at a bit width (and, for
 * memories, a capacity), with a rule for scaling it to other widths. The engine only COUNTS
 * actions; energy = counts × table, computed after a run by `applyEnergyTable`, so a scenario can
 * swap tables without re-running (DESIGN.md "Energy and bits").
 *
 * ## Format (JSON or YAML; `loadEnergyTable(file)`)
 *
 * ```json
 * { "name": "my-table", "source": "where the numbers come from",
 *   "entries": [
 *     { "component": "multiplier", "action": "mult", "energy": "0.2 pJ", "bits": [8, 8], "scaling": "product" },
 *     { "component": "adder", "action": "add", "energy": "0.03 pJ", "bits": 8, "scaling": "width" },
 *     { "component": "sram", "action": "read", "energy": "10 pJ", "bits": 64, "capacity": "8 KiB", "scaling": "bits" },
 *     { "component": "dram", "action": "read", "energy": "1.3 nJ", "bits": 64, "scaling": "bits" } ] }
 * ```
 * `energy` takes units (mathjs; a plain number is pJ) — or write `energyPj` as a number; `capacity`
 * likewise (or `capacityBytes`). Sizes follow units.ts (KB = 1024 B in a size).
 *
 * ## Scaling rules (energy E quoted at width w, operand widths a×b, capacity C)
 * - `product` — multipliers: E ∝ product of the operand widths: E(x×y) = E·(x·y)/(a·b).
 *   `bits: n` means n×n.
 * - `width` — adders: E ∝ width: E(x) = E·x/w.
 * - `bits` — memories and links: E ∝ bits moved per access: E(x) = E·x/w.
 * - `fixed` — a constant per action.
 *
 * Several entries for one component/action (Horowitz quotes int add at 8 and 32 bits): the entry
 * whose quoted measure (width, or operand-width product) is NEAREST the query's on a log scale is
 * scaled; a tie goes to the larger entry. So the quoted widths return the quoted numbers exactly,
 * and e.g. a 16-bit add (8 and 32 are equally far) is 0.1 pJ·16/32 = 0.05 pJ.
 *
 * Entries with a `capacity` (SRAM): each quoted point is first scaled to the queried bits, then
 * energy is interpolated LOG-LINEARLY in capacity — linear in log2(capacity) between the quoted
 * capacities. Above the largest quoted capacity the last segment's slope is extended (big SRAMs
 * keep getting costlier: longer wires); below the smallest the smallest point's value is used
 * (extending the first segment downward would reach zero at 2 KiB — small stores belong in a
 * `regfile` entry). Horowitz: 8 KiB → 10, 32 KiB → 20, 1 MiB → 100 pJ per 64-bit read, so
 * 256 KiB → 20 + (18 − 15)·(100 − 20)/(20 − 15) = 68 pJ, and 24 MiB → 100 + log2(24)·16 ≈ 173.4 pJ.
 * The engine queries a banked buffer at ONE BANK's capacity (`capacityBytes / banks`, one access
 * touches one bank's word: sim/engine/accounting.ts). Horowitz quotes whole caches, themselves
 * banked; taking his points as single macros of that size is qloom's reading, not his. No area is
 * computed from this table.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseJson, yamlSyntaxError } from '../errors/hints.js';
import { ConfigError, type Problem } from './errors.js';
import type { ArchSpec } from './spec.js';
import {
  readSpecHeader,
  type Obj,
  canonicalJson,
  checkKeys,
  deepFreeze,
  describe,
  didYouMean,
  isPlainObject,
  joinPath,
  readEnum,
  readQuantityField,
  readString,
  sha256,
} from './validate.js';

export type ScalingRule = 'product' | 'width' | 'bits' | 'fixed';
export const SCALING_RULES: readonly ScalingRule[] = Object.freeze(['product', 'width', 'bits', 'fixed']);

/** An entry as written in a table file (units allowed). */
export interface EnergyEntryInput {
  component: string;
  action: string;
  /** `"0.2 pJ"`, `"1.3 nJ"`, or a number in pJ */
  energy?: string | number;
  energyPj?: number;
  /** width the energy is quoted at: a number, or `[a, b]` operand widths for `product` */
  bits?: number | readonly number[];
  scaling: ScalingRule;
  /** memories: the capacity the energy is quoted at (`"8 KiB"`) */
  capacity?: string | number;
  capacityBytes?: number;
  note?: string;
}

export interface EnergyTableInput {
  name: string;
  /** citation for the numbers */
  source?: string;
  description?: string;
  entries: readonly EnergyEntryInput[];
}

/** A validated entry: numbers in pJ and bytes. */
export interface EnergyEntry {
  readonly component: string;
  readonly action: string;
  readonly energyPj: number;
  /** `[w]` for width/bits/fixed rules, `[a, b]` for product */
  readonly bits: readonly number[];
  readonly scaling: ScalingRule;
  readonly capacityBytes: number | null;
  readonly note: string;
}

export interface EnergyTable {
  readonly name: string;
  readonly source: string;
  readonly description: string;
  readonly entries: readonly EnergyEntry[];
}

// ---------------------------------------------------------------------------------------------
// The default table

const HOROWITZ_SOURCE =
  'M. Horowitz, "Computing\'s energy problem (and what we can do about it)", IEEE ISSCC 2014 Digest of ' +
  'Technical Papers, pp. 10-14, doi:10.1109/ISSCC.2014.6757323 — 45 nm, 0.9 V. Register-file entries are ' +
  'not Horowitz\'s: see their notes.';

/**
 * `horowitz-45nm`: Horowitz, ISSCC 2014 (45 nm, 0.9 V):
 *   integer add 8 b 0.03 pJ, 32 b 0.1 pJ; integer mult 8 b 0.2 pJ, 32 b 3.1 pJ;
 *   FP add 16 b 0.4 pJ, 32 b 0.9 pJ; FP mult 16 b 1.1 pJ, 32 b 3.7 pJ;
 *   64-bit SRAM (cache) read 10 / 20 / 100 pJ at 8 KB / 32 KB / 1 MB; DRAM 1.3–2.6 nJ per 64 bits.
 * Choices made here:
 *   - DRAM: the LOW end, 1.3 nJ per 64-bit access (20.3 pJ/bit) — the figure most derived work
 *     uses (≈ 640 pJ per 32-bit DRAM access in Han et al., EIE, ISCA 2016). A table with 2.6 nJ
 *     is the same file with one number changed.
 *   - SRAM and DRAM writes cost the same as reads (Horowitz quotes reads only).
 *   - regfile (PE register files; not in Horowitz): one access ≈ one MAC of the same width, the
 *     ratio of Eyeriss's normalized costs (RF 1× : PE array 2× : buffer 6× : DRAM 200× a MAC;
 *     Chen, Emer, Sze, ISCA 2016). int8 MAC = 0.2 + 0.03 = 0.23 pJ, so 0.23 pJ per 8-bit access.
 */
export const HOROWITZ_45NM: EnergyTableInput = {
  name: 'horowitz-45nm',
  source: HOROWITZ_SOURCE,
  description: 'Horowitz ISSCC 2014, 45 nm: integer/FP arithmetic, SRAM by capacity, DRAM (low end, 1.3 nJ/64 b)',
  entries: [
    { component: 'adder', action: 'add', energy: '0.03 pJ', bits: 8, scaling: 'width' },
    { component: 'adder', action: 'add', energy: '0.1 pJ', bits: 32, scaling: 'width' },
    { component: 'multiplier', action: 'mult', energy: '0.2 pJ', bits: [8, 8], scaling: 'product' },
    { component: 'multiplier', action: 'mult', energy: '3.1 pJ', bits: [32, 32], scaling: 'product' },
    { component: 'fp-adder', action: 'add', energy: '0.4 pJ', bits: 16, scaling: 'width' },
    { component: 'fp-adder', action: 'add', energy: '0.9 pJ', bits: 32, scaling: 'width' },
    { component: 'fp-multiplier', action: 'mult', energy: '1.1 pJ', bits: [16, 16], scaling: 'product' },
    { component: 'fp-multiplier', action: 'mult', energy: '3.7 pJ', bits: [32, 32], scaling: 'product' },
    // FP8 MACs (arch/format-units.ts): van Baalen et al. 2023 (arXiv 2303.17951) put FP8 MACs at
    // 50–180 % above an INT8 MAC with an INT32 accumulator (0.2 + 0.1 pJ here): 2.8× with an FP32
    // accumulator, 1.5× with FP16 (our mapping of their range onto the accumulator)
    { component: 'mac', action: 'fp8-fp32acc', energy: '0.84 pJ', bits: 8, scaling: 'fixed', note: 'van Baalen et al. 2023: 2.8 × (0.2 pJ int8 mult + 0.1 pJ int32 add)' },
    { component: 'mac', action: 'fp8-fp16acc', energy: '0.45 pJ', bits: 8, scaling: 'fixed', note: 'van Baalen et al. 2023: 1.5 × (0.2 pJ int8 mult + 0.1 pJ int32 add)' },
    { component: 'sram', action: 'read', energy: '10 pJ', bits: 64, capacity: '8 KB', scaling: 'bits' },
    { component: 'sram', action: 'read', energy: '20 pJ', bits: 64, capacity: '32 KB', scaling: 'bits' },
    { component: 'sram', action: 'read', energy: '100 pJ', bits: 64, capacity: '1 MB', scaling: 'bits' },
    { component: 'sram', action: 'write', energy: '10 pJ', bits: 64, capacity: '8 KB', scaling: 'bits', note: 'assumed equal to a read' },
    { component: 'sram', action: 'write', energy: '20 pJ', bits: 64, capacity: '32 KB', scaling: 'bits', note: 'assumed equal to a read' },
    { component: 'sram', action: 'write', energy: '100 pJ', bits: 64, capacity: '1 MB', scaling: 'bits', note: 'assumed equal to a read' },
    { component: 'dram', action: 'read', energy: '1.3 nJ', bits: 64, scaling: 'bits', note: 'low end of Horowitz\'s 1.3-2.6 nJ' },
    { component: 'dram', action: 'write', energy: '1.3 nJ', bits: 64, scaling: 'bits', note: 'assumed equal to a read' },
    {
      component: 'regfile',
      action: 'read',
      energy: '0.2 pJ + 0.03 pJ',
      bits: 8,
      scaling: 'bits',
      note: 'not Horowitz: one int8 MAC per 8-bit access (Eyeriss RF ≈ 1× MAC, Chen et al. ISCA 2016)',
    },
    {
      component: 'regfile',
      action: 'write',
      energy: '0.2 pJ + 0.03 pJ',
      bits: 8,
      scaling: 'bits',
      note: 'not Horowitz: one int8 MAC per 8-bit access (Eyeriss RF ≈ 1× MAC, Chen et al. ISCA 2016)',
    },
  ],
};

const BUILTIN: Readonly<Record<string, EnergyTableInput>> = { 'horowitz-45nm': HOROWITZ_45NM };
export const ENERGY_TABLE_NAMES: readonly string[] = Object.freeze(Object.keys(BUILTIN));
export const DEFAULT_ENERGY_TABLE = 'horowitz-45nm';

// ---------------------------------------------------------------------------------------------
// Validation

const TABLE_KEYS = ['name', 'source', 'description', 'entries'] as const;
/** physically meaningful ranges of an entry (a value outside is a typo that would make energies non-finite) */
const ENTRY_ENERGY_RANGE = { min: 0, max: 1e9, text: '0 … 1e9 pJ (1 mJ) per action' };
const ENTRY_CAPACITY_RANGE = { min: 1, max: 2 ** 40, text: 'at most 1 TiB' };
const ENTRY_KEYS = ['component', 'action', 'energy', 'energyPj', 'bits', 'scaling', 'capacity', 'capacityBytes', 'note'] as const;

function readBits(e: Obj, path: string, scaling: ScalingRule | undefined, problems: Problem[]): number[] | undefined {
  const v = e.bits;
  const p = joinPath(path, 'bits');
  if (v === undefined) {
    if (scaling === 'fixed') return [];
    problems.push({ path: p, message: 'is required (the width the energy is quoted at)' });
    return undefined;
  }
  const list = typeof v === 'number' ? [v] : Array.isArray(v) ? (v as unknown[]) : undefined;
  if (!list || list.length === 0 || list.length > 2 || !list.every((b) => typeof b === 'number' && Number.isInteger(b) && b > 0)) {
    problems.push({ path: p, message: `expected a positive integer width or [a, b] operand widths, got ${describe(v)}` });
    return undefined;
  }
  const bits = list as number[];
  if (scaling === 'product') return bits.length === 1 ? [bits[0], bits[0]] : [bits[0], bits[1]];
  if (bits.length === 2) {
    problems.push({ path: p, message: `[a, b] operand widths only go with scaling "product" (this entry scales by "${scaling}")` });
    return undefined;
  }
  return bits;
}

/**
 * Validates an energy table (input form, JSON-like) and returns it normalized and deep-frozen.
 * Collects every problem (bad units, unknown keys with "did you mean", missing fields, duplicate
 * or inconsistent entries) into ONE ConfigError.
 */
export function validateEnergyTable(raw: unknown, source?: string): EnergyTable {
  const problems: Problem[] = [];
  const { obj: input, name, source: src, description } = readSpecHeader(raw, 'an energy table', TABLE_KEYS, problems, source);
  const entries: EnergyEntry[] = [];
  const indices: number[] = [];
  const rawEntries = input.entries;
  if (!Array.isArray(rawEntries) || rawEntries.length === 0) {
    problems.push({ path: 'entries', message: `expected a non-empty array of entries, got ${describe(rawEntries)}` });
  } else {
    rawEntries.forEach((raw: unknown, i: number) => {
      const path = joinPath('entries', i);
      if (!isPlainObject(raw)) {
        problems.push({ path, message: `expected an object, got ${describe(raw)}` });
        return;
      }
      const before = problems.length;
      checkKeys(raw, path, ENTRY_KEYS, problems);
      const component = readString(raw, 'component', path, problems, undefined, true);
      const action = readString(raw, 'action', path, problems, undefined, true);
      const scaling = readEnum(raw, 'scaling', path, problems, SCALING_RULES);
      const energyPj = readQuantityField(raw, path, problems, { unitKey: 'energy', numberKey: 'energyPj', kind: 'energy', sign: 'nonNegative', range: ENTRY_ENERGY_RANGE, what: 'an energy per action' });
      const bits = readBits(raw, path, scaling, problems);
      const hasCap = raw.capacity !== undefined || raw.capacityBytes !== undefined;
      const capacityBytes = hasCap
        ? readQuantityField(raw, path, problems, { unitKey: 'capacity', numberKey: 'capacityBytes', kind: 'size', integer: true, range: ENTRY_CAPACITY_RANGE, what: 'a quoted capacity' })
        : null;
      const note = readString(raw, 'note', path, problems, '');
      if (problems.length > before) return;
      entries.push({
        component: component!,
        action: action!,
        energyPj: energyPj!,
        bits: bits!,
        scaling: scaling!,
        capacityBytes: capacityBytes ?? null,
        note: note!,
      });
      indices.push(i);
    });
  }
  // Consistency within each component/action group.
  const groups = new Map<string, { entry: EnergyEntry; index: number }[]>();
  entries.forEach((entry, k) => {
    const key = `${entry.component}/${entry.action}`;
    const g = groups.get(key) ?? [];
    g.push({ entry, index: indices[k] });
    groups.set(key, g);
  });
  for (const [key, g] of groups) {
    const first = g[0].entry;
    for (const { entry, index } of g.slice(1)) {
      const path = joinPath('entries', index);
      if (entry.scaling !== first.scaling) {
        problems.push({ path: joinPath(path, 'scaling'), message: `"${entry.scaling}" differs from "${first.scaling}" of another ${key} entry (one rule per component/action)` });
      }
      if ((entry.capacityBytes === null) !== (first.capacityBytes === null)) {
        problems.push({ path, message: `${key}: either every entry gives a capacity or none does` });
      }
    }
    const seen = new Set<string>();
    for (const { entry, index } of g) {
      const k = `${entry.bits.join('x')}@${entry.capacityBytes}`;
      if (seen.has(k)) problems.push({ path: joinPath('entries', index), message: `duplicate ${key} entry at ${entry.bits.join('×')} bits${entry.capacityBytes !== null ? `, ${entry.capacityBytes} bytes` : ''}` });
      seen.add(k);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, source);
  return deepFreeze({ name: name!, source: src!, description: description!, entries });
}

// ---------------------------------------------------------------------------------------------
// Loading

const builtinCache = new Map<string, EnergyTable>();

/** A built-in table by name (`horowitz-45nm`), or a user table from a .json / .yaml / .yml file. */
export function loadEnergyTable(nameOrFile: string): EnergyTable {
  const builtin = Object.hasOwn(BUILTIN, nameOrFile) ? BUILTIN[nameOrFile] : undefined;
  if (builtin) {
    let t = builtinCache.get(nameOrFile);
    if (!t) {
      t = validateEnergyTable(builtin, nameOrFile);
      builtinCache.set(nameOrFile, t);
    }
    return t;
  }
  if (!/\.(json|ya?ml)$/i.test(nameOrFile)) {
    const accepted = `an energy table is one of ${ENERGY_TABLE_NAMES.join(', ')} or a .json/.yaml file`;
    if (existsSync(nameOrFile)) throw new ConfigError(`is ${statSync(nameOrFile).isDirectory() ? 'a directory' : 'neither a .json, .yaml nor a .yml file'}; ${accepted}`, nameOrFile);
    if (/[\\/]/.test(nameOrFile)) throw new ConfigError(`no such file; ${accepted}`, nameOrFile);
    const hint = didYouMean(nameOrFile, ENERGY_TABLE_NAMES);
    throw new ConfigError(
      `unknown energy table "${nameOrFile}"${hint ? ` (did you mean "${hint}"?)` : ''}: give one of ${ENERGY_TABLE_NAMES.join(', ')} or a .json/.yaml file`,
    );
  }
  return validateEnergyTable(readDataFile(nameOrFile), nameOrFile);
}

/**
 * Reads and parses a JSON or YAML file (`format`: by default YAML for .yaml / .yml, else JSON);
 * failures are ConfigErrors naming the file, a syntax error with its line and column.
 */
export function readDataFile(file: string, format: 'json' | 'yaml' = /\.ya?ml$/i.test(file) ? 'yaml' : 'json'): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  if (format === 'json') return parseJson(text, (message) => new ConfigError(message, file));
  try {
    return parseYaml(text);
  } catch (e) {
    throw new ConfigError(`not valid YAML: ${yamlSyntaxError(e)}`, file);
  }
}

/**
 * The table a spec names, with the spec's DRAM energy override applied when it has one
 * (`memories.dram.energyPerBit`): every dram entry is replaced by read and write at that energy
 * per bit (quoted at 64 bits, scaling "bits").
 */
export function energyTableForSpec(spec: ArchSpec): EnergyTable {
  const table = loadEnergyTable(spec.energyTable);
  const perBit = spec.memories.dram.energyPerBitPj;
  if (perBit === null) return table;
  const note = `memories.dram.energyPerBit of arch "${spec.name}"`;
  const dram = (action: string): EnergyEntry => ({ component: 'dram', action, energyPj: perBit * 64, bits: [64], scaling: 'bits', capacityBytes: null, note });
  return deepFreeze({
    name: `${table.name}+dram(${perBit} pJ/bit)`,
    source: table.source,
    description: table.description,
    entries: [...table.entries.filter((e) => e.component !== 'dram'), dram('read'), dram('write')],
  });
}

/** sha256 of the table's canonical JSON — identifies the numbers energy was computed with. */
export function energyTableHash(table: EnergyTable): string {
  return sha256(canonicalJson(table));
}

// ---------------------------------------------------------------------------------------------
// Lookup

interface Group {
  readonly scaling: ScalingRule;
  readonly entries: readonly EnergyEntry[];
  readonly byCapacity: boolean;
}

const indexCache = new WeakMap<EnergyTable, Map<string, Group>>();

function index(table: EnergyTable): Map<string, Group> {
  let idx = indexCache.get(table);
  if (!idx) {
    const lists = new Map<string, EnergyEntry[]>();
    for (const e of table.entries) {
      const k = `${e.component}\u0000${e.action}`;
      const l = lists.get(k) ?? [];
      l.push(e);
      lists.set(k, l);
    }
    idx = new Map();
    for (const [k, l] of lists) idx.set(k, { scaling: l[0].scaling, entries: l, byCapacity: l[0].capacityBytes !== null });
    indexCache.set(table, idx);
  }
  return idx;
}

function measure(scaling: ScalingRule, bits: readonly number[]): number {
  return scaling === 'product' ? bits[0] * bits[1] : scaling === 'fixed' ? 1 : bits[0];
}

/** The entry nearest the query on a log scale of its measure; ties → the larger. */
function nearest<T extends { readonly bits: readonly number[] }>(entries: readonly T[], scaling: ScalingRule, q: number): T {
  let best = entries[0];
  let bestD = Infinity;
  for (const e of entries) {
    const m = measure(scaling, e.bits);
    const d = Math.abs(Math.log2(q) - Math.log2(m));
    if (d < bestD - 1e-12 || (Math.abs(d - bestD) <= 1e-12 && m > measure(scaling, best.bits))) {
      best = e;
      bestD = d;
    }
  }
  return best;
}

function scaled(value: number, bits: readonly number[], scaling: ScalingRule, q: number): number {
  return scaling === 'fixed' ? value : (value * q) / measure(scaling, bits);
}

/** A quantity quoted at some width (`[w]`, or `[a, b]` operand widths for `product`). */
export interface Quote {
  readonly bits: readonly number[];
  readonly value: number;
}

/**
 * A quoted quantity at another width, by the tables' one rule: the nearest quote on a log scale
 * (ties → the larger), scaled by the rule (`product` ∝ a·b, `width`/`bits` ∝ width, `fixed`) —
 * energy per action here, area per instance in area.ts.
 */
export function quotedAt(quotes: readonly Quote[], scaling: ScalingRule, bits: number | readonly number[]): number {
  const q = measure(scaling, normalizeQueryBits(scaling, bits));
  const e = nearest(quotes, scaling, q);
  return scaled(e.value, e.bits, scaling, q);
}

function normalizeQueryBits(scaling: ScalingRule, bits: number | readonly number[]): readonly number[] {
  const list = typeof bits === 'number' ? [bits] : bits;
  if (list.length < 1 || list.length > 2 || !list.every((b) => Number.isFinite(b) && b > 0)) {
    throw new RangeError(`energy query: bits must be a positive width or [a, b] operand widths, got ${JSON.stringify(bits)}`);
  }
  if (scaling === 'product') return list.length === 1 ? [list[0], list[0]] : list;
  if (list.length === 2 && scaling !== 'fixed') {
    throw new RangeError(`energy query: [a, b] operand widths only go with "product" scaling, got ${JSON.stringify(bits)}`);
  }
  return list;
}

function lookup(table: EnergyTable, component: string, action: string): Group | string {
  const g = index(table).get(`${component}\u0000${action}`);
  if (g) return g;
  const known = [...new Set(table.entries.map((e) => `${e.component}/${e.action}`))];
  const hint = didYouMean(`${component}/${action}`, known);
  return `energy table "${table.name}" has no entry for ${component}/${action}${hint ? ` (did you mean ${hint}?)` : ` (it has: ${known.join(', ')})`}`;
}

function evaluate(g: Group, bits: number | readonly number[], capacityBytes: number | undefined): number {
  const qb = normalizeQueryBits(g.scaling, bits);
  const q = measure(g.scaling, qb);
  const at = (entries: readonly EnergyEntry[]): number => {
    const e = nearest(entries, g.scaling, q);
    return scaled(e.energyPj, e.bits, g.scaling, q);
  };
  if (!g.byCapacity) return at(g.entries);
  if (capacityBytes === undefined || !(capacityBytes > 0)) {
    throw new RangeError(`energy query: ${g.entries[0].component}/${g.entries[0].action} is quoted by capacity; give capacityBytes > 0`);
  }
  // One point per quoted capacity (nearest width among entries at that capacity), scaled to q.
  const caps = [...new Set(g.entries.map((e) => e.capacityBytes!))].sort((a, b) => a - b);
  const pts = caps.map((c) => ({ x: Math.log2(c), y: at(g.entries.filter((e) => e.capacityBytes === c)) }));
  const x = Math.log2(capacityBytes);
  if (pts.length === 1 || x <= pts[0].x) return pts[0].y;
  let i = 1;
  while (i < pts.length - 1 && x > pts[i].x) i++;
  const a = pts[i - 1];
  const b = pts[i];
  return a.y + ((x - a.x) * (b.y - a.y)) / (b.x - a.x);
}

/**
 * Energy in pJ of ONE action: `energyOf(t, 'multiplier', 'mult', [9, 8])`,
 * `energyOf(t, 'adder', 'add', 32)`, `energyOf(t, 'sram', 'read', 64, 256 * 1024)`.
 * `bits`: the width of this action (bits moved per access for memories); `[a, b]` operand widths
 * for a multiplier (a number n means n×n). `capacityBytes`: for capacity-quoted memories.
 * Throws ConfigError when the table has no such component/action.
 */
export function energyOf(
  table: EnergyTable,
  component: string,
  action: string,
  bits: number | readonly number[],
  capacityBytes?: number,
): number {
  const g = lookup(table, component, action);
  if (typeof g === 'string') throw new ConfigError([{ path: `${component}/${action}`, message: g }], table.name);
  return evaluate(g, bits, capacityBytes);
}

/** What the engine counted: `count` actions of `component`/`action` at `bits` wide. */
export interface ActionCount {
  readonly component: string;
  readonly action: string;
  readonly bits: number | readonly number[];
  /** memories quoted by capacity (SRAM) */
  readonly capacityBytes?: number;
  readonly count: number;
  /** which instance (e.g. `glb`, `ifmap`, `pe`), for grouping; defaults to the component */
  readonly label?: string;
}

export interface EnergyRow {
  readonly label: string;
  readonly component: string;
  readonly action: string;
  readonly bits: readonly number[];
  readonly capacityBytes: number | null;
  readonly count: number;
  readonly energyPjPerAction: number;
  readonly energyPj: number;
}

export interface EnergyReport {
  /** name of the table used */
  readonly table: string;
  readonly tableHash: string;
  /** one row per count, in order */
  readonly rows: readonly EnergyRow[];
  /** pJ by component, then action */
  readonly byComponent: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** pJ by label (instance) */
  readonly byLabel: Readonly<Record<string, number>>;
  readonly totalPj: number;
}

/**
 * Energy of a run: counts × table, after the fact. Every count whose component/action the table
 * lacks (or that is malformed) is reported in ONE ConfigError (paths `counts[i]`).
 */
export function applyEnergyTable(counts: readonly ActionCount[], table: EnergyTable): EnergyReport {
  const problems: Problem[] = [];
  const rows: EnergyRow[] = [];
  const byComponent: Record<string, Record<string, number>> = {};
  const byLabel: Record<string, number> = {};
  let totalPj = 0;
  counts.forEach((c, i) => {
    const path = joinPath('counts', i);
    if (!(typeof c.count === 'number' && c.count >= 0 && Number.isFinite(c.count))) {
      problems.push({ path: joinPath(path, 'count'), message: `expected a count ≥ 0, got ${describe(c.count)}` });
      return;
    }
    const g = lookup(table, c.component, c.action);
    if (typeof g === 'string') {
      problems.push({ path, message: g });
      return;
    }
    let per: number;
    try {
      per = evaluate(g, c.bits, c.capacityBytes);
    } catch (e) {
      problems.push({ path, message: (e as Error).message });
      return;
    }
    const energyPj = per * c.count;
    const label = c.label ?? c.component;
    rows.push({
      label,
      component: c.component,
      action: c.action,
      bits: normalizeQueryBits(g.scaling, c.bits),
      capacityBytes: c.capacityBytes ?? null,
      count: c.count,
      energyPjPerAction: per,
      energyPj,
    });
    const comp = (byComponent[c.component] ??= {});
    comp[c.action] = (comp[c.action] ?? 0) + energyPj;
    byLabel[label] = (byLabel[label] ?? 0) + energyPj;
    totalPj += energyPj;
  });
  if (problems.length > 0) throw new ConfigError(problems, table.name);
  return deepFreeze({ table: table.name, tableHash: energyTableHash(table), rows, byComponent, byLabel, totalPj });
}
