/**
 * sim/kernels/linear.ts against a step-by-step BigInt reference written here: straightforward
 * loops over output channel, output position, tile — no code shared with the kernels (not the
 * arrival order, not the bounds), BigInt arithmetic, BigInt.asIntN for wrap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccPolicy, AccumulationOrder, OverflowReport, PeForm } from '../../sim/kernels/accumulator.js';
import { prepareConvInt, prepareGemmInt } from '../../sim/kernels/linear.js';
import { windowArbs } from '../helpers/arbitraries.js';

const RUNS = 200;

interface RefReport {
  acc: number[];
  events: number;
  perChannel: number[];
  first: { channel: number; position: number; step: number } | null;
  maxAbs: number;
  zwSumSteps: number;
  xSumAdds: number;
  tiles: number;
  psumEvents: number;
}

function police(v: bigint, policy: AccPolicy, bits: number): bigint {
  if (policy === 'wrap') return BigInt.asIntN(bits, v);
  if (policy === 'saturate') {
    const hi = (1n << BigInt(bits - 1)) - 1n;
    const lo = -(1n << BigInt(bits - 1));
    return v > hi ? hi : v < lo ? lo : v;
  }
  return v;
}

function outside(v: bigint, bits: number): boolean {
  return v > (1n << BigInt(bits - 1)) - 1n || v < -(1n << BigInt(bits - 1));
}

/** Tile indices in arrival order, as the order's documentation defines it. */
function tileArrival(k: number, order: AccumulationOrder): { tile: number; perm: number[] } {
  const tile = order.kTile === 0 || order.kTile >= k ? k : order.kTile;
  const n = Math.ceil(k / tile);
  const fwd = Array.from({ length: n }, (_, i) => i);
  const to = order.tileOrder ?? 'forward';
  const perm = to === 'forward' ? fwd : to === 'reverse' ? fwd.reverse() : [...to];
  return { tile, perm };
}

interface RefLayer {
  nOut: number;
  positions: number;
  k: number;
  groupOf: (c: number) => number;
  /** q_x the PE multiplies for channel c's group, position p, K index o (kOrder numbering); z_x for padding */
  qx: (g: number, p: number, o: number) => number;
  /** q_w for channel c at K index o (kOrder numbering) */
  qw: (c: number, o: number) => number;
  /** output index of (c, p) */
  outIndex: (c: number, p: number) => number;
  nGroups: number;
}

function reference(
  L: RefLayer,
  a: { zx: number; zw: Int32Array; bias: Int32Array | null; accBits: number; policy: AccPolicy; order: AccumulationOrder; form: PeForm },
): RefReport {
  const { tile, perm } = tileArrival(L.k, a.order);
  const K = BigInt(L.k);
  const zx = BigInt(a.zx);
  const acc: number[] = new Array(L.nOut * L.positions).fill(0);
  const perChannel: number[] = new Array(L.nOut).fill(0);
  let events = 0;
  let first: RefReport['first'] = null;
  let maxAbs = 0n;
  let psumEvents = 0;
  let zwChannels = 0;
  const groupsNeedingSum = new Set<number>();
  const ev = (c: number, p: number, step: number) => {
    events++;
    perChannel[c]++;
    if (!first) first = { channel: c, position: p, step };
  };
  const abs = (v: bigint) => (v < 0n ? -v : v);
  for (let c = 0; c < L.nOut; c++) {
    const g = L.groupOf(c);
    const zw = BigInt(a.zw.length === 1 ? a.zw[0] : a.zw[c]);
    const raw = a.form === 'raw';
    if (raw && zw !== 0n) {
      zwChannels++;
      groupsNeedingSum.add(g);
    }
    let wSum = 0n;
    for (let o = 0; o < L.k; o++) wSum += BigInt(L.qw(c, o));
    const bias = a.bias ? BigInt(a.bias[c]) : 0n;
    const init = raw ? bias - zx * wSum + K * zw * zx : bias;
    for (let p = 0; p < L.positions; p++) {
      let ideal = init;
      if (abs(ideal) > maxAbs) maxAbs = abs(ideal);
      let v = init;
      if (outside(v, a.accBits)) ev(c, p, 0);
      v = police(v, a.policy, a.accBits);
      for (let s = 0; s < perm.length; s++) {
        let exact = 0n;
        let ps = 0n;
        for (let o = perm[s] * tile; o < Math.min(L.k, (perm[s] + 1) * tile); o++) {
          const qw = BigInt(L.qw(c, o));
          const qx = BigInt(L.qx(g, p, o));
          const prod = raw ? qw * qx : (qw - zw) * (qx - zx);
          exact += prod;
          ps += prod;
          if (a.order.psumBits !== undefined) {
            if (outside(ps, a.order.psumBits)) psumEvents++;
            ps = police(ps, a.policy, a.order.psumBits);
          }
        }
        ideal += exact;
        if (abs(ideal) > maxAbs) maxAbs = abs(ideal);
        v += ps;
        if (outside(v, a.accBits)) ev(c, p, s + 1);
        v = police(v, a.policy, a.accBits);
      }
      if (raw && zw !== 0n) {
        let sx = 0n;
        for (let o = 0; o < L.k; o++) sx += BigInt(L.qx(g, p, o));
        const t = -zw * sx;
        ideal += t;
        if (abs(ideal) > maxAbs) maxAbs = abs(ideal);
        v += t;
        if (outside(v, a.accBits)) ev(c, p, perm.length + 1);
        v = police(v, a.policy, a.accBits);
      }
      acc[L.outIndex(c, p)] = Number(v);
    }
  }
  return {
    acc,
    events,
    perChannel,
    first,
    maxAbs: Number(maxAbs),
    zwSumSteps: L.positions * zwChannels,
    xSumAdds: L.positions * L.k * groupsNeedingSum.size,
    tiles: perm.length,
    psumEvents,
  };
}

