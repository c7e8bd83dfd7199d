/**
 * Trains the bundled zoo models and converts them to ONNX (`npm run train -- …`, or
 * `npx tsx nets/zoo/train.ts [--model NAME]… [--epochs N] [--seed S] [--lr LR] [--shift N] [--flip] [--resume]
 *  [--from-cache] [--backend wasm|cpu] [--limit N]`). Without --model: all models in models.ts and
 * vit.ts, one after the other. --limit trains on a seeded subset of N images (smoke runs only).
 * --resume (ViT only) starts from the cached weights (or, without a cache, the bundled ONNX model's)
 * instead of the seeded initialization: a further stage with its own seed, warm-up, cosine schedule
 * and fresh Adam state, whose recorded command is the earlier stages' `&&` its own. --distill
 * TEACHER (ViT only; DeiT's hard distillation) makes half of each image's target the top-1 of a
 * bundled zoo model of the same data set (FP32 executor, on the augmented batch). --swa N (ViT only;
 * Izmailov et al. 2018) exports the mean of the weights at the ends of the last N epochs (LayerNorm,
 * no batch statistics to recompute); the last epoch's test accuracy is the average's.
 *
 * Training: @tensorflow/tfjs-layers on @tensorflow/tfjs-backend-wasm (single thread, SIMD), with
 * the missing gradient kernels supplied by wasm-grads.ts — measured on this 2-core machine, one
 * batch-64 step of fmnist-cnn takes ~0.26 s on wasm against ~57 s on tfjs-backend-cpu. Seeded
 * throughout: initializers get explicit seeds derived from --seed, the data order is a Prng
 * permutation per epoch, dropout masks get a Prng seed per step, and the wasm kernels are
 * deterministic, so a rerun reproduces the weights. Adam, cosine learning-rate decay to 0,
 * softmax cross-entropy on the logits. Inputs are pixel/255 (no mean subtraction), NHWC in
 * tfjs — for one channel NCHW and NHWC are the same bytes.
 *
 * The ViT (vit.ts) is not a tfjs-layers model: vit-tfjs.ts computes it from tf.Variables and
 * Adam minimizes the same loss through tf's autodiff; it shares the data order, augmentation,
 * schedule (plus a linear warm-up), caching and conversion below. Its matrix products run on
 * qloom's WebAssembly SIMD GEMM (wasm-grads.ts registerSimdMatMul: ~6× the backend's).
 *
 * Right after training the weights go to nets/zoo/.cache/<name>.json (git-ignored), so
 * `--from-cache` redoes the conversion without retraining. Conversion: models.ts builds the
 * NCHW graph, nets/onnx/export.ts writes nets/zoo/<name>.onnx (temp file + rename), the file is
 * re-imported with loadOnnx and evaluated with the FP32 executor (nets/eval.ts, the same routine
 * as `qloom eval`) on the full test split; that number goes to manifest.json (temp + rename),
 * after checking it agrees with tfjs's own test accuracy within 0.1 point. `trainSeconds` is the
 * wall-clock time of the training loop, including the tfjs test evaluation after each epoch.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, type LabeledSet } from '../data/index.js';
import { argmaxRows, batchInput, evaluateTop1 } from '../eval.js';
import { runFp32 } from '../fp32.js';
import { exportOnnx } from '../onnx/export.js';
import { loadOnnx } from '../onnx/import.js';
import { Prng } from '../prng.js';
import { layerStats } from '../shapes.js';
import type { ManifestEntry } from './index.js';
import type { Graph } from '../graph.js';
import { buildGraph, MODEL_SPECS, type LayerSpec, type ModelSpec, type TrainedWeights, type WeightArray } from './models.js';
import { buildTfModel, extractWeights, initTf, tfInputShape, tfjsLogits, type Tf, type Tfl } from './tfjs-models.js';
import { buildVitGraph, VIT_SPECS, vitWeightsFromGraph, type VitSpec } from './vit.js';
import type * as TfCore from '@tensorflow/tfjs-core';

/** Every model train.ts knows: the tfjs-layers specs of models.ts and the ViTs of vit.ts. */
const SPECS: Readonly<Record<string, ModelSpec | VitSpec>> = { ...MODEL_SPECS, ...VIT_SPECS };
type AnySpec = ModelSpec | VitSpec;

