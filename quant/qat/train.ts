/**
 * The QAT training loop: Adam on the weights and biases and (LSQ) on the quantizers' scales, a
 * cosine learning-rate decay over all steps, softmax cross-entropy on the fake-quant logits,
 * a seeded data order per epoch, per-epoch checkpoints that resume bit for bit.
 *
 * Determinism: epoch e's order is a permutation drawn from a Prng seeded by (seed, e), so a run
 * resumed at epoch e sees the same batches as one that never stopped; the checkpoint holds every
 * variable and both Adam states (moments and step counts), and the wasm kernels are
 * deterministic. Two learning rates: the scales move on a grid where one step changes every
 * rounding decision, so they get `scaleLr` (default lr / 10); LSQ's gradient scale g makes the
 * scales' raw gradients commensurate, Adam's normalization then sets the step.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { LabeledSet } from '../../nets/data/index.js';
import { Prng } from '../../nets/prng.js';
import type { IntegerValues, QatModel } from './model.js';

type Tf = typeof TfCore;

export interface QatTrainOptions {
  readonly epochs: number;
  /** peak learning rate of the weights and biases */
  readonly lr: number;
  /** peak learning rate of the scales; default lr / 10 */
  readonly scaleLr?: number;
  readonly batch?: number;
  readonly seed: number;
  /** images scored after each epoch (fake-quant top-1); none: no per-epoch score */
  readonly evalSet?: LabeledSet;
  readonly checkpoint?: QatCheckpointStore;
  /** every `every` steps and at each epoch's end */
  readonly onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  readonly onEpoch?: (e: QatEpoch) => void;
  /**
   * the integer network's values for a batch (QatModel.forward's `exact`): with it the per-epoch
   * score is the integer network's, and with `exactTraining` every training step's forward too
   */
  readonly integer?: IntegerValues;
  readonly exactTraining?: boolean;
}

export interface QatEpoch {
  readonly epoch: number;
  readonly loss: number;
  /** fake-quant top-1 on evalSet (absent without one) */
  readonly evalTop1?: number;
  readonly seconds: number;
}

/** What a checkpoint holds: after `epoch` epochs, every variable and both optimizers' state. */
export interface QatCheckpoint {
  readonly epoch: number;
  readonly history: readonly QatEpoch[];
  readonly variables: Readonly<Record<string, Float32Array>>;
  readonly optimizers: readonly (readonly { name: string; shape: number[]; data: Float32Array }[])[];
}

export interface QatCheckpointStore {
  load(): QatCheckpoint | undefined;
  save(c: QatCheckpoint): void;
}

export interface QatTrainResult {
  readonly history: readonly QatEpoch[];
  /** epochs trained in this call (the rest came from a checkpoint) */
  readonly epochsRun: number;
  readonly seconds: number;
}

/** Top-1 of `model` on `set`: its fake-quant forward, or with `integer` the integer network's. */
export async function qatTop1(tf: Tf, model: QatModel, set: LabeledSet, batch = 500, integer?: IntegerValues): Promise<number> {
  const per = set.images.length / set.count;
  let correct = 0;
  const state = integer ? model.state() : undefined;
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const images = set.images.subarray(s * per, (s + n) * per);
    const exact = integer ? integer(state!, images, n) : undefined;
    const y = tf.tidy(() => model.forward(tf.tensor(images, [n, ...set.shape]), n, undefined, exact));
    const d = (await y.data()) as Float32Array;
    y.dispose();
    const k = d.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (d[i * k + j] > d[i * k + best]) best = j;
      if (best === set.labels[s + i]) correct++;
    }
  }
  return correct / set.count;
}

async function optimizerState(opt: TfCore.Optimizer, prefix: string): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
  const ws = await opt.getWeights();
  return Promise.all(ws.map(async (w) => ({ name: w.name.replace(prefix, ''), shape: [...w.tensor.shape], data: Float32Array.from((await w.tensor.data()) as Float32Array) })));
}

