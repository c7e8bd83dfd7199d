/**
 * One gradient worker of the DDPM trainer (train-ddpm.ts): its own tfjs wasm backend and UNet;
 * given the current weights and a shard of the batch, the shard's mean ε-MSE and its gradient
 * with respect to every trainable tensor, flat in `DdpmModel.trainable()` order. The trainer
 * averages the shards' gradients (weighted by their sizes) and keeps the optimizer and the
 * weight average itself, so the shards hold no state between steps but the model's layout.
 * BatchNorm normalizes each shard by its own moments (ghost batches of batch/workers samples).
 */

import type * as TfCore from '@tensorflow/tfjs-core';
import { DDPM_SPECS } from './ddpm-spec.js';
import type { DdpmModel } from './ddpm-tfjs.js';
import { initTf, type Tf } from './tfjs-models.js';

export interface ShardRequest {
  readonly weights: Float32Array;
  /** x_t and the target ε, NHWC, n images */
  readonly xt: Float32Array;
  readonly eps: Float32Array;
  readonly temb: Float32Array;
  readonly n: number;
}

export class DdpmShard {
  private constructor(
    private readonly tf: Tf,
    private readonly model: DdpmModel,
  ) {}

  static async create(modelName: string, seed: number): Promise<DdpmShard> {
    const spec = DDPM_SPECS[modelName];
    if (!spec) throw new Error(`unknown diffusion model ${modelName}`);
    const { tf } = await initTf('wasm');
    const { DdpmModel } = await import('./ddpm-tfjs.js');
    return new DdpmShard(tf, new DdpmModel(tf, spec, seed));
  }

  grads(r: ShardRequest): { loss: number; grads: Float32Array } {
    const { tf, model } = this;
    const [C, H, W] = model.spec.input;
    model.setTrainable(r.weights);
    const vars = model.trainable();
    return tf.tidy(() => {
      const x = tf.tensor4d(r.xt, [r.n, H, W, C]);
      const target = tf.tensor4d(r.eps, [r.n, H, W, C]);
      const te = tf.tensor2d(r.temb, [r.n, model.spec.tDim]);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(model.forward(x, te, true), target))) as TfCore.Scalar, vars);
      const flat = new Float32Array(r.weights.length);
      let at = 0;
      for (const v of vars) {
        flat.set(grads[v.name].dataSync() as Float32Array, at);
        at += v.size;
      }
      return { loss: value.dataSync()[0], grads: flat };
    });
  }
}
