/**
 * FP32 reference executor for the Network IR (NCHW, ONNX semantics).
 *
 * It is the float baseline every quantized result is compared against, so it favours accuracy
 * over speed where they conflict: convolution and GEMM form each product in float64 (exact for
 * float32 operands), accumulate in float64 and round once to float32 (onnxruntime accumulates in
 * float32 in its own order; the difference stays far below the 1e-4 relative tolerance the tests
 * hold it to).
 *
 * Conv (stride 1 read straight from the padded input, other strides after im2col; depthwise
 * directly), Gemm and MatMul run on WebAssembly SIMD kernels (wasm-f32.ts) with that same float64
 * accumulation in f64x2 lanes — only the order of float64 additions differs from the scalar loops
 * kept below (depthwise: not even that). Relu, Clip, BatchNormalization and MaxPool run in SIMD
 * lanes too, with results identical to their scalar loops (MaxPool with a horizontal stride above
 * 2: a JS loop with hoisted bounds); GlobalAveragePool sums in f64x2 lanes. runFp32 runs Conv →
 * BatchNormalization → Relu / Clip chains as one kernel (the epilogue applies each node to the
 * float32 value the node before it outputs: the unfused values, bit for bit). The scalar loops
 * remain the fallback (no WebAssembly SIMD; convolutions with 1–3 output channels per group that
 * are not plain depthwise, or depthwise with a horizontal stride above 2) and the reference of
 * test/unit/nets/fp32-fast.test.ts.
 *
 * Files: this one runs a graph and the elementwise ops; fp32-linear.ts (Conv, Gemm, MatMul),
 * fp32-pool.ts (pools), fp32-norm.ts (Softmax, LayerNormalization, ReduceMean), fp32-tensor.ts
 * (operand checks, broadcasting, Concat / Transpose / Slice / Pad).
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, attrStr, clipChannelMax, numel, type Graph, type Node, type Tensor } from './graph.js';
import { conv, convPost, gemm, matmul } from './fp32-linear.js';
import { layerNorm, reduceMean, softmax } from './fp32-norm.js';
import { globalAvgPool, pool } from './fp32-pool.js';
import { broadcastIndex, concat, f32, out, pad, slice, transpose, upsampleNearest } from './fp32-tensor.js';
import { broadcastShapes, nodeOutputShapes, normAxis } from './shapes.js';
import { simdAvailable, simdBatchNorm, simdClamp, type ConvPost, type SimdAccum } from './wasm-f32.js';

/**
 * Which kernels run Conv / Gemm / MatMul (and Relu, Clip, BatchNormalization, MaxPool): 'auto' =
 * 'simd-f64' where WebAssembly SIMD is available, else 'scalar' (the plain JS loops);
 * 'simd-f32' accumulates Conv / Gemm / MatMul in float32 lanes (like onnxruntime) — for
 * measurement only, not the reference.
 */
export type Fp32Kernels = 'auto' | 'scalar' | 'simd-f64' | 'simd-f32';

export interface Fp32Options {
  /** also return these intermediate tensors (by name) besides the graph outputs */
  keep?: readonly string[];
  /** called after each node with its output tensors (calibration hooks) */
  onNode?: (node: Node, outputs: readonly Tensor[]) => void;
  /** default 'auto' */
  kernels?: Fp32Kernels;
}

