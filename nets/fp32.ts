/**
 * FP32 reference executor for the Network IR (NCHW, ONNX semantics).
 *
 * It is the float baseline every quantized result is compared against, so it favours accuracy
 * over speed where they conflict: convolution and GEMM form each product in float64 (exact for
 * float32 operands), accumulate in float64 and round once to float32 (onnxruntime accumulates in
 * float32 in its own order; the difference stays far below the 1e-4 relative tolerance the tests
 * hold it to).
 *
 * Conv (after im2col; depthwise directly), Gemm and MatMul run on WebAssembly SIMD kernels
 * (wasm-f32.ts) with that same float64 accumulation in f64x2 lanes — only the order of float64
 * additions differs from the scalar loops kept below (depthwise: not even that). Relu, Clip,
 * BatchNormalization and MaxPool run in SIMD lanes too, with results identical to their scalar
 * loops (MaxPool with a horizontal stride above 2: a JS loop with hoisted bounds). The scalar loops
 * remain the fallback (no WebAssembly SIMD; convolutions with 1–3 output channels per group that
 * are not plain depthwise, or depthwise with a horizontal stride above 2) and the reference of
 * test/unit/nets/fp32-fast.test.ts.
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, attrStr, numel, type Graph, type Node, type Tensor } from './graph.js';
import { broadcastShapes, nodeOutputShapes, normAxis, transposePerm, window2d, type Shape, type Window2d } from './shapes.js';
import { packColumns, packRows, simdAvailable, simdBatchNorm, simdClamp, simdConv, simdDepthwise, simdGemm, simdMaxPool, type ConvShape, type SimdAccum } from './wasm-f32.js';

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

  graph.nodes.forEach((node, idx) => {
    const ins = node.inputs.map((n) => {
      if (n === '') return undefined;
      const v = values.get(n);
      if (!v) throw new ModelError([{ node: node.name, op: node.op, message: `input '${n}' is not computed before this node` }]);
      return v;
    });
    const outs = execNode(node, ins, opts.kernels);
    node.outputs.forEach((o, i) => o !== '' && values.set(o, outs[i]));
    opts.onNode?.(node, outs);
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

function f32(t: Tensor | undefined, node: Node, what: string): Float32Array {
  if (!t) throw new ModelError([{ node: node.name, op: node.op, message: `missing ${what}` }]);
  if (!(t.data instanceof Float32Array)) throw new ModelError([{ node: node.name, op: node.op, message: `${what} must be float32, got ${t.dtype}` }]);
  return t.data;
}

function out(shape: Shape, data?: Float32Array): Tensor {
  return { dtype: 'float32', shape: [...shape], data: data ?? new Float32Array(numel(shape)) };
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
    case 'Clip':
      return [clip(x, node, attrNum(node, 'min', -Infinity), attrNum(node, 'max', Infinity), false, kernels)];
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
      return [globalAvgPool(node, x)];
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

interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  wid: number;
  oc: number;
  group: number;
  icg: number;
  ocg: number;
  win: Window2d;
  /** valid output-column range per kernel column, so inner loops need no bounds checks */
  oxLo: Int32Array;
  oxHi: Int32Array;
}

function convGeometry(node: Node, xt: Tensor, wt: Tensor): ConvGeometry {
  const [n, c, h, wid] = xt.shape;
  const oc = wt.shape[0];
  const group = attrNum(node, 'group', 1);
  const win = window2d(node, xt.shape, attrInts(node, 'kernel_shape', wt.shape.slice(2)));
  if (c !== wt.shape[1] * group) throw new ModelError([{ node: node.name, op: node.op, message: `input has ${c} channels, weight expects ${wt.shape[1]}×${group}` }]);
  const { kw, sw, dw, padLeft, ow } = win;
  const oxLo = new Int32Array(kw);
  const oxHi = new Int32Array(kw);
  for (let kx = 0; kx < kw; kx++) {
    const off = kx * dw - padLeft;
    oxLo[kx] = Math.max(0, Math.ceil(-off / sw));
    oxHi[kx] = Math.min(ow, Math.floor((wid - 1 - off) / sw) + 1);
  }
  return { n, c, h, wid, oc, group, icg: c / group, ocg: oc / group, win, oxLo, oxHi };
}

