/**
 * The native engine against the slow reference model of the same machine (test/support/
 * reference-engine.ts, the engine rules it states): over seeded random small layers (GEMM and conv
 * views, groups, zero-point column, unfused activations, vector layers) and accelerators (arrays
 * 1–8 × 1–8, every dataflow, split and unified buffers with tiny capacities, slow and fast DRAM,
 * calc and user mode, DMA engines, outstanding bursts, burst sizes, requant units, accumulator
 * registers), the engine's cycles, compute cycles, stalls by cause, DRAM bits per class and DRAM
 * bytes equal the reference's exactly — with fast-forward on and off. The reference takes only the
 * mapping choices from the plan (sub-tiles, residency, spill target, kept slices).
 *
 * First, the reference on its own: tiny cases whose numbers are worked out by hand below, so that
 * the comparison does not rest on a reference nobody checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateArchSpec, type ArchSpec, type ArchSpecInput, type Dataflow } from '../../arch/spec.js';
import { planGemmLayer, planVectorLayer, simulate, sizeLayer, workloadFromViews, type LayerPlan, type WorkloadLayer } from '../../sim/engine/index.js';
import { EventBuffer } from '../../sim/engine/emit.js';
import { NativeEngine } from '../../sim/engine/native.js';
import { gemmViewOfConv, gemmViewOfGemm, type GemmView } from '../../sim/timing/gemm-view.js';
import { referenceLayer, type ReferenceMapping, type ReferenceReading } from '../support/reference-engine.js';

interface ArchParams {
  rows: number;
  cols: number;
  dataflow: Dataflow;
  split: boolean;
  capacity: number;
  bytesPerCycle: number;
  latency: number;
  calc: boolean;
  engines: number;
  maxOutstanding: number;
  burst: number;
  lanes: number;
  rqLatency: number;
  psumBytes: number;
}

function specInputOf(a: ArchParams): ArchSpecInput {
  const buf = { capacityBytes: a.capacity };
  const dram = { bytesPerCycle: a.bytesPerCycle, latencyCycles: a.latency, mode: a.calc ? ('calc' as const) : ('user' as const) };
  const input: ArchSpecInput = {
    name: 'ref',
    array: { rows: a.rows, cols: a.cols, dataflow: a.dataflow },
    pe: { registers: { psumBytes: a.psumBytes } },
    memories: a.split ? { ifmap: buf, filter: buf, ofmap: buf, dram } : { glb: buf, dram },
    dma: { engines: a.engines, maxOutstanding: a.maxOutstanding, burstBytes: a.burst },
    requant: { lanesPerCycle: a.lanes, latencyCycles: a.rqLatency },
  };
  return input;
}

const specOf = (a: ArchParams): ArchSpec => validateArchSpec(specInputOf(a));

/** the plan's mapping choices, the only thing the reference takes from it */
function mappingOf(plan: LayerPlan): ReferenceMapping {
  // keepIfmapSlice / keepFilterSlice are the engine rules v2 additions to LayerPlan
  const p = plan as LayerPlan & { keepIfmapSlice?: boolean; keepFilterSlice?: boolean };
  if (p.keepIfmapSlice === undefined || p.keepFilterSlice === undefined) throw new Error('LayerPlan has no keepIfmapSlice / keepFilterSlice (engine rules v2 not landed)');
  return { subTiles: p.subTiles, residentIfmap: p.residentIfmap, residentFilter: p.residentFilter, spill: p.spill, keepIfmapSlice: p.keepIfmapSlice, keepFilterSlice: p.keepFilterSlice };
}

const base: ArchParams = { rows: 2, cols: 2, dataflow: 'ws', split: true, capacity: 4096, bytesPerCycle: 1, latency: 10, calc: false, engines: 1, maxOutstanding: 8, burst: 4, lanes: 1, rqLatency: 2, psumBytes: 0 };

/** a GEMM layer of 8-bit operands with no bias or requant parameters (so loads are operands only) */
function gemmLayer(spec: ArchSpec, M: number, K: number, N: number): WorkloadLayer {
  const [l] = workloadFromViews([gemmViewOfGemm('g', M, K, N)], spec).layers;
  return { ...l, weightBits: 8, activationBits: 8, outputBits: 8, accBits: 32, biasBytes: 0, requantParamBytes: 0 };
}

const noKeep = { residentIfmap: false, residentFilter: false, keepIfmapSlice: false, keepFilterSlice: false };

