/**
 * A slow reference model of the native engine's machine, written for
 * clarity, not speed: the tests compare the event engine (sim/engine/native.ts over plan.ts) with
 * it number for number.
 *
 * Deliberately independent of the engine: it does not call FoldModel, GemmTiles, VectorTiles,
 * NativeEngine or the plan's counts. From the plan it takes only the MAPPING CHOICES (sub-tiles per
 * fold, which operand classes are resident, where partial sums spill, whether a streamed slice the
 * next fold uses again stays on chip), and from sim/timing/compute.ts SCALE-Sim's fold plan
 * (validated against SCALE-Sim on its own). Everything else it derives by walking every fold and
 * every sub-tile:
 * - the buffers are sets of slice ids per operand class (`OnChip`): a fold fetches a slice from
 *   DRAM exactly when its id is not in the set (rule R1);
 * - the machine is stepped one cycle at a time with explicit state: a DRAM channel that serves
 *   transfers first come first served (`DramChannel`), DMA engines, two input slots, two output
 *   slots, the PE array and the requant unit — no event heap, no fast-forward, no closed forms.
 * Only for small layers (thousands of sub-tiles, about a million cycles): it throws beyond.
 */
import type { ArchSpec } from '../../arch/spec.js';
import type { SpillTarget, WorkloadLayer } from '../../sim/engine/index.js';
import type { BitsClass } from '../../sim/result.js';
import { planFolds } from '../../sim/timing/compute.js';

/** the mapping choices the reference takes from a plan (everything else it derives) */
export interface ReferenceMapping {
  /** S: sub-tiles per fold (vector layers: sub-tiles of the layer) */
  readonly subTiles: number;
  readonly residentIfmap: boolean;
  readonly residentFilter: boolean;
  /** SpillTarget: 0 none, 1 buffer, 2 DRAM */
  readonly spill: SpillTarget;
  /** a streamed ifmap / weight slice that the next fold uses again stays on chip */
  readonly keepIfmapSlice: boolean;
  readonly keepFilterSlice: boolean;
}

/**
 * Points where the engine rules v2 text and the engine as built may read differently; the default
 * (all false / 'entries') is the rules text. Each switch is one stated alternative, so a
 * disagreement between engine and reference can be named rather than silenced.
 */
export interface ReferenceReading {
  /**
   * WS/IS outputs per sub-tile pro rata of its cycles, ⌊outs·(cycles so far)/foldCycles⌋ minus
   * the same before it, instead of share(outs, S, s)
   */
  readonly outputsProRataOfCycles?: boolean;
  /** an ifmap slice's DRAM bits ifElems·ifmapBits/im2colElems unrounded, instead of floored */
  readonly fractionalIfmapBits?: boolean;
  /** partial-sum DRAM bytes per sub-tile share(entries·accBytes, S, s) ('bytes') instead of share(entries, S, s)·accBytes ('entries') */
  readonly psumCut?: 'entries' | 'bytes';
  /**
   * the layer's ifmap, weight and output DRAM bits (and so its DRAM bytes) rounded up to whole
   * bytes per class total (the DMA moves bytes), instead of exact bits and fractional bytes
   */
  readonly wholeByteTotals?: boolean;
}

/** one DMA transfer as the reference ran it (cycles from the layer's start) */
export interface ReferenceTransfer {
  readonly tile: number;
  readonly kind: 'load' | 'write';
  readonly bytes: number;
  /** of `bytes`: partial sums read back (load) or spilled (write) */
  readonly psumBytes: number;
  readonly issue: number;
  readonly done: number;
}

export interface ReferenceResult {
  /** the layer's end: its last completion (a write, else the last compute or requant) */
  readonly cycles: number;
  readonly computeCycles: number;
  readonly stalls: { operandLate: number; bufferFull: number; requantBusy: number };
  /** DRAM ↔ buffer bits per class (psums: both directions, whole accumulator bytes per entry) */
  readonly dramBits: Record<BitsClass, number>;
  /** DRAM bytes read and written as accounted (= Σ transfers unless `wholeByteTotals`) */
  readonly dramBytes: { read: number; write: number };
  /** Σ bytes of the transfers the DMA ran */
  readonly transferBytes: { read: number; write: number };
  readonly subTiles: number;
  readonly transfers: readonly ReferenceTransfer[];
}

