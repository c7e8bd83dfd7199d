/**
 * The Timeloop nest analysis on a case small enough to count by hand:
 * a 1-D convolution with output channels, K=2 R=2 P=2 (Weights[K][R] 4, Inputs[R+P] 3,
 * Outputs[K][P] 4, 8 MACs), on DRAM → 2 Buffers (meshX 2, so DRAM fans out ×2) → 2 MACs.
 * Mapping: DRAM spatial K=2 (Buffer k holds channel k), Buffer temporal `for P[0:2): for R[0:2)`.
 *
 * Per Buffer (k fixed): 4 MACs, so 4 cycles. Its tile: W[k][0..1] (2), I[0..2] (3), O[k][0..1] (2).
 *  - reads (served to the MAC, one per MAC): W 4, I 4; Outputs updates 4, and with first-read
 *    elision reads = temporal reductions = 4 − partition 2 = 2;
 *  - fills: DRAM's loops run once, so the whole tile: W 2, I 3; Outputs 2 − partition 2 = 0
 *    (partition = DRAM's 4 outputs × 2 / the spatial tile's 4).
 * DRAM: the two Buffers' Weights deltas differ → 2 + 2 = 4 reads; their Inputs deltas are equal →
 * multicast, counted once: 3 reads (each Buffer still fills 3 = 3 × 2 / fanout 2); Outputs differ →
 * 4 updates, reads 4 − 4 = 0.
 * Energy (ERT below): Buffer per instance W 4·1 + 2·2 = 8, I 4·1 + 3·2 = 10, O 2·1 + 4·3 = 14,
 * × 2 instances = 64, leakage 0.5 × 4 cycles × 2 = 4; DRAM (block 16/8 = 2): ceil(4/2)·10 +
 * ceil(3/2)·10 + ceil(4/2)·10 = 60; MACs 8 × 0.25 = 2. Total 130 pJ.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { parseTimeloopInput } from '../../../arch/timeloop.js';
import { evaluateTimeloop } from '../../../sim/mapping/timeloop-model.js';

function input(bufferBypass: readonly string[] = [], bufferAttrs = 'depth: 64'): string {
  return `
architecture:
  subtree:
    - name: top
      local:
        - name: DRAM[1..1]
          class: DRAM
          attributes: { width: 16, datawidth: 8, meshX: 1, meshY: 1 }
        - name: Buffer[1..2]
          class: regfile
          attributes: { ${bufferAttrs.includes('width:') ? '' : 'width: 8, '}${bufferAttrs}, datawidth: 8, meshX: 2, meshY: 1 }
        - name: MAC[1..2]
          class: intmac
          attributes: { meshX: 2, meshY: 1 }
problem:
  shape:
    name: conv1d_k
    dimensions: [K, R, P]
    coefficients: []
    data_spaces:
      - { name: Weights, projection: [[[K]], [[R]]], read_write: false }
      - { name: Inputs, projection: [[[R], [P]]], read_write: false }
      - { name: Outputs, projection: [[[K]], [[P]]], read_write: true }
  instance: { K: 2, R: 2, P: 2, densities: {} }
mapping:
  - { target: DRAM, type: spatial, factors: K=2 R=1 P=1, permutation: KRP }
  - { target: DRAM, type: temporal, factors: K=1 R=1 P=1, permutation: KRP }
  - { target: Buffer, type: temporal, factors: K=1 R=2 P=2, permutation: RPK }
${bufferBypass.length > 0 ? `  - { target: Buffer, type: bypass, bypass: [${bufferBypass.join(', ')}] }` : ''}
ERT_summary:
  table_summary:
    - name: top.DRAM[1..1]
      actions: [{ name: read, energy: 10 }, { name: write, energy: 10 }, { name: update, energy: 10 }, { name: leak, energy: 0 }]
    - name: top.Buffer[1..2]
      actions: [{ name: read, energy: 1 }, { name: write, energy: 2 }, { name: update, energy: 3 }, { name: leak, energy: 0.5 }]
    - name: top.MAC[1..2]
      actions: [{ name: compute, energy: 0.25 }]
`;
}

const evaluate = (bypass?: readonly string[], attrs?: string) => evaluateTimeloop(parseTimeloopInput({ input: { text: input(bypass, attrs), file: 'hand.yaml' } }));

describe('Timeloop nest analysis, counted by hand', () => {
  it('counts computes and cycles per used instance', () => {
    const r = evaluate();
    expect(r.computes).toBe(8);
    expect(r.computeInstances).toBe(2);
    expect(r.cycles).toBe(4);
  });

  it('counts what each Buffer serves, fills and reduces', () => {
    const b = evaluate().levels[0];
    expect(b.name).toBe('Buffer');
    expect(b.dataSpaces.Weights).toMatchObject({ reads: 4, fills: 2, updates: 0, utilizedCapacity: 2, utilizedInstances: 2 });
    expect(b.dataSpaces.Inputs).toMatchObject({ reads: 4, fills: 3, updates: 0, utilizedCapacity: 3 });
    expect(b.dataSpaces.Outputs).toMatchObject({ reads: 2, fills: 0, updates: 4, temporalReductions: 2, partitionSize: 2 });
  });

  it('counts a multicast read once at the parent and a distinct one per child', () => {
    const d = evaluate().levels[1];
    expect(d.dataSpaces.Weights).toMatchObject({ reads: 4, fills: 0 });
    expect(d.dataSpaces.Inputs).toMatchObject({ reads: 3, fills: 0 });
    expect(d.dataSpaces.Outputs).toMatchObject({ reads: 0, updates: 4, fills: 0 });
  });

  it('prices vectors of the block size, leakage on the used instances and the MACs', () => {
    const r = evaluate();
    expect(r.levels[0].energyPj).toBeCloseTo(64 + 4, 12);
    expect(r.levels[1].energyPj).toBeCloseTo(60, 12);
    expect(r.energyPj).toBeCloseTo(130, 12);
  });

  it('a bypassed level drops out: the parent serves every MAC of its children', () => {
    // Buffer bypasses Weights: DRAM serves the 4 Weights reads of each of the 2 Buffers' MACs.
    const r = evaluate(['Weights']);
    expect(r.levels[0].dataSpaces.Weights).toBeUndefined();
    expect(r.levels[1].dataSpaces.Weights).toMatchObject({ reads: 8 });
    expect(r.levels[1].dataSpaces.Inputs).toMatchObject({ reads: 3 });
  });

  it('a level short of read bandwidth slows the run down by the ratio', () => {
    // Buffer reads per instance W 4 + I 4 + O 2 = 10 in 4 compute cycles: 2.5 words/cycle against
    // 0.5 → slowdown 0.2, 4 / 0.2 = 20 cycles; leakage follows: 0.5 pJ × 20 × 2 instances
    const r = evaluate(undefined, 'depth: 64, read_bandwidth: 0.5');
    expect(r.computeCycles).toBe(4);
    expect(r.levels[0].slowdown).toBeCloseTo(0.2, 12);
    expect(r.cycles).toBe(20);
    expect(r.levels[0].leakPj).toBeCloseTo(20, 12);
  });

  it('the instances of a cluster share the energy of one access', () => {
    // width 16, cluster 2, datawidth 8: block 1; the 2 used Buffers are one cluster, so the
    // per-instance energies 8 + 10 + 14 count once: 32 pJ over both instances instead of 64
    const r = evaluate(undefined, 'depth: 64, width: 16, cluster_size: 2');
    expect(r.levels[0].blockSize).toBe(1);
    expect(r.levels[0].dataSpaces.Inputs.energyPj).toBeCloseTo(5, 12);
    expect(r.levels[0].energyPj - r.levels[0].leakPj).toBeCloseTo(32, 12);
  });

  it('a mapping whose tiles overflow a level is refused, as Timeloop refuses it', () => {
    // Buffer tiles W 2 + I 3 + O 2 = 7 words; depth 4 × block 1 holds 4
    expect(() => evaluate(undefined, 'depth: 4')).toThrow(ConfigError);
    expect(() => evaluate(undefined, 'depth: 4')).toThrow(/mapping \(target Buffer\): the tiles need 7 words, Buffer holds 4/);
    expect(evaluate(undefined, 'depth: 4, allow_overbooking: true').computes).toBe(8);
  });
});
