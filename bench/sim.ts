/**
 * Functional + timing run of `fmnist-cnn` (quantized w8a8-pc) on `edge-npu` over 1,000 fmnist
 * test images, against the functional executor alone (runQuantized, same accumulation order) in
 * the same process. Reports wall times, simulated MAC/s (MACs of the batch ÷ wall time) and
 * checks that both produce the same outputs.
 *
 * The timing run times one inference; each batch of images executes through its tile events
 * (sim/functional.ts), so the functional column is the cost of running integer kernels fold by
 * fold from engine events, the peer column the cost of the plain executor (WASM SIMD where it can).
 *
 *   npm run bench -- sim        (or: npx tsx bench/sim.ts [images] [batch])
 */
import { presetSpec } from '../arch/spec.js';
import { loadDataset } from '../nets/data/index.js';
import type { Tensor } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { simulate, workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { createFunctionalSink, timingAccumulator, timingOrder } from '../sim/functional.js';
import { runQuantized } from '../sim/qexec.js';

export async function main(): Promise<unknown> {
  const images = Number(process.argv.find((a, i) => i > 1 && /^\d+$/.test(a)) ?? 1000);
  const batch = 100;
  const { resolvePtqConfig } = await import('../quant/config.js');
  const { quantizeNetwork } = await import('../quant/pipeline.js');
  const spec = presetSpec('edge-npu');
  const cfg = resolvePtqConfig('w8a8-pc');
  const calib = loadDataset('fmnist', 'train', { samples: cfg.calibSamples, seed: cfg.seed });
  const tq = performance.now();
  const { net } = await quantizeNetwork(loadModel('fmnist-cnn').graph, { images: calib.images, shape: calib.shape, count: calib.count }, cfg);
  const quantizeMs = performance.now() - tq;
  const set = loadDataset('fmnist', 'test', { samples: images, seed: 0 });
  const per = 28 * 28;
  const inName = net.inputs[0].name;
  const workload = workloadFromQuantizedNetwork(net, [1, 1, 28, 28], spec);
  const opts = { requant: { mode: 'float' as const }, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form };

  let simMs = 0;
  let refMs = 0;
  let macsPerInference = 0;
  let cycles = 0;
  let same = true;
  let engineOnlyMs = 0;
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const feeds: Record<string, Tensor> = { [inName]: { dtype: 'float32', shape: [n, 1, 28, 28], data: set.images.subarray(s * per, (s + n) * per) } };
    // interleaved, so machine load hits both alike
    const t0 = performance.now();
    const sink = createFunctionalSink(net, spec, feeds, { requant: opts.requant });
    const r = simulate(spec, workload, { functional: sink });
    const got = sink.result();
    const t1 = performance.now();
    const want = runQuantized(net, feeds, opts);
    const t2 = performance.now();
    simulate(spec, workload);
    const t3 = performance.now();
    simMs += t1 - t0;
    refMs += t2 - t1;
    engineOnlyMs += t3 - t2;
    macsPerInference = r.totals.macs;
    cycles = r.totals.cycles;
    for (const o of net.outputs) {
      const a = got.outputs[o.name].data as ArrayLike<number>;
      const b = want.outputs[o.name].data as ArrayLike<number>;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) same = false;
    }
  }
  const macs = macsPerInference * set.count;
  const report = {
    model: 'fmnist-cnn w8a8-pc',
    arch: spec.name,
    images: set.count,
    batch,
    quantizeSeconds: +(quantizeMs / 1000).toFixed(2),
    macsPerInference,
    cyclesPerInference: cycles,
    timingPlusFunctionalSeconds: +(simMs / 1000).toFixed(3),
    functionalExecutorSeconds: +(refMs / 1000).toFixed(3),
    timingOnlySeconds: +(engineOnlyMs / 1000).toFixed(3),
    simulatedMacsPerSecond: Math.round(macs / (simMs / 1000)),
    executorMacsPerSecond: Math.round(macs / (refMs / 1000)),
    ratio: +(simMs / refMs).toFixed(2),
    outputsEqual: same,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
