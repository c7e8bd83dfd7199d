/**
 * Trains the zoo's diffusion model and converts it to ONNX:
 * `npx tsx nets/zoo/train-ddpm.ts [--model mnist-ddpm] [--steps N] [--seed S] [--lr LR] [--batch B] [--workers W] [--from-cache] [--limit N]`.
 *
 * DDPM training (Ho et al. 2020, "simple" loss): per image a timestep t uniform in [0, T), noise
 * ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε with x₀ the digit scaled to [−1, 1]; the UNet predicts ε,
 * loss = mean squared error. Adam with a linear warm-up and cosine decay to 0; an exponential
 * moving average of the weights is what is exported (its BN statistics re-estimated on 1,024
 * training images at uniform timesteps). Data parallel on W worker threads (default 2, one per
 * core here; ddpm-shard.ts): each computes the gradient of a contiguous shard of the batch on its
 * own tfjs-backend-wasm, this thread averages them (weighted by shard size, in worker order) and
 * runs Adam (tfjs's update rule) and the average in float32 arrays. Seeded throughout (the batch
 * order, t and ε come from nets/prng.ts; the initialization from --seed); the result depends on W
 * (BatchNorm's moments are per shard), not on timing.
 *
 * The weights go to nets/zoo/.cache/<model>.json right after training; `--from-cache` only
 * converts: ddpm.ts builds the graph (BN folded), nets/onnx/export.ts writes nets/zoo/<model>.onnx,
 * the file is re-imported and checked against tfjs's own prediction on a seeded batch, and the
 * manifest gets its entry (FID and the sample grid are `qloom diffusion`'s, not the trainer's).
 */

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadDataset } from '../data/index.js';
import { Prng } from '../prng.js';
import { DDPM_SPECS, noiseSchedule, timeEmbedding, type DdpmSpec } from './ddpm-spec.js';
import { ZOO_DIR } from './catalog.js';
import type { TrainedWeights, WeightArray } from './models.js';
import { Adam } from './adam.js';
import type { ShardRequest } from './ddpm-shard.js';
import { initTf, type Tf } from './tfjs-models.js';

interface Args {
  model: string;
  steps?: number;
  seed: number;
  lr?: number;
  batch?: number;
  workers: number;
  fromCache: boolean;
  limit?: number;
}

export interface DdpmCache {
  model: string;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
  trainSeconds: number;
  trainedBy: string;
  history: { step: number; loss: number; seconds: number }[];
  spec: DdpmSpec;
  weights: Record<string, Record<string, { shape: number[]; f32: string }>>;
}

const CACHE = join(ZOO_DIR, '.cache');

function fail(msg: string): never {
  process.stderr.write(`train-ddpm: ${msg}\n`);
  process.exit(2);
}

function log(msg: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { model: 'mnist-ddpm', seed: 1, workers: 2, fromCache: false };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = (): string => {
      const s = argv[++i];
      if (s === undefined) fail(`${v} needs a value`);
      return s;
    };
    if (v === '--model') a.model = next();
    else if (v === '--steps') a.steps = Number(next());
    else if (v === '--seed') a.seed = Number(next());
    else if (v === '--lr') a.lr = Number(next());
    else if (v === '--batch') a.batch = Number(next());
    else if (v === '--limit') a.limit = Number(next());
    else if (v === '--workers') a.workers = Number(next());
    else if (v === '--from-cache') a.fromCache = true;
    else if (v === '--help' || v === '-h') {
      process.stdout.write(`usage: npx tsx nets/zoo/train-ddpm.ts [--model ${Object.keys(DDPM_SPECS).join('|')}] [--steps N] [--seed S] [--lr LR] [--batch B] [--workers W] [--from-cache] [--limit N]\n`);
      process.exit(0);
    } else problems.push(`unknown argument ${v}`);
  }
  if (!DDPM_SPECS[a.model]) problems.push(`unknown model '${a.model}' (known: ${Object.keys(DDPM_SPECS).join(', ')})`);
  if (a.steps !== undefined && !(Number.isInteger(a.steps) && a.steps > 0)) problems.push('--steps must be a positive integer');
  if (!(Number.isInteger(a.seed) && a.seed >= 0)) problems.push('--seed must be a non-negative integer');
  if (a.lr !== undefined && !(a.lr > 0)) problems.push('--lr must be a positive number');
  if (a.batch !== undefined && !(Number.isInteger(a.batch) && a.batch > 0)) problems.push('--batch must be a positive integer');
  if (a.limit !== undefined && !(Number.isInteger(a.limit) && a.limit > 0)) problems.push('--limit must be a positive integer');
  if (!(Number.isInteger(a.workers) && a.workers >= 1 && a.workers <= 16)) problems.push('--workers must be an integer in 1…16');
  if (problems.length) fail(problems.join('; '));
  return a;
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function cacheFile(model: string): string {
  return join(CACHE, `${model}.json`);
}

