/**
 * Tiling of one layer for the native memory model, and the layer's counts.
 *
 * ## Tiling policy (simple on purpose)
 * - The PE array runs the FoldPlan's folds (sim/timing/compute.ts: SCALE-Sim's fold order, row
 *   folds fastest, groups one after another) and their compute cycles unchanged, so with DRAM that
 *   never stalls a layer takes exactly `totalComputeCycles` (SCALE-Sim's CALC compute model).
 * - Buffer space per tensor class: split layouts use their own buffers; a unified buffer holds the
 *   whole layer (ifmap + filter + ofmap) when it fits, otherwise it is shared 3/8 ifmap, 3/8 filter,
 *   1/4 ofmap (output staging and partial sums).
 * - An operand whose whole layer fits its share is RESIDENT: each slice is fetched from DRAM the
 *   first time a fold needs it and reused by later folds. Otherwise it is STREAMED: fetched again by
 *   every fold that needs it (except the fold right after one that used the same slice), into two
 *   slots (double buffering).
 * - When two slots of a fold's streamed slice (or of its output tile) do not fit, every fold is
 *   cut into S equal sub-tiles along its time dimension (OS: K, WS: M, IS: N); the fold's cycles
 *   and bytes are divided among them (remainders on the last; OS keeps the fold's fill and drain on
 *   the last, where its outputs leave; WS/IS outputs pro rata of cycles) — the array consumes a
 *   streamed operand at a uniform rate, so this changes when bytes must arrive, not the work.
 * - Ifmap DRAM bytes are the layer's unique ifmap bytes pro rata of each fold's im2col slice
 *   (halo re-reads at slice edges are not modelled); buffer→array bytes are the im2col operands.
 * - Partial sums (WS, IS with more than one K fold): the accumulators hold `pes · psumBytes /
 *   accBytes` entries (at least one column's worth). When a column fold's partial tile is larger, it
 *   spills after every K fold but the last and is read back before every K fold but the first: to
 *   the ofmap share of the buffer when it fits beside two output tiles (or in half of the share,
 *   the outputs then sub-tiled in the rest), else to DRAM (through the DMA, timed).
 * - Bias and requant parameters are fetched once per layer with the first tile. Each fold starting
 *   an accumulation reads its channels' bias; each fold producing outputs reads their requant
 *   parameters (one set when per-tensor).
 * - Asymmetric weights in the raw PE form: the data-dependent term z_w·Σq_x is computed by one
 *   extra array column of ones (N + 1 in the fold plan: its cycles are real), Σq_x costs M·K adds
 *   and applying z_w costs M·N multiply-adds, all counted as `extraAdds` (DESIGN.md).
 * - Buffer port bandwidth is assumed to match the array's edge (as SCALE-Sim assumes): accesses
 *   are counted for energy, not timed.
 *
 * ## Memory and work (sim/timing/limits.ts)
 * Nothing is stored per fold or sub-tile. A fold's numbers depend only on whether it is the first,
 * a middle or the last row and column fold (FoldModel), so a layer's counts are summed class by
 * class, and a TilePlan computes any sub-tile's cycles and bytes from its fold and position on
 * demand: a layer of billions of folds or sub-tiles plans in O(1) time and memory. The TilePlan
 * also says which sub-tiles are identical in timing (`runStart`/`runEnd`: a fold's sub-tiles but
 * the last when its outputs do not vary; with one sub-tile a fold, alike folds), which the engine
 * fast-forwards. `sizeLayer` says, in closed form, how many sub-tiles the engine will step one by
 * one.
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec, BufferName, BufferSpec, TensorClass } from '../../arch/spec.js';
import { planFolds, type FoldPlan } from '../timing/compute.js';
import type { GemmView } from '../timing/gemm-view.js';
import { FAST_FORWARD_WARMUP } from '../timing/limits.js';
import { zeroBits, type BitsClass } from '../result.js';
import { requantParamBitsPerChannel, type WorkloadLayer } from './workload.js';

export const enum SpillTarget {
  None = 0,
  Buffer = 1,
  Dram = 2,
}

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

export interface LayerAccounting {
  readonly macs: number;
  readonly extraAdds: number;
  readonly mappingEfficiency: number;
  readonly dramBuffer: Record<BitsClass, number>;
  readonly bufferArray: Record<BitsClass, number>;
  readonly psumSpill: number;
  readonly spills: { toBuffer: number; toDram: number };
  readonly dramRead: number;
  readonly dramWrite: number;
  readonly paramBytes: number;
  readonly counts: ActionCount[];
}

export interface LayerPlan {
  readonly tiles: TilePlan;
  readonly fold: FoldPlan | null;
  /** the view the array runs (N + 1 with the zero-point column) */
  readonly runView: GemmView | null;
  readonly accounting: LayerAccounting;
  readonly spill: SpillTarget;
  readonly subTiles: number;
  readonly residentIfmap: boolean;
  readonly residentFilter: boolean;
}

