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
 * per-channel with nearest rounding and MSE ranges; fmnist-dwsep W4A8 per-tensor: CLE does not
 * make it worse.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, type LabeledSet } from '../../nets/data/index.js';
import { argmaxRows, batchInput, evaluateTop1 } from '../../nets/eval.js';
import type { Graph, Tensor } from '../../nets/graph.js';
import { loadModel } from '../../nets/zoo/index.js';
import { resolvePtqConfig, type PtqFlags } from '../../quant/config.js';
import { quantizeNetwork } from '../../quant/pipeline.js';
import { runQuantized } from '../../sim/qexec.js';

const CALIB = 512;
const EVAL = 2000;
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

/** PTQ with the preset (+ flags), then the integer executor's top-1 on the eval subset. */
async function quantTop1(model: string, preset: string, flags: PtqFlags = {}): Promise<number> {
  const graph = graphs.get(model)!;
  const cfg = resolvePtqConfig(preset, { calibSamples: CALIB, ...flags });
  const { net } = await quantizeNetwork(graph, calib, cfg);
  const pred = new Int32Array(test.count);
  const batch = 500;
  for (let s = 0; s < test.count; s += batch) {
    const n = Math.min(batch, test.count - s);
    const res = runQuantized(net, batchInput(graph, test.images, test.shape, s, n), { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const out = res.outputs[net.outputs[0].name] as Tensor;
    argmaxRows({ dtype: 'float32', shape: [n, out.data.length / n], data: Float32Array.from(out.data as ArrayLike<number>) }, pred, s);
  }
  let correct = 0;
  for (let i = 0; i < test.count; i++) if (pred[i] === test.labels[i]) correct++;
  return correct / test.count;
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

  it('fmnist-cnn W4A8 per-channel: AdaRound within 2 pt of FP32 and not below nearest + MSE', async () => {
    const nearest = await quantTop1('fmnist-cnn', 'w4a8-pc');
    const ada = await quantTop1('fmnist-cnn', 'w4a8-pc-adaround', { adaround: { iterations: ADA_ITERS } });
    const f = fp32Top1.get('fmnist-cnn')!;
    expect(ada).toBeGreaterThanOrEqual(f - 0.02);
    expect(ada).toBeGreaterThanOrEqual(nearest);
  });

  it('fmnist-dwsep W4A8 per-tensor: CLE does not make it worse', async () => {
    const plain = await quantTop1('fmnist-dwsep', 'w4a8-pt');
    const cle = await quantTop1('fmnist-dwsep', 'w4a8-pt-cle');
    expect(cle).toBeGreaterThanOrEqual(plain);
  });
});
