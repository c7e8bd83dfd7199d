/**
 * Search instead of grids: a scenario's `search:` evaluates a budget of its points instead of all
 * of them — `random` (uniform sampling without replacement) or `nsga2` (Deb et al. 2002: fast
 * non-dominated sort, crowding distance, binary tournament, uniform crossover and per-gene reset
 * mutation over the axis-value indices). A point is a genome: one index per dimension (network,
 * arch, ptq, each axis); its config is exactly the grid's (the same config hash), built alone, so
 * a space of 10⁶ points is never expanded to search it.
 *
 * Seeded (the scenario's seed drives a mulberry32 stream) and resumable: the genomes of a rerun are
 * the same, and the points already in `<out>/points/` are read instead of evaluated. Points run on
 * the local pool or the queue, a generation at a time. No npm package fits (the maintained
 * multi-objective ones are either browser bundles or unmaintained since 2019), so it is written here
 * and property-tested (test/property/search.test.ts).
 */
import { ConfigError, type Problem } from '../arch/errors.js';
import { describe, isPlainObject } from '../arch/validate.js';
import { listModels } from '../nets/zoo/index.js';
import { configHash, expandConfigs } from './points.js';
import type { PointMetrics } from './runners.js';
import { type JsonValue, METRICS, type Point, type Scenario } from './scenario.js';
import type { SweepOutcome } from './sweep.js';

export interface SearchSpec {
  readonly strategy: 'random' | 'nsga2';
  /** evaluations at most (distinct points) */
  readonly budget: number;
  /** nsga2: the population (default 20) */
  readonly population: number;
  readonly objectives: { readonly [metric: string]: 'min' | 'max' };
}

/** The `search:` block of a scenario file; problems go to `problems` with their paths. */
export function readSearch(v: unknown, metrics: readonly string[], problems: Problem[]): SearchSpec | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) {
    problems.push({ path: 'search', message: `expected {strategy: random|nsga2, budget, objectives: {<metric>: min|max}}, got ${describe(v)}` });
    return null;
  }
  for (const k of Object.keys(v)) if (!['strategy', 'budget', 'population', 'objectives'].includes(k)) problems.push({ path: `search.${k}`, message: 'unknown key (expected strategy, budget, population, objectives)' });
  const strategy = v.strategy;
  if (strategy !== 'random' && strategy !== 'nsga2') problems.push({ path: 'search.strategy', message: `expected random or nsga2, got ${describe(strategy)}` });
  const int = (key: string, def: number | undefined, min: number): number => {
    const x = v[key] ?? def;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min) problems.push({ path: `search.${key}`, message: `expected an integer ≥ ${min}, got ${describe(x)}` });
    return x as number;
  };
  const budget = int('budget', undefined, 1);
  const population = int('population', 20, 4);
  const objectives: Record<string, 'min' | 'max'> = {};
  if (!isPlainObject(v.objectives) || Object.keys(v.objectives).length === 0) problems.push({ path: 'search.objectives', message: `expected {<metric>: min|max, …}, got ${describe(v.objectives)}` });
  else {
    for (const [m, d] of Object.entries(v.objectives)) {
      if (!metrics.includes(m) || METRICS[m]?.shape !== 'scalar') problems.push({ path: `search.objectives.${m}`, message: `not a scalar metric of this scenario; metrics: ${metrics.join(', ')}` });
      if (d !== 'min' && d !== 'max') problems.push({ path: `search.objectives.${m}`, message: `expected min or max, got ${describe(d)}` });
      objectives[m] = d as 'min' | 'max';
    }
  }
  return { strategy: strategy as SearchSpec['strategy'], budget, population, objectives };
}

// ---------------------------------------------------------------------------------------------
// the space: a genome is one value index per dimension

export type Genome = readonly number[];

/** values per dimension: networks, archs, ptq entries, then each axis */
export function dimensionSizes(s: Scenario): number[] {
  return [s.networks.length, s.archs.length, s.ptq.length, ...s.axes.map((a) => a.values.length)];
}

export function spaceSize(s: Scenario): number {
  return dimensionSizes(s).reduce((a, b) => a * b, 1);
}

/** The grid's point for a genome (same config, same hash), built alone; `index` is the caller's. */
export function pointOf(s: Scenario, g: Genome, index: number): Point {
  const one: Scenario = {
    ...s,
    networks: [s.networks[g[0]]],
    archs: [s.archs[g[1]]],
    ptq: [s.ptq[g[2]]],
    axes: s.axes.map((a, i) => ({ ...a, values: [a.values[g[3 + i]]] })),
  };
  const problems: Problem[] = [];
  const [config] = expandConfigs(one, new Map(listModels().map((m) => [m.name, m.dataset] as const)), problems);
  if (!config) throw new ConfigError(problems, s.source ?? undefined);
  return Object.freeze({ index, configHash: configHash(config), config });
}

