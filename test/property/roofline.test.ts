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
import { simulate, workloadFromViews } from '../../sim/engine/index.js';
import { planFolds } from '../../sim/timing/compute.js';
import type { GemmView } from '../../sim/timing/gemm-view.js';
import { archArb, specOf, viewArb, type ArchParams } from '../helpers/sim-arbitraries.js';

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
