/**
 * What the arch's requant unit (`spec.requant`) allows the functional path to compute, in one
 * place for every caller — `qloom run --model` (scenarios/simulate-model.ts), the library's
 * evaluateOnArch and the scenario runner (scenarios/qloom-runner.ts) — so a combination one of them
 * refuses is refused by all, with the same words.
 *
 * The unit's arithmetic: the arch spec describes its requant unit by `multiplierBits`, the width
 * of a fixed-point multiplier M0 (and an 8-bit shift), and prices it as an integer multiplier of
 * [accumulator bits × multiplierBits] (sim/engine). No spec field describes a float32 requant
 * unit, so every arch's unit is fixed-point: a run requantizes in `fixed` mode with M0 quantized
 * to the arch's `multiplierBits` unless the caller asks for `float` — ONNX Runtime's float32
 * arithmetic, the bit-exact reference for QLinearConv / QLinearMatMul, not a unit any arch has.
 */
import type { ArchSpec } from '../arch/spec.js';
import { UsageError } from '../errors/index.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import type { RequantConfig, RequantMode } from '../qnet/requant.js';

/** The requant mode a run uses when the caller names none: every arch's unit is fixed-point. */
export const ARCH_REQUANT_MODE: RequantMode = 'fixed';

/**
 * The requantization a run on `spec` computes: `mode` (default: the arch's, `fixed`) and, in fixed
 * mode, M0 quantized to `spec.requant.multiplierBits` bits — qnet/requant.ts quantizeMultiplier:
 * the multiplier's mantissa q ∈ [0.5, 1) times 2^(bits−1), rounded half away from zero, the shift
 * raised by one when that rounds up to 2^(bits−1) — with gemmlowp's double rounding.
 */
export function archRequant(spec: ArchSpec, mode: RequantMode = ARCH_REQUANT_MODE): RequantConfig {
  return mode === 'fixed' ? { mode, multiplierBits: spec.requant.multiplierBits, rounding: 'double' } : { mode };
}

/**
 * Why per-channel weights cannot run on `spec` (its requant unit holds one (M0, shift) for the
 * whole tensor: `requant.perChannel: false`), or null when they can or `perChannel` is false.
 * `archName` is how the caller names the arch (a sweep's label, or the spec's name).
 */
export function perChannelProblem(archName: string, spec: ArchSpec, perChannel: boolean): string | null {
  if (!perChannel || spec.requant.perChannel) return null;
  return `${archName} requantizes per tensor only (requant.perChannel false); per-channel weights need one (M0, shift) per output channel`;
}

/**
 * Why per-channel clamp bounds (a ReLU6 equalized with cleRelu6 'clip': channel i clipped at
 * 6/s_i) cannot run on `spec` (`requant.perChannelClamp: false`), or null when they can or are
 * not needed.
 */
export function perChannelClampProblem(archName: string, spec: ArchSpec, needed: boolean): string | null {
  if (!needed || spec.requant.perChannelClamp) return null;
  return `${archName} clamps with one range per tensor (requant.perChannelClamp false); this network clips each channel at its own bound (CLE through ReLU6 with cleRelu6 clip)`;
}

/** Whether a layer of `net` clamps each channel at its own bound (QActivation `channelHi`). */
export function hasPerChannelClamp(net: QuantizedNetwork): boolean {
  return net.layers.some((l) => 'activation' in l && l.activation.kind === 'clamp' && l.activation.channelHi !== undefined);
}

/**
 * Why `net` cannot run on `spec`'s requant unit (per-channel weights or per-channel clamp bounds
 * it does not have), or null — the check every runner shares (before and after its PTQ run).
 */
export function requantUnitProblem(archName: string, spec: ArchSpec, net: QuantizedNetwork): string | null {
  return (
    operandFormatProblem(archName, spec, networkOperandFormat(net), networkAccFormat(net)) ??
    perChannelProblem(archName, spec, hasPerChannelWeights(net)) ??
    perChannelClampProblem(archName, spec, hasPerChannelClamp(net)) ??
    sfuProblem(archName, spec, net) ??
    logQuantProblem(archName, spec, net)
  );
}

/**
 * The PE operand format `net`'s conv / gemm layers need (arch OPERAND_FORMATS): `int` for affine
 * integer layers, `int-group` for per-group integer weights, else the float / MX element format;
 * several when the layers differ (joined by ' + ').
 */
export function networkOperandFormat(net: QuantizedNetwork): string {
  const fs = new Set<string>();
  for (const l of net.layers) {
    if (l.kind !== 'conv' && l.kind !== 'gemm') continue;
    const f = l.weight.format;
    fs.add(!f ? 'int' : f.kind === 'group' ? 'int-group' : f.kind === 'mx' ? f.mx : f.element);
  }
  return fs.size === 0 ? 'int' : [...fs].sort().join(' + ');
}

/** The accumulator format `net`'s format layers use (`int` for integer layers). */
export function networkAccFormat(net: QuantizedNetwork): string {
  for (const l of net.layers) if ((l.kind === 'conv' || l.kind === 'gemm') && l.format) return l.format.acc;
  return 'int';
}

/**
 * Why a network on PE operand format `required` (and accumulator `acc`) cannot run on `spec`,
 * whose PEs multiply `operands.format` and accumulate in `accumulator.format`; null when they match.
 */
