/**
 * The Float64 kernels of a prepared layer: output-stationary over the gather table (the
 * dataflow's order is just the table's order) on a padded copy of the input, 4 output channels ×
 * 2 positions register-blocked, single channels (depthwise) 1 × 4 positions; the per-add
 * partial-sum checks run 1 × 1. Each block loads its registers, adds tile after tile through
 * checked.ts, then writes its outputs.
 */
import type { OverflowReport } from './accumulator.js';
import { addAcc, loadAcc, overflowReport, psumTile, zwAcc, type KernelState } from './checked.js';
import { dot1x4, dot4x2 } from './dot.js';
import type { Geometry } from './geometry.js';
import type { Prepared } from './prepared.js';

/** Block start: the bias load into nC × nP registers (r = ci·pp + pi). */
function loadBlock(st: KernelState, c0: number, nC: number, pp: number, nP: number): void {
  for (let ci = 0; ci < nC; ci++) for (let pi = 0; pi < nP; pi++) loadAcc(st, c0 + ci, st.pos[pi], st.id, st.a, ci * pp + pi);
}

/** After a tile: add its sums (st.ts, and st.tp where psumBits may have changed them) to the registers. */
function stepBlock(st: KernelState, c0: number, nC: number, pp: number, nP: number, step: number): void {
  const ts = st.ts;
  const tp = st.psumSeen ? st.tp : st.ts;
  for (let ci = 0; ci < nC; ci++) {
    for (let pi = 0; pi < nP; pi++) {
      const r = ci * pp + pi;
      addAcc(st, c0 + ci, st.pos[pi], step, st.id, st.a, r, ts[r], tp[r]);
    }
  }
}

/** Block end: the −z_w·Σq_x step where the raw form needs it, then the outputs. */
function finishBlock(st: KernelState, c0: number, nC: number, pp: number, nP: number): void {
  const out = st.out;
  for (let ci = 0; ci < nC; ci++) {
    const c = c0 + ci;
    const ob = c * st.cStride;
    for (let pi = 0; pi < nP; pi++) {
      const r = ci * pp + pi;
      const p = st.pos[pi];
      if (st.xSum !== null) zwAcc(st, c, p, st.xSum[p], st.id, st.a, r);
      out[st.outBase[p] + ob] = st.checked ? st.a[r] : st.id[r];
    }
  }
}

/** 4 output channels × 2 positions st.pos[0], st.pos[1] (the second repeats the first when nP = 1), over all tiles. */
function block4x2(st: KernelState, c0: number, nP: number, gOff: number): void {
  const T = st.T;
  const K = st.K;
  const stepEnd = st.stepEnd;
  const ba = st.posBase[st.pos[0]] + gOff;
  const bb = st.posBase[st.pos[1]] + gOff;
  loadBlock(st, c0, 4, 2, nP);
  let j = 0;
  for (let s = 0; s < T; s++) {
    const e = stepEnd[s];
    dot4x2(st.x, st.kOff, st.wSeq, c0 * K, K, ba, bb, j, e, st.ts);
    j = e;
    stepBlock(st, c0, 4, 2, nP, s + 1);
  }
  finishBlock(st, c0, 4, 2, nP);
}

/** 1 output channel × positions st.pos[0 … 3] (repeats of the last valid one beyond nP), over all tiles. */
function block1x4(st: KernelState, c: number, nP: number, gOff: number): void {
  const r0 = c * st.K;
  const stepEnd = st.stepEnd;
  const pb = st.posBase;
  const pos = st.pos;
  const b0 = pb[pos[0]] + gOff;
  const b1 = pb[pos[1]] + gOff;
  const b2 = pb[pos[2]] + gOff;
  const b3 = pb[pos[3]] + gOff;
  loadBlock(st, c, 1, 4, nP);
  for (let s = 0, j = 0; s < st.T; j = stepEnd[s++]) {
    dot1x4(st.x, st.kOff, st.wSeq, r0, b0, b1, b2, b3, j, stepEnd[s], st.ts);
    stepBlock(st, c, 1, 4, nP, s + 1);
  }
  finishBlock(st, c, 1, 4, nP);
}

/** One output (c, p) whose every in-array add is checked against psumBits (a partial sum the bounds cannot clear). */
function outputPsumChecked(st: KernelState, c: number, p: number, gOff: number): void {
  const b = st.posBase[p] + gOff;
  st.pos[0] = p;
  loadBlock(st, c, 1, 1, 1);
  for (let s = 0, j = 0; s < st.T; j = st.stepEnd[s++]) {
    psumTile(st, c * st.K, b, j, st.stepEnd[s]);
    // the accumulator receives the in-array sum (tp); the exact running sum (maxAbs) the exact one
    stepBlock(st, c, 1, 1, 1, s + 1);
  }
  finishBlock(st, c, 1, 1, 1);
}

