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
 *   first time a fold needs it and reused by later folds. Otherwise it is STREAMED through two
 *   slots (double buffering): fetched again by every fold that needs it, except the fold right
 *   after one that used the same slice when that slice fits one of the two slots whole (`keep*`) —
 *   a slice cut into sub-tiles because it does not fit has streamed through and is gone.
 * - When two slots of a fold's streamed slice (or of its output tile) do not fit, every fold is
 *   cut into S equal sub-tiles along its time dimension (OS: K, WS: M, IS: N); the fold's cycles
 *   and bytes are divided among them (remainders on the last; OS keeps the fold's fill and drain on
 *   the last, where its outputs leave; WS/IS outputs pro rata of cycles) — the array consumes a
 *   streamed operand at a uniform rate, so this changes when bytes must arrive, not the work.
 *   Folds are also cut into at least PIPELINE_SUB_TILES (16) sub-tiles of ≥ max(32, 2 × DRAM
 *   latency) cycles, fits or not, so that a layer's first load and last write-back overlap its
 *   compute (none in `calc` DRAM mode, where transfers take no time).
 * - DRAM traffic in exact bits per fold (a packed sub-byte operand costs its bits, not a byte
 *   per fold), each class's layer total rounded up to whole bytes. Ifmap DRAM bits are the layer's
 *   unique ifmap bits pro rata of each fold's im2col slice (halo re-reads at slice edges are not
 *   modelled); buffer→array bits are the im2col operands.
 * - Partial sums (WS, IS with more than one K fold): the accumulators hold `pes · psumBytes /
 *   accBytes` entries (at least one column's worth). When a column fold's partial tile is larger, it
 *   spills after every K fold but the last and is read back before every K fold but the first: to
 *   the ofmap share of the buffer when it fits beside two output tiles (or in half of the share,
 *   the outputs then sub-tiled in the rest), else to DRAM (through the DMA, timed; a sub-tile's
 *   read-back waits for the write of the same sub-tile of the previous K fold: TilePlan.readsAfter).
 * - Bias and requant parameters (M0, shift, and the weight zero point when weights are asymmetric)
 *   are fetched once per layer with the first tile. Each fold starting
 *   an accumulation reads its channels' bias; each fold producing outputs reads their requant
 *   parameters (one set when per-tensor).
 * - Asymmetric weights in the raw PE form: the data-dependent term z_w·Σq_x is computed by one
 *   extra array column of ones (N + 1 in the fold plan: its cycles are real) — column 0, in the
 *   first column fold, so Σq_x exists before any output is requantized —, Σq_x costs M·K adds
 *   and applying z_w costs M·N multiply-adds, all counted as `extraAdds` (DESIGN.md).
 * - Buffer port bandwidth is assumed to match the array's edge (as SCALE-Sim assumes): accesses
 *   are counted for energy, not timed.
 *
 * ## Memory and work (sim/timing/limits.ts)
 * Nothing is stored per fold or sub-tile. A fold's numbers depend only on whether it is the first,
 * a middle or the last row and column fold (FoldModel), so a layer's counts are summed class by
 * class, and a TilePlan computes any sub-tile's cycles and bytes from its fold and position on
 * demand: a layer of billions of folds or sub-tiles plans in O(1) time and memory. The TilePlan
 * also says which sub-tiles repeat in timing (`runStart`/`runEnd`/`runPeriod`: alike folds with
 * period S when S ≤ MAX_PERIOD; a fold's sub-tiles but the last when its outputs do not vary),
 * which the engine fast-forwards. `sizeLayer` says, in closed form, how many sub-tiles the engine will step one by
 * one.
 *
 * ## Files
 * This file plans a layer: its size, its counts summed fold class by fold class, its sub-tiles.
 * The closed form of a GEMM layer (shape, shares, spill target, one fold's numbers) is in
 * fold-model.ts, the sub-tiles decoded on demand in tiles.ts, the action counts in accounting.ts.
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec } from '../../arch/spec.js';
import type { FoldPlan } from '../timing/compute.js';
import type { GemmView } from '../timing/gemm-view.js';
import { FAST_FORWARD_WARMUP, MAX_PERIOD } from '../timing/limits.js';
import { zeroBits, type BitsClass } from '../result.js';
import { BufferTraffic, dramCounts, requantCounts, type LayerAccounting } from './accounting.js';
import { FoldModel, SpillTarget, ceilBytes, foldClasses, gemmShape, pipelineSubTiles, reservedBytes, sharesFor } from './fold-model.js';
import { planSfuLayer, sfuSubTiles } from './sfu-plan.js';
import { GemmTiles, VectorTiles, type TilePlan } from './tiles.js';
import { requantParamBitsPerChannel, type WorkloadLayer } from './workload.js';
import { formatMacUnits, MX_BLOCK } from '../../arch/format-units.js';
import { SQRT2_FRAC_BITS } from '../../qnet/logquant.js';

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
  /** a streamed slice the next fold uses again stays on chip (it fits one of its two slots whole) */
  readonly keepIfmapSlice: boolean;
  readonly keepFilterSlice: boolean;
}

function passesOf(layer: WorkloadLayer): number {
  return layer.activation.kind !== 'none' && !layer.activation.fused ? 2 : 1;
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
    // a run is stepped until its timing repeats (a warm-up), then skipped
    const warm = (n: number, period: number): number => Math.min(n, FAST_FORWARD_WARMUP + 2 * period);
    // alike folds form blocks along the row folds (one column fold at a time), or along the
    // column folds when there is a single row fold: first, middle (n − 2 alike), last
    const along = g.rowFolds > 1 ? g.rowFolds : g.colFolds;
    const lines = g.rowFolds > 1 ? g.groups * g.colFolds : g.groups;
    const blocks: [number, number][] = along <= 2 ? [[1, along]] : [[1, 2], [along - 2, 1]];
    let eventTiles = 0;
    for (const [size, count] of blocks) {
      let perBlock: number;
      if (S === 1) perBlock = size === 1 ? 1 : warm(size, 1);
      else if (S <= MAX_PERIOD && size >= 2) perBlock = warm(size * S, S);
      // a fold's sub-tiles but the last are alike, except where outputs stream out pro rata of
      // cycles (the last K fold of WS/IS): every one stepped
      else perBlock = size * (g.df !== 'os' && (g.kFolds === 1 || size === 1) ? S : warm(S - 1, 1) + 1);
      eventTiles += lines * count * perBlock;
    }
    return { folds: g.folds, subTiles: S, tiles: g.folds * S, eventTiles };
  }
  if (layer.kind === 'vector') {
    const S = layer.sfu && spec.sfu ? sfuSubTiles(spec, layer) : vectorSubTiles(spec, layer);
    return { folds: 0, subTiles: S, tiles: S, eventTiles: Math.min(S, FAST_FORWARD_WARMUP + 2) };
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
  let toBuffer = 0;
  let toDram = 0;
  let biasReadCh = 0;
  let rqReadSets = 0;
  let outputsTotal = 0;
  const pbits = requantParamBitsPerChannel(spec) + (layer.weightZeroPointBits ?? 0) + (layer.clampBoundBits ?? 0);
  for (const [fr, nr] of foldClasses(rowFolds)) {
    for (const [fc, nc] of foldClasses(colFolds)) {
      const n = nr * nc * groups;
      const v = model.at(fr, fc);
      bufferArray.inputs += v.ifElems * shape.aBits * n;
      bufferArray.weights += v.wElems * shape.wBits * n;
      dramBuffer.inputs += v.ifDramBits * n;
      dramBuffer.weights += v.wDramBits * n;
      outputsTotal += v.outs * n;
      if (v.kFold === 0) biasReadCh += v.nReal * n;
      // per-channel (M0, shift) sets follow the output channels of each tile; a per-tensor set
      // sits in the requant unit's register for the whole layer (read once, below)
      if (v.last && layer.perChannel) rqReadSets += v.nReal * n;
      // the psums class is the spill traffic, counted once, at the level it went to: buffer
      // (accumulator bits) or DRAM (whole bytes per entry, the bytes the DMA moves)
      if (shape.spill === SpillTarget.Buffer) {
        toBuffer += v.spillOut * n;
        bufferArray.psums += (v.spillOut + v.spillIn) * layer.accBits * n;
      } else if (shape.spill === SpillTarget.Dram) {
        toDram += v.spillOut * n;
        dramBuffer.psums += (v.spillOut + v.spillIn) * shape.accBytes * 8 * n;
      }
    }
  }
  // bias and requant parameters come with the first tile
  // an output kept on chip for the next layer only is never written back (sim/engine/on-chip.ts)
  const outToDram = layer.ofmapOnChip !== 'kept';
  // a zero-skipping feeder drops all-zero activation vectors: each fold's stream is that much shorter
  const skipped = layer.skipFraction && df !== 'is' ? Math.floor((df === 'os' ? K : M) * layer.skipFraction) : 0;
  const tiles = new GemmTiles(model, shape.folds, S, df === 'os', K - (df === 'os' ? skipped : 0), fp.foldCycles - skipped, outToDram ? oBits : 0, layer.biasBytes + layer.requantParamBytes, passesOf(layer), df === 'is' ? Math.min(C, M) : Math.min(C, Neff), df !== 'os', MAX_PERIOD, shape.accBytes);
  dramBuffer.bias += layer.biasBytes * 8;
  dramBuffer.requantParams += layer.requantParamBytes * 8;
  bufferArray.bias += biasReadCh * 32;
  if (!layer.perChannel && layer.requantParamBytes > 0) rqReadSets += 1;
  bufferArray.requantParams += rqReadSets * pbits;
  const outBytes = ceilBytes(outputsTotal, oBits);
  const outDramBytes = outToDram ? outBytes : 0;
  dramBuffer.outputs += outDramBytes * 8;
  // the DMA moves whole bytes: each class's layer total (not each fold's) rounded up
  dramBuffer.inputs = wholeByteBits(dramBuffer.inputs);
  dramBuffer.weights = wholeByteBits(dramBuffer.weights);
  bufferArray.outputs += outputsTotal * oBits;
  reclassify(dramBuffer, layer.operandClasses);
  reclassify(bufferArray, layer.operandClasses);

  // --- action counts
  const counts: ActionCount[] = [];
  const macs = groups * M * K * N;
  const extraAdds = zp ? groups * M * K + groups * M * N : 0;
  const wOp = spec.pe.weightOperandBits;
  const aOp = spec.pe.activationOperandBits;
  if (layer.shiftInputs) {
    // shift mode: a barrel shifter on the stationary operand instead of the multiplier — priced as
    // an adder of the partial-sum width (an assumption: Horowitz quotes no shifter; a log-depth
    // shifter of w bits is ~w·log2(w) 2:1 muxes, the order of a w-bit adder's gates) — and per
    // output the odd-code sum times √2 (14 fraction bits) and its add (qnet/logquant.ts)
    counts.push({ component: 'adder', action: 'add', bits: spec.accumulator.psumBits, count: macs, label: 'shifter' });
    counts.push({ component: 'multiplier', action: 'mult', bits: [layer.accBits, SQRT2_FRAC_BITS + 1], count: groups * M * N, label: 'sqrt2' });
    counts.push({ component: 'adder', action: 'add', bits: layer.accBits, count: groups * M * N, label: 'sqrt2' });
  } else counts.push({ component: 'multiplier', action: 'mult', bits: [wOp, aOp], count: macs, label: 'array' });
  counts.push({ component: 'adder', action: 'add', bits: spec.accumulator.psumBits, count: macs, label: 'array' });
  // a PE on a number format: its MAC units (arch/format-units.ts) replace the integer multiply-add
  // (an integer layer of a number-format network keeps the integer multiply-add: operands.alsoInt)
  const fmtUnits = layer.intDatapath ? null : formatMacUnits(spec);
  if (fmtUnits) {
    for (let i = counts.length - 1; i >= 0; i--) if (counts[i].label === 'array') counts.splice(i, 1);
    const blocks = groups * M * N * Math.ceil(K / MX_BLOCK);
    for (const u of fmtUnits) counts.push({ component: u.component, action: u.action, bits: u.bits, count: u.perBlock ? blocks : macs * u.perMac, label: 'array' });
  }
  const regs = spec.pe.registers;
  if (regs.weightBytes > 0) counts.push({ component: 'regfile', action: 'read', bits: wOp, count: macs, label: 'pe-weight' });
  if (regs.inputBytes > 0) counts.push({ component: 'regfile', action: 'read', bits: aOp, count: macs, label: 'pe-input' });
  if (regs.psumBytes > 0) counts.push({ component: 'regfile', action: 'write', bits: spec.accumulator.psumBits, count: macs, label: 'pe-psum' });
  if (zp) {
    counts.push({ component: 'adder', action: 'add', bits: layer.accBits, count: extraAdds, label: 'zp-term' });
    counts.push({ component: 'multiplier', action: 'mult', bits: [wOp, layer.accBits], count: groups * M * N, label: 'zp-term' });
  }
  const traffic = new BufferTraffic(spec);
  // bits are exact; the DMA moves whole bytes of the layer's total
  const dramReadBytes = (dramBuffer.inputs + dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8 + (shape.spill === SpillTarget.Dram ? toDram * shape.accBytes : 0);
  const dramWriteBytes = outDramBytes + (shape.spill === SpillTarget.Dram ? toDram * shape.accBytes : 0);
  traffic.add('ifmap', bufferArray.inputs / 8, dramBuffer.inputs / 8);
  traffic.add('filter', (bufferArray.weights + bufferArray.bias + bufferArray.requantParams) / 8, (dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8);
  // outputs: written by the requant unit, read by the DMA that writes them back (not when kept)
  traffic.add('ofmap', outDramBytes + bufferArray.psums / 16, outBytes + bufferArray.psums / 16);
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
      spills: { toBuffer, toDram },
      dramRead: dramReadBytes,
      dramWrite: dramWriteBytes,
      // an activation × activation GEMM's stationary operand is data, not a parameter
      paramBytes: (layer.operandClasses ? 0 : layer.weightBytes) + layer.biasBytes + layer.requantParamBytes,
      counts,
    },
    spill: shape.spill,
    subTiles: S,
    residentIfmap: shape.residentIfmap,
    residentFilter: shape.residentFilter,
    keepIfmapSlice: shape.keepIfmap,
    keepFilterSlice: shape.keepFilter,
  };
}

/**
 * Moves a layer's operand classes to the classes its tensors really are (WorkloadLayer
 * `operandClasses`): an activation × activation GEMM's stationary operand is an activation, not
 * weights; attention scores and probabilities are `attention`. Totals are unchanged.
 */
function reclassify(bits: Record<BitsClass, number>, classes: WorkloadLayer['operandClasses']): void {
  if (!classes) return;
  const from = { inputs: bits.inputs, weights: bits.weights, outputs: bits.outputs };
  bits.inputs = 0;
  bits.weights = 0;
  bits.outputs = 0;
  for (const k of ['inputs', 'weights', 'outputs'] as const) bits[classes[k] ?? k] += from[k];
}

/** bits rounded up to whole bytes; a sum of pro-rata fractions within 1e-6 of an integer is that integer */
function wholeByteBits(bits: number): number {
  const r = Math.round(bits);
  return 8 * Math.ceil((Math.abs(bits - r) < 1e-6 ? r : bits) / 8);
}

/** cuts for `bytes` streamed through DRAM to fit `room` twice (1 when nothing streams: a tensor kept on chip lies in place) */
export function doubleBufferedCuts(bytes: number, room: number): number {
  return bytes > 0 ? Math.ceil((2 * bytes) / room) : 1;
}

/**
 * sub-tiles of a vector layer: enough for its input and output to fit double-buffered, and enough
 * for loads, element work and stores to overlap
 */
function vectorSubTiles(spec: ArchSpec, layer: WorkloadLayer): number {
  const shares = sharesFor(spec, layer.ifmapBytes + layer.ofmapBytes, reservedBytes(layer));
  const cycles = Math.ceil(layer.vectorElements / spec.requant.lanesPerCycle) * passesOf(layer);
  const io = elementDramBytes(layer);
  const S = Math.max(pipelineSubTiles(spec, cycles), doubleBufferedCuts(io.read, shares.ifmap), doubleBufferedCuts(io.write, shares.ofmap));
  return Math.min(S, Math.max(1, layer.vectorElements));
}

/** an element layer's activation bytes from and to DRAM: less what stays on chip across its boundaries */
export function elementDramBytes(layer: WorkloadLayer): { read: number; write: number } {
  return { read: layer.ifmapBytes - (layer.ifmapOnChipBytes ?? 0), write: layer.ofmapOnChip === 'kept' ? 0 : layer.ofmapBytes };
}

/** Plans a vector layer: element work on the requant unit, tiled to fit double-buffered. */
export function planVectorLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
  if (layer.sfu && spec.sfu) return planSfuLayer(spec, layer);
  const E = layer.vectorElements;
  const lanes = spec.requant.lanesPerCycle;
  const S = vectorSubTiles(spec, layer);
  const tiles = new VectorTiles(S, E, lanes, passesOf(layer), elementDramBytes(layer).read, elementDramBytes(layer).write);
  const counts: ActionCount[] = [];
  if (E > 0) {
    const op = layer.vectorOp;
    // add: both inputs rescaled (two multiplies) then summed; merge, quantize: one of each; pool/concat: adds only;
    // resize: each output element is a copy (its cost is the lanes' time and the buffer traffic)
    const mults = op === 'add' ? 2 * E : op === 'pool' || op === 'concat' || op === 'resize' ? 0 : E;
    if (mults > 0) counts.push({ component: 'multiplier', action: 'mult', bits: [layer.accBits, spec.requant.multiplierBits], count: mults, label: 'vector' });
    if (op !== 'resize') counts.push({ component: 'adder', action: 'add', bits: layer.accBits, count: E, label: 'vector' });
    const a = layer.activation;
    if (a.kind === 'lut') counts.push({ component: 'sram', action: 'read', bits: layer.outputBits, capacityBytes: a.entries * Math.ceil(layer.outputBits / 8), count: E, label: 'lut' });
    if (a.kind === 'clamp') counts.push({ component: 'adder', action: 'add', bits: layer.outputBits, count: E, label: 'activation' });
  }
  return elementLayerPlan(spec, layer, tiles, S, counts);
}

