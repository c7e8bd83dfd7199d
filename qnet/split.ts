/**
 * Split quantization of a concatenation (Q-Diffusion, Li et al. 2023 §4.2): the inputs of a
 * channel Concat keep their own scales and zero points, so the concat output is quantized per
 * channel group (QParams per channel along axis 1, constant within each input's channels) and the
 * conv that reads it sees one input scale per group.
 *
 * The same mechanism prices the unfolded per-channel post-LayerNorm quantizer RepQ-ViT avoids: a
 * gemm whose input has one (scale, zero point) per channel of K — K groups of one channel.
 *
 * The integer contract of such a conv (group = 1) or gemm, for input groups g = 0…G−1 with (s_g, z_g):
 *  - each group accumulates on its own, as a conv over that group's channels with zero point z_g
 *    (the layer's accumulator width, policy and order); the bias, quantized at s_r·s_w, is loaded
 *    into the reference group r only — the first group with the largest scale;
 *  - every other group's accumulators are rescaled to s_r by a fixed-point multiplier
 *    (m0_g, shift_g) = QuantizeMultiplier(s_g / s_r) (≤ 1; the run's multiplier bits and
 *    rounding, in both requant modes: no runtime has a float form of it) and added to the
 *    reference accumulators in group order, each add wrapped or saturated as the accumulator says;
 *  - the sum is requantized like any accumulator with s_x = s_r.
 * On hardware that is G−1 multiplies and adds per output on the requant unit and G−1 multipliers
 * as parameters — what the simulator prices.
 */
import { InvariantError } from '../nets/errors.js';
import type { QParams } from './network.js';
import { quantizeMultiplier, type RequantConfig } from './requant.js';

export interface ChannelGroup {
  /** first channel along axis 1 */
  readonly start: number;
  readonly count: number;
  readonly scale: number;
  readonly zeroPoint: number;
}

/**
 * whether an activation's quantization is split into channel groups: per channel along axis 1 of
 * NCHW (a split concat, read by convs) or along the last axis (an unfolded per-channel post-LN
 * quantizer, read by gemms — every channel its own group)
 */
export function isSplit(q: QParams): boolean {
  return q.scale.length > 1;
}

/** Runs of channels with equal (scale, zero point); one group for a per-tensor QParams. */
export function channelGroups(q: QParams): ChannelGroup[] {
  const n = q.scale.length;
  if (n === 1) return [{ start: 0, count: 0, scale: q.scale[0], zeroPoint: q.zeroPoint[0] }];
  const groups: ChannelGroup[] = [];
  let start = 0;
  for (let c = 1; c <= n; c++) {
    if (c === n || q.scale[c] !== q.scale[start] || q.zeroPoint[c] !== q.zeroPoint[start]) {
      groups.push({ start, count: c - start, scale: q.scale[start], zeroPoint: q.zeroPoint[start] });
      start = c;
    }
  }
  return groups;
}

/** index of the reference group: the first with the largest scale */
export function referenceGroup(groups: readonly ChannelGroup[]): number {
  let r = 0;
  for (let g = 1; g < groups.length; g++) if (groups[g].scale > groups[r].scale) r = g;
  return r;
}

/**
 * The scale a linear layer's accumulators carry on the input side: the tensor's scale, or for a
 * split input the reference group's (its bias and requant multipliers are built with it).
 */
export function linearInputScale(q: QParams): number {
  if (!isSplit(q)) return q.scale[0];
  const groups = channelGroups(q);
  return groups[referenceGroup(groups)].scale;
}

/** One QParams per channel along axis 1 from the parts' per-tensor QParams (a split concat output). */
export function splitParams(parts: readonly { readonly q: QParams; readonly channels: number }[]): QParams {
  if (parts.length === 0) throw new InvariantError('splitParams: no parts');
  const first = parts[0].q;
  const total = parts.reduce((s, p) => s + p.channels, 0);
  const scale = new Float32Array(total);
  const zeroPoint = new Int32Array(total);
  let c = 0;
  for (const p of parts) {
    if (p.q.scale.length !== 1) throw new InvariantError('splitParams: every part must be quantized per tensor');
    if (p.q.bits !== first.bits || p.q.signed !== first.signed || p.q.narrow !== first.narrow) throw new InvariantError('splitParams: the parts must share bits, signedness and range');
    scale.fill(p.q.scale[0], c, c + p.channels);
    zeroPoint.fill(p.q.zeroPoint[0], c, c + p.channels);
    c += p.channels;
  }
  return { scale, zeroPoint, axis: 1, bits: first.bits, signed: first.signed, narrow: first.narrow };
}

/** the fixed-point rescale of group g's accumulators to the reference scale (identity for r itself) */
export function groupRescale(groups: readonly ChannelGroup[], g: number, cfg: RequantConfig): { m0: number; shift: number } | null {
  const r = referenceGroup(groups);
  if (g === r) return null;
  return quantizeMultiplier(groups[g].scale / groups[r].scale, cfg.multiplierBits ?? 32, cfg.rounding ?? 'double');
}
