/**
 * Bound analysis for integer accumulation: when can a layer be proved never to overflow a P-bit
 * accumulator, for any input in its quantized range? (DESIGN.md "Integer arithmetic contract")
 *
 * Three bounds, from coarse to fine:
 *  - `provablySafe`: DESIGN's per-layer bound K·max|q_w|·max|q_x| + |bias| < 2^(P−1);
 *  - `minSafeAccBits`: the smallest P for which no running sum of any channel can leave the range,
 *    from each channel's own weights (signed, ‖·‖₁-like) — data-independent, order-independent;
 *  - `a2qSafe`: A2Q's ‖q_w‖₁ ≤ (2^(P−1)−1)·2^(1_signed(x)−N), the constraint an
 *    accumulator-aware quantizer trains weights to satisfy.
 *
 * Weights are [nOut, K] row-major; a conv's OIHW weight is exactly that with K = (C/group)·kh·kw.
 * "Running sum" means every value the accumulator can hold in either PE form (accumulator.ts
 * PeForm), in any accumulation order: the bounds sum each product's worst case *separately per
 * sign*, so any prefix in any order stays inside them. Sums are exact while below 2^53.
 */
import { invariant } from '../../nets/errors.js';
import { intRange, type PeForm } from './accumulator.js';

export interface BoundsLayer {
  /** [nOut, K] row-major integer weights */
  readonly w: Int32Array;
  readonly nOut: number;
  /** weight zero points: length 1 (per tensor) or nOut */
  readonly zw: Int32Array;
  readonly bias: Int32Array | null;
  readonly zx: number;
  readonly xBits: number;
  readonly xSigned: boolean;
  readonly form: PeForm;
}

/** Per-channel range of every value the accumulator and an (exact) in-array partial sum can hold. */
export interface ChannelBounds {
  /** accumulator: bias load, every running sum, the final value */
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  /** any sum of a subset of one channel's products (no bias): bounds every in-array partial sum */
  readonly psumLo: Float64Array;
  readonly psumHi: Float64Array;
  /** largest |value| any of the above reaches, and |z_w·Σq_x| — what has to stay below 2^53 */
  readonly magnitude: number;
}

function checkLayer(l: BoundsLayer): number {
  invariant(l.nOut > 0 && l.w.length % l.nOut === 0, `weight length ${l.w.length} is not a multiple of nOut ${l.nOut}`);
  invariant(l.zw.length === 1 || l.zw.length === l.nOut, `zw has ${l.zw.length} entries for ${l.nOut} channels`);
  invariant(!l.bias || l.bias.length === l.nOut, `bias has ${l.bias?.length} entries for ${l.nOut} channels`);
  return l.w.length / l.nOut;
}

/**
 * For each channel: the lowest and highest value the accumulator can hold, over all inputs in the
 * xBits range (padding feeds z_x, itself in range) and all accumulation orders.
 */
export function channelBounds(l: BoundsLayer): ChannelBounds {
  const k = checkLayer(l);
  const { lo: xlo, hi: xhi } = intRange(l.xBits, l.xSigned);
  const zx = l.zx;
  const dlo = xlo - zx;
  const dhi = xhi - zx;
  const raw = l.form === 'raw';
  const n = l.nOut;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  const psumLo = new Float64Array(n);
  const psumHi = new Float64Array(n);
  const xAbs = Math.max(Math.abs(xlo), Math.abs(xhi));
  let magnitude = 0;
  for (let c = 0; c < n; c++) {
    const zw = l.zw.length === 1 ? l.zw[0] : l.zw[c];
    const b = l.bias ? l.bias[c] : 0;
    const row = c * k;
    // zp-subtract products (q_w − z_w)(q_x − z_x): their per-sign sums bound every running sum,
    // and their exact extremes bound the final value, whichever form computed it
    let zUp = 0;
    let zDown = 0;
    let zMax = 0;
    let zMin = 0;
    // raw products q_w·q_x
    let rUp = 0;
    let rDown = 0;
    let wSum = 0;
    for (let i = 0; i < k; i++) {
      const wq = l.w[row + i];
      const a = wq - zw;
      const p1 = a * dlo;
      const p2 = a * dhi;
      const pHi = p1 > p2 ? p1 : p2;
      const pLo = p1 > p2 ? p2 : p1;
      zMax += pHi;
      zMin += pLo;
      if (pHi > 0) zUp += pHi;
      if (pLo < 0) zDown += pLo;
      if (raw) {
        const r1 = wq * xlo;
        const r2 = wq * xhi;
        const rHi = r1 > r2 ? r1 : r2;
        const rLo = r1 > r2 ? r2 : r1;
        if (rHi > 0) rUp += rHi;
        if (rLo < 0) rDown += rLo;
        wSum += wq;
      }
    }
    if (!raw) {
      lo[c] = b + zDown;
      hi[c] = b + zUp;
      psumLo[c] = zDown;
      psumHi[c] = zUp;
    } else {
      const init = b - zx * wSum + k * zw * zx;
      let l1 = init + rDown;
      let h1 = init + rUp;
      if (zw !== 0) {
        // the −z_w·Σq_x step lands on the exact result
        if (b + zMin < l1) l1 = b + zMin;
        if (b + zMax > h1) h1 = b + zMax;
      }
      lo[c] = l1;
      hi[c] = h1;
      psumLo[c] = rDown;
      psumHi[c] = rUp;
      const zwTerm = Math.abs(zw) * k * xAbs;
      if (zwTerm > magnitude) magnitude = zwTerm;
    }
    const m = Math.max(-lo[c], hi[c], -psumLo[c], psumHi[c]);
    if (m > magnitude) magnitude = m;
  }
  return { lo, hi, psumLo, psumHi, magnitude };
}

