/**
 * What one MAC of a PE array on a number format (`operands.format`, `accumulator.format`) is built
 * of — the units priced per MAC by the energy table (sim/engine/plan.ts) and per PE by the area
 * model (area.ts), from one list so energy and area cannot disagree. Integer PEs (`int`) keep
 * their multiplier at the operand widths and adder at `psumBits` (not listed here).
 *
 * Scaling rules (45 nm; sources in energy.ts HOROWITZ_45NM and area.ts):
 * - FP16 / BF16: Horowitz's FP16 multiplier (BF16 priced as FP16: no BF16 quote; its 8-bit
 *   significand makes this an upper bound) and an FP adder at the accumulator width (FP32 0.9 pJ,
 *   FP16 0.4 pJ).
 * - FP8 (E4M3, E5M2): one `mac` entry, van Baalen et al. 2023 ("FP8 versus INT8 for efficient
 *   deep learning inference", arXiv 2303.17951): FP8 MACs are 50–180 % less efficient than an
 *   INT8 MAC with an INT32 accumulator (Horowitz: 0.2 pJ multiply + 0.1 pJ 32-bit add; 282 + 137
 *   µm²). We take the low end, 1.5×, for an FP16/BF16 accumulator and the high end, 2.8×, for
 *   FP32 (our reading: the accumulator's width is what moves their range) — energy and area alike.
 * - MX (Rouhani et al. 2023, "Microscaling data formats for deep learning", arXiv 2310.10537; MX
 *   v1.0 §6.2): per element an integer multiplier of the significands (hidden bit included: E4M3 4,
 *   E5M2 3, E3M2 3, E2M3 4, E2M1 2, INT8 8 bits) and an exact fixed-point adder of the block sum
 *   (2·significand + 2·exponent span of the element format + log2 32 bits: MXINT8 21, MXFP8 E4M3
 *   47, MXFP4 15); per block of 32 (so 1/32 per MAC) an 8-bit adder for the two E8M0 scales and
 *   one FP32 add of the scaled block sum into the accumulator. Alignment shifters are not priced.
 * - Per-group integer weights (`int-group`, groups of 32): the integer multiplier at the operand
 *   widths and the adder at `psumBits` of an integer PE, plus per group (1/32 per MAC) one FP32
 *   multiply (the group sum × s_x·s_w) and one FP32 add.
 */
import type { ArchSpec } from './spec.js';

export interface MacUnit {
  readonly component: 'multiplier' | 'adder' | 'fp-multiplier' | 'fp-adder' | 'mac';
  readonly action: string;
  /** width(s) it is priced at ([] for a fixed-cost `mac` entry) */
  readonly bits: number | readonly [number, number];
  /** instances per MAC (per-block units: 1/32, the share area.ts gives each PE) */
  readonly perMac: number;
  /**
   * a per-block unit: counted once per output and block of 32 along K, ⌈K/32⌉ per output (a dot
   * product of K = 24 still has one block), not MACs/32
   */
  readonly perBlock?: true;
  /** fixed-cost `mac` entries: the ratio to an INT8 MAC with an INT32 accumulator */
  readonly int8MacRatio?: number;
}

/** MX element significand bits (hidden bit included) and exponent span of the nonzero elements (max normal − min subnormal) */
const MX_ELEMENTS: Readonly<Record<string, { sig: number; span: number }>> = {
  'mxfp8-e4m3': { sig: 4, span: 8 - -9 },
  'mxfp8-e5m2': { sig: 3, span: 15 - -16 },
  'mxfp6-e3m2': { sig: 3, span: 4 - -4 },
  'mxfp6-e2m3': { sig: 4, span: 2 - -3 },
  'mxfp4-e2m1': { sig: 2, span: 2 - -1 },
  mxint8: { sig: 8, span: 0 },
};

export const MX_BLOCK = 32;
/** van Baalen et al. 2023: FP8 MAC cost over an INT8/INT32 MAC, by accumulator */
export const FP8_MAC_RATIO = { fp32: 2.8, fp16: 1.5 } as const;

/** The units of one MAC on `spec`'s operand format; null for integer PEs. */
export function formatMacUnits(spec: ArchSpec): MacUnit[] | null {
  const f = spec.operands.format ?? 'int';
  if (f === 'int') return null;
  const acc = spec.accumulator.format ?? 'fp32';
  const accBits = acc === 'fp32' ? 32 : 16;
  if (f === 'fp16' || f === 'bf16') {
    return [
      { component: 'fp-multiplier', action: 'mult', bits: [16, 16], perMac: 1 },
      { component: 'fp-adder', action: 'add', bits: accBits, perMac: 1 },
    ];
  }
  if (f === 'fp8-e4m3' || f === 'fp8-e5m2') {
    const wide = acc === 'fp32';
    return [{ component: 'mac', action: wide ? 'fp8-fp32acc' : 'fp8-fp16acc', bits: 8, perMac: 1, int8MacRatio: wide ? FP8_MAC_RATIO.fp32 : FP8_MAC_RATIO.fp16 }];
  }
  if (f === 'int-group') {
    return [
      { component: 'multiplier', action: 'mult', bits: [spec.pe.weightOperandBits, spec.pe.activationOperandBits], perMac: 1 },
      { component: 'adder', action: 'add', bits: spec.accumulator.psumBits, perMac: 1 },
      { component: 'fp-multiplier', action: 'mult', bits: [32, 32], perMac: 1 / MX_BLOCK, perBlock: true },
      { component: 'fp-adder', action: 'add', bits: 32, perMac: 1 / MX_BLOCK, perBlock: true },
    ];
  }
  const el = MX_ELEMENTS[f];
  return [
    { component: 'multiplier', action: 'mult', bits: [el.sig, el.sig], perMac: 1 },
    { component: 'adder', action: 'add', bits: 2 * el.sig + 2 * el.span + Math.log2(MX_BLOCK), perMac: 1 },
    { component: 'adder', action: 'add', bits: 8, perMac: 1 / MX_BLOCK, perBlock: true },
    { component: 'fp-adder', action: 'add', bits: 32, perMac: 1 / MX_BLOCK, perBlock: true },
  ];
}
