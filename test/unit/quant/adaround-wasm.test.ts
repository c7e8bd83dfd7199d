/**
 * AdaRound's WebAssembly step (quant/adaround-wasm.ts) against its JavaScript loops: the same codes
 * and the same optimizer state bit for bit on layers that reach every path — conv with 4-channel
 * blocks plus leftover channels (fwd1, the JavaScript weight gradient), grouped and depthwise
 * convs, strides, an odd row count (pad row), gemm with tiny batches, ReLU / ReLU6 / none, per-
 * channel scales with zero points and clipping, the warm start and the regularizer. Also: expList
 * reproduces Math.exp bit for bit over (−2.5, 2.5), the range it is used on.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { ADAROUND_DEFAULTS, adaround, type AdaRoundLayer } from '../../../quant/adaround.js';
import { adaKernels, expMatchesMathExp } from '../../../quant/adaround-wasm.js';

const hasWasm = adaKernels(65536) !== null;

function convLayer(seed: number, o: { cout: number; cin: number; group: number; hw: number; stride: number; act: AdaRoundLayer['activation']; n: number; asym?: boolean }): AdaRoundLayer {
  const prng = new Prng(seed);
  const icg = o.cin / o.group;
  const wShape = [o.cout, icg, 3, 3];
  const weight = new Float32Array(o.cout * icg * 9).map(() => prng.normal() * 0.5);
  const bias = new Float32Array(o.cout).map(() => prng.normal() * 0.3);
  const input = new Float32Array(o.n * o.cin * o.hw * o.hw).map(() => Math.max(0, 0.5 + prng.normal()));
  const oh = Math.floor((o.hw + 2 - 3) / o.stride) + 1;
  // a target near the layer's own output, with noise: the optimizer has something to fit
  const target = new Float32Array(o.n * o.cout * oh * oh).map(() => Math.max(0, prng.normal() * 2));
  const scale = new Float32Array(o.cout).map(() => 0.1 + prng.next() * 0.1);
  const zeroPoint = o.asym ? Int32Array.from({ length: o.cout }, () => prng.int(5) - 2) : Int32Array.of(0);
  return {
    kind: 'conv',
    weight,
    wShape,
    bias,
    strides: [o.stride, o.stride],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
    group: o.group,
    scale,
    zeroPoint,
    qmin: -7,
    qmax: 7,
    activation: o.act,
    input,
    inputShape: [o.n, o.cin, o.hw, o.hw],
    target,
  };
}

function gemmLayer(seed: number, n: number, k: number, cout: number, act: AdaRoundLayer['activation']): AdaRoundLayer {
  const prng = new Prng(seed);
  return {
    kind: 'gemm',
    weight: new Float32Array(cout * k).map(() => prng.normal() * 0.2),
    wShape: [cout, k],
    bias: null,
    strides: [1, 1],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    scale: Float32Array.of(0.05),
    zeroPoint: Int32Array.of(0),
    qmin: -8,
    qmax: 7,
    activation: act,
    input: new Float32Array(n * k).map(() => prng.normal()),
    inputShape: [n, k],
    target: new Float32Array(n * cout).map(() => prng.normal()),
  };
}

describe.skipIf(!hasWasm)('adaround: WebAssembly step = JavaScript loops, bit for bit', () => {
  const opts = { ...ADAROUND_DEFAULTS, iterations: 120, batchSize: 3, learningRate: 0.05 };
  it.each([
    ['conv 7 out (one block of 4 + 3 leftover), ReLU', convLayer(1, { cout: 7, cin: 3, group: 1, hw: 5, stride: 1, act: 'relu', n: 10 })],
    ['conv stride 2, odd rows (3 × 9 positions), ReLU6, asymmetric per channel', convLayer(2, { cout: 8, cin: 4, group: 1, hw: 5, stride: 2, act: 'relu6', n: 10, asym: true })],
    ['grouped conv (2 groups of 4)', convLayer(3, { cout: 8, cin: 6, group: 2, hw: 4, stride: 1, act: 'none', n: 6 })],
    ['depthwise conv', convLayer(4, { cout: 5, cin: 5, group: 5, hw: 4, stride: 1, act: 'relu', n: 6 })],
    ['gemm, 3 rows a step, 13 outputs', gemmLayer(5, 9, 37, 13, 'relu')],
    ['gemm, none', gemmLayer(6, 20, 64, 8, 'none')],
  ])('%s', (_label, layer) => {
    const w = adaround(layer, opts);
    const j = adaround(layer, opts, { wasm: false });
    expect(Array.from(w)).toEqual(Array.from(j));
    // and with the regularizer on from the first step (the first step's own regularizer list)
    const w0 = adaround(layer, { ...opts, warmStart: 0, iterations: 40 });
    const j0 = adaround(layer, { ...opts, warmStart: 0, iterations: 40 }, { wasm: false });
    expect(Array.from(w0)).toEqual(Array.from(j0));
  });

  it('learned something: some codes differ from nearest', () => {
    const layer = gemmLayer(7, 64, 32, 8, 'relu');
    const codes = adaround(layer, { ...opts, iterations: 300 });
    const near = Int32Array.from(layer.weight, (v) => Math.max(-8, Math.min(7, Math.round(v / 0.05))));
    expect(codes.some((q, e) => q !== near[e])).toBe(true);
  });

  it('expList reproduces Math.exp on (−2.5, 2.5)', () => {
    expect(expMatchesMathExp()).toBe(true);
    const k = adaKernels(1 << 20)!;
    const vals = new Float64Array(k.memory.buffer, 0, 100_000);
    const prng = new Prng(9);
    for (let i = 0; i < vals.length; i++) vals[i] = (prng.next() * 5 - 2.5) * (i % 3 === 0 ? prng.next() : 1);
    const want = Float64Array.from(vals, (v) => Math.exp(v));
    k.expList!(vals.length, 0);
    let diff = 0;
    for (let i = 0; i < vals.length; i++) if (!Object.is(vals[i], want[i])) diff++;
    expect(diff).toBe(0);
  });
});
