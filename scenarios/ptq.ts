/**
 * PTQ settings as a scenario names them: a preset name and/or field overrides, resolved to one
 * flat, complete record per sweep point. The presets and their values come from quant/config.ts
 * (one source of truth); the field vocabulary follows its flags (`--w-bits --a-bits
 * --per-channel --cle --cle-relu6 --bias-correction --weight-range --act-range --adaround --pow2
 * --calib-samples`). `ptqConfigOf` turns a point's settings into the validated PtqConfig the
 * pipeline runs, and scenario validation calls it for every point, so a combination the pipeline
 * refuses (AdaRound with bias correction) fails before any work.
 */
import { ConfigError, type Problem } from '../arch/errors.js';
import { checkKeys, describe, didYouMean, isPlainObject, joinPath } from '../arch/validate.js';
import { QAT_PRESETS } from '../quant/qat/presets.js';
import { CLE_RELU6_MODES, PTQ_PRESETS as QUANT_PRESETS, resolvePtqConfig, type CleRelu6Mode, type LayerOverride, type PtqConfig, type PtqFlags } from '../quant/config.js';

export type BiasCorrection = 'none' | 'empirical' | 'analytic';
export type WeightRange = 'minmax' | 'mse';
export type ActRange = 'minmax' | 'mse' | 'percentile' | 'bn';

export interface PtqSettings {
  /** the quant/config.ts preset the fields override (everything they do not name comes from it) */
  readonly preset: string;
  readonly weightBits: number;
  readonly actBits: number;
  /** per-output-channel weight scales (activations are always per-tensor) */
  readonly perChannel: boolean;
  /** symmetric weights (z_w = 0); false = asymmetric weights, the extra accumulation of DESIGN.md */
  readonly symmetric: boolean;
  /** cross-layer equalization with high-bias absorption */
  readonly cle: boolean;
  /**
   * CLE across a ReLU6: `replace` it by ReLU (AIMET; changes the function), `skip` such pairs, or
   * `clip` each channel at 6/s_i (exact; needs an arch with requant.perChannelClamp)
   */
  readonly cleRelu6: CleRelu6Mode;
  readonly biasCorrection: BiasCorrection;
  readonly weightRange: WeightRange;
  readonly actRange: ActRange;
  readonly adaround: boolean;
  /** power-of-two scales */
  readonly pow2: boolean;
  /** calibration images (a seeded subset of the train split; photos: at most all of them) */
  readonly calibSamples: number;
  /**
   * per-layer bits (mixed precision, as `qloom mixed` assigns them): layer → {wBits, aBits,
   * weightRange}; absent = every layer at the fields above (hashes of other points unchanged).
   * Not a sweep axis.
   */
  readonly layers?: Readonly<Record<string, LayerOverride>>;
  /** split quantization of concatenations (quant config `splitConcat`); absent = off, hashes of other points unchanged. Not a sweep axis. */
  readonly splitConcat?: boolean;
  /** unfolded per-channel post-LayerNorm quantizers (quant config `postLnPerChannel`); absent = off. Not a sweep axis. */
  readonly postLnPerChannel?: boolean;
  /**
   * quantization-aware training with this QAT preset (quant/qat/presets.ts) instead of PTQ: the
   * other fields are the preset's starting point, for the report's axes; absent = PTQ. Not a sweep axis.
   */
  readonly qat?: string;
  /** with `qat`: train on a seeded subset of this many training images (quick looks); absent = all */
  readonly qatTrainSamples?: number;
  /**
   * a diffusion network's sampling and calibration (the `diffusion` runner): DDIM steps and which
   * FP32 trajectory inputs calibrate (scenarios/diffusion.ts: single[:STEP], last, uniform) —
   * `calibSamples` trajectories; absent = not a diffusion point. Not a sweep axis.
   */
  readonly diffusion?: DiffusionSettings;
}

export interface DiffusionSettings {
  readonly steps: number;
  readonly calib: string;
}

