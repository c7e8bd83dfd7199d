/**
 * qnet/formats/group.ts by hand (onnxruntime's blocked Q/DQ is the referee for random tensors, in
 * test/golden/group-vs-ort.test.ts): which group an element falls in along [outer, k, inner], the
 * min-max parameters, and the errors for parameters that do not fit the layout.
 */
import { describe, expect, it } from 'vitest';
import { dequantizeGroups, GROUP_FORMATS, groupFormat, minMaxGroupParams, quantizeGroups } from '../../../qnet/formats/group.js';

describe('per-group integers', () => {
  it('the presets: INT8 and INT4, groups of 32 / 64 / 128, symmetric (signed, z = 0) and asymmetric (unsigned, z per group)', () => {
    expect(GROUP_FORMATS.map((f) => f.name)).toEqual([
      'int8-g32',
      'int8-g32-asym',
      'int8-g64',
      'int8-g64-asym',
      'int8-g128',
      'int8-g128-asym',
      'int4-g32',
      'int4-g32-asym',
      'int4-g64',
      'int4-g64-asym',
      'int4-g128',
      'int4-g128-asym',
    ]);
  });

  it('by hand, INT4 symmetric, groups of 2 along k = 5 (the last group has 1 element), inner = 2: each (group, inner) pair has its own scale max|x|/7', () => {
    const f = groupFormat(4, 2, false);
    // [outer 1, k 5, inner 2]: x[k][i]
    const x = Float32Array.of(7, 3.5, -3.5, 7, 1.25, -14, 3.5, 0, 70, 0);
    const layout = { outer: 1, k: 5, inner: 2 };
    const p = minMaxGroupParams(f, x, layout);
    // groups: k {0,1} × i 0: max 7 → 1; × i 1: max 7 → 1; k {2,3} × i 0: 3.5 → 0.5; i 1: 14 → 2; k {4}: i 0: 70 → 10; i 1: all zero → 1
    expect(Array.from(p.scale)).toEqual([1, 1, 0.5, 2, 10, 1]);
    expect(p.zeroPoint).toBeNull();
    const q = quantizeGroups(f, x, layout, p);
    // 7, 3.5 → 4 and −3.5 → −4 (ties to even), 7, 1.25/0.5 = 2.5 → 2, −14/2 = −7, 3.5/0.5 = 7, 0, 70/10 = 7, 0
    expect(Array.from(q)).toEqual([7, 4, -4, 7, 2, -7, 7, 0, 7, 0]);
    expect(Array.from(dequantizeGroups(f, q, layout, p))).toEqual([7, 4, -4, 7, 1, -14, 3.5, 0, 70, 0]);
  });

  it('by hand, INT8 asymmetric: a group [−1, 3] gets s = 4/255 and z = 0 − round(−1/s) = 64 (clamped into 0…255)', () => {
    const f = groupFormat(8, 32, true);
    const x = new Float32Array(32);
    x[0] = -1;
    x[1] = 3;
    const p = minMaxGroupParams(f, x, { outer: 1, k: 32, inner: 1 });
    expect(p.scale[0]).toBe(Math.fround(4 / 255));
    expect(Array.from(p.zeroPoint ?? [])).toEqual([64]);
    const q = quantizeGroups(f, x, { outer: 1, k: 32, inner: 1 }, p);
    expect([q[0], q[1], q[2]]).toEqual([0, 255, 64]);
  });

  it('refuses parameters that do not fit the layout, naming the function, format and counts', () => {
    const f = groupFormat(4, 32, false);
    const x = new Float32Array(64);
    expect(() => quantizeGroups(f, x, { outer: 1, k: 64, inner: 1 }, { scale: new Float32Array(3), zeroPoint: null })).toThrow(/quantizeGroups\(int4-g32\): 3 scales for 2 groups/);
    expect(() => quantizeGroups(f, x, { outer: 2, k: 64, inner: 1 }, { scale: new Float32Array(2), zeroPoint: null })).toThrow(/64 elements for layout \[2, 64, 1\]/);
    expect(() => quantizeGroups(f, x, { outer: 1, k: 64, inner: 1 }, { scale: new Float32Array(2), zeroPoint: Int32Array.of(0, 3) })).toThrow(/symmetric groups with nonzero zero points/);
  });
});
