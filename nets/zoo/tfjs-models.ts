/**
 * The tfjs side of the zoo: backend setup, the tfjs-layers model for a ModelSpec (models.ts),
 * and reading its trained weights back in the layouts `buildGraph` takes. Used by train.ts and
 * by the tests that check graph conversion against tfjs's own forward pass.
 *
 * tfjs models run NHWC: the per-image input [C, H, W] of a spec becomes [H, W, C] here (for
 * one channel the bytes are the same). Convolutions pad (k−1)/2 symmetrically like the graph:
 * tfjs 'same' does that at stride 1; at stride 2 it would pad bottom/right only, so strided
 * layers get an explicit ZeroPadding2D and 'valid'.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import { Prng } from '../prng.js';
import type { LayerSpec, ModelSpec, TrainedWeights, WeightArray } from './models.js';

export type Tf = typeof TfCore;
export type Tfl = typeof TfLayers;

/**
 * Loads tfjs-core + layers and selects `backend`. For wasm, the .wasm binaries are read from the
 * package's own dist/ (no network) and the extra kernels of wasm-grads.ts are registered.
 */
export async function initTf(backend: 'wasm' | 'cpu'): Promise<{ tf: Tf; tfl: Tfl }> {
  const tf = await import('@tensorflow/tfjs-core');
  // the layers bundle also registers tfjs-core's gradients
  const tfl = await import('@tensorflow/tfjs-layers');
  await import('@tensorflow/tfjs-backend-cpu');
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const req = createRequire(import.meta.url);
    wasm.setWasmPaths(join(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    const { registerWasmGradKernels } = await import('./wasm-grads.js');
    registerWasmGradKernels();
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialize`);
  await tf.ready();
  return { tf, tfl };
}

/** Per-image tfjs input shape (NHWC for images). */
export function tfInputShape(spec: ModelSpec): number[] {
  return spec.input.length === 3 ? [spec.input[1], spec.input[2], spec.input[0]] : [...spec.input];
}

/**
 * The tfjs-layers model of `spec`, every initializer seeded from `seed` (He normal for layers
 * followed by ReLU/ReLU6, Glorot uniform for the logits layer). Layer names are the spec's.
 */
export function buildTfModel(tfl: Tfl, spec: ModelSpec, seed: number): TfLayers.Sequential {
  const seeds = new Prng(seed * 7919 + 17);
  const nextSeed = (): number => seeds.nextU32() % 2147483647;
  const m = tfl.sequential({ name: spec.name.replace(/[^A-Za-z0-9_]/g, '_') });
  let first = true;
  const firstArg = (): { inputShape?: number[] } => {
    if (!first) return {};
    first = false;
    return { inputShape: tfInputShape(spec) };
  };
  const lastDense = spec.layers.map((l) => l.kind).lastIndexOf('dense');
  spec.layers.forEach((l, idx) => {
    switch (l.kind) {
      case 'conv':
      case 'dwconv': {
        const p = (l.kernel - 1) / 2;
        let padding: 'same' | 'valid' = 'valid';
        if (p > 0 && l.stride === 1) padding = 'same';
        else if (p > 0) m.add(tfl.layers.zeroPadding2d({ ...firstArg(), padding: p, name: `${l.name}_pad` }));
        const common = { ...firstArg(), kernelSize: l.kernel, strides: l.stride, padding, useBias: false, name: l.name };
        if (l.kind === 'conv') {
          m.add(tfl.layers.conv2d({ ...common, filters: l.filters, kernelInitializer: tfl.initializers.heNormal({ seed: nextSeed() }) }));
        } else {
          m.add(tfl.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: tfl.initializers.heNormal({ seed: nextSeed() }) }));
        }
        break;
      }
      case 'bn':
        m.add(tfl.layers.batchNormalization({ ...firstArg(), name: l.name, momentum: 0.99, epsilon: 1e-3 }));
        break;
      case 'relu':
        m.add(tfl.layers.reLU({ ...firstArg(), name: l.name }));
        break;
      case 'relu6':
        m.add(tfl.layers.reLU({ ...firstArg(), maxValue: 6, name: l.name }));
        break;
      case 'maxpool':
        m.add(tfl.layers.maxPooling2d({ ...firstArg(), poolSize: l.size, strides: l.size, padding: 'valid', name: l.name }));
        break;
      case 'gap':
        m.add(tfl.layers.globalAveragePooling2d({ ...firstArg(), name: l.name }));
        break;
      case 'flatten':
        m.add(tfl.layers.flatten({ ...firstArg(), name: l.name }));
        break;
      case 'dense':
        m.add(
          tfl.layers.dense({
            ...firstArg(),
            units: l.units,
            name: l.name,
            kernelInitializer: idx === lastDense ? tfl.initializers.glorotUniform({ seed: nextSeed() }) : tfl.initializers.heNormal({ seed: nextSeed() }),
            biasInitializer: 'zeros',
          }),
        );
        break;
      case 'dropout':
        m.add(tfl.layers.dropout({ ...firstArg(), rate: l.rate, seed: nextSeed(), name: l.name }));
        break;
    }
  });
  return m;
}

/** tfjs weight order per layer kind, with the names buildGraph reads */
const WEIGHT_KEYS: Partial<Record<LayerSpec['kind'], readonly string[]>> = {
  conv: ['kernel'],
  dwconv: ['kernel'],
  bn: ['gamma', 'beta', 'mean', 'variance'],
  dense: ['kernel', 'bias'],
};

/** The model's weights in tfjs layouts, keyed for buildGraph. */
export async function extractWeights(model: TfLayers.LayersModel, spec: ModelSpec): Promise<TrainedWeights> {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const l of spec.layers) {
    const names = WEIGHT_KEYS[l.kind];
    if (!names) continue;
    const ws = model.getLayer(l.name).getWeights();
    if (ws.length !== names.length) throw new Error(`${l.name}: tfjs has ${ws.length} weights, expected ${names.join(', ')}`);
    out[l.name] = {};
    for (let i = 0; i < names.length; i++) out[l.name][names[i]] = { shape: [...ws[i].shape], data: (await ws[i].data()) as Float32Array };
  }
  return out;
}

/** Logits of tfjs's inference-mode forward pass for `count` images (NCHW = dataset order). */
export async function tfjsLogits(tf: Tf, model: TfLayers.LayersModel, spec: ModelSpec, images: Float32Array, count: number): Promise<Float32Array> {
  const per = images.length / count;
  const y = tf.tidy(() => {
    const x = tf.tensor(images.subarray(0, count * per), [count, ...spec.input]);
    // dataset images are NCHW; tfjs wants NHWC (the same bytes for one channel)
    return model.predict(spec.input.length === 3 ? tf.transpose(x, [0, 2, 3, 1]) : x) as TfCore.Tensor;
  });
  const out = (await y.data()) as Float32Array;
  y.dispose();
  return out;
}
