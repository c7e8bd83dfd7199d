/**
 * RepQ-ViT's claim in hardware terms, on fmnist-vit: post-LayerNorm activations need per-channel
 * quantizers, and the reparameterization makes them free at inference. Per width (W8A8 / W6A6 /
 * W4A4): uniform per-tensor, the per-channel post-LN quantizers left unfolded (every channel of
 * the LN output its own (scale, zero point); the gemms reading it merge one accumulator group per
 * input channel — qnet/split.ts), and RepQ-ViT (folded into γ, β and the next weights; log√2
 * attention probabilities) — top-1 against the labels beside the edge-npu cost of one inference
 * (cycles, energy, the merge's share, requant parameter bits). The peer is FP32 in the same run.
 *
 *   npx tsx bench/postln-unfolded.ts [--samples N] [--arch edge-npu] [--model fmnist-vit|ppocr-rec]
 *
 * ppocr-rec (PP-OCRv4's recognizer): character accuracy on `textlines` instead of top-1, logits
 * ranges by MSE like every other tensor (the CTC cross-entropy search is the slow part here).
 * Results: bench/results/postln-unfolded.json (ppocr-rec: postln-unfolded-ppocr-rec.json).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec } from '../arch/spec.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { scoreCtcOutputs } from '../nets/eval-ctc.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig, type PtqConfig } from '../quant/config.js';
import { quantizeNetwork, runFp32Batched } from '../quant/pipeline.js';
import { quantizedOutputs, top1Of } from '../scenarios/debug.js';
import { evaluateOnArch } from '../scenarios/evaluate.js';
import { mergeCost, writeBenchResult } from './common.js';

const argv = process.argv.slice(2);
const arg = (k: string, d: string): string => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const samples = Number(arg('--samples', '1000'));
const archName = arg('--arch', 'edge-npu');
const model = arg('--model', 'fmnist-vit');
const say = (s: string) => process.stderr.write(`${s}\n`);
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

export async function main(): Promise<unknown> {
  const { graph } = loadModel(model);
  const rec = model === 'ppocr-rec';
  const data = (rec ? 'textlines' : 'fmnist') as DatasetName;
  const calib = loadDataset(data, 'train', { samples: 64, seed: 0 });
  const test = loadDataset(data, 'test', { samples, seed: 1 });
  const one = loadDataset(data, 'test', { samples: 1, seed: 3 });
  const spec = presetSpec(archName);
  // top-1 against the labels, or the CTC-read text's character accuracy
  const score = (out: Float32Array): number => (rec ? scoreCtcOutputs(out, test.count, test.texts!).charAccuracy : top1Of(out, test.count, test.labels));
  const fp = score(runFp32Batched(graph, test, rec ? 16 : 64));
  say(`${model} FP32 ${rec ? 'char accuracy' : 'top-1'} ${pct(fp)} on ${test.count} test ${rec ? 'lines' : 'images'}; cost on ${spec.name}`);
  const logits = rec ? { logitsRange: 'same' } : {};
  const rows = [];
  for (const [w, a] of [[8, 8], [6, 6], [4, 4]] as const) {
    const uniform = a === 8 ? 'w8a8-pc' : `w${w}a${a}-pc`;
    const variants: [string, PtqConfig][] = [
      [`W${w}A${a} uniform`, resolvePtqConfig(uniform, { calibSamples: 64, ...logits })],
      [`W${w}A${a} per-channel post-LN (unfolded)`, resolvePtqConfig(uniform, { calibSamples: 64, postLnPerChannel: true, ...logits })],
      [`W${w}A${a} RepQ-ViT`, resolvePtqConfig(`w${w}a${a}-repq`, { calibSamples: 64, ...logits })],
    ];
    for (const [label, cfg] of variants) {
      const r = await quantizeNetwork(graph, calib, cfg, spec.sfu ? { algorithms: spec.sfu } : {});
      const top1 = score(quantizedOutputs(r.net, graph, test, rec ? 16 : 250));
      const ev = await evaluateOnArch(spec, r.net, one, { batch: 1 });
      const { mergeCycles, mergeEnergyPj: mergePj, requantParamBits } = mergeCost(ev);
      const T = ev.result.totals;
      const row = { label, preset: cfg.preset, top1, deltaPt: (top1 - fp) * 100, cycles: T.cycles, energyPj: T.energyPj, mergeCycles, mergeEnergyPj: mergePj, requantParamBits };
      rows.push(row);
      say(
        `  ${label.padEnd(40)} ${rec ? 'char' : 'top-1'} ${pct(top1)} (Δ ${row.deltaPt.toFixed(2)} pt)  ${T.cycles} cycles  ${(T.energyPj / 1e6).toFixed(2)} µJ  merge ${mergeCycles} cycles ${(mergePj / 1e6).toFixed(2)} µJ  requant params ${row.requantParamBits} bits`,
      );
    }
  }
  const out = { command: `npx tsx bench/postln-unfolded.ts ${argv.join(' ')}`.trim(), model, metric: rec ? 'charAccuracy' : 'top1', samples: test.count, arch: spec.name, fp32Top1: fp, rows };
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', rec ? 'postln-unfolded-ppocr-rec.json' : 'postln-unfolded.json');
  writeBenchResult(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`wrote ${file}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
