/**
 * PTQ configuration: how weights and activations are quantized, which passes run, and the named
 * presets of issue 4. `resolvePtqConfig` is the only way to get a PtqConfig: it applies flags on
 * top of a preset, validates EVERYTHING and throws one ConfigError listing every problem, then
 * freezes the result, so a bad configuration fails before any calibration work starts.
 *
 * Defaults follow the white paper (Nagel et al. 2021, §4) and AIMET's published defaults:
 * weights symmetric signed with the restricted range ±(2^(b−1)−1) (so −q is always
 * representable and the asymmetric-weight cost term vanishes), activations asymmetric unsigned
 * (ReLU outputs then get zero point 0 = qmin), per-tensor unless "pc", min-max weight ranges for
 * 8 bits and MSE for 4 bits (min-max at 4 bits throws away most of the grid on outliers), MSE
 * activation ranges, cross-entropy range for the logits, 1024 calibration images (AIMET's guidance
 * is 500–1000 unlabeled samples).
 */
import { createHash } from 'node:crypto';
import { ConfigError, type Problem } from '../arch/errors.js';
import { GELU_ALGORITHMS, LAYERNORM_ALGORITHMS, SOFTMAX_ALGORITHMS, type GeluAlgorithm, type LayerNormAlgorithm, type SoftmaxAlgorithm } from '../arch/sfu.js';
import { ADAROUND_DEFAULTS, ADAROUND_PAPER, type AdaRoundOptions } from './adaround.js';
import type { LogBase } from '../qnet/logquant.js';

export interface TensorQuantConfig {
  /** 2…16 (32 is accepted by the quantizer for the debugging workflow's FP32 sanity check) */
  readonly bits: number;
  /** one scale per output channel (weights only) */
  readonly perChannel: boolean;
  /** zero point 0 */
  readonly symmetric: boolean;
  readonly signed: boolean;
  /** restricted range: signed ±(2^(b−1)−1), unsigned 0…2^b−2 */
  readonly narrow: boolean;
  /** scales rounded UP to a power of two (shift-only requantization) */
  readonly pow2: boolean;
}

export type WeightRangeMethod = 'minmax' | 'mse';
export type ActRangeMethod = 'minmax' | 'mse' | 'percentile' | 'bn';
export type LogitsRangeMethod = 'ce' | 'same';
export type BiasCorrectionMode = 'none' | 'empirical' | 'analytic';
/**
 * ReLU6 between two equalized layers: AIMET's replacement by ReLU (changes the function), leave
 * such pairs alone (exact, less equalization), or equalize and clip channel i at 6/s_i (exact; the
 * integer layer then needs per-channel clamp bounds, arch requant.perChannelClamp)
 */
export type CleRelu6Mode = 'replace' | 'skip' | 'clip';
/** high-bias absorption into a zero-padded layer: only where exact (default) or DFQ's (border taps ignored) */
export type HbaPaddingMode = 'dfq' | 'exact';

export interface LayerOverride {
  /** weight bits of this linear layer */
  readonly wBits?: number;
  /** bits of this layer's output activation */
  readonly aBits?: number;
  /** this layer's weight range method (a mixed-precision search sets MSE on the layers it takes below 8 bits) */
  readonly weightRange?: WeightRangeMethod;
}

/**
 * A number format other than affine integers for every conv / gemm (quant/formats.ts):
 * - `float`: `element` a float format of qnet/formats (fp8-e4m3, fp8-e5m2, bf16, fp16) for weights
 *   (per-output-channel scale) and activations (per-tensor scale), FP8's scale set so the
 *   calibrated max |x| maps to the format's max finite; BF16 / FP16 unscaled;
 * - `mx`: `element` an MX format (mxfp8-e4m3, mxfp6-e2m3, mxfp4-e2m1, mxint8, …) for both, block
 *   scales from each block's max (nothing calibrated);
 * - `group`: per-group `bits`-bit symmetric integer weights, groups of `groupSize` along K with MSE
 *   scales; activations stay the config's affine integers.
 * `acc`: the float accumulator (MX and groups: FP32).
 */
