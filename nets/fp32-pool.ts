/**
 * The FP32 executor's pooling ops: MaxPool (WebAssembly SIMD where it applies, else a JS loop with
 * hoisted bounds), AveragePool and GlobalAveragePool (WebAssembly SIMD where it applies).
 */
import { attrInts, attrNum, numel, type Node, type Tensor } from './graph.js';
import { window2d, type Window2d } from './shapes.js';
import type { Fp32Kernels } from './fp32.js';
import { f32, out } from './fp32-tensor.js';
import { simdAvailable, simdGlobalAvgPool, simdMaxPool } from './wasm-f32.js';

export function pool(node: Node, xt: Tensor, kernels: Fp32Kernels): Tensor {
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

export function globalAvgPool(node: Node, xt: Tensor, kernels: Fp32Kernels = 'auto'): Tensor {
  const x = f32(xt, node, 'X');
  const [n, c] = xt.shape;
  const inner = numel(xt.shape.slice(2));
  const y = new Float32Array(n * c);
  // the same float64 sums in another order (a JS loop costs ~2 ns a value on large planes)
  if (kernels !== 'scalar' && simdAvailable() && simdGlobalAvgPool(x, n * c, inner, y)) return out([n, c, ...xt.shape.slice(2).map(() => 1)], y);
  for (let p = 0; p < n * c; p++) {
    let s = 0;
    for (let i = 0; i < inner; i++) s += x[p * inner + i];
    y[p] = s / inner;
  }
  return out([n, c, ...xt.shape.slice(2).map(() => 1)], y);
}