function conv(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
  const xt = ins[0]!;
  const wt = ins[1]!;
  const x = f32(xt, node, 'X');
  const w = f32(wt, node, 'W');
  const b = ins[2] ? f32(ins[2], node, 'B') : undefined;
  const geo = convGeometry(node, xt, wt);
  const { n, oc, win } = geo;
  const y = new Float32Array(n * oc * win.oh * win.ow);
  if (accum !== null) {
    const s: ConvShape = { ...win, n, c: geo.c, h: geo.h, wid: geo.wid, oc, group: geo.group, icg: geo.icg, ocg: geo.ocg };
    // a 4-row register tile wastes most of its lanes below 4 output channels per group
    if (geo.ocg >= 4 && simdConv(accum, s, x, w, b, y)) return out([n, oc, win.oh, win.ow], y);
    if (simdDepthwise(s, x, w, b, y)) return out([n, oc, win.oh, win.ow], y);
  }
  convScalar(geo, x, w, b, y);
  return out([n, oc, win.oh, win.ow], y);
}

/** The scalar convolution: float64 accumulators, four output channels per pass. */
function convScalar(geo: ConvGeometry, x: Float32Array, w: Float32Array, b: Float32Array | undefined, y: Float32Array): void {
  const { n, c, h, wid, oc, group, icg, ocg, win, oxLo, oxHi } = geo;
  const { kh, kw, sh, sw, dh, dw, padTop, padLeft, oh, ow } = win;
  const plane = h * wid;
  const area = oh * ow;
  // four output channels per pass: each input element loaded once feeds four accumulators
  const acc = new Float64Array(4 * area);
  for (let bn = 0; bn < n; bn++) {
    for (let g = 0; g < group; g++) {
      for (let o0 = g * ocg; o0 < (g + 1) * ocg; o0 += 4) {
        const nb = Math.min(4, (g + 1) * ocg - o0);
        for (let j = 0; j < 4; j++) acc.fill(j < nb && b ? b[o0 + j] : 0, j * area, (j + 1) * area);
        for (let ic = 0; ic < icg; ic++) {
          const xBase = (bn * c + g * icg + ic) * plane;
          const kk = kh * kw;
          const wb0 = (o0 * icg + ic) * kk;
          const wStride = icg * kk;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const wo = wb0 + ky * kw + kx;
              const w0 = w[wo];
              const w1 = nb > 1 ? w[wo + wStride] : 0;
              const w2 = nb > 2 ? w[wo + 2 * wStride] : 0;
              const w3 = nb > 3 ? w[wo + 3 * wStride] : 0;
              const lo = oxLo[kx];
              const hi = oxHi[kx];
              const xOff = kx * dw - padLeft;
              for (let oy = 0; oy < oh; oy++) {
                const iy = oy * sh - padTop + ky * dh;
                if (iy < 0 || iy >= h) continue;
                const row = xBase + iy * wid + xOff;
                const a0 = oy * ow;
                const a1 = a0 + area;
                const a2 = a1 + area;
                const a3 = a2 + area;
                if (nb === 1) {
                  // depthwise and other one-channel groups: no wasted lanes
                  for (let ox = lo; ox < hi; ox++) acc[a0 + ox] += w0 * x[row + ox * sw];
                  continue;
                }
                for (let ox = lo; ox < hi; ox++) {
                  const xv = x[row + ox * sw];
                  acc[a0 + ox] += w0 * xv;
                  acc[a1 + ox] += w1 * xv;
                  acc[a2 + ox] += w2 * xv;
                  acc[a3 + ox] += w3 * xv;
                }
              }
            }
          }
        }
        for (let j = 0; j < nb; j++) {
          const yBase = (bn * oc + o0 + j) * area;
          for (let i = 0; i < area; i++) y[yBase + i] = acc[j * area + i];
        }
      }
    }
  }
}

