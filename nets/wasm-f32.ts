/**
 * WebAssembly SIMD kernels for the FP32 reference executor (fp32.ts): a register-blocked
 * convolution that reads its taps from the padded input (stride 1) or an im2col (other strides),
 * with bias, BatchNormalization and Relu / Clip fused into its epilogue; a register-blocked GEMM
 * for Gemm and MatMul; a direct depthwise convolution with the same epilogue; the elementwise ops.
 *
 * Multiply-accumulate: with relaxed SIMD's madd (an FMA on x64; nets/wasm-binary.ts relaxedMadd
 * enables and checks it) where this Node has it, else a multiply and an add — the GEMM, conv and
 * depthwise functions are built both ways, the madd build as a second module over the same memory.
 * In the reference's float64 lanes every product of float32 values is exact, so fused and unfused
 * round the same sum once: the same bits either way (test/unit/nets/fp32-fma.test.ts); 'f32' lanes
 * round once instead of twice, like onnxruntime's FMA kernels.
 *
 * Speed, measured (bench/fp32.ts): 128-bit lanes, 8 accumulators; the madd build is 1.1–1.3× the
 * mul + add one on whole networks (the register-only madd ceiling is 2× mul + add's), which is
 * what bounds the ratio to onnxruntime's 256/512-bit FMA kernels.
 *
 * Weights are packed once per weight tensor and kept resident at the bottom of the kernel memory
 * (see resident); each call lays out its scratch after them.
 *
 * The module (its functions in wasm-f32-kernels.ts and wasm-f32-conv.ts, assembled byte by byte
 * with no toolchain) is compiled synchronously, so runFp32 stays synchronous. Where WebAssembly
 * SIMD is unavailable every entry point returns null / false and the caller keeps its scalar loops.
 *
 * Two accumulations:
 *  - 'f64' (the reference): operands are float32, each product is formed in float64 — exact, since
 *    two 24-bit mantissas fit 53 bits — and summed in float64 (f64x2 lanes), then rounded to float32
 *    once. It differs from the scalar Float64 loops only in the order of float64 additions, far
 *    below one float32 ulp, which keeps borderline argmax decisions where they were.
 *  - 'f32': float32 products and sums in f32x4 lanes, as onnxruntime's MLAS does (in its own order).
 *    Twice the lanes, but a rounding per add; kept for measurement, not the reference.
 *
 * GEMM layouts: see wasm-f32-kernels.ts; the convolution's: wasm-f32-conv.ts.
 *
 * All of it runs in one module-wide memory that grows to the largest layer seen and is reused:
 * the views simdGemm returns are valid until the next call into this file.
 */

import type { Window2d } from './shapes.js';
import { buildModule, relaxedMadd } from './wasm-binary.js';
import { EPI_CLIP, EPI_NONE, EPI_RELU, MR } from './wasm-f32-conv.js';
import { fp32FmaFuncs, fp32KernelFuncs } from './wasm-f32-kernels.js';

type Fn = (...args: number[]) => void;

/** The multiply-accumulate functions, in a mul + add and (where the engine has it) a relaxed madd build. */
interface MacFns {
  gemm: Record<'gemm64' | 'gemm32' | 'gemm64b' | 'gemm32b', Fn>;
  dw1: Fn;
  dw2: Fn;
  conv64: Fn;
  conv32: Fn;
  conv64w: Fn;
}

interface Kernels {
  memory: WebAssembly.Memory;
  plain: MacFns;
  /** null where relaxedMadd() does not hold */
  fma: MacFns | null;
  im2col: Fn;
  pad: Fn;
  stage64: Fn;
  relu: Fn;
  clamp: Fn;
  bn: Fn;
  mp1: Fn;
  mp2: Fn;
  gap: Fn;
  stage: Fn;
  compact: Fn;
}

let kernels: Kernels | null | undefined;

const PAGE = 65536;

