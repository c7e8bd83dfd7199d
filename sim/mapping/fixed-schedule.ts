/**
 * Today's fixed schedule (SCALE-Sim style, sim/timing/compute.ts `planFolds`) of one conv on a
 * preset, written as a Timeloop mapping of the preset's hierarchy (arch/preset-hierarchy.ts), so
 * that it and a searched mapping are priced by the same model (`evaluateTimeloop`).
 *
 * Weight-stationary (edge-npu, tpu-like and eyeriss-like; output-stationary presets: see
 * `fixedOsSpec` below; input-stationary arch specs (no preset is): `fixedIsSpec`): the array's rows take the GEMM's K = C·R·S of a group, its columns
 * N = M, the output pixels stream through. As a loop nest (innermost first):
 * - `WeightReg` temporal Q, P, N: the P·Q·N output pixels stream past one stationary weight per PE
 *   (`InputReg` below holds the one input in flight: no loops);
 * - row spatial (the `Accumulator`'s Y fanout; the glb's Y fanout without one): C, R, S factors
 *   c·r·s ≤ rows; column spatial (the glb's X fanout): M factor ≤ cols;
 * - the K folds (temporal C, S, R, innermost first: a fold takes the next channels of one filter
 *   tap) at the `Accumulator` — SCALE-Sim runs a column fold's row folds back to back ("for fc:
 *   for fr:"), so the partial sums accumulate there, as in qloom's pooled accumulator — or at the
 *   glb with Outputs bypassing the accumulator (qloom's engine spills the same partial sums to the
 *   buffer); the accumulator only when one column's P·Q·N partial sums fit it;
 * - the column folds (temporal M), then the groups G, at the glb.
 * When the glb's tiles do not fit it, some of the glb's loops move to DRAM, from the outermost (G,
 * then M, then the K folds), and/or P (then Q) is split at DRAM (the DMA's tiles of rows of output
 * pixels), the split DRAM's innermost loop (the glb keeps its weights across it) or its outermost
 * (the glb keeps its inputs across the column folds). Candidates: per place of the K folds, per
 * place of the split and per number of loops moved (0 … all), the smallest split that fits; the
 * one with the least energy is the schedule — the benefit of the doubt goes to the fixed schedule
 * (qloom's engine tiles its own way, sim/engine/tiles.ts).
 *
 * Perfect factorization (Timeloop's model has no residual loops): K and M are cut the way SCALE-Sim
 * counts folds. `padForArray` pads M to f·⌈M/f⌉ with f = ⌈M/cols⌉ SCALE-Sim's column folds (so the
 * fold count is SCALE-Sim's, < f padded channels), and C likewise over rows when C ≥ rows (row
 * folds f·R·S instead of SCALE-Sim's ⌈C·R·S/rows⌉ when rows ∤ C). When C < rows the rows take C
 * times the divisors r | R, s | S with the largest C·r·s ≤ rows, unpadded (SCALE-Sim splits the
 * flattened window across folds instead: more folds here, e.g. 3 instead of 2 for C = 3, 3×3 on 16
 * rows). The padded problem is what both the fixed and the searched mapping run.
 */
import { CONV_DIMS, LEVEL, convMacs, timeloopSpecOfPreset, type ConvDim, type ConvDims } from '../../arch/preset-hierarchy.js';
import { type ArchSpec, TIMELOOP_SPACE, hierarchyOf } from '../../arch/spec.js';
import { deepFreeze } from '../../arch/validate.js';
import type { TimeloopConstraints } from '../../arch/timeloop-constraints.js';
import { unconstrained } from '../../arch/timeloop-constraints.js';
import type { TimeloopSpec, TimeloopStorageLevel } from '../../arch/timeloop.js';
import { ConfigError, InvariantError } from '../../errors/index.js';
import { viewOutDims, type GemmView } from '../timing/gemm-view.js';
import { planFolds } from '../timing/compute.js';
import { evaluateTimeloop, type TimeloopResult } from './timeloop-model.js';

