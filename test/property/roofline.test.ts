/**
 * Properties of the native memory model over random layers and accelerators:
 * - roofline: a layer takes at least its compute cycles and at least its DRAM bytes ÷ DRAM bytes
 *   per cycle;
 * - with DRAM that never stalls (CALC mode, no latency) and a requant unit that keeps up with the
 *   array (lanes ≥ cols, no pipeline latency), every layer takes exactly the fold plan's compute
 *   cycles (SCALE-Sim's CALC compute model);
 * - determinism: the same inputs give the same result JSON.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateArchSpec, type ArchSpec, type ArchSpecInput, type Dataflow } from '../../arch/spec.js';
import { simulate, workloadFromViews } from '../../sim/engine/index.js';
import { planFolds } from '../../sim/timing/compute.js';
import { gemmViewOfConv, gemmViewOfGemm, type GemmView } from '../../sim/timing/gemm-view.js';

const viewArb: fc.Arbitrary<GemmView> = fc.oneof(
  fc.record({ M: fc.integer({ min: 1, max: 120 }), K: fc.integer({ min: 1, max: 200 }), N: fc.integer({ min: 1, max: 70 }) }).map((g) => gemmViewOfGemm('g', g.M, g.K, g.N)),
  fc
    .record({
      h: fc.integer({ min: 3, max: 14 }),
      w: fc.integer({ min: 3, max: 14 }),
      f: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 2 }),
      cg: fc.integer({ min: 1, max: 8 }),
      ng: fc.integer({ min: 1, max: 12 }),
      group: fc.constantFrom(1, 1, 2, 3),
      pad: fc.integer({ min: 0, max: 1 }),
    })
    .map((g) =>
      gemmViewOfConv('c', {
        ifmapH: g.h,
        ifmapW: g.w,
        filterH: g.f,
        filterW: g.f,
        channels: g.cg * g.group,
        numFilters: g.ng * g.group,
        strideH: g.s,
        strideW: g.s,
        padTop: g.pad,
        padLeft: g.pad,
        padBottom: g.pad,
        padRight: g.pad,
        dilationH: 1,
        dilationW: 1,
        group: g.group,
      }),
    ),
);

interface ArchParams {
  rows: number;
  cols: number;
  dataflow: Dataflow;
  split: boolean;
  capacity: number;
  bytesPerCycle: number;
  latency: number;
  lanes: number;
  rqLatency: number;
  engines: number;
  psumBytes: number;
}

const archArb: fc.Arbitrary<ArchParams> = fc.record({
  rows: fc.integer({ min: 1, max: 16 }),
  cols: fc.integer({ min: 1, max: 16 }),
  dataflow: fc.constantFrom<Dataflow>('ws', 'os', 'is'),
  split: fc.boolean(),
  capacity: fc.integer({ min: 64, max: 65536 }),
  bytesPerCycle: fc.constantFrom(0.25, 0.5, 1, 3, 8, 16, 64),
  latency: fc.integer({ min: 0, max: 120 }),
  lanes: fc.integer({ min: 1, max: 32 }),
  rqLatency: fc.integer({ min: 0, max: 6 }),
  engines: fc.integer({ min: 1, max: 4 }),
  psumBytes: fc.constantFrom(0, 4, 16),
});

function specOf(a: ArchParams, calc: boolean): ArchSpec {
  const buf = { capacityBytes: a.capacity };
  const dram = calc ? { bytesPerCycle: a.bytesPerCycle, latencyCycles: 0, mode: 'calc' as const } : { bytesPerCycle: a.bytesPerCycle, latencyCycles: a.latency, mode: 'user' as const };
  const input: ArchSpecInput = {
    name: 'random',
    array: { rows: a.rows, cols: a.cols, dataflow: a.dataflow },
    pe: { registers: { psumBytes: a.psumBytes } },
    memories: a.split ? { ifmap: buf, filter: buf, ofmap: buf, dram } : { glb: buf, dram },
    dma: { engines: a.engines },
    requant: calc ? { lanesPerCycle: a.cols + (a.lanes % 4), latencyCycles: 0 } : { lanesPerCycle: a.lanes, latencyCycles: a.rqLatency },
  };
  return validateArchSpec(input);
}

const viewsArb = fc.array(viewArb, { minLength: 1, maxLength: 3 });

/** The layers simulated on the accelerator, each with or without the zero-point term. */
function simulateWithZp(views: GemmView[], a: ArchParams, calc: boolean, zp: boolean) {
  const spec = specOf(a, calc);
  const w = workloadFromViews(views, spec);
  return simulate(spec, { ...w, layers: w.layers.map((l) => ({ ...l, zeroPointTerm: zp })) });
}

/** the fold plan's compute cycles; the zero-point term is one more array column (N + 1) */
function planCycles(v: GemmView, a: ArchParams, zp: boolean): number {
  return planFolds(zp ? { ...v, N: v.N + 1 } : v, a.rows, a.cols, a.dataflow).totalComputeCycles;
}

describe('native memory model', () => {
  it('obeys the roofline: cycles ≥ max(compute cycles, DRAM bytes ÷ bytes per cycle)', () => {
    fc.assert(
      fc.property(viewsArb, archArb, fc.boolean(), (views, a, zp) => {
        const r = simulateWithZp(views, a, false, zp);
        r.layers.forEach((l, i) => {
          const compute = planCycles(views[i], a, zp);
          expect(l.computeCycles).toEqual(compute);
          expect(l.cycles).toBeGreaterThanOrEqual(compute);
          expect(l.cycles).toBeGreaterThanOrEqual((l.dramBytes.read + l.dramBytes.write) / a.bytesPerCycle);
          expect(l.cycles).toEqual(l.computeCycles + l.stallCycles + l.tailCycles);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('with DRAM that never stalls and a requant unit that keeps up, cycles = the fold plan (SCALE-Sim CALC)', () => {
    fc.assert(
      fc.property(viewsArb, archArb, fc.boolean(), (views, a, zp) => {
        const r = simulateWithZp(views, a, true, zp);
        expect(r.layers.map((l) => l.cycles)).toEqual(views.map((v) => planCycles(v, a, zp)));
        expect(r.totals.stallCycles).toEqual(0);
      }),
      { numRuns: 150 },
    );
  });

  it('is deterministic: the same inputs give the same result JSON', () => {
    fc.assert(
      fc.property(viewsArb, archArb, (views, a) => {
        const spec = specOf(a, false);
        const one = JSON.stringify(simulate(spec, workloadFromViews(views, spec)));
        const two = JSON.stringify(simulate(spec, workloadFromViews(views, spec)));
        expect(two).toEqual(one);
      }),
      { numRuns: 40 },
    );
  });
});
