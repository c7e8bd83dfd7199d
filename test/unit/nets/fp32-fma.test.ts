/**
 * Relaxed SIMD's madd in the FP32 reference (nets/wasm-binary.ts relaxedMadd, nets/wasm-f32.ts
 * fp32Fma): the float64-accumulating kernels multiply-accumulate with one `f64x2.relaxed_madd`
 * where the engine has it. Fused or not, round(a·b + c) is the same number when a·b is exact — and
 * a product of two float32 values always is in float64 (24 + 24 bits ≤ 53, exponents far inside
 * float64's range). So:
 *  - the instruction, on float32 operands and any float64 addend, gives JavaScript's a·b + c
 *    (one rounding: the product is exact) bit for bit;
 *  - every kernel built with it gives the bits of its mul + add build, on random geometries and
 *    on whole zoo networks.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { execNode, runFp32, type Fp32Kernels } from '../../../nets/fp32.js';
import type { AttrValue, Node, Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { buildModule, Code, I32, Op, relaxedMadd, relaxedMaddFused, Simd, V128, VOID } from '../../../nets/wasm-binary.js';
import { fp32Fma } from '../../../nets/wasm-f32.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { loadDataset } from '../../../nets/data/index.js';
import { batchInput } from '../../../nets/eval.js';
import { windowArbs, windowFits } from '../../helpers/arbitraries.js';

/** float32 values over the whole exponent range: subnormals, ±0, huge, ordinary */
function wide(prng: Prng): number {
  const r = prng.next();
  if (r < 0.03) return r < 0.015 ? 0 : -0;
  const mant = 1 + prng.next();
  const sign = prng.next() < 0.5 ? -1 : 1;
  // 2^-149 … 2^127: products then reach 2^-298 … 2^254, all exact in float64
  const exp = Math.floor(prng.next() * 277) - 149;
  return Math.fround(sign * mant * 2 ** exp);
}

function bits(x: Float32Array | Float64Array): number[] {
  return Array.from(x instanceof Float64Array ? new Uint32Array(x.buffer, x.byteOffset, x.length * 2) : new Uint32Array(x.buffer, x.byteOffset, x.length));
}

/** The same computation with relaxed madd on and off. */
function bothWays<T>(f: () => T): [T, T] {
  try {
    fp32Fma(true);
    const on = f();
    fp32Fma(false);
    const off = f();
    return [on, off];
  } finally {
    fp32Fma(true);
  }
}

function node(op: 'Conv' | 'Gemm' | 'MatMul', nInputs: number, attrs: Record<string, AttrValue>): Node {
  return { name: 't', op, inputs: ['a', 'b', 'c'].slice(0, nInputs), outputs: ['y'], attrs };
}

function rand(prng: Prng, shape: number[], draw: (p: Prng) => number = (p) => p.next() * 2 - 1): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = draw(prng);
  return { dtype: 'float32', shape, data };
}

function sameBits(n: Node, ins: (Tensor | undefined)[], kernels: Fp32Kernels = 'simd-f64'): void {
  const [on, off] = bothWays(() => execNode(n, ins, kernels)[0].data as Float32Array);
  expect(bits(on)).toEqual(bits(off));
}

