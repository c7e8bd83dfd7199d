import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../helpers/errors.js';
import { ConfigError } from '../../../arch/errors.js';
import {
  type ArchSpec,
  archHash,
  bufferFor,
  buffersOf,
  loadArchSpec,
  PRESET_NAMES,
  presetSpec,
  validateArchSpec,
} from '../../../arch/spec.js';

/** SCALE-Sim golden runs: ../shared beside the repository (DESIGN.md) */
const GOLDEN = resolve(import.meta.dirname, '../../../../shared/golden/scalesim');

const minimal = () => ({
  name: 'tiny',
  array: { rows: 4, cols: 8 },
  memories: { glb: { capacity: '32 KiB' } },
});


/** Rebuilds an object with its keys in reverse order, at every level. */
function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]));
  return v;
}

describe('validateArchSpec: defaults and normalization', () => {
  it('fills every default and derives per-cycle values', () => {
    const s = validateArchSpec(minimal());
    expect(s.clockHz).toBe(1e9);
    expect(s.array).toEqual({ rows: 4, cols: 8, dataflow: 'ws', pes: 32 });
    expect(s.operands).toEqual({ weightBits: 8, activationBits: 8 });
    expect(s.accumulator).toEqual({ bits: 32, overflow: 'wrap', psumBits: 32 });
    expect(s.pe).toEqual({ form: 'raw', weightOperandBits: 8, activationOperandBits: 8, registers: { weightBytes: 1, inputBytes: 1, psumBytes: 4 } });
    expect(s.memories.layout).toBe('unified');
    expect(s.memories.glb).toEqual({ capacityBytes: 32768, banks: 1, wordBits: 64, readPorts: 1, writePorts: 1, readBytesPerCycle: 8, writeBytesPerCycle: 8 });
    expect(s.memories.bufferOf).toEqual({ ifmap: 'glb', filter: 'glb', ofmap: 'glb' });
    // 16 GB/s at 1 GHz = 16 B/cycle; 100 ns at 1 GHz = 100 cycles
    expect(s.memories.dram).toEqual({
      bandwidthBytesPerS: 16e9,
      bytesPerCycle: 16,
      latencyS: 1e-7,
      latencyCycles: 100,
      mode: 'user',
      energyPerBitPj: null,
      baseAddress: { ifmap: 0, filter: 10_000_000, ofmap: 20_000_000 },
    });
    expect(s.dma).toEqual({ engines: 2, maxOutstanding: 8, burstBytes: 64 });
    expect(s.requant).toEqual({ lanesPerCycle: 8, latencyCycles: 3, perChannel: true, perChannelClamp: true, multiplierBits: 32, fused: ['relu', 'relu6', 'clip'], lutEntries: 256 });
    expect(s.memoryModel).toBe('native');
    expect(s.energyTable).toBe('horowitz-45nm');
    expect(s.scalesim).toEqual({ readRequestBuffer: null, writeRequestBuffer: null });
    expect(bufferFor(s, 'filter')).toBe(s.memories.glb);
    expect(buffersOf(s).map((b) => b.name)).toEqual(['glb']);
  });

  it('derives DRAM per-cycle values from the clock (hand-computed)', () => {
    const s = validateArchSpec({ ...minimal(), clock: '800 MHz', memories: { glb: { capacity: '1 MiB' }, dram: { bandwidth: '12.8 GB/s', latency: '100 ns' } } });
    expect(s.memories.dram.bytesPerCycle).toBe(16); // 12.8e9 / 8e8
    expect(s.memories.dram.latencyCycles).toBe(80); // 1e-7 · 8e8
    const t = validateArchSpec({ ...minimal(), clockHz: 3e8, memories: { glb: { capacity: '1 MiB' }, dram: { bytesPerCycle: 4, latencyCycles: 30 } } });
    expect(t.memories.dram.bandwidthBytesPerS).toBe(1.2e9);
    expect(t.memories.dram.latencyS).toBe(1e-7);
    // latency not a whole number of cycles rounds up: 10 ns at 150 MHz = 1.5 → 2 cycles
    const u = validateArchSpec({ ...minimal(), clock: '150 MHz', memories: { glb: { capacity: '1 MiB' }, dram: { latency: '10 ns' } } });
    expect(u.memories.dram.latencyCycles).toBe(2);
  });

  it('split buffers, zp-subtract operands, fused lists', () => {
    const s = validateArchSpec({
      name: 'split',
      array: { rows: 2, cols: 2, dataflow: 'is' },
      pe: { form: 'zp-subtract' },
      memories: { ifmap: { capacity: '8 KB' }, filter: { capacityBytes: 4096, banks: 4, wordBits: 32, readPorts: 2 }, ofmap: { capacity: '2 * 4 KiB' } },
      requant: { fused: ['tanh', 'relu', 'gelu'] },
    });
    expect(s.memories.layout).toBe('split');
    expect(s.memories.ifmap!.capacityBytes).toBe(8192);
    expect(s.memories.filter!.readBytesPerCycle).toBe(4 * 2 * 4); // banks · ports · bytes per word
    expect(s.memories.filter!.writeBytesPerCycle).toBe(16);
    expect(bufferFor(s, 'ofmap').capacityBytes).toBe(8192);
    expect(s.pe.weightOperandBits).toBe(9);
    expect(s.pe.activationOperandBits).toBe(9);
    expect(s.requant.fused).toEqual(['relu', 'tanh', 'gelu']); // canonical order
    expect(validateArchSpec({ ...minimal(), requant: { fused: false } }).requant.fused).toEqual([]);
    expect(validateArchSpec({ ...minimal(), requant: { fused: true } }).requant.fused).toHaveLength(10);
  });

  it('a normalized spec validates again to an equal spec (every preset)', () => {
    for (const name of PRESET_NAMES) {
      const s = presetSpec(name);
      const again = validateArchSpec(JSON.parse(JSON.stringify(s)));
      expect(again).toEqual(s);
      expect(archHash(again)).toBe(archHash(s));
    }
  });
});

