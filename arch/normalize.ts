/**
 * Reading an arch spec: `validateArchSpec` turns the input form (schema.ts) into the normalized,
 * deep-frozen ArchSpec — defaults filled, quantities parsed to base units, derived per-cycle values
 * computed, derived keys given in the input checked. It collects EVERY problem (bad units, unknown
 * keys with "did you mean", out-of-range numbers (ranges.ts), bad enums, inconsistent alternatives)
 * with its path and throws ONE ConfigError. Its own file: the one reader of the schema.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ENERGY_TABLE_NAMES, loadEnergyTable } from './energy.js';
import { ConfigError, type Problem } from './errors.js';
import { MAX_BASE_ADDRESS, RANGES, checkMinBuffer, checkRangeWithUnit } from './ranges.js';
import {
  type ArchSpec,
  type BufferName,
  type BufferSpec,
  type Dataflow,
  type DramSpec,
  type FusedActivation,
  type OverflowPolicy,
  type PeForm,
  type TensorClass,
  DATAFLOWS,
  DEFAULTS,
  DRAM_MODES,
  FUSED_ACTIVATIONS,
  MEMORY_MODELS,
  OVERFLOW_POLICIES,
  PE_FORMS,
  ZERO_GATINGS,
  ZERO_SKIPPINGS,
  ACTIVATION_COMPRESSIONS,
  ON_CHIP_POLICIES,
  FUSION_MODES,
  TENSOR_CLASSES,
  ACCUMULATOR_FORMATS,
  OPERAND_FORMATS,
  type AccumulatorFormat,
  type OperandFormat,
} from './schema.js';
import { BUFFER_FIELDS, DATA_SPACE_NAMES, DRAM_FIELDS, type Level, fieldsOf, readKeeps, type InnerLevelSpec, LEVEL_PERS, type LevelPer, expandHierarchy, renameProblemPaths } from './hierarchy.js';
import { readSfu } from './sfu.js';
import { parseQuantity } from './units.js';
import {
  readSpecHeader,
  type Obj,
  agree,
  canonicalJson,
  checkInt,
  checkKeys,
  deepFreeze,
  describe,
  didYouMean,
  isPlainObject,
  joinPath,
  readBool,
  readEnum,
  readInt,
  readObject,
  readQuantityField,
  readString,
} from './validate.js';

// ---------------------------------------------------------------------------------------------
// Validation

const TOP_KEYS = [
  'name',
  'description',
  'source',
  'clock',
  'clockHz',
  'array',
  'operands',
  'accumulator',
  'pe',
  'memories',
  'dma',
  'requant',
  'sfu',
  'memoryModel',
  'energyTable',
  'scalesim',
  'hierarchy',
] as const;
const BUFFER_KEYS = ['capacity', 'capacityBytes', 'banks', 'wordBits', 'readPorts', 'writePorts', 'readBytesPerCycle', 'writeBytesPerCycle'] as const;
const DRAM_KEYS = [
  'activationCompression',
  'bandwidth',
  'bandwidthBytesPerS',
  'bytesPerCycle',
  'latency',
  'latencyS',
  'latencyCycles',
  'mode',
  'energyPerBit',
  'energyPerBitPj',
  'baseAddress',
] as const;

function readBuffer(v: unknown, path: string, problems: Problem[]): BufferSpec | undefined {
  if (!isPlainObject(v)) {
    problems.push({ path, message: `expected an object, got ${describe(v)}` });
    return undefined;
  }
  const before = problems.length;
  checkKeys(v, path, BUFFER_KEYS, problems);
  const capacityBytes = readQuantityField(v, path, problems, { unitKey: 'capacity', numberKey: 'capacityBytes', kind: 'size', integer: true, range: RANGES.bufferCapacityBytes, what: 'a buffer capacity' });
  const banks = readInt(v, 'banks', path, problems, { min: 1, max: 4096, default: DEFAULTS.bufferBanks });
  const wordBits = readInt(v, 'wordBits', path, problems, { min: 8, max: 4096, default: DEFAULTS.bufferWordBits });
  if (wordBits !== undefined && wordBits % 8 !== 0) problems.push({ path: joinPath(path, 'wordBits'), message: `${wordBits} is not a whole number of bytes (a multiple of 8)` });
  const readPorts = readInt(v, 'readPorts', path, problems, { min: 1, max: 64, default: DEFAULTS.bufferPorts });
  const writePorts = readInt(v, 'writePorts', path, problems, { min: 1, max: 64, default: DEFAULTS.bufferPorts });
  if (problems.length > before) return undefined;
  const word = wordBits! / 8;
  return {
    capacityBytes: capacityBytes!,
    banks: banks!,
    wordBits: wordBits!,
    readPorts: readPorts!,
    writePorts: writePorts!,
    readBytesPerCycle: banks! * readPorts! * word,
    writeBytesPerCycle: banks! * writePorts! * word,
  };
}

/** One of several alternative forms of a quantity; all given must agree. */
interface Alt {
  key: string;
  value: number;
}

