/**
 * The ArchSpec noun (DESIGN.md): the accelerator a run simulates — PE array and dataflow, operand
 * and accumulator widths, overflow policy, PE register files, on-chip buffers, DRAM, DMA, the
 * requant/activation unit, the memory model and the energy table it is costed with.
 *
 * Two forms:
 * - INPUT (`ArchSpecInput`, what a user writes in JSON/YAML or a preset): quantities with units
 *   (`capacity: "256 KiB"`, `bandwidth: "12.8 GB/s"`, `clock: "800 MHz"`) or, equivalently, plain
 *   numbers under the unit-named key (`capacityBytes: 262144`, `bytesPerCycle: 16`, `clockHz: 8e8`);
 *   most fields have defaults.
 * - NORMALIZED (`ArchSpec`, what `validateArchSpec` returns): every default filled, every quantity a
 *   number in base units under a unit-named key, plus derived per-cycle values (DRAM bytes per
 *   cycle, latency in cycles, buffer bytes per cycle, PE operand widths). Deep-frozen, JSON-
 *   serializable, and itself a valid input: validating it again returns an equal spec (derived
 *   keys are accepted in an input when they agree with what they derive from).
 *
 * `validateArchSpec` collects EVERY problem (bad units, unknown keys with "did you mean", out-of-
 * range numbers, bad enums, inconsistent alternatives) with its path and throws ONE ConfigError.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULT_ENERGY_TABLE, ENERGY_TABLE_NAMES, loadEnergyTable, readDataFile } from './energy.js';
import { ConfigError, type Problem } from './errors.js';
import { PRESETS } from './presets.js';
import { parseScaleSimCfg } from './scalesim-cfg.js';
import { parseQuantity } from './units.js';
import {
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
  type Range,
  checkRange,
  sha256,
} from './validate.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

export type Dataflow = 'ws' | 'os' | 'is';
export const DATAFLOWS: readonly Dataflow[] = Object.freeze(['ws', 'os', 'is']);

/** `ideal` = unbounded accumulator that still counts what would have overflowed */
export type OverflowPolicy = 'wrap' | 'saturate' | 'ideal';
export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = Object.freeze(['wrap', 'saturate', 'ideal']);

/**
 * Zero-point handling at the PE (DESIGN.md "Integer arithmetic contract"):
 * `raw` — raw q_w·q_x products, static zero-point terms folded into the bias (ORT-style);
 * `zp-subtract` — (q_w − z_w)(q_x − z_x) with zero points subtracted at the PE inputs
 * (TFLite-style): operands one bit wider.
 */
export type PeForm = 'raw' | 'zp-subtract';
export const PE_FORMS: readonly PeForm[] = Object.freeze(['raw', 'zp-subtract']);

/** `native` — qloom's memory model; `scalesim` — reproduce SCALE-Sim v2's (needs split buffers) */
export type MemoryModel = 'native' | 'scalesim';
export const MEMORY_MODELS: readonly MemoryModel[] = Object.freeze(['native', 'scalesim']);

/**
 * DRAM bandwidth mode, SCALE-Sim's `InterfaceBandwidth`: `user` — transfers are limited by the
 * given bandwidth (stalls); `calc` — no DRAM stalls, the run reports the bandwidth it needed.
 */
export type DramMode = 'user' | 'calc';
export const DRAM_MODES: readonly DramMode[] = Object.freeze(['user', 'calc']);

