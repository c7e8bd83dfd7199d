/**
 * The accumulator bounds as properties, checked by running the kernels with an ideal accumulator
 * (which counts every add that leaves the P-bit range) on random and adversarial inputs —
 * all q_max, all q_min, and q_max / q_min chosen per weight sign to push each channel up or down.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccumulationOrder, PeForm } from '../../sim/kernels/accumulator.js';
import { a2qL1Limit, a2qSafe, channelBounds, minSafeAccBits, provablySafe } from '../../sim/kernels/bounds.js';
import { convInt, gemmInt } from '../../sim/kernels/linear.js';

const RUNS = 200;

const range = (bits: number, signed: boolean) => (signed ? { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 } : { min: 0, max: 2 ** bits - 1 });

const orderArb = (k: number) =>
  fc.record({
    kOrder: fc.constantFrom<'ckk' | 'kkc'>('ckk', 'kkc'),
    kTile: fc.integer({ min: 0, max: k + 1 }),
    tileOrder: fc.constantFrom<'forward' | 'reverse'>('forward', 'reverse'),
  }) as fc.Arbitrary<AccumulationOrder>;

/**
 * Inputs for a [nOut, k] weight: random rows, all q_max, all q_min, and per channel the row that
 * pushes it highest (q_max where the PE weight is positive, q_min where negative) and lowest.
 */
function adversarialRows(w: Int32Array, nOut: number, k: number, zw: Int32Array, lo: number, hi: number, random: number[][]): number[][] {
  const rows = [...random, new Array(k).fill(hi), new Array(k).fill(lo)];
  for (let c = 0; c < nOut; c++) {
    const z = zw.length === 1 ? zw[0] : zw[c];
    const up: number[] = [];
    const down: number[] = [];
    for (let i = 0; i < k; i++) {
      const a = w[c * k + i] - z;
      up.push(a >= 0 ? hi : lo);
      down.push(a >= 0 ? lo : hi);
    }
    rows.push(up, down);
  }
  return rows;
}

/** An A2Q case's accumulator (8…maxAccBits bits) and input type (2…8 bits, signed or not); spread first into its fc.record. */
const accAndInput = (maxAccBits: number) => ({
  accBits: fc.integer({ min: 8, max: maxAccBits }),
  xBits: fc.integer({ min: 2, max: 8 }),
  xSigned: fc.boolean(),
});

/**
 * The kernel arguments of an A2Q case: an ideal `accBits` accumulator (it counts every add that
 * leaves the range), the case's order, form and inputs, 32-bit signed weights, always checked.
 */
function idealArith(g: { accBits: number; xBits: number; xSigned: boolean; form: PeForm }, order: AccumulationOrder) {
  return {
    acc: { bits: g.accBits, policy: 'ideal' as const },
    order,
    form: g.form,
    xBits: g.xBits,
    xSigned: g.xSigned,
    wBits: 32,
    wSigned: true,
    checking: 'always' as const,
  };
}

