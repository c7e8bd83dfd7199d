import { describe, expect, it } from 'vitest';
import { archArea, FLIPFLOP_UM2_PER_BIT, registerAreaUm2, SRAM_UM2_PER_BIT, unitAreaUm2 } from '../../../arch/area.js';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';

describe('area at 45 nm', () => {
  it('units at a quoted width are Horowitz’s numbers; others scale from the nearest quote', () => {
    expect(unitAreaUm2('multiplier', [8, 8])).toBe(282);
    expect(unitAreaUm2('adder', 32)).toBe(137);
    expect(unitAreaUm2('fp-multiplier', [32, 32])).toBe(7700);
    // 16×16 = 256 sits 2 octaves from both 64 and 1024: the larger quote, scaled by 256/1024
    expect(unitAreaUm2('multiplier', [16, 16])).toBeCloseTo((3495 * 256) / 1024, 9);
    // 24 bits: nearer 32 than 16 on a log scale
    expect(unitAreaUm2('adder', 24)).toBeCloseTo((137 * 24) / 32, 9);
  });

  it('SRAM is the 0.346 µm² cell over 70 % efficiency; small register files are flip-flops', () => {
    expect(SRAM_UM2_PER_BIT).toBeCloseTo(0.494286, 6);
    expect(registerAreaUm2(4)).toBeCloseTo(32 * 4.522, 9);
    expect(registerAreaUm2(1024)).toBeCloseTo(8192 * SRAM_UM2_PER_BIT, 6);
    expect(FLIPFLOP_UM2_PER_BIT).toBe(4.522);
  });

  it('a small spec, by hand', () => {
    const spec = validateArchSpec({ name: 'tiny', array: { rows: 4, cols: 4 }, memories: { glb: { capacity: '32 KiB' } } });
    const r = archArea(spec);
    // PE: 8×8 multiplier 282 + 32-bit adder 137 + registers (1 + 1 + 4 B flip-flops) = 48 bits × 4.522
    const pe = 282 + 137 + 48 * 4.522;
    // requant lane (4 lanes, the columns): 32×32 multiplier 3495, 32-bit and 8-bit adders; no LUT activation fused
    const rq = 4 * (3495 + 137 + 36);
    const glb = 32768 * 8 * (0.346 / 0.7);
    expect(r.components.map((c) => c.component)).toEqual(['pe-array', 'glb', 'requant']);
    expect(r.components[0].mm2).toBeCloseTo((16 * pe) / 1e6, 12);
    expect(r.components[1].mm2).toBeCloseTo(glb / 1e6, 12);
    expect(r.components[2].mm2).toBeCloseTo(rq / 1e6, 12);
    expect(r.totalMm2).toBeCloseTo((16 * pe + glb + rq) / 1e6, 12);
  });

  it('an SFU adds its lanes: integer-only I-BERT vs float units', () => {
    const base = { name: 'tiny', array: { rows: 4, cols: 4 }, memories: { glb: { capacity: '32 KiB' } } };
    const ib = archArea(validateArchSpec({ ...base, sfu: { lanes: 2, softmax: 'ibert', layerNorm: 'integer', gelu: 'lut' } }));
    // lane: 2 int32 multipliers + 3 adders (I-BERT softmax is the most of each) + a divider (adder + 64 flip-flops)
    const lane = 2 * 3495 + 3 * 137 + 137 + 64 * 4.522;
    expect(ib.components.find((c) => c.component === 'sfu')!.mm2).toBeCloseTo((2 * lane) / 1e6, 12);
    const fl = archArea(validateArchSpec({ ...base, sfu: { lanes: 2, softmax: 'ort', layerNorm: 'float', gelu: 'lut' } }));
    const flane = 1 * 137 + 4184 + 7700 + 137 + 64 * 4.522 + 256 * 32 * 4.522;
    expect(fl.components.find((c) => c.component === 'sfu')!.mm2).toBeCloseTo((2 * flane) / 1e6, 12);
  });

  it('presets: tpu-like is mostly its 24 MiB buffer; every component is positive', () => {
    const t = archArea(presetSpec('tpu-like'));
    const glb = t.components.find((c) => c.component === 'glb')!.mm2;
    expect(glb / t.totalMm2).toBeGreaterThan(0.7);
    for (const p of ['edge-npu', 'eyeriss-like', 'mcu-npu', 'scalesim-default']) {
      const r = archArea(presetSpec(p));
      expect(r.components.every((c) => c.mm2 > 0)).toBe(true);
      expect(r.totalMm2).toBeCloseTo(r.components.reduce((s, c) => s + c.mm2, 0), 12);
    }
  });
});
