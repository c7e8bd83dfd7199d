/**
 * What the integer (non-MAC) ops of qops.ts and qops-pool.ts share: the tensor view they take and
 * the result they give, per-tensor parameter access, length checks, output buffers (an executor's
 * pool or new), and the fused activation after a requant.
 */
import { InvariantError } from '../nets/errors.js';
import type { QActivation, QParams } from '../qnet/network.js';
import { applyIgelu } from '../qnet/igelu.js';
import { applyLut } from '../qnet/lut.js';
import { clampCodes, type RequantConfig } from '../qnet/requant.js';

/** An integer tensor with its quantization (per-tensor for every op here). */
export interface QTensorView {
  readonly data: Int32Array;
  readonly shape: readonly number[];
  readonly q: QParams;
}

export interface QResult {
  readonly data: Int32Array;
  readonly shape: number[];
}

export const NONE: QActivation = { kind: 'none' };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function scalarParams(q: QParams, what: string): { s: number; z: number } {
  if (q.scale.length !== 1) throw new InvariantError(`${what}: per-tensor quantization expected, got ${q.scale.length} scales`);
  return { s: q.scale[0], z: q.zeroPoint[0] };
}

export function checkLen(t: { data: Int32Array; shape: readonly number[] }, what: string): void {
  if (t.data.length !== numel(t.shape)) throw new InvariantError(`${what}: ${t.data.length} values for shape [${t.shape.join(',')}]`);
}

/** An op's output buffer: `out`, or from the allocator `out` (the executor's pool: n elements, all written), or new. */
export function outBuf(n: number, out: Int32Array | ((n: number) => Int32Array) | undefined, what: string): Int32Array {
  if (!out) return new Int32Array(n);
  if (typeof out === 'function') return out(n);
  if (out.length !== n) throw new InvariantError(`${what}: output buffer has ${out.length} elements, needs ${n}`);
  return out;
}

/** Applies a clamp or LUT activation in place (codes are in `requantTarget` quantization; clamp bounds per channel along axis 1 of `shape` when given so). */
export function applyActivation(y: Int32Array, shape: readonly number[], act: QActivation, cfg: RequantConfig): void {
  if (act.kind === 'clamp') {
    clampCodes(y, shape, act);
  } else if (act.kind === 'lut') {
    applyLut(y, act, y);
  } else if (act.kind === 'igelu') applyIgelu(y, act, cfg.multiplierBits, cfg.rounding, y);
}
