/**
 * An arch's storage as a hierarchy of levels, outermost first — the Timeloop / Accelergy way of
 * writing it (`hierarchy` in a spec file) — and back.
 *
 * In a file, `hierarchy` replaces `memories`' buffers and DRAM and `pe.registers`:
 *
 *   hierarchy:
 *     - { name: DRAM, class: dram, keeps: [weights, inputs, outputs], bandwidth: 12.8 GB/s, latency: 100 ns }
 *     - { name: GlobalBuffer, class: sram, keeps: [weights, inputs, outputs], capacity: 256 KiB, banks: 8, wordBits: 128 }
 *     - { name: RowBuffer, class: sram, per: row, keeps: [inputs], capacity: 64 B }      # any number of these
 *     - { name: WeightReg, class: regfile, keeps: [weights], capacity: 1 B }
 *     - { name: InputReg, class: regfile, keeps: [inputs], capacity: 1 B }
 *     - { name: PsumReg, class: regfile, keeps: [outputs], capacity: 4 B }
 *
 * A level: `name` (unique), `class` (dram | sram | regfile: which energy-table component prices
 * its accesses), `per` (array: one shared instance; row / column: one per array row / column;
 * pe: one per PE — default array, regfile pe), `keeps` (the data spaces it holds; the rest bypass
 * it), then the fields of a buffer (`capacity`, `banks`, `wordBits`, ports, bytes per cycle) or, for
 * DRAM, of `memories.dram`.
 *
 * The shape: DRAM first, keeping all three; right below it the buffer level — one sram keeping all
 * three (a unified global buffer, `memories.glb`) or three keeping one each (SCALE-Sim's split
 * ifmap / filter / ofmap buffers); last the PE registers — regfile levels per PE keeping one data
 * space each (`pe.registers`; a missing one is 0 bytes: bypassed). Those are what the event engine
 * simulates, so a hierarchy of that shape normalizes to exactly the spec written with `memories`
 * and `pe.registers` — same hash, same results (the presets, and SCALE-Sim's configurations, are
 * checked to round-trip). Levels in between, of any number, class and instance count, are kept as
 * `memories.innerLevels`: the Timeloop model (`qloom map`, sim/mapping) prices mappings on them,
 * while the event engine refuses such a spec by name rather than ignore a level.
 */
import type { Problem } from './errors.js';
import { type ArchSpec, type BufferSpec, TENSOR_CLASSES, type TensorClass } from './schema.js';
import { type Obj, checkKeys, describe, isPlainObject, joinPath } from './validate.js';

export const DATA_SPACE_NAMES = ['weights', 'inputs', 'outputs'] as const;
export type DataSpaceName = (typeof DATA_SPACE_NAMES)[number];
export const LEVEL_CLASSES = ['dram', 'sram', 'regfile'] as const;
export type LevelClass = (typeof LEVEL_CLASSES)[number];
export const LEVEL_PERS = ['array', 'row', 'column', 'pe'] as const;
export type LevelPer = (typeof LEVEL_PERS)[number];

/** An on-chip level between the buffer level and the PE registers (`memories.innerLevels`). */
export interface InnerLevelSpec extends BufferSpec {
  readonly name: string;
  readonly class: 'sram' | 'regfile';
  readonly per: LevelPer;
  readonly keeps: readonly DataSpaceName[];
}

/** One level of a spec's storage (hierarchyOf), outermost first. */
export interface StorageLevel {
  readonly name: string;
  readonly class: LevelClass;
  readonly per: LevelPer;
  /** instances of the level: 1, rows, cols or rows·cols */
  readonly instances: number;
  readonly keeps: readonly DataSpaceName[];
  /** null: DRAM (unbounded) */
  readonly capacityBytes: number | null;
  /** the buffer's spec (on-chip buffers and inner levels) */
  readonly buffer?: BufferSpec;
}

