/**
 * SCALE-Sim v2's memory model (scalesim/memory/double_buffered_scratchpad_mem.py with read_buffer,
 * read_port, write_buffer, write_port; scalesim/single_layer_sim.py), for the `scalesim` memory
 * model of an ArchSpec.
 *
 * CALC bandwidth mode (`memories.dram.mode = 'calc'`): SCALE-Sim never stalls; per-layer cycles,
 * utilizations and SRAM access counts are closed forms of the fold plan (compute.ts) — O(1) per
 * layer.
 *
 * USER bandwidth mode: SCALE-Sim's double-buffered scratchpads, reproduced request by request:
 * - each ifmap/filter SRAM is split into an active and a prefetch half (0.5/0.5); the operand's
 *   whole prefetch stream (its fold order, anti-diagonally rolled where the demand is skewed) is cut
 *   into "lines" of ⌈capacity/100⌉ words (its hashed buffer); a request hits when its address lies
 *   in a line of the active window; on a miss the window advances by the prefetch half (circularly,
 *   so an operand that does not fit is fetched from DRAM again — SCALE-Sim's filter re-reads) and a
 *   prefetch of ⌈half/bandwidth⌉ DRAM lines is issued right after the previous one lands (DRAM
 *   latency 1), whatever the array is doing;
 * - a row of demands stalls by how late its last prefetch lands; the array stalls by the largest of
 *   the ifmap, filter and ofmap stalls of that row;
 * - the ofmap SRAM drains its drain half to DRAM at `bandwidth` words per cycle once more than the
 *   active half is filled, and stalls a write only when it is full while a drain is in flight.
 * With a trace sink, USER mode also hands over SCALE-Sim's DRAM requests (its *_DRAM_TRACE.csv
 * rows): prefetch rows of SCALE-Sim's fetch matrix (the stream in rows of `bandwidth` words) with
 * its quirks kept — the next row fetched is `lines` or `lines + 1` (not the row after the last one
 * fetched), lanes past the active half are dropped, and those drops stick in the matrix unless the
 * request wrapped — and ofmap drain lines. CALC mode makes no DRAM requests.
 * Without a trace no demand row is written out: each is a run of its operand's prefetch stream
 * (scalesim-operands.ts), a fold whose lines all lie in the active window hits whole, and only rows
 * reaching past the window are tested lane by lane (scalesim-read-buffer.ts; valid-word counts and
 * an ifmap address's other occurrences in closed form, scalesim-stream-index.ts) — work O(rows +
 * lanes near a window's edge), memory O(layer's pixels and window positions), O(stream) for a
 * padded ifmap. With a trace every row is generated into preallocated typed arrays and a DRAM trace
 * holds the streams (hit tests then a binary search over each address's sorted line list). No
 * per-element allocation. The worst cases are real sizes, so USER mode and
 * traces refuse a layer beyond MAX_SCALESIM_WORDS operand words or a run beyond
 * MAX_SCALESIM_LANES demand lanes (limits.ts, `checkScaleSimLimits`) before allocating anything;
 * CALC mode without a trace is O(1) per layer and has no such limit.
 *
 * SCALE-Sim specifics kept as they are (they are what its reports contain): "Total Cycles" is the
 * cycle of the last ofmap write (one less than the number of cycles when nothing stalls); a row's
 * stall is measured after the SRAM hit latency of 1; SRAM ofmap writes in OS count R + C extra per
 * fold; DRAM ofmap writes count the padding of partly filled write lines. Grouped views (depthwise /
 * grouped convolutions) run the per-group GEMM `groups` times back to back with fresh buffers,
 * as SCALE-Sim would run them as separate layers; the layer's cycles are the sum.
 *
 * This file is the model's entry point: the result and trace-sink types, the limits, the CALC
 * closed forms and the per-layer counts. The request-by-request USER path is in
 * scalesim-demand.ts (demand rows) over scalesim-read-buffer.ts / scalesim-write-buffer.ts
 * (the scratchpads), fed by scalesim-operands.ts (operand addresses, prefetch streams).
 */
