/**
 * The extra tfjs-backend-wasm kernels the zoo trains with (nets/zoo/wasm-grads.ts) against
 * tfjs-backend-cpu's, on random tensors: conv / depthwise gradients at strides 1 and 2 with same
 * and valid padding, Tile, leading-axis Sum / Mean (and the fallbacks), the ClipByValue gradient,
 * and the SIMD BatchMatMul the ViT trains with (registered last: it replaces the backend's).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../../nets/prng.js';
import { initTf, type Tf } from '../../../nets/zoo/tfjs-models.js';

let tf: Tf;

function rnd(n: number, seed: number): Float32Array {
  const p = new Prng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = p.normal();
  return a;
}

/** runs f on both backends, returns [cpu outputs, wasm outputs] */
async function both(f: () => import('@tensorflow/tfjs-core').Tensor[]): Promise<[Float32Array[], Float32Array[], number[][][]]> {
  const res: Float32Array[][] = [];
  const shapes: number[][][] = [];
  for (const be of ['cpu', 'wasm']) {
    await tf.setBackend(be);
    const ts = f();
    res.push(await Promise.all(ts.map(async (t) => Float32Array.from((await t.data()) as ArrayLike<number>))));
    shapes.push(ts.map((t) => t.shape));
    tf.dispose(ts);
  }
  return [res[0], res[1], shapes];
}

function expectClose(a: Float32Array[], b: Float32Array[], rel: number): void {
  expect(b.length).toBe(a.length);
  for (let k = 0; k < a.length; k++) {
    expect(b[k].length).toBe(a[k].length);
    let scale = 1;
    for (const v of a[k]) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < a[k].length; i++) expect(Math.abs(a[k][i] - b[k][i])).toBeLessThanOrEqual(rel * scale);
  }
}

beforeAll(async () => {
  ({ tf } = await initTf('wasm'));
});

