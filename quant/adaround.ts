/**
 * AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization"),
 * with AIMET's defaults and loss normalization.
 *
 * Per weight a continuous variable V chooses between rounding down and up:
 *   h(V) = clip(σ(V)·(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1 (rectified sigmoid)
 *   W̃ = s·(clip(⌊W/s⌋ + h(V), qmin − z, qmax − z))
 * minimizing, on minibatches of the layer's calibration inputs,
 *   L = Σ_c mean_{rows} (f(W̃x + b) − f(Wx + b))²  +  λ·Σ (1 − |2h(V) − 1|^β)
 * (f the fused activation; the reconstruction term sums over output channels and averages over the
 * batch and spatial positions, as AIMET's `AdaroundLoss.compute_recon_loss`). V starts where h(V)
 * equals the fractional part of W/s (so W̃ = W inside the grid at iteration 0); the regularizer is
 * off during the warm start, then β decays from betaStart to betaEnd on AIMET's cosine schedule.
 * Adam updates V. The result rounds up where h(V) ≥ 0.5.
 *
 * Speed: convolutions run as im2col + GEMM, once forward and once for the weight gradient per step
 * (the input gradient is never needed), and the Adam update, in WebAssembly (adaround-wasm.ts: the
 * same float64 operations in the same order as the JavaScript fallbacks here, so the same codes
 * bit for bit; f64x2 lanes only run independent sums side by side). Everything is sequential and
 * seeded, so a seed gives the same codes.
 */
import { createHash } from 'node:crypto';
import { InvariantError } from '../nets/errors.js';
import { Prng } from '../nets/prng.js';
import type { Window2d } from '../nets/shapes.js';
import { adaKernels, PRM, STATE, type AdaKernels } from './adaround-wasm.js';

export interface AdaRoundOptions {
  /** optimization steps per layer */
  iterations: number;
  /** λ of the rounding regularizer */
  regWeight: number;
  betaStart: number;
  betaEnd: number;
  /** fraction of the iterations with no regularizer (h(V) only follows the reconstruction loss) */
  warmStart: number;
  /** Adam step size on V */
  learningRate: number;
  /** calibration samples (images / rows of a gemm input) per step */
  batchSize: number;
  seed: number;
  onIteration?: (it: number, total: number) => void;
}

/**
 * AIMET's defaults (reg 0.01, β 20 → 2 on a cosine after a 20 % warm start) except the budget:
 * AIMET runs 10 000 Adam steps of lr 1e-3 per layer, which in single-threaded JS would take about
 * half an hour for fmnist-cnn. 600 steps of lr 1e-2 still let V travel far enough to push h(V)
 * from ½ to 0 or 1 (|ΔV| ≈ 2.4; with lr 1e-3 and this few steps, h of weights near ½ cannot
 * saturate and the final rounding undoes what the soft weights learned), and 8 images per step
 * keep the whole w4a8-pc-adaround pipeline on fmnist-cnn well inside 5 minutes on 2 cores
 * (bench/ptq.ts measures it). More steps still help (layer MSE on fmnist-cnn conv2, 4-bit per
 * channel: nearest 2.5e-3, 300 steps 8.7e-4, 1 000 steps 5.0e-4, 2 000 steps 4.0e-4).
 */
export const ADAROUND_DEFAULTS: AdaRoundOptions = Object.freeze({
  iterations: 600,
  regWeight: 0.01,
  betaStart: 20,
  betaEnd: 2,
  warmStart: 0.2,
  learningRate: 1e-2,
  batchSize: 8,
  seed: 0,
});

/**
 * The paper's / AIMET's budget (AdaroundParameters: 10 000 iterations per layer, Adam at its
 * default step 1e-3) with batches of 32 calibration images — about 17× the work of the default.
 */
export const ADAROUND_PAPER: AdaRoundOptions = Object.freeze({ ...ADAROUND_DEFAULTS, iterations: 10_000, learningRate: 1e-3, batchSize: 32 });

