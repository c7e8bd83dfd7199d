/**
 * runQuantizedBatches: the same outputs and overflow totals on worker threads as on this thread,
 * bit for bit, and the same as one runQuantized call over every sample; a narrow accumulator so
 * that overflow events are counted.
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolvePtqConfig } from '../../../quant/config.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import { evaluationSet, type EvalSet } from '../../../scenarios/datasets.js';
import { QuantizedBatchRunner, runQuantizedBatches } from '../../../scenarios/qexec-pool.js';
import { quantizeModel } from '../../../scenarios/quantize.js';
import { runQuantized } from '../../../sim/qexec.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

describe.skipIf(!existsSync(FMNIST))('runQuantizedBatches', () => {
  let net: QuantizedNetwork;
  let set: EvalSet;
  beforeAll(async () => {
    net = (await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pc', { calibSamples: 32, seed: 0 }))).net;
    set = evaluationSet('fmnist', 'fmnist-cnn', 37, 0);
  }, 120_000);

  it('two workers = this thread = one run over every sample, bit for bit', async () => {
    const exec = { requant: { mode: 'fixed' as const }, acc: { bits: 18, policy: 'saturate' as const }, order: { kOrder: 'kkc' as const, kTile: 16 } };
    const one = await runQuantizedBatches(net, set.images, set.shape, set.count, { exec, batch: 8 });
    const progress: number[] = [];
    const two = await runQuantizedBatches(net, set.images, set.shape, set.count, { exec, batch: 8, workers: 2, onProgress: (d) => progress.push(d) });
    expect(two.outputs).toEqual(one.outputs);
    expect(JSON.stringify(two.overflow)).toBe(JSON.stringify(one.overflow));
    expect(progress.at(-1)).toBe(37);
    const all = runQuantized(net, { [net.inputs[0].name]: { dtype: 'float32', shape: [set.count, ...set.shape], data: set.images } }, exec);
    expect(one.outputs).toEqual(all.outputs[net.outputs[0].name].data);
    let events = 0;
    for (const [name, r] of Object.entries(all.overflow)) {
      expect(one.overflow[name]).toEqual({ events: r.events, psumEvents: r.psumEvents, maxAbs: r.maxAbs });
      events += r.events;
    }
    expect(events).toBeGreaterThan(0);
  }, 120_000);

  it('a runner kept between runs (its pool of workers, its prepared layers) gives each run the same results as a fresh one', async () => {
    const exec = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };
    const fresh = await runQuantizedBatches(net, set.images, set.shape, set.count, { exec, batch: 8 });
    const all = runQuantized(net, { [net.inputs[0].name]: { dtype: 'float32', shape: [set.count, ...set.shape], data: set.images } }, exec);
    expect(fresh.outputs).toEqual(all.outputs[net.outputs[0].name].data);
    for (const workers of [1, 2]) {
      const runner = new QuantizedBatchRunner(net, set.shape, { exec, batch: 8, workers });
      try {
        for (let r = 0; r < 2; r++) {
          const got = await runner.run(set.images, set.count);
          expect(got.outputs, `workers ${workers} run ${r}`).toEqual(fresh.outputs);
          expect(JSON.stringify(got.overflow)).toBe(JSON.stringify(fresh.overflow));
        }
        // fewer samples than before: only the first batches
        const part = await runner.run(set.images, 11);
        expect(part.outputs).toEqual(fresh.outputs.subarray(0, (fresh.outputs.length / set.count) * 11));
      } finally {
        await runner.close();
      }
    }
  }, 120_000);

  it('eval --quant on two workers: the same float outputs as the single-thread evaluation', async () => {
    const { quantizedOutputs, quantizedOutputsOnWorkers } = await import('../../../scenarios/debug.js');
    const { loadModel } = await import('../../../nets/zoo/index.js');
    const graph = loadModel('fmnist-cnn').graph;
    const data = { images: set.images, shape: set.shape, count: set.count };
    const one = quantizedOutputs(net, graph, data, 8);
    const two = await quantizedOutputsOnWorkers(net, graph, data, 2, 8);
    expect(two.length).toBe(one.length);
    expect(Array.from(two)).toEqual(Array.from(one));
  }, 120_000);
});