describe('reference engine, by hand', () => {
  it('WS 2×2, M=K=N=2, one fold: load, compute, requant, write one after another', () => {
    const spec = specOf(base);
    const r = referenceLayer(spec, gemmLayer(spec, 2, 2, 2), { subTiles: 1, spill: 0, ...noKeep });
    // load: 4 ifmap + 4 weight bytes = 2 bursts of 4 B, 8 bus cycles from 0, + latency 10 → 18
    // (one wave: 2 bursts ≤ 8 outstanding). The array waited [0, 18): operandLate 18.
    // compute: WS fold 2R + C + T − 2 = 4 + 2 + 2 − 2 = 6 cycles, [18, 24); its 4 outputs drain all
    // along it (window 6, from 18) at 1 lane: done at 22 ≤ 24, no hold; out at 24 + 2 = 26.
    // write: 4 B = 1 burst, 4 bus cycles from 26, + 10 → 40.
    expect(r.cycles).toBe(40);
    expect(r.computeCycles).toBe(6);
    expect(r.stalls).toEqual({ operandLate: 18, bufferFull: 0, requantBusy: 0 });
    expect(r.dramBytes).toEqual({ read: 8, write: 4 });
    expect(r.dramBits).toEqual({ weights: 32, inputs: 32, outputs: 32, psums: 0, bias: 0, requantParams: 0, attention: 0 });
  });

  it('WS 1×1, K=2: partial sums spilled to DRAM are read back only after their write completed (R2)', () => {
    const spec = specOf({ ...base, rows: 1, cols: 1, bytesPerCycle: 1, latency: 5, burst: 1, maxOutstanding: 1, engines: 2, rqLatency: 0 });
    const r = referenceLayer(spec, gemmLayer(spec, 1, 2, 1), { subTiles: 1, spill: 2, ...noKeep });
    // two K folds (rows 1, K 2) of 2R + C + T − 2 = 2 cycles. t0 loads 1 ifmap + 1 weight byte:
    // 2 bursts, one outstanding → the second requested a round trip (5) after the first:
    // done at 0 + max(2, 5) + 5 = 10. t1 reads t0's partial sum (4 B) back: it must wait.
    // t0 computes [10, 12), spills 4 B: 4 one-burst waves, the last requested at 12 + 15, done 32.
    // t1 loads 1 + 1 + 4 = 6 B from 32: done 32 + 5·5 + 5 = 62; computes [62, 64); its output
    // drains over the sub-tile, done at 64; write 1 B from 64: done 70.
    // The array waited [0, 10) and [12, 62): operandLate 60.
    expect(r.cycles).toBe(70);
    expect(r.computeCycles).toBe(4);
    expect(r.stalls).toEqual({ operandLate: 60, bufferFull: 0, requantBusy: 0 });
    expect(r.dramBits).toEqual({ weights: 16, inputs: 16, outputs: 8, psums: (1 + 1) * 4 * 8, bias: 0, requantParams: 0, attention: 0 });
    expect(r.dramBytes).toEqual({ read: 8, write: 5 });
    const load1 = r.transfers.find((x) => x.kind === 'load' && x.tile === 1)!;
    const spill0 = r.transfers.find((x) => x.kind === 'write' && x.tile === 0)!;
    expect([spill0.done, load1.issue, load1.psumBytes]).toEqual([32, 32, 4]);
  });

  it('OS 2×2: a requant unit slower than the drain holds the array (requantBusy)', () => {
    const spec = specOf({ ...base, dataflow: 'os', calc: true, rqLatency: 0 });
    const r = referenceLayer(spec, gemmLayer(spec, 2, 1, 2), { subTiles: 1, spill: 0, ...noKeep });
    // calc DRAM: transfers take no time. OS fold T + R + C − 2 = 1 + 2 + 2 − 2 = 3 cycles, [0, 3);
    // its 4 outputs drain 2 a cycle (min(C, N)) over the last 2 cycles, from 1; one lane takes 4
    // cycles → consumed at 5: the array is held 2 cycles. Written at 5 (no time).
    expect(r.cycles).toBe(5);
    expect(r.computeCycles).toBe(3);
    expect(r.stalls).toEqual({ operandLate: 0, bufferFull: 0, requantBusy: 2 });
  });

  it('vector layer: the third sub-tile waits for an output slot (bufferFull)', () => {
    const spec = specOf({ ...base, burst: 1, latency: 10, rqLatency: 0 });
    const [g] = workloadFromViews([gemmViewOfGemm('g', 1, 1, 1)], spec).layers;
    const v: WorkloadLayer = { ...g, kind: 'vector', view: null, vectorOp: 'add', vectorElements: 3, ifmapBytes: 0, ofmapBytes: 3, weightBytes: 0, biasBytes: 0, requantParamBytes: 0 };
    const r = referenceLayer(spec, v, { subTiles: 3, spill: 0, ...noKeep });
    // loads are empty (complete at issue); each sub-tile: 1 element at 1 lane = 1 cycle; 1 B out.
    // t0 [0, 1), t1 [1, 2); write 0 issued at 1: 1 B, done 1 + 1 + 10 = 12; write 1 waits for the
    // one DMA engine. At 2 both output slots are held: t2 waits until write 0 completes at 12
    // (bufferFull 10), computes [12, 13). Write 1 runs [12, 23), write 2 [23, 34).
    expect(r.cycles).toBe(34);
    expect(r.computeCycles).toBe(3);
    expect(r.stalls).toEqual({ operandLate: 0, bufferFull: 10, requantBusy: 0 });
    expect(r.dramBytes).toEqual({ read: 0, write: 3 });
  });
});

