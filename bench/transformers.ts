/**
 * Transformers on the accelerator: what quantization does to a vision transformer trained here
 * (fmnist-vit, Fashion-MNIST test split) and what its attention costs on the simulated arrays.
 *
 *   npx tsx bench/transformers.ts [--quick] [--samples N] [--arch-samples N] [--lines N] [--no-vit] [--no-rec] [--sens-bits B] [--sens-only]
 *
 * - FP32 top-1: qloom's FP32 executor and onnxruntime-node on the same file (the peer);
 * - W8A8 per-channel with uniform quantizers everywhere and ONNX Runtime's softmax arithmetic
 *   (float LayerNorm, GELU table) against the integer-only variant (I-BERT softmax, integer
 *   LayerNorm, i-GELU), top-1 from the integer executor;
 * - a per-op-kind sensitivity table: only one family of activations fake-quantized at 8 bits
 *   (weights and everything else FP32) — which ones hurt: post-LayerNorm, post-Softmax, post-GELU,
 *   attention scores, attention context, linear outputs, residual adds;
 * - simulated cost per inference on edge-npu (integer SFU) and tpu-like (float SFU), and edge-npu
 *   without an SFU: the share of cycles and energy in attention matmuls, SFU ops and linear layers,
 *   with top-1 from the integers the arch computes.
 * - ppocr-rec (PP-OCRv4's recognizer) on `textlines`: character and line accuracy FP32 and W8A8
 *   (ORT-semantics softmax vs integer-only), and its cost per line on the same arrays.
 * Results: bench/results/transformers.json. Progress on stderr.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { presetSpec, validateArchSpec, type ArchSpec } from '../arch/spec.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { evaluateCtc, scoreCtcOutputs } from '../nets/eval-ctc.js';
import type { Graph } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqConfig } from '../quant/config.js';
import { prepareModel, quantizeNetwork, runFp32Batched, simulateQuantized, type CalibData } from '../quant/pipeline.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { evaluateOnArch } from '../scenarios/evaluate.js';
import { quantizedOutputs, top1Of } from '../scenarios/debug.js';
import { writeBenchResult } from './common.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const arg = (k: string, d: number): number => (argv.includes(k) ? Number(argv[argv.indexOf(k) + 1]) : d);
const samples = arg('--samples', quick ? 1000 : 10000);
const archSamples = arg('--arch-samples', quick ? 50 : 200);
const say = (s: string) => process.stderr.write(`${s}\n`);
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

async function ortTop1(file: string, set: CalibData & { labels: Uint8Array }): Promise<number> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const input = session.inputNames[0];
  const per = set.shape.reduce((a, b) => a * b, 1);
  let correct = 0;
  const B = 250;
  for (let s = 0; s < set.count; s += B) {
    const n = Math.min(B, set.count - s);
    const out = await session.run({ [input]: new ort.Tensor('float32', set.images.slice(s * per, (s + n) * per), [n, ...set.shape]) });
    const logits = out[session.outputNames[0]].data as Float32Array;
    const k = logits.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      if (best === set.labels[s + i]) correct++;
    }
  }
  return correct / set.count;
}

/** which network layers each workload layer's cost belongs to */
function costShares(net: QuantizedNetwork, spec: ArchSpec, ev: Awaited<ReturnType<typeof evaluateOnArch>>) {
  const sums = { attentionMatmul: { cycles: 0, energyPj: 0 }, sfu: { cycles: 0, energyPj: 0 }, linear: { cycles: 0, energyPj: 0 }, other: { cycles: 0, energyPj: 0 } };
  ev.result.layers.forEach((l, i) => {
    const wl = ev.workload.layers[i];
    const q = wl.qlayerIndex === undefined ? undefined : net.layers[wl.qlayerIndex];
    const k = wl.vectorOp === 'sfu' ? 'sfu' : q?.kind === 'matmul' ? 'attentionMatmul' : wl.kind === 'gemm' ? 'linear' : 'other';
    sums[k].cycles += l.cycles;
    sums[k].energyPj += l.energyPj;
  });
  const T = ev.result.totals;
  type Part = { cycles: number; energyPj: number; cycleShare: number; energyShare: number };
  const part = (v: { cycles: number; energyPj: number }): Part => ({ ...v, cycleShare: v.cycles / T.cycles, energyShare: v.energyPj / T.energyPj });
  const share = { attentionMatmul: part(sums.attentionMatmul), sfu: part(sums.sfu), linear: part(sums.linear), other: part(sums.other) };
  return { arch: spec.name, sfuAlgorithms: spec.sfu ? `${spec.sfu.softmax}/${spec.sfu.layerNorm}/${spec.sfu.gelu}` : 'none', cycles: T.cycles, energyPj: T.energyPj, attentionBits: T.bits.dramBuffer.attention + T.bits.bufferArray.attention, ...share };
}

