/**
 * The number formats a QuantizedNetwork names (network.ts `ActFormat`, `WeightFormat`), resolved
 * to their definitions, with what a tensor in them costs to store and move, and the one
 * encode-then-decode of an activation tensor (`snapToFormat`) every producer of a format tensor
 * applies.
 */
import { InvariantError } from '../../nets/errors.js';
import type { ActFormat, WeightFormat } from '../network.js';
import { dequantizeFloatLinear, FLOAT_FORMATS, quantizeFloatLinear, type FloatFormat } from './float.js';
import { blockCount, dequantizeMx, MX_FORMATS, quantizeMx, type BlockLayout, type MxFormat } from './mx.js';

export function floatFormatByName(name: string): FloatFormat {
  const f = FLOAT_FORMATS.find((x) => x.name === name);
  if (!f) throw new InvariantError(`unknown float format '${name}' (known: ${FLOAT_FORMATS.map((x) => x.name).join(', ')})`);
  return f;
}

export function mxFormatByName(name: string): MxFormat {
  const f = MX_FORMATS.find((x) => x.name === name);
  if (!f) throw new InvariantError(`unknown MX format '${name}' (known: ${MX_FORMATS.map((x) => x.name).join(', ')})`);
  return f;
}

/** Bits of one element of an activation format. */
export function actElementBits(f: ActFormat): number {
  return f.kind === 'float' ? floatFormatByName(f.element).bits : mxFormatByName(f.mx).elementBits;
}

/**
 * Bits per element in storage and traffic, scales included: MX adds its 8-bit scale per 32
 * elements (8.25 bits for MXFP8); a per-tensor float scale is a parameter, not per element.
 */
export function actStorageBits(f: ActFormat): number {
  if (f.kind === 'float') return floatFormatByName(f.element).bits;
  const m = mxFormatByName(f.mx);
  return m.elementBits + m.scaleBits / m.blockSize;
}

/** Element bits of a weight format. */
export function weightElementBits(f: WeightFormat): number {
  if (f.kind === 'float') return floatFormatByName(f.element).bits;
  if (f.kind === 'mx') return mxFormatByName(f.mx).elementBits;
  return f.bits;
}

/** Bits of the scales stored with `elements` weights of `rows` output channels (K = elements / rows). */
export function weightScaleBits(f: WeightFormat, elements: number, rows: number): number {
  const k = rows > 0 ? elements / rows : 0;
  if (f.kind === 'float') return f.scale.length * 32;
  if (f.kind === 'mx') return rows * blockCount(k, mxFormatByName(f.mx).blockSize) * 8;
  return rows * blockCount(k, f.groupSize) * 32;
}

/** An activation's [outer, k, inner] view with the blocks along axis 1 (channels; the last axis of a rank-2 tensor). */
export function channelLayout(shape: readonly number[]): BlockLayout {
  if (shape.length < 2) return { outer: 1, k: shape[0] ?? 1, inner: 1 };
  let inner = 1;
  for (let i = 2; i < shape.length; i++) inner *= shape[i];
  return { outer: shape[0], k: shape[1], inner };
}

/**
 * The float32 values a tensor has once encoded in `f` and decoded (in place into `out`, or new):
 * float formats QuantizeLinear with the per-tensor scale (saturating: a calibrated range clips,
 * it does not overflow to inf/NaN), MX blocks along the channels.
 */
export function snapToFormat(f: ActFormat, x: Float32Array, shape: readonly number[], out?: Float32Array): Float32Array {
  if (f.kind === 'float') {
    const ff = floatFormatByName(f.element);
    const s = Float32Array.of(f.scale);
    return dequantizeFloatLinear(ff, quantizeFloatLinear(ff, x, s, [x.length], -1, true), s, [x.length], -1, out);
  }
  const m = mxFormatByName(f.mx);
  const layout = channelLayout(shape);
  const q = quantizeMx(m, x, layout);
  return dequantizeMx(m, q.codes, q.scales, layout, out);
}
