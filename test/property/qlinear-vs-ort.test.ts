/**
 * QLinearConv and QLinearMatMul, random models, qloom vs onnxruntime-node: equal bit for bit.
 *
 * Each case builds an ONNX model from the schema (test/helpers/onnx-build.ts), runs it in ORT's
 * CPU provider and through importQuantizedOnnx + runQuantized (float requant, 32-bit wrapping
 * accumulator), and compares every output code.
 *
 * Type combinations are the ones ORT's CPU kernels register (qlinearconv.cc,
 * quantize_linear_matmul.cc): activations uint8 with weights uint8 or int8, or int8 with int8.
 * ORT requires one zero point for all channels of a per-channel QLinearConv filter; per-column
 * QLinearMatMul zero points may differ. On x86 CPUs without VNNI, MLAS' u8×s8 kernels use
 * VPMADDUBSW, which saturates pairs of products to int16 — there the int8 weights of u8×s8 cases
 * are kept to 7 bits (the `reduce_range` ORT's quantizer applies for the same reason).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { runQuantized } from '../../sim/qexec.js';
import { windowArbs } from '../helpers/arbitraries.js';
import { buildModel } from '../helpers/onnx-build.js';
import { HAS_VNNI, runOrt } from '../helpers/ort.js';

const CONV_RUNS = 300;
const MATMUL_RUNS = 250;

type IT = 'uint8' | 'int8';
const TYPE_PAIRS: readonly [IT, IT][] = [
  ['uint8', 'uint8'],
  ['uint8', 'int8'],
  ['int8', 'int8'],
];

function range(t: IT): [number, number] {
  return t === 'uint8' ? [0, 255] : [-128, 127];
}

function ints(rng: Prng, n: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(lo + (rng.nextU32() % (hi - lo + 1)));
  return out;
}

function typed(t: IT | 'int32', shape: number[], values: number[]): Tensor {
  const data = t === 'uint8' ? Uint8Array.from(values) : t === 'int8' ? Int8Array.from(values) : Int32Array.from(values);
  return { dtype: t, shape, data };
}

const f32s = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });

/** 2^u for u uniform in [lo, hi], as float32 */
function scale(rng: Prng, lo: number, hi: number): number {
  return Math.fround(2 ** (lo + ((rng.nextU32() / 2 ** 32) * (hi - lo))));
}

/** Weight values: the full range, except 7-bit int8 weights against uint8 activations without VNNI. */
function weightRange(x: IT, w: IT): [number, number] {
  if (x === 'uint8' && w === 'int8' && !HAS_VNNI) return [-64, 63];
  return range(w);
}

/** How many compared codes lay strictly inside the output range: saturated codes prove little. */
interface Tally {
  interior: number;
  total: number;
}