/** PP-OCRv4's recognizer on rendered text lines: character / line accuracy, FP32 and quantized; its cost per line */
async function ppocrRec(): Promise<Record<string, unknown>> {
  const lines = arg('--lines', quick ? 100 : 500);
  const graph = loadModel('ppocr-rec').graph;
  const test = loadDataset('textlines' as DatasetName, 'test', { samples: lines, seed: 1 });
  const calib = loadDataset('textlines' as DatasetName, 'train', { samples: 64, seed: 0 });
  const texts = test.texts!;
  const res: Record<string, unknown> = { lines: test.count };
  say(`ppocr-rec: FP32 on ${test.count} text lines`);
  const fp = evaluateCtc(graph, { images: test.images, count: test.count, shape: test.shape as [number, number, number], texts });
  say(`  FP32 char accuracy ${pct(fp.charAccuracy)}, line accuracy ${pct(fp.lineAccuracy)}`);
  res.fp32 = { charAccuracy: fp.charAccuracy, lineAccuracy: fp.lineAccuracy };
  const variants: [string, PtqConfig][] = [
    ['W8A8 pc, ORT softmax, float LayerNorm', resolvePtqConfig('w8a8-pc', { calibSamples: 64 })],
    ['W8A8 pc, integer-only (I-BERT softmax, LayerNorm)', resolvePtqConfig('w8a8-pc', { calibSamples: 64, softmax: 'ibert', layerNorm: 'integer' })],
  ];
  const rows = [];
  for (const [label, cfg] of variants) {
    const r = await quantizeNetwork(graph, calib, cfg);
    const sc = scoreCtcOutputs(quantizedOutputs(r.net, graph, test, 16), test.count, texts);
    say(`  ${label}: char accuracy ${pct(sc.charAccuracy)} (Δ ${((sc.charAccuracy - fp.charAccuracy) * 100).toFixed(2)} pt), line accuracy ${pct(sc.lineAccuracy)}`);
    rows.push({ label, charAccuracy: sc.charAccuracy, lineAccuracy: sc.lineAccuracy });
  }
  res.quantized = rows;
  // cost per line on the arrays (timing does not depend on the data; two lines run functionally)
  const one = loadDataset('textlines' as DatasetName, 'test', { samples: 2, seed: 3 });
  const costs = [];
  for (const spec of [presetSpec('edge-npu'), presetSpec('tpu-like'), validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec('edge-npu'))), name: 'edge-npu (no SFU)', sfu: 'none' })]) {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 64 }), spec.sfu ? { algorithms: spec.sfu } : {});
    const ev = await evaluateOnArch(spec, r.net, one, { batch: 2 });
    const c = costShares(r.net, spec, ev);
    say(
      `  ${spec.name.padEnd(18)} ${c.cycles} cycles, ${(c.energyPj / 1e6).toFixed(2)} µJ/line; attention matmuls ${pct(c.attentionMatmul.cycleShare)} of cycles / ${pct(c.attentionMatmul.energyShare)} of energy, ` +
        `SFU ${pct(c.sfu.cycleShare)} / ${pct(c.sfu.energyShare)}, linear ${pct(c.linear.cycleShare)} / ${pct(c.linear.energyShare)}`,
    );
    costs.push(c);
  }
  res.cost = costs;
  return res;
}

export async function main(): Promise<unknown> {
  const out: Record<string, unknown> = { command: `npx tsx bench/transformers.ts ${argv.join(' ')}`.trim() };
  if (!argv.includes('--no-vit')) out.fmnistVit = await fmnistVit();
  if (!argv.includes('--no-rec')) out.ppocrRec = await ppocrRec();
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'transformers.json');
  writeBenchResult(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`wrote ${file}`);
  return out;
}

