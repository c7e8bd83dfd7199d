import { describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { Adam } from '../../../nets/zoo/adam.js';
import { initTf } from '../../../nets/zoo/tfjs-models.js';

describe('the DDPM trainer\'s Adam on flat arrays', () => {
  it('takes the steps tfjs\'s tf.train.adam takes (random weights, gradients and learning rates)', async () => {
    const { tf } = await initTf('cpu');
    const rng = new Prng(7);
    const n = 64;
    const w0 = Float32Array.from({ length: n }, () => rng.normal());
    const ours = w0.slice();
    const adam = new Adam(n);
    const v = tf.variable(tf.tensor1d(w0));
    // one optimizer (its moments persist), its rate set per step as the trainer's schedule does
    const opt = tf.train.adam(1e-3);
    for (let step = 0; step < 6; step++) {
      const g = Float32Array.from({ length: n }, () => rng.normal() * 10 ** (step - 3));
      const lr = 1e-3 * (step + 1);
      adam.step(ours, g, lr);
      (opt as unknown as { learningRate: number }).learningRate = lr;
      opt.applyGradients([{ name: v.name, tensor: tf.tensor1d(g) }]);
    }
    const ref = v.dataSync() as Float32Array;
    for (let i = 0; i < n; i++) expect(Math.abs(ours[i] - ref[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref[i])));
    // and it moved: six steps of up to 6e-3 each
    expect(ours.some((x, i) => Math.abs(x - w0[i]) > 1e-3)).toBe(true);
  });
});
