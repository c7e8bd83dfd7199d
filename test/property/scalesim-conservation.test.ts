/**
 * `memoryModel: 'scalesim'` counts one model's traffic: every memory count of a
 * GEMM layer comes from SCALE-Sim's model (sim/engine/accounting.ts `scaleSimAccounting`), so
 * per buffer:
 * - fills write exactly the bytes DRAM delivered for the classes it holds (ifmap: inputs; filter:
 *   weights, bias, requant parameters), and DRAM's input and weight bytes are SCALE-Sim's DRAM
 *   words (its re-reads included);
 * - buffer → array reads are SCALE-Sim's demand reads;
 * - the ofmap buffer drains exactly what the array wrote into it (final outputs + partial sums,
 *   the ofmap words of SCALE-Sim's demand matrices, counted here from its SRAM trace rows), and
 *   DRAM writes that plus SCALE-Sim's padding lanes (USER mode; none in CALC).
 * On the SCALE-Sim golden topologies (../shared/golden/scalesim) and random layers, arrays,
 * buffers, bandwidths and dataflows, CALC and USER.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadArchSpec, validateArchSpec, type ArchSpec, type BufferName, type Dataflow } from '../../arch/spec.js';
import { simulate, workloadFromViews } from '../../sim/engine/index.js';
import type { LayerResult } from '../../sim/result.js';
import type { GemmView } from '../../sim/timing/gemm-view.js';
import { simulateScaleSim } from '../../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../../sim/timing/topology.js';
import { viewArb } from '../helpers/sim-arbitraries.js';

const GOLDEN = resolve(import.meta.dirname, '../../../shared/golden/scalesim');
const folders = existsSync(GOLDEN) ? readdirSync(GOLDEN).filter((d) => existsSync(join(GOLDEN, d, 'config.cfg'))) : [];

/** SRAM accesses of one buffer and action in a layer's counts (its words) */
function accesses(l: LayerResult, buffer: BufferName, action: 'read' | 'write'): number {
  return l.counts.filter((c) => c.component === 'sram' && c.label === buffer && c.action === action).reduce((s, c) => s + c.count, 0);
}

/** ofmap words SCALE-Sim's demand matrices write, from its SRAM trace rows (the first group) */
function demandOfmapWords(spec: ArchSpec, view: GemmView): number {
  let words = 0;
  simulateScaleSim({ ...spec, memories: { ...spec.memories, dram: { ...spec.memories.dram, mode: 'calc' } } }, [view], {
    trace: {
      layerStart() {},
      layerEnd() {},
      sramRow(operand, _cycle, addrs, width) {
        if (operand === 2) for (let i = 0; i < width; i++) if (addrs[i] >= 0) words++;
      },
    },
  });
  return words * view.groups;
}

