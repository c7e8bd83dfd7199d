/**
 * runQuantized's own contract, beyond bit-exactness (which the ORT and conformance tests hold):
 * per-layer overflow reports keyed by layer name, a layer's accBits overriding the run's
 * accumulator, onLayer in execution order, and feed checking that reports every problem at once.
 */
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import type { Tensor } from '../../../nets/graph.js';
import { importQuantizedOnnx } from '../../../quant/onnx/qimport.js';
import type { QLayer, QuantizedNetwork } from '../../../qnet/network.js';
import { QuantizedExecutor, runQuantized } from '../../../sim/qexec.js';
import { buildModel } from '../../helpers/onnx-build.js';

const f32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const u8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });

/** float x → Q → QLinearConv 3×3 (weights 255, zero point 0) → QLinearMatMul → DQ → y; `batch` 'N': any */
function net(batch: number | 'N' = 1): QuantizedNetwork {
  return importQuantizedOnnx(
    buildModel({
      opset: 13,
      inputs: [{ name: 'x', dtype: 'float32', shape: [batch, 1, 4, 4] }],
      outputs: [{ name: 'y', dtype: 'float32' }],
      inits: {
        s: f32([], [1]), z: u8([], [0]), w: u8([2, 1, 3, 3], new Array(18).fill(255)), sw: f32([], [1]), sy: f32([], [4096]),
        shp: { dtype: 'int64', shape: [2], data: BigInt64Array.of(batch === 'N' ? -1n : BigInt(batch), 8n) }, b: u8([8, 3], new Array(24).fill(1)),
      },
      nodes: [
        { name: 'q', op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['xq'] },
        { name: 'conv', op: 'QLinearConv', inputs: ['xq', 's', 'z', 'w', 'sw', 'z', 'sy', 'z'], outputs: ['c'], attrs: { kernel_shape: [3, 3] } },
        { name: 'flat', op: 'Reshape', inputs: ['c', 'shp'], outputs: ['cf'] },
        { name: 'mm', op: 'QLinearMatMul', inputs: ['cf', 'sy', 'z', 'b', 'sw', 'z', 'sy', 'z'], outputs: ['m'] },
        { name: 'dq', op: 'DequantizeLinear', inputs: ['m', 'sy', 'z'], outputs: ['y'] },
      ],
    }),
  );
}

const X = f32([1, 1, 4, 4], new Array(16).fill(255));

