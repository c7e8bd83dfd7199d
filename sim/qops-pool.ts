/**
 * qops.ts's pools on integer codes — MaxPool, QLinearAveragePool, QLinearGlobalAveragePool — with
 * the ONNX pooling geometry (pads, strides, dilations, ceil_mode, auto_pad, channels_last); the
 * semantics and the ORT sources they follow are in qops.ts's header.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import type { Window2d } from '../nets/shapes.js';
import type { QParams } from '../qnet/network.js';
import { qRange, roundHalfEven } from '../qnet/qmath.js';
import { FixedMultiplier, quantizeMultiplier, type RequantConfig } from '../qnet/requant.js';
import { checkLen, numel, outBuf, scalarParams, type QResult, type QTensorView } from './qops-common.js';

// ------------------------------------------------------------------------------------------------
// Pooling geometry

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

/** Pool attributes over 1 or 2 spatial dims (ONNX names; pads = [begins…, ends…]). */
export interface PoolAttrs {
  readonly kernel: readonly number[];
  readonly strides?: readonly number[];
  readonly pads?: readonly number[];
  readonly dilations?: readonly number[];
  readonly ceilMode?: boolean;
  readonly autoPad?: AutoPad;
  /** average pools only */
  readonly countIncludePad?: boolean;
  /** NHWC-like layout [N, spatial…, C] (ORT's channels_last attribute) */
  readonly channelsLast?: boolean;
}

/** A pool's geometry; spatial sizes padded to 2 dims (1-D pools use a height of 1). */
interface PoolGeom extends Window2d {
  n: number;
  c: number;
  ih: number;
  iw: number;
  outShape: number[];
}

/** Output size and pads as onnxruntime's PoolAttributes (ComputeSizePadDilations). */
function poolAxis(inSize: number, k: number, s: number, d: number, padHead: number, padTail: number, ceil: boolean, auto: AutoPad): { out: number; head: number; tail: number } {
  let head = padHead;
  let tail = padTail;
  if (auto === 'VALID') {
    head = 0;
    tail = 0;
  } else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    // C++ integer division (truncation): a negative pad_needed (kernel < stride) gives head 0
    const target = Math.trunc((inSize + s - 1) / s);
    const needed = (target - 1) * s + k - inSize;
    head = auto === 'SAME_LOWER' ? Math.trunc((needed + 1) / 2) : Math.trunc(needed / 2);
    tail = needed - head;
  }
  const num = inSize + head + tail - d * (k - 1) - 1;
  let out = Math.trunc(num / s) + 1;
  if (ceil) {
    out = Math.ceil(Math.fround(Math.fround(num) / s)) + 1;
    if ((out - 1) * s >= inSize + head) out--;
  }
  if (out <= 0) throw new ModelError(`pool window ${k} (dilation ${d}, stride ${s}) does not fit input ${inSize} with pads ${head}+${tail}`);
  return { out, head, tail };
}

function poolGeom(shape: readonly number[], p: PoolAttrs): PoolGeom {
  const sp = p.kernel.length;
  if (sp < 1 || sp > 2) throw new InvariantError(`pools support 1 or 2 spatial dims, got kernel [${p.kernel.join(',')}]`);
  if (shape.length !== sp + 2) throw new InvariantError(`pool input rank ${shape.length} does not match kernel [${p.kernel.join(',')}]`);
  const cl = p.channelsLast === true;
  const n = shape[0];
  const c = cl ? shape[shape.length - 1] : shape[1];
  const spatial = cl ? shape.slice(1, 1 + sp) : shape.slice(2);
  const strides = p.strides ?? p.kernel.map(() => 1);
  const dil = p.dilations ?? p.kernel.map(() => 1);
  const pads = p.pads ?? p.kernel.map(() => 0).concat(p.kernel.map(() => 0));
  const auto = p.autoPad ?? 'NOTSET';
  const ax = spatial.map((s, i) => poolAxis(s, p.kernel[i], strides[i], dil[i], pads[i], pads[i + sp], p.ceilMode === true, auto));
  const g: PoolGeom = {
    n,
    c,
    ih: sp === 2 ? spatial[0] : 1,
    iw: spatial[sp - 1],
    oh: sp === 2 ? ax[0].out : 1,
    ow: ax[sp - 1].out,
    kh: sp === 2 ? p.kernel[0] : 1,
    kw: p.kernel[sp - 1],
    sh: sp === 2 ? strides[0] : 1,
    sw: strides[sp - 1],
    dh: sp === 2 ? dil[0] : 1,
    dw: dil[sp - 1],
    padTop: sp === 2 ? ax[0].head : 0,
    padLeft: ax[sp - 1].head,
    padBottom: sp === 2 ? ax[0].tail : 0,
    padRight: ax[sp - 1].tail,
    outShape: [],
  };
  const outSpatial = ax.map((a) => a.out);
  g.outShape = cl ? [n, ...outSpatial, c] : [n, c, ...outSpatial];
  return g;
}