/** A GEMM view as a conv: its geometry per group, or a plain GEMM as a 1×1 conv on M×1 pixels. */
export function convDimsOfView(view: GemmView): ConvDims {
  const g = view.conv;
  const { outH, outW } = viewOutDims(view);
  if (g === null) return { name: view.name, R: 1, S: 1, P: outH, Q: outW, C: view.K, M: view.N, N: 1, G: view.groups, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1 };
  return {
    name: view.name,
    R: g.filterH,
    S: g.filterW,
    P: outH,
    Q: outW,
    C: g.channels / g.group,
    M: g.numFilters / g.group,
    N: 1,
    G: g.group,
    strideH: g.strideH,
    strideW: g.strideW,
    dilationH: g.dilationH,
    dilationW: g.dilationW,
  };
}

type Factors = Partial<Record<ConvDim, number>>;

export interface Padding {
  /** the problem both mappings run */
  readonly padded: ConvDims;
  /** padded MACs ÷ the layer's MACs − 1 (0: none) */
  readonly extraMacs: number;
  /** the row spatial factors (WS, IS: C, R, S; OS: P, Q), the column ones (WS, OS: M; IS: P, Q) and their product */
  readonly rowFactors: Readonly<Factors>;
  readonly colFactors: Readonly<Factors>;
  readonly colFactor: number;
  /** K folds × M folds × G of the fixed schedule, and SCALE-Sim's (planFolds) for the unpadded layer */
  readonly folds: number;
  readonly scaleSimFolds: number;
}

const divisors = (n: number): number[] => [...Array(n).keys()].map((i) => i + 1).filter((d) => n % d === 0);

/** SCALE-Sim's fold count f of x over `lanes`, and x padded to f·⌈x/f⌉ (lanes used: ⌈x/f⌉) */
function foldPad(x: number, lanes: number): { padded: number; lane: number } {
  const f = Math.ceil(x / lanes);
  const lane = Math.ceil(x / f);
  return { padded: f * lane, lane };
}

/** The padding the fixed schedule needs on `spec`'s array (see the file header). */
export function padForArray(spec: ArchSpec, layer: ConvDims): Padding {
  if (spec.array.dataflow === 'os') return padForOs(spec, layer);
  if (spec.array.dataflow === 'is') return padForIs(spec, layer);
  const { rows, cols } = spec.array;
  const m = foldPad(layer.M, cols);
  const k = kLanes(layer, rows);
  const rf = k.factors;
  const padded: ConvDims = { ...layer, C: k.C, M: m.padded };
  const folds = (k.C / rf.C!) * (layer.R / rf.R!) * (layer.S / rf.S!) * (m.padded / m.lane) * layer.G;
  return padding(spec, layer, padded, rf, { M: m.lane }, folds, 'ws');
}

/**
 * K = C·R·S over `lanes` (WS's and IS's rows): C padded to SCALE-Sim's fold count when C ≥ lanes;
 * else all of C times the divisors r | R, s | S with the largest C·r·s ≤ lanes, unpadded.
 */
function kLanes(layer: ConvDims, lanes: number): { C: number; factors: Factors } {
  if (layer.C >= lanes) {
    const c = foldPad(layer.C, lanes);
    return { C: c.padded, factors: { C: c.lane, R: 1, S: 1 } };
  }
  let best = { C: layer.C, R: 1, S: 1 };
  for (const r of divisors(layer.R)) {
    for (const s of divisors(layer.S)) {
      const used = layer.C * r * s;
      if (used <= lanes && used > best.C * best.R * best.S) best = { C: layer.C, R: r, S: s };
    }
  }
  return { C: layer.C, factors: best };
}

/**
 * Output pixels over `lanes` (OS's rows, IS's columns): Q padded to SCALE-Sim's fold count when
 * Q ≥ lanes, else all of Q and a band of P rows (P padded the same way). SCALE-Sim flattens P·Q
 * over the lanes (⌈P·Q/lanes⌉ folds); whole pixel rows here need more folds where lanes ∤ Q (e.g.
 * 8 lanes, Q = 14: 14 pixels in two folds of 7 … the same; Q = 5: 5 of 8 lanes used, ⌈P/1⌉ folds
 * instead of ⌈5P/8⌉).
 */