function instance(): Kernels | null {
  if (kernels === undefined) {
    try {
      const mod = new WebAssembly.Module(buildModule(fp32KernelFuncs()));
      const memory = new WebAssembly.Memory({ initial: 16 });
      const ex = new WebAssembly.Instance(mod, { e: { m: memory } }).exports as Record<string, Fn>;
      kernels = {
        memory,
        plain: macFns(ex),
        fma: fmaInstance(memory),
        im2col: ex.im2col,
        pad: ex.pad,
        stage64: ex.stage64,
        relu: ex.relu,
        clamp: ex.clamp,
        bn: ex.bn,
        mp1: ex.mp1,
        mp2: ex.mp2,
        gap: ex.gap,
        stage: ex.stage,
        compact: ex.compact,
      };
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** The relaxed madd build over the same memory, or null (no relaxed SIMD: the mul + add build runs). */
function fmaInstance(memory: WebAssembly.Memory): MacFns | null {
  if (!relaxedMadd()) return null;
  try {
    return macFns(new WebAssembly.Instance(new WebAssembly.Module(buildModule(fp32FmaFuncs())), { e: { m: memory } }).exports as Record<string, Fn>);
  } catch {
    return null;
  }
}

function macFns(ex: Record<string, Fn>): MacFns {
  return { gemm: { gemm64: ex.gemm64, gemm32: ex.gemm32, gemm64b: ex.gemm64b, gemm32b: ex.gemm32b }, dw1: ex.dw1, dw2: ex.dw2, conv64: ex.conv64, conv32: ex.conv32, conv64w: ex.conv64w };
}

let fmaWanted = true;

/** The multiply-accumulate functions in use: relaxed madd where available and not turned off. */
function macs(kern: Kernels): MacFns {
  return fmaWanted && kern.fma ? kern.fma : kern.plain;
}

/**
 * Whether the multiply-accumulate kernels use relaxed madd (FMA): with `on` given, turn it on (the
 * default, where the engine has it) or off — for tests and bench/fp32.ts, which compare the two.
 * The reference ('f64') gives the same bits either way; 'f32' lanes round once instead of twice.
 */
export function fp32Fma(on?: boolean): boolean {
  if (on !== undefined) fmaWanted = on;
  const kern = instance();
  return fmaWanted && kern !== null && kern.fma !== null;
}

/** True where the WebAssembly SIMD kernels compiled (Node ≥ 16.4 on x64/arm64). */
export function simdAvailable(): boolean {
  return instance() !== null;
}

/**
 * Grows the kernel memory to hold `end` bytes; returns its (possibly new) buffer, or null past what
 * a 32-bit memory can hold (the caller then falls back to its scalar loops).
 */
function reserve(kern: Kernels, end: number): ArrayBuffer | null {
  const have = kern.memory.buffer.byteLength;
  if (end > have) {
    try {
      kern.memory.grow(Math.ceil((end - have) / PAGE));
    } catch {
      return null;
    }
  }
  return kern.memory.buffer;
}

/** A copy in a fresh array: `slice()` of a view on wasm memory takes a slow path (~10× a copy). */
function copyOut(view: Float32Array): Float32Array {
  const y = new Float32Array(view.length);
  y.set(view);
  return y;
}

/** Bump allocation of one call's regions, 64-byte aligned, after the resident weights. */
class Layout {
  end = residentEnd;
  take(bytes: number): number {
    const p = this.end;
    this.end = align64(p + bytes);
    return p;
  }
}

function align64(n: number): number {
  return (n + 63) & ~63;
}

/** n rounded up to an odd number of 64-byte lines: rows at this stride spread over all L1 sets. */
function oddLines(n: number): number {
  const lines = Math.ceil(n / 64);
  return (lines | 1) * 64;
}

/**
 * Resident data (packed weights) at the bottom of the kernel memory, one region per (weight
 * tensor, layout), filled once: a network's weights are packed on its first pass and read in place
 * on every later one (tensors are never mutated after they are produced — the IR's rule; a few
 * sampled values are compared anyway, so an edited weight is repacked). Past RESIDENT_MAX bytes
 * every region is dropped (a new generation) and refilled on use. Each call's scratch comes after.
 */
let residentEnd = 0;
let residentGen = 0;
const RESIDENT_MAX = 256 << 20;
interface Resident {
  gen: number;
  ptr: number;
  probe: Float32Array;
}
const residents = new WeakMap<Float32Array, Map<string, Resident>>();

function probeOf(w: Float32Array): Float32Array {
  const step = Math.max(1, Math.floor(w.length / 16));
  const p = new Float32Array(Math.ceil(w.length / step) + 1);
  for (let i = 0, j = 0; i < w.length; i += step) p[j++] = w[i];
  p[p.length - 1] = w[w.length - 1];
  return p;
}

function sameProbe(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** The address of `key`'s resident region `tag` (bytes long), filled by `fill` when (re)made; null if memory cannot grow. */
function resident(kern: Kernels, key: Float32Array, tag: string, bytes: number, fill: (buf: ArrayBuffer, ptr: number) => void): number | null {
  let byTag = residents.get(key);
  const hit = byTag?.get(tag);
  const probe = probeOf(key);
  if (hit && hit.gen === residentGen && sameProbe(hit.probe, probe)) return hit.ptr;
  if (residentEnd + bytes > RESIDENT_MAX) {
    residentGen++;
    residentEnd = 0;
  }
  const ptr = residentEnd;
  const buf = reserve(kern, align64(ptr + bytes));
  if (!buf) return null;
  residentEnd = align64(ptr + bytes);
  fill(buf, ptr);
  if (!byTag) residents.set(key, (byTag = new Map()));
  byTag.set(tag, { gen: residentGen, ptr, probe });
  return ptr;
}

export type SimdAccum = 'f64' | 'f32';

/** One GEMM's operands in WebAssembly memory; valid until the next simdGemm call. */
export interface SimdGemm<T extends Float64Array | Float32Array> {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** packed A (per K block of KC, row panels [⌈m/4⌉][len][4]): fill with packRows / packColumns */
  readonly a: T;
  /** float32 [k][ldb] */
  readonly b: Float32Array;
  readonly ldb: number;
  /** [⌈m/4⌉·4][ldc] results after run() */
  readonly c: T;
  readonly ldc: number;
  run(): void;
}

/**
 * A: packed by `pack` once per `key` (a weight tensor) and layout `tag`, and kept resident (see
 * resident) — the returned `a` is then already filled.
 */
export interface ResidentA {
  key: Float32Array;
  tag: string;
  pack(a: Float64Array | Float32Array): void;
}

/**
 * Lays out an m×k by k×n GEMM in the kernel memory (growing it as needed) and returns views to fill
 * and read; null where WebAssembly SIMD is unavailable or a dimension is 0.
 */
export function simdGemm(accum: 'f64', m: number, n: number, k: number, weights?: ResidentA): SimdGemm<Float64Array> | null;
export function simdGemm(accum: 'f32', m: number, n: number, k: number, weights?: ResidentA): SimdGemm<Float32Array> | null;
export function simdGemm(accum: SimdAccum, m: number, n: number, k: number, weights?: ResidentA): SimdGemm<Float64Array> | SimdGemm<Float32Array> | null;
export function simdGemm(accum: SimdAccum, m: number, n: number, k: number, weights?: ResidentA): SimdGemm<Float64Array> | SimdGemm<Float32Array> | null {
  const kern = instance();
  if (!kern || m <= 0 || n <= 0 || k <= 0) return null;
  const is64 = accum === 'f64';
  const el = is64 ? 8 : 4;
  const nr = is64 ? 4 : 8;
  const mBlocks = Math.ceil(m / 4);
  const nBlocks = Math.ceil(n / nr);
  const ldb = nBlocks * nr;
  const Arr = is64 ? Float64Array : Float32Array;
  const aPtr = weights ? resident(kern, weights.key, `gemm${el}/${weights.tag}/${m}`, mBlocks * k * 4 * el, (buf, ptr) => weights.pack(new Arr(buf, ptr, mBlocks * k * 4))) : new Layout().take(mBlocks * k * 4 * el);
  if (aPtr === null) return null;
  const lay = new Layout();
  if (!weights) lay.take(mBlocks * k * 4 * el);
  const bPtr = lay.take(k * ldb * 4);
  const cPtr = lay.take(mBlocks * 4 * ldb * el);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const a = new Arr(buf, aPtr, mBlocks * k * 4);
  const b = new Float32Array(buf, bPtr, k * ldb);
  const c = new Arr(buf, cPtr, mBlocks * 4 * ldb);
  const run = () => gemmBlocked(kern, accum, false, aPtr, bPtr, cPtr, cPtr, mBlocks, nBlocks, k, ldb * 4, ldb * el, ldb * el, 0);
  return { m, n, k, a, b, ldb, c, ldc: ldb, run } as SimdGemm<Float64Array> | SimdGemm<Float32Array>;
}

/**
 * K block of the GEMM: a block of A (4·⌈M/4⌉ rows × KC, ≤ 512 KiB in f64 for 256 rows) stays in L2
 * and a block column strip of B (KC rows × 16–32 bytes) in L1 while the row panels stream past it.
 */
export const KC = 256;

/**
 * Packs rows [0, m) of a row-major float32 matrix (row i at rowOff + i·rowStride, k columns) into
 * A's layout: per K block of KC, row panels [⌈m/4⌉][len][4]; rows past m are 0.
 */
export function packRows(dst: Float64Array | Float32Array, src: Float32Array, m: number, k: number, rowOff: number, rowStride: number): void {
  const mBlocks = Math.ceil(m / 4);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const len = Math.min(KC, k - k0);
    for (let ib = 0; ib < mBlocks; ib++) {
      const base = mBlocks * 4 * k0 + ib * len * 4;
      for (let r = 0; r < 4; r++) {
        const i = ib * 4 + r;
        if (i >= m) {
          for (let p = 0; p < len; p++) dst[base + p * 4 + r] = 0;
          continue;
        }
        const s = rowOff + i * rowStride + k0;
        for (let p = 0; p < len; p++) dst[base + p * 4 + r] = src[s + p];
      }
    }
  }
}

/** The same layout from the columns of a row-major [k][stride] float32 matrix (A row i = column i). */
export function packColumns(dst: Float64Array | Float32Array, src: Float32Array, m: number, k: number, stride: number): void {
  const mBlocks = Math.ceil(m / 4);
  dst.fill(0, 0, mBlocks * 4 * k);
  for (let p = 0; p < k; p++) {
    const k0 = p - (p % KC);
    const len = Math.min(KC, k - k0);
    const base = mBlocks * 4 * k0 + (p - k0) * 4;
    const s = p * stride;
    for (let i = 0; i < m; i++) dst[base + (i >> 2) * len * 4 + (i & 3)] = src[s + i];
  }
}

/**
 * C = A·B over K blocks of KC: every block but the last adds into `part` (raw layout, row stride
 * ldPart bytes); the last reads `part` and writes C — fused with the bias (float32) or raw.
 * With part = c (raw), the sums accumulate in place.
 */
function gemmBlocked(kern: Kernels, accum: SimdAccum, fused: boolean, aPtr: number, bPtr: number, cPtr: number, partPtr: number, mBlocks: number, nBlocks: number, k: number, ldbBytes: number, ldcBytes: number, ldPartBytes: number, biasPtr: number): void {
  const is64 = accum === 'f64';
  const { gemm } = macs(kern);
  const raw = is64 ? gemm.gemm64 : gemm.gemm32;
  const last = fused ? (is64 ? gemm.gemm64b : gemm.gemm32b) : raw;
  const el = is64 ? 8 : 4;
  let cin = 0;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const len = Math.min(KC, k - k0);
    const aBlk = aPtr + mBlocks * 4 * k0 * el;
    const bBlk = bPtr + k0 * ldbBytes;
    if (k0 + len >= k) last(aBlk, bBlk, cPtr, mBlocks, nBlocks, len, ldbBytes, ldcBytes, biasPtr, cin, ldPartBytes);
    else {
      raw(aBlk, bBlk, partPtr, mBlocks, nBlocks, len, ldbBytes, ldPartBytes, 0, cin, ldPartBytes);
      cin = partPtr;
    }
  }
}

/** A 2-D convolution's geometry (NCHW, ONNX attributes resolved). */
export interface ConvShape extends Window2d {
  n: number;
  c: number;
  h: number;
  wid: number;
  oc: number;
  group: number;
  icg: number;
  ocg: number;
}

/** Padded plane size and whether padding is needed at all. */
function padded(s: ConvShape): { hp: number; wp: number; any: boolean } {
  const any = s.padTop > 0 || s.padLeft > 0 || s.padBottom > 0 || s.padRight > 0;
  return { hp: s.h + s.padTop + s.padBottom, wp: s.wid + s.padLeft + s.padRight, any };
}

/** Zero-padded input planes of one image (and group) in kernel memory. */
function stageInput(kern: Kernels, buf: ArrayBuffer, s: ConvShape, planes: number, x: Float32Array, xOff: number, rawPtr: number, padPtr: number): void {
  const plane = s.h * s.wid;
  new Float32Array(buf, rawPtr, planes * plane).set(x.subarray(xOff, xOff + planes * plane));
  const { hp, wp, any } = padded(s);
  if (any) kern.pad(rawPtr, padPtr, planes * s.h, s.wid, s.h, hp, wp, s.padTop, s.padLeft);
}

// reads past a row's end (column blocks, stride-2 pairs) land here, never outside the memory
const SLACK = 256;

/**
 * What a convolution's output goes through before it is stored (runFp32 fuses Conv →
 * BatchNormalization → Relu / Clip chains): BN as (v − mean)·inv·scale + bias in float64 (`inv` =
 * 1/√(var + ε) computed by the caller, as batchNorm does), then Relu or Clip — each applied to the
 * float32 value the node before it outputs, so the results are the unfused nodes', bit for bit.
 */
export interface ConvPost {
  bn?: { mean: Float32Array; inv: Float64Array; scale: Float32Array; bias: Float32Array };
  act?: { relu: boolean; lo: number; hi: number };
}

/** Writes the epilogue's BN params (f64 [channels][4] from channel `from`) and bounds; returns (bnp, mode, boundsPtr). */
function postParams(buf: ArrayBuffer, post: ConvPost | undefined, bnPtr: number, boundsPtr: number, channels: number, from: number): [number, number, number] {
  const bn = post?.bn;
  if (bn) {
    const p = new Float64Array(buf, bnPtr, channels * 4);
    for (let i = 0; i < channels; i++) {
      p[i * 4] = bn.mean[from + i];
      p[i * 4 + 1] = bn.inv[from + i];
      p[i * 4 + 2] = bn.scale[from + i];
      p[i * 4 + 3] = bn.bias[from + i];
    }
  }
  const act = post?.act;
  if (act && !act.relu) {
    const bounds = new Float32Array(buf, boundsPtr, 2);
    bounds[0] = act.lo;
    bounds[1] = act.hi;
  }
  return [bn ? bnPtr : 0, !act ? EPI_NONE : act.relu ? EPI_RELU : EPI_CLIP, boundsPtr];
}

/**
 * Convolution on the conv kernel (wasm-f32-conv.ts), bias and `post` fused into its epilogue: per
 * group the weights are A (ocg × K, K = icg·kh·kw, packed once per weight tensor and kept
 * resident), per image B is read from the staged input — padded (and for 'f64' promoted to
 * float64 once) — at "wide" output positions for stride 1, or from its im2col for other strides.
 * Writes y (NCHW); false where WebAssembly SIMD is unavailable or memory cannot grow.
 */
export function simdConv(accum: SimdAccum, s: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, y: Float32Array, post?: ConvPost): boolean {
  const kern = instance();
  if (!kern) return false;
  const { n, c, h, wid, oc, group, icg, ocg, kh, kw, sh, sw, dh, dw, oh, ow } = s;
  const is64 = accum === 'f64';
  const el = is64 ? 8 : 4;
  const nr = is64 ? 4 : 8;
  const k = icg * kh * kw;
  const area = oh * ow;
  const plane = h * wid;
  const mr = MR;
  const mBlocks = Math.ceil(ocg / mr);
  const { hp, wp, any } = padded(s);
  // stride 1: output (oy, ox) is column oy·wp + ox, and every tap's B row is the staged input itself
  const wide = sh === 1 && sw === 1;
  const cols = wide ? (oh - 1) * wp + ow : area;
  const nBlocks = Math.ceil(cols / nr);
  const ldc = nBlocks * nr;
  const aPtr = resident(kern, w, `conv${el}/${group}/${mr}`, group * mBlocks * k * mr * el, (buf, ptr) => {
    const a = is64 ? new Float64Array(buf, ptr, group * mBlocks * k * mr) : new Float32Array(buf, ptr, group * mBlocks * k * mr);
    a.fill(0);
    for (let g = 0; g < group; g++) {
      for (let i = 0; i < ocg; i++) {
        const src = (g * ocg + i) * k;
        const dst = (g * mBlocks + Math.floor(i / mr)) * k * mr + (i % mr);
        for (let p = 0; p < k; p++) a[dst + p * mr] = w[src + p];
      }
    }
  });
  if (aPtr === null) return false;
  const lay = new Layout();
  const biasPtr = lay.take(mBlocks * mr * el);
  const bnPtr = post?.bn ? lay.take(mBlocks * mr * 32) : 0;
  const boundsPtr = lay.take(8);
  const tapPtr = lay.take(k * 4);
  const kOffPtr = wide ? tapPtr : lay.take(k * 4);
  // plane and im2col row strides of an odd number of cache lines (see stageFunc); an unpadded input
  // whose planes do not sit at a multiple of two lines is read where it is copied, unstaged
  // float64 reference, stride 1, K ≥ 64, ≥ 32 output channels: the input staged as float64 once per
  // image, so the kernel's B loads need no promote (conv64w; 1.05–1.09× on fmnist-cnn, fmnist-dwsep
  // and MobileNetV2 at batch 8 — with fewer taps or channels the doubled staging costs more than it saves)
  const b64 = is64 && wide && k >= 64 && ocg >= 32;
  const xEl = b64 ? 8 : 4;
  const unstaged = !b64 && !any && (plane * 4) % 128 !== 0;
  const planeBytes = unstaged ? plane * 4 : oddLines(hp * wp * xEl);
  const ldbBytes = oddLines(ldc * 4);
  const xPtr = lay.take(icg * planeBytes + SLACK);
  const rawPtr = unstaged ? xPtr : lay.take(icg * plane * 4 + SLACK);
  const bPtr = wide ? xPtr : lay.take(k * ldbBytes + SLACK);
  const cPtr = lay.take(mBlocks * mr * ldc * 4);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const taps = new Int32Array(buf, tapPtr, k);
  for (let ic = 0, r = 0; ic < icg; ic++) {
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) taps[r++] = ic * planeBytes + (ky * dh * wp + kx * dw) * xEl;
  }
  if (!wide) {
    const kOff = new Int32Array(buf, kOffPtr, k);
    for (let r = 0; r < k; r++) kOff[r] = r * ldbBytes;
  }
  // the staging kernel writes interiors only: borders zeroed once stay zero for every image (unpadded,
  // what lies between planes is read only into the wide columns that are dropped)
  if (any) new Uint8Array(buf, xPtr, icg * planeBytes + SLACK).fill(0);
  const cView = new Float32Array(buf, cPtr, ocg * area);
  const biasView = is64 ? new Float64Array(buf, biasPtr, mBlocks * mr) : new Float32Array(buf, biasPtr, mBlocks * mr);
  const conv = b64 ? macs(kern).conv64w : is64 ? macs(kern).conv64 : macs(kern).conv32;
  for (let g = 0; g < group; g++) {
    for (let i = 0; i < mBlocks * mr; i++) biasView[i] = i < ocg && bias ? bias[g * ocg + i] : 0;
    const [bnp, mode, bounds] = postParams(buf, post, bnPtr, boundsPtr, ocg, g * ocg);
    const aG = aPtr + g * mBlocks * k * mr * el;
    for (let bn = 0; bn < n; bn++) {
      const xOff = (bn * c + g * icg) * plane;
      new Float32Array(buf, rawPtr, icg * plane).set(x.subarray(xOff, xOff + icg * plane));
      if (b64) kern.stage64(rawPtr, xPtr, icg * h, wid, h, (s.padTop * wp + s.padLeft) * 8, wp * 8, planeBytes - h * wp * 8);
      else if (!unstaged) kern.stage(rawPtr, xPtr, icg * h, wid, h, (s.padTop * wp + s.padLeft) * 4, wp * 4, planeBytes - h * wp * 4);
      if (!wide) kern.im2col(xPtr, bPtr, tapPtr, k, oh, ow, sh * wp * 4, sw * 4, ldbBytes);
      conv(aG, bPtr, kOffPtr, cPtr, mBlocks, nBlocks, k, ldc * 4, biasPtr, bnp, mode, bounds);
      // pack the rows in place: channel i, row oy at (i·oh + oy)·ow
      if (wide ? wp !== ow || ldc !== area : ldc !== area) {
        if (wide) kern.compact(cPtr, cPtr, ocg, oh, ow * 4, wp * 4, ldc * 4);
        else kern.compact(cPtr, cPtr, ocg, 1, area * 4, 0, ldc * 4);
      }
      y.set(cView, (bn * oc + g * ocg) * area);
    }
  }
  return true;
}

/**
 * Depthwise convolution (group = c = oc, one input and one output channel per group), stride 1 or
 * 2 along x, any stride along y, any dilation: float64 accumulation starting at the bias, taps in
 * kernel order — the scalar loop's order — then `post` (see ConvPost). False where WebAssembly
 * SIMD is unavailable or the shape is not one of these.
 */
export function simdDepthwise(s: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, y: Float32Array, post?: ConvPost): boolean {
  const kern = instance();
  const { n, c, h, wid, oc, group, icg, ocg, kh, kw, sh, sw, dh, dw, oh, ow } = s;
  if (!kern || group !== c || oc !== c || icg !== 1 || ocg !== 1 || (sw !== 1 && sw !== 2)) return false;
  const taps = kh * kw;
  const plane = h * wid;
  const { hp, wp, any } = padded(s);
  // stride 1: the input staged as float64 once (no conversion per tap); stride 2 reads float32 pairs
  const el = sw === 1 ? 8 : 4;
  const wPtr = resident(kern, w, 'dw64', c * taps * 8, (buf, ptr) => {
    const w64 = new Float64Array(buf, ptr, c * taps);
    for (let i = 0; i < c * taps; i++) w64[i] = w[i];
  });
  if (wPtr === null) return false;
  const lay = new Layout();
  const biasPtr = lay.take(c * 8);
  const bnPtr = post?.bn ? lay.take(c * 32) : 0;
  const boundsPtr = lay.take(8);
  const kOffPtr = lay.take(taps * 4);
  const rawPtr = lay.take(c * plane * 4 + SLACK);
  const padPtr = any || el === 8 ? lay.take(c * hp * wp * el + 2 * SLACK) : rawPtr;
  const outPtr = lay.take(c * oh * ow * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const b64 = new Float64Array(buf, biasPtr, c);
  for (let i = 0; i < c; i++) b64[i] = bias ? bias[i] : 0;
  const [bnp, mode, bounds] = postParams(buf, post, bnPtr, boundsPtr, c, 0);
  const kOff = new Int32Array(buf, kOffPtr, taps);
  for (let ky = 0, t = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) kOff[t++] = (ky * dh * wp + kx * dw) * el;
  if (any) new Uint8Array(buf, padPtr, c * hp * wp * el).fill(0);
  const outView = new Float32Array(buf, outPtr, c * oh * ow);
  const dwFn = el === 8 ? macs(kern).dw1 : macs(kern).dw2;
  for (let bn = 0; bn < n; bn++) {
    if (el === 8) {
      new Float32Array(buf, rawPtr, c * plane).set(x.subarray(bn * c * plane, (bn + 1) * c * plane));
      kern.stage64(rawPtr, padPtr, c * h, wid, h, (s.padTop * wp + s.padLeft) * 8, wp * 8, (hp - h) * wp * 8);
    } else stageInput(kern, buf, s, c, x, bn * c * plane, rawPtr, padPtr);
    dwFn(padPtr, wPtr, biasPtr, outPtr, kOffPtr, c, oh, Math.ceil(ow / 4), taps, sh * wp * el, hp * wp * el, ow, bnp, mode, bounds);
    y.set(outView, bn * c * oh * ow);
  }
  return true;
}

/**
 * Relu (`relu`: v > 0 ? v : 0) or Clip (v < lo ? lo : v > hi ? hi : v, lo ≤ hi) of x into a new
 * array, four lanes at a time; null where WebAssembly SIMD is unavailable. Comparing float32 values
 * with the float32-rounded bounds decides every element as the float64 comparison does (rounding
 * is monotonic and the values are float32), so the results are the scalar loop's.
 */
export function simdClamp(x: Float32Array, lo: number, hi: number, relu: boolean): Float32Array | null {
  const kern = instance();
  if (!kern || x.length === 0) return null;
  const vectors = Math.ceil(x.length / 4);
  const lay = new Layout();
  const boundsPtr = lay.take(8);
  const dataPtr = lay.take(vectors * 16);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const bounds = new Float32Array(buf, boundsPtr, 2);
  bounds[0] = lo;
  bounds[1] = hi;
  const view = new Float32Array(buf, dataPtr, x.length);
  view.set(x);
  (relu ? kern.relu : kern.clamp)(dataPtr, vectors, boundsPtr);
  return copyOut(view);
}

/**
 * BatchNormalization (inference) of x [n][c][inner]: per channel (v − mean)·inv·scale + bias in
 * float64 as the scalar loop evaluates it, with `inv` = 1/√(var + ε) computed by the caller; null
 * where WebAssembly SIMD is unavailable.
 */
export function simdBatchNorm(x: Float32Array, n: number, c: number, inner: number, mean: Float32Array, inv: Float64Array, scale: Float32Array, bias: Float32Array): Float32Array | null {
  const kern = instance();
  if (!kern || x.length === 0) return null;
  const lay = new Layout();
  const paramsPtr = lay.take(c * 32);
  const dataPtr = lay.take(x.length * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const params = new Float64Array(buf, paramsPtr, c * 4);
  for (let ch = 0; ch < c; ch++) {
    params[ch * 4] = mean[ch];
    params[ch * 4 + 1] = inv[ch];
    params[ch * 4 + 2] = scale[ch];
    params[ch * 4 + 3] = bias[ch];
  }
  const view = new Float32Array(buf, dataPtr, x.length);
  view.set(x);
  kern.bn(dataPtr, n, c, inner, paramsPtr);
  return copyOut(view);
}

/**
 * MaxPool of [planes][h][w] (any kernel, pads, dilation, vertical stride, ceil_mode overhang;
 * horizontal stride 1 or 2) into y: the scalar loop's taps, order and select (see maxPoolFunc).
 * False where WebAssembly SIMD is unavailable or the stride is not covered.
 */
export function simdMaxPool(s: Omit<ConvShape, 'c' | 'oc' | 'group' | 'icg' | 'ocg'> & { planes: number }, x: Float32Array, y: Float32Array): boolean {
  const kern = instance();
  const { planes, h, wid, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight, oh, ow } = s;
  if (!kern || (sw !== 1 && sw !== 2) || planes === 0) return false;
  const taps = kh * kw;
  // room for explicit pads and for ceil_mode windows that overhang them
  const hp = Math.max(h + padTop + padBottom, (oh - 1) * sh + (kh - 1) * dh + 1, padTop + h);
  const wp = Math.max(wid + padLeft + padRight, (ow - 1) * sw + (kw - 1) * dw + 1, padLeft + wid);
  const plane = h * wid;
  const lay = new Layout();
  const kOffPtr = lay.take(taps * 4);
  const rawPtr = lay.take(planes * plane * 4);
  const padPtr = lay.take(planes * hp * wp * 4 + SLACK);
  const outPtr = lay.take(planes * oh * ow * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const kOff = new Int32Array(buf, kOffPtr, taps);
  for (let ky = 0, t = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) kOff[t++] = (ky * dh * wp + kx * dw) * 4;
  new Float32Array(buf, padPtr, planes * hp * wp).fill(-Infinity);
  new Float32Array(buf, rawPtr, planes * plane).set(x.subarray(0, planes * plane));
  kern.pad(rawPtr, padPtr, planes * h, wid, h, hp, wp, padTop, padLeft);
  (sw === 1 ? kern.mp1 : kern.mp2)(padPtr, outPtr, kOffPtr, planes, oh, Math.ceil(ow / 4), taps, sh * wp * 4, hp * wp * 4, ow);
  y.set(new Float32Array(buf, outPtr, planes * oh * ow));
  return true;
}

/**
 * GlobalAveragePool of x [planes][inner] into y [planes] (see gapFunc: float64 sums in another
 * order than the scalar loop's, one rounding); false where WebAssembly SIMD is unavailable.
 */
export function simdGlobalAvgPool(x: Float32Array, planes: number, inner: number, y: Float32Array): boolean {
  const kern = instance();
  if (!kern || planes === 0 || inner === 0) return false;
  const lay = new Layout();
  const srcPtr = lay.take(planes * inner * 4);
  const dstPtr = lay.take(planes * 4);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  new Float32Array(buf, srcPtr, planes * inner).set(x.subarray(0, planes * inner));
  kern.gap(srcPtr, dstPtr, planes, inner);
  y.set(new Float32Array(buf, dstPtr, planes));
  return true;
}