/** What the training loop needs of a model, whichever way tfjs builds it. */
interface Trainee {
  readonly optimizer: TfCore.Optimizer;
  /** one optimizer step on n images (NCHW dataset order) with integer labels; the mean loss */
  fit(images: Float32Array, labels: Int32Array, n: number, prng: Prng, teacher?: Int32Array): Promise<number>;
  /** inference-mode logits [n, classes] */
  logits(images: Float32Array, n: number): Promise<Float32Array>;
  weights(): Promise<TrainedWeights>;
  /** takes these weights (the ViT trainee only: weight averaging) */
  load?(w: TrainedWeights): void;
  dispose(): void;
}

/** The spec's architecture as recorded in the weight cache (a spec edit without retraining is caught). */
function archOf(spec: AnySpec): unknown {
  if ('kind' in spec) {
    const { train: _t, description: _d, ...arch } = spec;
    return arch;
  }
  return spec.layers;
}

function graphOf(spec: AnySpec, weights: TrainedWeights, meta?: Record<string, string>): Graph {
  return 'kind' in spec ? buildVitGraph(spec, weights, meta) : buildGraph(spec, weights, meta);
}

function layersTrainee(tf: Tf, tfl: Tfl, spec: ModelSpec, seed: number): Trainee {
  const model = buildTfModel(tfl, spec, seed);
  const optimizer = tf.train.adam(spec.train.lr);
  model.compile({ optimizer, loss: (yTrue: TfCore.Tensor, yPred: TfCore.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
  const dropouts = spec.layers.filter((l) => l.kind === 'dropout').map((l) => model.getLayer(l.name) as unknown as { seed?: number });
  const inShape = tfInputShape(spec);
  return {
    optimizer,
    async fit(images, labels, n, prng) {
      // a fresh dropout mask per step: tfjs reuses a layer's fixed seed on every call
      for (const d of dropouts) d.seed = prng.nextU32() % 2147483647;
      // one channel: NCHW dataset bytes are the NHWC tensor tfjs wants
      const x = tf.tensor(images, [n, ...inShape]);
      const lab = tf.tensor1d(labels, 'int32');
      const y = tf.oneHot(lab, spec.classes);
      const loss = (await model.trainOnBatch(x, y)) as number;
      tf.dispose([x, lab, y]);
      return loss;
    },
    logits: (images, n) => tfjsLogits(tf, model, spec, images, n),
    weights: () => extractWeights(model, spec),
    dispose: () => model.dispose(),
  };
}

async function vitTrainee(tf: Tf, spec: VitSpec, seed: number, lr: number, from?: TrainedWeights): Promise<Trainee> {
  const { VitModel, patchify } = await import('./vit-tfjs.js');
  if (tf.getBackend() === 'wasm') (await import('./wasm-grads.js')).registerSimdMatMul();
  const model = new VitModel(tf, spec, seed);
  if (from) model.load(from);
  const optimizer = tf.train.adam(lr);
  const vars = [...model.vars.values()];
  const T = (spec.input[1] / spec.patch) * (spec.input[2] / spec.patch);
  const rowLen = spec.patch * spec.patch * spec.input[0];
  const patches = (images: Float32Array, n: number): TfCore.Tensor => tf.tensor(patchify(spec, images, n), [n * T, rowLen]);
  return {
    optimizer,
    async fit(images, labels, n, _prng, teacher) {
      const x = patches(images, n);
      const lab = tf.tensor1d(labels, 'int32');
      // hard distillation (DeiT): half the target on the label, half on the teacher's top-1
      const y = teacher
        ? tf.tidy(() => tf.add(tf.mul(tf.oneHot(lab, spec.classes), 0.5), tf.mul(tf.oneHot(tf.tensor1d(teacher, 'int32'), spec.classes), 0.5)))
        : tf.oneHot(lab, spec.classes);
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, n)) as TfCore.Scalar, true, vars)!;
      const v = (await loss.data())[0];
      tf.dispose([x, lab, y, loss]);
      return v;
    },
    async logits(images, n) {
      const y = tf.tidy(() => model.forward(patches(images, n), n));
      const out = (await y.data()) as Float32Array;
      y.dispose();
      return out;
    },
    weights: () => model.weights(),
    load: (w: TrainedWeights) => model.load(w),
    dispose: () => model.dispose(),
  };
}

