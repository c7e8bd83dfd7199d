/**
 * The Timeloop referee (`qloom timeloop`): reads a Timeloop run — its folder, or its
 * `parsed-processed-input.yaml` with the run's other files beside it — and evaluates it with
 * qloom's own nest analysis (sim/mapping/). Beside the input it takes the one `*.ERT_summary.yaml`
 * (else the input's own `ERT_summary`) and, when the input's mapping is empty (a mapper run), the
 * one `*.map.yaml`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseTimeloopConstraints, type TimeloopConstraints } from '../arch/timeloop-constraints.js';
import { parseTimeloopInput, type TimeloopFile, type TimeloopSpec } from '../arch/timeloop.js';
import { ConfigError, ResourceError, systemError } from '../errors/index.js';
import { searchMappings, type MapperOptions, type MapperResult } from '../sim/mapping/mapper.js';
import { evaluateTimeloop, type TimeloopResult } from '../sim/mapping/timeloop-model.js';
import { rankSizes, runMapped, type MappedAccumulators } from '../sim/mapping/mapped-kernel.js';
import { Prng } from '../nets/prng.js';

export type { TimeloopResult, TimeloopLevelStats, TimeloopDataSpaceStats } from '../sim/mapping/timeloop-model.js';
export type { TimeloopSpec } from '../arch/timeloop.js';
export type { TimeloopConstraints } from '../arch/timeloop-constraints.js';
export type { MapperObjective, MapperOptions, MapperResult, MappingEntry } from '../sim/mapping/mapper.js';

export const TIMELOOP_INPUT = 'parsed-processed-input.yaml';

export interface TimeloopRun {
  readonly spec: TimeloopSpec;
  readonly result: TimeloopResult;
  /** the files read: input, ERT summary (absent: the input's own), map (absent: the input's mapping) */
  readonly files: { readonly input: string; readonly ert?: string; readonly map?: string };
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw systemError(e, path, 'cannot read') ?? e;
  }
}

/** the one file of the folder whose name ends with `suffix`; several are ambiguous */
function besides(dir: string, suffix: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(suffix)).sort();
  } catch (e) {
    throw systemError(e, dir, 'cannot list') ?? e;
  }
  if (names.length > 1) throw new ConfigError(`several ${suffix} files (${names.join(', ')}): keep the run's own`, dir);
  return names.length === 1 ? join(dir, names[0]) : undefined;
}

interface Located {
  readonly input: string;
  readonly ert?: string;
  readonly map?: string;
  readonly files: { readonly input: TimeloopFile; readonly ert?: TimeloopFile; readonly map?: TimeloopFile };
}

function locate(path: string): Located {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw systemError(e, path, 'cannot read') ?? e;
  }
  const input = isDir ? join(path, TIMELOOP_INPUT) : path;
  if (isDir) {
    try {
      statSync(input);
    } catch {
      throw new ResourceError(`cannot read ${path}: no ${TIMELOOP_INPUT} in this folder (is it a Timeloop run folder?)`);
    }
  }
  const dir = dirname(input);
  const ert = besides(dir, '.ERT_summary.yaml');
  const map = besides(dir, '.map.yaml');
  const file = (p: string | undefined): TimeloopFile | undefined => (p === undefined ? undefined : { text: read(p), file: basename(p) });
  return { input, ...(ert ? { ert } : {}), ...(map ? { map } : {}), files: { input: { text: read(input), file: input }, ert: file(ert), map: file(map) } };
}

/** Locates, reads, validates and evaluates a Timeloop run folder or its parsed-processed-input.yaml. */
export function runTimeloop(path: string): TimeloopRun {
  const at = locate(path);
  const spec = parseTimeloopInput(at.files);
  return { spec, result: evaluateTimeloop(spec), files: { input: at.input, ...(at.ert ? { ert: at.ert } : {}), ...(at.map ? { map: at.map } : {}) } };
}

export interface TimeloopSearch {
  readonly constraints: TimeloopConstraints;
  readonly search: MapperResult;
  /** the run's own mapping evaluated (absent when the input has none), and its spec */
  readonly given?: TimeloopResult;
  readonly givenSpec?: TimeloopSpec;
  readonly files: TimeloopRun['files'];
}

/**
 * Searches the mapspace of a Timeloop run (folder or parsed-processed-input.yaml) under its
 * `architecture_constraints` and `mapspace` constraints (sim/mapping/mapper.ts). The run's own
 * mapping, when it has one, is evaluated too, for comparison; an input without one is searched all
 * the same.
 */
