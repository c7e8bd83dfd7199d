/**
 * gemmlowp / TFLite fixed-point arithmetic in BigInt, written from their definitions — the
 * reference the fixed-point tests compare qnet/requant.ts with (see
 * test/property/fixed-point-vs-bigint.test.ts for the definitions quoted).
 */
import type { FixedRounding } from '../../qnet/requant.js';

export const I32MIN = -(2n ** 31n);
export const I32MAX = 2n ** 31n - 1n;

export function srdhmRef(a: bigint, b: bigint): bigint {
  if (a === I32MIN && b === I32MIN) return I32MAX;
  const ab = a * b;
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return (ab + nudge) / (1n << 31n); // BigInt division truncates toward zero, as C++ does
}

export function rdbpotRef(x: bigint, e: number): bigint {
  const mask = (1n << BigInt(e)) - 1n;
  const remainder = x & mask;
  const threshold = (mask >> 1n) + (x < 0n ? 1n : 0n);
  return (x >> BigInt(e)) + (remainder > threshold ? 1n : 0n);
}

export const sat32 = (x: bigint): bigint => (x < I32MIN ? I32MIN : x > I32MAX ? I32MAX : x);

/** MultiplyByQuantizedMultiplier with a `bits`-wide m0 (aligned to 31 fraction bits). */
export function mbqmRef(x: bigint, m0: bigint, shift: number, rounding: FixedRounding, bits = 32): bigint {
  const m = m0 << BigInt(32 - bits);
  if (rounding === 'double') {
    const ls = shift > 0 ? shift : 0;
    const rs = shift > 0 ? 0 : -shift;
    const xs = BigInt.asIntN(32, x << BigInt(ls));
    return rdbpotRef(srdhmRef(xs, m), rs);
  }
  const ts = BigInt(31 - shift);
  return sat32((x * m + (1n << (ts - 1n))) >> ts);
}