export function cacheWeights(c: DdpmCache): TrainedWeights {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const [layer, ws] of Object.entries(c.weights)) {
    out[layer] = {};
    for (const [k, w] of Object.entries(ws)) out[layer][k] = { shape: w.shape, data: new Float32Array(new Uint8Array(Buffer.from(w.f32, 'base64')).buffer.slice(0)) };
  }
  return out;
}

/** A training batch: x_t (NHWC = NCHW for one channel), the target ε and the embeddings of t. */
function noisyBatch(spec: DdpmSpec, alphaBar: Float64Array, x0: Float32Array, per: number, idx: ArrayLike<number>, rng: Prng, xt: Float32Array, eps: Float32Array, temb: Float32Array): void {
  const ts = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const t = rng.int(spec.steps);
    ts[i] = t;
    const a = Math.sqrt(alphaBar[t]);
    const s = Math.sqrt(1 - alphaBar[t]);
    const o = idx[i] * per;
    for (let p = 0; p < per; p++) {
      const e = rng.normal();
      eps[i * per + p] = e;
      xt[i * per + p] = a * (2 * x0[o + p] - 1) + s * e;
    }
  }
  timeEmbedding(spec, ts, temb);
}

/** The gradient workers: each answers a shard request with its loss and flat gradient. */
class ShardPool {
  private constructor(private readonly workers: Worker[]) {}

