/**
 * `simulate(spec, workload, sinks?)`: one run of a workload on an accelerator — the discrete-event
 * engine (native.ts) over the tiles of plan.ts, or SCALE-Sim's memory model
 * (sim/timing/scalesim-memory.ts) for the timing when `spec.memoryModel === 'scalesim'` — and the
 * accounting of everything it counted, priced with the spec's energy table.
 *
 * Layers run one after another: a layer's first DMA starts when the previous layer's last output
 * write has completed (no inter-layer overlap or fusion; each layer reads its inputs from DRAM and
 * writes its outputs to DRAM, as SCALE-Sim does).
 *
 * Limits (sim/timing/limits.ts), checked before the memory or time they guard is spent, each a
 * ConfigError naming the layer (its topology row when known) and the limit: the sub-tiles the
 * event engine steps one by one in the run (fast-forward skips the rest), SCALE-Sim's USER-mode
 * sizes; per layer, before its engine runs, an upper bound of its cycles and every count it will
 * report must stay below 2^53 (also summed over the run), so counts are exact. What the run
 * reports is checked at the end (`checkRunCounts`): a count that is not a finite safe integer is an
 * InvariantError.
 */
import { applyEnergyTable, energyTableForSpec, type ActionCount } from '../../arch/energy.js';
import { ConfigError, type Problem } from '../../arch/errors.js';
import { archHash, type ArchSpec } from '../../arch/spec.js';
import { EventKind, Track, type EngineSinks, type FunctionalSink, type TileEvent } from '../events.js';
import { BITS_CLASSES, checkRunCounts, mergeCounts, totalsOf, zeroBits, type LayerResult, type RunResult } from '../result.js';
import { MAX_COUNT, MAX_EVENT_TILES, fmtCount } from '../timing/limits.js';
import { scaleSimLimitProblems, simulateScaleSim } from '../timing/scalesim-memory.js';
import { scaleSimAccounting } from './accounting.js';
import { EventBuffer } from './emit.js';
import { NativeEngine } from './native.js';
import { layerWhere, planGemmLayer, planVectorLayer, sizeLayer, type LayerPlan } from './plan.js';
import { planOnChip } from './on-chip.js';
import { SfuTiles } from './sfu-plan.js';
import type { Workload, WorkloadLayer } from './workload.js';

export { planGemmLayer, planVectorLayer, sizeLayer, layerWhere, type LayerPlan, type LayerSize } from './plan.js';
export { planOnChip, type OnChipBoundary, type OnChipPlan } from './on-chip.js';
export { SpillTarget } from './fold-model.js';
export type { TilePlan } from './tiles.js';
export type { LayerAccounting } from './accounting.js';
export { workloadFromQuantizedNetwork, workloadFromViews, requantParamBitsPerChannel, type Workload, type WorkloadLayer, type WorkloadActivation, type VectorOp } from './workload.js';
export { EventHeap } from './heap.js';

/** A TileEvent the engine may fill in place. */
export type TileEventSlot = { -readonly [K in keyof TileEvent]: TileEvent[K] };

function newTileEvent(): TileEventSlot {
  return { layer: 0, group: 0, m0: 0, m1: 0, n0: 0, n1: 0, k0: 0, k1: 0, kFold: 0, kFolds: 1, cycle: 0 };
}

/**
 * Writes into `te` the TileEvent of fold `f` of a planned GEMM layer; false for a fold of the
 * zero-point column only (no output channel of the layer).
 */
