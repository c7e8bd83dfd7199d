/**
 * Per-group INT8 / INT4 (qnet/formats/group.ts) against onnxruntime-node's blocked QuantizeLinear /
 * DequantizeLinear (opset 21, `block_size` along `axis`): symmetric (int8 / int4, zero point 0) and
 * asymmetric (uint8 / uint4 with a zero point per group), groups of 32 / 64 / 128 along the
 * reduction axis, the last group shorter. onnxruntime-node cannot hand back 4-bit tensors, so every
 * model ends in a blocked DequantizeLinear and the float32 bit patterns are compared with ours
 * (dequantizeGroups of quantizeGroups): distinct codes of one group dequantize to distinct floats, so
 * this pins the codes. Models are built from the ONNX schema here.
 */
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../nets/prng.js';
import { ModelProto } from '../../nets/onnx/schema.js';
import { dequantizeGroups, groupFormat, minMaxGroupParams, quantizeGroups } from '../../qnet/formats/group.js';

const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const UINT4 = 21;
const INT4 = 22;

const vi = (name: string, et: number, shape: number[]) => ({ name, type: { tensor_type: { elem_type: et, shape: { dim: shape.map((d) => ({ dim_value: d })) } } } });

/** zero points as raw bytes: 8-bit one per byte, 4-bit two per byte (low nibble first) */
function zpInit(name: string, dims: number[], et: number, z: Int32Array) {
  if (et === INT8 || et === UINT8) return { name, dims, data_type: et, raw_data: Uint8Array.from(z, (v) => v & 0xff) };
  const b = new Uint8Array(Math.ceil(z.length / 2));
  for (let i = 0; i < z.length; i++) b[i >> 1] |= (z[i] & 0xf) << ((i & 1) * 4);
  return { name, dims, data_type: et, raw_data: b };
}

function model(shape: number[], axis: number, block: number, sShape: number[], scale: Float32Array, et: number, zp: Int32Array): Uint8Array {
  const attrs = [
    { name: 'axis', type: 2, i: axis },
    { name: 'block_size', type: 2, i: block },
  ];
  return ModelProto.encode({
    ir_version: 10,
    opset_import: [{ domain: '', version: 21 }],
    producer_name: 'qloom-test',
    graph: {
      name: 'g',
      node: [
        { name: 'q', op_type: 'QuantizeLinear', domain: '', input: ['x', 's', 'z'], output: ['y'], attribute: attrs },
        { name: 'dq', op_type: 'DequantizeLinear', domain: '', input: ['y', 's', 'z'], output: ['d'], attribute: attrs },
      ],
      initializer: [{ name: 's', dims: sShape, data_type: FLOAT, raw_data: new Uint8Array(scale.buffer.slice(0)) }, zpInit('z', sShape, et, zp)],
      input: [vi('x', FLOAT, shape)],
      output: [vi('d', FLOAT, shape)],
    },
  }).finish();
}

describe('per-group INT8 / INT4 vs onnxruntime-node blocked QuantizeLinear → DequantizeLinear (opset 21)', () => {
  it('random tensors, groups of 32 / 64 / 128 along the reduction axis (the last group shorter), symmetric and asymmetric, 8 and 4 bits: float32 bit-exact', async () => {
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(8, 4), fc.constantFrom(32, 64, 128), fc.boolean(), fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (bits, g, asym, seed) => {
        const rng = new Prng(seed);
        const f = groupFormat(bits, g, asym);
        // [outer, k, inner] as a rank-3 tensor, groups along axis 1
        const layout = { outer: 1 + rng.int(3), k: 1 + rng.int(300), inner: 1 + rng.int(3) };
        const shape = [layout.outer, layout.k, layout.inner];
        const n = layout.outer * layout.k * layout.inner;
        const x = new Float32Array(n);
        for (let i = 0; i < n; i++) x[i] = rng.normal() * (rng.int(30) === 0 ? 20 : 1) + (asym ? 0.7 : 0);
        const p = minMaxGroupParams(f, x, layout);
        // perturb the min-max scales so clamping happens too, keep them float32
        for (let i = 0; i < p.scale.length; i++) p.scale[i] = Math.fround(p.scale[i] * (0.6 + rng.int(100) / 200));
        const ng = Math.ceil(layout.k / g);
        const sShape = [layout.outer, ng, layout.inner];
        const zp = p.zeroPoint ?? new Int32Array(p.scale.length);
        const et = bits === 8 ? (asym ? UINT8 : INT8) : asym ? UINT4 : INT4;
        const res = await (async () => {
          const s = await ort.InferenceSession.create(model(shape, 1, g, sShape, p.scale, et, zp), { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
          const out = (await s.run({ x: new ort.Tensor('float32', x, shape) })).d.data as Float32Array;
          await s.release();
          return out;
        })();
        const ours = dequantizeGroups(f, quantizeGroups(f, x, layout, p), layout, p);
        const a = new Uint32Array(ours.buffer);
        const b = new Uint32Array(res.buffer, res.byteOffset, res.length);
        for (let i = 0; i < n; i++) if (a[i] !== b[i]) expect.fail(`${f.name} ${JSON.stringify(layout)} element ${i}: ours ${ours[i]}, ORT ${res[i]}`);
        cases++;
      }),
      { numRuns: 120 },
    );
    expect(cases).toBe(120);
  });
});