export function runFp32(graph: Graph, feeds: Record<string, Tensor>, opts: Fp32Options = {}): Record<string, Tensor> {
  const values = new Map<string, Tensor>();
  for (const [name, t] of graph.initializers) values.set(name, t);
  for (const inp of graph.inputs) {
    const t = feeds[inp.name];
    if (!t) throw new ModelError([{ node: inp.name, message: `graph input '${inp.name}' was not fed` }]);
    if (t.shape.length !== inp.shape.length || inp.shape.some((d, i) => d >= 0 && d !== t.shape[i])) {
      throw new ModelError([{ node: inp.name, message: `input '${inp.name}' has shape [${t.shape.join(',')}], graph expects [${inp.shape.join(',')}]` }]);
    }
    values.set(inp.name, t);
  }
  // free intermediates after their last use: MobileNet-sized graphs otherwise hold every activation
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
  const keep = new Set([...graph.outputs.map((o) => o.name), ...(opts.keep ?? [])]);
  // a hook sees every node's outputs, so nothing is fused under one
  const chains = opts.onNode ? new Map<number, ConvChain>() : convChains(graph, keep);
  const fused = new Set<number>();
  for (const ch of chains.values()) for (const i of [ch.bn, ch.act]) if (i !== undefined) fused.add(i);
  // inputs from index `from` on (a fused BN's X is its Conv's output, never stored)
  const inputsOf = (node: Node, from = 0): (Tensor | undefined)[] =>
    node.inputs.map((n, i) => {
      if (n === '' || i < from) return undefined;
      const v = values.get(n);
      if (!v) throw new ModelError([{ node: node.name, op: node.op, message: `input '${n}' is not computed before this node` }]);
      return v;
    });

  graph.nodes.forEach((node, idx) => {
    if (!fused.has(idx)) {
      const ins = inputsOf(node);
      const chain = chains.get(idx);
      if (chain) {
        const last = graph.nodes[chain.act ?? chain.bn!];
        values.set(last.outputs[0], execConvChain(node, ins, chain.bn === undefined ? undefined : graph.nodes[chain.bn], chain.act === undefined ? undefined : graph.nodes[chain.act], inputsOf, opts.kernels ?? 'auto'));
      } else {
        const outs = execNode(node, ins, opts.kernels);
        node.outputs.forEach((o, i) => o !== '' && values.set(o, outs[i]));
        opts.onNode?.(node, outs);
      }
    }
    for (const n of node.inputs) {
      if (lastUse.get(n) === idx && !keep.has(n) && !graph.initializers.has(n)) values.delete(n);
    }
  });
  const result: Record<string, Tensor> = {};
  for (const name of keep) {
    const v = values.get(name);
    if (v) result[name] = v;
  }
  return result;
}

/** A Conv node index's fused followers (node indices): BatchNormalization, then Relu or Clip. */
interface ConvChain {
  bn?: number;
  act?: number;
}

/**
 * The Conv → BatchNormalization → Relu / Clip chains runFp32 runs as one kernel (ONNX Runtime
 * fuses the same): each link's output feeds only the next link and is neither a graph output nor
 * kept, the BN is on the channel axis (inputs X, scale, B, mean, var) and a Clip has its bounds as
 * attributes with lo ≤ hi (the forms the executor's Clip reads). The values are those of the
 * unfused nodes (see ConvPost), so fusing only saves the passes over memory.
 */
function convChains(graph: Graph, keep: ReadonlySet<string>): Map<number, ConvChain> {
  const consumers = new Map<string, number[]>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((x) => x !== '' && consumers.set(x, [...(consumers.get(x) ?? []), i])));
  const soleUse = (name: string, op: (o: string) => boolean): number | undefined => {
    const c = consumers.get(name);
    if (!c || c.length !== 1 || keep.has(name)) return undefined;
    const n = graph.nodes[c[0]];
    return op(n.op) && n.inputs[0] === name && n.inputs.indexOf(name, 1) < 0 && n.outputs.length === 1 ? c[0] : undefined;
  };
  const chains = new Map<number, ConvChain>();
  graph.nodes.forEach((n, i) => {
    if (n.op !== 'Conv' || n.outputs.length !== 1) return;
    const bn = soleUse(n.outputs[0], (o) => o === 'BatchNormalization');
    if (bn !== undefined && graph.nodes[bn].inputs.length !== 5) return;
    const from = bn === undefined ? n : graph.nodes[bn];
    let act = soleUse(from.outputs[0], (o) => o === 'Relu' || o === 'Clip');
    if (act !== undefined && graph.nodes[act].op === 'Clip') {
      const c = graph.nodes[act];
      // per-channel bounds (channelMax) are not an epilogue form: that Clip runs on its own
      if (c.inputs.length > 1 || clipChannelMax(c) !== null || !(attrNum(c, 'min', -Infinity) <= attrNum(c, 'max', Infinity))) act = undefined;
    }
    if (bn !== undefined || act !== undefined) chains.set(i, { bn, act });
  });
  return chains;
}