async function compare(bytes: Uint8Array, feeds: Record<string, Tensor>, out: string, tally: Tally): Promise<void> {
  const ort = await runOrt(bytes, feeds);
  const net = importQuantizedOnnx(bytes, 'case.onnx');
  const res = runQuantized(net, feeds, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
  const got = res.outputs[out];
  expect([...got.shape]).toEqual([...ort[out].dims]);
  const want = Array.from(ort[out].data as ArrayLike<number>, Number);
  expect(Array.from(got.data as ArrayLike<number>)).toEqual(want);
  const [lo, hi] = range(got.dtype as IT);
  tally.total += want.length;
  for (const v of want) if (v > lo && v < hi) tally.interior++;
}

const convCase = fc.record({
  types: fc.constantFrom(...TYPE_PAIRS),
  n: fc.integer({ min: 1, max: 2 }),
  groupKind: fc.constantFrom('1', 'g', 'dw'),
  groups: fc.integer({ min: 2, max: 3 }),
  cin: fc.integer({ min: 1, max: 4 }),
  cout: fc.integer({ min: 1, max: 4 }),
  ...windowArbs({ k: 3, s: 3, pad: 2 }),
  extraH: fc.nat(5),
  extraW: fc.nat(5),
  perChannel: fc.boolean(),
  zeroW: fc.boolean(),
  bias: fc.constantFrom('none', 'small', 'large'),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

const matmulCase = fc.record({
  types: fc.constantFrom(...TYPE_PAIRS),
  batch: fc.constantFrom<number[]>([], [2], [1, 3], [2, 1, 2]),
  bBatched: fc.boolean(),
  m: fc.integer({ min: 1, max: 5 }),
  k: fc.integer({ min: 1, max: 40 }),
  n: fc.integer({ min: 1, max: 6 }),
  perColumn: fc.boolean(),
  zeroB: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

describe('QLinearConv / QLinearMatMul: qloom vs onnxruntime-node, bit for bit', () => {
  it(`QLinearConv: ${CONV_RUNS} random models (shapes, strides, pads, dilations, groups/depthwise, per-channel scales, zero points, u8/s8)`, async () => {
    const tally: Tally = { interior: 0, total: 0 };
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const rng = new Prng(c.seed);
        const [xt, wt] = c.types;
        const g = c.groupKind === '1' ? 1 : c.groupKind === 'g' ? c.groups : c.groups + 1;
        const cinG = c.groupKind === 'dw' ? 1 : c.cin;
        const coutG = c.groupKind === 'dw' ? 1 + (c.cout % 2) : c.cout;
        const C = cinG * g;
        const M = coutG * g;
        const [pt, pl, pb, pr] = c.pads;
        const H = Math.max(1, (c.kh - 1) * c.dh + 1 - pt - pb) + c.extraH;
        const W = Math.max(1, (c.kw - 1) * c.dw + 1 - pl - pr) + c.extraW;
        const K = cinG * c.kh * c.kw;
        const [xlo, xhi] = range(xt);
        const [wlo, whi] = weightRange(xt, wt);
        const sx = scale(rng, -8, 0);
        const sw = c.perChannel ? Array.from({ length: M }, () => scale(rng, -10, -3)) : [scale(rng, -10, -3)];
        // aim the typical |acc|·M at ~50 codes: the zero-point products and a large bias dominate |acc|
        const est = Math.sqrt(K) * 3000 + K * 2000 + (c.bias === 'large' ? 2 ** 26 : 0);
        const sy = Math.fround(sx * sw[0] * est * scale(rng, -7, -5));
        const zx = ints(rng, 1, xlo, xhi)[0];
        const zw = c.zeroW && wt === 'int8' ? 0 : ints(rng, 1, wlo, whi)[0];
        const zy = ints(rng, 1, xlo, xhi)[0];
        const x = ints(rng, c.n * C * H * W, xlo, xhi);
        const w = ints(rng, M * cinG * c.kh * c.kw, wlo, whi);
        const inits: Record<string, Tensor> = {
          x_scale: f32s([], [sx]),
          x_zero_point: typed(xt, [], [zx]),
          w: typed(wt, [M, cinG, c.kh, c.kw], w),
          w_scale: f32s(c.perChannel ? [M] : [], sw),
          w_zero_point: typed(wt, c.perChannel ? [M] : [], c.perChannel ? new Array(M).fill(zw) : [zw]),
          y_scale: f32s([], [sy]),
          y_zero_point: typed(xt, [], [zy]),
        };
        const inputs = ['x', 'x_scale', 'x_zero_point', 'w', 'w_scale', 'w_zero_point', 'y_scale', 'y_zero_point'];
        if (c.bias !== 'none') {
          const lim = c.bias === 'small' ? 2 ** 12 : 2 ** 26;
          inits.B = typed('int32', [M], ints(rng, M, -lim, lim));
          inputs.push('B');
        }
        const bytes = buildModel({
          opset: 13,
          inputs: [{ name: 'x', dtype: xt, shape: [c.n, C, H, W] }],
          outputs: [{ name: 'y', dtype: xt }],
          inits,
          nodes: [
            {
              op: 'QLinearConv',
              inputs,
              outputs: ['y'],
              attrs: { kernel_shape: [c.kh, c.kw], strides: [c.sh, c.sw], dilations: [c.dh, c.dw], pads: [pt, pl, pb, pr], group: g },
            },
          ],
        });
        await compare(bytes, { x: typed(xt, [c.n, C, H, W], x) }, 'y', tally);
      }),
      { numRuns: CONV_RUNS },
    );
    expect(tally.interior / tally.total).toBeGreaterThan(0.5);
  });

  it(`QLinearMatMul: ${MATMUL_RUNS} random models (2-D and batched A and B, per-column B scales and zero points, u8/s8)`, async () => {
    const tally: Tally = { interior: 0, total: 0 };
    await fc.assert(
      fc.asyncProperty(matmulCase, async (c) => {
        const rng = new Prng(c.seed);
        const [at, bt] = c.types;
        const [alo, ahi] = range(at);
        const [blo, bhi] = weightRange(at, bt);
        // per-column parameters are ORT's for 2-D B only
        const bBatch = c.bBatched && c.batch.length > 0 ? [c.batch[c.batch.length - 1]] : [];
        const perColumn = c.perColumn && bBatch.length === 0;
        const aShape = [...c.batch, c.m, c.k];
        const bShape = [...bBatch, c.k, c.n];
        const sa = scale(rng, -8, 0);
        const sb = perColumn ? Array.from({ length: c.n }, () => scale(rng, -10, -3)) : [scale(rng, -10, -3)];
        const sy = Math.fround(sa * sb[0] * (Math.sqrt(c.k) * 3000 + c.k * 2000) * scale(rng, -6.5, -4.5));
        const za = ints(rng, 1, alo, ahi)[0];
        const zb = perColumn ? ints(rng, c.n, blo, bhi).map((v) => (c.zeroB && bt === 'int8' ? 0 : v)) : [c.zeroB && bt === 'int8' ? 0 : ints(rng, 1, blo, bhi)[0]];
        const zy = ints(rng, 1, alo, ahi)[0];
        const a = ints(rng, aShape.reduce((p, d) => p * d, 1), alo, ahi);
        const b = ints(rng, bShape.reduce((p, d) => p * d, 1), blo, bhi);
        const bytes = buildModel({
          opset: 13,
          inputs: [{ name: 'a', dtype: at, shape: aShape }],
          outputs: [{ name: 'y', dtype: at }],
          inits: {
            a_scale: f32s([], [sa]),
            a_zero_point: typed(at, [], [za]),
            b: typed(bt, bShape, b),
            b_scale: f32s(perColumn ? [c.n] : [], sb),
            b_zero_point: typed(bt, perColumn ? [c.n] : [], zb),
            y_scale: f32s([], [sy]),
            y_zero_point: typed(at, [], [zy]),
          },
          nodes: [
            {
              op: 'QLinearMatMul',
              inputs: ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'],
              outputs: ['y'],
            },
          ],
        });
        await compare(bytes, { a: typed(at, aShape, a) }, 'y', tally);
      }),
      { numRuns: MATMUL_RUNS },
    );
    expect(tally.interior / tally.total).toBeGreaterThan(0.5);
  });
});
