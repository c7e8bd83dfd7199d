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
import { convGeometry, fillOperands, gemmGeometry, operandLayout, type Geometry } from './geometry.js';

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

/** Streamed activation vectors of a layer on the array, and those a zero-skipping feeder drops. */
export interface ZeroVectors {
  /** vectors the array streams (all samples, every group; once per column fold — not multiplied here) */
  vectors: number;
  /** of them all zero */
  zeroVectors: number;
  /** multiplications of the all-zero vectors (each output channel of the group) */
  skippedMacs: number;
}

/**
 * All-zero streamed activation vectors (arch pe.zeroSkipping), with `geo` numbering K in the
 * array's order (sim/functional.ts timingOrder). WS: the array's rows hold a K-slice of `rows`
 * weights; each output position streams that slice of its operand row — a vector of ≤ rows
 * activations, dropped when all are zero. OS: each row of the array is one output position of a
 * block of `rows` positions of one sample; each K step streams one activation per row — dropped
 * when the whole block's are zero. Padding is zero.
 */
export function zeroVectors(geo: Geometry, x: ArrayLike<number>, zero: number, rows: number, dataflow: 'ws' | 'os', samples: number): ZeroVectors {
  const { posBase, positions: P, group, k: K } = geo;
  const N = geo.nOut / group;
  let vectors = 0;
  let zeroV = 0;
  let skipped = 0;
  for (let g = 0; g < group; g++) {
    const gOff = g * geo.groupXStride;
    if (dataflow === 'ws') {
      for (let k0 = 0; k0 < K; k0 += rows) {
        const k1 = Math.min(K, k0 + rows);
        for (let p = 0; p < P; p++) {
          const base = posBase[p] + gOff;
          let all = true;
          for (let kk = k0; kk < k1 && all; kk++) if (x[base + geo.offOf(kk)] !== zero) all = false;
          if (all) {
            zeroV++;
            skipped += (k1 - k0) * N;
          }
        }
        vectors += P;
      }
    } else {
      const per = P / samples;
      for (let s = 0; s < samples; s++) {
        for (let p0 = s * per; p0 < (s + 1) * per; p0 += rows) {
          const p1 = Math.min((s + 1) * per, p0 + rows);
          for (let kk = 0; kk < K; kk++) {
            const off = gOff + geo.offOf(kk);
            let all = true;
            for (let p = p0; p < p1 && all; p++) if (x[posBase[p] + off] !== zero) all = false;
            if (all) {
              zeroV++;
              skipped += (p1 - p0) * N;
            }
          }
          vectors += K;
        }
      }
    }
  }
  return { vectors, zeroVectors: zeroV, skippedMacs: skipped };
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

/** A linear layer's zero counts and its operands' zero elements (all samples of one run). */
export interface LinearZeroCounts extends ZeroCounts {
  readonly inputElements: number;
  readonly inputZeros: number;
  readonly weights: number;
  readonly weightZeros: number;
  /** with an array to skip on (zeroVectors): its streamed vectors, all samples */
  readonly vectors?: ZeroVectors;
}

/** Adds b into a (both over the same layer): counts of several batches. */
export function addZeroCounts(a: LinearZeroCounts | undefined, b: LinearZeroCounts): LinearZeroCounts {
  if (!a) return b;
  return {
    macs: a.macs + b.macs,
    zeroActMacs: a.zeroActMacs + b.zeroActMacs,
    zeroWeightMacs: a.zeroWeightMacs + b.zeroWeightMacs,
    zeroOperandMacs: a.zeroOperandMacs + b.zeroOperandMacs,
    inputElements: a.inputElements + b.inputElements,
    inputZeros: a.inputZeros + b.inputZeros,
    // the weights are the same tensor in every batch
    weights: b.weights,
    weightZeros: b.weightZeros,
    ...(a.vectors && b.vectors && { vectors: { vectors: a.vectors.vectors + b.vectors.vectors, zeroVectors: a.vectors.zeroVectors + b.vectors.zeroVectors, skippedMacs: a.vectors.skippedMacs + b.vectors.skippedMacs } }),
  };
}

/**
 * Zero counts of a conv (NCHW input, OIHW weights) or 2-D gemm ([.., K] input, [N, K] weights)
 * straight from the integer input: its padded operand input is built here (padding = z_x).
 */
export function linearZeroCounts(
  x: { readonly data: Int32Array; readonly shape: readonly number[] },
  zx: number,
  w: { readonly data: Int32Array; readonly shape: readonly number[]; readonly zp: ArrayLike<number> },
  conv?: { readonly strides: readonly [number, number]; readonly pads: readonly [number, number, number, number]; readonly dilations: readonly [number, number]; readonly group: number },
  skip?: { readonly rows: number; readonly dataflow: 'ws' | 'os' },
): LinearZeroCounts | string {
  let geo: Geometry;
  let ops: Float64Array | Int32Array = x.data;
  if (conv) {
    // K in the array's order (sim/functional.ts timingOrder: kernel position, then channel), which
    // the skipped vectors depend on (the zero MAC counts do not)
    const cg = convGeometry(x.shape, w.shape, conv.strides, conv.pads, conv.dilations, conv.group, 'kkc');
    if (typeof cg === 'string') return cg;
    geo = cg.geo;
    const [n, c, h, wd] = x.shape;
    const lay = operandLayout('raw', zx, -(2 ** 31), 2 ** 31 - 1, n * c, h, wd, conv.pads);
    const padded = new Float64Array(lay.length);
    fillOperands(padded, x.data, lay);
    ops = padded;
  } else {
    const k = w.shape[1];
    geo = gemmGeometry(x.data.length / k, k, w.shape[0]);
  }
  const z = zeroCounts(geo, ops, zx, w.data, w.zp);
  const samples = x.shape[0];
  return {
    ...z,
    inputElements: x.data.length,
    inputZeros: zeroElements(x.data, [zx]),
    weights: w.data.length,
    weightZeros: zeroElements(w.data, w.zp),
    ...(skip && { vectors: zeroVectors(geo, ops, zx, skip.rows, skip.dataflow, samples) }),
  };
}
