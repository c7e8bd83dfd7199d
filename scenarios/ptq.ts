/**
 * PTQ settings as a scenario names them: a preset name and/or field overrides, resolved to one
 * flat, complete record per sweep point. The vocabulary follows issue 4's pipeline flags
 * (`--w-bits --a-bits --per-channel --cle --bias-correction --weight-range --act-range --adaround
 * --pow2`, presets `w8a8-pt` … `w8a8-pt-cle`) so a point can be handed to quant's pipeline as is.
 *
 * Until quant/pipeline.ts exists this file holds the preset table; when it lands, the table should
 * come from there (one source of truth) and this file keep only the scenario-side validation.
 */
import type { Problem } from '../arch/errors.js';
import { checkKeys, describe, didYouMean, isPlainObject, joinPath } from '../arch/validate.js';

export type BiasCorrection = 'none' | 'empirical' | 'analytic';
export type WeightRange = 'minmax' | 'mse';
export type ActRange = 'minmax' | 'mse' | 'percentile' | 'bn';

export interface PtqSettings {
  readonly weightBits: number;
  readonly actBits: number;
  /** per-output-channel weight scales (activations are always per-tensor) */
  readonly perChannel: boolean;
  /** symmetric weights (z_w = 0); false = asymmetric weights, the extra accumulation of DESIGN.md */
  readonly symmetric: boolean;
  /** cross-layer equalization with high-bias absorption */
  readonly cle: boolean;
  readonly biasCorrection: BiasCorrection;
  readonly weightRange: WeightRange;
  readonly actRange: ActRange;
  readonly adaround: boolean;
  /** power-of-two scales */
  readonly pow2: boolean;
}

export const BIAS_CORRECTIONS: readonly BiasCorrection[] = Object.freeze(['none', 'empirical', 'analytic']);
export const WEIGHT_RANGES: readonly WeightRange[] = Object.freeze(['minmax', 'mse']);
export const ACT_RANGES: readonly ActRange[] = Object.freeze(['minmax', 'mse', 'percentile', 'bn']);

const BASE: PtqSettings = {
  weightBits: 8,
  actBits: 8,
  perChannel: false,
  symmetric: true,
  cle: false,
  biasCorrection: 'none',
  weightRange: 'minmax',
  actRange: 'minmax',
  adaround: false,
  pow2: false,
};

/** issue 4's named presets (stand-in table until quant/pipeline.ts provides it) */
export const PTQ_PRESETS: Readonly<Record<string, PtqSettings>> = Object.freeze({
  'w8a8-pt': Object.freeze({ ...BASE }),
  'w8a8-pc': Object.freeze({ ...BASE, perChannel: true }),
  'w4a8-pc': Object.freeze({ ...BASE, weightBits: 4, perChannel: true, weightRange: 'mse' as const }),
  'w4a8-pc-adaround': Object.freeze({ ...BASE, weightBits: 4, perChannel: true, weightRange: 'mse' as const, adaround: true }),
  'w8a8-pt-cle': Object.freeze({ ...BASE, cle: true }),
});
export const PTQ_PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PTQ_PRESETS));

type FieldKind = { kind: 'int'; min: number; max: number } | { kind: 'bool' } | { kind: 'enum'; values: readonly string[] };

/** every settable field and what it takes (also the `ptq.<field>` sweep axes) */
export const PTQ_FIELDS: Readonly<Record<keyof PtqSettings, FieldKind>> = Object.freeze({
  weightBits: { kind: 'int', min: 2, max: 16 },
  actBits: { kind: 'int', min: 2, max: 16 },
  perChannel: { kind: 'bool' },
  symmetric: { kind: 'bool' },
  cle: { kind: 'bool' },
  biasCorrection: { kind: 'enum', values: BIAS_CORRECTIONS },
  weightRange: { kind: 'enum', values: WEIGHT_RANGES },
  actRange: { kind: 'enum', values: ACT_RANGES },
  adaround: { kind: 'bool' },
  pow2: { kind: 'bool' },
});
export const PTQ_FIELD_NAMES: readonly (keyof PtqSettings)[] = Object.freeze(Object.keys(PTQ_FIELDS) as (keyof PtqSettings)[]);