/** The tensor class a data space is (ifmap = the layer's inputs, filter = weights, ofmap = outputs). */
export const TENSOR_OF: Readonly<Record<DataSpaceName, TensorClass>> = Object.freeze({ weights: 'filter', inputs: 'ifmap', outputs: 'ofmap' });
const REGISTER_OF: Readonly<Record<DataSpaceName, 'weight' | 'input' | 'psum'>> = Object.freeze({ weights: 'weight', inputs: 'input', outputs: 'psum' });
const SPLIT_NAMES: Readonly<Record<TensorClass, string>> = Object.freeze({ ifmap: 'IfmapBuffer', filter: 'FilterBuffer', ofmap: 'OfmapBuffer' });
const REGISTER_NAMES: Readonly<Record<DataSpaceName, string>> = Object.freeze({ weights: 'WeightReg', inputs: 'InputReg', outputs: 'PsumReg' });

export const BUFFER_FIELDS = ['capacity', 'capacityBytes', 'banks', 'wordBits', 'readPorts', 'writePorts', 'readBytesPerCycle', 'writeBytesPerCycle'];
export const DRAM_FIELDS = ['activationCompression', 'bandwidth', 'bandwidthBytesPerS', 'bytesPerCycle', 'latency', 'latencyS', 'latencyCycles', 'mode', 'energyPerBit', 'energyPerBitPj', 'baseAddress'];
const LEVEL_KEYS = ['name', 'class', 'per', 'keeps'];

/** where a level's instances sit (X: along the columns, Y: along the rows) */
export function meshOf(per: LevelPer, rows: number, cols: number): { meshX: number; meshY: number } {
  return per === 'array' ? { meshX: 1, meshY: 1 } : per === 'row' ? { meshX: 1, meshY: rows } : per === 'column' ? { meshX: cols, meshY: 1 } : { meshX: cols, meshY: rows };
}

export function instancesOf(per: LevelPer, rows: number, cols: number): number {
  const m = meshOf(per, rows, cols);
  return m.meshX * m.meshY;
}

/** a data space's name in Timeloop's problem (arch/preset-hierarchy.ts convProblem) */
export const TIMELOOP_SPACE: Readonly<Record<DataSpaceName, 'Weights' | 'Inputs' | 'Outputs'>> = Object.freeze({ weights: 'Weights', inputs: 'Inputs', outputs: 'Outputs' });

export interface Level {
  readonly index: number;
  readonly path: string;
  readonly obj: Obj;
  readonly name: string;
  readonly cls: LevelClass;
  readonly per: LevelPer;
  readonly keeps: readonly DataSpaceName[];
}

