/** The choices of a mixed-precision search and the PTQ config each assignment becomes. */
import { describe, expect, it } from 'vitest';
import { configHash, resolvePtqConfig } from '../../../quant/config.js';
import { assignmentConfig, assignmentLabel, parseChoices } from '../../../scenarios/mixed.js';

describe('mixed-precision choices', () => {
  it('reads wXaY and intN (intN = wNaN), in the order given', () => {
    expect(parseChoices(['W8A8', 'int4', 'w4a8'])).toEqual([
      { name: 'w8a8', wBits: 8, aBits: 8 },
      { name: 'w4a4', wBits: 4, aBits: 4 },
      { name: 'w4a8', wBits: 4, aBits: 8 },
    ]);
  });

  it('names every bad choice at once: formats, malformed, out of range, repeated, a lone choice', () => {
    expect(() => parseChoices(['w4g32a8', 'w1a8', 'int8', 'w8a8', 'x', 'fp8e4m3', 'mxfp4'])).toThrow(
      /'w4g32a8': per-group weights keep every activation on integers.*'w1a8': bits must be in 2…16.*'w8a8' is given twice.*'x' is not a choice.*'mxfp4': one number format per search/,
    );
    expect(() => parseChoices(['w8a8'])).toThrow(/at least two/);
  });
});

describe('an assignment as a PTQ config', () => {
  const base = resolvePtqConfig('w8a8-pc');
  const choices = parseChoices(['w8a8', 'w4a8', 'w8a4']);

  it('the base preset everywhere is the base preset itself (same hash)', () => {
    expect(configHash(assignmentConfig(base, ['a', 'b'], choices, [0, 0]))).toBe(configHash(base));
  });

  it('overrides only what differs; 4-bit weights get MSE ranges under a min-max preset', () => {
    const cfg = assignmentConfig(base, ['a', 'b', 'c'], choices, [0, 1, 2]);
    expect(cfg.overrides).toEqual({ b: { wBits: 4, weightRange: 'mse' }, c: { aBits: 4 } });
    expect(cfg.calibSamples).toBe(base.calibSamples);
  });

  it('a per-layer weight range is validated with its path', () => {
    expect(() => resolvePtqConfig('w8a8-pc', { overrides: { fc1: { weightRange: 'percentile' as never } } })).toThrow(/overrides\.fc1\.weightRange: must be minmax or mse/);
  });

  it('a number-format choice puts the network on the format and keeps the other layers on integers', () => {
    const cs = parseChoices(['w8a8', 'w4a8', 'fp8e4m3']);
    expect(cs[2]).toEqual({ name: 'fp8e4m3', wBits: 8, aBits: 8, format: 'fp8e4m3' });
    const cfg = assignmentConfig(base, ['a', 'b', 'c'], cs, [2, 1, 0]);
    expect(cfg.format).toMatchObject({ kind: 'float', element: 'fp8-e4m3', integerLayers: ['b', 'c'] });
    expect(cfg.overrides).toEqual({ b: { wBits: 4, weightRange: 'mse' } });
    // the integer calibration stays the base preset's, so only the chosen layers change
    expect(cfg.actRange).toBe(base.actRange);
    const all = assignmentConfig(base, ['a', 'b'], cs, [2, 2]);
    expect(all.format!.integerLayers).toBeUndefined();
  });

  it('labels an assignment by the layers it moves off the reference', () => {
    const r = { layers: ['a', 'b', 'c'], reference: 'w8a8' };
    expect(assignmentLabel(r, ['w8a8', 'w4a8', 'w8a8'])).toBe('b:w4a8');
    expect(assignmentLabel(r, ['w8a8', 'w8a8', 'w8a8'])).toBe('all w8a8');
    expect(assignmentLabel(r, ['w4a8', 'w4a8', 'w4a8'])).toBe('all w4a8');
  });
});