export interface AdaRoundLayer {
  kind: 'conv' | 'gemm';
  /** conv: [O, I/g, kh, kw]; gemm: [N, K] (output-major, the transB = 1 layout) */
  weight: Float32Array;
  wShape: readonly number[];
  bias: Float32Array | null;
  strides: readonly [number, number];
  /** ONNX order: top, left, bottom, right */
  pads: readonly [number, number, number, number];
  dilations: readonly [number, number];
  group: number;
  /** length 1 or per out channel */
  scale: Float32Array;
  zeroPoint: Int32Array;
  qmin: number;
  qmax: number;
  activation: 'none' | 'relu' | 'relu6';
  input: Float32Array;
  /** [N,C,H,W] or [N,K] */
  inputShape: readonly number[];
  /** FP32 layer output after activation, same N */
  target: Float32Array;
}

const ZETA = 1.1;
const GAMMA = -0.1;
const ADAM_B1 = 0.9;
const ADAM_B2 = 0.999;
const ADAM_EPS = 1e-8;

const enum Act {
  None,
  Relu,
  Relu6,
}

/** Geometry of the layer as a per-group GEMM: rows = output positions, cols = patch elements. */
interface Geometry extends Window2d {
  conv: boolean;
  cout: number;
  cin: number;
  group: number;
  icg: number;
  ocg: number;
  h: number;
  w: number;
  /** patch length per group: icg·kh·kw (gemm: K) */
  kc: number;
  /** output positions per sample */
  pix: number;
  /** input elements per sample */
  inPer: number;
  samples: number;
}

function geometry(layer: AdaRoundLayer): Geometry {
  const problems: string[] = [];
  const samples = layer.inputShape[0];
  let g: Geometry;
  if (layer.kind === 'conv') {
    if (layer.wShape.length !== 4 || layer.inputShape.length !== 4) throw new RangeError('adaround: conv needs a 4-D weight and a 4-D input');
    const [cout, icg, kh, kw] = layer.wShape;
    const [, cin, h, w] = layer.inputShape;
    const group = layer.group;
    const [sh, sw] = layer.strides;
    const [dh, dw] = layer.dilations;
    const [pt, pl, pb, pr] = layer.pads;
    const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
    const ow = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
    if (cin !== icg * group) problems.push(`input has ${cin} channels, weight expects ${icg}×${group}`);
    if (cout % group !== 0) problems.push(`${cout} output channels do not split into ${group} groups`);
    g = { conv: true, cout, cin, group, icg, ocg: cout / group, kh, kw, h, w, oh, ow, kc: icg * kh * kw, pix: oh * ow, inPer: cin * h * w, samples, sh, sw, dh, dw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr };
  } else {
    if (layer.wShape.length !== 2 || layer.inputShape.length !== 2) throw new RangeError('adaround: gemm needs a [N,K] weight and an [N,K] input');
    const [cout, k] = layer.wShape;
    if (layer.inputShape[1] !== k) problems.push(`input has ${layer.inputShape[1]} features, weight expects ${k}`);
    g = { conv: false, cout, cin: k, group: 1, icg: k, ocg: cout, kh: 1, kw: 1, h: 1, w: 1, oh: 1, ow: 1, kc: k, pix: 1, inPer: k, samples, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0 };
  }
  if (layer.weight.length !== g.cout * g.kc) problems.push(`weight has ${layer.weight.length} elements, shape needs ${g.cout * g.kc}`);
  if (layer.input.length !== samples * g.inPer) problems.push(`input has ${layer.input.length} elements, shape needs ${samples * g.inPer}`);
  if (layer.target.length !== samples * g.cout * g.pix) problems.push(`target has ${layer.target.length} elements, expected ${samples * g.cout * g.pix}`);
  if (layer.scale.length !== 1 && layer.scale.length !== g.cout) problems.push(`scale has ${layer.scale.length} entries (1 or ${g.cout})`);
  if (layer.zeroPoint.length !== 1 && layer.zeroPoint.length !== g.cout) problems.push(`zeroPoint has ${layer.zeroPoint.length} entries (1 or ${g.cout})`);
  if (layer.bias && layer.bias.length !== g.cout) problems.push(`bias has ${layer.bias.length} entries, expected ${g.cout}`);
  if (!(layer.qmin < layer.qmax)) problems.push(`qmin ${layer.qmin} must be below qmax ${layer.qmax}`);
  if (samples < 1) problems.push('no calibration samples');
  if (problems.length > 0) throw new RangeError(`adaround: ${problems.join('; ')}`);
  return g;
}