function checkLevelFields(l: Level, clockHz: number | undefined, problems: Problem[]): void {
  if (l.cls === 'dram') readDram(fieldsOf(l.obj, DRAM_FIELDS), l.path, clockHz, problems);
  else if (l.cls === 'regfile' && l.per === 'pe') {
    readQuantityField(l.obj, l.path, problems, { unitKey: 'capacity', numberKey: 'capacityBytes', kind: 'size', integer: true, sign: 'nonNegative', default: 0, range: RANGES.registerBytes, what: 'a PE register file' });
  } else readBuffer(fieldsOf(l.obj, BUFFER_FIELDS), l.path, problems);
}

/** memories.innerLevels: each a buffer plus its name, class, instances and data spaces. */
function readInnerLevels(mem: Obj, problems: Problem[]): InnerLevelSpec[] | undefined {
  const v = mem.innerLevels;
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push({ path: 'memories.innerLevels', message: `expected a list of levels, got ${describe(v)}` });
    return undefined;
  }
  const out: InnerLevelSpec[] = [];
  v.forEach((l: unknown, i) => {
    const path = joinPath('memories.innerLevels', i);
    if (!isPlainObject(l)) {
      problems.push({ path, message: `expected a level object, got ${describe(l)}` });
      return;
    }
    const { name, class: cls, per, keeps, ...rest } = l;
    const before = problems.length;
    if (typeof name !== 'string' || name === '') problems.push({ path: joinPath(path, 'name'), message: `needs a name, got ${describe(name)}` });
    if (cls !== 'sram' && cls !== 'regfile') problems.push({ path: joinPath(path, 'class'), message: `expected sram or regfile, got ${describe(cls)}` });
    if (!LEVEL_PERS.includes(per as LevelPer)) problems.push({ path: joinPath(path, 'per'), message: `expected one of ${LEVEL_PERS.join(', ')}, got ${describe(per)}` });
    const ks = readKeeps(keeps, path, problems);
    const buffer = readBuffer(rest, path, problems);
    if (buffer && problems.length === before) out.push({ name: name as string, class: cls as 'sram' | 'regfile', per: per as LevelPer, keeps: DATA_SPACE_NAMES.filter((d) => ks.includes(d)), ...buffer });
  });
  return out;
}

