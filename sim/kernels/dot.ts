/**
 * Register-blocked dot products over a gather table, on Float64 operands (exact integers): the
 * inner loops the reference kernels (blocks.ts) and the timing run's tile kernel
 * (sim/functional.ts) share. `x` is the operand input laid out for the layer's geometry, `kOff[j]`
 * the offset of arrival index j from a position's base, `w` the weight rows in arrival order.
 */

/**
 * Products of 4 weight rows (r0, r0+K, r0+2K, r0+3K) with the receptive fields of 2 positions (input
 * offsets ba, bb) over arrival indices [j0, j1): ts[2i] channel i × position a, ts[2i+1] × b.
 * Each input load feeds 4 MACs, each weight load 2.
 */
export function dot4x2(x: Float64Array, kOff: Int32Array, w: Float64Array, r0: number, K: number, ba: number, bb: number, j0: number, j1: number, ts: Float64Array): void {
  const r1 = r0 + K;
  const r2 = r1 + K;
  const r3 = r2 + K;
  let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
  for (let j = j0; j < j1; j++) {
    const o = kOff[j];
    const xa = x[ba + o];
    const xb = x[bb + o];
    const w0 = w[r0 + j];
    const w1 = w[r1 + j];
    const w2 = w[r2 + j];
    const w3 = w[r3 + j];
    s00 += w0 * xa;
    s01 += w0 * xb;
    s10 += w1 * xa;
    s11 += w1 * xb;
    s20 += w2 * xa;
    s21 += w2 * xb;
    s30 += w3 * xa;
    s31 += w3 * xb;
  }
  ts[0] = s00;
  ts[1] = s01;
  ts[2] = s10;
  ts[3] = s11;
  ts[4] = s20;
  ts[5] = s21;
  ts[6] = s30;
  ts[7] = s31;
}

/** One weight row (r0) with 4 receptive fields (b0…b3) over [j0, j1): ts[i] = position i. */
export function dot1x4(x: Float64Array, kOff: Int32Array, w: Float64Array, r0: number, b0: number, b1: number, b2: number, b3: number, j0: number, j1: number, ts: Float64Array): void {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let j = j0; j < j1; j++) {
    const o = kOff[j];
    const w0 = w[r0 + j];
    s0 += w0 * x[b0 + o];
    s1 += w0 * x[b1 + o];
    s2 += w0 * x[b2 + o];
    s3 += w0 * x[b3 + o];
  }
  ts[0] = s0;
  ts[1] = s1;
  ts[2] = s2;
  ts[3] = s3;
}
