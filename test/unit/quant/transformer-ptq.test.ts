/**
 * PTQ of a transformer block (pre-LN attention with two heads + a GELU MLP, seeded random weights):
 * the plan makes integer MatMul / Softmax / LayerNorm layers, the score scale is folded into the
 * query projection (no float op left inside the block), the algorithms asked for are the ones
 * built, and the integer network stays close to FP32 (SQNR against the float graph).
 */
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../../nets/fp32.js';
import { block, C, data, T } from '../../helpers/attention-block.js';
import { foldAttentionScales } from '../../../quant/attention-fold.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { quantizeNetwork } from '../../../quant/pipeline.js';
import { quantizedOutputs, sqnrDb } from '../../../scenarios/debug.js';

describe('transformer PTQ', () => {
  const graph = block(3);
  const calib = data(1, 64);
  const test = data(2, 32);
  const fp = runFp32(graph, { x: { dtype: 'float32', shape: [test.count, T, C], data: test.images } })[graph.outputs[0].name].data as Float32Array;

  it('the score scale folds into the query projection without changing the function', () => {
    const { graph: g, folded } = foldAttentionScales(graph);
    expect(folded).toEqual(['scaled']);
    expect(g.nodes.some((n) => n.op === 'Mul')).toBe(false);
    const out = runFp32(g, { x: { dtype: 'float32', shape: [test.count, T, C], data: test.images } })[g.outputs[0].name].data as Float32Array;
    // float32 rounding of c·w only
    expect(sqnrDb(fp, out)).toBeGreaterThan(100);
  });

  it('W8A8: integer MatMul, Softmax and LayerNorm layers, no float op left, close to FP32', async () => {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 64 }));
    const kinds = r.net.layers.map((l) => l.kind);
    expect(kinds.filter((k) => k === 'matmul')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'layernorm')).toHaveLength(2);
    expect(kinds).toContain('softmax');
    expect(kinds).not.toContain('float');
    const sm = r.net.layers.find((l) => l.kind === 'softmax')!;
    expect(sm).toMatchObject({ axis: 3, coerce2d: false, variant: 'ort' });
    // probabilities: scale 1/256 from the bottom of the unsigned range
    expect(Array.from(r.net.tensors.get(sm.output)!.q.scale)).toEqual([1 / 256]);
    const fc1 = r.net.layers.find((l) => l.name === 'fc1/mm')!;
    expect(fc1.kind === 'gemm' && fc1.activation.kind === 'lut' && fc1.activation.fn).toBe('gelu');
    const q = quantizedOutputs(r.net, graph, test);
    // measured 32.5 dB
    expect(sqnrDb(fp, q)).toBeGreaterThan(25);
  });

  it('integer-only algorithms (I-BERT softmax, LayerNorm, i-GELU) are built as asked and stay usable', async () => {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 64, softmax: 'ibert', layerNorm: 'integer', gelu: 'igelu' }));
    expect(r.net.layers.find((l) => l.kind === 'softmax')).toMatchObject({ variant: 'ibert' });
    expect(r.net.layers.filter((l) => l.kind === 'layernorm').every((l) => l.kind === 'layernorm' && l.variant === 'integer')).toBe(true);
    const fc1 = r.net.layers.find((l) => l.name === 'fc1/mm')!;
    expect(fc1.kind === 'gemm' && fc1.activation.kind).toBe('igelu');
    // measured 31.3 dB
    expect(sqnrDb(fp, quantizedOutputs(r.net, graph, test))).toBeGreaterThan(24);
  });

  it('an unknown algorithm is a config problem', () => {
    expect(() => resolvePtqConfig('w8a8-pc', { softmax: 'taylor' })).toThrow(/softmax: must be one of ort, ibert, lut, got 'taylor'/);
  });
});