/** the most cycles a reference run steps (it is for small layers) */
const MAX_CYCLES = 20_000_000;
/** loads may run this many sub-tiles ahead of the array (two input slots) */
const INPUT_SLOTS = 2;
/** sub-tiles whose write has not completed may hold an output slot */
const OUTPUT_SLOTS = 2;

/** share s of x cut into S parts: floor(x / S) each, the remainder on the last */
export function share(x: number, S: number, s: number): number {
  const base = Math.floor(x / S);
  return s === S - 1 ? x - base * (S - 1) : base;
}

/** what one sub-tile does, as the reference derived it */
interface SubTile {
  cycles: number;
  /** DRAM bytes that must arrive before it computes (operands, partial sums read back, params) */
  loadBytes: number;
  psumInBytes: number;
  /** final outputs handed to the requant unit */
  outElems: number;
  /** DRAM bytes written after it (outputs, may be fractional; partial sums spilled) */
  writeBytes: number;
  psumOutBytes: number;
  /** the sub-tile whose spill write must complete before this load starts (R2), or −1 */
  readsAfter: number;
}

/** the layer as the machine sees it: its sub-tiles and how its outputs leave the array */
interface Work {
  tiles: SubTile[];
  gemm: boolean;
  df: 'os' | 'ws' | 'is';
  drainPerCycle: number;
  passes: number;
  dramBits: Record<BitsClass, number>;
}

const passesOf = (layer: WorkloadLayer): number => (layer.activation.kind !== 'none' && !layer.activation.fused ? 2 : 1);

/**
 * The buffers of one operand class as the set of slice ids on chip. Resident: a slice stays once
 * fetched. Streamed: between folds only the slice just used survives, and only when it is kept.
 */
class OnChip {
  private readonly ids = new Set<string>();
  constructor(
    private readonly resident: boolean,
    private readonly keep: boolean,
  ) {}
  /** a fold uses slice `id`: true when it must come from DRAM */
  use(id: string): boolean {
    const fetch = !this.ids.has(id);
    if (!this.resident) this.ids.clear();
    if (this.resident || this.keep) this.ids.add(id);
    return fetch;
  }
}

