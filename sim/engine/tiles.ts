/**
 * The sub-tiles the event engine steps (`TilePlan`), decoded on demand: a GEMM layer's from its
 * folds' numbers (fold-model.ts) cut as the tiling policy says (plan.ts), a vector layer's as even
 * cuts; and which neighbouring sub-tiles are identical in timing (the runs the engine
 * fast-forwards). Its own file: per-sub-tile decoding, apart from the layer's summed counts.
 */
import type { FoldModel } from './fold-model.js';

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
   * The sub-tile whose write must have completed before t's load may start (t reads back the
   * partial sums it spilled: the same sub-tile of the previous K fold), or −1.
   */
  readsAfter(t: number): number;
  /**
   * The run of sub-tiles around `t`, [runStart(t), runEnd(t)), that repeats with period
   * runPeriod(t): sub-tiles u and u + runPeriod in the run have equal cycles, loadBytes,
   * spill bytes, outElems, writeBytes and readsAfter (relative to u) — all that drives the
   * engine's timing.
   */
  runStart(t: number): number;
  runEnd(t: number): number;
  runPeriod(t: number): number;
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
  ifBits: number;
  wBits: number;
  outs: number;
  psIn: number;
  psOut: number;
}

/** at most this many blocks of alike folds are joined into one run */
const RUN_BLOCKS = 64;

/**
 * The sub-tiles of a GEMM layer: fold f's S sub-tiles from its five numbers (DRAM bits of the
 * ifmap and weight slices, outputs, partial-sum bytes read back and spilled, FoldModel), cut as the
 * tiling policy says. Nothing is stored per fold or sub-tile.
 */
export class GemmTiles implements TilePlan {
  readonly count: number;
  readonly vector = false;
  /** two decoded folds (the engine works on at most a few neighbouring sub-tiles at a time) */
  private readonly cut: [FoldCut, FoldCut] = [
    { f: -1, ifBits: 0, wBits: 0, outs: 0, psIn: 0, psOut: 0 },
    { f: -1, ifBits: 0, wBits: 0, outs: 0, psIn: 0, psOut: 0 },
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
    /** longest period the engine's fast-forward detects: runs across folds need S ≤ it */
    private readonly maxPeriod: number,
    /** bytes of one partial-sum entry */
    private readonly accBytes: number,
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
    c.ifBits = v.ifDramBits;
    c.wBits = v.wDramBits;
    c.outs = v.outs;
    c.psIn = v.psIn;
    c.psOut = v.psOut;
    return c;
  }

  private sameFold(a: number, b: number): boolean {
    const x = this.foldCut(a);
    const { ifBits, wBits, outs, psIn, psOut } = x; // the next call may reuse x's slot
    const y = this.foldCut(b);
    return ifBits === y.ifBits && wBits === y.wBits && outs === y.outs && psIn === y.psIn && psOut === y.psOut;
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
    // OS: the outputs drain at the fold's end; WS/IS: they stream out all fold long, pro rata of
    // cycles (never faster than the array drains them)
    if (this.os) return s === S - 1 ? outs : 0;
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
    const b = (share(k.ifBits, S, s) + share(k.wBits, S, s)) / 8 + share(k.psIn / this.accBytes, S, s) * this.accBytes;
    return t === 0 ? b + this.firstExtra : b;
  }

  // partial sums move as whole accumulator entries: a fold's entries are cut, not its bytes
  spillInBytes(t: number): number {
    const f = Math.floor(t / this.S);
    return share(this.foldCut(f).psIn / this.accBytes, this.S, t - f * this.S) * this.accBytes;
  }

  writeBytes(t: number): number {
    return (this.outElems(t) * this.oBits) / 8 + this.spillOutBytes(t);
  }

  spillOutBytes(t: number): number {
    const f = Math.floor(t / this.S);
    return share(this.foldCut(f).psOut / this.accBytes, this.S, t - f * this.S) * this.accBytes;
  }

  readsAfter(t: number): number {
    return this.spillInBytes(t) > 0 ? t - this.S : -1;
  }

  fold(t: number): number {
    return Math.floor(t / this.S);
  }

  firstOfFold(t: number): boolean {
    return t % this.S === 0;
  }

  /** first and one-past-last fold of the run of alike folds (and alike neighbouring blocks) holding fold f */
  private foldRunStart(f: number): number {
    let s = this.model.blockStart(f);
    for (let j = 0; j < RUN_BLOCKS && s > 0 && this.sameFold(s - 1, f); j++) s = this.model.blockStart(s - 1);
    return s;
  }

  private foldRunEnd(f: number): number {
    let e = this.model.blockEnd(f);
    for (let j = 0; j < RUN_BLOCKS && e < this.folds && this.sameFold(e, f); j++) e = this.model.blockEnd(e);
    return e;
  }

  /** alike folds repeat with period S (sub-tile 0 excluded: it carries the layer's parameters) */
  private acrossFolds(t: number): boolean {
    const f = Math.floor(t / this.S);
    return this.S <= this.maxPeriod && this.foldRunEnd(f) - this.foldRunStart(f) >= 2;
  }

  runStart(t: number): number {
    if (t === 0) return 0;
    const S = this.S;
    const f = Math.floor(t / S);
    if (S === 1 || this.acrossFolds(t)) return Math.max(1, this.foldRunStart(f) * S);
    // within a fold: its sub-tiles but the last are alike, unless outputs stream out pro rata
    return t - f * S < S - 1 && this.uniform(f) ? Math.max(1, f * S) : t;
  }

  runEnd(t: number): number {
    if (t === 0) return 1;
    const S = this.S;
    const f = Math.floor(t / S);
    if (S === 1 || this.acrossFolds(t)) return this.foldRunEnd(f) * S;
    return t - f * S < S - 1 && this.uniform(f) ? f * S + S - 1 : t + 1;
  }

  /** a fold whose sub-tiles but the last are identical: OS, or no outputs (a WS/IS fold before the last K fold) */
  private uniform(f: number): boolean {
    return this.os || this.foldCut(f).outs === 0;
  }

  runPeriod(t: number): number {
    return this.S > 1 && t > 0 && this.acrossFolds(t) ? this.S : 1;
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
  readsAfter(): number {
    return -1;
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
  runPeriod(): number {
    return 1;
  }
}