function pixelLanes(layer: ConvDims, lanes: number): { P: number; Q: number; factors: Factors } {
  if (layer.Q >= lanes) {
    const q = foldPad(layer.Q, lanes);
    return { P: layer.P, Q: q.padded, factors: { P: 1, Q: q.lane } };
  }
  const p = foldPad(layer.P, Math.floor(lanes / layer.Q));
  return { P: p.padded, Q: layer.Q, factors: { P: p.lane, Q: layer.Q } };
}

/** Output-stationary: the rows take output pixels (pixelLanes), the columns M. */
function padForOs(spec: ArchSpec, layer: ConvDims): Padding {
  const { rows, cols } = spec.array;
  const m = foldPad(layer.M, cols);
  const px = pixelLanes(layer, rows);
  const rf = px.factors;
  const padded: ConvDims = { ...layer, P: px.P, Q: px.Q, M: m.padded };
  const folds = (px.P / rf.P!) * (px.Q / rf.Q!) * layer.N * (m.padded / m.lane) * layer.G;
  return padding(spec, layer, padded, rf, { M: m.lane }, folds, 'os');
}

/** Input-stationary: the rows take K (kLanes, as WS), the columns output pixels (pixelLanes, as OS's rows). */
function padForIs(spec: ArchSpec, layer: ConvDims): Padding {
  const { rows, cols } = spec.array;
  const k = kLanes(layer, rows);
  const px = pixelLanes(layer, cols);
  const rf = k.factors;
  const cf = px.factors;
  const padded: ConvDims = { ...layer, C: k.C, P: px.P, Q: px.Q };
  const folds = (k.C / rf.C!) * (layer.R / rf.R!) * (layer.S / rf.S!) * (px.P / cf.P!) * (px.Q / cf.Q!) * layer.N * layer.G;
  return padding(spec, layer, padded, rf, cf, folds, 'is');
}

/** A Padding with its extra MACs and SCALE-Sim's fold count (planFolds) of the unpadded layer. */
function padding(spec: ArchSpec, layer: ConvDims, padded: ConvDims, rowFactors: Factors, colFactors: Factors, folds: number, dataflow: 'ws' | 'os' | 'is'): Padding {
  const view: GemmView = { name: layer.name, M: layer.P * layer.Q * layer.N, K: layer.C * layer.R * layer.S, N: layer.M, groups: layer.G, conv: null };
  const plan = planFolds(view, spec.array.rows, spec.array.cols, dataflow);
  const colFactor = Object.values(colFactors).reduce((a, b) => a * b, 1);
  return { padded, extraMacs: convMacs(padded) / convMacs(layer) - 1, rowFactors, colFactors, colFactor, folds, scaleSimFolds: plan.rowFolds * plan.colFolds * plan.groups };
}

/** Where each of the preset hierarchy's levels sits in `spec.storage` (−1: not there). */
function levelsOf(spec: TimeloopSpec): { inReg: number; wReg: number; acc: number; glb: number; dram: number } {
  const names = spec.storage.map((l) => l.name);
  return { inReg: names.indexOf(LEVEL.inputReg), wReg: names.indexOf(LEVEL.weightReg), acc: names.indexOf(LEVEL.accumulator), glb: names.indexOf(LEVEL.glb), dram: names.indexOf(LEVEL.dram) };
}

const idx = (d: ConvDim): number => CONV_DIMS.indexOf(d);

/** DRAM's loops: the loops moved out of the glb and the P / Q split, inside or outside them */
function dramLoops(moved: readonly [ConvDim, number][], pSplit: number, qSplit: number, pOuter: boolean): [Factors, ConvDim[]] {
  const f: Factors = { P: pSplit, Q: qSplit };
  for (const [d, n] of moved) f[d] = n;
  const folds = moved.map(([d]) => d).reverse();
  return [f, pOuter ? [...folds, 'P', 'Q'] : ['P', 'Q', ...folds]];
}

