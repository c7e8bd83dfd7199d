/**
 * Quantization-aware training: the fake quantizer's forward values and STE / LSQ gradients against
 * hand calculations; the trainable plan against qloom's own fake-quant executor; resumption from a
 * checkpoint bit for bit; the trained network's integer execution against the fake-quant forward it
 * was trained with; presets refusing what QAT cannot train.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { initTf, type Tf } from '../../../nets/zoo/tfjs-models.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { prepareModel, simulateQuantized, type PreparedModel } from '../../../quant/pipeline.js';
import { dequantizeArray, quantizeArray } from '../../../quant/quantizer.js';
import { fakeQuant, lsqGradScale, type Grid } from '../../../quant/qat/fake-quant.js';
import { QatModel, qatInitOf, qatProblems } from '../../../quant/qat/model.js';
import { resolveQatPreset } from '../../../quant/qat/presets.js';
import { qatTop1, trainQat, type QatCheckpoint } from '../../../quant/qat/train.js';
import { calibrationSet } from '../../../scenarios/datasets.js';
import { quantizedOutputs, top1Of } from '../../../scenarios/debug.js';
import { integerValues, qatNetwork } from '../../../scenarios/qat.js';
import { Prng } from '../../../nets/prng.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await initTf('wasm')).tf;
});

describe('fake quantizer (STE + LSQ)', () => {
  // 4-bit signed narrow grid [−7, 7], scale 0.5, zero point 0
  const grid: Grid = { bits: 4, signed: true, narrow: true, zeroPoint: Int32Array.of(0) };
  const x = Float32Array.of(0.25, 0.75, -0.25, 3.9, -4.0, 1.2);

  it('forward is QuantizeLinear→DequantizeLinear: ties to even, clamped to the narrow range', () => {
    const y = tf.tidy(() => fakeQuant(tf, grid, tf.tensor1d(x), tf.tensor1d([0.5]), 1).dataSync());
    // x/s = 0.5 → 0 (tie to even), 1.5 → 2, −0.5 → code 0 (DequantizeLinear gives +0), 7.8 → clamp 7, −8 → clamp −7, 2.4 → 2
    expect(Array.from(y)).toEqual([0, 1, 0, 3.5, -3.5, 1]);
  });

  it('passes the gradient inside the range only and gives the scale round(v) − v inside, the bound outside (× g)', () => {
    const g = 0.25;
    const { dx, ds } = tf.tidy(() => {
      const xs = tf.tensor1d(x);
      const s = tf.tensor1d([0.5]);
      const dy = tf.tensor1d([1, 2, 3, 4, 5, 6]);
      const grads = tf.grads((a, b) => tf.sum(tf.mul(fakeQuant(tf, grid, a, b, g), dy)))([xs, s]);
      return { dx: grads[0].dataSync(), ds: grads[1].dataSync() };
    });
    expect(Array.from(dx)).toEqual([1, 2, 3, 0, 0, 6]);
    // Σ dy·∂ŷ/∂s: 1·(0 − 0.5) + 2·(2 − 1.5) + 3·(−0 + 0.5) + 4·7 + 5·(−7) + 6·(2 − 2.4)
    const want = (1 * -0.5 + 2 * 0.5 + 3 * 0.5 + 4 * 7 + 5 * -7 + 6 * Math.fround(2 - Math.fround(1.2 / 0.5))) * g;
    expect(ds[0]).toBeCloseTo(want, 5);
  });

  it('gradients equal finite differences of the straight-through surrogate (ŷ = s·clamp(v) + s·c with c = round(v) − v held), on random tensors', () => {
    // the surrogate is what STE + LSQ differentiate: rounding's offset frozen, the clamp kept
    const rng = new Prng(12345);
    const pc: Grid = { bits: 3, signed: false, narrow: false, zeroPoint: Int32Array.of(2, 0, 5) };
    const n = 3 * 40;
    const xv = Float32Array.from({ length: n }, () => (rng.nextU32() / 2 ** 32 - 0.3) * 4);
    const wv = Float32Array.from({ length: n }, () => rng.nextU32() / 2 ** 32 - 0.5);
    const sv = [0.31, 0.17, 0.45];
    const g = 0.37;
    const { dx, ds } = tf.tidy(() => {
      const grads = tf.grads((a, b) => tf.sum(tf.mul(fakeQuant(tf, pc, a, b, g), tf.tensor2d(wv, [3, 40]))))([tf.tensor2d(xv, [3, 40]), tf.tensor1d(sv)]);
      return { dx: grads[0].dataSync(), ds: grads[1].dataSync() };
    });
    const lossAt = (x: ArrayLike<number>, s: number[], c: number[]) => {
      let l = 0;
      for (let i = 0; i < n; i++) {
        const ch = Math.floor(i / 40);
        const lo = 0 - pc.zeroPoint[ch];
        const hi = 7 - pc.zeroPoint[ch];
        const v = x[i] / s[ch];
        const clamped = Math.min(hi, Math.max(lo, v));
        l += wv[i] * (s[ch] * clamped + s[ch] * (v >= lo && v <= hi ? c[i] : 0));
      }
      return l;
    };
    const c0 = Array.from(xv, (x, i) => {
      const s = Math.fround(sv[Math.floor(i / 40)]);
      const v = Math.fround(x / s);
      return Math.round(v) - v + (Math.abs(v - Math.trunc(v)) === 0.5 && Math.round(v) % 2 !== 0 ? -1 : 0);
    });
    const h = 1e-4;
    for (let ch = 0; ch < 3; ch++) {
      const up = [...sv];
      const dn = [...sv];
      up[ch] += h;
      dn[ch] -= h;
      const fd = ((lossAt(xv, up, c0) - lossAt(xv, dn, c0)) / (2 * h)) * g;
      expect(ds[ch]).toBeCloseTo(fd, 3);
    }
    for (const i of [0, 7, 41, 77, 119]) {
      const up = Float64Array.from(xv);
      const dn = Float64Array.from(xv);
      up[i] += h;
      dn[i] -= h;
      const fd = (lossAt(up, sv, c0) - lossAt(dn, sv, c0)) / (2 * h);
      expect(dx[i]).toBeCloseTo(fd, 3);
    }
  });

  it('per-channel scales act on axis 0 and each gets its own gradient', () => {
    const pc: Grid = { bits: 8, signed: true, narrow: true, zeroPoint: Int32Array.of(0, 0) };
    const y = tf.tidy(() => fakeQuant(tf, pc, tf.tensor2d([[0.3, 1000], [0.3, -1000]]), tf.tensor1d([0.1, 1]), 1).dataSync());
    // channel 0: 3 steps of 0.1 (float32) and +127·0.1 clamped; channel 1: 0.3 → 0, −1000 → −127
    expect(Array.from(y)).toEqual([Math.fround(3 * Math.fround(0.1)), Math.fround(127 * Math.fround(0.1)), 0, -127]);
  });

  it('LSQ gradient scale is 1/√(N·Q_P)', () => {
    expect(lsqGradScale({ bits: 4, signed: true, narrow: true, zeroPoint: Int32Array.of(0) }, 63)).toBeCloseTo(1 / Math.sqrt(63 * 7), 12);
    // unsigned 4-bit activations with zero point 0: Q_P = 15
    expect(lsqGradScale({ bits: 4, signed: false, narrow: false, zeroPoint: Int32Array.of(0) }, 100)).toBeCloseTo(1 / Math.sqrt(1500), 12);
  });
});

describe('trainable plan', () => {
  let prep: PreparedModel;
  const model = 'fmnist-dwsep';
  const init = (p: PreparedModel) => qatInitOf(p);
  beforeAll(async () => {
    const cfg = resolvePtqConfig('w8a8-pc');
    prep = await prepareModel(loadModel(model).graph, calibrationSet('fmnist', model, { ...cfg, calibSamples: 256 }), { ...cfg, calibSamples: 256 });
  }, 120_000);

  it('computes what the fake-quant executor computes: the first layer on the same grid, one step apart at most, the logits within rounding flips', () => {
    const m = new QatModel(tf, prep.plan, init(prep));
    const set = loadDataset('fmnist', 'test', { samples: 32, seed: 3 });
    const first = prep.plan.linears[0].output;
    const sim = simulateQuantized(prep.plan, set, { weights: prep.weights, acts: prep.acts }, undefined, { capture: [first] });
    const x = () => tf.tensor(set.images, [32, ...set.shape]);
    const logits = tf.tidy(() => m.forward(x(), 32).dataSync());
    const mine = tf.tidy(() => m.forward(x(), 32, first).dataSync());
    m.dispose();
    const ref = sim.output.data as Float32Array;
    const am = (a: ArrayLike<number>, r: number) => {
      let best = 0;
      for (let j = 1; j < 10; j++) if (a[r * 10 + j] > a[r * 10 + best]) best = j;
      return best;
    };
    let agree = 0;
    for (let r = 0; r < 32; r++) if (am(logits, r) === am(ref, r)) agree++;
    expect(agree).toBeGreaterThanOrEqual(31);
    // float sums in another order can move a value across a rounding boundary: then one step
    const want = sim.captured.get(first)!.data as Float32Array;
    const s0 = prep.acts.get(first)!.scale[0];
    expect(mine.length).toBe(want.length);
    let same = 0;
    for (let i = 0; i < want.length; i++) {
      if (Object.is(mine[i], want[i])) same++;
      else expect(Math.abs(mine[i] - want[i]) / s0).toBeCloseTo(1, 3);
    }
    expect(same / want.length).toBeGreaterThan(0.999);
  });

  it('resumes from an epoch checkpoint to exactly the weights of an uninterrupted run', async () => {
    const train = loadDataset('fmnist', 'train', { samples: 96, seed: 5 });
    const opts = { epochs: 2, lr: 1e-3, scaleLr: 1e-4, batch: 32, seed: 7 };
    const straight = new QatModel(tf, prep.plan, init(prep));
    await trainQat(tf, straight, train, opts);
    const want = await straight.snapshot();
    straight.dispose();

    let saved: QatCheckpoint | undefined;
    const first = new QatModel(tf, prep.plan, init(prep));
    await trainQat(tf, first, train, { ...opts, checkpoint: { load: () => undefined, save: (c) => (saved = saved ?? c) } });
    first.dispose();
    expect(saved?.epoch).toBe(1);
    const resumed = new QatModel(tf, prep.plan, init(prep));
    const r = await trainQat(tf, resumed, train, { ...opts, checkpoint: { load: () => saved, save: () => {} } });
    expect(r.epochsRun).toBe(1);
    const got = await resumed.snapshot();
    resumed.dispose();
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const k of Object.keys(want)) expect(Buffer.from(got[k].buffer).equals(Buffer.from(want[k].buffer)), k).toBe(true);
  }, 120_000);

  it('refuses what it cannot train, naming every node', () => {
    const fake = { ...prep.plan, steps: [...prep.plan.steps, { kind: 'softmax', name: 'sm', node: { name: 'sm', op: 'Softmax', inputs: [], outputs: [], attrs: {} }, inputs: [], output: 'p', act: { kind: 'none' }, nodes: [] }] } as never;
    expect(qatProblems(fake)).toEqual(["node 'sm': Softmax (softmax) has no QAT form yet"]);
    expect(qatProblems(prep.plan)).toEqual([]);
  });
});

describe('QAT result', () => {
  it('runs as integers making the predictions the trained fake-quant forward makes (W4A4, fmnist-dwsep)', async () => {
    const model = 'fmnist-dwsep';
    const { ptq } = resolveQatPreset('w4a4-qat');
    const cfg = { ...ptq, calibSamples: 256 };
    const graph = loadModel(model).graph;
    const prep = await prepareModel(graph, calibrationSet('fmnist', model, cfg), cfg);
    const m = new QatModel(tf, prep.plan, qatInitOf(prep));
    const set = loadDataset('fmnist', 'test', { samples: 300, seed: 11 });
    const before = await qatTop1(tf, m, set);
    await trainQat(tf, m, loadDataset('fmnist', 'train', { samples: 640, seed: 2 }), { epochs: 1, lr: 1e-4, scaleLr: 1e-5, seed: 1 });
    const after = await qatTop1(tf, m, set);
    const fake = tf.tidy(() => m.forward(tf.tensor(set.images, [set.count, ...set.shape]), set.count).dataSync());
    const net = qatNetwork(prep, await m.state(), graph.name, { producer: 'qloom QAT' });
    m.dispose();
    const int = quantizedOutputs(net, graph, set);
    // training moved it: the learned scales and weights are what the integers use
    expect(after).not.toBe(before);
    const argmax = (a: ArrayLike<number>, r: number) => {
      let best = 0;
      for (let j = 1; j < 10; j++) if (a[r * 10 + j] > a[r * 10 + best]) best = j;
      return best;
    };
    let agree = 0;
    for (let r = 0; r < set.count; r++) if (argmax(fake, r) === argmax(int, r)) agree++;
    // fixed-point requantization rounds a few values the other way than float fake quant
    expect(agree / set.count).toBeGreaterThan(0.96);
    expect(Math.abs(top1Of(int, set.count, set.labels) - after)).toBeLessThan(0.03);
  }, 300_000);

  it("with the integer network's values its forward is the exported network's output, bit for bit, and training still moves it", async () => {
    // W8A8: 8-bit float fake quant differs from the integers in places (4-bit sums are exact in float)
    const model = 'fmnist-dwsep';
    const { ptq } = resolveQatPreset('w8a8-qat');
    const cfg = { ...ptq, calibSamples: 128 };
    const graph = loadModel(model).graph;
    const calib = calibrationSet('fmnist', model, cfg);
    const prep = await prepareModel(graph, calib, cfg);
    const m = new QatModel(tf, prep.plan, qatInitOf(prep));
    const integer = integerValues(prep, graph, calib.shape);
    const r = await trainQat(tf, m, loadDataset('fmnist', 'train', { samples: 128, seed: 9 }), { epochs: 1, lr: 1e-3, scaleLr: 1e-4, batch: 32, seed: 3, integer, exactTraining: true });
    expect(r.history[0].loss).toBeGreaterThan(0);
    const set = loadDataset('fmnist', 'test', { samples: 200, seed: 6 });
    const state = m.state();
    const exact = integer(state, set.images, set.count);
    const mine = tf.tidy(() => m.forward(tf.tensor(set.images, [set.count, ...set.shape]), set.count, undefined, exact).dataSync());
    const net = qatNetwork(prep, state, graph.name, {});
    const want = quantizedOutputs(net, graph, set);
    m.dispose();
    expect(mine.length).toBe(want.length);
    let differ = 0;
    for (let i = 0; i < want.length; i++) if (!Object.is(mine[i], want[i])) differ++;
    expect(differ).toBe(0);
    // and the trained weights are not the starting ones
    expect(Array.from(state.weights.get(prep.plan.linears[0].name)!.weight)).not.toEqual(Array.from(prep.plan.linears[0].weight));
  }, 300_000);

  it('a starting point with AdaRound starts from exactly the codes AdaRound chose', async () => {
    const model = 'mnist-mlp';
    const cfg = resolvePtqConfig('w4a8-pc', { adaround: { iterations: 40, batchSize: 16 }, calibSamples: 64 });
    const graph = loadModel(model).graph;
    const prep = await prepareModel(graph, calibrationSet('mnist', model, cfg), cfg);
    const start = new Map(prep.plan.linears.map((s) => [s.name, dequantizeArray(prep.weights.get(s.name)!.codes, prep.weights.get(s.name)!.q, s.wShape)]));
    const m = new QatModel(tf, prep.plan, qatInitOf(prep, start));
    const net = qatNetwork(prep, m.state(), graph.name, {});
    m.dispose();
    let moved = 0;
    for (const s of prep.plan.linears) {
      const layer = net.layers.find((l) => l.name === s.name) as unknown as { weight: { data: Int32Array } };
      expect(Array.from(layer.weight.data)).toEqual(Array.from(prep.weights.get(s.name)!.codes));
      // AdaRound moved codes off nearest rounding, so the start is not the nearest-rounded float weights
      const nearest = quantizeArray(s.weight, prep.weights.get(s.name)!.q, s.wShape);
      for (let i = 0; i < nearest.length; i++) if (nearest[i] !== layer.weight.data[i]) moved++;
    }
    expect(moved).toBeGreaterThan(0);
  }, 120_000);

  it('presets: unknown names and PTQ-only settings are refused all at once', () => {
    expect(() => resolveQatPreset('w4a4-qatt')).toThrow(/unknown preset 'w4a4-qatt'/);
    let msg = '';
    try {
      resolveQatPreset('mxfp4', { epochs: 0, lr: -1 });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/format: number format 'mxfp4-e2m1' has no fake quantizer/);
    expect(msg).toMatch(/epochs/);
    expect(msg).toMatch(/lr/);
    expect(resolveQatPreset('w3a3-qat').ptq.weights.bits).toBe(3);
    expect(resolveQatPreset('w3a3-qat').ptq.activations.bits).toBe(3);
    expect(resolveQatPreset('w2a4-qat').ptq.weights.perChannel).toBe(true);
  });
});

