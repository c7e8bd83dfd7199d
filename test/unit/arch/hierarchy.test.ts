import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { PRESETS } from '../../../arch/presets.js';
import { resolve } from 'node:path';
import { PRESET_NAMES, archHash, engineHierarchyProblem, hierarchyInputOf, hierarchyOf, loadArchSpec, presetSpec, validateArchSpec } from '../../../arch/spec.js';
import { NativeEngine } from '../../../sim/engine/native.js';

const ALL = ['weights', 'inputs', 'outputs'];

function problemsOf(input: unknown): { path: string; message: string }[] {
  try {
    validateArchSpec(input, 'h.json');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('arch storage written as a hierarchy of levels', () => {
  it('every preset written as a hierarchy normalizes to the same spec and hash', () => {
    for (const name of PRESET_NAMES) {
      const spec = presetSpec(name);
      const input = hierarchyInputOf(spec);
      expect(input.memories, name).not.toHaveProperty('glb');
      const back = validateArchSpec(input, `${name} as a hierarchy`);
      expect(back, name).toEqual(spec);
      expect(archHash(back), name).toBe(archHash(spec));
    }
  });

  it('edge-npu written by hand as levels with units is edge-npu', () => {
    const { memories: _, pe: __, ...rest } = PRESETS['edge-npu'];
    const spec = validateArchSpec({
      ...rest,
      pe: { form: 'raw' },
      hierarchy: [
        { name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '12.8 GB/s', latency: '100 ns', mode: 'user' },
        { name: 'GlobalBuffer', class: 'sram', keeps: ALL, capacity: '256 KiB', banks: 16, wordBits: 128, readPorts: 1, writePorts: 1 },
        // registers in any order, innermost last
        { name: 'PsumReg', class: 'regfile', keeps: ['outputs'], capacity: '256 * 4 B' },
        { name: 'WeightReg', class: 'regfile', keeps: ['weights'], capacity: '1 B' },
        { name: 'InputReg', class: 'regfile', keeps: ['inputs'], capacity: '1 B' },
      ],
    });
    expect(spec).toEqual(presetSpec('edge-npu'));
  });

  it('SCALE-Sim-style split buffers come from three levels keeping one data space each', () => {
    const spec = validateArchSpec({
      name: 'split',
      array: { rows: 8, cols: 8 },
      hierarchy: [
        { name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '10 GB/s' },
        { name: 'Filters', class: 'sram', keeps: ['weights'], capacity: '32 KiB' },
        { name: 'Ifmaps', class: 'sram', keeps: ['inputs'], capacity: '16 KiB' },
        { name: 'Ofmaps', class: 'sram', keeps: ['outputs'], capacity: '8 KiB' },
      ],
    });
    expect(spec.memories.layout).toBe('split');
    expect([spec.memories.ifmap!.capacityBytes, spec.memories.filter!.capacityBytes, spec.memories.ofmap!.capacityBytes]).toEqual([16384, 32768, 8192]);
    // no register level written: every PE register is bypassed
    expect(spec.pe.registers).toEqual({ weightBytes: 0, inputBytes: 0, psumBytes: 0 });
  });

  it('levels between the buffer and the registers are kept, with their instances, and the event engine refuses them by name', () => {
    const spec = validateArchSpec({
      name: 'deep',
      array: { rows: 4, cols: 8 },
      hierarchy: [
        { name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '10 GB/s' },
        { name: 'GLB', class: 'sram', keeps: ALL, capacity: '64 KiB' },
        { name: 'RowBuf', class: 'sram', per: 'row', keeps: ['inputs'], capacity: '256 B' },
        { name: 'ColSpad', class: 'regfile', per: 'column', keeps: ['weights', 'outputs'], capacity: '128 B', wordBits: 16 },
        { name: 'WReg', class: 'regfile', keeps: ['weights'], capacity: '2 B' },
      ],
    });
    const levels = hierarchyOf(spec);
    expect(levels.map((l) => [l.name, l.instances, l.keeps.join('+'), l.capacityBytes])).toEqual([
      ['DRAM', 1, 'weights+inputs+outputs', null],
      ['GlobalBuffer', 1, 'weights+inputs+outputs', 65536],
      ['RowBuf', 4, 'inputs', 256],
      ['ColSpad', 8, 'weights+outputs', 128],
      ['WeightReg', 32, 'weights', 2],
    ]);
    expect(validateArchSpec(hierarchyInputOf(spec))).toEqual(spec);
    expect(engineHierarchyProblem(presetSpec('edge-npu'))).toBeNull();
    expect(() => new NativeEngine(spec)).toThrow(ConfigError);
    expect(() => new NativeEngine(spec)).toThrow(/"RowBuf", "ColSpad" between its buffer and its PE registers/);
  });

  it('the README\'s example arch file loads: edge-npu plus a buffer per column', () => {
    const spec = loadArchSpec(resolve(import.meta.dirname, '../../../arch/examples/edge-npu-colbuf.json'));
    expect(hierarchyOf(spec).map((l) => `${l.name}×${l.instances}`)).toEqual(['DRAM×1', 'GlobalBuffer×1', 'ColumnBuffer×16', 'WeightReg×256', 'InputReg×256', 'PsumReg×256']);
    // without the column buffer it is edge-npu's storage
    const { innerLevels: _, ...memories } = spec.memories;
    expect(memories).toEqual(presetSpec('edge-npu').memories);
    expect(spec.pe.registers).toEqual(presetSpec('edge-npu').pe.registers);
  });

  it('reports every problem of every level at once, each at its level', () => {
    const problems = problemsOf({
      name: 'bad',
      array: { rows: 4, cols: 4 },
      memories: { glb: { capacity: '1 MiB' } },
      hierarchy: [
        { name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '10 GB/s' },
        { name: 'GLB', class: 'sram', keeps: ALL, capacity: '12 parsecs' },
        { name: 'WReg', class: 'regfile', keeps: ['weights'], capacity: '1 B', banks: 2 },
        { name: 'IReg', class: 'regfile', keeps: ['input'] },
        { name: 'GLB', class: 'cache', keeps: ALL },
      ],
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toContain('memories');
    expect(paths).toContain('hierarchy[1] (GLB).capacity');
    expect(paths).toContain('hierarchy[2] (WReg).banks');
    expect(paths).toContain('hierarchy[3] (IReg).keeps');
    expect(paths).toContain('hierarchy[4].name');
    expect(paths.some((p) => p.endsWith('.class'))).toBe(true);
    expect(problems.find((p) => p.path === 'hierarchy[3] (IReg).keeps')!.message).toMatch(/"input" is not a data space/);
  });

  it('refuses shapes it cannot simulate, saying which level and why', () => {
    const noDram = problemsOf({ name: 'x', array: { rows: 4, cols: 4 }, hierarchy: [{ name: 'GLB', class: 'sram', keeps: ALL, capacity: '1 MiB' }] });
    expect(noDram.map((p) => p.path)).toEqual(['hierarchy[0] (GLB)']);
    expect(noDram[0].message).toMatch(/outermost level must be the DRAM/);
    const partial = problemsOf({
      name: 'x',
      array: { rows: 4, cols: 4 },
      hierarchy: [
        { name: 'DRAM', class: 'dram', keeps: ALL },
        { name: 'WBuf', class: 'sram', keeps: ['weights'], capacity: '1 MiB' },
        { name: 'IBuf', class: 'sram', keeps: ['inputs'], capacity: '1 MiB' },
      ],
    });
    expect(partial).toHaveLength(1);
    expect(partial[0].message).toMatch(/none keeps outputs/);
    // a problem in a converted field still names the level it came from
    const small = problemsOf({ name: 'x', array: { rows: 4, cols: 4 }, hierarchy: [{ name: 'DRAM', class: 'dram', keeps: ALL, bandwidth: '-3 GB/s' }, { name: 'G', class: 'sram', keeps: ALL, capacity: '1 MiB' }] });
    expect(small.map((p) => p.path)).toEqual(['hierarchy[0] (DRAM).bandwidth']);
  });
});
