/**
 * What a USER-mode read buffer (scalesim-read-buffer.ts) asks of its operand's prefetch stream:
 * how many valid words lie before a demand row (its hashed buffer numbers lines by valid words),
 * the row's valid lanes and addresses, and whether some other occurrence of an address lies in a
 * window of lines. Its own file: two ways to answer, chosen per operand.
 *
 * - `ClosedIndex`: when the stream's only −1s are the lanes past the folded axis (a filter; an
 *   ifmap with no window position past an edge — every SCALE-Sim topology), all of it is a closed
 *   form of the position: nothing is held per word. An ifmap address's other occurrences are the
 *   window positions that read it (at most filterH·filterW), found from the geometry.
 * - `StoredIndex`: the stream written out with a running count of valid words (an ifmap with
 *   padding, or any stream a DRAM trace replays: its fetch matrix is the stream) and, on first
 *   need, each address's sorted line list (CSR) for the other-occurrence test.
 */
import type { TimingDataflow } from './compute.js';
import { viewOutDims, type GemmView } from './gemm-view.js';
import type { DemandMap, IfmapAddresses, StreamLayout } from './scalesim-operands.js';

/** A demand row as `demandRange` describes it: [g, c0, lanes, block, p0]. */
export type DemandRow = Float64Array;

export interface OperandIndex {
  readonly layout: StreamLayout;
  /** valid words in the whole stream */
  readonly validTotal: number;
  /** valid words before the row's first lane */
  rowStart(row: DemandRow): number;
  /** valid lanes of the row */
  rowValid(row: DemandRow): number;
  /** lane j of the row requests a word (is not −1) */
  laneValid(row: DemandRow, j: number): boolean;
  /**
   * some line of the address lane j reads (lines of `perLine` valid words) lies in the window
   * [s, e) (circular when s ≥ e); the lane's own line may be skipped (its caller tested it)
   */
  lineIn(row: DemandRow, j: number, perLine: number, s: number, e: number): boolean;
  /**
   * The first lane j ≥ j0 of the row that misses the window [s, e) of lines — its address has no
   * line in it — or the row's lane count when none does; `v` = valid words before lane j0, and
   * `out[0]` ← valid words before the lane returned. The lane-by-lane hit test, in one loop.
   */
  firstMiss(row: DemandRow, j0: number, v: number, perLine: number, s: number, e: number, out: Float64Array): number;
  /** the stream's words (the DRAM trace's fetch matrix); StoredIndex only */
  readonly words: Int32Array | null;
}

/** (i, t) of the folded axis and time → operand-matrix coordinates, per operand of a dataflow */
interface Coords {
  /** ifmap: element (i, t) is ifmap (m, k) = swap ? (t, i) : (i, t); filter: address i·si + t·st */
  readonly ifm: IfmapAddresses | null;
  readonly swap: boolean;
  readonly si: number;
  readonly st: number;
}

/** The streams' element → address maps of `operandLayouts` (scalesim-operands.ts), per dataflow. */
export function streamCoords(df: TimingDataflow, K: number, ifm: IfmapAddresses): { ifmap: Coords; filter: Coords } {
  // ifmap (m, k); filter (k, n) at n·K + k
  if (df === 'os') return { ifmap: { ifm, swap: false, si: 0, st: 0 }, filter: { ifm: null, swap: false, si: K, st: 1 } };
  if (df === 'ws') return { ifmap: { ifm, swap: true, si: 0, st: 0 }, filter: { ifm: null, swap: false, si: K, st: 1 } };
  return { ifmap: { ifm, swap: false, si: 0, st: 0 }, filter: { ifm: null, swap: false, si: 1, st: K } };
}

/**
 * An operand whose stream's only −1s are the lanes past the folded axis; `view` set for an ifmap
 * whose addresses recur (overlapping windows), null when every address occurs once. An ifmap with
 * window positions past an edge (padding) holds the running count of valid words (`counted`: one
 * number per stream position, built in one pass) instead of the closed form; its other
 * occurrences are still found from the geometry.
 */
