/**
 * Hand-worked examples for sim/kernels: every expected number is computed in the comments.
 */
import { describe, expect, it } from 'vitest';
import { InvariantError, ModelError } from '../../../nets/errors.js';
import type { AccPolicy, AccumulationOrder, PeForm } from '../../../sim/kernels/accumulator.js';
import { a2qSafe, minSafeAccBits, provablySafe } from '../../../sim/kernels/bounds.js';
import { convInt, gemmInt, prepareGemmInt } from '../../../sim/kernels/linear.js';

const ONE_TILE: AccumulationOrder = { kOrder: 'ckk', kTile: 0 };

function tinyConv(form: PeForm, extra: { strides?: [number, number]; pads?: [number, number, number, number] } = {}) {
  return convInt({
    // x (unsigned 8-bit, z_x = 1):   x − z_x:
    //   1 2 3                          0 1 2
    //   4 5 6                          3 4 5
    //   7 8 9                          6 7 8
    x: Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9),
    xShape: [1, 1, 3, 3],
    zx: 1,
    // w (signed, z_w = 0):  1 −1
    //                       2  0
    w: Int32Array.of(1, -1, 2, 0),
    wShape: [1, 1, 2, 2],
    zw: Int32Array.of(0),
    bias: Int32Array.of(10),
    strides: extra.strides ?? [1, 1],
    pads: extra.pads ?? [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    acc: { bits: 32, policy: 'wrap' },
    order: ONE_TILE,
    form,
    xBits: 8,
    xSigned: false,
    wBits: 8,
    wSigned: true,
  });
}

describe('convInt by hand', () => {
  it('a 2×2 kernel over a 3×3 input', () => {
    // (0,0): 10 + 1·0 − 1·1 + 2·3 + 0·4 = 15     (0,1): 10 + 1 − 2 + 8 = 17
    // (1,0): 10 + 3 − 4 + 12 = 21                 (1,1): 10 + 4 − 5 + 14 = 23
    for (const form of ['zp-subtract', 'raw'] as const) {
      const r = tinyConv(form);
      expect(r.outShape).toEqual([1, 1, 2, 2]);
      expect(Array.from(r.acc)).toEqual([15, 17, 21, 23]);
      expect(r.overflow.events).toBe(0);
      expect(r.overflow.proved).toBe(true);
    }
  });

  it('padding feeds z_x (0 after subtraction), with stride 2', () => {
    // padded x − z_x (pad = 0), outputs at rows/cols {−1,0} and {1,2}:
    // (0,0): only w11·x'(0,0) = 0·0 → 10        (0,1): w10·x'(0,1) = 2·1 → 12
    // (1,0): w01·x'(1,0) = −1·3 → 7             (1,1): 4 − 5 + 14 + 0 → 23
    for (const form of ['zp-subtract', 'raw'] as const) {
      const r = tinyConv(form, { strides: [2, 2], pads: [1, 1, 1, 1] });
      expect(r.outShape).toEqual([1, 1, 2, 2]);
      expect(Array.from(r.acc)).toEqual([10, 12, 7, 23]);
    }
  });

  it('raw form folds −z_x·Σq_w into the starting value: the bias load is step 0 of the trajectory', () => {
    // raw: bias' = 10 − z_x·Σq_w = 10 − 1·(1 − 1 + 2 + 0) = 8; raw sums at (1,1): 5 − 6 + 16 = 15 → 23
    // maxAbs = max(|8|, 8 + raw sums 7, 9, 13, 15) = 23; zp-subtract: max(|10|, 15, 17, 21, 23) = 23
    expect(tinyConv('raw').overflow.maxAbs).toBe(23);
    expect(tinyConv('zp-subtract').overflow.maxAbs).toBe(23);
  });

  it('kOrder decides which products meet first', () => {
    // 2 input channels, 1×2 kernel of ones, x ch0 = [100, 0], ch1 = [100, 0]:
    //   ckk order (ic, kx): products 100, 0, 100, 0 → running 100, 100, 200, 200
    //   kkc order (kx, ic): products 100, 100, 0, 0 → running 100, 200, 200, 200
    // 8-bit ideal accumulator, one product per tile: 200 > 127 counts from step 3 (ckk) / 2 (kkc)
    const run = (kOrder: 'ckk' | 'kkc') =>
      convInt({
        x: Int32Array.of(100, 0, 100, 0),
        xShape: [1, 2, 1, 2],
        zx: 0,
        w: Int32Array.of(1, 1, 1, 1),
        wShape: [1, 2, 1, 2],
        zw: Int32Array.of(0),
        bias: null,
        strides: [1, 1],
        pads: [0, 0, 0, 0],
        dilations: [1, 1],
        group: 1,
        acc: { bits: 8, policy: 'ideal' },
        order: { kOrder, kTile: 1 },
        form: 'zp-subtract',
        xBits: 8,
        xSigned: false,
        wBits: 8,
        wSigned: true,
      }).overflow;
    expect(run('ckk')).toMatchObject({ events: 2, first: { channel: 0, position: 0, step: 3 }, maxAbs: 200, tiles: 4 });
    expect(run('kkc')).toMatchObject({ events: 3, first: { channel: 0, position: 0, step: 2 }, maxAbs: 200, tiles: 4 });
  });
});

