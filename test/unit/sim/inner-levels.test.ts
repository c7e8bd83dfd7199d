/**
 * A hierarchy deeper than the event engine's (arch/hierarchy.ts inner levels) in the Timeloop model:
 * the level's instances and fanouts, the fixed schedule with the level idle (counts equal to the
 * arch without it), a mapping that uses it counted by hand, split buffers as three levels, and
 * the mapper under the level's keep constraints.
 */
import { describe, expect, it } from 'vitest';
import { timeloopSpecOfPreset, type ConvDims } from '../../../arch/preset-hierarchy.js';
import { PRESETS } from '../../../arch/presets.js';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';
import type { TimeloopSpec } from '../../../arch/timeloop.js';
import { fixedScheduleSpec, noFixedSchedule, presetConstraints } from '../../../sim/mapping/fixed-schedule.js';
import { searchMappings } from '../../../sim/mapping/mapper.js';
import { evaluateTimeloop } from '../../../sim/mapping/timeloop-model.js';

const ALL = ['weights', 'inputs', 'outputs'];
const { memories: _, pe: __, ...edgeRest } = PRESETS['edge-npu'];
/** edge-npu with a 1 KiB, 32-bit-wide buffer per array column between the glb and the PEs */
const deep = validateArchSpec({
  ...edgeRest,
  name: 'edge-npu-colbuf',
  pe: { form: 'raw' },
  hierarchy: [
    { name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '12.8 GB/s', latency: '100 ns', mode: 'user' },
    { name: 'GlobalBuffer', class: 'sram', keeps: ALL, capacity: '256 KiB', banks: 16, wordBits: 128, readPorts: 1, writePorts: 1 },
    { name: 'ColumnBuffer', class: 'sram', per: 'column', keeps: ['weights', 'inputs'], capacity: '1 KiB', wordBits: 32 },
    { name: 'WeightReg', class: 'regfile', keeps: ['weights'], capacity: '1 B' },
    { name: 'InputReg', class: 'regfile', keeps: ['inputs'], capacity: '1 B' },
    { name: 'PsumReg', class: 'regfile', keeps: ['outputs'], capacity: '256 * 4 B' },
  ],
});
// a 1×1 conv, C = 16 on the rows, M = 32: two folds of 16 columns, 4×4 output pixels streaming
const L: ConvDims = { name: 'c', R: 1, S: 1, P: 4, Q: 4, C: 16, M: 32, N: 1, G: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1 };
const M = 5; // dimension index of M in R S P Q C M N G

const counts = (spec: TimeloopSpec, level: string) => evaluateTimeloop(spec).levels.find((l) => l.name === level)!.dataSpaces;

describe('a hierarchy with a level between the buffer and the registers', () => {
  it('places the level with its instances: 16 column buffers under a glb that fans out 16 ways', () => {
    const s = timeloopSpecOfPreset(deep, L);
    const col = s.storage.find((l) => l.name === 'ColumnBuffer')!;
    const glb = s.storage.find((l) => l.name === 'GlobalBuffer')!;
    expect(s.storage.map((l) => l.name)).toEqual(['InputReg', 'WeightReg', 'Accumulator', 'ColumnBuffer', 'GlobalBuffer', 'DRAM']);
    // 1 KiB of 8-bit words, a 32-bit port: 4 words a block
    expect([col.instances, col.meshX, col.meshY, col.fanoutX, col.fanoutY, col.capacityWords, col.blockSize]).toEqual([16, 16, 1, 1, 1, 1024, 4]);
    expect([glb.fanoutX, glb.fanoutY]).toEqual([16, 1]);
    expect(col.keep).toEqual([true, true, false]);
  });

  it('the fixed schedule leaves it idle: every count and the energy equal the arch without it', () => {
    const f = fixedScheduleSpec(deep, L);
    const flat = fixedScheduleSpec(presetSpec('edge-npu'), L);
    const a = evaluateTimeloop(f.spec);
    const b = evaluateTimeloop(flat.spec);
    expect(f.spec.storage.find((l) => l.name === 'ColumnBuffer')!.keep).toEqual([false, false, false]);
    expect(a.energyPj).toBe(b.energyPj);
    expect(a.cycles).toBe(b.cycles);
    expect(a.levels.filter((l) => l.name !== 'ColumnBuffer')).toEqual(b.levels);
  });

  it('keeping the inputs there across the two M folds halves the glb input reads (hand count)', () => {
    const f = fixedScheduleSpec(deep, L).spec;
    expect(f.storage.find((l) => l.name === 'GlobalBuffer')!.temporal.factors[M]).toBe(2);
    // before: each M fold streams C·P·Q = 256 inputs from the glb (multicast to the 16 columns)
    expect(counts(f, 'GlobalBuffer').Inputs.reads).toBe(2 * 256);
    const moved: TimeloopSpec = {
      ...f,
      storage: f.storage.map((l) => {
        if (l.name === 'GlobalBuffer') return { ...l, temporal: { ...l.temporal, factors: l.temporal.factors.map((x, d) => (d === M ? 1 : x)) } };
        if (l.name === 'ColumnBuffer') return { ...l, temporal: { ...l.temporal, factors: l.temporal.factors.map((x, d) => (d === M ? 2 : x)) }, keep: [false, true, false] };
        return l;
      }),
    };
    // after: the glb sends the 256 inputs once; each column buffer is filled with them once and
    // read by both folds
    expect(counts(moved, 'GlobalBuffer').Inputs.reads).toBe(256);
    expect(counts(moved, 'ColumnBuffer').Inputs).toMatchObject({ fills: 256, reads: 512 });
    // (not cheaper here: 16 column buffers read 512 times cost more than 256 glb reads of 16-word blocks)
  });

  it('the mapper, starting from the fixed schedule, ends below it and keeps the level to its data spaces', () => {
    const f = fixedScheduleSpec(deep, L).spec;
    const r = searchMappings(f, presetConstraints(f, deep), { objective: 'energy', budget: 300, seed: 1, start: f });
    expect(r.result.energyPj).toBeLessThan(evaluateTimeloop(f).energyPj);
    // the level may keep only what it is built for
    const col = r.spec.storage.find((l) => l.name === 'ColumnBuffer')!;
    expect(col.keep[2]).toBe(false);
  });

  it('split buffers are three levels keeping one data space each, and have no fixed schedule', () => {
    const ss = presetSpec('scalesim-default');
    const s = timeloopSpecOfPreset(ss, L);
    expect(s.storage.map((l) => `${l.name}:${l.keep.map(Number).join('')}`).slice(-4)).toEqual(['OfmapBuffer:001', 'FilterBuffer:100', 'IfmapBuffer:010', 'DRAM:111']);
    expect(noFixedSchedule(ss)).toMatch(/split ifmap \/ filter \/ ofmap buffers/);
    expect(() => fixedScheduleSpec(ss, L)).toThrow(/search a mapping or give one/);
    // the placeholder mapping (everything at DRAM) is a valid point the mapper improves on
    const r = searchMappings(s, presetConstraints(s, ss), { objective: 'energy', budget: 200, seed: 1 });
    expect(r.result.energyPj).toBeLessThan(evaluateTimeloop(s).energyPj);
  });
});
