/**
 * Float-mode requantization in WebAssembly against a scalar reference written here: float32
 * product of float32(acc) and the multiplier, clamp to the bounds, round half to even, add zy —
 * compared as integers, on random accumulators, exact rounding ties, both bounds, accumulators
 * beyond float32's integers, per-channel walks with tails, and the chunked per-tensor path.
 * The fixed mode's double rounding (gemmlowp) in WebAssembly against the BigInt reference of
 * test/helpers/fixed-point-ref.ts, on the same kinds of walks plus saturation past int32.
 */
import { describe, expect, it } from 'vitest';
import { requantizeFixedWasm, requantizeFloatWasm } from '../../../qnet/requant-wasm.js';
import { FixedMultiplier, requantize, requantParams } from '../../../qnet/requant.js';
import { Prng } from '../../../nets/prng.js';
import { mbqmRef, sat32 } from '../../helpers/fixed-point-ref.js';

/** round half to even, by Math.round and a tie fix-up (not the code's floor-based form) */
function rhe(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function reference(acc: Float64Array, blocks: number, walk: number, run: number, mult: Float32Array, lo: number, his: Float64Array, zy: number): Int32Array {
  const y = new Int32Array(acc.length);
  let i = 0;
  for (let b = 0; b < blocks; b++)
    for (let c = 0; c < walk; c++)
      for (let k = 0; k < run; k++, i++) {
        let v = Math.fround(Math.fround(acc[i]) * mult[c]);
        v = Math.min(Math.max(v, lo), his[c]);
        y[i] = rhe(v) + zy;
      }
  return y;
}

function randomCase(prng: Prng, blocks: number, walk: number, run: number) {
  const n = blocks * walk * run;
  const acc = new Float64Array(n);
  const mult = new Float32Array(walk);
  for (let c = 0; c < walk; c++) mult[c] = Math.fround(2 ** (-2 - prng.int(12)) * (1 + prng.next()));
  for (let i = 0; i < n; i++) {
    const kind = prng.int(10);
    // ties: an odd accumulator times a multiplier of 1/2 lands on k + 0.5
    if (kind === 0) acc[i] = 2 * prng.int(2000) - 1999;
    else if (kind === 1) acc[i] = Math.round((prng.next() - 0.5) * 2 ** 42);
    else acc[i] = Math.round((prng.next() - 0.5) * 2 ** (8 + prng.int(16)));
  }
  if (walk > 0) mult[0] = 0.5;
  return { acc, mult };
}

describe('float requantization in WebAssembly', () => {
  it('equals the scalar reference on every value: ties, bounds, wide accumulators, channel walks with tails', () => {
    const prng = new Prng(20261203);
    for (const [blocks, walk, run] of [
      [1, 1, 1001],
      [3, 7, 13],
      [2, 16, 4],
      [5, 3, 1],
      [1, 64, 49],
      [4, 1, 3],
    ] as const) {
      const { acc, mult } = randomCase(prng, blocks, walk, run);
      for (const [lo, zy] of [
        [-128, 0],
        [0, -128],
        [-255, 127],
        [-32768, 0],
      ] as const) {
        const his = new Float64Array(walk);
        for (let c = 0; c < walk; c++) his[c] = lo + 1 + prng.int(300);
        const y = new Int32Array(acc.length);
        expect(requantizeFloatWasm(acc, y, blocks, walk, run, mult, lo, his, zy)).toBe(true);
        expect(Array.from(y)).toEqual(Array.from(reference(acc, blocks, walk, run, mult, lo, his, zy)));
      }
    }
  });

  it('declines bounds outside the rounding range (|·| ≥ 2^22) or not integers (then the JS loop runs)', () => {
    const acc = new Float64Array(8);
    const y = new Int32Array(8);
    expect(requantizeFloatWasm(acc, y, 1, 1, 8, new Float32Array([1]), -(2 ** 31), new Float64Array([2 ** 31 - 1]), 0)).toBe(false);
    expect(requantizeFloatWasm(acc, y, 1, 1, 8, new Float32Array([1]), 0, new Float64Array([255]), 0.5)).toBe(false);
    expect(requantizeFloatWasm(acc, y, 1, 1, 8, new Float32Array([1]), 0, new Float64Array([2 ** 22]), 0)).toBe(false);
    expect(requantizeFloatWasm(acc, y, 1, 1, 8, new Float32Array([1]), -(2 ** 22), new Float64Array([0]), 0)).toBe(false);
  });

  it('rounds exactly at the edges of the rounding range: values within 1 of ±2^22, ties, both bounds', () => {
    const prng = new Prng(22);
    const edge = 2 ** 22 - 1;
    const n = 4099;
    const acc = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // multiplier 1/2: odd accumulators near ±2^23 land on ties k + 0.5 near the bounds, others past them
      const near = 2 ** 23 - 1 - 2 * prng.int(40);
      acc[i] = (prng.next() < 0.5 ? -1 : 1) * (prng.int(4) === 0 ? near + 2 * prng.int(8) : near);
    }
    const mult = new Float32Array([0.5]);
    for (const [lo, hi, zy] of [
      [-edge, edge, 0],
      [-edge, edge - 3, 5],
      [-edge + 2, edge, -7],
    ] as const) {
      const y = new Int32Array(n);
      const his = new Float64Array([hi]);
      expect(requantizeFloatWasm(acc, y, 1, 1, n, mult, lo, his, zy)).toBe(true);
      expect(Array.from(y)).toEqual(Array.from(reference(acc, 1, 1, n, mult, lo, his, zy)));
    }
  });

  it('requantize gives the same codes through its chunked per-tensor path and per channel', () => {
    const prng = new Prng(7);
    // 1.1 M values: more than one chunk
    const n = 1_100_003;
    const acc = new Float64Array(n);
    for (let i = 0; i < n; i++) acc[i] = Math.round((prng.next() - 0.5) * 60000);
    const params = requantParams(0.02, new Float32Array([0.01]), 0.05, { mode: 'float' });
    const q = { bits: 8, signed: false, narrow: false };
    const y = requantize(acc, [n], params, 3, q, { kind: 'none' });
    const m = params.multiplier[0];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const v = Math.fround(Math.fround(acc[i]) * m);
      if (y[i] !== rhe(Math.min(Math.max(v, -3), 252)) + 3) bad++;
    }
    expect(bad).toBe(0);
    // per channel with a ReLU6-style clamp per channel: [2, 5, 3, 3]
    const ch = 5;
    const accC = new Float64Array(2 * ch * 9);
    for (let i = 0; i < accC.length; i++) accC[i] = Math.round((prng.next() - 0.5) * 4000);
    const sw = new Float32Array([0.01, 0.02, 0.005, 0.03, 0.015]);
    const pc = requantParams(0.1, sw, 0.04, { mode: 'float' });
    const channelHi = new Int32Array([100, 120, 90, 127, 60]);
    const yc = requantize(accC, [2, ch, 3, 3], pc, 0, { bits: 8, signed: true, narrow: false }, { kind: 'clamp', fn: 'relu6', lo: 0, hi: 127, channelHi });
    for (let i = 0; i < accC.length; i++) {
      const c = Math.floor(i / 9) % ch;
      const v = Math.fround(Math.fround(accC[i]) * pc.multiplier[c]);
      expect(yc[i]).toBe(rhe(Math.min(Math.max(v, 0), channelHi[c])));
    }
  });
});