/**
 * The plan of a layer of element work (requant unit or SFU): inputs read from DRAM into the buffer
 * and once into the unit, outputs back the same way; `counts` holds the unit's own actions.
 */
export function elementLayerPlan(spec: ArchSpec, layer: WorkloadLayer, tiles: TilePlan, S: number, counts: ActionCount[]): LayerPlan {
  const dramBuffer = zeroBits();
  const bufferArray = zeroBits();
  const io = elementDramBytes(layer);
  dramBuffer.inputs = io.read * 8;
  dramBuffer.outputs = io.write * 8;
  bufferArray.inputs = layer.ifmapBytes * 8;
  bufferArray.outputs = layer.ofmapBytes * 8;
  // the unit's own parameters (LayerNorm's γ and β), loaded once with the first sub-tile
  const params = layer.requantParamBytes;
  dramBuffer.requantParams = params * 8;
  bufferArray.requantParams = params * 8;
  reclassify(dramBuffer, layer.operandClasses);
  reclassify(bufferArray, layer.operandClasses);
  const traffic = new BufferTraffic(spec);
  // the unit reads every input from the buffer; the DMA fills what came from DRAM and reads what goes back
  traffic.add('ifmap', layer.ifmapBytes + params, io.read + params);
  traffic.add('ofmap', io.write, layer.ofmapBytes);
  traffic.counts(counts);
  dramCounts(counts, io.read + params, io.write);
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
      spills: { toBuffer: 0, toDram: 0 },
      dramRead: io.read + params,
      dramWrite: io.write,
      paramBytes: params,
      counts,
    },
    spill: SpillTarget.None,
    subTiles: S,
    residentIfmap: false,
    residentFilter: false,
    keepIfmapSlice: false,
    keepFilterSlice: false,
  };
}