/** Smallest P whose two's complement range [−2^(P−1), 2^(P−1)−1] holds [lo, hi] (P ≥ 1). */
export function bitsFor(lo: number, hi: number): number {
  let p = 1;
  while (-(2 ** (p - 1)) > lo || 2 ** (p - 1) - 1 < hi) p++;
  return p;
}

/**
 * DESIGN.md's per-layer test: K·max|q_w|·max|q_x| + max|bias| < 2^(P−1), with the operands the
 * PEs see — (q − z) in zp-subtract form; raw q in raw form, where the folded starting value
 * bias' = bias − z_x·Σq_w + K·z_w·z_x replaces the bias and, with z_w ≠ 0, the final value must
 * also pass the zp-subtract test. max|q_w| is the layer's actual maximum, max|q_x| the input
 * range's. Coarser than minSafeAccBits: whenever this holds, P ≥ minSafeAccBits.
 */
export function provablySafe(l: BoundsLayer, accBits: number): boolean {
  const k = checkLayer(l);
  const { lo: xlo, hi: xhi } = intRange(l.xBits, l.xSigned);
  const limit = 2 ** (accBits - 1);
  const perTensorZw = l.zw.length === 1;
  let wzMax = 0;
  let wMax = 0;
  let bMax = 0;
  let initMax = 0;
  let anyZw = false;
  for (let c = 0; c < l.nOut; c++) {
    const zw = perTensorZw ? l.zw[0] : l.zw[c];
    if (zw !== 0) anyZw = true;
    const b = l.bias ? l.bias[c] : 0;
    if (Math.abs(b) > bMax) bMax = Math.abs(b);
    let wSum = 0;
    for (let i = c * k, e = i + k; i < e; i++) {
      const wq = l.w[i];
      wSum += wq;
      if (Math.abs(wq - zw) > wzMax) wzMax = Math.abs(wq - zw);
      if (Math.abs(wq) > wMax) wMax = Math.abs(wq);
    }
    const init = Math.abs(b - l.zx * wSum + k * zw * l.zx);
    if (init > initMax) initMax = init;
  }
  const zpOk = k * wzMax * Math.max(Math.abs(xlo - l.zx), Math.abs(xhi - l.zx)) + bMax < limit;
  if (l.form === 'zp-subtract') return zpOk;
  const rawOk = k * wMax * Math.max(Math.abs(xlo), Math.abs(xhi)) + initMax < limit;
  return rawOk && (!anyZw || zpOk);
}

/**
 * The per-layer minimum safe accumulator width: the smallest P such that no channel's
 * accumulator can leave [−2^(P−1), 2^(P−1)−1] for any input in range, any order or tiling
 * (exact partial sums). Data-independent; per channel it is bias + the sum of each product's
 * worst case of one sign (‖q_w − z_w‖₁·max|q_x − z_x| refined by signs, as A2Q bounds it).
 * May be below 8; the accumulators simulated are 8…64 bits.
 */
export function minSafeAccBits(l: BoundsLayer): number {
  const b = channelBounds(l);
  let lo = 0;
  let hi = 0;
  for (let c = 0; c < l.nOut; c++) {
    if (b.lo[c] < lo) lo = b.lo[c];
    if (b.hi[c] > hi) hi = b.hi[c];
  }
  return bitsFor(lo, hi);
}

/**
 * A2Q's per-channel ℓ1 limit (Colbert et al., "A2Q: Accumulator-Aware Quantization", ICCV 2023):
 * ‖q_w‖₁ ≤ (2^(P−1)−1)·2^(1_signed(x)−N) guarantees |Σ q_w·q_x| ≤ 2^(P−1)−1 for every N-bit
 * input (unsigned inputs are < 2^N, signed ones ≥ −2^(N−1)). Returned as a real number.
 */
export function a2qL1Limit(accBits: number, xBits: number, xSigned: boolean): number {
  return (2 ** (accBits - 1) - 1) * 2 ** ((xSigned ? 1 : 0) - xBits);
}

/**
 * A2Q's sufficient condition, in its setting: PE operands (q_w − z_w) and N-bit q_x with zero
 * point 0, no bias. Then no running sum (any order) leaves the P-bit range for any input.
 * Compared in integers (‖q_w − z_w‖₁·2^(N−1_signed) ≤ 2^(P−1)−1) so the fractional limit is exact.
 */
export function a2qSafe(args: {
  readonly w: Int32Array;
  readonly nOut: number;
  readonly zw?: Int32Array;
  readonly accBits: number;
  readonly xBits: number;
  readonly xSigned: boolean;
}): boolean {
  const { w, nOut } = args;
  invariant(nOut > 0 && w.length % nOut === 0, `weight length ${w.length} is not a multiple of nOut ${nOut}`);
  const k = w.length / nOut;
  const zws = args.zw ?? Int32Array.of(0);
  const scale = 2 ** (args.xBits - (args.xSigned ? 1 : 0));
  const limit = 2 ** (args.accBits - 1) - 1;
  for (let c = 0; c < nOut; c++) {
    const zw = zws.length === 1 ? zws[0] : zws[c];
    let l1 = 0;
    for (let i = c * k, e = i + k; i < e; i++) l1 += Math.abs(w[i] - zw);
    if (l1 * scale > limit) return false;
  }
  return true;
}