export function searchTimeloop(path: string, opts: MapperOptions = {}): TimeloopSearch {
  const at = locate(path);
  const spec = parseTimeloopInput(at.files, { mapping: 'optional' });
  const constraints = parseTimeloopConstraints(at.files.input, spec);
  let given: TimeloopResult | undefined;
  let givenSpec: TimeloopSpec | undefined;
  try {
    givenSpec = parseTimeloopInput(at.files);
    given = evaluateTimeloop(givenSpec);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    givenSpec = undefined;
  }
  const search = searchMappings(spec, constraints, opts);
  return { constraints, search, ...(given && givenSpec ? { given, givenSpec } : {}), files: { input: at.input, ...(at.ert ? { ert: at.ert } : {}), ...(at.map ? { map: at.map } : {}) } };
}

/**
 * The `--search --json` form: the search's statistics, the best mapping as Timeloop mapping entries
 * and its counts; wall-clock time and mappings per second only with `timing`, so the same search
 * prints the same bytes.
 */
export function timeloopSearchReport(s: TimeloopSearch, opts: { timing?: boolean } = {}): Record<string, unknown> {
  const m = s.search;
  return {
    objective: m.objective,
    mode: m.mode,
    seed: m.seed,
    budget: m.budget,
    spaceSize: m.spaceSize,
    evaluated: m.evaluated,
    invalid: m.invalid,
    bestAt: m.bestAt,
    ...(opts.timing === true && { timing: { elapsedMs: m.elapsedMs, mappingsPerSecond: m.mappingsPerSecond } }),
    bestValue: m.bestValue,
    given: s.given === undefined ? null : { energyPj: s.given.energyPj, cycles: s.given.cycles },
    mapping: m.mapping,
    best: timeloopReport({ spec: m.spec, result: m.result, files: s.files }),
  };
}

/** The `--json` form: counts per instance named like Timeloop's stats, energies in pJ, innermost level first. */
export function timeloopReport(run: TimeloopRun): Record<string, unknown> {
  const r = run.result;
  return {
    problem: r.problem,
    cycles: r.cycles,
    computes: r.computes,
    computeInstances: r.computeInstances,
    energyPj: r.energyPj,
    computeEnergyPj: r.computeEnergyPj,
    levels: r.levels.map((l) => ({
      name: l.name,
      instances: l.instances,
      utilizedInstances: Math.max(0, ...Object.values(l.dataSpaces).map((d) => d.utilizedInstances)),
      blockSize: l.blockSize,
      energyPj: l.energyPj,
      leakPj: l.leakPj,
      dataSpaces: l.dataSpaces,
    })),
    files: run.files,
  };
}

/** How `mappedArithmetic` accumulates (sim/mapping/mapped-kernel.ts). */
export interface ArithmeticOptions extends MappedAccumulators {
  /** seed of the random int8 operands */
  readonly seed: number;
}

/** A mapping's integer arithmetic on seeded random operands, against exact sums. */
export interface MappedArithmetic {
  readonly seed: number;
  readonly psumBits: number;
  readonly accBits: number;
  readonly policy: MappedAccumulators['policy'];
  readonly macs: number;
  readonly outputs: number;
  /** outputs whose accumulator differs from the exact sum */
  readonly wrongOutputs: number;
  readonly psumEvents: number;
  readonly accEvents: number;
  /** partial sums the L0 registers sent up (Timeloop's updates of Outputs to the parent) */
  readonly updates: number;
}

/**
 * Runs a mapping's MACs in its own order (sim/mapping/mapped-kernel.ts) on int8 operands drawn
 * from `seed` (uniform in [−128, 127], every read-only data space), with the given registers, and
 * compares every output with the exact sum: which outputs a narrow register changes, and how many
 * adds overflowed where — the same problem under another mapping can give other numbers.
 */
export function mappedArithmetic(spec: TimeloopSpec, opts: ArithmeticOptions): MappedArithmetic {
  const rng = new Prng(opts.seed);
  const operands: Record<string, Int32Array> = {};
  spec.problem.dataSpaces.forEach((d, i) => {
    if (d.readWrite) return;
    const n = rankSizes(spec, i).reduce((a, b) => a * b, 1);
    const v = new Int32Array(n);
    for (let j = 0; j < n; j++) v[j] = rng.int(256) - 128;
    operands[d.name] = v;
  });
  const exact = runMapped(spec, operands, { psumBits: 53, accBits: 53, policy: 'ideal' });
  const r = runMapped(spec, operands, opts);
  let wrong = 0;
  for (let i = 0; i < r.outputs.length; i++) if (r.outputs[i] !== exact.outputs[i]) wrong++;
  const macs = spec.problem.bounds.reduce((a, b) => a * b, 1);
  return { seed: opts.seed, psumBits: opts.psumBits, accBits: opts.accBits, policy: opts.policy, macs, outputs: r.outputs.length, wrongOutputs: wrong, psumEvents: r.psumEvents, accEvents: r.accEvents, updates: r.updates };
}