async function fmnistVit(): Promise<Record<string, unknown>> {
  const model = loadModel('fmnist-vit');
  const graph: Graph = model.graph;
  const test = loadDataset('fmnist', 'test', samples < 10000 ? { samples, seed: 1 } : {});
  const calib = loadDataset('fmnist', 'train', { samples: 512, seed: 0 });
  const out: Record<string, unknown> = { samples: test.count, archSamples };

  say(`fmnist-vit: FP32 on ${test.count} test images`);
  const fp = runFp32Batched(graph, test);
  const fpTop1 = top1Of(fp, test.count, test.labels);
  const ortAcc = await ortTop1(model.source, test);
  say(`  FP32 top-1 qloom ${pct(fpTop1)}, onnxruntime-node ${pct(ortAcc)}`);
  out.fp32 = { qloom: fpTop1, ort: ortAcc };

  const variants: [string, PtqConfig][] = argv.includes('--sens-only') ? [] : [
    ['W8A8 pc, ORT softmax, float LayerNorm, GELU table', resolvePtqConfig('w8a8-pc', { calibSamples: 512 })],
    ['W8A8 pc, integer-only (I-BERT softmax, LayerNorm, i-GELU)', resolvePtqConfig('w8a8-pc', { calibSamples: 512, softmax: 'ibert', layerNorm: 'integer', gelu: 'igelu' })],
    ['W8A8 pc, integer softmax from a 256-entry table', resolvePtqConfig('w8a8-pc', { calibSamples: 512, softmax: 'lut' })],
  ];
  const quantRows = [];
  for (const [label, cfg] of variants) {
    const t0 = performance.now();
    const r = await quantizeNetwork(graph, calib, cfg);
    const q = quantizedOutputs(r.net, graph, test);
    const top1 = top1Of(q, test.count, test.labels);
    say(`  ${label}: top-1 ${pct(top1)} (Δ ${((top1 - fpTop1) * 100).toFixed(2)} pt, PTQ ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    quantRows.push({ label, top1, deltaPt: (top1 - fpTop1) * 100 });
  }
  out.quantized = quantRows;

  // sensitivity: one family of activation quantizers at a time, weights FP32
  const sensBits = arg('--sens-bits', 8);
  say(`  sensitivity: one activation family quantized at a time, ${sensBits} bits`);
  const prep = await prepareModel(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 512, aBits: sensBits }));
  const plan = prep.plan;
  const families = new Map<string, Set<string>>();
  const addTo = (k: string, t: string) => (families.get(k) ?? families.set(k, new Set()).get(k)!).add(t);
  const consumers = new Map<string, string[]>();
  for (const s of plan.steps) for (const i of s.kind === 'linear' ? [s.input] : s.inputs) consumers.set(i, [...(consumers.get(i) ?? []), s.kind]);
  for (const s of plan.steps) {
    if (s.kind === 'linear') addTo(s.act.kind === 'lut' && s.act.fn.startsWith('gelu') ? 'post-GELU' : 'linear outputs', s.output);
    else if (s.kind === 'layernorm') addTo('post-LayerNorm', s.output);
    else if (s.kind === 'softmax') addTo('post-Softmax', s.output);
    else if (s.kind === 'matmul') addTo((consumers.get(s.output) ?? []).includes('softmax') ? 'attention scores' : 'attention context', s.output);
    else if (s.kind === 'add') addTo('residual adds', s.output);
  }
  const sens = [];
  for (const [family, tensors] of families) {
    const sim = simulateQuantized(plan, test, { weights: prep.weights, acts: prep.acts }, { weights: () => false, acts: (t) => tensors.has(t) });
    const top1 = top1Of(sim.output.data as Float32Array, test.count, test.labels);
    say(`    ${family.padEnd(18)} (${tensors.size} tensors): top-1 ${pct(top1)} (Δ ${((top1 - fpTop1) * 100).toFixed(2)} pt)`);
    sens.push({ family, tensors: tensors.size, top1, deltaPt: (top1 - fpTop1) * 100 });
  }
  out.sensitivity = { bits: sensBits, families: sens };
  if (argv.includes('--sens-only')) return out;

  // cost on the arrays, accuracy from the integers each arch computes
  const archSet = loadDataset('fmnist', 'test', { samples: archSamples, seed: 2 });
  const archs: ArchSpec[] = [presetSpec('edge-npu'), presetSpec('tpu-like'), validateArchSpec({ ...JSON.parse(JSON.stringify(presetSpec('edge-npu'))), name: 'edge-npu (no SFU)', sfu: 'none' })];
  const costs = [];
  for (const spec of archs) {
    const r = await quantizeNetwork(graph, calib, resolvePtqConfig('w8a8-pc', { calibSamples: 512 }), spec.sfu ? { algorithms: spec.sfu } : {});
    const ev = await evaluateOnArch(spec, r.net, archSet, { batch: 50 });
    const c = { ...costShares(r.net, spec, ev), top1: (ev.correct ?? 0) / ev.samples, samples: ev.samples };
    say(
      `  ${spec.name.padEnd(18)} sfu ${c.sfuAlgorithms.padEnd(20)} ${c.cycles} cycles, ${(c.energyPj / 1e6).toFixed(2)} µJ/inference; ` +
        `attention matmuls ${pct(c.attentionMatmul.cycleShare)} of cycles / ${pct(c.attentionMatmul.energyShare)} of energy, SFU ${pct(c.sfu.cycleShare)} / ${pct(c.sfu.energyShare)}, ` +
        `linear ${pct(c.linear.cycleShare)} / ${pct(c.linear.energyShare)}; top-1 ${pct(c.top1)} on ${c.samples}`,
    );
    costs.push(c);
  }
  out.cost = costs;
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