describe('runQuantized', () => {
  it('reports overflow per linear layer; a layer accBits overrides the run accumulator', () => {
    const n = net();
    expect(n.layers.map((l) => `${l.kind}:${l.name}`)).toEqual(['quantize:q', 'conv:conv', 'reshape:flat', 'gemm:mm', 'dequantize:dq']);
    const wide = runQuantized(n, { x: X }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    expect(Object.keys(wide.overflow)).toEqual(['conv', 'mm']);
    expect(wide.overflow.conv.events).toBe(0);
    // 9·255·255 = 585225 needs 21 bits
    expect(wide.overflow.conv.maxAbs).toBe(585225);
    expect(wide.accumulators.conv.minSafeBits).toBe(21);
    const narrowConv = { ...n, layers: n.layers.map((l): QLayer => (l.name === 'conv' ? { ...l, accBits: 16 } : l)) };
    const r = runQuantized(narrowConv, { x: X }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'saturate' } });
    expect(r.accumulators.conv.bits).toBe(16);
    expect(r.overflow.conv.events).toBeGreaterThan(0);
    expect(r.overflow.conv.proved).toBe(false);
    expect(r.overflow.mm.events).toBe(0);
    // saturating at 2^15 − 1 instead of 585225: the conv codes drop from 143 to 8
    const codes: number[] = [];
    runQuantized(narrowConv, { x: X }, {
      requant: { mode: 'float' },
      acc: { bits: 32, policy: 'saturate' },
      onLayer: (l, out) => l.name === 'conv' && codes.push(...Array.from(out.data as Uint8Array)),
    });
    expect(codes).toEqual(new Array(8).fill(Math.round(32767 / 4096)));
    expect(Array.from(wide.outputs.y.data as Float32Array).every((v) => v > 0)).toBe(true);
  });

  it('calls onLayer once per layer, in order, with integer outputs as their ONNX dtype', () => {
    const seen: string[] = [];
    runQuantized(net(), { x: X }, {
      requant: { mode: 'fixed' },
      acc: { bits: 32, policy: 'wrap' },
      onLayer: (l, out, info) => seen.push(`${l.name}:${out.dtype}[${out.shape.join(',')}]${info.overflow ? ':acc' : ''}`),
    });
    expect(seen).toEqual(['q:uint8[1,1,4,4]', 'conv:uint8[1,2,2,2]:acc', 'flat:uint8[1,8]', 'mm:uint8[1,3]:acc', 'dq:float32[1,3]']);
  });

  it('checks the feeds and reports every problem at once', () => {
    const two = importQuantizedOnnx(
      buildModel({
        opset: 13,
        inputs: [{ name: 'a', dtype: 'uint8', shape: [2] }, { name: 'b', dtype: 'float32', shape: [2] }],
        outputs: [{ name: 'y', dtype: 'float32' }, { name: 'bq', dtype: 'uint8' }],
        inits: { s: f32([], [1]), z: u8([], [0]) },
        nodes: [
          { op: 'DequantizeLinear', inputs: ['a', 's', 'z'], outputs: ['y'] },
          { op: 'QuantizeLinear', inputs: ['b', 's', 'z'], outputs: ['bq'] },
        ],
      }),
    );
    let err: unknown;
    try {
      runQuantized(two, { a: f32([2], [1, 2]) }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).problems.map((p) => p.message)).toEqual([
      "input 'a' is float32, the model expects uint8",
      "graph input 'b' was not fed",
    ]);
  });

  it('QuantizedExecutor: layers prepared once, every run equal to runQuantized bit for bit (batch sizes changing, a narrow layer overflowing)', () => {
    const n = net('N');
    const narrow = { ...n, layers: n.layers.map((l): QLayer => (l.name === 'conv' ? { ...l, accBits: 16 } : l)) };
    for (const [qn, acc] of [[n, { bits: 32, policy: 'wrap' }], [narrow, { bits: 32, policy: 'saturate' }]] as const) {
      const opts = { requant: { mode: 'fixed' as const }, acc };
      const ex = new QuantizedExecutor(qn, opts);
      let seed = 7;
      // batch sizes beyond the two input shapes kept per layer, and back
      for (const b of [1, 3, 2, 3, 1, 4, 1]) {
        const v = Array.from({ length: b * 16 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256));
        const feeds = { x: f32([b, 1, 4, 4], v) };
        expect(JSON.stringify(ex.run(feeds), (_, x) => (ArrayBuffer.isView(x) ? Array.from(x as Uint8Array) : x))).toBe(
          JSON.stringify(runQuantized(qn, feeds, opts), (_, x) => (ArrayBuffer.isView(x) ? Array.from(x as Uint8Array) : x)),
        );
      }
    }
  });
});

