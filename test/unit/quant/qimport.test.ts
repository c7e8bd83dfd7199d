/**
 * importQuantizedOnnx: QDQ islands become the integer layers onnxruntime fuses them into, checked
 * against ORT running the equivalent QOperator model (QLinearConv, QLinearMatMul, the
 * com.microsoft QLinear* ops, integer MaxPool / Reshape / Clip) bit for bit; float ops left between
 * a DQ and a Q; and the errors: every problem of a model in one ModelError naming node, op, opset.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { importQuantizedOnnx } from '../../../quant/onnx/qimport.js';
import { runQuantized } from '../../../sim/qexec.js';
import { thrown } from '../../helpers/errors.js';
import { buildModel, type BModel, type BNode } from '../../helpers/onnx-build.js';
import { ortWeightBits, runOrt } from '../../helpers/ort.js';

const MS = [{ domain: 'com.microsoft', version: 1 }];
const f32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const u8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });
const i8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'int8', shape, data: Int8Array.from(v) });
const i32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

function ints(rng: Prng, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + (rng.nextU32() % (hi - lo + 1)));
}
function scale(rng: Prng, lo: number, hi: number): number {
  return Math.fround(2 ** (lo + (rng.nextU32() / 2 ** 32) * (hi - lo)));
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** qloom on the QDQ model vs ORT on the QOperator model, same uint8 input, uint8 output 'y'. */
async function sameAsOrt(qdq: Uint8Array, ref: Uint8Array, feeds: Record<string, Tensor>, kinds: string[]): Promise<void> {
  const net = importQuantizedOnnx(qdq, 'qdq.onnx');
  expect(net.layers.map((l) => l.kind)).toEqual(kinds);
  const got = runQuantized(net, feeds, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs.y;
  const want = (await runOrt(ref, feeds)).y;
  expect([...got.shape]).toEqual([...want.dims]);
  expect(Array.from(got.data as ArrayLike<number>)).toEqual(Array.from(want.data as ArrayLike<number>, Number));
}

/** x (uint8) → nodes → y (uint8), with those of `inits` the nodes read. */
function model(nodes: BNode[], inits: Record<string, Tensor>, xShape: number[], extra: Partial<BModel> = {}): Uint8Array {
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const own = Object.fromEntries(Object.entries(inits).filter(([k]) => used.has(k)));
  return buildModel({ opset: 13, inputs: [{ name: 'x', dtype: 'uint8', shape: xShape }], outputs: [{ name: 'y', dtype: 'uint8' }], inits: own, nodes, ...extra });
}

const RUNS = 12;
const seeds = fc.integer({ min: 0, max: 2 ** 31 - 1 });

describe('QDQ islands run as the integer layers ORT fuses them into (bit-exact vs the QOperator model in ORT)', () => {
  it('DQ → Conv (+ int32 bias, per-channel int8 weights) → [Relu | Clip] → Q  ≡  QLinearConv [→ integer Clip]', async () => {
    await fc.assert(
      fc.asyncProperty(seeds, fc.constantFrom('none', 'relu', 'clip'), async (seed, act) => {
        const rng = new Prng(seed);
        const M = 3;
        const C = 2;
        const sx = scale(rng, -7, -3);
        const sw = Array.from({ length: M }, () => scale(rng, -9, -5));
        const sy = Math.fround(sx * sw[0] * 2000);
        const zx = ints(rng, 1, 0, 255)[0];
        const zy = ints(rng, 1, 0, 255)[0];
        const inits = {
          sx: f32([], [sx]), zx: u8([], [zx]), w: i8([M, C, 3, 3], ints(rng, M * C * 9, 1 - 2 ** (ortWeightBits(8) - 1), 2 ** (ortWeightBits(8) - 1) - 1)), sw: f32([M], sw), zw: i8([M], [0, 0, 0]),
          b: i32([M], ints(rng, M, -5000, 5000)), sb: f32([M], sw.map((s) => Math.fround(s * sx))), sy: f32([], [sy]), zy: u8([], [zy]),
          lo: f32([], [-0.5 * sy * 40]), hi: f32([], [sy * 60]),
        };
        const conv = { kernel_shape: [3, 3], pads: [1, 0, 1, 2], strides: [1, 2] };
        const tail: BNode[] =
          act === 'none'
            ? [{ op: 'QuantizeLinear', inputs: ['yf', 'sy', 'zy'], outputs: ['y'] }]
            : [
                act === 'relu' ? { op: 'Relu', inputs: ['yf'], outputs: ['ya'] } : { op: 'Clip', inputs: ['yf', 'lo', 'hi'], outputs: ['ya'] },
                { op: 'QuantizeLinear', inputs: ['ya', 'sy', 'zy'], outputs: ['y'] },
              ];
        const qdq = model(
          [
            { op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] },
            { op: 'DequantizeLinear', inputs: ['w', 'sw', 'zw'], outputs: ['wf'], attrs: { axis: 0 } },
            { op: 'DequantizeLinear', inputs: ['b', 'sb'], outputs: ['bf'], attrs: { axis: 0 } },
            { op: 'Conv', inputs: ['xf', 'wf', 'bf'], outputs: ['yf'], attrs: conv },
            ...tail,
          ],
          inits,
          [1, C, 5, 6],
        );
        const refTail: BNode[] =
          act === 'none'
            ? []
            : act === 'relu'
              ? [{ op: 'Clip', inputs: ['yc', 'zy'], outputs: ['y'] }]
              : [
                  { op: 'QuantizeLinear', inputs: ['lo', 'sy', 'zy'], outputs: ['qlo'] },
                  { op: 'QuantizeLinear', inputs: ['hi', 'sy', 'zy'], outputs: ['qhi'] },
                  { op: 'Clip', inputs: ['yc', 'qlo', 'qhi'], outputs: ['y'] },
                ];
        const ref = model(
          [{ op: 'QLinearConv', inputs: ['x', 'sx', 'zx', 'w', 'sw', 'zw', 'sy', 'zy', 'b'], outputs: [act === 'none' ? 'y' : 'yc'], attrs: conv }, ...refTail],
          inits,
          [1, C, 5, 6],
        );
        await sameAsOrt(qdq, ref, { x: u8([1, C, 5, 6], ints(rng, C * 30, 0, 255)) }, ['conv']);
      }),
      { numRuns: RUNS },
    );
  });

  it('DQ → MatMul → Q ≡ QLinearMatMul; DQ → Gemm(transB, bias) → Q ≡ the same product as a 1×1 QLinearConv', async () => {
    await fc.assert(
      fc.asyncProperty(seeds, fc.boolean(), async (seed, gemm) => {
        const rng = new Prng(seed);
        const [m, k, n] = [3, 7, 4];
        const sx = scale(rng, -7, -3);
        const sw = scale(rng, -9, -5);
        const sy = Math.fround(sx * sw * 3000);
        const zx = ints(rng, 1, 0, 255)[0];
        const zy = ints(rng, 1, 0, 255)[0];
        const wv = ints(rng, k * n, 0, 255);
        const x = u8([m, k], ints(rng, m * k, 0, 255));
        if (!gemm) {
          const inits = { sx: f32([], [sx]), zx: u8([], [zx]), w: u8([k, n], wv), sw: f32([], [sw]), zw: u8([], [128]), sy: f32([], [sy]), zy: u8([], [zy]) };
          const qdq = model(
            [
              { op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] },
              { op: 'DequantizeLinear', inputs: ['w', 'sw', 'zw'], outputs: ['wf'] },
              { op: 'MatMul', inputs: ['xf', 'wf'], outputs: ['yf'] },
              { op: 'QuantizeLinear', inputs: ['yf', 'sy', 'zy'], outputs: ['y'] },
            ],
            inits,
            [m, k],
          );
          const ref = model([{ op: 'QLinearMatMul', inputs: ['x', 'sx', 'zx', 'w', 'sw', 'zw', 'sy', 'zy'], outputs: ['y'] }], inits, [m, k]);
          await sameAsOrt(qdq, ref, { x }, ['gemm']);
          return;
        }
        // Gemm with transB: W is [n, k]
        const wt = u8([n, k], wv);
        const bias = ints(rng, n, -3000, 3000);
        const inits = {
          sx: f32([], [sx]), zx: u8([], [zx]), w: wt, w4: u8([n, k, 1, 1], wv), sw: f32([], [sw]), zw: u8([], [100]), b: i32([n], bias),
          sb: f32([], [Math.fround(sx * sw)]), sy: f32([], [sy]), zy: u8([], [zy]), s4: i64([m, k, 1, 1]), s2: i64([m, n]),
        };
        const qdq = model(
          [
            { op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] },
            { op: 'DequantizeLinear', inputs: ['w', 'sw', 'zw'], outputs: ['wf'] },
            { op: 'DequantizeLinear', inputs: ['b', 'sb'], outputs: ['bf'] },
            { op: 'Gemm', inputs: ['xf', 'wf', 'bf'], outputs: ['yf'], attrs: { transB: 1 } },
            { op: 'QuantizeLinear', inputs: ['yf', 'sy', 'zy'], outputs: ['y'] },
          ],
          inits,
          [m, k],
        );
        const ref = model(
          [
            { op: 'Reshape', inputs: ['x', 's4'], outputs: ['x4'] },
            { op: 'QLinearConv', inputs: ['x4', 'sx', 'zx', 'w4', 'sw', 'zw', 'sy', 'zy', 'b'], outputs: ['y4'], attrs: { kernel_shape: [1, 1] } },
            { op: 'Reshape', inputs: ['y4', 's2'], outputs: ['y'] },
          ],
          inits,
          [m, k],
        );
        await sameAsOrt(qdq, ref, { x }, ['gemm']);
      }),
      { numRuns: RUNS },
    );
  });

  it('DQ → Add / Concat / GlobalAveragePool / AveragePool / Sigmoid → Q ≡ the com.microsoft QLinear ops', async () => {
    await fc.assert(
      fc.asyncProperty(seeds, fc.constantFrom('Add', 'Concat', 'GlobalAveragePool', 'AveragePool', 'Sigmoid'), async (seed, op) => {
        const rng = new Prng(seed);
        const shape = [1, 3, 4, 5];
        const sx = scale(rng, -6, -2);
        const sc = scale(rng, -6, -2);
        const sy = op === 'Sigmoid' ? Math.fround(1 / 256) : scale(rng, -6, -2);
        const zx = ints(rng, 1, 0, 255)[0];
        const zc = ints(rng, 1, 0, 255)[0];
        const zy = op === 'Sigmoid' ? 0 : ints(rng, 1, 0, 255)[0];
        const inits = { sx: f32([], [sx]), zx: u8([], [zx]), c: u8(shape, ints(rng, numel(shape), 0, 255)), sc: f32([], [sc]), zc: u8([], [zc]), sy: f32([], [sy]), zy: u8([], [zy]) };
        const pool = { kernel_shape: [2, 3], strides: [2, 1], pads: [0, 1, 1, 1], count_include_pad: 1 };
        const dqc = { op: 'DequantizeLinear', inputs: ['c', 'sc', 'zc'], outputs: ['cf'] };
        const mid: Record<string, BNode[]> = {
          Add: [dqc, { op: 'Add', inputs: ['xf', 'cf'], outputs: ['yf'] }],
          Concat: [dqc, { op: 'Concat', inputs: ['cf', 'xf'], outputs: ['yf'], attrs: { axis: 1 } }],
          GlobalAveragePool: [{ op: 'GlobalAveragePool', inputs: ['xf'], outputs: ['yf'] }],
          AveragePool: [{ op: 'AveragePool', inputs: ['xf'], outputs: ['yf'], attrs: pool }],
          Sigmoid: [{ op: 'Sigmoid', inputs: ['xf'], outputs: ['yf'] }],
        };
        const qdq = model(
          [{ op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] }, ...mid[op], { op: 'QuantizeLinear', inputs: ['yf', 'sy', 'zy'], outputs: ['y'] }],
          inits,
          shape,
        );
        const refNode: Record<string, BNode> = {
          Add: { op: 'QLinearAdd', domain: 'com.microsoft', inputs: ['x', 'sx', 'zx', 'c', 'sc', 'zc', 'sy', 'zy'], outputs: ['y'] },
          Concat: { op: 'QLinearConcat', domain: 'com.microsoft', inputs: ['sy', 'zy', 'c', 'sc', 'zc', 'x', 'sx', 'zx'], outputs: ['y'], attrs: { axis: 1 } },
          GlobalAveragePool: { op: 'QLinearGlobalAveragePool', domain: 'com.microsoft', inputs: ['x', 'sx', 'zx', 'sy', 'zy'], outputs: ['y'], attrs: { channels_last: 0 } },
          AveragePool: { op: 'QLinearAveragePool', domain: 'com.microsoft', inputs: ['x', 'sx', 'zx', 'sy', 'zy'], outputs: ['y'], attrs: pool },
          Sigmoid: { op: 'QLinearSigmoid', domain: 'com.microsoft', inputs: ['x', 'sx', 'zx', 'sy', 'zy'], outputs: ['y'] },
        };
        const ref = model([refNode[op]], inits, shape, { extraOpsets: MS });
        const kind = { Add: 'add', Concat: 'concat', GlobalAveragePool: 'globalavgpool', AveragePool: 'avgpool', Sigmoid: 'activation' }[op];
        await sameAsOrt(qdq, ref, { x: u8(shape, ints(rng, numel(shape), 0, 255)) }, [kind]);
        // the QOperator model itself imports to the same layer and agrees as well
        await sameAsOrt(ref, ref, { x: u8(shape, ints(rng, numel(shape), 0, 255)) }, [kind]);
      }),
      { numRuns: RUNS },
    );
  });

  it('DQ → MaxPool / Reshape / Transpose / Squeeze → Q with equal parameters run on the integers', async () => {
    await fc.assert(
      fc.asyncProperty(seeds, fc.constantFrom('MaxPool', 'Reshape', 'Transpose', 'Unsqueeze'), async (seed, op) => {
        const rng = new Prng(seed);
        const shape = [1, 2, 4, 4];
        const inits = { s: f32([], [scale(rng, -6, -2)]), z: u8([], [ints(rng, 1, 0, 255)[0]]), shp: i64([1, 4, 8]), ax: i64([0]) };
        const node: Record<string, (i: string) => BNode> = {
          MaxPool: (i) => ({ op: 'MaxPool', inputs: [i], outputs: ['yf'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 1] } }),
          Reshape: (i) => ({ op: 'Reshape', inputs: [i, 'shp'], outputs: ['yf'] }),
          Transpose: (i) => ({ op: 'Transpose', inputs: [i], outputs: ['yf'], attrs: { perm: [0, 3, 1, 2] } }),
          Unsqueeze: (i) => ({ op: 'Unsqueeze', inputs: [i, 'ax'], outputs: ['yf'] }),
        };
        const qdq = model(
          [{ op: 'DequantizeLinear', inputs: ['x', 's', 'z'], outputs: ['xf'] }, node[op]('xf'), { op: 'QuantizeLinear', inputs: ['yf', 's', 'z'], outputs: ['y'] }],
          inits,
          shape,
        );
        const refNode = node[op]('x');
        const ref = model([{ ...refNode, outputs: ['y'] }], inits, shape);
        const kind = { MaxPool: 'maxpool', Reshape: 'reshape', Transpose: 'transpose', Unsqueeze: 'reshape' }[op];
        await sameAsOrt(qdq, ref, { x: u8(shape, ints(rng, numel(shape), 0, 255)) }, [kind]);
      }),
      { numRuns: RUNS },
    );
  });

  it('a float op between DQ and Q stays a float layer (nets/fp32); graph float input → Q; DQ → float output', async () => {
    // x → Q → [the product, to yq] → DQ → Softmax → p, over the same initializers
    const model = (product: BNode[]) =>
      buildModel({
        opset: 13,
        inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 6] }],
        outputs: [{ name: 'p', dtype: 'float32' }],
        inits: { s: f32([], [0.05]), z: u8([], [128]), w: u8([6, 4], Array.from({ length: 24 }, (_, i) => (i * 37) % 256)), sw: f32([], [0.01]), zw: u8([], [127]), sy: f32([], [0.1]), zy: u8([], [120]) },
        nodes: [
          { op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['xq'] },
          ...product,
          { op: 'DequantizeLinear', inputs: ['yq', 'sy', 'zy'], outputs: ['yd'] },
          { op: 'Softmax', inputs: ['yd'], outputs: ['p'], attrs: { axis: -1 } },
        ],
      });
    const bytes = model([
      { op: 'DequantizeLinear', inputs: ['xq', 's', 'z'], outputs: ['xf'] },
      { op: 'DequantizeLinear', inputs: ['w', 'sw', 'zw'], outputs: ['wf'] },
      { op: 'MatMul', inputs: ['xf', 'wf'], outputs: ['yf'] },
      { op: 'QuantizeLinear', inputs: ['yf', 'sy', 'zy'], outputs: ['yq'] },
    ]);
    const net = importQuantizedOnnx(bytes);
    expect(net.layers.map((l) => l.kind)).toEqual(['quantize', 'gemm', 'dequantize', 'float']);
    expect(net.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 6] }]);
    expect(net.tensors.get('xq')?.q.zeroPoint[0]).toBe(128);
    const x = f32([3, 6], Array.from({ length: 18 }, (_, i) => Math.sin(i) * 4));
    const got = runQuantized(net, { x }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs.p;
    // reference: the same integer path in ORT's QOperator form, then ORT's Softmax
    const ref = model([{ op: 'QLinearMatMul', inputs: ['xq', 's', 'z', 'w', 'sw', 'zw', 'sy', 'zy'], outputs: ['yq'] }]);
    const want = (await runOrt(ref, { x })).p;
    expect([...got.shape]).toEqual([3, 4]);
    const g = got.data as Float32Array;
    Array.from(want.data as ArrayLike<number>, Number).forEach((v, i) => expect(Math.abs(g[i] - v)).toBeLessThan(1e-6));
  });
});