describe('FP32 reference: relaxed madd gives the mul + add bits', () => {
  it('this Node has relaxed madd and the kernels use it (else only the mul + add build is tested)', () => {
    expect(relaxedMadd()).toBe(true);
    expect(fp32Fma()).toBe(true);
    // this machine kind's CPUs have FMA3, which V8 uses for it
    expect(relaxedMaddFused()).toBe(true);
  });

  it('f64x2.relaxed_madd(a, b, c) on float32 a, b and any float64 c is JavaScript’s a·b + c, bit for bit', () => {
    // f(n): for i < n, out[i] = a[i]·b[i] + c[i] two lanes at a time (a at 0, b after, c, out)
    const c = new Code();
    const N = 4096;
    c.op(Op.Loop, VOID);
    {
      c.get(1).simd(Simd.Load).mem(4, 0).get(1).simd(Simd.Load).mem(4, N * 8);
      c.get(1).simd(Simd.Load).mem(4, 2 * N * 8).simd(Simd.F64x2RelaxedMadd).set(2);
      c.get(1).get(2).simd(Simd.Store).mem(4, 3 * N * 8);
      c.get(1).i32(16).op(Op.I32Add).set(1);
      c.get(0).i32(2).op(Op.I32Sub).set(0);
      c.get(0).i32(0).op(Op.I32GtS).op(Op.BrIf, 0);
    }
    c.op(Op.End).op(Op.End);
    const memory = new WebAssembly.Memory({ initial: 2 });
    const mod = new WebAssembly.Module(buildModule([{ name: 'f', params: 1, locals: [I32, V128], body: c }]));
    const f = new WebAssembly.Instance(mod, { e: { m: memory } }).exports.f as (n: number) => void;
    const d = new Float64Array(memory.buffer, 0, 4 * N);
    const prng = new Prng(21);
    for (let i = 0; i < N; i++) {
      d[i] = wide(prng);
      d[N + i] = wide(prng);
      // addends near the product (cancellation, rounding at every bit) or anywhere
      d[2 * N + i] = prng.next() < 0.5 ? -d[i] * d[N + i] * (1 + (prng.next() - 0.5) * 2 ** -20) : wide(prng) * (1 + prng.next() * 2 ** -30);
    }
    // hand-picked: exact cancellation to ±0, a rounding tie, the largest and smallest products
    const picks: [number, number, number][] = [
      [3, 5, -15],
      [-0, 5, 0],
      [1 + 2 ** -23, 1 + 2 ** -23, -1],
      [Math.fround(3.4e38), Math.fround(3.4e38), 1],
      [2 ** -149, 2 ** -149, 0],
      [2 ** -149, -(2 ** -149), 2 ** -1074],
    ];
    picks.forEach(([a, b, cc], i) => {
      d[i] = a;
      d[N + i] = b;
      d[2 * N + i] = cc;
    });
    f(N);
    const want = new Float64Array(N);
    for (let i = 0; i < N; i++) want[i] = d[i] * d[N + i] + d[2 * N + i];
    expect(bits(d.subarray(3 * N, 4 * N))).toEqual(bits(want));
    expect(d[3 * N]).toBe(0);
    expect(d[3 * N + 2]).toBe(2 ** -22 + 2 ** -46);
  });

  const convCase = fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      group: fc.constantFrom(0, 1, 1, 2),
      icg: fc.integer({ min: 1, max: 6 }),
      ocg: fc.integer({ min: 1, max: 9 }),
      h: fc.integer({ min: 1, max: 12 }),
      w: fc.integer({ min: 1, max: 12 }),
      ...windowArbs({ k: 3, s: 2, pad: 1 }),
      bias: fc.boolean(),
      wideRange: fc.boolean(),
      seed: fc.nat(),
    })
    .filter(windowFits);

  it('Conv (stride 1 from the padded input, strided via im2col, groups, depthwise): same bits', () => {
    fc.assert(
      fc.property(convCase, (cc) => {
        const prng = new Prng(cc.seed);
        const draw = cc.wideRange ? wide : undefined;
        const dwise = cc.group === 0;
        const group = dwise ? cc.icg : cc.group;
        const icg = dwise ? 1 : cc.icg;
        const ocg = dwise ? 1 : cc.ocg;
        const x = rand(prng, [cc.n, icg * group, cc.h, cc.w], draw);
        const w = rand(prng, [ocg * group, icg, cc.kh, cc.kw], draw);
        const b = cc.bias ? rand(prng, [ocg * group]) : undefined;
        sameBits(node('Conv', b ? 3 : 2, { strides: [cc.sh, cc.sw], dilations: [cc.dh, cc.dw], pads: [...cc.pads], group }), [x, w, b]);
      }),
    );
  });

  it('Gemm and MatMul (several K blocks, fused bias and not): same bits', () => {
    const prng = new Prng(8);
    for (const [m, k, nn] of [[5, 9, 7], [13, 600, 11], [64, 130, 40]]) {
      sameBits(node('Gemm', 3, { transB: 1 }), [rand(prng, [m, k], wide), rand(prng, [nn, k]), rand(prng, [nn])]);
      sameBits(node('MatMul', 2, {}), [rand(prng, [2, m, k]), rand(prng, [k, nn], wide)]);
    }
  });

  it('float32 lanes with madd round once per MAC (where fused): other bits than mul + add, within the same tolerance of the float64 reference', () => {
    // 'simd-f32' rounds once per MAC with madd, twice without: both far inside 1e-5 of Σ|w·x|
    const prng = new Prng(4);
    const x = rand(prng, [1, 16, 9, 9]);
    const w = rand(prng, [24, 16, 3, 3]);
    const n = node('Conv', 2, { pads: [1, 1, 1, 1] });
    const ref = execNode(n, [x, w], 'simd-f64')[0].data as Float32Array;
    const [on, off] = bothWays(() => execNode(n, [x, w], 'simd-f32')[0].data as Float32Array);
    const scale = execNode(n, [{ ...x, data: (x.data as Float32Array).map(Math.abs) }, { ...w, data: (w.data as Float32Array).map(Math.abs) }], 'simd-f64')[0].data as Float32Array;
    for (const got of [on, off]) for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(1e-5 * scale[i]);
    // …and where the engine fuses (an FMA: x64 with FMA3) they differ somewhere — the switch does
    // select another build (in float64 lanes it cannot show); unfused, the builds compute alike
    if (relaxedMaddFused()) expect(bits(on)).not.toEqual(bits(off));
    else expect(bits(on)).toEqual(bits(off));
  });

  it('whole networks: fmnist-cnn, fmnist-dwsep and MobileNetV2 logits have the same bits with madd on and off', () => {
    for (const [model, data, batch] of [['fmnist-cnn', 'fmnist', 16], ['fmnist-dwsep', 'fmnist', 16], ['mobilenetv2', null, 1]] as const) {
      const { graph } = loadModel(model);
      let feeds: Record<string, Tensor>;
      if (data) {
        const set = loadDataset(data, 'test', { samples: batch, seed: 3 });
        feeds = batchInput(graph, set.images, set.shape, 0, batch);
      } else {
        const inp = graph.inputs[0];
        feeds = { [inp.name]: rand(new Prng(5), [batch, ...inp.shape.slice(1)], (p) => p.next()) };
      }
      const out = graph.outputs[0].name;
      const [on, off] = bothWays(() => runFp32(graph, feeds)[out].data as Float32Array);
      expect(on.length).toBeGreaterThan(0);
      expect(bits(on)).toEqual(bits(off));
    }
  });

  it('QLOOM_RELAXED_SIMD=0 keeps the mul + add build', () => {
    const script = "import('./nets/wasm-f32.ts').then((m) => process.stdout.write(String(m.fp32Fma())))";
    const run = (env: NodeJS.ProcessEnv) => execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(run({ QLOOM_RELAXED_SIMD: '0' })).toBe('false');
    expect(run({ QLOOM_RELAXED_SIMD: '' })).toBe('true');
  });
});
