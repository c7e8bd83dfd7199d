/**
 * A mapper over qloom's Timeloop model: searches the mapspace (mapspace.ts) of one problem on one
 * architecture under its constraints for the mapping with the lowest energy, cycles or
 * energy × cycles, each candidate evaluated by `evaluateTimeloop` (the same counts the Timeloop
 * referee reproduces).
 *
 * - exhaustive when the whole space (before capacity and fanout refusals) fits the evaluation
 *   budget: the optimum, exactly;
 * - otherwise seeded random sampling (the first 100 evaluations) followed by hill climbing from the
 *   best points found (one random step at a time — a prime factor moved between levels, two loops
 *   swapped, a keep flag flipped, a split moved — kept when it improves; a climb that stalls
 *   restarts from a random elite or a fresh sample). The seed is in the result; the same seed and
 *   budget give the same best mapping.
 * A point is evaluated at most once (its canonical key is remembered). Refused points (tiles that
 * do not fit, fanout exceeded) are counted as invalid and cost no evaluation; the budget counts
 * evaluations.
 */
import type { TimeloopConstraints } from '../../arch/timeloop-constraints.js';
import type { TimeloopSpec } from '../../arch/timeloop.js';
import { ConfigError, UsageError } from '../../errors/index.js';
import { Prng } from '../../nets/prng.js';
import { Mapspace, type MapPoint } from './mapspace.js';
import { evaluateTimeloop, type TimeloopResult } from './timeloop-model.js';

export type MapperObjective = 'energy' | 'cycles' | 'edp';
export const MAPPER_OBJECTIVES: readonly MapperObjective[] = ['energy', 'cycles', 'edp'];

export interface MapperOptions {
  readonly objective?: MapperObjective;
  /** evaluations at most (default 2000) */
  readonly budget?: number;
  readonly seed?: number;
  /** 'auto' (default): exhaustive when the space fits the budget */
  readonly mode?: 'auto' | 'exhaustive' | 'random';
  /**
   * a mapping of the same problem and hierarchy to start from (a fixed schedule): evaluated first,
   * and the first climb starts there — so the result is never worse than it. Refused (UsageError)
   * when it lies outside the constrained space.
   */
  readonly start?: TimeloopSpec;
  /** called after every evaluation, in order (tests watch the search with it) */
  readonly onEvaluate?: (spec: TimeloopSpec, result: TimeloopResult, value: number) => void;
}

/** One entry of a Timeloop mapping YAML (as in a `*.map.yaml`), outermost level first. */
export interface MappingEntry {
  readonly target: string;
  readonly type: 'temporal' | 'spatial' | 'bypass';
  readonly factors?: string;
  /** innermost first */
  readonly permutation?: string;
  readonly split?: number;
  readonly keep?: readonly string[];
  readonly bypass?: readonly string[];
}

export interface MapperResult {
  readonly objective: MapperObjective;
  readonly mode: 'exhaustive' | 'random';
  readonly seed: number;
  readonly budget: number;
  /** points in the space as enumerated (null: more than SIZE_CAP) */
  readonly spaceSize: number | null;
  /** mappings evaluated by the model */
  readonly evaluated: number;
  /** mappings refused before evaluation (tiles overflow a level, fanout exceeded) */
  readonly invalid: number;
  /** the evaluation at which the best was found (1-based) */
  readonly bestAt: number;
  readonly elapsedMs: number;
  /** evaluations per second of wall time */
  readonly mappingsPerSecond: number;
  readonly bestValue: number;
  readonly mapping: readonly MappingEntry[];
  readonly spec: TimeloopSpec;
  readonly result: TimeloopResult;
}

const EXHAUSTIVE_CAP = 5_000_000;
/** hill climbing: evaluated neighbours without improvement before a restart */
const STALL = 40;
/** a restart starts from an elite point this often, else from a fresh sample */
const ELITE = 0.5;
/**
 * random samples before climbing: a count, not a share of the budget, so that a larger budget
 * replays a smaller one's search and continues it (the best never gets worse with the budget)
 */
const SAMPLES = 100;
/** the reported space size is counted up to this many points */
export const SIZE_CAP = 1_000_000;

