/**
 * Range setting (white paper §3.4 / §4.3): the real range a quantizer covers.
 *
 * Weights (exact data, so errors are measured on the real quantization grid):
 * - min-max per tensor or per output channel;
 * - MSE: a dense candidate search — N = 200 clipping candidates per end (α·max, α = k/N; both ends
 *   scaled together for a symmetric grid, each end by coordinate descent for an asymmetric one),
 *   each quantized with the layer's actual config (bits, symmetric, narrow, pow2) and scored by
 *   the sum of squared errors of every weight (per channel or per tensor).
 *
 * Activations (from calibration statistics, calibrate.ts):
 * - min-max of everything seen;
 * - MSE on the histogram: the same candidate search, scored by the expected error of each bin — clipping
 *   error (x − clip)² for bins outside the range, the uniform rounding noise s²/12 inside;
 * - percentile: the p-th and (100−p)-th percentiles of the histogram (linear within a bin);
 * - BN-based: β ± 6γ of the folded batch norm before this tensor, clipped by a fused ReLU/ReLU6;
 * - cross-entropy (logits): the clipping range of the calibration logits minimizing the mean
 *   cross-entropy between the FP32 softmax and the softmax of the fake-quantized logits.
 */
import { SseTensor } from './sse-wasm.js';
import { InvariantError } from '../nets/errors.js';
import { qRange } from '../qnet/qmath.js';
import type { TensorQuantConfig } from './config.js';
import { fakeQuantize, quantErrorSse, scaleZeroFromRange } from './quantizer.js';
import type { FoldedBn } from './bnfold.js';

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface ChannelRanges {
  readonly min: Float64Array;
  readonly max: Float64Array;
}

/** Default number of clipping candidates of the MSE / CE searches. */
export const RANGE_CANDIDATES = 200;

/** Number of leading-axis channels and elements per channel of a weight. */
function channelsOf(shape: readonly number[], perChannel: boolean, n: number): { ch: number; per: number } {
  const ch = perChannel ? shape[0] : 1;
  if (!(ch >= 1) || n % ch !== 0) throw new InvariantError(`weight of shape [${shape.join(',')}] has ${n} elements`);
  return { ch, per: n / ch };
}