/** a permutation (innermost first) starting with `inner`, the other dimensions after them */
function perm(inner: readonly ConvDim[]): number[] {
  const head = inner.map(idx);
  return [...head, ...CONV_DIMS.map((_, k) => k).filter((k) => !head.includes(k))];
}

const factorArray = (f: Factors): number[] => CONV_DIMS.map((d) => f[d] ?? 1);

export interface FixedSchedule {
  readonly spec: TimeloopSpec;
  readonly padding: Padding;
  /** where the K folds run: the accumulator (partial sums stay there) or the glb */
  readonly kFoldsAt: string;
  /** loops moved to DRAM to make the glb's tiles fit, outermost first (`P/4`: P split, 4 at DRAM) */
  readonly atDram: readonly string[];
}

/**
 * The fixed WS schedule of `layer` (padded by `padForArray`) as a mapping of the preset's
 * hierarchy; throws ConfigError for a dataflow other than WS, or when no DRAM split makes it fit.
 */
export function fixedScheduleSpec(arch: ArchSpec, layer: ConvDims): FixedSchedule {
  const why = noFixedSchedule(arch);
  if (why) throw new ConfigError(why);
  if (arch.memories.innerLevels) return withInnerBypassed(arch, layer);
  if (arch.array.dataflow === 'os') return fixedOsSpec(arch, layer);
  if (arch.array.dataflow === 'is') return fixedIsSpec(arch, layer);
  const padding = padForArray(arch, layer);
  const L = padding.padded;
  const base = timeloopSpecOfPreset(arch, L);
  const { wReg, acc, glb, dram } = levelsOf(base);
  const streamLevel = wReg >= 0 ? wReg : 0;
  const rf = { C: padding.rowFactors.C ?? 1, R: padding.rowFactors.R ?? 1, S: padding.rowFactors.S ?? 1 };
  const kFolds: Factors = { C: L.C / rf.C, R: L.R / rf.R, S: L.S / rf.S };
  const accTile = L.P * L.Q * L.N;
  const accFits = acc >= 0 && base.storage[acc].capacityWords !== null && accTile <= (base.storage[acc].capacityWords as number);
  // glb loops, outermost first, each a dimension and its factor
  const glbLoopsOf = (kAtAcc: boolean): [ConvDim, number][] => [
    ['G', L.G],
    ['M', L.M / padding.colFactor],
    ...(kAtAcc ? [] : ([['R', kFolds.R], ['S', kFolds.S], ['C', kFolds.C]] as [ConvDim, number][])),
  ];
  const build = (kAtAcc: boolean, toDram: number, pSplit: number, qSplit: number, pOuter: boolean): TimeloopSpec => {
    const glbLoops = glbLoopsOf(kAtAcc);
    const temporal = base.storage.map(() => ({} as Factors));
    const order = base.storage.map(() => [] as ConvDim[]);
    temporal[streamLevel] = { Q: L.Q / qSplit, P: L.P / pSplit, N: L.N };
    order[streamLevel] = ['Q', 'P', 'N'];
    if (kAtAcc) {
      temporal[acc] = kFolds;
      order[acc] = ['C', 'S', 'R'];
    }
    const inGlb = glbLoops.slice(toDram);
    const inDram = glbLoops.slice(0, toDram);
    for (const [d, f] of inGlb) temporal[glb][d] = f;
    order[glb] = inGlb.map(([d]) => d).reverse();
    [temporal[dram], order[dram]] = dramLoops(inDram, pSplit, qSplit, pOuter);
    // columns take M (X); the rows (Y) C, R, S at the accumulator (at the glb without one)
    return withLoops(base, temporal, order, [['M', padding.colFactor]], [['C', rf.C], ['S', rf.S], ['R', rf.R]], (s) => s === acc && !kAtAcc);
  };
  // per place of the K folds (the accumulator when one column's partial sums fit it, the glb) the
  // cheapest DRAM split; of these the one with the least energy is the schedule
  let best: (Candidate & { kAtAcc: boolean }) | null = null;
  for (const kAtAcc of accFits ? [true, false] : [false]) {
    const c = cheapestDramSplit(glbLoopsOf(kAtAcc), L.P, L.Q, (toDram, p, q, pOuter) => build(kAtAcc, toDram, p, q, pOuter));
    if (c !== null && (best === null || c.energy < best.energy)) best = { ...c, kAtAcc };
  }
  if (best === null) throw new ConfigError(`${layer.name} on ${arch.name}: no DRAM split of the fixed schedule fits the glb`);
  return { spec: check(best.spec, arch), padding, kFoldsAt: best.kAtAcc ? LEVEL.accumulator : LEVEL.glb, atDram: best.atDram };
}