/** A Conv chain's last output: fused into the SIMD kernels' epilogue, else node after node. */
function execConvChain(conv: Node, ins: readonly (Tensor | undefined)[], bnNode: Node | undefined, actNode: Node | undefined, inputsOf: (n: Node, from: number) => (Tensor | undefined)[], kernels: Fp32Kernels): Tensor {
  const accum = simdAccum(kernels);
  const bnIns = bnNode ? inputsOf(bnNode, 1) : undefined;
  let post: ConvPost | undefined;
  if (accum !== null) {
    post = {};
    if (bnNode && bnIns) {
      const variance = f32(bnIns[4], bnNode, 'var');
      const eps = attrNum(bnNode, 'epsilon', 1e-5);
      const inv = new Float64Array(variance.length);
      for (let ch = 0; ch < inv.length; ch++) inv[ch] = 1 / Math.sqrt(variance[ch] + eps);
      post.bn = { mean: f32(bnIns[3], bnNode, 'mean'), inv, scale: f32(bnIns[1], bnNode, 'scale'), bias: f32(bnIns[2], bnNode, 'B') };
      const oc = ins[1]?.shape[0];
      if ([post.bn.mean, inv, post.bn.scale, post.bn.bias].some((a) => a.length !== oc)) post = undefined;
    }
    if (post && actNode) post.act = actNode.op === 'Relu' ? { relu: true, lo: 0, hi: Infinity } : { relu: false, lo: attrNum(actNode, 'min', -Infinity), hi: attrNum(actNode, 'max', Infinity) };
  }
  const r = convPost(conv, ins, accum, post);
  if (r.applied && post) return r.y;
  let y = r.y;
  if (bnNode && bnIns) y = batchNorm(bnNode, [y, ...bnIns.slice(1)], kernels);
  if (actNode) y = execNode(actNode, [y], kernels)[0];
  return y;
}

function unary(x: Tensor, node: Node, fn: (v: number) => number): Tensor {
  const a = f32(x, node, 'X');
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = fn(a[i]);
  return out(x.shape, y);
}