/** Min and max per output channel (axis 0) or of the whole tensor. */
export function weightRangeMinMax(w: Float32Array, shape: readonly number[], perChannel: boolean): ChannelRanges {
  const { ch, per } = channelsOf(shape, perChannel, w.length);
  const min = new Float64Array(ch);
  const max = new Float64Array(ch);
  for (let c = 0; c < ch; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = c * per, end = i + per; i < end; i++) {
      const v = w[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    min[c] = per > 0 ? lo : 0;
    max[c] = per > 0 ? hi : 0;
  }
  return { min, max };
}

/**
 * The clipping range [lo, hi] ⊆ [min, max] minimizing `err`: symmetric grids search one factor α
 * over both ends (α = k/N, k = N…1); asymmetric grids search the two ends by coordinate descent
 * (the top end with the bottom fixed, then the bottom, twice), since a one-sided outlier should
 * not shrink the other end. Ties keep the wider range: no clipping unless it pays.
 */
function searchClip(min: number, max: number, symmetric: boolean, candidates: number, err: (lo: number, hi: number) => number): Range {
  if (symmetric) {
    let best = Infinity;
    let bestK = candidates;
    for (let k = candidates; k >= 1; k--) {
      const e = err((min * k) / candidates, (max * k) / candidates);
      if (e < best) {
        best = e;
        bestK = k;
      }
    }
    return { min: (min * bestK) / candidates, max: (max * bestK) / candidates };
  }
  let lo = min;
  let hi = max;
  for (let round = 0; round < 2; round++) {
    if (max > 0) {
      let best = Infinity;
      let bestHi = hi;
      for (let k = candidates; k >= 1; k--) {
        const h = (max * k) / candidates;
        if (h < lo) break;
        const e = err(lo, h);
        if (e < best) {
          best = e;
          bestHi = h;
        }
      }
      hi = bestHi;
    }
    if (min < 0) {
      let best = Infinity;
      let bestLo = lo;
      for (let k = candidates; k >= 1; k--) {
        const l = (min * k) / candidates;
        if (l > hi) break;
        const e = err(l, hi);
        if (e < best) {
          best = e;
          bestLo = l;
        }
      }
      lo = bestLo;
    }
  }
  return { min: lo, max: hi };
}

/**
 * MSE weight ranges: per channel (or tensor), the clipping range whose quantization on the real
 * grid gives the smallest squared error over the weights (`searchClip`).
 */
export function weightRangeMse(w: Float32Array, shape: readonly number[], cfg: TensorQuantConfig, candidates = RANGE_CANDIDATES): ChannelRanges {
  const mm = weightRangeMinMax(w, shape, cfg.perChannel);
  const ch = mm.min.length;
  const per = w.length / ch;
  const { qmin, qmax } = qRange(cfg);
  const min = new Float64Array(ch);
  const max = new Float64Array(ch);
  // the weights in WebAssembly once; its sum equals quantErrorSse's bit for bit
  const fast = SseTensor.of(w);
  for (let c = 0; c < ch; c++) {
    const r = searchClip(mm.min[c], mm.max[c], cfg.symmetric, candidates, (lo, hi) => {
      const sz = scaleZeroFromRange(lo, hi, cfg);
      return fast ? fast.sse(c * per, per, sz.scale, sz.zeroPoint, qmin, qmax) : quantErrorSse(w, c * per, per, sz.scale, sz.zeroPoint, qmin, qmax);
    });
    min[c] = r.min;
    max[c] = r.max;
  }
  return { min, max };
}

// ---------------------------------------------------------------------------------------------
// activation statistics

/**
 * A histogram whose range grows by doubling its bin width (pairs of bins merge exactly), so one
 * pass over the calibration data suffices. Bins cover [lo, lo + bins·width).
 */
export class Histogram {
  readonly counts: Float64Array;
  lo = 0;
  width = 0;
  min = Infinity;
  max = -Infinity;
  total = 0;

  constructor(readonly bins = 2048) {
    this.counts = new Float64Array(bins);
  }

  /** Adds values x[off … off+len). */
  add(x: ArrayLike<number>, off = 0, len = x.length - off): void {
    if (len <= 0) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = off, end = off + len; i < end; i++) {
      const v = x[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new InvariantError('histogram: non-finite activation value');
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
    this.cover(lo, hi);
    const counts = this.counts;
    const inv = 1 / this.width;
    const base = this.lo;
    const last = this.bins - 1;
    for (let i = off, end = off + len; i < end; i++) {
      let b = Math.floor((x[i] - base) * inv);
      if (b > last) b = last;
      if (b < 0) b = 0;
      counts[b]++;
    }
    this.total += len;
  }

  private cover(lo: number, hi: number): void {
    if (this.width === 0) {
      // first data: a little headroom so the next batch rarely forces a merge
      const span = Math.max(hi - lo, Math.abs(hi), Math.abs(lo), 1e-6);
      this.lo = lo - span * 0.05;
      this.width = (span * 1.1) / this.bins;
      return;
    }
    const n = this.bins;
    const c = this.counts;
    while (lo < this.lo || hi >= this.lo + n * this.width) {
      const growDown = lo < this.lo;
      // merge pairs into the upper half (growing down) or the lower half (growing up)
      const half = n >> 1;
      if (growDown) {
        for (let i = n - 1; i >= half; i--) c[i] = c[2 * i - n] + c[2 * i - n + 1];
        c.fill(0, 0, half);
        this.lo -= n * this.width;
      } else {
        for (let i = 0; i < half; i++) c[i] = c[2 * i] + c[2 * i + 1];
        c.fill(0, half);
      }
      this.width *= 2;
    }
  }
}

export function actRangeMinMax(h: Histogram): Range {
  return { min: h.min, max: h.max };
}

/** Value below which `p` percent of the histogram's mass lies (linear within a bin). */
function quantile(h: Histogram, p: number): number {
  const target = (p / 100) * h.total;
  let acc = 0;
  for (let b = 0; b < h.bins; b++) {
    const c = h.counts[b];
    if (acc + c >= target && c > 0) {
      const v = h.lo + (b + (target - acc) / c) * h.width;
      return Math.min(h.max, Math.max(h.min, v));
    }
    acc += c;
  }
  return h.max;
}

/** [the (100−p)-th percentile, the p-th percentile] (a one-sided tensor keeps its exact 0 end). */
export function actRangePercentile(h: Histogram, p: number): Range {
  if (!(p > 0 && p <= 100)) throw new InvariantError(`percentile must be in (0, 100], got ${p}`);
  const min = h.min >= 0 ? h.min : quantile(h, 100 - p);
  const max = h.max <= 0 ? h.max : quantile(h, p);
  return { min, max };
}

/**
 * MSE activation range: the clipping range (`searchClip`) minimizing the histogram's expected
 * squared error under `cfg`'s actual grid (scale and zero point as the quantizer would choose them).
 */
export function actRangeMse(h: Histogram, cfg: TensorQuantConfig, candidates = RANGE_CANDIDATES): Range {
  const { qmin, qmax } = qRange(cfg);
  const n = h.bins;
  return searchClip(h.min, h.max, cfg.symmetric, candidates, (lo, hi) => {
    const sz = scaleZeroFromRange(lo, hi, cfg);
    const s = sz.scale;
    const cLo = s * (qmin - sz.zeroPoint);
    const cHi = s * (qmax - sz.zeroPoint);
    const noise = (s * s) / 12;
    let e = 0;
    for (let b = 0; b < n; b++) {
      const cnt = h.counts[b];
      if (cnt === 0) continue;
      const x = h.lo + (b + 0.5) * h.width;
      if (x < cLo) e += cnt * (cLo - x) * (cLo - x);
      else if (x > cHi) e += cnt * (x - cHi) * (x - cHi);
      else e += cnt * noise;
    }
    return e;
  });
}

/**
 * BN-based range (white paper §4.3): β ± 6γ per channel of the folded batch norm, the tensor's
 * range being the hull over channels; a fused ReLU / ReLU6 clips it to [0, ·] / [0, 6].
 */
export function actRangeBn(bn: FoldedBn, act: 'none' | 'relu' | 'relu6'): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let c = 0; c < bn.beta.length; c++) {
    const g = Math.abs(bn.gamma[c]);
    min = Math.min(min, bn.beta[c] - 6 * g);
    max = Math.max(max, bn.beta[c] + 6 * g);
  }
  if (act !== 'none') {
    min = Math.max(0, min);
    max = Math.max(0, max);
  }
  if (act === 'relu6') {
    min = Math.min(min, 6);
    max = Math.min(max, 6);
  }
  return { min, max };
}

