import { describe, expect, it } from 'vitest';
import { configHash, PRESET_NAMES, resolvePtqConfig, stableJson } from '../../../quant/config.js';
import { problemsOf } from '../../helpers/errors.js';

describe('PTQ config', () => {
  it('has the presets the issue names', () => {
    for (const p of ['w8a8-pt', 'w8a8-pc', 'w4a8-pc', 'w4a8-pc-adaround', 'w8a8-pt-cle', 'w4a8-pt', 'w4a8-pt-cle', 'w8a8-pc-asym', 'w8a8-pt-asym']) {
      expect(PRESET_NAMES).toContain(p);
    }
  });

  it('w8a8-pt: symmetric restricted-range int8 weights per tensor, asymmetric uint8 activations', () => {
    const c = resolvePtqConfig('w8a8-pt');
    expect(c.weights).toEqual({ bits: 8, perChannel: false, symmetric: true, signed: true, narrow: true, pow2: false });
    expect(c.activations).toEqual({ bits: 8, perChannel: false, symmetric: false, signed: false, narrow: false, pow2: false });
    expect(c.cle).toBe(false);
    expect(c.adaround).toBeNull();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.weights)).toBe(true);
  });

  it('presets and flags: per-channel, 4 bits, CLE with absorption, AdaRound', () => {
    expect(resolvePtqConfig('w8a8-pc').weights.perChannel).toBe(true);
    const w4 = resolvePtqConfig('w4a8-pc-adaround');
    expect(w4.weights.bits).toBe(4);
    expect(w4.adaround).not.toBeNull();
    expect(w4.adaround!.iterations).toBeGreaterThan(0);
    const cle = resolvePtqConfig('w8a8-pt-cle');
    expect([cle.cle, cle.highBiasAbsorption]).toEqual([true, true]);
    const f = resolvePtqConfig('w8a8-pt', { wBits: 6, aBits: 10, perChannel: true, pow2: true, cle: true, biasCorrection: 'analytic', actRange: 'percentile', percentile: 99.9 });
    expect(f.weights).toMatchObject({ bits: 6, perChannel: true, pow2: true });
    expect(f.activations).toMatchObject({ bits: 10, pow2: true });
    expect([f.cle, f.highBiasAbsorption, f.biasCorrection, f.actRange, f.percentile]).toEqual([true, true, 'analytic', 'percentile', 99.9]);
    expect(resolvePtqConfig('w4a8-pc-adaround', { adaround: false }).adaround).toBeNull();
    expect(resolvePtqConfig('w8a8-pt', { adaround: { iterations: 7 } }).adaround!.iterations).toBe(7);
  });

  it("CLE's ReLU6 and padded-absorption modes: defaults, alternatives, typos refused", () => {
    const d = resolvePtqConfig('w8a8-pt-cle');
    expect([d.cleRelu6, d.hbaPadding]).toEqual(['replace', 'exact']);
    const e = resolvePtqConfig('w8a8-pt-cle', { cleRelu6: 'skip', hbaPadding: 'dfq' });
    expect([e.cleRelu6, e.hbaPadding]).toEqual(['skip', 'dfq']);
    expect(configHash(e)).not.toBe(configHash(d));
    const c = resolvePtqConfig('w8a8-pt-cle', { cleRelu6: 'clip' });
    expect(c.cleRelu6).toBe('clip');
    expect(configHash(c)).not.toBe(configHash(d));
    expect(problemsOf(() => resolvePtqConfig('w8a8-pt-cle', { cleRelu6: 'keep6', hbaPadding: 'border' })).map((p) => p.path)).toEqual(['cleRelu6', 'hbaPadding']);
  });

  it("the AdaRound paper's budget is a preset: 10,000 Adam steps at 1e-3 per layer", () => {
    const a = resolvePtqConfig('w4a8-pc-adaround-paper').adaround!;
    expect([a.iterations, a.learningRate, a.batchSize, a.regWeight, a.betaStart, a.betaEnd, a.warmStart]).toEqual([10_000, 1e-3, 32, 0.01, 20, 2, 0.2]);
  });

  it('lists EVERY problem in one ConfigError', () => {
    const ps = problemsOf(() =>
      resolvePtqConfig('w9a9', { wBits: 1, aBits: 17, actsPerChannel: true, percentile: 120, weightRange: 'l2', calibSamples: 0, biasCorrection: 'magic' }),
    );
    const paths = ps.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['preset', 'weights.bits', 'activations.bits', 'activations.perChannel', 'percentile', 'weightRange', 'calibSamples', 'biasCorrection']),
    );
    expect(ps.find((p) => p.path === 'preset')!.message).toContain('w8a8-pt');
    expect(ps.find((p) => p.path === 'preset')!.message).toContain('w4a8-pc-adaround');
    expect(ps.length).toBe(8);
  });

  it('rejects contradictions: AdaRound with bias correction, absorption without CLE, unsigned symmetric weights', () => {
    expect(problemsOf(() => resolvePtqConfig('w4a8-pc-adaround', { biasCorrection: 'empirical' })).map((p) => p.path)).toEqual(['biasCorrection']);
    expect(problemsOf(() => resolvePtqConfig('w8a8-pt', { highBiasAbsorption: true })).map((p) => p.path)).toEqual(['highBiasAbsorption']);
    expect(problemsOf(() => resolvePtqConfig('w8a8-pt', { weightsSigned: false })).map((p) => p.path)).toEqual(['weights.signed']);
    expect(problemsOf(() => resolvePtqConfig('w8a8-pt', { overrides: { conv1: { wBits: 1, aBits: 8 } } })).map((p) => p.path)).toEqual(['overrides.conv1.wBits']);
  });

  it('configHash: stable over key order, different for different configs', () => {
    const a = resolvePtqConfig('w8a8-pt', { overrides: { a: { wBits: 16 }, b: { aBits: 4 } } });
    const b = resolvePtqConfig('w8a8-pt', { overrides: { b: { aBits: 4 }, a: { wBits: 16 } } });
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(configHash(resolvePtqConfig('w8a8-pt'))).not.toBe(configHash(resolvePtqConfig('w8a8-pc')));
    expect(stableJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}');
  });
});
