/**
 * QAT results exported as QOperator ONNX and run by onnxruntime-node give, bit for bit, what
 * qloom's integer executor gives on the QuantizedNetwork QAT built — at every QAT preset's widths,
 * sub-8-bit weights and activations held in 8-bit containers with their restricted ranges.
 * ORT is the independent implementation; the QAT runs are short (a few hundred images: the
 * learned scales and weights differ from PTQ's, which is what the export must carry).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../nets/data/index.js';
import { exportQuantizedOnnx } from '../../quant/onnx/qexport.js';
import { qatModel } from '../../scenarios/qat.js';
import { resolvePtqConfig } from '../../quant/config.js';
import { runQuantized } from '../../sim/qexec.js';
import { ortWeightBits } from '../helpers/ort.js';

const EXEC = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };

const CASES: [string, string][] = [
  ['fmnist-dwsep', 'w4a4-qat'],
  ['fmnist-dwsep', 'w3a3-qat'],
  ['fmnist-cnn', 'w2a4-qat'],
  ['fmnist-cnn', 'w8a8-qat'],
];

describe('QAT → QOperator ONNX: ORT == qloom exec', () => {
  it.each(CASES)('%s %s', async (model, preset) => {
    // weights at ortWeightBits(bits): an 8-bit preset at 7 where ORT's kernels saturate (no VNNI)
    const [, wb, ab] = /^w(\d)a(\d)/.exec(preset)!.map(Number);
    const bits = ortWeightBits(wb);
    const config = bits !== wb ? resolvePtqConfig('w4a8-pc', { wBits: bits, aBits: ab }) : undefined;
    const r = await qatModel(model, { preset, data: 'fmnist', trainSamples: 256, evalSamples: 0, hyper: { epochs: 1 }, ...(config && { config }) });
    const net = r.net;
    const test = loadDataset('fmnist', 'test', { samples: 16, seed: 4 });
    const inp = net.inputs[0];
    const batch = inp.shape[0] > 0 ? inp.shape[0] : test.count;
    const per = test.images.length / test.count;
    const data = test.images.slice(0, batch * per);
    const ref = runQuantized(net, { [inp.name]: { dtype: 'float32', shape: [batch, ...inp.shape.slice(1)], data } }, EXEC).outputs;
    const s = await ort.InferenceSession.create(exportQuantizedOnnx(net, { format: 'qop' }), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const out = await s.run({ [inp.name]: new ort.Tensor('float32', data, [batch, ...inp.shape.slice(1)]) });
    await s.release();
    for (const o of net.outputs) {
      const want = out[o.name].data as Float32Array;
      const got = ref[o.name].data as Float32Array;
      expect(got.length).toBe(want.length);
      let mismatches = 0;
      for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) mismatches++;
      expect(mismatches, `${o.name}: values differing from ORT`).toBe(0);
    }
    // the weights really are on the preset's grid
    const lin = net.layers.filter((l) => l.kind === 'conv' || l.kind === 'gemm');
    expect(lin.length).toBeGreaterThan(0);
    for (const l of lin) {
      const w = (l as { weight: { data: Int32Array; q: { bits: number } } }).weight;
      expect(w.q.bits).toBe(bits);
      const lim = 2 ** (bits - 1) - 1;
      for (const c of w.data) expect(Math.abs(c) <= lim).toBe(true);
    }
  }, 300_000);
});