import { ConfigError, type Problem } from '../../arch/errors.js';
import { type ArchSpec, engineHierarchyProblem } from '../../arch/spec.js';
import { planFolds, type FoldPlan } from './compute.js';
import type { GemmView } from './gemm-view.js';
import { MAX_SCALESIM_LANES, MAX_SCALESIM_WORDS, fmtCount } from './limits.js';
import { runDemand } from './scalesim-demand.js';

/** the ifmap operand matrix, re-exported for callers that check SCALE-Sim's address layout */
export { ifmapAddressMatrix } from './scalesim-operands.js';

export interface ScaleSimLayerResult {
  name: string;
  /** SCALE-Sim's "Total Cycles": the cycle of the last ofmap write, stalls included */
  totalCycles: number;
  /** totalCycles − stallCycles */
  computeCycles: number;
  stallCycles: number;
  /** MACs / (totalCycles · R · C), a fraction (SCALE-Sim reports ×100) */
  overallUtilization: number;
  /** fractions, see compute.ts */
  mappingEfficiency: number;
  computeUtilization: number;
  macs: number;
  folds: number;
  sram: { ifmapReads: number; filterReads: number; ofmapWrites: number };
  /**
   * ofmap words the demand matrices write into the ofmap SRAM: WS/IS every K fold's partial outputs
   * (row folds · M · N), OS each output once (M · N; `sram.ofmapWrites` adds SCALE-Sim's R + C per
   * fold of counting). SCALE-Sim drains every one of them to DRAM: partial sums are never read back.
   */
  ofmapWords: number;
  /**
   * words moved to/from DRAM. USER mode: SCALE-Sim's scratchpads (re-reads, padded lanes of its
   * lines included). CALC mode: ifmap and filter their operand sizes (SCALE-Sim's estimate mode is
   * not reproduced), ofmap the `ofmapWords` its demand writes, which SCALE-Sim's CALC reports drain
   * too: their DRAM ofmap writes are these or these + cols − 1 (a last line's padding), every layer
   * of ../shared/golden/scalesim (e.g. gemm_ws_16x16: 131,087 for 131,072; test/golden/scalesim.test.ts).
   */
  dram: { ifmapReads: number; filterReads: number; ofmapWrites: number };
  /** BANDWIDTH_REPORT: average SRAM words per cycle */
  avgSramBw: { ifmap: number; filter: number; ofmap: number };
  /**
   * DETAILED_ACCESS_REPORT start/stop cycles and average DRAM bandwidth (words per cycle over the
   * start..stop span): USER mode only (null in CALC mode)
   */
  detail: ScaleSimDetail | null;
}

export interface ScaleSimDetail {
  sramIfmap: { start: number; stop: number };
  sramFilter: { start: number; stop: number };
  sramOfmap: { start: number; stop: number };
  dramIfmap: { start: number; stop: number };
  dramFilter: { start: number; stop: number };
  dramOfmap: { start: number; stop: number };
  avgDramBw: { ifmap: number; filter: number; ofmap: number };
}

/** Operand of a trace row: 0 = ifmap, 1 = filter, 2 = ofmap. */
export type TraceOperand = 0 | 1 | 2;

/**
 * Receives SCALE-Sim's SRAM demand, one row (one array cycle) at a time, for trace writers
 * (traces/scalesim-trace.ts). `addrs` holds `width` absolute addresses (memories.dram.baseAddress
 * added; −1 = no request in that lane) and is reused for the next row: copy what you keep.
 * `cycle` is the cycle the row is serviced at (USER: stalls included; CALC: the row index, +1 SRAM
 * hit latency for reads, as SCALE-Sim's traces have it).
 */
