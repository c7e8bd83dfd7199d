import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { parseScaleSimCfg, readScaleSimCfg } from '../../../arch/scalesim-cfg.js';
import { archHash, presetSpec, validateArchSpec } from '../../../arch/spec.js';

const GOLDEN = resolve(import.meta.dirname, '../../../../shared/golden/scalesim');

function problems(text: string): { path: string; message: string }[] {
  try {
    parseScaleSimCfg(text, 'x.cfg');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).source).toBe('x.cfg');
    return [...(e as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const BASE = `[general]
run_name = t

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     16
IfmapSramSzkB:   64
FilterSramSzkB:  32
OfmapSramSzkB:   16
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks:   1

[run_presets]
InterfaceBandwidth: CALC
`;

describe('parseScaleSimCfg', () => {
  it('reads every golden config into a valid scalesim spec', () => {
    const dirs = readdirSync(GOLDEN).filter((d) => !d.includes('.'));
    expect(dirs.length).toBeGreaterThanOrEqual(10);
    for (const d of dirs) {
      const text = readFileSync(join(GOLDEN, d, 'config.cfg'), 'utf8');
      const s = validateArchSpec(parseScaleSimCfg(text, d));
      const m = /_(ws|os|is)_(\d+)x(\d+)/.exec(d)!;
      expect(s.name).toBe(d);
      expect(s.array.dataflow).toBe(m[1]);
      expect([s.array.rows, s.array.cols]).toEqual([Number(m[2]), Number(m[3])]);
      expect(s.memoryModel).toBe('scalesim');
      expect(s.memories.ifmap!.capacityBytes).toBe(65536);
      expect(s.memories.dram.mode).toBe(d.includes('user') ? 'user' : 'calc');
    }
  });

  it('maps keys to the spec (hand-checked values)', () => {
    const s = validateArchSpec(parseScaleSimCfg(BASE));
    expect(s.array).toEqual({ rows: 32, cols: 16, dataflow: 'ws', pes: 512 });
    expect([s.memories.ifmap!.capacityBytes, s.memories.filter!.capacityBytes, s.memories.ofmap!.capacityBytes]).toEqual([65536, 32768, 16384]);
    expect(s.memories.ifmap!.banks).toBe(32); // one 1-byte bank per element of the longer array edge
    expect(s.memories.dram.bytesPerCycle).toBe(10);
    expect(s.memories.dram.mode).toBe('calc');
    expect(s.memories.dram.baseAddress).toEqual({ ifmap: 0, filter: 10_000_000, ofmap: 20_000_000 });
    expect(s.scalesim).toEqual({ readRequestBuffer: null, writeRequestBuffer: null });
  });

  it('USER bandwidth (golden test_ws_32x32_user4: 4 words/cycle)', () => {
    const s = validateArchSpec(parseScaleSimCfg(readFileSync(join(GOLDEN, 'test_ws_32x32_user4', 'config.cfg'), 'utf8')));
    expect(s.memories.dram.mode).toBe('user');
    expect(s.memories.dram.bytesPerCycle).toBe(4);
  });

  it("SCALE-Sim's own default config equals the scalesim-default preset's hardware", () => {
    // scale-sim-v2 configs/scale.cfg (trailing spaces as in the repository)
    const scaleCfg = BASE.replace('run_name = t', 'run_name = scale_example_run_32x32_os')
      .replace('ArrayWidth:     16', 'ArrayWidth:     32')
      .replace('FilterSramSzkB:  32', 'FilterSramSzkB:  64 ')
      .replace('OfmapSramSzkB:   16', 'OfmapSramSzkB:   64 ')
      .replace('Dataflow : ws', 'Dataflow : os')
      .replace('InterfaceBandwidth: CALC', 'InterfaceBandwidth: CALC ');
    const s = validateArchSpec(parseScaleSimCfg(scaleCfg));
    expect(archHash(s)).toBe(archHash(presetSpec('scalesim-default')));
  });

  it('accepts ConfigParser syntax: comments, = or :, any key case, request buffers, layout, known extras', () => {
    const text = `# a comment
; another
[general]
run_name: fancy
[architecture_presets]
arrayheight = 8
ARRAYWIDTH = 8
IfmapSramSzkB: 4
FilterSramSzkB: 4
OfmapSramSzkB: 4
IfmapOffset: 0
FilterOffset: 100
OfmapOffset: 200
Bandwidth : 64
Dataflow : is
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 16
OnChipMemoryBanks: 1
[layout]
IfmapCustomLayout: True
FilterCustomLayout: False
IfmapSRAMBankBandwidth: 4
IfmapSRAMBankNum: 2
IfmapSRAMBankPort: 2
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
SRAM_row_size: 2
`;
    const { input, ignored } = readScaleSimCfg(text);
    const s = validateArchSpec(input);
    expect(s.name).toBe('fancy');
    expect(s.array).toEqual({ rows: 8, cols: 8, dataflow: 'is', pes: 64 });
    expect(s.scalesim).toEqual({ readRequestBuffer: 32, writeRequestBuffer: 16 });
    expect(s.memories.ifmap).toMatchObject({ banks: 2, readPorts: 2, wordBits: 32 }); // custom layout
    expect(s.memories.filter).toMatchObject({ banks: 8, readPorts: 1, wordBits: 8 }); // not custom
    expect(s.memories.dram).toMatchObject({ mode: 'user', bytesPerCycle: 64, baseAddress: { ifmap: 0, filter: 100, ofmap: 200 } });
    expect(ignored).toEqual(
      expect.arrayContaining(['[architecture_presets] OnChipMemoryBanks', '[sparsity] SparseRep', '[sparsity] SparsitySupport', '[run_presets] UseRamulatorTrace', '[run_presets] SRAM_row_size']),
    );
  });

  it('collects every problem: unknown keys and sections, bad values, missing keys, unsupported features', () => {
    const text = BASE.replace('ArrayHeight:    32', 'ArrayHieght:    32')
      .replace('Bandwidth : 10', 'Bandwidth : ten')
      .replace('MemoryBanks:   1', 'MemoryBanks:   2')
      .replace('InterfaceBandwidth: CALC', 'InterfaceBandwidth: AUTO')
      .concat('\n[sparsity]\nSparsitySupport: true\n[netwrk_presets]\nTopologyCsvLoc: x\n');
    const ps = problems(text);
    const byPath = Object.fromEntries(ps.map((p) => [p.path, p.message]));
    expect(byPath['architecture_presets.ArrayHieght']).toContain('did you mean "ArrayHeight"');
    expect(byPath['architecture_presets.ArrayHeight']).toBe('is required');
    expect(byPath['architecture_presets.Bandwidth']).toContain('"ten" is not a number');
    expect(byPath['architecture_presets.MemoryBanks']).toContain('only 1 is supported');
    expect(byPath['run_presets.InterfaceBandwidth']).toContain('neither USER nor CALC');
    expect(byPath['sparsity.SparsitySupport']).toContain('not modelled');
    expect(byPath.netwrk_presets).toContain('did you mean [network_presets]');
    expect(ps).toHaveLength(7);
  });

  it('USER mode needs a Bandwidth', () => {
    const ps = problems(BASE.replace('Bandwidth : 10\n', '').replace('CALC', 'USER'));
    expect(ps).toEqual([{ path: 'architecture_presets.Bandwidth', message: 'is required with InterfaceBandwidth: USER' }]);
  });

  it('leaves range checks to validateArchSpec (paths in spec terms)', () => {
    const input = parseScaleSimCfg(BASE.replace('Dataflow : ws', 'Dataflow : rs').replace('ArrayWidth:     16', 'ArrayWidth:     0'));
    expect(() => validateArchSpec(input)).toThrow(/array\.cols: 0 is below the minimum 1[\s\S]*array\.dataflow/);
  });
});
