/**
 * Bit-level references for the ≤ 8-bit float formats, written from the spec tables and independent
 * of qnet/formats: the field formula for decoding, a nearest-value search for encoding.
 */
import { FP4_E2M1, FP6_E2M3, FP6_E3M2, FP8_E4M3, FP8_E5M2, type FloatFormat } from '../../qnet/formats/float.js';

/** A ≤ 8-bit format described by hand: fields, bias, and which codes are special. */
export interface RefFormat {
  fmt: FloatFormat;
  e: number;
  m: number;
  bias: number;
  /** 'ieee': exponent all ones = inf (mantissa 0) / NaN; 'fn': only S.1…1.1…1 is NaN; 'none' */
  special: 'ieee' | 'fn' | 'none';
}

export const REFS: RefFormat[] = [
  { fmt: FP8_E4M3, e: 4, m: 3, bias: 7, special: 'fn' },
  { fmt: FP8_E5M2, e: 5, m: 2, bias: 15, special: 'ieee' },
  { fmt: FP6_E3M2, e: 3, m: 2, bias: 3, special: 'none' },
  { fmt: FP6_E2M3, e: 2, m: 3, bias: 1, special: 'none' },
  { fmt: FP4_E2M1, e: 2, m: 1, bias: 1, special: 'none' },
];

/** value of a code from its fields */
export function refDecode(r: RefFormat, code: number): number {
  const s = (code >> (r.e + r.m)) & 1;
  const field = (code >> r.m) & ((1 << r.e) - 1);
  const man = code & ((1 << r.m) - 1);
  const topField = (1 << r.e) - 1;
  let v: number;
  if (r.special === 'ieee' && field === topField) v = man === 0 ? Infinity : NaN;
  else if (r.special === 'fn' && field === topField && man === (1 << r.m) - 1) v = NaN;
  else if (field === 0) v = (man / 2 ** r.m) * 2 ** (1 - r.bias);
  else v = (1 + man / 2 ** r.m) * 2 ** (field - r.bias);
  return s ? -v : v;
}

/** finite positive-sign codes sorted by value, with the overflow sentinel (next value above max) */
const GRIDS = new Map<RefFormat, ReturnType<typeof buildGrid>>();

export function refGrid(r: RefFormat): { codes: number[]; values: number[]; max: number; sentinel: number; maxCode: number } {
  let g = GRIDS.get(r);
  if (g === undefined) GRIDS.set(r, (g = buildGrid(r)));
  return g;
}

function buildGrid(r: RefFormat): { codes: number[]; values: number[]; max: number; sentinel: number; maxCode: number } {
  const codes: number[] = [];
  for (let c = 0; c < 1 << (r.e + r.m); c++) if (Number.isFinite(refDecode(r, c))) codes.push(c);
  codes.sort((a, b) => refDecode(r, a) - refDecode(r, b));
  const values = codes.map((c) => refDecode(r, c));
  const max = values[values.length - 1];
  const maxCode = codes[codes.length - 1];
  const topExp = Math.floor(Math.log2(max));
  return { codes, values, max, sentinel: max + 2 ** (topExp - r.m), maxCode };
}

/**
 * Expected code of v by search: the nearest grid value, ties to the code with an even last bit;
 * beyond max, the sentinel (max + one ulp, whose last bit is max's plus one) decides overflow.
 */
export function refEncode(r: RefFormat, v: number, saturate: boolean): number {
  const signBit = 1 << (r.e + r.m);
  const topField = (1 << r.e) - 1;
  const nan = r.special === 'fn' ? (topField << r.m) | ((1 << r.m) - 1) : r.special === 'ieee' ? (topField << r.m) | ((1 << r.m) - 1) : -1;
  const inf = r.special === 'ieee' ? topField << r.m : -1;
  if (Number.isNaN(v)) return nan;
  const neg = v < 0 || Object.is(v, -0);
  const a = Math.abs(v);
  const g = refGrid(r);
  const overflow = (): number => (saturate || r.special === 'none' ? g.maxCode : r.special === 'ieee' ? inf : nan);
  let code: number;
  if (a === Infinity) code = overflow();
  else if (a >= g.max) {
    const dMax = a - g.max;
    const dSen = g.sentinel - a;
    const maxEven = (g.maxCode & 1) === 0;
    code = dMax < dSen || (dMax === dSen && maxEven) ? g.maxCode : overflow();
  } else {
    let i = 0;
    while (g.values[i + 1] <= a) i++;
    if (g.values[i] === a) code = g.codes[i];
    else {
      const lo = a - g.values[i];
      const hi = g.values[i + 1] - a;
      code = lo < hi ? g.codes[i] : hi < lo ? g.codes[i + 1] : (g.codes[i] & 1) === 0 ? g.codes[i] : g.codes[i + 1];
    }
  }
  return neg ? code | signBit : code;
}

