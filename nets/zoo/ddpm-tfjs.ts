/**
 * The zoo DDPM (ddpm-spec.ts) as a tfjs-core function over tf.Variables, for training on the wasm
 * backend (NHWC). The same computation as the graph ddpm.ts builds: explicit zero padding (1 for
 * 3×3, none for 1×1) so a stride-2 convolution samples the same positions as ONNX's symmetric
 * pads; nearest 2× upsampling; BatchNorm with the batch's moments while training (biased
 * variance) and the stored statistics otherwise.
 *
 * BatchNorm has a closed-form gradient (customGrad): autodiff of the moments chain costs ~3× the
 * ops. The trainable tensors travel as one flat Float32Array (`getTrainable` / `setTrainable`, in
 * `trainable()` order) between the trainer's optimizer and its gradient workers (ddpm-shard.ts);
 * `recalibrate` re-estimates every BN layer's statistics for the final (averaged) weights, since
 * running statistics of the raw weights would not belong to them.
 */

import type * as TfCore from '@tensorflow/tfjs-core';
import { Prng } from '../prng.js';
import { ddpmWeightShapes, type DdpmSpec } from './ddpm-spec.js';
import type { TrainedWeights } from './models.js';
import { loadVariables, readVariables } from './tf-vars.js';
import type { Tf } from './tfjs-models.js';

type T = TfCore.Tensor;
type T4 = TfCore.Tensor4D;

const BN_STATS = new Set(['mean', 'variance']);

export class DdpmModel {
  /** trainable and statistics variables by `${layer}/${key}` */
  readonly vars = new Map<string, TfCore.Variable>();
  private readonly batchNorm: (x: T, gamma: T, beta: T) => T;
  /** while set, each BN layer records its batch moments here (recalibrate) */
  private record: Map<string, { mean: T; variance: T }> | null = null;

