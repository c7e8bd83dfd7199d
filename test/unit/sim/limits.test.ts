/**
 * Absurd sizes (issue 17 item 2): timing needs no memory proportional to a feature map — a layer is
 * planned in closed form and the engine fast-forwards identical sub-tiles — and the limits that are
 * real (exact counts below 2^53, sub-tiles stepped one by one, SCALE-Sim's USER-mode replay, the
 * topology's fields and layers) are refused before the memory or time is spent, naming the row.
 * Non-finite or inexact counts in a result are an InvariantError (item 3). Expected numbers are
 * worked out by hand in each test.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { presetSpec, validateArchSpec, type ArchSpecInput } from '../../../arch/spec.js';
import { InvariantError } from '../../../nets/errors.js';
import { EventBuffer } from '../../../sim/engine/emit.js';
import { planGemmLayer, simulate, sizeLayer, workloadFromViews } from '../../../sim/engine/index.js';
import { NativeEngine } from '../../../sim/engine/native.js';
import { checkRunCounts, type RunResult } from '../../../sim/result.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';
import { MAX_EVENT_TILES } from '../../../sim/timing/limits.js';
import { simulateScaleSim } from '../../../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../../../sim/timing/topology.js';

const HEADER = 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n';
/** the row: a 100000×100000×64 ifmap, 3×3 filters, 64 of them */
const HUGE = `${HEADER}huge, 100000, 100000, 3, 3, 64, 64, 1,\n`;
// output 99998 × 99998 = 9,999,600,004 pixels; K = 3·3·64 = 576; N = 64
const M = 99998 * 99998;
const MACS = M * 576 * 64;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** MiB of memory the process holds outside the JS heap (typed arrays) and in it, now */
const heldMiB = (): number => {
  const m = process.memoryUsage();
  return (m.arrayBuffers + m.heapUsed) / 2 ** 20;
};

describe('topology limits: refused at the row, before any layer is built', () => {
  it('a field above 2^31 − 1, a row over 2^53 MACs and a DP row of 70000 layers: every problem with file:line', () => {
    const text = `${HEADER}a, 2147483648, 8, 3, 3, 1, 1, 1,\nb, 8, 8, 3, 3, 1, 1, 1,\nDPc, 8, 8, 3, 3, 70000, 1, 1,\n`;
    const p = configError(() => parseTopologyCsv(text, 't.csv', 'conv')).problems;
    expect(p.map((x) => x.path)).toEqual(['t.csv:2 IFMAP Height', 't.csv:4 Channels']);
    expect(p[0].message).toContain('2^31 − 1 = 2147483647');
    expect(p[1].message).toContain('70000 layers, more than the 65536');
    // M·N·K = 10^6 · 10^6 · 10^6 = 10^18 > 2^53 − 1 ≈ 9.007e15
    const g = configError(() => parseTopologyCsv('h,\ng, 1000000, 1000000, 1000000,\n', 'g.csv', 'gemm')).problems;
    expect(g.map((x) => x.path)).toEqual(['g.csv:2']);
    expect(g[0].message).toContain('1.00e18 MACs');
  });

  it('more than 65536 layers in all (DP rows count one per channel): one problem for the file', () => {
    const text = `${HEADER}DPa, 4, 4, 1, 1, 40000, 1, 1,\nDPb, 4, 4, 1, 1, 40000, 1, 1,\n`;
    const p = configError(() => parseTopologyCsv(text, 't.csv', 'conv')).problems;
    expect(p).toEqual([{ path: 't.csv', message: '80000 layers (DP rows count one per channel), more than the 65536 a topology may have' }]);
  });

  it('views remember their row', () => {
    const v = parseTopologyCsv(`${HEADER}a, 8, 8, 3, 3, 2, 4, 1,\n\nDPb, 8, 8, 3, 3, 2, 1, 1,\n`, 'x.csv', 'conv');
    expect(v.map((x) => [x.name, x.origin])).toEqual([
      ['a', 'x.csv:2'],
      ['DPbChannel_0', 'x.csv:4'],
      ['DPbChannel_1', 'x.csv:4'],
    ]);
  });
});