export function tileOfFold(layerIndex: number, plan: LayerPlan, realN: number, f: number, cycle: number, te: TileEventSlot): boolean {
  const fp = plan.fold!;
  const v = plan.runView!;
  const perGroup = fp.rowFolds * fp.colFolds;
  const g = Math.floor(f / perGroup);
  const rem = f - g * perGroup;
  const fc = Math.floor(rem / fp.rowFolds);
  const fr = rem - fc * fp.rowFolds;
  const r0 = fr * fp.rows;
  const r1 = Math.min(fp.Sr, r0 + fp.rows);
  const c0 = fc * fp.cols;
  const c1 = Math.min(fp.Sc, c0 + fp.cols);
  // OS: rows are output rows, columns output channels, one K tile; WS: rows K, columns channels;
  // IS: rows K, columns output rows
  const os = fp.dataflow === 'os';
  const ws = fp.dataflow === 'ws';
  te.layer = layerIndex;
  te.group = g;
  te.m0 = os ? r0 : ws ? 0 : c0;
  te.m1 = os ? r1 : ws ? v.M : c1;
  // the zero-point column of ones is column 0 of the N axis (sim/engine/fold-model.ts)
  const off = v.N - realN;
  te.n0 = os || ws ? Math.max(0, c0 - off) : 0;
  te.n1 = os || ws ? Math.max(0, Math.min(c1 - off, realN)) : realN;
  te.k0 = os ? 0 : r0;
  te.k1 = os ? v.K : r1;
  te.kFold = os ? 0 : fr;
  te.kFolds = os ? 1 : fp.rowFolds;
  te.cycle = cycle;
  return te.n0 < te.n1;
}

/**
 * Hands fold f's tile to the functional sink: in `slot`, refilled for every fold, when the sink
 * only borrows tiles (no allocation per fold); a fresh object for a sink that may keep it.
 */
function foldTile(fn: FunctionalSink, slot: TileEventSlot, layerIndex: number, plan: LayerPlan, realN: number, f: number, cycle: number): void {
  const te = fn.borrowsTiles === true ? slot : newTileEvent();
  if (tileOfFold(layerIndex, plan, realN, f, cycle, te)) fn.tile(te);
}

function emptyLayer(name: string, start: number): LayerResult {
  return {
    name,
    kind: 'free',
    startCycle: start,
    cycles: 0,
    computeCycles: 0,
    stallCycles: 0,
    stalls: { operandLate: 0, bufferFull: 0, requantBusy: 0 },
    tailCycles: 0,
    utilization: 0,
    mappingEfficiency: 0,
    macs: 0,
    extraAdds: 0,
    energyPj: 0,
    overflows: 0,
    bits: { dramBuffer: zeroBits(), bufferArray: zeroBits() },
    paramBytes: 0,
    spills: { toBuffer: 0, toDram: 0 },
    dramBytes: { read: 0, write: 0 },
    tiles: 0,
    counts: [],
  };
}

function planOf(spec: ArchSpec, l: WorkloadLayer): LayerPlan | null {
  if (l.kind === 'gemm') return planGemmLayer(spec, l);
  if (l.kind === 'vector') return planVectorLayer(spec, l);
  return null;
}

export interface SimulateOptions {
  /**
   * fast-forward runs of identical sub-tiles in the native engine (exact; default true). Off, every
   * sub-tile is stepped: for tests that check the two agree.
   */
  readonly fastForward?: boolean;
}

/** the source a ConfigError about these layers names: none when each says its own file and row */
function sourceOf(workload: Workload, layers: readonly WorkloadLayer[]): string | undefined {
  return layers.every((l) => l.view?.origin !== undefined) ? undefined : workload.name;
}

/**
 * The run's limits, before anything is planned: sub-tiles the engine steps one by one
 * (fast-forward assumed where it applies), SCALE-Sim USER-mode sizes. Every problem at once.
 */