/** Element index of (image b, channel ch, row h, column w) in NCHW or NHWC. */
function pix(g: PoolGeom, cl: boolean, b: number, ch: number, h: number, w: number): number {
  return cl ? ((b * g.ih + h) * g.iw + w) * g.c + ch : ((b * g.c + ch) * g.ih + h) * g.iw + w;
}

function opix(g: PoolGeom, cl: boolean, b: number, ch: number, h: number, w: number): number {
  return cl ? ((b * g.oh + h) * g.ow + w) * g.c + ch : ((b * g.c + ch) * g.oh + h) * g.ow + w;
}

// ------------------------------------------------------------------------------------------------
// MaxPool

/** First and one-past-last kernel tap inside [0, size) for a window starting at `start`, step `d`. */
function tapRange(start: number, k: number, d: number, size: number, into: Int32Array, at: number): void {
  const first = start < 0 ? Math.ceil(-start / d) : 0;
  const last = Math.min(k, Math.floor((size - 1 - start) / d) + 1);
  into[at] = first;
  into[at + 1] = last > first ? last : first;
}

/** The common 2×2 stride-2 pool with every window inside: straight loops, branch-free maxima. */
function maxPool2x2(xd: Int32Array, y: Int32Array, planes: number, ih: number, iw: number, OH: number, OW: number): void {
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * ih * iw;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = base + 2 * oh * iw;
      const r1 = r0 + iw;
      for (let ow = 0; ow < OW; ow++, o++) {
        let m = xd[r0 + 2 * ow];
        let d = m - xd[r0 + 2 * ow + 1];
        m -= d & (d >> 31);
        d = m - xd[r1 + 2 * ow];
        m -= d & (d >> 31);
        d = m - xd[r1 + 2 * ow + 1];
        m -= d & (d >> 31);
        y[o] = m;
      }
    }
  }
}

/** a 2×2 window, stride 2, no dilation, every window inside the input (no padding reached) */
function isPlain2x2(g: PoolGeom): boolean {
  return g.kh === 2 && g.kw === 2 && g.sh === 2 && g.sw === 2 && g.dh === 1 && g.dw === 1 && g.padTop === 0 && g.padLeft === 0 && 2 * g.oh <= g.ih && 2 * g.ow <= g.iw;
}

/**
 * The output size of an NCHW 2-D max pool of `shape` that is a plain 2×2 stride-2 window over the
 * input (the pool a conv kernel may run fused: sim/kernels/simd.ts), or null for any other pool.
 */
export function plain2x2Pool(shape: readonly number[], p: PoolAttrs): { readonly h: number; readonly w: number } | null {
  if (p.kernel.length !== 2 || shape.length !== 4 || p.channelsLast === true) return null;
  const g = poolGeom(shape, p);
  return isPlain2x2(g) ? { h: g.oh, w: g.ow } : null;
}

/**
 * maxPoolInt on NCHW planes whose values differ by less than 2^31: the taps inside the image found
 * once per output row and column (no bound test per tap), a window's maximum started from its
 * first tap, without branches.
 */