describe('QuantizedExecutor reuses dead tensors\' buffers', () => {
  /**
   * x → Q → conv1 → Reshape (its output shares conv1's buffer) … conv2 (a tensor of the same
   * length, computed while the Reshape's output is alive) … QLinearAdd of both → DQ: a buffer
   * recycled while a live value still shares it would hand conv2's codes to the add twice.
   */
  function aliasNet(): QuantizedNetwork {
    return importQuantizedOnnx(
      buildModel({
        opset: 13,
        extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
        inputs: [{ name: 'x', dtype: 'float32', shape: [1, 1, 4, 4] }],
        outputs: [{ name: 'y', dtype: 'float32' }],
        inits: {
          s: f32([], [1]), z: u8([], [0]), sw: f32([], [1]), sy: f32([], [64]), s2: f32([], [128]),
          w1: u8([2, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
          w2: u8([2, 1, 3, 3], [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
          shp: { dtype: 'int64', shape: [2], data: BigInt64Array.of(1n, 8n) },
        },
        nodes: [
          { name: 'q', op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['xq'] },
          { name: 'conv1', op: 'QLinearConv', inputs: ['xq', 's', 'z', 'w1', 'sw', 'z', 'sy', 'z'], outputs: ['c1'], attrs: { kernel_shape: [3, 3] } },
          { name: 'flat1', op: 'Reshape', inputs: ['c1', 'shp'], outputs: ['f1'] },
          { name: 'conv2', op: 'QLinearConv', inputs: ['xq', 's', 'z', 'w2', 'sw', 'z', 'sy', 'z'], outputs: ['c2'], attrs: { kernel_shape: [3, 3] } },
          { name: 'flat2', op: 'Reshape', inputs: ['c2', 'shp'], outputs: ['f2'] },
          { name: 'add', op: 'QLinearAdd', domain: 'com.microsoft', inputs: ['f1', 'sy', 'z', 'f2', 'sy', 'z', 's2', 'z'], outputs: ['a'] },
          { name: 'dq', op: 'DequantizeLinear', inputs: ['a', 's2', 'z'], outputs: ['y'] },
        ],
      }),
    );
  }

  it('gives every run the results of a run without reuse, bit for bit', () => {
    const n = aliasNet();
    expect(n.layers.map((l) => l.kind)).toEqual(['quantize', 'conv', 'reshape', 'conv', 'reshape', 'add', 'dequantize']);
    const opts = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };
    const ex = new QuantizedExecutor(n, opts);
    for (let r = 0; r < 3; r++) {
      const x = f32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => ((i * 7 + r * 5) % 16) * 10));
      // an onLayer observer turns the reuse off: the reference
      const ref = runQuantized(n, { x }, { ...opts, onLayer: () => undefined }).outputs.y.data as Float32Array;
      expect(Array.from(ex.run({ x }).outputs.y.data as Float32Array), `run ${r}`).toEqual(Array.from(ref));
    }
  });
  it('codes handed to onLayer or returned as outputs keep their values when the executor runs again (16-bit codes are passed as they are)', () => {
    const n = net();
    const c = n.tensors.get('c')!;
    // the conv's output at 16 bits: its codes reach onLayer as the executor's own int32 array, not a copy
    const tensors = new Map(n.tensors);
    tensors.set('c', { ...c, q: { ...c.q, bits: 16 } });
    const wide: QuantizedNetwork = { ...n, tensors };
    const seen: Int32Array[] = [];
    const ex = new QuantizedExecutor(wide, {
      requant: { mode: 'float' },
      acc: { bits: 32, policy: 'wrap' },
      onLayer: (l, t) => {
        if (l.name === 'conv') seen.push(t.data as Int32Array);
      },
    });
    ex.run({ x: X });
    const first = Array.from(seen[0]);
    // 9·255·255 / 4096 = 142.9… → 143 at every position (by hand)
    expect(first).toEqual(new Array(8).fill(143));
    ex.run({ x: f32([1, 1, 4, 4], new Array(16).fill(100)) });
    // 9·100·255 / 4096 = 56.03… → 56: the second run's codes differ, the first run's are intact
    expect(Array.from(seen[1])).toEqual(new Array(8).fill(56));
    expect(Array.from(seen[0])).toEqual(first);
    // the same for a graph output: the 16-bit conv codes as an output of their own, no observer
    const out = new QuantizedExecutor({ ...wide, outputs: [...wide.outputs, { name: 'c', dtype: 'int32', shape: [1, 2, 2, 2] }] }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const c1 = out.run({ x: X }).outputs.c;
    out.run({ x: f32([1, 1, 4, 4], new Array(16).fill(100)) });
    expect(Array.from(c1.data as Int32Array)).toEqual(new Array(8).fill(143));
  });
});
