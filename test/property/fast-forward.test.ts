/**
 * The native engine's fast-forward is exact: over random accelerators (slow and fast DRAM, narrow
 * requant units, one to four DMA engines, tiny buffers that cut folds into many sub-tiles) and
 * random GEMM, convolution and vector layers, a run that fast-forwards runs of identical sub-tiles
 * equals, number for number, the run that steps every sub-tile. The same layers also show that
 * fast-forward happens (fewer sub-tiles stepped) — else the equality would prove nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateArchSpec, type ArchSpec, type ArchSpecInput, type Dataflow } from '../../arch/spec.js';
import { EventBuffer } from '../../sim/engine/emit.js';
import { planGemmLayer, planVectorLayer, simulate, workloadFromViews, type Workload, type WorkloadLayer } from '../../sim/engine/index.js';
import { NativeEngine } from '../../sim/engine/native.js';
import { gemmViewOfConv, gemmViewOfGemm, type GemmView } from '../../sim/timing/gemm-view.js';

const viewArb: fc.Arbitrary<GemmView> = fc.oneof(
  fc.record({ M: fc.integer({ min: 1, max: 2000 }), K: fc.integer({ min: 1, max: 160 }), N: fc.integer({ min: 1, max: 40 }) }).map((g) => gemmViewOfGemm('g', g.M, g.K, g.N)),
  fc
    .record({ h: fc.integer({ min: 3, max: 40 }), f: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 1, max: 12 }), n: fc.integer({ min: 1, max: 20 }), group: fc.constantFrom(1, 1, 2) })
    .map((g) =>
      gemmViewOfConv('c', {
        ifmapH: g.h,
        ifmapW: g.h,
        filterH: g.f,
        filterW: g.f,
        channels: g.c * g.group,
        numFilters: g.n * g.group,
        strideH: 1,
        strideW: 1,
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

const archArb = fc.record({
  rows: fc.integer({ min: 1, max: 8 }),
  cols: fc.integer({ min: 1, max: 8 }),
  dataflow: fc.constantFrom<Dataflow>('ws', 'os', 'is'),
  split: fc.boolean(),
  capacity: fc.constantFrom(64, 96, 256, 1000, 4096),
  bytesPerCycle: fc.constantFrom(0.25, 0.5, 1, 3, 8, 64),
  latency: fc.integer({ min: 0, max: 60 }),
  calc: fc.boolean(),
  lanes: fc.integer({ min: 1, max: 16 }),
  rqLatency: fc.integer({ min: 0, max: 5 }),
  engines: fc.integer({ min: 1, max: 4 }),
  psumBytes: fc.constantFrom(0, 4, 16),
});

type ArchParams = typeof archArb extends fc.Arbitrary<infer T> ? T : never;

function specOf(a: ArchParams): ArchSpec {
  const buf = { capacityBytes: a.capacity };
  const dram = { bytesPerCycle: a.bytesPerCycle, latencyCycles: a.latency, mode: a.calc ? ('calc' as const) : ('user' as const) };
  const input: ArchSpecInput = {
    name: 'ff',
    array: { rows: a.rows, cols: a.cols, dataflow: a.dataflow },
    pe: { registers: { psumBytes: a.psumBytes } },
    memories: a.split ? { ifmap: buf, filter: buf, ofmap: buf, dram } : { glb: buf, dram },
    dma: { engines: a.engines },
    requant: { lanesPerCycle: a.lanes, latencyCycles: a.rqLatency },
  };
  return validateArchSpec(input);
}

/** the views as a workload; `tweak` 0: as is, 1: asymmetric weights, 2: unfused ReLU, 3: a vector layer after each */
function workloadOf(spec: ArchSpec, views: GemmView[], tweak: number): Workload {
  const w = workloadFromViews(views, spec);
  const layers: WorkloadLayer[] = [];
  for (const l of w.layers) {
    if (tweak === 1) layers.push({ ...l, zeroPointTerm: true });
    else if (tweak === 2) layers.push({ ...l, activation: { kind: 'clamp', fn: 'relu', fused: false } });
    else layers.push(l);
    if (tweak === 3) {
      const E = l.view!.groups * l.view!.M * l.view!.N;
      layers.push({ ...l, name: `${l.name}+add`, kind: 'vector', view: null, vectorOp: 'add', vectorElements: E, ifmapBytes: 2 * E, ofmapBytes: E, weightBytes: 0, biasBytes: 0, requantParamBytes: 0 });
    }
  }
  return { name: 'ff', layers };
}

describe('native engine fast-forward', () => {
  it('gives the same result as stepping every sub-tile, and does skip', () => {
    let layers = 0;
    let skipped = 0;
    fc.assert(
      fc.property(fc.array(viewArb, { minLength: 1, maxLength: 2 }), archArb, fc.integer({ min: 0, max: 3 }), (views, a, tweak) => {
        const spec = specOf(a);
        const w = workloadOf(spec, views, tweak);
        const fast = simulate(spec, w);
        const slow = simulate(spec, w, {}, { fastForward: false });
        expect(fast).toEqual(slow);
        for (const l of w.layers) {
          const plan = l.kind === 'gemm' ? planGemmLayer(spec, l) : planVectorLayer(spec, l);
          const r = new NativeEngine(spec).runLayer(0, plan.tiles, 0, new EventBuffer(undefined), null);
          layers++;
          if (r.stepped < plan.tiles.count) skipped++;
        }
      }),
      { numRuns: 120, seed: 17 },
    );
    // fast-forward must have happened often enough for the equality to mean something
    expect(skipped).toBeGreaterThan(layers / 5);
  });

  it('with a fold callback, every fold start is still reported, in order, at the same cycle', () => {
    fc.assert(
      fc.property(viewArb, archArb, (view, a) => {
        const spec = specOf(a);
        const [l] = workloadFromViews([view], spec).layers;
        const plan = planGemmLayer(spec, l);
        const starts = (ff: boolean): number[] => {
          const seen: number[] = [];
          new NativeEngine(spec).runLayer(0, plan.tiles, 0, new EventBuffer(undefined), (f, cycle) => seen.push(f, cycle), { fastForward: ff });
          return seen;
        };
        const fast = starts(true);
        expect(fast).toEqual(starts(false));
        // every fold, in order
        expect(fast.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: plan.fold!.rowFolds * plan.fold!.colFolds * plan.fold!.groups }, (_, i) => i));
      }),
      { numRuns: 60, seed: 1717 },
    );
  });
});