function maxPoolPlanes(xd: Int32Array, y: Int32Array, g: PoolGeom, emptyValue: number): void {
  const { ih, iw, oh: OH, ow: OW, kh, kw, sh, sw, dh, dw } = g;
  const rows = new Int32Array(2 * OH);
  const cols = new Int32Array(2 * OW);
  for (let oh = 0; oh < OH; oh++) tapRange(oh * sh - g.padTop, kh, dh, ih, rows, 2 * oh);
  for (let ow = 0; ow < OW; ow++) tapRange(ow * sw - g.padLeft, kw, dw, iw, cols, 2 * ow);
  const planes = g.n * g.c;
  if (isPlain2x2(g)) {
    maxPool2x2(xd, y, planes, ih, iw, OH, OW);
    return;
  }
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * ih * iw;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - g.padTop;
      const i0 = rows[2 * oh];
      const i1 = rows[2 * oh + 1];
      for (let ow = 0; ow < OW; ow++, o++) {
        const w0 = ow * sw - g.padLeft;
        const j0 = cols[2 * ow];
        const j1 = cols[2 * ow + 1];
        if (i0 === i1 || j0 === j1) {
          y[o] = emptyValue;
          continue;
        }
        let m = xd[base + (h0 + i0 * dh) * iw + w0 + j0 * dw];
        for (let i = i0; i < i1; i++) {
          const r = base + (h0 + i * dh) * iw + w0;
          for (let j = j0; j < j1; j++) {
            // max without a branch (real activations make `v > m` unpredictable); exact while |m − v| < 2^31
            const d = m - xd[r + j * dw];
            m -= d & (d >> 31);
          }
        }
        y[o] = m;
      }
    }
  }
}

/**
 * ONNX MaxPool on integer codes (int8/uint8 in ORT): exact. A window that covers no input element
 * (possible only with pads ≥ kernel) yields `emptyValue`. `valueRange` (the codes' type range)
 * lets NCHW inputs take the branch-free planes loop.
 */
export function maxPoolInt(x: { readonly data: Int32Array; readonly shape: readonly number[] }, p: PoolAttrs, out?: Int32Array | ((n: number) => Int32Array), emptyValue = -128, valueRange?: { readonly qmin: number; readonly qmax: number }): QResult {
  checkLen(x, 'maxPoolInt');
  const g = poolGeom(x.shape, p);
  const cl = p.channelsLast === true;
  const y = outBuf(numel(g.outShape), out, 'maxPoolInt');
  const xd = x.data;
  // the planes' branch-free maximum needs every difference of two values inside int32
  if (!cl && valueRange && valueRange.qmax - valueRange.qmin < 2 ** 31) {
    maxPoolPlanes(xd, y, g, emptyValue);
    return { data: y, shape: g.outShape };
  }
  for (let b = 0; b < g.n; b++) {
    for (let ch = 0; ch < g.c; ch++) {
      for (let oh = 0; oh < g.oh; oh++) {
        const h0 = oh * g.sh - g.padTop;
        for (let ow = 0; ow < g.ow; ow++) {
          const w0 = ow * g.sw - g.padLeft;
          let m = -Infinity;
          for (let i = 0; i < g.kh; i++) {
            const h = h0 + i * g.dh;
            if (h < 0 || h >= g.ih) continue;
            for (let j = 0; j < g.kw; j++) {
              const w = w0 + j * g.dw;
              if (w < 0 || w >= g.iw) continue;
              const v = xd[pix(g, cl, b, ch, h, w)];
              if (v > m) m = v;
            }
          }
          y[opix(g, cl, b, ch, oh, ow)] = m === -Infinity ? emptyValue : m;
        }
      }
    }
  }
  return { data: y, shape: g.outShape };
}

// ------------------------------------------------------------------------------------------------
// Average pools