export function execNode(node: Node, ins: readonly (Tensor | undefined)[], kernels: Fp32Kernels = 'auto'): Tensor[] {
  const x = ins[0]!;
  switch (node.op) {
    case 'Conv':
      return [conv(node, ins, simdAccum(kernels))];
    case 'Gemm':
      return [gemm(node, ins, simdAccum(kernels))];
    case 'MatMul':
      return [matmul(node, ins, simdAccum(kernels))];
    case 'BatchNormalization':
      return [batchNorm(node, ins, kernels)];
    case 'Relu':
      return [clip(x, node, 0, Infinity, true, kernels)];
    case 'Clip': {
      const his = clipChannelMax(node);
      if (his) return [clipPerChannel(x, node, attrNum(node, 'min', -Infinity), his, kernels)];
      return [clip(x, node, attrNum(node, 'min', -Infinity), attrNum(node, 'max', Infinity), false, kernels)];
    }
    case 'Sigmoid':
      return [unary(x, node, sigmoid)];
    case 'HardSigmoid': {
      const alpha = attrNum(node, 'alpha', 0.2);
      const beta = attrNum(node, 'beta', 0.5);
      return [unary(x, node, (v) => Math.max(0, Math.min(1, alpha * v + beta)))];
    }
    case 'HardSwish':
      return [unary(x, node, (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)))];
    case 'Swish':
      return [unary(x, node, (v) => v * sigmoid(v))];
    case 'Tanh':
      return [unary(x, node, Math.tanh)];
    case 'Erf':
      return [unary(x, node, erf)];
    case 'Gelu':
      return [unary(x, node, attrStr(node, 'approximate', 'none') === 'tanh' ? geluTanh : gelu)];
    case 'Add':
      return [binary(node, ins, 0)];
    case 'Sub':
      return [binary(node, ins, 1)];
    case 'Mul':
      return [binary(node, ins, 2)];
    case 'Div':
      return [binary(node, ins, 3)];
    case 'Concat':
      return [concat(node, ins)];
    case 'MaxPool':
    case 'AveragePool':
      return [pool(node, x, kernels)];
    case 'GlobalAveragePool':
      return [globalAvgPool(node, x, kernels)];
    case 'Flatten':
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
    case 'Identity':
      // views: same data, new shape (tensors are never mutated after they are produced)
      return [{ dtype: x.dtype, shape: nodeOutputShapes(node, [x.shape])[0], data: x.data }];
    case 'Transpose':
      return [transpose(node, x)];
    case 'Pad':
      return [pad(node, x)];
    case 'Softmax':
      return [softmax(node, x)];
    case 'LayerNormalization':
      return [layerNorm(node, ins)];
    case 'ReduceMean':
      return [reduceMean(node, x)];
    case 'Slice':
      return [slice(node, x)];
    case 'Sqrt':
      return [unary(x, node, Math.sqrt)];
    case 'Sin':
      return [unary(x, node, Math.sin)];
    case 'Cos':
      return [unary(x, node, Math.cos)];
    case 'Resize': {
      const r = upsampleNearest(f32(x, node, 'X'), x.shape, attrInts(node, 'scales', []));
      return [out(r.shape, r.data)];
    }
    case 'Pow':
      return [binary(node, [x, floatOperand(ins[1])], 4)];
    default:
      throw new ModelError([{ node: node.name, op: node.op, message: 'no FP32 kernel for this op' }]);
  }
}

/**
 * Relu and Clip: branchy per-element selects on data of random sign cost ~15 ns an element in JS
 * (mispredictions), so next to the SIMD convolutions they run in f32x4 lanes too (same results).
 */
function clip(xt: Tensor, node: Node, lo: number, hi: number, relu: boolean, kernels: Fp32Kernels): Tensor {
  const a = f32(xt, node, 'X');
  if (simdAccum(kernels) !== null && lo <= hi) {
    const y = simdClamp(a, lo, hi, relu);
    if (y) return out(xt.shape, y);
  }
  const y = new Float32Array(a.length);
  // Relu keeps its own comparison: NaN and −0 map to 0, where Clip passes them through
  if (relu) for (let i = 0; i < a.length; i++) y[i] = a[i] > 0 ? a[i] : 0;
  else
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      y[i] = v < lo ? lo : v > hi ? hi : v;
    }
  return out(xt.shape, y);
}

/**
 * Clip with one upper bound per channel (axis 1; `channelMax`, see graph.ts): each [batch, channel]
 * plane is clipped as a scalar Clip with its own bound — the same comparisons, so the same results
 * as that channel's scalar Clip.
 */
function clipPerChannel(xt: Tensor, node: Node, lo: number, his: Float32Array, kernels: Fp32Kernels): Tensor {
  const a = f32(xt, node, 'X');
  const c = xt.shape.length >= 2 ? xt.shape[1] : -1;
  if (c !== his.length) throw new ModelError([{ node: node.name, op: node.op, message: `channelMax has ${his.length} bounds for input shape [${xt.shape.join(',')}] (channel axis 1)` }]);
  for (let ch = 0; ch < c; ch++) {
    if (!(lo <= his[ch])) throw new ModelError([{ node: node.name, op: node.op, message: `channel ${ch}: min ${lo} exceeds its bound ${his[ch]}` }]);
  }
  const inner = numel(xt.shape.slice(2));
  const y = new Float32Array(a.length);
  for (let p = 0, base = 0; base < a.length; p++, base += inner) {
    const plane = clip(out([inner], a.subarray(base, base + inner)), node, lo, his[p % c], false, kernels);
    y.set(plane.data as Float32Array, base);
  }
  return out(xt.shape, y);
}

