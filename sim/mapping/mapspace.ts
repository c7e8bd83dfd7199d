/**
 * The mapspace of one Timeloop problem on one architecture under its constraints
 * (arch/timeloop-constraints.ts), after NVlabs/timeloop's uber mapspace: per problem dimension an
 * ordered factorization of its bound over the tiling slots (each storage level's temporal loops,
 * and its spatial loops where it has a fanout below), per slot the order of its free dimensions,
 * per spatial slot the X/Y split, per level and data space keep or bypass.
 *
 * What is pruned, and why it loses nothing (test/unit/sim/timeloop-mapper.test.ts checks the optimum
 * against an enumeration without these prunings):
 * - only the order of dimensions with a factor > 1 is a choice — the nest skips unit loops;
 * - the innermost level's temporal order is canonical when nothing fans out below it: its tile,
 *   and so every count, is the same in any order (Timeloop's uber mapspace does the same);
 * - a 1-D fanout without a permutation constraint keeps the canonical spatial order (as Timeloop);
 * - a dummy level (timeloopfe's `inter_*_spatial`) has no temporal loops and keeps nothing unless
 *   its constraints say otherwise — it is a place for spatial loops, not a buffer;
 * - a mapping whose tiles overflow a level, or whose spatial factors exceed the fanout, is refused
 *   before it is evaluated (the same sizes the model checks: each rank's extent is
 *   Σ coefficient × (loop extent − 1) + 1, so the check is exact).
 */
import type { TimeloopLevelConstraints, TimeloopConstraints } from '../../arch/timeloop-constraints.js';
import type { TimeloopSpec, TimeloopStorageLevel } from '../../arch/timeloop.js';
import { ConfigError } from '../../errors/index.js';
import type { Prng } from '../../nets/prng.js';

export interface Slot {
  readonly level: number;
  readonly spatial: boolean;
  readonly prefix: readonly number[];
  readonly suffix: readonly number[];
  /** dimensions neither in the prefix nor the suffix, in dimension order */
  readonly free: readonly number[];
  /** the free dimensions' order is no choice */
  readonly canonical: boolean;
  /** the user's spatial split (a position in the full permutation), null: searched */
  readonly split: number | null;
  readonly fanoutX: number;
  readonly fanoutY: number;
}

/** One point of the mapspace (mutable while the search builds it, never after it is evaluated). */
export interface MapPoint {
  /** factors[d][slot] */
  readonly factors: number[][];
  /** per slot: its free dimensions, innermost first */
  readonly order: number[][];
  /** per spatial slot without a user split: how many of its non-unit loops fan out along X (clipped) */
  readonly xCount: number[];
  /** keep[level][data space] */
  readonly keep: boolean[][];
}

interface DimSpace {
  /** per slot: the fixed factor or null */
  readonly fixed: readonly (number | null)[];
  readonly min: readonly number[];
  readonly max: readonly number[];
  /** the bound ÷ the fixed factors, as primes */
  readonly primes: readonly number[];
  /** slots whose factor is free */
  readonly freeSlots: readonly number[];
}

const ENUMERATION_CAP = 200_000;

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; p * p <= n; p++) {
    while (n % p === 0) {
      out.push(p);
      n /= p;
    }
  }
  if (n > 1) out.push(n);
  return out;
}

function* permutations(items: readonly number[]): Generator<number[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const p of permutations(rest)) yield [items[i], ...p];
  }
}

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

export class Mapspace {
  readonly slots: readonly Slot[];
  readonly nDims: number;
  readonly nDs: number;
  private readonly dims: readonly DimSpace[];
  /** per level and data space: fixed keep flag, or null */
  private readonly keepFixed: readonly (readonly (boolean | null)[])[];
  private readonly freeKeeps: readonly (readonly [number, number])[];
  /** slot indices per level: [temporal, spatial or -1] */
  private readonly levelSlots: readonly (readonly [number, number])[];