function tinyGemm(form: PeForm) {
  return gemmInt({
    // x (signed 8-bit, z_x = 2):  x − z_x:
    //   1 2 3                      −1 0 1
    //   4 5 6                       2 3 4
    x: Int32Array.of(1, 2, 3, 4, 5, 6),
    m: 2,
    k: 3,
    zx: 2,
    // w rows (per-channel z_w = [0, 1]):   w − z_w:
    //   1 0 −1                              1 0 −1
    //   3 1  0                              2 0 −1
    w: Int32Array.of(1, 0, -1, 3, 1, 0),
    nOut: 2,
    zw: Int32Array.of(0, 1),
    bias: Int32Array.of(0, 5),
    acc: { bits: 16, policy: 'wrap' },
    order: ONE_TILE,
    form,
    xBits: 8,
    xSigned: true,
    wBits: 8,
    wSigned: true,
  });
}

describe('gemmInt by hand', () => {
  it('per-channel weight zero points', () => {
    // [0][0] = 0 + (−1 + 0 − 1) = −2      [0][1] = 5 + (−2 + 0 − 1) = 2
    // [1][0] = 0 + (2 + 0 − 4) = −2       [1][1] = 5 + (4 + 0 − 4) = 5
    for (const form of ['zp-subtract', 'raw'] as const) expect(Array.from(tinyGemm(form).acc)).toEqual([-2, 2, -2, 5]);
  });

  it('raw form: the z_w·Σq_x term is its own step, counted', () => {
    // channel 1: bias' = 5 − z_x·Σq_w + K·z_w·z_x = 5 − 2·4 + 3·1·2 = 3
    //   row 0: 3 + (3·1 + 1·2 + 0·3) = 8, then −z_w·Σq_x = −(1 + 2 + 3) → 2
    //   row 1: 3 + (12 + 5 + 0) = 20, then −(4 + 5 + 6) → 5
    // channel 0: z_w = 0, bias' = 0 − 2·0 = 0, no extra step
    const raw = tinyGemm('raw').overflow;
    expect(raw.zwSumSteps).toBe(2); // two rows × one channel with z_w ≠ 0
    expect(raw.xSumAdds).toBe(6); // Σq_x: K = 3 adds per row
    expect(raw.maxAbs).toBe(20);
    expect(raw.tiles).toBe(1);
    // zp-subtract form: no extra step; trajectory bias 0/5, then the results → maxAbs 5
    const zp = tinyGemm('zp-subtract').overflow;
    expect(zp).toMatchObject({ zwSumSteps: 0, xSumAdds: 0, maxAbs: 5 });
  });

  it('raw form overflows where zp-subtract does not: a 5-bit accumulator', () => {
    // raw trajectory of channel 1, row 1 reaches 20 > 15 (step 1) then comes back to 5 (step 2)
    const spec = { ...tinyGemmSpec(), acc: { bits: 5, policy: 'ideal' as AccPolicy } };
    const raw = gemmInt({ ...spec, form: 'raw' });
    expect(raw.overflow).toMatchObject({ events: 1, first: { channel: 1, position: 1, step: 1 } });
    expect(Array.from(raw.acc)).toEqual([-2, 2, -2, 5]);
    const zp = gemmInt({ ...spec, form: 'zp-subtract' });
    expect(zp.overflow.events).toBe(0);
    expect(zp.overflow.proved).toBe(false); // 5 bits cannot be proved for every 8-bit input
  });
});

function tinyGemmSpec() {
  return {
    x: Int32Array.of(1, 2, 3, 4, 5, 6),
    m: 2,
    k: 3,
    zx: 2,
    w: Int32Array.of(1, 0, -1, 3, 1, 0),
    nOut: 2,
    zw: Int32Array.of(0, 1),
    bias: Int32Array.of(0, 5),
    order: ONE_TILE,
    xBits: 8,
    xSigned: true,
    wBits: 8,
    wSigned: true,
  };
}

