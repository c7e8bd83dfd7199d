/**
 * Layers kept on integers inside a number-format network (`format.integerLayers`, the usual first
 * and last layers at INT8 in an FP8 network), on mnist-mlp (fc1 → fc2 → fc3): conversions only at
 * the format boundary, the kept layers' integers equal to the integer network's bit for bit, PEs
 * with both datapaths priced per layer on the one it uses, and refusals that say what is missing.
 */
import { describe, expect, it } from 'vitest';
import { archArea } from '../../../arch/area.js';
import { validateArchSpec } from '../../../arch/spec.js';
import { loadDataset } from '../../../nets/data/index.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { resolvePtqConfig, type PtqConfig } from '../../../quant/config.js';
import { quantizeNetwork } from '../../../quant/pipeline.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import { simulateModel } from '../../../scenarios/simulate-model.js';
import { runQuantized } from '../../../sim/qexec.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';

const graph = loadModel('mnist-mlp').graph;
const calib = loadDataset('mnist', 'train', { samples: 64, seed: 0 });
const test = loadDataset('mnist', 'test', { samples: 20, seed: 0 });
const cfg = resolvePtqConfig('fp8e4m3', { calibSamples: 64, integerLayers: ['fc1', 'fc3'] });

/** every layer's output codes (integer tensors) by tensor name */
function codes(net: QuantizedNetwork): Map<string, Int32Array> {
  const out = new Map<string, Int32Array>();
  runQuantized(net, { input: { dtype: 'float32', shape: [test.count, 784], data: test.images } }, {
    requant: { mode: 'float' },
    acc: { bits: 32, policy: 'wrap' },
    onLayer: (l, t) => {
      if (t.dtype !== 'float32') out.set(l.output, Int32Array.from(t.data as ArrayLike<number>));
    },
  });
  return out;
}