  constructor(
    readonly spec: TimeloopSpec,
    readonly constraints: TimeloopConstraints,
  ) {
    const { problem, storage } = spec;
    this.nDims = problem.dimensions.length;
    this.nDs = problem.dataSpaces.length;
    const slots: Slot[] = [];
    const levelSlots: [number, number][] = [];
    const slotConstraints: { c: TimeloopLevelConstraints; spatial: boolean; dummy: boolean }[] = [];
    storage.forEach((level, s) => {
      const c = constraints.levels[s];
      let spatialSlot = -1;
      const make = (spatial: boolean): Slot => {
        const lc = spatial ? c.spatial : c.temporal;
        const fixedOrder = new Set([...lc.prefix, ...lc.suffix]);
        const free = problem.dimensions.map((_, d) => d).filter((d) => !fixedOrder.has(d));
        const unconstrainedOrder = lc.prefix.length === 0 && lc.suffix.length === 0;
        const canonical = spatial
          ? unconstrainedOrder && (level.fanoutX === 1 || level.fanoutY === 1)
          : s === 0 && storage[0].fanoutX * storage[0].fanoutY === 1;
        return { level: s, spatial, prefix: lc.prefix, suffix: lc.suffix, free, canonical, split: spatial ? c.split : null, fanoutX: level.fanoutX, fanoutY: level.fanoutY };
      };
      if (level.fanoutX * level.fanoutY > 1) {
        spatialSlot = slots.length;
        slots.push(make(true));
        slotConstraints.push({ c, spatial: true, dummy: level.dummy });
      }
      levelSlots.push([slots.length, spatialSlot]);
      slots.push(make(false));
      slotConstraints.push({ c, spatial: false, dummy: level.dummy });
    });
    this.slots = slots;
    this.levelSlots = levelSlots;
    const problems: { path: string; message: string }[] = [];
    this.dims = problem.dimensions.map((name, d) => {
      const fixed = slotConstraints.map(({ c, spatial, dummy }) => {
        const lc = spatial ? c.spatial : c.temporal;
        return lc.factors[d] ?? (dummy && !spatial ? 1 : null);
      });
      const min = slotConstraints.map(({ c, spatial }) => (spatial ? c.spatial : c.temporal).minFactors[d] ?? 1);
      const max = slotConstraints.map(({ c, spatial }, i) => Math.min((spatial ? c.spatial : c.temporal).maxFactors[d] ?? Infinity, spatial ? slots[i].fanoutX * slots[i].fanoutY : Infinity));
      const fixedProduct = fixed.reduce<number>((a, f) => a * (f ?? 1), 1);
      const rest = problem.bounds[d] / fixedProduct;
      const freeSlots = fixed.flatMap((f, i) => (f === null ? [i] : []));
      if (!Number.isInteger(rest) || (freeSlots.length === 0 && rest !== 1)) {
        problems.push({ path: 'constraints', message: `the fixed factors of ${name} (with dummy levels at 1) multiply to ${fixedProduct}, the problem's ${name} is ${problem.bounds[d]}` });
      }
      return { fixed, min, max, primes: Number.isInteger(rest) ? primeFactors(rest) : [], freeSlots };
    });
    this.keepFixed = storage.map((level, s) => constraints.levels[s].keep.map((k) => k ?? (level.dummy ? false : null)));
    this.freeKeeps = this.keepFixed.flatMap((ks, s) => ks.flatMap((k, pv) => (k === null ? [[s, pv] as [number, number]] : [])));
    problem.dataSpaces.forEach((ds, pv) => {
      if (this.keepFixed.every((ks) => ks[pv] === false)) problems.push({ path: 'constraints', message: `every level bypasses ${ds.name}` });
    });
    if (problems.length > 0) throw new ConfigError(problems, spec.source);
  }

  // ---------- building a spec ----------

  private nonUnit(p: MapPoint, slot: number, dims: readonly number[]): number[] {
    return dims.filter((d) => p.factors[d][slot] > 1);
  }