/** ORT's requant of a global-average sum (MlasRequantizeOutput with scale sx/(sy·n)). */
function ortGlobalScale(sx: number, sy: number, count: number): number {
  const scale = Math.fround(sx / Math.fround(sy * count));
  if (count >= 0x1000000 || scale < 2 ** -32 || scale >= 256) {
    throw new ModelError(`QLinearGlobalAveragePool: parameters out of computation range (image size ${count}, scale ${scale})`);
  }
  return scale;
}

/** Fixed-mode average of `count` codes with raw sum `rawSum` (Σq) — see the file comment. */
class FixedAverager {
  private readonly same: boolean;
  private readonly mults = new Map<number, FixedMultiplier>();
  constructor(
    private readonly X: { s: number; z: number },
    private readonly Y: { s: number; z: number },
    private readonly cfg: RequantConfig,
  ) {
    this.same = X.s === Y.s && X.z === Y.z;
  }
  /** `rawSum` = Σ codes over `count` positions (padding included as zx when counted) */
  average(rawSum: number, count: number): number {
    if (this.same) {
      // TFLite reference AveragePool: round half away from zero by integer division
      const half = Math.trunc(count / 2);
      return rawSum > 0 ? Math.trunc((rawSum + half) / count) : Math.trunc((rawSum - half) / count);
    }
    let m = this.mults.get(count);
    if (!m) {
      const bits = this.cfg.multiplierBits ?? 32;
      const rounding = this.cfg.rounding ?? 'double';
      const qm = quantizeMultiplier(this.X.s / (this.Y.s * count), bits, rounding);
      m = new FixedMultiplier(qm.m0, qm.shift, rounding, bits);
      this.mults.set(count, m);
    }
    return this.Y.z + m.apply(rawSum - this.X.z * count);
  }
}

/**
 * QLinearGlobalAveragePool over all spatial dims of an [N, C, …] (or channels-last [N, …, C])
 * tensor of rank ≥ 3; the output keeps the rank with spatial sizes 1.
 */
export function qlinearGlobalAveragePool(x: QTensorView, yq: QParams, cfg: RequantConfig, opts: { channelsLast?: boolean } = {}, out?: Int32Array): QResult {
  checkLen(x, 'qlinearGlobalAveragePool');
  if (x.shape.length < 3) throw new InvariantError(`qlinearGlobalAveragePool: rank ≥ 3 expected, got [${x.shape.join(',')}]`);
  const cl = opts.channelsLast === true;
  const nb = x.shape[0];
  const c = cl ? x.shape[x.shape.length - 1] : x.shape[1];
  const img = numel(x.shape) / (nb * c);
  const shape = x.shape.map((d, i) => (i === 0 || i === (cl ? x.shape.length - 1 : 1) ? d : 1));
  const y = outBuf(nb * c, out, 'qlinearGlobalAveragePool');
  const X = scalarParams(x.q, 'qlinearGlobalAveragePool X');
  const Y = scalarParams(yq, 'qlinearGlobalAveragePool Y');
  const { qmin, qmax } = qRange(yq);
  const xd = x.data;
  const sumOf = (b: number, ch: number): number => {
    let s = 0;
    if (cl) for (let i = 0; i < img; i++) s += xd[(b * img + i) * c + ch];
    else for (let i = 0, base = (b * c + ch) * img; i < img; i++) s += xd[base + i];
    return s;
  };
  if (cfg.mode === 'float') {
    const scale = ortGlobalScale(X.s, Y.s, img);
    const lo = qmin - Y.z;
    const hi = qmax - Y.z;
    const bias = -X.z * img;
    for (let b = 0; b < nb; b++) {
      for (let ch = 0; ch < c; ch++) {
        let v = Math.fround(Math.fround((sumOf(b, ch) + bias) | 0) * scale);
        if (!(v >= lo)) v = lo;
        if (v > hi) v = hi;
        y[b * c + ch] = roundHalfEven(v) + Y.z;
      }
    }
  } else {
    const avg = new FixedAverager(X, Y, cfg);
    for (let b = 0; b < nb; b++) {
      for (let ch = 0; ch < c; ch++) {
        const v = avg.average(sumOf(b, ch), img);
        y[b * c + ch] = v < qmin ? qmin : v > qmax ? qmax : v;
      }
    }
  }
  return { data: y, shape };
}