describe('validateArchSpec: every problem at once', () => {
  it('collects a bad unit, unknown keys, negative rows, bad dataflow and bad policy into ONE ConfigError', () => {
    const input = {
      name: 'broken',
      arary: { rows: 2 },
      array: { rows: -4, cols: 16, dataflow: 'wss' },
      accumulator: { bits: 32, overflow: 'clamp' },
      memories: {
        glb: { capacity: '256 KBB', bnaks: 4 },
        dram: { bandwidth: '3 GHz' },
      },
      requant: { fused: ['relu', 'sigmod'] },
    };
    let err: unknown;
    try {
      validateArchSpec(input, 'broken.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.name).toBe('ConfigError');
    expect(e.source).toBe('broken.json');
    const byPath = Object.fromEntries(e.problems.map((p) => [p.path, p.message]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        'arary',
        'array.rows',
        'array.dataflow',
        'accumulator.overflow',
        'memories.glb.capacity',
        'memories.glb.bnaks',
        'memories.dram.bandwidth',
        'requant.fused[1]',
      ].sort(),
    );
    expect(byPath.arary).toBe('unknown key (did you mean "array"?)');
    expect(byPath['memories.glb.bnaks']).toBe('unknown key (did you mean "banks"?)');
    expect(byPath['array.rows']).toContain('-4 is below the minimum 1');
    expect(byPath['array.dataflow']).toBe('"wss" is not one of: ws, os, is (did you mean "ws"?)');
    expect(byPath['accumulator.overflow']).toBe('"clamp" is not one of: wrap, saturate, ideal');
    expect(byPath['memories.glb.capacity']).toContain('"256 KBB" is not a size');
    expect(byPath['memories.dram.bandwidth']).toBe('"3 GHz" is not a rate (it is a frequency)');
    expect(byPath['requant.fused[1]']).toContain('did you mean "sigmoid"');
    // the message lists them all, with paths
    expect(e.message.startsWith('broken.json: 8 problems:')).toBe(true);
    for (const p of e.problems) expect(e.message).toContain(`${p.path}: ${p.message}`);
  });

  it('reports missing required fields and wrong types', () => {
    const ps = problemsOf(() => validateArchSpec({ array: { rows: 1.5 }, memories: {}, accumulator: { bits: 4 }, operands: 'int8' }));
    const paths = ps.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'array.rows', 'array.cols', 'memories', 'accumulator.bits', 'operands']));
    expect(ps.find((p) => p.path === 'accumulator.bits')!.message).toContain('below the minimum 8');
    expect(problemsOf(() => validateArchSpec('edge-npu'))[0].message).toContain('must be an object');
  });

  it('checks cross-field rules', () => {
    const ps = problemsOf(() =>
      validateArchSpec({
        name: 'x',
        array: { rows: 2, cols: 2, dataflow: 'rs' },
        accumulator: { bits: 16, psumBits: 24 },
        memories: { glb: { capacity: '1 KiB', wordBits: 12 }, ifmap: { capacity: '1 KiB' }, dram: { bandwidth: '16 GB/s', bytesPerCycle: 10, latency: '10 ns', latencyCycles: 3 } },
        requant: { lutEntries: 100 },
        memoryModel: 'scalesim',
        energyTable: 'horowitz-45mn',
      }),
    );
    const byPath = Object.fromEntries(ps.map((p) => [p.path, p.message]));
    expect(byPath['array.dataflow']).toContain('row-stationary is not simulated');
    expect(byPath['accumulator.psumBits']).toContain('wider than the accumulator');
    expect(byPath['memories.glb.wordBits']).toContain('multiple of 8');
    expect(byPath.memories).toContain('cannot be mixed');
    expect(byPath['memories.dram.bytesPerCycle']).toContain('disagrees with bandwidth');
    expect(byPath['memories.dram.latencyCycles']).toContain('disagrees with latency');
    expect(byPath['requant.lutEntries']).toBe('100 is not a power of two');
    expect(byPath.energyTable).toContain('did you mean "horowitz-45nm"');
  });

  it('requant.perChannelClamp follows perChannel by default and needs it', () => {
    expect(validateArchSpec({ ...minimal(), requant: { perChannel: false } }).requant.perChannelClamp).toBe(false);
    expect(validateArchSpec({ ...minimal(), requant: { perChannelClamp: false } }).requant).toMatchObject({ perChannel: true, perChannelClamp: false });
    const ps = problemsOf(() => validateArchSpec({ ...minimal(), requant: { perChannel: false, perChannelClamp: true } }));
    expect(ps.map((p) => p.path)).toEqual(['requant.perChannelClamp']);
    expect(ps[0].message).toContain('need requant.perChannel true');
  });

  it('the scalesim memory model needs split buffers', () => {
    const ps = problemsOf(() => validateArchSpec({ ...minimal(), memoryModel: 'scalesim' }));
    expect(ps).toEqual([{ path: 'memoryModel', message: expect.stringContaining('needs split buffers') }]);
  });

  it('derived values are accepted only when they agree', () => {
    const s = JSON.parse(JSON.stringify(validateArchSpec(minimal())));
    s.memories.glb.readBytesPerCycle = 99;
    s.array.pes = 31;
    const ps = problemsOf(() => validateArchSpec(s));
    expect(ps.map((p) => p.path).sort()).toEqual(['array.pes', 'memories.glb.readBytesPerCycle']);
  });
});

