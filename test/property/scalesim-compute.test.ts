/**
 * SCALE-Sim's compute model (sim/timing/compute.ts) and memory model as properties with bounds
 * derived by hand, for random GEMM shapes, arrays and dataflows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateArchSpec } from '../../arch/spec.js';
import { planFolds, type TimingDataflow } from '../../sim/timing/compute.js';
import { gemmViewOfGemm } from '../../sim/timing/gemm-view.js';
import { simulateScaleSim } from '../../sim/timing/scalesim-memory.js';

const dfArb = fc.constantFrom<TimingDataflow>('os', 'ws', 'is');
const shapeArb = fc.record({
  M: fc.integer({ min: 1, max: 400 }),
  K: fc.integer({ min: 1, max: 400 }),
  N: fc.integer({ min: 1, max: 400 }),
  R: fc.integer({ min: 1, max: 64 }),
  C: fc.integer({ min: 1, max: 64 }),
  df: dfArb,
});

describe('planFolds properties', () => {
  it('cycles cover the MACs, folds tile the mapped matrix, efficiencies are fractions', () => {
    fc.assert(
      fc.property(shapeArb, ({ M, K, N, R, C, df }) => {
        const p = planFolds(gemmViewOfGemm('g', M, K, N), R, C, df);
        // which GEMM dimension sits on rows / cols / time
        const [onRows, onCols, time] = df === 'os' ? [M, N, K] : df === 'ws' ? [K, N, M] : [K, M, N];
        expect(p.rowFolds).toBe(Math.ceil(onRows / R));
        expect(p.colFolds).toBe(Math.ceil(onCols / C));
        expect(p.computeCyclesPerFold.length).toBe(p.rowFolds * p.colFolds);
        let sum = 0;
        for (const c of p.computeCyclesPerFold) {
          // a fold streams `time` steps and at least one cycle of pipeline fill
          expect(c).toBeGreaterThanOrEqual(time + (R > 1 || C > 1 ? 1 : 0));
          sum += c;
        }
        expect(p.totalComputeCycles).toBe(sum);
        expect(p.macs).toBe(M * K * N);
        // R·C MACs per cycle at most
        expect(p.totalComputeCycles * R * C).toBeGreaterThanOrEqual(p.macs);
        expect(p.mappingEfficiency).toBeGreaterThan(0);
        expect(p.mappingEfficiency).toBeLessThanOrEqual(1);
        expect(p.computeUtilization).toBeLessThanOrEqual(p.mappingEfficiency);
        // a full array (every dimension a multiple of the array) maps at 100 %
        if (onRows % R === 0 && onCols % C === 0) expect(p.mappingEfficiency).toBe(1);
      }),
    );
  });

  it('is monotonic in every GEMM dimension', () => {
    fc.assert(
      fc.property(shapeArb, fc.constantFrom('M', 'K', 'N'), fc.integer({ min: 1, max: 100 }), ({ M, K, N, R, C, df }, dim, extra) => {
        const a = planFolds(gemmViewOfGemm('g', M, K, N), R, C, df);
        const grown = { M, K, N, [dim]: { M, K, N }[dim as 'M'] + extra };
        const b = planFolds(gemmViewOfGemm('g', grown.M, grown.K, grown.N), R, C, df);
        expect(b.totalComputeCycles).toBeGreaterThanOrEqual(a.totalComputeCycles);
      }),
    );
  });

  it('one fold when the mapped matrix fits the array: time + pipeline fill and drain', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 500 }), (R, C, T) => {
        // OS: M ≤ R, N ≤ C, K = T streamed; the last PE starts (R−1)+(C−1) cycles late
        expect(planFolds(gemmViewOfGemm('g', R, T, C), R, C, 'os').totalComputeCycles).toBe(T + (R - 1) + (C - 1));
        // WS: R weight-load cycles first, then the same skewed stream of M = T inputs
        expect(planFolds(gemmViewOfGemm('g', T, R, C), R, C, 'ws').totalComputeCycles).toBe(R + T + (R - 1) + (C - 1));
        // IS: the roles of inputs and weights swapped
        expect(planFolds(gemmViewOfGemm('g', C, R, T), R, C, 'is').totalComputeCycles).toBe(R + T + (R - 1) + (C - 1));
      }),
    );
  });
});

describe('SCALE-Sim memory model properties', () => {
  const specFor = (mode: 'user' | 'calc', bytes: number, bw: number, df: TimingDataflow, R: number, C: number) =>
    validateArchSpec({
      name: 't',
      array: { rows: R, cols: C, dataflow: df },
      memories: {
        ifmap: { capacityBytes: bytes, banks: 1, wordBits: 8 },
        filter: { capacityBytes: bytes, banks: 1, wordBits: 8 },
        ofmap: { capacityBytes: bytes, banks: 1, wordBits: 8 },
        dram: { bytesPerCycle: bw, latencyCycles: 0, mode },
      },
      memoryModel: 'scalesim',
    });

  it('USER = CALC cycles + stalls, stalls ≥ 0, and no stalls when all operands fit and DRAM is fast', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        dfArb,
        fc.integer({ min: 16, max: 4096 }),
        fc.integer({ min: 1, max: 16 }),
        (M, K, N, R, C, df, bytes, bw) => {
          const v = [gemmViewOfGemm('g', M, K, N)];
          const [calc] = simulateScaleSim(specFor('calc', bytes, bw, df, R, C), v);
          const [user] = simulateScaleSim(specFor('user', bytes, bw, df, R, C), v);
          expect(user.stallCycles).toBeGreaterThanOrEqual(0);
          expect(user.totalCycles).toBe(calc.totalCycles + user.stallCycles);
          // every operand word crosses DRAM at least once (SCALE-Sim fetches whole DRAM lines)
          expect(user.dram.filterReads).toBeGreaterThanOrEqual(K * N);
          expect(user.dram.ofmapWrites).toBeGreaterThanOrEqual(M * N);
          // a big SRAM and a wide DRAM: nothing waits
          const [roomy] = simulateScaleSim(specFor('user', 1 << 20, 1 << 12, df, R, C), v);
          expect(roomy.stallCycles).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