  /** the slot's full permutation (innermost first) and, for a spatial slot, its split */
  permutationOf(p: MapPoint, slot: number): { permutation: number[]; split: number } {
    const sl = this.slots[slot];
    const full = [...sl.prefix, ...p.order[slot], ...sl.suffix];
    if (!sl.spatial) return { permutation: full, split: 0 };
    if (sl.split !== null) return { permutation: full, split: sl.split };
    // as Timeloop prunes: unit loops first, then the non-unit ones, X before Y
    const units = full.filter((d) => p.factors[d][slot] === 1);
    const nonUnits = full.filter((d) => p.factors[d][slot] > 1);
    return { permutation: [...units, ...nonUnits], split: units.length + this.xOf(p, slot, nonUnits.length) };
  }

  private xOf(p: MapPoint, slot: number, k: number): number {
    const sl = this.slots[slot];
    if (sl.fanoutY === 1) return k;
    if (sl.fanoutX === 1) return 0;
    return Math.min(p.xCount[slot], k);
  }

  /** X and Y fanout a spatial slot uses */
  spatialUse(p: MapPoint, slot: number): { x: number; y: number } {
    const { permutation, split } = this.permutationOf(p, slot);
    let x = 1;
    let y = 1;
    permutation.forEach((d, pos) => {
      if (pos < split) x *= p.factors[d][slot];
      else y *= p.factors[d][slot];
    });
    return { x, y };
  }

  toSpec(p: MapPoint): TimeloopSpec {
    const storage = this.spec.storage.map((level, s): TimeloopStorageLevel => {
      const [t, sp] = this.levelSlots[s];
      const temporal = { factors: p.factors.map((f) => f[t]), permutation: this.permutationOf(p, t).permutation };
      let spatial = null;
      if (sp >= 0) {
        const { permutation, split } = this.permutationOf(p, sp);
        spatial = { factors: p.factors.map((f) => f[sp]), permutation, split };
      }
      return { ...level, temporal, spatial, keep: p.keep[s] };
    });
    return { ...this.spec, storage };
  }

  /**
   * The point of this space that is `spec`'s own mapping (the same problem and hierarchy), or null
   * when the mapping lies outside it: a factor other than a fixed one or outside a min/max, an order
   * against a prefix / suffix or a user split, a keep flag the constraints fix otherwise. What a
   * search can start from (MapperOptions.start).
   */
  pointOf(spec: TimeloopSpec): MapPoint | null {
    const factors: number[][] = [];
    for (let d = 0; d < this.nDims; d++) {
      const f = new Array<number>(this.slots.length).fill(1);
      spec.storage.forEach((level, s) => {
        const [t, sp] = this.levelSlots[s];
        f[t] = level.temporal.factors[d];
        if (sp >= 0) f[sp] = level.spatial?.factors[d] ?? 1;
        else if ((level.spatial?.factors[d] ?? 1) !== 1) f[t] = NaN;
      });
      const ds = this.dims[d];
      if (f.some((x, i) => !Number.isInteger(x) || (ds.fixed[i] !== null && ds.fixed[i] !== x)) || !this.factorsOk(d, f)) return null;
      factors.push(f);
    }
    const order: number[][] = [];
    const xCount: number[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const sl = this.slots[i];
      const level = spec.storage[sl.level];
      const loops = sl.spatial ? level.spatial : level.temporal;
      const perm = loops?.permutation ?? [...Array(this.nDims).keys()];
      const nonUnitOf = (ds: readonly number[]) => ds.filter((d) => factors[d][i] > 1);
      // a prefix / suffix binds only loops that run: compare the non-unit ones
      const head = nonUnitOf(perm.slice(0, sl.prefix.length));
      const tail = nonUnitOf(perm.slice(perm.length - sl.suffix.length));
      if (head.join() !== nonUnitOf(sl.prefix).join() || tail.join() !== nonUnitOf(sl.suffix).join()) return null;
      order.push(perm.filter((d) => sl.free.includes(d)));
      if (sl.spatial) {
        const split = level.spatial?.split ?? this.nDims;
        if (sl.split !== null && sl.split !== split) return null;
        xCount.push(perm.slice(0, split).filter((d) => factors[d][i] > 1).length);
      } else xCount.push(0);
    }
    const keep = spec.storage.map((level) => [...level.keep]);
    for (let s = 0; s < keep.length; s++) for (let pv = 0; pv < this.nDs; pv++) if (this.keepFixed[s][pv] !== null && this.keepFixed[s][pv] !== keep[s][pv]) return null;
    return { factors, order, xCount, keep };
  }

