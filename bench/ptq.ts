/**
 * PTQ results and cost (issue 4): the whole `w4a8-pc-adaround` pipeline's wall time on fmnist-cnn
 * (must stay under 5 minutes on the 2-core CI machine), and the issue's accuracy table —
 *   fmnist-cnn / fmnist-dwsep W8A8 per-tensor and per-channel; fmnist-cnn W4A8 per-channel with
 *   AdaRound vs nearest rounding + MSE ranges; fmnist-dwsep W4A8 per-tensor with and without CLE
 *   (calibrated on the Fashion-MNIST train split, top-1 on the full 10k test split, against FP32);
 *   mobilenetv2 (nsfwjs, pretrained) on the photo set: top-1 agreement with FP32 and output SQNR for
 *   W8A8 per-tensor, W8A8 per-tensor + CLE + high-bias absorption, W8A8 per-channel, W4A8
 *   per-channel + AdaRound (calibrated on the photos themselves: the set has 13).
 * The peer for every quantized number is the FP32 model in the same run.
 *
 * Also the memory of calibration, which streams the images through the FP32 executor in batches
 * (each batch's activations dropped as soon as no node reads them): mobilenetv2 calibrated on all
 * photos in a fresh process per batch size (1, 4, all at once), peak RSS during calibration (Linux:
 * VmHWM reset after loading) against the RSS before it (model and photos loaded) — what a batch
 * costs is the gap. The machine's load
 * average is recorded with the AdaRound pipeline's time (2 shared cores: wall time moves with it;
 * CPU time is the process's own).
 *
 *   npm run bench -- ptq            (or: npx tsx bench/ptq.ts [--quick] [--skip-mobilenet | --only-mobilenet])
 *
 * --quick evaluates on a seeded 2 000-image test subset; mobilenetv2's AdaRound runs a reduced
 * budget (QLOOM_MNV2_ADAROUND_ITERS, default 50 steps of 2 photos per layer — at the default
 * 1 000 steps its 52 layers would take hours in single-threaded JS).
 */
import { writeBenchResult } from './common.js';
import { sqnrDb } from '../scenarios/debug.js';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, type LabeledSet } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import { argmaxRows, batchInput, evaluateTop1 } from '../nets/eval.js';
import type { Graph, Tensor } from '../nets/graph.js';
import { photoOutputs } from '../nets/photo-eval.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqFlags } from '../quant/config.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { quantizeNetwork } from '../quant/pipeline.js';
import { foldBatchNorms } from '../quant/bnfold.js';
import { planNetwork } from '../quant/build.js';
import { calibrate } from '../quant/calibrate.js';
import { runQuantized } from '../sim/qexec.js';

interface FmnistRow {
  model: string;
  preset: string;
  label: string;
  fp32Top1: number;
  top1: number;
  deltaPt: number;
  ptqSeconds: number;
  evalSamples: number;
}

interface PhotoRow {
  model: string;
  preset: string;
  label: string;
  agreement: number;
  sqnrDb: number;
  ptqSeconds: number;
  photos: number;
}