/**
 * The fixed output-stationary schedule (mcu-npu, scalesim-default's dataflow): per PE one output
 * accumulates over the whole K = C·R·S (temporal C, S, R at the `Accumulator`, whose Y fanout takes
 * the rows' pixels; no reduction across PEs), each MAC taking a fresh weight and input (the
 * registers hold one operand in flight: no loops), the columns M. SCALE-Sim runs a column fold's
 * pixel folds back to back, so at the glb (innermost first): the pixel folds Q, P, then N, the
 * column folds M, the groups G. Tiles that do not fit the glb move loops to DRAM as for WS (the
 * outermost first; the pixel folds split at DRAM, innermost or outermost), the cheapest candidate
 * wins. Without an accumulator level the K loops run at the glb, innermost.
 */
function fixedOsSpec(arch: ArchSpec, layer: ConvDims): FixedSchedule {
  const padding = padForArray(arch, layer);
  const L = padding.padded;
  const base = timeloopSpecOfPreset(arch, L);
  const { acc, glb, dram } = levelsOf(base);
  const rf = padding.rowFactors;
  const pFolds = L.P / rf.P!;
  const qFolds = L.Q / rf.Q!;
  const kAtAcc = acc >= 0 && (base.storage[acc].capacityWords ?? 0) >= rf.P! * rf.Q!;
  const outer: [ConvDim, number][] = [
    ['G', L.G],
    ['M', L.M / padding.colFactor],
    ['N', L.N],
  ];
  const build = (toDram: number, pSplit: number, qSplit: number, pOuter: boolean): TimeloopSpec => {
    const temporal = base.storage.map(() => ({}) as Factors);
    const order = base.storage.map(() => [] as ConvDim[]);
    const k: Factors = { C: L.C, R: L.R, S: L.S };
    if (kAtAcc) {
      temporal[acc] = k;
      order[acc] = ['C', 'S', 'R'];
    }
    const inGlb = outer.slice(toDram);
    temporal[glb] = { ...(kAtAcc ? {} : k), Q: qFolds / qSplit, P: pFolds / pSplit };
    for (const [d, f] of inGlb) temporal[glb][d] = f;
    order[glb] = [...(kAtAcc ? [] : (['C', 'S', 'R'] as ConvDim[])), 'Q', 'P', ...inGlb.map(([d]) => d).reverse()];
    const inDram = outer.slice(0, toDram);
    [temporal[dram], order[dram]] = dramLoops(inDram, pSplit, qSplit, pOuter);
    return withLoops(base, temporal, order, [['M', padding.colFactor]], [['Q', rf.Q!], ['P', rf.P!]], (s) => s === acc && !kAtAcc);
  };
  const best = cheapestDramSplit(outer, pFolds, qFolds, build);
  if (best === null) throw new ConfigError(`${layer.name} on ${arch.name}: no DRAM split of the fixed schedule fits the glb`);
  return { spec: check(best.spec, arch), padding, kFoldsAt: kAtAcc ? LEVEL.accumulator : LEVEL.glb, atDram: best.atDram };
}