  /** why the point cannot be evaluated (capacity, fanout, nothing keeps a data space), or null */
  refusal(p: MapPoint): string | null {
    for (let i = 0; i < this.slots.length; i++) {
      if (!this.slots[i].spatial) continue;
      const { x, y } = this.spatialUse(p, i);
      if (x > this.slots[i].fanoutX || y > this.slots[i].fanoutY) return `fanout ${x}×${y} exceeds ${this.slots[i].fanoutX}×${this.slots[i].fanoutY} below ${this.spec.storage[this.slots[i].level].name}`;
    }
    for (let pv = 0; pv < this.nDs; pv++) if (p.keep.every((k) => !k[pv])) return `no level keeps ${this.spec.problem.dataSpaces[pv].name}`;
    const extent = new Array<number>(this.nDims).fill(1);
    const { problem, storage } = this.spec;
    for (let s = 0; s < storage.length; s++) {
      const [t, sp] = this.levelSlots[s];
      for (let d = 0; d < this.nDims; d++) extent[d] *= p.factors[d][t] * (sp >= 0 ? p.factors[d][sp] : 1);
      const cap = storage[s].capacityWords;
      if (cap === null || storage[s].allowOverbooking) continue;
      let used = 0;
      problem.dataSpaces.forEach((ds, pv) => {
        if (!p.keep[s][pv]) return;
        let size = 1;
        for (const terms of ds.projection) size *= terms.reduce((a, term) => a + term.coefficient * (extent[term.dimension] - 1), 0) + 1;
        used += size;
      });
      if (used > cap) return `the tiles need ${used} words, ${storage[s].name} holds ${cap}`;
    }
    return null;
  }

  /** a canonical string of what the evaluation depends on (unit loops' order and clipped splits left out) */
  key(p: MapPoint): string {
    const parts: string[] = [p.factors.map((f) => f.join(',')).join(';')];
    for (let i = 0; i < this.slots.length; i++) {
      const { permutation, split } = this.permutationOf(p, i);
      parts.push(this.nonUnit(p, i, permutation).join(',') + (this.slots[i].spatial ? `/${split}` : ''));
    }
    parts.push(p.keep.map((k) => k.map((b) => (b ? 1 : 0)).join('')).join(''));
    return parts.join('|');
  }

  // ---------- random points and moves ----------

  private clone(p: MapPoint): MapPoint {
    return { factors: p.factors.map((f) => [...f]), order: p.order.map((o) => [...o]), xCount: [...p.xCount], keep: p.keep.map((k) => [...k]) };
  }

  private factorsOk(d: number, f: readonly number[]): boolean {
    const ds = this.dims[d];
    return f.every((x, i) => x >= ds.min[i] && x <= ds.max[i]);
  }

  /** per dimension, its factorizations once listed (null: too many to list) */
  private readonly listed = new Map<number, number[][] | null>();

  /**
   * Half the draws place each prime factor in a random free slot (balanced splits are likely),
   * half pick uniformly among the dimension's factorizations, as Timeloop's random mapper does
   * (a whole dimension at one level is as likely as any split).
   */
  private randomFactors(d: number, rng: Prng): number[] | null {
    const ds = this.dims[d];
    if (rng.int(2) === 0) {
      if (!this.listed.has(d)) this.listed.set(d, this.factorizations(d, ENUMERATION_CAP));
      const all = this.listed.get(d);
      if (all !== null && all !== undefined) return all.length === 0 ? null : [...all[rng.int(all.length)]];
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const f = ds.fixed.map((x) => x ?? 1);
      for (const p of ds.primes) f[ds.freeSlots[rng.int(ds.freeSlots.length)]] *= p;
      if (this.factorsOk(d, f)) return f;
    }
    return null;
  }

