/**
 * SCALE-Sim's demand matrices (systolic_compute_<df>.create_*_demand_mat), generated one row (one
 * array cycle) at a time into preallocated typed arrays, replayed through the USER-mode
 * scratchpads (scalesim-read-buffer.ts, scalesim-write-buffer.ts) and handed to a trace sink. Its
 * own file: the request-by-request path of scalesim-memory.ts, apart from its closed forms.
 */
import type { ArchSpec } from '../../arch/spec.js';
import { spatioTemporal, type FoldPlan } from './compute.js';
import type { GemmView } from './gemm-view.js';
import type { ScaleSimDetail, ScaleSimTraceSink } from './scalesim-memory.js';
import { filterAddr, ifmapAddressMatrix, prefetchStreams } from './scalesim-operands.js';
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
  const ifm = ifmapAddressMatrix(view);
  let ifBuf: ReadBuffer | null = null;
  let fBuf: ReadBuffer | null = null;
  let oBuf: WriteBuffer | null = null;
  if (user) {
    let ifmapSpace = 0;
    for (let i = 0; i < ifm.length; i++) if (ifm[i] + 1 > ifmapSpace) ifmapSpace = ifm[i] + 1;
    const streams = prefetchStreams(view, df, R, C, ifm);
    const b = mem.dram.baseAddress;
    ifBuf = new ReadBuffer(streams.ifmap, ifmapSpace, mem.ifmap!.capacityBytes, bw, trace && { sink: trace, operand: 0, base: b.ifmap });
    fBuf = new ReadBuffer(streams.filter, K * N, mem.filter!.capacityBytes, bw, trace && { sink: trace, operand: 1, base: b.filter });
    oBuf = new WriteBuffer(mem.ofmap!.capacityBytes, bw, trace && { sink: trace, base: b.ofmap });
  }
  const base = mem.dram.baseAddress;

  const F = plan.foldCycles;
  const wIf = df === 'is' ? C : R;
  const wF = df === 'is' ? R : C;
  const rowIf = new Int32Array(wIf);
  const rowF = new Int32Array(wF);
  const rowO = new Int32Array(C);
  const tIf = new Int32Array(wIf);
  const tF = new Int32Array(wF);
  let stall = 0;
  let rowIdx = 0;
  let ifS = -1;
  let ifE = -1;
  let fS = -1;
  let fE = -1;
  let oS = -1;
  let oE = -1;
  let lastOut = 0;

  for (let fc = 0; fc < plan.colFolds; fc++) {
    for (let fr = 0; fr < plan.rowFolds; fr++) {
      for (let r = 0; r < F; r++, rowIdx++) {
        const cycle = rowIdx + stall;
        let nIf = 0;
        let nF = 0;
        let nO = 0;
        if (df === 'os') {
          // ifmap: skewed T×R (ifmap rows of this row fold, over k = time)
          for (let c = 0; c < R; c++) {
            const s = r - c;
            const m = fr * R + c;
            const a = s >= 0 && s < T && m < M ? ifm[m * K + s] : -1;
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
            const a = t >= 0 && t < T && k < K ? ifm[t * K + k] : -1;
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
            const a = r < R && k < K && m < M ? ifm[m * K + k] : -1;
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
        const offIf = ifBuf ? ifBuf.service(rowIf, wIf, cycle) : 1;
        const offF = fBuf ? fBuf.service(rowF, wF, cycle) : 1;
        const outO = oBuf ? oBuf.service(rowO, C, cycle) : cycle;
        if (trace) {
          for (let c = 0; c < wIf; c++) tIf[c] = rowIf[c] < 0 ? -1 : rowIf[c] + base.ifmap;
          for (let c = 0; c < wF; c++) tF[c] = rowF[c] < 0 ? -1 : rowF[c] + base.filter;
          for (let c = 0; c < C; c++) if (rowO[c] >= 0) rowO[c] += base.ofmap;
          trace.sramRow(0, cycle + offIf, tIf, wIf);
          trace.sramRow(1, cycle + offF, tF, wF);
          trace.sramRow(2, outO, rowO, C);
        }
        if (nIf > 0) {
          if (ifS < 0) ifS = cycle + offIf;
          ifE = cycle + offIf;
        }
        if (nF > 0) {
          if (fS < 0) fS = cycle + offF;
          fE = cycle + offF;
        }
        if (nO > 0) {
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