  constructor(
    private readonly tf: Tf,
    readonly spec: DdpmSpec,
    seed: number,
  ) {
    const rng = new Prng(seed * 7919 + 29);
    for (const [layer, keys] of Object.entries(ddpmWeightShapes(spec))) {
      for (const [key, shape] of Object.entries(keys)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n);
        if (key === 'kernel') {
          // He-uniform on the fan-in (SiLU ≈ ReLU for the scale); the block's last conv and the
          // output conv start small so every block begins near the identity
          const fanIn = shape.length === 4 ? shape[0] * shape[1] * shape[2] : shape[0];
          const small = layer === 'out' || layer.endsWith('.conv2') || layer.endsWith('.temb');
          const lim = Math.sqrt(6 / fanIn) * (small ? 0.1 : 1);
          for (let i = 0; i < n; i++) data[i] = (2 * rng.next() - 1) * lim;
        } else if (key === 'gamma' || key === 'variance') data.fill(1);
        const trainable = !BN_STATS.has(key);
        this.vars.set(`${layer}/${key}`, tf.variable(tf.tensor(data, shape), trainable, `${layer}/${key}`));
      }
    }
    const eps = spec.bnEpsilon;
    this.batchNorm = tf.customGrad((...args: (T | TfCore.GradSaveFunc)[]) => {
      const [x, gamma, beta] = args as T[];
      const save = args[3] as TfCore.GradSaveFunc;
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const rstd = tf.rsqrt(tf.add(variance, eps));
      const xhat = tf.mul(tf.sub(x, mean), rstd);
      save([xhat, rstd, gamma]);
      return {
        value: tf.add(tf.mul(xhat, gamma), beta),
        gradFunc: (dy: T, saved: T[]) => {
          const [xh, rs, g] = saved;
          const gy = tf.mul(dy, g);
          const dx = tf.mul(tf.sub(tf.sub(gy, tf.mean(gy, [0, 1, 2])), tf.mul(xh, tf.mean(tf.mul(gy, xh), [0, 1, 2]))), rs);
          return [dx, tf.sum(tf.mul(dy, xh), [0, 1, 2]), tf.sum(dy, [0, 1, 2])];
        },
      };
    });
  }

  trainable(): TfCore.Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  /** Every trainable tensor's values back to back, in `trainable()` order. */
  getTrainable(): Float32Array {
    const vars = this.trainable();
    const out = new Float32Array(vars.reduce((s, v) => s + v.size, 0));
    let at = 0;
    for (const v of vars) {
      out.set(v.dataSync() as Float32Array, at);
      at += v.size;
    }
    return out;
  }

  setTrainable(flat: Float32Array): void {
    let at = 0;
    for (const v of this.trainable()) {
      // the variable takes its own reference to the data: the temporary is released (every step)
      const t = this.tf.tensor(flat.subarray(at, at + v.size), v.shape);
      v.assign(t);
      t.dispose();
      at += v.size;
    }
    if (at !== flat.length) throw new RangeError(`${this.spec.name}: ${flat.length} weights for ${at} trainable values`);
  }

  private v(layer: string, key: string): TfCore.Variable {
    const t = this.vars.get(`${layer}/${key}`);
    if (!t) throw new Error(`${this.spec.name}: no variable ${layer}/${key}`);
    return t;
  }

  private conv(layer: string, x: T, stride = 1, bias = true): T {
    const tf = this.tf;
    const k = this.v(layer, 'kernel');
    const p = (k.shape[0] - 1) / 2;
    const y = tf.conv2d(x as T4, k as TfCore.Tensor4D, stride, [[0, 0], [p, p], [p, p], [0, 0]]);
    return bias ? tf.add(y, this.v(layer, 'bias')) : y;
  }

  private bn(layer: string, x: T, train: boolean): T {
    const tf = this.tf;
    if (train) {
      if (this.record) this.record.set(layer, tf.moments(x, [0, 1, 2]));
      return this.batchNorm(x, this.v(layer, 'gamma'), this.v(layer, 'beta'));
    }
    const rstd = tf.rsqrt(tf.add(this.v(layer, 'variance'), this.spec.bnEpsilon));
    return tf.add(tf.mul(tf.sub(x, this.v(layer, 'mean')), tf.mul(rstd, this.v(layer, 'gamma'))), this.v(layer, 'beta'));
  }

  private silu(x: T): T {
    return this.tf.mul(x, this.tf.sigmoid(x));
  }

  private dense(layer: string, x: T): T {
    return this.tf.add(this.tf.matMul(x as TfCore.Tensor2D, this.v(layer, 'kernel') as TfCore.Tensor2D), this.v(layer, 'bias'));
  }

  /** nearest-neighbour 2× upsampling as a broadcast (its gradient is a sum the backend has) */
  private up2(x: T): T {
    const tf = this.tf;
    const [n, h, w, c] = x.shape;
    return tf.reshape(tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [n, 2 * h, 2 * w, c]);
  }

  private block(name: string, x: T, e: T, train: boolean): T {
    const tf = this.tf;
    const c = this.vars.get(`${name}.conv1/kernel`)!.shape[3] as number;
    let h = this.silu(this.bn(`${name}.bn1`, this.conv(`${name}.conv1`, x, 1, false), train));
    h = tf.add(h, tf.reshape(this.dense(`${name}.temb`, e), [-1, 1, 1, c]));
    h = this.silu(this.bn(`${name}.bn2`, this.conv(`${name}.conv2`, h, 1, false), train));
    const skip = this.vars.has(`${name}.skip/kernel`) ? this.conv(`${name}.skip`, x) : x;
    return tf.add(skip, h);
  }

  /** Predicted noise [n, H, W, C] from x_t [n, H, W, C] and the timestep embeddings [n, tDim]. */
  forward(x: T, temb: T, train: boolean): T {
    const tf = this.tf;
    const e = this.silu(this.dense('temb2', this.silu(this.dense('temb1', temb))));
    const h0 = this.block('rb0', this.conv('in', x), e, train);
    const h1 = this.block('rb1', this.conv('down0', h0, 2), e, train);
    const m = this.block('mid', this.conv('down1', h1, 2), e, train);
    const u1 = this.block('up1', tf.concat([this.up2(m), h1], 3), e, train);
    const u0 = this.block('up0', tf.concat([this.up2(u1), h0], 3), e, train);
    return this.conv('out', u0);
  }

  /**
   * Sets every BN layer's statistics to the moments of one training-mode forward pass on this
   * batch (large: the statistics are estimates of the timestep mixture's).
   */
  recalibrate(x: T, temb: T): void {
    const tf = this.tf;
    this.record = new Map();
    tf.tidy(() => {
      this.forward(x, temb, true);
      for (const [layer, m] of this.record!) {
        this.v(layer, 'mean').assign(m.mean);
        this.v(layer, 'variance').assign(m.variance);
      }
    });
    this.record = null;
  }

  load(w: TrainedWeights): void {
    loadVariables(this.tf, this.vars, w, this.spec.name);
  }

  weights(): Promise<TrainedWeights> {
    return readVariables(this.vars);
  }

  dispose(): void {
    for (const t of this.vars.values()) t.dispose();
    this.vars.clear();
  }
}