// --- the engine against the reference on random small layers

const viewArb: fc.Arbitrary<GemmView> = fc.oneof(
  fc.record({ M: fc.integer({ min: 1, max: 64 }), K: fc.integer({ min: 1, max: 48 }), N: fc.integer({ min: 1, max: 20 }) }).map((g) => gemmViewOfGemm('g', g.M, g.K, g.N)),
  fc
    .record({ h: fc.integer({ min: 3, max: 9 }), f: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 10 }), group: fc.constantFrom(1, 1, 2, 3) })
    .map((g) =>
      gemmViewOfConv('c', {
        ifmapH: g.h,
        ifmapW: g.h,
        filterH: g.f,
        filterW: g.f,
        channels: g.c * g.group,
        numFilters: g.n * g.group,
        strideH: g.s,
        strideW: g.s,
        padTop: 0,
        padLeft: 0,
        padBottom: 0,
        padRight: 0,
        dilationH: 1,
        dilationW: 1,
        group: g.group,
      }),
    ),
);

const archArb: fc.Arbitrary<ArchParams> = fc.record({
  rows: fc.integer({ min: 1, max: 8 }),
  cols: fc.integer({ min: 1, max: 8 }),
  dataflow: fc.constantFrom<Dataflow>('ws', 'os', 'is'),
  split: fc.boolean(),
  // tiny buffers (folds cut into sub-tiles, operands streamed) up to ones that hold the layer
  capacity: fc.constantFrom(16, 32, 64, 96, 256, 1000, 4096, 65536),
  bytesPerCycle: fc.constantFrom(0.25, 0.5, 1, 3, 8, 64),
  latency: fc.integer({ min: 0, max: 60 }),
  calc: fc.boolean(),
  engines: fc.integer({ min: 1, max: 4 }),
  maxOutstanding: fc.integer({ min: 1, max: 8 }),
  burst: fc.constantFrom(1, 2, 4, 8, 16, 32, 64),
  lanes: fc.integer({ min: 1, max: 16 }),
  rqLatency: fc.integer({ min: 0, max: 5 }),
  psumBytes: fc.constantFrom(0, 4, 16),
});

/** operand and output widths: 8-bit, and sub-byte ones (fractional bytes per sub-tile) */
const widthsArb = fc.constantFrom<[number, number]>([8, 8], [4, 8], [8, 4], [4, 4]);

/** the layer under test: `tweak` 0 as is, 1 zero-point column, 2 unfused ReLU, 3 an add, 4 an unfused activation layer */
function layerOf(spec: ArchSpec, view: GemmView, tweak: number): WorkloadLayer {
  const [l] = workloadFromViews([view], spec).layers;
  if (tweak === 1) return { ...l, zeroPointTerm: true };
  if (tweak === 2) return { ...l, activation: { kind: 'clamp', fn: 'relu', fused: false } };
  if (tweak < 3) return l;
  const E = view.groups * view.M * view.N;
  const bytes = Math.ceil((E * spec.operands.activationBits) / 8);
  const vector = { ...l, kind: 'vector' as const, view: null, vectorElements: E, ofmapBytes: bytes, weightBytes: 0, biasBytes: 0, requantParamBytes: 0 };
  if (tweak === 3) return { ...vector, name: 'add', vectorOp: 'add', ifmapBytes: 2 * bytes };
  return { ...vector, name: 'act', vectorOp: 'activation', ifmapBytes: bytes, activation: { kind: 'clamp', fn: 'relu', fused: false } };
}

/** what both report: timing, stalls by cause, DRAM bits by class, DRAM bytes */
interface Compared {
  cycles: number;
  computeCycles: number;
  stalls: { operandLate: number; bufferFull: number; requantBusy: number };
  dramBits: Record<string, number>;
  dramBytes: { read: number; write: number };
}

function engineOf(spec: ArchSpec, layer: WorkloadLayer, fastForward: boolean): Compared {
  const [r] = simulate(spec, { name: 'one', layers: [layer] }, {}, { fastForward }).layers;
  return { cycles: r.cycles, computeCycles: r.computeCycles, stalls: { ...r.stalls }, dramBits: { ...r.bits.dramBuffer }, dramBytes: { ...r.dramBytes } };
}

