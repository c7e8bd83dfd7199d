/**
 * exportQuantizedOnnx: what each layer is written as (QOperator vs QDQ), the exact clamp stage,
 * the int8 LUT byte order, the u8-weight re-encoding against int8 activations, and the errors
 * (every unexpressible layer named in one ModelError). Bit-exactness over random networks and the
 * conformance models is in test/golden/qexport-vs-ort.test.ts.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import type { Tensor } from '../../../nets/graph.js';
import { ModelProto, toNum, type PModel } from '../../../nets/onnx/schema.js';
import { tensorFromProto } from '../../../nets/onnx/tensor.js';
import { exportQuantizedOnnx } from '../../../quant/onnx/qexport.js';
import { importQuantizedOnnx } from '../../../quant/onnx/qimport.js';
import type { QActivation, QLayer, QLinearLayer, QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import { runQuantized } from '../../../sim/qexec.js';
import { thrown } from '../../helpers/errors.js';

const EXEC = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };

function pt(scale: number, zp: number, signed: boolean, bits = 8, narrow = false): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow };
}

function decode(bytes: Uint8Array): PModel {
  return ModelProto.decode(bytes) as unknown as PModel;
}
const ops = (m: PModel) => (m.graph?.node ?? []).map((n) => n.op_type);
function init(m: PModel, name: string): Tensor {
  const t = (m.graph?.initializer ?? []).find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return tensorFromProto(t, name);
}

/** x (float [1,2,3,3]) → quantize → conv 3×3 pad 1 (+act) → [gemm] → dequantize → y */
function convNet(opts: { act?: QActivation; signed?: boolean; wSigned?: boolean; yq?: QParams; wBits?: number; gemmBias?: boolean; wZp?: number[] } = {}): QuantizedNetwork {
  const signed = opts.signed ?? false;
  const wSigned = opts.wSigned ?? true;
  const xq = pt(0.02, signed ? 0 : 128, signed);
  const yq = opts.yq ?? pt(0.05, signed ? -20 : 100, signed);
  const wData = Int32Array.from({ length: 3 * 2 * 9 }, (_, i) => (wSigned ? ((i * 7) % 15) - 7 : (i * 11) % 200));
  const zps = opts.wZp ?? [wSigned ? 0 : 100];
  const conv: QLinearLayer = {
    kind: 'conv', name: 'conv', inputs: ['q'], output: 'c',
    weight: { data: wData, shape: [3, 2, 3, 3], q: { scale: Float32Array.from(zps.length > 1 ? [0.01, 0.02, 0.03] : [0.01]), zeroPoint: Int32Array.from(zps), axis: zps.length > 1 ? 0 : -1, bits: opts.wBits ?? 8, signed: wSigned, narrow: false } },
    bias: Int32Array.of(100, -200, 300), kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, activation: opts.act ?? { kind: 'none' },
  };
  const layers: QLayer[] = [{ kind: 'quantize', name: 'quantize', inputs: ['x'], output: 'q' }, conv];
  const tensors = new Map<string, QTensorInfo>([
    ['q', { name: 'q', shape: [1, 2, 3, 3], q: xq }],
    ['c', { name: 'c', shape: [1, 3, 3, 3], q: yq }],
  ]);
  let last = 'c';
  if (opts.gemmBias !== undefined) {
    layers.push({ kind: 'flatten', name: 'flatten', inputs: ['c'], output: 'f', param: [1] });
    tensors.set('f', { name: 'f', shape: [1, 27], q: yq });
    layers.push({
      kind: 'gemm', name: 'fc', inputs: ['f'], output: 'g',
      weight: { data: Int32Array.from({ length: 4 * 27 }, (_, i) => ((i * 5) % 13) - 6), shape: [4, 27], q: { scale: Float32Array.of(0.01), zeroPoint: Int32Array.of(0), axis: -1, bits: 8, signed: true, narrow: false } },
      bias: opts.gemmBias ? Int32Array.of(50, -60, 70, -80) : null, kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: { kind: 'none' },
    });
    tensors.set('g', { name: 'g', shape: [1, 4], q: pt(0.1, signed ? 0 : 128, signed) });
    last = 'g';
  }
  layers.push({ kind: 'dequantize', name: 'dequantize', inputs: [last], output: 'y' });
  return {
    name: 't', inputs: [{ name: 'x', dtype: 'float32', shape: [1, 2, 3, 3] }], outputs: [{ name: 'y', dtype: 'float32', shape: last === 'g' ? [1, 4] : [1, 3, 3, 3] }],
    tensors, layers,
  };
}

