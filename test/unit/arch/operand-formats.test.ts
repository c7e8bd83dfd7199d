/**
 * PEs on number formats: `operands.format` / `accumulator.format` validated with every other
 * field (all problems at once), their PE area by hand from the quoted units and the FP8 ratio of
 * van Baalen et al. 2023, their MAC energy in the array's action counts, and a network refused on
 * PEs of another format.
 */
import { describe, expect, it } from 'vitest';
import { archArea } from '../../../arch/area.js';
import { ConfigError } from '../../../arch/errors.js';
import { energyOf, HOROWITZ_45NM, validateEnergyTable } from '../../../arch/energy.js';
import { formatMacUnits } from '../../../arch/format-units.js';
import { validateArchSpec } from '../../../arch/spec.js';
import { operandFormatProblem } from '../../../sim/requant-unit.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateTopology } from '../../../scenarios/simulate.js';

const base = { name: 'tiny', array: { rows: 4, cols: 4 }, memories: { glb: { capacity: '32 KiB' } } };
const pe = (r: ReturnType<typeof archArea>) => r.components.find((c) => c.component === 'pe-array')!.mm2 * 1e6;

describe('PE operand formats', () => {
  it('a float operand format accumulates in FP32 by default; integer specs stay as they were (no format fields)', () => {
    const fp8 = validateArchSpec({ ...base, operands: { format: 'fp8-e4m3' } });
    expect(fp8.operands.format).toBe('fp8-e4m3');
    expect(fp8.accumulator.format).toBe('fp32');
    const int = validateArchSpec(base);
    expect('format' in int.operands).toBe(false);
    expect('format' in int.accumulator).toBe(false);
  });

  it('refuses unknown formats and accumulators that do not fit the operands, every problem at once', () => {
    const bad = (spec: object) => {
      try {
        validateArchSpec(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).problems.map((p) => p.path);
      }
      throw new Error('accepted');
    };
    expect(bad({ ...base, operands: { format: 'fp7' }, array: { rows: 0, cols: 4 } })).toEqual(expect.arrayContaining(['operands.format', 'array.rows']));
    expect(bad({ ...base, accumulator: { format: 'fp32' } })).toEqual(['accumulator.format']);
    expect(bad({ ...base, operands: { format: 'bf16' }, accumulator: { format: 'int' } })).toEqual(['accumulator.format']);
    // MX block sums are added in FP32 (MX v1.0 §6.2)
    expect(bad({ ...base, operands: { format: 'mxint8' }, accumulator: { format: 'bf16' } })).toEqual(['accumulator.format']);
  });

  it('PE area by format, by hand: FP8 at 2.8× an INT8/INT32 MAC (FP32 accumulator), 1.5× with FP16; BF16 from the FP16 multiplier and FP32 adder; MXINT8 from its block datapath', () => {
    const regs = 48 * 4.522; // 1 + 1 + 4 B of flip-flops per PE
    const int8Mac = 282 + 137;
    const area = (operands: object, accumulator: object = {}) => pe(archArea(validateArchSpec({ ...base, operands, accumulator }))) / 16;
    expect(area({})).toBeCloseTo(int8Mac + regs, 6);
    expect(area({ format: 'fp8-e4m3' })).toBeCloseTo(2.8 * int8Mac + regs, 6);
    expect(area({ format: 'fp8-e5m2' }, { format: 'fp16' })).toBeCloseTo(1.5 * int8Mac + regs, 6);
    expect(area({ format: 'bf16' })).toBeCloseTo(1640 + 4184 + regs, 6);
    // 8×8 multiplier 282 + a 21-bit block adder (2·8 + log2 32; nearest quote 16 bits on a log
    // scale: 67·21/16) + per 32: an 8-bit adder 36 and an FP32 adder 4184
    expect(area({ format: 'mxint8' })).toBeCloseTo(282 + (67 * 21) / 16 + (36 + 4184) / 32 + regs, 6);
  });

  it('MX block units are counted per output and block: ⌈K/32⌉ per output, one for K = 24, three for K = 70', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-mx-'));
    const topo = join(dir, 'gemm.csv');
    // attention-like shapes: Q·Kᵀ of one head (K = d = 24) and a longer reduction (K = 70)
    writeFileSync(topo, 'Layer, M, N, K,\nqk, 49, 49, 24,\nlong, 5, 3, 70,\n');
    const spec = validateArchSpec({ ...base, operands: { format: 'mxfp8-e4m3' } });
    const r = simulateTopology({ arch: spec, topology: topo, gemm: true });
    const blockAdds = (i: number) => r.layers[i].counts.filter((c) => c.label === 'array' && c.component === 'fp-adder').reduce((a, c) => a + c.count, 0);
    expect(blockAdds(0)).toBe(49 * 49 * 1);
    expect(blockAdds(1)).toBe(5 * 3 * 3);
    // the element multipliers: one per MAC
    const mults = r.layers[1].counts.filter((c) => c.label === 'array' && c.component === 'multiplier').reduce((a, c) => a + c.count, 0);
    expect(mults).toBe(5 * 3 * 70);
  });

  it('the energy table prices an FP8 MAC at the van Baalen ratio of an INT8 MAC', () => {
    const t = validateEnergyTable(HOROWITZ_45NM);
    const spec = validateArchSpec({ ...base, operands: { format: 'fp8-e4m3' } });
    const [u] = formatMacUnits(spec)!;
    const pj = (c: { component: string; action: string; bits: number | readonly number[] }) => energyOf(t, c.component, c.action, c.bits);
    const int8 = pj({ component: 'multiplier', action: 'mult', bits: [8, 8] }) + pj({ component: 'adder', action: 'add', bits: 32 });
    expect(int8).toBeCloseTo(0.3, 9);
    expect(pj(u)).toBeCloseTo(2.8 * int8, 9);
  });

  it('a network runs only on PEs of its format', () => {
    const fp8 = validateArchSpec({ ...base, operands: { format: 'fp8-e4m3' } });
    const int = validateArchSpec(base);
    expect(operandFormatProblem('a', fp8, 'fp8-e4m3', 'fp32')).toBeNull();
    expect(operandFormatProblem('a', fp8, 'int', 'int')).toMatch(/multiply fp8-e4m3 operands.*layers are int/);
    expect(operandFormatProblem('a', int, 'mxfp8-e4m3', 'fp32')).toMatch(/multiply int operands/);
    expect(operandFormatProblem('a', fp8, 'fp8-e4m3', 'bf16')).toMatch(/accumulates in fp32/);
  });
});
