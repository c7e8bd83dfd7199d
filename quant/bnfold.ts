/**
 * Batch-norm folding (white paper §2.3.1): Conv→BN and Gemm/MatMul→BN become one linear layer
 * with W' = W·k and b' = (b − μ)·k + β per output channel, k = γ / sqrt(σ² + ε).
 *
 * What survives of the BN is its (γ, β): after training, the folded layer's pre-activation output
 * is ~N(β, γ²) per channel — the statistics CLE's high-bias absorption, BN-based activation ranges
 * and analytic bias correction need. They are returned beside the graph, keyed by the layer.
 *
 * A BN is folded only when its input is produced by a Conv / Gemm / MatMul whose output nothing else
 * reads (folding would change the other reader's value) and is not a graph output. A BN after a
 * graph input, an Add, a pooling layer … is left in place and reported nothing for.
 */
import { ModelError } from '../nets/errors.js';
import { attrNum, numel, type Graph, type Node, type Tensor } from '../nets/graph.js';
import { inferShapes } from '../nets/shapes.js';

export interface FoldedBn {
  /**
   * Per output channel of the layer the BN was folded into: the spread of that layer's
   * pre-activation output, |γ| of the BN (the sign of γ went into the folded weights; as the std of
   * N(β, γ²) only its magnitude matters).
   */
  readonly gamma: Float32Array;
  /** per output channel: β of the BN, the mean of the layer's pre-activation output */
  readonly beta: Float32Array;
}

export function foldBatchNorms(graph: Graph): { graph: Graph; bn: ReadonlyMap<string, FoldedBn> } {
  const consumers = consumerCounts(graph);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);
  let shapes: Map<string, number[]> | undefined;

  const inits = new Map(graph.initializers);
  const replaced = new Map<string, Node>(); // layer name → folded layer node
  const dropped = new Set<string>(); // BN node names removed
  const bn = new Map<string, FoldedBn>();

  for (const node of graph.nodes) {
    if (node.op !== 'BatchNormalization') continue;
    const layer0 = producer.get(node.inputs[0]);
    if (!layer0 || !(layer0.op === 'Conv' || layer0.op === 'Gemm' || layer0.op === 'MatMul')) continue;
    const layer = replaced.get(layer0.name) ?? layer0;
    if (bn.has(layer.name)) continue; // a second BN on the same layer output cannot both be folded
    if (consumers.get(layer0.outputs[0]) !== 1 || graphOutputs.has(layer0.outputs[0])) continue;
    const params = node.inputs.slice(1, 5).map((n) => inits.get(n));
    if (params.some((t) => !t || !(t.data instanceof Float32Array))) continue; // BN statistics computed at run time
    const [scale, shift, mean, variance] = params.map((t) => t!.data as Float32Array);
    const eps = attrNum(node, 'epsilon', 1e-5);
    const cout = scale.length;
    // k and the folded bias in float64, rounded once, so the folded layer matches BN's float32 chain
    const k = new Float64Array(cout);
    for (let c = 0; c < cout; c++) k[c] = scale[c] / Math.sqrt(variance[c] + eps);

    let folded: Node | undefined;
    if (layer.op === 'Conv') folded = foldConv(layer, node, k, shift, mean, inits);
    else if (layer.op === 'Gemm') folded = foldGemm(layer, node, k, shift, mean, inits);
    else {
      shapes ??= inferShapes(graph);
      const aShape = shapes.get(layer.inputs[0]);
      if (aShape?.length === 2) folded = foldMatMul(layer, node, k, shift, mean, inits);
    }
    if (!folded) continue;
    replaced.set(layer0.name, folded);
    dropped.add(node.name);
    const gamma = new Float32Array(cout);
    for (let c = 0; c < cout; c++) gamma[c] = Math.abs(scale[c]);
    bn.set(folded.name, Object.freeze({ gamma, beta: Float32Array.from(shift) }));
  }

  const nodes = graph.nodes.filter((n) => !dropped.has(n.name)).map((n) => replaced.get(n.name) ?? n);
  // BN parameters and the unfolded weights are no longer referenced by anything
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) used.add(i);
  for (const name of [...inits.keys()]) if (!used.has(name)) inits.delete(name);
  return { graph: { ...graph, nodes, initializers: inits }, bn };
}

function consumerCounts(graph: Graph): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i !== '') m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

function weightOf(layer: Node, inits: Map<string, Tensor>, idx: number): Tensor {
  const t = inits.get(layer.inputs[idx]);
  if (!t || !(t.data instanceof Float32Array)) {
    throw new ModelError([{ node: layer.name, op: layer.op, message: `input ${idx} must be a float32 initializer to fold a BatchNormalization into it` }]);
  }
  return t;
}