  /** a random point (factors as randomFactors draws them, orders, splits and free keep flags uniform); null when the draw broke a min/max */
  random(rng: Prng): MapPoint | null {
    const factors: number[][] = [];
    for (let d = 0; d < this.nDims; d++) {
      const f = this.randomFactors(d, rng);
      if (f === null) return null;
      factors.push(f);
    }
    const order = this.slots.map((sl) => (sl.canonical ? [...sl.free] : [...rng.permutation(sl.free.length)].map((i) => sl.free[i])));
    const xCount = this.slots.map(() => rng.int(this.nDims + 1));
    const keep = this.keepFixed.map((ks) => ks.map((k) => k ?? rng.int(2) === 1));
    return { factors, order, xCount, keep };
  }

  /** one random step away: a prime factor or a whole loop moved between slots, two loops swapped, a keep flag flipped or a split moved */
  neighbour(p: MapPoint, rng: Prng): MapPoint {
    const q = this.clone(p);
    const kind = rng.int(10);
    if (kind === 7 && this.freeKeeps.length > 0) {
      const [s, pv] = this.freeKeeps[rng.int(this.freeKeeps.length)];
      q.keep[s][pv] = !q.keep[s][pv];
      return q;
    }
    if (kind === 8) {
      const open = this.slots.flatMap((sl, i) => (sl.canonical ? [] : [i])).filter((i) => this.nonUnit(q, i, this.slots[i].free).length >= 2);
      if (open.length > 0) {
        const i = open[rng.int(open.length)];
        const nu = this.nonUnit(q, i, q.order[i]);
        const a = rng.int(nu.length);
        let b = rng.int(nu.length - 1);
        if (b >= a) b++;
        const ia = q.order[i].indexOf(nu[a]);
        const ib = q.order[i].indexOf(nu[b]);
        [q.order[i][ia], q.order[i][ib]] = [q.order[i][ib], q.order[i][ia]];
        return q;
      }
    }
    if (kind === 9) {
      const open = this.slots.flatMap((sl, i) => (sl.spatial && sl.split === null && sl.fanoutX > 1 && sl.fanoutY > 1 ? [i] : []));
      if (open.length > 0) {
        const i = open[rng.int(open.length)];
        q.xCount[i] = rng.int(this.nonUnit(q, i, this.slots[i].free.concat(this.slots[i].prefix, this.slots[i].suffix)).length + 1);
        return q;
      }
    }
    const movable = this.dims.flatMap((ds, d) => (ds.freeSlots.length >= 2 && ds.primes.length > 0 ? [d] : []));
    if (movable.length === 0) return q;
    // a prime factor moved, or (one time in three) a slot's whole factor: a loop moved to another level
    const whole = rng.int(3) === 0;
    for (let attempt = 0; attempt < 10; attempt++) {
      const d = movable[rng.int(movable.length)];
      const ds = this.dims[d];
      const from = ds.freeSlots.filter((i) => q.factors[d][i] > 1);
      const src = from[rng.int(from.length)];
      let dst = ds.freeSlots[rng.int(ds.freeSlots.length - 1)];
      if (dst === src) dst = ds.freeSlots[ds.freeSlots.length - 1];
      const primes = primeFactors(q.factors[d][src]);
      const prime = whole ? q.factors[d][src] : primes[rng.int(primes.length)];
      const f = [...q.factors[d]];
      f[src] /= prime;
      f[dst] *= prime;
      if (this.factorsOk(d, f)) {
        q.factors[d] = f;
        return q;
      }
    }
    return q;
  }

  // ---------- exhaustive enumeration ----------

  /** every ordered factorization of dimension d over the slots, or null past the cap */
  private factorizations(d: number, cap: number): number[][] | null {
    const ds = this.dims[d];
    const out: number[][] = [];
    const f = ds.fixed.map((x) => x ?? 1);
    const rest = ds.primes.reduce((a, b) => a * b, 1);
    const free = ds.freeSlots;
    const rec = (k: number, left: number): boolean => {
      if (k === free.length - 1) {
        f[free[k]] = left;
        if (this.factorsOk(d, f)) out.push([...f]);
        return out.length <= cap;
      }
      for (let x = 1; x <= left; x++) {
        if (left % x !== 0) continue;
        f[free[k]] = x;
        if (!rec(k + 1, left / x)) return false;
      }
      return true;
    };
    if (free.length === 0) return this.factorsOk(d, f) ? [f] : [];
    return rec(0, rest) ? out : null;
  }

