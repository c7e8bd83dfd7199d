/**
 * The DDPM's conversion (train-ddpm.ts's last stage, or `--from-cache` alone): graph (ddpm.ts, BN
 * folded) → nets/zoo/<model>.onnx (temp + rename) → re-imported and run by the FP32 executor on a
 * seeded batch of noisy training-like inputs at spread timesteps, checked against tfjs's own
 * inference-mode prediction of the same weights (the largest difference must stay below 1e-3 of
 * the noise's unit scale — a wrong layout or a misplaced fold is off by O(1)) → manifest.json's
 * `diffusion` section.
 */

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFp32 } from '../fp32.js';
import { exportOnnx } from '../onnx/export.js';
import { loadOnnx } from '../onnx/import.js';
import { Prng } from '../prng.js';
import { layerStats } from '../shapes.js';
import { ZOO_DIR, type DiffusionEntry } from './catalog.js';
import { buildDdpmGraph } from './ddpm.js';
import { noiseSchedule, timeEmbedding, type DdpmSpec } from './ddpm-spec.js';
import { initTf } from './tfjs-models.js';
import { cacheWeights, type DdpmCache } from './train-ddpm.js';

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export async function convertDdpm(spec: DdpmSpec, cache: DdpmCache, log: (m: string) => void): Promise<void> {
  const weights = cacheWeights(cache);
  const graph = buildDdpmGraph(spec, weights, {
    producer: 'qloom nets/zoo/train-ddpm.ts',
    trainedBy: cache.trainedBy,
    preprocessing: 'x: the noisy image x_t (data scaled to [-1, 1] as 2·pixel/255 − 1); t: the timestep as a float in [0, T)',
  });
  const file = join(ZOO_DIR, `${spec.name}.onnx`);
  writeAtomic(file, exportOnnx(graph));
  const back = loadOnnx(file);

  // the same prediction from tfjs (inference mode, stored BN statistics) on a seeded batch
  const { tf } = await initTf('wasm');
  const { DdpmModel } = await import('./ddpm-tfjs.js');
  const model = new DdpmModel(tf, spec, cache.seed);
  model.load(weights);
  const n = 16;
  const per = spec.input[0] * spec.input[1] * spec.input[2];
  const rng = new Prng(cache.seed + 77);
  const { alphaBar } = noiseSchedule(spec);
  const ts = Float32Array.from({ length: n }, (_, i) => Math.round((i * (spec.steps - 1)) / (n - 1)));
  const x = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    // a blob in [−1, 1] plus the forward process's noise at t
    const a = Math.sqrt(alphaBar[ts[i]]);
    const s = Math.sqrt(1 - alphaBar[ts[i]]);
    for (let p = 0; p < per; p++) x[i * per + p] = a * (2 * rng.next() - 1) + s * rng.normal();
  }
  const yTf = tf.tidy(() => model.forward(tf.tensor4d(x, [n, spec.input[1], spec.input[2], spec.input[0]]), tf.tensor2d(timeEmbedding(spec, ts), [n, spec.tDim]), false));
  const ref = (await yTf.data()) as Float32Array;
  yTf.dispose();
  model.dispose();
  const out = runFp32(back, { x: { dtype: 'float32', shape: [n, ...spec.input], data: x }, t: { dtype: 'float32', shape: [n, 1], data: ts } });
  const got = out.eps.data as Float32Array;
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
  log(`${spec.name}: wrote ${file}; qloom FP32 vs tfjs on ${n} noisy inputs at t = 0…${spec.steps - 1}: largest difference ${maxDiff.toExponential(2)}`);
  if (!(maxDiff < 1e-3)) throw new Error(`${spec.name}: qloom FP32 and tfjs predictions differ by ${maxDiff} — conversion bug`);

  const stats = layerStats(back);
  const last = cache.history[cache.history.length - 1];
  const entry: DiffusionEntry = {
    file: `${spec.name}.onnx`,
    dataset: spec.dataset,
    input: [...spec.input],
    params: stats.totalParams,
    macs: stats.totalMacs,
    steps: spec.steps,
    trainedBy: cache.trainedBy,
    seed: cache.seed,
    trainSeconds: cache.trainSeconds,
    finalLoss: Math.round((last?.loss ?? NaN) * 1e5) / 1e5,
  };
  // re-read just before writing: another training process may have changed it meanwhile
  const manifestFile = join(ZOO_DIR, 'manifest.json');
  const manifest: { models: Record<string, unknown>; diffusion?: Record<string, DiffusionEntry> } = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : { models: {} };
  manifest.diffusion = { ...(manifest.diffusion ?? {}), [spec.name]: entry };
  writeAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  log(`${spec.name}: ${stats.totalParams} params, ${stats.totalMacs} MACs per evaluation; manifest updated`);
}