/** mulberry32: a small seeded stream, the same on every platform */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// NSGA-II's parts, on objective vectors to MINIMIZE (a `max` objective is negated by the caller)

/** a dominates b: no worse in every objective, better in one */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) better = true;
  }
  return better;
}

/** Fronts of indices: front 0 is non-dominated, front k is non-dominated once fronts < k are removed. */
export function nonDominatedSort(objs: readonly (readonly number[])[]): number[][] {
  const n = objs.length;
  const dominatedBy = new Int32Array(n);
  const dominatesList: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      if (dominates(objs[i], objs[j])) {
        dominatesList[i].push(j);
        dominatedBy[j]++;
      } else if (dominates(objs[j], objs[i])) {
        dominatesList[j].push(i);
        dominatedBy[i]++;
      }
    }
  const fronts: number[][] = [];
  let current = [...Array(n).keys()].filter((i) => dominatedBy[i] === 0);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current)
      for (const j of dominatesList[i]) if (--dominatedBy[j] === 0) next.push(j);
    current = next;
  }
  return fronts;
}

/** Crowding distance of each member of one front (Infinity at each objective's extremes). */
export function crowding(objs: readonly (readonly number[])[], front: readonly number[]): Map<number, number> {
  const d = new Map(front.map((i) => [i, 0]));
  if (front.length === 0) return d;
  for (let m = 0; m < objs[front[0]].length; m++) {
    const sorted = [...front].sort((a, b) => objs[a][m] - objs[b][m] || a - b);
    const lo = objs[sorted[0]][m];
    const hi = objs[sorted[sorted.length - 1]][m];
    d.set(sorted[0], Infinity);
    d.set(sorted[sorted.length - 1], Infinity);
    if (hi === lo) continue;
    for (let k = 1; k < sorted.length - 1; k++) d.set(sorted[k], d.get(sorted[k])! + (objs[sorted[k + 1]][m] - objs[sorted[k - 1]][m]) / (hi - lo));
  }
  return d;
}

