/**
 * Zero-operand counts (sim/kernels/zeros.ts) against a brute-force count that visits every
 * multiplication of the convolution / gemm, written here from the definition: output (b, o, oy, ox)
 * reads input (b, g·icg + ic, oy·sh + ky·dh − pt, ox·sw + kx·dw − pl) — zero when outside the
 * input (padding) or equal to z_x — times weight (o, ic, ky, kx), zero when equal to z_w[o].
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convGeometry, fillOperands, gemmGeometry, operandLayout } from '../../sim/kernels/geometry.js';
import { zeroCounts, zeroVectors } from '../../sim/kernels/zeros.js';
import { Prng } from '../../nets/prng.js';

interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  oc: number;
  group: number;
  kh: number;
  kw: number;
  s: [number, number];
  d: [number, number];
  pads: [number, number, number, number];
  x: Int32Array;
  wt: Int32Array;
  zx: number;
  zw: Int32Array;
}

function brute(k: Case): { macs: number; act: number; wz: number; any: number } {
  const icg = k.c / k.group;
  const ocg = k.oc / k.group;
  const oh = Math.floor((k.h + k.pads[0] + k.pads[2] - k.d[0] * (k.kh - 1) - 1) / k.s[0]) + 1;
  const ow = Math.floor((k.w + k.pads[1] + k.pads[3] - k.d[1] * (k.kw - 1) - 1) / k.s[1]) + 1;
  let macs = 0;
  let act = 0;
  let wz = 0;
  let any = 0;
  for (let b = 0; b < k.n; b++)
    for (let o = 0; o < k.oc; o++) {
      const g = Math.floor(o / ocg);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let ic = 0; ic < icg; ic++)
            for (let ky = 0; ky < k.kh; ky++)
              for (let kx = 0; kx < k.kw; kx++) {
                const iy = oy * k.s[0] + ky * k.d[0] - k.pads[0];
                const ix = ox * k.s[1] + kx * k.d[1] - k.pads[1];
                const inside = iy >= 0 && iy < k.h && ix >= 0 && ix < k.w;
                const xz = !inside || k.x[((b * k.c + g * icg + ic) * k.h + iy) * k.w + ix] === k.zx;
                const wzero = k.wt[((o * icg + ic) * k.kh + ky) * k.kw + kx] === k.zw[k.zw.length === 1 ? 0 : o];
                macs++;
                if (xz) act++;
                if (wzero) wz++;
                if (xz || wzero) any++;
              }
    }
  return { macs, act, wz, any };
}

/**
 * All-zero streamed vectors by brute force, from the array's view: K numbered kernel position
 * major, channel minor (k = (ky·kw + kx)·icg + ic); WS streams, per group and K-slice of `rows`,
 * each output position's slice; OS streams, per group, sample and block of `rows` output
 * positions (row-major), each K step across the block.
 */
function bruteVectors(k: Case, rows: number, df: 'ws' | 'os'): { vectors: number; zeroVectors: number; skippedMacs: number } {
  const icg = k.c / k.group;
  const ocg = k.oc / k.group;
  const oh = Math.floor((k.h + k.pads[0] + k.pads[2] - k.d[0] * (k.kh - 1) - 1) / k.s[0]) + 1;
  const ow = Math.floor((k.w + k.pads[1] + k.pads[3] - k.d[1] * (k.kw - 1) - 1) / k.s[1]) + 1;
  const K = icg * k.kh * k.kw;
  const zeroAt = (b: number, g: number, pos: number, kk: number): boolean => {
    const oy = Math.floor(pos / ow);
    const ox = pos % ow;
    const ic = kk % icg;
    const kp = Math.floor(kk / icg);
    const ky = Math.floor(kp / k.kw);
    const kx = kp % k.kw;
    const iy = oy * k.s[0] + ky * k.d[0] - k.pads[0];
    const ix = ox * k.s[1] + kx * k.d[1] - k.pads[1];
    return !(iy >= 0 && iy < k.h && ix >= 0 && ix < k.w) || k.x[((b * k.c + g * icg + ic) * k.h + iy) * k.w + ix] === k.zx;
  };
  let vectors = 0;
  let zeroV = 0;
  let skipped = 0;
  for (let g = 0; g < k.group; g++)
    for (let b = 0; b < k.n; b++) {
      if (df === 'ws') {
        for (let k0 = 0; k0 < K; k0 += rows)
          for (let pos = 0; pos < oh * ow; pos++) {
            vectors++;
            let all = true;
            for (let kk = k0; kk < Math.min(K, k0 + rows); kk++) all &&= zeroAt(b, g, pos, kk);
            if (all) {
              zeroV++;
              skipped += (Math.min(K, k0 + rows) - k0) * ocg;
            }
          }
      } else {
        for (let p0 = 0; p0 < oh * ow; p0 += rows)
          for (let kk = 0; kk < K; kk++) {
            vectors++;
            let all = true;
            for (let pos = p0; pos < Math.min(oh * ow, p0 + rows); pos++) all &&= zeroAt(b, g, pos, kk);
            if (all) {
              zeroV++;
              skipped += (Math.min(oh * ow, p0 + rows) - p0) * ocg;
            }
          }
      }
    }
  return { vectors, zeroVectors: zeroV, skippedMacs: skipped };
}

