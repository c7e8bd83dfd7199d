/**
 * How qloom's cost grows: CPU time against samples (100, 1,000, 10,000 fmnist test images on
 * fmnist-cnn) and against MACs (across the zoo), for FP32 evaluation, integer evaluation (the
 * prepared QuantizedExecutor) and functional + timing (evaluateOnArch on edge-npu: what `qloom run
 * --model` and scenario points call). CPU seconds of this process (user + system), not wall time,
 * so other load on the machine matters less; each row also gives the wall time.
 *
 *   npx tsx bench/growth.ts [--quick]      (--quick: 100 and 1,000 samples only)
 *
 * Linear growth shows as a constant time per sample (and per MAC); fixed costs (PTQ, the one
 * timing run, preparing layers) are measured apart and not in the per-sample figures.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec } from '../arch/spec.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import type { Tensor } from '../nets/graph.js';
import { numel } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig } from '../quant/config.js';
import { quantizeNetwork, runFp32Batched, type CalibData } from '../quant/pipeline.js';
import { evaluateOnArch, inputShapeFor } from '../scenarios/evaluate.js';
import { timingAccumulator, timingOrder } from '../sim/functional.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { writeBenchResult } from './common.js';

const quick = process.argv.includes('--quick');
const say = (s: string) => process.stderr.write(`${s}\n`);

interface Timed {
  readonly cpuS: number;
  readonly wallS: number;
}

async function timed(f: () => unknown): Promise<Timed> {
  const c = process.cpuUsage();
  const t = performance.now();
  await f();
  const u = process.cpuUsage(c);
  return { cpuS: (u.user + u.system) / 1e6, wallS: (performance.now() - t) / 1000 };
}

function runInteger(net: QuantizedNetwork, set: CalibData, batch = 100): void {
  const spec = presetSpec('edge-npu');
  const ex = new QuantizedExecutor(net, { requant: { mode: 'float' }, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form });
  const per = numel(set.shape);
  const inName = net.inputs[0].name;
  const shape = inputShapeFor(net, set.shape);
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const feeds: Record<string, Tensor> = { [inName]: { dtype: 'float32', shape: [n, ...shape], data: set.images.subarray(s * per, (s + n) * per) } };
    ex.run(feeds);
  }
}

interface Model {
  readonly name: string;
  readonly calib: () => CalibData;
  readonly set: (n: number) => CalibData & { labels?: Uint8Array };
  readonly samples: number;
}

const fmnist = (name: string, samples: number): Model => ({
  name,
  calib: () => loadDataset('fmnist', 'train', { samples: 256, seed: 0 }),
  set: (n) => loadDataset('fmnist', 'test', { samples: n, seed: 1 }),
  samples,
});

export async function main(): Promise<unknown> {
  const spec = presetSpec('edge-npu');
  const out: Record<string, unknown> = { command: `npx tsx bench/growth.ts${quick ? ' --quick' : ''}` };

  // --- time against samples, fmnist-cnn
  const graph = loadModel('fmnist-cnn').graph;
  const calib = loadDataset('fmnist', 'train', { samples: 256, seed: 0 });
  let net!: QuantizedNetwork;
  const ptq = await timed(async () => (net = (await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 256 }))).net));
  say(`fmnist-cnn w8a8-pc PTQ (256 calibration images): ${ptq.cpuS.toFixed(1)} s CPU`);
  const bySamples = [];
  for (const n of quick ? [100, 1000] : [100, 1000, 10000]) {
    const set = loadDataset('fmnist', 'test', n < 10000 ? { samples: n, seed: 1 } : {});
    const fp32 = await timed(() => runFp32Batched(graph, set, 100));
    const integer = await timed(() => runInteger(net, set));
    const arch = await timed(() => evaluateOnArch(spec, net, set, { batch: 100 }));
    const row = { samples: set.count, fp32, integer, functionalTiming: arch, perSampleMs: { fp32: (1000 * fp32.cpuS) / set.count, integer: (1000 * integer.cpuS) / set.count, functionalTiming: (1000 * arch.cpuS) / set.count } };
    say(`  ${String(set.count).padStart(5)} images: CPU ms/image FP32 ${row.perSampleMs.fp32.toFixed(3)}, integer ${row.perSampleMs.integer.toFixed(3)}, functional+timing ${row.perSampleMs.functionalTiming.toFixed(3)}`);
    bySamples.push(row);
  }
  out.bySamples = bySamples;

  // --- time against MACs, across the zoo (100 samples each; fixed costs apart)
  const models: Model[] = [
    { name: 'mnist-mlp', calib: () => loadDataset('mnist', 'train', { samples: 256, seed: 0 }), set: (n) => loadDataset('mnist', 'test', { samples: n, seed: 1 }), samples: 1000 },
    fmnist('fmnist-dwsep', 500),
    fmnist('fmnist-cnn', 500),
    { name: 'ppocr-cls', calib: () => loadDataset('orientation' as DatasetName, 'train', { samples: 64, seed: 0 }), set: (n) => loadDataset('orientation' as DatasetName, 'test', { samples: n, seed: 1 }), samples: 100 },
    { name: 'mobilenetv2', calib: () => loadPhotos('mobilenetv2', { split: 'calib' }), set: () => loadPhotos('mobilenetv2', { split: 'eval' }), samples: 0 },
  ];
  const byModel = [];
  for (const m of models) {
    const g = loadModel(m.name).graph;
    const c = m.calib();
    const set = m.set(m.samples);
    const q = (await quantizeNetwork(g, c, resolvePtqConfig('w8a8-pc', { calibSamples: c.count }))).net;
    const fp32 = await timed(() => runFp32Batched(g, set, 50));
    const integer = await timed(() => runInteger(q, set, 50));
    let macs = 0;
    const arch = await timed(async () => (macs = (await evaluateOnArch(spec, q, set, { batch: 50 })).result.totals.macs));
    const perSample = (t: Timed) => (1000 * t.cpuS) / set.count;
    const row = { model: m.name, macs, samples: set.count, msPerSample: { fp32: perSample(fp32), integer: perSample(integer), functionalTiming: perSample(arch) }, nsPerMac: { fp32: (1e9 * fp32.cpuS) / set.count / macs, integer: (1e9 * integer.cpuS) / set.count / macs, functionalTiming: (1e9 * arch.cpuS) / set.count / macs } };
    say(`  ${m.name.padEnd(13)} ${(macs / 1e6).toFixed(2).padStart(8)} M MACs: CPU ms/sample FP32 ${row.msPerSample.fp32.toFixed(2)}, integer ${row.msPerSample.integer.toFixed(2)}, functional+timing ${row.msPerSample.functionalTiming.toFixed(2)} (ns/MAC ${row.nsPerMac.fp32.toFixed(2)} / ${row.nsPerMac.integer.toFixed(2)} / ${row.nsPerMac.functionalTiming.toFixed(2)})`);
    byModel.push(row);
  }
  out.byModel = byModel;
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'growth.json');
  writeBenchResult(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`wrote ${file}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
