import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../helpers/errors.js';
import { archHash, presetSpec, validateArchSpec } from '../../../arch/spec.js';

const minimal = (extra: Record<string, unknown> = {}) => ({
  name: 'tiny',
  array: { rows: 4, cols: 8 },
  memories: { glb: { capacity: '32 KiB' } },
  ...extra,
});


describe('special-function unit in an arch spec', () => {
  it('is absent (null) unless the spec gives one, and "none" says the same', () => {
    expect(validateArchSpec(minimal()).sfu).toBeNull();
    expect(validateArchSpec(minimal({ sfu: 'none' })).sfu).toBeNull();
    expect(archHash(validateArchSpec(minimal({ sfu: 'none' })))).toBe(archHash(validateArchSpec(minimal())));
  });

  it('fills defaults: lanes = the array columns, I-BERT softmax and LayerNorm, GELU from the table', () => {
    const s = validateArchSpec(minimal({ sfu: {} })).sfu!;
    expect(s).toEqual({ lanes: 8, latencyCycles: { exp: 4, divide: 16, rsqrt: 16, lut: 1 }, softmax: 'ibert', layerNorm: 'integer', gelu: 'lut', expLutEntries: 256 });
  });

  it('keeps what is given and changes the hardware hash with it', () => {
    const a = validateArchSpec(minimal({ sfu: { softmax: 'ort', lanes: 32, latencyCycles: { divide: 9 } } }));
    expect(a.sfu!.softmax).toBe('ort');
    expect(a.sfu!.lanes).toBe(32);
    expect(a.sfu!.latencyCycles).toEqual({ exp: 4, divide: 9, rsqrt: 16, lut: 1 });
    expect(archHash(a)).not.toBe(archHash(validateArchSpec(minimal({ sfu: { softmax: 'lut', lanes: 32, latencyCycles: { divide: 9 } } }))));
  });

  it('a normalized spec with an SFU validates to itself', () => {
    const s = presetSpec('edge-npu');
    const again = validateArchSpec(JSON.parse(JSON.stringify(s)));
    expect(again).toEqual(s);
    expect(archHash(again)).toBe(archHash(s));
  });

  it('reports every problem of the SFU at once, with paths', () => {
    const problems = problemsOf(() =>
      validateArchSpec(minimal({ sfu: { lanes: 0, softmax: 'ibrt', layerNorm: 3, expLutEntries: 100, latencyCycles: { exp: -1, sqrt: 2 }, colour: 'red' } })),
    );
    const paths = problems.map((p) => p.path).sort();
    expect(paths).toEqual(['sfu.colour', 'sfu.expLutEntries', 'sfu.latencyCycles.exp', 'sfu.latencyCycles.sqrt', 'sfu.lanes', 'sfu.layerNorm', 'sfu.softmax'].sort());
    expect(problems.find((p) => p.path === 'sfu.softmax')!.message).toContain('did you mean "ibert"');
    expect(problems.find((p) => p.path === 'sfu.expLutEntries')!.message).toContain('not a power of two');
  });

  it('refuses an SFU that is neither "none" nor an object', () => {
    expect(problemsOf(() => validateArchSpec(minimal({ sfu: 'yes' })))).toEqual([{ path: 'sfu', message: 'expected "none" or an object, got "yes"' }]);
  });

  it('presets: integer-only on edge-npu, float on tpu-like, none on the CNN accelerators', () => {
    expect(presetSpec('edge-npu').sfu).toMatchObject({ lanes: 16, softmax: 'ibert', layerNorm: 'integer' });
    expect(presetSpec('edge-npu-smallacc').sfu).toEqual(presetSpec('edge-npu').sfu);
    expect(presetSpec('tpu-like').sfu).toMatchObject({ lanes: 128, softmax: 'ort', layerNorm: 'float' });
    for (const p of ['eyeriss-like', 'mcu-npu', 'scalesim-default']) expect(presetSpec(p).sfu).toBeNull();
  });
});