/** a + b per tensor (a absent: a copy of b) */
function addWeights(a: TrainedWeights | undefined, b: TrainedWeights): TrainedWeights {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const [layer, ws] of Object.entries(b)) {
    out[layer] = {};
    for (const [k, w] of Object.entries(ws)) {
      const sum = Float32Array.from(w.data);
      const prev = a?.[layer]?.[k]?.data;
      if (prev) for (let i = 0; i < sum.length; i++) sum[i] += prev[i];
      out[layer][k] = { shape: [...w.shape], data: sum };
    }
  }
  return out;
}

function scaleWeights(a: TrainedWeights, f: number): TrainedWeights {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const [layer, ws] of Object.entries(a)) {
    out[layer] = {};
    for (const [k, w] of Object.entries(ws)) out[layer][k] = { shape: [...w.shape], data: Float32Array.from(w.data, (v) => v * f) };
  }
  return out;
}

const ZOO = dirname(fileURLToPath(import.meta.url));
const CACHE = join(ZOO, '.cache');

interface Args {
  models: string[];
  epochs?: number;
  seed: number;
  fromCache: boolean;
  /** continue from the cached weights (a second, seeded stage with a fresh schedule and Adam state) */
  resume: boolean;
  /** peak learning rate instead of the spec's */
  lr?: number;
  /** augmentation instead of the spec's: random translation by up to N px, random horizontal flips */
  shift?: number;
  flip?: boolean;
  /** a zoo model of the same data set whose top-1 on each augmented batch is half the target */
  distill?: string;
  /** stochastic weight averaging: the exported weights are the mean of the last N epochs' ends */
  swa?: number;
  backend: 'wasm' | 'cpu';
  limit?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { models: [], seed: 1, fromCache: false, resume: false, backend: 'wasm' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = (): string => {
      const s = argv[++i];
      if (s === undefined) fail(`${v} needs a value`);
      return s;
    };
    if (v === '--model') a.models.push(next());
    else if (v === '--epochs') a.epochs = Number(next());
    else if (v === '--seed') a.seed = Number(next());
    else if (v === '--from-cache') a.fromCache = true;
    else if (v === '--resume') a.resume = true;
    else if (v === '--lr') a.lr = Number(next());
    else if (v === '--shift') a.shift = Number(next());
    else if (v === '--flip') a.flip = true;
    else if (v === '--distill') a.distill = next();
    else if (v === '--swa') a.swa = Number(next());
    else if (v === '--backend') a.backend = next() as Args['backend'];
    else if (v === '--limit') a.limit = Number(next()); // train on the first N images only (smoke runs)
    else if (v === '--help' || v === '-h') {
      process.stdout.write(`usage: npx tsx nets/zoo/train.ts [--model ${Object.keys(SPECS).join('|')}]… [--epochs N] [--seed S] [--lr LR] [--shift N] [--flip] [--distill TEACHER] [--swa N] [--resume] [--from-cache] [--backend wasm|cpu]\n`);
      process.exit(0);
    } else fail(`unknown argument ${v}`);
  }
  if (a.models.length === 0) a.models = Object.keys(SPECS);
  for (const m of a.models) if (!SPECS[m]) fail(`unknown model '${m}' (known: ${Object.keys(SPECS).join(', ')})`);
  if (a.epochs !== undefined && !(Number.isInteger(a.epochs) && a.epochs > 0)) fail('--epochs must be a positive integer');
  if (!Number.isInteger(a.seed) || a.seed < 0) fail('--seed must be a non-negative integer');
  if (a.lr !== undefined && !(a.lr > 0)) fail('--lr must be a positive number');
  if (a.shift !== undefined && !(Number.isInteger(a.shift) && a.shift >= 0 && a.shift <= 4)) fail('--shift must be an integer number of pixels in 0…4');
  if (a.resume && a.fromCache) fail('--resume trains on from the cache, --from-cache only converts it: give one');
  for (const m of a.models) if (a.resume && !('kind' in SPECS[m])) fail(`--resume: only the ViT trainer can load cached weights, not ${m}`);
  if (a.distill !== undefined) {
    if (!existsSync(join(ZOO, `${a.distill}.onnx`))) fail(`--distill: no bundled model '${a.distill}' (nets/zoo/${a.distill}.onnx)`);
    for (const m of a.models) if (!('kind' in SPECS[m])) fail(`--distill: only the ViT trainer takes a teacher, not ${m}`);
  }
  if (a.swa !== undefined) {
    if (!(Number.isInteger(a.swa) && a.swa >= 2)) fail('--swa must be an integer ≥ 2 (epochs averaged)');
    if (a.epochs !== undefined && a.swa > a.epochs) fail(`--swa ${a.swa} averages more epochs than --epochs ${a.epochs} trains`);
    for (const m of a.models) if (!('kind' in SPECS[m])) fail(`--swa: only the ViT trainer averages weights, not ${m}`);
  }
  if (a.backend !== 'wasm' && a.backend !== 'cpu') fail('--backend must be wasm or cpu');
  return a;
}

