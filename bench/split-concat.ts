/**
 * Split quantization of a concatenation (Q-Diffusion §4.2) on a real one: PP-OCRv4's recognizer
 * concatenates its SVTR neck's shortcut with the transformer branch (p2o.Concat.7, read by the 3×3
 * conv p2o.Conv.36). Per activation width (W8A8 / W6A6 / W4A4 per-channel weights): character and
 * line accuracy on rendered text lines against ground truth, one scale per concat output vs one per
 * input — and what the split costs on the accelerator (one line through the timing run: cycles,
 * energy, the merge's share, requant parameter bits). The peer is the FP32 model in the same run.
 *
 *   npx tsx bench/split-concat.ts [--lines N] [--archs edge-npu,tpu-like]
 *
 * Logits ranges by MSE like every other tensor (`logitsRange: same`) in both arms. The network is quantized for the first arch's special-function unit (its softmax / LayerNorm
 * algorithms) and scored with those; each further arch gets its own quantization for the cost.
 *
 * Results: bench/results/split-concat.json.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec } from '../arch/spec.js';
import { loadDataset, type DatasetName } from '../nets/data/index.js';
import { evaluateCtc, scoreCtcOutputs } from '../nets/eval-ctc.js';
import { loadModel } from '../nets/zoo/index.js';
import { resolvePtqConfig } from '../quant/config.js';
import { quantizeNetwork } from '../quant/pipeline.js';
import { quantizedOutputs } from '../scenarios/debug.js';
import { evaluateOnArch } from '../scenarios/evaluate.js';
import { mergeCost, writeBenchResult } from './common.js';

const argv = process.argv.slice(2);
const arg = (k: string, d: string): string => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const lines = Number(arg('--lines', '200'));
const archs = arg('--archs', 'edge-npu').split(',');
const say = (s: string) => process.stderr.write(`${s}\n`);
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

export async function main(): Promise<unknown> {
  const graph = loadModel('ppocr-rec').graph;
  const test = loadDataset('textlines' as DatasetName, 'test', { samples: lines, seed: 1 });
  const calib = loadDataset('textlines' as DatasetName, 'train', { samples: 64, seed: 0 });
  const one = loadDataset('textlines' as DatasetName, 'test', { samples: 1, seed: 3 });
  const texts = test.texts!;
  say(`ppocr-rec: FP32 on ${test.count} text lines`);
  const fp = evaluateCtc(graph, { images: test.images, count: test.count, shape: test.shape as [number, number, number], texts });
  say(`  FP32 char accuracy ${pct(fp.charAccuracy)}, line accuracy ${pct(fp.lineAccuracy)}`);
  const rows = [];
  for (const preset of ['w8a8-pc', 'w6a6-pc', 'w4a4-pc']) {
    for (const splitConcat of [false, true]) {
      // logits range as every other tensor's (MSE): the cross-entropy search over 6,625 CTC classes
      // takes ~14 minutes per quantization here, and the concat is far from the logits
      const cfg = resolvePtqConfig(preset, { calibSamples: 64, splitConcat, logitsRange: 'same' });
      const specs = archs.map((a) => presetSpec(a));
      const nets = new Map<string, Awaited<ReturnType<typeof quantizeNetwork>>>();
      const quantized = async (spec: (typeof specs)[number]) => {
        const key = JSON.stringify(spec.sfu);
        if (!nets.has(key)) nets.set(key, await quantizeNetwork(graph, calib, cfg, spec.sfu ? { algorithms: spec.sfu } : {}));
        return nets.get(key)!;
      };
      const r = await quantized(specs[0]);
      const sc = scoreCtcOutputs(quantizedOutputs(r.net, graph, test, 16), test.count, texts);
      const decision = r.stats.splitConcat?.[0];
      const cost = [];
      for (const spec of specs) {
        const name = spec.name;
        const ev = await evaluateOnArch(spec, (await quantized(spec)).net, one, { batch: 1 });
        const T = ev.result.totals;
        cost.push({ arch: name, cycles: T.cycles, energyPj: T.energyPj, ...mergeCost(ev) });
      }
      const label = `${preset}${splitConcat ? ' + split concat' : ''}`;
      const c0 = cost[0];
      say(
        `  ${label.padEnd(26)} char ${pct(sc.charAccuracy)} (Δ ${((sc.charAccuracy - fp.charAccuracy) * 100).toFixed(2)} pt)  line ${pct(sc.lineAccuracy)}  ` +
          `${c0.arch}: ${c0.cycles} cycles ${(c0.energyPj / 1e6).toFixed(3)} µJ/line, merge ${c0.mergeCycles} cycles ${(c0.mergeEnergyPj / 1e3).toFixed(1)} nJ, requant params ${c0.requantParamBits} bits`,
      );
      if (splitConcat && decision) say(`    ${decision.concat}: ${decision.split ? 'split' : `kept (${decision.reason})`}; parts ${decision.parts.map((p) => `${p.input} ${p.channels} ch scale ${p.scale.toPrecision(3)} zp ${p.zeroPoint}`).join(' | ')}`);
      rows.push({ preset, splitConcat, charAccuracy: sc.charAccuracy, lineAccuracy: sc.lineAccuracy, deltaCharPt: (sc.charAccuracy - fp.charAccuracy) * 100, ...(decision && splitConcat && { concat: decision }), cost });
    }
  }
  const out = { command: `npx tsx bench/split-concat.ts ${argv.join(' ')}`.trim(), lines: test.count, calibLines: calib.count, fp32: { charAccuracy: fp.charAccuracy, lineAccuracy: fp.lineAccuracy }, rows };
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'split-concat.json');
  writeBenchResult(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`wrote ${file}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