/** every law of the header, for each layer of a scalesim-model run of `views` on `spec` */
function checkLayers(spec: ArchSpec, views: readonly GemmView[], demand: boolean): void {
  const run = simulate(spec, workloadFromViews(views, spec));
  const ss = simulateScaleSim(spec, views);
  const wl = workloadFromViews(views, spec).layers;
  const bufferOf = spec.memories.bufferOf;
  run.layers.forEach((l, i) => {
    const r = ss[i];
    const w = wl[i];
    const d = l.bits.dramBuffer;
    const a = l.bits.bufferArray;
    // DRAM: SCALE-Sim's words at their class's width, whole bytes; bits = 8 × bytes
    expect(d.inputs).toBe(Math.ceil((r.dram.ifmapReads * w.activationBits) / 8) * 8);
    expect(d.weights).toBe(Math.ceil((r.dram.filterReads * w.weightBits) / 8) * 8);
    expect(8 * (l.dramBytes.read + l.dramBytes.write)).toBe(Object.values(d).reduce((s, x) => s + x, 0));
    expect(l.dramBytes.read).toBe((d.inputs + d.weights + d.bias + d.requantParams) / 8);
    // buffer → array: SCALE-Sim's demand reads
    expect(a.inputs).toBe(r.sram.ifmapReads * w.activationBits);
    expect(a.weights).toBe(r.sram.filterReads * w.weightBits);
    // array → ofmap buffer: its demand's ofmap words, outputs at the output width, partial sums
    // (WS/IS: every K fold but the last) at the accumulator width, all drained
    const v = views[i];
    const outWords = v.groups * v.M * v.N;
    expect(a.outputs).toBe(outWords * w.outputBits);
    expect(a.psums / w.accBits).toBe(r.ofmapWords - outWords);
    expect(l.spills).toEqual({ toBuffer: 0, toDram: r.ofmapWords - outWords });
    if (demand) expect(r.ofmapWords).toBe(demandOfmapWords(spec, v));
    const drained = Math.ceil(a.outputs / 8) + Math.ceil(a.psums / 8);
    expect(l.dramBytes.write - drained).toBe(Math.ceil(((r.dram.ofmapWrites - r.ofmapWords) * w.outputBits) / 8));
    if (spec.memories.dram.mode === 'calc') expect(l.dramBytes.write).toBe(drained);
    // per buffer: fills write what DRAM read for its classes, the array's writes are drained,
    // reads are the array's demand (bytes per buffer, priced in its words)
    const fill: Record<string, number> = {};
    const read: Record<string, number> = {};
    const add = (rec: Record<string, number>, b: BufferName, bytes: number) => (rec[b] = (rec[b] ?? 0) + bytes);
    add(fill, bufferOf.ifmap, d.inputs / 8);
    add(fill, bufferOf.filter, (d.weights + d.bias + d.requantParams) / 8);
    add(fill, bufferOf.ofmap, drained);
    add(read, bufferOf.ifmap, a.inputs / 8);
    add(read, bufferOf.filter, (a.weights + a.bias + a.requantParams) / 8);
    add(read, bufferOf.ofmap, drained);
    for (const b of Object.keys(fill) as BufferName[]) {
      const wordBytes = spec.memories[b]!.wordBits / 8;
      expect(accesses(l, b, 'write')).toBe(Math.ceil(fill[b] / wordBytes));
      expect(accesses(l, b, 'read')).toBe(Math.ceil(read[b] / wordBytes));
    }
    expect(l.counts.filter((c) => c.component === 'dram').map((c) => [c.action, c.count])).toEqual(
      [['read', Math.ceil(l.dramBytes.read / 8)], ['write', Math.ceil(l.dramBytes.write / 8)]].filter(([, n]) => (n as number) > 0),
    );
  });
}

describe('scalesim memory model: one traffic for DRAM and buffers', () => {
  it('finds the golden folders', () => {
    expect(folders.length).toBeGreaterThanOrEqual(12);
  });

  for (const d of folders) {
    it(`golden ${d}`, () => {
      const dir = join(GOLDEN, d);
      const spec = loadArchSpec(join(dir, 'config.cfg'));
      expect(spec.memoryModel).toBe('scalesim');
      const mode = readFileSync(join(dir, 'MODE'), 'utf8').trim() as 'conv' | 'gemm';
      // the first layers: enough for every dataflow and mode, and quick
      const views = parseTopologyCsv(readFileSync(join(dir, 'topology.csv'), 'utf8'), 'topology.csv', mode).slice(0, 3);
      checkLayers(spec, views, false);
    });
  }

  it('random layers, arrays, banked buffers and bandwidths, CALC and USER', () => {
    fc.assert(
      fc.property(
        fc.array(viewArb, { minLength: 1, maxLength: 2 }),
        fc.record({
          rows: fc.integer({ min: 1, max: 8 }),
          cols: fc.integer({ min: 1, max: 8 }),
          dataflow: fc.constantFrom<Dataflow>('ws', 'os', 'is'),
          capacity: fc.integer({ min: 64, max: 8192 }),
          banks: fc.constantFrom(1, 2, 4),
          wordBits: fc.constantFrom(8, 32, 64),
          bw: fc.integer({ min: 1, max: 16 }),
          user: fc.boolean(),
        }),
        (views, p) => {
          const buf = { capacityBytes: p.capacity, banks: p.banks, wordBits: p.wordBits };
          const dram = { bytesPerCycle: p.bw, latencyCycles: 0, mode: p.user ? ('user' as const) : ('calc' as const) };
          const spec = validateArchSpec({
            name: 'random',
            array: { rows: p.rows, cols: p.cols, dataflow: p.dataflow },
            // the scalesim model has SCALE-Sim's split buffers only
            memories: { ifmap: buf, filter: buf, ofmap: buf, dram },
            memoryModel: 'scalesim',
          });
          checkLayers(spec, views, true);
        },
      ),
      { numRuns: 60, seed: 21 },
    );
  });
});