/** AIMET's β schedule: (unused) during the warm start, then a cosine from betaStart down to betaEnd. */
export function adaroundBeta(it: number, opts: AdaRoundOptions): number {
  const warm = opts.warmStart * opts.iterations;
  const rel = Math.min(1, Math.max(0, (it - warm) / Math.max(1, opts.iterations - warm)));
  return opts.betaEnd + 0.5 * (opts.betaStart - opts.betaEnd) * (1 + Math.cos(rel * Math.PI));
}

/** Float64 views of one layer's working buffers (WebAssembly memory, or plain arrays without it). */
interface Buffers {
  /** byte offsets in the kernels' memory */
  readonly at: Record<'cols' | 'wSoft' | 'pre' | 'dT' | 'dW' | 'state' | 'ch' | 'prm' | 'regList' | 'regVals' | 'regDense' | 'sigList' | 'sigVals' | 'tgt', number>;
  /** [k][rs] */
  readonly cols: Float64Array;
  readonly wSoft: Float64Array;
  /** [o][rs] */
  readonly pre: Float64Array;
  /** dL/dpre, [rs][cout] */
  readonly dT: Float64Array;
  readonly dW: Float64Array;
  /** per weight {σ(V), V, m1, m2, ⌊W/s⌋} */
  readonly state: Float64Array;
  /** per channel {s, lo, hi} */
  readonly ch: Float64Array;
  readonly prm: Float64Array;
  /** the Math.exp / Math.log work lists of the WebAssembly Adam step (indices, arguments → results) */
  readonly regList: Int32Array;
  readonly regVals: Float64Array;
  readonly regDense: Float64Array;
  readonly sigList: Int32Array;
  readonly sigVals: Float64Array;
  /** the picked samples' targets, [b][o][pix] (float32) */
  readonly tgt: Float32Array;
}

function buffers(g: Geometry, rs: number, rowLen: number, batch: number, kernels: (bytes: number) => AdaKernels | null): { buf: Buffers; k: AdaKernels | null } {
  const nW = g.cout * g.kc;
  // in f64 slots (the i32 lists take half of theirs)
  const sizes = { cols: rowLen * rs, wSoft: nW, pre: g.cout * rs, dT: rs * g.cout, dW: nW, state: nW * 5, ch: g.cout * 3, prm: PRM.bytes / 8, regList: nW, regVals: nW, regDense: nW, sigList: nW, sigVals: nW, tgt: Math.ceil((batch * g.cout * g.pix) / 2) };
  const at = { cols: 0, wSoft: 0, pre: 0, dT: 0, dW: 0, state: 0, ch: 0, prm: 0, regList: 0, regVals: 0, regDense: 0, sigList: 0, sigVals: 0, tgt: 0 };
  let bytes = 0;
  for (const key of Object.keys(sizes) as (keyof typeof sizes)[]) {
    at[key] = bytes;
    bytes += Math.ceil((sizes[key] * 8) / 16) * 16;
  }
  const k = kernels(bytes);
  const ab = k ? k.memory.buffer : new ArrayBuffer(bytes);
  const view = (key: keyof typeof sizes) => new Float64Array(ab, at[key], sizes[key]);
  return {
    buf: {
      at,
      ...{ cols: view('cols'), wSoft: view('wSoft'), pre: view('pre'), dT: view('dT'), dW: view('dW'), state: view('state'), ch: view('ch'), prm: view('prm') },
      ...{ regList: new Int32Array(ab, at.regList, nW), regVals: view('regVals'), regDense: view('regDense'), sigList: new Int32Array(ab, at.sigList, nW), sigVals: view('sigVals'), tgt: new Float32Array(ab, at.tgt, batch * g.cout * g.pix) },
    },
    k,
  };
}

export interface AdaRoundRun {
  /** false: use the JavaScript loops even where WebAssembly SIMD is available (tests compare the two) */
  readonly wasm?: boolean;
}

