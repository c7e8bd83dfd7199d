/**
 * The accumulator of an integer MAC array: width, overflow policy, the order in which a K-long
 * reduction reaches it, and the report of what overflowed (DESIGN.md "Integer arithmetic
 * contract").
 *
 * Numbers: accumulator values are Float64 holding exact integers. That is exact while every
 * value the computation meets stays below 2^53 in magnitude — with 16-bit × 16-bit operands a
 * reduction of K ≤ 2^21 products — and the kernels refuse (ModelError) a layer whose bound
 * analysis cannot keep it there. Wrap at P ≥ 54 bits therefore never triggers: no exact value
 * reaches 2^53.
 */
import { invariant } from '../../nets/errors.js';

/** `wrap`: two's complement at P bits after each add; `saturate`: clamp after each add;
 * `ideal`: unbounded, but adds that left the P-bit range are still counted. */
export type AccPolicy = 'wrap' | 'saturate' | 'ideal';

/** Numeric policy codes for hot loops (strings stay out of inner loops). */
export const POLICY_WRAP = 0;
export const POLICY_SATURATE = 1;
export const POLICY_IDEAL = 2;

export function policyCode(p: AccPolicy): number {
  return p === 'wrap' ? POLICY_WRAP : p === 'saturate' ? POLICY_SATURATE : POLICY_IDEAL;
}

export interface AccumulatorSpec {
  /** 8…64 in the arch; the kernels accept 2…64 */
  readonly bits: number;
  readonly policy: AccPolicy;
}

/**
 * The order in which a K-long reduction meets the accumulator — fixed by the dataflow and tiling
 * being simulated.
 *
 * The K index space is first laid out in `kOrder` (conv: `ckk` = (ic, ky, kx) channel-major, the
 * ONNX weight layout; `kkc` = (ky, kx, ic) position-major, im2col over NHWC as SCALE-Sim does;
 * gemm: K's natural order either way). It is cut into tiles of `kTile` consecutive indices (the
 * last one may be shorter). Each tile is summed in-array into a partial sum, products in
 * increasing index order, at `psumBits` (the accumulator's policy applies to it; undefined =
 * exact), and the partial sum is added to the accumulator: one step per tile. Tiles reach the
 * accumulator in `tileOrder`.
 */
export interface AccumulationOrder {
  readonly kOrder: 'ckk' | 'kkc';
  /** products per tile; 0 or ≥ K = one tile */
  readonly kTile: number;
  /** width of the in-array partial sum; undefined = exact */
  readonly psumBits?: number;
  /** `forward` (default), `reverse`, or a permutation: tileOrder[s] = index of the tile added at step s+1 */
  readonly tileOrder?: 'forward' | 'reverse' | readonly number[];
}

/**
 * `raw`: ORT-style — the PEs multiply raw q_w·q_x (padding feeds z_x), the static terms
 * −z_x·Σq_w + K·z_w·z_x are folded into the starting value, and −z_w·Σq_x is added at the end.
 * `zp-subtract`: TFLite-style — (q_w − z_w)·(q_x − z_x) at the PE inputs (9-bit for 8-bit data),
 * padding feeds 0, the starting value is the plain bias.
 */
export type PeForm = 'raw' | 'zp-subtract';

export interface OverflowReport {
  /** accumulator adds (bias load included) whose exact result left the P-bit range */
  readonly events: number;
  /** events per output channel */
  readonly perChannel: Float64Array;
  /**
   * The first event in (channel, position, step) order — the order of a reference loop over
   * output channels, then output positions, then steps (a time order would depend on the
   * dataflow). position = n·OH·OW + oy·OW + ox (gemm: the row m); step 0 = bias load, steps
   * 1…T = the tiles in arrival order, step T+1 = the −z_w·Σq_x term (raw form, z_w ≠ 0).
   */
  readonly first: { readonly channel: number; readonly position: number; readonly step: number } | null;
  /** the bound analysis proved the layer safe and per-step checks were skipped */
  readonly proved: boolean;
  /**
   * largest |value| of the exact (unbounded accumulator, exact partial sums) running sum at any
   * step boundary, bias load and z_w step included; depends on data, form and order, not on the
   * policy or width
   */
  readonly maxAbs: number;
  /** accumulator adds of the −z_w·Σq_x term: one per output element of a channel with z_w ≠ 0 (raw form) */
  readonly zwSumSteps: number;
  /** in-array adds spent forming Σq_x for that term: K per output position per group that needs it */
  readonly xSumAdds: number;
  /** tiles (accumulator adds after the bias load) per output element */
  readonly tiles: number;
  /** in-array partial-sum adds that left the psumBits range (0 when psumBits is undefined) */
  readonly psumEvents: number;
}

