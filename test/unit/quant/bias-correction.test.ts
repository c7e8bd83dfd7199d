/**
 * Bias correction: the ReLU / ReLU6 expectations of a Gaussian against numeric integration, and the
 * corrected layer's expected output against FP32's (gemm on sampled data; grouped and depthwise
 * convolutions on inputs whose channels are constant, so E[x] is exact and padding plays no role).
 * Weight quantization in these tests is written out here (nearest, symmetric, per tensor).
 */
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph, Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import { analyticInputMean, correctBias } from '../../../quant/bias-correction.js';

/** ∫ act(x)·N(x; μ, σ²) dx by composite Simpson over μ ± 14σ (plus the kinks as break points). */
function integrate(act: (x: number) => number, mu: number, sigma: number): number {
  const pts = [mu - 14 * sigma, mu + 14 * sigma, 0, 6].filter((p) => p >= mu - 14 * sigma && p <= mu + 14 * sigma).sort((a, b) => a - b);
  const f = (x: number) => (act(x) * Math.exp(-0.5 * ((x - mu) / sigma) ** 2)) / (sigma * Math.sqrt(2 * Math.PI));
  let total = 0;
  for (let s = 0; s + 1 < pts.length; s++) {
    const [a, b] = [pts[s], pts[s + 1]];
    if (b <= a) continue;
    const n = 4000;
    const h = (b - a) / n;
    let sum = f(a) + f(b);
    for (let i = 1; i < n; i++) sum += f(a + i * h) * (i % 2 === 1 ? 4 : 2);
    total += (sum * h) / 3;
  }
  return total;
}

const relu = (x: number) => Math.max(0, x);
const relu6 = (x: number) => Math.min(6, Math.max(0, x));

describe('analyticInputMean', () => {
  const cases: [number, number][] = [
    [0, 1],
    [1.5, 0.5],
    [-2, 1],
    [-5, 0.7],
    [3, 2],
    [5.5, 1],
    [6, 0.3],
    [8, 2.5],
    [0.2, 4],
    [-0.4, 0.01],
  ];
  it('matches numeric integration for none / ReLU / ReLU6 (|err| < 1e-7)', () => {
    const beta = Float32Array.from(cases.map((c) => c[0]));
    const gamma = Float32Array.from(cases.map((c) => c[1]));
    // γ's sign must not matter: only the spread of N(β, γ²) enters
    gamma[3] = -gamma[3];
    const none = analyticInputMean({ beta, gamma }, 'none');
    const r = analyticInputMean({ beta, gamma }, 'relu');
    const r6 = analyticInputMean({ beta, gamma }, 'relu6');
    cases.forEach(([mu, sigma], i) => {
      expect(none[i]).toBeCloseTo(Math.fround(mu), 12);
      const muF = Math.fround(mu);
      const sigmaF = Math.fround(sigma);
      expect(Math.abs(r[i] - integrate(relu, muF, sigmaF))).toBeLessThan(1e-7);
      expect(Math.abs(r6[i] - integrate(relu6, muF, sigmaF))).toBeLessThan(1e-7);
    });
  });

  it('σ = 0 degenerates to act(β)', () => {
    const bn = { beta: Float32Array.from([-1, 2, 7]), gamma: new Float32Array(3) };
    expect(Array.from(analyticInputMean(bn, 'relu'))).toEqual([0, 2, 7]);
    expect(Array.from(analyticInputMean(bn, 'relu6'))).toEqual([0, 2, 6]);
  });
});

function quantizeNearest(w: Float32Array, bits: number): Float32Array {
  let max = 0;
  for (const v of w) max = Math.max(max, Math.abs(v));
  const qmax = 2 ** (bits - 1) - 1;
  const s = max / qmax;
  return w.map((v) => Math.max(-qmax, Math.min(qmax, Math.round(v / s))) * s);
}