/** walks every fold of a GEMM layer and every sub-tile of it (rules R1, the cuts, partial sums) */
function gemmWork(spec: ArchSpec, layer: WorkloadLayer, m: ReferenceMapping, rd: ReferenceReading): Work {
  const { M, K, N, groups } = layer.view!;
  // the column of ones (zero-point term) is column 0 of the N axis: in the first column fold
  const ones = layer.zeroPointTerm ? 1 : 0;
  const Neff = N + ones;
  const R = spec.array.rows;
  const C = spec.array.cols;
  const df = spec.array.dataflow;
  const fp = planFolds({ ...layer.view!, N: Neff }, R, C, df);
  const { Sr, Sc, rowFolds, colFolds, foldCycles } = fp;
  const S = m.subTiles;
  const kFolds = df === 'os' ? 1 : rowFolds;
  const accBytes = Math.ceil(layer.accBits / 8);
  const im2colElems = groups * M * K;
  const ifmapBits = Math.min(layer.ifmapBytes * 8, im2colElems * layer.activationBits);
  const spills = df !== 'os' && rowFolds > 1 && m.spill !== 0;
  const psumToDram = spills && m.spill === 2;
  const ifmapOnChip = new OnChip(m.residentIfmap, m.keepIfmapSlice);
  const filterOnChip = new OnChip(m.residentFilter, m.keepFilterSlice);
  const bits: Record<BitsClass, number> = { weights: 0, inputs: 0, outputs: 0, psums: 0, bias: 0, requantParams: 0, attention: 0 };
  const tiles: SubTile[] = [];
  let ifElemsFetched = 0;
  for (let g = 0; g < groups; g++) {
    for (let fc = 0; fc < colFolds; fc++) {
      for (let fr = 0; fr < rowFolds; fr++) {
        const r0 = fr * R;
        const r1 = Math.min(Sr, r0 + R);
        const c0 = fc * C;
        const c1 = Math.min(Sc, c0 + C);
        let mLen: number, kLen: number, nLen: number, kFold: number, nReal: number, ifId: string, wId: string;
        if (df === 'os') {
          [mLen, nLen, kLen, kFold] = [r1 - r0, c1 - c0, K, 0];
          nReal = c1 - Math.max(c0, ones);
          [ifId, wId] = [`${g},${fr}`, `${g},${fc}`];
        } else if (df === 'ws') {
          [kLen, nLen, mLen, kFold] = [r1 - r0, c1 - c0, M, fr];
          nReal = c1 - Math.max(c0, ones);
          [ifId, wId] = [`${g},${fr}`, `${g},${fr},${fc}`];
        } else {
          [kLen, mLen, nLen, kFold] = [r1 - r0, c1 - c0, Neff, fr];
          nReal = N;
          [ifId, wId] = [`${g},${fr},${fc}`, `${g},${fr}`];
        }
        nReal = Math.max(0, nReal);
        const ifElems = mLen * kLen;
        const wElems = kLen * nReal;
        const last = kFold === kFolds - 1;
        const outs = last ? mLen * nReal : 0;
        const ifFetch = ifmapOnChip.use(ifId);
        const ifDramBits = !ifFetch ? 0 : rd.fractionalIfmapBits ? (ifElems * ifmapBits) / im2colElems : Math.floor((ifElems * ifmapBits) / im2colElems);
        const wDramBits = filterOnChip.use(wId) ? wElems * layer.weightBits : 0;
        // fractional slices summed as elements first: one division, no rounding noise
        if (rd.fractionalIfmapBits) ifElemsFetched += ifFetch ? ifElems : 0;
        else bits.inputs += ifDramBits;
        bits.weights += wDramBits;
        // partial sums of the fold's tile (ones column included): out after every K fold but the
        // last, back in before every K fold but the first
        const entries = spills ? mLen * nLen : 0;
        const spillOut = spills && !last ? entries : 0;
        const spillIn = spills && kFold > 0 ? entries : 0;
        if (psumToDram) bits.psums += (spillOut + spillIn) * accBytes * 8;
        for (let s = 0; s < S; s++) {
          const t = tiles.length;
          const cycles = df === 'os' ? share(K, S, s) + (s === S - 1 ? foldCycles - K : 0) : share(foldCycles, S, s);
          let outElems: number;
          if (df === 'os') outElems = s === S - 1 ? outs : 0;
          else if (rd.outputsProRataOfCycles) {
            const before = s * Math.floor(foldCycles / S);
            outElems = Math.floor((outs * (before + cycles)) / foldCycles) - Math.floor((outs * before) / foldCycles);
          } else outElems = share(outs, S, s);
          const psumShare = (entriesMoved: number): number => (rd.psumCut === 'bytes' ? share(entriesMoved * accBytes, S, s) : share(entriesMoved, S, s) * accBytes);
          const psumInBytes = psumToDram ? psumShare(spillIn) : 0;
          const psumOutBytes = psumToDram ? psumShare(spillOut) : 0;
          let loadBytes = (share(ifDramBits, S, s) + share(wDramBits, S, s)) / 8 + psumInBytes;
          if (t === 0) loadBytes += layer.biasBytes + layer.requantParamBytes;
          bits.outputs += outElems * layer.outputBits;
          tiles.push({
            cycles,
            loadBytes,
            psumInBytes,
            outElems,
            writeBytes: (outElems * layer.outputBits) / 8 + psumOutBytes,
            psumOutBytes,
            // the same sub-tile of the previous K fold spilled what this one reads back
            readsAfter: psumInBytes > 0 ? t - S : -1,
          });
        }
      }
    }
  }
  if (rd.fractionalIfmapBits) bits.inputs = (ifElemsFetched * ifmapBits) / im2colElems;
  if (rd.wholeByteTotals) for (const k of ['inputs', 'weights', 'outputs'] as const) bits[k] = 8 * Math.ceil(bits[k] / 8);
  bits.bias = layer.biasBytes * 8;
  bits.requantParams = layer.requantParamBytes * 8;
  const drainPerCycle = df === 'is' ? Math.min(C, M) : Math.min(C, Neff);
  return { tiles, gemm: true, df, drainPerCycle, passes: passesOf(layer), dramBits: bits };
}

/** a vector layer: S even cuts of its elements and bytes on the requant unit */
function vectorWork(spec: ArchSpec, layer: WorkloadLayer, m: ReferenceMapping): Work {
  const S = m.subTiles;
  const E = layer.vectorElements;
  const passes = passesOf(layer);
  const tiles: SubTile[] = [];
  for (let s = 0; s < S; s++) {
    tiles.push({
      cycles: Math.ceil(share(E, S, s) / spec.requant.lanesPerCycle) * passes,
      loadBytes: share(layer.ifmapBytes, S, s),
      psumInBytes: 0,
      outElems: 0,
      writeBytes: share(layer.ofmapBytes, S, s),
      psumOutBytes: 0,
      readsAfter: -1,
    });
  }
  const bits: Record<BitsClass, number> = { weights: 0, inputs: layer.ifmapBytes * 8, outputs: layer.ofmapBytes * 8, psums: 0, bias: 0, requantParams: 0, attention: 0 };
  return { tiles, gemm: false, df: 'ws', drainPerCycle: spec.requant.lanesPerCycle, passes, dramBits: bits };
}

