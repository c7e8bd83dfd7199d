/**
 * QAT against the best PTQ at the same widths, on the full 10,000-image Fashion-MNIST test split
 * (`npx tsx bench/qat-vs-ptq.ts [--only fmnist-cnn] [--widths w4a4,w3a3]`, or `npm run bench --
 * qat-vs-ptq`): for fmnist-cnn and fmnist-dwsep at W8A8 / W4A8 / W4A4 / W3A3 (per-channel
 * symmetric weights, asymmetric per-tensor activations, MSE ranges, logits by cross-entropy):
 *   - PTQ, and PTQ + AdaRound (AIMET's defaults), calibrated on 1,024 training images;
 *   - QAT (quant/qat: STE + LSQ, one epoch of the 60,000 training images from the PTQ point, and
 *     at W4A4 / W3A3 also from the PTQ + AdaRound point: `w4a4-ada-qat`, `w3a3-ada-qat`;
 *     checkpoints in .qloom-cache/qat, shared with `qloom qat --checkpoint .qloom-cache/qat` and the
 *     qat-vs-ptq scenario: a second run reads them);
 * each scored as integers (qloom's executor, float requant, 32-bit accumulators: what ORT runs) —
 * top-1 with its 95 % Wilson interval — and, for QAT, ORT on the exported QOperator model against
 * qloom's executor on 500 test images (values differing: must be 0). Cost per inference (cycles,
 * energy, DRAM + SRAM bits) from one timing run on edge-npu; mcu-npu's requant unit is
 * per-tensor, so per-channel networks are refused there (stated in the results).
 * Writes bench/results/qat-vs-ptq.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { presetSpec } from '../arch/spec.js';
import { loadDataset } from '../nets/data/index.js';
import { wilsonInterval } from '../nets/eval.js';
import { loadModel, listModels } from '../nets/zoo/index.js';
import { resolvePtqConfig } from '../quant/config.js';
import { exportQuantizedOnnx } from '../quant/onnx/qexport.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { calibrationSet } from '../scenarios/datasets.js';
import { quantizedOutputs, top1Of } from '../scenarios/debug.js';
import { qatCacheDir, qatModel } from '../scenarios/qat.js';
import { adaroundStoreDir, quantizeModel } from '../scenarios/quantize.js';
import { simulate, workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { runQuantized } from '../sim/qexec.js';
import { bitsTotal } from '../sim/result.js';
import { perChannelProblem } from '../sim/requant-unit.js';
import { writeBenchResult } from './common.js';

const argv = process.argv.slice(2);
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : undefined;
const widthsArg = argv.includes('--widths') ? argv[argv.indexOf('--widths') + 1].split(',') : undefined;
const say = (s: string) => process.stderr.write(`${s}\n`);

const MODELS = ['fmnist-cnn', 'fmnist-dwsep'];
const WIDTHS: readonly { name: string; w: number; a: number; ada?: boolean }[] = [
  { name: 'w8a8', w: 8, a: 8 },
  { name: 'w4a8', w: 4, a: 8 },
  { name: 'w4a4', w: 4, a: 4, ada: true },
  { name: 'w3a3', w: 3, a: 3, ada: true },
];
const ORT_IMAGES = 500;

interface Cell {
  readonly network: string;
  readonly width: string;
  readonly method: 'PTQ' | 'PTQ + AdaRound' | 'QAT' | 'QAT from AdaRound';
  readonly top1: number;
  readonly ci95: readonly [number, number];
  readonly deltaPt: number;
  readonly seconds: number;
  readonly cycles: number;
  readonly energyPj: number;
  readonly bitsMoved: number;
  readonly ortMismatches?: number;
  readonly qatHash?: string;
  /** QAT: the training loop's wall time as measured when it ran (kept in the checkpoint) */
  readonly trainSeconds?: number;
}

async function ortMismatches(net: QuantizedNetwork, images: Float32Array, per: number, count: number): Promise<number> {
  const inp = net.inputs[0];
  const shape = [count, ...inp.shape.slice(1)];
  const data = images.slice(0, count * per);
  const ref = runQuantized(net, { [inp.name]: { dtype: 'float32', shape, data } }, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } }).outputs;
  const s = await ort.InferenceSession.create(exportQuantizedOnnx(net, { format: 'qop' }), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  const out = await s.run({ [inp.name]: new ort.Tensor('float32', data, shape) });
  await s.release();
  let bad = 0;
  for (const o of net.outputs) {
    const a = ref[o.name].data as Float32Array;
    const b = out[o.name].data as Float32Array;
    if (a.length !== b.length) return Math.max(a.length, b.length);
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) bad++;
  }
  return bad;
}

