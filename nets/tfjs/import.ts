/**
 * TensorFlow.js importer: Keras *layers* models and TF *graph* models → the NCHW Network IR.
 *
 * Layout. TF tensors are NHWC; the IR is NCHW. Every rank-4 TF activation becomes the NCHW
 * tensor holding the same values (the importer tracks which IR tensors stand for NHWC ones and
 * maps axes, per-channel constants and flatten order accordingly); the graph input becomes
 * `[N, C, H, W]` float32, so callers feed NCHW images (`nets/data/photos.ts` does).
 *
 * Weights. Conv kernels HWIO → OIHW. Depthwise kernels `[kh, kw, C, M]` → `[C·M, 1, kh, kw]` with
 * `group = C`; output channel `c·M + m`, TF's depthwise channel order. Dense / MatMul kernels
 * `[in, out]` are stored transposed as `[out, in]` and used by Gemm with `transB = 1`, so every
 * linear layer's weight is output-channel-major like a conv's (what per-channel quantization and
 * the PE array's weight-stationary mapping index by). Quantized tfjs weights (uint8 / uint16 /
 * float16 in the manifest) are dequantized exactly as tfjs does on load, so the imported float
 * network is the one tfjs runs.
 *
 * Padding. TF 'same' becomes explicit Conv / pool `pads`, asymmetric (more at the end) when the
 * total is odd, as TF computes it. Keras ZeroPadding2D / TF Pad become a Pad node, then a Pad
 * whose only consumers are Convs is folded into their `pads` (an accelerator pads at the
 * convolution's input; no padded copy of the activation is materialized). Pads feeding anything
 * else stay Pad nodes.
 *
 * Files: builder.ts (the IR being built, layouts, geometry, post-passes), keras.ts (layers
 * models), graph-model.ts (graph models); this file reads the artifacts and picks the converter.
 *
 * Ops. Keras BatchNormalization stays BatchNormalization (epsilon from the config), ReLU with
 * max_value m → Clip(0, m), Dropout-like layers vanish, a pooling window that covers the whole
 * map (valid padding) becomes GlobalAveragePool; TF fused ops (_FusedConv2D,
 * FusedDepthwiseConv2dNative, _FusedMatMul) are unfused into Conv/Gemm + BatchNormalization /
 * activation nodes. Anything else is collected and reported in one ModelError.
 *
 * Outputs. When a graph output is a softmax, its output tensor is renamed `probs` and the
 * softmax input `logits` (kept as an ordinary intermediate tensor: `runFp32(..., {keep:
 * ['logits']})` returns it); a graph output that is a linear layer is renamed `logits`.
 */
import type { Graph } from '../graph.js';
import { decodeTfjsWeights, readTfjsArtifacts, type TfjsArtifacts } from './artifacts.js';
import { Builder } from './builder.js';
import { convertGraph } from './graph-model.js';
import { convertLayers } from './keras.js';

export interface TfjsImportOptions {
  /** graph name (default: the Keras model name, or the directory) */
  name?: string;
  /** extra provenance merged into graph.meta */
  meta?: Record<string, string>;
}

/** Reads a tfjs model directory (model.json or nsfwjs's model.min.js bundles) and converts it. */
export function loadTfjsModel(dir: string, opts: TfjsImportOptions = {}): Graph {
  return tfjsToGraph(readTfjsArtifacts(dir), { ...opts, meta: { source: dir, ...opts.meta } });
}

export function tfjsToGraph(art: TfjsArtifacts, opts: TfjsImportOptions = {}): Graph {
  const file = art.files[0];
  const weights = decodeTfjsWeights(art.weightSpecs, art.weightData, file);
  const b = new Builder(file);
  let name: string;
  const meta: Record<string, string> = { format: `tfjs ${art.format}` };
  const mj = art.modelJson;
  for (const k of ['generatedBy', 'convertedBy'] as const) if (typeof mj[k] === 'string') meta[k] = mj[k] as string;
  if (art.format === 'layers-model') {
    name = convertLayers(art.modelTopology, weights, b);
    const kv = art.modelTopology.keras_version;
    if (typeof kv === 'string') meta.producer = `keras ${kv}`;
  } else {
    name = convertGraph(art.modelTopology, mj.userDefinedMetadata, weights, b);
    meta.names = 'TF function-call prefixes (…/StatefulPartitionedCall/) stripped from node names';
  }
  b.throwIfProblems();
  const g = b.finish(opts.name ?? name);
  meta.layout = 'NCHW: TF NHWC activations transposed; conv weights OIHW, depthwise (C*M)x1xKhxKw group=C, Gemm B [out,in] transB=1';
  return { ...g, meta: { ...meta, ...g.meta, ...opts.meta } };
}