  static async start(model: string, seed: number, count: number): Promise<ShardPool> {
    const self = fileURLToPath(import.meta.url);
    const typeScript = self.endsWith('.ts');
    const shardUrl = new URL(`./ddpm-shard.${typeScript ? 'ts' : 'js'}`, import.meta.url).href;
    const workers = Array.from({ length: count }, () => new Worker(new URL('./ddpm-shard-worker.mjs', import.meta.url), { workerData: { shardUrl, typeScript, model, seed } }));
    await Promise.all(workers.map((w) => new Promise<void>((res, rej) => {
      w.once('message', () => res());
      w.once('error', rej);
    })));
    return new ShardPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  run(i: number, req: ShardRequest): Promise<{ loss: number; grads: Float32Array }> {
    const w = this.workers[i];
    return new Promise((res, rej) => {
      const onError = (e: Error): void => rej(e);
      w.once('error', onError);
      w.once('message', (m: { ok: boolean; loss: number; grads: Float32Array; error?: string }) => {
        w.off('error', onError);
        if (m.ok) res(m);
        else rej(new Error(`gradient worker ${i}: ${m.error}`));
      });
      w.postMessage(req);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

async function train(tf: Tf, spec: DdpmSpec, args: Args): Promise<DdpmCache> {
  const { DdpmModel } = await import('./ddpm-tfjs.js');
  const total = args.steps ?? spec.train.steps;
  const batch = args.batch ?? spec.train.batch;
  const lr = args.lr ?? spec.train.lr;
  const set = args.limit !== undefined ? loadDataset(spec.dataset, 'train', { samples: args.limit, seed: args.seed }) : loadDataset(spec.dataset, 'train');
  const per = set.images.length / set.count;
  const [C, H, W] = spec.input;
  const { alphaBar } = noiseSchedule(spec);
  const model = new DdpmModel(tf, spec, args.seed);
  const weights = model.getTrainable();
  const ema = weights.slice();
  const adam = new Adam(weights.length);
  const workers = Math.min(args.workers, batch);
  log(`${spec.name}: ${weights.length} trainable params; ${set.count} train images, ${total} steps of ${batch} on ${workers} gradient workers, Adam lr ${lr} (${spec.train.warmup} warm-up) cosine, EMA ${spec.train.ema}`);
  const pool = await ShardPool.start(spec.name, args.seed, workers);
  // contiguous shards of the batch: worker k takes images cuts[k] … cuts[k + 1] − 1
  const cuts = Array.from({ length: workers + 1 }, (_, k) => Math.floor((k * batch) / workers));
  const rng = new Prng(args.seed * 104729 + 11);
  const xt = new Float32Array(batch * per);
  const eps = new Float32Array(batch * per);
  const temb = new Float32Array(batch * spec.tDim);
  const grad = new Float32Array(weights.length);
  const history: DdpmCache['history'] = [];
  let perm = rng.permutation(set.count);
  let at = 0;
  const idx = new Int32Array(batch);
  const started = Date.now();
  let lossSum = 0;
  let lossN = 0;
  try {
    for (let step = 0; step < total; step++) {
      for (let i = 0; i < batch; i++) {
        if (at === set.count) {
          perm = rng.permutation(set.count);
          at = 0;
        }
        idx[i] = perm[at++];
      }
      noisyBatch(spec, alphaBar, set.images, per, idx, rng, xt, eps, temb);
      const results = await Promise.all(
        cuts.slice(0, workers).map((a, k) => {
          const b = cuts[k + 1];
          return pool.run(k, { weights, xt: xt.slice(a * per, b * per), eps: eps.slice(a * per, b * per), temb: temb.slice(a * spec.tDim, b * spec.tDim), n: b - a });
        }),
      );
      grad.fill(0);
      let v = 0;
      results.forEach((r, k) => {
        const f = (cuts[k + 1] - cuts[k]) / batch;
        v += f * r.loss;
        for (let i = 0; i < grad.length; i++) grad[i] += f * r.grads[i];
      });
      if (!Number.isFinite(v)) throw new Error(`${spec.name}: loss became ${v} at step ${step}`);
      const ramp = step < spec.train.warmup ? (step + 1) / spec.train.warmup : 1;
      adam.step(weights, grad, ramp * lr * 0.5 * (1 + Math.cos((Math.PI * step) / total)));
      const d = Math.min(spec.train.ema, (1 + step) / (10 + step));
      for (let i = 0; i < ema.length; i++) ema[i] = d * ema[i] + (1 - d) * weights[i];
      lossSum += v;
      lossN++;
      if ((step + 1) % 100 === 0 || step + 1 === total) {
        const seconds = (Date.now() - started) / 1000;
        history.push({ step: step + 1, loss: lossSum / lossN, seconds });
        log(`${spec.name} step ${step + 1}/${total} loss ${(lossSum / lossN).toFixed(4)} (${((1000 * seconds) / (step + 1)).toFixed(0)} ms/step, ${seconds.toFixed(0)} s)`);
        lossSum = 0;
        lossN = 0;
      }
    }
  } finally {
    await pool.close();
  }
  const trainSeconds = (Date.now() - started) / 1000;
  model.setTrainable(ema);
  // BN statistics for the averaged weights: one training-mode pass over 1,024 noisy images
  const R = Math.min(1024, set.count);
  const ridx = rng.permutation(set.count).subarray(0, R);
  const rx = new Float32Array(R * per);
  const re = new Float32Array(R * per);
  const rt = new Float32Array(R * spec.tDim);
  noisyBatch(spec, alphaBar, set.images, per, ridx, rng, rx, re, rt);
  const x = tf.tensor4d(rx, [R, H, W, C]);
  const te = tf.tensor2d(rt, [R, spec.tDim]);
  model.recalibrate(x, te);
  tf.dispose([x, te]);
  const trained = await model.weights();
  model.dispose();
  const cmd = ['npx tsx nets/zoo/train-ddpm.ts', `--model ${spec.name}`, `--steps ${total}`, `--seed ${args.seed}`];
  if (args.lr !== undefined) cmd.push(`--lr ${args.lr}`);
  if (args.batch !== undefined) cmd.push(`--batch ${args.batch}`);
  cmd.push(`--workers ${args.workers}`);
  if (args.limit !== undefined) cmd.push(`--limit ${args.limit}`);
  const enc: DdpmCache['weights'] = {};
  for (const [layer, ws] of Object.entries(trained)) {
    enc[layer] = {};
    for (const [k, w] of Object.entries(ws)) enc[layer][k] = { shape: [...w.shape], f32: Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).toString('base64') };
  }
  return { model: spec.name, seed: args.seed, steps: total, batch, lr, trainSeconds: Math.round(trainSeconds * 10) / 10, trainedBy: cmd.join(' '), history, spec, weights: enc };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const spec = DDPM_SPECS[args.model];
  let cache: DdpmCache;
  if (args.fromCache) {
    if (!existsSync(cacheFile(spec.name))) fail(`no cached weights for ${spec.name} (${cacheFile(spec.name)}); train it first`);
    cache = JSON.parse(readFileSync(cacheFile(spec.name), 'utf8')) as DdpmCache;
    if (JSON.stringify(cache.spec) !== JSON.stringify(spec)) fail(`${spec.name}: the cached weights were trained for a different spec; retrain`);
  } else {
    const { tf } = await initTf('wasm');
    cache = await train(tf, spec, args);
    mkdirSync(CACHE, { recursive: true });
    if (!existsSync(join(CACHE, '.gitignore'))) writeFileSync(join(CACHE, '.gitignore'), '*\n');
    writeAtomic(cacheFile(spec.name), JSON.stringify(cache));
    log(`${spec.name}: trained in ${cache.trainSeconds} s; weights in ${cacheFile(spec.name)}`);
  }
  const { convertDdpm } = await import('./ddpm-convert.js');
  await convertDdpm(spec, cache, log);
}

if (process.argv[1] && /train-ddpm\.[tj]s$/.test(process.argv[1])) {
  main().catch((e: unknown) => {
    process.stderr.write(`train-ddpm: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
