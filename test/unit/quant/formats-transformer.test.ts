/**
 * A transformer block on number formats (quant/formats.ts over the transformer PTQ): its attention
 * MatMuls become format MatMuls on the PE array (the network's float accumulator), Softmax and
 * LayerNorm stay in the graph on decoded values, and the block stays close to FP32 — with the
 * swamping of every MatMul counted over the adds a hand count gives.
 */
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../../nets/fp32.js';
import { block, C, data, T } from '../../helpers/attention-block.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { quantizeNetwork } from '../../../quant/pipeline.js';
import { quantizedOutputs, sqnrDb } from '../../../scenarios/debug.js';
import { runQuantized } from '../../../sim/qexec.js';

describe('a transformer block on number formats', () => {
  const graph = block(3);
  const calib = data(1, 64);
  const test = data(2, 16);
  const fp = runFp32(graph, { x: { dtype: 'float32', shape: [test.count, T, C], data: test.images } })[graph.outputs[0].name].data as Float32Array;

  // measured: BF16 47.4 dB, FP8 E4M3 23.7 dB, MXFP8 20.8 dB against the float graph
  for (const [preset, minDb] of [
    ['bf16', 44],
    ['fp8e4m3', 21],
    ['mxfp8', 18],
  ] as const) {
    it(`${preset}: attention MatMuls in the format, close to FP32`, async () => {
      const r = await quantizeNetwork(graph, calib, resolvePtqConfig(preset, { calibSamples: 64 }));
      const mms = r.net.layers.filter((l) => l.kind === 'matmul');
      expect(mms).toHaveLength(2);
      for (const m of mms) expect(m.kind === 'matmul' && m.formatAcc).toBe('fp32');
      for (const name of [...mms.map((m) => m.inputs).flat()]) expect(r.net.tensors.get(name)!.format).toBeDefined();
      const res = runQuantized(r.net, { x: { dtype: 'float32', shape: [1, T, C], data: test.images.subarray(0, T * C) } }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
      // Q·Kᵀ: 2 heads × T×T scores, each a sum of D = C/2 products; P·V: 2 heads × T×D outputs of T
      const blocksOf = (k: number) => (preset === 'mxfp8' ? Math.ceil(k / 32) : k);
      const adds = mms.map((m) => res.swamping[m.name].adds).sort((a, b) => a - b);
      expect(adds).toEqual([2 * T * T * blocksOf(C / 2), 2 * T * (C / 2) * blocksOf(T)].sort((a, b) => a - b));
      const q = quantizedOutputs(r.net, graph, test);
      expect(sqnrDb(fp, q)).toBeGreaterThan(minDb);
    });
  }
});