function readDram(v: Obj, path: string, clockHz: number | undefined, problems: Problem[]): DramSpec | undefined {
  const before = problems.length;
  checkKeys(v, path, DRAM_KEYS, problems);

  // bandwidth: `bandwidth` (units), `bandwidthBytesPerS`, or `bytesPerCycle` (needs the clock)
  const bw: Alt[] = [];
  if (v.bandwidth !== undefined) {
    const r = parseQuantity(v.bandwidth, 'rate');
    if (r.ok) bw.push({ key: 'bandwidth', value: r.value });
    else problems.push({ path: joinPath(path, 'bandwidth'), message: r.message });
  }
  for (const key of ['bandwidthBytesPerS', 'bytesPerCycle'] as const) {
    const x = v[key];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) problems.push({ path: joinPath(path, key), message: `expected a number, got ${describe(x)}` });
    else if (key === 'bytesPerCycle') {
      if (clockHz !== undefined) bw.push({ key, value: x * clockHz });
    } else bw.push({ key, value: x });
  }
  if (bw.length === 0 && v.bandwidth === undefined && v.bandwidthBytesPerS === undefined && v.bytesPerCycle === undefined) {
    const r = parseQuantity(DEFAULTS.dramBandwidth, 'rate');
    if (r.ok) bw.push({ key: 'bandwidth', value: r.value });
  }
  for (const a of bw.slice(1)) {
    if (!agree(a.value, bw[0].value)) {
      problems.push({ path: joinPath(path, a.key), message: `${describe(v[a.key])} disagrees with ${bw[0].key} ${describe(v[bw[0].key])} (${a.value} vs ${bw[0].value} bytes/s)` });
    }
  }
  const bandwidthBytesPerS = bw[0]?.value;
  if (bandwidthBytesPerS !== undefined && !(bandwidthBytesPerS > 0)) {
    problems.push({ path: joinPath(path, bw[0].key), message: `${describe(v[bw[0].key] ?? bandwidthBytesPerS)} must be positive` });
  } else if (bandwidthBytesPerS !== undefined) {
    const k = bw[0].key;
    const shown = k === 'bytesPerCycle' ? `${describe(v[k])} bytes/cycle at ${clockHz} Hz` : describe(v[k] ?? bandwidthBytesPerS);
    checkRangeWithUnit(bandwidthBytesPerS, RANGES.dramBandwidthBytesPerS, joinPath(path, k), shown, problems, 'a DRAM bandwidth');
  }

  // latency: `latency` (units), `latencyS`, or `latencyCycles` (integer, needs the clock)
  const lat: Alt[] = [];
  if (v.latency !== undefined) {
    const r = parseQuantity(v.latency, 'time');
    if (r.ok) lat.push({ key: 'latency', value: r.value });
    else problems.push({ path: joinPath(path, 'latency'), message: r.message });
  }
  if (v.latencyS !== undefined) {
    if (typeof v.latencyS !== 'number' || !Number.isFinite(v.latencyS)) problems.push({ path: joinPath(path, 'latencyS'), message: `expected a number, got ${describe(v.latencyS)}` });
    else lat.push({ key: 'latencyS', value: v.latencyS });
  }
  let latencyCyclesGiven: number | undefined;
  if (v.latencyCycles !== undefined) latencyCyclesGiven = checkInt(v.latencyCycles, joinPath(path, 'latencyCycles'), problems, { min: 0 });
  if (lat.length === 0 && v.latency === undefined && v.latencyS === undefined && v.latencyCycles === undefined) {
    const r = parseQuantity(DEFAULTS.dramLatency, 'time');
    if (r.ok) lat.push({ key: 'latency', value: r.value });
  }
  for (const a of lat.slice(1)) {
    if (!agree(a.value, lat[0].value)) problems.push({ path: joinPath(path, a.key), message: `${describe(v[a.key])} disagrees with ${lat[0].key} ${describe(v[lat[0].key])}` });
  }
  let latencyS = lat[0]?.value;
  if (latencyS !== undefined && !(latencyS >= 0)) problems.push({ path: joinPath(path, lat[0].key), message: `${describe(v[lat[0].key])} must be zero or more` });
  let latencyCycles: number | undefined;
  if (clockHz !== undefined && latencyS === undefined && latencyCyclesGiven !== undefined) {
    // latency given in cycles only: its range is checked in seconds at this clock
    checkRangeWithUnit(latencyCyclesGiven / clockHz, RANGES.dramLatencyS, joinPath(path, 'latencyCycles'), `${latencyCyclesGiven} cycles at ${clockHz} Hz`, problems, 'a DRAM latency');
  } else if (latencyS !== undefined && latencyS >= 0) {
    checkRangeWithUnit(latencyS, RANGES.dramLatencyS, joinPath(path, lat[0].key), describe(v[lat[0].key]), problems, 'a DRAM latency');
  }
  if (clockHz !== undefined) {
    if (latencyS !== undefined) {
      latencyCycles = Math.max(0, Math.ceil(latencyS * clockHz - 1e-9));
      if (latencyCyclesGiven !== undefined && latencyCyclesGiven !== latencyCycles) {
        problems.push({ path: joinPath(path, 'latencyCycles'), message: `${latencyCyclesGiven} disagrees with ${lat[0].key} ${describe(v[lat[0].key])} (= ${latencyCycles} cycles at ${clockHz} Hz)` });
      }
    } else if (latencyCyclesGiven !== undefined) {
      latencyCycles = latencyCyclesGiven;
      latencyS = latencyCyclesGiven / clockHz;
    }
  }

  const mode = readEnum(v, 'mode', path, problems, DRAM_MODES, DEFAULTS.dramMode);
  const compression = readEnum(v, 'activationCompression', path, problems, ACTIVATION_COMPRESSIONS, 'none');
  let energyPerBitPj: number | null | undefined = null;
  if ((v.energyPerBit !== undefined && v.energyPerBit !== null) || (v.energyPerBitPj !== undefined && v.energyPerBitPj !== null)) {
    const o: Obj = { energyPerBit: v.energyPerBit ?? undefined, energyPerBitPj: v.energyPerBitPj ?? undefined };
    energyPerBitPj = readQuantityField(o, path, problems, { unitKey: 'energyPerBit', numberKey: 'energyPerBitPj', kind: 'energy', sign: 'nonNegative', range: RANGES.dramEnergyPerBitPj, what: 'the DRAM energy per bit' });
  }
  const ba = readObject(v, 'baseAddress', path, problems);
  const baseAddress: Partial<Record<TensorClass, number>> = {};
  if (ba) {
    const bp = joinPath(path, 'baseAddress');
    checkKeys(ba, bp, TENSOR_CLASSES, problems);
    for (const t of TENSOR_CLASSES) baseAddress[t] = readInt(ba, t, bp, problems, { min: 0, max: MAX_BASE_ADDRESS, default: DEFAULTS.baseAddress[t] });
  }
  if (problems.length > before || clockHz === undefined) return undefined;
  return {
    bandwidthBytesPerS: bandwidthBytesPerS!,
    bytesPerCycle: clean(bandwidthBytesPerS! / clockHz),
    latencyS: latencyS!,
    latencyCycles: latencyCycles!,
    mode: mode!,
    energyPerBitPj: energyPerBitPj ?? null,
    baseAddress: baseAddress as Record<TensorClass, number>,
    ...(compression && compression !== 'none' && { activationCompression: compression }),
  };
}

