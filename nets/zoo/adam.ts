/**
 * Adam as tfjs-core's `tf.train.adam` updates (β₁ 0.9, β₂ 0.999, ε 1e-7, bias correction by running
 * powers of β), on flat float32 arrays: the DDPM trainer's optimizer, which keeps the weights
 * itself while worker threads compute the gradients (train-ddpm.ts). Checked against tfjs's own
 * optimizer in test/unit/nets/adam.test.ts.
 */

/** tfjs's Adam (β₁ 0.9, β₂ 0.999, ε 1e-7, bias correction by running powers) on flat float32 arrays. */
export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private acc1 = 0.9;
  private acc2 = 0.999;

  constructor(n: number) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }

  step(w: Float32Array, g: Float32Array, lr: number): void {
    const { m, v } = this;
    const c1 = 1 - this.acc1;
    const c2 = 1 - this.acc2;
    for (let i = 0; i < w.length; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-7);
    }
    this.acc1 *= 0.9;
    this.acc2 *= 0.999;
  }
}