function checkWorkload(spec: ArchSpec, workload: Workload, sinks: EngineSinks, fastForward: boolean): void {
  const problems: Problem[] = [];
  const scalesim = spec.memoryModel === 'scalesim';
  // an event sink needs every event: nothing is fast-forwarded
  const ff = fastForward && !sinks.events;
  let work = 0;
  let worst = -1;
  let worstWork = 0;
  for (let li = 0; li < workload.layers.length; li++) {
    const wl = workload.layers[li];
    if (wl.kind === 'free') continue;
    const size = sizeLayer(spec, wl);
    // the scalesim model's timing is closed form (CALC) or limited on its own (USER); folds are
    // walked one by one only for sinks
    const w = scalesim && wl.kind === 'gemm' ? (sinks.events || sinks.functional ? size.folds : 0) : ff ? size.eventTiles : size.tiles;
    work += w;
    if (w > worstWork) {
      worstWork = w;
      worst = li;
    }
  }
  if (problems.length === 0 && work > MAX_EVENT_TILES) {
    const wl = workload.layers[worst];
    problems.push({
      path: layerWhere(wl),
      message:
        `the run would step ${fmtCount(work)} sub-tiles one by one (this layer ${fmtCount(worstWork)} of its ${fmtCount(sizeLayer(spec, wl).tiles)}: folds cut to fit their buffer share, ` +
        `the rest fast-forwarded), more than the ${MAX_EVENT_TILES} (2^25) qloom simulates in a run; use larger buffers, a smaller layer or the scalesim memory model`,
    });
  }
  if (scalesim) {
    const views = workload.layers.filter((l) => l.kind === 'gemm').map((l) => l.view!);
    problems.push(...scaleSimLimitProblems(spec, views, false));
  }
  if (problems.length > 0) throw new ConfigError(problems, sourceOf(workload, workload.layers.filter((l) => l.kind !== 'free')));
}

/**
 * An upper bound of a planned layer's cycles on the native engine: every activity one after the
 * other — compute, the requant unit's work and latency per sub-tile, every DRAM transfer's bus
 * time and latency (at most a load and a write per sub-tile). Time only advances while one of them
 * is in progress, so the layer ends within their sum.
 */
function cycleBound(spec: ArchSpec, plan: LayerPlan, wl: WorkloadLayer): number {
  const T = plan.tiles.count;
  const lanes = spec.requant.lanesPerCycle;
  const passes = plan.tiles.requantPasses;
  let compute: number;
  let requant: number;
  if (plan.fold) {
    const v = plan.runView!;
    compute = plan.fold.totalComputeCycles;
    requant = ((v.groups * v.M * v.N) / lanes + T) * passes;
  } else if (plan.tiles instanceof SfuTiles) {
    compute = plan.tiles.totalCycles + T;
    requant = 0;
  } else {
    compute = (wl.vectorElements / lanes + T) * (wl.activation.kind !== 'none' && !wl.activation.fused ? 2 : 1);
    requant = 0;
  }
  const dram = spec.memories.dram;
  const bus = dram.mode === 'calc' ? 0 : (plan.accounting.dramRead + plan.accounting.dramWrite) / dram.bytesPerCycle + 2 * T * (1 + dram.latencyCycles);
  return compute + requant + T * spec.requant.latencyCycles + bus;
}

/**
 * Every count a planned layer will report, with the cycle bound, below 2^53 — alone and added to
 * the run's totals so far (`sums`, updated) — else a ConfigError naming the layer and the count.
 */