const ceilBytes = (elements: number, bits: number): number => Math.ceil((elements * bits) / 8);

/** share i of `total` cut into `parts` integer pieces (remainder on the last) */
function share(total: number, parts: number, i: number): number {
  const base = Math.floor(total / parts);
  return i === parts - 1 ? total - base * (parts - 1) : base;
}

interface Shares {
  ifmap: number;
  filter: number;
  ofmap: number;
}

function sharesFor(spec: ArchSpec, need: number): Shares {
  if (spec.memories.layout === 'split') {
    return { ifmap: spec.memories.ifmap!.capacityBytes, filter: spec.memories.filter!.capacityBytes, ofmap: spec.memories.ofmap!.capacityBytes };
  }
  const cap = spec.memories.glb!.capacityBytes;
  if (need <= cap) return { ifmap: cap, filter: cap, ofmap: cap };
  return { ifmap: Math.floor((cap * 3) / 8), filter: Math.floor((cap * 3) / 8), ofmap: Math.floor(cap / 4) };
}

/** Buffer access counts: bytes read/written per buffer instance, priced per word. */
class BufferTraffic {
  private readonly read = new Map<BufferName, number>();
  private readonly write = new Map<BufferName, number>();
  constructor(private readonly spec: ArchSpec) {}
  add(t: TensorClass, readBytes: number, writeBytes: number): void {
    const name = this.spec.memories.bufferOf[t];
    this.read.set(name, (this.read.get(name) ?? 0) + readBytes);
    this.write.set(name, (this.write.get(name) ?? 0) + writeBytes);
  }
  counts(out: ActionCount[]): void {
    for (const [name, bytes] of this.write) push(out, 'sram', 'write', this.spec.memories[name]!, name, bytes);
    for (const [name, bytes] of this.read) push(out, 'sram', 'read', this.spec.memories[name]!, name, bytes);
  }
}

function push(out: ActionCount[], component: string, action: string, b: BufferSpec, label: string, bytes: number): void {
  if (bytes <= 0) return;
  out.push({ component, action, bits: b.wordBits, capacityBytes: b.capacityBytes, count: Math.ceil(bytes / (b.wordBits / 8)), label });
}

function requantCounts(spec: ArchSpec, layer: WorkloadLayer, outputs: number, out: ActionCount[], traffic: BufferTraffic, bufferArray: Record<BitsClass, number>): void {
  if (outputs <= 0) return;
  out.push({ component: 'multiplier', action: 'mult', bits: [layer.accBits, spec.requant.multiplierBits], count: outputs, label: 'requant' });
  out.push({ component: 'adder', action: 'add', bits: layer.accBits, count: outputs, label: 'requant' });
  const a = layer.activation;
  if (a.kind === 'clamp') out.push({ component: 'adder', action: 'add', bits: layer.outputBits, count: outputs, label: 'activation' });
  if (a.kind === 'lut') {
    out.push({ component: 'sram', action: 'read', bits: layer.outputBits, capacityBytes: a.entries * Math.ceil(layer.outputBits / 8), count: outputs, label: 'lut' });
  }
  if (a.kind !== 'none' && !a.fused) {
    // no fused unit: int32 results written to the buffer and read back for the activation
    const bytes = ceilBytes(outputs, 32);
    bufferArray.outputs += 2 * outputs * 32;
    traffic.add('ofmap', bytes, bytes);
  }
}