export function adaround(layer: AdaRoundLayer, opts: AdaRoundOptions, run: AdaRoundRun = {}): Int32Array {
  const g = geometry(layer);
  const nW = layer.weight.length;
  const perCh = g.kc;
  const act = layer.activation === 'relu' ? Act.Relu : layer.activation === 'relu6' ? Act.Relu6 : Act.None;
  const iterations = Math.max(0, Math.floor(opts.iterations));
  const batch = Math.max(1, Math.min(Math.floor(opts.batchSize), g.samples));
  const rows = batch * g.pix;
  // rows padded to whole f64x2 pairs; the pad rows stay 0 in cols and dT
  const rs = rows + (rows & 1);
  const rowLen = g.conv ? g.cin * g.kh * g.kw : g.kc; // patch elements of all groups
  const { buf, k } = buffers(g, rs, rowLen, batch, run.wasm === false ? () => null : adaKernels);
  const { cols, wSoft, pre, dT, dW, state, ch, prm } = buf;

  // per weight: ⌊W/s⌋, V where h(V) = frac(W/s), σ(V) and the soft weight; per channel s and the clip bounds on ⌊W/s⌋ + h
  for (let o = 0; o < g.cout; o++) {
    const s = layer.scale.length === 1 ? layer.scale[0] : layer.scale[o];
    const z = layer.zeroPoint.length === 1 ? layer.zeroPoint[0] : layer.zeroPoint[o];
    if (!(s > 0)) throw new RangeError(`adaround: scale of channel ${o} is ${s}, must be > 0`);
    const lo = layer.qmin - z;
    const hi = layer.qmax - z;
    ch[3 * o] = s;
    ch[3 * o + 1] = lo;
    ch[3 * o + 2] = hi;
    for (let kk = 0; kk < perCh; kk++) {
      const e = o * perCh + kk;
      const x = layer.weight[e] / s;
      const f = Math.floor(x);
      const rest = x - f; // in [0, 1): (rest − γ)/(ζ − γ) lies strictly inside (0, 1)
      const v = -Math.log((ZETA - GAMMA) / (rest - GAMMA) - 1);
      const sig = 1 / (1 + Math.exp(-v));
      const st = e * 5;
      state[st] = sig;
      state[st + 1] = v;
      state[st + 4] = f;
      const h = clip01(sig * (ZETA - GAMMA) + GAMMA);
      wSoft[e] = s * clip(f + h, lo, hi);
    }
  }
  prm[PRM.one / 8] = 1;
  prm[PRM.zg / 8] = ZETA - GAMMA;
  prm[PRM.gamma / 8] = GAMMA;
  prm[PRM.b1 / 8] = ADAM_B1;
  prm[PRM.omb1 / 8] = 1 - ADAM_B1;
  prm[PRM.b2 / 8] = ADAM_B2;
  prm[PRM.omb2 / 8] = 1 - ADAM_B2;
  prm[PRM.eps / 8] = ADAM_EPS;
  prm[PRM.lr / 8] = opts.learningRate;
  prm[PRM.sigLimit / 8] = 2.5;
  prm[PRM.actLo / 8] = act === Act.None ? -Infinity : 0;
  prm[PRM.actHi / 8] = act === Act.Relu6 ? 6 : Infinity;
  prm[PRM.gradScale / 8] = 2 / rows; // d/dy of Σ_c mean_rows (y − t)²

  const picks = new Int32Array(batch);
  const prng = new Prng(opts.seed);
  const warmIters = opts.warmStart * iterations;
  const rsB = rs * 8;
  // output channels per Adam call: a few thousand weights, whose state stays in cache between adam and adamSig
  const chunk = Math.max(1, Math.floor(4096 / perCh));
  // even, ≥ 2: about 128 KiB of f64 columns (a group's patch × rows)
  const rowChunk = Math.max(2, Math.floor(16384 / Math.max(1, g.kc)) & ~1);
  let nReg = 0;

  for (let it = 0; it < iterations; it++) {
    // minibatch: distinct samples drawn with the seeded PRNG
    drawBatch(prng, g.samples, picks);
    if (g.conv) im2col(layer.input, g, picks, cols, rs);
    else {
      for (let b = 0; b < batch; b++) {
        const src = picks[b] * g.kc;
        for (let kk = 0; kk < g.kc; kk++) cols[kk * rs + b] = layer.input[src + kk];
      }
    }

    for (let o = 0; o < g.cout; o++) pre.fill(layer.bias ? layer.bias[o] : 0, o * rs, (o + 1) * rs);
    if (k) {
      for (let grp = 0; grp < g.group; grp++) {
        const o0 = grp * g.ocg;
        const nb4 = g.ocg >> 2;
        const colsAt = buf.at.cols + grp * g.kc * rsB;
        const o1 = o0 + 4 * nb4;
        // rows in chunks whose columns stay in L2 while every output channel passes over them
        for (let r0 = 0; r0 < rs; r0 += rowChunk) {
          const nPair = Math.min(rowChunk, rs - r0) >> 1;
          if (nb4 > 0) k.fwd4(colsAt + r0 * 8, buf.at.wSoft + o0 * g.kc * 8, buf.at.pre + o0 * rsB + r0 * 8, nPair, rsB, g.kc, nb4);
          if (o1 < o0 + g.ocg) k.fwd1(colsAt + r0 * 8, buf.at.wSoft + o1 * g.kc * 8, buf.at.pre + o1 * rsB + r0 * 8, nPair, rsB, g.kc, o0 + g.ocg - o1);
        }
      }
    } else forward(cols, wSoft, g, rs, pre);

    if (k) {
      const per = g.cout * g.pix;
      for (let b = 0; b < batch; b++) buf.tgt.set(layer.target.subarray(picks[b] * per, (picks[b] + 1) * per), b * per);
      k.outGrad(buf.at.pre, buf.at.tgt, buf.at.dT, batch, g.cout, g.pix, rsB, buf.at.prm);
    } else outputGrad(pre, layer.target, picks, g, rs, act, prm[PRM.gradScale / 8], dT);

    if (k) {
      for (let grp = 0; grp < g.group; grp++) {
        const o0 = grp * g.ocg;
        const nb4 = g.ocg >> 2;
        if (nb4 > 0) k.grad4(buf.at.cols + grp * g.kc * rsB, buf.at.dT + o0 * 8, buf.at.dW + o0 * g.kc * 8, rows, rsB, g.kc, g.cout * 8, nb4);
        if (4 * nb4 < g.ocg) weightGrad(cols, dT, g, rows, rs, dW, o0 + 4 * nb4, o0 + g.ocg);
      }
    } else weightGrad(cols, dT, g, rows, rs, dW, 0, g.cout);

    // dL/dV: through clip(⌊W/s⌋ + h) and the rectified sigmoid, plus the regularizer after warm up
    const beta = adaroundBeta(it, opts);
    const t = it + 1;
    prm[PRM.lamBeta2 / 8] = 2 * opts.regWeight * beta;
    prm[PRM.betaM1 / 8] = beta - 1;
    prm[PRM.c1 / 8] = 1 / (1 - Math.pow(ADAM_B1, t));
    prm[PRM.c2 / 8] = 1 / (1 - Math.pow(ADAM_B2, t));
    const useReg = it >= warmIters ? 1 : 0;
    if (k) {
      const at = buf.at;
      // the regularizer list: from the last step's adamSig, or (first step) a pass of its own
      if (it === 0) nReg = k.adamReg(nW, at.state, at.regList, at.regVals, at.prm, at.regDense);
      if (useReg) {
        const betaM1 = beta - 1;
        const { regList: rl, regVals: rv, regDense: rd } = buf;
        // d/dh (1 − |2h − 1|^β) = −2β·|2h − 1|^(β−1)·sign(2h − 1); exp/log beat Math.pow here
        if (k.expList) {
          for (let i = 0; i < nReg; i++) rv[i] = betaM1 * Math.log(rv[i]);
          k.expList(nReg, at.regVals);
          for (let i = 0; i < nReg; i++) rd[rl[i]] = rv[i];
        } else for (let i = 0; i < nReg; i++) rd[rl[i]] = Math.exp(betaM1 * Math.log(rv[i]));
      }
      nReg = 0;
      for (let o = 0; o < g.cout; o += chunk) {
        const nCh = Math.min(chunk, g.cout - o);
        const e0 = o * perCh;
        const nSig = k.adam(nCh, perCh, at.state + e0 * STATE.bytes, at.dW + e0 * 8, at.wSoft + e0 * 8, at.ch + o * 24, at.prm, useReg, at.regDense + e0 * 8, at.sigList, at.sigVals, e0);
        if (k.expList) k.expList(nSig, at.sigVals);
        else {
          const sv = buf.sigVals;
          for (let i = 0; i < nSig; i++) sv[i] = Math.exp(sv[i]);
        }
        nReg = k.adamSig(nSig, at.sigList, at.sigVals, at.state, at.wSoft, at.ch, at.prm, perCh, at.regList, at.regVals, nReg);
      }
    } else adamStep(g.cout, perCh, state, dW, wSoft, ch, prm, useReg === 1);
    opts.onIteration?.(it + 1, iterations);
  }

  const codes = new Int32Array(nW);
  for (let o = 0; o < g.cout; o++) {
    const z = layer.zeroPoint.length === 1 ? layer.zeroPoint[0] : layer.zeroPoint[o];
    const lo = ch[3 * o + 1];
    const hi = ch[3 * o + 2];
    for (let kk = 0; kk < perCh; kk++) {
      const e = o * perCh + kk;
      // h(V) ≥ 0.5 ⟺ σ(V) ≥ 0.5 ⟺ V ≥ 0 (ζ, γ symmetric about 0.5)
      let q = state[e * 5 + 4] + (state[e * 5 + 1] >= 0 ? 1 : 0);
      q = q < lo ? lo : q > hi ? hi : q;
      codes[e] = q + z;
    }
  }
  for (let e = 0; e < nW; e++) {
    if (codes[e] < layer.qmin || codes[e] > layer.qmax) throw new InvariantError(`adaround: code ${codes[e]} outside [${layer.qmin}, ${layer.qmax}]`);
  }
  return codes;
}

