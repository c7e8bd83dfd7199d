/**
 * The sub-tiles the event engine steps (`TilePlan`), decoded on demand: a GEMM layer's from its
 * folds' numbers (fold-model.ts) cut as the tiling policy says (plan.ts), a vector layer's as even
 * cuts; and which neighbouring sub-tiles are identical in timing (the runs the engine
 * fast-forwards). Its own file: per-sub-tile decoding, apart from the layer's summed counts.
 */
import { ceilBytes, type FoldModel } from './fold-model.js';

/**
 * Per-sub-tile work of one layer (index = sub-tile, in execution order), computed on demand from
 * per-fold state: nothing is stored per sub-tile.
 */
export interface TilePlan {
  readonly count: number;
  /** compute cycles (array, or the requant unit for vector layers) */
  cycles(t: number): number;
  /** DRAM bytes that must arrive before the sub-tile computes (operands, psums read back, params) */
  loadBytes(t: number): number;
  /** of loadBytes: partial sums read back from DRAM */
  spillInBytes(t: number): number;
  /** final outputs the sub-tile hands to the requant unit */
  outElems(t: number): number;
  /** DRAM bytes written after it (requantized outputs, psums spilled to DRAM) */
  writeBytes(t: number): number;
  /** of writeBytes: partial sums spilled to DRAM */
  spillOutBytes(t: number): number;
  /** fold index of the sub-tile; −1 for vector layers */
  fold(t: number): number;
  /** true on a fold's first sub-tile (every sub-tile of a vector layer) */
  firstOfFold(t: number): boolean;
  /**
   * The run of sub-tiles around `t` whose cycles, loadBytes, outElems and writeBytes all equal
   * t's: [runStart(t), runEnd(t)). Only these fields drive the engine's timing.
   */
  runStart(t: number): number;
  runEnd(t: number): number;
  /** requant passes per output: 1 fused, 2 when an unfused activation needs a second pass */
  readonly requantPasses: number;
  /** outputs the array emits per cycle while draining (the requant unit overlaps the drain) */
  readonly drainPerCycle: number;
  /** outputs stream out during the whole sub-tile (WS, IS) rather than in a drain at its end (OS) */
  readonly drainAll: boolean;
  readonly vector: boolean;
}

/** share i of `total` cut into `parts` integer pieces (remainder on the last) */
function share(total: number, parts: number, i: number): number {
  const base = Math.floor(total / parts);
  return i === parts - 1 ? total - base * (parts - 1) : base;
}

/** the five numbers of a fold the sub-tiles are cut from */
interface FoldCut {
  f: number;
  ifDram: number;
  wDram: number;
  outs: number;
  psIn: number;
  psOut: number;
}

/** at most this many blocks of alike folds are joined into one run of identical sub-tiles */
const RUN_BLOCKS = 64;

/**
 * The sub-tiles of a GEMM layer: fold f's S sub-tiles from its five numbers (DRAM bytes of the
 * ifmap and weight slices, outputs, partial-sum bytes read back and spilled, FoldModel), cut as the
 * tiling policy says — the same arithmetic, in the same order, as storing them would do. Nothing
 * is stored per fold or sub-tile.
 */
export class GemmTiles implements TilePlan {
  readonly count: number;
  readonly vector = false;
  /** two decoded folds (the engine works on at most a few neighbouring sub-tiles at a time) */
  private readonly cut: [FoldCut, FoldCut] = [
    { f: -1, ifDram: 0, wDram: 0, outs: 0, psIn: 0, psOut: 0 },
    { f: -1, ifDram: 0, wDram: 0, outs: 0, psIn: 0, psOut: 0 },
  ];
  private next = 0;

  constructor(
    private readonly model: FoldModel,
    private readonly folds: number,
    private readonly S: number,
    private readonly os: boolean,
    /** OS: the fold's K stream (fill and drain stay with the last sub-tile) */
    private readonly K: number,
    /** cycles of every fold */
    private readonly cyc: number,
    private readonly oBits: number,
    /** bias and requant parameter bytes, loaded with the layer's first sub-tile */
    private readonly firstExtra: number,
    readonly requantPasses: number,
    readonly drainPerCycle: number,
    readonly drainAll: boolean,
  ) {
    this.count = folds * S;
  }

  private foldCut(f: number): FoldCut {
    const [a, b] = this.cut;
    if (a.f === f) return a;
    if (b.f === f) return b;
    const c = this.cut[this.next];
    this.next ^= 1;
    const v = this.model.ofFold(f);
    c.f = f;
    c.ifDram = v.ifDram;
    c.wDram = v.wDram;
    c.outs = v.outs;
    c.psIn = v.psIn;
    c.psOut = v.psOut;
    return c;
  }

