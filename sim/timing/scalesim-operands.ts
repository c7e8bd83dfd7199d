/**
 * SCALE-Sim's operand addresses and prefetch streams (scalesim/compute/operand_matrix.py and
 * systolic_compute_<df>.create_*_prefetch_mat), local to each operand (trace offsets are added by
 * the callers), and where each demand row lies in its operand's stream. Its own file because both
 * the demand generator (scalesim-demand.ts) and the read buffers (scalesim-read-buffer.ts) are
 * built from these matrices.
 *
 * Every demand row of an ifmap or filter SRAM (systolic_compute_<df>.create_*_demand_mat) is a
 * contiguous run of its prefetch stream: a skewed demand row is a piece of one anti-diagonal of the
 * rolled stream, an unskewed one a whole row of the plain stream (`StreamLayout.rowRange`). So the
 * read buffers test a row's hits on stream positions (scalesim-read-buffer.ts) and nothing holds
 * the M×K operand matrix: addresses come from the convolution's geometry (`IfmapAddresses`).
 */
import type { TimingDataflow } from './compute.js';
import { viewOutDims, type GemmView } from './gemm-view.js';

/**
 * The ifmap operand matrix M×K of one group as local addresses (−1 = a window position past the
 * edge), computed from the geometry. SCALE-Sim's layout: address = (row·W + col)·C + channel;
 * window index = (ky·FW + kx)·C + c. A plain GEMM (SCALE-Sim's 1×K filter over an M×K ifmap)
 * gives m·K + k. Per output pixel and per window position a few integers, not M·K of them.
 */
export class IfmapAddresses {
  private readonly K: number;
  private readonly gemm: boolean;
  /** no window position of any output pixel is past an edge (no padding): no checks */
  readonly inside: boolean;
  private readonly iy0: Int32Array;
  private readonly ix0: Int32Array;
  private readonly dy: Int32Array;
  private readonly dx: Int32Array;
  /** (iy0·W + ix0)·C per output pixel, (dy·W + dx)·C + c per window position */
  private readonly mBase: Int32Array;
  private readonly kOff: Int32Array;
  private readonly H: number;
  private readonly W: number;

  constructor(view: GemmView) {
    const { M, K } = view;
    this.K = K;
    const g = view.conv;
    this.gemm = !g;
    if (!g) {
      this.inside = true;
      this.iy0 = this.ix0 = this.dy = this.dx = this.mBase = this.kOff = new Int32Array(0);
      this.H = this.W = 0;
      return;
    }
    const { outH, outW } = viewOutDims(view);
    const cg = g.channels / g.group;
    const C = g.channels;
    this.H = g.ifmapH;
    this.W = g.ifmapW;
    this.iy0 = new Int32Array(M);
    this.ix0 = new Int32Array(M);
    this.mBase = new Int32Array(M);
    for (let m = 0; m < M; m++) {
      const oy = Math.floor(m / outW);
      const ox = m - oy * outW;
      this.iy0[m] = oy * g.strideH - g.padTop;
      this.ix0[m] = ox * g.strideW - g.padLeft;
      this.mBase[m] = (this.iy0[m] * g.ifmapW + this.ix0[m]) * C;
    }
    this.dy = new Int32Array(K);
    this.dx = new Int32Array(K);
    this.kOff = new Int32Array(K);
    let j = 0;
    for (let ky = 0; ky < g.filterH; ky++) {
      for (let kx = 0; kx < g.filterW; kx++) {
        for (let c = 0; c < cg; c++, j++) {
          this.dy[j] = ky * g.dilationH;
          this.dx[j] = kx * g.dilationW;
          this.kOff[j] = (this.dy[j] * g.ifmapW + this.dx[j]) * C + c;
        }
      }
    }
    const yMax = (outH - 1) * g.strideH - g.padTop + (g.filterH - 1) * g.dilationH;
    const xMax = (outW - 1) * g.strideW - g.padLeft + (g.filterW - 1) * g.dilationW;
    this.inside = g.padTop === 0 && g.padLeft === 0 && yMax < g.ifmapH && xMax < g.ifmapW;
  }

  at(m: number, k: number): number {
    if (this.gemm) return m * this.K + k;
    if (this.inside) return this.mBase[m] + this.kOff[k];
    const iy = this.iy0[m] + this.dy[k];
    const ix = this.ix0[m] + this.dx[k];
    return iy >= 0 && iy < this.H && ix >= 0 && ix < this.W ? this.mBase[m] + this.kOff[k] : -1;
  }
}

