/** The preset hierarchies (arch/preset-hierarchy.ts) and today's fixed schedule written as a Timeloop mapping (sim/mapping/fixed-schedule.ts): energies from qloom's table worked out by hand, fold counts against SCALE-Sim's, DRAM traffic of a layer that fits, and the mapper against the fixed schedule. */
import { describe, expect, it } from 'vitest';
import { LEVEL, convMacs, presetErt, timeloopSpecOfPreset, type ConvDims } from '../../../arch/preset-hierarchy.js';
import { presetSpec } from '../../../arch/spec.js';
import { convDimsOfView, fixedScheduleSpec, padForArray, presetConstraints } from '../../../sim/mapping/fixed-schedule.js';
import { searchMappings } from '../../../sim/mapping/mapper.js';
import { Mapspace } from '../../../sim/mapping/mapspace.js';
import { evaluateTimeloop } from '../../../sim/mapping/timeloop-model.js';
import { gemmViewOfConv } from '../../../sim/timing/gemm-view.js';

const conv = (o: Partial<ConvDims>): ConvDims => ({ name: 'l', R: 3, S: 3, P: 8, Q: 8, C: 32, M: 32, N: 1, G: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, ...o });
const edge = presetSpec('edge-npu');

describe('preset hierarchy (edge-npu)', () => {
  it('prices each action by qloom\'s energy table (Horowitz 45 nm, hand-computed)', () => {
    const e = presetErt(edge);
    // glb: 256 KiB / 16 banks = 16 KiB per bank, between Horowitz's 8 KB (10 pJ) and 32 KB (20 pJ)
    // per 64 bits: 10 + (14 − 13)·(20 − 10)/(15 − 13) = 15 pJ; a 128-bit word is 30 pJ
    expect(e.glb!.readPj).toBeCloseTo(30, 12);
    expect(e.glb!.writePj).toBeCloseTo(30, 12);
    expect(e.glb!.updatePj).toBeCloseTo(30, 12);
    expect(e.dram.readPj).toBeCloseTo(1300, 9); // 1.3 nJ per 64 bits
    expect(e.weightReg.readPj).toBeCloseTo(0.23, 12); // regfile 0.2 + 0.03 pJ per 8 bits
    expect(e.accumulator.updatePj).toBeCloseTo(0.92, 12); // 32-bit partial sums
    expect(e.macPj).toBeCloseTo(0.2 + 0.1, 12); // int8 mult + 32-bit add
    const spec = timeloopSpecOfPreset(edge, conv({}));
    const glb = spec.storage.find((l) => l.name === LEVEL.glb)!;
    expect(glb.energy.readPj).toBeCloseTo(30, 12);
    expect(glb.blockSize).toBe(16); // 128-bit glb word of 8-bit values
    expect(glb.capacityWords).toBe(256 * 1024);
    expect(spec.storage.map((l) => l.name)).toEqual([LEVEL.inputReg, LEVEL.weightReg, LEVEL.accumulator, LEVEL.glb, LEVEL.dram]);
    const acc = spec.storage.find((l) => l.name === LEVEL.accumulator)!;
    expect(acc.capacityWords).toBe(16 * 256); // 16 rows × 1 KiB ÷ 4 B per column
    expect([acc.fanoutX, acc.fanoutY, glb.fanoutX, glb.fanoutY]).toEqual([1, 16, 16, 1]);
  });

  it('the fixed WS schedule is accepted, computes the layer\'s MACs and reads each weight, input and output from DRAM once when they fit', () => {
    const l = conv({});
    const f = fixedScheduleSpec(edge, l);
    expect(f.padding.extraMacs).toBe(0);
    expect(f.padding.rowFactors).toEqual({ C: 16, R: 1, S: 1 });
    expect(f.padding.colFactor).toBe(16);
    // SCALE-Sim: ⌈288/16⌉ row folds × ⌈32/16⌉ column folds
    expect(f.padding.folds).toBe(36);
    expect(f.padding.scaleSimFolds).toBe(36);
    expect(f.kFoldsAt).toBe(LEVEL.accumulator);
    const r = evaluateTimeloop(f.spec);
    expect(r.computes).toBe(9 * 64 * 32 * 32);
    expect(r.computeInstances).toBe(256);
    const dram = r.levels.find((x) => x.name === LEVEL.dram)!.dataSpaces;
    expect(dram.Weights.reads).toBe(3 * 3 * 32 * 32);
    expect(dram.Inputs.reads).toBe(10 * 10 * 32); // (8 − 1 + 3)² window, halo included
    expect(dram.Outputs.updates).toBe(8 * 8 * 32);
    // the weight register is filled once per fold and read once per streamed pixel
    const w = r.levels.find((x) => x.name === LEVEL.weightReg)!.dataSpaces.Weights;
    expect(w.fills).toBe(36);
    expect(w.reads).toBe(36 * 64);
  });

  it('pads M (and C ≥ rows) to SCALE-Sim\'s fold count, and the padded problem\'s MACs are computed', () => {
    const p = padForArray(edge, conv({ M: 17, C: 100, R: 1, S: 1 }));
    expect(p.padded.M).toBe(18); // 2 column folds of 9
    expect(p.padded.C).toBe(105); // 7 row folds of 15
    expect(p.folds).toBe(14);
    expect(p.scaleSimFolds).toBe(14);
    expect(p.extraMacs).toBeCloseTo((18 * 105) / (17 * 100) - 1, 12);
    const f = fixedScheduleSpec(edge, conv({ M: 17, C: 100, R: 1, S: 1 }));
    expect(evaluateTimeloop(f.spec).computes).toBe(convMacs(p.padded));
    // C < rows: the window's taps fill the rows, unpadded (3 × 3 taps × C = 1 → 9 rows)
    expect(padForArray(edge, conv({ C: 1 })).rowFactors).toEqual({ C: 1, R: 3, S: 3 });
  });

  it('a depthwise conv is G = channels with C = M = 1: each channel keeps its own 3×3 weights', () => {
    const view = gemmViewOfConv('dw', { ifmapH: 10, ifmapW: 10, filterH: 3, filterW: 3, channels: 24, numFilters: 24, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilationH: 1, dilationW: 1, group: 24 });
    const d = convDimsOfView(view);
    expect([d.C, d.M, d.G, d.P, d.Q]).toEqual([1, 1, 24, 10, 10]);
    const r = evaluateTimeloop(fixedScheduleSpec(edge, d).spec);
    expect(r.computes).toBe(view.M * view.K * view.N * view.groups);
    expect(r.levels.find((x) => x.name === LEVEL.dram)!.dataSpaces.Weights.reads).toBe(24 * 9);
  });

  it('the searched mapping costs no more energy than the fixed one on a small layer', () => {
    // (seeded: at this budget the search reaches 0.971× the fixed schedule's energy; on 3×3 layers
    // a budget of 150–300 does not always beat it — bench/mapper-vs-fixed.ts counts such layers)
    const small = conv({ R: 1, S: 1, P: 2, Q: 2, C: 16, M: 16 });
    const f = fixedScheduleSpec(edge, small);
    const fixed = evaluateTimeloop(f.spec).energyPj;
    const s = searchMappings(f.spec, presetConstraints(f.spec), { budget: 150, seed: 1 });
    expect(s.result.computes).toBe(convMacs(small));
    expect(s.result.energyPj).toBeLessThan(0.98 * fixed);
    // registers hold only their own data space
    const kept = Object.fromEntries(s.spec.storage.map((l) => [l.name, l.keep]));
    expect(kept[LEVEL.weightReg].slice(1)).toEqual([false, false]);
    expect([kept[LEVEL.inputReg][0], kept[LEVEL.inputReg][2]]).toEqual([false, false]);
    expect(kept[LEVEL.accumulator].slice(0, 2)).toEqual([false, false]);
  });

  it('a search can start from the fixed schedule: its point round-trips, and the result is never worse than it', () => {
    const l = conv({});
    const f = fixedScheduleSpec(edge, l);
    const fixed = evaluateTimeloop(f.spec);
    const space = new Mapspace(f.spec, presetConstraints(f.spec));
    const p = space.pointOf(f.spec)!;
    expect(p).not.toBeNull();
    expect(space.refusal(p)).toBeNull();
    const back = evaluateTimeloop(space.toSpec(p));
    expect([back.energyPj, back.cycles]).toEqual([fixed.energyPj, fixed.cycles]);
    for (const seed of [1, 2, 3]) {
      const s = searchMappings(f.spec, presetConstraints(f.spec), { budget: 60, seed, start: f.spec });
      expect(s.result.energyPj).toBeLessThanOrEqual(fixed.energyPj);
    }
    // a mapping the constraints forbid (a register keeping another register's data space) is refused
    const wrong = { ...f.spec, storage: f.spec.storage.map((lv) => (lv.name === LEVEL.weightReg ? { ...lv, keep: [true, true, false] } : lv)) };
    expect(() => searchMappings(f.spec, presetConstraints(f.spec), { budget: 60, start: wrong })).toThrow(/outside the constrained mapspace/);
  });

  it('a layer whose column fold of weights overflows the glb (ResNet-18 Conv5_1b on eyeriss-like) gets K folds out of the glb', () => {
    const eye = presetSpec('eyeriss-like');
    const f = fixedScheduleSpec(eye, conv({ P: 5, Q: 5, C: 512, M: 512 }));
    // 12 rows: C 512 → 516 (43 row folds of 12 per tap); 14 columns: M 512 → 518 (37 of 14)
    expect([f.padding.padded.C, f.padding.padded.M]).toEqual([516, 518]);
    expect(f.kFoldsAt).toBe(LEVEL.glb);
    const r = evaluateTimeloop(f.spec);
    expect(r.computes).toBe(9 * 25 * 516 * 518);
    // one column fold's weights (14 × 516 × 9 words) exceed the glb's 55,296 16-bit words, so the glb never holds them all
    const glb = r.levels.find((x) => x.name === LEVEL.glb)!.dataSpaces;
    expect(glb.Weights.utilizedCapacity).toBeLessThan(14 * 516 * 9);
    expect(glb.Weights.utilizedCapacity + glb.Inputs.utilizedCapacity + glb.Outputs.utilizedCapacity).toBeLessThanOrEqual(108 * 1024 / 2);
  });

  it('is written for input-stationary arrays too (SCALE-Sim IS): each input stays while all M filters pass it — counts by hand', () => {
    const is = { ...edge, array: { ...edge.array, dataflow: 'is' as const } };
    const f = fixedScheduleSpec(is, conv({}));
    // rows: K = 32·3·3 as WS (16 channels a fold, 18 K folds); columns: 16 of the 64 pixels (Q = 8
    // and a band of 2 rows of P): 4 pixel folds — SCALE-Sim's ⌈288/16⌉ × ⌈64/16⌉ = 72 folds
    expect([f.padding.rowFactors, f.padding.colFactors, f.padding.folds, f.padding.scaleSimFolds, f.padding.extraMacs]).toEqual([{ C: 16, R: 1, S: 1 }, { P: 2, Q: 8 }, 72, 72, 0]);
    expect(f.kFoldsAt).toBe(LEVEL.accumulator);
    const r = evaluateTimeloop(f.spec);
    const ds = (n: string) => r.levels.find((x) => x.name === n)!.dataSpaces;
    expect(r.computes).toBe(32 * 288 * 64);
    // per PE: one input per fold (72), read by each of the 32 filters passing it
    expect(ds(LEVEL.inputReg).Inputs.fills).toBe(72);
    expect(ds(LEVEL.inputReg).Inputs.reads).toBe(72 * 32);
    // the weight register is bypassed: the weights come from the glb, one per row per filter step, multicast across the columns
    expect(ds(LEVEL.weightReg).Weights).toBeUndefined();
    expect(ds(LEVEL.glb).Weights.reads).toBe(72 * 16 * 32);
    // per column: the 32 partial sums of its pixel, updated once per filter step (reduced down the
    // column) and read back in every K fold but the first
    expect(ds(LEVEL.accumulator).Outputs.updates).toBe(72 * 32);
    expect(ds(LEVEL.accumulator).Outputs.reads).toBe(4 * 17 * 32);
    // glb: 256 distinct inputs a fold (16 channels × 16 pixels, one filter tap), each output written once; DRAM compulsory
    expect(ds(LEVEL.glb).Inputs.reads).toBe(72 * 256);
    expect(ds(LEVEL.glb).Outputs.updates).toBe(64 * 32);
    expect([ds(LEVEL.dram).Weights.reads, ds(LEVEL.dram).Inputs.reads, ds(LEVEL.dram).Outputs.updates]).toEqual([32 * 32 * 9, 32 * 10 * 10, 64 * 32]);
    expect(r.cycles).toBe((32 * 288 * 64) / 256);
  });

  it('refuses input-stationary on an array without input registers (nothing holds the input)', () => {
    const is = { ...edge, array: { ...edge.array, dataflow: 'is' as const }, pe: { ...edge.pe, registers: { ...edge.pe.registers, inputBytes: 0 } } };
    expect(() => fixedScheduleSpec(is, conv({}))).toThrow(/input-stationary schedule needs a per-PE input register/);
  });
});

