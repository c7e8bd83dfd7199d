/**
 * The closed form of a GEMM layer under the native tiling policy (plan.ts states it): the fold
 * plan, buffer shares, residency, partial-sum spill target and sub-tiles per fold (`gemmShape`),
 * and the numbers of any one fold from its row and column fold (`FoldModel`). Its own file because
 * both the layer's counts (plan.ts, summed by fold class) and the sub-tiles the engine steps
 * (tiles.ts, decoded fold by fold) are read off these numbers.
 */
import type { ArchSpec } from '../../arch/spec.js';
import { planFolds } from '../timing/compute.js';
import type { GemmView } from '../timing/gemm-view.js';
import type { WorkloadLayer } from './workload.js';

/** where a column fold's partial sums go between K folds when the accumulators cannot hold them */
export const enum SpillTarget {
  None = 0,
  Buffer = 1,
  Dram = 2,
}

/** bytes of `elements` values of `bits` bits each, rounded up */
export const ceilBytes = (elements: number, bits: number): number => Math.ceil((elements * bits) / 8);

interface Shares {
  ifmap: number;
  filter: number;
  ofmap: number;
}

/**
 * buffer bytes per tensor class: split buffers their own; a unified one whole when `need` fits, else
 * 3/8, 3/8, 1/4. `reserved`: bytes of the unified buffer held across a layer boundary (sim/engine/
 * on-chip.ts) — the shares are cut from what is left, for what is left of `need` once the bytes
 * of it the reserve already holds (`covered`: the kept tensors; a band's line buffer holds a
 * tensor in less room, and the partner's weights it also holds are none of this layer's need).
 */
export function sharesFor(spec: ArchSpec, need: number, reserved = 0, covered = reserved): Shares {
  if (spec.memories.layout === 'split') {
    return { ifmap: spec.memories.ifmap!.capacityBytes, filter: spec.memories.filter!.capacityBytes, ofmap: spec.memories.ofmap!.capacityBytes };
  }
  const cap = Math.max(0, spec.memories.glb!.capacityBytes - reserved);
  if (need - covered <= cap) return { ifmap: cap, filter: cap, ofmap: cap };
  return { ifmap: Math.floor((cap * 3) / 8), filter: Math.floor((cap * 3) / 8), ofmap: Math.floor(cap / 4) };
}

/** bytes of a layer's own tensors that stay on chip across its boundaries: the kept input and output */
export function keptBytes(layer: WorkloadLayer): number {
  return (layer.ifmapOnChipBytes ?? 0) + (layer.ofmapOnChip ? layer.ofmapBytes : 0);
}

/** bytes of the unified buffer held across the layer's boundaries while it runs (a band's reserve, else the kept tensors) */
export function reservedBytes(layer: WorkloadLayer): number {
  return layer.onChipReserveBytes ?? keptBytes(layer);
}

