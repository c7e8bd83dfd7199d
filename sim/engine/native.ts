/**
 * The discrete-event core: runs one planned layer (plan.ts) through DRAM, the DMA engines, the
 * PE array and the requant/activation unit, and says when it ended and why the array waited.
 *
 * Resources and rules:
 * - DRAM: one channel, FIFO. A transfer of b bytes is ⌈b / burst⌉ bursts; they occupy the bus
 *   ⌈bursts · burst / bytesPerCycle⌉ cycles (a partial burst costs a whole one) and the transfer
 *   completes `latencyCycles` after that — or, when its engine's window of `dma.maxOutstanding`
 *   bursts is what limits it (Little's law), after ⌈bursts / maxOutstanding⌉ round trips. Latency
 *   is pipelined across transfers. In `calc` DRAM mode transfers take no time (SCALE-Sim's CALC).
 * - DMA: `dma.engines` transfers in flight at most; loads are issued before writes when both wait
 *   (reads first, as memory controllers do; double buffering bounds how far loads run ahead).
 * - Input slots: double buffering — tile t's operands may be fetched once tile t−2 has computed;
 *   a tile that reads partial sums back from DRAM also waits for the write that spilled them
 *   (TilePlan.readsAfter: read after write).
 * - Each cycle at which something completes: all its completions first, then the DMA issues, then
 *   the array tries its next sub-tile — the outcome of a cycle does not depend on the order its
 *   events were scheduled in (a slow reference model in the tests steps cycle by cycle).
 * - PE array: one sub-tile at a time, in plan order. It starts tile t when t's operands have
 *   arrived (else: stall `operandLate`) and, when t writes anything, an output staging slot is free
 *   (two, double-buffered; a slot is freed when its DRAM write completes; else: stall `bufferFull`).
 *   An idle gap is charged to the condition that held the array last.
 * - Requant unit: consumes a tile's outputs while the array drains them (`drainPerCycle` per
 *   cycle over the end of the fold) at `lanesPerCycle`; when it is slower the array's drain waits
 *   (stall `requantBusy`). Results are ready `latencyCycles` after the last input, then written.
 *   Vector layers compute on the requant unit itself (no array work).
 *
 * Hot state is a few scalars and small rings (at most two sub-tiles wait for their operands, at
 * most two for their writes); sub-tiles are read from the plan on demand, so memory does not grow
 * with a layer. Nothing is allocated per event.
 *
 * ## Fast-forward (exact)
 * A run of sub-tiles identical in timing (TilePlan.runStart/runEnd) drives the engine into a
 * periodic regime: the state seen from the start of sub-tile t — pending events, DRAM and requant
 * backlogs, slots and who holds them, queues, all relative to t's start cycle and index — repeats
 * every p sub-tiles, Δ cycles later. When the state at t equals the state at t − p (p ≤
 * MAX_PERIOD, a multiple of the run's period: S for a run of alike folds) and every sub-tile either
 * state refers to lies in the run, the next k·p sub-tiles (k as many periods as fit in the run)
 * would repeat it exactly: the engine moves every pending event k·Δ later and k·p sub-tiles on, and
 * adds k times one period's counts (cycles, stalls, events). Only when no event sink needs each
 * event (and, with a fold callback, only within a fold). Times are whole cycles, so the shifted
 * state is the one the step-by-step run reaches, to the bit (a property test runs both).
 */
import { ConfigError } from '../../arch/errors.js';
import { type ArchSpec, engineHierarchyProblem } from '../../arch/spec.js';
import { InvariantError } from '../../nets/errors.js';
import { EventKind, StallCause, Track } from '../events.js';
import type { EventBuffer } from './emit.js';
import { EventHeap } from './heap.js';
import type { TilePlan } from './tiles.js';
import { MAX_PERIOD } from '../timing/limits.js';

const enum Ev {
  LoadDone = 0,
  ComputeDone = 1,
  RequantDone = 2,
  WriteDone = 3,
}

