/**
 * Layer geometry as the integer kernels see it: per output position the offset of its receptive
 * field in the operand input and the index of its output, and per arrival index the offset of the
 * operand it reads (im2col addressing, without the im2col copy). Shared by the reference kernels
 * (linear.ts) and the timing run's tile kernel (sim/functional.ts).
 */
import { ModelError } from '../../nets/errors.js';
import type { AccumulationOrder, PeForm } from './accumulator.js';

/** Layer geometry as the kernels see it (static per layer). */
export interface Geometry {
  posBase: Int32Array;
  outBase: Int32Array;
  cStride: number;
  groupXStride: number;
  /** kOrder-numbered index → offset from posBase */
  offOf: (o: number) => number;
  /** kOrder-numbered index → index within a weight row (ONNX layout) */
  wIndexOf: (o: number) => number;
  positions: number;
  nOut: number;
  group: number;
  k: number;
  outLength: number;
}

/** A conv layer's im2col addressing over its padded input (K numbered in `kOrder`), and its output shape. */
export interface ConvGeometry {
  readonly geo: Geometry;
  readonly outShape: [number, number, number, number];
}

/**
 * The addressing prepareConvInt and the timing run's tile kernels share; a message (string) when
 * the kernel does not fit the padded input.
 */
export function convGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  strides: readonly [number, number],
  pads: readonly [number, number, number, number],
  dilations: readonly [number, number],
  group: number,
  kOrder: AccumulationOrder['kOrder'],
): ConvGeometry | string {
  const [n, c, h, wd] = xShape;
  const [oc, icg, kh, kw] = wShape;
  const [sh, sw] = strides;
  const [pt, pl, pbot, pr] = pads;
  const [dh, dw] = dilations;
  const hp = h + pt + pbot;
  const wp = wd + pl + pr;
  const oh = Math.floor((hp - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wp - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) return `output would be ${oh}×${ow}: the kernel does not fit the padded input`;
  const plane = hp * wp;
  const area = oh * ow;
  const positions = n * area;
  const posBase = new Int32Array(positions);
  const outBase = new Int32Array(positions);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const p = b * area + oy * ow + ox;
        posBase[p] = b * c * plane + oy * sh * wp + ox * sw;
        outBase[p] = b * oc * area + oy * ow + ox;
      }
    }
  }
  const kk = kh * kw;
  // kOrder numbering → (ic, ky, kx)
  const ckkOf = kOrder === 'kkc' ? (o: number) => (o % icg) * kk + Math.floor(o / icg) : (o: number) => o;
  const geo: Geometry = {
    posBase,
    outBase,
    cStride: area,
    groupXStride: icg * plane,
    offOf: (o) => {
      const i = ckkOf(o);
      const ic = Math.floor(i / kk);
      const r = i - ic * kk;
      const ky = Math.floor(r / kw);
      const kx = r - ky * kw;
      return ic * plane + ky * dh * wp + kx * dw;
    },
    wIndexOf: ckkOf,
    positions,
    nOut: oc,
    group,
    k: icg * kk,
    outLength: positions * oc,
  };
  return { geo, outShape: [n, oc, oh, ow] };
}

/** A gemm's geometry: m rows of k inputs, [m, nOut] outputs. */
export function gemmGeometry(m: number, k: number, nOut: number): Geometry {
  const posBase = new Int32Array(m);
  const outBase = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    posBase[i] = i * k;
    outBase[i] = i * nOut;
  }
  return { posBase, outBase, cStride: 1, groupXStride: 0, offOf: (o) => o, wIndexOf: (o) => o, positions: m, nOut, group: 1, k, outLength: m * nOut };
}

/**
 * How an integer input becomes the operand input the PEs see: `planes` planes of h×w, each inside
 * its padding (which holds padValue), minus `sub`, every value checked against [lo, hi].
 */
export interface OperandLayout {
  readonly planes: number;
  readonly h: number;
  readonly w: number;
  /** padded height and width; top and left padding */
  readonly hp: number;
  readonly wp: number;
  readonly pt: number;
  readonly pl: number;
  readonly padValue: number;
  readonly sub: number;
  readonly lo: number;
  readonly hi: number;
  /** elements of the operand input */
  readonly length: number;
}

/**
 * The layout of `planes` h×w planes padded by `pads` (top, left, bottom, right) for PEs of `form`:
 * padding holds what the PE sees there — z_x in raw form, 0 once z_x is subtracted.
 */
export function operandLayout(form: PeForm, zx: number, lo: number, hi: number, planes: number, h: number, w: number, pads: readonly number[]): OperandLayout {
  const zp = form === 'zp-subtract';
  const hp = h + pads[0] + pads[2];
  const wp = w + pads[1] + pads[3];
  return { planes, h, w, hp, wp, pt: pads[0], pl: pads[1], padValue: zp ? 0 : zx, sub: zp ? zx : 0, lo, hi, length: planes * hp * wp };
}

/** Fills the operand input `dst` (length l.length) from the integer input x. */
export function fillOperands(dst: Float64Array | Int16Array, x: Int32Array, l: OperandLayout): void {
  const { h, w: wd, wp, sub, lo, hi } = l;
  dst.fill(l.padValue);
  const plane = l.hp * wp;
  for (let nc = 0; nc < l.planes; nc++) {
    const src = nc * h * wd;
    const d = nc * plane + l.pt * wp + l.pl;
    for (let y = 0; y < h; y++) {
      const s0 = src + y * wd;
      const d0 = d + y * wp;
      for (let i = 0; i < wd; i++) {
        const q = x[s0 + i];
        if (q < lo || q > hi) throw new ModelError(`input[${s0 + i}] = ${q} is outside its quantized range [${lo}, ${hi}]`);
        dst[d0 + i] = q - sub;
      }
    }
  }
}

/**
 * Σq_x over the receptive field of each of `count` positions (padding = z_x), into
 * sums[at … at+count): the in-array column of ones the raw form's −z_w·Σq_x term needs.
 */
export function receptiveSums(x: Float64Array | Int16Array, posBase: Int32Array, gOff: number, kOff: Int32Array, sums: Float64Array, at: number, count: number): void {
  const K = kOff.length;
  for (let p = 0; p < count; p++) {
    const b = posBase[p] + gOff;
    let s = 0;
    for (let j = 0; j < K; j++) s += x[b + kOff[j]];
    sums[at + p] = s;
  }
}
