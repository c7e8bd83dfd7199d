/**
 * PTQ of post-Softmax probabilities with a log2 / log√2 quantizer (qnet/logquant.ts; RepQ-ViT
 * §3.3): a pass over the built QuantizedNetwork that gives each attention softmax's output a log
 * code instead of the uniform 1/2^b grid, when every reader of it is the P operand of an
 * activation × activation matmul (the only layer that computes on log codes: shift-add). Others
 * keep the uniform grid and are named in `skipped`.
 *
 * The scale is calibrated as RepQ-ViT's LogSqrt2Quantizer does: candidates the 0.999, 0.9999 and
 * 0.99999 quantiles of the FP32 probabilities over the calibration images and their maximum, the
 * one with the least squared error after quantization wins (scale = the value of code 0; larger
 * probabilities clamp to it).
 */
import type { Graph } from '../nets/graph.js';
import { logFakeQuantize, logStorageQParams, type LogBase, type LogQuant } from '../qnet/logquant.js';
import type { QTensorInfo, QuantizedNetwork } from '../qnet/network.js';
import type { CalibData } from './calibrate.js';
import { probeTensors } from './repq.js';

export interface LogSoftmaxResult {
  readonly net: QuantizedNetwork;
  /** by softmax layer name */
  readonly quantizers: ReadonlyMap<string, LogQuant>;
  readonly skipped: readonly { readonly layer: string; readonly reason: string }[];
}

const QUANTILES = [0.999, 0.9999, 0.99999];

/** RepQ-ViT's scale search over `x` (sorted copy taken here). */
export function calibrateLogScale(x: Float32Array, base: LogBase, bits: number): LogQuant {
  const sorted = Float32Array.from(x).sort();
  const n = sorted.length;
  const cands = [sorted[n - 1], ...QUANTILES.map((p) => sorted[Math.min(n - 1, Math.floor(p * (n - 1)))])].filter((v) => v > 0);
  let best: LogQuant = { base, bits, scale: 1 };
  let bestErr = Infinity;
  const fq = new Float32Array(n);
  for (const s of cands) {
    const lq: LogQuant = { base, bits, scale: Math.fround(s) };
    logFakeQuantize(x, lq, fq);
    let err = 0;
    for (let i = 0; i < n; i++) err += (fq[i] - x[i]) ** 2;
    if (err < bestErr) {
      bestErr = err;
      best = lq;
    }
  }
  return best;
}

/**
 * The network with its attention softmax outputs log-coded; `graph` is the float graph the plan was
 * built from (the softmax layers keep its node names), `calib` the calibration images.
 */
export function applyLogSoftmax(net: QuantizedNetwork, graph: Graph, calib: CalibData, base: LogBase, bits: number, maxImages = 128): LogSoftmaxResult {
  const skipped: { layer: string; reason: string }[] = [];
  const readers = new Map<string, { layer: string; ok: boolean }[]>();
  for (const l of net.layers) l.inputs.forEach((t, i) => (readers.get(t) ?? readers.set(t, []).get(t)!).push({ layer: l.name, ok: l.kind === 'matmul' && i === 0 }));
  const graphOut = new Map(graph.nodes.filter((n) => n.op === 'Softmax').map((n) => [n.name, n.outputs[0]]));
  const chosen: { layer: string; tensor: string; fp: string }[] = [];
  for (const l of net.layers) {
    if (l.kind !== 'softmax') continue;
    const rs = readers.get(l.output) ?? [];
    const bad = rs.find((r) => !r.ok);
    const fp = graphOut.get(l.name);
    if (rs.length === 0 || bad) skipped.push({ layer: l.name, reason: bad ? `'${bad.layer}' reads its output other than as the P of a matmul` : 'nothing reads its output' });
    else if (net.outputs.some((o) => o.name === l.output)) skipped.push({ layer: l.name, reason: 'its output is a network output' });
    else if (!fp) skipped.push({ layer: l.name, reason: 'no Softmax node of that name in the float graph' });
    else chosen.push({ layer: l.name, tensor: l.output, fp });
  }
  const quantizers = new Map<string, LogQuant>();
  if (chosen.length === 0) return { net, quantizers, skipped };
  const probes = probeTensors(graph, calib, chosen.map((c) => c.fp), maxImages);
  const tensors = new Map<string, QTensorInfo>(net.tensors);
  for (const c of chosen) {
    const lq = calibrateLogScale(probes.get(c.fp)!, base, bits);
    quantizers.set(c.layer, lq);
    const t = tensors.get(c.tensor)!;
    tensors.set(c.tensor, { name: t.name, shape: t.shape, q: logStorageQParams(lq), log: lq });
  }
  return { net: { ...net, tensors }, quantizers, skipped };
}
