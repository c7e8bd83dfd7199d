/**
 * Zero operands of a linear layer on real data: how many of its multiplications have a zero
 * activation, a zero weight, or either — what a zero-gating PE saves (a multiply and an add that
 * do not toggle) and what a zero-skipping design could skip. "Zero" is the real value 0: the code
 * equal to the tensor's zero point (per output channel for weights); padding is zero.
 *
 * Counted without visiting the MACs: per group g and patch index k, S = the output positions whose
 * operand at k is zero and W = the group's output channels whose weight at k is zero; the N·P
 * multiplications at (g, k) (N channels, P positions) then have S·N zero activations, W·P zero
 * weights and S·W both — O(P·K) per group, one N-th of the layer's MACs.
 */
import type { Geometry } from './geometry.js';

export interface ZeroCounts {
  /** multiplications in the layer (all positions of the batch) */
  macs: number;
  /** … with a zero activation operand (padding included) */
  zeroActMacs: number;
  /** … with a zero weight */
  zeroWeightMacs: number;
  /** … with either (a zero-operand gating PE idles on these) */
  zeroOperandMacs: number;
}

/**
 * Zero counts of a conv / gemm with `geo`'s addressing over the operand input `x` (padded, as the
 * PEs see it: `zero` is the value that means 0 there — z_x in raw form, 0 after z_x is
 * subtracted) and weights `w` ([nOut][k] in ONNX layout, read through geo.wIndexOf) with zero
 * points `zw` (one, or one per output channel).
 */
export function zeroCounts(geo: Geometry, x: ArrayLike<number>, zero: number, w: ArrayLike<number>, zw: ArrayLike<number>): ZeroCounts {
  const { posBase, positions: P, group, k: K } = geo;
  const N = geo.nOut / group;
  let zeroAct = 0;
  let zeroW = 0;
  let both = 0;
  for (let g = 0; g < group; g++) {
    const gOff = g * geo.groupXStride;
    for (let kk = 0; kk < K; kk++) {
      const off = gOff + geo.offOf(kk);
      let s = 0;
      for (let p = 0; p < P; p++) if (x[posBase[p] + off] === zero) s++;
      const wi = geo.wIndexOf(kk);
      let wz = 0;
      for (let o = g * N; o < (g + 1) * N; o++) if (w[o * K + wi] === zw[zw.length === 1 ? 0 : o]) wz++;
      zeroAct += s * N;
      zeroW += wz * P;
      both += s * wz;
    }
  }
  return { macs: group * K * N * P, zeroActMacs: zeroAct, zeroWeightMacs: zeroW, zeroOperandMacs: zeroAct + zeroW - both };
}

/** Elements of `codes` equal to the zero point (per channel of `axisLen` along axis 0 when zp has several). */
export function zeroElements(codes: ArrayLike<number>, zp: ArrayLike<number>): number {
  let n = 0;
  if (zp.length === 1) {
    const z = zp[0];
    for (let i = 0; i < codes.length; i++) if (codes[i] === z) n++;
    return n;
  }
  const per = codes.length / zp.length;
  for (let c = 0; c < zp.length; c++) {
    const z = zp[c];
    for (let i = c * per; i < (c + 1) * per; i++) if (codes[i] === z) n++;
  }
  return n;
}
