/**
 * OCP Microscaling (MX) block formats, v1.0: MXFP8 (E4M3, E5M2), MXFP6 (E3M2, E2M3), MXFP4 (E2M1)
 * and MXINT8 — blocks of k = 32 elements along the reduction axis sharing one E8M0 scale X, each
 * element P_i in the element format; the value is X · P_i.
 *
 * Conversion (MX v1.0 §6.3), per block:
 *   shared_exp = floor(log2(max_i |V_i|)) − emax_elem,   X = 2^shared_exp,   P_i = Q(V_i / X)
 * where emax_elem is the exponent of the element format's largest normal (E4M3 8, E5M2 15, E3M2 4,
 * E2M3 2, E2M1 2, INT8 0) and Q rounds to nearest-even, clamping normal numbers to ± max (saturate).
 * Details the pseudocode leaves open, settled as the reference emulator (microsoft/microxcaling,
 * `_quantize_mx`) settles them: an all-zero block takes max = 2^−126 (FP32's min normal); a
 * shared_exp below −127 is raised to −127 (E8M0's smallest, 2^−127); a block holding Inf or NaN
 * gets the NaN scale 0xFF (then every value of the block is NaN on decode, §5.2; its elements are
 * written as 0). A finite float32 block never needs shared_exp > 127.
 *
 * MXINT8 elements are 8-bit two's complement with an implicit scale 2^−6 (§5.3.3): values
 * −2 … 1.984375. The block's max lands in [1, 2), so its positive extreme can round up to 2.0 and
 * clamps to 127/64; a negative extreme may take −128 (−2.0), which two's complement represents.
 * (The reference emulator clamps symmetrically to ±127; this follows the spec's element range.)
 *
 * V_i / X and X · P_i are exact in a double (power-of-two scaling of a float32 by at most 2^±150);
 * the only roundings are the element's RNE and, on decode, the one float32 rounding of X · P_i.
 *
 * Layout: the tensor is viewed as [outer, k, inner] with the reduction axis k in the middle (a
 * weight [Cout, K] is outer = Cout, inner = 1; an NCHW activation reduced over C is outer = N,
 * k = C, inner = H·W). Blocks run along k (the last one shorter when 32 ∤ k); codes are one per
 * byte (FP6/FP4 unpacked: `elementBits` says what storage costs), scales [outer, ⌈k/32⌉, inner].
 */
import { invariant } from '../../nets/errors.js';
import { roundHalfEven } from '../qmath.js';
import { decodeTable, encodeMagnitude, floorLog2, pow2, FP4_E2M1, FP6_E2M3, FP6_E3M2, FP8_E4M3, FP8_E5M2, type FloatFormat } from './float.js';

export interface MxFormat {
  readonly name: string;
  /** element float format; null for MXINT8 */
  readonly element: FloatFormat | null;
  /** bits per element in storage */
  readonly elementBits: number;
  /** exponent of the element format's largest normal (§6.3's emax_elem) */
  readonly emaxElem: number;
  /** k: elements per shared scale */
  readonly blockSize: number;
  /** E8M0 */
  readonly scaleBits: number;
}

const mxFloat = (name: string, f: FloatFormat): MxFormat => ({ name, element: f, elementBits: f.bits, emaxElem: f.emax, blockSize: 32, scaleBits: 8 });

export const MXFP8_E4M3 = mxFloat('mxfp8-e4m3', FP8_E4M3);
export const MXFP8_E5M2 = mxFloat('mxfp8-e5m2', FP8_E5M2);
export const MXFP6_E3M2 = mxFloat('mxfp6-e3m2', FP6_E3M2);
export const MXFP6_E2M3 = mxFloat('mxfp6-e2m3', FP6_E2M3);
export const MXFP4_E2M1 = mxFloat('mxfp4-e2m1', FP4_E2M1);
export const MXINT8: MxFormat = { name: 'mxint8', element: null, elementBits: 8, emaxElem: 0, blockSize: 32, scaleBits: 8 };

export const MX_FORMATS: readonly MxFormat[] = [MXFP8_E4M3, MXFP8_E5M2, MXFP6_E3M2, MXFP6_E2M3, MXFP4_E2M1, MXINT8];

/** E8M0: 2^(code − 127) for codes 0…254, NaN for 0xFF; no zero, no sign. */
export const E8M0_BIAS = 127;
export const E8M0_NAN = 0xff;

export function e8m0Value(code: number): number {
  return code === E8M0_NAN ? NaN : 2 ** (code - E8M0_BIAS);
}

/** MXINT8's implicit element scale: 2^−6 */
export const MXINT8_ELEMENT_SCALE = 2 ** -6;

export interface BlockLayout {
  readonly outer: number;
  /** length of the reduction axis */
  readonly k: number;
  readonly inner: number;
}

export function blockCount(k: number, blockSize: number): number {
  return Math.ceil(k / blockSize);
}