export interface NumberFormatConfig {
  readonly kind: 'float' | 'mx' | 'group';
  readonly element: string;
  readonly bits?: number;
  readonly groupSize?: number;
  readonly acc: 'fp32' | 'fp16' | 'bf16';
  /**
   * conv / gemm layers left on the config's affine integers (the usual first / last layers kept at
   * INT8 in an FP8 network): they run on the integer datapath of PEs that have both
   * (`operands.alsoInt`), converted from and to the format at their edges
   */
  readonly integerLayers?: readonly string[];
}

export interface PtqConfig {
  /** the preset the config started from (informational; part of the hash) */
  readonly preset: string;
  readonly weights: TensorQuantConfig;
  readonly activations: TensorQuantConfig;
  readonly cle: boolean;
  readonly highBiasAbsorption: boolean;
  readonly cleRelu6: CleRelu6Mode;
  readonly hbaPadding: HbaPaddingMode;
  readonly weightRange: WeightRangeMethod;
  readonly actRange: ActRangeMethod;
  readonly logitsRange: LogitsRangeMethod;
  /** percentile for actRange 'percentile', in (50, 100] */
  readonly percentile: number;
  readonly biasCorrection: BiasCorrectionMode;
  readonly adaround: AdaRoundOptions | null;
  /** by layer (node) name */
  readonly overrides: Readonly<Record<string, LayerOverride>>;
  readonly calibSamples: number;
  readonly seed: number;
  /**
   * The algorithms of the transformer ops' integer layers (arch/sfu.ts: what an SFU computes);
   * absent = the defaults `TRANSFORMER_DEFAULTS` (ONNX Runtime's QLinearSoftmax, float LayerNorm,
   * GELU from a table) — absent rather than filled so a CNN's config hash does not change
   */
  readonly softmax?: SoftmaxAlgorithm;
  readonly layerNorm?: LayerNormAlgorithm;
  readonly gelu?: GeluAlgorithm;
  /** conv / gemm layers on a number format; absent = affine integers (hashes of integer configs unchanged) */
  readonly format?: NumberFormatConfig;
  /** attention probabilities (softmax → P·V): log-coded (quant/log-softmax.ts) or the uniform 1/2^b grid (absent) */
  readonly softmaxQuant?: 'uniform' | LogBase;
  /** RepQ-ViT's post-LayerNorm scale reparameterization (quant/repq.ts); absent = off */
  readonly repq?: boolean;
  /**
   * bits of the attention scores (a softmax's input) when they differ from the activations': the
   * low-bit transformer presets keep them at 8 (RepQ-ViT leaves them in float; a 4-bit exponent
   * argument would leave the softmax nothing to work with)
   */
  readonly scoresBits?: number;
  /**
   * split quantization of concatenations (quant/split-concat.ts, Q-Diffusion §4.2): a channel
   * Concat read only by convs keeps one scale per input; absent = one scale per concat output
   */
  readonly splitConcat?: boolean;
  /**
   * per-channel post-LayerNorm activation quantizers left unfolded (quant/split-concat.ts
   * `unfoldPostLn`): RepQ-ViT's calibration without its reparameterization, to price what the
   * hardware would need; absent = off
   */
  readonly postLnPerChannel?: boolean;
}

/** Softmax / LayerNorm / GELU algorithms of a config that names none */
export const TRANSFORMER_DEFAULTS = Object.freeze({ softmax: 'ort' as SoftmaxAlgorithm, layerNorm: 'float' as LayerNormAlgorithm, gelu: 'lut' as GeluAlgorithm });

export interface TransformerAlgorithms {
  readonly softmax: SoftmaxAlgorithm;
  readonly layerNorm: LayerNormAlgorithm;
  readonly gelu: GeluAlgorithm;
  /** entries of the `lut` softmax's exp table (the arch's `sfu.expLutEntries`; default 256) */
  readonly expLutEntries?: number;
}

/**
 * The transformer ops' algorithms of a config: what it names, else `fallback`'s (the target arch's
 * special-function unit, when quantizing for one), else TRANSFORMER_DEFAULTS
 */
export function transformerAlgorithms(cfg: PtqConfig, fallback?: Partial<TransformerAlgorithms>): TransformerAlgorithms {
  return {
    softmax: cfg.softmax ?? fallback?.softmax ?? TRANSFORMER_DEFAULTS.softmax,
    layerNorm: cfg.layerNorm ?? fallback?.layerNorm ?? TRANSFORMER_DEFAULTS.layerNorm,
    gelu: cfg.gelu ?? fallback?.gelu ?? TRANSFORMER_DEFAULTS.gelu,
    ...(fallback?.expLutEntries !== undefined && { expLutEntries: fallback.expLutEntries }),
  };
}