function fail(msg: string): never {
  process.stderr.write(`train: ${msg}\n`);
  process.exit(2);
}

function log(msg: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------- weight cache

interface CacheFile {
  model: string;
  seed: number;
  epochs: number;
  batch: number;
  lr: number;
  backend: string;
  trainSeconds: number;
  trainedBy: string;
  tfjsTop1: number;
  tfjsCorrect: number;
  history: { epoch: number; loss: number; testTop1: number; seconds: number }[];
  /** the architecture trained (archOf), so a spec edit without retraining is caught */
  layers: readonly LayerSpec[] | unknown;
  weights: Record<string, Record<string, { shape: number[]; f32: string }>>;
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function saveCache(c: CacheFile): string {
  mkdirSync(CACHE, { recursive: true });
  // the cache is a build product: keep it out of git without touching the repo's .gitignore
  if (!existsSync(join(CACHE, '.gitignore'))) writeFileSync(join(CACHE, '.gitignore'), '*\n');
  const file = join(CACHE, `${c.model}.json`);
  writeAtomic(file, JSON.stringify(c));
  return file;
}

function loadCache(model: string): CacheFile {
  const file = join(CACHE, `${model}.json`);
  if (!existsSync(file)) fail(`no cached weights for ${model} (${file}); train it first`);
  return JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
}

/**
 * What --resume starts from: the weight cache, or (a fresh clone has none) the bundled ONNX model
 * — the same float32 weights, since the ONNX file was written from that cache — with its recorded
 * command chain and training time from the file and the manifest.
 */
function loadResume(spec: AnySpec): { trainedBy: string; trainSeconds: number; history: CacheFile['history']; layers: unknown; weights: TrainedWeights } {
  if (existsSync(join(CACHE, `${spec.name}.json`))) {
    const c = loadCache(spec.name);
    return { ...c, weights: cacheWeights(c) };
  }
  const onnx = join(ZOO, `${spec.name}.onnx`);
  if (!('kind' in spec) || !existsSync(onnx)) fail(`--resume: no cached weights for ${spec.name} and no bundled ${onnx}`);
  const graph = loadOnnx(onnx);
  const manifest = JSON.parse(readFileSync(join(ZOO, 'manifest.json'), 'utf8')) as { models: Record<string, ManifestEntry> };
  const entry = manifest.models[spec.name];
  const trainedBy = graph.meta?.trainedBy ?? entry?.trainedBy;
  if (!trainedBy) fail(`--resume: ${onnx} does not record how it was trained`);
  log(`${spec.name}: no weight cache; resuming from the bundled ${onnx}`);
  return { trainedBy, trainSeconds: entry?.trainSeconds ?? 0, history: [], layers: archOf(spec), weights: vitWeightsFromGraph(spec, graph) };
}

function cacheWeights(c: CacheFile): TrainedWeights {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const [layer, ws] of Object.entries(c.weights)) {
    out[layer] = {};
    for (const [k, w] of Object.entries(ws)) {
      const b = Buffer.from(w.f32, 'base64');
      // copy: the base64 buffer's offset need not be 4-aligned
      const data = new Float32Array(new Uint8Array(b).buffer.slice(0));
      out[layer][k] = { shape: w.shape, data };
    }
  }
  return out;
}

// ---------------------------------------------------------------- training

async function tfjsTop1(model: Trainee, spec: AnySpec, set: LabeledSet): Promise<number> {
  const per = set.images.length / set.count;
  let correct = 0;
  const B = 1000;
  for (let s = 0; s < set.count; s += B) {
    const n = Math.min(B, set.count - s);
    const logits = await model.logits(set.images.subarray(s * per, (s + n) * per), n);
    const k = spec.classes;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      if (best === set.labels[s + i]) correct++;
    }
  }
  return correct;
}