export function objectiveValue(objective: MapperObjective, r: TimeloopResult): number {
  return objective === 'energy' ? r.energyPj : objective === 'cycles' ? r.cycles : r.energyPj * r.cycles;
}

/** the tie-break after the objective: energy for cycles, cycles otherwise */
function secondary(objective: MapperObjective, r: TimeloopResult): number {
  return objective === 'cycles' ? r.energyPj : r.cycles;
}

function dimString(spec: TimeloopSpec, dims: readonly number[]): string {
  const names = dims.map((d) => spec.problem.dimensions[d]);
  return names.every((n) => n.length === 1) ? names.join('') : names.join(' ');
}

/** the spec's mapping as Timeloop mapping YAML entries, outermost level first */
export function mappingEntries(spec: TimeloopSpec): MappingEntry[] {
  const dims = spec.problem.dimensions;
  const ds = spec.problem.dataSpaces.map((d) => d.name);
  const factors = (f: readonly number[]): string => dims.map((d, k) => `${d}=${f[k]}`).join(' ');
  const out: MappingEntry[] = [];
  for (const level of [...spec.storage].reverse()) {
    out.push({ target: level.name, type: 'temporal', factors: factors(level.temporal.factors), permutation: dimString(spec, level.temporal.permutation) });
    if (level.spatial !== null) {
      out.push({ target: level.name, type: 'spatial', factors: factors(level.spatial.factors), permutation: dimString(spec, level.spatial.permutation), split: level.spatial.split });
    }
    out.push({ target: level.name, type: 'bypass', keep: ds.filter((_, pv) => level.keep[pv]), bypass: ds.filter((_, pv) => !level.keep[pv]) });
  }
  return out;
}

interface Best {
  value: number;
  tie: number;
  point: MapPoint;
  spec: TimeloopSpec;
  result: TimeloopResult;
  at: number;
}

/** Searches the mapspace of `spec` under `constraints`; throws ConfigError when no mapping is valid. */
export function searchMappings(spec: TimeloopSpec, constraints: TimeloopConstraints, opts: MapperOptions = {}): MapperResult {
  const objective = opts.objective ?? 'energy';
  if (!MAPPER_OBJECTIVES.includes(objective)) throw new UsageError(`objective must be one of ${MAPPER_OBJECTIVES.join(', ')}, got ${String(objective)}`);
  const budget = opts.budget ?? 2000;
  if (!Number.isInteger(budget) || budget < 1) throw new UsageError(`budget must be a positive integer, got ${budget}`);
  const seed = (opts.seed ?? 1) >>> 0;
  const space = new Mapspace(spec, constraints);
  const t0 = performance.now();
  let evaluated = 0;
  let invalid = 0;
  let best: Best | null = null;
  const seen = new Map<string, number>();

  /** evaluates p unless refused or seen; its objective value, or null */
  const visit = (p: MapPoint): number | null => {
    const key = space.key(p);
    const known = seen.get(key);
    if (known !== undefined) return Number.isNaN(known) ? null : known;
    if (space.refusal(p) !== null) {
      invalid++;
      seen.set(key, NaN);
      return null;
    }
    const candidate = space.toSpec(p);
    let result: TimeloopResult;
    try {
      result = evaluateTimeloop(candidate);
    } catch (e) {
      // the model's own capacity check; the refusal above should have caught it first
      if (!(e instanceof ConfigError)) throw e;
      invalid++;
      seen.set(key, NaN);
      return null;
    }
    evaluated++;
    const value = objectiveValue(objective, result);
    seen.set(key, value);
    opts.onEvaluate?.(candidate, result, value);
    const tie = secondary(objective, result);
    if (best === null || value < best.value || (value === best.value && tie < best.tie)) {
      best = { value, tie, point: p, spec: candidate, result, at: evaluated };
    }
    return value;
  };

  const mode = opts.mode ?? 'auto';
  const size = space.size(mode === 'exhaustive' ? EXHAUSTIVE_CAP : Math.max(budget, 1));
  const exhaustive = mode === 'exhaustive' || (mode === 'auto' && size !== null && size <= budget);
  if (exhaustive) {
    const all = space.enumerate(EXHAUSTIVE_CAP);
    if (all === null) throw new UsageError(`the mapspace has more than ${EXHAUSTIVE_CAP} points: too large for an exhaustive search (use random search with a budget)`);
    for (const p of all) visit(p);
  } else {
    let start: { value: number; point: MapPoint } | null = null;
    if (opts.start) {
      const p = space.pointOf(opts.start);
      const v = p === null ? null : visit(p);
      if (p === null || v === null) throw new UsageError(`the start mapping is ${p === null ? 'outside the constrained mapspace' : `refused: ${space.refusal(p) ?? 'the model refused it'}`}`);
      start = { value: v, point: p };
    }
    climb(space, visit, budget, new Prng(seed), () => evaluated, () => best?.point ?? null, start);
  }
  const elapsedMs = performance.now() - t0;
  const found = best as Best | null;
  if (found === null) {
    throw new ConfigError([{ path: 'mapping', message: `no valid mapping found (${invalid} refused${exhaustive ? ', the whole space' : `, budget ${budget}, seed ${seed}`}): the tiles never fit, or the constraints leave nothing` }], spec.source);
  }
  return {
    objective,
    mode: exhaustive ? 'exhaustive' : 'random',
    seed,
    budget,
    spaceSize: space.size(SIZE_CAP),
    evaluated,
    invalid,
    bestAt: found.at,
    elapsedMs,
    mappingsPerSecond: evaluated / Math.max(elapsedMs / 1000, 1e-9),
    bestValue: found.value,
    mapping: mappingEntries(found.spec),
    spec: found.spec,
    result: found.result,
  };
}

