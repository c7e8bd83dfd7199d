import { describe, expect, it } from 'vitest';
import { presetSpec, validateArchSpec } from '../../../arch/spec.js';
import type { QLayer, QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { simulate, workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { createFunctionalSink, timingAccumulator, timingOrder } from '../../../sim/functional.js';
import { runQuantized } from '../../../sim/qexec.js';
import { sfuProblem } from '../../../sim/requant-unit.js';
import { bitsByClass, bitsTotal } from '../../../sim/result.js';

const q = (scale: number, zeroPoint = 0, signed = true): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), axis: -1, bits: 8, signed, narrow: false });

/** int8 feeds for q, kᵀ, v, seeded */
function feeds(net: QuantizedNetwork, seed: number): Record<string, Tensor> {
  const rng = new Prng(seed);
  const out: Record<string, Tensor> = {};
  for (const i of net.inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const data = new Int8Array(n);
    for (let k = 0; k < n; k++) data[k] = Math.floor(rng.next() * 256) - 128;
    out[i.name] = { dtype: 'int8', shape: i.shape, data };
  }
  return out;
}

/** one attention head group: S = Q·Kᵀ, P = softmax(S), O = P·V, then LayerNorm — H heads, T tokens, D per head */
function attentionNet(H: number, T: number, D: number, zp = 0): QuantizedNetwork {
  const t = (name: string, shape: number[], qp: QParams): [string, QTensorInfo] => [name, { name, shape, q: qp }];
  const tensors = new Map<string, QTensorInfo>([
    t('q', [1, H, T, D], q(0.05, zp)),
    t('kt', [1, H, D, T], q(0.05, zp)),
    t('v', [1, H, T, D], q(0.05, zp)),
    t('s', [1, H, T, T], q(0.1)),
    t('p', [1, H, T, T], q(1 / 256, -128)),
    t('o', [1, H, T, D], q(0.02)),
    t('y', [1, H, T, D], q(0.03)),
  ]);
  const layers: QLayer[] = [
    { kind: 'matmul', name: 'qk', inputs: ['q', 'kt'], output: 's', activation: { kind: 'none' } },
    { kind: 'softmax', name: 'softmax', inputs: ['s'], output: 'p', axis: 3, coerce2d: false, variant: 'ibert' },
    { kind: 'matmul', name: 'pv', inputs: ['p', 'v'], output: 'o', activation: { kind: 'none' } },
    { kind: 'layernorm', name: 'ln', inputs: ['o'], output: 'y', axis: 3, epsilon: 1e-5, gamma: new Float32Array(D).fill(1), beta: new Float32Array(D), variant: 'integer' },
  ];
  return {
    name: 'attention',
    inputs: ['q', 'kt', 'v'].map((name) => ({ name, dtype: 'int8' as const, shape: tensors.get(name)!.shape })),
    outputs: [{ name: 'y', dtype: 'int8', shape: [1, H, T, D] }],
    tensors,
    layers,
  };
}

