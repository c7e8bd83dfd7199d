/** Reading Timeloop's expanded input: every problem at once, each with its YAML path. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { parseTimeloopInput } from '../../../arch/timeloop.js';

const GOOD = `
architecture:
  subtree:
    - name: top
      local:
        - { name: "Mem[1..1]", class: SRAM, attributes: { width: 64, datawidth: 8 } }
        - { name: "MAC[1..1]", class: intmac, attributes: {} }
problem:
  shape:
    dimensions: [R, P]
    coefficients: [{ name: Wstride, default: 1 }]
    data_spaces:
      - { name: Weights, projection: [[[R]]] }
      - { name: Inputs, projection: [[[R], [P, Wstride]]] }
      - { name: Outputs, projection: [[[P]]], read_write: true }
  instance: { R: 3, P: 4, Wstride: 2, densities: {} }
mapping:
  - { target: Mem, type: temporal, factors: R=3 P=4, permutation: RP }
ERT_summary:
  table_summary:
    - { name: "top.Mem[1..1]", actions: [{ name: read, energy: 1 }, { name: write, energy: 1 }, { name: update, energy: 1 }] }
    - { name: "top.MAC[1..1]", actions: [{ name: compute, energy: 1 }] }
`;

function problemsOf(text: string): { path: string; message: string }[] {
  try {
    parseTimeloopInput({ input: { text, file: 'bad.yaml' } });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).source).toBe('bad.yaml');
    return [...(e as ConfigError).problems];
  }
  throw new Error('no ConfigError');
}

describe('parseTimeloopInput', () => {
  it('reads a valid input into a frozen spec, coefficients from the instance', () => {
    const spec = parseTimeloopInput({ input: { text: GOOD, file: 'good.yaml' } });
    expect(Object.isFrozen(spec.problem.dataSpaces[1].projection[0][1])).toBe(true);
    expect(spec.problem.dataSpaces[1].projection[0][1]).toEqual({ dimension: 1, coefficient: 2 });
    expect(spec.storage[0]).toMatchObject({ name: 'Mem', blockSize: 8, spatial: null, keep: [true, true, true] });
    expect(spec.storage[0].temporal.permutation).toEqual([0, 1]);
  });

  it('names every problem of a malformed input with its YAML path, in one ConfigError', () => {
    const bad = GOOD.replace('[[[R], [P, Wstride]]]', '[[[R], [Q, Wstride]]]')
      .replace('densities: {}', 'densities: { Weights: 0.5 }')
      .replace('factors: R=3 P=4', 'factors: R=3 P=2')
      .replace('{ target: Mem, type: temporal', '{ target: Memory, type: temporal, factors: R=1 }\n  - { target: Mem, type: utilization }\n  - { target: Mem, type: temporal')
      .replace('width: 64,', 'width: 60,')
      .replace('mapping:', 'sparse_optimizations: { targets: [{ target: Mem, action-optimization: [] }] }\nmapping:');
    const problems = problemsOf(bad);
    const at = (path: string, re: RegExp): void => {
      expect(problems.some((p) => p.path === path && re.test(p.message)), `${path} ${re}: ${JSON.stringify(problems)}`).toBe(true);
    };
    at('problem.shape.data_spaces[1].projection[0][1]', /unknown dimension "Q"/);
    at('problem.instance.densities', /not supported/);
    at('sparse_optimizations', /not supported/);
    at('mapping[0].target', /no storage level "Memory"/);
    at('mapping[1].type', /unsupported directive type "utilization"/);
    at('architecture.subtree[0].local[0].attributes.width', /not a multiple of datawidth 8/);
    at('mapping', /factors of P multiply to 2.*is 4/);
    expect(problems).toHaveLength(7);
  });

  it('refuses what the dense model does not evaluate by name', () => {
    const problems = problemsOf(
      GOOD.replace('permutation: RP }', 'permutation: RP, no_temporal_reuse: [Weights] }').replace('class: SRAM, attributes: {', 'class: SRAM, attributes: { metadata_storage_width: 8,'),
    );
    expect(problems.map((p) => p.path)).toEqual(['architecture.subtree[0].local[0].attributes.metadata_storage_width', 'mapping[0].no_temporal_reuse']);
  });

  it('reports YAML that does not parse, and an empty mapping without a map file', () => {
    expect(problemsOf('architecture: [')[0].message).toMatch(/not valid YAML/);
    expect(problemsOf(GOOD.replace(/mapping:\n.*\n/, 'mapping: []\n')).some((p) => p.path === 'mapping' && /empty/.test(p.message))).toBe(true);
  });
});
