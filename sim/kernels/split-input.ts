/**
 * A conv or gemm whose input is quantized in channel groups (a split concat, an unfolded
 * per-channel post-LN quantizer; qnet/split.ts): one prepared conv / gemm per group over that
 * group's channels with its own zero point, the bias in the reference
 * group only, then the other groups' accumulators rescaled to the reference scale and added in
 * group order on the accumulator (qnet/split.ts states the contract). The merge's adds count as
 * accumulator adds: an add whose exact result leaves the P-bit range is an overflow event (step
 * T + g in `first`, after the groups' own steps).
 */
import { InvariantError } from '../../nets/errors.js';
import type { ChannelGroup } from '../../qnet/split.js';
import { FixedMultiplier, type RequantConfig } from '../../qnet/requant.js';
import { groupRescale, referenceGroup } from '../../qnet/split.js';
import { accRange, applyPolicy, policyCode, type OverflowReport } from './accumulator.js';
import { prepareConvInt, prepareGemmInt, type ConvIntSpec, type ConvIntResult, type GemmIntSpec, type PreparedConvInt, type PreparedGemmInt } from './linear.js';

export interface SplitConvArgs {
  readonly x: Int32Array;
  readonly xShape: readonly [number, number, number, number];
  readonly groups: readonly ChannelGroup[];
  /** the whole layer's spec; `zx` and `bias` are replaced per group, `w` / `wShape` sliced */
  readonly spec: Omit<ConvIntSpec, 'xShape' | 'zx'>;
  readonly requant: RequantConfig;
  /** the prepared conv of group g for an input shape (cached by the caller across runs) */
  readonly prepared: (g: number, xShape: readonly number[], make: () => PreparedConvInt) => PreparedConvInt;
}

export interface SplitConvResult {
  readonly acc: Float64Array;
  readonly outShape: number[];
  readonly overflow: OverflowReport;
}

/** [outer, C, inner] → its channels [c0, c0 + n): a group's weights (outer = O) or input (outer = N) */
function sliceChannels(data: Int32Array, outer: number, c: number, inner: number, c0: number, n: number): Int32Array {
  const out = new Int32Array(outer * n * inner);
  for (let i = 0; i < outer; i++) out.set(data.subarray((i * c + c0) * inner, (i * c + c0 + n) * inner), i * n * inner);
  return out;
}

export function splitConvAccumulate(a: SplitConvArgs): SplitConvResult {
  const { groups, spec, xShape } = a;
  if (spec.group !== 1) throw new InvariantError('a split input feeds convs with group = 1 only');
  checkCover(groups, xShape[1]);
  const r = referenceGroup(groups);
  const parts = groups.map((g, gi) => {
    const gShape = [xShape[0], g.count, xShape[2], xShape[3]] as const;
    const prep = a.prepared(gi, gShape, () =>
      prepareConvInt({
        ...spec,
        xShape: gShape,
        zx: g.zeroPoint,
        w: sliceChannels(spec.w, spec.wShape[0], spec.wShape[1], spec.wShape[2] * spec.wShape[3], g.start, g.count),
        wShape: [spec.wShape[0], g.count, spec.wShape[2], spec.wShape[3]],
        bias: gi === r ? spec.bias : null,
      }),
    );
    return prep.run(sliceChannels(a.x, xShape[0], xShape[1], xShape[2] * xShape[3], g.start, g.count));
  });
  const [, oc, oh, ow] = parts[r].outShape;
  return { ...mergeGroups(parts, groups, a.requant, spec.acc, oc, oh * ow), outShape: [...parts[r].outShape] };
}

export interface SplitGemmArgs {
  /** [m, k], the groups along k */
  readonly x: Int32Array;
  readonly m: number;
  readonly groups: readonly ChannelGroup[];
  /** the whole layer's spec (w: [nOut, k]); `zx`, `bias`, `k` and `w` are replaced per group */
  readonly spec: Omit<GemmIntSpec, 'zx'>;
  readonly requant: RequantConfig;
  readonly prepared: (g: number, make: () => PreparedGemmInt) => PreparedGemmInt;
}