function dramCounts(out: ActionCount[], readBytes: number, writeBytes: number): void {
  if (readBytes > 0) out.push({ component: 'dram', action: 'read', bits: 64, count: Math.ceil(readBytes / 8), label: 'dram' });
  if (writeBytes > 0) out.push({ component: 'dram', action: 'write', bits: 64, count: Math.ceil(writeBytes / 8), label: 'dram' });
}

/** `[index, count]` of the first, middle and last folds along an axis of `n` folds (the classes a fold's numbers depend on) */
function foldClasses(n: number): [number, number][] {
  if (n === 1) return [[0, 1]];
  if (n === 2) return [
    [0, 1],
    [1, 1],
  ];
  return [
    [0, 1],
    [1, n - 2],
    [n - 1, 1],
  ];
}

/** What one fold moves and produces (FoldModel.at). */
interface FoldValues {
  mLen: number;
  kLen: number;
  nLen: number;
  /** output channels of the fold without the zero-point column */
  nReal: number;
  kFold: number;
  /** the fold's last K fold: its outputs are final */
  last: boolean;
  /** im2col elements and weights the array reads */
  ifElems: number;
  wElems: number;
  /** DRAM bytes of the ifmap and weight slices (0 when already on chip) */
  ifDram: number;
  wDram: number;
  /** final outputs */
  outs: number;
  /** partial-sum entries spilled after the fold and read back before it */
  spillOut: number;
  spillIn: number;
  /** of those, bytes to / from DRAM */
  psOut: number;
  psIn: number;
}

/**
 * The numbers of fold (fr, fc) of a GEMM layer in closed form. Folds run group by group, column
 * fold by column fold, row folds fastest (SCALE-Sim's order); a slice is fetched from DRAM unless
 * the fold before used the same one or it is resident and an earlier fold fetched it:
 * - OS/WS ifmap slice (one per row fold): resident → fetched by the first column fold only;
 *   streamed → by every fold, except with a single row fold, where consecutive folds share it
 *   (fetched once per group);
 * - OS weight slice (one per column fold): fetched by its first row fold;
 * - WS weights, IS ifmap: every fold has its own slice;
 * - IS weight slice (one per row fold): as the OS/WS ifmap slice.
 * So a fold's numbers depend only on whether it is the first, a middle or the last row fold and
 * column fold: the group is irrelevant, and every middle fold of an axis is alike.
 */
class FoldModel {
  private readonly v: FoldValues = { mLen: 0, kLen: 0, nLen: 0, nReal: 0, kFold: 0, last: false, ifElems: 0, wElems: 0, ifDram: 0, wDram: 0, outs: 0, spillOut: 0, spillIn: 0, psOut: 0, psIn: 0 };

  constructor(private readonly g: ReturnType<typeof gemmShape>) {}