export async function trainQat(tf: Tf, model: QatModel, train: LabeledSet, opts: QatTrainOptions): Promise<QatTrainResult> {
  const batch = opts.batch ?? 64;
  const scaleLr = opts.scaleLr ?? opts.lr / 10;
  const { weights, scales } = model.variables();
  const optW = tf.train.adam(opts.lr);
  const optS = tf.train.adam(scaleLr);
  const per = train.images.length / train.count;
  const steps = Math.ceil(train.count / batch);
  const total = steps * opts.epochs;
  const classes = model.classes();
  let history: QatEpoch[] = [];
  let start = 0;
  const ck = opts.checkpoint?.load();
  if (ck && ck.epoch <= opts.epochs) {
    // Adam's slots exist only after a first step: one zero-rate step (variables unchanged) creates them, then they are overwritten
    await restoreOptimizer(tf, optW, weights, ck.optimizers[0], model.prefix);
    await restoreOptimizer(tf, optS, scales, ck.optimizers[1], model.prefix);
    model.restore(ck.variables);
    history = [...ck.history];
    start = ck.epoch;
  }
  const xb = new Float32Array(batch * per);
  const yb = new Int32Array(batch);
  const t0 = Date.now();
  for (let e = start; e < opts.epochs; e++) {
    const te = Date.now();
    const perm = new Prng(opts.seed * 1000003 + e * 7919 + 1).permutation(train.count);
    let lossSum = 0;
    for (let s = 0; s < steps; s++) {
      const n = Math.min(batch, train.count - s * batch);
      for (let i = 0; i < n; i++) {
        const j = perm[s * batch + i];
        xb.set(train.images.subarray(j * per, (j + 1) * per), i * per);
        yb[i] = train.labels[j];
      }
      const cos = 0.5 * (1 + Math.cos((Math.PI * (e * steps + s)) / total));
      (optW as unknown as { learningRate: number }).learningRate = opts.lr * cos;
      (optS as unknown as { learningRate: number }).learningRate = scaleLr * cos;
      const images = xb.subarray(0, n * per);
      const exact = opts.exactTraining && opts.integer ? opts.integer(model.state(), images, n) : undefined;
      const x = tf.tensor(images, [n, ...train.shape]);
      const lab = tf.tensor1d(yb.subarray(0, n), 'int32');
      const y = tf.oneHot(lab, classes);
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, n, undefined, exact)) as TfCore.Scalar, [...weights, ...scales]);
      optW.applyGradients(Object.fromEntries(weights.map((v) => [v.name, grads[v.name]])) as TfCore.NamedTensorMap as never);
      optS.applyGradients(Object.fromEntries(scales.map((v) => [v.name, grads[v.name]])) as TfCore.NamedTensorMap as never);
      const loss = (await value.data())[0];
      tf.dispose([x, lab, y, value, ...Object.values(grads)]);
      if (!Number.isFinite(loss)) throw new Error(`QAT: the loss became ${loss} at epoch ${e + 1}, step ${s + 1}`);
      lossSum += loss * n;
      opts.onStep?.(e + 1, s + 1, steps, loss);
    }
    const evalTop1 = opts.evalSet ? await qatTop1(tf, model, opts.evalSet, 500, opts.integer) : undefined;
    const ep: QatEpoch = { epoch: e + 1, loss: lossSum / train.count, ...(evalTop1 !== undefined && { evalTop1 }), seconds: (Date.now() - te) / 1000 };
    history.push(ep);
    opts.onEpoch?.(ep);
    opts.checkpoint?.save({ epoch: e + 1, history, variables: await model.snapshot(), optimizers: [await optimizerState(optW, model.prefix), await optimizerState(optS, model.prefix)] });
  }
  optW.dispose();
  optS.dispose();
  return { history, epochsRun: opts.epochs - start, seconds: (Date.now() - t0) / 1000 };
}

async function restoreOptimizer(tf: Tf, opt: TfCore.Optimizer, vars: TfCore.Variable[], state: QatCheckpoint['optimizers'][number], prefix: string): Promise<void> {
  const lr = (opt as unknown as { learningRate: number }).learningRate;
  (opt as unknown as { learningRate: number }).learningRate = 0;
  tf.tidy(() => opt.applyGradients(Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)])) as TfCore.NamedTensorMap as never));
  (opt as unknown as { learningRate: number }).learningRate = lr;
  const cur = await opt.getWeights();
  const byName = new Map(state.map((s) => [s.name, s]));
  const next = cur.map((w) => {
    const s = byName.get(w.name.replace(prefix, ''));
    if (!s) throw new Error(`QAT checkpoint: optimizer slot '${w.name}' missing`);
    return { name: w.name, tensor: tf.tensor(s.data, s.shape) };
  });
  await opt.setWeights(next);
}
