/**
 * The pretrained MobileNetV2 image classifiers shipped in npm `nsfwjs@4.3.0` (a dependency), read
 * from node_modules without network.
 *
 *   - `mobilenet_v2`: Keras 2.2.4 layers model, MobileNetV2 α=1.0 with BatchNormalization layers
 *     (Conv/DepthwiseConv without bias → BN → ReLU(max 6)), ZeroPadding2D before the stride-2
 *     convs, AveragePooling2D 7×7 → Flatten → Dense 256 relu → Dropout → Dense 128 relu →
 *     Dropout → Dense 5 softmax. 2.62 M parameters (BN statistics included), all stored
 *     uint8-quantized.
 *   - `mobilenet_v2_mid`: TF graph model (converter 1.7.4), MobileNetV2 α=1.4 (TF-Hub feature
 *     vector, BN folded into _FusedConv2D / FusedDepthwiseConv2dNative with BiasAdd and Relu6),
 *     input mapped to [−1, 1] inside the graph (Mul 2, Sub 1), AvgPool 7×7 → Squeeze →
 *     _FusedMatMul(BiasAdd) 1792→5 → Softmax. 4.30 M parameters, uint8-quantized.
 *
 * Both take 224×224 RGB in [0, 1] (nsfwjs divides pixels by 255 and resizes with
 * tf.image.resizeBilinear alignCorners=true: preprocessing 'mobilenetv2' in
 * nets/data/preprocess.ts) and output softmax probabilities over NSFWJS_CLASSES; the imported
 * graph calls them `probs`, the pre-softmax tensor `logits`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ModelError } from '../errors.js';
import type { Graph } from '../graph.js';
import { loadTfjsModel } from './import.js';

export type NsfwjsVariant = 'mobilenet_v2' | 'mobilenet_v2_mid';

export const NSFWJS_VARIANTS: readonly NsfwjsVariant[] = ['mobilenet_v2', 'mobilenet_v2_mid'];

/** nsfwjs's NSFW_CLASSES, in output order */
export const NSFWJS_CLASSES: readonly string[] = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

const require = createRequire(import.meta.url);

/** Directory of an nsfwjs model in node_modules; ModelError naming the npm package if absent. */
export function nsfwjsModelDir(variant: NsfwjsVariant): string {
  if (!NSFWJS_VARIANTS.includes(variant)) throw new ModelError(`unknown nsfwjs model '${String(variant)}' (${NSFWJS_VARIANTS.join(', ')})`);
  for (const base of require.resolve.paths('nsfwjs') ?? []) {
    const dir = join(base, 'nsfwjs', 'dist', 'models', variant);
    if (existsSync(join(dir, 'model.min.js'))) return dir;
  }
  throw new ModelError(`nsfwjs model '${variant}' not found: install the npm package 'nsfwjs@4.3.0' (npm install)`);
}

export function loadNsfwjsModel(variant: NsfwjsVariant = 'mobilenet_v2'): Graph {
  return loadTfjsModel(nsfwjsModelDir(variant), {
    name: `nsfwjs_${variant}`,
    meta: {
      model: `nsfwjs@4.3.0 ${variant}`,
      preprocess: 'mobilenetv2',
      input: 'NCHW float32 [N,3,224,224], RGB pixel/255 in [0,1], resized to 224x224 by tf.image.resizeBilinear alignCorners=true (nsfwjs NSFWJS.infer)',
      output: `probs: softmax probabilities [N,5] over ${NSFWJS_CLASSES.join(', ')}; logits: the pre-softmax tensor`,
      classes: NSFWJS_CLASSES.join(','),
    },
  });
}
