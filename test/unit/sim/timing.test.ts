import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { validateArchSpec, type ArchSpecInput } from '../../../arch/spec.js';
import { planFolds } from '../../../sim/timing/compute.js';
import { gemmViewOfConv, gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';
import { ifmapAddressMatrix, simulateScaleSim } from '../../../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../../../sim/timing/topology.js';

const conv = (over: Partial<Parameters<typeof gemmViewOfConv>[1]> = {}) =>
  gemmViewOfConv('c', {
    ifmapH: 7, ifmapW: 7, filterH: 3, filterW: 3, channels: 192, numFilters: 384, strideH: 1, strideW: 1,
    padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, dilationH: 1, dilationW: 1, group: 1, ...over,
  });

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('gemm views', () => {
  it('conv: M = output pixels, K = kh·kw·Cin, N = Cout', () => {
    // 7×7 input, 3×3 window, stride 1 → 5×5 = 25 outputs; 3·3·192 = 1728
    expect(conv()).toMatchObject({ M: 25, K: 1728, N: 384, groups: 1 });
    // padding 1 each side keeps 7×7 = 49; stride 2 with it → ⌊(7+2−3)/2⌋+1 = 4 → 16
    expect(conv({ padTop: 1, padLeft: 1, padBottom: 1, padRight: 1 }).M).toEqual(49);
    expect(conv({ padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, strideH: 2, strideW: 2 }).M).toEqual(16);
    // dilation 2: effective 5×5 window → 3×3 outputs
    expect(conv({ dilationH: 2, dilationW: 2 }).M).toEqual(9);
  });

  it('depthwise / grouped: per-group GEMMs', () => {
    expect(conv({ channels: 32, numFilters: 32, group: 32 })).toMatchObject({ M: 25, K: 9, N: 1, groups: 32 });
    expect(conv({ channels: 32, numFilters: 64, group: 4 })).toMatchObject({ K: 72, N: 16, groups: 4 });
  });

  it('bad geometry: every problem at once', () => {
    const p = problemsOf(() => conv({ channels: 30, numFilters: 31, group: 4, strideH: 0 }));
    expect(p.some((s) => s.includes('c.strideH'))).toBe(true);
    const q = problemsOf(() => conv({ channels: 30, numFilters: 31, group: 4 }));
    expect(q.length).toBe(2);
    expect(problemsOf(() => gemmViewOfGemm('g', 0, 2.5, 3)).length).toBe(2);
  });

  it('ifmap addresses follow SCALE-Sim: (row·W + col)·C + channel, −1 past the edge', () => {
    // 3×3 input, 2 channels, 2×2 window, stride 2 → SCALE-Sim output ⌈(3−2+2)/2⌉ = 2 per axis
    const [v] = parseTopologyCsv('h,\nL,3,3,2,2,2,1,2,\n', 't.csv', 'conv');
    expect([v.M, v.K]).toEqual([4, 8]);
    const a = ifmapAddressMatrix(v);
    // output (0,0): window rows 0–1, cols 0–1: pixel (r,c) channel ch → (r·3 + c)·2 + ch
    expect([...a.subarray(0, 8)]).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    // output (1,1) starts at input (2,2): only (2,2) is inside
    expect([...a.subarray(24, 32)]).toEqual([16, 17, -1, -1, -1, -1, -1, -1]);
  });
});

describe('topology CSV', () => {
  it('reads conv rows with SCALE-Sim conventions', () => {
    const text = 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n' +
      'Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,\n\n' +
      'Rect,10,12,3,3,4,8,1,2,\n' +
      'NoComma,5,5,1,1,2,2,1\n';
    const v = parseTopologyCsv(text, 'a.csv', 'conv');
    // ⌈(224 − 11 + 4)/4⌉ = ⌈54.25⌉ = 55 → 3025 output pixels
    // Rect: stride H 1, stride W 2 → ⌈(10−3+1)/1⌉ = 8 rows × ⌈(12−3+2)/2⌉ = ⌈5.5⌉ = 6 cols
    expect(v.map((x) => [x.name, x.M, x.K, x.N])).toEqual([
      ['Conv1', 3025, 363, 96],
      ['Rect', 48, 36, 8],
      ['NoComma', 25, 2, 2],
    ]);
  });

  it('DP rows become one layer per channel, as SCALE-Sim runs them', () => {
    const v = parseTopologyCsv('h,\nDP1,8,8,3,3,3,1,1,\n', 'a.csv', 'conv');
    expect(v.map((x) => x.name)).toEqual(['DP1Channel_0', 'DP1Channel_1', 'DP1Channel_2']);
    expect(v.every((x) => x.K === 9 && x.N === 1 && x.M === 36)).toBe(true);
  });

  it('gemm rows: name, M, N, K', () => {
    const [v] = parseTopologyCsv('Layer Name, M, N, K,\nTest 1, 128, 64, 256,', 'g.csv', 'gemm');
    expect([v.name, v.M, v.K, v.N, v.conv]).toEqual(['Test 1', 128, 256, 64, null]);
  });

  it('lists every bad row and field with file:line', () => {
    const text = 'header\nA,224,224,3,3,3,x,1,\nB,3,3,5,5,1,1,1,\nC,1,2,\nD,4,4,1,1,1,1,0,\n';
    const p = problemsOf(() => parseTopologyCsv(text, 'bad.csv', 'conv'));
    expect(p).toHaveLength(5);
    expect(p[0]).toMatch(/^bad\.csv:2 Num Filter: "x"/);
    expect(p[1]).toMatch(/^bad\.csv:3 Filter Height: 5 is larger/);
    expect(p[2]).toMatch(/^bad\.csv:3 Filter Width/);
    expect(p[3]).toMatch(/^bad\.csv:4: 2 value/);
    expect(p[4]).toMatch(/^bad\.csv:5 Stride Height/);
    expect(problemsOf(() => parseTopologyCsv('only header\n', 'e.csv', 'gemm'))[0]).toMatch(/no layers/);
  });
});

describe('planFolds: hand-calculated folds', () => {
  // One fold of an OS 4×4 array, K = 10: operands enter skewed, so PE (3,3) starts R−1 + C−1 = 6
  // cycles late and needs K = 10 steps; SCALE-Sim's demand matrix for the fold has
  // K + (R−1) + (C−1) = 16 rows: 16 cycles.
  it('os', () => {
    const p = planFolds(gemmViewOfGemm('g', 4, 10, 4), 4, 4, 'os');
    expect([p.rowFolds, p.colFolds, p.totalComputeCycles, p.kTile]).toEqual([1, 1, 16, 0]);
    expect(p.mappingEfficiency).toBe(1);
    expect(p.computeUtilization).toBeCloseTo(10 / 16, 12);
    // M = 9 on 4 rows → 3 row folds; N = 5 on 4 cols → 2 col folds; 6 folds × 16
    const q = planFolds(gemmViewOfGemm('g', 9, 10, 5), 4, 4, 'os');
    expect([q.rowFolds, q.colFolds, q.totalComputeCycles]).toEqual([3, 2, 96]);
    // used PEs: 9·5 = 45 of 6 folds · 16 PEs
    expect(q.mappingEfficiency).toBeCloseTo(45 / 96, 12);
  });

  // WS 4×4, K = 4 (one row fold), N = 4, M = 5 streamed: R = 4 cycles to load the weights, the
  // M = 5 inputs, R − 1 = 3 cycles of input skew over the rows and C − 1 = 3 of output skew over
  // the columns: 4 + 5 + 3 + 3 = 15 (SCALE-Sim's 2R + C + M − 2).
  it('ws and is', () => {
    const ws = planFolds(gemmViewOfGemm('g', 5, 4, 4), 4, 4, 'ws');
    expect([ws.rowFolds, ws.colFolds, ws.totalComputeCycles, ws.kTile]).toEqual([1, 1, 15, 4]);
    // SCALE-Sim's utilization denominator is 2R + 2C + T − 3 = 18 cycles: 16·5 MACs / (16·18)
    expect(ws.computeUtilization).toBeCloseTo(5 / 18, 12);
    // IS: K on rows, M on cols, N streamed: K = 4, M = 4, N = 5 → same shape of fold
    const is = planFolds(gemmViewOfGemm('g', 4, 4, 5), 4, 4, 'is');
    expect([is.rowFolds, is.colFolds, is.totalComputeCycles]).toEqual([1, 1, 15]);
  });

  it('groups repeat the per-group folds', () => {
    const v = conv({ channels: 8, numFilters: 8, group: 8 });
    const p = planFolds(v, 4, 4, 'os');
    expect(p.computeCyclesPerFold.length).toBe(8 * p.rowFolds * p.colFolds);
    expect(p.macs).toBe(8 * 25 * 9 * 1);
  });
});

function spec(mode: 'user' | 'calc', kb: number, bw: number, dataflow: 'os' | 'ws' | 'is' = 'os', rows = 8, cols = 8) {
  const input: ArchSpecInput = {
    name: 't',
    array: { rows, cols, dataflow },
    memories: {
      ifmap: { capacityBytes: kb * 1024, banks: 8, wordBits: 8 },
      filter: { capacityBytes: kb * 1024, banks: 8, wordBits: 8 },
      ofmap: { capacityBytes: kb * 1024, banks: 8, wordBits: 8 },
      dram: { bytesPerCycle: bw, latencyCycles: 0, mode },
    },
    memoryModel: 'scalesim',
  };
  return validateArchSpec(input);
}

describe('simulateScaleSim', () => {
  it('CALC: cycles are folds · fold cycles − 1 (SCALE-Sim reports the last cycle index)', () => {
    const [r] = simulateScaleSim(spec('calc', 64, 10), [gemmViewOfGemm('g', 9, 10, 5)]);
    // 3·1 folds on 8×8 (M = 9 → 2 row folds, N = 5 → 1 col fold) · (10 + 8 + 8 − 2 = 24) − 1
    expect([r.totalCycles, r.stallCycles, r.folds]).toEqual([2 * 24 - 1, 0, 2]);
    // OS SRAM reads: ifmap once per col fold, filter once per row fold; ofmap + (R + C) per fold
    expect(r.sram).toEqual({ ifmapReads: 90, filterReads: 2 * 50, ofmapWrites: 45 + 2 * 16 });
  });

  it('USER with everything on chip and a wide DRAM: no stalls, the CALC cycles', () => {
    for (const df of ['os', 'ws', 'is'] as const) {
      const v = [conv({ ifmapH: 6, ifmapW: 6, channels: 3, numFilters: 5 })];
      const [u] = simulateScaleSim(spec('user', 64, 64, df), v);
      const [c] = simulateScaleSim(spec('calc', 64, 64, df), v);
      expect(u.stallCycles).toBe(0);
      expect(u.totalCycles).toBe(c.totalCycles);
      // every operand word is fetched once: the active half holds all of it
      expect(u.dram.filterReads).toBeGreaterThanOrEqual(3 * 9 * 5);
    }
  });

  it('USER with a narrow DRAM stalls and re-reads what does not fit', () => {
    const v = [conv({ ifmapH: 9, ifmapW: 9, channels: 64, numFilters: 64 })];
    const [u] = simulateScaleSim(spec('user', 4, 2, 'ws'), v);
    const [c] = simulateScaleSim(spec('calc', 4, 2, 'ws'), v);
    expect(u.stallCycles).toBeGreaterThan(0);
    expect(u.totalCycles).toBe(c.totalCycles + u.stallCycles);
    // filter: 576·64 words, a 2 KiB active half: it must come from DRAM more than once
    expect(u.dram.filterReads).toBeGreaterThan(576 * 64);
  });

  it('USER rejects what SCALE-Sim cannot model', () => {
    expect(problemsOf(() => simulateScaleSim(spec('user', 64, 2.5), [gemmViewOfGemm('g', 2, 2, 2)]))[0]).toMatch(/bytesPerCycle/);
  });
});