export function fieldsOf(obj: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

function readLevel(v: unknown, index: number, names: Set<string>, problems: Problem[]): Level | undefined {
  const base = joinPath('hierarchy', index);
  if (!isPlainObject(v)) {
    problems.push({ path: base, message: `expected a level object, got ${describe(v)}` });
    return undefined;
  }
  const before = problems.length;
  const name = v.name;
  if (typeof name !== 'string' || name.trim() === '') problems.push({ path: joinPath(base, 'name'), message: `needs a level name (a non-empty string), got ${describe(name)}` });
  else if (names.has(name)) problems.push({ path: joinPath(base, 'name'), message: `"${name}" names two levels` });
  else names.add(name);
  const path = typeof name === 'string' && name.trim() !== '' ? `${base} (${name})` : base;
  const cls = v.class;
  if (!LEVEL_CLASSES.includes(cls as LevelClass)) problems.push({ path: joinPath(path, 'class'), message: `expected one of ${LEVEL_CLASSES.join(', ')}, got ${describe(cls)}` });
  const per = v.per ?? (cls === 'regfile' ? 'pe' : 'array');
  if (!LEVEL_PERS.includes(per as LevelPer)) problems.push({ path: joinPath(path, 'per'), message: `expected one of ${LEVEL_PERS.join(', ')}, got ${describe(per)}` });
  else if (cls === 'dram' && per !== 'array') problems.push({ path: joinPath(path, 'per'), message: `DRAM is one shared level ("array"), got "${String(per)}"` });
  const keeps = readKeeps(v.keeps, path, problems);
  if (problems.length > before) return undefined;
  // unknown keys are reported, but the level still takes its place in the shape checks
  const fields = cls === 'dram' ? DRAM_FIELDS : cls === 'regfile' && per === 'pe' ? ['capacity', 'capacityBytes'] : BUFFER_FIELDS;
  checkKeys(v, path, [...LEVEL_KEYS, ...fields], problems);
  return { index, path, obj: v, name: name as string, cls: cls as LevelClass, per: per as LevelPer, keeps };
}

/** A level's `keeps`: distinct data spaces, at least one (problems at `path.keeps`). */
export function readKeeps(v: unknown, path: string, problems: Problem[]): DataSpaceName[] {
  const keeps: DataSpaceName[] = [];
  if (!Array.isArray(v) || v.length === 0) {
    problems.push({ path: joinPath(path, 'keeps'), message: `needs the data spaces the level holds (a non-empty list of ${DATA_SPACE_NAMES.join(', ')}), got ${describe(v)}` });
    return keeps;
  }
  for (const d of v) {
    if (!DATA_SPACE_NAMES.includes(d as DataSpaceName)) problems.push({ path: joinPath(path, 'keeps'), message: `${describe(d)} is not a data space (${DATA_SPACE_NAMES.join(', ')})` });
    else if (keeps.includes(d as DataSpaceName)) problems.push({ path: joinPath(path, 'keeps'), message: `"${String(d)}" is listed twice` });
    else keeps.push(d as DataSpaceName);
  }
  return keeps;
}

const keepsAll = (l: Level): boolean => l.keeps.length === DATA_SPACE_NAMES.length;

/**
 * Rewrites a spec input that has `hierarchy` into the `memories` / `pe.registers` form the
 * normalizer reads, plus the path renames that point its problems back at the levels. An input
 * without `hierarchy` passes unchanged.
 */
export interface Expanded {
  readonly input: Obj;
  readonly renames: [string, string][];
  /** the hierarchy had problems: memories is not to be read */
  readonly failed: boolean;
  /** the well-formed levels, whose fields the normalizer still checks when the rest failed */
  readonly levels: readonly Level[];
}

export function expandHierarchy(input: Obj, problems: Problem[]): Expanded {
  if (input.hierarchy === undefined) return { input, renames: [], failed: false, levels: [] };
  const start = problems.length;
  const renames: [string, string][] = [];
  const raw = input.hierarchy;
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push({ path: 'hierarchy', message: `expected a non-empty list of storage levels, outermost (DRAM) first, got ${describe(raw)}` });
    return { input: { ...input, hierarchy: undefined }, renames, failed: true, levels: [] };
  }
  const mem = isPlainObject(input.memories) ? input.memories : {};
  const clash = Object.keys(mem).filter((k) => k !== 'onChipBoundaries' && k !== 'fusion');
  if (clash.length > 0) problems.push({ path: 'memories', message: `${clash.map((k) => `"${k}"`).join(', ')} and "hierarchy" both describe the storage; with a hierarchy, memories may only give "onChipBoundaries" and "fusion"` });
  const pe = isPlainObject(input.pe) ? input.pe : undefined;
  if (pe?.registers !== undefined) problems.push({ path: 'pe.registers', message: 'the PE registers are the hierarchy\'s per-PE regfile levels: give them there, not in both places' });

  const names = new Set<string>();
  const levels = raw.map((v, i) => readLevel(v, i, names, problems));
  const ls = levels.filter((l): l is Level => l !== undefined);
  if (ls.length < levels.length) return { input: { ...input, hierarchy: undefined, memories: mem }, renames, failed: true, levels: ls };
  const shape = (l: Level, message: string): void => void problems.push({ path: l.path, message });

  // DRAM, outermost, keeping everything; no other DRAM
  const dram = ls[0];
  if (dram.cls !== 'dram' || !keepsAll(dram)) shape(dram, 'the outermost level must be the DRAM (class dram), keeping weights, inputs and outputs');
  for (const l of ls.slice(1)) if (l.cls === 'dram') shape(l, 'only the outermost level can be DRAM');

  // the buffer level right below DRAM: one unified sram, or three splits keeping one space each
  let at = 1;
  const buffers: Obj = {};
  const first = ls[at];
  if (dram.cls !== 'dram') {
    // without DRAM on top the rest has no place to be checked against
  } else if (!first || first.cls !== 'sram' || first.per !== 'array') {
    shape(first ?? dram, 'below DRAM comes the on-chip buffer level: one sram (per array) keeping weights, inputs and outputs, or three keeping one each');
  } else if (keepsAll(first)) {
    buffers.glb = fieldsOf(first.obj, BUFFER_FIELDS);
    renames.push(['memories.glb', first.path]);
    at = 2;
  } else {
    const seen = new Set<DataSpaceName>();
    while (at < ls.length && seen.size < 3 && ls[at].cls === 'sram' && ls[at].per === 'array' && ls[at].keeps.length === 1 && !seen.has(ls[at].keeps[0])) {
      const l = ls[at];
      const t = TENSOR_OF[l.keeps[0]];
      buffers[t] = fieldsOf(l.obj, BUFFER_FIELDS);
      renames.push([`memories.${t}`, l.path]);
      seen.add(l.keeps[0]);
      at++;
    }
    if (seen.size < 3) {
      const missing = DATA_SPACE_NAMES.filter((d) => !seen.has(d));
      shape(first, `split buffers below DRAM need one sram per data space; none keeps ${missing.join(', ')} (a buffer level that keeps some data spaces and bypasses others is not simulated)`);
    }
  }

  // the PE registers: the innermost per-PE regfile levels, one data space each
  let end = ls.length;
  const regs: Obj = {};
  const regSeen = new Set<DataSpaceName>();
  while (end > at) {
    const l = ls[end - 1];
    if (!(l.cls === 'regfile' && l.per === 'pe' && l.keeps.length === 1 && !regSeen.has(l.keeps[0]))) break;
    const r = REGISTER_OF[l.keeps[0]];
    if (l.obj.capacity !== undefined) regs[r] = l.obj.capacity;
    if (l.obj.capacityBytes !== undefined) regs[`${r}Bytes`] = l.obj.capacityBytes;
    if (l.obj.capacity === undefined && l.obj.capacityBytes === undefined) problems.push({ path: joinPath(l.path, 'capacity'), message: 'is required (a register file size, e.g. "4 B")' });
    renames.push([`pe.registers.${r}`, joinPath(l.path, 'capacity')], [`pe.registers.${r}Bytes`, joinPath(l.path, 'capacityBytes')]);
    regSeen.add(l.keeps[0]);
    end--;
  }
  for (const d of DATA_SPACE_NAMES) if (!regSeen.has(d)) regs[`${REGISTER_OF[d]}Bytes`] = 0;

  // anything in between: inner levels
  const inner: Obj[] = [];
  for (let i = at; i < end; i++) {
    const l = ls[i];
    if (l.cls === 'dram') continue;
    inner.push({ name: l.name, class: l.cls, per: l.per, keeps: [...l.keeps], ...fieldsOf(l.obj, BUFFER_FIELDS) });
    renames.push([`memories.innerLevels[${inner.length - 1}]`, l.path]);
  }
  renames.push(['memories.dram', dram.path]);
  const memories: Obj = { ...mem, ...buffers, dram: fieldsOf(dram.obj, DRAM_FIELDS), ...(inner.length > 0 && { innerLevels: inner }) };
  const { hierarchy: _, ...rest } = input;
  // a malformed hierarchy leaves memories unread: its own problems say what is wrong
  return { input: { ...rest, memories, pe: { ...(pe ?? {}), registers: regs } }, renames, failed: problems.length > start, levels: ls };
}

