/**
 * The bundled diffusion model against onnxruntime-node: the FP32 UNet (timestep embedding with
 * Sin/Cos, Resize, concatenated skips, Swish) predicts the same noise in ORT as in qloom's FP32
 * executor; quantized (w8a8-pc, calibrated on FP32 DDIM trajectories) and exported as QOperator
 * ONNX, ORT's integer run equals qloom's integer executor bit for bit — the timestep path (float
 * Sin/Cos into a quantized Gemm), the broadcast adds of the per-block projections, the replicated
 * codes of the upsampling and the Swish tables included (split skip quantization has no ONNX form and
 * is refused by name). The manifest's record matches the file.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../nets/fp32.js';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { layerStats } from '../../nets/shapes.js';
import { readDiffusionManifest } from '../../nets/zoo/index.js';
import { resolvePtqConfig } from '../../quant/config.js';
import { exportQuantizedOnnx } from '../../quant/onnx/qexport.js';
import { quantizeNetwork } from '../../quant/pipeline.js';
import { calibrationSet, loadDdpm, recordTrajectories } from '../../scenarios/diffusion.js';
import { runQuantized } from '../../sim/qexec.js';
import { readFileSync } from 'node:fs';
import { ortWeightBits } from '../helpers/ort.js';

const m = loadDdpm('mnist-ddpm');
const N = 4;

function inputs(seed: number): { x: Tensor; t: Tensor } {
  const rng = new Prng(seed);
  return {
    x: { dtype: 'float32', shape: [N, 1, 28, 28], data: Float32Array.from({ length: N * 784 }, () => rng.normal()) },
    t: { dtype: 'float32', shape: [N, 1], data: Float32Array.from([999, 500, 37, 0]) },
  };
}

async function ortRun(bytes: Uint8Array, feeds: { x: Tensor; t: Tensor }): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  const out = await s.run({ x: new ort.Tensor('float32', feeds.x.data as Float32Array, [...feeds.x.shape]), t: new ort.Tensor('float32', feeds.t.data as Float32Array, [...feeds.t.shape]) });
  await s.release();
  return out.eps.data as Float32Array;
}

describe('mnist-ddpm against ORT', () => {
  it('the manifest records the file: parameters, MACs per evaluation, training command', () => {
    const e = readDiffusionManifest()['mnist-ddpm'];
    const s = layerStats(m.graph);
    expect([e.params, e.macs]).toEqual([s.totalParams, s.totalMacs]);
    expect(e.trainedBy).toMatch(/^npx tsx nets\/zoo\/train-ddpm\.ts /);
    expect(m.graph.meta?.trainedBy).toBe(e.trainedBy);
  });

  it('FP32: the same predicted noise as ORT (within float32 rounding of the summation order)', async () => {
    const f = inputs(1);
    const ours = runFp32(m.graph, f).eps.data as Float32Array;
    const ref = await ortRun(new Uint8Array(readFileSync(new URL('../../nets/zoo/mnist-ddpm.onnx', import.meta.url))), f);
    let max = 0;
    for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i] - ref[i]));
    expect(max).toBeLessThan(2e-4);
  });

  it.each([
    ['w8a8-pc', false],
    ['w4a8-pc', false],
  ] as const)('%s (split skips: %s): ORT on the QOperator export equals the integer executor bit for bit', async (preset, splitConcat) => {
    const tr = recordTrajectories(m, { steps: 3, count: 12, seed: 4 });
    const calib = calibrationSet(m, tr, { kind: 'uniform' });
    const { net } = await quantizeNetwork(m.graph, calib, resolvePtqConfig(preset, { calibSamples: 12, wBits: ortWeightBits(Number(preset[1])), ...(splitConcat ? { splitConcat: true } : {}) }));
    expect(net.layers.some((l) => l.kind === 'resize')).toBe(true);
    const f = inputs(2);
    const ours = runQuantized(net, f, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs.eps.data as Float32Array;
    const ref = await ortRun(exportQuantizedOnnx(net, { format: 'qop' }), f);
    expect(Array.from(ref)).toEqual(Array.from(ours));
  }, 120_000);

  it('split skip quantization has no ONNX form: the export refuses it, naming both concats and their readers', async () => {
    const tr = recordTrajectories(m, { steps: 2, count: 4, seed: 4 });
    const { net } = await quantizeNetwork(m.graph, calibrationSet(m, tr, { kind: 'uniform' }), resolvePtqConfig('w8a8-pc', { calibSamples: 4, splitConcat: true }));
    expect(() => exportQuantizedOnnx(net, { format: 'qop' })).toThrow(/up1\/concat[\s\S]*up1\.conv1[\s\S]*up1\.skip[\s\S]*up0\/concat[\s\S]*up0\.conv1[\s\S]*up0\.skip/);
  }, 60_000);
});