describe('wasm training kernels match tfjs-backend-cpu', () => {
  const convCases = [
    [3, 1, 'same', 3, 5, false],
    [3, 2, 'same', 4, 6, false],
    [3, 2, 'valid', 4, 6, false],
    [1, 1, 'valid', 4, 7, false],
    [3, 1, 'explicit', 6, 4, false],
    [2, 1, 'same', 3, 4, false],
    [3, 1, 'same', 5, 5, true],
    [3, 2, 'same', 6, 6, true],
    [3, 2, 'valid', 6, 12, true],
  ] as const;
  it.each(convCases)('conv k%i s%i %s %i→%i depthwise=%s: dx and dW', async (k, s, pad, cin, cout, dw) => {
    const [a, b] = await both(() => {
      const x = tf.tensor4d(rnd(2 * 9 * 9 * cin, 1), [2, 9, 9, cin]);
      const w = tf.tensor4d(rnd(k * k * (dw ? cout : cin * cout), 2), [k, k, cin, dw ? cout / cin : cout]);
      const f = (x: import('@tensorflow/tfjs-core').Tensor4D, w: import('@tensorflow/tfjs-core').Tensor4D) => {
        // 'explicit': asymmetric pads, as the DDPM's exported convolutions spell theirs (symmetric there)
        const p = pad === 'explicit' ? [[0, 0], [2, 0], [1, 2], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]] : pad;
        const y = dw ? tf.depthwiseConv2d(x, w, s, p as 'same') : tf.conv2d(x, w, s, p);
        return tf.sum(tf.mul(y, tf.sin(y)));
      };
      return tf.grads(f as (...a: import('@tensorflow/tfjs-core').Tensor[]) => import('@tensorflow/tfjs-core').Tensor)([x, w]);
    });
    expectClose(a, b, 1e-5);
  });

  it('Tile', async () => {
    const cases = [
      [[1, 1, 1, 5], [2, 3, 4, 1]],
      [[2, 3], [3, 2]],
      [[3, 1, 2], [1, 4, 2]],
      [[4], [3]],
    ] as const;
    const [a, b, shapes] = await both(() => cases.map(([shape, reps]) => tf.tile(tf.reshape(tf.range(0, shape.reduce((p: number, q: number) => p * q, 1)), [...shape] as number[]), [...reps] as number[])));
    expect(shapes[1]).toEqual(shapes[0]);
    expectClose(a, b, 0);
  });

  it('Sum and Mean over leading axes, and the fallback to the wasm kernels', async () => {
    const cases = [
      [[2, 3, 4, 5], [0, 1, 2], false],
      [[2, 3, 4, 5], [0, 1, 2], true],
      [[2, 3, 4, 5], [1, 2], false],
      [[2, 3, 4, 5], [3], false],
      [[6, 7], [0], false],
      [[6, 7], -1, true],
      [[6, 7], undefined, false],
    ] as const;
    const [a, b, shapes] = await both(() =>
      cases.flatMap(([shape, axis, keep]) => {
        const x = tf.tensor(rnd(shape.reduce((p, q) => p * q, 1), 5), [...shape]);
        const ax = axis === undefined ? undefined : typeof axis === 'number' ? axis : [...axis];
        return [tf.sum(x, ax, keep), tf.mean(x, ax, keep)];
      }),
    );
    expect(shapes[1]).toEqual(shapes[0]);
    expectClose(a, b, 1e-6);
  });

  it('ClipByValue (ReLU6) gradient', async () => {
    const [a, b] = await both(() => {
      const x = tf.mul(tf.tensor(rnd(300, 9), [3, 100]), 4);
      return [tf.grad((x: import('@tensorflow/tfjs-core').Tensor) => tf.sum(tf.mul(tf.clipByValue(x, 0, 6), tf.sin(x))))(x)];
    });
    expectClose(a, b, 1e-6);
  });

  it('SIMD BatchMatMul: transposes, batch broadcast, K past one cache block, and its gradients', async () => {
    const { registerSimdMatMul } = await import('../../../nets/zoo/wasm-grads.js');
    registerSimdMatMul();
    type Tn = import('@tensorflow/tfjs-core').Tensor;
    // [a shape, b shape, transposeA, transposeB]: odd sizes leave partial 4-row / 8-column panels
    const cases: [number[], number[], boolean, boolean][] = [
      [[7, 5], [5, 9], false, false],
      [[5, 7], [5, 9], true, false],
      [[7, 5], [9, 5], false, true],
      [[5, 7], [9, 5], true, true],
      [[3, 6, 4], [3, 4, 10], false, false],
      [[3, 6, 4], [4, 10], false, false],
      [[6, 4], [2, 4, 3], false, false],
      [[2, 2, 5, 3], [2, 2, 5, 6], true, false],
      [[9, 300], [300, 11], false, false],
      [[300, 9], [300, 11], true, false],
    ];
    const [a, b, shapes] = await both(() =>
      cases.map(([sa, sb, ta, tb], i) => tf.matMul(tf.tensor(rnd(sa.reduce((p, q) => p * q, 1), 20 + i), sa), tf.tensor(rnd(sb.reduce((p, q) => p * q, 1), 40 + i), sb), ta, tb)),
    );
    expect(shapes[1]).toEqual(shapes[0]);
    expectClose(a, b, 1e-5);
    const [ga, gb] = await both(() => {
      // a linear layer and an attention-style batched product (tfjs's own gradient does not
      // reduce a broadcast batch dimension, so both operands carry it)
      const x = tf.tensor(rnd(24 * 5, 60), [24, 5]);
      const w = tf.tensor(rnd(5 * 7, 61), [5, 7]);
      const q = tf.tensor(rnd(3 * 6 * 4, 62), [3, 6, 4]);
      const k = tf.tensor(rnd(3 * 6 * 4, 63), [3, 6, 4]);
      return [
        ...tf.grads((x: Tn, w: Tn) => tf.sum(tf.sin(tf.matMul(x, w))))([x, w]),
        ...tf.grads((q: Tn, k: Tn) => tf.sum(tf.sin(tf.matMul(q, k, false, true))))([q, k]),
      ];
    });
    expectClose(ga, gb, 1e-5);
  });
});
