/**
 * runFp32's fused Conv → BatchNormalization → Relu / Clip chains (the SIMD conv kernels' epilogue)
 * give the values of the same nodes run one by one (runFp32 with an onNode hook fuses nothing),
 * bit for bit: dense and depthwise convolutions of random geometry, each chain shape, both SIMD
 * accumulations; a chain whose intermediate is used elsewhere or kept is not fused; the packed
 * weights the kernels keep between calls follow an edited weight tensor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runFp32, type Fp32Kernels } from '../../../nets/fp32.js';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { windowArbs, windowFits } from '../../helpers/arbitraries.js';

function rand(prng: Prng, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + prng.next() * (hi - lo);
  return { dtype: 'float32', shape, data };
}

type Act = 'none' | 'relu' | 'clip';

/** x → Conv → [BN] → [Relu | Clip] → y (plus `extra` nodes reading intermediates) */
function chainGraph(prng: Prng, xShape: number[], wShape: number[], attrs: Node['attrs'], bias: boolean, bn: boolean, act: Act): Graph {
  const oc = wShape[0];
  const initializers = new Map<string, Tensor>([['w', rand(prng, wShape)]]);
  if (bias) initializers.set('b', rand(prng, [oc]));
  const nodes: Node[] = [{ name: 'conv', op: 'Conv', inputs: bias ? ['x', 'w', 'b'] : ['x', 'w'], outputs: ['c'], attrs: { kernel_shape: wShape.slice(2), ...attrs } }];
  let last = 'c';
  if (bn) {
    initializers.set('s', rand(prng, [oc], 0.5, 2));
    initializers.set('bb', rand(prng, [oc]));
    initializers.set('m', rand(prng, [oc], -0.2, 0.2));
    initializers.set('v', rand(prng, [oc], 0.1, 3));
    nodes.push({ name: 'bn', op: 'BatchNormalization', inputs: ['c', 's', 'bb', 'm', 'v'], outputs: ['n'], attrs: { epsilon: 1e-3 } });
    last = 'n';
  }
  if (act !== 'none') {
    nodes.push({ name: 'act', op: act === 'relu' ? 'Relu' : 'Clip', inputs: [last], outputs: ['a'], attrs: act === 'clip' ? { min: 0, max: 0.75 } : {} });
    last = 'a';
  }
  return { name: 'chain', inputs: [{ name: 'x', dtype: 'float32', shape: xShape }], outputs: [{ name: last, dtype: 'float32', shape: [] }], nodes, initializers, opset: 13 };
}

function bitsEqual(a: Tensor, b: Tensor): string[] {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  expect(x.length).toBe(y.length);
  const bad: string[] = [];
  for (let i = 0; i < x.length && bad.length < 5; i++) if (!Object.is(x[i], y[i])) bad.push(`${i}: ${x[i]} vs ${y[i]}`);
  return bad;
}

function fusedEqualsUnfused(g: Graph, x: Tensor, kernels: Fp32Kernels, keep?: string[]): void {
  const out = g.outputs[0].name;
  const fused = runFp32(g, { x }, { kernels, keep });
  const plain = runFp32(g, { x }, { kernels, keep, onNode: () => {} });
  expect(bitsEqual(fused[out], plain[out])).toEqual([]);
  for (const k of keep ?? []) expect(bitsEqual(fused[k], plain[k])).toEqual([]);
}

const caseArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    depthwise: fc.boolean(),
    ic: fc.integer({ min: 1, max: 9 }),
    oc: fc.integer({ min: 4, max: 13 }),
    h: fc.integer({ min: 1, max: 12 }),
    w: fc.integer({ min: 1, max: 12 }),
    ...windowArbs({ k: 3, s: 2, pad: 1 }),
    bias: fc.boolean(),
    bn: fc.boolean(),
    act: fc.constantFrom<Act>('none', 'relu', 'clip'),
    seed: fc.nat(),
  })
  .filter(windowFits);

describe('runFp32: fused Conv → BatchNormalization → Relu / Clip chains', () => {
  it('equal the nodes run one by one, bit for bit (dense and depthwise, random geometry, f64 and f32 accumulation)', () => {
    fc.assert(
      fc.property(caseArb, (cc) => {
        const prng = new Prng(cc.seed);
        const c = cc.depthwise ? cc.oc : cc.ic;
        const attrs = { strides: [cc.sh, cc.sw], dilations: [cc.dh, cc.dw], pads: [...cc.pads], group: cc.depthwise ? c : 1 };
        const g = chainGraph(prng, [cc.n, c, cc.h, cc.w], [cc.oc, cc.depthwise ? 1 : c, cc.kh, cc.kw], attrs, cc.bias, cc.bn, cc.act);
        const x = rand(prng, [cc.n, c, cc.h, cc.w]);
        for (const k of ['auto', 'simd-f32'] as const) fusedEqualsUnfused(g, x, k);
      }),
      { numRuns: 60 },
    );
  });

  it('zoo-sized layers (long K, many column blocks, NaN and ±∞ inputs through Relu and Clip)', () => {
    const prng = new Prng(9);
    for (const [xs, ws, attrs] of [
      [[2, 32, 14, 14], [64, 32, 3, 3], { pads: [1, 1, 1, 1] }],
      [[1, 96, 9, 9], [24, 96, 1, 1], {}],
      [[1, 3, 33, 31], [16, 3, 3, 3], { pads: [0, 0, 1, 1], strides: [2, 2] }],
      [[1, 40, 15, 15], [40, 1, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2], group: 40 }],
    ] as [number[], number[], Node['attrs']][]) {
      for (const act of ['relu', 'clip'] as const) {
        const g = chainGraph(prng, xs, ws, attrs, true, true, act);
        const x = rand(prng, xs);
        (x.data as Float32Array)[3] = NaN;
        (x.data as Float32Array)[7] = Infinity;
        (x.data as Float32Array)[11] = -Infinity;
        for (const k of ['auto', 'simd-f32'] as const) fusedEqualsUnfused(g, x, k);
      }
    }
  });

  it('a chain whose intermediate is kept is run node by node (the kept tensor is the Conv / BN output)', () => {
    const prng = new Prng(4);
    const g = chainGraph(prng, [1, 8, 6, 6], [8, 8, 3, 3], { pads: [1, 1, 1, 1] }, true, true, 'relu');
    fusedEqualsUnfused(g, rand(prng, [1, 8, 6, 6]), 'auto', ['c', 'n']);
  });

  it('packed weights kept between calls follow an edited weight tensor', () => {
    const prng = new Prng(6);
    const g = chainGraph(prng, [1, 4, 5, 5], [8, 4, 3, 3], { pads: [1, 1, 1, 1] }, false, false, 'relu');
    const x = rand(prng, [1, 4, 5, 5]);
    const before = runFp32(g, { x })[g.outputs[0].name].data as Float32Array;
    const w = g.initializers.get('w')!.data as Float32Array;
    for (let i = 0; i < w.length; i++) w[i] = -w[i];
    const after = runFp32(g, { x }, {})[g.outputs[0].name].data as Float32Array;
    const fresh = runFp32(g, { x }, { kernels: 'scalar' })[g.outputs[0].name].data as Float32Array;
    expect(Array.from(after)).not.toEqual(Array.from(before));
    for (let i = 0; i < after.length; i++) expect(Math.abs(after[i] - fresh[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fresh[i])));
  });
});