/** Smallest and largest value of a P-bit two's complement register. */
export function accRange(bits: number): { lo: number; hi: number } {
  return { lo: -(2 ** (bits - 1)), hi: 2 ** (bits - 1) - 1 };
}

/** Range of an N-bit integer operand. */
export function intRange(bits: number, signed: boolean): { lo: number; hi: number } {
  return signed ? { lo: -(2 ** (bits - 1)), hi: 2 ** (bits - 1) - 1 } : { lo: 0, hi: 2 ** bits - 1 };
}

/** 2^i for i = 0…66, exact: a table lookup instead of `**` (a Math.pow call) on hot paths */
const POW2 = Float64Array.from({ length: 67 }, (_, i) => 2 ** i);
/** 2^−i, exact */
const POW2_INV = Float64Array.from({ length: 67 }, (_, i) => 2 ** -i);

/**
 * The value a P-bit register holds after an add whose exact result `v` left its range.
 * Only called on out-of-range values, so `ideal` (which keeps v) costs nothing in range.
 * Exact for |v| < 2^53: scaling by powers of two and floor are exact there.
 */
export function applyPolicy(v: number, policy: number, bits: number): number {
  if (policy === POLICY_WRAP) {
    // ToInt32 is exact reduction mod 2^32 for any exact integer; then sign-extend from bit P−1
    if (bits <= 32) return ((v | 0) << (32 - bits)) >> (32 - bits);
    return v - POW2[bits] * Math.floor((v + POW2[bits - 1]) * POW2_INV[bits]);
  }
  if (policy === POLICY_SATURATE) {
    const h = POW2[bits - 1];
    return v >= h ? h - 1 : v < -h ? -h : v;
  }
  return v;
}

/**
 * The tiles of a K-long reduction in arrival order: `seq[j]` is the kOrder-numbered index met
 * j-th, tile s (0-based arrival) covers j ∈ [stepEnd[s−1], stepEnd[s]).
 */
export function arrivalSequence(k: number, order: AccumulationOrder): { seq: Int32Array; stepEnd: Int32Array } {
  const kt = order.kTile;
  invariant(Number.isInteger(kt) && kt >= 0, `kTile must be a non-negative integer, got ${kt}`);
  const tile = kt === 0 || kt >= k ? Math.max(k, 1) : kt;
  const nTiles = Math.max(1, Math.ceil(k / tile));
  const perm = new Int32Array(nTiles);
  const to = order.tileOrder ?? 'forward';
  if (to === 'forward') for (let i = 0; i < nTiles; i++) perm[i] = i;
  else if (to === 'reverse') for (let i = 0; i < nTiles; i++) perm[i] = nTiles - 1 - i;
  else {
    invariant(to.length === nTiles, `tileOrder has ${to.length} entries for ${nTiles} tiles`);
    const seen = new Uint8Array(nTiles);
    for (let i = 0; i < nTiles; i++) {
      const t = to[i];
      invariant(Number.isInteger(t) && t >= 0 && t < nTiles && !seen[t], `tileOrder is not a permutation of 0…${nTiles - 1}`);
      seen[t] = 1;
      perm[i] = t;
    }
  }
  const seq = new Int32Array(k);
  const stepEnd = new Int32Array(nTiles);
  let j = 0;
  for (let s = 0; s < nTiles; s++) {
    const a = perm[s] * tile;
    const b = Math.min(k, a + tile);
    for (let o = a; o < b; o++) seq[j++] = o;
    stepEnd[s] = j;
  }
  return { seq, stepEnd };
}