describe('fixed-point requantization (double rounding) in WebAssembly', () => {
  it('equals the BigInt gemmlowp reference: left and right shifts, narrow multipliers, ties, saturation past int32, walks with tails', () => {
    const prng = new Prng(20261204);
    for (const bits of [32, 16, 8]) {
      for (const [blocks, walk, run] of [
        [1, 1, 1001],
        [3, 7, 13],
        [2, 16, 4],
        [5, 3, 1],
        [1, 33, 49],
      ] as const) {
        const m0 = new Int32Array(walk);
        const shift = new Int32Array(walk);
        const m = new Int32Array(walk);
        const lsMul = new Int32Array(walk);
        const rs = new Int32Array(walk);
        for (let c = 0; c < walk; c++) {
          // m0 in [2^(bits−2), 2^(bits−1)), or 0 (a flushed multiplier); shifts from −31 to +8
          m0[c] = c === walk - 1 && walk > 2 ? 0 : 2 ** (bits - 2) + prng.int(2 ** (bits - 2));
          shift[c] = c === 0 ? -31 : c === 1 ? 8 : -prng.int(32) + (prng.int(4) === 0 ? prng.int(9) : 0);
          const fm = new FixedMultiplier(m0[c], shift[c], 'double', bits);
          m[c] = fm.m;
          lsMul[c] = fm.lsMul;
          rs[c] = fm.rs;
        }
        const n = blocks * walk * run;
        const acc = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const kind = prng.int(8);
          if (kind === 0) acc[i] = Math.round((prng.next() - 0.5) * 2 ** 40); // past int32: saturates
          else if (kind === 1) acc[i] = prng.int(2) ? 2147483647 : -2147483648;
          else if (kind === 2) acc[i] = (prng.int(2) ? 1 : -1) * 2 ** prng.int(31); // powers of two: exact ties after the shift
          else acc[i] = Math.round((prng.next() - 0.5) * 2 ** (4 + prng.int(26)));
        }
        for (const [qmin, qmax, zy] of [
          [-128, 127, 0],
          [0, 255, 128],
          [-32768, 32767, -5],
        ] as const) {
          const lo = qmin - zy;
          const his = new Int32Array(walk);
          for (let c = 0; c < walk; c++) his[c] = Math.min(qmax, qmin + 1 + prng.int(qmax - qmin)) - zy;
          const y = new Int32Array(n);
          expect(requantizeFixedWasm(acc, y, blocks, walk, run, { m, lsMul, rs }, lo, his, zy)).toBe(true);
          let i = 0;
          const want = new Int32Array(n);
          for (let b = 0; b < blocks; b++)
            for (let c = 0; c < walk; c++)
              for (let k = 0; k < run; k++, i++) {
                const r = Number(mbqmRef(sat32(BigInt(acc[i])), BigInt(m0[c]), shift[c], 'double', bits)) + zy;
                want[i] = Math.min(Math.max(r, qmin), his[c] + zy);
              }
          expect(Array.from(y)).toEqual(Array.from(want));
        }
      }
    }
  });

  it('requantize in fixed mode gives the BigInt reference codes, per tensor and per channel with clamp bounds', () => {
    const prng = new Prng(11);
    const ch = 6;
    const acc = new Float64Array(3 * ch * 25);
    for (let i = 0; i < acc.length; i++) acc[i] = Math.round((prng.next() - 0.5) * 2 ** (6 + prng.int(22)));
    const sw = Float32Array.from({ length: ch }, (_, c) => 0.004 * (c + 1));
    for (const bits of [32, 16]) {
      const cfg = { mode: 'fixed' as const, multiplierBits: bits, rounding: 'double' as const };
      const pc = requantParams(0.05, sw, 0.03, cfg);
      const channelHi = new Int32Array([100, 120, 90, 127, 60, 20]);
      const q = { bits: 8, signed: true, narrow: false };
      const yc = requantize(acc, [3, ch, 5, 5], pc, -3, q, { kind: 'clamp', fn: 'relu6', lo: -3, hi: 127, channelHi });
      const pt = requantParams(0.05, Float32Array.of(0.01), 0.03, cfg);
      const yt = requantize(acc, [acc.length], pt, 7, q, { kind: 'none' });
      for (let i = 0; i < acc.length; i++) {
        const c = Math.floor(i / 25) % ch;
        const v = Number(mbqmRef(BigInt(acc[i]), BigInt(pc.m0[c]), pc.shift[c], 'double', bits)) - 3;
        expect(yc[i]).toBe(Math.min(Math.max(v, -3), channelHi[c]));
        const t = Number(mbqmRef(BigInt(acc[i]), BigInt(pt.m0[0]), pt.shift[0], 'double', bits)) + 7;
        expect(yt[i]).toBe(Math.min(Math.max(t, -128), 127));
      }
    }
  });
});
