/**
 * evaluateOnArch times one inference once and runs every sample through the prepared integer
 * executor in the engine's accumulation order; `tiles: true` runs it the old way — every batch
 * through its own timing run, the functional work tile by tile from the engine's events. The two
 * must give the same ArchEvaluation bit for bit (cycles, energy, bits, overflow counts per layer
 * and accumulator, outputs, predictions, accumulators), on arches whose order, accumulator and PE
 * form differ, with a last batch smaller than the others, and with overflows happening.
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import { evaluationSet, type EvalSet } from '../../../scenarios/datasets.js';
import { evaluateOnArch, type ArchEvaluation } from '../../../scenarios/evaluate.js';
import { quantizeModel } from '../../../scenarios/quantize.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

const arch = (name: keyof typeof PRESETS, patch: (s: ArchSpec) => object = (s) => s, label?: string): ArchSpec => {
  const s = structuredClone(PRESETS[name]) as ArchSpec;
  return validateArchSpec({ ...s, ...patch(s), name: label ?? s.name });
};

/** everything evaluateOnArch returns, as plain data (typed arrays as arrays) */
function plain(e: ArchEvaluation): unknown {
  return JSON.parse(JSON.stringify({ ...e, predictions: [...e.predictions], outputs: [...e.outputs] }));
}

