/**
 * The zoo ViT (vit.ts) as a tfjs-core function over tf.Variables, for training on the wasm
 * backend: tfjs-layers has no multi-head attention layer, and the whole forward pass is a dozen
 * lines of tensor ops. The same computation as the graph vit.ts builds, in the same order
 * (LayerNorm over the last axis with biased variance, scores scaled after Q·Kᵀ, exact erf GELU,
 * mean over tokens after the final LayerNorm), so that the exported model agrees with tfjs.
 *
 * Patches are cut in JavaScript (`patchify`): the patch embedding is then one MatMul on an input
 * that needs no gradient, and the Conv of the graph is the same sum.
 */

import type * as TfCore from '@tensorflow/tfjs-core';
import { Prng } from '../prng.js';
import type { TrainedWeights } from './models.js';
import { loadVariables, readVariables } from './tf-vars.js';
import type { Tf } from './tfjs-models.js';
import { vitTokens, vitWeightShapes, type VitSpec } from './vit.js';

type T = TfCore.Tensor;

/**
 * Images [n, C, H, W] (dataset order) → patch rows [n·T, P·P·C], token t = (row, column) of the
 * patch grid in row-major order, each row the patch's pixels (py, px, c).
 */
export function patchify(spec: VitSpec, images: Float32Array, n: number, out = new Float32Array(n * images.length / n)): Float32Array {
  const [C, H, W] = spec.input;
  const P = spec.patch;
  const gw = W / P;
  const T = vitTokens(spec);
  const per = C * H * W;
  let o = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < T; t++) {
      const y0 = Math.floor(t / gw) * P;
      const x0 = (t % gw) * P;
      for (let py = 0; py < P; py++)
        for (let px = 0; px < P; px++)
          for (let c = 0; c < C; c++) out[o++] = images[i * per + (c * H + y0 + py) * W + x0 + px];
    }
  }
  return out;
}

export class VitModel {
  /** variables by `${layer}/${key}` */
  readonly vars = new Map<string, TfCore.Variable>();
  private readonly layerNorm: (x: T, gamma: T, beta: T) => T;

  constructor(
    private readonly tf: Tf,
    readonly spec: VitSpec,
    seed: number,
  ) {
    const rng = new Prng(seed * 7919 + 17);
    for (const [layer, keys] of Object.entries(vitWeightShapes(spec))) {
      for (const [key, shape] of Object.entries(keys)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n);
        if (key === 'kernel') {
          // Glorot uniform
          const lim = Math.sqrt(6 / (shape[0] + shape[1]));
          for (let i = 0; i < n; i++) data[i] = (2 * rng.next() - 1) * lim;
        } else if (key === 'embedding') {
          for (let i = 0; i < n; i++) data[i] = 0.02 * rng.normal();
        } else if (key === 'gamma') data.fill(1);
        this.vars.set(`${layer}/${key}`, tf.variable(tf.tensor(data, shape), true));
      }
    }
    const eps = spec.lnEpsilon;
    // LayerNorm with the closed-form gradient: autodiff of the op chain is ~3× as many wasm ops
    this.layerNorm = tf.customGrad((...args: (T | TfCore.GradSaveFunc)[]) => {
      const [x, gamma, beta] = args as T[];
      const save = args[3] as TfCore.GradSaveFunc;
      const mean = tf.mean(x, -1, true);
      const xc = tf.sub(x, mean);
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
      const xhat = tf.mul(xc, rstd);
      save([xhat, rstd, gamma]);
      return {
        value: tf.add(tf.mul(xhat, gamma), beta),
        gradFunc: (dy: T, saved: T[]) => {
          const [xh, rs, g] = saved;
          const gy = tf.mul(dy, g);
          const dx = tf.mul(tf.sub(tf.sub(gy, tf.mean(gy, -1, true)), tf.mul(xh, tf.mean(tf.mul(gy, xh), -1, true))), rs);
          return [dx, tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
        },
      };
    });
  }

  private v(layer: string, key: string): TfCore.Variable {
    const t = this.vars.get(`${layer}/${key}`);
    if (!t) throw new Error(`${this.spec.name}: no variable ${layer}/${key}`);
    return t;
  }

  private linear(layer: string, x: T): T {
    return this.tf.add(this.tf.matMul(x, this.v(layer, 'kernel')), this.v(layer, 'bias'));
  }

  private ln(layer: string, x: T): T {
    return this.layerNorm(x, this.v(layer, 'gamma'), this.v(layer, 'beta'));
  }

  /** Logits [n, classes] from patch rows [n·T, P·P·C] (see patchify). */
  forward(patches: T, n: number): T {
    const tf = this.tf;
    const { dim: D, heads: H } = this.spec;
    const T = vitTokens(this.spec);
    const dh = D / H;
    const scale = 1 / Math.sqrt(dh);
    // token rows [n·T, D]; the position embedding broadcast over the batch
    let x = tf.reshape(tf.add(tf.reshape(this.linear('patch', patches), [n, T, D]), this.v('pos', 'embedding')), [n * T, D]);
    for (let b = 0; b < this.spec.depth; b++) {
      const p = `block${b}`;
      const h = this.ln(`${p}.ln1`, x);
      const heads = (k: string, perm: number[]): T => tf.reshape(tf.transpose(tf.reshape(this.linear(`${p}.${k}`, h), [n, T, H, dh]), perm), perm[2] === 1 ? [n * H, T, dh] : [n * H, dh, T]);
      const q = heads('q', [0, 2, 1, 3]);
      const kT = heads('k', [0, 2, 3, 1]);
      const v = heads('v', [0, 2, 1, 3]);
      const att = tf.softmax(tf.mul(tf.matMul(q, kT), scale));
      const ctx = tf.reshape(tf.transpose(tf.reshape(tf.matMul(att, v), [n, H, T, dh]), [0, 2, 1, 3]), [n * T, D]);
      x = tf.add(x, this.linear(`${p}.proj`, ctx));
      const u = this.linear(`${p}.fc1`, this.ln(`${p}.ln2`, x));
      const g = tf.mul(tf.mul(u, tf.add(tf.erf(tf.mul(u, Math.SQRT1_2)), 1)), 0.5);
      x = tf.add(x, this.linear(`${p}.fc2`, g));
    }
    const pooled = tf.mean(tf.reshape(this.ln('ln_f', x), [n, T, D]), 1);
    return this.linear('head', pooled);
  }

  /** Sets every variable from trained weights (the layouts weights() returns). */
  load(w: TrainedWeights): void {
    loadVariables(this.tf, this.vars, w, this.spec.name);
  }

  /** The weights in the layouts buildVitGraph takes. */
  weights(): Promise<TrainedWeights> {
    return readVariables(this.vars);
  }

  dispose(): void {
    for (const t of this.vars.values()) t.dispose();
    this.vars.clear();
  }
}
