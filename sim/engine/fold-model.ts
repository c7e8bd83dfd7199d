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

/** buffer bytes per tensor class: split buffers their own; a unified one whole when `need` fits, else 3/8, 3/8, 1/4 */
export function sharesFor(spec: ArchSpec, need: number): Shares {
  if (spec.memories.layout === 'split') {
    return { ifmap: spec.memories.ifmap!.capacityBytes, filter: spec.memories.filter!.capacityBytes, ofmap: spec.memories.ofmap!.capacityBytes };
  }
  const cap = spec.memories.glb!.capacityBytes;
  if (need <= cap) return { ifmap: cap, filter: cap, ofmap: cap };
  return { ifmap: Math.floor((cap * 3) / 8), filter: Math.floor((cap * 3) / 8), ofmap: Math.floor(cap / 4) };
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
export class FoldModel {
  private readonly v: FoldValues = { mLen: 0, kLen: 0, nLen: 0, nReal: 0, kFold: 0, last: false, ifElems: 0, wElems: 0, ifDram: 0, wDram: 0, outs: 0, spillOut: 0, spillIn: 0, psOut: 0, psIn: 0 };

  constructor(private readonly g: GemmShape) {}

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

/** a GEMM layer's closed-form shape (gemmShape) */
export type GemmShape = ReturnType<typeof gemmShape>;