/** the settable fields (also the `ptq.<field>` sweep axes) */
export type PtqField = Exclude<keyof PtqSettings, 'preset' | 'layers' | 'splitConcat' | 'postLnPerChannel' | 'qat' | 'qatTrainSamples' | 'diffusion'>;

export const BIAS_CORRECTIONS: readonly BiasCorrection[] = Object.freeze(['none', 'empirical', 'analytic']);
export const WEIGHT_RANGES: readonly WeightRange[] = Object.freeze(['minmax', 'mse']);
export const ACT_RANGES: readonly ActRange[] = Object.freeze(['minmax', 'mse', 'percentile', 'bn']);

/** A quant/config.ts preset in the scenario's flat vocabulary. */
function settingsOfPreset(name: string): PtqSettings {
  return settingsOfConfig(name, QUANT_PRESETS[name]);
}

function settingsOfConfig(name: string, p: Omit<PtqConfig, 'preset'>): PtqSettings {
  return Object.freeze({
    preset: name,
    weightBits: p.weights.bits,
    actBits: p.activations.bits,
    perChannel: p.weights.perChannel,
    symmetric: p.weights.symmetric,
    cle: p.cle,
    cleRelu6: p.cleRelu6,
    biasCorrection: p.biasCorrection,
    weightRange: p.weightRange,
    actRange: p.actRange,
    adaround: p.adaround !== null,
    pow2: p.weights.pow2,
    calibSamples: p.calibSamples,
  });
}

/** quant/config.ts's named presets, flat */
export const PTQ_PRESETS: Readonly<Record<string, PtqSettings>> = Object.freeze(Object.fromEntries(Object.keys(QUANT_PRESETS).map((n) => [n, settingsOfPreset(n)])));
export const PTQ_PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PTQ_PRESETS));
const BASE = PTQ_PRESETS['w8a8-pt'];

type FieldKind = { kind: 'int'; min: number; max: number } | { kind: 'bool' } | { kind: 'enum'; values: readonly string[] };

/** every settable field and what it takes (also the `ptq.<field>` sweep axes) */
export const PTQ_FIELDS: Readonly<Record<PtqField, FieldKind>> = Object.freeze({
  weightBits: { kind: 'int', min: 2, max: 16 },
  actBits: { kind: 'int', min: 2, max: 16 },
  perChannel: { kind: 'bool' },
  symmetric: { kind: 'bool' },
  cle: { kind: 'bool' },
  cleRelu6: { kind: 'enum', values: CLE_RELU6_MODES },
  biasCorrection: { kind: 'enum', values: BIAS_CORRECTIONS },
  weightRange: { kind: 'enum', values: WEIGHT_RANGES },
  actRange: { kind: 'enum', values: ACT_RANGES },
  adaround: { kind: 'bool' },
  pow2: { kind: 'bool' },
  calibSamples: { kind: 'int', min: 1, max: 1 << 20 },
});
export const PTQ_FIELD_NAMES: readonly PtqField[] = Object.freeze(Object.keys(PTQ_FIELDS) as PtqField[]);

/** Checks one value of a PTQ field; pushes a problem at `path` and returns false when it is wrong. */
export function checkPtqValue(field: PtqField, v: unknown, path: string, problems: Problem[]): boolean {
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
  readonly overrides: Readonly<Partial<Omit<PtqSettings, 'preset'>>>;
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
  checkKeys(v, path, ['preset', 'label', 'layers', 'splitConcat', 'postLnPerChannel', 'qat', 'trainSamples', 'diffusion', ...PTQ_FIELD_NAMES], problems);
  if (v.qat !== undefined) return readQatEntry(v, path, problems, before);
  if (v.trainSamples !== undefined) problems.push({ path: joinPath(path, 'trainSamples'), message: 'training images are a QAT setting: give it beside qat: <QAT preset>' });
  const layers = v.layers === undefined ? undefined : readLayers(v.layers, joinPath(path, 'layers'), problems);
  const flags: { splitConcat?: true; postLnPerChannel?: true } = {};
  for (const k of ['splitConcat', 'postLnPerChannel'] as const) {
    if (v[k] === undefined) continue;
    if (typeof v[k] !== 'boolean') problems.push({ path: joinPath(path, k), message: `expected true or false, got ${describe(v[k])}` });
    else if (v[k]) flags[k] = true;
  }
  const diffusion = v.diffusion === undefined ? undefined : readDiffusion(v.diffusion, joinPath(path, 'diffusion'), problems);
  let preset: string | null = null;
  if (v.preset !== undefined) preset = checkPreset(v.preset, joinPath(path, 'preset')) ?? null;
  const overrides: Partial<Record<PtqField, unknown>> = {};
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
      : [preset ?? 'default', ...Object.entries({ ...overrides, ...flags }).map(([k, x]) => `${k}=${String(x)}`)].join(' ');
  return { label, preset, overrides: { ...(overrides as Partial<Omit<PtqSettings, 'preset'>>), ...(layers && { layers }), ...flags, ...(diffusion && { diffusion }) } };
}