describe('the fixed output-stationary schedule (mcu-npu: 8×8, an 8-entry accumulator per column)', () => {
  const mcu = presetSpec('mcu-npu');

  it('keeps each output in its PE over the whole K, multicasts weights down rows and inputs across columns', () => {
    const f = fixedScheduleSpec(mcu, conv({}));
    // Q = 8 across the 8 rows, M = 32 in 4 column folds of 8: SCALE-Sim's ⌈64/8⌉ × ⌈32/8⌉ folds
    expect(f.padding.rowFactors).toEqual({ P: 1, Q: 8 });
    expect([f.padding.colFactor, f.padding.folds, f.padding.scaleSimFolds, f.padding.extraMacs]).toEqual([8, 32, 32, 0]);
    expect(f.kFoldsAt).toBe(LEVEL.accumulator);
    const r = evaluateTimeloop(f.spec);
    const K = 3 * 3 * 32;
    expect(r.computes).toBe(K * 64 * 32);
    const ds = (n: string) => r.levels.find((x) => x.name === n)!.dataSpaces;
    // per PE: one output per fold, K MACs each, 32 folds — a fresh weight and input per MAC
    expect(ds(LEVEL.weightReg).Weights.fills).toBe(32 * K);
    expect(ds(LEVEL.inputReg).Inputs.fills).toBe(32 * K);
    // per column: its 8 rows' outputs updated once per MAC, and read back for all but each first add
    expect(ds(LEVEL.accumulator).Outputs.updates).toBe(8 * 32 * K);
    expect(ds(LEVEL.accumulator).Outputs.reads).toBe(8 * 32 * (K - 1));
    // glb: per fold K weights for each of 8 columns (multicast down the rows), K inputs for each of 8
    // rows (multicast across the columns); every output written once
    expect(ds(LEVEL.glb).Weights.reads).toBe(32 * K * 8);
    expect(ds(LEVEL.glb).Inputs.reads).toBe(32 * K * 8);
    expect(ds(LEVEL.glb).Outputs.updates).toBe(64 * 32);
    // the layer fits the 64 KiB glb: DRAM reads each weight and input (10×10 window) once
    expect(ds(LEVEL.dram).Weights.reads).toBe(K * 32);
    expect(ds(LEVEL.dram).Inputs.reads).toBe(10 * 10 * 32);
    expect(ds(LEVEL.dram).Outputs.updates).toBe(64 * 32);
  });

  it('narrow images take whole pixel rows: Q = 3 on 8 rows is 2 rows of P per fold, P padded to whole folds', () => {
    const p = padForArray(mcu, conv({ P: 5, Q: 3 }));
    // ⌊8/3⌋ = 2 rows of P per fold: ⌈5/2⌉ = 3 folds of ⌈5/3⌉ = 2 → P 6; SCALE-Sim: ⌈15/8⌉ = 2 pixel folds
    expect(p.rowFactors).toEqual({ P: 2, Q: 3 });
    expect(p.padded.P).toBe(6);
    expect([p.folds, p.scaleSimFolds]).toEqual([3 * 4, 2 * 4]);
  });

  it('a layer too big for the glb is split at DRAM, and a search from it is never worse', () => {
    const big = conv({ P: 56, Q: 56, C: 64, M: 64 });
    const f = fixedScheduleSpec(mcu, big);
    expect(f.atDram.length).toBeGreaterThan(0);
    const fixed = evaluateTimeloop(f.spec);
    expect(fixed.computes).toBe(convMacs(big));
    const s = searchMappings(f.spec, presetConstraints(f.spec), { budget: 60, seed: 1, start: f.spec });
    expect(s.result.energyPj).toBeLessThanOrEqual(fixed.energyPj);
  });
});