  /** fold (fr, fc)'s numbers, in a scratch object valid until the next call */
  at(fr: number, fc: number): FoldValues {
    const { R, C, Sr, Sc, M, K, N, Neff, df, rowFolds, kFolds, spill, accBytes, aBits, wBits, ratio, residentIfmap, residentFilter } = this.g;
    const v = this.v;
    const r0 = fr * R;
    const r1 = Math.min(Sr, r0 + R);
    const c0 = fc * C;
    const c1 = Math.min(Sc, c0 + C);
    // a single row fold: consecutive column folds share the row-fold slice
    const shared = rowFolds === 1 && fc > 0;
    let ifFetch: boolean;
    let wFetch: boolean;
    if (df === 'os') {
      v.mLen = r1 - r0;
      v.nLen = c1 - c0;
      v.kLen = K;
      v.kFold = 0;
      ifFetch = residentIfmap ? fc === 0 : !shared;
      wFetch = fr === 0;
    } else if (df === 'ws') {
      v.kLen = r1 - r0;
      v.nLen = c1 - c0;
      v.mLen = M;
      v.kFold = fr;
      ifFetch = residentIfmap ? fc === 0 : !shared;
      wFetch = true;
    } else {
      v.kLen = r1 - r0;
      v.mLen = c1 - c0;
      v.nLen = Neff;
      v.kFold = fr;
      ifFetch = true;
      wFetch = residentFilter ? fc === 0 : !shared;
    }
    const nStart = df === 'is' ? 0 : c0;
    v.nReal = Math.max(0, Math.min(N, nStart + v.nLen) - nStart);
    v.ifElems = v.mLen * v.kLen;
    v.wElems = v.kLen * v.nReal;
    v.ifDram = ifFetch ? Math.ceil(ceilBytes(v.ifElems, aBits) * ratio) : 0;
    v.wDram = wFetch ? ceilBytes(v.wElems, wBits) : 0;
    v.last = v.kFold === kFolds - 1;
    v.outs = v.last ? v.mLen * v.nReal : 0;
    // partial sums of this fold's tile (ones column included)
    const entries = spill !== SpillTarget.None ? v.mLen * v.nLen : 0;
    v.spillOut = spill !== SpillTarget.None && !v.last ? entries : 0;
    v.spillIn = spill !== SpillTarget.None && v.kFold > 0 ? entries : 0;
    v.psIn = spill === SpillTarget.Dram ? v.spillIn * accBytes : 0;
    v.psOut = spill === SpillTarget.Dram ? v.spillOut * accBytes : 0;
    return v;
  }

  /** fold index f's (fr, fc) numbers */
  ofFold(f: number): FoldValues {
    const { rowFolds, perGroup } = this.g;
    const rem = f % perGroup;
    const fc = Math.floor(rem / rowFolds);
    return this.at(rem - fc * rowFolds, fc);
  }

  /** first fold of the block of alike folds (same row and column class, same group) holding f */
  blockStart(f: number): number {
    const { rowFolds, colFolds, perGroup } = this.g;
    const rem = f % perGroup;
    const fc = Math.floor(rem / rowFolds);
    const fr = rem - fc * rowFolds;
    if (rowFolds > 1) return fr > 0 && fr < rowFolds - 1 ? f - (fr - 1) : f;
    return fc > 0 && fc < colFolds - 1 ? f - (fc - 1) : f;
  }