/** `diffusion: {steps?: 1…1000 (20), calib?: single[:STEP] | last | uniform (uniform)}` */
function readDiffusion(v: unknown, path: string, problems: Problem[]): DiffusionSettings | undefined {
  if (!isPlainObject(v)) {
    problems.push({ path, message: `expected {steps, calib}, got ${describe(v)}` });
    return undefined;
  }
  checkKeys(v, path, ['steps', 'calib'], problems);
  const steps = v.steps ?? 20;
  const calib = v.calib ?? 'uniform';
  let ok = true;
  if (!(typeof steps === 'number' && Number.isInteger(steps) && steps >= 1 && steps <= 1000)) {
    problems.push({ path: joinPath(path, 'steps'), message: `expected DDIM steps, an integer in 1…1000, got ${describe(steps)}` });
    ok = false;
  }
  const m = typeof calib === 'string' ? /^(uniform|last|single(?::(\d+))?)$/.exec(calib) : null;
  if (!m) {
    problems.push({ path: joinPath(path, 'calib'), message: `expected single[:STEP], last or uniform, got ${describe(calib)}` });
    ok = false;
  } else if (ok && m[2] !== undefined && Number(m[2]) >= (steps as number)) {
    problems.push({ path: joinPath(path, 'calib'), message: `${calib}: the trajectory has steps 0…${(steps as number) - 1}` });
    ok = false;
  }
  return ok ? { steps: steps as number, calib: calib as string } : undefined;
}

/**
 * `{qat: <QAT preset>, label?}`: the point is trained (QAT) from the preset's PTQ starting point;
 * its settings are the preset's, so nothing else may be given beside it.
 */
function readQatEntry(v: Record<string, unknown>, path: string, problems: Problem[], before: number): PtqEntry | undefined {
  const name = v.qat;
  if (typeof name !== 'string' || !Object.hasOwn(QAT_PRESETS, name)) {
    const hint = typeof name === 'string' ? didYouMean(name, Object.keys(QAT_PRESETS)) : undefined;
    problems.push({ path: joinPath(path, 'qat'), message: `unknown QAT preset ${describe(name)}${hint ? ` (did you mean "${hint}"?)` : ''}; QAT presets: ${Object.keys(QAT_PRESETS).join(', ')}` });
  }
  for (const k of Object.keys(v)) {
    if (k !== 'qat' && k !== 'label' && k !== 'trainSamples') problems.push({ path: joinPath(path, k), message: 'a QAT entry takes every setting from its QAT preset: give only qat, trainSamples and label' });
  }
  const n = v.trainSamples;
  if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 1)) problems.push({ path: joinPath(path, 'trainSamples'), message: `expected a positive integer (training images), got ${describe(n)}` });
  if (v.label !== undefined && (typeof v.label !== 'string' || v.label.trim() === '')) problems.push({ path: joinPath(path, 'label'), message: `expected a non-empty string, got ${describe(v.label)}` });
  if (problems.length > before) return undefined;
  const q = QAT_PRESETS[name as string];
  const { preset: _p, ...settings } = settingsOfConfig(q.base, q.ptq);
  return { label: typeof v.label === 'string' ? v.label : (name as string), preset: q.base, overrides: { ...settings, qat: name as string, ...(n !== undefined && { qatTrainSamples: n as number }) } };
}