/**
 * dL/dpre, through the activation, against the target (NCHW: contiguous over positions), as
 * dT[r·cout + o]: 8 positions × every channel at a time, so the [r][o] writes stay within a few KiB.
 */
function outputGrad(pre: Float64Array, tgt: Float32Array, picks: Int32Array, g: Geometry, rs: number, act: Act, gradScale: number, dT: Float64Array): void {
  const cout = g.cout;
  const pix = g.pix;
  for (let b = 0; b < picks.length; b++) {
    const rBase = b * pix;
    const tSample = picks[b] * cout * pix;
    for (let p0 = 0; p0 < pix; p0 += 8) {
      const p1 = Math.min(p0 + 8, pix);
      for (let o = 0; o < cout; o++) {
        const pBase = o * rs + rBase;
        const tBase = tSample + o * pix;
        for (let p = p0; p < p1; p++) {
          const x = pre[pBase + p];
          let y = x;
          let pass = 1;
          if (act === Act.Relu) {
            if (x <= 0) {
              y = 0;
              pass = 0;
            }
          } else if (act === Act.Relu6) {
            if (x <= 0) {
              y = 0;
              pass = 0;
            } else if (x >= 6) {
              y = 6;
              pass = 0;
            }
          }
          dT[(rBase + p) * cout + o] = pass * gradScale * (y - tgt[tBase + p]);
        }
      }
    }
  }
}