describe.skipIf(!existsSync(FMNIST))('evaluateOnArch: one timing run + the executor = a timing run per batch, tile by tile', () => {
  let pt: QuantizedNetwork;
  let asym: QuantizedNetwork;
  let set: EvalSet;
  beforeAll(async () => {
    pt = (await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pt', { calibSamples: 32, seed: 0 }))).net;
    asym = (await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pc-asym', { calibSamples: 32, seed: 0 }))).net;
    set = evaluationSet('fmnist', 'fmnist-cnn', 11, 0);
  }, 180_000);

  const cases: [string, () => QuantizedNetwork, ArchSpec][] = [
    ['edge-npu (ws, 32-bit wrap)', () => pt, arch('edge-npu')],
    ['mcu-npu (os, fixed requant)', () => pt, arch('mcu-npu')],
    ['ws, 16-bit saturating accumulator and 14-bit psums (overflows)', () => pt, arch('edge-npu', (s) => ({ accumulator: { ...s.accumulator, bits: 16, overflow: 'saturate', psumBits: 14 } }), 'narrow')],
    ['asymmetric weights (raw form, z_w·Σq_x), 18-bit wrap', () => asym, arch('edge-npu', (s) => ({ accumulator: { ...s.accumulator, bits: 18 } }), 'asym18')],
    ['zero-operand gating (counts summed over batches, priced once)', () => pt, arch('edge-npu', (s) => ({ pe: { ...s.pe, zeroGating: 'operand' } }), 'gated')],
    ['zero-activation gating, asymmetric weights', () => asym, arch('edge-npu', (s) => ({ pe: { ...s.pe, zeroGating: 'activation' } }), 'gated-act')],
    ['run-length activation compression on the DRAM interface', () => pt, arch('edge-npu', (s) => ({ memories: { ...s.memories, dram: { ...s.memories.dram, activationCompression: 'rle' } } }), 'rle')],
    ['bitmap activation compression and operand gating', () => pt, arch('edge-npu', (s) => ({ pe: { ...s.pe, zeroGating: 'operand' }, memories: { ...s.memories, dram: { ...s.memories.dram, activationCompression: 'bitmap' } } }), 'bitmap')],
    ['zero-vector skipping on a ws array, timed again after the data', () => pt, arch('edge-npu', (s) => ({ pe: { ...s.pe, zeroSkipping: 'activation' } }), 'skip-ws')],
    ['zero-vector skipping on an os array (fixed-point requant)', () => pt, arch('mcu-npu', (s) => ({ pe: { ...s.pe, zeroSkipping: 'activation' } }), 'skip-os')],
    ['layer boundaries kept on chip (optimal), bitmap compression of what still crosses DRAM', () => pt, arch('edge-npu', (s) => ({ memories: { ...s.memories, onChipBoundaries: 'optimal', dram: { ...s.memories.dram, activationCompression: 'bitmap' } } }), 'on-chip')],
  ];
  for (const [name, net, spec] of cases) {
    it(name, async () => {
      const reuse = await evaluateOnArch(spec, net(), set, { batch: 4, seed: 3 });
      const tiles = await evaluateOnArch(spec, net(), set, { batch: 4, seed: 3, tiles: true });
      expect(plain(reuse)).toEqual(plain(tiles));
      // key order too: results.json is compared byte for byte
      expect(JSON.stringify(reuse.result)).toBe(JSON.stringify(tiles.result));
      if (spec.name === 'narrow') expect(reuse.result.totals.overflows).toBeGreaterThan(0);
      if (spec.memories.dram.activationCompression) {
        // the same arch with activations sent raw (on-chip boundaries, if any, kept)
        const raw = await evaluateOnArch(arch('edge-npu', (s) => ({ memories: { ...s.memories, onChipBoundaries: spec.memories.onChipBoundaries ?? 'none' } }), `${spec.name}-raw`), net(), set, { batch: 4, seed: 3 });
        expect(reuse.result.totals.cycles).toBe(raw.result.totals.cycles);
        if (spec.memories.onChipBoundaries) {
          // every integer activation of this chain stays on chip: what still crosses DRAM (weights,
          // the float input and logits) is never compressed
          expect(reuse.result.totals.dramBytes).toEqual(raw.result.totals.dramBytes);
        } else {
          expect(reuse.result.totals.dramBytes.read).toBeLessThan(raw.result.totals.dramBytes.read);
          expect(reuse.result.totals.dramBytes.write).toBeLessThan(raw.result.totals.dramBytes.write);
        }
        // weights cross raw; every layer's DRAM bits are still 8 × its DRAM bytes
        reuse.result.layers.forEach((l, i) => {
          expect(l.bits.dramBuffer.weights).toBe(raw.result.layers[i].bits.dramBuffer.weights);
          const d = l.bits.dramBuffer;
          expect(d.weights + d.inputs + d.outputs + d.psums + d.bias + d.requantParams + d.attention).toBe(8 * (l.dramBytes.read + l.dramBytes.write));
        });
        const saved = reuse.result.layers.reduce((a, l) => a + (l.compression?.savedBits ?? 0), 0);
        expect(saved).toBe(8 * (raw.result.totals.dramBytes.read + raw.result.totals.dramBytes.write - reuse.result.totals.dramBytes.read - reuse.result.totals.dramBytes.write));
      }
      if (spec.pe.zeroSkipping) {
        // Fashion-MNIST's background: whole activation vectors are zero, so the array skips cycles
        const base = arch(spec.name === 'skip-os' ? 'mcu-npu' : 'edge-npu');
        const plainRun = await evaluateOnArch(base, net(), set, { batch: 4, seed: 3 });
        expect(reuse.result.totals.cycles).toBeLessThan(plainRun.result.totals.cycles);
        expect(reuse.result.totals.macs).toBe(plainRun.result.totals.macs);
        expect(reuse.result.totals.energyPj).toBeLessThan(plainRun.result.totals.energyPj);
        const conv = reuse.result.layers.find((l) => l.zeros?.zeroVectorFraction !== undefined)!;
        expect(conv.zeros!.zeroVectorFraction).toBeGreaterThan(0);
        expect(conv.zeros!.skippedMacs).toBeGreaterThan(0);
        // skipped MACs have a zero activation: never more than the zero-activation MACs
        expect(conv.zeros!.skippedMacs!).toBeLessThanOrEqual(conv.zeros!.zeroActMacFraction * conv.macs + 1e-9);
      }
      if (spec.pe.zeroGating) {
        // post-ReLU inputs have zeros, so some MACs are gated and the energy is below the ungated arch's
        const gated = reuse.result.layers.reduce((a, l) => a + (l.zeros?.gatedMacs ?? 0), 0);
        expect(gated).toBeGreaterThan(0);
        const plainArch = arch('edge-npu');
        const ungated = await evaluateOnArch(plainArch, net(), set, { batch: 4, seed: 3 });
        expect(reuse.result.totals.energyPj).toBeLessThan(ungated.result.totals.energyPj);
        expect(reuse.result.totals.cycles).toBe(ungated.result.totals.cycles);
      }
    }, 120_000);
  }
});
