/**
 * AdaRound on constructed layers where nearest rounding is measurably bad (3-bit weights, inputs
 * with a large common mean, so per-weight rounding errors add up along the mean): the learned
 * rounding's layer-output MSE (after the activation) is no worse than nearest's — on the
 * calibration data and on held-out data — and clearly better on the gemm. Also: 0 iterations is
 * nearest rounding (the warm start reproduces the fractional part), same seed → same codes, codes
 * in [qmin, qmax], every code is ⌊W/s⌋ or ⌊W/s⌋ + 1 (clipped), per-channel scales with a zero point.
 * The reference layer math (gemm, direct convolution) is written out here.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { ADAROUND_DEFAULTS, adaround, type AdaRoundLayer, type AdaRoundOptions } from '../../../quant/adaround.js';

type Act = 'none' | 'relu' | 'relu6';
const actFn = (a: Act) => (x: number) => (a === 'relu' ? Math.max(0, x) : a === 'relu6' ? Math.min(6, Math.max(0, x)) : x);

function gemmRef(x: Float32Array, n: number, k: number, w: ArrayLike<number>, cout: number, b: Float32Array | null, act: Act): Float64Array {
  const f = actFn(act);
  const y = new Float64Array(n * cout);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < cout; o++) {
      let s = b ? b[o] : 0;
      for (let j = 0; j < k; j++) s += w[o * k + j] * x[i * k + j];
      y[i * cout + o] = f(s);
    }
  return y;
}

/** direct NCHW convolution, stride 1, symmetric padding p, groups */
function convRef(x: Float32Array, [n, c, h, wd]: number[], w: ArrayLike<number>, [o, icg, kh, kw]: number[], group: number, p: number, b: Float32Array | null, act: Act): Float64Array {
  const f = actFn(act);
  const oh = h + 2 * p - kh + 1;
  const ow = wd + 2 * p - kw + 1;
  const ocg = o / group;
  const y = new Float64Array(n * o * oh * ow);
  for (let bn = 0; bn < n; bn++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / ocg);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = b ? b[oc] : 0;
          for (let ic = 0; ic < icg; ic++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy + ky - p;
                const ix = ox + kx - p;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += w[((oc * icg + ic) * kh + ky) * kw + kx] * x[((bn * c + g * icg + ic) * h + iy) * wd + ix];
              }
          y[((bn * o + oc) * oh + oy) * ow + ox] = f(s);
        }
    }
  return y;
}

function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

function dequant(codes: Int32Array, scale: Float32Array, zp: Int32Array, per: number): Float64Array {
  return Float64Array.from(codes, (q, e) => {
    const o = Math.floor(e / per);
    const s = scale.length === 1 ? scale[0] : scale[o];
    const z = zp.length === 1 ? zp[0] : zp[o];
    return (q - z) * s;
  });
}

function nearestCodes(w: Float32Array, scale: Float32Array, zp: Int32Array, per: number, qmin: number, qmax: number): Int32Array {
  return Int32Array.from(w, (v, e) => {
    const o = Math.floor(e / per);
    const s = scale.length === 1 ? scale[0] : scale[o];
    const z = zp.length === 1 ? zp[0] : zp[o];
    return Math.max(qmin, Math.min(qmax, Math.floor(v / s + 0.5) + z));
  });
}

function gemmCase(seed: number, act: Act, samples: number) {
  const prng = new Prng(seed);
  const [k, cout] = [256, 16];
  const weight = new Float32Array(cout * k).map(() => prng.normal() * 0.1);
  const bias = new Float32Array(cout).map(() => prng.normal() * 0.5);
  // ReLU'd, channel-dependent inputs: E[x] > 0, so rounding errors of a row add up
  const mk = (n: number) => {
    const x = new Float32Array(n * k);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) x[i * k + j] = Math.max(0, prng.normal() + 0.3 * Math.sin(j));
    return x;
  };
  const input = mk(samples);
  const heldOut = mk(256);
  let max = 0;
  for (const v of weight) max = Math.max(max, Math.abs(v));
  const scale = Float32Array.of(max / 7); // 4-bit symmetric, restricted range, per tensor
  const zeroPoint = Int32Array.of(0);
  const target = Float32Array.from(gemmRef(input, samples, k, weight, cout, bias, act));
  const layer: AdaRoundLayer = {
    kind: 'gemm',
    weight,
    wShape: [cout, k],
    bias,
    strides: [1, 1],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    scale,
    zeroPoint,
    qmin: -7,
    qmax: 7,
    activation: act,
    input,
    inputShape: [samples, k],
    target,
  };
  return { layer, heldOut, k, cout };
}

const FAST: AdaRoundOptions = { ...ADAROUND_DEFAULTS, iterations: 600, batchSize: 32, seed: 7 };