/** The Adam step on V for every weight (JavaScript; adaround-wasm.ts's `adam` does the same operations). */
function adamStep(nCh: number, perCh: number, state: Float64Array, dW: Float64Array, wSoft: Float64Array, ch: Float64Array, prm: Float64Array, useReg: boolean): void {
  const lamBeta2 = prm[PRM.lamBeta2 / 8];
  const betaM1 = prm[PRM.betaM1 / 8];
  const c1 = prm[PRM.c1 / 8];
  const c2 = prm[PRM.c2 / 8];
  const lr = prm[PRM.lr / 8];
  for (let o = 0; o < nCh; o++) {
    const s = ch[3 * o];
    const l = ch[3 * o + 1];
    const u = ch[3 * o + 2];
    for (let kk = 0; kk < perCh; kk++) {
      const e = o * perCh + kk;
      const st = e * 5;
      const sig = state[st + STATE.sig / 8];
      const hRaw = sig * (ZETA - GAMMA) + GAMMA;
      let grad = 0;
      // where h is clipped no gradient reaches V (torch.clamp's convention); Adam still steps
      if (hRaw > 0 && hRaw < 1) {
        const q = state[st + STATE.floor / 8] + hRaw;
        let dLdh = q < l || q > u ? 0 : dW[e] * s;
        if (useReg) {
          const a = 2 * hRaw - 1;
          const absA = a < 0 ? -a : a;
          // d/dh (1 − |2h − 1|^β) = −2β·|2h − 1|^(β−1)·sign(2h − 1); exp/log beat Math.pow here
          if (absA > 0) dLdh -= lamBeta2 * Math.exp(betaM1 * Math.log(absA)) * (a > 0 ? 1 : -1);
        }
        grad = dLdh * sig * (1 - sig) * (ZETA - GAMMA);
      }
      const a1 = ADAM_B1 * state[st + STATE.m1 / 8] + (1 - ADAM_B1) * grad;
      const a2 = ADAM_B2 * state[st + STATE.m2 / 8] + (1 - ADAM_B2) * grad * grad;
      state[st + STATE.m1 / 8] = a1;
      state[st + STATE.m2 / 8] = a2;
      const vNew = state[st + STATE.v / 8] - (lr * a1 * c1) / (Math.sqrt(a2 * c2) + ADAM_EPS);
      state[st + STATE.v / 8] = vNew;
      const sigNew = 1 / (1 + Math.exp(-vNew));
      state[st + STATE.sig / 8] = sigNew;
      const h = clip01(sigNew * (ZETA - GAMMA) + GAMMA);
      wSoft[e] = s * clip(state[st + STATE.floor / 8] + h, l, u);
    }
  }
}