/** A `layers:` map of a ptq entry: layer name → {wBits?, aBits?, weightRange?}. */
function readLayers(v: unknown, path: string, problems: Problem[]): Record<string, LayerOverride> | undefined {
  if (!isPlainObject(v) || Object.keys(v).length === 0) {
    problems.push({ path, message: `expected {<layer>: {wBits?, aBits?, weightRange?}, …}, got ${describe(v)}` });
    return undefined;
  }
  const out: Record<string, LayerOverride> = {};
  for (const [layer, o] of Object.entries(v)) {
    const p = joinPath(path, layer);
    if (!isPlainObject(o)) {
      problems.push({ path: p, message: `expected {wBits?, aBits?, weightRange?}, got ${describe(o)}` });
      continue;
    }
    checkKeys(o, p, ['wBits', 'aBits', 'weightRange'], problems);
    const r: { wBits?: number; aBits?: number; weightRange?: WeightRange } = {};
    if (o.wBits !== undefined && checkPtqValue('weightBits', o.wBits, joinPath(p, 'wBits'), problems)) r.wBits = o.wBits as number;
    if (o.aBits !== undefined && checkPtqValue('actBits', o.aBits, joinPath(p, 'aBits'), problems)) r.aBits = o.aBits as number;
    if (o.weightRange !== undefined && checkPtqValue('weightRange', o.weightRange, joinPath(p, 'weightRange'), problems)) r.weightRange = o.weightRange as WeightRange;
    out[layer] = r;
  }
  return out;
}

/** The complete settings of an entry with sweep-axis values applied last. */
export function resolvePtq(entry: PtqEntry, axisValues: Readonly<Partial<Record<PtqField, unknown>>>): PtqSettings {
  const base = entry.preset !== null ? PTQ_PRESETS[entry.preset] : BASE;
  return { ...base, ...entry.overrides, ...(axisValues as Partial<PtqSettings>), preset: base.preset };
}

/**
 * The flags that turn the settings' preset into the settings (quant/config.ts PtqFlags).
 * Asymmetric weights use the asymmetric presets' grid (unsigned, full range, as `w8a8-pt-asym`);
 * symmetric ones the symmetric presets' (signed, restricted range).
 */
export function ptqFlagsOf(s: PtqSettings, seed: number): PtqFlags {
  const base = QUANT_PRESETS[s.preset];
  const sameGrid = base !== undefined && base.weights.symmetric === s.symmetric;
  return {
    wBits: s.weightBits,
    aBits: s.actBits,
    perChannel: s.perChannel,
    weightsSymmetric: s.symmetric,
    ...(sameGrid ? {} : s.symmetric ? { weightsSigned: true, weightsNarrow: true } : { weightsSigned: false, weightsNarrow: false }),
    cle: s.cle,
    cleRelu6: s.cleRelu6,
    biasCorrection: s.biasCorrection,
    weightRange: s.weightRange,
    actRange: s.actRange,
    adaround: s.adaround,
    pow2: s.pow2,
    calibSamples: s.calibSamples,
    seed,
    ...(s.layers && { overrides: s.layers }),
    ...(s.splitConcat && { splitConcat: true }),
    ...(s.postLnPerChannel && { postLnPerChannel: true }),
  };
}

/** The validated PtqConfig of a point's settings (throws quant's ConfigError listing every problem). */
export function ptqConfigOf(s: PtqSettings, seed: number): PtqConfig {
  return resolvePtqConfig(s.preset, ptqFlagsOf(s, seed));
}

/** ptqConfigOf's problems, pushed under `path` instead of thrown. */
export function checkPtqSettings(s: PtqSettings, seed: number, path: string, problems: Problem[]): void {
  try {
    ptqConfigOf(s, seed);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) problems.push({ path: p.path ? `${path}.${p.path}` : path, message: p.message });
  }
}
