import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { registerWasmGradKernels } from './wasm-grads.js';
import { Prng } from '../prng.js';
const req = createRequire(import.meta.url);
setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
registerWasmGradKernels();
function rnd(n: number, seed: number) { const p = new Prng(seed); const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = p.normal(); return a; }
async function run(be: string) {
  await tf.setBackend(be);
  const res: Float32Array[] = [];
  for (const [k, s, pad, cin, cout, dw] of [[3,1,'same',3,5,false],[3,2,'same',4,6,false],[3,2,'valid',4,6,false],[1,1,'valid',4,7,false],[3,1,'same',5,5,true],[3,2,'same',6,6,true],[3,2,'valid',6,12,true]] as const) {
    const x = tf.tensor4d(rnd(2*9*9*cin, 1), [2,9,9,cin]);
    const w = dw ? tf.tensor4d(rnd(k*k*cin*(cout/cin), 2), [k,k,cin,cout/cin]) : tf.tensor4d(rnd(k*k*cin*cout, 2), [k,k,cin,cout]);
    const f = (x: tf.Tensor4D, w: tf.Tensor4D) => { const y = dw ? tf.depthwiseConv2d(x, w, s, pad) : tf.conv2d(x, w, s, pad); return tf.sum(tf.mul(y, tf.sin(y))); };
    const [gx, gw] = tf.grads(f as any)([x, w]);
    res.push(await gx.data() as Float32Array, await gw.data() as Float32Array);
  }
  return res;
}
const a = await run('cpu'); const b = await run('wasm');
for (let i = 0; i < a.length; i++) { let m = 0, s = 0; for (let j = 0; j < a[i].length; j++) { m = Math.max(m, Math.abs(a[i][j] - b[i][j])); s = Math.max(s, Math.abs(a[i][j])); } console.log(i, a[i].length, b[i].length, m.toExponential(2), s.toFixed(2)); }
for (const [shape, reps] of [[[1,1,1,5],[2,3,4,1]],[[2,3],[3,2]],[[3,1,2],[1,4,2]],[[4],[3]]] as const) {
  await tf.setBackend('cpu'); const a1 = tf.tile(tf.reshape(tf.range(0, shape.reduce((a,b)=>a*b,1)), shape as any), reps as any); const d1 = await a1.data();
  await tf.setBackend('wasm'); const a2 = tf.tile(tf.reshape(tf.range(0, shape.reduce((a,b)=>a*b,1)), shape as any), reps as any); const d2 = await a2.data();
  console.log('tile', shape, reps, d1.length === d2.length && d1.every((v,i)=>v===d2[i]));
}
for (const [shape, axis, kd] of [[[2,3,4,5],[0,1,2],false],[[2,3,4,5],[0,1,2],true],[[2,3,4,5],[1,2],false],[[2,3,4,5],[3],false],[[6,7],[0],false],[[6,7],-1,true],[[6,7],null,false]] as const) {
  const outs: Float32Array[] = []; const shp: number[][] = [];
  for (const be of ['cpu', 'wasm']) { await tf.setBackend(be); const x = tf.tensor(rnd(shape.reduce((a,b)=>a*b,1), 5), shape as any);
    for (const f of [tf.sum, tf.mean]) { const r = (f as any)(x, axis === null ? undefined : axis, kd); outs.push(await r.data() as Float32Array); shp.push(r.shape); } }
  let m = 0; for (let i = 0; i < outs[0].length; i++) m = Math.max(m, Math.abs(outs[0][i]-outs[2][i]), Math.abs(outs[1][i]-outs[3][i]));
  console.log('reduce', shape, axis, kd, JSON.stringify(shp[0]) === JSON.stringify(shp[2]) && JSON.stringify(shp[1]) === JSON.stringify(shp[3]), m.toExponential(2));
}