export function splitGemmAccumulate(a: SplitGemmArgs): { acc: Float64Array; overflow: OverflowReport } {
  const { groups, spec, m } = a;
  const { k, nOut } = spec;
  checkCover(groups, k);
  const r = referenceGroup(groups);
  const parts = groups.map((g, gi) => {
    const prep = a.prepared(gi, () => prepareGemmInt({ ...spec, k: g.count, zx: g.zeroPoint, w: sliceChannels(spec.w, nOut, k, 1, g.start, g.count), bias: gi === r ? spec.bias : null }));
    return prep.run(sliceChannels(a.x, m, k, 1, g.start, g.count), m);
  });
  return mergeGroups(parts, groups, a.requant, spec.acc, nOut, 1);
}

function checkCover(groups: readonly ChannelGroup[], channels: number): void {
  const covered = groups.reduce((s, g) => s + g.count, 0);
  if (covered !== channels) throw new InvariantError(`split input: groups cover ${covered} of ${channels} channels`);
}

/**
 * The reference group's accumulators plus every other group's rescaled, in group order, each add
 * under the accumulator's width and policy. Layout [outer, channels, plane] (conv: plane = OH·OW;
 * gemm: [m, nOut], plane = 1).
 */
function mergeGroups(parts: readonly Pick<ConvIntResult, 'acc' | 'overflow'>[], groups: readonly ChannelGroup[], requant: RequantConfig, accSpec: ConvIntSpec['acc'], oc: number, plane: number): { acc: Float64Array; overflow: OverflowReport } {
  const r = referenceGroup(groups);
  const ref = parts[r];
  const acc = new Float64Array(ref.acc);
  const { bits, policy } = accSpec;
  const code = policyCode(policy);
  const { lo, hi } = accRange(bits);
  const perChannel = new Float64Array(oc);
  let events = 0;
  let first: OverflowReport['first'] = null;
  let maxAbs = ref.overflow.maxAbs;
  let steps = 0;
  groups.forEach((_, gi) => {
    if (gi === r) return;
    steps++;
    const m = groupRescale(groups, gi, requant)!;
    const fm = new FixedMultiplier(m.m0, m.shift, requant.rounding ?? 'double', requant.multiplierBits ?? 32);
    const part = parts[gi].acc;
    for (let i = 0; i < acc.length; i++) {
      const exact = acc[i] + fm.apply(part[i]);
      const ab = Math.abs(exact);
      if (ab > maxAbs) maxAbs = ab;
      if (exact < lo || exact > hi) {
        const c = Math.floor(i / plane) % oc;
        perChannel[c]++;
        events++;
        const position = Math.floor(i / (plane * oc)) * plane + (i % plane);
        const step = ref.overflow.tiles + 1 + steps;
        if (!first || c < first.channel || (c === first.channel && (position < first.position || (position === first.position && step < first.step)))) first = { channel: c, position, step };
      }
      acc[i] = applyPolicy(exact, code, bits);
    }
  });
  // the groups' own events (each group's steps numbered as its own layer numbers them)
  for (const p of parts) {
    events += p.overflow.events;
    for (let c = 0; c < oc; c++) perChannel[c] += p.overflow.perChannel[c];
    const f = p.overflow.first;
    if (f && (!first || f.channel < first.channel || (f.channel === first.channel && (f.position < first.position || (f.position === first.position && f.step <= first.step))))) first = f;
    maxAbs = Math.max(maxAbs, p.overflow.maxAbs);
  }
  const sum = (k: 'zwSumSteps' | 'xSumAdds' | 'psumEvents') => parts.reduce((s, p) => s + p.overflow[k], 0);
  return {
    acc,
    overflow: {
      events,
      perChannel,
      first,
      // the merge's adds are checked one by one, never proved
      proved: false,
      maxAbs,
      zwSumSteps: sum('zwSumSteps'),
      xSumAdds: sum('xSumAdds'),
      tiles: parts.reduce((s, p) => s + p.overflow.tiles, 0) + steps,
      psumEvents: sum('psumEvents'),
    },
  };
}
