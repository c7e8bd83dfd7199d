/**
 * Functional + timing run of `fmnist-cnn` (quantized w8a8-pc) on `edge-npu` over 1,000 fmnist
 * test images, against the functional executor alone, in the same process:
 *
 *  - functional + timing: evaluateOnArch — what `qloom run --model` and the scenario runner call:
 *    the engine times one inference once (its counts do not depend on the data), every batch of
 *    100 images runs through the integer executor in the engine's accumulation order, layers
 *    prepared once;
 *  - peer: the same executor alone (QuantizedExecutor, same order, accumulator, PE form, requant);
 *  - for reference, the old way on the first `TILE_IMAGES` images: a timing run per batch with
 *    the functional work tile by tile from its events (`evaluateOnArch(…, { tiles: true })`).
 *
 * Rounds alternate (functional + timing, then the peer), so machine load hits both alike; the
 * medians are reported with the load average and CPU seconds, and the outputs are compared.
 *
 *   npm run bench -- sim        (or: npx tsx bench/sim.ts [images])
 */
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec } from '../arch/spec.js';
import { loadDataset } from '../nets/data/index.js';
import type { Tensor } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { evaluateOnArch } from '../scenarios/evaluate.js';
import { workloadFromQuantizedNetwork, simulate } from '../sim/engine/index.js';
import { timingAccumulator, timingOrder } from '../sim/functional.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import { median, writeBenchResult } from './common.js';

const ROUNDS = 3;
const TILE_IMAGES = 200;

function cpuMs(c: NodeJS.CpuUsage): number {
  return (c.user + c.system) / 1000;
}

export async function main(): Promise<unknown> {
  const images = Number(process.argv.find((a, i) => i > 1 && /^\d+$/.test(a)) ?? 1000);
  const batch = 100;
  const loadBefore = loadavg();
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
  const requant = { mode: 'float' as const };
  const opts = { requant, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form };
  const workload = workloadFromQuantizedNetwork(net, [1, 1, 28, 28], spec);

  /** the peer: the prepared executor over every batch; the first output of every sample */
  const executorRun = (): Float32Array => {
    const ex = new QuantizedExecutor(net, opts);
    const outs = new Float32Array(set.count * 10);
    for (let s = 0; s < set.count; s += batch) {
      const n = Math.min(batch, set.count - s);
      const feeds: Record<string, Tensor> = { [inName]: { dtype: 'float32', shape: [n, 1, 28, 28], data: set.images.subarray(s * per, (s + n) * per) } };
      outs.set(ex.run(feeds).outputs[net.outputs[0].name].data as Float32Array, s * 10);
    }
    return outs;
  };

  const simWall: number[] = [];
  const simCpu: number[] = [];
  const refWall: number[] = [];
  const refCpu: number[] = [];
  let same = true;
  let evaluation: Awaited<ReturnType<typeof evaluateOnArch>> | null = null;
  for (let r = 0; r < ROUNDS; r++) {
    let c = process.cpuUsage();
    let t = performance.now();
    evaluation = await evaluateOnArch(spec, net, set, { batch, requant: 'float' });
    simWall.push(performance.now() - t);
    simCpu.push(cpuMs(process.cpuUsage(c)));
    c = process.cpuUsage();
    t = performance.now();
    const want = executorRun();
    refWall.push(performance.now() - t);
    refCpu.push(cpuMs(process.cpuUsage(c)));
    for (let i = 0; i < want.length; i++) if (want[i] !== evaluation.outputs[i]) same = false;
  }
  // the old way, on a prefix: a timing run per batch, functional work tile by tile from its events
  const head = { ...set, count: Math.min(TILE_IMAGES, set.count) };
  let c = process.cpuUsage();
  let t = performance.now();
  const tiled = await evaluateOnArch(spec, net, head, { batch, requant: 'float', tiles: true });
  const tilesWall = performance.now() - t;
  const tilesCpu = cpuMs(process.cpuUsage(c));
  for (let i = 0; i < tiled.outputs.length; i++) if (tiled.outputs[i] !== evaluation!.outputs[i]) same = false;
  c = process.cpuUsage();
  t = performance.now();
  simulate(spec, workload);
  const timingOnlyMs = performance.now() - t;

  const macs = evaluation!.result.totals.macs * set.count;
  const sim = median(simWall);
  const ref = median(refWall);
  const report = {
    bench: 'sim',
    date: new Date().toISOString(),
    node: process.version,
    model: 'fmnist-cnn w8a8-pc',
    arch: spec.name,
    images: set.count,
    batch,
    loadAverage: { before: loadBefore, after: loadavg() },
    method: `median of ${ROUNDS} alternating rounds (functional + timing, then the executor alone); wall and CPU ms`,
    quantizeSeconds: +(quantizeMs / 1000).toFixed(2),
    macsPerInference: evaluation!.result.totals.macs,
    cyclesPerInference: evaluation!.result.totals.cycles,
    timingPlusFunctionalSeconds: +(sim / 1000).toFixed(3),
    functionalExecutorSeconds: +(ref / 1000).toFixed(3),
    timingPlusFunctionalCpuSeconds: +(median(simCpu) / 1000).toFixed(3),
    functionalExecutorCpuSeconds: +(median(refCpu) / 1000).toFixed(3),
    timingOnlySeconds: +(timingOnlyMs / 1000).toFixed(3),
    simulatedMacsPerSecond: Math.round(macs / (sim / 1000)),
    executorMacsPerSecond: Math.round(macs / (ref / 1000)),
    ratio: +(sim / ref).toFixed(2),
    ratioCpu: +(median(simCpu) / median(refCpu)).toFixed(2),
    target: 1.5,
    met: sim / ref <= 1.5,
    tileByTile: {
      images: head.count,
      seconds: +(tilesWall / 1000).toFixed(3),
      cpuSeconds: +(tilesCpu / 1000).toFixed(3),
      /** per image, against the executor's per image */
      ratio: +(tilesWall / head.count / (ref / set.count)).toFixed(2),
    },
    outputsEqual: same,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'sim.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