export class ClosedIndex implements OperandIndex {
  readonly validTotal: number;
  readonly words = null;
  private readonly rolled: boolean;
  private readonly W: number;
  private readonly T: number;
  private readonly n: number;
  private readonly swap: boolean;
  /** a recurring ifmap's geometry (null: addresses occur once) and its pixel / window-position tables */
  private readonly g: GemmView['conv'];
  private readonly outH: number;
  private readonly outW: number;
  private readonly cg: number;
  private readonly oy: Int32Array;
  private readonly ox: Int32Array;
  private readonly ky: Int32Array;
  private readonly kx: Int32Array;
  private readonly ch: Int32Array;
  /**
   * per address: 1 + the window start at which another of its lines was last found in the window
   * (0: none yet). The window [s, e) is a function of s (its length is fixed), so a hit found
   * for s holds until the window moves; an address recurs in several demand rows of one window.
   */
  private readonly hitAt: Int32Array;
  /** the window position through which the last lane found another line in the window (−1: none) */
  private lastKy = -1;
  private lastKx = -1;
  /** padded ifmap: valid words before each stream position */
  private readonly valid: Int32Array | null;

  constructor(
    readonly layout: StreamLayout,
    private readonly coords: Coords,
    view: GemmView | null,
    counted = false,
  ) {
    this.rolled = layout.rolled;
    this.W = layout.width;
    this.T = layout.T;
    this.n = layout.n;
    this.swap = coords.swap;
    if (counted) {
      this.valid = new Int32Array(layout.length + 1);
      layout.fill(null, this.valid, coords.ifm, coords.swap, coords.si, coords.st);
      this.validTotal = this.valid[layout.length];
    } else {
      this.valid = null;
      this.validTotal = layout.n * layout.T;
    }
    const g = view?.conv ?? null;
    this.g = g;
    const out = view ? viewOutDims(view) : { outH: 0, outW: 0 };
    this.outH = out.outH;
    this.outW = out.outW;
    const M = g ? view!.M : 0;
    const K = g ? view!.K : 0;
    this.cg = g ? g.channels / g.group : 0;
    this.oy = new Int32Array(M);
    this.ox = new Int32Array(M);
    for (let m = 0; m < M; m++) {
      this.oy[m] = Math.floor(m / this.outW);
      this.ox[m] = m - this.oy[m] * this.outW;
    }
    this.hitAt = new Int32Array(g ? g.ifmapH * g.ifmapW * g.channels : 0);
    this.ky = new Int32Array(K);
    this.kx = new Int32Array(K);
    this.ch = new Int32Array(K);
    for (let k = 0; k < K; k++) {
      const w = Math.floor(k / this.cg);
      this.ch[k] = k - w * this.cg;
      this.ky[k] = Math.floor(w / g!.filterW);
      this.kx[k] = w - this.ky[k] * g!.filterW;
    }
  }

  rowStart(row: DemandRow): number {
    return this.valid !== null ? this.valid[row[4]] : this.layout.validBefore(row[0], row[1]);
  }

  rowValid(row: DemandRow): number {
    if (this.valid !== null) return this.valid[row[4] + row[2]] - this.valid[row[4]];
    // lanes of block b are valid below n − b·W: a prefix of the row's lanes
    return Math.max(0, Math.min(row[2], this.n - row[3] * this.W - row[1]));
  }

  laneValid(row: DemandRow, j: number): boolean {
    if (this.valid !== null) return this.valid[row[4] + j + 1] > this.valid[row[4] + j];
    return row[3] * this.W + row[1] + j < this.n;
  }

  firstMiss(row: DemandRow, j0: number, v: number, perLine: number, s: number, e: number, out: Float64Array): number {
    const V = this.valid;
    const lanes = V !== null ? row[2] : Math.min(row[2], this.n - row[3] * this.W - row[1]);
    const b = row[3];
    const i0 = b * this.W + row[1];
    const t0 = row[0] - b * this.T;
    const ifm = this.g ? this.coords.ifm! : null;
    const hitAt = this.hitAt;
    const key = s + 1;
    for (let j = j0; j < lanes; j++, v++) {
      // (padding: a lane past an edge requests nothing and is no valid word)
      if (V !== null && V[row[4] + j + 1] === V[row[4] + j]) {
        v--;
        continue;
      }
      const l = Math.floor(v / perLine);
      if (s < e ? l >= s && l < e : l >= s || l < e) continue;
      if (ifm !== null) {
        // a hit found before in this window (the cache lineIn keeps), else the other positions
        const i = i0 + j;
        const t = this.rolled ? t0 - j : t0;
        if (hitAt[this.swap ? ifm.at(t, i) : ifm.at(i, t)] === key) continue;
        if (this.lineIn(row, j, perLine, s, e)) continue;
      }
      out[0] = v;
      return j;
    }
    out[0] = v;
    return row[2];
  }

