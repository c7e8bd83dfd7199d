import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadArchSpec, presetSpec, validateArchSpec } from '../../../arch/spec.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';
import { simulateScaleSim, type ScaleSimTraceSink, type TraceOperand } from '../../../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../../../sim/timing/topology.js';
import { ScaleSimSramTraceWriter, ScaleSimTraceWriter } from '../../../traces/scalesim-trace.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-sstrace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec2x2 = validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec('scalesim-default'))), array: { rows: 2, cols: 2, dataflow: 'os', pes: 4 } });

describe('SCALE-Sim SRAM traces', () => {
  it('writes SCALE-Sim rows: cycle, then one address per lane (−1 idle), offsets added', () => {
    const w = new ScaleSimSramTraceWriter(dir, { chunkBytes: 8 });
    // (2×3)·(3×2) on a 2×2 OS array: one fold of K + R + C − 2 = 5 cycles
    const [r] = simulateScaleSim(spec2x2, [gemmViewOfGemm('g', 2, 3, 2)], { trace: w });
    w.close();
    expect(r.totalCycles).toBe(4);
    const read = (f: string) => readFileSync(join(dir, 'layer0', f), 'utf8').trim().split('\n');
    const ifmap = read('IFMAP_SRAM_TRACE.csv');
    const filter = read('FILTER_SRAM_TRACE.csv');
    const ofmap = read('OFMAP_SRAM_TRACE.csv');
    expect([ifmap.length, filter.length, ofmap.length]).toEqual([5, 5, 5]);
    // ifmap (m,k) at m·K + k; lane c is skewed by c cycles; reads land after the 1-cycle SRAM hit
    expect(ifmap.slice(0, 3)).toEqual(['1,0,-1', '2,1,3', '3,2,4']);
    // filter (k,n) at 10,000,000 + n·K + k
    expect(filter.slice(0, 2)).toEqual(['1,10000000,-1', '2,10000001,10000003']);
    // outputs leave bottom row first after K − 1 = 2 cycles: (m=1,n=0) = 20,000,000 + 1·2 + 0
    expect(ofmap.slice(2)).toEqual(['2,20000002,-1', '3,20000000,20000003', '4,-1,20000001']);
    // every SRAM read SCALE-Sim counts is one non −1 entry
    const valid = (ls: string[]) => ls.reduce((s, l) => s + l.split(',').slice(1).filter((x) => x !== '-1').length, 0);
    expect(valid(ifmap)).toBe(r.sram.ifmapReads);
    expect(valid(filter)).toBe(r.sram.filterReads);
  });
});

/** A USER-mode variant of `base`: DRAM `bw` words/cycle, ifmap/filter/ofmap SRAM capacities in words. */
function userSpec(base: unknown, bw: number, ifmapWords: number, filterWords: number, ofmapWords: number) {
  const s = JSON.parse(JSON.stringify(base));
  s.memories.dram.mode = 'user';
  s.memories.dram.bytesPerCycle = bw;
  s.memories.dram.bandwidthBytesPerS = bw * 1e9;
  s.memories.ifmap = { ...s.memories.ifmap, capacityBytes: ifmapWords, banks: 1, readBytesPerCycle: undefined, writeBytesPerCycle: undefined };
  s.memories.filter = { ...s.memories.filter, capacityBytes: filterWords, banks: 1, readBytesPerCycle: undefined, writeBytesPerCycle: undefined };
  s.memories.ofmap = { ...s.memories.ofmap, capacityBytes: ofmapWords, banks: 1, readBytesPerCycle: undefined, writeBytesPerCycle: undefined };
  return validateArchSpec(s);
}

/** Collects DRAM rows per operand (cycle, then the lanes). */
class DramRows implements ScaleSimTraceSink {
  readonly rows: number[][][] = [[], [], []];
  layerStart(): void {}
  sramRow(): void {}
  layerEnd(): void {}
  dramRow(op: TraceOperand, cycle: number, addrs: Int32Array, width: number): void {
    this.rows[op].push([cycle, ...addrs.subarray(0, width)]);
  }
}