export interface ScaleSimTraceSink {
  layerStart(layer: number, name: string): void;
  sramRow(operand: TraceOperand, cycle: number, addrs: Int32Array, width: number): void;
  /**
   * USER mode only (CALC mode has no DRAM requests): one DRAM request row of `width` = bandwidth
   * words, as SCALE-Sim's {IFMAP,FILTER,OFMAP}_DRAM_TRACE.csv have them — ifmap/filter prefetch
   * lines at the cycle they land, ofmap drain lines at the cycle they are written. Absolute
   * addresses, −1 = a padded or chomped lane (SCALE-Sim still counts it as a DRAM read, and counts
   * the padding of a drain's non-final lines as writes). `addrs` is reused: copy what you keep.
   */
  dramRow?(operand: TraceOperand, cycle: number, addrs: Int32Array, width: number): void;
  layerEnd(layer: number): void;
}

export interface ScaleSimOptions {
  /** called after each layer (i = layers done, n = all) */
  onLayer?: (i: number, n: number) => void;
  /** SRAM demand rows for a trace writer (the first group of a grouped layer only) */
  trace?: ScaleSimTraceSink;
}

/** SRAM access counts SCALE-Sim's compute model reports (per group). */
function sramCounts(view: GemmView, plan: FoldPlan): { ifmapReads: number; filterReads: number; ofmapWrites: number } {
  const { M, K, N } = view;
  const folds = plan.rowFolds * plan.colFolds;
  if (plan.dataflow === 'os') return { ifmapReads: plan.colFolds * M * K, filterReads: plan.rowFolds * K * N, ofmapWrites: M * N + folds * (plan.rows + plan.cols) };
  if (plan.dataflow === 'ws') return { ifmapReads: plan.colFolds * M * K, filterReads: K * N, ofmapWrites: plan.rowFolds * M * N };
  return { ifmapReads: M * K, filterReads: plan.colFolds * K * N, ofmapWrites: plan.rowFolds * M * N };
}

/** ofmap words the demand matrices write (per group): OS each output once, WS/IS once per K fold */
function ofmapDemandWords(view: GemmView, plan: FoldPlan): number {
  return (plan.dataflow === 'os' ? 1 : plan.rowFolds) * view.M * view.N;
}

/** `file.csv:12 (layer conv1)` or `layer conv1` */
function where(view: GemmView): string {
  return view.origin ? `${view.origin} (layer ${view.name})` : `layer ${view.name}`;
}

/**
 * The memory and work SCALE-Sim's request-by-request model needs (USER bandwidth mode, or any
 * mode with a trace), as problems: operand words per layer (its address matrices and prefetch
 * streams) and demand lanes over the views. Empty in CALC mode without a trace (closed form).
 */
export function scaleSimLimitProblems(spec: ArchSpec, views: readonly GemmView[], trace: boolean): Problem[] {
  const problems: Problem[] = [];
  if (spec.memories.dram.mode !== 'user' && !trace) return problems;
  const { rows, cols, dataflow } = spec.array;
  let lanes = 0;
  for (const view of views) {
    const { M, K, N } = view;
    const g = view.conv;
    const ifmap = g ? g.ifmapH * g.ifmapW * g.channels : M * K;
    const words = M * K + K * N + M * N + ifmap;
    if (words > MAX_SCALESIM_WORDS) {
      problems.push({
        path: where(view),
        message:
          `SCALE-Sim's ${trace ? 'traces replay' : 'USER bandwidth mode replays'} every operand address: ${fmtCount(words)} operand words (M·K + K·N + M·N + ifmap), ` +
          `more than the ${MAX_SCALESIM_WORDS} (2^25) qloom holds per layer; use CALC mode${trace ? ' without traces' : ''} or the native memory model`,
      });
      continue;
    }
    const plan = planFolds(view, rows, cols, dataflow);
    lanes += view.groups * plan.rowFolds * plan.colFolds * plan.foldCycles * (rows + 2 * cols);
  }
  if (problems.length === 0 && lanes > MAX_SCALESIM_LANES) {
    problems.push({
      path: views.length === 1 ? where(views[0]) : '',
      message:
        `SCALE-Sim's ${trace ? 'traces replay' : 'USER bandwidth mode replays'} every demand row: ${fmtCount(lanes)} row lanes, more than the ${MAX_SCALESIM_LANES} (2^28) ` +
        `qloom replays in a run; use CALC mode${trace ? ' without traces' : ''} or the native memory model`,
    });
  }
  return problems;
}