describe('ArchSpec objects', () => {
  it('are deep-frozen', () => {
    const s = validateArchSpec(minimal());
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.memories.glb)).toBe(true);
    expect(Object.isFrozen(s.memories.dram.baseAddress)).toBe(true);
    expect(Object.isFrozen(s.requant.fused)).toBe(true);
    expect(() => {
      (s.array as { rows: number }).rows = 99;
    }).toThrow(TypeError);
    expect(() => {
      (s.requant.fused as string[]).push('tanh');
    }).toThrow(TypeError);
    expect(Object.isFrozen(presetSpec('tpu-like').memories.glb)).toBe(true);
  });

  it('are JSON-serializable', () => {
    for (const name of PRESET_NAMES) {
      const s = presetSpec(name);
      expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    }
  });
});

describe('archHash', () => {
  const input = {
    name: 'h',
    clock: '500 MHz',
    array: { rows: 8, cols: 8, dataflow: 'os' },
    accumulator: { bits: 24, overflow: 'saturate' },
    memories: { glb: { capacity: '64 KiB', banks: 2 }, dram: { bandwidth: '4 GB/s', latency: '80 ns' } },
    requant: { fused: ['relu', 'sigmoid'] },
  };

  it('is a sha256 hex string, stable across key order and unit spelling', () => {
    const h = archHash(validateArchSpec(input));
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(archHash(validateArchSpec(reverseKeys(input)))).toBe(h);
    const respelled = { ...input, clockHz: 5e8, clock: undefined, memories: { glb: { capacityBytes: 65536, banks: 2 }, dram: { bytesPerCycle: 8, latencyCycles: 40 } } };
    expect(archHash(validateArchSpec(JSON.parse(JSON.stringify(respelled))))).toBe(h);
    expect(archHash(validateArchSpec({ ...input, requant: { fused: ['sigmoid', 'relu'] } }))).toBe(h);
  });

  it('ignores labels, changes with the hardware', () => {
    const h = archHash(validateArchSpec(input));
    expect(archHash(validateArchSpec({ ...input, name: 'other', description: 'd', source: 's' }))).toBe(h);
    expect(archHash(validateArchSpec({ ...input, array: { ...input.array, rows: 16 } }))).not.toBe(h);
    expect(archHash(validateArchSpec({ ...input, accumulator: { bits: 24, overflow: 'wrap' } }))).not.toBe(h);
  });

  it('differs between presets', () => {
    const hashes = new Set(PRESET_NAMES.map((n) => archHash(presetSpec(n))));
    expect(hashes.size).toBe(PRESET_NAMES.length);
  });
});