describe('zero-operand counts of a linear layer', () => {
  it('equal a brute-force count over every multiplication (convs with groups, strides, dilations, padding; both K orders; per-tensor and per-channel z_w)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom<'ckk' | 'kkc'>('ckk', 'kkc'), (seed, kOrder) => {
        const r = new Prng(seed);
        const group = [1, 1, 2, 3][r.int(4)];
        const icg = 1 + r.int(3);
        const ocg = 1 + r.int(3);
        const kh = 1 + r.int(3);
        const kw = 1 + r.int(3);
        const k: Case = {
          n: 1 + r.int(2),
          c: icg * group,
          h: 2 + r.int(5),
          w: 2 + r.int(5),
          oc: ocg * group,
          group,
          kh,
          kw,
          s: [1 + r.int(2), 1 + r.int(2)],
          d: [1 + r.int(2), 1 + r.int(2)],
          pads: [r.int(2), r.int(2), r.int(2), r.int(2)],
          x: new Int32Array(0),
          wt: new Int32Array(0),
          zx: r.int(4) - 1,
          zw: r.int(2) === 0 ? Int32Array.of(r.int(3) - 1) : new Int32Array(ocg * group).map(() => r.int(3) - 1),
        };
        // few distinct codes, so that zeros are common
        k.x = new Int32Array(k.n * k.c * k.h * k.w).map(() => r.int(4) - 1);
        k.wt = new Int32Array(k.oc * icg * kh * kw).map(() => r.int(3) - 1);
        const cg = convGeometry([k.n, k.c, k.h, k.w], [k.oc, icg, kh, kw], k.s, k.pads, k.d, group, kOrder);
        if (typeof cg === 'string') return; // kernel larger than the padded input
        const lay = operandLayout('raw', k.zx, -8, 8, k.n * k.c, k.h, k.w, k.pads);
        const ops = new Float64Array(lay.length);
        fillOperands(ops, k.x, lay);
        const got = zeroCounts(cg.geo, ops, k.zx, k.wt, k.zw);
        const want = brute(k);
        expect(got).toEqual({ macs: want.macs, zeroActMacs: want.act, zeroWeightMacs: want.wz, zeroOperandMacs: want.any });
        // zero-point-subtracted operands: zero is 0 there
        const sub = operandLayout('zp-subtract', k.zx, -8, 8, k.n * k.c, k.h, k.w, k.pads);
        const ops2 = new Float64Array(sub.length);
        fillOperands(ops2, k.x, sub);
        expect(zeroCounts(cg.geo, ops2, 0, k.wt, k.zw)).toEqual(got);
      }),
      { numRuns: 300, seed: 4242 },
    );
  });

  it('all-zero streamed vectors (zero skipping) equal a brute force from the array\'s view: WS K-slices, OS position blocks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom<'ws' | 'os'>('ws', 'os'), fc.integer({ min: 1, max: 7 }), (seed, df, rows) => {
        const r = new Prng(seed);
        const group = [1, 1, 2][r.int(3)];
        const icg = 1 + r.int(3);
        const kh = 1 + r.int(3);
        const kw = 1 + r.int(3);
        const k: Case = {
          n: 1 + r.int(2), c: icg * group, h: 2 + r.int(5), w: 2 + r.int(5), oc: (1 + r.int(3)) * group, group, kh, kw,
          s: [1 + r.int(2), 1 + r.int(2)], d: [1 + r.int(2), 1 + r.int(2)], pads: [r.int(2), r.int(2), r.int(2), r.int(2)],
          x: new Int32Array(0), wt: new Int32Array(0), zx: r.int(3), zw: Int32Array.of(0),
        };
        // mostly zero codes, so that whole vectors are zero often
        k.x = new Int32Array(k.n * k.c * k.h * k.w).map(() => (r.int(4) === 0 ? k.zx + 1 : k.zx));
        k.wt = new Int32Array(k.oc * icg * kh * kw).fill(1);
        const cg = convGeometry([k.n, k.c, k.h, k.w], [k.oc, icg, kh, kw], k.s, k.pads, k.d, group, 'kkc');
        if (typeof cg === 'string') return;
        const lay = operandLayout('raw', k.zx, -8, 8, k.n * k.c, k.h, k.w, k.pads);
        const ops = new Float64Array(lay.length);
        fillOperands(ops, k.x, lay);
        expect(zeroVectors(cg.geo, ops, k.zx, rows, df, k.n)).toEqual(bruteVectors(k, rows, df));
      }),
      { numRuns: 300, seed: 20261204 },
    );
  });

  it('a gemm: hand count', () => {
    // x [3, 2] = [[0, 5], [7, 0], [0, 0]] (z_x 0), w [2, 2] = [[0, 1], [2, 3]] (z_w 0):
    // 3 rows · 2 outputs · 2 = 12 MACs; zero activations: 4 zero entries × 2 outputs = 8;
    // zero weights: w[0][0] used by 3 rows = 3; both: x[m][0] = 0 with w[0][0] for rows 0, 2 = 2
    const geo = gemmGeometry(3, 2, 2);
    expect(zeroCounts(geo, [0, 5, 7, 0, 0, 0], 0, [0, 1, 2, 3], [0])).toEqual({ macs: 12, zeroActMacs: 8, zeroWeightMacs: 3, zeroOperandMacs: 9 });
  });
});