/** C[m,n] = alpha·A'·B' + beta·bias, A' = A or Aᵀ, B' = B or Bᵀ, float64 accumulation */
function gemm(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
  const at = ins[0]!;
  const bt = ins[1]!;
  const a = f32(at, node, 'A');
  const b = f32(bt, node, 'B');
  const ta = attrNum(node, 'transA', 0) === 1;
  const tb = attrNum(node, 'transB', 0) === 1;
  const alpha = attrNum(node, 'alpha', 1);
  const beta = attrNum(node, 'beta', 1);
  const [m, k] = ta ? [at.shape[1], at.shape[0]] : [at.shape[0], at.shape[1]];
  const nn = tb ? bt.shape[0] : bt.shape[1];
  const y = new Float32Array(m * nn);
  // bias element (i, j) is c[i·si + j·sj]
  let c: Float32Array | undefined;
  let si = 0;
  let sj = 0;
  if (ins[2]) {
    const ct = ins[2];
    c = f32(ct, node, 'C');
    const cs = broadcastShapes(ct.shape, [m, nn], node);
    if (cs[0] !== m || cs[1] !== nn) throw new ModelError([{ node: node.name, op: node.op, message: 'C does not broadcast to the output' }]);
    const c2 = ct.shape.length === 2 ? ct.shape : ct.shape.length === 1 ? [1, ct.shape[0]] : [1, 1];
    si = c2[0] === 1 ? 0 : c2[1];
    sj = c2[1] === 1 ? 0 : 1;
  }
  const gm = accum === null ? null : simdGemm(accum, nn, m, k);
  if (gm) {
    // computed transposed, Yᵀ = B'ᵀ·A'ᵀ: the weight B' (usually [n,k] with transB) packs as A's rows
    // and the batch becomes the kernel's columns
    const { a: ap, b: bm, ldb, c: cm, ldc } = gm;
    if (tb) packRows(ap, b, nn, k, 0, k);
    else packColumns(ap, b, nn, k, nn);
    if (ta) for (let p = 0; p < k; p++) bm.set(a.subarray(p * m, (p + 1) * m), p * ldb);
    else for (let i = 0; i < m; i++) for (let p = 0, ao = i * k; p < k; p++) bm[p * ldb + i] = a[ao + p];
    gm.run();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < nn; j++) y[i * nn + j] = alpha * cm[j * ldc + i] + (c ? beta * c[i * si + j * sj] : 0);
    }
    return out([m, nn], y);
  }
  const bCol = new Float64Array(k);
  for (let j = 0; j < nn; j++) {
    for (let p = 0; p < k; p++) bCol[p] = tb ? b[j * k + p] : b[p * nn + j];
    for (let i = 0; i < m; i++) {
      let s = 0;
      if (ta) for (let p = 0; p < k; p++) s += a[p * m + i] * bCol[p];
      else {
        const ao = i * k;
        for (let p = 0; p < k; p++) s += a[ao + p] * bCol[p];
      }
      y[i * nn + j] = alpha * s + (c ? beta * c[i * si + j * sj] : 0);
    }
  }
  return out([m, nn], y);
}

function matmul(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
  const at = ins[0]!;
  const bt = ins[1]!;
  const a = f32(at, node, 'A');
  const b = f32(bt, node, 'B');
  const outShape = nodeOutputShapes(node, [at.shape, bt.shape])[0];
  const a2 = at.shape.length === 1 ? [1, at.shape[0]] : at.shape;
  const b2 = bt.shape.length === 1 ? [bt.shape[0], 1] : bt.shape;
  const m = a2[a2.length - 2];
  const k = a2[a2.length - 1];
  const nn = b2[b2.length - 1];
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2), node);
  const batches = numel(batch);
  const aIdx = broadcastIndex(a2.slice(0, -2), batch);
  const bIdx = broadcastIndex(b2.slice(0, -2), batch);
  const y = new Float32Array(batches * m * nn);
  const gm = accum === null ? null : simdGemm(accum, m, nn, k);
  for (let bi = 0; bi < batches; bi++) {
    const ao = aIdx[bi] * m * k;
    const bo = bIdx[bi] * k * nn;
    const yo = bi * m * nn;
    if (gm) {
      const { a: ap, b: bm, ldb, c: cm, ldc } = gm;
      packRows(ap, a, m, k, ao, k);
      for (let p = 0; p < k; p++) bm.set(b.subarray(bo + p * nn, bo + (p + 1) * nn), p * ldb);
      gm.run();
      for (let i = 0; i < m; i++) for (let j = 0; j < nn; j++) y[yo + i * nn + j] = cm[i * ldc + j];
      continue;
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < nn; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + i * k + p] * b[bo + p * nn + j];
        y[yo + i * nn + j] = s;
      }
    }
  }
  return out(outShape, y);
}