function checkLayout(l: BlockLayout, n: number, what: string): void {
  invariant(Number.isInteger(l.outer) && l.outer >= 0 && Number.isInteger(l.k) && l.k >= 0 && Number.isInteger(l.inner) && l.inner >= 0, `${what}: bad layout ${JSON.stringify(l)}`);
  invariant(l.outer * l.k * l.inner === n, `${what}: ${n} elements for layout [${l.outer}, ${l.k}, ${l.inner}]`);
}

/**
 * E8M0 code of the shared scale for a block whose largest magnitude is `amax` (≥ 0 or NaN):
 * floor(log2 amax) − emaxElem, clamped below to −127; NaN / inf → 0xFF.
 */
export function sharedScaleCode(amax: number, emaxElem: number): number {
  if (!(amax < Infinity)) return E8M0_NAN;
  // a float32 amax is a normal double, so its exponent field is floor(log2); 0 takes FP32's min normal
  const e = floorLog2(amax === 0 ? 2 ** -126 : amax) - emaxElem;
  return e < -E8M0_BIAS ? 0 : e + E8M0_BIAS;
}

/**
 * Quantize to an MX format: codes (one element per byte; INT8 as its two's complement byte) and
 * E8M0 scales, both written into the given arrays or new ones.
 */
export function quantizeMx(fmt: MxFormat, x: Float32Array, layout: BlockLayout, codes?: Uint8Array, scales?: Uint8Array): { codes: Uint8Array; scales: Uint8Array } {
  checkLayout(layout, x.length, `quantizeMx(${fmt.name})`);
  const { outer, k, inner } = layout;
  const bs = fmt.blockSize;
  const nb = blockCount(k, bs);
  const c = codes ?? new Uint8Array(x.length);
  const sc = scales ?? new Uint8Array(outer * nb * inner);
  invariant(c.length === x.length && sc.length === outer * nb * inner, `quantizeMx(${fmt.name}): output arrays of the wrong size`);
  const el = fmt.element;
  for (let o = 0; o < outer; o++) {
    for (let b = 0; b < nb; b++) {
      const k0 = b * bs;
      const k1 = Math.min(k, k0 + bs);
      for (let i = 0; i < inner; i++) {
        const base = o * k * inner + i;
        let amax = 0;
        for (let kk = k0; kk < k1; kk++) {
          const a = Math.abs(x[base + kk * inner]);
          if (a > amax || a !== a) amax = a; // once NaN, nothing compares greater: NaN sticks
        }
        const s = sharedScaleCode(amax, fmt.emaxElem);
        sc[(o * nb + b) * inner + i] = s;
        if (s === E8M0_NAN) {
          for (let kk = k0; kk < k1; kk++) c[base + kk * inner] = 0;
          continue;
        }
        const inv = pow2(E8M0_BIAS - s); // 1 / X
        if (el === null) {
          const toInt = inv * 64; // V / X in units of 2^−6
          for (let kk = k0; kk < k1; kk++) {
            let q = roundHalfEven(x[base + kk * inner] * toInt);
            if (q > 127) q = 127;
            else if (q < -128) q = -128;
            c[base + kk * inner] = q & 0xff;
          }
        } else {
          for (let kk = k0; kk < k1; kk++) {
            const v = x[base + kk * inner] * inv;
            const neg = v < 0 || (v === 0 && 1 / v < 0);
            const m = encodeMagnitude(el, neg ? -v : v, true);
            c[base + kk * inner] = neg ? m + el.signBit : m;
          }
        }
      }
    }
  }
  return { codes: c, scales: sc };
}

/** Element value of a code without the block scale (INT8: signed byte · 2^−6). */
export function mxElementValue(fmt: MxFormat, code: number): number {
  if (fmt.element === null) return (code >= 128 ? code - 256 : code) * MXINT8_ELEMENT_SCALE;
  return decodeTable(fmt.element)[code];
}

/** Dequantize: float32(X · P_i); a NaN scale makes its whole block NaN. */
export function dequantizeMx(fmt: MxFormat, codes: Uint8Array, scales: Uint8Array, layout: BlockLayout, out?: Float32Array): Float32Array {
  checkLayout(layout, codes.length, `dequantizeMx(${fmt.name})`);
  const { outer, k, inner } = layout;
  const bs = fmt.blockSize;
  const nb = blockCount(k, bs);
  invariant(scales.length === outer * nb * inner, `dequantizeMx(${fmt.name}): ${scales.length} scales for ${outer * nb * inner} blocks`);
  const y = out ?? new Float32Array(codes.length);
  const t = fmt.element === null ? null : decodeTable(fmt.element);
  for (let o = 0; o < outer; o++) {
    for (let kk = 0; kk < k; kk++) {
      const b = Math.floor(kk / bs);
      for (let i = 0; i < inner; i++) {
        const idx = (o * k + kk) * inner + i;
        const s = scales[(o * nb + b) * inner + i];
        const X = s === E8M0_NAN ? NaN : pow2(s - E8M0_BIAS);
        const code = codes[idx];
        const p = t === null ? (code >= 128 ? code - 256 : code) * MXINT8_ELEMENT_SCALE : t[code];
        y[idx] = X * p;
      }
    }
  }
  return y;
}
