/**
 * The mapper (sim/mapping/mapper.ts) on the small Timeloop reference problems:
 * - its exhaustive search equals a brute force written here without any of the mapspace's
 *   prunings (every factorization, every full permutation of every level, every keep/bypass
 *   choice, each evaluated by the model, overflowing ones skipped);
 * - its best mapping, written out as Timeloop mapping entries and read back through the input
 *   parser, evaluates to the same energy (the entries say what was evaluated);
 * - constraints (fixed factors, a permutation prefix, keep/bypass) hold for every mapping it
 *   evaluates; malformed constraints are one ConfigError naming each problem by path;
 * - the same seed gives the same best mapping.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTimeloopConstraints } from '../../../arch/timeloop-constraints.js';
import { parseTimeloopInput, type TimeloopInputFiles, type TimeloopSpec } from '../../../arch/timeloop.js';
import { ConfigError } from '../../../errors/index.js';
import { searchMappings, type MappingEntry } from '../../../sim/mapping/mapper.js';
import { evaluateTimeloop } from '../../../sim/mapping/timeloop-model.js';

const GOLDEN = resolve(import.meta.dirname, '../../../../shared/golden/timeloop');

function files(run: string, constraints?: string): TimeloopInputFiles {
  const dir = join(GOLDEN, run);
  const ert = readdirSync(dir).find((n) => n.endsWith('.ERT_summary.yaml'))!;
  let text = readFileSync(join(dir, 'parsed-processed-input.yaml'), 'utf8');
  if (constraints !== undefined) {
    expect(text).toContain('architecture_constraints:\n    targets: []\n');
    text = text.replace('architecture_constraints:\n    targets: []\n', `architecture_constraints:\n    targets:\n${constraints}`);
  }
  return { input: { text, file: `${run}/parsed-processed-input.yaml` }, ert: { text: readFileSync(join(dir, ert), 'utf8'), file: ert } };
}

function load(run: string, constraints?: string): { spec: TimeloopSpec; f: TimeloopInputFiles } {
  const f = files(run, constraints);
  return { spec: parseTimeloopInput(f, { mapping: 'optional' }), f };
}

function* orders(n: number): Generator<number[]> {
  if (n === 1) {
    yield [0];
    return;
  }
  for (const rest of orders(n - 1)) for (let i = 0; i < n; i++) yield [...rest.slice(0, i), n - 1, ...rest.slice(i)];
}

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((x) => n % x === 0);
}

/** every temporal mapping of a 2-level hierarchy, nothing pruned: the lowest energy, each distinct energy, how many */
function bruteForce(spec: TimeloopSpec): { energy: number; energies: Set<number>; count: number } {
  expect(spec.storage).toHaveLength(2);
  expect(spec.storage.every((l) => l.spatial === null)).toBe(true);
  const nDims = spec.problem.dimensions.length;
  const nDs = spec.problem.dataSpaces.length;
  let best = Infinity;
  let count = 0;
  const energies = new Set<number>();
  const splits: number[][] = [[]];
  for (let d = 0; d < nDims; d++) {
    const next: number[][] = [];
    for (const s of splits) for (const inner of divisors(spec.problem.bounds[d])) next.push([...s, inner]);
    splits.splice(0, splits.length, ...next);
  }
  const perms = [...orders(nDims)];
  for (const inner of splits) {
    const outer = inner.map((f, d) => spec.problem.bounds[d] / f);
    for (const pInner of perms) {
      for (const pOuter of perms) {
        for (let k = 0; k < 2 ** nDs; k++) {
          const keepInner = Array.from({ length: nDs }, (_, pv) => ((k >> pv) & 1) === 1);
          const candidate: TimeloopSpec = {
            ...spec,
            storage: [
              { ...spec.storage[0], temporal: { factors: inner, permutation: pInner }, keep: keepInner },
              { ...spec.storage[1], temporal: { factors: outer, permutation: pOuter }, keep: spec.problem.dataSpaces.map(() => true) },
            ],
          };
          let energy: number;
          try {
            energy = evaluateTimeloop(candidate).energyPj;
          } catch (e) {
            if (e instanceof ConfigError) continue;
            throw e;
          }
          count++;
          energies.add(energy);
          best = Math.min(best, energy);
        }
      }
    }
  }
  return { energy: best, energies, count };
}