function clean(v: number): number {
  return v === 0 ? 0 : Number(v.toPrecision(15));
}

function readFused(v: unknown, path: string, problems: Problem[]): FusedActivation[] | undefined {
  if (v === undefined) return [...DEFAULTS.fused];
  if (v === false) return [];
  if (v === true) return [...FUSED_ACTIVATIONS];
  if (!Array.isArray(v)) {
    problems.push({ path, message: `expected false, true or a list of activations (${FUSED_ACTIVATIONS.join(', ')}), got ${describe(v)}` });
    return undefined;
  }
  const set = new Set<FusedActivation>();
  let ok = true;
  v.forEach((a: unknown, i: number) => {
    const p = joinPath(path, i);
    if (typeof a !== 'string' || !(FUSED_ACTIVATIONS as readonly string[]).includes(a)) {
      const hint = typeof a === 'string' ? didYouMean(a, FUSED_ACTIVATIONS) : undefined;
      problems.push({ path: p, message: `${describe(a)} is not a fusable activation (${FUSED_ACTIVATIONS.join(', ')})${hint ? ` (did you mean "${hint}"?)` : ''}` });
      ok = false;
    } else if (set.has(a as FusedActivation)) {
      problems.push({ path: p, message: `"${a}" is listed twice` });
      ok = false;
    } else set.add(a as FusedActivation);
  });
  return ok ? FUSED_ACTIVATIONS.filter((a) => set.has(a)) : undefined;
}

function readNullableInt(obj: Obj, key: string, path: string, problems: Problem[]): number | null | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  // SCALE-Sim request buffers (entries): bounded like every other capacity
  return checkInt(v, joinPath(path, key), problems, { min: 1, max: 2 ** 24 });
}

/** Resolves and checks the energy table reference; returns the normalized reference. */
function readEnergyTableRef(obj: Obj, baseDir: string, problems: Problem[]): string | undefined {
  const ref = readString(obj, 'energyTable', '', problems, DEFAULTS.energyTable, true);
  if (ref === undefined) return undefined;
  if (ENERGY_TABLE_NAMES.includes(ref)) return ref;
  if (!/\.(json|ya?ml)$/i.test(ref)) {
    const hint = didYouMean(ref, ENERGY_TABLE_NAMES);
    problems.push({
      path: 'energyTable',
      message: `"${ref}" is neither a built-in table (${ENERGY_TABLE_NAMES.join(', ')}) nor a .json/.yaml file${hint ? ` (did you mean "${hint}"?)` : ''}`,
    });
    return undefined;
  }
  const file = isAbsolute(ref) ? ref : resolve(baseDir, ref);
  if (!existsSync(file)) {
    problems.push({ path: 'energyTable', message: `file not found: ${file}` });
    return undefined;
  }
  try {
    loadEnergyTable(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) problems.push({ path: p.path ? `energyTable(${ref}).${p.path}` : `energyTable(${ref})`, message: p.message });
    return undefined;
  }
  return file;
}

/** Paths of derived values: accepted in an input only when they agree with what they derive from. */
const DERIVED: readonly (readonly string[])[] = [
  ['array', 'pes'],
  ['pe', 'weightOperandBits'],
  ['pe', 'activationOperandBits'],
  ['memories', 'layout'],
  ['memories', 'bufferOf'],
  ...(['glb', 'ifmap', 'filter', 'ofmap'] as const).flatMap((b) => [
    ['memories', b, 'readBytesPerCycle'],
    ['memories', b, 'writeBytesPerCycle'],
  ]),
];

