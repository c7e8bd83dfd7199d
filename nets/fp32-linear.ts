/**
 * The FP32 executor's MAC ops — Conv, Gemm, MatMul — on the WebAssembly SIMD kernels
 * (wasm-f32.ts) where they apply, else on the scalar float64 loops here (the fallback and the
 * property tests' reference).
 */
import { ModelError } from './errors.js';
import { attrInts, attrNum, numel, type Node, type Tensor } from './graph.js';
import { broadcastShapes, nodeOutputShapes, window2d } from './shapes.js';
import { broadcastIndex, f32, out } from './fp32-tensor.js';
import { packColumns, packRows, simdConv, simdDepthwise, simdGemm, type ConvPost, type ConvShape, type SimdAccum } from './wasm-f32.js';

/** A convolution's geometry with, per kernel column, the valid output-column range (inner loops need no bounds checks). */
interface ConvGeometry extends ConvShape {
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
  return { ...win, n, c, h, wid, oc, group, icg: c / group, ocg: oc / group, oxLo, oxHi };
}

export function conv(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
  return convPost(node, ins, accum).y;
}

/**
 * Conv with the nodes after it (`post`: BatchNormalization, Relu / Clip) fused into the SIMD
 * kernels' epilogue where they run; `applied` says whether `post` was applied — the scalar loops
 * leave it to the caller, which runs those nodes as usual (the same results either way).
 */
export function convPost(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null, post?: ConvPost): { y: Tensor; applied: boolean } {
  const xt = ins[0]!;
  const wt = ins[1]!;
  const x = f32(xt, node, 'X');
  const w = f32(wt, node, 'W');
  const b = ins[2] ? f32(ins[2], node, 'B') : undefined;
  const geo = convGeometry(node, xt, wt);
  const { n, oc, oh, ow } = geo;
  const y = new Float32Array(n * oc * oh * ow);
  // a 4-row register tile wastes most of its lanes below 4 output channels per group
  const simd = accum !== null && ((geo.ocg >= 4 && simdConv(accum, geo, x, w, b, y, post)) || simdDepthwise(geo, x, w, b, y, post));
  if (!simd) convScalar(geo, x, w, b, y);
  return { y: out([n, oc, oh, ow], y), applied: simd };
}

/** The scalar convolution: float64 accumulators, four output channels per pass. */
function convScalar(geo: ConvGeometry, x: Float32Array, w: Float32Array, b: Float32Array | undefined, y: Float32Array): void {
  const { n, c, h, wid, oc, group, icg, ocg, oxLo, oxHi } = geo;
  const { kh, kw, sh, sw, dh, dw, padTop, padLeft, oh, ow } = geo;
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

/**
 * A'·B' (A' = A [m,k] or Aᵀ, B' = B [k,n] or Bᵀ) on the SIMD kernel, computed transposed,
 * Yᵀ = B'ᵀ·A'ᵀ: the weight B' packs as the kernel's A rows once per weight tensor (resident), and
 * A's rows become the kernel's columns. The result is Yᵀ: element (i, j) at c[j·ldc + i].
 */
function weightGemm(accum: SimdAccum, a: Float32Array, ta: boolean, m: number, k: number, b: Float32Array, tb: boolean, nn: number): { c: Float64Array | Float32Array; ldc: number } | null {
  const weights = { key: b, tag: tb ? 'T' : 'N', pack: (ap: Float64Array | Float32Array) => (tb ? packRows(ap, b, nn, k, 0, k) : packColumns(ap, b, nn, k, nn)) };
  const gm = simdGemm(accum, nn, m, k, weights);
  if (!gm) return null;
  const { b: bm, ldb } = gm;
  if (ta) for (let p = 0; p < k; p++) bm.set(a.subarray(p * m, (p + 1) * m), p * ldb);
  else for (let i = 0; i < m; i++) for (let p = 0, ao = i * k; p < k; p++) bm[p * ldb + i] = a[ao + p];
  gm.run();
  return { c: gm.c, ldc: gm.ldc };
}

/** C[m,n] = alpha·A'·B' + beta·bias, A' = A or Aᵀ, B' = B or Bᵀ, float64 accumulation */
export function gemm(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
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
  const gm = accum === null ? null : weightGemm(accum, a, ta, m, k, b, tb, nn);
  if (gm) {
    const { c: cm, ldc } = gm;
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

export function matmul(node: Node, ins: readonly (Tensor | undefined)[], accum: SimdAccum | null): Tensor {
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
  if (accum !== null && bt.shape.length === 2 && at.shape.length >= 2) {
    // a 2-D B (a layer's weight): A's batch dims are more rows of one GEMM, and B packs once
    const rows = batches * m;
    const w = weightGemm(accum, a, false, rows, k, b, false, nn);
    if (w) {
      const { c: cm, ldc } = w;
      for (let i = 0; i < rows; i++) for (let j = 0; j < nn; j++) y[i * nn + j] = cm[j * ldc + i];
      return out(outShape, y);
    }
  }
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
