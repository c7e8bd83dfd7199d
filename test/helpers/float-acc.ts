/**
 * A float accumulator's adds, written for the tests from IEEE rounding alone: each add rounded
 * once to FP32 / FP16 / BF16, and a dataflow tile (first product loaded, the rest added in the
 * array, the tile added onto the bias) — the reference the number-format kernels are held to.
 */
import { roundToFloat, BF16, FP16 } from '../../qnet/formats/float.js';
import type { AccFormat } from '../../qnet/network.js';

const BUF = new DataView(new ArrayBuffer(8));
/** the double next to s (≠ 0) in the direction of sign d */
function nextToward(s: number, d: number): number {
  BUF.setFloat64(0, s);
  const bits = BUF.getBigUint64(0);
  BUF.setBigUint64(0, (s > 0) === (d > 0) ? bits + 1n : bits - 1n);
  return BUF.getFloat64(0);
}
/**
 * a + b rounded once to the accumulator: Knuth's two-sum gives the exact sum as s + e; rounding to
 * odd (s, or its neighbour toward e — whichever has an odd significand) keeps it exact enough for
 * one correct rounding to the ≤ 24-bit accumulator
 */
export function addRound(acc: AccFormat, a: number, b: number): number {
  const s = a + b;
  const bb = s - a;
  const e = a - (s - bb) + (b - bb);
  if (e === 0 || s === 0) return round(acc, s);
  BUF.setFloat64(0, s);
  const odd = (BUF.getUint32(4) & 1) === 1;
  return round(acc, odd ? s : nextToward(s, e));
}
export function round(acc: AccFormat, v: number): number {
  return acc === 'fp32' ? Math.fround(v) : roundToFloat(acc === 'fp16' ? FP16 : BF16, v, false);
}

/** one tile: first addend loaded, the rest added in the array, the tile added onto the bias */
export function dotTile(acc: AccFormat, addends: number[], bias: number): number {
  let ps = round(acc, addends[0]);
  for (let i = 1; i < addends.length; i++) ps = addRound(acc, ps, addends[i]);
  return addRound(acc, round(acc, bias), ps);
}