export type ClampActivation = 'relu' | 'relu6' | 'clip';
/** activations the requant unit computes through a lookup table (qnet/network.ts LutFunction) */
export type LutActivation = 'sigmoid' | 'hardsigmoid' | 'hardswish' | 'swish' | 'tanh' | 'gelu' | 'gelu_tanh';
export type FusedActivation = ClampActivation | LutActivation;
export const CLAMP_ACTIVATIONS: readonly ClampActivation[] = Object.freeze(['relu', 'relu6', 'clip']);
export const LUT_ACTIVATIONS: readonly LutActivation[] = Object.freeze(['sigmoid', 'hardsigmoid', 'hardswish', 'swish', 'tanh', 'gelu', 'gelu_tanh']);
/** canonical order of `requant.fused` in a normalized spec */
export const FUSED_ACTIVATIONS: readonly FusedActivation[] = Object.freeze([...CLAMP_ACTIVATIONS, ...LUT_ACTIVATIONS]);

export type TensorClass = 'ifmap' | 'filter' | 'ofmap';
export type BufferName = 'glb' | TensorClass;
export const TENSOR_CLASSES: readonly TensorClass[] = Object.freeze(['ifmap', 'filter', 'ofmap']);

// ---------------------------------------------------------------------------------------------
// Normalized form

export interface BufferSpec {
  readonly capacityBytes: number;
  readonly banks: number;
  /** width of one bank's word */
  readonly wordBits: number;
  /** ports per bank */
  readonly readPorts: number;
  readonly writePorts: number;
  /** derived: banks · readPorts · wordBits / 8 */
  readonly readBytesPerCycle: number;
  /** derived: banks · writePorts · wordBits / 8 */
  readonly writeBytesPerCycle: number;
}

export interface DramSpec {
  readonly bandwidthBytesPerS: number;
  /** derived: bandwidthBytesPerS / clockHz (may be fractional) */
  readonly bytesPerCycle: number;
  readonly latencyS: number;
  /** derived: ⌈latencyS · clockHz⌉ */
  readonly latencyCycles: number;
  readonly mode: DramMode;
  /** overrides the energy table's DRAM entries when not null (energy.ts energyTableForSpec) */
  readonly energyPerBitPj: number | null;
  /** DRAM base address of each tensor class in traces (SCALE-Sim's …Offset, in words = bytes) */
  readonly baseAddress: Readonly<Record<TensorClass, number>>;
}

export interface ArchSpec {
  readonly name: string;
  readonly description: string;
  /** where the numbers come from (citation), documentation only */
  readonly source: string;
  readonly clockHz: number;
  readonly array: {
    readonly rows: number;
    readonly cols: number;
    readonly dataflow: Dataflow;
    /** derived: rows · cols */
    readonly pes: number;
  };
  /**
   * Operand widths of the PE datapath. A network quantized narrower runs on it (costed at these
   * widths); wider does not fit.
   */
  readonly operands: { readonly weightBits: number; readonly activationBits: number };
  readonly accumulator: {
    /** 8…64 */
    readonly bits: number;
    readonly overflow: OverflowPolicy;
    /** width of partial sums inside the array (between PEs); ≤ bits */
    readonly psumBits: number;
  };
  readonly pe: {
    readonly form: PeForm;
    /** derived: operand widths at the multiplier (raw: as stored; zp-subtract: one bit wider) */
    readonly weightOperandBits: number;
    readonly activationOperandBits: number;
    /** register file sizes per PE */
    readonly registers: { readonly weightBytes: number; readonly inputBytes: number; readonly psumBytes: number };
  };
  readonly memories: {
    /** derived: `unified` (one `glb`) or `split` (`ifmap`, `filter`, `ofmap`) */
    readonly layout: 'unified' | 'split';
    readonly glb?: BufferSpec;
    readonly ifmap?: BufferSpec;
    readonly filter?: BufferSpec;
    readonly ofmap?: BufferSpec;
    /** derived: which buffer holds each tensor class */
    readonly bufferOf: Readonly<Record<TensorClass, BufferName>>;
    readonly dram: DramSpec;
  };
  readonly dma: {
    readonly engines: number;
    /** outstanding requests per engine */
    readonly maxOutstanding: number;
    readonly burstBytes: number;
  };
  /** the requant/activation unit at the array's output */
  readonly requant: {
    readonly lanesPerCycle: number;
    readonly latencyCycles: number;
    /** per-output-channel (M0, shift); false = per-tensor only */
    readonly perChannel: boolean;
    /** width of the fixed-point multiplier M0 */
    readonly multiplierBits: number;
    /**
     * activations applied in the unit, canonical order; [] = no fused unit (int32 results are
     * written out and read back for activations, DESIGN.md)
     */
    readonly fused: readonly FusedActivation[];
    /** entries of the activation lookup table (power of two) */
    readonly lutEntries: number;
  };
  readonly memoryModel: MemoryModel;
  /** built-in table name, or an absolute path to a table file */
  readonly energyTable: string;
  /** SCALE-Sim-only knobs read from a .cfg (null = SCALE-Sim's default) */
  readonly scalesim: { readonly readRequestBuffer: number | null; readonly writeRequestBuffer: number | null };
}