/** For each flat index of `target`, the flat index into `src` that numpy broadcasting reads. */
function broadcastIndex(src: Shape, target: Shape): Int32Array {
  const total = numel(target);
  const idx = new Int32Array(total);
  const rank = target.length;
  const srcStrides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = src.length - 1; i >= 0; i--) {
    const ti = rank - src.length + i;
    srcStrides[ti] = src[i] === 1 ? 0 : stride;
    stride *= src[i];
  }
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let f = 0; f < total; f++) {
    idx[f] = cur;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      cur += srcStrides[d];
      if (counter[d] < target[d]) break;
      cur -= srcStrides[d] * counter[d];
      counter[d] = 0;
    }
  }
  return idx;
}

function binary(node: Node, ins: readonly (Tensor | undefined)[], kind: 0 | 1 | 2 | 3): Tensor {
  const at = ins[0]!;
  const bt = ins[1]!;
  const a = f32(at, node, 'A');
  const b = f32(bt, node, 'B');
  const shape = broadcastShapes(at.shape, bt.shape, node);
  const total = numel(shape);
  const y = new Float32Array(total);
  const same = a.length === total && b.length === total;
  const ai = same ? undefined : broadcastIndex(at.shape, shape);
  const bi = same ? undefined : broadcastIndex(bt.shape, shape);
  for (let i = 0; i < total; i++) {
    const u = a[ai ? ai[i] : i];
    const v = b[bi ? bi[i] : i];
    y[i] = kind === 0 ? u + v : kind === 1 ? u - v : kind === 2 ? u * v : u / v;
  }
  return out(shape, y);
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

function concat(node: Node, ins: readonly (Tensor | undefined)[]): Tensor {
  const parts = ins.filter((t): t is Tensor => !!t);
  const shape = nodeOutputShapes(node, parts.map((p) => p.shape))[0];
  const axis = normAxis(attrNum(node, 'axis', 1), shape.length, node);
  const outer = numel(shape.slice(0, axis));
  const innerOut = numel(shape.slice(axis));
  const y = new Float32Array(numel(shape));
  let off = 0;
  for (const p of parts) {
    const d = f32(p, node, 'input');
    const inner = numel(p.shape.slice(axis));
    for (let o = 0; o < outer; o++) y.set(d.subarray(o * inner, (o + 1) * inner), o * innerOut + off);
    off += inner;
  }
  return out(shape, y);
}

function pool(node: Node, xt: Tensor, kernels: Fp32Kernels): Tensor {
  const x = f32(xt, node, 'X');
  const [n, c, h, w] = xt.shape;
  const win = window2d(node, xt.shape, attrInts(node, 'kernel_shape', []), attrNum(node, 'ceil_mode', 0) === 1);
  const { kh, kw, sh, sw, dh, dw, padTop, padLeft, oh, ow } = win;
  const isMax = node.op === 'MaxPool';
  const countPad = attrNum(node, 'count_include_pad', 0) === 1;
  const y = new Float32Array(n * c * oh * ow);
  if (isMax && kernels !== 'scalar') {
    if (!(simdAvailable() && simdMaxPool({ ...win, n, planes: n * c, h, wid: w }, x, y))) maxPool(x, y, n * c, h, w, win);
    return out([n, c, oh, ow], y);
  }
  for (let p = 0; p < n * c; p++) {
    const xb = p * h * w;
    const yb = p * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        let s = 0;
        let cnt = 0;
        let padCnt = 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - padTop + ky * dh;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - padLeft + kx * dw;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              // count_include_pad counts the explicit pads only, not ceil_mode's overhang
              if (iy < h + win.padBottom && ix < w + win.padRight) padCnt++;
              continue;
            }
            const v = x[xb + iy * w + ix];
            if (v > m) m = v;
            s += v;
            cnt++;
          }
        }
        y[yb + oy * ow + ox] = isMax ? m : s / (countPad ? cnt + padCnt : cnt);
      }
    }
  }
  return out([n, c, oh, ow], y);
}

/**
 * MaxPool where the SIMD kernel does not apply: each window's in-bounds tap range computed once per
 * output row and column instead of a bounds test per tap: the same taps in the same order with the same `v > m` test (NaN never
 * wins, an all-padding window stays −∞), so the same results, several times faster.
 */