describe('QOperator import details', () => {
  it('integer graph inputs, MatMulInteger int32 output, batched QLinearMatMul weight layout', () => {
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'a', dtype: 'int8', shape: [2, 3, 4] }],
      outputs: [{ name: 'y', dtype: 'int32' }],
      inits: { b: i8([2, 4, 5], Array.from({ length: 40 }, (_, i) => i - 20)), az: i8([], [3]), bz: i8([], [-1]) },
      nodes: [{ op: 'MatMulInteger', inputs: ['a', 'b', 'az', 'bz'], outputs: ['y'] }],
    });
    const net = importQuantizedOnnx(bytes);
    const l = net.layers[0];
    expect(l.kind).toBe('gemm');
    if (l.kind !== 'gemm') return;
    expect(l.weight.shape).toEqual([2, 5, 4]);
    // B[1][2][3] (k=2, n=3 of batch 1) lands at [1][3][2]
    expect(l.weight.data[1 * 20 + 3 * 4 + 2]).toBe(1 * 20 + 2 * 5 + 3 - 20);
    expect(net.tensors.get('y')?.q.bits).toBe(32);
    const a = { dtype: 'int8' as const, shape: [2, 3, 4], data: Int8Array.from({ length: 24 }, (_, i) => (i * 7) % 19 - 9) };
    const y = runQuantized(net, { a }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs.y;
    // hand check of one entry: y[1][2][4] = Σ_k (a[1][2][k] − 3)(b[1][k][4] + 1)
    let s = 0;
    for (let k = 0; k < 4; k++) s += (a.data[1 * 12 + 2 * 4 + k] - 3) * (20 + k * 5 + 4 - 20 + 1);
    expect(y.dtype).toBe('int32');
    expect(y.data[1 * 15 + 2 * 5 + 4]).toBe(s);
  });

  it('a model with several problems fails once, listing every one with node, op and opset', () => {
    const bytes = buildModel({
      opset: 13,
      extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
      inputs: [
        { name: 'x', dtype: 'uint8', shape: [1, 1, 4, 4] },
        { name: 'sx', dtype: 'float32', shape: [] },
      ],
      outputs: [{ name: 'y', dtype: 'uint8' }, { name: 'r', dtype: 'uint8' }, { name: 'g', dtype: 'float32' }],
      inits: { z: u8([], [0]), w: u8([1, 1, 1, 1], [1]), s: f32([], [1]), sc: i64([1, 1, 8, 8]) },
      nodes: [
        { name: 'conv', op: 'QLinearConv', inputs: ['x', 'sx', 'z', 'w', 's', 'z', 's', 'z'], outputs: ['y'] },
        { name: 'resize', op: 'Resize', inputs: ['x', '', '', 'sc'], outputs: ['r'], attrs: { mode: 'linear' } },
        { name: 'qgemm', op: 'QGemm', domain: 'com.microsoft', inputs: ['x'], outputs: ['g'] },
      ],
    });
    const err = thrown(ModelError, () => importQuantizedOnnx(bytes, 'bad.onnx'));
    const p = err.problems;
    expect(p.map((x) => [x.node, x.op])).toEqual([
      ['conv', 'QLinearConv'],
      ['resize', 'Resize'],
      ['qgemm', 'QGemm'],
    ]);
    expect(p[0].message).toContain("x scale 'sx' is a graph input");
    expect(p[0].opset).toBe(13);
    expect(err.message).toContain('bad.onnx');
  });

  it('attention ops: a run-time B makes a matmul layer; QLinearSoftmax without opset, a per-column B of two activations and a bad axis are all reported at once', () => {
    const ok = importQuantizedOnnx(
      buildModel({
        opset: 13,
        extraOpsets: MS,
        inputs: [{ name: 'a', dtype: 'uint8', shape: [2, 3, 4] }, { name: 'b', dtype: 'uint8', shape: [2, 4, 5] }],
        outputs: [{ name: 'p', dtype: 'uint8' }],
        inits: { s: f32([], [0.1]), z: u8([], [0]) },
        nodes: [
          { name: 'qk', op: 'QLinearMatMul', inputs: ['a', 's', 'z', 'b', 's', 'z', 's', 'z'], outputs: ['y'] },
          { name: 'sm', op: 'QLinearSoftmax', domain: 'com.microsoft', inputs: ['y', 's', 'z', 's', 'z'], outputs: ['p'], attrs: { opset: 11, axis: -2 } },
        ],
      }),
    );
    expect(ok.layers).toMatchObject([
      { kind: 'matmul', inputs: ['a', 'b'] },
      { kind: 'softmax', axis: 1, coerce2d: true, variant: 'ort' },
    ]);
    expect(ok.tensors.get('y')?.shape).toEqual([2, 3, 5]);
    const bytes = buildModel({
      opset: 13,
      extraOpsets: MS,
      inputs: [{ name: 'a', dtype: 'uint8', shape: [3, 4] }, { name: 'b', dtype: 'uint8', shape: [4, 2] }],
      outputs: [{ name: 'y', dtype: 'uint8' }, { name: 'p', dtype: 'uint8' }, { name: 'p2', dtype: 'uint8' }],
      inits: { s: f32([], [0.1]), z: u8([], [0]), sb: f32([2], [0.1, 0.2]), zb: u8([2], [0, 0]) },
      nodes: [
        { name: 'pc', op: 'QLinearMatMul', inputs: ['a', 's', 'z', 'b', 'sb', 'zb', 's', 'z'], outputs: ['y'] },
        { name: 'noopset', op: 'QLinearSoftmax', domain: 'com.microsoft', inputs: ['a', 's', 'z', 's', 'z'], outputs: ['p'] },
        { name: 'badaxis', op: 'QLinearSoftmax', domain: 'com.microsoft', inputs: ['a', 's', 'z', 's', 'z'], outputs: ['p2'], attrs: { opset: 13, axis: 2 } },
      ],
    });
    const err = thrown(ModelError, () => importQuantizedOnnx(bytes, 'attn.onnx'));
    expect(err.problems.map((x) => [x.node, x.op])).toEqual([
      ['pc', 'QLinearMatMul'],
      ['noopset', 'QLinearSoftmax'],
      ['badaxis', 'QLinearSoftmax'],
    ]);
    expect(err.problems[0].message).toContain('must be per-tensor');
    expect(err.problems[1].message).toContain("attribute 'opset' (int) is required");
    expect(err.problems[2].message).toContain('axis 2 is out of range for rank 2');
  });

  it('one tensor read with two different quantizations is an error naming both nodes', () => {
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'x', dtype: 'uint8', shape: [4] }],
      outputs: [{ name: 'a', dtype: 'float32' }, { name: 'b', dtype: 'float32' }],
      inits: { s1: f32([], [0.5]), s2: f32([], [0.25]), z: u8([], [3]) },
      nodes: [
        { name: 'dq1', op: 'DequantizeLinear', inputs: ['x', 's1', 'z'], outputs: ['a'] },
        { name: 'dq2', op: 'DequantizeLinear', inputs: ['x', 's2', 'z'], outputs: ['b'] },
      ],
    });
    expect(() => importQuantizedOnnx(bytes)).toThrow(/tensor 'x' is read with different quantization parameters here .* by node 'dq1'/);
  });

  it('a float op on an integer tensor is refused', () => {
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'x', dtype: 'uint8', shape: [4] }],
      outputs: [{ name: 'y', dtype: 'uint8' }],
      nodes: [{ name: 'sm', op: 'Softmax', inputs: ['x'], outputs: ['y'] }],
    });
    expect(() => importQuantizedOnnx(bytes)).toThrow(/node 'sm', op Softmax.*integer \(uint8\)/);
  });

  describe('Cast + Gather LUTs (how the exporter writes swish, tanh, … tables) read back as LUT activations', () => {
    // the table by hand: swish(s_in·(c − z_in)) / s_out + z_out, rounded half to even, clamped — one entry per code
    const swishTable = Array.from({ length: 256 }, (_, c) => {
      const x = Math.fround(0.05) * (c - 100);
      const v = x / (1 + Math.exp(-x)) / Math.fround(0.04);
      const r = Math.round(v);
      const even = Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
      return Math.max(0, Math.min(255, even + 20));
    });
    const model = (table: number[], extra: BNode[] = [], outs: string[] = []) =>
      buildModel({
        opset: 13,
        inputs: [{ name: 'x', dtype: 'uint8', shape: [1, 1, 4, 4] }],
        outputs: [{ name: 'xf', dtype: 'float32' }, { name: 'yf', dtype: 'float32' }, ...outs.map((o) => ({ name: o, dtype: 'uint8' as const }))],
        inits: { sx: f32([], [0.05]), zx: u8([], [100]), sy: f32([], [0.04]), zy: u8([], [20]), lut: u8([256], table) },
        nodes: [
          { name: 'dqx', op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] },
          { name: 'idx', op: 'Cast', inputs: ['x'], outputs: ['i'], attrs: { to: 6 } },
          { name: 'act', op: 'Gather', inputs: ['lut', 'i'], outputs: ['y'], attrs: { axis: 0 } },
          { name: 'dqy', op: 'DequantizeLinear', inputs: ['y', 'sy', 'zy'], outputs: ['yf'] },
          ...extra,
        ],
      });

    it('identifies the function from the parameters around it and runs the same codes', () => {
      const net = importQuantizedOnnx(model(swishTable), 'lut.onnx');
      const act = net.layers.find((l) => l.name === 'act');
      expect(act?.kind).toBe('activation');
      const a = (act as { activation: { kind: string; fn?: string; entries?: number } }).activation;
      expect([a.kind, a.fn, a.entries]).toEqual(['lut', 'swish', 256]);
      const x = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
      const out = runQuantized(net, { x: u8([1, 1, 4, 4], [...x]) }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs.yf.data as Float32Array;
      expect(Array.from(out)).toEqual(Array.from(x, (c) => Math.fround(Math.fround(0.04) * (swishTable[c] - 20))));
    });

    it('a table that is no known function, a Cast index read elsewhere, and a Gather between two Gathers are each reported by node', () => {
      const bad = [...swishTable];
      bad[200] += 3;
      expect(() => importQuantizedOnnx(model(bad))).toThrow(/node 'act', op Gather: the table is none of qloom's LUT functions/);
      const twice = model(swishTable, [{ name: 'again', op: 'Identity', inputs: ['i'], outputs: ['i2'] }], []);
      expect(() => importQuantizedOnnx(twice)).not.toThrow(); // i2 reaches no output: not read
      const leaked = buildModel({
        opset: 13,
        inputs: [{ name: 'x', dtype: 'uint8', shape: [4] }],
        outputs: [{ name: 'xf', dtype: 'float32' }, { name: 'i', dtype: 'int32' }],
        inits: { sx: f32([], [0.05]), zx: u8([], [100]) },
        nodes: [
          { name: 'dqx', op: 'DequantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xf'] },
          { name: 'idx', op: 'Cast', inputs: ['x'], outputs: ['i'], attrs: { to: 6 } },
        ],
      });
      expect(() => importQuantizedOnnx(leaked)).toThrow(/node 'idx', op Cast: Cast of the integer activation 'x' to int32 \('i'\) is supported only as the index of a constant Gather/);
      const chained = model(swishTable, [
        { name: 'idx2', op: 'Cast', inputs: ['y'], outputs: ['j'], attrs: { to: 6 } },
        { name: 'act2', op: 'Gather', inputs: ['lut', 'j'], outputs: ['z'], attrs: { axis: 0 } },
      ], ['z']);
      expect(thrown(ModelError, () => importQuantizedOnnx(chained)).message).toMatch(/node 'act2', op Gather: the file does not give the scale and zero point of 'z'/);
    });
  });
});

