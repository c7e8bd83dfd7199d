/**
 * Sweep axes of a scenario: the arch fields a scenario may vary (`ARCH_AXES`, each with the check
 * of its values and the sibling keys a new value replaces), their validation, and how a point's
 * axis values are applied to an arch entry. PTQ axes (`ptq.<field>`) are checked by ptq.ts.
 */
import type { Problem } from '../arch/errors.js';
import { ACCUMULATOR_FORMATS, ACTIVATION_COMPRESSIONS, ON_CHIP_POLICIES, DATAFLOWS, DRAM_MODES, OPERAND_FORMATS, FUSED_ACTIVATIONS, GELU_ALGORITHMS, LAYERNORM_ALGORITHMS, MEMORY_MODELS, OVERFLOW_POLICIES, PE_FORMS, SOFTMAX_ALGORITHMS, ZERO_GATINGS, ZERO_SKIPPINGS } from '../arch/spec.js';
import { type QuantityKind, parseQuantity } from '../arch/units.js';
import { describe, didYouMean, isPlainObject } from '../arch/validate.js';
import { PTQ_FIELD_NAMES } from './ptq.js';
import type { ArchEntry, JsonValue } from './scenario.js';

type AxisCheck =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'quantity'; readonly quantity: QuantityKind }
  | { readonly kind: 'bool' }
  | { readonly kind: 'shape' }
  | { readonly kind: 'fused' };

interface ArchAxis {
  readonly check: AxisCheck;
  /** sibling keys that state the same quantity another way: removed so the new value rules */
  readonly replaces: readonly string[];
}

export const ARCH_AXES: Readonly<Record<string, ArchAxis>> = (() => {
  const int = (min: number, max: number): AxisCheck => ({ kind: 'int', min, max });
  const axes: Record<string, ArchAxis> = {
    clock: { check: { kind: 'quantity', quantity: 'frequency' }, replaces: ['clockHz'] },
    'array.rows': { check: int(1, 65536), replaces: ['array.pes'] },
    'array.cols': { check: int(1, 65536), replaces: ['array.pes'] },
    /** "RxC": rows and cols together, so a sweep over shapes is one axis, not a product */
    'array.shape': { check: { kind: 'shape' }, replaces: ['array.pes'] },
    'array.dataflow': { check: { kind: 'enum', values: DATAFLOWS }, replaces: [] },
    'operands.weightBits': { check: int(2, 16), replaces: ['pe.weightOperandBits'] },
    'operands.activationBits': { check: int(2, 16), replaces: ['pe.activationOperandBits'] },
    'operands.format': { check: { kind: 'enum', values: OPERAND_FORMATS }, replaces: [] },
    'operands.alsoInt': { check: { kind: 'bool' }, replaces: [] },
    'accumulator.format': { check: { kind: 'enum', values: ACCUMULATOR_FORMATS }, replaces: [] },
    'accumulator.bits': { check: int(8, 64), replaces: [] },
    'accumulator.overflow': { check: { kind: 'enum', values: OVERFLOW_POLICIES }, replaces: [] },
    'accumulator.psumBits': { check: int(8, 64), replaces: [] },
    'pe.form': { check: { kind: 'enum', values: PE_FORMS }, replaces: ['pe.weightOperandBits', 'pe.activationOperandBits'] },
    'pe.shiftMode': { check: { kind: 'bool' }, replaces: [] },
    'pe.zeroGating': { check: { kind: 'enum', values: ZERO_GATINGS }, replaces: [] },
    'pe.zeroSkipping': { check: { kind: 'enum', values: ZERO_SKIPPINGS }, replaces: [] },
    'memories.dram.bandwidth': { check: { kind: 'quantity', quantity: 'rate' }, replaces: ['memories.dram.bandwidthBytesPerS', 'memories.dram.bytesPerCycle'] },
    'memories.dram.latency': { check: { kind: 'quantity', quantity: 'time' }, replaces: ['memories.dram.latencyS', 'memories.dram.latencyCycles'] },
    'memories.dram.mode': { check: { kind: 'enum', values: DRAM_MODES }, replaces: [] },
    'memories.dram.activationCompression': { check: { kind: 'enum', values: ACTIVATION_COMPRESSIONS }, replaces: [] },
    'memories.onChipBoundaries': { check: { kind: 'enum', values: ON_CHIP_POLICIES }, replaces: [] },
    'requant.fused': { check: { kind: 'fused' }, replaces: [] },
    'requant.perChannel': { check: { kind: 'bool' }, replaces: [] },
    'requant.lutEntries': { check: int(2, 65536), replaces: [] },
    'requant.lanesPerCycle': { check: int(1, 65536), replaces: [] },
    'requant.multiplierBits': { check: int(2, 32), replaces: [] },
    memoryModel: { check: { kind: 'enum', values: MEMORY_MODELS }, replaces: [] },
    /** "none": the variant without a special-function unit (its ops run on a host, counted) */
    sfu: { check: { kind: 'enum', values: ['none'] }, replaces: [] },
    'sfu.softmax': { check: { kind: 'enum', values: SOFTMAX_ALGORITHMS }, replaces: [] },
    'sfu.layerNorm': { check: { kind: 'enum', values: LAYERNORM_ALGORITHMS }, replaces: [] },
    'sfu.gelu': { check: { kind: 'enum', values: GELU_ALGORITHMS }, replaces: [] },
    'sfu.lanes': { check: int(1, 65536), replaces: [] },
    'sfu.expLutEntries': { check: int(2, 65536), replaces: [] },
  };
  for (const b of ['glb', 'ifmap', 'filter', 'ofmap']) {
    const derived = [`memories.${b}.readBytesPerCycle`, `memories.${b}.writeBytesPerCycle`];
    axes[`memories.${b}.capacity`] = { check: { kind: 'quantity', quantity: 'size' }, replaces: [`memories.${b}.capacityBytes`] };
    axes[`memories.${b}.banks`] = { check: int(1, 4096), replaces: derived };
    axes[`memories.${b}.wordBits`] = { check: int(8, 4096), replaces: derived };
  }
  return Object.freeze(axes);
})();

