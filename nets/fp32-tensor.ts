/**
 * The FP32 executor's tensor plumbing (fp32.ts runs the ops): operand checks, row-major strides,
 * numpy broadcasting indices, and the data-movement ops Concat, Transpose, Slice and Pad.
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, attrStr, numel, type Node, type Tensor, type TensorData } from './graph.js';
import { nodeOutputShapes, normAxis, sliceSpec, transposePerm, type Shape } from './shapes.js';

export function f32(t: Tensor | undefined, node: Node, what: string): Float32Array {
  if (!t) throw new ModelError([{ node: node.name, op: node.op, message: `missing ${what}` }]);
  if (!(t.data instanceof Float32Array)) throw new ModelError([{ node: node.name, op: node.op, message: `${what} must be float32, got ${t.dtype}` }]);
  return t.data;
}

export function out(shape: Shape, data?: Float32Array): Tensor {
  return { dtype: 'float32', shape: [...shape], data: data ?? new Float32Array(numel(shape)) };
}

/** Row-major strides of a shape (in elements). */
export function rowMajorStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** For each flat (row-major) index of `shape`, the offset Σ index[d]·strides[d]: one counter walk. */
export function stridedOffsets(shape: Shape, strides: readonly number[]): Int32Array {
  const total = numel(shape);
  const idx = new Int32Array(total);
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let f = 0; f < total; f++) {
    idx[f] = cur;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      cur += strides[d];
      if (counter[d] < shape[d]) break;
      cur -= strides[d] * counter[d];
      counter[d] = 0;
    }
  }
  return idx;
}

/** For each flat index of `target`, the flat index into `src` that numpy broadcasting reads. */
export function broadcastIndex(src: Shape, target: Shape): Int32Array {
  const rank = target.length;
  const srcStrides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = src.length - 1; i >= 0; i--) {
    srcStrides[rank - src.length + i] = src[i] === 1 ? 0 : stride;
    stride *= src[i];
  }
  return stridedOffsets(target, srcStrides);
}

/**
 * A transposed copy of row-major data (any element type): output axis i is input axis perm[i];
 * into `out` when given (same element type, as many elements). A matrix transpose ([1, 0]) runs
 * without the offset table (the integer executor transposes dense layers' batches with it).
 */
export function transposeData<T extends TensorData>(data: T, shape: Shape, perm: readonly number[], out?: T): { data: T; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const n = outShape.reduce((a, d) => a * d, 1);
  const y = out ?? new (data.constructor as new (n: number) => T)(n);
  const src = data as unknown as Float32Array;
  const dst = y as unknown as Float32Array;
  if (shape.length === 2 && perm[0] === 1) {
    const [rows, cols] = shape;
    for (let r = 0; r < rows; r++) for (let c = 0, i = r * cols; c < cols; c++, i++) dst[c * rows + r] = src[i];
    return { data: y, shape: outShape };
  }
  const inStrides = rowMajorStrides(shape);
  const idx = stridedOffsets(outShape, perm.map((p) => inStrides[p]));
  for (let f = 0; f < idx.length; f++) dst[f] = src[idx[f]];
  return { data: y, shape: outShape };
}

/**
 * Nearest-neighbour upsampling by integer factors (Resize as graph.ts keeps it): output index y
 * along axis k reads input index ⌊y/f_k⌋. Any element type — the integer executor replicates codes
 * with the same function.
 */
export function upsampleNearest<T extends TensorData>(data: T, shape: Shape, factors: readonly number[]): { data: T; shape: number[] } {
  const outShape = shape.map((d, k) => d * factors[k]);
  if (shape.length > 0 && factors.every((f) => Number.isInteger(f) && f >= 1)) return { data: upsampleRows(data, shape, factors, outShape), shape: outShape };
  const inStrides = rowMajorStrides(shape);
  // offsets of every output element, built axis by axis (outer axes vary slowest)
  let idx = new Int32Array([0]);
  for (let k = 0; k < shape.length; k++) {
    const n = outShape[k];
    const next = new Int32Array(idx.length * n);
    for (let i = 0; i < idx.length; i++) for (let y = 0; y < n; y++) next[i * n + y] = idx[i] + Math.floor(y / factors[k]) * inStrides[k];
    idx = next;
  }
  const y = new (data.constructor as new (n: number) => T)(idx.length);
  const src = data as unknown as Float32Array;
  const dst = y as unknown as Float32Array;
  for (let f = 0; f < idx.length; f++) dst[f] = src[idx[f]];
  return { data: y, shape: outShape };
}

/**
 * upsampleNearest for whole factors without an index per element: each innermost row widened
 * once, then every repeated row or block copied within the output.
 */
function upsampleRows<T extends TensorData>(data: T, shape: Shape, factors: readonly number[], outShape: readonly number[]): T {
  const r = shape.length;
  const inStrides = rowMajorStrides(shape);
  const outStrides = rowMajorStrides(outShape);
  const src = data as unknown as Float32Array;
  const y = new (data.constructor as new (n: number) => T)(numel(outShape));
  const dst = y as unknown as Float32Array;
  const fw = factors[r - 1];
  const w = shape[r - 1];
  const fill = (axis: number, srcOff: number, dstOff: number): void => {
    if (axis === r - 1) {
      for (let x = 0, o = dstOff; x < w; x++) {
        const v = src[srcOff + x];
        for (let k = 0; k < fw; k++) dst[o++] = v;
      }
      return;
    }
    const block = outStrides[axis];
    for (let i = 0; i < shape[axis]; i++) {
      const first = dstOff + i * factors[axis] * block;
      fill(axis + 1, srcOff + i * inStrides[axis], first);
      for (let k = 1; k < factors[axis]; k++) dst.copyWithin(first + k * block, first, first + block);
    }
  };
  fill(0, 0, 0);
  return y;
}

export function concat(node: Node, ins: readonly (Tensor | undefined)[]): Tensor {
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

export function transpose(node: Node, xt: Tensor): Tensor {
  const t = transposeData(xt.data, xt.shape, transposePerm(node, xt.shape.length));
  return { dtype: xt.dtype, shape: t.shape, data: t.data };
}

/** ONNX Slice (any element type): one strided walk, each sliced axis read from its start by its step. */
export function slice(node: Node, xt: Tensor): Tensor {
  const spec = sliceSpec(node, xt.shape, true)!;
  const inStrides = rowMajorStrides(xt.shape);
  let base = 0;
  const strides = inStrides.map((st, i) => {
    const r = spec[i];
    if (!r) return st;
    base += r.start * st;
    return st * r.step;
  });
  const shape = xt.shape.map((d, i) => spec[i]?.count ?? d);
  const idx = stridedOffsets(shape, strides);
  const y = new (xt.data.constructor as new (n: number) => TensorData)(idx.length);
  const src = xt.data as unknown as Float32Array;
  const dst = y as unknown as Float32Array;
  for (let f = 0; f < idx.length; f++) dst[f] = src[base + idx[f]];
  return { dtype: xt.dtype, shape, data: y };
}

export function pad(node: Node, xt: Tensor): Tensor {
  const x = f32(xt, node, 'X');
  const pads = attrInts(node, 'pads', []);
  const mode = attrStr(node, 'mode', 'constant');
  const value = attrNum(node, 'value', 0);
  const shape = nodeOutputShapes(node, [xt.shape])[0];
  const rank = shape.length;
  const total = numel(shape);
  const y = new Float32Array(total);
  const inStrides = rowMajorStrides(xt.shape);
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
