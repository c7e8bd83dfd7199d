/**
 * SCALE-Sim's demand matrices (systolic_compute_<df>.create_*_demand_mat), generated one row (one
 * array cycle) at a time into preallocated typed arrays, replayed through the USER-mode
 * scratchpads (scalesim-read-buffer.ts, scalesim-write-buffer.ts) and handed to a trace sink. Its
 * own file: the request-by-request path of scalesim-memory.ts, apart from its closed forms.
 *
 * Without a trace no row is written out: an ifmap or filter row goes to its read buffer as the run
 * of stream positions it is (scalesim-operands.ts `demandRange`), an ofmap row to the write buffer
 * as its number of writes (a closed form: which ofmap addresses a row writes only matters to a
 * trace). The lanes are generated only for a trace sink.
 */
import type { ArchSpec } from '../../arch/spec.js';
import { spatioTemporal, type FoldPlan } from './compute.js';
import type { GemmView } from './gemm-view.js';
import type { ScaleSimDetail, ScaleSimTraceSink } from './scalesim-memory.js';
import { IfmapAddresses, demandRange, filterAddr, operandLayouts } from './scalesim-operands.js';
import { operandIndexes } from './scalesim-stream-index.js';
import { ReadBuffer } from './scalesim-read-buffer.js';
import { WriteBuffer } from './scalesim-write-buffer.js';

export interface UserLayer {
  totalCycles: number;
  stallCycles: number;
  dram: { ifmapReads: number; filterReads: number; ofmapWrites: number };
  detail: ScaleSimDetail;
}

/**
 * Generates SCALE-Sim's demand matrices row by row (one row = one array cycle); with `user`, runs
 * them through the scratchpads; with a trace sink, hands every row to it.
 */