describe('adaround on a gemm', () => {
  it.each(['relu', 'none'] as const)('activation %s: layer-output MSE ≤ nearest, on calibration and held-out data', (act) => {
    const { layer, heldOut, k, cout } = gemmCase(41, act, 512);
    const near = nearestCodes(layer.weight, layer.scale, layer.zeroPoint, k, layer.qmin, layer.qmax);
    const codes = adaround(layer, FAST);
    const wN = dequant(near, layer.scale, layer.zeroPoint, k);
    const wA = dequant(codes, layer.scale, layer.zeroPoint, k);
    const n = layer.inputShape[0];
    const mseN = mse(gemmRef(layer.input, n, k, wN, cout, layer.bias, act), layer.target);
    const mseA = mse(gemmRef(layer.input, n, k, wA, cout, layer.bias, act), layer.target);
    expect(mseA).toBeLessThan(mseN * 0.9);
    const refHeld = gemmRef(heldOut, 256, k, layer.weight, cout, layer.bias, act);
    const heldN = mse(gemmRef(heldOut, 256, k, wN, cout, layer.bias, act), refHeld);
    const heldA = mse(gemmRef(heldOut, 256, k, wA, cout, layer.bias, act), refHeld);
    expect(heldA).toBeLessThan(heldN);
    // every code is a rounding of W/s: floor or floor + 1
    let offGrid = 0;
    codes.forEach((q, e) => {
      const f = Math.floor(layer.weight[e] / layer.scale[0]);
      if (!(q === Math.max(-7, Math.min(7, f)) || q === Math.max(-7, Math.min(7, f + 1)))) offGrid++;
    });
    expect(offGrid).toBe(0);
    // it did change some roundings
    const near2 = nearestCodes(layer.weight, layer.scale, layer.zeroPoint, k, layer.qmin, layer.qmax);
    expect(codes.some((q, e) => q !== near2[e])).toBe(true);
  });

  it('0 iterations is nearest rounding (warm start h(V) = frac(W/s))', () => {
    const { layer, k } = gemmCase(42, 'relu', 64);
    const codes = adaround(layer, { ...FAST, iterations: 0 });
    expect(codes).toEqual(nearestCodes(layer.weight, layer.scale, layer.zeroPoint, k, layer.qmin, layer.qmax));
  });

  it('is reproducible for a seed (with and without the regularizer); reports progress', () => {
    const { layer } = gemmCase(43, 'relu', 256);
    const opts = { ...FAST, iterations: 200 };
    const seen: number[] = [];
    const a = adaround(layer, { ...opts, onIteration: (it, total) => it % 50 === 0 && seen.push(it, total) });
    const b = adaround(layer, opts);
    expect(b).toEqual(a);
    expect(seen).toEqual([50, 200, 100, 200, 150, 200, 200, 200]);
    const c = adaround(layer, { ...opts, seed: 8, iterations: 200, regWeight: 0 });
    const d = adaround(layer, { ...opts, seed: 8, iterations: 200, regWeight: 0 });
    expect(c).toEqual(d);
  });

  it('per-channel scales with zero points: codes stay in [qmin, qmax]', () => {
    const { layer, k, cout } = gemmCase(44, 'none', 128);
    const scale = new Float32Array(cout);
    const zeroPoint = new Int32Array(cout);
    for (let o = 0; o < cout; o++) {
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < k; j++) {
        lo = Math.min(lo, layer.weight[o * k + j]);
        hi = Math.max(hi, layer.weight[o * k + j]);
      }
      // uint4-style asymmetric grid, a little too narrow so that clipping happens
      scale[o] = (hi - lo) / 13;
      zeroPoint[o] = Math.round(-lo / scale[o]);
    }
    const codes = adaround({ ...layer, scale, zeroPoint, qmin: 0, qmax: 15 }, { ...FAST, iterations: 100 });
    expect(codes.every((q) => q >= 0 && q <= 15)).toBe(true);
    expect(codes.some((q) => q === 0 || q === 15)).toBe(true);
  });

  it('rejects inconsistent shapes', () => {
    const { layer } = gemmCase(45, 'none', 16);
    expect(() => adaround({ ...layer, inputShape: [16, 63] }, FAST)).toThrow(/adaround/);
    expect(() => adaround({ ...layer, scale: new Float32Array(3) }, FAST)).toThrow(/scale/);
  });
});

describe('adaround on convolutions', () => {
  it.each([
    ['3×3, padding 1', 1, 6, 4],
    ['depthwise 3×3', 4, 4, 4],
  ])('%s: layer-output MSE ≤ nearest (ReLU6)', (_label, group, cout, cin) => {
    const prng = new Prng(50 + group);
    const [n, h, w] = [48, 6, 6];
    const icg = cin / group;
    const wShape = [cout, icg, 3, 3];
    const weight = new Float32Array(cout * icg * 9).map(() => prng.normal() * 0.6);
    const bias = new Float32Array(cout).map(() => 0.5 + prng.next());
    const input = new Float32Array(n * cin * h * w).map(() => Math.max(0, 0.8 + prng.normal() * 0.5));
    const target = Float32Array.from(convRef(input, [n, cin, h, w], weight, wShape, group, 1, bias, 'relu6'));
    const scale = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      let m = 0;
      for (let e = o * icg * 9; e < (o + 1) * icg * 9; e++) m = Math.max(m, Math.abs(weight[e]));
      scale[o] = m / 3;
    }
    const layer: AdaRoundLayer = {
      kind: 'conv',
      weight,
      wShape,
      bias,
      strides: [1, 1],
      pads: [1, 1, 1, 1],
      dilations: [1, 1],
      group,
      scale,
      zeroPoint: Int32Array.of(0),
      qmin: -3,
      qmax: 3,
      activation: 'relu6',
      input,
      inputShape: [n, cin, h, w],
      target,
    };
    const per = icg * 9;
    const codes = adaround(layer, { ...FAST, iterations: 300, batchSize: 8 });
    const near = nearestCodes(weight, scale, layer.zeroPoint, per, -3, 3);
    const mseN = mse(convRef(input, [n, cin, h, w], dequant(near, scale, layer.zeroPoint, per), wShape, group, 1, bias, 'relu6'), target);
    const mseA = mse(convRef(input, [n, cin, h, w], dequant(codes, scale, layer.zeroPoint, per), wShape, group, 1, bias, 'relu6'), target);
    expect(mseA).toBeLessThan(mseN);
    expect(codes.every((q) => q >= -3 && q <= 3)).toBe(true);
  });
});