// ---------------------------------------------------------------------------------------------
// Input form (for authoring presets in TypeScript; files are checked at run time)

type Q = string | number;
export interface BufferInput {
  capacity?: Q;
  capacityBytes?: number;
  banks?: number;
  wordBits?: number;
  readPorts?: number;
  writePorts?: number;
  readBytesPerCycle?: number;
  writeBytesPerCycle?: number;
}
export interface DramInput {
  bandwidth?: Q;
  bandwidthBytesPerS?: number;
  bytesPerCycle?: number;
  latency?: Q;
  latencyS?: number;
  latencyCycles?: number;
  mode?: DramMode;
  energyPerBit?: Q | null;
  energyPerBitPj?: number | null;
  baseAddress?: Partial<Record<TensorClass, number>>;
}
export interface ArchSpecInput {
  name: string;
  description?: string;
  source?: string;
  clock?: Q;
  clockHz?: number;
  array: { rows: number; cols: number; dataflow?: Dataflow; pes?: number };
  operands?: { weightBits?: number; activationBits?: number };
  accumulator?: { bits?: number; overflow?: OverflowPolicy; psumBits?: number };
  pe?: {
    form?: PeForm;
    weightOperandBits?: number;
    activationOperandBits?: number;
    registers?: { weight?: Q; weightBytes?: number; input?: Q; inputBytes?: number; psum?: Q; psumBytes?: number };
  };
  memories: {
    layout?: 'unified' | 'split';
    glb?: BufferInput;
    ifmap?: BufferInput;
    filter?: BufferInput;
    ofmap?: BufferInput;
    bufferOf?: Partial<Record<TensorClass, BufferName>>;
    dram?: DramInput;
  };
  dma?: { engines?: number; maxOutstanding?: number; burst?: Q; burstBytes?: number };
  requant?: {
    lanesPerCycle?: number;
    latencyCycles?: number;
    perChannel?: boolean;
    multiplierBits?: number;
    fused?: boolean | readonly FusedActivation[];
    lutEntries?: number;
  };
  memoryModel?: MemoryModel;
  energyTable?: string;
  scalesim?: { readRequestBuffer?: number | null; writeRequestBuffer?: number | null };
}

// ---------------------------------------------------------------------------------------------
// Defaults (documented in arch/README.md)

export const DEFAULTS = Object.freeze({
  clock: '1 GHz',
  dataflow: 'ws' as Dataflow,
  operandBits: 8,
  accumulatorBits: 32,
  overflow: 'wrap' as OverflowPolicy,
  peForm: 'raw' as PeForm,
  bufferBanks: 1,
  bufferWordBits: 64,
  bufferPorts: 1,
  dramBandwidth: '16 GB/s',
  dramLatency: '100 ns',
  dramMode: 'user' as DramMode,
  baseAddress: Object.freeze({ ifmap: 0, filter: 10_000_000, ofmap: 20_000_000 }),
  dmaEngines: 2,
  dmaMaxOutstanding: 8,
  dmaBurstBytes: 64,
  requantLatencyCycles: 3,
  requantPerChannel: true,
  requantMultiplierBits: 32,
  fused: Object.freeze(['relu', 'relu6', 'clip'] as FusedActivation[]),
  lutEntries: 256,
  memoryModel: 'native' as MemoryModel,
  energyTable: DEFAULT_ENERGY_TABLE,
});