/** every path a sweep axis may name: arch fields, and `ptq.<field>` */
export const AXIS_PATHS: readonly string[] = Object.freeze([...Object.keys(ARCH_AXES), ...PTQ_FIELD_NAMES.map((f) => `ptq.${f}`)]);

export function checkAxisValue(c: AxisCheck, v: unknown, path: string, problems: Problem[]): void {
  switch (c.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < c.min || v > c.max) problems.push({ path, message: `expected an integer ${c.min}…${c.max}, got ${describe(v)}` });
      return;
    case 'enum':
      if (typeof v !== 'string' || !c.values.includes(v)) {
        const hint = typeof v === 'string' ? didYouMean(v, c.values) : undefined;
        problems.push({ path, message: `${describe(v)} is not one of: ${c.values.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
      return;
    case 'quantity': {
      const r = parseQuantity(v, c.quantity);
      if (!r.ok) problems.push({ path, message: r.message });
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') problems.push({ path, message: `expected true or false, got ${describe(v)}` });
      return;
    case 'shape':
      if (parseShape(v) === undefined) problems.push({ path, message: `expected an array shape "ROWSxCOLS" such as "16x16", got ${describe(v)}` });
      return;
    case 'fused':
      if (typeof v === 'boolean') return;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !(FUSED_ACTIVATIONS as readonly string[]).includes(x))) {
        problems.push({ path, message: `expected true, false or a list of: ${FUSED_ACTIVATIONS.join(', ')}; got ${describe(v)}` });
      }
      return;
  }
}

export function parseShape(v: unknown): { rows: number; cols: number } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(v);
  if (!m) return undefined;
  const rows = Number(m[1]);
  const cols = Number(m[2]);
  return rows >= 1 && cols >= 1 && rows <= 65536 && cols <= 65536 ? { rows, cols } : undefined;
}


function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}

function deletePath(obj: Record<string, unknown>, path: string): void {
  const keys = path.split('.');
  let o: unknown = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o)) return;
    o = o[k];
  }
  if (isPlainObject(o)) delete o[keys[keys.length - 1]];
}

/** The arch input of an entry with this point's arch-axis values applied (a fresh copy). */
export function applyArchAxes(entry: ArchEntry, values: readonly (readonly [string, JsonValue])[]): Record<string, unknown> {
  const input = structuredClone(entry.input) as Record<string, unknown>;
  for (const [path, v] of values) {
    const axis = ARCH_AXES[path];
    for (const r of axis.replaces) deletePath(input, r);
    if (path === 'array.shape') {
      const s = parseShape(v)!;
      setPath(input, 'array.rows', s.rows);
      setPath(input, 'array.cols', s.cols);
    } else setPath(input, path, v);
  }
  return input;
}