describe('transformer layers in the workload and the engine', () => {
  const H = 2;
  const T = 17;
  const D = 32;

  it('activation × activation GEMMs run per head with the stationary operand counted as data, scores as attention', () => {
    const spec = presetSpec('edge-npu');
    const w = workloadFromQuantizedNetwork(attentionNet(H, T, D), [1, H, T, D], spec);
    expect(w.layers.map((l) => [l.name, l.kind, l.vectorOp])).toEqual([
      ['qk', 'gemm', null],
      ['softmax', 'vector', 'sfu'],
      ['pv', 'gemm', null],
      ['ln', 'vector', 'sfu'],
    ]);
    const [qk, sm, pv, ln] = w.layers;
    expect(qk.view).toMatchObject({ M: T, K: D, N: T, groups: H });
    expect(pv.view).toMatchObject({ M: T, K: T, N: D, groups: H });
    expect(qk.operandClasses).toEqual({ weights: 'inputs', inputs: 'inputs', outputs: 'attention' });
    expect(pv.operandClasses).toEqual({ weights: 'inputs', inputs: 'attention', outputs: 'outputs' });
    expect(sm.sfu).toEqual({ op: 'softmax', rows: H * T, rowLength: T, inputBits: 8, outputBits: 8 });
    expect(ln.sfu).toEqual({ op: 'layernorm', rows: H * T, rowLength: D, inputBits: 8, outputBits: 8 });
    // γ and β: D float32 each
    expect(ln.requantParamBytes).toBe(2 * D * 4);

    const r = simulate(spec, w);
    const [rqk, rsm, rpv] = r.layers;
    // Kᵀ (H·D·T bytes) moves under inputs, never weights; no layer stores parameters but LayerNorm's γ, β and the requant sets
    expect(rqk.bits.dramBuffer.weights).toBe(0);
    expect(rqk.bits.dramBuffer.inputs).toBe(8 * (H * T * D + H * D * T));
    expect(rqk.bits.dramBuffer.attention).toBe(8 * H * T * T);
    expect(rsm.bits.dramBuffer).toMatchObject({ inputs: 0, outputs: 0, attention: 8 * 2 * H * T * T });
    expect(rpv.bits.dramBuffer.attention).toBe(8 * H * T * T);
    expect(rqk.paramBytes).toBe(5);
    expect(rqk.macs).toBe(H * T * D * T);
    expect(rpv.macs).toBe(H * T * T * D);
    // the softmax ran on the SFU: I-BERT's integer actions, labelled sfu
    expect(rsm.counts.some((c) => c.label === 'sfu' && c.component === 'multiplier')).toBe(true);
    expect(rsm.computeCycles).toBeGreaterThanOrEqual(3 * Math.ceil((H * T * T) / 16));
    // a class is a label: totals are the sum over classes
    const byClass = bitsByClass(r.totals.bits);
    expect(Object.values(byClass).reduce((a, b) => a + b, 0)).toBe(bitsTotal(r.totals.bits));
  });

  it('without an SFU, Softmax and LayerNorm go to a host: int32 out and back, no element work', () => {
    const spec = validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec('edge-npu'))), sfu: 'none' });
    const w = workloadFromQuantizedNetwork(attentionNet(H, T, D), [1, H, T, D], spec);
    const sm = w.layers[1];
    expect(sm).toMatchObject({ vectorElements: 0, ifmapBytes: 4 * H * T * T, ofmapBytes: 4 * H * T * T, requantParamBytes: 0 });
    const with_ = simulate(presetSpec('edge-npu'), workloadFromQuantizedNetwork(attentionNet(H, T, D), [1, H, T, D], presetSpec('edge-npu')));
    const without = simulate(spec, w);
    expect(without.layers[1].computeCycles).toBe(0);
    expect(without.layers[1].counts.some((c) => c.label === 'sfu')).toBe(false);
    // four times the bytes of the int8 scores each way
    expect(without.layers[1].dramBytes).toEqual({ read: 4 * H * T * T, write: 4 * H * T * T });
    expect(with_.layers[1].dramBytes).toEqual({ read: H * T * T, write: H * T * T });
  });

  it('the integers computed inside the timing run equal the functional executor, SFU layers included', () => {
    for (const [name, zp] of [['edge-npu', 0], ['tpu-like', 5]] as const) {
      const spec = validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec(name))), sfu: { softmax: 'ibert', layerNorm: 'integer' } });
      const net = attentionNet(H, T, D, zp);
      const f = feeds(net, 7);
      const sink = createFunctionalSink(net, spec, f, { requant: { mode: 'float' } });
      simulate(spec, workloadFromQuantizedNetwork(net, [1, H, T, D], spec), { functional: sink });
      const timed = sink.result();
      const ref = runQuantized(net, f, { requant: { mode: 'float' }, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form });
      expect(Array.from(timed.outputs.y.data as Int8Array)).toEqual(Array.from(ref.outputs.y.data as Int8Array));
      // the data moved: not all codes equal
      expect(new Set(timed.outputs.y.data as Int8Array).size).toBeGreaterThan(10);
    }
  });

  it('a network quantized for other Softmax / LayerNorm algorithms than the SFU has is refused, naming each layer', () => {
    const net = attentionNet(H, T, D);
    expect(sfuProblem('edge-npu', presetSpec('edge-npu'), net)).toBeNull();
    expect(sfuProblem('tpu-like', presetSpec('tpu-like'), net)).toBe(
      "tpu-like's special-function unit computes softmax ort, layerNorm float, gelu lut; layers quantized for another algorithm: softmax (softmax ibert), ln (layerNorm integer)",
    );
    // no SFU: a host computes whatever the network says
    expect(sfuProblem('none', validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec('tpu-like'))), sfu: 'none' }), net)).toBeNull();
  });

  it('asymmetric K and V add the zero-point column on the array', () => {
    const spec = presetSpec('edge-npu');
    const w = workloadFromQuantizedNetwork(attentionNet(H, T, D, 3), [1, H, T, D], spec);
    expect(w.layers[0].zeroPointTerm).toBe(true);
    expect(simulate(spec, w).layers[0].extraAdds).toBe(H * T * D + H * T * T);
  });
});