/** Moves the one-channel H×W image at xb[off…] by (dx, dy) pixels in place, filling with 0. */
function translate(xb: Float32Array, off: number, H: number, W: number, dx: number, dy: number, tmp: Float32Array): void {
  if (dx === 0 && dy === 0) return;
  tmp.fill(0);
  for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++) {
    for (let x = Math.max(0, dx); x < Math.min(W, W + dx); x++) tmp[y * W + x] = xb[off + (y - dy) * W + (x - dx)];
  }
  xb.set(tmp.subarray(0, H * W), off);
}

/** Mirrors the one-channel H×W image at xb[off…] left–right in place. */
function flipX(xb: Float32Array, off: number, H: number, W: number): void {
  for (let y = 0; y < H; y++) xb.subarray(off + y * W, off + (y + 1) * W).reverse();
}

async function train(spec: AnySpec, args: Args): Promise<CacheFile> {
  const { tf, tfl } = await initTf(args.backend);
  const epochs = args.epochs ?? spec.train.epochs;
  const { batch } = spec.train;
  const lr = args.lr ?? spec.train.lr;
  // --resume: the first stage's record, checked against the spec like a conversion is
  const before = args.resume ? loadResume(spec) : undefined;
  if (before && JSON.stringify(before.layers) !== JSON.stringify(archOf(spec))) fail(`${spec.name}: cached weights were trained for a different architecture; retrain`);
  const warmup = 'warmupSteps' in spec.train ? spec.train.warmupSteps : 0;
  const flip = args.flip ?? ('flip' in spec.train && spec.train.flip === true);
  let trainSet = loadDataset(spec.dataset, 'train');
  if (args.limit !== undefined) trainSet = loadDataset(spec.dataset, 'train', { samples: args.limit, seed: args.seed });
  const testSet = loadDataset(spec.dataset, 'test');
  const model = 'kind' in spec ? await vitTrainee(tf, spec, args.seed, lr, before?.weights) : layersTrainee(tf, tfl, spec, args.seed);
  const { optimizer } = model;
  const stats = layerStats(graphOf(spec, await model.weights()));
  log(
    `${spec.name}: ${stats.totalParams} params, ${stats.totalMacs} MACs/image; ${trainSet.count} train images, ${epochs} epochs, batch ${batch}, ` +
      `Adam lr ${lr}${warmup ? ` (${warmup} warm-up steps)` : ''} cosine${(args.shift ?? spec.train.shift) ? `, random shifts ±${args.shift ?? spec.train.shift} px` : ''}${flip ? ', random flips' : ''}, backend ${tf.getBackend()}`,
  );

  const order = new Prng(args.seed * 104729 + 3);
  const per = trainSet.images.length / trainSet.count;
  const steps = Math.ceil(trainSet.count / batch);
  const total = steps * epochs;
  const xb = new Float32Array(batch * per);
  const yb = new Int32Array(batch);
  const shift = args.shift ?? spec.train.shift ?? 0;
  const tmp = new Float32Array(per);
  const history: CacheFile['history'] = [];
  const teacher = args.distill ? loadOnnx(join(ZOO, `${args.distill}.onnx`)) : undefined;
  const tLabels = new Int32Array(batch);
  let swaSum: TrainedWeights | undefined;
  const started = Date.now();
  let step = 0;
  // the last epoch's evaluation is the final one (same weights)
  let tfjsCorrect = 0;
  for (let e = 0; e < epochs; e++) {
    const perm = order.permutation(trainSet.count);
    let lossSum = 0;
    const t0 = Date.now();
    for (let s = 0; s < steps; s++, step++) {
      const n = Math.min(batch, trainSet.count - s * batch);
      for (let i = 0; i < n; i++) {
        const j = perm[s * batch + i];
        xb.set(trainSet.images.subarray(j * per, (j + 1) * per), i * per);
        yb[i] = trainSet.labels[j];
        if (shift > 0) translate(xb, i * per, trainSet.shape[1], trainSet.shape[2], order.int(2 * shift + 1) - shift, order.int(2 * shift + 1) - shift, tmp);
        if (flip && order.int(2) === 1) flipX(xb, i * per, trainSet.shape[1], trainSet.shape[2]);
      }
      const ramp = step < warmup ? (step + 1) / warmup : 1;
      (optimizer as unknown as { learningRate: number }).learningRate = ramp * lr * 0.5 * (1 + Math.cos((Math.PI * step) / total));
      if (teacher) argmaxRows(Object.values(runFp32(teacher, batchInput(teacher, xb, trainSet.shape, 0, n)))[0], tLabels, 0);
      const loss = await model.fit(xb.subarray(0, n * per), yb.subarray(0, n), n, order, teacher ? tLabels.subarray(0, n) : undefined);
      lossSum += loss * n;
      if (!Number.isFinite(loss)) throw new Error(`${spec.name}: loss became ${loss} at step ${step}`);
      if (s % 200 === 199) log(`${spec.name} epoch ${e + 1}/${epochs} step ${s + 1}/${steps} loss ${loss.toFixed(4)} (${((Date.now() - t0) / (s + 1)).toFixed(0)} ms/step)`);
    }
    const seconds = (Date.now() - t0) / 1000;
    if (args.swa !== undefined && e >= epochs - args.swa) {
      swaSum = addWeights(swaSum, await model.weights());
      // the last epoch's evaluation is the average's (what is exported), not the last weights'
      if (e === epochs - 1) model.load!(scaleWeights(swaSum, 1 / args.swa));
    }
    const correct = await tfjsTop1(model, spec, testSet);
    tfjsCorrect = correct;
    history.push({ epoch: e + 1, loss: lossSum / trainSet.count, testTop1: correct / testSet.count, seconds });
    log(`${spec.name} epoch ${e + 1}/${epochs}: train loss ${(lossSum / trainSet.count).toFixed(4)}, tfjs test top-1 ${((100 * correct) / testSet.count).toFixed(2)} % (${seconds.toFixed(0)} s)`);
  }
  const trainSeconds = Math.round((Date.now() - started) / 100 + (before ? before.trainSeconds * 10 : 0)) / 10;
  const weights = await model.weights();
  const enc: CacheFile['weights'] = {};
  for (const [layer, ws] of Object.entries(weights)) {
    enc[layer] = {};
    for (const [k, w] of Object.entries(ws)) enc[layer][k] = { shape: [...w.shape], f32: Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).toString('base64') };
  }
  const cache: CacheFile = {
    model: spec.name,
    seed: args.seed,
    epochs,
    batch,
    lr,
    backend: args.backend,
    trainSeconds,
    trainedBy:
      (before ? `${before.trainedBy} && ` : '') +
      `npx tsx nets/zoo/train.ts --model ${spec.name} --epochs ${epochs} --seed ${args.seed}${args.lr !== undefined ? ` --lr ${args.lr}` : ''}${args.shift !== undefined ? ` --shift ${args.shift}` : ''}${args.flip ? ' --flip' : ''}${args.distill ? ` --distill ${args.distill}` : ''}${args.swa !== undefined ? ` --swa ${args.swa}` : ''}${before ? ' --resume' : ''}` +
      `${args.limit !== undefined ? ` --limit ${args.limit}` : ''}${args.backend !== 'wasm' ? ` --backend ${args.backend}` : ''}`,
    tfjsTop1: tfjsCorrect / testSet.count,
    tfjsCorrect,
    history: [...(before?.history ?? []), ...history.map((h) => ({ ...h, epoch: h.epoch + (before?.history.length ?? 0) }))],
    layers: archOf(spec),
    weights: enc,
  };
  const file = saveCache(cache);
  log(`${spec.name}: trained in ${trainSeconds} s, tfjs test top-1 ${(100 * cache.tfjsTop1).toFixed(2)} %; weights cached in ${file}`);
  model.dispose();
  return cache;
}