export function simulateScaleSim(spec: ArchSpec, views: readonly GemmView[], opts?: ScaleSimOptions): ScaleSimLayerResult[] {
  const { rows, cols, dataflow } = spec.array;
  const user = spec.memories.dram.mode === 'user';
  if (user) checkUserSpec(spec);
  const deep = engineHierarchyProblem(spec);
  const limits = [...(deep ? [deep] : []), ...scaleSimLimitProblems(spec, views, opts?.trace !== undefined)];
  if (limits.length > 0) throw new ConfigError(limits);
  const out: ScaleSimLayerResult[] = [];
  for (let i = 0; i < views.length; i++) {
    const view = views[i];
    const plan = planFolds(view, rows, cols, dataflow);
    const g = view.groups;
    const sram = sramCounts(view, plan);
    const folds = plan.rowFolds * plan.colFolds;
    let totalCycles: number;
    let stallCycles = 0;
    let dram = { ifmapReads: 0, filterReads: 0, ofmapWrites: 0 };
    let detail: ScaleSimDetail | null = null;
    opts?.trace?.layerStart(i, view.name);
    if (!user) {
      if (opts?.trace) runDemand(spec, view, plan, false, opts.trace);
      totalCycles = g * plan.foldCycles * folds - 1;
      const cg = view.conv;
      dram = {
        ifmapReads: cg ? cg.ifmapH * cg.ifmapW * cg.channels : g * view.M * view.K,
        filterReads: g * view.K * view.N,
        ofmapWrites: g * ofmapDemandWords(view, plan),
      };
    } else {
      const r = runDemand(spec, view, plan, true, opts?.trace);
      // groups run back to back: cycles add (+1 per extra group: each run reports its last index)
      totalCycles = g * (r.totalCycles + 1) - 1;
      stallCycles = g * r.stallCycles;
      dram = { ifmapReads: g * r.dram.ifmapReads, filterReads: g * r.dram.filterReads, ofmapWrites: g * r.dram.ofmapWrites };
      detail = r.detail;
    }
    const sramAll = { ifmapReads: g * sram.ifmapReads, filterReads: g * sram.filterReads, ofmapWrites: g * sram.ofmapWrites };
    out.push({
      name: view.name,
      totalCycles,
      computeCycles: totalCycles - stallCycles,
      stallCycles,
      overallUtilization: plan.macs / (totalCycles * rows * cols),
      mappingEfficiency: plan.mappingEfficiency,
      computeUtilization: plan.computeUtilization,
      macs: plan.macs,
      folds: folds * g,
      sram: sramAll,
      ofmapWords: g * ofmapDemandWords(view, plan),
      dram,
      avgSramBw: { ifmap: sramAll.ifmapReads / totalCycles, filter: sramAll.filterReads / totalCycles, ofmap: sramAll.ofmapWrites / totalCycles },
      detail,
    });
    opts?.trace?.layerEnd(i);
    opts?.onLayer?.(i + 1, views.length);
  }
  return out;
}

/** What SCALE-Sim's USER mode needs of a spec, all problems at once. */
function checkUserSpec(spec: ArchSpec): void {
  const problems: Problem[] = [];
  const m = spec.memories;
  if (m.layout !== 'split') {
    problems.push({ path: 'memories', message: "SCALE-Sim's memory model needs split ifmap / filter / ofmap buffers" });
  } else {
    for (const t of ['ifmap', 'filter', 'ofmap'] as const) {
      if (m[t]!.capacityBytes < 2) problems.push({ path: `memories.${t}.capacityBytes`, message: `${m[t]!.capacityBytes}: a double-buffered SRAM needs at least 2 words` });
    }
  }
  const bw = m.dram.bytesPerCycle;
  if (!Number.isInteger(bw) || bw < 1) {
    problems.push({ path: 'memories.dram.bytesPerCycle', message: `${bw}: SCALE-Sim's USER bandwidth is a whole number of 1-byte words per cycle` });
  }
  if (problems.length > 0) throw new ConfigError(problems, spec.source || spec.name);
}
