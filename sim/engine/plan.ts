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
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec, BufferName, BufferSpec, TensorClass } from '../../arch/spec.js';
import { planFolds, type FoldPlan } from '../timing/compute.js';
import type { GemmView } from '../timing/gemm-view.js';
import { zeroBits, type BitsClass } from '../result.js';
import { requantParamBitsPerChannel, type WorkloadLayer } from './workload.js';

export const enum SpillTarget {
  None = 0,
  Buffer = 1,
  Dram = 2,
}

/** Per-sub-tile work of one layer, struct of arrays (index = sub-tile, in execution order). */
export interface TilePlan {
  readonly count: number;
  /** compute cycles (array, or the requant unit for vector layers) */
  readonly cycles: Float64Array;
  /** DRAM bytes that must arrive before the sub-tile computes (operands, psums read back, params) */
  readonly loadBytes: Float64Array;
  /** of loadBytes: partial sums read back from DRAM */
  readonly spillInBytes: Float64Array;
  /** final outputs the sub-tile hands to the requant unit */
  readonly outElems: Float64Array;
  /** DRAM bytes written after it (requantized outputs, psums spilled to DRAM) */
  readonly writeBytes: Float64Array;
  /** of writeBytes: partial sums spilled to DRAM */
  readonly spillOutBytes: Float64Array;
  /** fold index of the sub-tile; −1 for vector layers */
  readonly fold: Int32Array;
  /** 1 on a fold's first sub-tile */
  readonly firstOfFold: Uint8Array;
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

function allocTiles(count: number): Omit<TilePlan, 'requantPasses' | 'drainPerCycle' | 'drainAll' | 'vector'> {
  return {
    count,
    cycles: new Float64Array(count),
    loadBytes: new Float64Array(count),
    spillInBytes: new Float64Array(count),
    outElems: new Float64Array(count),
    writeBytes: new Float64Array(count),
    spillOutBytes: new Float64Array(count),
    fold: new Int32Array(count),
    firstOfFold: new Uint8Array(count),
  };
}

function passesOf(layer: WorkloadLayer): number {
  return layer.activation.kind !== 'none' && !layer.activation.fused ? 2 : 1;
}

/** Plans a GEMM layer (see the policy above). */
export function planGemmLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
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

