/**
 * Fake quantization as tfjs operations with the straight-through estimator and LSQ's learned step
 * size (Esser et al., ICLR 2020), for quantization-aware training.
 *
 * What is trained is what runs: the forward value is qloom's own QuantizeLinear → DequantizeLinear
 * (qnet/qmath.ts `fakeQuantizeLinear`: float32 division, clamp to [qmin − z, qmax − z], round half
 * to even, float32 product) on the tensor's float32 data, so a trained network's fake-quant
 * forward sees exactly the values the exported integer network's quantizers produce.
 *
 * Gradients (v = x / s, lo = qmin − z, hi = qmax − z):
 * - ∂ŷ/∂x = 1 where lo ≤ v ≤ hi, else 0 (STE with the clipped range passing nothing);
 * - ∂ŷ/∂s = round(v) − v inside, lo below, hi above — LSQ's step-size gradient with a fixed
 *   integer zero point (LSQ+'s learned offset is not used: the zero point stays PTQ's);
 * - scaled by g = 1 / √(N · Q_P), N the elements sharing the scale (per sample for activations,
 *   per output channel for per-channel weights), Q_P = hi the number of positive levels.
 * The scale is used as float32 and never below `MIN_STEP` (a step driven to 0 or below would
 * make the quantizer undefined).
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { fakeQuantizeLinear, qRange, roundHalfEven } from '../../qnet/qmath.js';
import type { QParams } from '../../qnet/network.js';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

const MIN_STEP = 1e-8;

/** The integer grid of a quantizer: bits, signedness, narrow range, zero points per channel. */
export interface Grid {
  readonly bits: number;
  readonly signed: boolean;
  readonly narrow: boolean;
  /** one per scale */
  readonly zeroPoint: Int32Array;
}

/** Learned scales as the quantizer uses them: float32, never below MIN_STEP. */
function learnedScales(scale: ArrayLike<number>): Float32Array {
  const s = new Float32Array(scale.length);
  for (let i = 0; i < s.length; i++) s[i] = Math.max(MIN_STEP, Math.fround(scale[i]));
  return s;
}

/** The learned scales as QParams (float32, clamped to MIN_STEP), channel axis `axis` or per tensor. */
export function gridQParams(grid: Grid, scale: ArrayLike<number>, axis: number): QParams {
  const s = learnedScales(scale);
  return { scale: s, zeroPoint: grid.zeroPoint, axis: s.length > 1 ? axis : -1, bits: grid.bits, signed: grid.signed, narrow: grid.narrow };
}

/**
 * ŷ = fake-quantized x with learnable scale(s) `s` (shape [1] or [channels]): per tensor, or per
 * channel along axis 0 of x (OIHW / [N, K] weights). `lsqScale` is g; 0 freezes the scale.
 */
export function fakeQuant(tf: Tf, grid: Grid, x: T, s: T, lsqScale: number): T {
  const f = tf.customGrad(((xIn: T, sIn: T) => {
    const xd = xIn.dataSync() as Float32Array;
    const q = gridQParams(grid, sIn.dataSync() as Float32Array, 0);
    const shape = xIn.shape;
    const y = fakeQuantizeLinear(xd, q, q.scale.length > 1 ? shape : [xd.length]);
    const value = tf.tensor(y, shape, 'float32');
    const gradFunc = (dy: T): T[] => {
      const dyd = dy.dataSync() as Float32Array;
      const { qmin, qmax } = qRange(grid);
      const ch = q.scale.length;
      const inner = xd.length / ch;
      const dx = new Float32Array(xd.length);
      const ds = new Float32Array(ch);
      // per-tensor over a batch: every element shares the scale, in blocks of `inner`
      for (let c = 0, i = 0; c < ch; c++) {
        const sc = q.scale[c];
        const z = q.zeroPoint[c];
        const lo = qmin - z;
        const hi = qmax - z;
        let acc = 0;
        for (const end = i + inner; i < end; i++) {
          const v = Math.fround(xd[i] / sc);
          if (v < lo) acc += dyd[i] * lo;
          else if (v > hi) acc += dyd[i] * hi;
          else {
            dx[i] = dyd[i];
            acc += dyd[i] * (roundHalfEven(v) - v);
          }
        }
        ds[c] = acc * lsqScale;
      }
      return [tf.tensor(dx, shape, 'float32'), tf.tensor(ds, sIn.shape, 'float32')];
    };
    return { value, gradFunc };
  }) as unknown as Parameters<Tf["customGrad"]>[0]);
  return f(x, s);
}

/**
 * The bias as the integer network holds it, b_q = round(b / (s_x·s_w[c]))·s_x·s_w[c] (build.ts
 * `quantizeBias`: the int32 code at the accumulator's scale), with the straight-through gradient
 * to b; the scales get none from it (the bias grid is 2⁻³¹ of the accumulator range: its rounding
 * is noise next to the weights').
 */
export function fakeQuantBias(tf: Tf, b: T, sx: T, sw: T, quantizeBias: (bias: Float32Array, sx: number, sw: Float32Array) => Int32Array): T {
  const f = tf.customGrad(((bIn: T, sxIn: T, swIn: T) => {
    const sxv = Math.max(MIN_STEP, Math.fround((sxIn.dataSync() as Float32Array)[0]));
    const swd = learnedScales(swIn.dataSync() as Float32Array);
    const codes = quantizeBias(bIn.dataSync() as Float32Array, sxv, swd);
    const y = new Float32Array(codes.length);
    for (let c = 0; c < y.length; c++) y[c] = codes[c] * Math.fround(sxv * swd[swd.length === 1 ? 0 : c]);
    return { value: tf.tensor(y, bIn.shape, 'float32'), gradFunc: (dy: T): T[] => [tf.clone(dy), tf.zerosLike(sxIn), tf.zerosLike(swIn)] };
  }) as unknown as Parameters<Tf["customGrad"]>[0]);
  return f(b, sx, sw);
}

/** LSQ's gradient scale g = 1 / √(N · Q_P) for N elements per scale. */
export function lsqGradScale(grid: Grid, elementsPerScale: number): number {
  const { qmax } = qRange(grid);
  const qp = Math.max(1, qmax - Math.min(...grid.zeroPoint));
  return 1 / Math.sqrt(Math.max(1, elementsPerScale) * qp);
}