export function operandFormatProblem(archName: string, spec: ArchSpec, required: string, acc?: string): string | null {
  const have = spec.operands.format ?? 'int';
  // a format network with layers kept on integers ('fp8-e4m3 + int'): PEs with both datapaths
  const parts = required.split(' + ');
  const fits = parts.every((p) => p === have || (p === 'int' && spec.operands.alsoInt === true));
  if (!fits) {
    const hint = parts.length > 1 && parts.includes('int') && parts.includes(have) ? ' (layers kept on integers need operands.alsoInt: true)' : '';
    return `${archName}'s PEs multiply ${have}${spec.operands.alsoInt ? ' and int' : ''} operands (operands.format); this network's conv/gemm layers are ${required}${hint}`;
  }
  const haveAcc = spec.accumulator.format ?? 'int';
  // an all-integer network on PEs that also have the integer datapath accumulates there
  if (acc !== undefined && acc !== haveAcc && !(acc === 'int' && spec.operands.alsoInt === true)) return `${archName} accumulates in ${haveAcc} (accumulator.format); this network's layers accumulate in ${acc}`;
  return null;
}

/**
 * Why `net`'s log-coded tensors (post-Softmax probabilities, qnet/logquant.ts) cannot be computed
 * on `spec`: their products are shifts, and its PEs only multiply (`pe.shiftMode` absent); null
 * when it has no such tensor or the PEs have a shift mode. Names the matmuls that read them.
 */
export function logQuantProblem(archName: string, spec: ArchSpec, net: QuantizedNetwork): string | null {
  if (spec.pe.shiftMode) return null;
  const logged = new Set([...net.tensors.values()].filter((t) => t.log).map((t) => t.name));
  if (logged.size === 0) return null;
  const readers = net.layers.filter((l) => l.inputs.some((i) => logged.has(i))).map((l) => l.name);
  return `${archName}'s PEs have no shift mode (pe.shiftMode false); ${readers.join(', ')} multiply by log-coded probabilities, which are shifts`;
}

/**
 * Why `net`'s Softmax / LayerNorm / i-GELU layers compute something other than what `spec`'s
 * special-function unit computes (its `sfu.softmax`, `sfu.layerNorm`, `sfu.gelu`), naming every
 * such layer; null when they agree or the arch has no SFU (then a host runs them as the network
 * says). The accuracy a run reports is that of the integers the arch computes, so a network
 * quantized for another algorithm is refused rather than silently costed as this one.
 */
export function sfuProblem(archName: string, spec: ArchSpec, net: QuantizedNetwork): string | null {
  const sfu = spec.sfu;
  if (sfu === null) return null;
  const bad: string[] = [];
  for (const l of net.layers) {
    if (l.kind === 'softmax' && l.variant !== sfu.softmax) bad.push(`${l.name} (softmax ${l.variant})`);
    if (l.kind === 'layernorm' && l.variant !== sfu.layerNorm) bad.push(`${l.name} (layerNorm ${l.variant})`);
    if ('activation' in l && l.activation.kind === 'igelu' && sfu.gelu !== 'igelu') bad.push(`${l.name} (gelu igelu)`);
  }
  if (bad.length === 0) return null;
  return `${archName}'s special-function unit computes softmax ${sfu.softmax}, layerNorm ${sfu.layerNorm}, gelu ${sfu.gelu}; layers quantized for another algorithm: ${bad.join(', ')}`;
}

/** Whether a linear layer of `net` has more than one weight scale (per-channel requant). */
export function hasPerChannelWeights(net: QuantizedNetwork): boolean {
  return net.layers.some((l) => (l.kind === 'conv' || l.kind === 'gemm') && l.weight.q.scale.length > 1);
}

/** Throws UsageError when weights quantized per channel (`perChannel`) need a requant unit `spec` does not have. */
export function checkPerChannelSupport(spec: ArchSpec, perChannel: boolean): void {
  const problem = perChannelProblem(spec.name, spec, perChannel);
  if (problem !== null) throw new UsageError(`${problem}: quantize the weights per tensor (e.g. the w8a8-pt preset) or use an arch with requant.perChannel true`);
}

/** Throws UsageError when `net` needs a requant unit `spec` does not have (per-channel weights or clamp bounds). */
export function checkRequantSupport(spec: ArchSpec, net: QuantizedNetwork): void {
  const fmt = operandFormatProblem(spec.name, spec, networkOperandFormat(net), networkAccFormat(net));
  if (fmt !== null) throw new UsageError(`${fmt}: quantize with a preset of the arch's format or use an arch whose operands.format / accumulator.format are the network's`);
  checkPerChannelSupport(spec, hasPerChannelWeights(net));
  const clamp = perChannelClampProblem(spec.name, spec, hasPerChannelClamp(net));
  if (clamp !== null) throw new UsageError(`${clamp}: quantize with cleRelu6 replace or skip (--cle-relu6) or use an arch with requant.perChannelClamp true`);
  const sfu = sfuProblem(spec.name, spec, net);
  if (sfu !== null) throw new UsageError(`${sfu}: quantize for the arch's algorithms or use an arch whose sfu has them`);
}