  /**
   * The other window positions that read the lane's ifmap word: output (oy', ox') at window
   * (ky', kx') reads the input pixel (Y, X) = (oy·sH + ky·dH, ox·sW + kx·dW) when
   * oy'·sH + ky'·dH = Y and ox'·sW + kx'·dW = X. Neighbouring lanes tend to hit through the same
   * window offset, so the last one that hit is tried first.
   */
  lineIn(row: DemandRow, j: number, perLine: number, s: number, e: number): boolean {
    const g = this.g;
    if (!g) return false;
    const b = row[3];
    const i = b * this.W + row[1] + j;
    const t = (this.rolled ? row[0] - j : row[0]) - b * this.T;
    const m = this.swap ? t : i;
    const k = this.swap ? i : t;
    const a = this.coords.ifm!.at(m, k);
    if (this.hitAt[a] === s + 1) return true;
    const ky0 = this.ky[k];
    const kx0 = this.kx[k];
    const Y = this.oy[m] * g.strideH + ky0 * g.dilationH;
    const X = this.ox[m] * g.strideW + kx0 * g.dilationW;
    const ch = this.ch[k];
    const ly = this.lastKy;
    const lx = this.lastKx;
    if (ly >= 0 && (ly !== ky0 || lx !== kx0) && this.occurrenceIn(Y, X, ly, lx, ch, perLine, s, e)) {
      this.hitAt[a] = s + 1;
      return true;
    }
    for (let ky = 0; ky < g.filterH; ky++) {
      for (let kx = 0; kx < g.filterW; kx++) {
        if ((ky === ky0 && kx === kx0) || (ky === ly && kx === lx)) continue;
        if (this.occurrenceIn(Y, X, ky, kx, ch, perLine, s, e)) {
          this.hitAt[a] = s + 1;
          this.lastKy = ky;
          this.lastKx = kx;
          return true;
        }
      }
    }
    return false;
  }

  /** the window position (ky, kx) of some output reads input pixel (Y, X), channel ch, and its line is in [s, e) */
  private occurrenceIn(Y: number, X: number, ky: number, kx: number, ch: number, perLine: number, s: number, e: number): boolean {
    const g = this.g!;
    const y = Y - ky * g.dilationH;
    const x = X - kx * g.dilationW;
    if (y < 0 || x < 0) return false;
    const oy = y / g.strideH;
    const ox = x / g.strideW;
    if (oy !== Math.floor(oy) || oy >= this.outH || ox !== Math.floor(ox) || ox >= this.outW) return false;
    const m = oy * this.outW + ox;
    const k = (ky * g.filterW + kx) * this.cg + ch;
    // ifmap (m, k) as stream element (i, t): OS/IS i = m, t = k; WS i = k, t = m
    const i = this.swap ? k : m;
    const t = this.swap ? m : k;
    const f = Math.floor(i / this.W);
    const g2 = f * this.T + t;
    const c2 = i - f * this.W;
    const l = Math.floor((this.valid !== null ? this.valid[this.layout.pos(g2, c2)] : this.layout.validBefore(g2, c2)) / perLine);
    return s < e ? l >= s && l < e : l >= s || l < e;
  }
}

/** An operand's stream written out (padding, or a DRAM trace); `unique`: every address occurs once. */
export class StoredIndex implements OperandIndex {
  readonly words: Int32Array;
  /** valid words before each position */
  private readonly valid: Int32Array;
  readonly validTotal: number;
  /** highest address + 1 */
  private readonly space: number;
  /** per local address: its sorted distinct line ids, CSR (built on first need, for one line size) */
  private start: Int32Array | null = null;
  private lines: Int32Array | null = null;