describe('SCALE-Sim DRAM traces (USER mode)', () => {
  it('everything fits: one prefetch of the whole stream before cycle 0, one drain at the end', () => {
    // (2×3)·(3×2) on 2×2 OS, 64-word SRAMs, 4 words/cycle. The OS ifmap prefetch stream is the
    // T×R = 3×2 matrix (k, m) ↦ m·3 + k read anti-diagonally: 0 | 1 3 | 2 4 | 5 → lines of 4:
    // [0 1 3 2] [4 5 −1 −1]. The active half (32) covers both, fetched at cycles −2, −1.
    const spec = userSpec(spec2x2, 4, 64, 64, 64);
    const t = new DramRows();
    const [r] = simulateScaleSim(spec, [gemmViewOfGemm('g', 2, 3, 2)], { trace: t });
    expect(r.totalCycles).toBe(4);
    expect(t.rows[0]).toEqual([
      [-2, 0, 1, 3, 2],
      [-1, 4, 5, -1, -1],
    ]);
    // filter (k, n) ↦ n·3 + k: the same order, plus the filter offset
    expect(t.rows[1]).toEqual([
      [-2, 10000000, 10000001, 10000003, 10000002],
      [-1, 10000004, 10000005, -1, -1],
    ]);
    // the ofmap is written (m,n)=(1,0), (0,0), (1,1), (0,1) at cycles 2, 3, 3, 4 (see the SRAM test);
    // the 4 words never reach the drain threshold (free < 32), so the final flush writes one line
    // at the cycle of the last write
    expect(t.rows[2]).toEqual([[4, 20000002, 20000000, 20000003, 20000001]]);
    expect(r.dram).toEqual({ ifmapReads: 8, filterReads: 8, ofmapWrites: 4 });
  });

  it('a 4-word ifmap SRAM refetches with SCALE-Sim next-line rule, landing right after the last prefetch', () => {
    // bw 2: ifmap fetch rows [0 1] [3 2] [4 5]; active = prefetch half = 2 words; 1 % lines of 1 word.
    // prime: 1 row at cycle −1, next line (1 + 1) mod 3 = 2.
    // cycle 1 asks for 3 (line 2, outside window [0,2)): window [2,4), fetch row 2 at −1 + 2 = 1,
    //   next line (1 + 1) mod bw = 0 (SCALE-Sim's modulo);
    // cycle 2 asks for 4 (line 4, outside [2,4)): window [4,6), fetch row 0 at 1 + 2 = 3.
    const spec = userSpec(spec2x2, 2, 4, 64, 64);
    const t = new DramRows();
    const [r] = simulateScaleSim(spec, [gemmViewOfGemm('g', 2, 3, 2)], { trace: t });
    expect(t.rows[0]).toEqual([
      [-1, 0, 1],
      [1, 4, 5],
      [3, 0, 1],
    ]);
    expect(r.dram.ifmapReads).toBe(6);
    expect([r.detail!.dramIfmap.start, r.detail!.dramIfmap.stop]).toEqual([-1, 3]);
    // ofmap: two lines of 2 (write order 2, 0, 3, 1), drained back to back from the last write
    expect(t.rows[2]).toEqual([
      [4, 20000002, 20000000],
      [5, 20000003, 20000001],
    ]);
  });

  it('CALC mode makes no DRAM requests: the DRAM files exist and are empty', () => {
    const w = new ScaleSimTraceWriter(join(dir, 'calc'));
    simulateScaleSim(spec2x2, [gemmViewOfGemm('g', 2, 3, 2)], { trace: w });
    w.close();
    for (const f of ['IFMAP', 'FILTER', 'OFMAP']) expect(readFileSync(join(dir, 'calc', 'layer0', `${f}_DRAM_TRACE.csv`), 'utf8')).toBe('');
    expect(w.dramLines).toEqual([0, 0, 0]);
  });

  it('the writer writes SRAM and DRAM files per layer', () => {
    const w = new ScaleSimTraceWriter(join(dir, 'user'), { chunkBytes: 16 });
    simulateScaleSim(userSpec(spec2x2, 4, 64, 64, 64), [gemmViewOfGemm('g', 2, 3, 2)], { trace: w });
    w.close();
    const read = (f: string) => readFileSync(join(dir, 'user', 'layer0', f), 'utf8').trim().split('\n');
    expect(read('IFMAP_DRAM_TRACE.csv')).toEqual(['-2,0,1,3,2', '-1,4,5,-1,-1']);
    expect(read('OFMAP_DRAM_TRACE.csv')).toEqual(['4,20000002,20000000,20000003,20000001']);
    expect(read('IFMAP_SRAM_TRACE.csv').length).toBe(5);
    expect(w.dramLines).toEqual([2, 2, 1]);
  });

  const GOLDEN = resolve(import.meta.dirname, '../../../../shared/golden/scalesim');
  for (const d of ['test_is_32x32_user10', 'test_ws_32x32_user4']) {
    const gdir = join(GOLDEN, d);
    it.skipIf(!existsSync(gdir))(`${d}: DRAM words and first/last cycles are SCALE-Sim's DETAILED_ACCESS_REPORT`, () => {
      const spec = loadArchSpec(join(gdir, 'config.cfg'));
      const views = parseTopologyCsv(readFileSync(join(gdir, 'topology.csv'), 'utf8'), 'topology.csv', 'conv');
      // LayerID, SRAM ×9, DRAM IFMAP start, stop, reads, Filter start, stop, reads, OFMAP start, stop, writes
      const g = readFileSync(join(gdir, 'DETAILED_ACCESS_REPORT.csv'), 'utf8').trim().split('\n')[1].split(',').map(Number);
      const t = new DramRows();
      const [r] = simulateScaleSim(spec, views, { trace: t });
      const bw = spec.memories.dram.bytesPerCycle;
      const [ifm, flt, ofm] = t.rows;
      // reads: every request row is `bw` words, chomped lanes included
      expect(ifm.length * bw).toEqual(g[12]);
      expect(flt.length * bw).toEqual(g[15]);
      expect([ifm[0][0], ifm[ifm.length - 1][0]]).toEqual([g[10], g[11]]);
      expect([flt[0][0], flt[flt.length - 1][0]]).toEqual([g[13], g[14]]);
      // writes: every SRAM ofmap write (partial sums once per row fold) is drained once; SCALE-Sim
      // also counts the padding of partly filled lines that are not last in their drain, so its
      // count lies between the words and the lanes
      const words = ofm.reduce((s, row) => s + row.slice(1).filter((a) => a >= 0).length, 0);
      expect(words).toEqual(r.sram.ofmapWrites);
      expect(g[18]).toBeGreaterThanOrEqual(words);
      expect(g[18]).toBeLessThanOrEqual(ofm.length * bw);
      expect([ofm[0][0], ofm[ofm.length - 1][0]]).toEqual([g[16], g[17]]);
    });
  }
});