function reportOf(acc: Float64Array, r: OverflowReport): RefReport {
  return {
    acc: Array.from(acc),
    events: r.events,
    perChannel: Array.from(r.perChannel),
    first: r.first,
    maxAbs: r.maxAbs,
    zwSumSteps: r.zwSumSteps,
    xSumAdds: r.xSumAdds,
    tiles: r.tiles,
    psumEvents: r.psumEvents,
  };
}

const range = (bits: number, signed: boolean) => (signed ? { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 } : { min: 0, max: 2 ** bits - 1 });

/** Values biased to the ends of the range (where overflow lives) but covering it. */
const qvalue = (bits: number, signed: boolean) => {
  const r = range(bits, signed);
  return fc.oneof(fc.integer(r), fc.constantFrom(r.min, r.max, r.min + 1, r.max - 1).map((v) => Math.min(r.max, Math.max(r.min, v))));
};

const quant = fc.record({ xBits: fc.integer({ min: 2, max: 8 }), xSigned: fc.boolean(), wBits: fc.integer({ min: 2, max: 8 }), wSigned: fc.boolean() });

const arith = fc.record({
  accBits: fc.integer({ min: 8, max: 32 }),
  policy: fc.constantFrom<AccPolicy>('wrap', 'saturate', 'ideal'),
  form: fc.constantFrom<PeForm>('raw', 'zp-subtract'),
  kOrder: fc.constantFrom<'ckk' | 'kkc'>('ckk', 'kkc'),
  kTileRaw: fc.integer({ min: 0, max: 40 }),
  psumBits: fc.option(fc.integer({ min: 4, max: 24 }), { nil: undefined }),
  tileOrderKind: fc.constantFrom('forward', 'reverse', 'perm', 'default'),
  permKeys: fc.array(fc.integer(), { minLength: 64, maxLength: 64 }),
});

type Arith = typeof arith extends fc.Arbitrary<infer T> ? T : never;

function orderOf(ar: Arith, k: number): AccumulationOrder {
  const kTile = ar.kTileRaw > k + 1 ? ar.kTileRaw % (k + 2) : ar.kTileRaw;
  const tile = kTile === 0 || kTile >= k ? k : kTile;
  const n = Math.ceil(k / tile);
  const tileOrder =
    ar.tileOrderKind === 'default'
      ? undefined
      : ar.tileOrderKind === 'perm'
        ? Array.from({ length: n }, (_, i) => i).sort((i, j) => ar.permKeys[i % 64] - ar.permKeys[j % 64] || i - j)
        : (ar.tileOrderKind as 'forward' | 'reverse');
  return { kOrder: ar.kOrder, kTile, psumBits: ar.psumBits, tileOrder };
}

type Quant = typeof quant extends fc.Arbitrary<infer T> ? T : never;

