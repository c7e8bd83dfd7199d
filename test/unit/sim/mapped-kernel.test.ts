/**
 * A mapped layer's arithmetic in the mapping's order (sim/mapping/mapped-kernel.ts): hand-worked
 * cases where two mappings of the same products give different saturated results; exact
 * accumulators equal a brute-force evaluation of the problem from its projections alone; and the
 * incremental loop walk equals a closed-form regrouping (every MAC placed by decoding its step
 * number into loop indices, its partial-sum register named by the loops that decide L0's tile and
 * the instance) on random mappings of Timeloop's own reference problems.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TimeloopSpec, TimeloopStorageLevel } from '../../../arch/timeloop.js';
import { Prng } from '../../../nets/prng.js';
import { loopNest, rankSizes, runMapped, type MappedAccumulators } from '../../../sim/mapping/mapped-kernel.js';
import { runTimeloop } from '../../../scenarios/timeloop.js';
import { parseTimeloopStats } from '../../helpers/timeloop-stats.js';

const GOLDEN = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'golden', 'timeloop');

/** a storage level with only what the kernel reads: keep flags and loops */
function level(name: string, keep: boolean[], factors: number[], permutation: number[], spatial?: { factors: number[]; permutation: number[] }): TimeloopStorageLevel {
  return {
    name, className: 'regfile', dummy: false, instances: 1, meshX: 1, meshY: 1, wordBits: 16, widthBits: 16, blockSize: 1, clusterSize: 1, fanoutX: 1, fanoutY: 1,
    energy: { readPj: 0, writePj: 0, updatePj: 0, leakPj: 0 }, capacityWords: null, allowOverbooking: false, readBandwidth: null, writeBandwidth: null, sharedBandwidth: null,
    temporal: { factors, permutation }, spatial: spatial ? { ...spatial, split: spatial.permutation.length } : null, keep,
  };
}

/** y[m] = Σ_c w[m][c] · x[c]: dimensions C (0), M (1) */
function gemv(C: number, M: number, storage: TimeloopStorageLevel[]): TimeloopSpec {
  return {
    source: 'gemv',
    problem: {
      name: 'gemv',
      dimensions: ['C', 'M'],
      bounds: [C, M],
      dataSpaces: [
        { name: 'Weights', readWrite: false, projection: [[{ dimension: 1, coefficient: 1 }], [{ dimension: 0, coefficient: 1 }]] },
        { name: 'Inputs', readWrite: false, projection: [[{ dimension: 0, coefficient: 1 }]] },
        { name: 'Outputs', readWrite: true, projection: [[{ dimension: 1, coefficient: 1 }]] },
      ],
    },
    storage,
    compute: { name: 'mac', className: 'intmac', instances: 1, meshX: 1, meshY: 1, computePj: 0 },
  };
}

const SAT8: MappedAccumulators = { psumBits: 8, accBits: 16, policy: 'saturate' };