/**
 * The DRAM channel: transfers take the bus one after another in the order issued. A transfer of
 * b bytes is ⌈b / burst⌉ bursts, on the bus ⌈bursts · burst / bytesPerCycle⌉ cycles; an engine
 * keeps `maxOutstanding` bursts in flight, so a wave of bursts can only be requested once the
 * previous wave returned: the last wave leaves (waves − 1) round trips after the start. The data
 * is complete one latency after both the bus time and the last request. Zero bytes, or `calc`
 * DRAM: complete at once.
 */
class DramChannel {
  private free = 0;
  constructor(private readonly spec: ArchSpec) {}
  transfer(now: number, bytes: number): number {
    const dram = this.spec.memories.dram;
    if (bytes <= 0 || dram.mode === 'calc') return now;
    const burst = this.spec.dma.burstBytes;
    const bursts = Math.ceil(bytes / burst);
    const busy = Math.ceil((bursts * burst) / dram.bytesPerCycle);
    const start = Math.max(now, this.free);
    this.free = start + busy;
    const lastWave = (Math.ceil(bursts / this.spec.dma.maxOutstanding) - 1) * dram.latencyCycles;
    return start + Math.max(busy, lastWave) + dram.latencyCycles;
  }
}

/** one layer through the machine, a cycle at a time */
function run(spec: ArchSpec, work: Work): Omit<ReferenceResult, 'dramBits' | 'dramBytes' | 'subTiles'> {
  const tiles = work.tiles;
  const T = tiles.length;
  const dram = new DramChannel(spec);
  const transfers: ReferenceTransfer[] = [];
  const inFlight: { tile: number; kind: 'load' | 'write'; done: number }[] = [];
  const loaded = new Array<boolean>(T).fill(false);
  const written = new Array<boolean>(T).fill(false);
  /** results leaving the requant unit: their write is queued at `at` */
  const requantOut: { tile: number; at: number }[] = [];
  const writeQueue: number[] = [];
  let nextLoad = 0;
  let computed = 0;
  let nextCompute = 0;
  let slotsTaken = 0;
  // the array: the sub-tile it works on (−1: idle) and when that work (and any requant hold) ends
  let arrayTile = -1;
  let arrayEnd = 0;
  let idleSince = 0;
  let blocker: 'operandLate' | 'bufferFull' = 'operandLate';
  let rqFree = 0;
  const stalls = { operandLate: 0, bufferFull: 0, requantBusy: 0 };
  let computeCycles = 0;
  let end = 0;
  let read = 0;
  let write = 0;

  /** applies everything that completes at `now` and was known before this round; false: nothing */
  const complete = (now: number): boolean => {
    const doneTransfers = inFlight.filter((x) => x.done === now);
    const doneRequant = requantOut.filter((x) => x.at === now);
    const arrayDone = arrayTile >= 0 && arrayEnd === now ? arrayTile : -1;
    if (doneTransfers.length === 0 && doneRequant.length === 0 && arrayDone < 0) return false;
    end = now;
    const toQueue: number[] = [];
    for (const x of doneTransfers) {
      inFlight.splice(inFlight.indexOf(x), 1);
      if (x.kind === 'load') loaded[x.tile] = true;
      else {
        written[x.tile] = true;
        slotsTaken--;
      }
    }
    for (const x of doneRequant) {
      requantOut.splice(requantOut.indexOf(x), 1);
      toQueue.push(x.tile);
    }
    if (arrayDone >= 0) {
      arrayTile = -1;
      idleSince = now;
      computed++;
      const w = tiles[arrayDone];
      // vector results leave the unit after its latency; a GEMM sub-tile writing only partial
      // sums queues its write at once
      if (!work.gemm && w.writeBytes > 0) requantOut.push({ tile: arrayDone, at: now + spec.requant.latencyCycles });
      else if (work.gemm && w.outElems === 0 && w.writeBytes > 0) toQueue.push(arrayDone);
    }
    writeQueue.push(...toQueue.sort((a, b) => a - b));
    return true;
  };

  const issueDma = (now: number): void => {
    // loads first, in sub-tile order: double buffering, and read after write of partial sums
    while (inFlight.length < spec.dma.engines && nextLoad < T && nextLoad < computed + INPUT_SLOTS) {
      const t = nextLoad;
      const dep = tiles[t].readsAfter;
      if (dep >= 0 && !written[dep]) break;
      nextLoad++;
      const b = tiles[t].loadBytes;
      const done = dram.transfer(now, b);
      read += b;
      inFlight.push({ tile: t, kind: 'load', done });
      transfers.push({ tile: t, kind: 'load', bytes: b, psumBytes: tiles[t].psumInBytes, issue: now, done });
    }
    while (inFlight.length < spec.dma.engines && writeQueue.length > 0) {
      const t = writeQueue.shift()!;
      const b = tiles[t].writeBytes;
      const done = dram.transfer(now, b);
      write += b;
      inFlight.push({ tile: t, kind: 'write', done });
      transfers.push({ tile: t, kind: 'write', bytes: b, psumBytes: tiles[t].psumOutBytes, issue: now, done });
    }
  };

  const tryStart = (now: number): void => {
    if (arrayTile >= 0 || nextCompute >= T) return;
    const t = nextCompute;
    const w = tiles[t];
    if (!loaded[t]) {
      blocker = 'operandLate';
      return;
    }
    const writes = w.outElems > 0 || w.writeBytes > 0;
    if (writes && slotsTaken >= OUTPUT_SLOTS) {
      blocker = 'bufferFull';
      return;
    }
    stalls[blocker] += now - idleSince;
    if (writes) slotsTaken++;
    nextCompute++;
    arrayTile = t;
    computeCycles += w.cycles;
    let fin = now + w.cycles;
    const o = w.outElems;
    if (work.gemm && o > 0) {
      // the requant unit takes the outputs as they drain from the array (WS/IS: all along the
      // sub-tile; OS: at its end), at lanesPerCycle; when slower, the array is held
      const c = w.cycles;
      const window = work.df === 'os' ? Math.min(c, Math.ceil(o / work.drainPerCycle)) : c;
      const from = Math.max(now + c - window, rqFree);
      const consumed = Math.max(now + c, from + Math.ceil(o / spec.requant.lanesPerCycle) * work.passes);
      stalls.requantBusy += consumed - (now + c);
      fin = consumed;
      rqFree = consumed;
      requantOut.push({ tile: t, at: consumed + spec.requant.latencyCycles });
    }
    arrayEnd = fin;
  };

  const finished = (): boolean => computed === T && arrayTile < 0 && inFlight.length === 0 && requantOut.length === 0 && writeQueue.length === 0;

  for (let cycle = 0; !finished(); cycle++) {
    if (cycle > MAX_CYCLES) throw new Error(`reference engine: more than ${MAX_CYCLES} cycles (it is for small layers)`);
    // a round at cycle 0, and at every cycle something completes; what completes at the same
    // cycle as a result of a round (zero-time transfers or computes, latency 0) makes another round
    let round = cycle === 0;
    while (complete(cycle) || round) {
      round = false;
      issueDma(cycle);
      tryStart(cycle);
    }
  }
  return { cycles: end, computeCycles, stalls, transferBytes: { read, write }, transfers };
}

/** one layer (GEMM or vector) of `spec` under the mapping `m`, from cycle 0 */
export function referenceLayer(spec: ArchSpec, layer: WorkloadLayer, m: ReferenceMapping, reading: ReferenceReading = {}): ReferenceResult {
  if (layer.kind === 'free') throw new Error('reference engine: a free layer does nothing');
  const work = layer.kind === 'gemm' ? gemmWork(spec, layer, m, reading) : vectorWork(spec, layer, m);
  const r = run(spec, work);
  const b = work.dramBits;
  // accounted bytes: the class totals (whole bytes each under wholeByteTotals), partial sums both ways
  const psumBytes = b.psums / 16;
  const dramBytes = reading.wholeByteTotals ? { read: (b.inputs + b.weights + b.bias + b.requantParams) / 8 + psumBytes, write: b.outputs / 8 + psumBytes } : r.transferBytes;
  return { ...r, dramBits: b, dramBytes, subTiles: work.tiles.length };
}