/** What a caller (the CLI) may change on top of a preset; undefined = keep the preset's value. */
export interface PtqFlags {
  readonly wBits?: number;
  readonly aBits?: number;
  readonly perChannel?: boolean;
  readonly pow2?: boolean;
  readonly weightsSymmetric?: boolean;
  readonly weightsSigned?: boolean;
  readonly weightsNarrow?: boolean;
  readonly actsSymmetric?: boolean;
  readonly actsSigned?: boolean;
  /** anything but false is an error: activations are per-tensor */
  readonly actsPerChannel?: boolean;
  readonly cle?: boolean;
  readonly highBiasAbsorption?: boolean;
  readonly cleRelu6?: string;
  readonly hbaPadding?: string;
  readonly weightRange?: string;
  readonly actRange?: string;
  readonly logitsRange?: string;
  readonly percentile?: number;
  readonly biasCorrection?: string;
  /** true: the preset's AdaRound options or ADAROUND_DEFAULTS; false: off; an object: merged over the defaults */
  readonly adaround?: boolean | Partial<AdaRoundOptions>;
  readonly overrides?: Readonly<Record<string, LayerOverride>>;
  readonly calibSamples?: number;
  readonly seed?: number;
  readonly softmax?: string;
  readonly layerNorm?: string;
  readonly gelu?: string;
  /** number-format presets: conv / gemm layers kept on affine integers (NumberFormatConfig.integerLayers) */
  readonly integerLayers?: readonly string[];
  /** split quantization of concatenations (PtqConfig.splitConcat) */
  readonly splitConcat?: boolean;
  /** unfolded per-channel post-LayerNorm quantizers (PtqConfig.postLnPerChannel) */
  readonly postLnPerChannel?: boolean;
}

const W_SYM: TensorQuantConfig = { bits: 8, perChannel: false, symmetric: true, signed: true, narrow: true, pow2: false };
const A_ASYM: TensorQuantConfig = { bits: 8, perChannel: false, symmetric: false, signed: false, narrow: false, pow2: false };
/** asymmetric weights: uint8-style grid with a zero point per tensor / channel */
const W_ASYM: TensorQuantConfig = { bits: 8, perChannel: false, symmetric: false, signed: false, narrow: false, pow2: false };

const BASE: Omit<PtqConfig, 'preset'> = {
  weights: W_SYM,
  activations: A_ASYM,
  cle: false,
  highBiasAbsorption: false,
  cleRelu6: 'replace',
  hbaPadding: 'exact',
  weightRange: 'minmax',
  actRange: 'mse',
  logitsRange: 'ce',
  percentile: 99.99,
  biasCorrection: 'none',
  adaround: null,
  overrides: {},
  calibSamples: 1024,
  seed: 0,
};

function preset(w: Partial<TensorQuantConfig>, rest: Partial<Omit<PtqConfig, 'preset' | 'weights'>> = {}): Omit<PtqConfig, 'preset'> {
  const weights = { ...(w.symmetric === false ? W_ASYM : W_SYM), ...w };
  return { ...BASE, weights, ...rest };
}

