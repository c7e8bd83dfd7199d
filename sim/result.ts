/**
 * The Run-result noun (DESIGN.md): what a simulation counted. Counts are the primary data —
 * cycles, stalls by cause, MACs, the extra accumulation of asymmetric weights, bits moved per
 * memory level and tensor class, actions per component (ActionCount) — and energy is derived from
 * the counts and an energy table AFTER the run (`recomputeEnergy`), so a table can be swapped
 * without re-running (`qloom energy <result.json> --table …`).
 *
 * A RunResult is plain JSON data (no typed arrays, no classes): write it with JSON.stringify and
 * read it back with `parseRunResult`.
 */
import type { LayerZeroReport } from './zero-gating.js';
import type { LayerCompressionReport } from './dram-compression.js';
import { ConfigError } from '../arch/errors.js';
import { applyEnergyTable, type ActionCount, type EnergyReport, type EnergyTable } from '../arch/energy.js';
import { InvariantError } from '../nets/errors.js';

/** tensor classes bits are reported by (DESIGN.md "Energy and bits") */
/**
 * `attention`: attention scores and probabilities (the output of Q·Kᵀ, Softmax's input and output,
 * the P operand of P·V), apart from other activations so a transformer's attention traffic shows
 */
export type BitsClass = 'weights' | 'inputs' | 'outputs' | 'psums' | 'bias' | 'requantParams' | 'attention';
export const BITS_CLASSES: readonly BitsClass[] = Object.freeze(['weights', 'inputs', 'outputs', 'psums', 'bias', 'requantParams', 'attention']);

/**
 * Bits moved, levels × classes: each bit counted once per boundary it crosses (DESIGN.md
 * "Referees"), so the total is the sum of the cells (`bitsTotal`). Partial sums move only
 * when they spill out of the accumulators, so the `psums` class is the spill traffic, and its two
 * levels are its breakdown by destination (`psumSpillBits`): `bufferArray.psums` spilled to the
 * buffer and read back, `dramBuffer.psums` spilled to DRAM and read back (whole bytes per entry,
 * as DRAM counts bytes). There is no separate spill total to add.
 */
export interface BitsMoved {
  /** DRAM ↔ on-chip buffers, both directions (whole bytes: = 8 × the layer's DRAM bytes read and written) */
  readonly dramBuffer: Readonly<Record<BitsClass, number>>;
  /** buffers (and accumulators) ↔ PE array and requant unit, both directions */
  readonly bufferArray: Readonly<Record<BitsClass, number>>;
}

/** every bit moved, once: Σ levels × classes */
export function bitsTotal(b: BitsMoved): number {
  let s = 0;
  for (const k of BITS_CLASSES) s += b.dramBuffer[k] + b.bufferArray[k];
  return s;
}

/** bits moved per tensor class, both levels */
export function bitsByClass(b: BitsMoved): Record<BitsClass, number> {
  const out = zeroBits();
  for (const k of BITS_CLASSES) out[k] = b.dramBuffer[k] + b.bufferArray[k];
  return out;
}

/** bits moved over DRAM ↔ buffer (every class) */
export function dramBits(b: BitsMoved): number {
  let s = 0;
  for (const k of BITS_CLASSES) s += b.dramBuffer[k];
  return s;
}

/** one line for a human: the total, its two levels, and the psums class's part of them by destination */
export function bitsLine(b: BitsMoved): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const dram = dramBits(b);
  const sp = psumSpillBits(b);
  return `bits moved ${n(bitsTotal(b))} (DRAM↔buffer ${n(dram)}, buffer↔array ${n(bitsTotal(b) - dram)}; of them partial-sum spills ${n(sp.toBuffer + sp.toDram)}: to the buffer ${n(sp.toBuffer)}, to DRAM ${n(sp.toDram)})`;
}

/** the `psums` class by where the partial sums spilled to (both directions): a breakdown, not an addend */
export function psumSpillBits(b: BitsMoved): { readonly toBuffer: number; readonly toDram: number } {
  return { toBuffer: b.bufferArray.psums, toDram: b.dramBuffer.psums };
}

