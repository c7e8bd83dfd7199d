import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { PRESET_NAMES, presetSpec, validateArchSpec } from '../../../arch/spec.js';

const GOLDEN = resolve(import.meta.dirname, '../../../../shared/golden/scalesim');

/** A few lines of INI reading, independent of arch/scalesim-cfg.ts: `section.key(lowercase)` → value. */
function readCfg(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  let section = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const sec = /^\s*\[(.+)\]\s*$/.exec(line);
    if (sec) section = sec[1];
    const kv = /^\s*([^=:#;\s][^=:]*?)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (kv && !sec) out[`${section}.${kv[1].toLowerCase()}`] = kv[2];
  }
  return out;
}

describe('presets', () => {
  it('are the six documented ones', () => {
    expect([...PRESET_NAMES].sort()).toEqual(['edge-npu', 'edge-npu-smallacc', 'eyeriss-like', 'mcu-npu', 'scalesim-default', 'tpu-like']);
  });

  it('weight-stationary accumulators: TPU v1 depth per column (4,096 int32) on edge-npu and tpu-like; edge-npu-smallacc one per PE', () => {
    const entries = (name: string) => {
      const s = presetSpec(name);
      return (s.array.pes * s.pe.registers.psumBytes) / Math.ceil(s.accumulator.bits / 8) / s.array.cols;
    };
    expect(entries('edge-npu')).toBe(4096);
    expect(entries('tpu-like')).toBe(4096);
    expect(entries('edge-npu-smallacc')).toBe(16);
    expect(PRESETS['edge-npu'].source).toContain('ISCA 2017');
    // the small variant differs from edge-npu in the accumulators only
    const { name: _a, description: _b, source: _c, pe: p1, ...rest } = presetSpec('edge-npu-smallacc');
    const { name: _d, description: _e, source: _f, pe: p2, ...base } = presetSpec('edge-npu');
    expect(rest).toEqual(base);
    expect({ ...p1, registers: { ...p1.registers, psumBytes: 0 } }).toEqual({ ...p2, registers: { ...p2.registers, psumBytes: 0 } });
  });

  it('every preset validates, names its source and is its own name', () => {
    for (const name of PRESET_NAMES) {
      const s = presetSpec(name);
      expect(s.name).toBe(name);
      expect(s.source.length).toBeGreaterThan(40);
      expect(s.description.length).toBeGreaterThan(20);
      expect(validateArchSpec(PRESETS[name])).toEqual(s);
    }
  });

  it('edge-npu: 16×16 WS int8, int32 accumulator, 256 KiB buffer, LPDDR4-class DRAM, fused per-channel requant', () => {
    const s = presetSpec('edge-npu');
    expect(s.array).toEqual({ rows: 16, cols: 16, dataflow: 'ws', pes: 256 });
    expect(s.operands).toEqual({ weightBits: 8, activationBits: 8 });
    expect(s.accumulator.bits).toBe(32);
    expect(s.memories.glb!.capacityBytes).toBe(262144);
    expect(s.memories.dram.bandwidthBytesPerS).toBe(12.8e9);
    expect(s.memories.dram.bytesPerCycle).toBe(16); // 12.8e9 / 800e6
    expect(s.memories.dram.latencyCycles).toBe(80); // 100 ns × 800 MHz
    expect(s.requant.perChannel).toBe(true);
    expect(s.requant.fused).toEqual(expect.arrayContaining(['relu', 'relu6', 'clip', 'sigmoid', 'hardswish']));
  });

  it('tpu-like: 128×128 WS, 24 MiB buffer, HBM-class DRAM', () => {
    const s = presetSpec('tpu-like');
    expect(s.array).toEqual({ rows: 128, cols: 128, dataflow: 'ws', pes: 16384 });
    expect(s.memories.glb!.capacityBytes).toBe(24 * 1024 * 1024);
    expect(s.memories.dram.bandwidthBytesPerS).toBe(700e9);
    expect(s.memories.dram.bytesPerCycle).toBe(1000); // 700 GB/s at 700 MHz
  });

  it('eyeriss-like: 12×14, 108 KiB GLB, Eyeriss scratchpads, ws (RS not simulated)', () => {
    const s = presetSpec('eyeriss-like');
    expect([s.array.rows, s.array.cols]).toEqual([12, 14]);
    expect(['ws', 'os']).toContain(s.array.dataflow);
    expect(s.memories.glb!.capacityBytes).toBe(108 * 1024);
    expect(s.pe.registers).toEqual({ weightBytes: 224 * 2, inputBytes: 12 * 2, psumBytes: 24 * 2 });
    expect(s.operands).toEqual({ weightBits: 16, activationBits: 16 });
    expect(s.clockHz).toBe(200e6);
    expect(s.memories.dram.bandwidthBytesPerS).toBe(480e6); // 64 bit × 60 MHz
    expect(s.memories.dram.bytesPerCycle).toBe(2.4);
    expect(PRESETS['eyeriss-like'].source).toContain('row-stationary');
  });

  it('mcu-npu: 8×8, 16-bit accumulator, per-tensor requant only', () => {
    const s = presetSpec('mcu-npu');
    expect([s.array.rows, s.array.cols]).toEqual([8, 8]);
    expect(s.accumulator.bits).toBe(16);
    expect(s.accumulator.psumBits).toBe(16);
    expect(s.requant.perChannel).toBe(false);
    expect(s.requant.fused.some((a) => !['relu', 'relu6', 'clip'].includes(a))).toBe(false);
  });

  it("scalesim-default matches the shared settings of SCALE-Sim's golden 32×32 OS config", () => {
    const s = presetSpec('scalesim-default');
    const dirs = readdirSync(GOLDEN).filter((d) => /_os_32x32$/.test(d));
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) {
      const c = readCfg(join(GOLDEN, d, 'config.cfg'));
      expect(s.array.rows).toBe(Number(c['architecture_presets.arrayheight']));
      expect(s.array.cols).toBe(Number(c['architecture_presets.arraywidth']));
      expect(s.array.dataflow).toBe(c['architecture_presets.dataflow']);
      // SCALE-Sim: bytes = 1024 × …SramSzkB
      expect(s.memories.ifmap!.capacityBytes).toBe(1024 * Number(c['architecture_presets.ifmapsramszkb']));
      expect(s.memories.filter!.capacityBytes).toBe(1024 * Number(c['architecture_presets.filtersramszkb']));
      expect(s.memories.ofmap!.capacityBytes).toBe(1024 * Number(c['architecture_presets.ofmapsramszkb']));
      expect(s.memories.dram.baseAddress).toEqual({
        ifmap: Number(c['architecture_presets.ifmapoffset']),
        filter: Number(c['architecture_presets.filteroffset']),
        ofmap: Number(c['architecture_presets.ofmapoffset']),
      });
      // 1-byte words: Bandwidth in words/cycle = bytes/cycle
      expect(s.memories.dram.bytesPerCycle).toBe(Number(c['architecture_presets.bandwidth']));
      expect(Number(c['architecture_presets.memorybanks'])).toBe(1);
      expect(s.memories.dram.mode).toBe(c['run_presets.interfacebandwidth'].toLowerCase());
      for (const b of ['ifmap', 'filter', 'ofmap'] as const) expect(s.memories[b]!.wordBits).toBe(8);
    }
    expect(s.memoryModel).toBe('scalesim');
  });
});