  /** one past the last fold of the block holding f */
  blockEnd(f: number): number {
    const { rowFolds, colFolds, perGroup } = this.g;
    const rem = f % perGroup;
    const fc = Math.floor(rem / rowFolds);
    const fr = rem - fc * rowFolds;
    if (rowFolds > 1) return fr > 0 && fr < rowFolds - 1 ? f + (rowFolds - 1 - fr) : f + 1;
    return fc > 0 && fc < colFolds - 1 ? f + (colFolds - 1 - fc) : f + 1;
  }
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
class GemmTiles implements TilePlan {
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
class VectorTiles implements TilePlan {
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

function passesOf(layer: WorkloadLayer): number {
  return layer.activation.kind !== 'none' && !layer.activation.fused ? 2 : 1;
}

/** The closed-form part of a GEMM layer's plan: fold plan, buffer shares, residency, spill target, sub-tiles per fold. */
function gemmShape(spec: ArchSpec, layer: WorkloadLayer) {
  const view = layer.view!;
  const { M, K, N, groups } = view;
  const zp = layer.zeroPointTerm;
  const Neff = zp ? N + 1 : N;
  const runView: GemmView = zp ? { ...view, N: Neff } : view;
  const R = spec.array.rows;
  const C = spec.array.cols;
  const df = spec.array.dataflow;
  const fp = planFolds(runView, R, C, df);
  const { rowFolds, colFolds, Sr, Sc } = fp;
  const perGroup = rowFolds * colFolds;
  const folds = perGroup * groups;
  const kFolds = df === 'os' ? 1 : rowFolds;
  const wBits = layer.weightBits;
  const aBits = layer.activationBits;
  const oBits = layer.outputBits;
  const accBytes = Math.ceil(layer.accBits / 8);
  const im2colBytes = ceilBytes(groups * M * K, aBits);
  const ratio = im2colBytes > 0 ? Math.min(1, layer.ifmapBytes / im2colBytes) : 1;

  // --- buffer shares and residency
  const shares = sharesFor(spec, layer.ifmapBytes + layer.weightBytes + layer.ofmapBytes + layer.biasBytes + layer.requantParamBytes);
  const residentIfmap = layer.ifmapBytes <= shares.ifmap;
  const residentFilter = layer.weightBytes + layer.biasBytes + layer.requantParamBytes <= shares.filter;

  // full-fold slice sizes (the largest fold)
  const rLen = Math.min(R, Sr);
  const cLen = Math.min(C, Sc);
  let ifSlice: number; // im2col elements of one fold
  let wSlice: number;
  let outTile: number; // outputs of one fold
  let partials: number; // partial-sum entries of one column fold (WS/IS)
  if (df === 'os') {
    ifSlice = rLen * K;
    wSlice = K * cLen;
    outTile = rLen * cLen;
    partials = 0;
  } else if (df === 'ws') {
    ifSlice = M * rLen;
    wSlice = rLen * cLen;
    outTile = M * cLen;
    partials = M * cLen;
  } else {
    ifSlice = rLen * cLen;
    wSlice = rLen * Neff;
    outTile = cLen * Neff;
    partials = cLen * Neff;
  }
  const ifSliceBytes = Math.ceil(ceilBytes(ifSlice, aBits) * ratio);
  const wSliceBytes = ceilBytes(wSlice, wBits);
  const outTileBytes = ceilBytes(outTile, oBits);

  // --- partial sums
  const accEntries = Math.max(C, Math.floor((spec.array.pes * spec.pe.registers.psumBytes) / accBytes));
  let spill = SpillTarget.None;
  let ofmapForOutputs = shares.ofmap;
  if (kFolds > 1 && partials > accEntries) {
    const psumBytes = partials * accBytes;
    if (psumBytes + 2 * outTileBytes <= shares.ofmap || psumBytes <= shares.ofmap / 2) {
      spill = SpillTarget.Buffer;
      ofmapForOutputs = shares.ofmap - psumBytes;
    } else spill = SpillTarget.Dram;
  }

  // --- sub-tiles per fold: the split dimension (OS: K, WS: M, IS: N) shrinks some slices
  const need = (bytes: number, room: number): number => (room > 0 ? Math.ceil((2 * bytes) / room) : 1);
  let S = 1;
  if (df === 'os') {
    if (!residentIfmap) S = Math.max(S, need(ifSliceBytes, shares.ifmap));
    if (!residentFilter) S = Math.max(S, need(wSliceBytes, shares.filter));
  } else if (df === 'ws') {
    if (!residentIfmap) S = Math.max(S, need(ifSliceBytes, shares.ifmap));
    S = Math.max(S, need(outTileBytes, ofmapForOutputs));
  } else {
    if (!residentFilter) S = Math.max(S, need(wSliceBytes, shares.filter));
    S = Math.max(S, need(outTileBytes, ofmapForOutputs));
  }
  const splitLen = df === 'os' ? K : df === 'ws' ? M : Neff;
  S = Math.max(1, Math.min(S, splitLen, fp.foldCycles));
  return { view, M, K, N, groups, zp, Neff, runView, R, C, df, fp, rowFolds, colFolds, Sr, Sc, perGroup, folds, kFolds, wBits, aBits, oBits, accBytes, ratio, shares, residentIfmap, residentFilter, spill, accEntries, S };
}

/** Size of a layer's plan, in closed form (nothing allocated). */
export interface LayerSize {
  /** folds of a GEMM layer (0 for vector layers) */
  readonly folds: number;
  /** sub-tiles per fold (vector layers: sub-tiles) */
  readonly subTiles: number;
  /** all sub-tiles */
  readonly tiles: number;
  /**
   * an upper estimate of the sub-tiles the event engine simulates one by one: every sub-tile of a
   * fold whose output count varies between its sub-tiles, a warm-up of the others' identical runs
   */
  readonly eventTiles: number;
}

/** Folds and sub-tiles of a layer's plan, and the engine work it implies, before planning it. */
export function sizeLayer(spec: ArchSpec, layer: WorkloadLayer): LayerSize {
  if (layer.kind === 'gemm') {
    const g = gemmShape(spec, layer);
    const S = g.S;
    // a run of n identical sub-tiles is stepped until its timing repeats (a warm-up), then skipped
    const run = (n: number): number => Math.min(n, FAST_FORWARD_WARMUP + 1);
    let eventTiles: number;
    if (S === 1) {
      // one sub-tile a fold: blocks of alike folds (first / middle / last row fold of each column
      // fold; with a single row fold, first / middle / last column fold of each group)
      const along = (n: number): number => (n <= 2 ? n : 2 + run(n - 2));
      eventTiles = g.rowFolds > 1 ? g.groups * g.colFolds * along(g.rowFolds) : g.groups * along(g.colFolds);
    } else {
      // WS/IS: the last K fold of every column fold produces outputs pro rata of cycles, which
      // vary by one between sub-tiles: all stepped; other folds: a run of S − 1, then the last
      const varying = g.df === 'os' ? 0 : g.groups * g.colFolds;
      eventTiles = varying * S + (g.folds - varying) * (run(S - 1) + 1);
    }
    return { folds: g.folds, subTiles: S, tiles: g.folds * S, eventTiles };
  }
  if (layer.kind === 'vector') {
    const S = vectorSubTiles(spec, layer);
    return { folds: 0, subTiles: S, tiles: S, eventTiles: Math.min(S, FAST_FORWARD_WARMUP + 1) };
  }
  return { folds: 0, subTiles: 0, tiles: 0, eventTiles: 0 };
}

/** `file.csv:12 (layer conv1)` or `layer conv1`: where a layer came from, for messages */
export function layerWhere(layer: Pick<WorkloadLayer, 'name' | 'view'>): string {
  const origin = layer.view?.origin;
  return origin ? `${origin} (layer ${layer.name})` : `layer ${layer.name}`;
}

/** Plans a GEMM layer (see the policy above): O(1) time and memory whatever its size. */
export function planGemmLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
  const shape = gemmShape(spec, layer);
  const { M, K, N, groups, zp, Neff, runView, C, df, fp, rowFolds, colFolds, oBits, S } = shape;
  const model = new FoldModel(shape);