/** Checks one value of a PTQ field; pushes a problem at `path` and returns false when it is wrong. */
export function checkPtqValue(field: keyof PtqSettings, v: unknown, path: string, problems: Problem[]): boolean {
  const f = PTQ_FIELDS[field];
  if (f.kind === 'int') {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < f.min || v > f.max) {
      problems.push({ path, message: `expected an integer ${f.min}…${f.max}, got ${describe(v)}` });
      return false;
    }
  } else if (f.kind === 'bool') {
    if (typeof v !== 'boolean') {
      problems.push({ path, message: `expected true or false, got ${describe(v)}` });
      return false;
    }
  } else if (typeof v !== 'string' || !f.values.includes(v)) {
    const hint = typeof v === 'string' ? didYouMean(v, f.values) : undefined;
    problems.push({ path, message: `${describe(v)} is not one of: ${f.values.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}` });
    return false;
  }
  return true;
}

/** One entry of a scenario's `ptq:` list, validated: a label and the overrides it applies. */
export interface PtqEntry {
  readonly label: string;
  readonly preset: string | null;
  readonly overrides: Readonly<Partial<PtqSettings>>;
}

/**
 * Reads a `ptq:` entry: a preset name (`w8a8-pc`) or an object `{preset?, label?, <field>: value…}`.
 * Problems are pushed with their paths; returns undefined when the entry is unusable.
 */
export function readPtqEntry(v: unknown, path: string, problems: Problem[]): PtqEntry | undefined {
  const before = problems.length;
  const checkPreset = (name: unknown, p: string): string | undefined => {
    if (typeof name === 'string' && Object.hasOwn(PTQ_PRESETS, name)) return name;
    const hint = typeof name === 'string' ? didYouMean(name, PTQ_PRESET_NAMES) : undefined;
    problems.push({ path: p, message: `unknown PTQ preset ${describe(name)}${hint ? ` (did you mean "${hint}"?)` : ''}; presets: ${PTQ_PRESET_NAMES.join(', ')}` });
    return undefined;
  };
  if (typeof v === 'string') {
    const preset = checkPreset(v, path);
    return preset === undefined ? undefined : { label: preset, preset, overrides: {} };
  }
  if (!isPlainObject(v)) {
    problems.push({ path, message: `expected a PTQ preset name or an object, got ${describe(v)}` });
    return undefined;
  }
  checkKeys(v, path, ['preset', 'label', ...PTQ_FIELD_NAMES], problems);
  let preset: string | null = null;
  if (v.preset !== undefined) preset = checkPreset(v.preset, joinPath(path, 'preset')) ?? null;
  const overrides: Partial<Record<keyof PtqSettings, unknown>> = {};
  for (const field of PTQ_FIELD_NAMES) {
    if (v[field] === undefined) continue;
    if (checkPtqValue(field, v[field], joinPath(path, field), problems)) overrides[field] = v[field];
  }
  if (v.label !== undefined && (typeof v.label !== 'string' || v.label.trim() === '')) {
    problems.push({ path: joinPath(path, 'label'), message: `expected a non-empty string, got ${describe(v.label)}` });
  }
  if (problems.length > before) return undefined;
  const label =
    typeof v.label === 'string'
      ? v.label
      : [preset ?? 'default', ...Object.entries(overrides).map(([k, x]) => `${k}=${String(x)}`)].join(' ');
  return { label, preset, overrides: overrides as Partial<PtqSettings> };
}

/** The complete settings of an entry with sweep-axis values applied last. */
export function resolvePtq(entry: PtqEntry, axisValues: Readonly<Partial<Record<keyof PtqSettings, unknown>>>): PtqSettings {
  const base = entry.preset !== null ? PTQ_PRESETS[entry.preset] : BASE;
  return { ...base, ...entry.overrides, ...(axisValues as Partial<PtqSettings>) };
}