/** What conv and gemm cases share: the operand types, the arithmetic, and the operands. */
interface LayerCase {
  q: Quant;
  g: { ar: Arith };
  zx: number;
  w: number[];
  zw: number[];
  bias: number[] | null;
}

/** The case's zero points, bias and arithmetic as the reference takes them (`k`: the reduction length). */
function refArith(cs: LayerCase, k: number, form?: PeForm, policy?: AccPolicy) {
  const { ar } = cs.g;
  return {
    zx: cs.zx,
    zw: Int32Array.from(cs.zw),
    bias: cs.bias ? Int32Array.from(cs.bias) : null,
    accBits: ar.accBits,
    policy: policy ?? ar.policy,
    order: orderOf(ar, k),
    form: form ?? ar.form,
  };
}

/** The same, with the weights and operand types, as prepareConvInt / prepareGemmInt take them. */
function kernelArith(cs: LayerCase, k: number, checking: 'auto' | 'always', form: PeForm | undefined, policy: AccPolicy | undefined, kernel: 'auto' | 'js') {
  const { accBits, policy: accPolicy, ...a } = refArith(cs, k, form, policy);
  const { q } = cs;
  return { ...a, w: Int32Array.from(cs.w), acc: { bits: accBits, policy: accPolicy }, xBits: q.xBits, xSigned: q.xSigned, wBits: q.wBits, wSigned: q.wSigned, checking, kernel };
}

const convCase = quant.chain((q) =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      group: fc.integer({ min: 1, max: 3 }),
      icg: fc.integer({ min: 1, max: 3 }),
      ocg: fc.integer({ min: 1, max: 6 }),
      ...windowArbs({ k: 3, s: 2, pad: 2 }),
      hExtra: fc.integer({ min: 0, max: 4 }),
      wExtra: fc.integer({ min: 0, max: 4 }),
      perChannelZw: fc.boolean(),
      hasBias: fc.boolean(),
      biasScale: fc.integer({ min: 4, max: 30 }),
      seed: fc.integer(),
      ar: arith,
    })
    .chain((g) => {
      const oc = g.ocg * g.group;
      const c = g.icg * g.group;
      // smallest input that still yields one output, plus some
      const h = Math.max(1, g.dh * (g.kh - 1) + 1 - g.pads[0] - g.pads[2]) + g.hExtra;
      const wd = Math.max(1, g.dw * (g.kw - 1) + 1 - g.pads[1] - g.pads[3]) + g.wExtra;
      const bmax = 2 ** g.biasScale;
      return fc.record({
        q: fc.constant(q),
        g: fc.constant({ ...g, oc, c, h, wd }),
        x: fc.array(qvalue(q.xBits, q.xSigned), { minLength: g.n * c * h * wd, maxLength: g.n * c * h * wd }),
        w: fc.array(qvalue(q.wBits, q.wSigned), { minLength: oc * g.icg * g.kh * g.kw, maxLength: oc * g.icg * g.kh * g.kw }),
        zx: fc.integer(range(q.xBits, q.xSigned)),
        zw: fc.array(fc.integer(range(q.wBits, q.wSigned)), { minLength: g.perChannelZw ? oc : 1, maxLength: g.perChannelZw ? oc : 1 }),
        bias: g.hasBias ? fc.array(fc.integer({ min: -bmax, max: bmax }), { minLength: oc, maxLength: oc }) : fc.constant(null),
      });
    }),
);

function runConv(cs: ConvCase, checking: 'auto' | 'always', form?: PeForm, policy?: AccPolicy, kernel: 'auto' | 'js' = 'auto') {
  const { g } = cs;
  const layer = prepareConvInt({
    xShape: [g.n, g.c, g.h, g.wd],
    wShape: [g.oc, g.icg, g.kh, g.kw],
    strides: [g.sh, g.sw],
    pads: g.pads,
    dilations: [g.dh, g.dw],
    group: g.group,
    ...kernelArith(cs, g.icg * g.kh * g.kw, checking, form, policy, kernel),
  });
  return { ...layer.run(Int32Array.from(cs.x)), kernel: layer.kernel };
}
type ConvCase = typeof convCase extends fc.Arbitrary<infer T> ? T : never;