// ---------------------------------------------------------------------------------------------
// Physically meaningful ranges (arch/README.md "Ranges"). A value outside is a ConfigError that
// names the range. Besides refusing typos (`1e-300 B/s`, `1e308 Hz`), they keep every derived
// per-cycle value finite, so a run's counts stay finite (the engine checks them).

const KiB = 1024;
export const RANGES = Object.freeze({
  clockHz: { min: 1e3, max: 1e11, text: '1 kHz … 100 GHz', unit: 'Hz' },
  dramBandwidthBytesPerS: { min: 1e3, max: 1e15, text: '1 kB/s … 1 PB/s (1e3 … 1e15 bytes/s)', unit: 'bytes/s' },
  dramLatencyS: { min: 0, max: 1e-3, text: '0 … 1 ms', unit: 's' },
  /** a buffer must also hold minBufferBytes (it depends on the array and operand widths) */
  bufferCapacityBytes: { min: 1, max: 2 ** 40, text: 'at most 1 TiB', unit: 'bytes' },
  registerBytes: { min: 0, max: KiB * KiB, text: '0 … 1 MiB per PE', unit: 'bytes' },
  dmaBurstBytes: { min: 1, max: KiB * KiB, text: '1 B … 1 MiB', unit: 'bytes' },
  dramEnergyPerBitPj: { min: 0, max: 1e6, text: '0 … 1e6 pJ (1 µJ) per bit', unit: 'pJ' },
} satisfies Record<string, Range & { unit: string }>);
/** trace addresses are 32-bit (SCALE-Sim traces): base addresses leave 2^30 words for the operands */
export const MAX_BASE_ADDRESS = 2 ** 30;

/**
 * The smallest buffer a spec may have (bytes): one word in every bank, and one operand for every
 * PE along the array's wider edge — what the array reads from a buffer in one cycle at most.
 */
export function minBufferBytes(b: Pick<BufferSpec, 'banks' | 'wordBits'>, rows: number, cols: number, weightBits: number, activationBits: number): number {
  return Math.max(b.banks * (b.wordBits / 8), Math.max(rows, cols) * Math.ceil(Math.max(weightBits, activationBits) / 8));
}

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
  'memoryModel',
  'energyTable',
  'scalesim',
] as const;
const BUFFER_KEYS = ['capacity', 'capacityBytes', 'banks', 'wordBits', 'readPorts', 'writePorts', 'readBytesPerCycle', 'writeBytesPerCycle'] as const;
const DRAM_KEYS = [
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
  };
}

function clean(v: number): number {
  return v === 0 ? 0 : Number(v.toPrecision(15));
}