function threeProducts(x: number[], policy: AccPolicy, order: AccumulationOrder) {
  return gemmInt({
    x: Int32Array.from(x),
    m: 1,
    k: 3,
    zx: 0,
    w: Int32Array.of(1, 1, 1),
    nOut: 1,
    zw: Int32Array.of(0),
    bias: null,
    acc: { bits: 8, policy },
    order,
    form: 'zp-subtract',
    xBits: 8,
    xSigned: true,
    wBits: 8,
    wSigned: true,
  });
}

describe('an 8-bit accumulator by hand', () => {
  const perProduct: AccumulationOrder = { kOrder: 'ckk', kTile: 1 };

  it('wrap: 100 + 100 + 100 wraps at step 2 and ends at 300 − 256 = 44', () => {
    // steps: 100 → 200 (> 127: event, 200 − 256 = −56) → 44
    const r = threeProducts([100, 100, 100], 'wrap', perProduct);
    expect(Array.from(r.acc)).toEqual([44]);
    expect(r.overflow).toMatchObject({ events: 1, first: { channel: 0, position: 0, step: 2 }, proved: false, maxAbs: 300, tiles: 3 });
    expect(Array.from(r.overflow.perChannel)).toEqual([1]);
  });

  it('saturate: sticks at 127 from step 2, two events', () => {
    // 100 → 200 ↦ 127 (event) → 227 ↦ 127 (event)
    const r = threeProducts([100, 100, 100], 'saturate', perProduct);
    expect(Array.from(r.acc)).toEqual([127]);
    expect(r.overflow).toMatchObject({ events: 2, first: { channel: 0, position: 0, step: 2 } });
  });

  it('ideal: keeps 300 but counts both adds beyond 127', () => {
    const r = threeProducts([100, 100, 100], 'ideal', perProduct);
    expect(Array.from(r.acc)).toEqual([300]);
    expect(r.overflow.events).toBe(2);
  });

  it('one tile: a single add of 300 wraps to 44 at step 1', () => {
    const r = threeProducts([100, 100, 100], 'wrap', ONE_TILE);
    expect(Array.from(r.acc)).toEqual([44]);
    expect(r.overflow).toMatchObject({ events: 1, first: { channel: 0, position: 0, step: 1 }, tiles: 1 });
  });

  it('an 8-bit partial sum wraps in-array instead: the accumulator sees 44 and no event', () => {
    // psum: 100 → 200 ↦ −56 (psum event) → 44; accumulator 0 + 44
    const r = threeProducts([100, 100, 100], 'wrap', { kOrder: 'ckk', kTile: 3, psumBits: 8 });
    expect(Array.from(r.acc)).toEqual([44]);
    expect(r.overflow).toMatchObject({ events: 0, psumEvents: 1, maxAbs: 300 });
  });

  it('the tile order decides whether 100 + 100 − 100 overflows', () => {
    // forward: 100 → 200 (event, ↦ −56) → −156 (event, ↦ 100); result right by luck of wrap
    const fwd = threeProducts([100, 100, -100], 'wrap', perProduct);
    expect(Array.from(fwd.acc)).toEqual([100]);
    expect(fwd.overflow).toMatchObject({ events: 2, first: { step: 2 }, maxAbs: 200 });
    // saturate forward: 100 → 127 (event) → 27: wrong
    expect(Array.from(threeProducts([100, 100, -100], 'saturate', perProduct).acc)).toEqual([27]);
    // reverse: −100 → 0 → 100, nothing leaves the range
    const rev = threeProducts([100, 100, -100], 'saturate', { ...perProduct, tileOrder: 'reverse' });
    expect(Array.from(rev.acc)).toEqual([100]);
    expect(rev.overflow).toMatchObject({ events: 0, maxAbs: 100, first: null });
    // an explicit permutation: tiles 0, 2, 1 → 100, 0, 100
    const perm = threeProducts([100, 100, -100], 'saturate', { ...perProduct, tileOrder: [0, 2, 1] });
    expect(perm.overflow).toMatchObject({ events: 0, maxAbs: 100 });
  });

  it('a bias that does not fit is an event at the load (step 0)', () => {
    const r = gemmInt({
      x: Int32Array.of(1),
      m: 1,
      k: 1,
      zx: 0,
      w: Int32Array.of(1),
      nOut: 1,
      zw: Int32Array.of(0),
      bias: Int32Array.of(300),
      acc: { bits: 8, policy: 'wrap' },
      order: ONE_TILE,
      form: 'raw',
      xBits: 8,
      xSigned: false,
      wBits: 8,
      wSigned: true,
    });
    // load 300 ↦ 44 (event, step 0), + 1 → 45
    expect(Array.from(r.acc)).toEqual([45]);
    expect(r.overflow).toMatchObject({ events: 1, first: { channel: 0, position: 0, step: 0 }, maxAbs: 301 });
  });
});

