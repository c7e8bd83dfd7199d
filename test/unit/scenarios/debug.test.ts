/** The debugging workflow (white paper Fig. 9) on mnist-mlp: small enough to run every quantizer. */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { debugNetwork } from '../../../scenarios/debug.js';

describe('debugNetwork', () => {
  it('FP32 sanity at 32 bits, weights-only / activations-only, sensitivity of every quantizer, range statistics', async () => {
    const { graph } = loadModel('mnist-mlp');
    const calib = loadDataset('mnist', 'train', { samples: 128, seed: 0 });
    const test = loadDataset('mnist', 'test', { samples: 300, seed: 1 });
    // 3 weight bits make the weight quantizers clearly visible in the table
    const cfg = resolvePtqConfig('w8a8-pt', { wBits: 3, calibSamples: 128 });
    const r = await debugNetwork(graph, calib, test, cfg);
    expect(r.sanity.pass).toBe(true);
    expect(r.sanity.maxAbsDiff).toBeLessThan(1e-5 * Math.max(1, r.sanity.maxAbsOutput));
    expect(r.metric).toBe('labels');
    expect(r.samples).toBe(300);
    // 3 weight quantizers (fc1…fc3) and 4 activation quantizers (input, two ReLU outputs, logits)
    expect(r.sensitivity.filter((s) => s.kind === 'weight').map((s) => s.target).sort()).toEqual(['fc1', 'fc2', 'fc3']);
    expect(r.sensitivity.filter((s) => s.kind === 'activation').length).toBe(4);
    for (const s of r.sensitivity) expect(s.drop).toBeCloseTo(r.fp32Top1 - s.top1, 12);
    // sorted by drop, largest first
    for (let i = 1; i < r.sensitivity.length; i++) expect(r.sensitivity[i - 1].drop).toBeGreaterThanOrEqual(r.sensitivity[i].drop);
    // 3-bit weights hurt more than 8-bit activations, and the quantizers alone hurt less than all
    expect(r.weightsOnlyTop1).toBeLessThan(r.activationsOnlyTop1 + 1e-12);
    expect(r.quantizedTop1).toBeLessThanOrEqual(r.fp32Top1 + 0.02);
    // the integer network and the fake-quant simulation agree closely
    expect(Math.abs(r.integerTop1 - r.quantizedTop1)).toBeLessThanOrEqual(0.03);
    // per-channel statistics: one entry per output channel of every layer, min ≤ max
    const fc1 = r.weightRanges.find((l) => l.layer === 'fc1')!;
    expect(fc1.weightMin.length).toBe(fc1.weightMax.length);
    expect(fc1.weightMin.length).toBeGreaterThan(1);
    for (let c = 0; c < fc1.weightMin.length; c++) expect(fc1.weightMin[c]).toBeLessThanOrEqual(fc1.weightMax[c]);
    const relu = r.activationRanges.find((a) => a.tensor === 'fc1_relu_out')!;
    expect(relu.min).toBe(0);
    expect(relu.channelMax.length).toBe(fc1.weightMin.length);
    expect(Math.max(...relu.channelMax)).toBe(relu.max);
  });

  it('scores every stage as logits SQNR against the prepared and the original FP32; a function-changing preparation shows only against the original', async () => {
    const { graph } = loadModel('fmnist-dwsep'); // ReLU6 between its equalized layers, ends in logits
    const calib = loadDataset('fmnist', 'train', { samples: 64, seed: 0 });
    const test = loadDataset('fmnist', 'test', { samples: 64, seed: 1 });
    const plain = await debugNetwork(graph, calib, test, resolvePtqConfig('w8a8-pt', { calibSamples: 64 }));
    // BN folding keeps the function: prepared == original to float rounding
    expect(plain.prepared.sqnrDbOriginal).toBeGreaterThan(100);
    expect(plain.prepared.top1).toBe(1);
    // both references agree when preparation keeps the function
    for (const st of [plain.quantized, plain.integer, plain.weightsOnly, plain.activationsOnly]) {
      expect(Math.abs(st.sqnrDb - st.sqnrDbOriginal)).toBeLessThan(0.05);
      expect(Number.isFinite(st.sqnrDb)).toBe(true);
    }
    // the integer model is what the fake quantization simulates, so their SQNRs are close
    expect(Math.abs(plain.integer.sqnrDb - plain.quantized.sqnrDb)).toBeLessThan(3);
    // per layer: every quantized tensor on the prefix; each layer output noisier than float
    // rounding (the input pixels k/255 sit exactly on the input's 8-bit grid)
    expect(plain.perLayerSamples).toBe(64);
    expect(plain.perLayer.length).toBe(plain.activationRanges.length);
    for (const l of plain.perLayer) if (l.tensor !== graph.inputs[0].name) expect(l.sqnrDb).toBeLessThan(80);
    // CLE replacing ReLU6 by ReLU changes the FP32 function: against the prepared graph the
    // quantizers look fine, against the original the change is part of the error
    const cle = await debugNetwork(graph, calib, test, resolvePtqConfig('w8a8-pt-cle', { calibSamples: 64 }));
    expect(cle.prepared.sqnrDbOriginal).toBeLessThan(60);
    expect(cle.quantized.sqnrDbOriginal).toBeLessThanOrEqual(cle.prepared.sqnrDbOriginal + 0.5);
    const skip = await debugNetwork(graph, calib, test, resolvePtqConfig('w8a8-pt-cle', { calibSamples: 64, cleRelu6: 'skip', highBiasAbsorption: false }));
    expect(skip.prepared.sqnrDbOriginal).toBeGreaterThan(100);
  });
});