describe('loadArchSpec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-arch-'));

  it('loads presets by name', () => {
    expect(loadArchSpec('edge-npu')).toBe(presetSpec('edge-npu'));
  });

  it('names near misses of preset names', () => {
    const ps = problemsOf(() => loadArchSpec('edge-nup'));
    expect(ps[0].message).toContain('did you mean "edge-npu"');
  });

  it('loads JSON and YAML files, resolving a relative energy table next to the file', () => {
    writeFileSync(
      join(dir, 'table.json'),
      JSON.stringify({ name: 't', entries: [{ component: 'dram', action: 'read', energy: '2.6 nJ', bits: 64, scaling: 'bits' }] }),
    );
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ ...minimal(), energyTable: 'table.json' }));
    const a = loadArchSpec(join(dir, 'a.json'));
    expect(a.energyTable).toBe(join(dir, 'table.json'));
    writeFileSync(
      join(dir, 'b.yaml'),
      ['name: from-yaml', 'clock: 800 MHz', 'array: { rows: 16, cols: 16, dataflow: ws }', 'memories:', '  glb: { capacity: 256 KiB }', '  dram: { bandwidth: 12.8 GB/s }', ''].join('\n'),
    );
    const b = loadArchSpec(join(dir, 'b.yaml'));
    expect(b.name).toBe('from-yaml');
    expect(b.memories.glb!.capacityBytes).toBe(262144);
    expect(b.memories.dram.bytesPerCycle).toBe(16);
  });

  it('reports unreadable files, bad syntax and bad table files as ConfigErrors naming the file', () => {
    expect(problemsOf(() => loadArchSpec(join(dir, 'missing.json')))[0].message).toContain('cannot read');
    writeFileSync(join(dir, 'bad.json'), '{ "name": ');
    expect(problemsOf(() => loadArchSpec(join(dir, 'bad.json')))[0].message).toContain('not valid JSON');
    writeFileSync(join(dir, 'badtable.json'), JSON.stringify({ name: 'bt', entries: [{ component: 'dram', action: 'read', energy: '2.6 nQ', bits: 64, scaling: 'bits' }] }));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...minimal(), energyTable: 'badtable.json' }));
    const ps = problemsOf(() => loadArchSpec(join(dir, 'c.json')));
    expect(ps).toEqual([{ path: 'energyTable(badtable.json).entries[0].energy', message: expect.stringContaining('is not an energy') }]);
    writeFileSync(join(dir, 'd.json'), JSON.stringify({ ...minimal(), energyTable: 'nope.json' }));
    expect(problemsOf(() => loadArchSpec(join(dir, 'd.json')))[0].message).toContain('file not found');
  });

  it('loads a SCALE-Sim .cfg', () => {
    const s: ArchSpec = loadArchSpec(join(GOLDEN, 'gemm_ws_16x16', 'config.cfg'));
    expect(s.array).toEqual({ rows: 16, cols: 16, dataflow: 'ws', pes: 256 });
    expect(s.memoryModel).toBe('scalesim');
  });
});