describe('closed form: the 100000×100000×64 row', () => {
  it('plans in O(1): MACs and fold counts without per-fold or per-sub-tile memory', () => {
    const spec = presetSpec('edge-npu');
    const [l] = workloadFromViews(parseTopologyCsv(HUGE, 'h.csv', 'conv'), spec).layers;
    const before = heldMiB();
    const t0 = performance.now();
    const p = planGemmLayer(spec, l);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(heldMiB() - before).toBeLessThan(64);
    expect(p.accounting.macs).toBe(MACS);
    // edge-npu 16×16 WS: K = 576 on rows → 36 row folds; N = 64 on columns → 4 column folds
    expect([p.fold!.rowFolds, p.fold!.colFolds]).toEqual([36, 4]);
    expect(p.tiles.count).toBe(144 * p.subTiles);
    expect(p.subTiles).toBeGreaterThan(1e6);
  });

  it('native model, 8×8 OS with DRAM that never stalls: exactly the fold cycles, via fast-forward', () => {
    // with CALC DRAM, no requant latency and lanes ≥ cols a layer takes Σ fold cycles:
    // OS folds K + R + C − 2 = 576 + 8 + 8 − 2 = 590 cycles; ⌈9,999,600,004 / 8⌉ = 1,249,950,001
    // row folds × ⌈64 / 8⌉ = 8 column folds → 590 · 1,249,950,001 · 8 = 5,899,764,004,720
    const spec = validateArchSpec({
      name: 'os8',
      array: { rows: 8, cols: 8, dataflow: 'os' },
      memories: { glb: { capacity: '64 KiB' }, dram: { bytesPerCycle: 16, latencyCycles: 0, mode: 'calc' } },
      requant: { lanesPerCycle: 8, latencyCycles: 0 },
    });
    const w = workloadFromViews(parseTopologyCsv(HUGE, 'h.csv', 'conv'), spec);
    const before = heldMiB();
    const t0 = performance.now();
    const r = simulate(spec, w);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(heldMiB() - before).toBeLessThan(64);
    expect(r.totals.cycles).toBe(5_899_764_004_720);
    expect(r.totals.computeCycles).toBe(5_899_764_004_720);
    expect(r.totals.macs).toBe(MACS);
  });

  it('scalesim memory model, CALC: SCALE-Sim\'s closed form, folds · fold cycles − 1', () => {
    // scalesim-default: 32×32 OS; ⌈9,999,600,004 / 32⌉ = 312,487,501 row folds × 2 column folds,
    // 576 + 32 + 32 − 2 = 638 cycles each → 638 · 624,975,002 − 1 = 398,734,051,275
    const spec = presetSpec('scalesim-default');
    const r = simulate(spec, workloadFromViews(parseTopologyCsv(HUGE, 'h.csv', 'conv'), spec));
    expect(r.layers[0].cycles).toBe(398_734_051_275);
    expect(r.layers[0].tiles).toBe(624_975_002);
  });
});