describe('bounds by hand', () => {
  // one channel w = [1, −2, 3], unsigned 8-bit input, z = 0, no bias
  const layer = { w: Int32Array.of(1, -2, 3), nOut: 1, zw: Int32Array.of(0), bias: null, zx: 0, xBits: 8, xSigned: false, form: 'zp-subtract' as const };

  it('minSafeAccBits: highest 1·255 + 3·255 = 1020 ≤ 2^10 − 1, lowest −2·255 = −510 → 11 bits', () => {
    expect(minSafeAccBits(layer)).toBe(11);
    // a signed input [−128, 127]: highest 1·127 + (−2)(−128) + 3·127 = 764, lowest −128 − 254 − 384 = −766 → 11
    expect(minSafeAccBits({ ...layer, xSigned: true })).toBe(11);
    // a bias of −1300 moves the lowest to −1810 < −1024 → 12
    expect(minSafeAccBits({ ...layer, bias: Int32Array.of(-1300) })).toBe(12);
  });

  it('provablySafe: K·max|q_w|·max|q_x| = 3·3·255 = 2295 < 2^12, not < 2^11', () => {
    expect(provablySafe(layer, 13)).toBe(true);
    expect(provablySafe(layer, 12)).toBe(false);
  });

  it('provablySafe, raw form: the folded bias counts too', () => {
    // z_x = 128: raw K·max|q_w|·max|q_x| = 3·3·255 = 2295, bias' = 0 − 128·(1 − 2 + 3) = −256
    // → 2551 < 2^12 but not < 2^11; zp-subtract: 3·3·128 = 1152 < 2^11 but not < 2^10
    const l = { ...layer, zx: 128 };
    expect(provablySafe({ ...l, form: 'raw' }, 13)).toBe(true);
    expect(provablySafe({ ...l, form: 'raw' }, 12)).toBe(false);
    expect(provablySafe(l, 12)).toBe(true);
    expect(provablySafe(l, 11)).toBe(false);
  });

  it('a2qSafe: ‖q_w‖₁ = 6 ≤ (2^11 − 1)/2^8 ≈ 7.996 at 12 bits, > (2^10 − 1)/2^8 ≈ 3.996 at 11', () => {
    expect(a2qSafe({ w: layer.w, nOut: 1, accBits: 12, xBits: 8, xSigned: false })).toBe(true);
    expect(a2qSafe({ w: layer.w, nOut: 1, accBits: 11, xBits: 8, xSigned: false })).toBe(false);
    // signed input: limit (2^10 − 1)·2^(1−8) ≈ 7.99 at 11 bits
    expect(a2qSafe({ w: layer.w, nOut: 1, accBits: 11, xBits: 8, xSigned: true })).toBe(true);
  });

  it('the kernel proves the layer exactly when P ≥ minSafeAccBits', () => {
    const spec = { k: 3, nOut: 1, w: layer.w, zx: 0, zw: layer.zw, bias: null, order: ONE_TILE, form: layer.form, xBits: 8, xSigned: false, wBits: 8, wSigned: true };
    expect(prepareGemmInt({ ...spec, acc: { bits: 11, policy: 'wrap' } }).proved).toBe(true);
    expect(prepareGemmInt({ ...spec, acc: { bits: 10, policy: 'wrap' } }).proved).toBe(false);
  });
});

describe('refusals', () => {
  const base = tinyGemmSpec();
  it('inputs outside their declared range are a ModelError', () => {
    expect(() => gemmInt({ ...base, x: Int32Array.of(1, 2, 3, 4, 5, 200), acc: { bits: 32, policy: 'wrap' }, form: 'raw' })).toThrow(ModelError);
  });
  it('a tile order that is not a permutation is an InvariantError', () => {
    expect(() => gemmInt({ ...base, acc: { bits: 32, policy: 'wrap' }, form: 'raw', order: { kOrder: 'ckk', kTile: 1, tileOrder: [0, 0, 1] } })).toThrow(InvariantError);
  });
  it('a layer whose sums can reach 2^53 is refused rather than silently rounded', () => {
    // a 2^30 weight against a 32-bit input range: one product can reach 2^30·2^31 = 2^61
    const w = Int32Array.of(2 ** 30, 0, 0, 0, 0, 0);
    expect(() => gemmInt({ ...base, w, xBits: 32, wBits: 32, acc: { bits: 64, policy: 'wrap' }, form: 'raw' })).toThrow(/2\^53/);
    // the same layer with an 8-bit input stays below 2^53 (2^30·2^7·3) and runs
    expect(gemmInt({ ...base, w, wBits: 32, acc: { bits: 64, policy: 'wrap' }, form: 'raw' }).acc[0]).toBe(2 ** 30 * -1);
  });
});