/**
 * The fixed input-stationary schedule (SCALE-Sim's IS: the array holds a K × pixels block of the
 * im2col input matrix, the filters stream through). Innermost first:
 * - the M loop at the level above `InputReg`, so each PE's input stays while every filter passes
 *   it; a `WeightReg` there is bypassed by Weights (its one word cannot hold a loop's M weights:
 *   each MAC takes its weight from the glb, multicast across the columns);
 * - row spatial (the `Accumulator`'s Y fanout: C, R, S as WS's rows, reduced down the column),
 *   column spatial (the glb's X fanout: the output pixels, as OS's rows);
 * - the K folds (temporal C, S, R) at the `Accumulator`, whose per-column tile is the M partial
 *   sums of its pixel (M split there and at the glb when they do not fit);
 * - at the glb the pixel folds Q, P, then N, the rest of M, the groups G; DRAM splits as for WS/OS.
 * An arch without an input register has no stationary input: refused.
 */
function fixedIsSpec(arch: ArchSpec, layer: ConvDims): FixedSchedule {
  const padding = padForArray(arch, layer);
  const L = padding.padded;
  const base = timeloopSpecOfPreset(arch, L);
  const { inReg, wReg, acc, glb, dram } = levelsOf(base);
  if (inReg < 0) throw new ConfigError(`arch "${arch.name}": an input-stationary schedule needs a per-PE input register (pe.registers.inputBytes > 0)`);
  const mLevel = inReg + 1;
  const rf = padding.rowFactors;
  const cf = padding.colFactors;
  const kFolds: Factors = { C: L.C / rf.C!, R: L.R / rf.R!, S: L.S / rf.S! };
  const pFolds = L.P / cf.P!;
  const qFolds = L.Q / cf.Q!;
  const accWords = acc >= 0 ? (base.storage[acc].capacityWords ?? L.M) : L.M;
  const mInner = acc >= 0 ? Math.max(...divisors(L.M).filter((d) => d <= accWords), 1) : L.M;
  const outer: [ConvDim, number][] = [
    ['G', L.G],
    ['M', L.M / mInner],
    ['N', L.N],
  ];
  const build = (toDram: number, pSplit: number, qSplit: number, pOuter: boolean): TimeloopSpec => {
    const temporal = base.storage.map(() => ({}) as Factors);
    const order = base.storage.map(() => [] as ConvDim[]);
    temporal[mLevel] = { M: mInner };
    order[mLevel] = ['M'];
    const kAt = acc >= 0 ? acc : glb;
    temporal[kAt] = { ...temporal[kAt], ...kFolds };
    order[kAt] = [...order[kAt], 'C', 'S', 'R'];
    const inGlb = outer.slice(toDram);
    temporal[glb] = { ...temporal[glb], Q: qFolds / qSplit, P: pFolds / pSplit };
    for (const [d, f] of inGlb) temporal[glb][d] = f;
    order[glb] = [...order[glb], 'Q', 'P', ...inGlb.map(([d]) => d).reverse()];
    const inDram = outer.slice(0, toDram);
    [temporal[dram], order[dram]] = dramLoops(inDram, pSplit, qSplit, pOuter);
    // a weight register holding the M loop holds nothing
    return withLoops(base, temporal, order, [['Q', cf.Q!], ['P', cf.P!]], [['C', rf.C!], ['S', rf.S!], ['R', rf.R!]], (s) => s === wReg && s === mLevel);
  };
  const best = cheapestDramSplit(outer, pFolds, qFolds, build);
  if (best === null) throw new ConfigError(`${layer.name} on ${arch.name}: no DRAM split of the fixed schedule fits the glb`);
  return { spec: check(best.spec, arch), padding, kFoldsAt: acc >= 0 ? LEVEL.accumulator : LEVEL.glb, atDram: best.atDram };
}

/**
 * The preset hierarchy `base` with these loops: per level its temporal factors and order
 * (innermost first); the columns' spatial factors (the glb's X fanout) and the rows' (the
 * accumulator's Y fanout — the glb's Y without an accumulator), innermost first; `bypass(s)`: level
 * s keeps nothing.
 */