  private sameFold(a: number, b: number): boolean {
    const x = this.foldCut(a);
    const { ifDram, wDram, outs, psIn, psOut } = x; // the next call may reuse x's slot
    const y = this.foldCut(b);
    return ifDram === y.ifDram && wDram === y.wDram && outs === y.outs && psIn === y.psIn && psOut === y.psOut;
  }

  cycles(t: number): number {
    const S = this.S;
    const f = Math.floor(t / S);
    const s = t - f * S;
    // OS: the K stream is cut, fill and drain stay with the last sub-tile (its outputs drain
    // there); WS/IS: even cuts
    return this.os ? share(this.K, S, s) + (s === S - 1 ? this.cyc - this.K : 0) : share(this.cyc, S, s);
  }

  outElems(t: number): number {
    const S = this.S;
    const f = Math.floor(t / S);
    const s = t - f * S;
    const outs = this.foldCut(f).outs;
    if (this.os) return s === S - 1 ? outs : 0;
    // WS/IS: outputs pro rata of cycles (they stream out all fold long)
    const cyc = this.cyc;
    const base = Math.floor(cyc / S);
    const c = s === S - 1 ? cyc - base * (S - 1) : base;
    const cum = s * base;
    return Math.floor((outs * (cum + c)) / cyc) - Math.floor((outs * cum) / cyc);
  }

  loadBytes(t: number): number {
    const S = this.S;
    const f = Math.floor(t / S);
    const s = t - f * S;
    const k = this.foldCut(f);
    const b = share(k.ifDram, S, s) + share(k.wDram, S, s) + share(k.psIn, S, s);
    return t === 0 ? b + this.firstExtra : b;
  }

  spillInBytes(t: number): number {
    const f = Math.floor(t / this.S);
    return share(this.foldCut(f).psIn, this.S, t - f * this.S);
  }

  writeBytes(t: number): number {
    return ceilBytes(this.outElems(t), this.oBits) + this.spillOutBytes(t);
  }

  spillOutBytes(t: number): number {
    const f = Math.floor(t / this.S);
    return share(this.foldCut(f).psOut, this.S, t - f * this.S);
  }

  fold(t: number): number {
    return Math.floor(t / this.S);
  }

  firstOfFold(t: number): boolean {
    return t % this.S === 0;
  }

  /** a fold whose sub-tiles but the last are identical: OS, or no outputs (a WS/IS fold before the last K fold) */
  private uniform(f: number): boolean {
    return this.os || this.foldCut(f).outs === 0;
  }

  runStart(t: number): number {
    if (t === 0) return 0;
    const S = this.S;
    if (S > 1) {
      const f = Math.floor(t / S);
      return t - f * S < S - 1 && this.uniform(f) ? Math.max(1, f * S) : t;
    }
    // one sub-tile a fold: alike folds (and alike neighbouring blocks) are identical sub-tiles
    let s = this.model.blockStart(t);
    for (let j = 0; j < RUN_BLOCKS && s > 1 && this.sameFold(s - 1, t); j++) s = this.model.blockStart(s - 1);
    return Math.max(1, s);
  }

  runEnd(t: number): number {
    if (t === 0) return 1;
    const S = this.S;
    if (S > 1) {
      const f = Math.floor(t / S);
      return t - f * S < S - 1 && this.uniform(f) ? f * S + S - 1 : t + 1;
    }
    let e = this.model.blockEnd(t);
    for (let j = 0; j < RUN_BLOCKS && e < this.folds && this.sameFold(e, t); j++) e = this.model.blockEnd(e);
    return e;
  }
}

/** The sub-tiles of a vector layer: S even cuts of its elements and bytes (remainders on the last). */
export class VectorTiles implements TilePlan {
  readonly vector = true;
  readonly requantPasses = 1;
  readonly drainAll = false;
  readonly drainPerCycle: number;
  constructor(
    readonly count: number,
    private readonly E: number,
    private readonly lanes: number,
    private readonly passes: number,
    private readonly ifmapBytes: number,
    private readonly ofmapBytes: number,
  ) {
    this.drainPerCycle = lanes;
  }
  cycles(t: number): number {
    return Math.ceil(share(this.E, this.count, t) / this.lanes) * this.passes;
  }
  loadBytes(t: number): number {
    return share(this.ifmapBytes, this.count, t);
  }
  spillInBytes(): number {
    return 0;
  }
  outElems(): number {
    return 0;
  }
  writeBytes(t: number): number {
    return share(this.ofmapBytes, this.count, t);
  }
  spillOutBytes(): number {
    return 0;
  }
  fold(): number {
    return -1;
  }
  firstOfFold(): boolean {
    return true;
  }
  runStart(t: number): number {
    return t < this.count - 1 ? 0 : t;
  }
  runEnd(t: number): number {
    return t < this.count - 1 ? this.count - 1 : t + 1;
  }
}
