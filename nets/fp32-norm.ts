/**
 * The FP32 executor's normalizing ops — Softmax (opset 13's single axis, and opset 9–12's 2-D
 * coercion, graph.ts `coerce2d`), LayerNormalization and ReduceMean. Means, variances and softmax
 * sums accumulate in float64 and each output element is rounded to float32 once, so a fused
 * LayerNormalization stays within float32 rounding of the decomposed chain it replaces.
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, numel, type Node, type Tensor } from './graph.js';
import { broadcastIndex, f32, out } from './fp32-tensor.js';
import { broadcastShapes, nodeOutputShapes, normAxis, type Shape } from './shapes.js';

/** A row-wise loop's geometry: `outer` rows of `len` elements, `inner` apart (1 = contiguous). */
interface Rows {
  outer: number;
  len: number;
  inner: number;
}

function softmaxRows(node: Node, shape: Shape): Rows {
  const axis = normAxis(attrNum(node, 'axis', -1), shape.length, node);
  const outer = numel(shape.slice(0, axis));
  // opset < 13: the input is [outer, everything from axis on], normalized along that second dim
  if (attrNum(node, 'coerce2d', 0) === 1) return { outer, len: numel(shape.slice(axis)), inner: 1 };
  return { outer, len: shape[axis], inner: numel(shape.slice(axis + 1)) };
}

export function softmax(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'X');
  const { outer, len, inner } = softmaxRows(node, xt.shape);
  const y = new Float32Array(x.length);
  const e = new Float64Array(len);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let m = -Infinity;
      // a NaN element makes the row's sum NaN (a NaN row, as in ONNX Runtime)
      for (let k = 0, p = base; k < len; k++, p += inner) if (x[p] > m) m = x[p];
      let sum = 0;
      for (let k = 0, p = base; k < len; k++, p += inner) {
        e[k] = Math.exp(x[p] - m);
        sum += e[k];
      }
      const inv = 1 / sum;
      for (let k = 0, p = base; k < len; k++, p += inner) y[p] = e[k] * inv;
    }
  }
  return out(xt.shape, y);
}

/**
 * ONNX LayerNormalization (opset 17): over axes axis…rank−1, y = (x − mean) / √(var + ε) · Scale
 * + B, Scale and B broadcast to the normalized shape; mean and (two-pass) variance in float64.
 */
export function layerNorm(node: Node, ins: readonly (Tensor | undefined)[]): Tensor {
  const xt = ins[0]!;
  const x = f32(xt, node, 'X');
  const axis = normAxis(attrNum(node, 'axis', -1), xt.shape.length, node);
  const eps = attrNum(node, 'epsilon', 1e-5);
  const normShape = xt.shape.slice(axis);
  const len = numel(normShape);
  const operand = (t: Tensor | undefined, what: string): { v: Float32Array; idx: Int32Array | null } | undefined => {
    if (!t) return undefined;
    const v = f32(t, node, what);
    const b = broadcastShapes(t.shape, normShape, node);
    if (b.length !== normShape.length || b.some((d, i) => d !== normShape[i])) {
      throw new ModelError([{ node: node.name, op: node.op, message: `${what} of shape [${t.shape.join(',')}] does not broadcast to the normalized shape [${normShape.join(',')}]` }]);
    }
    return { v, idx: v.length === len ? null : broadcastIndex(t.shape, normShape) };
  };
  const scale = operand(ins[1], 'Scale');
  if (!scale) throw new ModelError([{ node: node.name, op: node.op, message: 'missing Scale' }]);
  const bias = operand(ins[2], 'B');
  const s = scale.idx ? Float32Array.from(scale.idx, (i) => scale.v[i]) : scale.v;
  const b = bias ? (bias.idx ? Float32Array.from(bias.idx, (i) => bias.v[i]) : bias.v) : null;
  const y = new Float32Array(x.length);
  const rows = len === 0 ? 0 : x.length / len;
  for (let r = 0, base = 0; r < rows; r++, base += len) {
    let sum = 0;
    for (let k = 0; k < len; k++) sum += x[base + k];
    const mean = sum / len;
    let sq = 0;
    for (let k = 0; k < len; k++) {
      const d = x[base + k] - mean;
      sq += d * d;
    }
    const std = Math.sqrt(sq / len + eps);
    if (b) for (let k = 0; k < len; k++) y[base + k] = ((x[base + k] - mean) / std) * s[k] + b[k];
    else for (let k = 0; k < len; k++) y[base + k] = ((x[base + k] - mean) / std) * s[k];
  }
  return out(xt.shape, y);
}

/** ONNX ReduceMean (opsets 9–17: `axes` an attribute, every axis when absent), float64 sums. */
export function reduceMean(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'data');
  const rank = xt.shape.length;
  const axes = attrInts(node, 'axes', xt.shape.map((_, i) => i)).map((a) => normAxis(a, rank, node));
  const outShape = nodeOutputShapes(node, [xt.shape])[0];
  const kept = xt.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const count = numel(xt.shape) / Math.max(1, numel(kept));
  const acc = new Float64Array(numel(kept));
  const first = Math.min(rank, ...axes);
  // distinct (the shape rule refuses repeats), so the last `rank − first` axes exactly
  if (axes.length === rank - first) {
    // the trailing axes (LayerNorm's statistics): contiguous rows
    const len = numel(xt.shape.slice(first));
    for (let r = 0; r < acc.length; r++) {
      let s = 0;
      for (let k = 0, p = r * len; k < len; k++, p++) s += x[p];
      acc[r] = s;
    }
  } else {
    const idx = broadcastIndex(kept, xt.shape);
    for (let i = 0; i < x.length; i++) acc[idx[i]] += x[i];
  }
  const y = new Float32Array(acc.length);
  for (let i = 0; i < y.length; i++) y[i] = acc[i] / count;
  return out(outShape, y);
}