const X: Tensor = { dtype: 'float32', shape: [1, 2, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => Math.sin(i * 1.3) * 2) };

async function ortRun(bytes: Uint8Array, feeds: Record<string, Tensor>, level: 'disabled' | 'all' = 'disabled'): Promise<number[]> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, logSeverityLevel: 3 });
  const f: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(t.dtype, t.data as never, [...t.shape]);
  const out = await s.run(f);
  await s.release();
  return Array.from(out[s.outputNames[0]].data as ArrayLike<number>, Number);
}

describe('exportQuantizedOnnx: QOperator form', () => {
  it('writes QuantizeLinear → QLinearConv → DequantizeLinear with int8 weights and an int32 bias; no com.microsoft unless used', () => {
    const m = decode(exportQuantizedOnnx(convNet(), { format: 'qop' }));
    expect(ops(m)).toEqual(['QuantizeLinear', 'QLinearConv', 'DequantizeLinear']);
    expect((m.opset_import ?? []).map((o) => o.domain)).toEqual(['']);
    const conv = m.graph!.node!.find((n) => n.op_type === 'QLinearConv')!;
    expect(init(m, conv.input[3]).dtype).toBe('int8');
    expect(Array.from(init(m, conv.input[8]).data as Int32Array)).toEqual([100, -200, 300]);
    expect(init(m, conv.input[8]).dtype).toBe('int32');
  });

  it('a gemm without bias is a QLinearMatMul on the [K, N] weight; with a bias a 1×1 QLinearConv between Reshapes', () => {
    const noBias = decode(exportQuantizedOnnx(convNet({ gemmBias: false }), { format: 'qop' }));
    expect(ops(noBias)).toEqual(['QuantizeLinear', 'QLinearConv', 'Flatten', 'QLinearMatMul', 'DequantizeLinear']);
    const mm = noBias.graph!.node!.find((n) => n.op_type === 'QLinearMatMul')!;
    const b = init(noBias, mm.input[3]);
    expect([...b.shape]).toEqual([27, 4]);
    // B[k][n] = W[n][k]: W[1][0] = ((27·5) % 13) − 6 = 5 − 6 = −1 sits at B[0][1]
    expect((b.data as Int8Array)[1]).toBe(-1);
    const withBias = decode(exportQuantizedOnnx(convNet({ gemmBias: true }), { format: 'qop' }));
    expect(ops(withBias)).toEqual(['QuantizeLinear', 'QLinearConv', 'Flatten', 'Reshape', 'QLinearConv', 'Reshape', 'DequantizeLinear']);
  });

  it('a ReLU whose zero point is the type minimum is implied by saturation: no extra nodes', () => {
    const yq = pt(0.05, 0, false);
    const m = decode(exportQuantizedOnnx(convNet({ yq, act: { kind: 'clamp', fn: 'relu', lo: 0, hi: 255 } }), { format: 'qop' }));
    expect(ops(m)).toEqual(['QuantizeLinear', 'QLinearConv', 'DequantizeLinear']);
  });

  it('a ReLU6 clamp becomes DequantizeLinear → Clip → QuantizeLinear with the bounds dequantized exactly (hand computed)', async () => {
    // y: scale 0.05, zero point 100 → ReLU6 codes [100, 220]; DQ(100) = 0, DQ(220) = f32(120 · 0.05)
    const yq = pt(0.05, 100, false);
    const net = convNet({ yq, act: { kind: 'clamp', fn: 'relu6', lo: 100, hi: 220 } });
    const bytes = exportQuantizedOnnx(net, { format: 'qop' });
    const m = decode(bytes);
    expect(ops(m)).toEqual(['QuantizeLinear', 'QLinearConv', 'DequantizeLinear', 'Clip', 'QuantizeLinear', 'DequantizeLinear']);
    const clip = m.graph!.node!.find((n) => n.op_type === 'Clip')!;
    expect((init(m, clip.input[1]).data as Float32Array)[0]).toBe(0);
    expect((init(m, clip.input[2]).data as Float32Array)[0]).toBe(Math.fround(120 * Math.fround(0.05)));
    const ref = runQuantized(net, { x: X }, EXEC).outputs.y;
    expect(await ortRun(bytes, { x: X })).toEqual(Array.from(ref.data as Float32Array));
  });

  it('4-bit weights are stored in int8; uint8 weights read by int8 activations are re-encoded to int8 (ORT has no s8×u8 kernel)', async () => {
    const m4 = decode(exportQuantizedOnnx(convNet({ wBits: 4 }), { format: 'qop' }));
    const c4 = m4.graph!.node!.find((n) => n.op_type === 'QLinearConv')!;
    expect(init(m4, c4.input[3]).dtype).toBe('int8');
    const net = convNet({ signed: true, wSigned: false });
    const bytes = exportQuantizedOnnx(net, { format: 'qop' });
    const m = decode(bytes);
    const conv = m.graph!.node!.find((n) => n.op_type === 'QLinearConv')!;
    expect(init(m, conv.input[3]).dtype).toBe('int8');
    expect(Array.from(init(m, conv.input[5]).data as Int8Array)).toEqual([100 - 128]);
    const ref = runQuantized(net, { x: X }, EXEC).outputs.y;
    expect(await ortRun(bytes, { x: X })).toEqual(Array.from(ref.data as Float32Array));
    // and the re-imported network computes the same
    expect(Array.from(runQuantized(importQuantizedOnnx(bytes), { x: X }, EXEC).outputs.y.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
  });

  it('a LUT activation on int8 is a Gather over a 256-entry table in byte order (code −1 at index 255)', async () => {
    const xq = pt(0.1, 0, true);
    const yq = pt(0.1, 0, true);
    // table over codes −128…127 (index = code + 128): y = −code, saturated
    const table = Int32Array.from({ length: 256 }, (_, i) => Math.min(127, 128 - i));
    const net: QuantizedNetwork = {
      name: 'lut', inputs: [{ name: 'x', dtype: 'int8', shape: [4] }], outputs: [{ name: 'y', dtype: 'int8', shape: [4] }],
      tensors: new Map([['x', { name: 'x', shape: [4], q: xq }], ['y', { name: 'y', shape: [4], q: yq }]]),
      layers: [{ kind: 'activation', name: 'act', inputs: ['x'], output: 'y', activation: { kind: 'lut', fn: 'tanh', inQ: xq, entries: 256, table } }],
    };
    const bytes = exportQuantizedOnnx(net, { format: 'qop' });
    const m = decode(bytes);
    expect(ops(m)).toEqual(['Cast', 'Gather']);
    const t = init(m, m.graph!.node![1].input[0]).data as Int8Array;
    expect(t[255]).toBe(1); // code −1 → 1
    expect(t[0]).toBe(0); // code 0 → 0
    expect(t[128]).toBe(127); // code −128 → 128, saturated
    const x: Tensor = { dtype: 'int8', shape: [4], data: Int8Array.of(-128, -1, 0, 5) };
    expect(await ortRun(bytes, { x })).toEqual([127, 1, 0, -5]);
  });
});

describe('exportQuantizedOnnx: QDQ form', () => {
  it('stores no float weights: int8 weight and int32 bias initializers behind DequantizeLinear (scale s_x·s_w)', () => {
    const m = decode(exportQuantizedOnnx(convNet(), { format: 'qdq' }));
    expect(ops(m)).toEqual(['QuantizeLinear', 'DequantizeLinear', 'DequantizeLinear', 'DequantizeLinear', 'Conv', 'QuantizeLinear', 'DequantizeLinear']);
    expect(ops(m).some((o) => o?.startsWith('QLinear'))).toBe(false);
    const conv = m.graph!.node!.find((n) => n.op_type === 'Conv')!;
    const dqOf = (t: string) => m.graph!.node!.find((n) => n.output[0] === t)!;
    expect(init(m, dqOf(conv.input[1]).input[0]).dtype).toBe('int8');
    const bdq = dqOf(conv.input[2]);
    expect(init(m, bdq.input[0]).dtype).toBe('int32');
    expect((init(m, bdq.input[1]).data as Float32Array)[0]).toBe(Math.fround(Math.fround(0.02) * Math.fround(0.01)));
    for (const i of m.graph!.initializer!) expect(!(i.data_type === 1 && i.dims.length >= 2), `float weight ${i.name}`).toBe(true);
  });

  it('per-channel weights: DequantizeLinear axis 0 with one zero point per channel; bias scale per channel', async () => {
    const net = convNet({ wZp: [0, 0, 0] });
    const bytes = exportQuantizedOnnx(net, { format: 'qdq' });
    const m = decode(bytes);
    const conv = m.graph!.node!.find((n) => n.op_type === 'Conv')!;
    const wdq = m.graph!.node!.find((n) => n.output[0] === conv.input[1])!;
    expect(toNum(wdq.attribute.find((a) => a.name === 'axis')?.i)).toBe(0);
    expect([...init(m, wdq.input[2]).shape]).toEqual([3]);
    const ref = Array.from(runQuantized(net, { x: X }, EXEC).outputs.y.data as Float32Array);
    expect(await ortRun(bytes, { x: X }, 'all')).toEqual(ref);
  });
});

describe('exportQuantizedOnnx: what cannot be expressed is one ModelError naming every layer', () => {
  it('16-bit activations, differing per-channel weight zero points on a conv', () => {
    const net = convNet({ wZp: [0, 1, 2] });
    const tensors = new Map(net.tensors);
    tensors.set('q', { ...tensors.get('q')!, q: pt(0.02, 0, true, 16) });
    const bad: QuantizedNetwork = { ...net, tensors };
    const err = thrown(ModelError, () => exportQuantizedOnnx(bad, { format: 'qop' }));
    const probs = err.problems;
    expect(probs.map((p) => p.node).sort()).toEqual(['conv', 'quantize']);
    expect(probs.find((p) => p.node === 'quantize')!.message).toMatch(/16-bit/);
    expect(exportQuantizedOnnx.bind(null, convNet({ wZp: [0, 1, 2] }), { format: 'qop' })).toThrow(/one zero point for all channels/);
  });

  it('opsets 17 and 21 load and run in ORT with the same outputs', async () => {
    const net = convNet({ gemmBias: true, act: { kind: 'clamp', fn: 'clip', lo: 110, hi: 200 } });
    const ref = Array.from(runQuantized(net, { x: X }, EXEC).outputs.y.data as Float32Array);
    for (const opset of [17, 21]) {
      for (const format of ['qop', 'qdq'] as const) {
        const m = decode(exportQuantizedOnnx(net, { format, opset }));
        expect(toNum(m.opset_import![0].version)).toBe(opset);
        expect(await ortRun(exportQuantizedOnnx(net, { format, opset }), { x: X }, 'all'), `${format} opset ${opset}`).toEqual(ref);
      }
    }
  });

  it('an opset outside 13…21', () => {
    expect(() => exportQuantizedOnnx(convNet(), { format: 'qop', opset: 11 })).toThrow(ModelError);
  });
});