  /**
   * The size of the space as enumerated (before capacity and fanout refusals), or null when it is
   * larger than `cap`.
   */
  size(cap: number): number | null {
    const lists = this.factorLists(cap);
    if (lists === null) return null;
    let total = 0;
    const keeps = 2 ** this.freeKeeps.length;
    for (const factors of this.cartesian(lists)) {
      let n = keeps;
      for (let i = 0; i < this.slots.length; i++) n *= this.orderCount(factors, i) * this.splitCount(factors, i);
      total += n;
      if (total > cap) return null;
    }
    return total;
  }

  private factorLists(cap: number): number[][][] | null {
    const lists: number[][][] = [];
    let product = 1;
    for (let d = 0; d < this.nDims; d++) {
      const l = this.factorizations(d, Math.min(cap, ENUMERATION_CAP));
      if (l === null) return null;
      product *= l.length;
      if (product > cap) return null;
      lists.push(l);
    }
    return lists;
  }

  private *cartesian(lists: readonly number[][][]): Generator<number[][]> {
    const idx = new Array<number>(lists.length).fill(0);
    if (lists.some((l) => l.length === 0)) return;
    for (;;) {
      yield lists.map((l, d) => l[idx[d]]);
      let d = 0;
      while (d < lists.length && ++idx[d] === lists[d].length) idx[d++] = 0;
      if (d === lists.length) return;
    }
  }

  private orderCount(factors: number[][], slot: number): number {
    const sl = this.slots[slot];
    return sl.canonical ? 1 : factorial(sl.free.filter((d) => factors[d][slot] > 1).length);
  }

  private splitCount(factors: number[][], slot: number): number {
    const sl = this.slots[slot];
    if (!sl.spatial || sl.split !== null || sl.fanoutX === 1 || sl.fanoutY === 1) return 1;
    return factors.filter((f) => f[slot] > 1).length + 1;
  }

  /** every point, factorizations outermost; null when the space is larger than `cap` */
  enumerate(cap: number): Iterable<MapPoint> | null {
    const lists = this.factorLists(cap);
    if (lists === null) return null;
    const self = this;
    return {
      *[Symbol.iterator]() {
        for (const factors of self.cartesian(lists)) {
          for (let k = 0; k < 2 ** self.freeKeeps.length; k++) {
            const keep = self.keepFixed.map((ks) => ks.map((x) => x ?? false));
            self.freeKeeps.forEach(([s, pv], b) => (keep[s][pv] = ((k >> b) & 1) === 1));
            yield* self.ordersAndSplits(factors, keep, 0, []);
          }
        }
      },
    };
  }

  private *ordersAndSplits(factors: number[][], keep: boolean[][], slot: number, order: number[][]): Generator<MapPoint> {
    if (slot === this.slots.length) {
      const splits = this.slots.map((_, i) => this.splitCount(factors, i));
      const xCount = new Array<number>(this.slots.length).fill(0);
      for (;;) {
        yield { factors, order: order.map((o) => [...o]), xCount: [...xCount], keep };
        let i = 0;
        while (i < splits.length && ++xCount[i] >= splits[i]) xCount[i++] = 0;
        if (i === splits.length) return;
      }
    }
    const sl = this.slots[slot];
    if (sl.canonical) {
      yield* this.ordersAndSplits(factors, keep, slot + 1, [...order, [...sl.free]]);
      return;
    }
    const nonUnit = sl.free.filter((d) => factors[d][slot] > 1);
    const unit = sl.free.filter((d) => factors[d][slot] === 1);
    for (const p of permutations(nonUnit)) yield* this.ordersAndSplits(factors, keep, slot + 1, [...order, [...p, ...unit]]);
  }
}