/** checkRange with the range's base unit named after the converted value */
function checkRangeWithUnit(value: number, r: Range & { unit: string }, path: string, shown: string, problems: Problem[], what: string): boolean {
  return checkRange(value, r, path, shown, problems, what, r.unit);
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

function validate(input: unknown, source: string | undefined, baseDir: string): ArchSpec {
  const problems: Problem[] = [];
  if (!isPlainObject(input)) throw new ConfigError([{ path: '', message: `an arch spec must be an object, got ${describe(input)}` }], source);
  checkKeys(input, '', TOP_KEYS, problems);

  const name = readString(input, 'name', '', problems, undefined, true);
  const description = readString(input, 'description', '', problems, '');
  const src = readString(input, 'source', '', problems, '');
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
  if (ops) {
    checkKeys(ops, 'operands', ['weightBits', 'activationBits'], problems);
    weightBits = readInt(ops, 'weightBits', 'operands', problems, { min: 2, max: 16, default: DEFAULTS.operandBits });
    activationBits = readInt(ops, 'activationBits', 'operands', problems, { min: 2, max: 16, default: DEFAULTS.operandBits });
  }

  // accumulator
  const acc = readObject(input, 'accumulator', '', problems);
  let accBits: number | undefined;
  let overflow: OverflowPolicy | undefined;
  let psumBits: number | undefined;
  if (acc) {
    checkKeys(acc, 'accumulator', ['bits', 'overflow', 'psumBits'], problems);
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
  if (pe) {
    checkKeys(pe, 'pe', ['form', 'registers', 'weightOperandBits', 'activationOperandBits'], problems);
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
  const mem = readObject(input, 'memories', '', problems, false);
  let memories: ArchSpec['memories'] | undefined;
  if (mem) {
    checkKeys(mem, 'memories', ['layout', 'glb', 'ifmap', 'filter', 'ofmap', 'bufferOf', 'dram'], problems);
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
          const least = minBufferBytes(spec, rows, cols, weightBits, activationBits);
          if (spec.capacityBytes < least) {
            const key = (mem[b] as Obj).capacity !== undefined ? 'capacity' : 'capacityBytes';
            const opBytes = Math.ceil(Math.max(weightBits, activationBits) / 8);
            problems.push({
              path: joinPath(joinPath('memories', b), key),
              message:
                `${describe((mem[b] as Obj)[key])}${key === 'capacity' ? ` (= ${spec.capacityBytes} byte${spec.capacityBytes === 1 ? '' : 's'})` : ''} is too small: a buffer holds at least ${least} bytes here — ` +
                `one ${spec.wordBits / 8}-byte word in each of its ${spec.banks} bank(s) and one ${opBytes}-byte operand for each of the ${Math.max(rows, cols)} PEs along the array's wider edge`,
            });
          }
        }
      }
    }
    const dramObj = readObject(mem, 'dram', 'memories', problems);
    const dram = dramObj ? readDram(dramObj, 'memories.dram', clockHz, problems) : undefined;
    if (layout && dram) {
      const bufferOf: Record<TensorClass, BufferName> =
        layout === 'unified' ? { ifmap: 'glb', filter: 'glb', ofmap: 'glb' } : { ifmap: 'ifmap', filter: 'filter', ofmap: 'ofmap' };
      memories = { layout, ...buffers, bufferOf, dram };
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
    checkKeys(rq, 'requant', ['lanesPerCycle', 'latencyCycles', 'perChannel', 'multiplierBits', 'fused', 'lutEntries'], problems);
    const lanesPerCycle = readInt(rq, 'lanesPerCycle', 'requant', problems, { min: 1, max: 65536, default: cols ?? 1 });
    const latencyCycles = readInt(rq, 'latencyCycles', 'requant', problems, { min: 0, max: 1024, default: DEFAULTS.requantLatencyCycles });
    const perChannel = readBool(rq, 'perChannel', 'requant', problems, DEFAULTS.requantPerChannel);
    const multiplierBits = readInt(rq, 'multiplierBits', 'requant', problems, { min: 2, max: 32, default: DEFAULTS.requantMultiplierBits });
    const fused = readFused(rq.fused, 'requant.fused', problems);
    const lutEntries = readInt(rq, 'lutEntries', 'requant', problems, { min: 2, max: 65536, default: DEFAULTS.lutEntries });
    if (lutEntries !== undefined && (lutEntries & (lutEntries - 1)) !== 0) problems.push({ path: 'requant.lutEntries', message: `${lutEntries} is not a power of two` });
    if (lanesPerCycle !== undefined && latencyCycles !== undefined && perChannel !== undefined && multiplierBits !== undefined && fused && lutEntries !== undefined) {
      requant = { lanesPerCycle, latencyCycles, perChannel, multiplierBits, fused, lutEntries };
    }
  }

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

  if (problems.length > 0) throw new ConfigError(problems, source);
  const zp = form === 'zp-subtract' ? 1 : 0;
  const spec: ArchSpec = {
    name: name!,
    description: description!,
    source: src!,
    clockHz: clockHz!,
    array: { rows: rows!, cols: cols!, dataflow: dataflow!, pes: rows! * cols! },
    operands: { weightBits: weightBits!, activationBits: activationBits! },
    accumulator: { bits: accBits!, overflow: overflow!, psumBits: psumBits! },
    pe: { form: form!, weightOperandBits: weightBits! + zp, activationOperandBits: activationBits! + zp, registers: registers! },
    memories: memories!,
    dma: dma!,
    requant: requant!,
    memoryModel: memoryModel!,
    energyTable: energyTable!,
    scalesim: scalesim!,
  };
  checkDerived(input, spec, problems);
  if (problems.length > 0) throw new ConfigError(problems, source);
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
  return validate(input, source, baseDir);
}

// ---------------------------------------------------------------------------------------------
// Presets and files

const presetCache = new Map<string, ArchSpec>();

export const PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PRESETS));