// ---------------------------------------------------------------- conversion

function convert(spec: AnySpec, cache: CacheFile): void {
  if (JSON.stringify(cache.layers) !== JSON.stringify(archOf(spec))) {
    fail(`${spec.name}: cached weights were trained for a different architecture than the spec now has; retrain`);
  }
  const graph = graphOf(spec, cacheWeights(cache), {
    producer: 'qloom nets/zoo/train.ts',
    trainedBy: cache.trainedBy,
    preprocessing: 'float32 pixel/255 in [0,1], no mean subtraction',
  });
  const onnxFile = join(ZOO, `${spec.name}.onnx`);
  writeAtomic(onnxFile, exportOnnx(graph));
  const back = loadOnnx(onnxFile);
  const test = loadDataset(spec.dataset, 'test');
  const t0 = Date.now();
  // default batch: exactly what `qloom eval` runs
  const res = evaluateTop1(back, test);
  const stats = layerStats(back);
  log(
    `${spec.name}: wrote ${onnxFile}; qloom FP32 test top-1 ${(100 * res.top1).toFixed(2)} % (${res.correct}/${res.samples}, ${((Date.now() - t0) / 1000).toFixed(1)} s), ` +
      `tfjs ${(100 * cache.tfjsTop1).toFixed(2)} % (${cache.tfjsCorrect}); ${stats.totalParams} params, ${stats.totalMacs} MACs`,
  );
  if (Math.abs(res.top1 - cache.tfjsTop1) > 0.001) {
    fail(`${spec.name}: qloom FP32 top-1 ${res.top1} and tfjs ${cache.tfjsTop1} differ by more than 0.1 point — conversion bug`);
  }
  const entry: ManifestEntry = {
    file: `${spec.name}.onnx`,
    dataset: spec.dataset,
    split: 'test',
    samples: res.samples,
    top1: res.correct / res.samples,
    input: [...spec.input],
    params: stats.totalParams,
    macs: stats.totalMacs,
    trainedBy: cache.trainedBy,
    seed: cache.seed,
    trainSeconds: cache.trainSeconds,
  };
  // re-read just before writing: another training process may have added its model meanwhile
  const manifestFile = join(ZOO, 'manifest.json');
  const manifest: { models: Record<string, ManifestEntry> } = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : { models: {} };
  manifest.models[spec.name] = entry;
  manifest.models = Object.fromEntries(Object.entries(manifest.models).sort(([a], [b]) => a.localeCompare(b)));
  writeAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  log(`${spec.name}: manifest updated`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const name of args.models) {
    const spec = SPECS[name];
    const cache = args.fromCache ? loadCache(name) : await train(spec, args);
    convert(spec, cache);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`train: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