function convReference(cs: ConvCase, form?: PeForm, policy?: AccPolicy): RefReport {
  const { g } = cs;
  const ar = g.ar;
  const K = g.icg * g.kh * g.kw;
  const oh = Math.floor((g.h + g.pads[0] + g.pads[2] - g.dh * (g.kh - 1) - 1) / g.sh) + 1;
  const ow = Math.floor((g.wd + g.pads[1] + g.pads[3] - g.dw * (g.kw - 1) - 1) / g.sw) + 1;
  const area = oh * ow;
  const kk = g.kh * g.kw;
  // kOrder numbering → (ic, ky, kx)
  const split = (o: number): [number, number, number] => {
    if (ar.kOrder === 'ckk') return [Math.floor(o / kk), Math.floor((o % kk) / g.kw), o % g.kw];
    const pos = Math.floor(o / g.icg);
    return [o % g.icg, Math.floor(pos / g.kw), pos % g.kw];
  };
  const L: RefLayer = {
    nOut: g.oc,
    positions: g.n * area,
    k: K,
    nGroups: g.group,
    groupOf: (c) => Math.floor(c / g.ocg),
    qx: (grp, p, o) => {
      const [ic, ky, kx] = split(o);
      const b = Math.floor(p / area);
      const oy = Math.floor((p % area) / ow);
      const ox = p % ow;
      const iy = oy * g.sh - g.pads[0] + ky * g.dh;
      const ix = ox * g.sw - g.pads[1] + kx * g.dw;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.wd) return cs.zx;
      return cs.x[((b * g.c + grp * g.icg + ic) * g.h + iy) * g.wd + ix];
    },
    qw: (c, o) => {
      const [ic, ky, kx] = split(o);
      return cs.w[((c * g.icg + ic) * g.kh + ky) * g.kw + kx];
    },
    outIndex: (c, p) => (Math.floor(p / area) * g.oc + c) * area + (p % area),
  };
  return reference(L, refArith(cs, K, form, policy));
}

const gemmCase = quant.chain((q) =>
  fc
    .record({
      m: fc.integer({ min: 1, max: 5 }),
      k: fc.integer({ min: 1, max: 40 }),
      nOut: fc.integer({ min: 1, max: 9 }),
      perChannelZw: fc.boolean(),
      hasBias: fc.boolean(),
      biasScale: fc.integer({ min: 4, max: 30 }),
      ar: arith,
    })
    .chain((g) => {
      const bmax = 2 ** g.biasScale;
      return fc.record({
        q: fc.constant(q),
        g: fc.constant(g),
        x: fc.array(qvalue(q.xBits, q.xSigned), { minLength: g.m * g.k, maxLength: g.m * g.k }),
        w: fc.array(qvalue(q.wBits, q.wSigned), { minLength: g.nOut * g.k, maxLength: g.nOut * g.k }),
        zx: fc.integer(range(q.xBits, q.xSigned)),
        zw: fc.array(fc.integer(range(q.wBits, q.wSigned)), { minLength: g.perChannelZw ? g.nOut : 1, maxLength: g.perChannelZw ? g.nOut : 1 }),
        bias: g.hasBias ? fc.array(fc.integer({ min: -bmax, max: bmax }), { minLength: g.nOut, maxLength: g.nOut }) : fc.constant(null),
      });
    }),
);
type GemmCase = typeof gemmCase extends fc.Arbitrary<infer T> ? T : never;

function runGemm(cs: GemmCase, checking: 'auto' | 'always', form?: PeForm, policy?: AccPolicy, kernel: 'auto' | 'js' = 'auto') {
  const { g } = cs;
  const layer = prepareGemmInt({ k: g.k, nOut: g.nOut, ...kernelArith(cs, g.k, checking, form, policy, kernel) });
  return { ...layer.run(Int32Array.from(cs.x), g.m), kernel: layer.kernel };
}

function gemmReference(cs: GemmCase, form?: PeForm, policy?: AccPolicy): RefReport {
  const { g } = cs;
  return reference(
    {
      nOut: g.nOut,
      positions: g.m,
      k: g.k,
      nGroups: 1,
      groupOf: () => 0,
      qx: (_g, p, o) => cs.x[p * g.k + o],
      qw: (c, o) => cs.w[c * g.k + o],
      outIndex: (c, p) => p * g.nOut + c,
    },
    refArith(cs, g.k, form, policy),
  );
}

type LayerRun = ReturnType<typeof runConv> | ReturnType<typeof runGemm>;
type Checking = 'auto' | 'always';