function clip01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function clip(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function drawBatch(prng: Prng, n: number, into: Int32Array): void {
  const k = into.length;
  if (k >= n) {
    for (let i = 0; i < k; i++) into[i] = i;
    return;
  }
  // rejection of repeats: batches are small against the calibration set
  for (let i = 0; i < k; i++) {
    for (;;) {
      const c = prng.int(n);
      let dup = false;
      for (let j = 0; j < i; j++) if (into[j] === c) dup = true;
      if (!dup) {
        into[i] = c;
        break;
      }
    }
  }
}

/**
 * Transposed im2col: cols[k·rows + r], k = (c·kh + ky)·kw + kx over all input channels (a group's
 * patch is a contiguous k range), r = b·pix + p (row stride `rows`, the padded count). Rows contiguous, so the forward GEMM streams
 * along r.
 */
function im2col(x: Float32Array, g: Geometry, picks: Int32Array, cols: Float64Array, rows: number): void {
  const { cin, h, w, kh, kw, oh, ow, sh, sw, dh, dw, padTop: pt, padLeft: pl, pix } = g;
  for (let c = 0; c < cin; c++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const kBase = ((c * kh + ky) * kw + kx) * rows;
        for (let b = 0; b < picks.length; b++) {
          const xBase = (picks[b] * cin + c) * h * w;
          const rBase = kBase + b * pix;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sh - pt + ky * dh;
            const dst = rBase + oy * ow;
            if (iy < 0 || iy >= h) {
              cols.fill(0, dst, dst + ow);
              continue;
            }
            const src = xBase + iy * w;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * sw - pl + kx * dw;
              cols[dst + ox] = ix >= 0 && ix < w ? x[src + ix] : 0;
            }
          }
        }
      }
    }
  }
}

/**
 * pre[o·rows + r] (= bias_o on entry) += Σ_k W[o, k]·cols[(g·kc + k)·rows + r]. Four output channels of one
 * group share each pass over r (a 4×4 register block: 16 MACs per 4 column loads), the rest one
 * at a time.
 */