/** The ifmap operand matrix M×K as local addresses, whole (for callers that check the layout). */
export function ifmapAddressMatrix(view: GemmView): Int32Array {
  const { M, K } = view;
  const ia = new IfmapAddresses(view);
  const a = new Int32Array(M * K);
  for (let m = 0, i = 0; m < M; m++) for (let k = 0; k < K; k++) a[i++] = ia.at(m, k);
  return a;
}

/** filter operand (k, n) → local address n·K + k (SCALE-Sim: filter-major, window-minor). */
export function filterAddr(K: number, k: number, n: number): number {
  return n * K + k;
}

/**
 * The shape of a prefetch stream: `⌈n / width⌉ · T` rows of `width` lanes (lane c of row g holds
 * element ⌊g / T⌋·width + c of the folded axis at time g mod T, −1 past the axis' n elements),
 * flattened row by row (plain) or anti-diagonal by anti-diagonal, bottom row first (rolled:
 * SCALE-Sim's fix for issues #15/#16). Positions and valid-word counts are closed forms.
 */
export class StreamLayout {
  readonly rows: number;
  readonly length: number;
  /** the last block's first row and its first lane past the axis (lanes ≥ it are −1 there) */
  private readonly g0: number;
  private readonly wLast: number;

  constructor(
    readonly rolled: boolean,
    readonly n: number,
    readonly width: number,
    readonly T: number,
  ) {
    const blocks = Math.ceil(n / width);
    this.rows = blocks * T;
    this.length = this.rows * width;
    this.g0 = (blocks - 1) * T;
    this.wLast = n - (blocks - 1) * width;
  }

  /** position of element (row g, lane c) */
  pos(g: number, c: number): number {
    if (!this.rolled) return g * this.width + c;
    const d = g + c;
    // within an anti-diagonal the rows go down from min(d, rows − 1): lane c is that many in
    return diagPrefix(this.rows, this.width, d) + Math.min(d, this.rows - 1) - g;
  }

  /**
   * Valid words before element (g, c) when the only −1s are the lanes past the axis (a filter; an
   * ifmap with no window past an edge): the position less the −1s of the last block before it.
   */
  validBefore(g: number, c: number): number {
    const W = this.width;
    const g0 = this.g0;
    const w1 = this.wLast;
    // before the last block's first −1 nothing is −1: the position
    if (this.rolled ? g + c < g0 + w1 : g < g0 || (g === g0 && c <= w1)) return this.pos(g, c);
    if (!this.rolled) return g * W + c - (g < g0 ? 0 : (g - g0) * (W - w1) + Math.max(0, c - w1));
    const d = g + c;
    // −1s in earlier anti-diagonals: those of the T × (W − wLast) corner, then those of this one
    // before lane c (lanes ≥ wLast of rows ≥ g0, i.e. lanes ≤ d − g0)
    const before = diagPrefix(this.T, W - w1, d - g0 - w1);
    const here = Math.max(0, Math.min(c, d - g0 + 1) - Math.max(w1, d - this.rows + 1));
    return this.pos(g, c) - before - here;
  }

  /**
   * Fills `words` (when given) and `valid` (one longer) in stream order; returns the highest address + 1:
   * element (i, t) of the folded axis is `ifm.at(i, t)` (`ifm.at(t, i)` with `swap`) or, without
   * `ifm`, the filter address i·si + t·st.
   */
  fill(words: Int32Array | null, valid: Int32Array, ifm: IfmapAddresses | null, swap: boolean, si: number, st: number): number {
    const { rows, width: W, T, n } = this;
    let p = 0;
    let v = 0;
    let max = -1;
    const at = (i: number, t: number) => (i >= n ? -1 : ifm === null ? i * si + t * st : swap ? ifm.at(t, i) : ifm.at(i, t));
    if (!this.rolled) {
      for (let r = 0; r < rows; r++) {
        const f = Math.floor(r / T);
        const t = r - f * T;
        for (let c = 0, i = f * W; c < W; c++, i++) {
          const a = at(i, t);
          if (words !== null) words[p] = a;
          valid[p++] = v;
          if (a >= 0) {
            v++;
            if (a > max) max = a;
          }
        }
      }
    } else {
      for (let d = 0; d < rows + W - 1; d++) {
        const maxRow = Math.min(d, rows - 1);
        const minRow = Math.max(0, d - W + 1);
        let f = Math.floor(maxRow / T);
        let t = maxRow - f * T;
        for (let g = maxRow; g >= minRow; g--) {
          const a = at(f * W + d - g, t);
          if (words !== null) words[p] = a;
          valid[p++] = v;
          if (a >= 0) {
            v++;
            if (a > max) max = a;
          }
          if (--t < 0) {
            t = T - 1;
            f--;
          }
        }
      }
    }
    valid[p] = v;
    return max + 1;
  }
}