/** array idle cycles by the reason it waited */
export interface StallBreakdown {
  /** an operand tile's DMA had not arrived */
  readonly operandLate: number;
  /** the output staging buffer was full (write-back to DRAM not done) */
  readonly bufferFull: number;
  /** the requant/activation unit had not drained the previous outputs */
  readonly requantBusy: number;
}

export type LayerKind = 'gemm' | 'vector' | 'free';

/**
 * Overflow events by the accumulator they happened in, in hardware order (DESIGN.md "Integer
 * arithmetic contract"); events summed over every sample the functional run covered. An event is
 * one add whose exact result left the register's range (a saturated register that keeps being
 * pushed past its limit counts once per such add).
 */
export interface OverflowsBy {
  /**
   * in-array partial-sum adds (one per MAC) that left `accumulator.psumBits`: on an os array the
   * PE register that holds the whole K sum, on ws / is the partial sum passed down the array
   */
  readonly array: number;
  /** accumulator adds (bias load, one per K tile, the z_w·Σq_x step) that left `accumulator.bits` */
  readonly accumulator: number;
}

export const NO_OVERFLOWS: OverflowsBy = Object.freeze({ array: 0, accumulator: 0 });

export interface LayerResult {
  readonly name: string;
  /** gemm: runs on the PE array; vector: element work on the requant unit; free: layout only */
  readonly kind: LayerKind;
  /** cycle the layer started at (layers run one after another) */
  readonly startCycle: number;
  /** from the layer's first DMA to its last output write */
  readonly cycles: number;
  /** cycles the array (gemm) or requant unit (vector) computed: Σ fold compute cycles */
  readonly computeCycles: number;
  /** array idle cycles inside the layer, = Σ stalls (scalesim model: SCALE-Sim's stalls, all as operandLate) */
  readonly stallCycles: number;
  readonly stalls: StallBreakdown;
  /** cycles after the last compute: requant latency and the last output writes */
  readonly tailCycles: number;
  /** macs / (PEs · cycles) */
  readonly utilization: number;
  /** useful PE slots of the folds (SCALE-Sim's mapping efficiency) */
  readonly mappingEfficiency: number;
  readonly macs: number;
  /** adds of the data-dependent zero-point term z_w·Σq_x (asymmetric weights, raw PE form) */
  readonly extraAdds: number;
  readonly energyPj: number;
  /**
   * overflow events at every accumulator (= Σ overflowsBy), summed over every sample of the
   * functional run (`RunResult.samples`); 0 in timing-only runs
   */
  readonly overflows: number;
  /** where the events happened; absent in timing-only runs (read as NO_OVERFLOWS) */
  readonly overflowsBy?: OverflowsBy;
  /** overflows ÷ samples; absent in timing-only runs */
  readonly overflowsPerSample?: number;
  readonly bits: BitsMoved;
  /** parameter storage: weights, bias and requant parameters, bytes */
  readonly paramBytes: number;
  /** functional runs: zero fractions of the layer's operands on the data, MACs gated (sim/zero-gating.ts) */
  readonly zeros?: LayerZeroReport;
  /** functional runs on an arch that compresses activations on the DRAM interface (sim/dram-compression.ts) */
  readonly compression?: LayerCompressionReport;
  /**
   * arch `memories.onChipBoundaries`: bytes of the layer's input read in place from the buffer
   * (left by the layer before), and whether its output stays for the next (sim/engine/on-chip.ts);
   * `bandReserveBytes` where a side is fused as a band of rows: the buffer it reserves (line
   * buffer and the partner's weights)
   */
  readonly onChip?: { readonly inputBytes: number; readonly output: 'kept' | 'kept-and-written' | 'dram'; readonly bandReserveBytes?: number };
  /** partial-sum entries spilled out of the accumulators and where they went */
  readonly spills: { readonly toBuffer: number; readonly toDram: number };
  readonly dramBytes: { readonly read: number; readonly write: number };
  /** native model: events the engine processed for the layer (transfers, sub-tiles, batches; fast-forwarded ones counted as processed); scalesim model: folds */
  readonly tiles: number;
  readonly counts: readonly ActionCount[];
}

