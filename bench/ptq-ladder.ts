/**
 * The white paper's PTQ ladder (Nagel et al. 2021, §3–4; DFQ 2019) where it can be judged:
 *  - ppocr-cls (PP-OCR's pretrained MobileNetV3-style direction classifier) on `orientation`,
 *    rendered text lines with labels known by construction — top-1 against ground truth with a
 *    95 % Wilson interval; calibration on the train split, scoring on the disjoint test split;
 *  - fmnist-dwsep on the full Fashion-MNIST test split (10,000);
 *  - mobilenetv2 (nsfwjs) on the photos — SQNR only (no labels): calibrated on the photo set's
 *    calibration half, scored as logits SQNR against the ORIGINAL FP32 model on the held-out half.
 * The peer for every quantized number is the FP32 model in the same run.
 *
 *   npx tsx bench/ptq-ladder.ts [--quick] [--only ppocr-cls|fmnist-dwsep|mobilenetv2] [--paper | --paper-only]
 *
 * MobileNetV2 skips the AdaRound rungs (hours in single-threaded JS). --quick scores on 500 test images; --paper adds AdaRound at the paper's budget (--paper-only runs just that rung and FP32, keeping the other rows) (10,000 steps a
 * layer at lr 1e-3, batch 32: hours on two cores for ppocr-cls). Every finished AdaRound layer is kept in
 * .qloom-cache/adaround/ — the paper rung's in bench/checkpoints/adaround-paper/, committed, since it
 * outlasts a session (content-addressed: a killed run resumes at the layer it was on, and a
 * changed config or calibration never reuses a stale layer). Results: bench/results/ptq-ladder.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { loadPhotos } from '../nets/data/photos.js';
import { wilsonInterval } from '../nets/eval.js';
import type { Graph } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqFlags } from '../quant/config.js';
import { quantizeNetwork, runFp32Batched, type CalibData } from '../quant/pipeline.js';
import { logitsTensor, quantizedOutputs, sqnrDb, top1Of } from '../scenarios/debug.js';
import { adaroundStoreDir } from '../scenarios/quantize.js';
import { writeBenchResult } from './common.js';

interface Rung {
  readonly label: string;
  readonly preset: string;
  readonly flags?: PtqFlags;
  readonly paper?: boolean;
}

/** The ladder: per-tensor baseline, DFQ's steps, per-channel, 4-bit weights with and without AdaRound. */
const LADDER: readonly Rung[] = [
  { label: 'W8A8 per-tensor', preset: 'w8a8-pt' },
  { label: 'W8A8 pt + CLE + BA (ReLU6→ReLU)', preset: 'w8a8-pt-cle' },
  { label: 'W8A8 pt + CLE + BA (ReLU6 kept: skip)', preset: 'w8a8-pt-cle', flags: { cleRelu6: 'skip' } },
  { label: 'W8A8 pt + CLE + BA (ReLU6 kept: per-channel clip)', preset: 'w8a8-pt-cle-clip' },
  { label: 'W8A8 pt + CLE + BA (DFQ: absorb into padded)', preset: 'w8a8-pt-cle', flags: { hbaPadding: 'dfq' } },
  { label: 'W8A8 pt + bias correction', preset: 'w8a8-pt', flags: { biasCorrection: 'empirical' } },
  { label: 'W8A8 pt + CLE + BA + bias correction', preset: 'w8a8-pt-cle', flags: { biasCorrection: 'empirical' } },
  { label: 'W8A8 per-channel', preset: 'w8a8-pc' },
  { label: 'W4A8 per-channel (nearest, MSE)', preset: 'w4a8-pc' },
  { label: 'W4A8 pc + AdaRound (600 steps, lr 1e-2)', preset: 'w4a8-pc-adaround' },
  { label: 'W4A8 pc + AdaRound (paper: 10k steps, lr 1e-3)', preset: 'w4a8-pc-adaround-paper', paper: true },
];