/** Points problems found in the expanded form back at the hierarchy's levels. */
export function renameProblemPaths(problems: Problem[], renames: readonly [string, string][]): void {
  if (renames.length === 0) return;
  for (const p of problems) {
    for (const [from, to] of renames) {
      if (p.path === from || p.path.startsWith(`${from}.`)) {
        (p as { path: string }).path = to + p.path.slice(from.length);
        break;
      }
    }
  }
}

/** Every storage level of a (normalized) spec, outermost first, as the hierarchy form names them. */
export function hierarchyOf(spec: ArchSpec): StorageLevel[] {
  const { rows, cols } = spec.array;
  const m = spec.memories;
  const out: StorageLevel[] = [{ name: 'DRAM', class: 'dram', per: 'array', instances: 1, keeps: [...DATA_SPACE_NAMES], capacityBytes: null }];
  const buffer = (name: string, keeps: DataSpaceName[], b: BufferSpec): StorageLevel => ({ name, class: 'sram', per: 'array', instances: 1, keeps, capacityBytes: b.capacityBytes, buffer: b });
  if (m.layout === 'unified') out.push(buffer('GlobalBuffer', [...DATA_SPACE_NAMES], m.glb!));
  else for (const t of TENSOR_CLASSES) out.push(buffer(SPLIT_NAMES[t], [DATA_SPACE_NAMES.find((d) => TENSOR_OF[d] === t)!], m[t]!));
  for (const l of m.innerLevels ?? []) {
    const { name, class: cls, per, keeps, ...b } = l;
    out.push({ name, class: cls, per, instances: instancesOf(per, rows, cols), keeps: [...keeps], capacityBytes: b.capacityBytes, buffer: b });
  }
  const regBytes = { weights: spec.pe.registers.weightBytes, inputs: spec.pe.registers.inputBytes, outputs: spec.pe.registers.psumBytes };
  for (const d of DATA_SPACE_NAMES) {
    if (regBytes[d] > 0) out.push({ name: REGISTER_NAMES[d], class: 'regfile', per: 'pe', instances: rows * cols, keeps: [d], capacityBytes: regBytes[d] });
  }
  return out;
}