export interface RunTotals {
  readonly cycles: number;
  readonly computeCycles: number;
  readonly stallCycles: number;
  readonly stalls: StallBreakdown;
  readonly utilization: number;
  readonly macs: number;
  readonly extraAdds: number;
  readonly energyPj: number;
  /** as LayerResult's: events at every accumulator, all samples */
  readonly overflows: number;
  readonly overflowsBy?: OverflowsBy;
  readonly overflowsPerSample?: number;
  readonly bits: BitsMoved;
  readonly paramBytes: number;
  readonly dramBytes: { readonly read: number; readonly write: number };
  /** seconds at the arch clock */
  readonly seconds: number;
}

export interface RunResult {
  readonly version: 1;
  readonly arch: { readonly name: string; readonly configHash: string; readonly clockHz: number; readonly pes: number };
  readonly memoryModel: 'native' | 'scalesim';
  readonly seed: number;
  readonly cancelled: boolean;
  /**
   * samples the functional run computed (overflows are summed over them); absent in timing-only
   * runs. Every other count is per inference.
   */
  readonly samples?: number;
  readonly layers: readonly LayerResult[];
  readonly totals: RunTotals;
  /** every layer's counts, merged */
  readonly counts: readonly ActionCount[];
  readonly energy: EnergyReport;
}

export function zeroBits(): Record<BitsClass, number> {
  return { weights: 0, inputs: 0, outputs: 0, psums: 0, bias: 0, requantParams: 0, attention: 0 };
}

/** Sums counts with the same component/action/bits/capacity/label (order of first appearance). */
export function mergeCounts(lists: readonly (readonly ActionCount[])[]): ActionCount[] {
  const at = new Map<string, number>();
  const out: ActionCount[] = [];
  for (const list of lists) {
    for (const c of list) {
      const key = `${c.component}|${c.action}|${String(c.bits)}|${c.capacityBytes ?? ''}|${c.label ?? ''}`;
      const i = at.get(key);
      if (i === undefined) {
        at.set(key, out.length);
        out.push({ ...c });
      } else out[i] = { ...out[i], count: out[i].count + c.count };
    }
  }
  return out;
}

function sumBits(layers: readonly LayerResult[]): BitsMoved {
  const dramBuffer = zeroBits();
  const bufferArray = zeroBits();
  for (const l of layers) {
    for (const k of BITS_CLASSES) {
      dramBuffer[k] += l.bits.dramBuffer[k];
      bufferArray[k] += l.bits.bufferArray[k];
    }
  }
  return { dramBuffer, bufferArray };
}

/** Totals of a list of layers (layers run back to back, so cycles add up). */
export function totalsOf(layers: readonly LayerResult[], pes: number, clockHz: number, energyPj: number): RunTotals {
  let cycles = 0;
  let computeCycles = 0;
  let stallCycles = 0;
  let operandLate = 0;
  let bufferFull = 0;
  let requantBusy = 0;
  let macs = 0;
  let extraAdds = 0;
  let overflows = 0;
  let paramBytes = 0;
  let read = 0;
  let write = 0;
  for (const l of layers) {
    cycles += l.cycles;
    computeCycles += l.computeCycles;
    stallCycles += l.stallCycles;
    operandLate += l.stalls.operandLate;
    bufferFull += l.stalls.bufferFull;
    requantBusy += l.stalls.requantBusy;
    macs += l.macs;
    extraAdds += l.extraAdds;
    overflows += l.overflows;
    paramBytes += l.paramBytes;
    read += l.dramBytes.read;
    write += l.dramBytes.write;
  }
  return {
    cycles,
    computeCycles,
    stallCycles,
    stalls: { operandLate, bufferFull, requantBusy },
    utilization: cycles > 0 ? macs / (pes * cycles) : 0,
    macs,
    extraAdds,
    energyPj,
    overflows,
    bits: sumBits(layers),
    paramBytes,
    dramBytes: { read, write },
    seconds: cycles / clockHz,
  };
}

/**
 * The result priced with another energy table: per-layer energyPj, totals and the report are
 * recomputed from the stored counts; every other number is unchanged. Throws ConfigError when the
 * table lacks a component/action the run counted.
 */
