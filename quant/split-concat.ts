/**
 * Activations quantized per channel group (qnet/split.ts has the integer contract), decided after
 * calibration:
 *  - `splitConcats`: split quantization of concatenations (Q-Diffusion §4.2): a channel Concat
 *    whose every reader is a conv (group 1) keeps each input's own quantization (the range its
 *    producer was calibrated to) instead of one scale for the whole concat output;
 *  - `unfoldPostLn`: per-channel post-LayerNorm quantizers left unfolded (what RepQ-ViT avoids).
 */
import type { QParams } from '../qnet/network.js';
import { splitParams } from '../qnet/split.js';
import { resolveTied, type LinearStep, type OpStep, type QuantPlan } from './build.js';
import type { CalibData } from './calibrate.js';
import type { PtqConfig, TensorQuantConfig } from './config.js';
import { channelQuantizers, probeTensors } from './repq.js';

export interface SplitConcatDecision {
  readonly concat: string;
  readonly output: string;
  /** split: its output now carries one (scale, zero point) per input */
  readonly split: boolean;
  /** why not, when not */
  readonly reason?: string;
  /** per input: channels, scale, zero point */
  readonly parts: readonly { readonly input: string; readonly channels: number; readonly scale: number; readonly zeroPoint: number }[];
}

/**
 * Sets the split quantization of every eligible concat output in `qOf` (in place) and says what
 * it did with each concat; `only` limits it to the named Concat nodes.
 */
export function splitConcats(plan: QuantPlan, qOf: Map<string, QParams>, shapes: ReadonlyMap<string, readonly number[]>, only?: readonly string[]): SplitConcatDecision[] {
  const readers = new Map<string, (LinearStep | OpStep)[]>();
  for (const s of plan.steps) {
    const ins = s.kind === 'linear' ? [s.input] : s.kind === 'float' ? s.node.inputs : s.inputs;
    for (const t of ins) if (t) readers.set(t, [...(readers.get(t) ?? []), s]);
  }
  const outputs = new Set(plan.graph.outputs.map((o) => o.name));
  const out: SplitConcatDecision[] = [];
  for (const s of plan.steps) {
    if (s.kind !== 'concat' || (only && !only.includes(s.name))) continue;
    const shape = shapes.get(s.output) ?? [];
    const axisAttr = s.node.attrs.axis;
    const axis0 = typeof axisAttr === 'number' ? axisAttr : 1;
    const axis = axis0 < 0 ? axis0 + shape.length : axis0;
    const parts = s.inputs.map((t) => {
      const q = qOf.get(t)!;
      return { input: t, channels: shapes.get(t)?.[1] ?? 0, scale: q.scale[0], zeroPoint: q.zeroPoint[0], q };
    });
    const decide = (reason?: string) => out.push({ concat: s.name, output: s.output, split: reason === undefined, ...(reason !== undefined && { reason }), parts: parts.map(({ q: _q, ...p }) => p) });
    const rs = readers.get(s.output) ?? [];
    if (shape.length !== 4 || axis !== 1) decide(`concatenates along axis ${axis} of a rank-${shape.length} tensor (split quantization: the channels of NCHW)`);
    else if (outputs.has(s.output)) decide('its output is a graph output');
    else if (rs.length === 0) decide('nothing reads it');
    else if (rs.some((r) => r.kind !== 'linear' || r.op !== 'conv' || r.group !== 1)) {
      const r = rs.find((x) => x.kind !== 'linear' || x.op !== 'conv' || x.group !== 1)!;
      decide(`'${r.name}' (${r.kind === 'linear' ? `${r.op}${r.group !== 1 ? `, group ${r.group}` : ''}` : r.kind}) reads it: only convs with group 1 take per-group input scales`);
    } else if (parts.some((p) => p.q.scale.length !== 1)) decide('an input is itself quantized per channel');
    else if (parts.some((p) => p.q.bits !== parts[0].q.bits || p.q.signed !== parts[0].q.signed || p.q.narrow !== parts[0].q.narrow)) decide('its inputs differ in bits or signedness');
    else if (parts.every((p) => p.scale === parts[0].scale && p.zeroPoint === parts[0].zeroPoint)) decide('its inputs already share one scale and zero point');
    else {
      qOf.set(s.output, splitParams(parts.map((p) => ({ q: p.q, channels: p.channels }))));
      decide();
    }
  }
  return out;
}