/**
 * How the engine reads the rules where the issue's rules v2 text said otherwise: WS/IS outputs
 * leave pro rata of a sub-tile's cycles rather than share(outs, S, s), an ifmap slice's DRAM bits
 * are exact rather than floored, each class's layer total is whole bytes rather than exact bits
 * (all three documented in sim/engine/plan.ts); and a sub-tile's partial-sum DRAM bytes are
 * share(entries · accBytes, S, s) rather than whole entries (not documented). Everything else is
 * the rules text.
 */
const ENGINE_READING: ReferenceReading = { outputsProRataOfCycles: true, fractionalIfmapBits: true, psumCut: 'entries', wholeByteTotals: true };

function referenceOf(spec: ArchSpec, layer: WorkloadLayer): Compared {
  const plan = layer.kind === 'gemm' ? planGemmLayer(spec, layer) : planVectorLayer(spec, layer);
  const r = referenceLayer(spec, layer, mappingOf(plan), ENGINE_READING);
  return { cycles: r.cycles, computeCycles: r.computeCycles, stalls: r.stalls, dramBits: r.dramBits, dramBytes: r.dramBytes };
}

/** layers small enough for the reference (it steps every cycle) */
const MAX_REFERENCE_TILES = 3000;

/** how often the random cases reach each part of the machine: the equality must cover them all */
type Seen = Record<'fastForwarded' | 'spillToDram' | 'subTiled' | 'streamedIfmap' | 'streamedFilter' | 'keptSlice' | 'operandLate' | 'bufferFull' | 'requantBusy' | 'zeroPoint' | 'vector' | 'calc', number>;

function tally(seen: Seen, spec: ArchSpec, layer: WorkloadLayer, plan: LayerPlan, r: Compared): void {
  const m = mappingOf(plan);
  // fast-forward on must have skipped sub-tiles in many cases, else "on equals off" proves little
  if (new NativeEngine(spec).runLayer(0, plan.tiles, 0, new EventBuffer(undefined), null).stepped < plan.tiles.count) seen.fastForwarded++;
  if (r.dramBits.psums > 0) seen.spillToDram++;
  if (m.subTiles > 1) seen.subTiled++;
  if (layer.kind === 'gemm' && !m.residentIfmap) seen.streamedIfmap++;
  if (layer.kind === 'gemm' && !m.residentFilter) seen.streamedFilter++;
  if (layer.kind === 'gemm' && ((!m.residentIfmap && m.keepIfmapSlice) || (!m.residentFilter && m.keepFilterSlice))) seen.keptSlice++;
  if (r.stalls.operandLate > 0) seen.operandLate++;
  if (r.stalls.bufferFull > 0) seen.bufferFull++;
  if (r.stalls.requantBusy > 0) seen.requantBusy++;
  if (layer.zeroPointTerm) seen.zeroPoint++;
  if (layer.kind === 'vector') seen.vector++;
  if (spec.memories.dram.mode === 'calc') seen.calc++;
}

describe('native engine vs the reference model', () => {
  it('equal cycles, stalls by cause, DRAM bits by class and DRAM bytes, fast-forward on and off', () => {
    let cases = 0;
    const seen: Seen = { fastForwarded: 0, spillToDram: 0, subTiled: 0, streamedIfmap: 0, streamedFilter: 0, keptSlice: 0, operandLate: 0, bufferFull: 0, requantBusy: 0, zeroPoint: 0, vector: 0, calc: 0 };
    fc.assert(
      fc.property(viewArb, archArb, widthsArb, fc.integer({ min: 0, max: 4 }), (view, a, [wBits, aBits], tweak) => {
        const spec = validateArchSpec({ ...specInputOf(a), operands: { weightBits: wBits, activationBits: aBits } });
        const layer = layerOf(spec, view, tweak);
        fc.pre(sizeLayer(spec, layer).tiles <= MAX_REFERENCE_TILES);
        const plan = layer.kind === 'gemm' ? planGemmLayer(spec, layer) : planVectorLayer(spec, layer);
        const ref = referenceOf(spec, layer);
        expect(engineOf(spec, layer, true)).toEqual(ref);
        expect(engineOf(spec, layer, false)).toEqual(ref);
        tally(seen, spec, layer, plan, ref);
        cases++;
      }),
      { numRuns: 4000, seed: 2121 },
    );
    expect(cases).toBeGreaterThan(3500);
    // every part of the machine is reached by a fair share of the cases (else equality proves little)
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(cases / 50);
  });
});