  constructor(
    readonly layout: StreamLayout,
    coords: Coords,
    private readonly unique: boolean,
  ) {
    this.words = new Int32Array(layout.length);
    this.valid = new Int32Array(layout.length + 1);
    this.space = layout.fill(this.words, this.valid, coords.ifm, coords.swap, coords.si, coords.st);
    this.validTotal = this.valid[layout.length];
  }

  rowStart(row: DemandRow): number {
    return this.valid[row[4]];
  }

  rowValid(row: DemandRow): number {
    return this.valid[row[4] + row[2]] - this.valid[row[4]];
  }

  laneValid(row: DemandRow, j: number): boolean {
    return this.words[row[4] + j] >= 0;
  }

  firstMiss(row: DemandRow, j0: number, v: number, perLine: number, s: number, e: number, out: Float64Array): number {
    const p0 = row[4];
    const lanes = row[2];
    const words = this.words;
    for (let j = j0; j < lanes; j++) {
      if (words[p0 + j] < 0) continue;
      const l = Math.floor(v / perLine);
      if ((s < e ? l >= s && l < e : l >= s || l < e) || this.lineIn(row, j, perLine, s, e)) {
        v++;
        continue;
      }
      out[0] = v;
      return j;
    }
    out[0] = v;
    return lanes;
  }

  /** the address → lines index: two passes over the stream (count, then fill) */
  private buildIndex(perLine: number): void {
    const space = this.space;
    const words = this.words;
    const count = new Int32Array(space + 1);
    const last = new Int32Array(space);
    let lines = new Int32Array(0);
    let fill = count;
    for (let pass = 0; pass < 2; pass++) {
      last.fill(-1);
      let valid = 0;
      for (let i = 0; i < words.length; i++) {
        const a = words[i];
        if (a < 0) continue;
        const line = Math.floor(valid++ / perLine);
        if (last[a] === line) continue;
        last[a] = line;
        if (pass === 0) count[a + 1]++;
        else lines[fill[a]++] = line;
      }
      if (pass === 0) {
        for (let a = 0; a < space; a++) count[a + 1] += count[a];
        lines = new Int32Array(count[space]);
        fill = count.slice(0, space);
      }
    }
    this.start = count;
    this.lines = lines;
  }

  lineIn(row: DemandRow, j: number, perLine: number, s: number, e: number): boolean {
    if (this.unique) return false;
    const a = this.words[row[4] + j];
    if (this.start === null) this.buildIndex(perLine);
    const lo = this.start![a];
    const hi = this.start![a + 1];
    const L = this.lines!;
    if (s < e) {
      // first line id ≥ s, then check it is < e
      let l = lo;
      let h = hi;
      while (l < h) {
        const mid = (l + h) >>> 1;
        if (L[mid] < s) l = mid + 1;
        else h = mid;
      }
      return l < hi && L[l] < e;
    }
    return L[hi - 1] >= s || L[lo] < e;
  }
}

/** an ifmap address occurs once in its operand matrix: a GEMM, or a convolution whose windows do not overlap */
export function ifmapUnique(view: GemmView): boolean {
  const g = view.conv;
  return !g || (g.strideH >= (g.filterH - 1) * g.dilationH + 1 && g.strideW >= (g.filterW - 1) * g.dilationW + 1);
}

/** The index of each read operand: closed forms where the stream allows, stored otherwise (and for a DRAM trace). */
export function operandIndexes(view: GemmView, df: TimingDataflow, maps: { ifmap: DemandMap; filter: DemandMap }, ifm: IfmapAddresses, stored: boolean): { ifmap: OperandIndex; filter: OperandIndex } {
  const coords = streamCoords(df, view.K, ifm);
  const unique = ifmapUnique(view);
  const ifmap = stored ? new StoredIndex(maps.ifmap.layout, coords.ifmap, unique) : new ClosedIndex(maps.ifmap.layout, coords.ifmap, unique ? null : view, !ifm.inside);
  const filter = stored ? new StoredIndex(maps.filter.layout, coords.filter, true) : new ClosedIndex(maps.filter.layout, coords.filter, null);
  return { ifmap, filter };
}