/** The named presets (issue 4), by name. */
export const PTQ_PRESETS: Readonly<Record<string, Omit<PtqConfig, 'preset'>>> = {
  'w8a8-pt': preset({}),
  'w8a8-pc': preset({ perChannel: true }),
  // CLE presets keep cleRelu6 'replace' (AIMET's): it runs on every arch; 'clip' keeps the FP32
  // function and equalizes as much (MobileNetV2 W8A8 logits 15.6 dB vs 1.6 dB against the original
  // FP32, bench/cle-relu6.ts) but needs per-channel clamp bounds (arch requant.perChannelClamp)
  'w8a8-pt-cle': preset({}, { cle: true, highBiasAbsorption: true }),
  'w8a8-pt-cle-clip': preset({}, { cle: true, highBiasAbsorption: true, cleRelu6: 'clip' }),
  'w8a8-pt-asym': preset({ symmetric: false }),
  'w8a8-pc-asym': preset({ symmetric: false, perChannel: true }),
  'w4a8-pt': preset({ bits: 4 }, { weightRange: 'mse' }),
  'w4a8-pt-cle': preset({ bits: 4 }, { weightRange: 'mse', cle: true, highBiasAbsorption: true }),
  'w4a8-pc': preset({ bits: 4, perChannel: true }, { weightRange: 'mse' }),
  'w4a8-pc-adaround': preset({ bits: 4, perChannel: true }, { weightRange: 'mse', adaround: ADAROUND_DEFAULTS }),
  'w4a8-pc-adaround-paper': preset({ bits: 4, perChannel: true }, { weightRange: 'mse', adaround: ADAROUND_PAPER }),
  // number formats (quant/formats.ts): FP8 scales from the calibrated max (min-max ranges, logits
  // unclipped — FP8's exponent covers what an INT8 grid would clip); the integer fields below
  // are the element widths traffic is costed at
  fp8e4m3: preset({ perChannel: true }, { actRange: 'minmax', logitsRange: 'same', format: { kind: 'float', element: 'fp8-e4m3', acc: 'fp32' } }),
  fp8e5m2: preset({ perChannel: true }, { actRange: 'minmax', logitsRange: 'same', format: { kind: 'float', element: 'fp8-e5m2', acc: 'fp32' } }),
  bf16: preset({ bits: 16 }, { activations: { ...A_ASYM, bits: 16 }, actRange: 'minmax', logitsRange: 'same', format: { kind: 'float', element: 'bf16', acc: 'fp32' } }),
  fp16: preset({ bits: 16 }, { activations: { ...A_ASYM, bits: 16 }, actRange: 'minmax', logitsRange: 'same', format: { kind: 'float', element: 'fp16', acc: 'fp32' } }),
  mxfp8: preset({}, { actRange: 'minmax', logitsRange: 'same', format: { kind: 'mx', element: 'mxfp8-e4m3', acc: 'fp32' } }),
  mxfp6: preset({ bits: 6 }, { activations: { ...A_ASYM, bits: 6 }, actRange: 'minmax', logitsRange: 'same', format: { kind: 'mx', element: 'mxfp6-e2m3', acc: 'fp32' } }),
  mxfp4: preset({ bits: 4 }, { activations: { ...A_ASYM, bits: 4 }, actRange: 'minmax', logitsRange: 'same', format: { kind: 'mx', element: 'mxfp4-e2m1', acc: 'fp32' } }),
  mxint8: preset({}, { actRange: 'minmax', logitsRange: 'same', format: { kind: 'mx', element: 'mxint8', acc: 'fp32' } }),
  // transformers at low activation widths (RepQ-ViT, Li et al. 2023): uniform per-tensor activations
  // with per-channel MSE weights, and the same with RepQ-ViT's post-LN reparameterization and
  // log√2-coded attention probabilities
  // log√2-coded attention probabilities; below 8 bits the scores stay 8-bit, and the uniform
  // presets' softmax is I-BERT's (ORT's QLinearSoftmax writes 8-bit probabilities only — an arch
  // whose SFU has it refuses them); log codes come from any softmax's integer probabilities
  'w6a6-pc': preset({ bits: 6, perChannel: true }, { weightRange: 'mse', activations: { ...A_ASYM, bits: 6 }, scoresBits: 8, softmax: 'ibert' }),
  'w4a4-pc': preset({ bits: 4, perChannel: true }, { weightRange: 'mse', activations: { ...A_ASYM, bits: 4 }, scoresBits: 8, softmax: 'ibert' }),
  'w8a8-repq': preset({ perChannel: true }, { repq: true, softmaxQuant: 'logsqrt2' }),
  'w6a6-repq': preset({ bits: 6, perChannel: true }, { weightRange: 'mse', activations: { ...A_ASYM, bits: 6 }, scoresBits: 8, repq: true, softmaxQuant: 'logsqrt2' }),
  'w4a4-repq': preset({ bits: 4, perChannel: true }, { weightRange: 'mse', activations: { ...A_ASYM, bits: 4 }, scoresBits: 8, repq: true, softmaxQuant: 'logsqrt2' }),
  w4g32a8: preset({ bits: 4 }, { weightRange: 'mse', format: { kind: 'group', element: 'int4-g32', bits: 4, groupSize: 32, acc: 'fp32' } }),
};