/** Area dominated by a 2-objective (minimized) set, bounded by `ref`. */
export function hypervolume2d(objs: readonly (readonly number[])[], ref: readonly [number, number]): number {
  const pts = objs.filter((o) => o[0] < ref[0] && o[1] < ref[1]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let hv = 0;
  let bestY = ref[1];
  for (const [x, y] of pts) {
    if (y >= bestY) continue;
    // the strip from this x to the reference, between the new lower y and the previous one
    hv += (ref[0] - x) * (bestY - y);
    bestY = y;
  }
  return hv;
}

// ---------------------------------------------------------------------------------------------
// the search loop

export interface Evaluated {
  readonly point: Point;
  readonly genome: Genome;
  readonly metrics: PointMetrics;
  /** objectives to minimize (max ones negated); a point without them (unsupported) is +Infinity everywhere */
  readonly objectives: readonly number[];
}

export interface SearchResult {
  readonly spec: SearchSpec;
  readonly spaceSize: number;
  readonly evaluated: readonly Evaluated[];
  /** indices into `evaluated` of the non-dominated points */
  readonly front: readonly number[];
  readonly generations: number;
  /** points evaluated by this call (the others were read from the point files) */
  readonly ran: number;
}

/** runs a batch of points (index = position) and returns their outcome: the local pool or the queue */
export type Evaluate = (points: readonly Point[]) => Promise<SweepOutcome>;

function objectivesOf(spec: SearchSpec, m: PointMetrics): number[] {
  return Object.entries(spec.objectives).map(([k, dir]) => {
    const v = m[k];
    return typeof v === 'number' && Number.isFinite(v) ? (dir === 'min' ? v : -v) : Infinity;
  });
}

/** Runs `s.search` (or `spec`) over the space of `s`, evaluating one generation at a time. */
export async function search(s: Scenario, spec: SearchSpec, evaluate: Evaluate, onGeneration?: (evaluated: number, budget: number) => void): Promise<SearchResult> {
  const sizes = dimensionSizes(s);
  const total = spaceSize(s);
  const budget = Math.min(spec.budget, total);
  const random = rng(s.seed ^ 0x5eac4);
  const seen = new Map<string, number>();
  const evaluated: Evaluated[] = [];
  const key = (g: Genome) => g.join(',');
  let ran = 0;
  const randomGenome = (): number[] => sizes.map((n) => Math.floor(random() * n));

  const run = async (genomes: readonly Genome[]): Promise<void> => {
    const fresh = genomes.filter((g, i) => !seen.has(key(g)) && genomes.findIndex((h) => key(h) === key(g)) === i);
    if (fresh.length === 0) return;
    const points = fresh.map((g, i) => pointOf(s, g, i));
    const outcome = await evaluate(points);
    ran += outcome.ran.length;
    fresh.forEach((g, i) => {
      seen.set(key(g), evaluated.length);
      const metrics = outcome.results[i].metrics;
      evaluated.push({ point: points[i], genome: g, metrics, objectives: objectivesOf(spec, metrics) });
    });
    onGeneration?.(evaluated.length, budget);
  };
  /** up to n genomes not evaluated yet (fewer when the space runs out) */
  const freshRandom = (n: number): number[][] => {
    const out: number[][] = [];
    const taken = new Set<string>();
    for (let tries = 0; out.length < n && tries < n * 50; tries++) {
      const g = randomGenome();
      if (seen.has(key(g)) || taken.has(key(g))) continue;
      taken.add(key(g));
      out.push(g);
    }
    return out;
  };

  let generations = 0;
  if (spec.strategy === 'random') {
    // in batches, so a long random search stores points (and resumes) as it goes
    while (evaluated.length < budget) {
      const batch = freshRandom(Math.min(budget - evaluated.length, 256));
      if (batch.length === 0) break;
      await run(batch);
      generations++;
    }
  } else {
    const pop = Math.min(spec.population, budget);
    await run(freshRandom(pop));
    let population = evaluated.map((_, i) => i);
    generations = 1;
    while (evaluated.length < budget) {
      const objs = evaluated.map((e) => e.objectives);
      // rank and crowding of the current population, for the tournament
      const rank = new Map<number, number>();
      const crowd = new Map<number, number>();
      nonDominatedSort(population.map((i) => objs[i])).forEach((f, r) => {
        const members = f.map((k) => population[k]);
        for (const i of members) rank.set(i, r);
        for (const [i, d] of crowding(objs, members)) crowd.set(i, d);
      });
      const better = (a: number, b: number) => (rank.get(a)! < rank.get(b)! || (rank.get(a) === rank.get(b) && crowd.get(a)! > crowd.get(b)!) ? a : b);
      const pick = () => better(population[Math.floor(random() * population.length)], population[Math.floor(random() * population.length)]);
      const want = Math.min(pop, budget - evaluated.length);
      const children: number[][] = [];
      const taken = new Set<string>();
      for (let tries = 0; children.length < want && tries < want * 50; tries++) {
        const a = evaluated[pick()].genome;
        const b = evaluated[pick()].genome;
        const child = a.map((x, d) => (random() < 0.5 ? x : b[d]));
        for (let d = 0; d < child.length; d++) if (random() < 1 / child.length) child[d] = Math.floor(random() * sizes[d]);
        const k = key(child);
        if (seen.has(k) || taken.has(k)) continue;
        taken.add(k);
        children.push(child);
      }
      // a population that only breeds known points gets random newcomers instead
      if (children.length < want) children.push(...freshRandom(want - children.length).filter((g) => !taken.has(key(g))));
      if (children.length === 0) break;
      const before = evaluated.length;
      await run(children);
      generations++;
      // (μ + λ): the best `pop` of parents and children by rank, then crowding
      const union = [...population, ...Array.from({ length: evaluated.length - before }, (_, i) => before + i)];
      const uobjs = union.map((i) => evaluated[i].objectives);
      const next: number[] = [];
      for (const f of nonDominatedSort(uobjs)) {
        const members = f.map((k) => union[k]);
        if (next.length + members.length <= pop) next.push(...members);
        else {
          const d = crowding(evaluated.map((e) => e.objectives), members);
          next.push(...members.sort((a, b) => d.get(b)! - d.get(a)! || a - b).slice(0, pop - next.length));
          break;
        }
      }
      population = next;
    }
  }
  const all = evaluated.map((e) => e.objectives);
  const front = nonDominatedSort(all)[0]?.filter((i) => all[i].every(Number.isFinite)) ?? [];
  return { spec, spaceSize: total, evaluated, front, generations, ran };
}

/** search.json: the strategy, the counts and the front (network, arch, ptq, axes, objectives). */
export function searchDoc(s: Scenario, r: SearchResult): JsonValue {
  const row = (e: Evaluated) => ({
    configHash: e.point.configHash,
    network: e.point.config.network,
    arch: e.point.config.archLabel,
    ptq: e.point.config.ptqLabel,
    axes: e.point.config.axes,
    metrics: Object.fromEntries(Object.keys(r.spec.objectives).map((k) => [k, e.metrics[k] ?? null])),
  });
  return {
    scenario: s.name,
    seed: s.seed,
    search: r.spec as unknown as JsonValue,
    spaceSize: r.spaceSize,
    evaluations: r.evaluated.length,
    generations: r.generations,
    front: [...r.front].sort((a, b) => a - b).map((i) => row(r.evaluated[i])) as unknown as JsonValue,
  } as JsonValue;
}