function withLoops(base: TimeloopSpec, temporal: Factors[], order: ConvDim[][], cols: readonly [ConvDim, number][], rows: readonly [ConvDim, number][], bypass: (s: number) => boolean): TimeloopSpec {
  const { acc, glb } = levelsOf(base);
  const factorsOf = (list: readonly [ConvDim, number][]): number[] => factorArray(Object.fromEntries(list));
  const dims = (list: readonly [ConvDim, number][]): ConvDim[] => list.map(([d]) => d);
  const storage = base.storage.map((level, s): TimeloopStorageLevel => {
    let spatial = level.spatial;
    if (s === glb && spatial !== null) {
      spatial =
        acc < 0
          ? { factors: factorsOf([...cols, ...rows]), permutation: perm([...dims(cols), ...dims(rows)]), split: cols.length }
          : { factors: factorsOf(cols), permutation: perm(dims(cols)), split: CONV_DIMS.length };
    } else if (s === acc && spatial !== null) {
      spatial = { factors: factorsOf(rows), permutation: perm(dims(rows)), split: 0 };
    }
    const keep = bypass(s) ? level.keep.map(() => false) : level.keep;
    return { ...level, temporal: { factors: factorArray(temporal[s]), permutation: perm(order[s]) }, spatial, keep };
  });
  return { ...base, storage };
}

interface Candidate {
  readonly spec: TimeloopSpec;
  readonly energy: number;
  /** the loops at DRAM, outermost first (`P/4`: P split, 4 at DRAM) */
  readonly atDram: string[];
}

/**
 * Per number of the glb's `movable` loops moved to DRAM (outermost first) and per place of the P/Q
 * split at DRAM (innermost: the glb keeps what does not depend on P/Q across the split; outermost:
 * what does, across the moved loops), the smallest split of pBound × qBound whose tiles fit; the
 * one of these candidates with the least energy (the first on a tie), or null when none fits.
 */
function cheapestDramSplit(movable: readonly [ConvDim, number][], pBound: number, qBound: number, build: (toDram: number, p: number, q: number, pOuter: boolean) => TimeloopSpec): Candidate | null {
  let best: Candidate | null = null;
  const splits: [number, number][] = [...divisors(pBound).map((p): [number, number] => [p, 1]), ...divisors(qBound).slice(1).map((q): [number, number] => [pBound, q])];
  for (const pOuter of [false, true]) {
    for (let toDram = 0; toDram <= movable.length; toDram++) {
      for (const [p, q] of splits) {
        if (pOuter && p * q === 1) continue;
        const spec = build(toDram, p, q, pOuter);
        const e = energyOrNull(spec);
        if (e === null) continue;
        if (best === null || e < best.energy) {
          const split = [...(q > 1 ? [`Q/${q}`] : []), ...(p > 1 ? [`P/${p}`] : [])];
          const moved = movable.slice(0, toDram).map(([d, f]) => `${d}${f}`);
          best = { spec, energy: e, atDram: pOuter ? [...split, ...moved] : [...moved, ...split] };
        }
        break;
      }
    }
  }
  return best;
}