/** the entries as a Timeloop mapping YAML list, evaluated through the input parser */
function reevaluate(f: TimeloopInputFiles, mapping: readonly MappingEntry[]): number {
  const yaml = mapping
    .map((e) => {
      const lines = [`  - target: ${e.target}`, `    type: ${e.type}`];
      if (e.factors !== undefined) lines.push(`    factors: ${e.factors}`, `    permutation: ${e.permutation}`);
      if (e.split !== undefined) lines.push(`    split: ${e.split}`);
      if (e.keep !== undefined) lines.push(`    keep: [${e.keep.join(', ')}]`, `    bypass: [${(e.bypass ?? []).join(', ')}]`);
      return lines.join('\n');
    })
    .join('\n');
  const text = f.input.text.replace(/\nmapping:\n(?:[ -].*\n)*/, `\nmapping:\n${yaml}\n`);
  return evaluateTimeloop(parseTimeloopInput({ ...f, input: { ...f.input, text } })).energyPj;
}

describe('mapper: exhaustive search against a brute force without pruning', () => {
  for (const run of ['ex01_conv1d_2level/ref-output/ws', 'ex02_conv1d_oc_2level/ref-output/tiling']) {
    it(`${run}: the same optimum`, () => {
      const { spec, f } = load(run);
      const brute = bruteForce(spec);
      const reached = new Set<number>();
      const found = searchMappings(spec, parseTimeloopConstraints(f.input, spec), { mode: 'exhaustive', onEvaluate: (_s, r) => reached.add(r.energyPj) });
      expect(found.mode).toBe('exhaustive');
      expect(found.result.energyPj).toBe(brute.energy);
      // the prunings lose no outcome: every energy some mapping has, a pruned mapping has too
      expect([...reached].sort((a, b) => a - b)).toEqual([...brute.energies].sort((a, b) => a - b));
      // the pruned space is smaller than the brute force's, never larger
      expect(found.evaluated).toBeLessThan(brute.count);
      expect(reevaluate(f, found.mapping)).toBe(found.result.energyPj);
    }, 120_000);
  }
});