interface Row {
  readonly network: string;
  readonly label: string;
  readonly preset: string;
  readonly top1?: number;
  readonly ci95?: readonly [number, number];
  readonly deltaPt?: number;
  readonly sqnrDbOriginal: number;
  readonly ptqSeconds: number;
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const paperOnly = argv.includes('--paper-only');
const paper = argv.includes('--paper') || paperOnly;
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
const say = (s: string) => process.stderr.write(`${s}\n`);
const CHECKPOINT = join(dirname(fileURLToPath(import.meta.url)), '..', '.qloom-cache', 'adaround');
/**
 * The paper-budget rung's finished layers are kept in the repository: on two cores the rung takes
 * longer than a working session, so each session commits the layers it finished and the next one
 * resumes there (content-addressed by options, weights, inputs and targets: nothing stale is read).
 */
const PAPER_CHECKPOINT = join(dirname(fileURLToPath(import.meta.url)), 'checkpoints', 'adaround-paper');

async function ladder(network: string, graph: Graph, calib: CalibData, test: CalibData & { labels?: Uint8Array }, calibSamples: number, skipAdaround = false): Promise<Row[]> {
  const rows: Row[] = [];
  const logits = logitsTensor(graph);
  const fpOut = runFp32Batched(graph, test);
  const fpLogits = logits === graph.outputs[0].name ? fpOut : runFp32Batched({ ...graph, outputs: [{ name: logits, dtype: 'float32', shape: [] }] }, test);
  const fpTop1 = test.labels ? top1Of(fpOut, test.count, test.labels) : undefined;
  const push = (label: string, preset: string, out: Float32Array | undefined, lg: Float32Array, secs: number) => {
    const k = fpTop1 === undefined || !out ? undefined : Math.round(top1Of(out, test.count, test.labels!) * test.count);
    const ci = k === undefined ? undefined : wilsonInterval(k, test.count);
    const row: Row = {
      network,
      label,
      preset,
      ...(k !== undefined ? { top1: k / test.count, ci95: [ci!.lo, ci!.hi] as const, deltaPt: (k / test.count - fpTop1!) * 100 } : {}),
      sqnrDbOriginal: sqnrDb(fpLogits, lg),
      ptqSeconds: secs,
    };
    rows.push(row);
    const acc = row.top1 === undefined ? '' : `top-1 ${(row.top1 * 100).toFixed(2)} % [${(row.ci95![0] * 100).toFixed(2)}, ${(row.ci95![1] * 100).toFixed(2)}]  Δ ${row.deltaPt!.toFixed(2)} pt  `;
    say(`${network.padEnd(13)} ${label.padEnd(48)} ${acc}logits SQNR ${row.sqnrDbOriginal.toFixed(2)} dB  (PTQ ${secs.toFixed(1)} s)`);
  };
  push('FP32', 'fp32', fpOut, fpLogits, 0);
  for (const r of LADDER) {
    if ((r.paper && !paper) || (paperOnly && !r.paper) || (skipAdaround && r.preset.includes('adaround'))) continue;
    const cfg = resolvePtqConfig(r.preset, { ...r.flags, calibSamples });
    const t0 = performance.now();
    let last = -1;
    const onProgress = (stage: string, done: number, total: number) => {
      if (stage !== 'adaround' || !cfg.adaround) return;
      const perLayer = cfg.adaround.iterations;
      const layer = Math.floor(done / perLayer);
      if (layer !== last && done % perLayer === 0) {
        last = layer;
        say(`  ${network} ${r.label}: AdaRound layer ${layer}/${total / perLayer} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      }
    };
    const res = await quantizeNetwork(graph, calib, cfg, { onProgress, adaroundStore: adaroundStoreDir(r.paper ? PAPER_CHECKPOINT : CHECKPOINT) });
    const secs = (performance.now() - t0) / 1000;
    const out = quantizedOutputs(res.net, graph, test);
    const lg = logits === res.net.outputs[0].name ? out : quantizedOutputs(res.net, graph, test, 250, logits);
    push(r.label, r.preset, out, lg, secs);
  }
  return rows;
}

export async function main(): Promise<unknown> {
  const rows: Row[] = [];
  const testSamples = quick ? 500 : undefined;
  if (!only || only === 'ppocr-cls') {
    const { graph } = loadModel('ppocr-cls');
    const calib = loadDataset('orientation' as DatasetName, 'train', { samples: 256, seed: 0 });
    const test = loadDataset('orientation' as DatasetName, 'test', testSamples ? { samples: testSamples, seed: 1 } : {});
    rows.push(...(await ladder('ppocr-cls', graph, calib, test, 256)));
  }
  if (!only || only === 'fmnist-dwsep') {
    const { graph } = loadModel('fmnist-dwsep');
    const calib = loadDataset('fmnist', 'train', { samples: 1024, seed: 0 });
    const test = loadDataset('fmnist', 'test', testSamples ? { samples: testSamples, seed: 1 } : {});
    rows.push(...(await ladder('fmnist-dwsep', graph, calib, test, 1024)));
  }
  if (!only || only === 'mobilenetv2') {
    const { graph } = loadModel('mobilenetv2');
    const calib = loadPhotos('mobilenetv2', { split: 'calib' });
    const test = loadPhotos('mobilenetv2', { split: 'eval' });
    // AdaRound on MobileNetV2's 52 layers at 224×224 takes hours in single-threaded JS: left out
    rows.push(...(await ladder('mobilenetv2', graph, calib, test, calib.count, true)));
  }
  // rows of the networks not run this time are kept from the previous results (with --paper-only,
  // every row but the ones just measured, by network and rung)
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'ptq-ladder.json');
  const ran = new Set(rows.map((r) => (paperOnly ? `${r.network}|${r.label}` : r.network)));
  const previous: Row[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows : [];
  const all = [...previous.filter((r) => !ran.has(paperOnly ? `${r.network}|${r.label}` : r.network)), ...rows];
  writeBenchResult(file, `${JSON.stringify({ command: 'npx tsx bench/ptq-ladder.ts', quick, rows: all }, null, 2)}\n`);
  say(`wrote ${file}`);
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