const DOUBLE_BUFFER = 2;
const OUTPUT_SLOTS = 2;

export interface LayerTiming {
  readonly endCycle: number;
  readonly computeCycles: number;
  readonly operandLate: number;
  readonly bufferFull: number;
  readonly requantBusy: number;
  /** cycles after the array's last compute: requant latency and the last writes */
  readonly tailCycles: number;
  readonly events: number;
  /** sub-tiles simulated one by one (the rest were fast-forwarded) */
  readonly stepped: number;
  /** the run stopped after `budget` stepped sub-tiles (the other fields are then partial) */
  readonly overBudget: boolean;
}

export interface RunLayerOptions {
  /** fast-forward runs of identical sub-tiles (default true; off: every sub-tile is stepped) */
  readonly fastForward?: boolean;
  /** stop after this many stepped sub-tiles (overBudget) */
  readonly budget?: number;
}

/** pending events a state snapshot holds at most (more: no fast-forward at that point) */
const SNAP_EVENTS = 64;
/**
 * snapshot layout: 8 header numbers, the operand flags of the next 4 sub-tiles, up to 4 queued
 * writes, then the pending events (cycle, kind, sub-tile)
 */
const SNAP_HEAD = 10;
/** offset of a reference by index (below every relative one: a run has < 2^52 sub-tiles) */
const ABSOLUTE = 2 ** 52;
const SNAP_AHEAD = 4;
const SNAP_LEN = SNAP_HEAD + SNAP_AHEAD + 4 + 3 * SNAP_EVENTS;
/** ring sizes (powers of two) for sub-tiles whose operands are in flight and writes that wait */
const LOAD_RING = 8;
const WRITE_RING = 8;

/** Called for each fold when its first sub-tile starts computing. */
export type FoldStart = (fold: number, cycle: number) => void;

export class NativeEngine {
  private readonly heap = new EventHeap(256);
  private readonly bytesPerCycle: number;
  private readonly latency: number;
  private readonly engines: number;
  private readonly burst: number;
  private readonly window: number;
  private readonly lanes: number;
  private readonly rqLatency: number;

  constructor(spec: ArchSpec) {
    const deep = engineHierarchyProblem(spec);
    if (deep) throw new ConfigError([deep], spec.source || spec.name);
    const calc = spec.memories.dram.mode === 'calc';
    this.bytesPerCycle = calc ? Infinity : spec.memories.dram.bytesPerCycle;
    this.latency = calc ? 0 : spec.memories.dram.latencyCycles;
    this.engines = spec.dma.engines;
    this.burst = spec.dma.burstBytes;
    this.window = spec.dma.maxOutstanding;
    this.lanes = spec.requant.lanesPerCycle;
    this.rqLatency = spec.requant.latencyCycles;
  }