/** A built-in preset, validated (once) and frozen. */
export function presetSpec(name: string): ArchSpec {
  let spec = presetCache.get(name);
  if (!spec) {
    const input = PRESETS[name];
    if (!input) {
      const hint = didYouMean(name, PRESET_NAMES);
      throw new ConfigError(`unknown arch preset "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; presets: ${PRESET_NAMES.join(', ')}`);
    }
    spec = validate(input, `preset ${name}`, process.cwd());
    presetCache.set(name, spec);
  }
  return spec;
}

/**
 * A preset by name (`edge-npu`, …), or a spec file: `.json`, `.yaml`/`.yml` (the input form), or a
 * SCALE-Sim v2 `.cfg` (read by scalesim-cfg.ts). Throws ConfigError naming the file.
 */
export function loadArchSpec(nameOrFile: string): ArchSpec {
  if (Object.hasOwn(PRESETS, nameOrFile)) return presetSpec(nameOrFile);
  if (/\.(json|ya?ml)$/i.test(nameOrFile)) return validateArchSpec(readDataFile(nameOrFile), nameOrFile);
  if (/\.cfg$/i.test(nameOrFile)) {
    let text: string;
    try {
      text = readFileSync(nameOrFile, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, nameOrFile);
    }
    return validateArchSpec(parseScaleSimCfg(text, nameOrFile), nameOrFile);
  }
  return presetSpec(nameOrFile);
}

// ---------------------------------------------------------------------------------------------
// Hash and helpers

/**
 * Keys left out of `archHash`: labels (name, description, source) and the energy table (applied
 * after a run; identify it with energy.ts `energyTableHash`). What remains is everything that can
 * change a run's counts.
 */
export const ARCH_HASH_EXCLUDES: readonly string[] = Object.freeze(['name', 'description', 'source', 'energyTable']);

/** sha256 (hex) of the canonical JSON of the hardware part of a normalized spec; key order-free. */
export function archHash(spec: ArchSpec): string {
  const hw: Obj = {};
  for (const [k, v] of Object.entries(spec)) if (!ARCH_HASH_EXCLUDES.includes(k)) hw[k] = v;
  return sha256(canonicalJson(hw));
}

/** The buffer that holds a tensor class (the `glb` in a unified layout). */
export function bufferFor(spec: ArchSpec, tensor: TensorClass): BufferSpec {
  return spec.memories[spec.memories.bufferOf[tensor]]!;
}

/** The buffers of a spec, by name. */
export function buffersOf(spec: ArchSpec): readonly { readonly name: BufferName; readonly buffer: BufferSpec }[] {
  return (spec.memories.layout === 'unified' ? (['glb'] as const) : TENSOR_CLASSES).map((name) => ({ name, buffer: spec.memories[name]! }));
}
