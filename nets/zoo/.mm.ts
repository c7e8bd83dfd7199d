import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
const req = createRequire(import.meta.url);
setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
await tf.setBackend('wasm');
const M = 50176, K = 144, C = 32;
const a = tf.randomNormal([1, M, K]), b = tf.randomNormal([1, M, C]), w = tf.randomNormal([1, K, C]);
const aT = tf.randomNormal([1, K, M]);
for (const [name, f] of [['aT_b (tA)', () => tf.matMul(a, b, true, false)], ['aT explicit', () => tf.matMul(aT, b)], ['b_wT (tB)', () => tf.matMul(b, w, false, true)], ['a_w', () => tf.matMul(a, w)]] as const) {
  for (let i = 0; i < 3; i++) { const t = performance.now(); const r = (f as () => tf.Tensor)(); await r.data(); r.dispose(); console.log(name, (performance.now() - t).toFixed(1)); }
}
const x = tf.randomNormal([64, 28, 28, 16]); const f = tf.randomNormal([3, 3, 16, 32]);
for (let i = 0; i < 3; i++) { const t = performance.now(); const r = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'); await r.data(); r.dispose(); console.log('conv fwd', (performance.now() - t).toFixed(1)); }