export const PRESET_NAMES: readonly string[] = Object.keys(PTQ_PRESETS);

const WEIGHT_RANGES: readonly WeightRangeMethod[] = ['minmax', 'mse'];
export const CLE_RELU6_MODES: readonly CleRelu6Mode[] = Object.freeze(['replace', 'skip', 'clip']);
const HBA_PADDING_MODES: readonly HbaPaddingMode[] = ['dfq', 'exact'];
const ACT_RANGES: readonly ActRangeMethod[] = ['minmax', 'mse', 'percentile', 'bn'];
const LOGITS_RANGES: readonly LogitsRangeMethod[] = ['ce', 'same'];
const BIAS_CORRECTIONS: readonly BiasCorrectionMode[] = ['none', 'empirical', 'analytic'];

function isBits(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 2 && v <= 16;
}

function checkTensor(path: string, t: TensorQuantConfig, problems: Problem[], weights: boolean): void {
  if (!isBits(t.bits)) problems.push({ path: `${path}.bits`, message: `must be an integer in 2…16, got ${String(t.bits)}` });
  if (!weights && t.perChannel) problems.push({ path: `${path}.perChannel`, message: 'activations are quantized per tensor: per-channel activation scales cannot be folded into one requantization per output channel' });
  if (weights && t.symmetric && !t.signed) problems.push({ path: `${path}.signed`, message: 'symmetric weights must be signed (an unsigned grid with zero point 0 cannot hold negative weights)' });
  for (const k of ['perChannel', 'symmetric', 'signed', 'narrow', 'pow2'] as const) {
    if (typeof t[k] !== 'boolean') problems.push({ path: `${path}.${k}`, message: `must be a boolean, got ${String(t[k])}` });
  }
}

function checkAdaround(a: AdaRoundOptions, problems: Problem[]): void {
  const posInt = (k: 'iterations' | 'batchSize') => {
    if (!Number.isInteger(a[k]) || a[k] < 1) problems.push({ path: `adaround.${k}`, message: `must be a positive integer, got ${String(a[k])}` });
  };
  posInt('iterations');
  posInt('batchSize');
  if (!(a.regWeight >= 0) || !Number.isFinite(a.regWeight)) problems.push({ path: 'adaround.regWeight', message: `must be a finite number ≥ 0, got ${String(a.regWeight)}` });
  if (!(a.learningRate > 0) || !Number.isFinite(a.learningRate)) problems.push({ path: 'adaround.learningRate', message: `must be a finite number > 0, got ${String(a.learningRate)}` });
  if (!(a.warmStart >= 0 && a.warmStart < 1)) problems.push({ path: 'adaround.warmStart', message: `must be a fraction in [0, 1), got ${String(a.warmStart)}` });
  if (!(a.betaStart > 0) || !(a.betaEnd > 0)) problems.push({ path: 'adaround.beta', message: `betaStart and betaEnd must be > 0, got ${String(a.betaStart)} → ${String(a.betaEnd)}` });
  if (!Number.isInteger(a.seed)) problems.push({ path: 'adaround.seed', message: `must be an integer, got ${String(a.seed)}` });
}

/**
 * A preset with flags applied, validated and frozen. Throws one ConfigError naming every problem
 * (unknown preset with the known ones, bits out of 2…16, per-channel activations, …).
 */