describe('integer layers in a number-format network', () => {
  it('converts only at the format boundary: fc1 reads the input integers, fc3 writes the output integers', async () => {
    const net = (await quantizeNetwork(graph, calib, cfg)).net;
    const seq = net.layers.map((l) => `${l.kind}:${l.name}`);
    const fc1 = net.layers.find((l) => l.name === 'fc1')!;
    const fc2 = net.layers.find((l) => l.name === 'fc2')!;
    const fc3 = net.layers.find((l) => l.name === 'fc3')!;
    expect(fc1.kind === 'gemm' && fc1.weight.format).toBeUndefined();
    expect(fc3.kind === 'gemm' && fc3.weight.format).toBeUndefined();
    expect(fc2.kind === 'gemm' && fc2.weight.format?.kind).toBe('float');
    // fc1's output goes back to FP8 for fc2; fc2's output to integers for fc3; nothing else added
    expect(seq.filter((s) => s.includes('/to-'))).toEqual(['dequantize:fc1/to-format', 'quantize:fc3/to-int']);
    expect(net.tensors.get(fc1.inputs[0])!.format).toBeUndefined();
    expect(net.tensors.get(fc3.output)!.format).toBeUndefined();
    expect(net.tensors.get(fc2.inputs[0])!.format?.kind).toBe('float');
  });

  it('bias traffic: the FP8 layer moves its FP32 bias like the integer ones (fc2: 128 × 4 bytes)', async () => {
    const net = (await quantizeNetwork(graph, calib, cfg)).net;
    const spec = validateArchSpec({ name: 'fp8-int', array: { rows: 16, cols: 16 }, memories: { glb: { capacity: '256 KiB' } }, operands: { format: 'fp8-e4m3', alsoInt: true } });
    const w = workloadFromQuantizedNetwork(net, [1, 784], spec);
    const bias = (n: string) => w.layers.find((l) => l.name === n)!.biasBytes;
    expect([bias('fc1'), bias('fc2'), bias('fc3')]).toEqual([256 * 4, 128 * 4, 10 * 4]);
  });

  it("fc1's integers are the integer network's, bit for bit (same calibration, same weights)", async () => {
    const mixed = (await quantizeNetwork(graph, calib, cfg)).net;
    const { format: _f, ...intCfg } = cfg;
    const integer = (await quantizeNetwork(graph, calib, intCfg as PtqConfig)).net;
    const a = codes(mixed);
    const b = codes(integer);
    const fc1m = mixed.layers.find((l) => l.name === 'fc1')!.output;
    const fc1i = integer.layers.find((l) => l.name === 'fc1')!.output;
    expect(a.get(fc1m)!.length).toBe(test.count * 256);
    expect(Array.from(a.get(fc1m)!)).toEqual(Array.from(b.get(fc1i)!));
  });

  it('PEs with both datapaths: kept layers priced as integer MACs, fc2 as FP8 MACs; the integer datapath adds area', async () => {
    const both = validateArchSpec({ name: 'fp8-int', array: { rows: 16, cols: 16 }, memories: { glb: { capacity: '256 KiB' } }, operands: { format: 'fp8-e4m3', alsoInt: true } });
    const r = await simulateModel({ arch: both, model: 'mnist-mlp', preset: cfg, data: 'mnist', samples: 4 });
    const arrayUnits = (name: string) => new Set(r.result.layers.find((l) => l.name === name)!.counts.filter((c) => c.label === 'array').map((c) => c.component));
    expect(arrayUnits('fc1')).toEqual(new Set(['multiplier', 'adder']));
    expect(arrayUnits('fc3')).toEqual(new Set(['multiplier', 'adder']));
    expect(arrayUnits('fc2')).toEqual(new Set(['mac']));
    const fp8Only = validateArchSpec({ name: 'fp8', array: { rows: 16, cols: 16 }, memories: { glb: { capacity: '256 KiB' } }, operands: { format: 'fp8-e4m3' } });
    const pe = (s: typeof both) => archArea(s).components.find((c) => c.component === 'pe-array')!.mm2;
    // 256 PEs × (8×8 multiplier 282 µm² + 32-bit adder 137 µm²), Horowitz 45 nm (area.ts)
    expect(pe(both) - pe(fp8Only)).toBeCloseTo((256 * (282 + 137)) / 1e6, 6);
    await expect(simulateModel({ arch: fp8Only, model: 'mnist-mlp', preset: cfg, data: 'mnist', samples: 1 })).rejects.toThrow(/fp8-e4m3 \+ int \(layers kept on integers need operands\.alsoInt: true\)/);
  }, 120_000);

  it('refuses unknown layers, non-linear layers and integer presets, every problem at once', async () => {
    expect(() => resolvePtqConfig('w8a8-pc', { integerLayers: ['fc1'] })).toThrow(/integerLayers: keeps layers on integers inside a float \/ MX network; preset 'w8a8-pc' is an integer one/);
    // fc1_relu is fused into fc1 by PTQ: not a layer of the quantized network either
    const bad = resolvePtqConfig('fp8e4m3', { calibSamples: 64, integerLayers: ['fc9', 'fc1_relu'] });
    await expect(quantizeNetwork(graph, calib, bad)).rejects.toThrow(/no layer 'fc9' in mnist-mlp \(conv \/ gemm layers: fc1, fc2, fc3\)[\s\S]*no layer 'fc1_relu'/);
    const net = (await quantizeNetwork(graph, calib, cfg)).net;
    const q = net.layers.find((l) => l.kind === 'quantize')!.name;
    await expect(quantizeNetwork(graph, calib, resolvePtqConfig('fp8e4m3', { calibSamples: 64, integerLayers: [q] }))).rejects.toThrow(new RegExp(`'${q}' is a quantize layer; only conv / gemm layers`));
    expect(() => validateArchSpec({ name: 'x', array: { rows: 4, cols: 4 }, memories: { glb: { capacity: '8 KiB' } }, operands: { alsoInt: true } })).toThrow(/operands\.alsoInt: an integer datapath beside a number format; operands\.format is int/);
  });
});