describe('a mapped layer computed in its mapping\'s order', () => {
  // x = [100, 100, −100, −100], every weight 1: each output's exact sum is 0
  const x = Int32Array.of(100, 100, -100, -100);
  const ALL = [true, true, true];
  const OUT = [false, false, true];

  it('the whole reduction inside the register: one partial sum, saturated once (hand-worked)', () => {
    // register keeps Outputs and runs C = 4: 100, 200 → 127 (an overflow), 27, −73; one update
    const spec = gemv(4, 1, [level('reg', OUT, [4, 1], [0, 1]), level('buf', ALL, [1, 1], [0, 1]), level('dram', ALL, [1, 1], [0, 1])]);
    const r = runMapped(spec, { Weights: Int32Array.of(1, 1, 1, 1), Inputs: x }, SAT8);
    expect([...r.outputs]).toEqual([-73]);
    expect([r.psumEvents, r.accEvents, r.updates]).toEqual([1, 0, 1]);
  });

  it('a reduction loop above the register leaves the partial sum in place (hand-worked)', () => {
    // C = 2 in the register, C = 2 in the buffer: Outputs do not depend on C, the tile stays — the same −73
    const spec = gemv(4, 1, [level('reg', OUT, [2, 1], [0, 1]), level('buf', ALL, [2, 1], [0, 1]), level('dram', ALL, [1, 1], [0, 1])]);
    const r = runMapped(spec, { Weights: Int32Array.of(1, 1, 1, 1), Inputs: x }, SAT8);
    expect([...r.outputs]).toEqual([-73]);
    expect([r.psumEvents, r.updates]).toEqual([1, 1]);
  });

  it('an output loop between the halves of the reduction splits it: the same products give −1 (hand-worked)', () => {
    // DRAM: C = 2 (outer half), buffer: M = 2, register: C = 2 (inner half). Output 0: 100 + 100 →
    // 127 (overflow), update → acc 127; output 1 the same; then −100 − 100 → −128 (overflow),
    // update → 127 − 128 = −1. Four register overflows, four updates.
    const spec = gemv(4, 2, [level('reg', OUT, [2, 1], [0, 1]), level('buf', ALL, [1, 2], [0, 1]), level('dram', ALL, [2, 1], [0, 1])]);
    const r = runMapped(spec, { Weights: new Int32Array(8).fill(1), Inputs: x }, SAT8);
    expect([...r.outputs]).toEqual([-1, -1]);
    expect([r.psumEvents, r.accEvents, r.updates]).toEqual([4, 0, 4]);
    // exact arithmetic: 0 either way
    expect([...runMapped(spec, { Weights: new Int32Array(8).fill(1), Inputs: x }, { ...SAT8, policy: 'ideal' }).outputs]).toEqual([0, 0]);
  });

  it('a spatial reduction above the register: each instance its own partial sum, reduced at the parent (hand-worked)', () => {
    // C = 4 across 4 instances of the register level (the buffer's fanout): four registers of one
    // product each, no overflow; the parent adds 100, 100, −100, −100 at 16 bits: 0
    const spec = gemv(4, 1, [level('reg', OUT, [1, 1], [0, 1]), level('buf', ALL, [1, 1], [0, 1], { factors: [4, 1], permutation: [0, 1] }), level('dram', ALL, [1, 1], [0, 1])]);
    const r = runMapped(spec, { Weights: Int32Array.of(1, 1, 1, 1), Inputs: x }, SAT8);
    expect([...r.outputs]).toEqual([0]);
    expect([r.psumEvents, r.updates]).toEqual([0, 4]);
  });

  /** the reference problems' specs (conv1d with channels, a 7-D conv) */
  const specs: TimeloopSpec[] = [];
  const runs: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e === 'parsed-processed-input.yaml') {
        specs.push(runTimeloop(d).spec);
        runs.push(d);
      }
    }
  };
  walk(GOLDEN);

  it('the partial sums sent up from where Outputs live equal Timeloop\'s own update counts at the parent (its stats.txt), times the spatial reduction', () => {
    let checked = 0;
    runs.forEach((dir, i) => {
      const stats = readdirSync(dir).find((f) => f.endsWith('.stats.txt'));
      if (!stats) return;
      const spec = specs[i];
      const outName = spec.problem.dataSpaces.find((d) => d.readWrite)!.name;
      const { l0, loops, nOuter } = loopNest(spec);
      // the parent: the next level out that keeps Outputs (none: a one-level run sends nothing up)
      const parent = spec.storage.findIndex((l, j) => j > l0 && !l.dummy && l.keep[spec.problem.dataSpaces.findIndex((d) => d.readWrite)]);
      if (parent < 0) return;
      const st = parseTimeloopStats(readFileSync(join(dir, stats), 'utf8')).levels.find((l) => l.name === spec.storage[parent].name)!.dataSpaces[outName];
      // spatial loops from the parent down to L0 over dimensions Outputs do not depend on: their
      // partial sums are reduced before the parent's update (those above the parent pick other
      // parent instances, counted by its utilized instances)
      const outDims = new Set(spec.problem.dataSpaces.find((d) => d.readWrite)!.projection.flatMap((t) => t.map((x) => x.dimension)));
      let fanIn = 1;
      loops.forEach((l, j) => {
        if (j < nOuter && l.spatial && l.level <= parent && !outDims.has(l.dim)) fanIn *= l.factor;
      });
      const ops: Record<string, Int32Array> = {};
      spec.problem.dataSpaces.forEach((d, k) => {
        if (!d.readWrite) ops[d.name] = new Int32Array(rankSizes(spec, k).reduce((a, b) => a * b, 1)).fill(1);
      });
      const r = runMapped(spec, ops, { psumBits: 40, accBits: 48, policy: 'ideal' });
      expect({ dir, updates: r.updates }).toEqual({ dir, updates: st['Scalar updates (per-instance)'] * st['Utilized instances (max)'] * fanIn });
      checked++;
    });
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  /** the spec's problem shrunk to small bounds, with a random mapping of them over its levels */
  function randomMapping(base: TimeloopSpec, r: Prng): TimeloopSpec {
    const D = base.problem.dimensions.length;
    const bounds = base.problem.bounds.map((b) => (b === 1 ? 1 : 1 + r.int(Math.min(b, 6))));
    const levels = base.storage.map((l) => ({ ...l, temporal: { factors: new Array<number>(D).fill(1), permutation: [...l.temporal.permutation] }, spatial: l.spatial ? { ...l.spatial, factors: new Array<number>(D).fill(1) } : null }));
    for (let d = 0; d < D; d++) {
      // the bound's prime factors, each to a random slot (a level's temporal or spatial loop)
      let n = bounds[d];
      for (let p = 2; n > 1; ) {
        if (n % p !== 0) {
          p++;
          continue;
        }
        n /= p;
        const l = levels[r.int(levels.length)];
        if (l.spatial && r.int(2) === 0) l.spatial.factors[d] *= p;
        else l.temporal.factors[d] *= p;
      }
    }
    for (const l of levels) {
      for (let i = l.temporal.permutation.length - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [l.temporal.permutation[i], l.temporal.permutation[j]] = [l.temporal.permutation[j], l.temporal.permutation[i]];
      }
    }
    // Outputs kept at a random level (and at the outermost)
    const outIdx = base.problem.dataSpaces.findIndex((d) => d.readWrite);
    const keepAt = r.int(levels.length);
    const storage = levels.map((l, i) => ({ ...l, keep: l.keep.map((k, ds) => (ds === outIdx ? !l.dummy && (i >= keepAt || i === levels.length - 1) : k)) }));
    return { ...base, problem: { ...base.problem, bounds }, storage };
  }

  /** brute force from the projections: every point of the problem, exact sums */
  function brute(spec: TimeloopSpec, ops: Record<string, Int32Array>): number[] {
    const dss = spec.problem.dataSpaces;
    const outIdx = dss.findIndex((d) => d.readWrite);
    const sizes = dss.map((_, i) => rankSizes(spec, i));
    const addr = (ds: number, idx: number[]) => dss[ds].projection.reduce((a, terms, rk) => a * sizes[ds][rk] + terms.reduce((v, t) => v + t.coefficient * idx[t.dimension], 0), 0);
    const out = new Array<number>(sizes[outIdx].reduce((a, b) => a * b, 1)).fill(0);
    const reads = dss.map((_, i) => i).filter((i) => i !== outIdx);
    const idx = new Array<number>(spec.problem.bounds.length).fill(0);
    const rec = (d: number): void => {
      if (d === idx.length) {
        out[addr(outIdx, idx)] += ops[dss[reads[0]].name][addr(reads[0], idx)] * ops[dss[reads[1]].name][addr(reads[1], idx)];
        return;
      }
      for (let i = 0; i < spec.problem.bounds[d]; i++) {
        idx[d] = i;
        rec(d + 1);
      }
    };
    rec(0);
    return out;
  }

  /**
   * The same arithmetic regrouped in closed form: step t decoded into the loops' indices (outermost
   * first), a MAC's register = (the loop indices before tileEnd, the spatial loops above L0) and
   * its output; registers of one epoch (the digits before tileEnd) go up in order of first use.
   */
  function regrouped(spec: TimeloopSpec, ops: Record<string, Int32Array>, acc: MappedAccumulators) {
    const { loops, nOuter, tileEnd } = loopNest(spec);
    const dss = spec.problem.dataSpaces;
    const outIdx = dss.findIndex((d) => d.readWrite);
    const sizes = dss.map((_, i) => rankSizes(spec, i));
    const reads = dss.map((_, i) => i).filter((i) => i !== outIdx);
    const addr = (ds: number, idx: number[]) => dss[ds].projection.reduce((a, terms, rk) => a * sizes[ds][rk] + terms.reduce((v, t) => v + t.coefficient * idx[t.dimension], 0), 0);
    const total = loops.reduce((a, l) => a * l.factor, 1);
    const clamp = (v: number, bits: number, ev: { n: number }) => {
      const lo = -(2 ** (bits - 1));
      const hi = 2 ** (bits - 1) - 1;
      if (acc.policy === 'ideal' || (v >= lo && v <= hi)) return v;
      ev.n++;
      if (acc.policy === 'saturate') return v < lo ? lo : hi;
      return ((((v - lo) % 2 ** bits) + 2 ** bits) % 2 ** bits) + lo;
    };
    const epochs = new Map<string, { reg: Map<string, { o: number; v: number }> }>();
    const epochOrder: string[] = [];
    const psumEv = { n: 0 };
    for (let t = 0; t < total; t++) {
      const digits: number[] = [];
      let rest = t;
      for (let j = loops.length - 1; j >= 0; j--) {
        digits[j] = rest % loops[j].factor;
        rest = Math.floor(rest / loops[j].factor);
      }
      const idx = new Array<number>(spec.problem.bounds.length).fill(0);
      loops.forEach((l, j) => (idx[l.dim] += digits[j] * l.stride));
      const epoch = digits.slice(0, tileEnd).join(',');
      const inst = loops.map((l, j) => (j < nOuter && l.spatial ? digits[j] : '-')).join(',');
      const o = addr(outIdx, idx);
      if (!epochs.has(epoch)) {
        epochs.set(epoch, { reg: new Map() });
        epochOrder.push(epoch);
      }
      const regs = epochs.get(epoch)!.reg;
      const key = `${inst}|${o}`;
      const cur = regs.get(key) ?? { o, v: 0 };
      cur.v = clamp(cur.v + ops[dss[reads[0]].name][addr(reads[0], idx)] * ops[dss[reads[1]].name][addr(reads[1], idx)], acc.psumBits, psumEv);
      regs.set(key, cur);
    }
    const out = new Array<number>(sizes[outIdx].reduce((a, b) => a * b, 1)).fill(0);
    const accEv = { n: 0 };
    for (const e of epochOrder) for (const { o, v } of epochs.get(e)!.reg.values()) out[o] = clamp(out[o] + v, acc.accBits, accEv);
    return { out, psumEvents: psumEv.n, accEvents: accEv.n };
  }

  it('exact accumulators equal a brute force from the projections; saturating and wrapping ones equal the closed-form regrouping (random mappings of the reference problems)', () => {
    expect(specs.length).toBeGreaterThanOrEqual(6);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.constantFrom<'saturate' | 'wrap'>('saturate', 'wrap'), (seed, policy) => {
        const r = new Prng(seed);
        const spec = randomMapping(specs[r.int(specs.length)], r);
        const ops: Record<string, Int32Array> = {};
        spec.problem.dataSpaces.forEach((d, i) => {
          if (!d.readWrite) ops[d.name] = new Int32Array(rankSizes(spec, i).reduce((a, b) => a * b, 1)).map(() => r.int(255) - 127);
        });
        expect([...runMapped(spec, ops, { psumBits: 32, accBits: 32, policy: 'ideal' }).outputs]).toEqual(brute(spec, ops));
        const narrow: MappedAccumulators = { psumBits: 12 + r.int(4), accBits: 14 + r.int(4), policy };
        const got = runMapped(spec, ops, narrow);
        const want = regrouped(spec, ops, narrow);
        expect({ out: [...got.outputs], psumEvents: got.psumEvents, accEvents: got.accEvents }).toEqual(want);
      }),
      { seed: 20261204, numRuns: 120 },
    );
  });
});