/** `[index, count]` of the first, middle and last folds along an axis of `n` folds (the classes a fold's numbers depend on) */
export function foldClasses(n: number): [number, number][] {
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
export interface FoldValues {
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
  /**
   * DRAM bits of the ifmap and weight slices (0 when already on chip): exact bits, not bytes
   * rounded up per fold — a packed sub-byte operand fetched once costs its size, not a byte a
   * fold. The ifmap's are the unique ifmap bits pro rata of the im2col elements (a fraction).
   */
  ifDramBits: number;
  wDramBits: number;
  /** final outputs */
  outs: number;
  /** partial-sum entries spilled after the fold and read back before it */
  spillOut: number;
  spillIn: number;
  /** of those, bytes to / from DRAM (whole accumulator bytes per entry: what the DMA moves) */
  psOut: number;
  psIn: number;
}

/**
 * The numbers of fold (fr, fc) of a GEMM layer in closed form. Folds run group by group, column
 * fold by column fold, row folds fastest (SCALE-Sim's order). Which folds fetch a slice from DRAM:
 * - a RESIDENT operand (the whole layer's fits its share): the first fold that needs a slice;
 * - a STREAMED one: every fold, except when the fold before used the same slice and that slice
 *   fits one of its two slots whole (`keep*`): then it is still there. A slice cut into sub-tiles
 *   because it does not fit is gone by the time the next fold starts — it streamed through.
 * Slices: OS ifmap (g, fr) and weights (g, fc); WS ifmap (g, fr) and weights (g, fr, fc); IS
 * ifmap (g, fr, fc) and weights (g, fr). The zero-point column of ones (asymmetric weights, raw
 * PE form) is column 0 of the N axis, in the first column fold: Σq_x exists before any output of
 * the layer is requantized.
 * So a fold's numbers depend only on whether it is the first, a middle or the last row fold and
 * column fold: the group is irrelevant, and every middle fold of an axis is alike.
 */
export class FoldModel {
  private readonly v: FoldValues = { mLen: 0, kLen: 0, nLen: 0, nReal: 0, kFold: 0, last: false, ifElems: 0, wElems: 0, ifDramBits: 0, wDramBits: 0, outs: 0, spillOut: 0, spillIn: 0, psOut: 0, psIn: 0 };

  constructor(private readonly g: GemmShape) {}

  /** fold (fr, fc)'s numbers, in a scratch object valid until the next call */
  at(fr: number, fc: number): FoldValues {
    const { R, C, Sr, Sc, M, K, N, Neff, df, rowFolds, kFolds, spill, accBytes, wBits, residentIfmap, residentFilter, keepIfmap, keepFilter, ifmapBits, im2colElems } = this.g;
    const v = this.v;
    const r0 = fr * R;
    const r1 = Math.min(Sr, r0 + R);
    const c0 = fc * C;
    const c1 = Math.min(Sc, c0 + C);
    // a slice used by every column fold of a row fold is reused by consecutive folds only when
    // there is a single row fold
    const rowSliceKept = rowFolds === 1 && fc > 0;
    let ifFetch: boolean;
    let wFetch: boolean;
    if (df === 'os') {
      v.mLen = r1 - r0;
      v.nLen = c1 - c0;
      v.kLen = K;
      v.kFold = 0;
      ifFetch = residentIfmap ? fc === 0 : !(rowSliceKept && keepIfmap);
      wFetch = fr === 0 || !(residentFilter || keepFilter);
    } else if (df === 'ws') {
      v.kLen = r1 - r0;
      v.nLen = c1 - c0;
      v.mLen = M;
      v.kFold = fr;
      ifFetch = residentIfmap ? fc === 0 : !(rowSliceKept && keepIfmap);
      wFetch = true;
    } else {
      v.kLen = r1 - r0;
      v.mLen = c1 - c0;
      v.nLen = Neff;
      v.kFold = fr;
      ifFetch = true;
      wFetch = residentFilter ? fc === 0 : !(rowSliceKept && keepFilter);
    }
    // real output channels: the N axis without its column of ones (column 0 when present)
    const off = Neff - N;
    v.nReal = df === 'is' ? N : Math.max(0, c1 - Math.max(c0, off));
    v.ifElems = v.mLen * v.kLen;
    v.wElems = v.kLen * v.nReal;
    v.ifDramBits = ifFetch && !this.g.ifmapOnChip ? (v.ifElems * ifmapBits) / im2colElems : 0;
    v.wDramBits = wFetch ? v.wElems * wBits : 0;
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

/** The closed-form part of a GEMM layer's plan: fold plan, buffer shares, residency, spill target, sub-tiles per fold. */
export function gemmShape(spec: ArchSpec, layer: WorkloadLayer) {
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
  const im2colElems = groups * M * K;
  // unique ifmap bits pro rata of the im2col elements a slice covers (halo re-reads at slice
  // edges not modelled); never more than the im2col operand itself (a strided conv skipping pixels)
  const ifmapBits = Math.min(layer.ifmapBytes * 8, im2colElems * aBits);
  const ratio = im2colElems > 0 ? ifmapBits / (im2colElems * aBits) : 1;

  // --- buffer shares and residency; an input left on chip by the layer before is resident where
  // it lies, an output kept for the next layer is written where it stays (sim/engine/on-chip.ts)
  const ifmapOnChip = (layer.ifmapOnChipBytes ?? 0) > 0;
  const ofmapKept = layer.ofmapOnChip !== undefined;
  const reserved = reservedBytes(layer);
  const shares = sharesFor(spec, layer.ifmapBytes + layer.weightBytes + layer.ofmapBytes + layer.biasBytes + layer.requantParamBytes, reserved, keptBytes(layer));
  const residentIfmap = ifmapOnChip || layer.ifmapBytes <= shares.ifmap;
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

  // --- sub-tiles per fold: the split dimension (OS: K, WS: M, IS: N) shrinks some slices; a
  // streamed slice that fits one of its two slots whole stays there for the next fold that uses it
  const need = (bytes: number, room: number): number => (room > 0 ? Math.ceil((2 * bytes) / room) : 1);
  const sIfmap = residentIfmap || df === 'is' ? 1 : need(ifSliceBytes, shares.ifmap);
  const sFilter = residentFilter || df === 'ws' ? 1 : need(wSliceBytes, shares.filter);
  const keepIfmap = residentIfmap || need(ifSliceBytes, shares.ifmap) <= 1;
  const keepFilter = residentFilter || need(wSliceBytes, shares.filter) <= 1;
  let S = Math.max(sIfmap, sFilter);
  if (df !== 'os' && !ofmapKept) S = Math.max(S, need(outTileBytes, ofmapForOutputs));
  // whether the layer can run in what is left beside the tensors kept on chip: the split slices
  // fit double-buffered at the finest cut, the uncut ones twice whole (consulted by the on-chip
  // policy only — a layer without kept tensors runs as today whatever its buffer)
  const splitMax = df === 'os' ? K : df === 'ws' ? M : Neff;
  const uncutFits =
    (df !== 'ws' || residentFilter || 2 * wSliceBytes <= shares.filter) &&
    (df !== 'is' || residentIfmap || 2 * ifSliceBytes <= shares.ifmap) &&
    (df !== 'os' || ofmapKept || 2 * outTileBytes <= ofmapForOutputs);
  const fits = shares.filter > 0 && S <= splitMax && uncutFits;
  // and at least a few sub-tiles a fold, so that loads, compute and write-back overlap even when
  // everything fits (a buffer large enough to hold the layer must not serialize them)
  S = Math.max(S, pipelineSubTiles(spec, fp.foldCycles));
  const splitLen = df === 'os' ? K : df === 'ws' ? M : Neff;
  S = Math.max(1, Math.min(S, splitLen, fp.foldCycles));
  return { view, M, K, N, groups, zp, Neff, runView, R, C, df, fp, rowFolds, colFolds, Sr, Sc, perGroup, folds, kFolds, wBits, aBits, oBits, accBytes, im2colElems, ifmapBits, shares, residentIfmap, residentFilter, keepIfmap, keepFilter, spill, accEntries, S, ifmapOnChip, ofmapKept, fits };
}

/** sub-tiles a fold is cut into at least (PIPELINE_SUB_TILES, each of ≥ pipelineMinCycles) */
export const PIPELINE_SUB_TILES = 16;

/**
 * Cycles a pipelining sub-tile lasts at least: the next sub-tile's load is issued when the one
 * before the current has computed, so a sub-tile must outlast a DRAM round trip for the loads to
 * keep up (and cutting finer than a few dozen cycles only adds transfers).
 */
function pipelineMinCycles(spec: ArchSpec): number {
  return Math.max(32, 2 * spec.memories.dram.latencyCycles);
}

/** sub-tiles a fold (or a vector layer) of `cycles` is cut into for overlap alone; 1 in calc mode (transfers take no time) */
export function pipelineSubTiles(spec: ArchSpec, cycles: number): number {
  if (spec.memories.dram.mode === 'calc') return 1;
  return Math.max(1, Math.min(PIPELINE_SUB_TILES, Math.floor(cycles / pipelineMinCycles(spec))));
}

/** a GEMM layer's closed-form shape (gemmShape) */
export type GemmShape = ReturnType<typeof gemmShape>;
