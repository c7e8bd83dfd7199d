import { describe, expect, it } from 'vitest';
import type { Problem } from '../../../arch/errors.js';
import { formatBytes, parseQuantity, readQuantity, type QuantityKind } from '../../../arch/units.js';

function value(input: unknown, kind: QuantityKind): number {
  const r = parseQuantity(input, kind);
  if (!r.ok) throw new Error(`expected ${String(input)} to parse: ${r.message}`);
  return r.value;
}

describe('units: sizes (bytes; K/M/G binary in sizes)', () => {
  it('parses binary and JEDEC-style sizes to hand-computed bytes', () => {
    expect(value('256 KiB', 'size')).toBe(256 * 1024); // 262144
    expect(value('64 KB', 'size')).toBe(65536); // KB = 1024 B in a size (SCALE-Sim's kB)
    expect(value('64 kB', 'size')).toBe(65536);
    expect(value('1 MB', 'size')).toBe(1048576);
    expect(value('24 MiB', 'size')).toBe(25165824);
    expect(value('108 KiB', 'size')).toBe(110592);
    expect(value('2 * 128 KiB', 'size')).toBe(262144);
    expect(value('224 * 2 B', 'size')).toBe(448);
    expect(value('64 bits', 'size')).toBe(8);
    expect(value('8 Kb', 'size')).toBe(1024); // 8 Kib = 8192 bits
    expect(value('64000 B', 'size')).toBe(64000); // a decimal size is written out
  });
  it('takes plain numbers and unit-less strings as bytes', () => {
    expect(value(4096, 'size')).toBe(4096);
    expect(value('65536', 'size')).toBe(65536);
  });
});

describe('units: rates (bytes/s; decimal prefixes in rates)', () => {
  it('parses bandwidths', () => {
    expect(value('16 GB/s', 'rate')).toBe(16e9);
    expect(value('12.8 GB/s', 'rate')).toBe(12_800_000_000);
    expect(value('16 KB/s', 'rate')).toBe(16_000);
    expect(value('1 GiB/s', 'rate')).toBe(1073741824);
    expect(value('64 bit * 60 MHz', 'rate')).toBe(480_000_000); // 8 B × 60e6 /s
    expect(value('10 B / 1 ns', 'rate')).toBe(1e10); // float noise removed
  });
});

describe('units: frequency, time, energy', () => {
  it('parses to Hz, s and pJ', () => {
    expect(value('1 GHz', 'frequency')).toBe(1e9);
    expect(value('800 MHz', 'frequency')).toBe(8e8);
    expect(value('100 ns', 'time')).toBe(1e-7);
    expect(value('1.5 us', 'time')).toBe(1.5e-6);
    expect(value('0.2 pJ', 'energy')).toBe(0.2);
    expect(value('1.3 nJ', 'energy')).toBe(1300);
    expect(value('1.3 nJ / 64', 'energy')).toBe(20.3125);
    expect(value('0.2 pJ + 0.03 pJ', 'energy')).toBe(0.23);
    expect(value(3.1, 'energy')).toBe(3.1); // plain number = pJ
    expect(value('2 * 64', 'number')).toBe(128);
  });
});

describe('units: errors are returned, not thrown', () => {
  it('names the wrong dimension', () => {
    const r = parseQuantity('16 GHz', 'size');
    expect(r).toEqual({ ok: false, message: '"16 GHz" is not a size (it is a frequency)' });
    const r2 = parseQuantity('16 GB/s', 'size');
    expect(r2.ok).toBe(false);
    expect(!r2.ok && r2.message).toContain('it is a rate');
  });
  it('rejects unknown symbols, wrong types, empty strings and non-finite numbers', () => {
    for (const bad of ['abc', '256 KBB', '', true, null, [1], {}, Number.NaN, Infinity, '1/0']) {
      const r = parseQuantity(bad, 'size');
      expect(r.ok, String(bad)).toBe(false);
    }
    expect(parseQuantity('256 KiB + 2', 'size').ok).toBe(false); // unit + number
    expect(parseQuantity('3 pJ', 'number').ok).toBe(false);
  });
  it('does not let an expression redefine units or import functions', () => {
    const r = parseQuantity('createUnit("cycle")', 'number');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain('not allowed');
    expect(parseQuantity('import({x: 1})', 'number').ok).toBe(false);
  });
  it('readQuantity collects a problem with its path', () => {
    const problems: Problem[] = [];
    expect(readQuantity('256 KiB', 'size', 'memories.glb.capacity', problems)).toBe(262144);
    expect(readQuantity('256 Kq', 'size', 'memories.glb.capacity', problems)).toBeUndefined();
    expect(readQuantity('1 GHz', 'time', 'memories.dram.latency', problems)).toBeUndefined();
    expect(problems.map((p) => p.path)).toEqual(['memories.glb.capacity', 'memories.dram.latency']);
    expect(problems[1].message).toBe('"1 GHz" is not a time (it is a frequency)');
  });
  it('formats bytes', () => {
    expect(formatBytes(262144)).toBe('256 KiB');
    expect(formatBytes(25165824)).toBe('24 MiB');
    expect(formatBytes(1000)).toBe('1000 B');
  });
});