/** Elements of an h × w matrix in its anti-diagonals before the d-th (0 ≤ result ≤ h·w). */
export function diagPrefix(h: number, w: number, d: number): number {
  if (d <= 0 || h <= 0 || w <= 0) return 0;
  const a = Math.min(h, w);
  const b = Math.max(h, w);
  if (d <= a) return (d * (d + 1)) / 2;
  if (d <= b) return (a * (a + 1)) / 2 + (d - a) * a;
  if (d >= a + b - 1) return h * w;
  // the last anti-diagonals shrink: a − 1 down to a + b − d
  const e = a + b - d;
  return (a * (a + 1)) / 2 + (b - a) * a + ((a - 1) * a) / 2 - ((e - 1) * e) / 2;
}

/** How one operand's demand rows map onto its stream: a skewed run of a diagonal, or a plain row. */
export interface DemandMap {
  readonly layout: StreamLayout;
  /** the fold's block of the stream is its row fold (else its column fold) */
  readonly byRowFold: boolean;
  /** skewed (rolled stream): lane c of demand row r is at time r − shift − c of the block */
  readonly shift: number;
  /** plain stream: demand row r < rows reads time fr·rows + rows − 1 − r of the block (all lanes) */
  readonly arrayRows: number;
}

/** The ifmap and filter prefetch streams of systolic_compute_<df>.create_*_prefetch_mat, and their demand maps. */
export function operandLayouts(view: GemmView, df: TimingDataflow, R: number, C: number): { ifmap: DemandMap; filter: DemandMap } {
  const { M, K, N } = view;
  if (df === 'os') {
    // ifmap rows of a row fold and filter columns of a column fold, over k
    return {
      ifmap: { layout: new StreamLayout(true, M, R, K), byRowFold: true, shift: 0, arrayRows: R },
      filter: { layout: new StreamLayout(true, N, C, K), byRowFold: false, shift: 0, arrayRows: R },
    };
  }
  if (df === 'ws') {
    return {
      ifmap: { layout: new StreamLayout(true, K, R, M), byRowFold: true, shift: R, arrayRows: R },
      filter: { layout: new StreamLayout(false, N, C, K), byRowFold: false, shift: 0, arrayRows: R },
    };
  }
  return {
    ifmap: { layout: new StreamLayout(false, M, C, K), byRowFold: false, shift: 0, arrayRows: R },
    filter: { layout: new StreamLayout(true, K, R, N), byRowFold: true, shift: R, arrayRows: R },
  };
}

/**
 * Demand row r of fold (fr, fc) of one operand, as the lanes of its stream it reads: `out` ←
 * [g, c0, lanes, block, p0]: lane j is element (g − j, c0 + j) (rolled) or (g, c0 + j) (plain) of
 * block `block`, at stream position p0 + j; the row's other lanes request nothing (lanes = 0: none).
 */
export function demandRange(map: DemandMap, fr: number, fc: number, r: number, out: Float64Array): void {
  const L = map.layout;
  const b = map.byRowFold ? fr : fc;
  const T = L.T;
  out[3] = b;
  if (L.rolled) {
    const dl = r - map.shift;
    const cLo = Math.max(0, dl - T + 1);
    const cHi = Math.min(L.width - 1, dl);
    if (cLo > cHi) {
      out[2] = 0;
      return;
    }
    const g = b * T + dl - cLo;
    out[0] = g;
    out[1] = cLo;
    out[2] = cHi - cLo + 1;
    out[4] = L.pos(g, cLo);
    return;
  }
  const R = map.arrayRows;
  const t = fr * R + (R - 1 - r);
  if (r >= R || t >= T) {
    out[2] = 0;
    return;
  }
  const g = b * T + t;
  out[0] = g;
  out[1] = 0;
  out[2] = L.width;
  out[4] = g * L.width;
}