function maxPool(x: Float32Array, y: Float32Array, planes: number, h: number, w: number, win: Window2d): void {
  const { kh, kw, sh, sw, dh, dw, padTop, padLeft, oh, ow } = win;
  const kxLo = new Int32Array(ow);
  const kxHi = new Int32Array(ow);
  for (let ox = 0; ox < ow; ox++) {
    const ix0 = ox * sw - padLeft;
    kxLo[ox] = ix0 < 0 ? Math.ceil(-ix0 / dw) : 0;
    kxHi[ox] = Math.max(0, Math.min(kw, Math.floor((w - 1 - ix0) / dw) + 1));
  }
  for (let p = 0; p < planes; p++) {
    const xb = p * h * w;
    let yi = p * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const iy0 = oy * sh - padTop;
      const kyLo = iy0 < 0 ? Math.ceil(-iy0 / dh) : 0;
      const kyHi = Math.max(0, Math.min(kh, Math.floor((h - 1 - iy0) / dh) + 1));
      for (let ox = 0; ox < ow; ox++) {
        const base = xb + iy0 * w + ox * sw - padLeft;
        const lo = kxLo[ox];
        const hi = kxHi[ox];
        let m = -Infinity;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const row = base + ky * dh * w;
          for (let kx = lo; kx < hi; kx++) {
            const v = x[row + kx * dw];
            m = v > m ? v : m;
          }
        }
        y[yi++] = m;
      }
    }
  }
}

function globalAvgPool(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'X');
  const [n, c] = xt.shape;
  const inner = numel(xt.shape.slice(2));
  const y = new Float32Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let s = 0;
    for (let i = 0; i < inner; i++) s += x[p * inner + i];
    y[p] = s / inner;
  }
  return out([n, c, ...xt.shape.slice(2).map(() => 1)], y);
}

function transpose(node: Node, xt: Tensor): Tensor {
  const perm = transposePerm(node, xt.shape.length);
  const shape = perm.map((p) => xt.shape[p]);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= xt.shape[i];
  }
  const strides = perm.map((p) => inStrides[p]);
  const total = numel(shape);
  const src = xt.data;
  const y = new (src.constructor as new (n: number) => typeof src)(total);
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let f = 0; f < total; f++) {
    (y as Float32Array)[f] = (src as Float32Array)[cur];
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      cur += strides[d];
      if (counter[d] < shape[d]) break;
      cur -= strides[d] * counter[d];
      counter[d] = 0;
    }
  }
  return { dtype: xt.dtype, shape, data: y };
}

function pad(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'X');
  const pads = attrInts(node, 'pads', []);
  const mode = attrStr(node, 'mode', 'constant');
  const value = attrNum(node, 'value', 0);
  const shape = nodeOutputShapes(node, [xt.shape])[0];
  const rank = shape.length;
  const total = numel(shape);
  const y = new Float32Array(total);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= xt.shape[i];
  }
  const counter = new Array<number>(rank).fill(0);
  for (let f = 0; f < total; f++) {
    let src = 0;
    let inside = true;
    for (let d = 0; d < rank; d++) {
      let i = counter[d] - pads[d];
      const len = xt.shape[d];
      if (i < 0 || i >= len) {
        if (mode === 'constant') {
          inside = false;
          break;
        } else if (mode === 'edge') i = i < 0 ? 0 : len - 1;
        else if (mode === 'reflect') {
          const period = 2 * (len - 1) || 1;
          i = ((i % period) + period) % period;
          if (i >= len) i = period - i;
        } else throw new ModelError([{ node: node.name, op: node.op, message: `pad mode '${mode}' is not supported` }]);
      }
      src += i * inStrides[d];
    }
    y[f] = inside ? x[src] : value;
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < shape[d]) break;
      counter[d] = 0;
    }
  }
  return out(shape, y);
}

function softmax(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'X');
  const axis = normAxis(attrNum(node, 'axis', -1), xt.shape.length, node);
  const len = xt.shape[axis];
  const inner = numel(xt.shape.slice(axis + 1));
  const outer = numel(xt.shape.slice(0, axis));
  const y = new Float32Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let m = -Infinity;
      for (let k = 0; k < len; k++) m = Math.max(m, x[base + k * inner]);
      let sum = 0;
      for (let k = 0; k < len; k++) sum += Math.exp(x[base + k * inner] - m);
      for (let k = 0; k < len; k++) y[base + k * inner] = Math.exp(x[base + k * inner] - m) / sum;
    }
  }
  return out(xt.shape, y);
}