function checkLayerCounts(plan: LayerPlan, wl: WorkloadLayer, cycles: number, sums: Map<string, number>, source: string | undefined): void {
  const a = plan.accounting;
  const items: [string, number][] = [
    ['cycles (upper bound)', cycles],
    ['MACs', a.macs],
    ['extra adds', a.extraAdds],
    ['DRAM bytes read', a.dramRead],
    ['DRAM bytes written', a.dramWrite],
    ['partial sums spilled to the buffer', a.spills.toBuffer],
    ['partial sums spilled to DRAM', a.spills.toDram],
  ];
  for (const k of BITS_CLASSES) {
    items.push([`${k} bits DRAM↔buffer`, a.dramBuffer[k]]);
    items.push([`${k} bits buffer↔array`, a.bufferArray[k]]);
  }
  for (const c of a.counts) items.push([`${c.component} ${c.action} (${c.label ?? ''}, ${String(c.bits)} bits${c.capacityBytes !== undefined ? `, ${c.capacityBytes} B` : ''}) actions`, c.count]);
  const problems: Problem[] = [];
  for (const [what, v] of items) {
    const total = (sums.get(what) ?? 0) + v;
    if (!(v <= MAX_COUNT)) problems.push({ path: layerWhere(wl), message: `${fmtCount(v)} ${what}, more than qloom counts exactly (2^53 − 1 ≈ 9.0e15); make the layer smaller or the DRAM faster` });
    else if (!(total <= MAX_COUNT)) problems.push({ path: layerWhere(wl), message: `the run's ${what} would reach ${fmtCount(total)} with this layer, more than qloom counts exactly (2^53 − 1 ≈ 9.0e15); run fewer layers at a time` });
    sums.set(what, total);
  }
  if (problems.length > 0) throw new ConfigError(problems, source);
}

/**
 * Runs `workload` on `spec`. Deterministic: the same inputs give the same result, to the bit.
 * Sinks receive event chunks, the functional tiles of each fold (in dataflow order), progress
 * (layers done) and may cancel between layers (`cancelled: true` in the result).
 */
