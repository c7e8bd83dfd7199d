/**
 * The discrete-event core: runs one planned layer (plan.ts) through DRAM, the DMA engines, the
 * PE array and the requant/activation unit, and says when it ended and why the array waited.
 *
 * Resources and rules:
 * - DRAM: one channel, FIFO; a transfer of b bytes occupies it ⌈b / bytesPerCycle⌉ cycles and
 *   completes `latencyCycles` after that (latency is pipelined across transfers). In `calc` DRAM
 *   mode transfers take no time (SCALE-Sim's CALC: no stalls).
 * - DMA: `dma.engines` transfers in flight at most; loads are issued before writes when both wait
 *   (reads first, as memory controllers do; double buffering bounds how far loads run ahead).
 * - Input slots: double buffering — tile t's operands may be fetched once tile t−2 has computed.
 * - PE array: one sub-tile at a time, in plan order. It starts tile t when t's operands have
 *   arrived (else: stall `operandLate`) and, when t writes anything, an output staging slot is free
 *   (two, double-buffered; a slot is freed when its DRAM write completes; else: stall `bufferFull`).
 *   An idle gap is charged to the condition that held the array last.
 * - Requant unit: consumes a tile's outputs while the array drains them (`drainPerCycle` per
 *   cycle over the end of the fold) at `lanesPerCycle`; when it is slower the array's drain waits
 *   (stall `requantBusy`). Results are ready `latencyCycles` after the last input, then written.
 *   Vector layers compute on the requant unit itself (no array work).
 *
 * Hot state is typed arrays sized per layer; nothing is allocated per event.
 */
import type { ArchSpec } from '../../arch/spec.js';
import { EventKind, StallCause, Track } from '../events.js';
import type { EventBuffer } from './emit.js';
import { EventHeap } from './heap.js';
import type { TilePlan } from './plan.js';

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
}

/** Called for each fold when its first sub-tile starts computing. */
export type FoldStart = (fold: number, cycle: number) => void;

export class NativeEngine {
  private readonly heap = new EventHeap(256);
  private readonly bytesPerCycle: number;
  private readonly latency: number;
  private readonly engines: number;
  private readonly lanes: number;
  private readonly rqLatency: number;

  constructor(spec: ArchSpec) {
    const calc = spec.memories.dram.mode === 'calc';
    this.bytesPerCycle = calc ? Infinity : spec.memories.dram.bytesPerCycle;
    this.latency = calc ? 0 : spec.memories.dram.latencyCycles;
    this.engines = spec.dma.engines;
    this.lanes = spec.requant.lanesPerCycle;
    this.rqLatency = spec.requant.latencyCycles;
  }

  runLayer(layerIndex: number, p: TilePlan, start: number, ev: EventBuffer, onFold: FoldStart | null): LayerTiming {
    const T = p.count;
    const heap = this.heap;
    heap.clear();
    const bpc = this.bytesPerCycle;
    const lat = this.latency;
    const emit = ev.on;
    const computeTrack = p.vector ? Track.Requant : Track.Array;
    const computeKind = p.vector ? EventKind.Requant : EventKind.Fold;

    const loadDone = new Uint8Array(T);
    const writeQueue = new Int32Array(T);
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

    const transfer = (now: number, bytes: number): number => {
      if (bytes <= 0) return now;
      const s = now > dramFree ? now : dramFree;
      // whole bus cycles per transfer (cycle-level); calc mode: bpc = ∞ → 0
      dramFree = s + Math.ceil(bytes / bpc);
      return dramFree + lat;
    };

    const issueDma = (now: number): void => {
      while (dmaInFlight < this.engines && nextLoad < T && nextLoad < computesDone + DOUBLE_BUFFER) {
        const t = nextLoad++;
        const done = transfer(now, p.loadBytes[t]);
        dmaInFlight++;
        heap.push(done, Ev.LoadDone, t);
        if (emit && p.loadBytes[t] > 0) {
          const si = p.spillInBytes[t];
          if (si > 0) ev.push(EventKind.Spill, Track.Dma, layerIndex, t, now, done, si);
          if (p.loadBytes[t] - si > 0) ev.push(EventKind.DmaRead, Track.Dma, layerIndex, t, now, done, p.loadBytes[t] - si);
        }
      }
      while (dmaInFlight < this.engines && wqHead < wqTail) {
        const t = writeQueue[wqHead++];
        const done = transfer(now, p.writeBytes[t]);
        dmaInFlight++;
        heap.push(done, Ev.WriteDone, t);
        if (emit) {
          const so = p.spillOutBytes[t];
          if (so > 0) ev.push(EventKind.Spill, Track.Dma, layerIndex, t, now, done, so);
          if (p.writeBytes[t] - so > 0) ev.push(EventKind.DmaWrite, Track.Dma, layerIndex, t, now, done, p.writeBytes[t] - so);
        }
      }
    };

    const tryCompute = (now: number): void => {
      if (arrayBusy || nextCompute >= T) return;
      const t = nextCompute;
      if (!loadDone[t]) {
        blocker = StallCause.OperandLate;
        return;
      }
      const writes = p.writeBytes[t] > 0 || p.outElems[t] > 0;
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
      if (writes) outstandingOut++;
      nextCompute++;
      arrayBusy = true;
      const c = p.cycles[t];
      computeCycles += c;
      let fin = now + c;
      const outs = p.outElems[t];
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
      if (onFold !== null && p.firstOfFold[t] && p.fold[t] >= 0) onFold(p.fold[t], now);
      if (emit) ev.push(computeKind, computeTrack, layerIndex, t, now, fin, 0);
      heap.push(fin, Ev.ComputeDone, t);
    };

    if (emit) ev.push(EventKind.LayerBegin, Track.Array, layerIndex, -1, start, start, 0);
    issueDma(start);
    while (heap.size > 0) {
      const now = heap.peekCycle();
      const kind = heap.peekKind();
      const t = heap.peekArg();
      heap.pop();
      events++;
      if (now > end) end = now;
      switch (kind) {
        case Ev.LoadDone:
          loadDone[t] = 1;
          dmaInFlight--;
          break;
        case Ev.ComputeDone:
          arrayBusy = false;
          idleSince = now;
          lastComputeEnd = now;
          computesDone++;
          // outputs of vector tiles and psum-only writes go straight out; requantized ones after the unit
          if (p.vector && p.writeBytes[t] > 0) heap.push(now + this.rqLatency, Ev.RequantDone, t);
          else if (!p.vector && p.outElems[t] === 0 && p.writeBytes[t] > 0) writeQueue[wqTail++] = t;
          break;
        case Ev.RequantDone:
          writeQueue[wqTail++] = t;
          break;
        case Ev.WriteDone:
          dmaInFlight--;
          outstandingOut--;
          break;
      }
      issueDma(now);
      tryCompute(now);
    }
    if (emit) ev.push(EventKind.LayerEnd, Track.Array, layerIndex, -1, start, end, 0);
    return { endCycle: end, computeCycles, operandLate, bufferFull, requantBusy, tailCycles: end - lastComputeEnd, events };
  }
}
