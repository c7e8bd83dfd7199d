import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';
import { simulateScaleSim } from '../../../sim/timing/scalesim-memory.js';
import { ScaleSimSramTraceWriter } from '../../../traces/scalesim-trace.js';

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