/** Quantized outputs (dequantized float logits as the executor returns them) for every image. */
function qOutputs(net: QuantizedNetwork, graph: Graph, images: Float32Array, shape: readonly number[], count: number, batch = 250): Float32Array {
  const name = net.outputs[0].name;
  let out = new Float32Array(0);
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const res = runQuantized(net, batchInput(graph, images, shape, s, n), { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const t = res.outputs[name] as Tensor;
    const d = Float32Array.from(t.data as ArrayLike<number>);
    if (s === 0) out = new Float32Array((d.length / n) * count);
    out.set(d, (d.length / n) * s);
  }
  return out;
}

function top1(outputs: Float32Array, count: number, labels: ArrayLike<number>): number {
  const pred = new Int32Array(count);
  argmaxRows({ dtype: 'float32', shape: [count, outputs.length / count], data: outputs }, pred, 0);
  let c = 0;
  for (let i = 0; i < count; i++) if (pred[i] === labels[i]) c++;
  return c / count;
}

async function timedPtq(graph: Graph, preset: string, flags: PtqFlags, calib: { images: Float32Array; shape: readonly number[]; count: number }) {
  const cfg = resolvePtqConfig(preset, flags);
  const load = loadavg()[0];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await quantizeNetwork(graph, calib, cfg);
  const c = process.cpuUsage(c0);
  // CPU seconds of this (single-threaded) process: what the wall time would be on an idle machine
  return { result: r, seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6, load: [load, loadavg()[0]] as const };
}

export async function main(
  opts: { quick?: boolean; skipMobilenet?: boolean; onlyMobilenet?: boolean; out?: string } = {},
): Promise<{ fmnist: FmnistRow[]; photos: PhotoRow[]; adaroundPipelineSeconds: number }> {
  const quick = opts.quick ?? process.argv.includes('--quick');
  const skipMobilenet = opts.skipMobilenet ?? process.argv.includes('--skip-mobilenet');
  const onlyMobilenet = opts.onlyMobilenet ?? process.argv.includes('--only-mobilenet');
  const test: LabeledSet = quick ? loadDataset('fmnist', 'test', { samples: 2000, seed: 0 }) : loadDataset('fmnist', 'test');
  const fmnist: FmnistRow[] = [];
  let ada: Awaited<ReturnType<typeof timedPtq>> | undefined;

  if (!onlyMobilenet) {
    // 1. the budget: the whole w4a8-pc-adaround pipeline on fmnist-cnn, calibration set as the preset says
    const cnn = loadModel('fmnist-cnn').graph;
    const adaCfg = resolvePtqConfig('w4a8-pc-adaround');
    const calibCnn = loadDataset('fmnist', 'train', { samples: adaCfg.calibSamples, seed: adaCfg.seed });
    process.stdout.write('ptq: w4a8-pc-adaround pipeline on fmnist-cnn …\n');
    ada = await timedPtq(cnn, 'w4a8-pc-adaround', {}, calibCnn);
    const stageMs = ada.result.timingsMs;
    process.stdout.write(`ptq: w4a8-pc-adaround on fmnist-cnn: ${ada.seconds.toFixed(1)} s wall, ${ada.cpuSeconds.toFixed(1)} s CPU, load ${ada.load[0].toFixed(1)} → ${ada.load[1].toFixed(1)} (stages: ${Object.entries(stageMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')})\n`);

    // 2. the fmnist table
    const cases: [string, string, string][] = [
      ['fmnist-cnn', 'w8a8-pt', 'W8A8 per-tensor'],
      ['fmnist-cnn', 'w8a8-pc', 'W8A8 per-channel'],
      ['fmnist-cnn', 'w4a8-pc', 'W4A8 per-channel, nearest + MSE'],
      ['fmnist-cnn', 'w4a8-pc-adaround', 'W4A8 per-channel, AdaRound'],
      ['fmnist-dwsep', 'w8a8-pt', 'W8A8 per-tensor'],
      ['fmnist-dwsep', 'w8a8-pc', 'W8A8 per-channel'],
      ['fmnist-dwsep', 'w4a8-pt', 'W4A8 per-tensor, no CLE'],
      ['fmnist-dwsep', 'w4a8-pt-cle', 'W4A8 per-tensor, CLE + HBA'],
    ];
    const fp32 = new Map<string, number>();
    for (const [model, preset, label] of cases) {
      const graph = loadModel(model).graph;
      if (!fp32.has(model)) fp32.set(model, evaluateTop1(graph, test).top1);
      const cfg = resolvePtqConfig(preset);
      const calib = loadDataset('fmnist', 'train', { samples: cfg.calibSamples, seed: cfg.seed });
      const { result, seconds } = model === 'fmnist-cnn' && preset === 'w4a8-pc-adaround' ? ada! : await timedPtq(graph, preset, {}, calib);
      const q = qOutputs(result.net, graph, test.images, test.shape, test.count);
      const t = top1(q, test.count, test.labels);
      const f = fp32.get(model)!;
      const row = { model, preset, label, fp32Top1: f, top1: t, deltaPt: (t - f) * 100, ptqSeconds: seconds, evalSamples: test.count };
      fmnist.push(row);
      process.stdout.write(`ptq: ${model} ${preset}: top-1 ${(t * 100).toFixed(2)} % (FP32 ${(f * 100).toFixed(2)} %, ${row.deltaPt >= 0 ? '+' : ''}${row.deltaPt.toFixed(2)} pt), PTQ ${seconds.toFixed(1)} s\n`);
    }
  }

  // 3. mobilenetv2 on the photos
  const photos: PhotoRow[] = [];
  if (!skipMobilenet) {
    const mnv2 = loadModel('mobilenetv2').graph;
    const set = loadPhotos('mobilenetv2');
    const calib = { images: set.images, shape: set.shape, count: set.count };
    const fp = photoOutputs(mnv2, 'mobilenetv2');
    const fpPred = new Int32Array(set.count);
    argmaxRows({ dtype: 'float32', shape: [set.count, fp.classes], data: fp.outputs }, fpPred, 0);
    const iters = Number(process.env.QLOOM_MNV2_ADAROUND_ITERS ?? 50);
    const mcases: [string, PtqFlags, string][] = [
      ['w8a8-pt', {}, 'W8A8 per-tensor, no CLE'],
      ['w8a8-pt-cle', {}, 'W8A8 per-tensor, CLE + HBA (ReLU6 → ReLU)'],
      ['w8a8-pc', {}, 'W8A8 per-channel'],
      ['w4a8-pc-adaround', { adaround: { iterations: iters, batchSize: 2 } }, `W4A8 per-channel, AdaRound (${iters} steps × 2 photos)`],
    ];
    for (const [preset, flags, label] of mcases) {
      const { result, seconds } = await timedPtq(mnv2, preset, flags, calib);
      const q = qOutputs(result.net, mnv2, set.images, set.shape, set.count, 4);
      const row = { model: 'mobilenetv2', preset, label, agreement: top1(q, set.count, fpPred), sqnrDb: sqnrDb(fp.outputs, q), ptqSeconds: seconds, photos: set.count };
      photos.push(row);
      process.stdout.write(`ptq: mobilenetv2 ${preset}: agreement ${(row.agreement * 100).toFixed(1)} %, SQNR ${row.sqnrDb.toFixed(2)} dB, PTQ ${seconds.toFixed(1)} s\n`);
    }
  }

  // 4. calibration memory: mobilenetv2 on all photos, one fresh process per batch size
  const calibRss: CalibRss[] = [];
  if (!skipMobilenet) {
    const photoCount = loadPhotos('mobilenetv2').count;
    for (const batch of [...new Set([1, 4, photoCount])]) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--calib-rss=${batch}`], { encoding: 'utf8' });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) throw new Error(`calibration RSS run (batch ${batch}) failed: ${r.stderr.slice(-2000)}`);
      const row = JSON.parse(line) as CalibRss;
      calibRss.push(row);
      process.stdout.write(`ptq: mobilenetv2 calibration on ${row.photos} photos, batches of ${row.batch}: peak RSS ${row.peakRssMiB.toFixed(0)} MiB (${row.beforeRssMiB.toFixed(0)} MiB before: +${(row.peakRssMiB - row.beforeRssMiB).toFixed(0)} MiB), ${row.seconds.toFixed(1)} s\n`);
    }
  }

  const md = [
    `| model | config | FP32 top-1 | quantized top-1 | Δ (pt) | PTQ s |`,
    `| --- | --- | ---: | ---: | ---: | ---: |`,
    ...fmnist.map((r) => `| ${r.model} | ${r.label} (\`${r.preset}\`) | ${(r.fp32Top1 * 100).toFixed(2)} | ${(r.top1 * 100).toFixed(2)} | ${r.deltaPt.toFixed(2)} | ${r.ptqSeconds.toFixed(1)} |`),
    '',
    `| model | config | top-1 agreement with FP32 | output SQNR (dB) | PTQ s |`,
    `| --- | --- | ---: | ---: | ---: |`,
    ...photos.map((r) => `| ${r.model} | ${r.label} (\`${r.preset}\`) | ${(r.agreement * 100).toFixed(1)} % of ${r.photos} | ${r.sqnrDb.toFixed(2)} | ${r.ptqSeconds.toFixed(1)} |`),
    '',
    `| calibration (mobilenetv2, all photos) | batch | RSS before (MiB) | peak RSS (MiB) | s |`,
    `| --- | ---: | ---: | ---: | ---: |`,
    ...calibRss.map((r) => `| ${r.photos} photos | ${r.batch} | ${r.beforeRssMiB.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} | ${r.seconds.toFixed(1)} |`),
  ].join('\n');
  const adaLine = ada ? `w4a8-pc-adaround pipeline on fmnist-cnn: ${ada.seconds.toFixed(1)} s wall, ${ada.cpuSeconds.toFixed(1)} s CPU (load average ${ada.load[0].toFixed(1)} → ${ada.load[1].toFixed(1)} on ${cpus().length} cores)\n\n` : '';
  process.stdout.write(`\n## PTQ on the bundled models (${test.count} fmnist test images)\n\n${adaLine}${md}\n\n`);
  const outArg = process.argv.find((a) => a.startsWith('--out='));
  const out = opts.out ?? (outArg ? outArg.slice(6) : join(dirname(fileURLToPath(import.meta.url)), 'results', 'ptq.json'));
  writeBenchResult(
    out,
    JSON.stringify(
      {
        bench: 'ptq',
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        adaroundPipelineSeconds: ada?.seconds ?? null,
        adaroundPipelineCpuSeconds: ada?.cpuSeconds ?? null,
        adaroundPipelineLoadavg: ada ? { before: ada.load[0], after: ada.load[1] } : null,
        adaroundStagesMs: ada?.result.timingsMs ?? null,
        evalSamples: test.count,
        fmnist,
        photos,
        calibRss,
        markdown: md,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`wrote ${out}\n`);
  return { fmnist, photos, adaroundPipelineSeconds: ada?.seconds ?? NaN };
}

interface CalibRss {
  photos: number;
  batch: number;
  beforeRssMiB: number;
  peakRssMiB: number;
  seconds: number;
}

/** Child-process mode: calibrate mobilenetv2 on all photos in batches of `batch`, print the RSS as JSON. */
function calibRssChild(batch: number): void {
  const set = loadPhotos('mobilenetv2');
  const plan = planNetwork(foldBatchNorms(loadModel('mobilenetv2').graph).graph);
  const before = process.memoryUsage().rss / 2 ** 20;
  // Linux: reset the peak (VmHWM) so that loading's own peak (decoding, parsing) does not count
  let hwm = (): number => process.resourceUsage().maxRSS / 1024;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    hwm = () => Number(/VmHWM:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  } catch {
    // elsewhere: the lifetime peak (an upper bound)
  }
  const t0 = performance.now();
  calibrate(plan, { images: set.images, shape: set.shape, count: set.count }, { batch, inputMeans: true });
  const seconds = (performance.now() - t0) / 1000;
  const row: CalibRss = { photos: set.count, batch, beforeRssMiB: before, peakRssMiB: hwm(), seconds };
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rss = process.argv.find((a) => a.startsWith('--calib-rss='));
  if (rss) calibRssChild(Number(rss.slice('--calib-rss='.length)));
  else await main();
}
