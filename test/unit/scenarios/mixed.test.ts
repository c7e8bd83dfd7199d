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
    expect(() => parseChoices(['mxfp4', 'w1a8', 'int8', 'w8a8', 'x'])).toThrow(/'mxfp4' is a number format.*'w1a8': bits must be in 2…16.*'w8a8' is given twice.*'x' is not a choice/);
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

  it('labels an assignment by the layers it moves off the reference', () => {
    const r = { layers: ['a', 'b', 'c'], reference: 'w8a8' };
    expect(assignmentLabel(r, ['w8a8', 'w4a8', 'w8a8'])).toBe('b:w4a8');
    expect(assignmentLabel(r, ['w8a8', 'w8a8', 'w8a8'])).toBe('all w8a8');
    expect(assignmentLabel(r, ['w4a8', 'w4a8', 'w4a8'])).toBe('all w4a8');
  });
});
