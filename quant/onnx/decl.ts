/** Quantization parameters as one layer states them for one tensor, and how they compare and read. */
import type { Tensor } from '../../nets/graph.js';
import type { QParams } from '../../qnet/network.js';
import type { IntDType } from './common.js';

/** Quantization parameters one layer states for one tensor. scale undefined: not stated (ConvInteger). */
export interface Decl {
  scale?: Float32Array;
  zp: Int32Array;
  axis: number;
  dtype: IntDType;
  by: string;
}

export function sameF32(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
export function sameI32(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
export function perTensor(d: Decl): boolean {
  return d.zp.length === 1 && (!d.scale || d.scale.length === 1);
}
export function sameDecl(a: Decl, b: Decl): boolean {
  return a.dtype === b.dtype && a.axis === b.axis && sameI32(a.zp, b.zp) && !!a.scale && !!b.scale && sameF32(a.scale, b.scale);
}
export function fmtDecl(d: Decl): string {
  const s = d.scale ? `scale ${d.scale.length === 1 ? d.scale[0] : `[${Array.from(d.scale).join(',')}]`}` : 'no scale';
  return `${d.dtype}, ${s}, zero point ${d.zp.length === 1 ? d.zp[0] : `[${Array.from(d.zp).join(',')}]`}`;
}

export function qparamsOf(d: Decl): QParams {
  const bits = d.dtype === 'int32' ? 32 : 8;
  const n = Math.max(d.scale?.length ?? 1, d.zp.length);
  const scale = d.scale ? (d.scale.length === n ? d.scale : new Float32Array(n).fill(d.scale[0])) : new Float32Array(n).fill(1);
  const zeroPoint = d.zp.length === n ? d.zp : new Int32Array(n).fill(d.zp[0]);
  return { scale, zeroPoint, axis: n > 1 ? d.axis : -1, bits, signed: d.dtype !== 'uint8', narrow: false };
}

export function toI32(t: Tensor): Int32Array {
  if (t.data instanceof BigInt64Array) return Int32Array.from(t.data, (v) => Number(v));
  if (t.data instanceof Int32Array) return Int32Array.from(t.data);
  return Int32Array.from(t.data as ArrayLike<number>);
}