export function recomputeEnergy(result: RunResult, table: EnergyTable): RunResult {
  const energy = applyEnergyTable(result.counts, table);
  const layers = result.layers.map((l) => ({ ...l, energyPj: l.counts.length > 0 ? applyEnergyTable(l.counts, table).totalPj : 0 }));
  return { ...result, layers, totals: { ...result.totals, energyPj: energy.totalPj }, energy };
}

/** `a + b` per accumulator */
export function addOverflows(a: OverflowsBy, b: OverflowsBy): OverflowsBy {
  return { array: a.array + b.array, accumulator: a.accumulator + b.accumulator };
}

function overflowFields(by: OverflowsBy, samples: number): { overflows: number; overflowsBy: OverflowsBy; overflowsPerSample: number } {
  const overflows = by.array + by.accumulator;
  return { overflows, overflowsBy: by, overflowsPerSample: samples > 0 ? overflows / samples : 0 };
}

/** Overflow events of a functional run over `samples` samples written into a result (per layer, by index). */
export function withOverflows(result: RunResult, perLayer: readonly OverflowsBy[], samples: number): RunResult {
  let total = NO_OVERFLOWS;
  const layers = result.layers.map((l, i) => {
    const by = perLayer[i] ?? NO_OVERFLOWS;
    total = addOverflows(total, by);
    return { ...l, ...overflowFields(by, samples) };
  });
  return { ...result, samples, layers, totals: { ...result.totals, ...overflowFields(total, samples) } };
}

/** The overflow columns of `qloom run` (JSON and table): events at every accumulator over every sample, per sample, and by accumulator. */
export function overflowSummary(x: LayerResult | RunTotals): { overflows: number; overflowsPerSample: number; overflowsBy: OverflowsBy } {
  return { overflows: x.overflows, overflowsPerSample: x.overflowsPerSample ?? 0, overflowsBy: x.overflowsBy ?? NO_OVERFLOWS };
}

type OverflowColumns = ReturnType<typeof overflowSummary>;

/** The `--json` document of `qloom run` (issue 5): per-layer essentials and totals. */
export function runSummary(result: RunResult): {
  layers: ({ name: string; cycles: number; stallCycles: number; utilization: number; macs: number; energyPj: number } & OverflowColumns & {
    bitsMoved: number;
    bits: BitsMoved;
    zeros?: LayerZeroReport;
    compression?: LayerCompressionReport;
    onChip?: LayerResult['onChip'];
    dramBytes: { read: number; write: number };
  })[];
  totals: { cycles: number; stallCycles: number; macs: number; energyPj: number } & OverflowColumns & { bitsMoved: number; bits: BitsMoved };
  /** samples the overflow counts cover; functional runs only */
  samples?: number;
} {
  // bitsMoved = Σ bits (levels × classes); only the two levels are copied (a result saved before
  // issue 20 also carried a psumSpill total, the psums class counted a second time)
  const bits = (b: BitsMoved): BitsMoved => ({ dramBuffer: b.dramBuffer, bufferArray: b.bufferArray });
  return {
    layers: result.layers.map((l) => ({
      name: l.name,
      cycles: l.cycles,
      stallCycles: l.stallCycles,
      utilization: l.utilization,
      macs: l.macs,
      energyPj: l.energyPj,
      ...overflowSummary(l),
      bitsMoved: bitsTotal(l.bits),
      bits: bits(l.bits),
      ...(l.zeros && { zeros: l.zeros }),
      ...(l.compression && { compression: l.compression }),
      ...(l.onChip && { onChip: l.onChip }),
      dramBytes: l.dramBytes,
    })),
    totals: {
      cycles: result.totals.cycles,
      stallCycles: result.totals.stallCycles,
      macs: result.totals.macs,
      energyPj: result.totals.energyPj,
      ...overflowSummary(result.totals),
      bitsMoved: bitsTotal(result.totals.bits),
      bits: bits(result.totals.bits),
    },
    ...(result.samples !== undefined ? { samples: result.samples } : {}),
  };
}