/** A fresh initializer name, so weights shared with other nodes are never overwritten. */
function freshName(base: string, inits: Map<string, Tensor>): string {
  let name = base;
  for (let i = 1; inits.has(name); i++) name = `${base}_${i}`;
  return name;
}

function foldConv(layer: Node, bnNode: Node, k: Float64Array, shift: Float32Array, mean: Float32Array, inits: Map<string, Tensor>): Node | undefined {
  const wt = inits.get(layer.inputs[1]);
  if (!wt || !(wt.data instanceof Float32Array) || wt.shape[0] !== k.length) return undefined;
  const w = wt.data;
  const cout = k.length;
  const per = w.length / cout;
  const w2 = new Float32Array(w.length);
  for (let c = 0; c < cout; c++) {
    const kc = k[c];
    const base = c * per;
    for (let i = 0; i < per; i++) w2[base + i] = w[base + i] * kc;
  }
  const bias = layer.inputs[2] ? weightOf(layer, inits, 2).data as Float32Array : undefined;
  const b2 = new Float32Array(cout);
  for (let c = 0; c < cout; c++) b2[c] = ((bias ? bias[c] : 0) - mean[c]) * k[c] + shift[c];
  const wName = freshName(`${layer.name}_W_bnfolded`, inits);
  inits.set(wName, { dtype: 'float32', shape: [...wt.shape], data: w2 });
  const bName = freshName(`${layer.name}_B_bnfolded`, inits);
  inits.set(bName, { dtype: 'float32', shape: [cout], data: b2 });
  return { ...layer, inputs: [layer.inputs[0], wName, bName], outputs: [bnNode.outputs[0]] };
}

/** Gemm: Y = α·A'·B' + β·C; folded into α = β = 1 with B' scaled per output column. */
function foldGemm(layer: Node, bnNode: Node, k: Float64Array, shift: Float32Array, mean: Float32Array, inits: Map<string, Tensor>): Node | undefined {
  const bt = inits.get(layer.inputs[1]);
  if (!bt || !(bt.data instanceof Float32Array) || bt.shape.length !== 2) return undefined;
  const transB = attrNum(layer, 'transB', 0) === 1;
  const nOut = transB ? bt.shape[0] : bt.shape[1];
  const kIn = transB ? bt.shape[1] : bt.shape[0];
  if (nOut !== k.length) return undefined;
  const alpha = attrNum(layer, 'alpha', 1);
  const beta = attrNum(layer, 'beta', 1);
  let cVec: Float32Array | undefined;
  if (layer.inputs[2]) {
    const ct = inits.get(layer.inputs[2]);
    if (!ct || !(ct.data instanceof Float32Array)) return undefined;
    // only a per-column (or scalar) C folds into a per-channel bias
    const n = numel(ct.shape);
    if (n === 1) cVec = new Float32Array(nOut).fill(ct.data[0]);
    else if (n === nOut && ct.shape[ct.shape.length - 1] === nOut) cVec = ct.data;
    else return undefined;
  }
  const b = bt.data;
  const w2 = new Float32Array(b.length);
  for (let kk = 0; kk < kIn; kk++) {
    for (let n = 0; n < nOut; n++) {
      const idx = transB ? n * kIn + kk : kk * nOut + n;
      w2[idx] = alpha * b[idx] * k[n];
    }
  }
  const b2 = new Float32Array(nOut);
  for (let n = 0; n < nOut; n++) b2[n] = ((cVec ? beta * cVec[n] : 0) - mean[n]) * k[n] + shift[n];
  const wName = freshName(`${layer.name}_W_bnfolded`, inits);
  inits.set(wName, { dtype: 'float32', shape: [...bt.shape], data: w2 });
  const bName = freshName(`${layer.name}_B_bnfolded`, inits);
  inits.set(bName, { dtype: 'float32', shape: [nOut], data: b2 });
  return { ...layer, inputs: [layer.inputs[0], wName, bName], outputs: [bnNode.outputs[0]], attrs: { ...layer.attrs, alpha: 1, beta: 1 } };
}

/** MatMul with a 2-D input and a [K, N] weight: becomes Gemm(transB = 0) with the folded bias. */
function foldMatMul(layer: Node, bnNode: Node, k: Float64Array, shift: Float32Array, mean: Float32Array, inits: Map<string, Tensor>): Node | undefined {
  const bt = inits.get(layer.inputs[1]);
  if (!bt || !(bt.data instanceof Float32Array) || bt.shape.length !== 2 || bt.shape[1] !== k.length) return undefined;
  const gemm: Node = { ...layer, op: 'Gemm', inputs: [layer.inputs[0], layer.inputs[1]], attrs: { alpha: 1, beta: 1, transA: 0, transB: 0 } };
  return foldGemm(gemm, bnNode, k, shift, mean, inits);
}