describe('closed form: which folds fetch which slice (a layer\'s DRAM bytes by fold class)', () => {
  // 4×4 array, int8, GEMM views (the ifmap is the M×K matrix): bytes = elements. A buffer of
  // 64 KiB holds whole layers (resident: each slice fetched once); 32 or 64 B split 3/8, 3/8, 1/4
  // leave the operands streamed: fetched again by every fold that needs them, except the fold
  // right after one that used the same slice when that slice fits one of its two slots whole
  const run = (df: 'os' | 'ws' | 'is', cap: number, m: number, k: number, n: number) => {
    const spec = validateArchSpec({ name: 'f', array: { rows: 4, cols: 4, dataflow: df }, memories: { glb: { capacityBytes: cap }, dram: { bytesPerCycle: 4, latencyCycles: 0, mode: 'calc' } } });
    const l = simulate(spec, workloadFromViews([gemmViewOfGemm('L', m, k, n)], spec)).layers[0];
    return [l.bits.dramBuffer.inputs / 8, l.bits.dramBuffer.weights / 8];
  };
  it('OS (rows: M, columns: N): ifmap slices per row fold, weight slices per column fold', () => {
    // M=8 K=4 N=8: 2 × 2 folds; slices of 4·4 = 16 B
    // resident: ifmap by the first column fold (2 × 16), weights by the first row fold (2 × 16)
    expect(run('os', 65536, 8, 4, 8)).toEqual([32, 32]);
    // 64 B: shares 24 / 24 / 16; streamed: the ifmap slice changes every fold (4 × 16); a 16-B
    // weight slice does not fit a 12-B slot, so it streams through and every row fold fetches it again (4 × 16)
    expect(run('os', 64, 8, 4, 8)).toEqual([64, 64]);
    // 128 B: shares 48 / 48 / 32: the ifmap (32 B) is resident; the weights with their bias and
    // requant parameters (32 + 32 + 40 B) are not, but a 16-B slice fits a 24-B slot and serves
    // both row folds of its column (2 × 16)
    expect(run('os', 128, 8, 4, 8)).toEqual([32, 32]);
    // M=4: one row fold — consecutive folds use the same 16-B ifmap slice; with 32 B (12-B
    // slots) it streams through and both column folds fetch it (2 × 16); with 64 B it fits: 16
    expect(run('os', 32, 4, 4, 8)).toEqual([32, 32]);
    expect(run('os', 64, 4, 4, 8)[0]).toEqual(16);
  });
  it('WS (rows: K, columns: N): ifmap slices per row fold, a weight slice per fold', () => {
    // M=4 K=8 N=8: 2 × 2 folds of 16-B slices; resident ifmap 2 × 16, weights 4 × 16
    expect(run('ws', 65536, 4, 8, 8)).toEqual([32, 64]);
    expect(run('ws', 64, 4, 8, 8)).toEqual([64, 64]);
  });
  it('IS (rows: K, columns: M): an ifmap slice per fold, weight slices per row fold', () => {
    // M=8 K=8 N=4: 2 × 2 folds; ifmap 4 × 16; resident weights by the first column fold 2 × 16
    expect(run('is', 65536, 8, 8, 4)).toEqual([64, 32]);
    // streamed: every fold (4 × 16)
    expect(run('is', 128, 8, 8, 4)).toEqual([64, 64]);
    // K=4: one row fold — consecutive folds use the same 16-B weight slice, but it does not fit a
    // 12-B slot: fetched by both (2 × 16); with 128 B (24-B slots) it stays: 16
    expect(run('is', 64, 8, 4, 4)).toEqual([32, 32]);
    expect(run('is', 128, 8, 4, 4)).toEqual([32, 16]);
  });
});