/**
 * The proved path for one output channel over all positions, 4 at a time, epilogue inline: the
 * single-channel groups of depthwise convs have short reductions, so per-block calls would cost
 * more than the MACs.
 */
function channelFast(st: KernelState, c: number, P: number, gOff: number): void {
  const x = st.x;
  const kOff = st.kOff;
  const w = st.wSeq;
  const ts = st.ts;
  const T = st.T;
  const stepEnd = st.stepEnd;
  const r0 = c * st.K;
  const posBase = st.posBase;
  const outBase = st.outBase;
  const out = st.out;
  const ob = c * st.cStride;
  const init = st.init[c];
  const zn = st.zwNeg[c];
  const xSum = st.xSum;
  let m = st.maxAbs;
  for (let p = 0; p < P; p += 4) {
    const n = P - p < 4 ? P - p : 4;
    const b0 = posBase[p] + gOff;
    const b1 = posBase[n > 1 ? p + 1 : p] + gOff;
    const b2 = posBase[n > 2 ? p + 2 : p] + gOff;
    const b3 = posBase[n > 3 ? p + 3 : p] + gOff;
    let e0 = init, e1 = init, e2 = init, e3 = init;
    for (let s = 0, j = 0; s < T; j = stepEnd[s++]) {
      dot1x4(x, kOff, w, r0, b0, b1, b2, b3, j, stepEnd[s], ts);
      e0 += ts[0];
      e1 += ts[1];
      e2 += ts[2];
      e3 += ts[3];
      // running sums at the step boundary (repeats of the last position change nothing)
      const a0 = e0 < 0 ? -e0 : e0;
      const a1 = e1 < 0 ? -e1 : e1;
      const a2 = e2 < 0 ? -e2 : e2;
      const a3 = e3 < 0 ? -e3 : e3;
      if (a0 > m) m = a0;
      if (a1 > m) m = a1;
      if (a2 > m) m = a2;
      if (a3 > m) m = a3;
    }
    for (let i = 0; i < n; i++) {
      let e = i === 0 ? e0 : i === 1 ? e1 : i === 2 ? e2 : e3;
      if (zn !== 0 && xSum) {
        e += zn * xSum[p + i];
        const ae = e < 0 ? -e : e;
        if (ae > m) m = ae;
      }
      out[outBase[p + i] + ob] = e;
    }
  }
  st.maxAbs = m;
}

/**
 * Runs a prepared layer on an operand input laid out for `geo` (conv: padded; zp form: minus
 * z_x); `geo` may differ from the preparation's only in its positions (gemm batch size).
 */
export function runBlocks(prep: Prepared, geo: Geometry, x: Float64Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
  const { nOut, positions: P, group } = geo;
  const ocg = nOut / group;
  const st = prep.state(geo, x, out);
  let xSumAdds = 0;
  const xSum = prep.zwChannels > 0 ? new Float64Array(P) : null;
  st.xSum = xSum;
  for (let g = 0; g < group; g++) {
    const gOff = g * geo.groupXStride;
    const cStart = g * ocg;
    const cEnd = cStart + ocg;
    if (xSum) xSumAdds += prep.groupSums(geo, g, x, xSum, 0);
    const pos = st.pos;
    let c = cStart;
    if (prep.psumKernel) {
      if (prep.psumTiles && st.psumTiles === null) {
        prep.psumTiles.load(x);
        st.psumTiles = prep.psumTiles;
      }
      for (; c < cEnd; c++) for (let p = 0; p < P; p++) outputPsumChecked(st, c, p, gOff);
    }
    for (; c + 4 <= cEnd; c += 4) {
      for (let p = 0; p < P; p += 2) {
        const nP = p + 1 < P ? 2 : 1;
        pos[0] = p;
        pos[1] = p + nP - 1;
        block4x2(st, c, nP, gOff);
      }
    }
    if (!st.checked) {
      for (; c < cEnd; c++) channelFast(st, c, P, gOff);
    }
    for (; c < cEnd; c++) {
      for (let p = 0; p < P; p += 4) {
        const nP = Math.min(4, P - p);
        for (let i = 0; i < 4; i++) pos[i] = i < nP ? p + i : p + nP - 1;
        block1x4(st, c, nP, gOff);
      }
    }
  }
  return { out: st.out, overflow: overflowReport(st, prep.proved, P * prep.zwChannels, xSumAdds) };
}