function climb(
  space: Mapspace,
  visit: (p: MapPoint) => number | null,
  budget: number,
  rng: Prng,
  evaluated: () => number,
  bestPoint: () => MapPoint | null,
  start: { value: number; point: MapPoint } | null = null,
): void {
  // every draw, valid or not, counts towards a cap, so a space of mostly invalid points ends
  const maxDraws = budget * 50;
  let draws = 0;
  const elite: { value: number; point: MapPoint }[] = [];
  const remember = (value: number, point: MapPoint): void => {
    elite.push({ value, point });
    elite.sort((a, b) => a.value - b.value);
    if (elite.length > 8) elite.pop();
  };
  const sample = (): { value: number; point: MapPoint } | null => {
    while (draws < maxDraws && evaluated() < budget) {
      draws++;
      const p = space.random(rng);
      if (p === null) continue;
      const v = visit(p);
      if (v !== null) return { value: v, point: p };
    }
    return null;
  };
  const sampling = Math.min(SAMPLES, budget);
  while (evaluated() < sampling && draws < maxDraws) {
    const s = sample();
    if (s === null) break;
    remember(s.value, s.point);
  }
  if (start !== null) remember(start.value, start.point);
  let current = start !== null ? { ...start } : elite.length > 0 ? { ...elite[0] } : sample();
  // a climb stalls after STALL evaluated neighbours without improvement, or many more steps that
  // were refused or already seen (those cost no evaluation, so they are allowed more)
  let stalled = 0;
  let tries = 0;
  while (current !== null && evaluated() < budget && draws < maxDraws) {
    draws++;
    const before = evaluated();
    const q = space.neighbour(current.point, rng);
    const v = visit(q);
    if (v !== null && v < current.value) {
      current = { value: v, point: q };
      remember(v, q);
      stalled = 0;
      tries = 0;
      continue;
    }
    if (evaluated() > before) stalled++;
    if (stalled < STALL && ++tries < STALL * 10) continue;
    stalled = 0;
    tries = 0;
    // restart: half the time from an elite point, else from a fresh sample
    if (rng.next() < ELITE && elite.length > 0) current = { ...elite[rng.int(elite.length)] };
    else {
      const s = sample();
      if (s !== null) remember(s.value, s.point);
      current = s ?? (bestPoint() !== null ? { value: elite[0]?.value ?? Infinity, point: bestPoint() as MapPoint } : null);
    }
  }
}