/** QLinearAveragePool (1-D or 2-D, NCHW or channels-last). Dilations are not part of the op. */
export function qlinearAveragePool(x: QTensorView, p: PoolAttrs, yq: QParams, cfg: RequantConfig, out?: Int32Array): QResult {
  checkLen(x, 'qlinearAveragePool');
  if (p.dilations && p.dilations.some((d) => d !== 1)) throw new InvariantError('qlinearAveragePool: dilations are not supported');
  const g = poolGeom(x.shape, p);
  const cl = p.channelsLast === true;
  const X = scalarParams(x.q, 'qlinearAveragePool X');
  const Y = scalarParams(yq, 'qlinearAveragePool Y');
  const { qmin, qmax } = qRange(yq);
  const sp = p.kernel.length;
  const spatialIn = sp === 2 ? [g.ih, g.iw] : [g.iw];
  const noPads = g.padTop === 0 && g.padLeft === 0 && g.padBottom === 0 && g.padRight === 0;
  if (cfg.mode === 'float' && noPads && p.kernel.every((k, i) => k === spatialIn[i])) {
    // ORT's fallback_to_global (strides and ceil_mode do not matter: one window)
    const r = qlinearGlobalAveragePool(x, yq, cfg, { channelsLast: cl }, out);
    return { data: r.data, shape: g.outShape };
  }
  const y = outBuf(numel(g.outShape), out, 'qlinearAveragePool');
  const xd = x.data;
  const kArea = g.kh * g.kw;
  const incl = p.countIncludePad === true;
  // float mode (ORT): codes dequantized by table, summed in float32; fixed mode: integer sums, FixedAverager
  const xr = qRange(x.q);
  const deq = new Float32Array(cfg.mode === 'float' ? xr.qmax - xr.qmin + 1 : 0);
  for (let cd = xr.qmin; cd < xr.qmin + deq.length; cd++) deq[cd - xr.qmin] = X.s * (cd - X.z);
  const fixed = cfg.mode === 'float' ? null : new FixedAverager(X, Y, cfg);
  for (let b = 0; b < g.n; b++) {
    for (let ch = 0; ch < g.c; ch++) {
      for (let oh = 0; oh < g.oh; oh++) {
        let h0 = oh * g.sh - g.padTop;
        const h1 = Math.min(h0 + g.kh, g.ih);
        h0 = Math.max(h0, 0);
        for (let ow = 0; ow < g.ow; ow++) {
          let w0 = ow * g.sw - g.padLeft;
          const w1 = Math.min(w0 + g.kw, g.iw);
          w0 = Math.max(w0, 0);
          const inside = (h1 - h0) * (w1 - w0);
          const cnt = incl ? kArea : inside;
          let v: number;
          if (fixed === null) {
            let acc = 0;
            for (let h = h0; h < h1; h++) {
              for (let w = w0; w < w1; w++) {
                let cd = xd[pix(g, cl, b, ch, h, w)];
                cd = cd < xr.qmin ? xr.qmin : cd > xr.qmax ? xr.qmax : cd;
                acc = Math.fround(acc + deq[cd - xr.qmin]);
              }
            }
            const avg = Math.fround(acc / cnt);
            const t = Math.fround(Math.fround(avg / Y.s) + Y.z);
            v = roundHalfEven(t);
            if (!(v >= qmin)) v = qmin;
            if (v > qmax) v = qmax;
          } else {
            let s = 0;
            for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += xd[pix(g, cl, b, ch, h, w)];
            // padding counted as real 0, i.e. the code zx
            v = fixed.average(s + (cnt - inside) * X.z, cnt);
            v = v < qmin ? qmin : v > qmax ? qmax : v;
          }
          y[opix(g, cl, b, ch, oh, ow)] = v;
        }
      }
    }
  }
  return { data: y, shape: g.outShape };
}