  runLayer(layerIndex: number, p: TilePlan, start: number, ev: EventBuffer, onFold: FoldStart | null, opts: RunLayerOptions = {}): LayerTiming {
    const T = p.count;
    const heap = this.heap;
    heap.clear();
    const bpc = this.bytesPerCycle;
    const lat = this.latency;
    const emit = ev.on;
    const computeTrack = p.vector ? Track.Requant : Track.Array;
    const computeKind = p.vector ? EventKind.Requant : EventKind.Fold;
    const budget = opts.budget ?? Infinity;
    const ff = (opts.fastForward ?? true) && !emit;

    // tiles in [nextCompute, nextLoad) are ≤ DOUBLE_BUFFER; queued writes hold an output slot (≤ OUTPUT_SLOTS)
    const loadDone = new Uint8Array(LOAD_RING);
    // the sub-tiles holding the two output slots (−1: free): a write not yet completed
    let slotA = -1;
    let slotB = -1;
    const writeQueue = new Float64Array(WRITE_RING);
    let wqHead = 0;
    let wqTail = 0;
    let nextLoad = 0;
    let nextCompute = 0;
    let computesDone = 0;
    let dmaInFlight = 0;
    let outstandingOut = 0;
    let dramFree = start;
    let arrayBusy = false;
    let idleSince = start;
    let blocker = StallCause.OperandLate;
    let rqFree = start;
    let computeCycles = 0;
    let operandLate = 0;
    let bufferFull = 0;
    let requantBusy = 0;
    let lastComputeEnd = start;
    let end = start;
    let events = 0;
    let stepped = 0;
    let overBudget = false;

    // --- fast-forward state: snapshots at the start of consecutive sub-tiles of the current run
    const snaps = ff ? new Float64Array((MAX_PERIOD + 1) * SNAP_LEN) : new Float64Array(0);
    /** per snapshot: tile, start cycle, computeCycles, operandLate, bufferFull, requantBusy, events, lowest referenced tile */
    const snapAcc = ff ? new Float64Array((MAX_PERIOD + 1) * 8) : new Float64Array(0);
    let snapCount = 0;
    let snapLast = -1;
    let runStart = 0;
    let runEnd = 0;
    let runSkippable = false;
    let runPeriod = 1;
    const evCycle = new Float64Array(SNAP_EVENTS);
    const evKind = new Float64Array(SNAP_EVENTS);
    const evArg = new Float64Array(SNAP_EVENTS);

    const burst = this.burst;
    const window = this.window;
    const transfer = (now: number, bytes: number): number => {
      if (bytes <= 0 || bpc === Infinity) return now;
      const s = now > dramFree ? now : dramFree;
      // whole bursts on the bus; an engine keeps `window` bursts outstanding, so a long transfer
      // also takes a round trip per window of bursts (Little's law: ≤ window·burst bytes per latency)
      const bursts = Math.ceil(bytes / burst);
      const busy = Math.ceil((bursts * burst) / bpc);
      dramFree = s + busy;
      const waves = Math.ceil(bursts / window) - 1;
      return s + (busy > waves * lat ? busy : waves * lat) + lat;
    };

    // t's load may start once the partial sums it reads back have been written (read after write)
    const writeDone = (u: number): boolean => u < nextCompute && u !== slotA && u !== slotB;

    const issueDma = (now: number): void => {
      while (dmaInFlight < this.engines && nextLoad < T && nextLoad < computesDone + DOUBLE_BUFFER) {
        const dep = p.readsAfter(nextLoad);
        if (dep >= 0 && !writeDone(dep)) break;
        const t = nextLoad++;
        const lb = p.loadBytes(t);
        const done = transfer(now, lb);
        dmaInFlight++;
        heap.push(done, Ev.LoadDone, t);
        if (emit && lb > 0) {
          const si = p.spillInBytes(t);
          if (si > 0) ev.push(EventKind.Spill, Track.Dma, layerIndex, t, now, done, si);
          if (lb - si > 0) ev.push(EventKind.DmaRead, Track.Dma, layerIndex, t, now, done, lb - si);
        }
      }
      while (dmaInFlight < this.engines && wqHead < wqTail) {
        const t = writeQueue[wqHead++ & (WRITE_RING - 1)];
        const wb = p.writeBytes(t);
        const done = transfer(now, wb);
        dmaInFlight++;
        heap.push(done, Ev.WriteDone, t);
        if (emit) {
          const so = p.spillOutBytes(t);
          if (so > 0) ev.push(EventKind.Spill, Track.Dma, layerIndex, t, now, done, so);
          if (wb - so > 0) ev.push(EventKind.DmaWrite, Track.Dma, layerIndex, t, now, done, wb - so);
        }
      }
    };

    // writes that become ready at the same cycle queue in sub-tile order (whatever order their
    // events were scheduled in); `batchQueued`: where this cycle's entries begin
    let batchQueued = 0;
    const queueWrite = (t: number): void => {
      if (wqTail - wqHead >= WRITE_RING) throw new InvariantError(`native engine: more than ${WRITE_RING} writes queued (output slots are ${OUTPUT_SLOTS})`);
      let i = wqTail++;
      const from = batchQueued > wqHead ? batchQueued : wqHead;
      while (i > from && writeQueue[(i - 1) & (WRITE_RING - 1)] > t) {
        writeQueue[i & (WRITE_RING - 1)] = writeQueue[(i - 1) & (WRITE_RING - 1)];
        i--;
      }
      writeQueue[i & (WRITE_RING - 1)] = t;
    };

    /**
     * A sub-tile the state refers to: relative to t inside the current run (it moves with the
     * run), by its own index before it (e.g. a write starved by loads: the same one at both
     * states, it stays where it is when the run is jumped) — the two kinds never collide.
     */
    const ref = (u: number, t: number): number => (u >= runStart ? u - t : -ABSOLUTE - u);

    /**
     * Writes the engine state as seen from the start of sub-tile `t` at `now` into snapshot slot
     * `slot` (relative cycles and indices); false when it does not fit a snapshot.
     */
    const snapshot = (slot: number, t: number, now: number): boolean => {
      const n = heap.size;
      if (n > SNAP_EVENTS || nextLoad - t > SNAP_AHEAD || wqTail - wqHead > 4) return false;
      heap.sortedInto(evCycle, evKind, evArg);
      const o = slot * SNAP_LEN;
      let minRel = 0;
      snaps[o] = Math.max(0, dramFree - now);
      snaps[o + 1] = Math.max(0, rqFree - now);
      snaps[o + 2] = dmaInFlight;
      snaps[o + 3] = outstandingOut;
      snaps[o + 4] = nextLoad - t;
      snaps[o + 5] = computesDone - t;
      snaps[o + 6] = wqTail - wqHead;
      snaps[o + 7] = n;
      // slot holders, lower first (which slot holds which is immaterial); a free slot as +1
      // (never a real one: holders have started)
      const ra = slotA < 0 ? 1 : ref(slotA, t);
      const rb = slotB < 0 ? 1 : ref(slotB, t);
      snaps[o + 8] = ra < rb ? ra : rb;
      snaps[o + 9] = ra < rb ? rb : ra;
      if (slotA >= runStart && slotA - t < minRel) minRel = slotA - t;
      if (slotB >= runStart && slotB - t < minRel) minRel = slotB - t;
      let i = o + SNAP_HEAD;
      for (let u = t + 1; u <= t + SNAP_AHEAD; u++) snaps[i++] = u < nextLoad ? loadDone[u & (LOAD_RING - 1)] : 0;
      for (let w = 0; w < 4; w++) {
        if (w < wqTail - wqHead) {
          const u = writeQueue[(wqHead + w) & (WRITE_RING - 1)];
          if (u >= runStart && u - t < minRel) minRel = u - t;
          snaps[i++] = ref(u, t);
        } else snaps[i++] = 0;
      }
      for (let e = 0; e < n; e++) {
        const u = evArg[e];
        if (u >= runStart && u - t < minRel) minRel = u - t;
        snaps[i++] = evCycle[e] - now;
        snaps[i++] = evKind[e];
        snaps[i++] = ref(u, t);
      }
      const a = slot * 8;
      snapAcc[a] = t;
      snapAcc[a + 1] = now;
      snapAcc[a + 2] = computeCycles;
      snapAcc[a + 3] = operandLate;
      snapAcc[a + 4] = bufferFull;
      snapAcc[a + 5] = requantBusy;
      snapAcc[a + 6] = events;
      snapAcc[a + 7] = minRel;
      return true;
    };

    const sameSnap = (x: number, y: number): boolean => {
      const a = x * SNAP_LEN;
      const b = y * SNAP_LEN;
      const len = SNAP_HEAD + SNAP_AHEAD + 4 + 3 * snaps[a + 7];
      if (snaps[a + 7] !== snaps[b + 7]) return false;
      for (let i = 0; i < len; i++) if (snaps[a + i] !== snaps[b + i]) return false;
      return true;
    };

    /**
     * At the start of sub-tile t (the array just took it): records the state, and when it repeats
     * one of the last MAX_PERIOD states inside a run of identical sub-tiles, jumps whole periods.
     */
    const fastForward = (t: number, now: number): void => {
      if (t < runStart || t >= runEnd) {
        runStart = p.runStart(t);
        runEnd = p.runEnd(t);
        runPeriod = p.runPeriod(t);
        snapCount = 0;
        // with a fold callback, only a run inside one fold may be skipped (each fold start is reported)
        runSkippable = onFold === null || p.fold(runStart) === p.fold(runEnd - 1);
      }
      if (!runSkippable || runEnd - t < 4) return;
      // snapshots are of consecutive sub-tiles
      if (snapCount > 0 && snapAcc[snapLast * 8] !== t - 1) snapCount = 0;
      const slot = (snapLast + 1) % (MAX_PERIOD + 1);
      if (!snapshot(slot, t, now)) {
        snapCount = 0;
        return;
      }
      snapLast = slot;
      snapCount = Math.min(snapCount + 1, MAX_PERIOD + 1);
      // the plan repeats with period runPeriod: only whole multiples of it may be jumped
      for (let per = runPeriod; per < snapCount; per += runPeriod) {
        const prev = (slot - per + (MAX_PERIOD + 1)) % (MAX_PERIOD + 1);
        // every sub-tile the earlier state refers to must be in the run too
        if (t - per + snapAcc[prev * 8 + 7] < runStart) continue;
        if (!sameSnap(slot, prev)) continue;
        const k = Math.floor((runEnd - 2 - t) / per);
        if (k < 1) return;
        const a = slot * 8;
        const b = prev * 8;
        const dCycle = k * (now - snapAcc[b + 1]);
        const dTile = k * per;
        computeCycles += k * (snapAcc[a + 2] - snapAcc[b + 2]);
        operandLate += k * (snapAcc[a + 3] - snapAcc[b + 3]);
        bufferFull += k * (snapAcc[a + 4] - snapAcc[b + 4]);
        requantBusy += k * (snapAcc[a + 5] - snapAcc[b + 5]);
        events += k * (snapAcc[a + 6] - snapAcc[b + 6]);
        heap.shift(dCycle, dTile, runStart);
        dramFree += dCycle;
        rqFree += dCycle;
        idleSince += dCycle;
        lastComputeEnd += dCycle;
        end += dCycle;
        // operand flags of the sub-tiles after t move with them (the snapshot holds them)
        const o = slot * SNAP_LEN + SNAP_HEAD;
        loadDone.fill(0);
        for (let u = 0; u < SNAP_AHEAD; u++) loadDone[(t + 1 + u + dTile) & (LOAD_RING - 1)] = snaps[o + u];
        for (let w = wqHead; w < wqTail; w++) if (writeQueue[w & (WRITE_RING - 1)] >= runStart) writeQueue[w & (WRITE_RING - 1)] += dTile;
        if (slotA >= runStart) slotA += dTile;
        if (slotB >= runStart) slotB += dTile;
        nextLoad += dTile;
        nextCompute += dTile;
        computesDone += dTile;
        snapCount = 0;
        return;
      }
    };

    const tryCompute = (now: number): void => {
      if (arrayBusy || nextCompute >= T || overBudget) return;
      const t = nextCompute;
      if (!loadDone[t & (LOAD_RING - 1)]) {
        blocker = StallCause.OperandLate;
        return;
      }
      const outs = p.outElems(t);
      const writes = p.writeBytes(t) > 0 || outs > 0;
      if (writes && outstandingOut >= OUTPUT_SLOTS) {
        blocker = StallCause.BufferFull;
        return;
      }
      if (now > idleSince) {
        const gap = now - idleSince;
        if (blocker === StallCause.OperandLate) operandLate += gap;
        else if (blocker === StallCause.BufferFull) bufferFull += gap;
        else requantBusy += gap;
        if (emit) ev.push(EventKind.Stall, computeTrack, layerIndex, t, idleSince, now, blocker);
      }
      if (writes) {
        outstandingOut++;
        if (slotA < 0) slotA = t;
        else slotB = t;
      }
      loadDone[t & (LOAD_RING - 1)] = 0;
      nextCompute++;
      arrayBusy = true;
      const c = p.cycles(t);
      computeCycles += c;
      let fin = now + c;
      if (outs > 0 && !p.vector) {
        // the requant unit takes the outputs as the array drains them at the end of the fold
        const window = p.drainAll ? c : Math.min(c, Math.ceil(outs / p.drainPerCycle));
        const from = Math.max(fin - window, rqFree);
        // the last output leaves the array at the fold's end: the unit cannot finish before it
        const consumed = Math.max(fin, from + Math.ceil(outs / this.lanes) * p.requantPasses);
        if (consumed > fin) {
          requantBusy += consumed - fin;
          if (emit) ev.push(EventKind.Stall, computeTrack, layerIndex, t, fin, consumed, StallCause.RequantBusy);
          fin = consumed;
        }
        rqFree = consumed;
        heap.push(consumed + this.rqLatency, Ev.RequantDone, t);
        if (emit) ev.push(EventKind.Requant, Track.Requant, layerIndex, t, from, consumed + this.rqLatency, outs);
      }
      if (onFold !== null && p.firstOfFold(t) && p.fold(t) >= 0) onFold(p.fold(t), now);
      if (emit) ev.push(computeKind, computeTrack, layerIndex, t, now, fin, 0);
      heap.push(fin, Ev.ComputeDone, t);
      stepped++;
      if (ff) fastForward(t, now);
      if (stepped >= budget && nextCompute < T) overBudget = true;
    };

    if (emit) ev.push(EventKind.LayerBegin, Track.Array, layerIndex, -1, start, start, 0);
    issueDma(start);
    tryCompute(start);
    while (heap.size > 0) {
      // every completion of this cycle first, then the DMA issues and the array starts: what
      // happens at a cycle does not depend on the order its events were scheduled in
      const now = heap.peekCycle();
      if (now > end) end = now;
      batchQueued = wqTail;
      while (heap.size > 0 && heap.peekCycle() === now) {
        const kind = heap.peekKind();
        const t = heap.peekArg();
        heap.pop();
        events++;
        switch (kind) {
          case Ev.LoadDone:
            loadDone[t & (LOAD_RING - 1)] = 1;
            dmaInFlight--;
            break;
          case Ev.ComputeDone:
            arrayBusy = false;
            idleSince = now;
            lastComputeEnd = now;
            computesDone++;
            // outputs of vector tiles and psum-only writes go straight out; requantized ones after the unit
            if (p.vector && p.writeBytes(t) > 0) heap.push(now + this.rqLatency, Ev.RequantDone, t);
            else if (!p.vector && p.outElems(t) === 0 && p.writeBytes(t) > 0) queueWrite(t);
            break;
          case Ev.RequantDone:
            queueWrite(t);
            break;
          case Ev.WriteDone:
            dmaInFlight--;
            outstandingOut--;
            if (slotA === t) slotA = -1;
            else if (slotB === t) slotB = -1;
            break;
        }
      }
      issueDma(now);
      tryCompute(now);
    }
    if (emit) ev.push(EventKind.LayerEnd, Track.Array, layerIndex, -1, start, end, 0);
    return { endCycle: end, computeCycles, operandLate, bufferFull, requantBusy, tailCycles: end - lastComputeEnd, events, stepped, overBudget };
  }
}