describe('correctBias', () => {
  it('gemm: the corrected quantized layer’s output mean equals FP32’s', () => {
    const prng = new Prng(21);
    const [n, k, m] = [8, 40, 2000];
    const w = new Float32Array(n * k).map(() => prng.normal() * 0.3);
    const b = new Float32Array(n).map(() => prng.normal());
    // ReLU'd inputs with channel-dependent offsets: E[x] far from 0, as after a ReLU layer
    const x = new Float32Array(m * k);
    for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) x[r * k + j] = Math.max(0, prng.normal() + (j % 5) - 1);
    const mean = new Float64Array(k);
    for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) mean[j] += x[r * k + j] / m;
    const wq = quantizeNearest(w, 3);
    const bc = correctBias(b, w, wq, [n, k], 1, mean);
    const outMean = (wt: Float32Array, bias: Float32Array) => {
      const o = new Float64Array(n);
      for (let r = 0; r < m; r++)
        for (let c = 0; c < n; c++) {
          let s = bias[c];
          for (let j = 0; j < k; j++) s += wt[c * k + j] * x[r * k + j];
          o[c] += s / m;
        }
      return o;
    };
    const ref = outMean(w, b);
    const plain = outMean(wq, b);
    const corrected = outMean(wq, bc);
    let errPlain = 0;
    let errCorr = 0;
    for (let c = 0; c < n; c++) {
      errPlain = Math.max(errPlain, Math.abs(plain[c] - ref[c]));
      errCorr = Math.max(errCorr, Math.abs(corrected[c] - ref[c]));
    }
    expect(errPlain).toBeGreaterThan(0.05); // 3-bit weights: the uncorrected shift is visible
    expect(errCorr).toBeLessThan(1e-4);
    // no bias in, a bias out
    const b0 = correctBias(null, w, wq, [n, k], 1, mean);
    b0.forEach((v, c) => expect(v).toBeCloseTo(bc[c] - b[c], 5));
  });

  it.each([
    ['grouped (g = 2)', 6, 4, 2],
    ['depthwise', 4, 4, 4],
    ['plain', 3, 5, 1],
  ])('conv %s on channel-constant inputs: quantized + corrected = FP32', (_label, cout, cin, group) => {
    const prng = new Prng(22 + group);
    const icg = cin / group;
    const wShape = [cout, icg, 3, 3];
    const w = new Float32Array(cout * icg * 9).map(() => prng.normal());
    const b = new Float32Array(cout).map(() => prng.normal());
    const wq = quantizeNearest(w, 3);
    const cm = new Float64Array(cin).map(() => Math.fround(prng.normal() * 2));
    const bc = correctBias(b, w, wq, wShape, group, cm);
    const img = new Float32Array(cin * 25);
    for (let c = 0; c < cin; c++) img.fill(cm[c], c * 25, (c + 1) * 25);
    const run = (wt: Float32Array, bias: Float32Array) => {
      const inits = new Map<string, Tensor>([
        ['W', { dtype: 'float32', shape: wShape, data: wt }],
        ['B', { dtype: 'float32', shape: [cout], data: bias }],
      ]);
      const g: Graph = {
        name: 'c',
        inputs: [{ name: 'x', dtype: 'float32', shape: [1, cin, 5, 5] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [1, cout, 3, 3] }],
        initializers: inits,
        nodes: [{ name: 'conv', op: 'Conv', inputs: ['x', 'W', 'B'], outputs: ['y'], attrs: { group, kernel_shape: [3, 3], pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1] } }],
        opset: 17,
      };
      return runFp32(g, { x: { dtype: 'float32', shape: [1, cin, 5, 5], data: img } }).y.data as Float32Array;
    };
    const ref = run(w, b);
    const got = run(wq, bc);
    const plain = run(wq, b);
    let errCorr = 0;
    let errPlain = 0;
    for (let i = 0; i < ref.length; i++) {
      errCorr = Math.max(errCorr, Math.abs(got[i] - ref[i]));
      errPlain = Math.max(errPlain, Math.abs(plain[i] - ref[i]));
    }
    expect(errPlain).toBeGreaterThan(0.05);
    expect(errCorr).toBeLessThan(1e-4);
  });

  it('rejects mismatched shapes', () => {
    expect(() => correctBias(null, new Float32Array(6), new Float32Array(6), [2, 3], 1, new Float64Array(2))).toThrow(RangeError);
    expect(() => correctBias(null, new Float32Array(6), new Float32Array(5), [2, 3], 1, new Float64Array(3))).toThrow(RangeError);
  });
});
