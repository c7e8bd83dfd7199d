/**
 * Gradient kernels that @tensorflow/tfjs-backend-wasm 4.22 does not ship, so that the zoo models
 * can be trained on the wasm backend. Measured on this 2-core machine, batch 64 of a small
 * fmnist CNN: forward 37 ms on wasm vs 1,040 ms on tfjs-backend-cpu; a training step ~0.25 s on
 * wasm with these kernels vs 57 s on cpu (whose backward convolutions are naive loops).
 *
 * - Conv2DBackpropFilter: at stride 1 a convolution itself (batch and channel axes swapped) on
 *   the backend's XNNPACK Conv2D; otherwise im2col in JS on the wasm heap, then the backend's own
 *   BatchMatMul (dW[K, Cout] = colsᵀ · dy, K = kh·kw·Cin in HWIO order).
 * - Conv2DBackpropInput: at stride 1 a convolution of dy with the rotated filter on XNNPACK;
 *   otherwise dcols = dy · Wᵀ through BatchMatMul, then col2im (scatter-add) in JS — both replace
 *   the wasm backend's direct loop. The two stride-1 paths took the DDPM's training step (batch 64)
 *   from 1.51 s to 0.82 s on this machine.
 * - DepthwiseConv2dNativeBackpropFilter / …BackpropInput: direct JS loops (depthwise layers have
 *   few MACs; the inner loop runs over contiguous channels).
 * - Faster replacements where the wasm kernels dominated a training step: Tile, Sum / Mean over
 *   leading axes, and a one-pass ClipByValue (ReLU6) gradient.
 *
 * NHWC (channelsLast) only, dilation 1 — what tfjs-layers produces for these models. Each kernel
 * is checked against tfjs-backend-cpu on random tensors in test/unit/nets/wasm-grads.test.ts.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { packColumns, packRows, simdGemm } from '../wasm-f32.js';

type Info = tf.TensorInfo;
type KernelArgs = { inputs: Record<string, Info>; backend: unknown; attrs?: Record<string, unknown> };

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new Error(`wasm-grads: only NHWC is supported, got ${dataFormat}`);
  const dil = attrs.dilations ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil.every((d) => d === 1)))) throw new Error('wasm-grads: dilation must be 1');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
}

/** The sizes a kernel loops over, by short name. */
function dims(info: tf.backend_util.Conv2DInfo) {
  return {
    N: info.batchSize,
    H: info.inHeight,
    W: info.inWidth,
    C: info.inChannels,
    OH: info.outHeight,
    OW: info.outWidth,
    CO: info.outChannels,
    KH: info.filterHeight,
    KW: info.filterWidth,
    SH: info.strideHeight,
    SW: info.strideWidth,
    pt: info.padInfo.top,
    pl: info.padInfo.left,
  };
}