  // --- the folds' sums, class by class: a fold's numbers depend only on whether it is the first,
  // a middle or the last row fold and column fold (FoldModel), so each class is counted once
  // times how many folds it has — O(1) whatever the number of folds
  const dramBuffer = zeroBits();
  const bufferArray = zeroBits();
  let psumSpillBits = 0;
  let toBuffer = 0;
  let toDram = 0;
  let biasReadCh = 0;
  let rqReadSets = 0;
  let outputsTotal = 0;
  const pbits = requantParamBitsPerChannel(spec);
  for (const [fr, nr] of foldClasses(rowFolds)) {
    for (const [fc, nc] of foldClasses(colFolds)) {
      const n = nr * nc * groups;
      const v = model.at(fr, fc);
      bufferArray.inputs += v.ifElems * shape.aBits * n;
      bufferArray.weights += v.wElems * shape.wBits * n;
      dramBuffer.inputs += v.ifDram * 8 * n;
      dramBuffer.weights += v.wDram * 8 * n;
      outputsTotal += v.outs * n;
      if (v.kFold === 0) biasReadCh += v.nReal * n;
      // per-channel (M0, shift) sets follow the output channels of each tile; a per-tensor set
      // sits in the requant unit's register for the whole layer (read once, below)
      if (v.last && layer.perChannel) rqReadSets += v.nReal * n;
      psumSpillBits += (v.spillOut + v.spillIn) * layer.accBits * n;
      if (shape.spill === SpillTarget.Buffer) {
        toBuffer += v.spillOut * n;
        bufferArray.psums += (v.spillOut + v.spillIn) * layer.accBits * n;
      } else if (shape.spill === SpillTarget.Dram) {
        toDram += v.spillOut * n;
        dramBuffer.psums += (v.spillOut + v.spillIn) * layer.accBits * n;
      }
    }
  }
  // bias and requant parameters come with the first tile
  const tiles = new GemmTiles(model, shape.folds, S, df === 'os', K, fp.foldCycles, oBits, layer.biasBytes + layer.requantParamBytes, passesOf(layer), df === 'is' ? Math.min(C, M) : Math.min(C, Neff), df !== 'os');
  dramBuffer.bias += layer.biasBytes * 8;
  dramBuffer.requantParams += layer.requantParamBytes * 8;
  bufferArray.bias += biasReadCh * 32;
  if (!layer.perChannel && layer.requantParamBytes > 0) rqReadSets += 1;
  bufferArray.requantParams += rqReadSets * pbits;
  const outBytes = ceilBytes(outputsTotal, oBits);
  dramBuffer.outputs += outBytes * 8;
  bufferArray.outputs += outputsTotal * oBits;