/** Mean over rows of −Σ p·log q with p = softmax(ref), q = softmax(x), rows of `classes`. */
export function meanCrossEntropy(ref: Float32Array, x: Float32Array, classes: number): number {
  return new CrossEntropyRef(ref, classes).mean(x);
}

/**
 * softmax(ref) computed once, for many `mean(x)` calls (the logits range search tries 800 clips:
 * on a 6,625-class CTC output the reference's exps were two thirds of its time); the same
 * operations in the same order as computing it inline, so the same bits.
 */
export class CrossEntropyRef {
  private readonly p: Float64Array;

  constructor(
    ref: Float32Array,
    private readonly classes: number,
  ) {
    this.p = new Float64Array(ref.length);
    for (let o = 0; o < ref.length; o += classes) {
      let mr = -Infinity;
      for (let j = 0; j < classes; j++) if (ref[o + j] > mr) mr = ref[o + j];
      let zr = 0;
      for (let j = 0; j < classes; j++) zr += Math.exp(ref[o + j] - mr);
      for (let j = 0; j < classes; j++) this.p[o + j] = Math.exp(ref[o + j] - mr) / zr;
    }
  }

  mean(x: Float32Array): number {
    const { classes, p } = this;
    const rows = p.length / classes;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * classes;
      let mx = -Infinity;
      for (let j = 0; j < classes; j++) if (x[o + j] > mx) mx = x[o + j];
      let zx = 0;
      for (let j = 0; j < classes; j++) zx += Math.exp(x[o + j] - mx);
      const lzx = Math.log(zx);
      let ce = 0;
      for (let j = 0; j < classes; j++) ce -= p[o + j] * (x[o + j] - mx - lzx);
      total += ce;
    }
    return rows > 0 ? total / rows : 0;
  }
}

/**
 * Cross-entropy range for the logits layer: among α·[min, max] (α = k/N), the range whose
 * fake-quantized logits give the smallest mean CE against the FP32 softmax.
 */
export function logitsRangeCe(logits: Float32Array, classes: number, cfg: TensorQuantConfig, candidates = RANGE_CANDIDATES): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] < min) min = logits[i];
    if (logits[i] > max) max = logits[i];
  }
  if (logits.length === 0) throw new InvariantError('logitsRangeCe: no calibration logits');
  const fq = new Float32Array(logits.length);
  const shape = [logits.length];
  const ce = new CrossEntropyRef(logits, classes);
  return searchClip(min, max, cfg.symmetric, candidates, (lo, hi) => {
    const sz = scaleZeroFromRange(lo, hi, cfg);
    fakeQuantize(logits, { scale: Float32Array.of(sz.scale), zeroPoint: Int32Array.of(sz.zeroPoint), axis: -1, bits: cfg.bits, signed: cfg.signed, narrow: cfg.narrow }, shape, fq);
    return ce.mean(fq);
  });
}