/**
 * For every case: auto and forced checking, on the SIMD and the JS kernels, give the reference's
 * accumulators and overflow report (`also` checks more, given the auto-checked run). Over all
 * cases: the generator must reach every regime and kernel, or the property proves little.
 */
function expectReferenceEverywhere<C>(
  cases: fc.Arbitrary<C>,
  reference: (cs: C) => RefReport,
  run: (cs: C, checking: Checking, kernel?: 'auto' | 'js') => LayerRun,
  also: (ref: RefReport, auto: LayerRun) => void = () => {},
): void {
  let proved = 0;
  let overflowed = 0;
  const wasm = { proved: 0, checked: 0 };
  fc.assert(
    fc.property(cases, (cs) => {
      const ref = reference(cs);
      const auto = run(cs, 'auto');
      const forced = run(cs, 'always');
      expect(reportOf(auto.acc, auto.overflow)).toEqual(ref);
      expect(reportOf(forced.acc, forced.overflow)).toEqual(ref);
      expect(forced.overflow.proved).toBe(false);
      for (const r of [run(cs, 'auto', 'js'), run(cs, 'always', 'js')]) {
        expect(r.kernel).toBe('js');
        expect(reportOf(r.acc, r.overflow)).toEqual(ref);
      }
      if (auto.kernel === 'wasm') wasm[auto.overflow.proved ? 'proved' : 'checked']++;
      if (forced.kernel === 'wasm') wasm.checked++;
      if (auto.overflow.proved) proved++;
      also(ref, auto);
      if (ref.events > 0) overflowed++;
    }),
    { numRuns: RUNS },
  );
  expect(proved).toBeGreaterThan(RUNS / 10);
  expect(overflowed).toBeGreaterThan(RUNS / 10);
  expect(wasm.proved).toBeGreaterThan(RUNS / 20);
  expect(wasm.checked).toBeGreaterThan(RUNS / 20);
}

/**
 * Raw and zp-subtract forms give the same accumulators wherever the policy is ideal or neither
 * overflowed (`also` checks more per case), and that is compared in a quarter of the cases at least.
 */
function expectFormsAgree<C extends { g: { ar: { policy: AccPolicy } } }>(cases: fc.Arbitrary<C>, run: (cs: C, form: PeForm) => LayerRun, also: (cs: C) => void = () => {}): void {
  let compared = 0;
  fc.assert(
    fc.property(cases, (cs) => {
      const raw = run(cs, 'raw');
      const zp = run(cs, 'zp-subtract');
      const clean = (r: OverflowReport) => r.events === 0 && r.psumEvents === 0;
      if (cs.g.ar.policy === 'ideal' || (clean(raw.overflow) && clean(zp.overflow))) {
        compared++;
        expect(Array.from(raw.acc)).toEqual(Array.from(zp.acc));
      }
      also(cs);
    }),
    { numRuns: RUNS },
  );
  expect(compared).toBeGreaterThan(RUNS / 4);
}

describe('integer conv vs a step-by-step BigInt reference', () => {
  it('acc and every field of the overflow report match: auto / forced checking, SIMD / JS kernels', () => {
    expectReferenceEverywhere(convCase, convReference, (cs, checking, kernel) => runConv(cs, checking, undefined, undefined, kernel), (ref, auto) => {
      if (auto.overflow.proved) {
        expect(ref.events).toBe(0);
        expect(ref.psumEvents).toBe(0);
      }
    });
  });

  it('raw and zp-subtract forms give the same accumulators when nothing overflows', () => {
    expectFormsAgree(convCase, (cs, form) => runConv(cs, 'auto', form), (cs) => {
      // and the ideal policy is the exact result in both: the reference with nothing wrapping
      const exact = convReference(cs, 'zp-subtract', 'ideal');
      const ideal = runConv(cs, 'auto', 'raw', 'ideal');
      expect(Array.from(ideal.acc)).toEqual(exact.acc);
    });
  });
});

describe('integer gemm vs a step-by-step BigInt reference', () => {
  it('acc and every field of the overflow report match: auto / forced checking, SIMD / JS kernels', () => {
    expectReferenceEverywhere(gemmCase, gemmReference, (cs, checking, kernel) => runGemm(cs, checking, undefined, undefined, kernel));
  });

  it('raw and zp-subtract forms give the same accumulators when nothing overflows', () => {
    expectFormsAgree(gemmCase, (cs, form) => runGemm(cs, 'auto', form));
  });
});