export interface UnfoldedPostLn {
  readonly layerNorm: string;
  readonly tensor: string;
  /** per channel: one (scale, zero point) each */
  readonly unfolded: boolean;
  readonly reason?: string;
}

/**
 * The unfolded per-channel post-LayerNorm quantizer — what RepQ-ViT's reparameterization avoids,
 * kept to price it: each integer LayerNorm output read only by gemms gets a min-max quantizer per
 * channel of its last axis (RepQ-ViT's calibration, not folded), set in `acts` in place; its
 * readers then run as split-input gemms (qnet/split.ts: every channel its own group).
 */
export function unfoldPostLn(plan: QuantPlan, calib: CalibData, shapes: ReadonlyMap<string, readonly number[]>, acts: Map<string, QParams>, acfg: (t: string) => TensorQuantConfig, maxImages = 256): UnfoldedPostLn[] {
  const out: UnfoldedPostLn[] = [];
  const todo: OpStep[] = [];
  for (const s of plan.steps) {
    if (s.kind !== 'layernorm') continue;
    const rs = plan.steps.filter((r) => (r.kind === 'linear' ? [r.input] : r.kind === 'float' ? r.node.inputs : r.inputs).includes(s.output));
    const bad = rs.find((r) => r.kind !== 'linear' || r.op !== 'gemm');
    if (bad || rs.length === 0) out.push({ layerNorm: s.name, tensor: s.output, unfolded: false, reason: bad ? `'${bad.name}' (${bad.kind === 'linear' ? bad.op : bad.kind}) reads it: only gemms take per-channel input scales` : 'nothing reads it' });
    else todo.push(s);
  }
  if (todo.length === 0) return out;
  const probes = probeTensors(plan.graph, calib, todo.map((s) => s.output), maxImages);
  for (const s of todo) {
    const d = probes.get(s.output)!;
    const shape = shapes.get(s.output) ?? [];
    const C = shape[shape.length - 1] ?? 0;
    const min = new Float64Array(C).fill(Infinity);
    const max = new Float64Array(C).fill(-Infinity);
    for (let i = 0; i < d.length; i++) {
      const c = i % C;
      if (d[i] < min[c]) min[c] = d[i];
      if (d[i] > max[c]) max[c] = d[i];
    }
    const a = acfg(s.output);
    const { scale, zeroPoint } = channelQuantizers(min, max, a);
    out.push({ layerNorm: s.name, tensor: s.output, unfolded: true });
    acts.set(s.output, { scale, zeroPoint, axis: shape.length - 1, bits: a.bits, signed: a.signed, narrow: false });
  }
  return out;
}

/**
 * The config's channel-group choices applied to the activation quantizers after every range is
 * set: split concat outputs take their inputs' own (tied-resolved) quantization, unfolded post-LN
 * tensors their per-channel one; `acts` itself is left as it was.
 */
export function applyChannelGroups(
  plan: QuantPlan,
  acts: ReadonlyMap<string, QParams>,
  shapes: ReadonlyMap<string, readonly number[]>,
  calib: CalibData,
  cfg: PtqConfig,
  acfg: (t: string) => TensorQuantConfig,
): { acts: ReadonlyMap<string, QParams>; splitConcat?: SplitConcatDecision[]; postLn?: UnfoldedPostLn[] } {
  if (!cfg.splitConcat && !cfg.postLnPerChannel) return { acts };
  const own = new Map(acts);
  let splitConcat: SplitConcatDecision[] | undefined;
  if (cfg.splitConcat) {
    const resolved = resolveTied(plan, acts);
    splitConcat = splitConcats(plan, resolved, shapes);
    for (const d of splitConcat) if (d.split) own.set(d.output, resolved.get(d.output)!);
  }
  const postLn = cfg.postLnPerChannel ? unfoldPostLn(plan, calib, shapes, own, acfg) : undefined;
  return { acts: own, ...(splitConcat && { splitConcat }), ...(postLn && { postLn }) };
}