/** a kernel registered on the wasm backend, called directly on heap tensors */
function wasmKernel(name: string, be: BackendWasm, inputs: Record<string, Info>, attrs: Record<string, unknown>): Info {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm-grads: ${name} kernel missing on wasm`);
  return k.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: be, attrs: attrs as tf.NamedAttrMap }) as Info;
}

function matmul(be: BackendWasm, a: Info, b: Info, transposeA: boolean, transposeB: boolean): Info {
  return wasmKernel('BatchMatMul', be, { a, b }, { transposeA, transposeB });
}

/** explicit NHWC padding [[0,0],[top,bottom],[left,right],[0,0]] */
function explicitPad(top: number, bottom: number, left: number, right: number): number[][] {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Stride 1: dW is itself a convolution, run on the backend's XNNPACK Conv2D (≈4× the JS im2col +
 * GEMM path at the UNet's 28×28 layers): with the batch as channels and the input channels as the
 * batch, xᵀ[C, H, W, N] ⊛ dyᵀ[OH, OW, N, CO] (the forward pads) = dW[C, KH, KW, CO], then transposed.
 */
function backpropFilterAsConv(be: BackendWasm, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const p = info.padInfo;
  const xT = wasmKernel('Transpose', be, { x }, { perm: [3, 1, 2, 0] });
  const dyT = wasmKernel('Transpose', be, { x: dy }, { perm: [1, 2, 0, 3] });
  const dW = wasmKernel('Conv2D', be, { x: xT, filter: dyT }, { strides: 1, dilations: 1, pad: explicitPad(p.top, p.bottom, p.left, p.right), dataFormat: 'NHWC' });
  be.disposeData(xT.dataId);
  be.disposeData(dyT.dataId);
  const out = wasmKernel('Transpose', be, { x: dW }, { perm: [1, 2, 0, 3] });
  be.disposeData(dW.dataId);
  return out;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { x, dy } = inputs;
  const info = convInfo(x.shape as number[], attrs!.filterShape as number[], attrs!, false);
  if (info.strideHeight === 1 && info.strideWidth === 1) return backpropFilterAsConv(be, x, dy, info);
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, pt, pl } = dims(info);
  const M = N * OH * OW;
  const K = KH * KW * C;
  // colsᵀ laid out [K, M] explicitly: the wasm BatchMatMul is ~10× slower with transposeA set
  const colsT = be.makeOutput([1, K, M], 'float32');
  // views after the allocation: growing the wasm memory detaches earlier views
  const cv = be.typedArrayFromHeap(colsT) as Float32Array;
  const xv = be.typedArrayFromHeap(x) as Float32Array;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let ci = 0; ci < C; ci++) {
        let o = ((kh * KW + kw) * C + ci) * M;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * SH - pt + kh;
            if (ih < 0 || ih >= H) {
              cv.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const row = (n * H + ih) * W;
            for (let ow = 0; ow < OW; ow++, o++) {
              const iw = ow * SW - pl + kw;
              cv[o] = iw < 0 || iw >= W ? 0 : xv[(row + iw) * C + ci];
            }
          }
        }
      }
    }
  }
  const dy3: Info = { dataId: dy.dataId, shape: [1, M, CO], dtype: 'float32' };
  const out = matmul(be, colsT, dy3, false, false);
  be.disposeData(colsT.dataId);
  return { dataId: out.dataId, shape: [KH, KW, C, CO], dtype: 'float32' };
}

/**
 * Stride 1: dx = dy ⊛ W' on the backend's XNNPACK Conv2D, W' the filter rotated 180° with its
 * channel axes swapped, padded by KH−1−top (and so on) so the output is the input's size.
 */
function backpropInputAsConv(be: BackendWasm, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo): Info {
  const { KH, KW, C, CO } = dims(info);
  const p = info.padInfo;
  const wf = be.makeOutput([KH, KW, CO, C], 'float32');
  const fv = be.typedArrayFromHeap(filter) as Float32Array;
  const tv = be.typedArrayFromHeap(wf) as Float32Array;
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * C * CO;
      const dst = (kh * KW + kw) * CO * C;
      for (let c = 0; c < C; c++) for (let co = 0; co < CO; co++) tv[dst + co * C + c] = fv[src + c * CO + co];
    }
  const pad = explicitPad(KH - 1 - p.top, KH - 1 - p.bottom, KW - 1 - p.left, KW - 1 - p.right);
  const out = wasmKernel('Conv2D', be, { x: dy, filter: wf }, { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' });
  be.disposeData(wf.dataId);
  return out;
}

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { dy, filter } = inputs;
  const info = convInfo(attrs!.inputShape as number[], filter.shape as number[], attrs!, false);
  if (info.strideHeight === 1 && info.strideWidth === 1) return backpropInputAsConv(be, dy, filter, info);
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, pt, pl } = dims(info);
  const M = N * OH * OW;
  const K = KH * KW * C;
  const dy3: Info = { dataId: dy.dataId, shape: [1, M, CO], dtype: 'float32' };
  // Wᵀ [CO, K] explicitly (small): the wasm BatchMatMul is ~10× slower with transposeB set
  const wT = be.makeOutput([1, CO, K], 'float32');
  {
    const tv = be.typedArrayFromHeap(wT) as Float32Array;
    const fv = be.typedArrayFromHeap(filter) as Float32Array;
    for (let k = 0; k < K; k++) for (let co = 0; co < CO; co++) tv[co * K + k] = fv[k * CO + co];
  }
  const dcols = matmul(be, dy3, wT, false, false); // [1, M, K]
  be.disposeData(wT.dataId);
  const out = be.makeOutput([N, H, W, C], 'float32');
  const ov = be.typedArrayFromHeap(out) as Float32Array;
  const dv = be.typedArrayFromHeap({ dataId: dcols.dataId, shape: [M * K], dtype: 'float32' }) as Float32Array;
  ov.fill(0);
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, m++) {
        let o = m * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH - pt + kh;
          for (let kw = 0; kw < KW; kw++, o += C) {
            const iw = ow * SW - pl + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const s = ((n * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) ov[s + c] += dv[o + c];
          }
        }
      }
    }
  }
  be.disposeData(dcols.dataId);
  return out;
}

/**
 * The depthwise convolution's backward pass over every (output position, in-bounds tap) pair:
 * into the filter gradient (`toFilter`: dW[f] += x[s]·dy[d], float64 sums over N·OH·OW terms) or
 * into the input gradient (dx[s] += Σ_q w[f]·dy[d]). `src` is x or the filter accordingly.
 */
function depthwiseBackward(info: tf.backend_util.Conv2DInfo, toFilter: boolean, dst: Float64Array | Float32Array, src: Float32Array, dv: Float32Array): void {
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, pt, pl } = dims(info);
  const mult = CO / C;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const d = ((n * OH + oh) * OW + ow) * CO;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH - pt + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW - pl + kw;
            if (iw < 0 || iw >= W) continue;
            const s = ((n * H + ih) * W + iw) * C;
            const f = (kh * KW + kw) * CO;
            if (toFilter) {
              if (mult === 1) for (let c = 0; c < C; c++) dst[f + c] += src[s + c] * dv[d + c];
              else
                for (let c = 0; c < C; c++) {
                  const xval = src[s + c];
                  for (let q = 0; q < mult; q++) dst[f + c * mult + q] += xval * dv[d + c * mult + q];
                }
            } else if (mult === 1) for (let c = 0; c < C; c++) dst[s + c] += src[f + c] * dv[d + c];
            else
              for (let c = 0; c < C; c++) {
                let sum = 0;
                for (let q = 0; q < mult; q++) sum += src[f + c * mult + q] * dv[d + c * mult + q];
                dst[s + c] += sum;
              }
          }
        }
      }
    }
  }
}

function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { x, dy } = inputs;
  const fShape = attrs!.filterShape as number[];
  const info = convInfo(x.shape as number[], fShape, attrs!, true);
  const out = be.makeOutput(fShape, 'float32');
  const ov = be.typedArrayFromHeap(out) as Float32Array;
  const acc = new Float64Array(info.filterHeight * info.filterWidth * info.outChannels);
  depthwiseBackward(info, true, acc, be.typedArrayFromHeap(x) as Float32Array, be.typedArrayFromHeap(dy) as Float32Array);
  for (let i = 0; i < acc.length; i++) ov[i] = acc[i];
  return out;
}

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { dy, filter } = inputs;
  const info = convInfo(attrs!.inputShape as number[], filter.shape as number[], attrs!, true);
  const out = be.makeOutput([info.batchSize, info.inHeight, info.inWidth, info.inChannels], 'float32');
  const ov = be.typedArrayFromHeap(out) as Float32Array;
  ov.fill(0);
  depthwiseBackward(info, false, ov, be.typedArrayFromHeap(filter) as Float32Array, be.typedArrayFromHeap(dy) as Float32Array);
  return out;
}

/**
 * Tile by block copies. The wasm backend's Tile takes ~140 ms of a 440 ms training step of the
 * fmnist CNN: BatchNormalization's gradient tiles per-channel vectors to activation size.
 */
function tile({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { x } = inputs;
  const reps = attrs!.reps as number[];
  const shape = x.shape as number[];
  const r = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = be.makeOutput(outShape, x.dtype);
  if (outShape.some((d) => d === 0)) return out;
  const ov = be.typedArrayFromHeap(out);
  const xv = be.typedArrayFromHeap(x);
  const inStride = new Array<number>(r);
  const outStride = new Array<number>(r);
  for (let i = r - 1, a = 1, b = 1; i >= 0; i--) {
    inStride[i] = a;
    outStride[i] = b;
    a *= shape[i];
    b *= outShape[i];
  }
  // writes x's sub-block at srcOff, tiled along axes ≥ axis, to dstOff
  const fill = (dstOff: number, srcOff: number, axis: number): void => {
    const block = shape[axis] * (axis === r - 1 ? 1 : outStride[axis]) ;
    if (axis === r - 1) {
      ov.set(xv.subarray(srcOff, srcOff + shape[axis]), dstOff);
    } else {
      for (let i = 0; i < shape[axis]; i++) fill(dstOff + i * outStride[axis], srcOff + i * inStride[axis], axis + 1);
    }
    for (let k = 1; k < reps[axis]; k++) ov.copyWithin(dstOff + k * block, dstOff, dstOff + block);
  };
  if (r === 0) ov.set(xv);
  else fill(0, 0, 0);
  return out;
}

/**
 * Sum / Mean over the leading axes of a float32 tensor (per-channel reductions over N, H, W:
 * BatchNormalization's statistics and gradients), as a row-accumulate loop. The wasm kernels
 * transpose the reduced axes innermost first, which made Sum the largest kernel of the
 * depthwise-separable net's training step. Other reductions go to the original wasm kernels.
 */
function leadingReduce(name: 'Sum' | 'Mean'): (a: KernelArgs) => Info {
  const orig = tf.getKernel(name, 'wasm');
  if (!orig) throw new Error(`wasm-grads: ${name} kernel missing on wasm`);
  let origReady = false;
  return (args: KernelArgs): Info => {
    const { inputs, backend, attrs } = args;
    const be = backend as BackendWasm;
    const { x } = inputs;
    const shape = x.shape as number[];
    const r = shape.length;
    const axes = tf.util.parseAxisParam(attrs!.axis as number | number[], shape).sort((a, b) => a - b);
    const k = axes.length;
    const prefix = k > 0 && k < r && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !prefix || tf.util.sizeFromShape(shape) === 0) {
      // the original kernel's setup (cwrap of its wasm export) runs at backend init only for
      // kernels registered then; this one was replaced before that, so set it up on first use
      if (!origReady) {
        orig.setupFunc?.(be);
        origReady = true;
      }
      return orig.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
    }
    const rows = shape.slice(0, k).reduce((a, b) => a * b, 1);
    const cols = shape.slice(k).reduce((a, b) => a * b, 1);
    const outShape = attrs!.keepDims ? shape.map((d, i) => (i < k ? 1 : d)) : shape.slice(k);
    const out = be.makeOutput(outShape, 'float32');
    const ov = be.typedArrayFromHeap(out) as Float32Array;
    const xv = be.typedArrayFromHeap(x) as Float32Array;
    const acc = new Float64Array(cols);
    for (let i = 0, o = 0; i < rows; i++) for (let j = 0; j < cols; j++, o++) acc[j] += xv[o];
    const scale = name === 'Mean' ? 1 / rows : 1;
    for (let j = 0; j < cols; j++) ov[j] = acc[j] * scale;
    return out;
  };
}

/**
 * dy masked to where min ≤ x ≤ max: the gradient of ClipByValue (ReLU6) in one pass. tfjs's own
 * gradient runs GreaterEqual, LessEqual, LogicalAnd, ZerosLike and Select over the activation —
 * a fifth of the depthwise-separable net's training step on wasm.
 */
const CLIP_GRAD = 'QloomClipByValueGrad';

function clipGrad({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { dy, x } = inputs;
  const lo = attrs!.clipValueMin as number;
  const hi = attrs!.clipValueMax as number;
  const out = be.makeOutput(x.shape as number[], 'float32');
  const ov = be.typedArrayFromHeap(out) as Float32Array;
  const xv = be.typedArrayFromHeap(x) as Float32Array;
  const dv = be.typedArrayFromHeap(dy) as Float32Array;
  for (let i = 0; i < ov.length; i++) {
    const v = xv[i];
    ov[i] = v >= lo && v <= hi ? dv[i] : 0;
  }
  return out;
}

/** The same on tfjs-backend-cpu, so that the replaced gradient works on either backend. */
function clipGradCpu({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as { readSync(id: object): unknown; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): Info };
  const { dy, x } = inputs;
  const lo = attrs!.clipValueMin as number;
  const hi = attrs!.clipValueMax as number;
  const xv = be.readSync(x.dataId) as Float32Array;
  const dv = be.readSync(dy.dataId) as Float32Array;
  const ov = new Float32Array(xv.length);
  for (let i = 0; i < ov.length; i++) {
    const v = xv[i];
    ov[i] = v >= lo && v <= hi ? dv[i] : 0;
  }
  return be.makeTensorInfo(x.shape as number[], 'float32', ov);
}

/**
 * BatchMatMul on qloom's own WebAssembly SIMD GEMM (nets/wasm-f32.ts, float32 accumulation) instead
 * of the wasm backend's: measured on this machine, [6272, 64]·[64, 64] takes 3.2 ms against 19 ms,
 * and the weight gradient xᵀ·dy (transposeA) 3.2 ms against 33 ms. Transposed operands are
 * packed / gathered in JavaScript; a batch dimension of 1 broadcasts. Only registered for the
 * models that ask for it (registerSimdMatMul): the CNNs' recorded training runs used the backend's.
 */
function simdBatchMatMul({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as BackendWasm;
  const { a, b } = inputs;
  const ta = attrs!.transposeA === true;
  const tb = attrs!.transposeB === true;
  const as = a.shape as number[];
  const bs = b.shape as number[];
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error('wasm-grads: BatchMatMul needs float32 operands');
  const ra = as.length;
  const rb = bs.length;
  const M = ta ? as[ra - 1] : as[ra - 2];
  const K = ta ? as[ra - 2] : as[ra - 1];
  const N = tb ? bs[rb - 2] : bs[rb - 1];
  if ((tb ? bs[rb - 1] : bs[rb - 2]) !== K) throw new Error(`wasm-grads: matMul inner sizes differ: [${as.join(',')}]${ta ? 'ᵀ' : ''} · [${bs.join(',')}]${tb ? 'ᵀ' : ''}`);
  const outer = tf.backend_util.assertAndGetBroadcastShape(as.slice(0, -2), bs.slice(0, -2));
  const batchA = tf.util.sizeFromShape(as.slice(0, -2));
  const batchB = tf.util.sizeFromShape(bs.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) throw new Error('wasm-grads: matMul batch dimensions broadcast only from 1');
  const out = be.makeOutput([...outer, M, N], 'float32');
  if (M === 0 || N === 0) return out;
  const ov = be.typedArrayFromHeap(out) as Float32Array;
  if (K === 0) {
    ov.fill(0);
    return out;
  }
  const av = be.typedArrayFromHeap(a) as Float32Array;
  const bv = be.typedArrayFromHeap(b) as Float32Array;
  for (let i = 0; i < batch; i++) {
    const offA = batchA === 1 ? 0 : i * M * K;
    const offB = batchB === 1 ? 0 : i * K * N;
    const g = simdGemm('f32', M, N, K);
    if (!g) throw new Error('wasm-grads: WebAssembly SIMD is unavailable');
    if (ta) packColumns(g.a, av.subarray(offA, offA + K * M), M, K, M);
    else packRows(g.a, av, M, K, offA, K);
    const gb = g.b;
    const ldb = g.ldb;
    if (tb) {
      for (let j = 0; j < N; j++) {
        const s = offB + j * K;
        for (let p = 0; p < K; p++) gb[p * ldb + j] = bv[s + p];
      }
    } else for (let p = 0; p < K; p++) gb.set(bv.subarray(offB + p * N, offB + (p + 1) * N), p * ldb);
    g.run();
    const c = g.c;
    const ldc = g.ldc;
    const o = i * M * N;
    for (let r = 0; r < M; r++) ov.set(c.subarray(r * ldc, r * ldc + N), o + r * N);
  }
  return out;
}

let simdMatMulRegistered = false;

/** Replaces the wasm backend's BatchMatMul with simdBatchMatMul (idempotent). */
export function registerSimdMatMul(): void {
  if (simdMatMulRegistered) return;
  simdMatMulRegistered = true;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: simdBatchMatMul as unknown as tf.KernelFunc });
}

let registered = false;

/** Registers the kernels above on the wasm backend (idempotent; replaces Conv2DBackpropInput). */
export function registerWasmGradKernels(): void {
  if (registered) return;
  registered = true;
  const reg = (kernelName: string, kernelFunc: (a: KernelArgs) => Info): void => {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  };
  reg('Conv2DBackpropFilter', conv2DBackpropFilter);
  reg('Conv2DBackpropInput', conv2DBackpropInput);
  reg('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter);
  reg('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput);
  reg('Tile', tile);
  reg('Sum', leadingReduce('Sum'));
  reg('Mean', leadingReduce('Mean'));
  reg(CLIP_GRAD, clipGrad);
  tf.registerKernel({ kernelName: CLIP_GRAD, backendName: 'cpu', kernelFunc: clipGradCpu as unknown as tf.KernelFunc });
  tf.registerGradient({
    kernelName: 'ClipByValue',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      return { x: () => tf.engine().runKernel(CLIP_GRAD, { dy: dy as tf.Tensor, x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor };
    },
  });
}