describe('A2Q: ‖q_w‖₁ ≤ (2^(P−1)−1)·2^(1_signed(x)−N) never overflows', () => {
  const a2qCase = fc
    .record({
      ...accAndInput(32),
      nOut: fc.integer({ min: 1, max: 6 }),
      k: fc.integer({ min: 1, max: 48 }),
      form: fc.constantFrom<PeForm>('raw', 'zp-subtract'),
      // how much of the ℓ1 budget each channel uses: exactly all of it is the interesting edge
      fill: fc.oneof(fc.constant(1), fc.double({ min: 0.05, max: 1, noNaN: true })),
    })
    .chain((g) =>
      fc.record({
        g: fc.constant(g),
        raw: fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: g.nOut * g.k, maxLength: g.nOut * g.k }),
        xs: fc.array(fc.array(fc.integer(range(g.xBits, g.xSigned)), { minLength: g.k, maxLength: g.k }), { minLength: 1, maxLength: 3 }),
        order: orderArb(g.k),
      }),
    );

  /** Scales each channel's random weights so its ‖q_w‖₁ uses `fill` of the A2Q budget (rounding toward 0). */
  function scaled(raw: number[], nOut: number, k: number, budget: number, fill: number): Int32Array {
    const w = new Int32Array(nOut * k);
    for (let c = 0; c < nOut; c++) {
      const row = raw.slice(c * k, (c + 1) * k);
      const l1 = row.reduce((s, v) => s + Math.abs(v), 0);
      const target = Math.floor(budget * fill);
      for (let i = 0; i < k; i++) w[c * k + i] = l1 === 0 ? 0 : Math.trunc((row[i] * target) / l1);
      // spend what truncation left over on the largest weight, staying within the budget
      let used = 0;
      for (let i = 0; i < k; i++) used += Math.abs(w[c * k + i]);
      let big = c * k;
      for (let i = c * k; i < (c + 1) * k; i++) if (Math.abs(raw[i]) > Math.abs(raw[big])) big = i;
      if (raw[big] !== 0) w[big] += Math.sign(raw[big]) * (target - used);
    }
    return w;
  }

  it('gemm: scaled weights pass a2qSafe and no running sum leaves the P-bit range', () => {
    fc.assert(
      fc.property(a2qCase, ({ g, raw, xs, order }) => {
        const budget = a2qL1Limit(g.accBits, g.xBits, g.xSigned);
        const w = scaled(raw, g.nOut, g.k, budget, g.fill);
        expect(a2qSafe({ w, nOut: g.nOut, accBits: g.accBits, xBits: g.xBits, xSigned: g.xSigned })).toBe(true);
        const zw = Int32Array.of(0);
        const { min, max } = range(g.xBits, g.xSigned);
        const rows = adversarialRows(w, g.nOut, g.k, zw, min, max, xs);
        const r = gemmInt({
          x: Int32Array.from(rows.flat()),
          m: rows.length,
          k: g.k,
          zx: 0,
          w,
          nOut: g.nOut,
          zw,
          bias: null,
          ...idealArith(g, order),
        });
        expect(r.overflow.events).toBe(0);
        expect(r.overflow.maxAbs).toBeLessThanOrEqual(2 ** (g.accBits - 1) - 1);
        // and A2Q implies the finer bound
        expect(minSafeAccBits({ w, nOut: g.nOut, zw, bias: null, zx: 0, xBits: g.xBits, xSigned: g.xSigned, form: g.form })).toBeLessThanOrEqual(g.accBits);
      }),
      { numRuns: RUNS },
    );
  });

  it('one more unit of ‖q_w‖₁ than the budget allows fails a2qSafe', () => {
    fc.assert(
      fc.property(a2qCase, ({ g }) => {
        const budget = Math.floor(a2qL1Limit(g.accBits, g.xBits, g.xSigned));
        const w = new Int32Array(g.k);
        w[0] = budget + 1;
        expect(a2qSafe({ w, nOut: 1, accBits: g.accBits, xBits: g.xBits, xSigned: g.xSigned })).toBe(false);
        w[0] = budget;
        expect(a2qSafe({ w, nOut: 1, accBits: g.accBits, xBits: g.xBits, xSigned: g.xSigned })).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('conv (padding, groups): A2Q-scaled weights never overflow on adversarial inputs', () => {
    const convCase = fc
      .record({
        ...accAndInput(24),
        group: fc.integer({ min: 1, max: 2 }),
        icg: fc.integer({ min: 1, max: 3 }),
        ocg: fc.integer({ min: 1, max: 5 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        pad: fc.integer({ min: 0, max: 1 }),
        hw: fc.integer({ min: 3, max: 5 }),
        extreme: fc.constantFrom('max', 'min', 'signs'),
        form: fc.constantFrom<PeForm>('raw', 'zp-subtract'),
      })
      .chain((g) => {
        const k = g.icg * g.kh * g.kw;
        return fc.record({ g: fc.constant(g), raw: fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: g.ocg * g.group * k, maxLength: g.ocg * g.group * k }), order: orderArb(k) });
      });
    fc.assert(
      fc.property(convCase, ({ g, raw, order }) => {
        const k = g.icg * g.kh * g.kw;
        const oc = g.ocg * g.group;
        const w = scaled(raw, oc, k, a2qL1Limit(g.accBits, g.xBits, g.xSigned), 1);
        const { min, max } = range(g.xBits, g.xSigned);
        const c = g.icg * g.group;
        // 'signs': every input pixel of channel ic takes the extreme matching output channel 0's
        // weight sign at (ic, 0, 0) — adversarial for that channel's centre taps
        const x = new Int32Array(c * g.hw * g.hw);
        for (let ic = 0; ic < c; ic++) {
          const wv = w[(ic % g.icg) * g.kh * g.kw + Math.floor(ic / g.icg) * g.ocg * k];
          const v = g.extreme === 'max' ? max : g.extreme === 'min' ? min : wv >= 0 ? max : min;
          x.fill(v, ic * g.hw * g.hw, (ic + 1) * g.hw * g.hw);
        }
        const r = convInt({
          x,
          xShape: [1, c, g.hw, g.hw],
          zx: 0,
          w,
          wShape: [oc, g.icg, g.kh, g.kw],
          zw: Int32Array.of(0),
          bias: null,
          strides: [1, 1],
          pads: [g.pad, g.pad, g.pad, g.pad],
          dilations: [1, 1],
          group: g.group,
          ...idealArith(g, order),
        });
        expect(r.overflow.events).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('minSafeAccBits is never below the worst case reached', () => {
  const layerCase = fc
    .record({
      xBits: fc.integer({ min: 2, max: 8 }),
      xSigned: fc.boolean(),
      wBits: fc.integer({ min: 2, max: 8 }),
      wSigned: fc.boolean(),
      nOut: fc.integer({ min: 1, max: 6 }),
      k: fc.integer({ min: 1, max: 40 }),
      perChannelZw: fc.boolean(),
      hasBias: fc.boolean(),
      form: fc.constantFrom<PeForm>('raw', 'zp-subtract'),
    })
    .chain((g) => {
      const xr = range(g.xBits, g.xSigned);
      const wr = range(g.wBits, g.wSigned);
      return fc.record({
        g: fc.constant(g),
        w: fc.array(fc.integer(wr), { minLength: g.nOut * g.k, maxLength: g.nOut * g.k }),
        zx: fc.integer(xr),
        zw: fc.array(fc.integer(wr), { minLength: g.perChannelZw ? g.nOut : 1, maxLength: g.perChannelZw ? g.nOut : 1 }),
        bias: g.hasBias ? fc.array(fc.integer({ min: -100000, max: 100000 }), { minLength: g.nOut, maxLength: g.nOut }) : fc.constant(null),
        xs: fc.array(fc.array(fc.integer(xr), { minLength: g.k, maxLength: g.k }), { minLength: 1, maxLength: 3 }),
        order: orderArb(g.k),
      });
    });

  function runAt(cs: LayerCase, bits: number, form: PeForm) {
    const { g } = cs;
    const w = Int32Array.from(cs.w);
    const zw = Int32Array.from(cs.zw);
    const xr = range(g.xBits, g.xSigned);
    // adversarial rows for the PE operands of this form: raw multiplies q_w, zp-subtract q_w − z_w
    const rows = adversarialRows(w, g.nOut, g.k, form === 'raw' ? Int32Array.of(0) : zw, xr.min, xr.max, cs.xs);
    if (form === 'raw') rows.push(...adversarialRows(w, g.nOut, g.k, zw, xr.min, xr.max, []));
    return gemmInt({
      x: Int32Array.from(rows.flat()),
      m: rows.length,
      k: g.k,
      zx: cs.zx,
      w,
      nOut: g.nOut,
      zw,
      bias: cs.bias ? Int32Array.from(cs.bias) : null,
      acc: { bits, policy: 'ideal' },
      order: cs.order,
      form,
      xBits: g.xBits,
      xSigned: g.xSigned,
      wBits: g.wBits,
      wSigned: g.wSigned,
      checking: 'always',
    });
  }
  type LayerCase = typeof layerCase extends fc.Arbitrary<infer T> ? T : never;

  const layerOf = (cs: LayerCase) => ({
    w: Int32Array.from(cs.w),
    nOut: cs.g.nOut,
    zw: Int32Array.from(cs.zw),
    bias: cs.bias ? Int32Array.from(cs.bias) : null,
    zx: cs.zx,
    xBits: cs.g.xBits,
    xSigned: cs.g.xSigned,
    form: cs.g.form,
  });

  it('an ideal accumulator of minSafeAccBits bits sees no overflow, on random and adversarial inputs', () => {
    fc.assert(
      fc.property(layerCase, (cs) => {
        const p = minSafeAccBits(layerOf(cs));
        const r = runAt(cs, Math.max(2, p), cs.g.form);
        expect(r.overflow.events).toBe(0);
        expect(r.overflow.maxAbs).toBeLessThanOrEqual(2 ** (p - 1));
      }),
      { numRuns: RUNS },
    );
  });

  it('it is tight — one bit less overflows on the adversarial inputs (either form)', () => {
    // the per-channel extremes are reached: zp-subtract by the rows that push (q_w − z_w)·(q_x − z_x)
    // all one way; raw by the rows that push q_w·q_x (before the z_w step) or the final value
    fc.assert(
      fc.property(layerCase, (cs) => {
        const p = minSafeAccBits(layerOf(cs));
        fc.pre(p >= 3);
        const r = runAt(cs, p - 1, cs.g.form);
        expect(r.overflow.events).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('channelBounds are exactly the extremes the adversarial inputs reach (BigInt trajectories)', () => {
    fc.assert(
      fc.property(layerCase, (cs) => {
        const l = layerOf(cs);
        const { g } = cs;
        const b = channelBounds(l);
        const xr = range(g.xBits, g.xSigned);
        const zx = BigInt(cs.zx);
        for (let c = 0; c < g.nOut; c++) {
          const w = cs.w.slice(c * g.k, (c + 1) * g.k).map(BigInt);
          const zw = BigInt(cs.zw.length === 1 ? cs.zw[0] : cs.zw[c]);
          const bias = cs.bias ? BigInt(cs.bias[c]) : 0n;
          const pick = (a: bigint, up: boolean) => BigInt((a >= 0n) === up ? xr.max : xr.min);
          // rows pushing the raw products q_w·q_x, and the zp-subtract products, up and down
          const rows = [true, false].flatMap((up) => [w.map((v) => pick(v, up)), w.map((v) => pick(v - zw, up))]);
          let hi: bigint | null = null;
          let lo: bigint | null = null;
          for (const x of rows) {
            const exact = bias + w.reduce((s, v, i) => s + (v - zw) * (x[i] - zx), 0n);
            const seen: bigint[] = [];
            if (g.form === 'raw') {
              const init = bias - zx * w.reduce((s, v) => s + v, 0n) + BigInt(g.k) * zw * zx;
              let run = init;
              seen.push(run);
              for (let i = 0; i < g.k; i++) seen.push((run += w[i] * x[i]));
              if (zw !== 0n) seen.push(exact);
              else expect(run).toBe(exact);
            } else {
              let run = bias;
              seen.push(run);
              for (let i = 0; i < g.k; i++) seen.push((run += (w[i] - zw) * (x[i] - zx)));
            }
            for (const v of seen) {
              if (hi === null || v > hi) hi = v;
              if (lo === null || v < lo) lo = v;
            }
          }
          expect(b.hi[c]).toBe(Number(hi));
          expect(b.lo[c]).toBe(Number(lo));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('provablySafe(P) implies P ≥ minSafeAccBits, and the kernel then proves the layer', () => {
    fc.assert(
      fc.property(layerCase, fc.integer({ min: 8, max: 40 }), (cs, bits) => {
        const l = layerOf(cs);
        if (provablySafe(l, bits)) {
          expect(minSafeAccBits(l)).toBeLessThanOrEqual(bits);
          expect(runAt(cs, bits, cs.g.form).overflow.events).toBe(0);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