export async function main(): Promise<void> {
  const edge = presetSpec('edge-npu');
  const mcu = presetSpec('mcu-npu');
  const test = loadDataset('fmnist', 'test');
  const cells: Cell[] = [];
  const fp32: Record<string, number> = {};
  for (const network of MODELS.filter((m) => !only || only.includes(m))) {
    const graph = loadModel(network).graph;
    fp32[network] = listModels().find((m) => m.name === network)!.manifest!.top1;
    for (const wd of WIDTHS.filter((w) => !widthsArg || widthsArg.includes(w.name))) {
      const score = async (method: Cell['method'], net: QuantizedNetwork, seconds: number, extra: Partial<Cell> = {}) => {
        const top1 = top1Of(quantizedOutputs(net, graph, test), test.count, test.labels);
        const k = Math.round(top1 * test.count);
        const ci = wilsonInterval(k, test.count);
        const run = simulate(edge, workloadFromQuantizedNetwork(net, [1, ...test.shape], edge));
        const cell: Cell = {
          network,
          width: wd.name.toUpperCase(),
          method,
          top1,
          ci95: [ci.lo, ci.hi],
          deltaPt: (top1 - fp32[network]) * 100,
          seconds,
          cycles: run.totals.cycles,
          energyPj: run.totals.energyPj,
          bitsMoved: bitsTotal(run.totals.bits),
          ...extra,
        };
        cells.push(cell);
        say(
          `${network.padEnd(13)} ${cell.width} ${method.padEnd(15)} top-1 ${(100 * top1).toFixed(2)} % [${(100 * ci.lo).toFixed(2)}, ${(100 * ci.hi).toFixed(2)}]  Δ ${cell.deltaPt.toFixed(2)} pt  ` +
            `${cell.cycles} cycles ${(cell.energyPj / 1e6).toFixed(2)} µJ${extra.ortMismatches !== undefined ? `  ORT≠qloom ${extra.ortMismatches} values on ${ORT_IMAGES} images; trained in ${extra.trainSeconds!.toFixed(0)} s` : ''}  (${seconds.toFixed(0)} s)`,
        );
      };
      const base = resolvePtqConfig('w4a8-pc', { wBits: wd.w, aBits: wd.a });
      const calib = calibrationSet('fmnist', network, base);
      let t0 = performance.now();
      await score('PTQ', (await quantizeModel(network, 'fmnist', base, {}, calib)).net, (performance.now() - t0) / 1000);
      const ada = resolvePtqConfig('w4a8-pc', { wBits: wd.w, aBits: wd.a, adaround: true });
      t0 = performance.now();
      const adaNet = (await quantizeModel(network, 'fmnist', ada, { adaroundStore: adaroundStoreDir(join(qatCacheDir(), '..', 'adaround')) }, calib)).net;
      await score('PTQ + AdaRound', adaNet, (performance.now() - t0) / 1000);
      for (const preset of [`${wd.name}-qat`, ...(wd.ada ? [`${wd.name}-ada-qat`] : [])]) {
        t0 = performance.now();
        let lastPct = -1;
        const q = await qatModel(network, {
          preset,
          data: 'fmnist',
          checkpoint: qatCacheDir(),
          evalSamples: 0,
          onStep: (e, s, steps) => {
            const pct = Math.floor((100 * s) / steps);
            if (pct % 10 === 0 && pct !== lastPct) say(`  ${network} ${preset} epoch ${e}: ${pct} %`);
            lastPct = pct;
          },
        });
        await score(preset.includes('-ada-') ? 'QAT from AdaRound' : 'QAT', q.net, (performance.now() - t0) / 1000, {
          ortMismatches: await ortMismatches(q.net, test.images, test.images.length / test.count, ORT_IMAGES),
          qatHash: q.qatHash,
          trainSeconds: q.history.reduce((a, h) => a + h.seconds, 0),
        });
      }
    }
  }
  // a partial run (--only / --widths) replaces its cells in the last results and keeps the others
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'qat-vs-ptq.json');
  if ((only || widthsArg) && existsSync(file)) {
    const before = JSON.parse(readFileSync(file, 'utf8')) as { cells: Cell[]; fp32Top1: Record<string, number> };
    const mine = new Set(cells.map((c) => `${c.network}|${c.width}`));
    cells.unshift(...before.cells.filter((c) => !mine.has(`${c.network}|${c.width}`)));
    for (const [k, v] of Object.entries(before.fp32Top1)) fp32[k] ??= v;
    const order = (c: Cell) => MODELS.indexOf(c.network) * 100 + WIDTHS.findIndex((w) => w.name.toUpperCase() === c.width) * 10 + ['PTQ', 'PTQ + AdaRound', 'QAT', 'QAT from AdaRound'].indexOf(c.method);
    cells.sort((a, b) => order(a) - order(b));
  }
  const mcuNote = perChannelProblem('mcu-npu', mcu, true);
  const best = (n: string, w: string) => {
    const ptq = cells.filter((c) => c.network === n && c.width === w && c.method.startsWith('PTQ'));
    const qats = cells.filter((c) => c.network === n && c.width === w && c.method.startsWith('QAT'));
    const best = (xs: Cell[]) => xs.reduce((a, b) => (b.top1 > a.top1 ? b : a), xs[0]);
    const p = best(ptq);
    const qat = best(qats);
    return p && qat ? { network: n, width: w, bestPtq: p.method, bestPtqTop1: p.top1, bestQat: qat.method, qatTop1: qat.top1, qatMinusBestPtqPt: (qat.top1 - p.top1) * 100 } : null;
  };
  const summary = MODELS.flatMap((n) => WIDTHS.map((w) => best(n, w.name.toUpperCase()))).filter((x) => x !== null);
  for (const s of summary) say(`${s!.network} ${s!.width}: ${s!.bestQat} ${(100 * s!.qatTop1).toFixed(2)} % vs best PTQ (${s!.bestPtq}) ${(100 * s!.bestPtqTop1).toFixed(2)} %: ${s!.qatMinusBestPtqPt >= 0 ? '+' : ''}${s!.qatMinusBestPtqPt.toFixed(2)} pt`);
  writeBenchResult(
    file,
    JSON.stringify(
      {
        command: 'npx tsx bench/qat-vs-ptq.ts',
        testImages: test.count,
        fp32Top1: fp32,
        costArch: 'edge-npu',
        mcuNpu: mcuNote,
        cells,
        summary,
      },
      null,
      2,
    ) + '\n',
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