function at(v: unknown, path: readonly string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function checkDerived(input: Obj, spec: ArchSpec, problems: Problem[]): void {
  for (const path of DERIVED) {
    const given = at(input, path);
    if (given === undefined) continue;
    const want = at(spec, path);
    const same = typeof given === 'number' && typeof want === 'number' ? agree(given, want) : canonicalJson(given) === canonicalJson(want);
    if (!same) {
      problems.push({ path: path.join('.'), message: `is derived (${canonicalJson(want)}) and ${describe(given)} disagrees; leave it out or correct it` });
    }
  }
}

/**
 * Validates and normalizes an arch spec; `baseDir` resolves a relative energy-table path. Throws ONE
 * ConfigError listing every problem.
 */
export function normalizeArchSpec(raw: unknown, source: string | undefined, baseDir: string): ArchSpec {
  const problems: Problem[] = [];
  const header = readSpecHeader(raw, 'an arch spec', TOP_KEYS, problems, source);
  const { name, description, source: src } = header;
  // a hierarchy is rewritten into memories + pe.registers; problems found there name its levels
  const { input, renames, failed: hierarchyFailed, levels: hierarchyLevels } = expandHierarchy(header.obj, problems);
  const clockHz = readQuantityField(input, '', problems, {
    unitKey: 'clock',
    numberKey: 'clockHz',
    kind: 'frequency',
    range: RANGES.clockHz,
    what: 'a clock',
    default: input.clock === undefined && input.clockHz === undefined ? (parseQuantity(DEFAULTS.clock, 'frequency') as { value: number }).value : undefined,
  });

  // array
  const arr = readObject(input, 'array', '', problems, false);
  let rows: number | undefined;
  let cols: number | undefined;
  let dataflow: Dataflow | undefined;
  if (arr) {
    checkKeys(arr, 'array', ['rows', 'cols', 'dataflow', 'pes'], problems);
    rows = readInt(arr, 'rows', 'array', problems, { min: 1, max: 65536 });
    cols = readInt(arr, 'cols', 'array', problems, { min: 1, max: 65536 });
    if (typeof arr.dataflow === 'string' && /^(rs|row[- _]?stationary)$/i.test(arr.dataflow)) {
      problems.push({ path: 'array.dataflow', message: `${describe(arr.dataflow)}: row-stationary is not simulated; use ws (its nearest, see the eyeriss-like preset), os or is` });
    } else dataflow = readEnum(arr, 'dataflow', 'array', problems, DATAFLOWS, DEFAULTS.dataflow);
  }

  // operands
  const ops = readObject(input, 'operands', '', problems);
  let weightBits: number | undefined;
  let activationBits: number | undefined;
  let opFormat: OperandFormat | undefined = 'int';
  let alsoInt: boolean | undefined = false;
  if (ops) {
    checkKeys(ops, 'operands', ['weightBits', 'activationBits', 'format', 'alsoInt'], problems);
    weightBits = readInt(ops, 'weightBits', 'operands', problems, { min: 2, max: 16, default: DEFAULTS.operandBits });
    activationBits = readInt(ops, 'activationBits', 'operands', problems, { min: 2, max: 16, default: DEFAULTS.operandBits });
    opFormat = readEnum(ops, 'format', 'operands', problems, OPERAND_FORMATS, 'int');
    alsoInt = readBool(ops, 'alsoInt', 'operands', problems, false);
    if (alsoInt && (opFormat === 'int' || opFormat === 'int-group')) problems.push({ path: 'operands.alsoInt', message: `an integer datapath beside a number format; operands.format is ${opFormat}, integer already` });
  }

  // accumulator
  const acc = readObject(input, 'accumulator', '', problems);
  let accBits: number | undefined;
  let overflow: OverflowPolicy | undefined;
  let psumBits: number | undefined;
  let accFormat: AccumulatorFormat | undefined = opFormat === 'int' ? 'int' : 'fp32';
  if (acc) {
    checkKeys(acc, 'accumulator', ['bits', 'overflow', 'psumBits', 'format'], problems);
    accFormat = readEnum(acc, 'format', 'accumulator', problems, ACCUMULATOR_FORMATS, opFormat === 'int' || opFormat === undefined ? 'int' : 'fp32');
    if (opFormat === 'int' && accFormat !== undefined && accFormat !== 'int') {
      problems.push({ path: 'accumulator.format', message: `${accFormat} needs a float, MX or per-group operand format (operands.format is int)` });
    } else if (opFormat !== undefined && opFormat !== 'int' && accFormat === 'int') {
      problems.push({ path: 'accumulator.format', message: `operands.format ${opFormat} accumulates in a float format (fp32, fp16 or bf16), not int` });
    } else if (opFormat !== undefined && (opFormat.startsWith('mx') || opFormat === 'int-group') && accFormat !== undefined && accFormat !== 'fp32') {
      problems.push({ path: 'accumulator.format', message: `operands.format ${opFormat} adds its scaled block sums in FP32 (MX v1.0 §6.2), not ${accFormat}` });
    }
    accBits = readInt(acc, 'bits', 'accumulator', problems, { min: 8, max: 64, default: DEFAULTS.accumulatorBits });
    overflow = readEnum(acc, 'overflow', 'accumulator', problems, OVERFLOW_POLICIES, DEFAULTS.overflow);
    psumBits = readInt(acc, 'psumBits', 'accumulator', problems, { min: 8, max: 64, default: accBits ?? DEFAULTS.accumulatorBits });
    if (psumBits !== undefined && accBits !== undefined && psumBits > accBits) {
      problems.push({ path: 'accumulator.psumBits', message: `${psumBits} is wider than the accumulator it feeds (accumulator.bits = ${accBits})` });
      psumBits = undefined;
    }
  }

  // pe
  const pe = readObject(input, 'pe', '', problems);
  let form: PeForm | undefined;
  let registers: ArchSpec['pe']['registers'] | undefined;
  let shiftMode: boolean | undefined = false;
  let zeroGating: (typeof ZERO_GATINGS)[number] | undefined = 'none';
  let zeroSkipping: (typeof ZERO_SKIPPINGS)[number] | undefined = 'none';
  if (pe) {
    checkKeys(pe, 'pe', ['form', 'registers', 'weightOperandBits', 'activationOperandBits', 'shiftMode', 'zeroGating', 'zeroSkipping'], problems);
    shiftMode = readBool(pe, 'shiftMode', 'pe', problems, false);
    zeroGating = readEnum(pe, 'zeroGating', 'pe', problems, ZERO_GATINGS, 'none');
    zeroSkipping = readEnum(pe, 'zeroSkipping', 'pe', problems, ZERO_SKIPPINGS, 'none');
    if (zeroSkipping === 'activation' && dataflow === 'is') {
      // an IS array streams weights: there is no activation vector to drop
      problems.push({ path: 'pe.zeroSkipping', message: '"activation" drops streamed activation vectors: it needs a ws or os array (array.dataflow is is, which streams weights)' });
    }
    form = readEnum(pe, 'form', 'pe', problems, PE_FORMS, DEFAULTS.peForm);
    const reg = readObject(pe, 'registers', 'pe', problems);
    if (reg) {
      checkKeys(reg, 'pe.registers', ['weight', 'weightBytes', 'input', 'inputBytes', 'psum', 'psumBytes'], problems);
      const bytes = (b: number | undefined) => (b === undefined ? undefined : Math.ceil(b / 8));
      const r = (k: string, def: number | undefined) =>
        readQuantityField(reg, 'pe.registers', problems, { unitKey: k, numberKey: `${k}Bytes`, kind: 'size', integer: true, sign: 'nonNegative', default: def ?? 1, range: RANGES.registerBytes, what: 'a PE register file' });
      const weightBytes = r('weight', bytes(weightBits));
      const inputBytes = r('input', bytes(activationBits));
      const psumBytes = r('psum', bytes(psumBits));
      if (weightBytes !== undefined && inputBytes !== undefined && psumBytes !== undefined) registers = { weightBytes, inputBytes, psumBytes };
    }
  }

  // memories
  const mem = hierarchyFailed ? undefined : readObject(input, 'memories', '', problems, false);
  // the hierarchy's shape failed: its well-formed levels' fields are still checked, all at once
  if (hierarchyFailed) for (const l of hierarchyLevels) checkLevelFields(l, clockHz, problems);
  let memories: ArchSpec['memories'] | undefined;
  if (mem) {
    checkKeys(mem, 'memories', ['layout', 'glb', 'ifmap', 'filter', 'ofmap', 'bufferOf', 'dram', 'onChipBoundaries', 'fusion', 'innerLevels'], problems);
    const hasGlb = mem.glb !== undefined;
    const split = TENSOR_CLASSES.filter((t) => mem[t] !== undefined);
    let layout: 'unified' | 'split' | undefined;
    if (hasGlb && split.length === 0) layout = 'unified';
    else if (!hasGlb && split.length === 3) layout = 'split';
    else if (!hasGlb && split.length === 0) {
      problems.push({ path: 'memories', message: 'needs either "glb" (one unified buffer) or "ifmap", "filter" and "ofmap" (split buffers)' });
    } else if (hasGlb) {
      problems.push({ path: 'memories', message: `"glb" (unified) and ${split.map((s) => `"${s}"`).join(', ')} (split) cannot be mixed` });
    } else {
      const missing = TENSOR_CLASSES.filter((t) => mem[t] === undefined);
      problems.push({ path: 'memories', message: `split buffers need "ifmap", "filter" and "ofmap"; missing ${missing.map((s) => `"${s}"`).join(', ')}` });
    }
    const buffers: Partial<Record<BufferName, BufferSpec>> = {};
    for (const b of ['glb', ...TENSOR_CLASSES] as const) {
      if (mem[b] !== undefined) {
        const spec = readBuffer(mem[b], joinPath('memories', b), problems);
        if (spec) buffers[b] = spec;
        if (spec && rows !== undefined && cols !== undefined && weightBits !== undefined && activationBits !== undefined) {
          checkMinBuffer(mem[b] as Obj, spec, joinPath('memories', b), rows, cols, weightBits, activationBits, problems);
        }
      }
    }
    const dramObj = readObject(mem, 'dram', 'memories', problems);
    const dram = dramObj ? readDram(dramObj, 'memories.dram', clockHz, problems) : undefined;
    const onChip = readEnum(mem, 'onChipBoundaries', 'memories', problems, ON_CHIP_POLICIES, 'none');
    const fusion = readEnum(mem, 'fusion', 'memories', problems, FUSION_MODES, 'none');
    if (fusion === 'bands' && onChip === 'none') {
      problems.push({ path: 'memories.fusion', message: '"bands" says how a boundary kept on chip may be kept: it needs memories.onChipBoundaries (greedy or optimal)' });
    }
    if (onChip && onChip !== 'none' && layout === 'split') {
      // a split layout's ofmap buffer is not the next layer's ifmap buffer: the tensor would have to be copied
      problems.push({ path: 'memories.onChipBoundaries', message: `"${onChip}" keeps a layer's output in the buffer the next layer reads it from: it needs a unified buffer (memories.glb), not split ifmap / filter / ofmap buffers` });
    }
    if (layout && dram) {
      const bufferOf: Record<TensorClass, BufferName> =
        layout === 'unified' ? { ifmap: 'glb', filter: 'glb', ofmap: 'glb' } : { ifmap: 'ifmap', filter: 'filter', ofmap: 'ofmap' };
      const innerLevels = readInnerLevels(mem, problems);
      memories = { layout, ...buffers, bufferOf, dram, ...(onChip && onChip !== 'none' && { onChipBoundaries: onChip }), ...(fusion === 'bands' && { fusion }), ...(innerLevels && innerLevels.length > 0 && { innerLevels }) };
    }
  }

  // dma
  const dmaObj = readObject(input, 'dma', '', problems);
  let dma: ArchSpec['dma'] | undefined;
  if (dmaObj) {
    checkKeys(dmaObj, 'dma', ['engines', 'maxOutstanding', 'burst', 'burstBytes'], problems);
    const engines = readInt(dmaObj, 'engines', 'dma', problems, { min: 1, max: 256, default: DEFAULTS.dmaEngines });
    const maxOutstanding = readInt(dmaObj, 'maxOutstanding', 'dma', problems, { min: 1, max: 65536, default: DEFAULTS.dmaMaxOutstanding });
    const burstBytes = readQuantityField(dmaObj, 'dma', problems, { unitKey: 'burst', numberKey: 'burstBytes', kind: 'size', integer: true, default: DEFAULTS.dmaBurstBytes, range: RANGES.dmaBurstBytes, what: 'a DMA burst' });
    if (engines !== undefined && maxOutstanding !== undefined && burstBytes !== undefined) dma = { engines, maxOutstanding, burstBytes };
  }

  // requant
  const rq = readObject(input, 'requant', '', problems);
  let requant: ArchSpec['requant'] | undefined;
  if (rq) {
    checkKeys(rq, 'requant', ['lanesPerCycle', 'latencyCycles', 'perChannel', 'perChannelClamp', 'multiplierBits', 'fused', 'lutEntries'], problems);
    const lanesPerCycle = readInt(rq, 'lanesPerCycle', 'requant', problems, { min: 1, max: 65536, default: cols ?? 1 });
    const latencyCycles = readInt(rq, 'latencyCycles', 'requant', problems, { min: 0, max: 1024, default: DEFAULTS.requantLatencyCycles });
    const perChannel = readBool(rq, 'perChannel', 'requant', problems, DEFAULTS.requantPerChannel);
    // per-channel clamp bounds ride in the per-channel parameter sets: a unit has them only if it
    // has those sets, and has them by default when it does (schema.ts)
    const perChannelClamp = readBool(rq, 'perChannelClamp', 'requant', problems, perChannel ?? DEFAULTS.requantPerChannel);
    if (perChannelClamp && perChannel === false) {
      problems.push({ path: 'requant.perChannelClamp', message: 'per-channel clamp bounds are stored in per-channel parameter sets: they need requant.perChannel true' });
    }
    const multiplierBits = readInt(rq, 'multiplierBits', 'requant', problems, { min: 2, max: 32, default: DEFAULTS.requantMultiplierBits });
    const fused = readFused(rq.fused, 'requant.fused', problems);
    const lutEntries = readInt(rq, 'lutEntries', 'requant', problems, { min: 2, max: 65536, default: DEFAULTS.lutEntries });
    if (lutEntries !== undefined && (lutEntries & (lutEntries - 1)) !== 0) problems.push({ path: 'requant.lutEntries', message: `${lutEntries} is not a power of two` });
    if (lanesPerCycle !== undefined && latencyCycles !== undefined && perChannel !== undefined && perChannelClamp !== undefined && multiplierBits !== undefined && fused && lutEntries !== undefined) {
      requant = { lanesPerCycle, latencyCycles, perChannel, perChannelClamp, multiplierBits, fused, lutEntries };
    }
  }

  const sfu = readSfu(input, cols, problems);

  const memoryModel = readEnum(input, 'memoryModel', '', problems, MEMORY_MODELS, DEFAULTS.memoryModel);
  if (memoryModel === 'scalesim' && memories && memories.layout !== 'split') {
    problems.push({ path: 'memoryModel', message: 'the scalesim memory model needs split buffers (memories.ifmap, memories.filter, memories.ofmap), as SCALE-Sim has' });
  }
  const energyTable = readEnergyTableRef(input, baseDir, problems);

  const ss = readObject(input, 'scalesim', '', problems);
  let scalesim: ArchSpec['scalesim'] | undefined;
  if (ss) {
    checkKeys(ss, 'scalesim', ['readRequestBuffer', 'writeRequestBuffer'], problems);
    const readRequestBuffer = readNullableInt(ss, 'readRequestBuffer', 'scalesim', problems);
    const writeRequestBuffer = readNullableInt(ss, 'writeRequestBuffer', 'scalesim', problems);
    if (readRequestBuffer !== undefined && writeRequestBuffer !== undefined) scalesim = { readRequestBuffer, writeRequestBuffer };
  }

  if (problems.length > 0) {
    renameProblemPaths(problems, renames);
    throw new ConfigError(problems, source);
  }
  const zp = form === 'zp-subtract' ? 1 : 0;
  const spec: ArchSpec = {
    name: name!,
    description: description!,
    source: src!,
    clockHz: clockHz!,
    array: { rows: rows!, cols: cols!, dataflow: dataflow!, pes: rows! * cols! },
    // formats written only when not integer: every integer spec (and its hash) stays as it was
    operands: { weightBits: weightBits!, activationBits: activationBits!, ...(opFormat !== 'int' && { format: opFormat }), ...(alsoInt && { alsoInt: true }) },
    accumulator: { bits: accBits!, overflow: overflow!, psumBits: psumBits!, ...(accFormat !== 'int' && { format: accFormat }) },
    pe: { form: form!, weightOperandBits: weightBits! + zp, activationOperandBits: activationBits! + zp, registers: registers!, ...(shiftMode && { shiftMode: true as const }), ...(zeroGating && zeroGating !== 'none' && { zeroGating }), ...(zeroSkipping && zeroSkipping !== 'none' && { zeroSkipping }) },
    memories: memories!,
    dma: dma!,
    requant: requant!,
    sfu: sfu ?? null,
    memoryModel: memoryModel!,
    energyTable: energyTable!,
    scalesim: scalesim!,
  };
  checkDerived(input, spec, problems);
  if (problems.length > 0) {
    renameProblemPaths(problems, renames);
    throw new ConfigError(problems, source);
  }
  return deepFreeze(spec);
}

/**
 * Validates an arch spec (input form, or an already normalized one) and returns it normalized
 * and deep-frozen. Throws ONE ConfigError listing every problem with its path. `source` (a file
 * or preset name) is named in the error; when it is a file, relative energy-table paths resolve
 * against its folder (else against the working directory).
 */
export function validateArchSpec(input: unknown, source?: string): ArchSpec {
  let baseDir = process.cwd();
  if (source !== undefined && existsSync(source) && statSync(source).isFile()) baseDir = dirname(resolve(source));
  return normalizeArchSpec(input, source, baseDir);
}