  // --- action counts
  const counts: ActionCount[] = [];
  const macs = groups * M * K * N;
  const extraAdds = zp ? groups * M * K + groups * M * N : 0;
  const wOp = spec.pe.weightOperandBits;
  const aOp = spec.pe.activationOperandBits;
  counts.push({ component: 'multiplier', action: 'mult', bits: [wOp, aOp], count: macs, label: 'array' });
  counts.push({ component: 'adder', action: 'add', bits: spec.accumulator.psumBits, count: macs, label: 'array' });
  const regs = spec.pe.registers;
  if (regs.weightBytes > 0) counts.push({ component: 'regfile', action: 'read', bits: wOp, count: macs, label: 'pe-weight' });
  if (regs.inputBytes > 0) counts.push({ component: 'regfile', action: 'read', bits: aOp, count: macs, label: 'pe-input' });
  if (regs.psumBytes > 0) counts.push({ component: 'regfile', action: 'write', bits: spec.accumulator.psumBits, count: macs, label: 'pe-psum' });
  if (zp) {
    counts.push({ component: 'adder', action: 'add', bits: layer.accBits, count: extraAdds, label: 'zp-term' });
    counts.push({ component: 'multiplier', action: 'mult', bits: [wOp, layer.accBits], count: groups * M * N, label: 'zp-term' });
  }
  const traffic = new BufferTraffic(spec);
  const dramReadBytes = (dramBuffer.inputs + dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8 + (shape.spill === SpillTarget.Dram ? (toDram * shape.accBytes) : 0);
  const dramWriteBytes = outBytes + (shape.spill === SpillTarget.Dram ? toDram * shape.accBytes : 0);
  traffic.add('ifmap', bufferArray.inputs / 8, dramBuffer.inputs / 8);
  traffic.add('filter', (bufferArray.weights + bufferArray.bias + bufferArray.requantParams) / 8, (dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8);
  traffic.add('ofmap', outBytes + bufferArray.psums / 16, outBytes + bufferArray.psums / 16);
  requantCounts(spec, layer, outputsTotal, counts, traffic, bufferArray);
  traffic.counts(counts);
  dramCounts(counts, dramReadBytes, dramWriteBytes);
  return {
    tiles,
    fold: fp,
    runView,
    accounting: {
      macs,
      extraAdds,
      mappingEfficiency: fp.mappingEfficiency,
      dramBuffer,
      bufferArray,
      psumSpill: psumSpillBits,
      spills: { toBuffer, toDram },
      dramRead: dramReadBytes,
      dramWrite: dramWriteBytes,
      paramBytes: layer.weightBytes + layer.biasBytes + layer.requantParamBytes,
      counts,
    },
    spill: shape.spill,
    subTiles: S,
    residentIfmap: shape.residentIfmap,
    residentFilter: shape.residentFilter,
  };
}

/** Plans a vector layer: element work on the requant unit, tiled to fit double-buffered. */
/** sub-tiles of a vector layer: enough for its input and output to fit double-buffered */
function vectorSubTiles(spec: ArchSpec, layer: WorkloadLayer): number {
  const shares = sharesFor(spec, layer.ifmapBytes + layer.ofmapBytes);
  const S = Math.max(1, Math.ceil((2 * layer.ifmapBytes) / shares.ifmap), Math.ceil((2 * layer.ofmapBytes) / shares.ofmap));
  return Math.min(S, Math.max(1, layer.vectorElements));
}

export function planVectorLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
  const E = layer.vectorElements;
  const lanes = spec.requant.lanesPerCycle;
  const S = vectorSubTiles(spec, layer);
  const tiles = new VectorTiles(S, E, lanes, passesOf(layer), layer.ifmapBytes, layer.ofmapBytes);
  const dramBuffer = zeroBits();
  const bufferArray = zeroBits();
  dramBuffer.inputs = layer.ifmapBytes * 8;
  dramBuffer.outputs = layer.ofmapBytes * 8;
  bufferArray.inputs = layer.ifmapBytes * 8;
  bufferArray.outputs = layer.ofmapBytes * 8;
  const counts: ActionCount[] = [];
  if (E > 0) {
    const op = layer.vectorOp;
    // add: both inputs rescaled (two multiplies) then summed; pool/concat/quantize: one of each
    const mults = op === 'add' ? 2 * E : op === 'pool' || op === 'concat' ? 0 : E;
    if (mults > 0) counts.push({ component: 'multiplier', action: 'mult', bits: [layer.accBits, spec.requant.multiplierBits], count: mults, label: 'vector' });
    counts.push({ component: 'adder', action: 'add', bits: layer.accBits, count: E, label: 'vector' });
    const a = layer.activation;
    if (a.kind === 'lut') counts.push({ component: 'sram', action: 'read', bits: layer.outputBits, capacityBytes: a.entries * Math.ceil(layer.outputBits / 8), count: E, label: 'lut' });
    if (a.kind === 'clamp') counts.push({ component: 'adder', action: 'add', bits: layer.outputBits, count: E, label: 'activation' });
  }
  const traffic = new BufferTraffic(spec);
  traffic.add('ifmap', layer.ifmapBytes, layer.ifmapBytes);
  traffic.add('ofmap', layer.ofmapBytes, layer.ofmapBytes);
  traffic.counts(counts);
  dramCounts(counts, layer.ifmapBytes, layer.ofmapBytes);
  return {
    tiles,
    fold: null,
    runView: null,
    accounting: {
      macs: 0,
      extraAdds: 0,
      mappingEfficiency: 0,
      dramBuffer,
      bufferArray,
      psumSpill: 0,
      spills: { toBuffer: 0, toDram: 0 },
      dramRead: layer.ifmapBytes,
      dramWrite: layer.ofmapBytes,
      paramBytes: 0,
      counts,
    },
    spill: SpillTarget.None,
    subTiles: S,
    residentIfmap: false,
    residentFilter: false,
  };
}