function forward(cols: Float64Array, wt: Float64Array, g: Geometry, rows: number, pre: Float64Array): void {
  const kc = g.kc;
  for (let grp = 0; grp < g.group; grp++) {
    const oEnd = (grp + 1) * g.ocg;
    const cBase = grp * kc;
    let o = grp * g.ocg;
    for (; o + 4 <= oEnd; o += 4) {
      const p0 = o * rows;
      const p1 = p0 + rows;
      const p2 = p1 + rows;
      const p3 = p2 + rows;
      const w0 = o * kc;
      const w1 = w0 + kc;
      const w2 = w1 + kc;
      const w3 = w2 + kc;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const a0 = wt[w0 + k], a1 = wt[w0 + k + 1], a2 = wt[w0 + k + 2], a3 = wt[w0 + k + 3];
        const b0 = wt[w1 + k], b1 = wt[w1 + k + 1], b2 = wt[w1 + k + 2], b3 = wt[w1 + k + 3];
        const c0 = wt[w2 + k], c1 = wt[w2 + k + 1], c2 = wt[w2 + k + 2], c3 = wt[w2 + k + 3];
        const d0 = wt[w3 + k], d1 = wt[w3 + k + 1], d2 = wt[w3 + k + 2], d3 = wt[w3 + k + 3];
        const x0 = (cBase + k) * rows;
        const x1 = x0 + rows;
        const x2 = x1 + rows;
        const x3 = x2 + rows;
        for (let r = 0; r < rows; r++) {
          const v0 = cols[x0 + r];
          const v1 = cols[x1 + r];
          const v2 = cols[x2 + r];
          const v3 = cols[x3 + r];
          pre[p0 + r] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
          pre[p1 + r] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3;
          pre[p2 + r] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
          pre[p3 + r] += d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3;
        }
      }
      for (; k < kc; k++) {
        const a0 = wt[w0 + k], b0 = wt[w1 + k], c0 = wt[w2 + k], d0 = wt[w3 + k];
        const x0 = (cBase + k) * rows;
        for (let r = 0; r < rows; r++) {
          const v0 = cols[x0 + r];
          pre[p0 + r] += a0 * v0;
          pre[p1 + r] += b0 * v0;
          pre[p2 + r] += c0 * v0;
          pre[p3 + r] += d0 * v0;
        }
      }
    }
    for (; o < oEnd; o++) {
      const pBase = o * rows;
      const wBase = o * kc;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const w0 = wt[wBase + k];
        const w1 = wt[wBase + k + 1];
        const w2 = wt[wBase + k + 2];
        const w3 = wt[wBase + k + 3];
        const c0 = (cBase + k) * rows;
        const c1 = c0 + rows;
        const c2 = c1 + rows;
        const c3 = c2 + rows;
        for (let r = 0; r < rows; r++) pre[pBase + r] += w0 * cols[c0 + r] + w1 * cols[c1 + r] + w2 * cols[c2 + r] + w3 * cols[c3 + r];
      }
      for (; k < kc; k++) {
        const w0 = wt[wBase + k];
        const c0 = (cBase + k) * rows;
        for (let r = 0; r < rows; r++) pre[pBase + r] += w0 * cols[c0 + r];
      }
    }
  }
}

/**
 * dW[o, k] = Σ_r dT[r·cout + o]·cols[(g·kc + k)·rs + r], r ascending, for o in [oFrom, oTo): the
 * output channels grad4 does not take (a group's last ocg mod 4), or all of them without WebAssembly.
 */
function weightGrad(cols: Float64Array, dT: Float64Array, g: Geometry, rows: number, rs: number, dW: Float64Array, oFrom: number, oTo: number): void {
  const kc = g.kc;
  const cout = g.cout;
  for (let o = oFrom; o < oTo; o++) {
    const cBase = Math.floor(o / g.ocg) * kc;
    for (let kk = 0; kk < kc; kk++) {
      const c0 = (cBase + kk) * rs;
      let s0 = 0;
      for (let r = 0; r < rows; r++) s0 += dT[r * cout + o] * cols[c0 + r];
      dW[o * kc + kk] = s0;
    }
  }
}

/** Per-layer AdaRound results by content key (see `adaroundLayerKey`). */
export interface AdaRoundStore {
  load(key: string): Int32Array | undefined;
  save(key: string, codes: Int32Array): void;
}

/**
 * sha256 of what determines one layer's AdaRound codes: the options (seed included), the layer's
 * weights, bias, grid and its exact input and target values — the inputs carry every earlier
 * layer's rounding, so a stored layer is reused only when it would come out the same.
 */
export function adaroundLayerKey(layer: AdaRoundLayer, opts: AdaRoundOptions): string {
  const h = createHash('sha256');
  const { onIteration: _drop, ...rest } = opts as AdaRoundOptions & { onIteration?: unknown };
  h.update(JSON.stringify(rest));
  h.update(JSON.stringify({ kind: layer.kind, wShape: layer.wShape, inputShape: layer.inputShape, strides: layer.strides, pads: layer.pads, dilations: layer.dilations, group: layer.group, qmin: layer.qmin, qmax: layer.qmax, activation: layer.activation }));
  for (const a of [layer.weight, layer.bias, layer.scale, layer.zeroPoint, layer.input, layer.target]) {
    if (!a) {
      h.update('-');
      continue;
    }
    h.update(`${a.constructor.name}:${a.length}:`);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}