  // --- walk the folds
  const t = allocTiles(folds * S);
  const ifSeen = new Uint8Array(groups * Math.max(rowFolds, colFolds) + folds);
  const wSeen = new Uint8Array(groups * Math.max(rowFolds, colFolds) + folds);
  let prevIf = -1;
  let prevW = -1;
  const dramBuffer = zeroBits();
  const bufferArray = zeroBits();
  let psumSpillBits = 0;
  let toBuffer = 0;
  let toDram = 0;
  let biasReadCh = 0;
  let rqReadSets = 0;
  let outputsTotal = 0;
  const pbits = requantParamBitsPerChannel(spec);
  let ti = 0;
  for (let g = 0; g < groups; g++) {
    for (let fc = 0; fc < colFolds; fc++) {
      for (let fr = 0; fr < rowFolds; fr++) {
        const f = g * perGroup + fc * rowFolds + fr;
        const r0 = fr * R;
        const r1 = Math.min(Sr, r0 + R);
        const c0 = fc * C;
        const c1 = Math.min(Sc, c0 + C);
        let mLen: number, kLen: number, nLen: number, kFold: number, ifId: number, wId: number;
        if (df === 'os') {
          mLen = r1 - r0;
          nLen = c1 - c0;
          kLen = K;
          kFold = 0;
          ifId = g * rowFolds + fr;
          wId = g * colFolds + fc;
        } else if (df === 'ws') {
          kLen = r1 - r0;
          nLen = c1 - c0;
          mLen = M;
          kFold = fr;
          ifId = g * rowFolds + fr;
          wId = groups * Math.max(rowFolds, colFolds) + f;
        } else {
          kLen = r1 - r0;
          mLen = c1 - c0;
          nLen = Neff;
          kFold = fr;
          ifId = groups * Math.max(rowFolds, colFolds) + f;
          wId = g * rowFolds + fr;
        }
        const nStart = df === 'is' ? 0 : c0;
        const nReal = Math.max(0, Math.min(N, nStart + nLen) - nStart);
        const ifElems = mLen * kLen;
        const wElems = kLen * nReal;
        bufferArray.inputs += ifElems * aBits;
        bufferArray.weights += wElems * wBits;
        let ifDram = 0;
        if (ifId !== prevIf && !(residentIfmap && ifSeen[ifId])) ifDram = Math.ceil(ceilBytes(ifElems, aBits) * ratio);
        ifSeen[ifId] = 1;
        prevIf = ifId;
        let wDram = 0;
        if (wId !== prevW && !(residentFilter && wSeen[wId])) wDram = ceilBytes(wElems, wBits);
        wSeen[wId] = 1;
        prevW = wId;
        dramBuffer.inputs += ifDram * 8;
        dramBuffer.weights += wDram * 8;
        const last = kFold === kFolds - 1;
        const outs = last ? mLen * nReal : 0;
        outputsTotal += outs;
        if (kFold === 0) biasReadCh += nReal;
        // per-channel (M0, shift) sets follow the output channels of each tile; a per-tensor set
        // sits in the requant unit's register for the whole layer (read once, below)
        if (last && layer.perChannel) rqReadSets += nReal;
        // partial sums of this fold's tile (ones column included)
        const entries = spill !== SpillTarget.None ? mLen * nLen : 0;
        const spillOut = spill !== SpillTarget.None && !last ? entries : 0;
        const spillIn = spill !== SpillTarget.None && kFold > 0 ? entries : 0;
        psumSpillBits += (spillOut + spillIn) * layer.accBits;
        if (spill === SpillTarget.Buffer) {
          toBuffer += spillOut;
          bufferArray.psums += (spillOut + spillIn) * layer.accBits;
        } else if (spill === SpillTarget.Dram) {
          toDram += spillOut;
          dramBuffer.psums += (spillOut + spillIn) * layer.accBits;
        }
        const psInBytes = spill === SpillTarget.Dram ? spillIn * accBytes : 0;
        const psOutBytes = spill === SpillTarget.Dram ? spillOut * accBytes : 0;
        const cyc = fp.computeCyclesPerFold[f];
        let cum = 0;
        for (let s = 0; s < S; s++) {
          // OS: the K stream is cut, fill and drain stay with the last sub-tile (its outputs drain
          // there); WS/IS: even cuts, outputs pro rata of cycles (they stream out all fold long)
          const c = df === 'os' ? share(K, S, s) + (s === S - 1 ? cyc - K : 0) : share(cyc, S, s);
          t.cycles[ti] = c;
          const o = df === 'os' ? (s === S - 1 ? outs : 0) : Math.floor((outs * (cum + c)) / cyc) - Math.floor((outs * cum) / cyc);
          cum += c;
          const psIn = share(psInBytes, S, s);
          t.spillInBytes[ti] = psIn;
          t.loadBytes[ti] = share(ifDram, S, s) + share(wDram, S, s) + psIn;
          t.outElems[ti] = o;
          const psOut = share(psOutBytes, S, s);
          t.spillOutBytes[ti] = psOut;
          t.writeBytes[ti] = ceilBytes(o, oBits) + psOut;
          t.fold[ti] = f;
          t.firstOfFold[ti] = s === 0 ? 1 : 0;
          ti++;
        }
      }
    }
  }
  // bias and requant parameters come with the first tile
  t.loadBytes[0] += layer.biasBytes + layer.requantParamBytes;
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
  const dramReadBytes = (dramBuffer.inputs + dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8 + (spill === SpillTarget.Dram ? (toDram * accBytes) : 0);
  const dramWriteBytes = outBytes + (spill === SpillTarget.Dram ? toDram * accBytes : 0);
  traffic.add('ifmap', bufferArray.inputs / 8, dramBuffer.inputs / 8);
  traffic.add('filter', (bufferArray.weights + bufferArray.bias + bufferArray.requantParams) / 8, (dramBuffer.weights + dramBuffer.bias + dramBuffer.requantParams) / 8);
  traffic.add('ofmap', outBytes + bufferArray.psums / 16, outBytes + bufferArray.psums / 16);
  requantCounts(spec, layer, outputsTotal, counts, traffic, bufferArray);
  traffic.counts(counts);
  dramCounts(counts, dramReadBytes, dramWriteBytes);
  return {
    tiles: { ...t, requantPasses: passesOf(layer), drainPerCycle: df === 'is' ? Math.min(C, M) : Math.min(C, Neff), drainAll: df !== 'os', vector: false },
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
    spill,
    subTiles: S,
    residentIfmap,
    residentFilter,
  };
}

/** Plans a vector layer: element work on the requant unit, tiled to fit double-buffered. */
export function planVectorLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
  const shares = sharesFor(spec, layer.ifmapBytes + layer.ofmapBytes);
  const E = layer.vectorElements;
  const lanes = spec.requant.lanesPerCycle;
  let S = Math.max(1, Math.ceil((2 * layer.ifmapBytes) / shares.ifmap), Math.ceil((2 * layer.ofmapBytes) / shares.ofmap));
  S = Math.min(S, Math.max(1, E));
  const t = allocTiles(S);
  const passes = passesOf(layer);
  for (let s = 0; s < S; s++) {
    t.cycles[s] = Math.ceil(share(E, S, s) / lanes) * passes;
    t.loadBytes[s] = share(layer.ifmapBytes, S, s);
    t.writeBytes[s] = share(layer.ofmapBytes, S, s);
    t.fold[s] = -1;
    t.firstOfFold[s] = 1;
  }
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
    tiles: { ...t, requantPasses: 1, drainPerCycle: lanes, drainAll: false, vector: true },
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
