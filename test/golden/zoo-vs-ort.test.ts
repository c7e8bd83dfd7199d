/**
 * Every zoo model, FP32 executor vs onnxruntime-node on real inputs: bundled models (fmnist-vit
 * included: LayerNormalization, Softmax, activation × activation MatMul, Erf GELU) on their test
 * images, the nsfwjs MobileNetV2 through its exported ONNX on photos, ppocr-cls from its original
 * file on rendered orientation lines (ppocr-rec: ppocr-rec-vs-ort.test.ts). Error measure: max |ours − ORT| / max |ORT| per output ≤ 1e-4.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../nets/data/index.js';
import { loadPhotos } from '../../nets/data/photos.js';
import { batchInput } from '../../nets/eval.js';
import { runFp32 } from '../../nets/fp32.js';
import type { Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { listModels, loadModel } from '../../nets/zoo/index.js';
import { runOrt } from '../helpers/ort.js';

function inputsFor(name: string, dataset: string): { images: Float32Array; shape: readonly number[]; count: number } {
  if (dataset === 'photos') return loadPhotos(name as 'mobilenetv2' | 'ppocr-cls', { samples: 4, seed: 7 });
  return loadDataset(dataset as 'mnist' | 'fmnist', 'test', { samples: 64, seed: 7 });
}

function relErr(ours: Tensor, ref: { dims: readonly number[]; data: ArrayLike<number | bigint> }): number {
  expect([...ours.shape]).toEqual([...ref.dims]);
  let maxRef = 0;
  let maxErr = 0;
  const d = ours.data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    const r = Number(ref.data[i]);
    maxRef = Math.max(maxRef, Math.abs(r));
    maxErr = Math.max(maxErr, Math.abs(d[i] - r));
  }
  expect(maxRef).toBeGreaterThan(0);
  return maxErr / maxRef;
}

describe('zoo models: FP32 executor equals onnxruntime-node within 1e-4', () => {
  const models = listModels();
  it('the zoo has the models the README names', () => {
    expect(models.map((m) => m.name).sort()).toEqual(['fmnist-cnn', 'fmnist-dwsep', 'fmnist-vit', 'mnist-mlp', 'mobilenetv2', 'ppocr-cls', 'ppocr-rec']);
  });

  // ppocr-rec (a text recognizer: rendered lines, softmax over 6,625 symbols per step) has its own
  // referee, test/golden/ppocr-rec-vs-ort.test.ts
  for (const m of models.filter((e) => e.name !== 'ppocr-rec')) {
    it(`${m.name} on ${m.dataset}`, async () => {
      const { graph, source } = loadModel(m.name);
      const data = inputsFor(m.name, m.dataset);
      const feeds = batchInput(graph, data.images, data.shape, 0, data.count);
      const ours = runFp32(graph, feeds);
      // the original file where there is one (bundled ONNX, ppocr-cls), our export for tfjs models
      const bytes = source.endsWith('.onnx') ? new Uint8Array(readFileSync(source)) : exportOnnx(graph);
      const ref = await runOrt(bytes, feeds);
      for (const o of graph.outputs) expect(relErr(ours[o.name], ref[o.name]), `${m.name}/${o.name}`).toBeLessThanOrEqual(1e-4);
      if (!source.endsWith('.onnx')) return;
      // and the exported copy of an ONNX original runs identically in ORT
      const again = await runOrt(exportOnnx(graph), feeds);
      for (const o of graph.outputs) expect(Array.from(again[o.name].data)).toEqual(Array.from(ref[o.name].data));
    });
  }
});