describe('real limits: refused before the work, naming the row and the limit', () => {
  it('more sub-tiles to step than a run allows (varying WS outputs on a 12×14 array with 108 KiB)', () => {
    const spec = presetSpec('eyeriss-like');
    const w = workloadFromViews(parseTopologyCsv(HUGE, 'h.csv', 'conv'), spec);
    expect(sizeLayer(spec, w.layers[0]).eventTiles).toBeGreaterThan(MAX_EVENT_TILES);
    const t0 = performance.now();
    const e = configError(() => simulate(spec, w));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e.problems.map((p) => p.path)).toEqual(['h.csv:2 (layer huge)']);
    expect(e.problems[0].message).toContain(`more than the ${MAX_EVENT_TILES} (2^25)`);
    // the row names its file: the error adds no second copy
    expect(e.message.startsWith('h.csv:2 (layer huge): ')).toBe(true);
  });

  it('cycles that could pass 2^53: 10^8 bytes at 1e-8 bytes/cycle (1 kB/s at 100 GHz)', () => {
    // a GEMM 10000×10000 · 10000×1 reads a 10^8-byte ifmap: 10^8 / 1e-8 = 1e16 cycles > 2^53 − 1
    const spec = validateArchSpec({ name: 'slow', clock: '100 GHz', array: { rows: 8, cols: 8 }, memories: { glb: { capacity: '64 KiB' }, dram: { bandwidth: '1 kB/s', latency: '0 s' } } });
    expect(spec.memories.dram.bytesPerCycle).toBe(1e-8);
    const w = workloadFromViews([gemmViewOfGemm('g', 10000, 10000, 1)], spec, 'w.csv');
    const e = configError(() => simulate(spec, w));
    expect(e.source).toBe('w.csv');
    expect(e.problems[0].path).toBe('layer g');
    expect(e.problems[0].message).toMatch(/cycles \(upper bound\), more than qloom counts exactly \(2\^53 − 1/);
  });

  it('SCALE-Sim USER mode: a layer with more operand words than it may replay', () => {
    // M·K + K·N + M·N + ifmap = 10000·4000 + 4000·1 + 10000·1 + 10000·4000 = 80,014,000 > 2^25
    const input: ArchSpecInput = {
      name: 'user',
      array: { rows: 8, cols: 8, dataflow: 'ws' },
      memories: { ifmap: { capacityBytes: 4096, wordBits: 8 }, filter: { capacityBytes: 4096, wordBits: 8 }, ofmap: { capacityBytes: 4096, wordBits: 8 }, dram: { bytesPerCycle: 4, latencyCycles: 0, mode: 'user' } },
      memoryModel: 'scalesim',
    };
    const spec = validateArchSpec(input);
    const v = gemmViewOfGemm('big', 10000, 4000, 1, 'g.csv:7');
    const e = configError(() => simulateScaleSim(spec, [v]));
    expect(e.problems[0].path).toBe('g.csv:7 (layer big)');
    expect(e.problems[0].message).toContain('8.00e7 operand words');
    // simulate checks the whole workload first
    expect(configError(() => simulate(spec, workloadFromViews([v], spec))).problems[0].path).toBe('g.csv:7 (layer big)');
  });

  it('the engine stops after its budget of stepped sub-tiles', () => {
    // 4×4 OS, M = 400 K = 4 N = 4: 100 folds of one sub-tile, all stepped (no fast-forward)
    const spec = validateArchSpec({ name: 't', array: { rows: 4, cols: 4, dataflow: 'os' }, memories: { glb: { capacity: '64 KiB' }, dram: { bytesPerCycle: 1, latencyCycles: 3 } } });
    const [l] = workloadFromViews([gemmViewOfGemm('L', 400, 4, 4)], spec).layers;
    const p = planGemmLayer(spec, l);
    expect(p.tiles.count).toBe(100);
    const r = new NativeEngine(spec).runLayer(0, p.tiles, 0, new EventBuffer(undefined), null, { fastForward: false, budget: 5 });
    expect([r.overBudget, r.stepped]).toEqual([true, 5]);
    const all = new NativeEngine(spec).runLayer(0, p.tiles, 0, new EventBuffer(undefined), null, { fastForward: false });
    expect([all.overBudget, all.stepped]).toEqual([false, 100]);
  });
});

describe('checkRunCounts: what a run reports is finite and exact', () => {
  const spec = validateArchSpec({ name: 't', array: { rows: 4, cols: 4 }, memories: { glb: { capacity: '64 KiB' } } });
  const good = (): RunResult => simulate(spec, workloadFromViews([gemmViewOfGemm('L', 8, 8, 8)], spec));
  const patched = (f: (r: { layers: { cycles: number }[]; totals: { energyPj: number } }) => void): RunResult => {
    const r = JSON.parse(JSON.stringify(good())) as RunResult;
    f(r as unknown as { layers: { cycles: number }[]; totals: { energyPj: number } });
    return r;
  };

  it('a real result passes', () => {
    expect(() => checkRunCounts(good())).not.toThrow();
  });

  for (const [what, v] of [
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['2^53 + 2 (inexact)', 2 ** 53 + 2],
    ['a fraction', 1.5],
    ['negative', -1],
  ] as const) {
    it(`a layer's cycles = ${what} is an InvariantError naming the field`, () => {
      const r = patched((x) => (x.layers[0].cycles = v));
      expect(() => checkRunCounts(r)).toThrow(InvariantError);
      expect(() => checkRunCounts(r)).toThrow(`layers[0] (L).cycles = ${v}`);
    });
  }

  it('non-finite energy is an InvariantError too', () => {
    expect(() => checkRunCounts(patched((x) => (x.totals.energyPj = Infinity)))).toThrow('totals.energyPj = Infinity');
  });
});