export function runDemand(spec: ArchSpec, view: GemmView, plan: FoldPlan, user: boolean, trace?: ScaleSimTraceSink): UserLayer {
  const R = plan.rows;
  const C = plan.cols;
  const df = plan.dataflow;
  const { M, K, N } = view;
  const { T } = spatioTemporal(view, df);
  const mem = spec.memories;
  const bw = mem.dram.bytesPerCycle; // SCALE-Sim words are 1 byte; its Bandwidth is words/cycle
  const ifm = new IfmapAddresses(view);
  const maps = operandLayouts(view, df, R, C);
  let ifBuf: ReadBuffer | null = null;
  let fBuf: ReadBuffer | null = null;
  let oBuf: WriteBuffer | null = null;
  if (user) {
    // a DRAM trace replays the fetch matrix: the streams written out
    const index = operandIndexes(view, df, maps, ifm, trace?.dramRow !== undefined);
    const b = mem.dram.baseAddress;
    ifBuf = new ReadBuffer(index.ifmap, mem.ifmap!.capacityBytes, bw, trace && { sink: trace, operand: 0, base: b.ifmap });
    fBuf = new ReadBuffer(index.filter, mem.filter!.capacityBytes, bw, trace && { sink: trace, operand: 1, base: b.filter });
    oBuf = new WriteBuffer(mem.ofmap!.capacityBytes, bw, trace && { sink: trace, base: b.ofmap });
  }
  const base = mem.dram.baseAddress;

  const F = plan.foldCycles;
  const wIf = df === 'is' ? C : R;
  const wF = df === 'is' ? R : C;
  const rowIf = new Int32Array(wIf);
  const rowF = new Int32Array(wF);
  const rowO = new Int32Array(C);
  const rgIf = new Float64Array(5);
  const rgF = new Float64Array(5);
  const counts = new Int32Array(3);
  // ofmap writes of a row: lanes c in [lo, hi] with lo = r − oLo, hi = r − oHi (OS: skewed over C
  // after T − 1 empty rows; WS/IS: after 2R − 1), clipped to the array and the output's edge
  const oSkew = df === 'os' ? T - 1 : 2 * R - 1;
  const oDepth = df === 'os' ? R : T;
  const oCols = df === 'is' ? M : N;
  let stall = 0;
  let rowIdx = 0;
  let ifS = -1;
  let ifE = -1;
  let fS = -1;
  let fE = -1;
  let oS = -1;
  let oE = -1;
  let lastOut = 0;

  // both read buffers prefetch their active half before the first row (cycle 0); with a trace,
  // at their first request, so that the DRAM rows come in SCALE-Sim's order
  if (!trace) {
    ifBuf?.start(0);
    fBuf?.start(0);
  }
  // rows of a fold with valid lanes ([first, last]) and whether the fold's lines are all in the window
  const spanIf = new Float64Array(2);
  const spanF = new Float64Array(2);
  for (let fc = 0; fc < plan.colFolds; fc++) {
    // the last column fold's lanes past the output's edge write nothing
    const oColHi = Math.min(C - 1, oCols - fc * C - 1);
    for (let fr = 0; fr < plan.rowFolds; fr++) {
      // OS: the last row fold's array rows past M write nothing (output row rr ≥ R − (M − fr·R) only)
      const oRowCut = df === 'os' ? Math.max(0, R - (M - fr * R)) : 0;
      if (trace) {
        for (let r = 0; r < F; r++, rowIdx++) {
          const cycle = rowIdx + stall;
          let offIf = 1;
          let offF = 1;
          let outO = cycle;
          demandRow(df, view, plan, T, ifm, fr, fc, r, rowIf, rowF, rowO, counts);
          if (user) {
            demandRange(maps.ifmap, fr, fc, r, rgIf);
            demandRange(maps.filter, fr, fc, r, rgF);
            offIf = ifBuf!.service(rgIf, cycle);
            offF = fBuf!.service(rgF, cycle);
            outO = oBuf!.service(rowO, C, cycle);
          }
          for (let c = 0; c < wIf; c++) rowIf[c] = rowIf[c] < 0 ? -1 : rowIf[c] + base.ifmap;
          for (let c = 0; c < wF; c++) rowF[c] = rowF[c] < 0 ? -1 : rowF[c] + base.filter;
          for (let c = 0; c < C; c++) if (rowO[c] >= 0) rowO[c] += base.ofmap;
          trace.sramRow(0, cycle + offIf, rowIf, wIf);
          trace.sramRow(1, cycle + offF, rowF, wF);
          trace.sramRow(2, outO, rowO, C);
          if (counts[0] > 0) {
            if (ifS < 0) ifS = cycle + offIf;
            ifE = cycle + offIf;
          }
          if (counts[1] > 0) {
            if (fS < 0) fS = cycle + offF;
            fE = cycle + offF;
          }
          if (counts[2] > 0) {
            if (oS < 0) oS = outO;
            oE = outO;
          }
          lastOut = outO;
          stall += Math.max(offIf - 1, offF - 1, outO - cycle);
        }
        continue;
      }
      // no trace: the fold's reads are skipped whole when its lines are in the window (nothing
      // changes then), else row by row; the writes of a row are a count
      const ifCov = ifBuf!.foldCovered(maps.ifmap, fr, fc, F, spanIf, rgIf);
      const fCov = fBuf!.foldCovered(maps.filter, fr, fc, F, spanF, rgF);
      const ifA = spanIf[0];
      const ifB = spanIf[1];
      const fA = spanF[0];
      const fB = spanF[1];
      for (let r = 0; r < F; r++, rowIdx++) {
        const cycle = rowIdx + stall;
        let offIf = 1;
        let offF = 1;
        if (!ifCov && r >= ifA && r <= ifB) {
          demandRange(maps.ifmap, fr, fc, r, rgIf);
          offIf = ifBuf!.service(rgIf, cycle);
        }
        if (!fCov && r >= fA && r <= fB) {
          demandRange(maps.filter, fr, fc, r, rgF);
          offF = fBuf!.service(rgF, cycle);
        }
        const lo = Math.max(0, r - oSkew - oDepth + 1);
        const hi = Math.min(oColHi, r - oSkew - oRowCut);
        const outO = hi >= lo ? oBuf!.serviceCount(hi - lo + 1, cycle) : cycle;
        if (r === ifA && ifS < 0) ifS = cycle + offIf;
        if (r === ifB) ifE = cycle + offIf;
        if (r === fA && fS < 0) fS = cycle + offF;
        if (r === fB) fE = cycle + offF;
        if (hi >= lo) {
          if (oS < 0) oS = outO;
          oE = outO;
        }
        lastOut = outO;
        stall += Math.max(offIf - 1, offF - 1, outO - cycle);
      }
    }
  }
  const span = (s: number, e: number) => e - s + 1;
  if (!ifBuf || !fBuf || !oBuf) {
    const none = { start: 0, stop: 0 };
    return {
      totalCycles: lastOut,
      stallCycles: 0,
      dram: { ifmapReads: 0, filterReads: 0, ofmapWrites: 0 },
      detail: {
        sramIfmap: { start: ifS, stop: ifE },
        sramFilter: { start: fS, stop: fE },
        sramOfmap: { start: oS, stop: oE },
        dramIfmap: none,
        dramFilter: none,
        dramOfmap: none,
        avgDramBw: { ifmap: 0, filter: 0, ofmap: 0 },
      },
    };
  }
  oBuf.finish(lastOut);
  return {
    totalCycles: lastOut,
    stallCycles: stall,
    dram: { ifmapReads: ifBuf.dramReads, filterReads: fBuf.dramReads, ofmapWrites: oBuf.dramWrites },
    detail: {
      sramIfmap: { start: ifS, stop: ifE },
      sramFilter: { start: fS, stop: fE },
      sramOfmap: { start: oS, stop: oE },
      dramIfmap: { start: ifBuf.dramStart, stop: ifBuf.dramStop },
      dramFilter: { start: fBuf.dramStart, stop: fBuf.dramStop },
      dramOfmap: { start: oBuf.dramStart, stop: oBuf.dramStop },
      avgDramBw: {
        ifmap: ifBuf.dramReads / span(ifBuf.dramStart, ifBuf.dramStop),
        filter: fBuf.dramReads / span(fBuf.dramStart, fBuf.dramStop),
        ofmap: oBuf.dramWrites / span(oBuf.dramStart, oBuf.dramStop),
      },
    },
  };
}