/** Checks that parsed JSON looks like a RunResult (the fields energy recomputation needs). */
export function parseRunResult(doc: unknown, file?: string): RunResult {
  const bad = (what: string): never => {
    throw new ConfigError(`not a qloom run result (${what})`, file);
  };
  if (typeof doc !== 'object' || doc === null) return bad('not an object');
  const d = doc as Partial<RunResult>;
  if (d.version !== 1) bad('version is not 1');
  if (!Array.isArray(d.layers)) bad('no layers');
  if (!Array.isArray(d.counts)) bad('no counts');
  if (typeof d.totals !== 'object' || d.totals === null) bad('no totals');
  for (const l of d.layers!) if (!Array.isArray((l as LayerResult).counts)) bad(`layer ${(l as LayerResult).name} has no counts`);
  return d as RunResult;
}

/**
 * Checks what a run reports: every count (cycles, stalls, MACs, adds, bits, spills, events,
 * actions) a finite non-negative safe integer, every other number (utilization, energy, bytes,
 * seconds) finite and non-negative. Inputs beyond what counts can represent are refused before a
 * run (sim/timing/limits.ts), so a failure here is a bug: InvariantError naming the field.
 */
export function checkRunCounts(result: RunResult): void {
  const bad: string[] = [];
  const int = (v: number, path: string) => {
    if (!(Number.isSafeInteger(v) && v >= 0)) bad.push(`${path} = ${v}`);
  };
  const real = (v: number, path: string) => {
    if (!(Number.isFinite(v) && v >= 0)) bad.push(`${path} = ${v}`);
  };
  const bits = (b: BitsMoved, path: string) => {
    for (const k of BITS_CLASSES) {
      int(b.dramBuffer[k], `${path}.bits.dramBuffer.${k}`);
      int(b.bufferArray[k], `${path}.bits.bufferArray.${k}`);
    }
  };
  const common = (x: LayerResult | RunTotals, path: string) => {
    int(x.cycles, `${path}.cycles`);
    int(x.computeCycles, `${path}.computeCycles`);
    int(x.stallCycles, `${path}.stallCycles`);
    int(x.stalls.operandLate, `${path}.stalls.operandLate`);
    int(x.stalls.bufferFull, `${path}.stalls.bufferFull`);
    int(x.stalls.requantBusy, `${path}.stalls.requantBusy`);
    int(x.macs, `${path}.macs`);
    int(x.extraAdds, `${path}.extraAdds`);
    int(x.overflows, `${path}.overflows`);
    if (x.overflowsBy) {
      int(x.overflowsBy.array, `${path}.overflowsBy.array`);
      int(x.overflowsBy.accumulator, `${path}.overflowsBy.accumulator`);
      if (x.overflowsBy.array + x.overflowsBy.accumulator !== x.overflows) bad.push(`${path}.overflows = ${x.overflows} ≠ Σ overflowsBy`);
    }
    if (x.overflowsPerSample !== undefined) real(x.overflowsPerSample, `${path}.overflowsPerSample`);
    real(x.utilization, `${path}.utilization`);
    real(x.energyPj, `${path}.energyPj`);
    real(x.paramBytes, `${path}.paramBytes`);
    real(x.dramBytes.read, `${path}.dramBytes.read`);
    real(x.dramBytes.write, `${path}.dramBytes.write`);
    bits(x.bits, path);
  };
  result.layers.forEach((l, i) => {
    const path = `layers[${i}] (${l.name})`;
    common(l, path);
    int(l.startCycle, `${path}.startCycle`);
    int(l.tailCycles, `${path}.tailCycles`);
    int(l.tiles, `${path}.tiles`);
    int(l.spills.toBuffer, `${path}.spills.toBuffer`);
    int(l.spills.toDram, `${path}.spills.toDram`);
    real(l.mappingEfficiency, `${path}.mappingEfficiency`);
    l.counts.forEach((c, j) => int(c.count, `${path}.counts[${j}] (${c.component}/${c.action})`));
  });
  common(result.totals, 'totals');
  real(result.totals.seconds, 'totals.seconds');
  result.counts.forEach((c, j) => int(c.count, `counts[${j}] (${c.component}/${c.action})`));
  real(result.energy.totalPj, 'energy.totalPj');
  if (bad.length > 0) {
    throw new InvariantError(`a run reported counts that are not finite safe integers (or finite numbers): ${bad.slice(0, 8).join(', ')}${bad.length > 8 ? `, … (${bad.length} in all)` : ''}`);
  }
}