export function simulate(spec: ArchSpec, workload: Workload, sinks: EngineSinks = {}, options: SimulateOptions = {}): RunResult {
  const fastForward = options.fastForward ?? true;
  // boundaries kept on chip change the layers' traffic and buffer room, not what they compute
  if (spec.memories.onChipBoundaries) workload = planOnChip(spec, workload).workload;
  checkWorkload(spec, workload, sinks, fastForward);
  const sums = new Map<string, number>();
  let steppedSoFar = 0;
  const table = energyTableForSpec(spec);
  const ev = new EventBuffer(sinks.events);
  const engine = new NativeEngine(spec);
  const fn = sinks.functional;
  const slot = newTileEvent();
  const pes = spec.array.pes;
  const scalesim = spec.memoryModel === 'scalesim';
  const layers: LayerResult[] = [];
  let now = 0;
  let cancelled = false;
  const total = workload.layers.length;
  for (let li = 0; li < total; li++) {
    if (sinks.cancelled?.()) {
      cancelled = true;
      break;
    }
    const wl = workload.layers[li];
    const plan = planOf(spec, wl);
    fn?.beginLayer(li);
    if (!plan) {
      layers.push(emptyLayer(wl.name, now));
      fn?.endLayer(li);
      sinks.progress?.(li + 1, total);
      continue;
    }
    const a = plan.accounting;
    const realN = wl.view?.N ?? 0;
    let cycles: number, computeCycles: number, operandLate: number, bufferFull: number, requantBusy: number, tailCycles: number, tiles: number;
    let dramBuffer = a.dramBuffer;
    let bufferArray = a.bufferArray;
    let spills = a.spills;
    let counts: ActionCount[] = a.counts;
    let dramRead = a.dramRead;
    let dramWrite = a.dramWrite;
    const source = sourceOf(workload, [wl]);
    checkLayerCounts(plan, wl, scalesim && wl.kind === 'gemm' ? plan.fold!.totalComputeCycles : cycleBound(spec, plan, wl), sums, source);
    if (scalesim && wl.kind === 'gemm') {
      // SCALE-Sim's timing; its DRAM traffic replaces ours (one word per operand element)
      const r = simulateScaleSim(spec, [plan.runView!])[0];
      if (!(r.totalCycles + now <= MAX_COUNT)) {
        // USER mode's stalls are only known once replayed
        throw new ConfigError([{ path: layerWhere(wl), message: `${fmtCount(r.totalCycles)} cycles (SCALE-Sim USER mode, stalls included), more than qloom counts exactly (2^53 − 1); raise the DRAM bandwidth` }], source);
      }
      cycles = r.totalCycles;
      computeCycles = r.computeCycles;
      operandLate = r.stallCycles;
      bufferFull = 0;
      requantBusy = 0;
      tailCycles = 0;
      tiles = r.folds;
      if (ev.on) ev.push(EventKind.LayerBegin, Track.Array, li, -1, now, now, 0);
      const per = r.totalCycles / Math.max(1, r.folds);
      for (let f = 0; (fn || ev.on) && f < r.folds; f++) {
        const at = now + f * per;
        if (fn) foldTile(fn, slot, li, plan, realN, f, at);
        if (ev.on) ev.push(EventKind.Fold, Track.Array, li, f, at, at + per, 0);
      }
      if (ev.on) ev.push(EventKind.LayerEnd, Track.Array, li, -1, now, now + cycles, 0);
      // every memory count from SCALE-Sim's traffic: buffers filled with what it read from DRAM
      // and priced on it, not on the native model's fills
      ({ dramBuffer, bufferArray, spills, counts, dramRead, dramWrite } = scaleSimAccounting(spec, wl, a, plan.runView!, r));
    } else {
      const onFold = fn && plan.fold
        ? (f: number, cycle: number): void => foldTile(fn, slot, li, plan, realN, f, cycle)
        : null;
      const t = engine.runLayer(li, plan.tiles, now, ev, onFold, { fastForward, budget: MAX_EVENT_TILES - steppedSoFar });
      steppedSoFar += t.stepped;
      if (t.overBudget) {
        throw new ConfigError(
          [{ path: layerWhere(wl), message: `stepped ${fmtCount(steppedSoFar)} sub-tiles one by one (their timing did not settle into a period to fast-forward), the most qloom simulates in a run (2^25); use larger buffers or a smaller layer` }],
          source,
        );
      }
      cycles = t.endCycle - now;
      computeCycles = t.computeCycles;
      operandLate = t.operandLate;
      bufferFull = t.bufferFull;
      requantBusy = t.requantBusy;
      tailCycles = t.tailCycles;
      tiles = t.events;
    }
    fn?.endLayer(li);
    const energyPj = counts.length > 0 ? applyEnergyTable(counts, table).totalPj : 0;
    layers.push({
      name: wl.name,
      kind: wl.kind,
      startCycle: now,
      cycles,
      computeCycles,
      stallCycles: operandLate + bufferFull + requantBusy,
      stalls: { operandLate, bufferFull, requantBusy },
      tailCycles,
      utilization: cycles > 0 ? a.macs / (pes * cycles) : 0,
      mappingEfficiency: a.mappingEfficiency,
      macs: a.macs,
      extraAdds: a.extraAdds,
      energyPj,
      overflows: 0,
      bits: { dramBuffer, bufferArray },
      paramBytes: a.paramBytes,
      ...((wl.ifmapOnChipBytes !== undefined || wl.ofmapOnChip !== undefined) && { onChip: { inputBytes: wl.ifmapOnChipBytes ?? 0, output: wl.ofmapOnChip ?? 'dram', ...(wl.onChipReserveBytes !== undefined && { bandReserveBytes: wl.onChipReserveBytes }) } }),
      spills,
      dramBytes: { read: dramRead, write: dramWrite },
      tiles,
      counts,
    });
    now += cycles;
    sinks.progress?.(li + 1, total);
  }
  ev.flush();
  const allCounts = mergeCounts(layers.map((l) => l.counts));
  const energy = applyEnergyTable(allCounts, table);
  const result: RunResult = {
    version: 1,
    arch: { name: spec.name, configHash: archHash(spec), clockHz: spec.clockHz, pes },
    memoryModel: spec.memoryModel,
    seed: workload.seed ?? 0,
    cancelled,
    layers,
    totals: totalsOf(layers, pes, spec.clockHz, energy.totalPj),
    counts: allCounts,
    energy,
  };
  checkRunCounts(result);
  return result;
}
