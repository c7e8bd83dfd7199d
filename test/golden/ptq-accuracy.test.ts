/**
 * Issue 4's "results that must hold" on the bundled models, against the FP32 model's top-1
 * computed here on the same images (the referee: nets/fp32 + the labels).
 *
 * Calibration: the Fashion-MNIST *train* split, a seeded subset (CALIB images, seed 0).
 * Evaluation: a seeded subset of the 10k *test* split (EVAL images, seed 0) so that each case
 * stays inside the per-file time budget on 2 cores; `npm run bench -- ptq` reports the same
 * configurations on the full 10k split (bench/results/ptq.json).
 * AdaRound runs a reduced budget here (ADA_ITERS steps per layer instead of the preset's 1 000);
 * the bench measures the preset as is.
 *
 * Thresholds (issue 4): W8A8 per-tensor / per-channel within 0.5 pt of FP32 (fmnist-cnn,
 * fmnist-dwsep); fmnist-cnn W4A8 per-channel with AdaRound within 2 pt of FP32 and not below W4A8
 * per-channel with nearest rounding and MSE ranges — on this subset as fidelity to FP32 (logits
 * SQNR, top-1 agreement) plus top-1 with 1 pt slack, see the test; fmnist-dwsep W4A8 per-tensor:
 * CLE does not make it worse.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, type LabeledSet } from '../../nets/data/index.js';
import { argmaxRows, batchInput, evaluateTop1 } from '../../nets/eval.js';
import { runFp32 } from '../../nets/fp32.js';
import type { Graph, Tensor } from '../../nets/graph.js';
import { loadModel } from '../../nets/zoo/index.js';
import { resolvePtqConfig, type PtqFlags } from '../../quant/config.js';
import { quantizeNetwork } from '../../quant/pipeline.js';
import { runQuantized } from '../../sim/qexec.js';

const CALIB = 256;
const EVAL = 1000;
const ADA_ITERS = 300;

let test: LabeledSet;
let calib: { images: Float32Array; shape: readonly number[]; count: number };
const graphs = new Map<string, Graph>();
const fp32Top1 = new Map<string, number>();

beforeAll(() => {
  test = loadDataset('fmnist', 'test', { samples: EVAL, seed: 0 });
  const c = loadDataset('fmnist', 'train', { samples: CALIB, seed: 0 });
  calib = { images: c.images, shape: c.shape, count: c.count };
  for (const m of ['fmnist-cnn', 'fmnist-dwsep']) {
    const g = loadModel(m).graph;
    graphs.set(m, g);
    fp32Top1.set(m, evaluateTop1(g, test).top1);
  }
});

/** PTQ with the preset (+ flags), then the integer executor's outputs on the eval subset. */
async function quantOutputs(model: string, preset: string, flags: PtqFlags = {}): Promise<Float32Array> {
  const graph = graphs.get(model)!;
  const cfg = resolvePtqConfig(preset, { calibSamples: CALIB, ...flags });
  const { net } = await quantizeNetwork(graph, calib, cfg);
  let all = new Float32Array(0);
  const batch = 500;
  for (let s = 0; s < test.count; s += batch) {
    const n = Math.min(batch, test.count - s);
    const res = runQuantized(net, batchInput(graph, test.images, test.shape, s, n), { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const out = Float32Array.from((res.outputs[net.outputs[0].name] as Tensor).data as ArrayLike<number>);
    if (s === 0) all = new Float32Array((out.length / n) * test.count);
    all.set(out, (out.length / n) * s);
  }
  return all;
}

function top1(outputs: Float32Array, labels: ArrayLike<number>): number {
  const n = labels.length;
  const pred = new Int32Array(n);
  argmaxRows({ dtype: 'float32', shape: [n, outputs.length / n], data: outputs }, pred, 0);
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++;
  return correct / n;
}

async function quantTop1(model: string, preset: string, flags: PtqFlags = {}): Promise<number> {
  return top1(await quantOutputs(model, preset, flags), test.labels);
}

/** 10·log10(Σ ref² / Σ (ref − x)²) */
function sqnrDb(ref: Float32Array, x: Float32Array): number {
  let sig = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    sig += ref[i] * ref[i];
    err += (ref[i] - x[i]) ** 2;
  }
  return 10 * Math.log10(sig / err);
}

describe('PTQ accuracy on Fashion-MNIST (seeded subsets, see header)', () => {
  it.each([
    ['fmnist-cnn', 'w8a8-pt'],
    ['fmnist-cnn', 'w8a8-pc'],
    ['fmnist-dwsep', 'w8a8-pt'],
    ['fmnist-dwsep', 'w8a8-pc'],
  ])('%s %s: within 0.5 pt of FP32', async (model, preset) => {
    const q = await quantTop1(model, preset);
    const f = fp32Top1.get(model)!;
    expect(f).toBeGreaterThan(0.85); // the referee itself is sane
    expect(q).toBeGreaterThanOrEqual(f - 0.005);
  });

  it('fmnist-cnn W4A8 per-channel: AdaRound within 2 pt of FP32, closer to FP32 than nearest + MSE', async () => {
    const graph = graphs.get('fmnist-cnn')!;
    const fp = runFp32(graph, batchInput(graph, test.images, test.shape, 0, test.count))[graph.outputs[0].name].data as Float32Array;
    const nearest = await quantOutputs('fmnist-cnn', 'w4a8-pc');
    const ada = await quantOutputs('fmnist-cnn', 'w4a8-pc-adaround', { adaround: { iterations: ADA_ITERS } });
    const f = fp32Top1.get('fmnist-cnn')!;
    const fpPred = new Int32Array(test.count);
    argmaxRows({ dtype: 'float32', shape: [test.count, fp.length / test.count], data: fp }, fpPred, 0);
    const [accN, accA] = [top1(nearest, test.labels), top1(ada, test.labels)];
    const [agreeN, agreeA] = [top1(nearest, fpPred), top1(ada, fpPred)];
    const [sqN, sqA] = [sqnrDb(fp, nearest), sqnrDb(fp, ada)];
    console.log(
      `fmnist-cnn, ${EVAL} test images: FP32 top-1 ${f}; W4A8 pc nearest+MSE top-1 ${accN}, agreement ${agreeN}, logits SQNR ${sqN.toFixed(2)} dB; ` +
        `AdaRound(${ADA_ITERS} steps) top-1 ${accA}, agreement ${agreeA}, SQNR ${sqA.toFixed(2)} dB`,
    );
    expect(accA).toBeGreaterThanOrEqual(f - 0.02);
    // what AdaRound optimizes — fidelity to the FP32 model — must improve; top-1 differences on a
    // 1 000-image subset are within noise, so "not below nearest" is compared with 1 pt slack here
    // and exactly on the full 10k split by bench/ptq.ts
    expect(sqA).toBeGreaterThan(sqN);
    expect(agreeA).toBeGreaterThanOrEqual(agreeN);
    expect(accA).toBeGreaterThanOrEqual(accN - 0.01);
  });

  it('fmnist-dwsep W4A8 per-tensor: CLE does not make it worse', async () => {
    const plain = await quantTop1('fmnist-dwsep', 'w4a8-pt');
    const cle = await quantTop1('fmnist-dwsep', 'w4a8-pt-cle');
    expect(cle).toBeGreaterThanOrEqual(plain);
  });
});