export function sigmoid(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

/** erf to ~1e-15: Taylor series near 0, continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) evaluated bottom-up
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

function gelu(v: number): number {
  return 0.5 * v * (1 + erf(v / Math.SQRT2));
}

function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
}

/** The SIMD accumulation a kernel choice asks for, or null for the scalar loops. */
function simdAccum(kernels: Fp32Kernels): SimdAccum | null {
  if (kernels === 'scalar') return null;
  if (!simdAvailable()) return null;
  return kernels === 'simd-f32' ? 'f32' : 'f64';
}

/** Pow's exponent may be an int tensor (opset ≥ 12): as float32, which holds the small ints it is. */
function floatOperand(t: Tensor | undefined): Tensor | undefined {
  if (!t || t.dtype === 'float32') return t;
  return { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number | bigint>, Number) };
}

/** kind: 0 Add, 1 Sub, 2 Mul, 3 Div, 4 Pow */
type BinaryKind = 0 | 1 | 2 | 3 | 4;

function binary(node: Node, ins: readonly (Tensor | undefined)[], kind: BinaryKind): Tensor {
  const at = ins[0]!;
  const bt = ins[1]!;
  const a = f32(at, node, 'A');
  const b = f32(bt, node, 'B');
  const shape = broadcastShapes(at.shape, bt.shape, node);
  const total = numel(shape);
  const y = new Float32Array(total);
  // one operand full size (its shape is then the output's), the other the same, a scalar (ε, 1/√d,
  // a learnable scale), a vector along the last axes (a bias) or one value per channel: tight loops
  // over blocks, no index arrays
  const aFull = a.length === total;
  if (aFull || b.length === total) {
    const swap = !aFull;
    const full = aFull ? a : b;
    const part = aFull ? b : a;
    const blk = part.length === total ? { inner: 1, len: total } : blockBroadcast(aFull ? bt.shape : at.shape, shape);
    if (blk) {
      const { inner, len } = blk;
      if (inner === 1) for (let off = 0; off < total; off += len) withVector(kind, full, part, y, off, len, swap);
      else for (let off = 0, j = 0; off < total; off += inner, j = j + 1 === len ? 0 : j + 1) withScalar(kind, full, part[j], y, off, inner, swap);
      return out(shape, y);
    }
  }
  const ai = broadcastIndex(at.shape, shape);
  const bi = broadcastIndex(bt.shape, shape);
  for (let i = 0; i < total; i++) {
    const u = a[ai[i]];
    const v = b[bi[i]];
    y[i] = kind === 0 ? u + v : kind === 1 ? u - v : kind === 2 ? u * v : kind === 3 ? u / v : Math.pow(u, v);
  }
  return out(shape, y);
}

/**
 * How `src` broadcasts over `shape` when its non-1 dims form one run equal to `shape`'s there:
 * element j of src serves `inner` consecutive outputs, cycling through `len`. Null otherwise.
 */
function blockBroadcast(src: readonly number[], shape: readonly number[]): { inner: number; len: number } | null {
  const off = shape.length - src.length;
  let lo = -1;
  let hi = -1;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 1) continue;
    if (src[i] !== shape[off + i] || (hi >= 0 && hi !== off + i)) return null;
    if (lo < 0) lo = off + i;
    hi = off + i + 1;
  }
  if (lo < 0) return { inner: numel(shape), len: 1 };
  return { inner: numel(shape.slice(hi)), len: numel(shape.slice(lo, hi)) };
}