describe('mapper: constraints', () => {
  const run = 'ex03_conv1d_oc_3level/ref-output/bypass';
  const constraints = [
    '      - target: RegisterFile',
    '        type: temporal',
    '        factors: K=2 P=1',
    '        permutation: RK',
    '      - target: GlobalBuffer',
    '        type: bypass',
    '        keep: [Weights]',
    '        bypass: [Outputs]',
    '      - target: MainMemory',
    '        type: temporal',
    '        factors: R=1',
    '        permutation: _P',
    '',
  ].join('\n');

  it('every evaluated mapping respects fixed factors, permutation prefix and suffix, keep and bypass', () => {
    const { spec, f } = load(run, constraints);
    const c = parseTimeloopConstraints(f.input, spec);
    const [K, R, P] = [0, 1, 2];
    let seen = 0;
    const check = (s: TimeloopSpec): void => {
      seen++;
      const [rf, gb, mm] = s.storage;
      expect(rf.temporal.factors[K]).toBe(2);
      expect(rf.temporal.factors[P]).toBe(1);
      // the prefix R, K: innermost first among the loops that run
      expect(rf.temporal.permutation.slice(0, 2)).toEqual([R, K]);
      expect(gb.keep[0]).toBe(true);
      expect(gb.keep[2]).toBe(false);
      expect(mm.temporal.factors[R]).toBe(1);
      expect(mm.temporal.permutation[mm.temporal.permutation.length - 1]).toBe(P);
      expect(mm.keep).toEqual([true, true, true]);
    };
    for (const seed of [1, 2]) {
      const r = searchMappings(spec, c, { mode: 'random', budget: 150, seed, onEvaluate: check });
      check(r.spec);
    }
    expect(seen).toBeGreaterThan(250);
  });

  it('a constraint changes the optimum: P=1 at the Buffer excludes the unconstrained best', () => {
    const { spec, f } = load('ex02_conv1d_oc_2level/ref-output/tiling');
    const free = searchMappings(spec, parseTimeloopConstraints(f.input, spec), {});
    // the unconstrained optimum keeps P=16 in the Buffer; forbid that
    const held = load('ex02_conv1d_oc_2level/ref-output/tiling', '      - target: Buffer\n        type: temporal\n        factors: P=1\n');
    const bound = searchMappings(held.spec, parseTimeloopConstraints(held.f.input, held.spec), {});
    expect(free.spec.storage[0].temporal.factors[2]).toBe(16);
    expect(bound.spec.storage[0].temporal.factors[2]).toBe(1);
    expect(bound.result.energyPj).toBeGreaterThan(free.result.energyPj);
  });

  it('malformed constraints: one ConfigError naming every problem by path', () => {
    const bad = [
      '      - target: Bufer',
      '        type: temporal',
      '      - target: Buffer',
      '        type: temporal',
      '        factors: K=3 Z=2 P<=0',
      '        permutation: KXK',
      '      - target: Buffer',
      '        type: spatial',
      '      - target: Buffer',
      '        type: bypass',
      '        keep: [Weights, Psums]',
      '        bypass: [Weights]',
      '      - target: MainMemory',
      '        type: utilization',
      '      - target: MainMemory',
      '        type: temporal',
      '        no_temporal_reuse: [Inputs]',
      '        colour: red',
      '',
    ].join('\n');
    const { spec, f } = load('ex02_conv1d_oc_2level/ref-output/tiling', bad);
    let err: unknown;
    try {
      parseTimeloopConstraints(f.input, spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    const expected: [string, RegExp][] = [
      ['architecture_constraints.targets[0].target', /no storage level "Bufer"/],
      ['architecture_constraints.targets[1].factors', /K=3 does not divide/],
      ['architecture_constraints.targets[1].factors', /cannot read factor "Z=2"/],
      ['architecture_constraints.targets[1].factors', /P<=0: a factor bound must be ≥ 1/],
      ['architecture_constraints.targets[1].permutation', /unknown dimension "X"/],
      ['architecture_constraints.targets[1].permutation', /"K" listed twice/],
      ['architecture_constraints.targets[2].type', /no fanout below it/],
      ['architecture_constraints.targets[3].keep[1]', /unknown data space "Psums"/],
      ['architecture_constraints.targets[3].bypass[0]', /Weights .* given twice/],
      ['architecture_constraints.targets[4].type', /minimum-parallelism constraints are not supported/],
      ['architecture_constraints.targets[5].no_temporal_reuse', /not supported/],
      ['architecture_constraints.targets[5].colour', /unknown key/],
    ];
    for (const [path, message] of expected) expect(problems.some((p) => p.startsWith(`${path}: `) && message.test(p)), `${path} ${message}\n${problems.join('\n')}`).toBe(true);
    expect(problems).toHaveLength(expected.length);
    expect((err as ConfigError).message).toContain('parsed-processed-input.yaml');
  });
});

describe('mapper: seeds', () => {
  const run = 'ex04_conv1d_oc_ic_3levelspatial/ref-output/cp';

  it('the same seed gives the same best mapping; the seed is in the result', () => {
    const { spec, f } = load(run);
    const c = parseTimeloopConstraints(f.input, spec);
    const a = searchMappings(spec, c, { budget: 200, seed: 42, objective: 'edp' });
    const b = searchMappings(spec, c, { budget: 200, seed: 42, objective: 'edp' });
    expect(a.mode).toBe('random');
    expect(a.seed).toBe(42);
    expect(b.mapping).toEqual(a.mapping);
    expect(b.bestValue).toBe(a.bestValue);
    expect([b.evaluated, b.invalid, b.bestAt]).toEqual([a.evaluated, a.invalid, a.bestAt]);
    expect(a.bestValue).toBe(a.result.energyPj * a.result.cycles);
    expect(reevaluate(f, a.mapping)).toBe(a.result.energyPj);
  }, 60_000);

  it('a larger budget replays the smaller one\'s evaluations, then continues: its best is never worse', () => {
    const { spec, f } = load(run);
    const c = parseTimeloopConstraints(f.input, spec);
    const trace = (budget: number): { values: number[]; best: number } => {
      const values: number[] = [];
      const r = searchMappings(spec, c, { budget, seed: 9, onEvaluate: (_s, _r, v) => values.push(v) });
      return { values, best: r.bestValue };
    };
    const small = trace(150);
    const large = trace(400);
    expect(small.values).toHaveLength(150);
    expect(large.values.slice(0, 150)).toEqual(small.values);
    expect(large.best).toBeLessThanOrEqual(small.best);
  }, 60_000);

  it('any seed, a small budget: never below the exhaustive optimum, never above the best it evaluated (property, seeded)', () => {
    const { spec, f } = load('ex02_conv1d_oc_2level/ref-output/tiling');
    const c = parseTimeloopConstraints(f.input, spec);
    const optimum = searchMappings(spec, c, { mode: 'exhaustive' }).bestValue;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        let lowest = Infinity;
        const r = searchMappings(spec, c, { mode: 'random', budget: 60, seed, onEvaluate: (_s, _r, v) => (lowest = Math.min(lowest, v)) });
        expect(r.evaluated).toBeLessThanOrEqual(60);
        expect(r.bestValue).toBe(lowest);
        expect(r.bestValue).toBeGreaterThanOrEqual(optimum);
      }),
      { seed: 16, numRuns: 20 },
    );
  }, 60_000);
});