function energyOrNull(s: TimeloopSpec): number | null {
  try {
    return evaluateTimeloop(s).energyPj;
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
}

/** every dimension's factors multiply to its bound, and no spatial loop exceeds its fanout */
function check(spec: TimeloopSpec, arch: ArchSpec): TimeloopSpec {
  CONV_DIMS.forEach((d, k) => {
    const product = spec.storage.reduce((a, l) => a * l.temporal.factors[k] * (l.spatial?.factors[k] ?? 1), 1);
    if (product !== spec.problem.bounds[k]) throw new InvariantError(`fixed schedule on ${arch.name}: the factors of ${d} multiply to ${product}, not ${spec.problem.bounds[k]}`);
  });
  for (const l of spec.storage) {
    if (l.spatial === null) continue;
    let x = 1;
    let y = 1;
    l.spatial.permutation.forEach((d, pos) => (pos < l.spatial!.split ? (x *= l.spatial!.factors[d]) : (y *= l.spatial!.factors[d])));
    if (x > l.fanoutX || y > l.fanoutY) throw new InvariantError(`fixed schedule on ${arch.name}: ${x}×${y} spatial loops under ${l.name}, fanout ${l.fanoutX}×${l.fanoutY}`);
  }
  return spec;
}

/**
 * Why `arch` has no fixed schedule (null: it has one). SCALE-Sim's folds are written here for one
 * unified buffer above the array; split buffers would need them spread over three levels with
 * three capacities, so such an arch is mapped by the mapper or a given mapping.
 */
export function noFixedSchedule(arch: ArchSpec): string | null {
  if (arch.memories.layout !== 'unified') return `arch "${arch.name}" has split ifmap / filter / ofmap buffers: the fixed schedule here is written for one unified buffer; search a mapping or give one`;
  return null;
}

/**
 * The fixed schedule of an arch whose hierarchy has inner levels (arch/hierarchy.ts): the schedule
 * of the same arch without them, each inner level added idle — no loops, bypassed by every data
 * space — so it costs nothing and changes nothing; what a mapping that uses the level saves is
 * then the mapper's to show. Refused where an inner level's instances would split a fanout the
 * schedule spreads in one step (then only a search or a given mapping maps the arch).
 */
function withInnerBypassed(arch: ArchSpec, layer: ConvDims): FixedSchedule {
  const { innerLevels, ...memories } = arch.memories;
  const flat = fixedScheduleSpec({ ...arch, memories }, layer);
  const deep = timeloopSpecOfPreset(arch, flat.padding.padded);
  const names = new Set((innerLevels ?? []).map((l) => l.name));
  const byName = new Map(flat.spec.storage.map((l) => [l.name, l]));
  const storage = deep.storage.map((l) => {
    if (names.has(l.name)) {
      if (l.fanoutX * l.fanoutY > 1) throw new ConfigError(`arch "${arch.name}": inner level "${l.name}" fans out ${l.fanoutX}×${l.fanoutY} where the fixed schedule has no spatial loop; search a mapping or give one`);
      return { ...l, keep: l.keep.map(() => false) };
    }
    const f = byName.get(l.name)!;
    if (f.fanoutX !== l.fanoutX || f.fanoutY !== l.fanoutY) {
      throw new ConfigError(`arch "${arch.name}": with its inner levels "${l.name}" fans out ${l.fanoutX}×${l.fanoutY}, the fixed schedule's ${f.fanoutX}×${f.fanoutY}; search a mapping or give one`);
    }
    return { ...l, temporal: f.temporal, spatial: f.spatial, keep: f.keep };
  });
  return { ...flat, spec: deepFreeze({ ...deep, storage }) };
}

/**
 * The mapper's constraints on an arch's hierarchy (`timeloopSpecOfPreset`): `unconstrained(spec)`
 * (every factor, order and split free, capacities and fanouts from the hierarchy), except that a
 * level can hold only the data spaces it is built for — a register or the accumulator its own, a
 * split buffer or an inner level those its `keeps` lists (`arch` names them) — though it may
 * still bypass them.
 */
export function presetConstraints(spec: TimeloopSpec, arch?: ArchSpec): TimeloopConstraints {
  const u = unconstrained(spec);
  const own: Record<string, readonly string[]> = { [LEVEL.inputReg]: ['Inputs'], [LEVEL.weightReg]: ['Weights'], [LEVEL.accumulator]: ['Outputs'] };
  for (const l of arch ? hierarchyOf(arch) : []) {
    if (l.class !== 'dram' && l.keeps.length < 3) own[l.name] = l.keeps.map((d) => TIMELOOP_SPACE[d]);
  }
  return {
    levels: u.levels.map((l, s) => {
      const ds = own[spec.storage[s].name];
      if (ds === undefined) return l;
      return { ...l, keep: spec.problem.dataSpaces.map((d, k) => (ds.includes(d.name) ? l.keep[k] : false)) };
    }),
  };
}

/** the fixed schedule's evaluation (a convenience for the bench and tests) */
export function evaluateFixed(arch: ArchSpec, layer: ConvDims): { schedule: FixedSchedule; result: TimeloopResult } {
  const schedule = fixedScheduleSpec(arch, layer);
  return { schedule, result: evaluateTimeloop(schedule.spec) };
}
