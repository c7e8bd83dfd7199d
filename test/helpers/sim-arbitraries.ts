/**
 * Random layers and accelerators for the native engine's property tests (roofline, conservation):
 * GEMM and grouped-conv views, arrays up to 16×16 of every dataflow, unified or split buffers,
 * DRAM speeds and latencies, DMA engines, requant units and accumulator sizes.
 */
import fc from 'fast-check';
import { validateArchSpec, type ArchSpec, type ArchSpecInput, type Dataflow } from '../../arch/spec.js';
import { gemmViewOfConv, gemmViewOfGemm, type GemmView } from '../../sim/timing/gemm-view.js';

export const viewArb: fc.Arbitrary<GemmView> = fc.oneof(
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

export interface ArchParams {
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

export const archArb: fc.Arbitrary<ArchParams> = fc.record({
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

export function specOf(a: ArchParams, calc: boolean): ArchSpec {
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
