/**
 * Per-group integers (INT8 / INT4 weights with one float32 scale per group of g consecutive
 * elements along the reduction axis, g = 32 / 64 / 128 in the presets): ONNX QuantizeLinear /
 * DequantizeLinear semantics (qmath.ts — divide in float32, clamp, round half to even, add the zero
 * point; dequantize float32((q − z)·s)) applied per group, the same arithmetic onnxruntime's blocked
 * QuantizeLinear (opset 21 `block_size`) computes. Symmetric groups have z = 0; asymmetric ones one
 * integer zero point per group.
 *
 * Layout as in mx.ts: [outer, k, inner], groups along k (the last one shorter when g ∤ k),
 * scales and zero points [outer, ⌈k/g⌉, inner].
 */
import { invariant } from '../../nets/errors.js';
import { qRange, quantizeValue } from '../qmath.js';
import { blockCount, type BlockLayout } from './mx.js';

export interface GroupFormat {
  readonly name: string;
  readonly bits: number;
  readonly signed: boolean;
  /** restricted range ±(2^(b−1) − 1) (symmetric weights) */
  readonly narrow: boolean;
  readonly groupSize: number;
  /** one zero point per group (else z = 0) */
  readonly asymmetric: boolean;
  /** bits of each group's scale (float32) and zero point in storage */
  readonly scaleBits: number;
}

export interface GroupParams {
  /** [outer, ⌈k/g⌉, inner] */
  readonly scale: Float32Array;
  /** same layout; null = all zero (symmetric) */
  readonly zeroPoint: Int32Array | null;
}

function checkParams(f: GroupFormat, p: GroupParams, layout: BlockLayout, n: number, what: string): number {
  invariant(Number.isInteger(f.groupSize) && f.groupSize >= 1, `${what}: group size ${f.groupSize}`);
  invariant(layout.outer * layout.k * layout.inner === n, `${what}: ${n} elements for layout [${layout.outer}, ${layout.k}, ${layout.inner}]`);
  const groups = layout.outer * blockCount(layout.k, f.groupSize) * layout.inner;
  invariant(p.scale.length === groups, `${what}: ${p.scale.length} scales for ${groups} groups`);
  invariant(p.zeroPoint === null || p.zeroPoint.length === groups, `${what}: ${p.zeroPoint?.length} zero points for ${groups} groups`);
  invariant(f.asymmetric || p.zeroPoint === null || p.zeroPoint.every((z) => z === 0), `${what}: symmetric groups with nonzero zero points`);
  return groups;
}

/**
 * Calls run(row, base) for every run of `inner` elements sharing one k index: base is the run's
 * first element, row the first of its groups' parameters (element base + i uses row + i).
 */
function forEachRun(f: GroupFormat, layout: BlockLayout, run: (row: number, base: number) => void): void {
  const { outer, k, inner } = layout;
  const g = f.groupSize;
  const ng = blockCount(k, g);
  for (let o = 0; o < outer; o++) for (let kk = 0; kk < k; kk++) run((o * ng + Math.floor(kk / g)) * inner, (o * k + kk) * inner);
}

/** Codes q = clamp(round(x / s) + z) per group. */
export function quantizeGroups(f: GroupFormat, x: Float32Array, layout: BlockLayout, p: GroupParams, out?: Int32Array): Int32Array {
  checkParams(f, p, layout, x.length, `quantizeGroups(${f.name})`);
  const { qmin, qmax } = qRange(f);
  const y = out ?? new Int32Array(x.length);
  const { scale, zeroPoint } = p;
  const inner = layout.inner;
  forEachRun(f, layout, (row, base) => {
    for (let i = 0; i < inner; i++) y[base + i] = quantizeValue(x[base + i], scale[row + i], zeroPoint === null ? 0 : zeroPoint[row + i], qmin, qmax);
  });
  return y;
}

/** float32((q − z) · s) per group. */
export function dequantizeGroups(f: GroupFormat, q: Int32Array, layout: BlockLayout, p: GroupParams, out?: Float32Array): Float32Array {
  checkParams(f, p, layout, q.length, `dequantizeGroups(${f.name})`);
  const y = out ?? new Float32Array(q.length);
  const { scale, zeroPoint } = p;
  const inner = layout.inner;
  forEachRun(f, layout, (row, base) => {
    for (let i = 0; i < inner; i++) y[base + i] = Math.fround(q[base + i] - (zeroPoint === null ? 0 : zeroPoint[row + i])) * scale[row + i];
  });
  return y;
}

/**
 * Min-max group parameters (the starting point PTQ refines, e.g. by an MSE search): symmetric
 * s = max|x| / qmax; asymmetric s = (max(x,0) − min(x,0)) / (qmax − qmin), z = qmin − round(min/s).
 * An all-zero group gets s = 1 (any scale represents it exactly).
 */
export function minMaxGroupParams(f: GroupFormat, x: Float32Array, layout: BlockLayout): GroupParams {
  const { outer, k, inner } = layout;
  invariant(outer * k * inner === x.length, `minMaxGroupParams(${f.name}): ${x.length} elements for layout [${outer}, ${k}, ${inner}]`);
  const { qmin, qmax } = qRange(f);
  const g = f.groupSize;
  const ng = blockCount(k, g);
  const scale = new Float32Array(outer * ng * inner);
  const zp = f.asymmetric ? new Int32Array(scale.length) : null;
  for (let o = 0; o < outer; o++) {
    for (let b = 0; b < ng; b++) {
      for (let i = 0; i < inner; i++) {
        let lo = 0;
        let hi = 0;
        for (let kk = b * g; kk < Math.min(k, (b + 1) * g); kk++) {
          const v = x[(o * k + kk) * inner + i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const at = (o * ng + b) * inner + i;
        if (zp === null) {
          const m = Math.max(-lo, hi);
          scale[at] = m > 0 ? m / qmax : 1;
        } else {
          const s = hi > lo ? Math.fround((hi - lo) / (qmax - qmin)) : 1;
          scale[at] = s;
          zp[at] = Math.min(qmax, Math.max(qmin, qmin - Math.round(lo / s)));
        }
      }
    }
  }
  return { scale, zeroPoint: zp };
}

const group = (bits: number, g: number, asymmetric: boolean): GroupFormat => ({
  name: `int${bits}-g${g}${asymmetric ? '-asym' : ''}`,
  bits,
  signed: !asymmetric,
  narrow: false,
  groupSize: g,
  asymmetric,
  scaleBits: 32,
});

/** INT8 / INT4 × groups of 32 / 64 / 128 × symmetric (signed, z = 0) / asymmetric (unsigned, z per group). */
export const GROUP_FORMATS: readonly GroupFormat[] = [8, 4].flatMap((bits) => [32, 64, 128].flatMap((g) => [group(bits, g, false), group(bits, g, true)]));

export function groupFormat(bits: number, groupSize: number, asymmetric: boolean): GroupFormat {
  return group(bits, groupSize, asymmetric);
}