/** y[off + i] = full[off + i] ∘ v[i] for i < n (v ∘ full when `swap`) */
function withVector(kind: BinaryKind, full: Float32Array, v: Float32Array, y: Float32Array, off: number, n: number, swap: boolean): void {
  if (kind === 0) for (let i = 0; i < n; i++) y[off + i] = full[off + i] + v[i];
  else if (kind === 2) for (let i = 0; i < n; i++) y[off + i] = full[off + i] * v[i];
  else if (kind === 1 && !swap) for (let i = 0; i < n; i++) y[off + i] = full[off + i] - v[i];
  else if (kind === 1) for (let i = 0; i < n; i++) y[off + i] = v[i] - full[off + i];
  else if (kind === 3 && !swap) for (let i = 0; i < n; i++) y[off + i] = full[off + i] / v[i];
  else if (kind === 3) for (let i = 0; i < n; i++) y[off + i] = v[i] / full[off + i];
  else if (!swap) for (let i = 0; i < n; i++) y[off + i] = Math.pow(full[off + i], v[i]);
  else for (let i = 0; i < n; i++) y[off + i] = Math.pow(v[i], full[off + i]);
}

/** y[off + i] = full[off + i] ∘ v for i < n (v ∘ full when `swap`) */
function withScalar(kind: BinaryKind, full: Float32Array, v: number, y: Float32Array, off: number, n: number, swap: boolean): void {
  const end = off + n;
  if (kind === 0) for (let i = off; i < end; i++) y[i] = full[i] + v;
  else if (kind === 2) for (let i = off; i < end; i++) y[i] = full[i] * v;
  else if (kind === 1 && !swap) for (let i = off; i < end; i++) y[i] = full[i] - v;
  else if (kind === 1) for (let i = off; i < end; i++) y[i] = v - full[i];
  else if (kind === 3 && !swap) for (let i = off; i < end; i++) y[i] = full[i] / v;
  else if (kind === 3) for (let i = off; i < end; i++) y[i] = v / full[i];
  // x² as one rounding of x·x, which Math.pow(x, 2) equals: the square of a float32 is exact in float64
  else if (!swap && v === 2) for (let i = off; i < end; i++) y[i] = full[i] * full[i];
  else if (!swap) for (let i = off; i < end; i++) y[i] = Math.pow(full[i], v);
  else for (let i = off; i < end; i++) y[i] = Math.pow(v, full[i]);
}

function batchNorm(node: Node, ins: readonly (Tensor | undefined)[], kernels: Fp32Kernels): Tensor {
  const xt = ins[0]!;
  const x = f32(xt, node, 'X');
  const scale = f32(ins[1], node, 'scale');
  const bias = f32(ins[2], node, 'B');
  const mean = f32(ins[3], node, 'mean');
  const variance = f32(ins[4], node, 'var');
  const eps = attrNum(node, 'epsilon', 1e-5);
  const n = xt.shape[0];
  const c = xt.shape[1];
  const inner = numel(xt.shape.slice(2));
  if (simdAccum(kernels) !== null && n * c * inner === x.length) {
    const inv = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) inv[ch] = 1 / Math.sqrt(variance[ch] + eps);
    const y = simdBatchNorm(x, n, c, inner, mean, inv, scale, bias);
    if (y) return out(xt.shape, y);
  }
  const y = new Float32Array(x.length);
  for (let ch = 0; ch < c; ch++) {
    // ONNX computes (x − mean)/sqrt(var + eps)·scale + B; keep that association order
    const inv = 1 / Math.sqrt(variance[ch] + eps);
    const mu = mean[ch];
    const sc = scale[ch];
    const bb = bias[ch];
    for (let bn = 0; bn < n; bn++) {
      const base = (bn * c + ch) * inner;
      for (let i = 0; i < inner; i++) y[base + i] = (x[base + i] - mu) * inv * sc + bb;
    }
  }
  return out(xt.shape, y);
}