export function resolvePtqConfig(presetName: string, flags: PtqFlags = {}): PtqConfig {
  const problems: Problem[] = [];
  const base = Object.prototype.hasOwnProperty.call(PTQ_PRESETS, presetName) ? PTQ_PRESETS[presetName] : undefined;
  if (!base) problems.push({ path: 'preset', message: `unknown preset '${presetName}' (known: ${PRESET_NAMES.join(', ')})` });
  const b = base ?? PTQ_PRESETS['w8a8-pt'];
  const f = flags;
  const weights: TensorQuantConfig = {
    bits: f.wBits ?? b.weights.bits,
    perChannel: f.perChannel ?? b.weights.perChannel,
    symmetric: f.weightsSymmetric ?? b.weights.symmetric,
    signed: f.weightsSigned ?? (f.weightsSymmetric === true ? true : b.weights.signed),
    narrow: f.weightsNarrow ?? b.weights.narrow,
    pow2: f.pow2 ?? b.weights.pow2,
  };
  const activations: TensorQuantConfig = {
    bits: f.aBits ?? b.activations.bits,
    perChannel: f.actsPerChannel ?? b.activations.perChannel,
    symmetric: f.actsSymmetric ?? b.activations.symmetric,
    signed: f.actsSigned ?? b.activations.signed,
    narrow: b.activations.narrow,
    pow2: f.pow2 ?? b.activations.pow2,
  };
  checkTensor('weights', weights, problems, true);
  checkTensor('activations', activations, problems, false);

  const pick = <T extends string>(path: string, v: string | undefined, dflt: T, known: readonly T[]): T => {
    if (v === undefined) return dflt;
    if (!(known as readonly string[]).includes(v)) {
      problems.push({ path, message: `must be one of ${known.join(', ')}, got '${v}'` });
      return dflt;
    }
    return v as T;
  };
  const weightRange = pick('weightRange', f.weightRange, b.weightRange, WEIGHT_RANGES);
  const actRange = pick('actRange', f.actRange, b.actRange, ACT_RANGES);
  const logitsRange = pick('logitsRange', f.logitsRange, b.logitsRange, LOGITS_RANGES);
  const biasCorrection = pick('biasCorrection', f.biasCorrection, b.biasCorrection, BIAS_CORRECTIONS);
  const cleRelu6 = pick('cleRelu6', f.cleRelu6, b.cleRelu6, CLE_RELU6_MODES);
  const hbaPadding = pick('hbaPadding', f.hbaPadding, b.hbaPadding, HBA_PADDING_MODES);
  const pickOpt = <T extends string>(path: string, v: string | undefined, dflt: T | undefined, known: readonly T[]): T | undefined =>
    v === undefined ? dflt : pick(path, v, dflt ?? known[0], known);
  const softmax = pickOpt('softmax', f.softmax, b.softmax, SOFTMAX_ALGORITHMS);
  const layerNorm = pickOpt('layerNorm', f.layerNorm, b.layerNorm, LAYERNORM_ALGORITHMS);
  const gelu = pickOpt('gelu', f.gelu, b.gelu, GELU_ALGORITHMS);

  const percentile = f.percentile ?? b.percentile;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) {
    problems.push({ path: 'percentile', message: `must be a number in (50, 100], got ${String(percentile)}` });
  }

  let adaround: AdaRoundOptions | null = b.adaround;
  if (f.adaround === false) adaround = null;
  else if (f.adaround === true) adaround = b.adaround ?? ADAROUND_DEFAULTS;
  else if (f.adaround && typeof f.adaround === 'object') adaround = { ...(b.adaround ?? ADAROUND_DEFAULTS), ...f.adaround };
  if (adaround) {
    checkAdaround(adaround, problems);
    if (biasCorrection !== 'none') {
      problems.push({ path: 'biasCorrection', message: `AdaRound and bias correction are alternatives (AdaRound already fits the layer output); got adaround with bias correction '${biasCorrection}'` });
    }
  }

  const cle = f.cle ?? b.cle;
  // high-bias absorption belongs to CLE: turning CLE on brings it along unless asked otherwise
  const highBiasAbsorption = f.highBiasAbsorption ?? (f.cle === true ? true : b.highBiasAbsorption);
  if (highBiasAbsorption && !cle) problems.push({ path: 'highBiasAbsorption', message: 'high-bias absorption runs as part of cross-layer equalization: enable cle too' });

  const overrides: Record<string, LayerOverride> = {};
  for (const [layer, o] of Object.entries(f.overrides ?? b.overrides)) {
    if (o.wBits !== undefined && !isBits(o.wBits)) problems.push({ path: `overrides.${layer}.wBits`, message: `must be an integer in 2…16, got ${String(o.wBits)}` });
    if (o.aBits !== undefined && !isBits(o.aBits)) problems.push({ path: `overrides.${layer}.aBits`, message: `must be an integer in 2…16, got ${String(o.aBits)}` });
    if (o.weightRange !== undefined && o.weightRange !== 'minmax' && o.weightRange !== 'mse') problems.push({ path: `overrides.${layer}.weightRange`, message: `must be minmax or mse, got ${String(o.weightRange)}` });
    overrides[layer] = Object.freeze({ ...o });
  }

  const calibSamples = f.calibSamples ?? b.calibSamples;
  if (!Number.isInteger(calibSamples) || calibSamples < 1) {
    problems.push({ path: 'calibSamples', message: `must be a positive integer (an empty calibration set cannot set any range), got ${String(calibSamples)}` });
  }
  const seed = f.seed ?? b.seed;
  if (!Number.isInteger(seed)) problems.push({ path: 'seed', message: `must be an integer, got ${String(seed)}` });

  let format = b.format;
  if (f.integerLayers !== undefined) {
    if (!format || format.kind === 'group') problems.push({ path: 'integerLayers', message: `keeps layers on integers inside a float / MX network; preset '${presetName}' ${format ? 'keeps every activation on integers already (per-group weights)' : 'is an integer one'}` });
    else if (f.integerLayers.length > 0) format = { ...format, integerLayers: [...new Set(f.integerLayers)] };
  }
  const splitConcat = f.splitConcat ?? b.splitConcat ?? false;
  const postLnPerChannel = f.postLnPerChannel ?? b.postLnPerChannel ?? false;
  if (postLnPerChannel && (format || b.repq)) problems.push({ path: 'postLnPerChannel', message: `preset '${presetName}' ${format ? `puts layers on ${format.element}` : 'folds the per-channel post-LN quantizers already (RepQ-ViT)'}` });
  if (splitConcat && format) problems.push({ path: 'splitConcat', message: `preset '${presetName}' puts layers on ${format.element}: split concat quantization is a choice of integer scales` });
  if (format && (cle || adaround || biasCorrection !== 'none')) {
    problems.push({ path: 'format', message: `preset '${presetName}' puts layers on ${format.element}: CLE, AdaRound and bias correction are integer-grid passes, not run for number formats` });
  }

  if (problems.length) throw new ConfigError(problems, 'PTQ config');
  return deepFreeze({
    preset: presetName,
    weights,
    activations,
    cle,
    highBiasAbsorption,
    cleRelu6,
    hbaPadding,
    weightRange,
    actRange,
    logitsRange,
    percentile,
    biasCorrection,
    adaround: adaround ? (({ onIteration: _cb, ...rest }) => rest)(adaround) : null,
    overrides,
    calibSamples,
    seed,
    ...(softmax !== undefined && { softmax }),
    ...(layerNorm !== undefined && { layerNorm }),
    ...(gelu !== undefined && { gelu }),
    ...(format !== undefined && { format }),
    ...(b.softmaxQuant !== undefined && b.softmaxQuant !== 'uniform' && { softmaxQuant: b.softmaxQuant }),
    ...(b.repq && { repq: true }),
    ...(b.scoresBits !== undefined && { scoresBits: b.scoresBits }),
    ...(splitConcat && { splitConcat: true }),
    ...(postLnPerChannel && { postLnPerChannel: true }),
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/** JSON with object keys sorted at every level: the same config always prints the same. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined && typeof x !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
}

/** sha256 (hex) of the config's stable JSON: identifies a quantization recipe in results. */
export function configHash(cfg: PtqConfig): string {
  return createHash('sha256').update(stableJson(cfg)).digest('hex');
}

/** The weight range method of one layer, after its override. */
export function weightRangeFor(cfg: PtqConfig, layer: string): WeightRangeMethod {
  return cfg.overrides[layer]?.weightRange ?? cfg.weightRange;
}

/** The weight quantization of one layer, after its override. */
export function weightConfigFor(cfg: PtqConfig, layer: string): TensorQuantConfig {
  const o = cfg.overrides[layer];
  return o?.wBits !== undefined ? { ...cfg.weights, bits: o.wBits } : cfg.weights;
}

/** The quantization of a layer's output activation, after its override. */
export function actConfigFor(cfg: PtqConfig, layer: string | undefined): TensorQuantConfig {
  const o = layer === undefined ? undefined : cfg.overrides[layer];
  return o?.aBits !== undefined ? { ...cfg.activations, bits: o.aBits } : cfg.activations;
}
