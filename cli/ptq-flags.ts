/**
 * The PTQ flags `qloom quantize`, `qloom eval --quant` and `qloom debug` share, and their parsing
 * into a PtqConfig: every flag and config problem is collected and reported at once, before any
 * model, dataset or calibration work (exit 2). Light on purpose (quant/config.ts only): the help
 * text reads the flag list without loading the PTQ toolkit.
 */
import { ConfigError, UsageError } from '../errors/index.js';
import { PRESET_NAMES, resolvePtqConfig, type PtqConfig, type PtqFlags } from '../quant/config.js';
import { formatProblems } from './flags.js';

export { PRESET_NAMES };

/** parseArgs options of the PTQ flags (shared by quantize, eval --quant, debug). */
export const PTQ_OPTIONS = {
  cle: { type: 'boolean' },
  'no-cle': { type: 'boolean' },
  'cle-relu6': { type: 'string' },
  'hba-padding': { type: 'string' },
  'bias-correction': { type: 'string' },
  'weight-range': { type: 'string' },
  'act-range': { type: 'string' },
  'logits-range': { type: 'string' },
  percentile: { type: 'string' },
  adaround: { type: 'boolean' },
  'adaround-iters': { type: 'string' },
  'w-bits': { type: 'string' },
  'a-bits': { type: 'string' },
  'per-channel': { type: 'boolean' },
  'per-tensor': { type: 'boolean' },
  'act-per-channel': { type: 'boolean' },
  pow2: { type: 'boolean' },
  'calib-samples': { type: 'string' },
  seed: { type: 'string' },
  softmax: { type: 'string' },
  layernorm: { type: 'string' },
  gelu: { type: 'string' },
  'int-layers': { type: 'string' },
  'split-concat': { type: 'boolean' },
  'post-ln-per-channel': { type: 'boolean' },
} as const;

export const PTQ_USAGE =
  '[--cle] [--cle-relu6 replace|skip|clip] [--hba-padding dfq|exact] [--bias-correction empirical|analytic|none] [--weight-range minmax|mse] [--act-range minmax|mse|percentile|bn] [--logits-range ce|same] [--percentile P] [--adaround] [--adaround-iters N] [--w-bits N] [--a-bits N] [--per-channel|--per-tensor] [--pow2] [--calib-samples N] [--seed S] [--softmax ort|ibert|lut] [--layernorm float|integer] [--gelu lut|igelu] [--int-layers L1,L2 (number formats: conv/gemm layers kept on integers)] [--split-concat (a concat read by convs keeps one scale per input)] [--post-ln-per-channel (LayerNorm outputs quantized per channel, unfolded)]';

/** A number flag; a malformed one is a problem, not an exception, so all can be reported at once. */
function num(values: Record<string, unknown>, key: string, problems: string[], integer = true): number | undefined {
  const v = values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    problems.push(`--${key} must be ${integer ? 'an integer' : 'a number'}, got '${String(v)}'`);
    return undefined;
  }
  return n;
}

/**
 * The PTQ config from a preset and the flags. Every problem (malformed flags, contradictory
 * flags, config validation, and `extraProblems` the caller found) ends in ONE UsageError listing
 * all of them; `presetFlag` is the flag that named the preset (`eval` takes it as --quant).
 */
export function ptqConfigFromFlags(preset: string | undefined, values: Record<string, unknown>, extraProblems: string[] = [], presetFlag = '--preset'): PtqConfig {
  const problems = [...extraProblems];
  if (preset === undefined) problems.push(`a preset is required (one of ${PRESET_NAMES.join(', ')})`);
  if (values['per-channel'] && values['per-tensor']) problems.push('--per-channel and --per-tensor contradict each other');
  if (values.cle && values['no-cle']) problems.push('--cle and --no-cle contradict each other');
  const wBits = num(values, 'w-bits', problems);
  const aBits = num(values, 'a-bits', problems);
  const calibSamples = num(values, 'calib-samples', problems);
  const seed = num(values, 'seed', problems);
  const percentile = num(values, 'percentile', problems, false);
  const iters = num(values, 'adaround-iters', problems);
  const flags: PtqFlags = {
    wBits,
    aBits,
    calibSamples,
    seed,
    percentile,
    perChannel: values['per-channel'] ? true : values['per-tensor'] ? false : undefined,
    actsPerChannel: values['act-per-channel'] ? true : undefined,
    pow2: values.pow2 ? true : undefined,
    cle: values.cle ? true : values['no-cle'] ? false : undefined,
    weightRange: values['weight-range'] as string | undefined,
    actRange: values['act-range'] as string | undefined,
    logitsRange: values['logits-range'] as string | undefined,
    biasCorrection: values['bias-correction'] as string | undefined,
    cleRelu6: values['cle-relu6'] as string | undefined,
    hbaPadding: values['hba-padding'] as string | undefined,
    adaround: iters !== undefined ? { iterations: iters } : values.adaround ? true : undefined,
    softmax: values.softmax as string | undefined,
    layerNorm: values.layernorm as string | undefined,
    gelu: values.gelu as string | undefined,
    ...(typeof values['int-layers'] === 'string' && { integerLayers: values['int-layers'].split(',').map((x) => x.trim()).filter(Boolean) }),
    ...(values['split-concat'] === true && { splitConcat: true }),
    ...(values['post-ln-per-channel'] === true && { postLnPerChannel: true }),
  };
  try {
    const cfg = resolvePtqConfig(preset ?? 'w8a8-pt', flags);
    if (problems.length) throw new UsageError(formatProblems(problems));
    return cfg;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) problems.push(p.path ? `${p.path === 'preset' ? presetFlag : flagName(p.path)}: ${p.message}` : p.message);
      throw new UsageError(formatProblems(problems));
    }
    throw e;
  }
}

/** Config paths as the flag a CLI user would change. */
function flagName(path: string): string {
  const map: Record<string, string> = {
    preset: '--preset',
    'weights.bits': '--w-bits',
    'activations.bits': '--a-bits',
    'activations.perChannel': '--act-per-channel',
    weightRange: '--weight-range',
    actRange: '--act-range',
    logitsRange: '--logits-range',
    biasCorrection: '--bias-correction',
    cleRelu6: '--cle-relu6',
    hbaPadding: '--hba-padding',
    percentile: '--percentile',
    calibSamples: '--calib-samples',
    'adaround.iterations': '--adaround-iters',
    softmax: '--softmax',
    layerNorm: '--layernorm',
    gelu: '--gelu',
    integerLayers: '--int-layers',
    splitConcat: '--split-concat',
    postLnPerChannel: '--post-ln-per-channel',
  };
  return map[path] ?? path;
}

/** `ptqConfigFromFlags` with the command's usage appended to its message. */
export function ptqConfigOrUsage(preset: string | undefined, values: Record<string, unknown>, problems: string[], usage: string, presetFlag = '--preset'): PtqConfig {
  try {
    return ptqConfigFromFlags(preset, values, problems, presetFlag);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${e.message}\nusage: ${usage}`);
    throw e;
  }
}