/** Demand row r of fold (fr, fc), its lanes as local addresses (−1 = none), for a trace; `counts` ← the valid lanes of each. */
function demandRow(
  df: FoldPlan['dataflow'],
  view: GemmView,
  plan: FoldPlan,
  T: number,
  ifm: IfmapAddresses,
  fr: number,
  fc: number,
  r: number,
  rowIf: Int32Array,
  rowF: Int32Array,
  rowO: Int32Array,
  counts: Int32Array,
): void {
  const R = plan.rows;
  const C = plan.cols;
  const { M, K, N } = view;
  let nIf = 0;
  let nF = 0;
  let nO = 0;
  if (df === 'os') {
    // ifmap: skewed T×R (ifmap rows of this row fold, over k = time)
    for (let c = 0; c < R; c++) {
      const s = r - c;
      const m = fr * R + c;
      const a = s >= 0 && s < T && m < M ? ifm.at(m, s) : -1;
      rowIf[c] = a;
      if (a >= 0) nIf++;
    }
    for (let c = 0; c < C; c++) {
      const s = r - c;
      const n = fc * C + c;
      const a = s >= 0 && s < T && n < N ? filterAddr(K, s, n) : -1;
      rowF[c] = a;
      if (a >= 0) nF++;
    }
    // ofmap: T−1 empty rows, then the R output rows bottom-up, skewed over C
    for (let c = 0; c < C; c++) {
      const rr = r - c - (T - 1);
      const m = fr * R + (R - 1 - rr);
      const n = fc * C + c;
      const ok = rr >= 0 && rr < R && m < M && n < N;
      rowO[c] = ok ? m * N + n : -1;
      if (ok) nO++;
    }
  } else if (df === 'ws') {
    for (let c = 0; c < R; c++) {
      const t = r - c - R;
      const k = fr * R + c;
      const a = t >= 0 && t < T && k < K ? ifm.at(t, k) : -1;
      rowIf[c] = a;
      if (a >= 0) nIf++;
    }
    for (let c = 0; c < C; c++) {
      const k = fr * R + (R - 1 - r);
      const n = fc * C + c;
      const a = r < R && k < K && n < N ? filterAddr(K, k, n) : -1;
      rowF[c] = a;
      if (a >= 0) nF++;
    }
    for (let c = 0; c < C; c++) {
      const t = r - c - (2 * R - 1);
      const ok = t >= 0 && t < T && fc * C + c < N;
      rowO[c] = ok ? t * N + fc * C + c : -1;
      if (ok) nO++;
    }
  } else {
    for (let c = 0; c < C; c++) {
      const k = fr * R + (R - 1 - r);
      const m = fc * C + c;
      const a = r < R && k < K && m < M ? ifm.at(m, k) : -1;
      rowIf[c] = a;
      if (a >= 0) nIf++;
    }
    for (let c = 0; c < R; c++) {
      const t = r - c - R;
      const k = fr * R + c;
      const a = t >= 0 && t < T && k < K ? filterAddr(K, k, t) : -1;
      rowF[c] = a;
      if (a >= 0) nF++;
    }
    for (let c = 0; c < C; c++) {
      const t = r - c - (2 * R - 1);
      const ok = t >= 0 && t < T && fc * C + c < M;
      rowO[c] = ok ? (fc * C + c) * N + t : -1;
      if (ok) nO++;
    }
  }
  counts[0] = nIf;
  counts[1] = nF;
  counts[2] = nO;
}
