/**
 * Physically meaningful ranges of an arch spec (arch/spec.ts RANGES, minBufferBytes; issue 17
 * items 3 and 6): every rate, latency, clock and capacity outside its range is a ConfigError
 * problem at its path that names the range, all of them listed at once; the ends of each range
 * are accepted. Expected sizes are worked out by hand in each test.
 */
import { describe, expect, it } from 'vitest';
import { validateEnergyTable } from '../../../arch/energy.js';
import { ConfigError } from '../../../arch/errors.js';
import { minBufferBytes, RANGES, validateArchSpec } from '../../../arch/spec.js';

type Obj = Record<string, unknown>;

/** a valid 16×16 int8 spec with one 64 KiB buffer, patched */
function spec(patch: (s: { [k: string]: Obj }) => void = () => {}): Obj {
  const s: { [k: string]: Obj } = {
    array: { rows: 16, cols: 16 },
    memories: { glb: { capacity: '64 KiB' }, dram: {} as Obj },
    dma: {},
    pe: { registers: {} },
  };
  patch(s);
  return { name: 'r', ...s };
}

function problemsOf(input: unknown): { path: string; message: string }[] {
  try {
    validateArchSpec(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const dram = (s: { [k: string]: Obj }): Obj => (s.memories as { dram: Obj }).dram;

describe('arch ranges: each bound refused with its path and range', () => {
  const cases: [string, (s: { [k: string]: Obj }) => void, string, string][] = [
    ['clock too fast', (s) => (s.clock = '1e308 Hz' as unknown as Obj), 'clock', '1 kHz … 100 GHz'],
    ['clock too slow', (s) => (s.clockHz = 999 as unknown as Obj), 'clockHz', '1 kHz … 100 GHz'],
    ['bandwidth 1e-300 B/s', (s) => (dram(s).bandwidth = '1e-300 B/s'), 'memories.dram.bandwidth', '1 kB/s … 1 PB/s'],
    ['bandwidth above 1 PB/s', (s) => (dram(s).bandwidthBytesPerS = 2e15), 'memories.dram.bandwidthBytesPerS', '1 kB/s … 1 PB/s'],
    // 1e-9 B/cycle at the default 1 GHz = 1 B/s
    ['bytes per cycle below 1 kB/s', (s) => (dram(s).bytesPerCycle = 1e-9), 'memories.dram.bytesPerCycle', '1 kB/s … 1 PB/s'],
    ['latency 1e300 s', (s) => (dram(s).latency = '1e300 s'), 'memories.dram.latency', '0 … 1 ms'],
    // 2,000,000 cycles at 1 GHz = 2 ms
    ['latency in cycles above 1 ms', (s) => (dram(s).latencyCycles = 2_000_000), 'memories.dram.latencyCycles', '0 … 1 ms'],
    ['energy per bit above 1 µJ', (s) => (dram(s).energyPerBit = '2 uJ'), 'memories.dram.energyPerBit', '1e6 pJ'],
    ['base address past 2^30', (s) => (dram(s).baseAddress = { ifmap: 2 ** 30 + 1 }), 'memories.dram.baseAddress.ifmap', '1073741824'],
    ['buffer above 1 TiB', (s) => ((s.memories as { glb: Obj }).glb = { capacity: '2 TiB' }), 'memories.glb.capacity', 'at most 1 TiB'],
    ['PE register above 1 MiB', (s) => ((s.pe as { registers: Obj }).registers = { psum: '2 MiB' }), 'pe.registers.psum', '0 … 1 MiB per PE'],
    ['DMA burst above 1 MiB', (s) => (s.dma = { burst: '2 MiB' }), 'dma.burst', '1 B … 1 MiB'],
  ];
  for (const [what, patch, path, range] of cases) {
    it(what, () => {
      const p = problemsOf(spec(patch));
      expect(p.map((x) => x.path)).toEqual([path]);
      expect(p[0].message).toContain(range);
    });
  }

  it('the ends of each range are accepted', () => {
    const lo = validateArchSpec(spec((s) => {
      s.clock = '1 kHz' as unknown as Obj;
      dram(s).bandwidth = '1 kB/s';
      dram(s).latency = '0 s';
    }));
    expect([lo.clockHz, lo.memories.dram.bandwidthBytesPerS, lo.memories.dram.latencyCycles]).toEqual([1e3, 1e3, 0]);
    // 1 kB/s at 1 kHz = 1 B/cycle
    expect(lo.memories.dram.bytesPerCycle).toBe(1);
    const hi = validateArchSpec(spec((s) => {
      s.clock = '100 GHz' as unknown as Obj;
      dram(s).bandwidth = '1 PB/s';
      dram(s).latency = '1 ms';
      (s.memories as { glb: Obj }).glb = { capacity: '1 TiB' };
      (s.pe as { registers: Obj }).registers = { psum: '1 MiB' };
    }));
    // 1 ms at 100 GHz = 1e8 cycles; 1e15 B/s at 1e11 Hz = 1e4 B/cycle
    expect([hi.clockHz, hi.memories.dram.latencyCycles, hi.memories.dram.bytesPerCycle, hi.memories.glb!.capacityBytes, hi.pe.registers.psumBytes]).toEqual([1e11, 1e8, 1e4, 2 ** 40, 2 ** 20]);
  });

  it('lists every problem at once (the issue\'s 1e-300 B/s, 1e300 s, 1e308 Hz and a 1-byte buffer)', () => {
    const p = problemsOf(
      spec((s) => {
        s.clock = '1e308 Hz' as unknown as Obj;
        dram(s).bandwidth = '1e-300 B/s';
        dram(s).latency = '1e300 s';
        (s.memories as { glb: Obj }).glb = { capacity: '1 B' };
      }),
    );
    expect(p.map((x) => x.path).sort()).toEqual(['clock', 'memories.dram.bandwidth', 'memories.dram.latency', 'memories.glb.capacity']);
    const err = (() => {
      try {
        validateArchSpec(spec((s) => (s.clock = '1e308 Hz' as unknown as Obj)));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toBe('clock: "1e308 Hz" (= 1e+308 Hz) is out of range: a clock must be 1 kHz … 100 GHz');
  });

  it('RANGES documents what validation enforces', () => {
    expect(RANGES.clockHz).toMatchObject({ min: 1e3, max: 1e11 });
    expect(RANGES.dramBandwidthBytesPerS).toMatchObject({ min: 1e3, max: 1e15 });
    expect(RANGES.dramLatencyS).toMatchObject({ min: 0, max: 1e-3 });
  });
});

describe('arch ranges: a buffer holds one word per bank and one operand per PE along the wider edge', () => {
  it('a 1-byte global buffer is refused: 16×16 int8, one 8-byte bank → 16 bytes at least', () => {
    // max(1 bank × 64/8 B, 16 PEs × 1 B) = max(8, 16) = 16
    const p = problemsOf(spec((s) => ((s.memories as { glb: Obj }).glb = { capacity: '1 B' })));
    expect(p.map((x) => x.path)).toEqual(['memories.glb.capacity']);
    expect(p[0].message).toContain('at least 16 bytes');
    expect(validateArchSpec(spec((s) => ((s.memories as { glb: Obj }).glb = { capacityBytes: 16 }))).memories.glb!.capacityBytes).toBe(16);
    expect(problemsOf(spec((s) => ((s.memories as { glb: Obj }).glb = { capacityBytes: 15 })))[0].path).toBe('memories.glb.capacityBytes');
  });

  it('the words of every bank count: 8 banks of 128-bit words → 128 bytes', () => {
    // max(8 × 16 B, 16 × 1 B) = 128
    const at = (cap: number) => spec((s) => ((s.memories as { glb: Obj }).glb = { capacityBytes: cap, banks: 8, wordBits: 128 }));
    expect(problemsOf(at(127))[0].message).toContain('at least 128 bytes');
    expect(validateArchSpec(at(128)).memories.glb!.capacityBytes).toBe(128);
  });

  it('16-bit operands on a 12×14 array → 28 bytes (split buffers: each one)', () => {
    // max(1 × 1 B, 14 PEs × 2 B) = 28
    expect(minBufferBytes({ banks: 1, wordBits: 8 }, 12, 14, 16, 8)).toBe(28);
    const b = (cap: number) => ({ capacityBytes: cap, wordBits: 8 });
    const p = problemsOf({ name: 'e', array: { rows: 12, cols: 14 }, operands: { weightBits: 16, activationBits: 16 }, memories: { ifmap: b(27), filter: b(28), ofmap: b(1) } });
    expect(p.map((x) => x.path)).toEqual(['memories.ifmap.capacityBytes', 'memories.ofmap.capacityBytes']);
  });
});

describe('energy tables: energies and capacities in range', () => {
  it('an entry of 1e300 pJ or a 2 TiB quoted capacity is refused, with the range', () => {
    let err: unknown;
    try {
      validateEnergyTable({
        name: 't',
        entries: [
          { component: 'adder', action: 'add', energy: '1e300 pJ', bits: 8, scaling: 'width' },
          { component: 'sram', action: 'read', energy: '10 pJ', bits: 64, capacity: '2 TiB', scaling: 'bits' },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const p = (err as ConfigError).problems;
    expect(p.map((x) => x.path)).toEqual(['entries[0].energy', 'entries[1].capacity']);
    expect(p[0].message).toContain('0 … 1e9 pJ');
    expect(p[1].message).toContain('at most 1 TiB');
  });
});
