/**
 * Bundled zoo models (nets/zoo): the manifest matches the ONNX files, the graphs follow the
 * conventions the PTQ passes expect, the FP32 executor reproduces the manifest's top-1 exactly
 * on the full test split, and the tfjs → Graph conversion computes tfjs's function.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { evaluateTop1 } from '../../../nets/eval.js';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph } from '../../../nets/graph.js';
import { loadOnnx } from '../../../nets/onnx/import.js';
import { Prng } from '../../../nets/prng.js';
import { layerStats } from '../../../nets/shapes.js';
import { readManifest, ZOO_DIR } from '../../../nets/zoo/index.js';
import { buildGraph, MODEL_SPECS } from '../../../nets/zoo/models.js';
import { buildTfModel, extractWeights, initTf, tfjsLogits, type Tf, type Tfl } from '../../../nets/zoo/tfjs-models.js';

const NAMES = ['fmnist-cnn', 'fmnist-dwsep', 'mnist-mlp'] as const;
const manifest = readManifest();
const graphs = new Map<string, Graph>();
const graphOf = (name: string): Graph => {
  let g = graphs.get(name);
  if (!g) {
    g = loadOnnx(join(ZOO_DIR, manifest[name].file));
    graphs.set(name, g);
  }
  return g;
};

describe('zoo manifest and files', () => {
  it.each(NAMES)('%s: manifest entry, file, interface, params and MACs', (name) => {
    const m = manifest[name];
    const spec = MODEL_SPECS[name];
    expect(m).toBeDefined();
    expect(m.file).toBe(`${name}.onnx`);
    expect(existsSync(join(ZOO_DIR, m.file))).toBe(true);
    expect(m.dataset).toBe(spec.dataset);
    expect(m.split).toBe('test');
    expect(m.samples).toBe(spec.dataset === 'fmnist' ? 10000 : 2004);
    expect(m.input).toEqual(spec.input);
    expect(m.trainedBy).toMatch(new RegExp(`^npx tsx nets/zoo/train\\.ts --model ${name} --epochs \\d+ --seed ${m.seed}$`));
    expect(m.top1).toBeGreaterThanOrEqual({ 'fmnist-cnn': 0.9, 'fmnist-dwsep': 0.88, 'mnist-mlp': 0.96 }[name]);
    expect(Number.isInteger(Math.round(m.top1 * m.samples))).toBe(true);
    expect(Math.abs(m.top1 * m.samples - Math.round(m.top1 * m.samples))).toBeLessThan(1e-6);

    const g = graphOf(name);
    expect(g.inputs.map((v) => [v.name, v.dtype, [...v.shape]])).toEqual([['input', 'float32', [-1, ...spec.input]]]);
    expect(g.outputs.map((v) => [v.name, [...v.shape]])).toEqual([['logits', [-1, 10]]]);
    const stats = layerStats(g);
    expect(m.params).toBe(stats.totalParams);
    expect(m.macs).toBe(stats.totalMacs);
    // small enough for the simulator to run many times
    expect(m.macs).toBeLessThanOrEqual(25e6);
  });

  it('graphs keep BN unfolded, ReLU6 as Clip(0, 6), depthwise as grouped Conv, dense as Gemm(transB)', () => {
    const ops = (g: Graph): string[] => g.nodes.map((n) => n.op);
    const cnn = graphOf('fmnist-cnn');
    const dws = graphOf('fmnist-dwsep');
    const mlp = graphOf('mnist-mlp');
    for (const g of [cnn, dws]) {
      const convs = g.nodes.filter((n) => n.op === 'Conv');
      expect(convs.length).toBeGreaterThan(2);
      // every Conv feeds a BatchNormalization (the PTQ passes fold it, not the exporter)
      for (const c of convs) {
        const next = g.nodes.find((n) => n.inputs[0] === c.outputs[0])!;
        expect(next.op).toBe('BatchNormalization');
        expect(next.attrs.epsilon).toBeCloseTo(1e-3, 9);
        expect(c.inputs.length).toBe(2);
      }
    }
    expect(ops(cnn)).toContain('MaxPool');
    expect(ops(cnn)).toContain('Flatten');
    const clips = dws.nodes.filter((n) => n.op === 'Clip');
    expect(clips.length).toBe(11);
    for (const c of clips) expect([c.attrs.min, c.attrs.max]).toEqual([0, 6]);
    const dwConvs = dws.nodes.filter((n) => n.op === 'Conv' && (n.attrs.group as number) > 1);
    expect(dwConvs.length).toBe(5);
    for (const c of dwConvs) expect(dws.initializers.get(c.inputs[1])!.shape[1]).toBe(1);
    expect(ops(dws)).toContain('GlobalAveragePool');
    expect(ops(mlp)).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    for (const g of [cnn, dws, mlp]) {
      expect(ops(g)).not.toContain('Softmax');
      for (const n of g.nodes.filter((x) => x.op === 'Gemm')) expect(n.attrs.transB).toBe(1);
    }
  });
});

describe('FP32 executor reproduces the manifest top-1 exactly (full test split)', () => {
  it.each(NAMES)(
    '%s',
    (name) => {
      const m = manifest[name];
      const set = loadDataset(m.dataset, 'test');
      const res = evaluateTop1(graphOf(name), set, { batch: 500 });
      expect(res.samples).toBe(m.samples);
      expect(res.correct / res.samples).toBe(m.top1);
    },
    900_000,
  );
});

describe('tfjs → Graph conversion computes the same function', () => {
  let tf: Tf;
  let tfl: Tfl;
  beforeAll(async () => {
    ({ tf, tfl } = await initTf('cpu'));
  });

  it.each(NAMES)(
    '%s with random weights and BN statistics',
    async (name) => {
      const spec = MODEL_SPECS[name];
      const model = buildTfModel(tfl, spec, 5);
      // non-trivial BN statistics and biases, so that a mix-up of scale/bias/mean/var shows
      const rng = new Prng(11);
      for (const l of spec.layers) {
        if (l.kind !== 'bn' && l.kind !== 'dense') continue;
        const layer = model.getLayer(l.name);
        const ws = layer.getWeights();
        const fresh = ws.map((w, i) => {
          const n = w.size;
          const d = new Float32Array(n);
          for (let j = 0; j < n; j++) {
            if (l.kind === 'dense') d[j] = i === 0 ? (w.dataSync()[j] as number) : 0.1 * rng.normal();
            else d[j] = i === 3 ? 0.5 + rng.next() : i === 0 ? 0.5 + rng.next() : 0.3 * rng.normal();
          }
          return tf.tensor(d, w.shape);
        });
        layer.setWeights(fresh);
      }
      const graph = buildGraph(spec, await extractWeights(model, spec));
      const set = loadDataset(spec.dataset, 'test', { samples: 8, seed: 3 });
      const want = await tfjsLogits(tf, model, spec, set.images, set.count);
      const got = runFp32(graph, { input: { dtype: 'float32', shape: [set.count, ...spec.input], data: set.images } }).logits;
      expect(got.shape).toEqual([set.count, 10]);
      const g = got.data as Float32Array;
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < want.length; i++) expect(Math.abs(g[i] - want[i])).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
      model.dispose();
    },
    120_000,
  );
});