/**
 * The spec in the hierarchy input form (numbers, no units): `validateArchSpec` of it gives the
 * spec back, equal field by field (test/unit/arch/hierarchy.test.ts).
 */
export function hierarchyInputOf(spec: ArchSpec): Obj {
  const { memories, pe, ...rest } = spec;
  const { registers: _, ...peRest } = pe;
  const hierarchy: Obj[] = hierarchyOf(spec).map((l) => {
    const head: Obj = { name: l.name, class: l.class, per: l.per, keeps: [...l.keeps] };
    if (l.class === 'dram') return { ...head, ...memories.dram };
    if (l.buffer) return { ...head, ...l.buffer };
    return { ...head, capacityBytes: l.capacityBytes };
  });
  const kept = { ...(memories.onChipBoundaries && { onChipBoundaries: memories.onChipBoundaries }), ...(memories.fusion && { fusion: memories.fusion }) };
  return { ...rest, pe: peRest, memories: kept, hierarchy };
}

/**
 * Why the event engine cannot run this spec's hierarchy (null when it can): it simulates DRAM,
 * one buffer level and the PE registers, and will not drop a level silently.
 */
export function engineHierarchyProblem(spec: ArchSpec): Problem | null {
  const inner = spec.memories.innerLevels ?? [];
  if (inner.length === 0) return null;
  return {
    path: 'memories.innerLevels',
    message: `arch "${spec.name}" has ${inner.map((l) => `"${l.name}"`).join(', ')} between its buffer and its PE registers; the event engine simulates DRAM → one buffer level → PE registers — price mappings on this hierarchy with \`qloom map\` (the Timeloop model)`,
  };
}
