/**
 * `qloom map` as a user runs it: fmnist-cnn's layers on edge-npu as a hierarchy, the fixed schedule
 * against a mapping given in Timeloop's mapping YAML (every loop at DRAM: the registers keep only
 * their own data space) and the mapper's; the arithmetic on one real image.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-map-'));
// conv1 of fmnist-cnn: 3×3, 28×28 outputs, 1 → 32 channels; nothing reused below DRAM
const ALL_AT_DRAM = `mapping:
  - { target: InputReg, type: bypass, keep: [Inputs], bypass: [Weights, Outputs] }
  - { target: WeightReg, type: bypass, keep: [Weights], bypass: [Inputs, Outputs] }
  - { target: Accumulator, type: bypass, keep: [Outputs], bypass: [Weights, Inputs] }
  - { target: DRAM, type: temporal, factors: R=3 S=3 P=28 Q=28 C=1 M=32 N=1 G=1, permutation: RSCPQMNG }
`;

interface Run { energyPj: number; cycles: number; wrongOutputs: number; outputs: number; psumEvents: number }
interface Doc { registers: { psumBits: number; accBits: number; policy: string }; layers: { layer: string; macs: number; fixed: Run; given?: Run; searched?: Run }[] }

describe('qloom map', () => {
  it('a given mapping of one layer beside the fixed schedule: its energy, and the same exact sums on real data', async () => {
    const file = join(dir, 'conv1.map.yaml');
    writeFileSync(file, ALL_AT_DRAM);
    const r = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--layer', 'conv1', '--mapping', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    // the arch's own registers by default: edge-npu's 32-bit wrapping partial sums and accumulator
    expect(doc.registers).toEqual({ psumBits: 32, accBits: 32, policy: 'wrap' });
    const l = doc.layers[0];
    expect(l.layer).toBe('conv1');
    expect(l.macs).toBe(3 * 3 * 28 * 28 * 32);
    // every operand from DRAM for every MAC costs far more than the fixed schedule's reuse
    expect(l.given!.energyPj).toBeGreaterThan(5 * l.fixed.energyPj);
    // 32-bit registers: both mappings give the exact sums
    expect([l.fixed.wrongOutputs, l.given!.wrongOutputs, l.given!.outputs]).toEqual([0, 0, 28 * 28 * 32]);
    // 12-bit saturating registers: the same products, other numbers
    const narrow = JSON.parse((await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--layer', 'conv1', '--mapping', file, '--psum-bits', '12', '--overflow', 'saturate', '--json')).stdout) as Doc;
    expect(narrow.layers[0].given!.wrongOutputs).toBeGreaterThan(0);
    expect(narrow.layers[0].given!.psumEvents).toBeGreaterThan(0);
  }, 120_000);

  it('--search prints both mappings per layer; bad mappings and flags are named', async () => {
    const r = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--layer', 'fc2', '--search', '--budget', '100');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fixed µJ.*searched µJ/);
    expect(r.stdout).toMatch(/^fc2 /m);
    const bad = join(dir, 'bad.map.yaml');
    writeFileSync(bad, ALL_AT_DRAM.replace('P=28', 'P=14'));
    const b = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--layer', 'conv1', '--mapping', bad);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/bad\.map\.yaml/);
    expect(b.stderr).toMatch(/the factors of P multiply to 14, the problem's P is 28/);
    expect(b.stderr).not.toMatch(/\n\s+at /);
    const u = await qloom('map', '--model', 'fmnist-cnn', '--arch', 'edge-npu', '--data', 'fmnist', '--budget', '5');
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--budget: only with --search/);
    const one = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--mapping', bad);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/maps one layer: name it \(--layer\)/);
  }, 120_000);

  it('a mapping file for several layers (layers: { name: [entries] }) maps those layers; an unknown name is refused by path', async () => {
    // each layer's entries: the registers keep their own data space, every loop at DRAM
    const entries = (factors: string) =>
      [
        '    - { target: InputReg, type: bypass, keep: [Inputs], bypass: [Weights, Outputs] }',
        '    - { target: WeightReg, type: bypass, keep: [Weights], bypass: [Inputs, Outputs] }',
        '    - { target: Accumulator, type: bypass, keep: [Outputs], bypass: [Weights, Inputs] }',
        `    - { target: DRAM, type: temporal, factors: ${factors}, permutation: RSCPQMNG }`,
      ].join('\n') + '\n';
    const file = join(dir, 'layers.map.yaml');
    writeFileSync(file, `layers:\n  conv1:\n${entries('R=3 S=3 P=28 Q=28 C=1 M=32 N=1 G=1')}  fc2:\n${entries('R=1 S=1 P=1 Q=1 C=128 M=10 N=1 G=1')}`);
    const r = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--mapping', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.layers.map((l) => l.layer)).toEqual(['conv1', 'fc2']);
    expect(doc.layers.every((l) => l.given !== undefined && l.given.energyPj > l.fixed.energyPj)).toBe(true);
    const stray = join(dir, 'stray.map.yaml');
    writeFileSync(stray, `layers:\n  nope:\n${entries('R=3 S=3 P=28 Q=28 C=1 M=32 N=1 G=1')}`);
    const b = await qloom('map', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--arch', 'edge-npu', '--data', 'fmnist', '--mapping', stray);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/stray\.map\.yaml/);
    expect(b.stderr).toMatch(/layers\.nope: no conv \/ dense layer "nope"/);
  }, 120_000);
});
