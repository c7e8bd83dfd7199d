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
 * The demand matrices are generated one row (one cycle) at a time into preallocated typed arrays;
 * hit tests are a binary search over each address's sorted line list. Work is O(demand elements),
 * memory O(prefetch stream); no per-element allocation. Both are real sizes, so USER mode and
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
 */
import { ConfigError, type Problem } from '../../arch/errors.js';
import type { ArchSpec } from '../../arch/spec.js';
import { planFolds, spatioTemporal, type FoldPlan, type TimingDataflow } from './compute.js';
import { viewOutDims, type GemmView } from './gemm-view.js';
import { MAX_SCALESIM_LANES, MAX_SCALESIM_WORDS, fmtCount } from './limits.js';

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
  /** words moved to/from DRAM; in CALC mode the operand sizes (SCALE-Sim's estimate mode is not reproduced) */
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
  const limits = scaleSimLimitProblems(spec, views, opts?.trace !== undefined);
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
        ofmapWrites: g * view.M * view.N,
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

// ---------------------------------------------------------------------------------------------
// Operand addresses (SCALE-Sim's operand_matrix.py), local to each operand (offsets added by traces)

/**
 * The ifmap operand matrix M×K of one group as local addresses (−1 = a window position past the
 * edge). SCALE-Sim's layout: address = (row·W + col)·C + channel; window index = (ky·FW + kx)·C + c.
 * A plain GEMM (SCALE-Sim's 1×K filter over an M×K ifmap) gives m·K + k.
 */
export function ifmapAddressMatrix(view: GemmView): Int32Array {
  const { M, K } = view;
  const a = new Int32Array(M * K);
  const g = view.conv;
  if (!g) {
    for (let i = 0; i < M * K; i++) a[i] = i;
    return a;
  }
  const { outW } = viewOutDims(view);
  const cg = g.channels / g.group;
  const C = g.channels;
  for (let m = 0; m < M; m++) {
    const oy = Math.floor(m / outW);
    const ox = m - oy * outW;
    const iy0 = oy * g.strideH - g.padTop;
    const ix0 = ox * g.strideW - g.padLeft;
    const rowBase = m * K;
    let j = 0;
    for (let ky = 0; ky < g.filterH; ky++) {
      const iy = iy0 + ky * g.dilationH;
      for (let kx = 0; kx < g.filterW; kx++) {
        const ix = ix0 + kx * g.dilationW;
        const inside = iy >= 0 && iy < g.ifmapH && ix >= 0 && ix < g.ifmapW;
        const base = (iy * g.ifmapW + ix) * C;
        for (let c = 0; c < cg; c++) a[rowBase + j++] = inside ? base + c : -1;
      }
    }
  }
  return a;
}

/** filter operand (k, n) → local address n·K + k (SCALE-Sim: filter-major, window-minor). */
function filterAddr(K: number, k: number, n: number): number {
  return n * K + k;
}

// ---------------------------------------------------------------------------------------------
// Read buffer (read_buffer.py): active window over the lines of the operand's prefetch stream

/** An operand's prefetch stream: the fetch matrix flattened, −1 = null request. */
interface Stream {
  readonly words: Int32Array;
}

/** Anti-diagonal roll of a rows×cols matrix (SCALE-Sim's fix for issues #15/#16). */
function rolled(rowsP: number, colsP: number, at: (r: number, c: number) => number): Int32Array {
  const outW = new Int32Array(rowsP * colsP);
  let idx = 0;
  for (let d = 0; d < rowsP + colsP - 1; d++) {
    const maxRow = Math.min(d, rowsP - 1);
    const minRow = Math.max(0, d - colsP + 1);
    for (let r = maxRow; r >= minRow; r--) outW[idx++] = at(r, d - r);
  }
  return outW;
}

function plain(rowsP: number, colsP: number, at: (r: number, c: number) => number): Int32Array {
  const outW = new Int32Array(rowsP * colsP);
  let idx = 0;
  for (let r = 0; r < rowsP; r++) for (let c = 0; c < colsP; c++) outW[idx++] = at(r, c);
  return outW;
}

/** The ifmap and filter prefetch streams of systolic_compute_<df>.create_*_prefetch_mat. */
function prefetchStreams(view: GemmView, df: TimingDataflow, R: number, C: number, ifm: Int32Array): { ifmap: Stream; filter: Stream } {
  const { M, K, N } = view;
  const rf = (s: number, a: number) => Math.ceil(s / a);
  if (df === 'os') {
    const T = K;
    const ifmap = rolled(rf(M, R) * T, R, (r, c) => {
      const fr = Math.floor(r / T);
      const m = fr * R + c;
      return m < M ? ifm[m * K + (r - fr * T)] : -1;
    });
    const filter = rolled(rf(N, C) * T, C, (r, c) => {
      const fc = Math.floor(r / T);
      const n = fc * C + c;
      return n < N ? filterAddr(K, r - fc * T, n) : -1;
    });
    return { ifmap: { words: ifmap }, filter: { words: filter } };
  }
  if (df === 'ws') {
    const ifmap = rolled(rf(K, R) * M, R, (r, c) => {
      const fr = Math.floor(r / M);
      const k = fr * R + c;
      return k < K ? ifm[(r - fr * M) * K + k] : -1;
    });
    const filter = plain(rf(N, C) * K, C, (r, c) => {
      const fc = Math.floor(r / K);
      const n = fc * C + c;
      return n < N ? filterAddr(K, r - fc * K, n) : -1;
    });
    return { ifmap: { words: ifmap }, filter: { words: filter } };
  }
  const ifmap = plain(rf(M, C) * K, C, (r, c) => {
    const fc = Math.floor(r / K);
    const m = fc * C + c;
    return m < M ? ifm[m * K + (r - fc * K)] : -1;
  });
  const filter = rolled(rf(K, R) * N, R, (r, c) => {
    const fr = Math.floor(r / N);
    const k = fr * R + c;
    return k < K ? filterAddr(K, k, r - fr * N) : -1;
  });
  return { ifmap: { words: ifmap }, filter: { words: filter } };
}

class ReadBuffer {
  /** per local address: its sorted distinct line ids, CSR */
  private readonly start: Int32Array;
  private readonly lines: Int32Array;
  readonly numLines: number;
  private readonly activeLines: number;
  private readonly prefetchLines: number;
  private readonly fetchLines: number;
  private readonly bw: number;
  private readonly activeSize: number;
  private readonly prefetchSize: number;
  private winStart = 0;
  private winEnd = 0;
  private ready = false;
  /** cycle the last prefetch lands (last_prefetch_cycle) */
  lastPrefetch = 0;
  dramReads = 0;
  dramStart = 0;
  dramStop = 0;
  /** DRAM trace: SCALE-Sim's fetch_matrix (the stream as rows of `bw` words; mutated as it mutates it) */
  private readonly fetch: Int32Array;
  private readonly fetchRows: number;
  private readonly sink: ScaleSimTraceSink | null;
  private readonly operand: TraceOperand;
  private readonly addrBase: number;
  private readonly rowBuf: Int32Array;
  /** next_line_prefetch_idx / next_col_prefetch_idx */
  private nextLine = 0;
  private nextCol = 0;

  constructor(stream: Stream, addrSpace: number, capacityWords: number, bw: number, trace?: { sink: ScaleSimTraceSink; operand: TraceOperand; base: number }) {
    const words = stream.words;
    this.bw = bw;
    this.fetch = words;
    this.fetchRows = Math.ceil(words.length / bw);
    this.sink = trace?.sink.dramRow ? trace.sink : null;
    this.operand = trace?.operand ?? 0;
    this.addrBase = trace?.base ?? 0;
    this.rowBuf = new Int32Array(this.sink ? bw : 0);
    // the hit-test granularity is 1 % of the SRAM, independent of the DRAM bandwidth
    const perLine = Math.ceil(capacityWords / 100);
    this.activeSize = Math.ceil(capacityWords * 0.5);
    this.prefetchSize = capacityWords - this.activeSize;
    this.fetchLines = Math.ceil(words.length / bw);
    // hashed_buffer: every `bw` valid words make a line; the last (possibly empty) line counts too
    const count = new Int32Array(addrSpace + 1);
    const last = new Int32Array(addrSpace).fill(-1);
    let valid = 0;
    for (let i = 0; i < words.length; i++) {
      const a = words[i];
      if (a < 0) continue;
      const line = Math.floor(valid / perLine);
      valid++;
      if (last[a] !== line) {
        last[a] = line;
        count[a + 1]++;
      }
    }
    this.numLines = Math.floor(valid / perLine) + 1;
    for (let a = 0; a < addrSpace; a++) count[a + 1] += count[a];
    this.start = count;
    this.lines = new Int32Array(count[addrSpace]);
    const fill = count.slice(0, addrSpace);
    last.fill(-1);
    valid = 0;
    for (let i = 0; i < words.length; i++) {
      const a = words[i];
      if (a < 0) continue;
      const line = Math.floor(valid / perLine);
      valid++;
      if (last[a] !== line) {
        last[a] = line;
        this.lines[fill[a]++] = line;
      }
    }
    const maxActive = Math.ceil(this.activeSize / perLine);
    const maxPrefetch = Math.ceil(this.prefetchSize / perLine);
    this.activeLines = Math.min(this.numLines, maxActive);
    this.prefetchLines = Math.min(this.numLines - this.activeLines, maxPrefetch);
  }

  private hit(a: number): boolean {
    const lo = this.start[a];
    const hi = this.start[a + 1];
    if (lo === hi) return true; // not in the stream at all (cannot happen for a consistent demand)
    const s = this.winStart;
    const e = this.winEnd;
    const L = this.lines;
    if (s < e) {
      // first line id ≥ s, then check it is < e
      let l = lo;
      let h = hi;
      while (l < h) {
        const mid = (l + h) >>> 1;
        if (L[mid] < s) l = mid + 1;
        else h = mid;
      }
      return l < hi && L[l] < e;
    }
    return L[hi - 1] >= s || L[lo] < e;
  }

  /** prefetch_active_buffer: fill the active half before the first request (cycle `startCycle`) */
  private prime(startCycle: number): void {
    const n = Math.min(Math.ceil(this.activeSize / this.bw), this.fetchLines);
    const over = n * this.bw > this.activeSize;
    // SCALE-Sim drops the words past the active half from the last line, in place (a numpy view)
    this.nextCol = over ? this.activeSize % this.bw : 0;
    if (this.sink) {
      if (over) this.chomp(n - 1, this.nextCol, this.bw);
      for (let i = 0; i < n; i++) this.emitRow(i, startCycle - n + i, 0, this.bw);
    }
    this.nextLine = over ? n % this.fetchRows : (n + 1) % this.fetchRows;
    this.dramReads += n * this.bw;
    this.dramStart = startCycle - n;
    this.lastPrefetch = startCycle - 1;
    this.dramStop = this.lastPrefetch;
    this.winStart = 0;
    this.winEnd = this.activeLines;
    this.ready = true;
  }

  /** new_prefetch: the window moves by the prefetch half; the next prefetch follows the last one */
  private advance(): void {
    const n = this.numLines;
    this.winStart = (this.winStart + this.prefetchLines) % n;
    this.winEnd = (this.winStart + this.activeLines) % n;
    const lines = Math.ceil(this.prefetchSize / this.bw);
    if (this.sink) this.traceAdvance(lines);
    this.dramReads += lines * this.bw;
    this.lastPrefetch += lines + 1;
    this.dramStop = this.lastPrefetch;
  }

  /** fetch-matrix word (row, col); past the stream's end = −1 (SCALE-Sim pads the last row) */
  private word(row: number, col: number): number {
    const i = row * this.bw + col;
    return i < this.fetch.length ? this.fetch[i] : -1;
  }

  private chomp(row: number, from: number, to: number): void {
    const end = Math.min((row + 1) * this.bw, this.fetch.length);
    for (let i = row * this.bw + from; i < Math.min(row * this.bw + to, end); i++) this.fetch[i] = -1;
  }

  /** hands fetch row `row` to the sink with lanes [lo, hi) of it kept and the rest −1 */
  private emitRow(row: number, cycle: number, lo: number, hi: number): void {
    const b = this.rowBuf;
    const base = this.addrBase;
    for (let c = 0; c < this.bw; c++) {
      const a = c >= lo && c < hi ? this.word(row, c) : -1;
      b[c] = a < 0 ? -1 : a + base;
    }
    this.sink!.dramRow!(this.operand, cycle, b, this.bw);
  }

  /**
   * new_prefetch's request: `lines` fetch rows from next_line_prefetch_idx, wrapping (a copy then,
   * so its chomps do not stick), the first row's leading next_col_prefetch_idx lanes and, when the
   * request exceeds the active half, the last row's lanes past active % bw dropped; landing at
   * last_prefetch_cycle + 2 + i (request one after the last landing, DRAM latency 1).
   */
  private traceAdvance(lines: number): void {
    const rowsAll = this.fetchRows;
    const start = this.nextLine;
    const end = start + lines;
    const wrap = end > rowsAll;
    // rows from `start` to the end, then from 0 (never past `start`: "the entire array is engulfed")
    const tail = wrap ? Math.max(0, rowsAll - start) : lines;
    const count = wrap ? tail + Math.min(end - rowsAll, start) : lines;
    const over = lines * this.bw > this.activeSize;
    const lastHi = over ? this.activeSize % this.bw : this.bw;
    for (let i = 0; i < count; i++) {
      const row = i < tail ? start + i : i - tail;
      const lo = i === 0 ? this.nextCol : 0;
      const hi = i === count - 1 ? lastHi : this.bw;
      if (!wrap) {
        if (lo > 0) this.chomp(row, 0, lo);
        if (hi < this.bw) this.chomp(row, hi, this.bw);
      }
      this.emitRow(row, this.lastPrefetch + 2 + i, lo, hi);
    }
    // SCALE-Sim (the commit whose hashed buffer this reproduces) takes this modulo the row width
    this.nextLine = over ? lines % rowsAll : (lines + 1) % this.bw;
  }

  /** service one demand row at `cycle`; returns the serviced cycle − cycle (≥ hit latency 1 unless early prefetches pull it in) */
  service(row: Int32Array, width: number, cycle: number): number {
    if (!this.ready) this.prime(cycle);
    let offset = 1;
    for (let c = 0; c < width; c++) {
      const a = row[c];
      if (a < 0) continue;
      // with no prefetch half the active window already holds every line: all hits
      while (this.prefetchLines > 0 && !this.hit(a)) {
        this.advance();
        const p = this.lastPrefetch - (cycle + offset);
        // a prefetch that landed early pulls the row in (p < 0), as in SCALE-Sim
        offset += p;
      }
    }
    return offset;
  }
}

// ---------------------------------------------------------------------------------------------
// Write buffer (write_buffer.py)

class WriteBuffer {
  private readonly total: number;
  private readonly drainSize: number;
  private readonly bw: number;
  private free: number;
  private lineIdx = 0;
  /** valid words of each line handed to the trace so far */
  private lineFill = new Int32Array(1024);
  private nLines = 0;
  private drainStartLine = 0;
  private drainEnd = 0;
  dramWrites = 0;
  dramStart = Infinity;
  dramStop = -Infinity;
  /** DRAM trace: the written addresses in write order (lines are consecutive runs of it) */
  private readonly sink: ScaleSimTraceSink | null;
  private readonly addrBase: number;
  private readonly rowBuf: Int32Array;
  private words: Int32Array;
  private nWords = 0;
  /** word offset of line drainStartLine */
  private drainWord = 0;

  constructor(capacityWords: number, bw: number, trace?: { sink: ScaleSimTraceSink; base: number }) {
    this.total = capacityWords;
    this.drainSize = capacityWords - Math.ceil(capacityWords * 0.5);
    this.bw = bw;
    this.free = capacityWords;
    this.sink = trace?.sink.dramRow ? trace.sink : null;
    this.addrBase = trace?.base ?? 0;
    this.rowBuf = new Int32Array(this.sink ? bw : 0);
    this.words = new Int32Array(this.sink ? 1024 : 0);
  }

  private pushWord(a: number): void {
    if (this.nWords === this.words.length) {
      const next = new Int32Array(this.words.length * 2);
      next.set(this.words);
      this.words = next;
    }
    this.words[this.nWords++] = a;
  }

  /** the drained lines as trace rows: line fill words, then −1 padding; written at start + i */
  private traceDrain(startCycle: number, end: number): void {
    const b = this.rowBuf;
    let w = this.drainWord;
    for (let l = this.drainStartLine, i = 0; l < end; l++, i++) {
      const fill = this.lineFill[l];
      for (let c = 0; c < this.bw; c++) b[c] = c < fill ? this.words[w + c] : -1;
      w += fill;
      this.sink!.dramRow!(2, startCycle + i, b, this.bw);
    }
    this.drainWord = w;
  }

  private pushLine(fill: number): void {
    if (this.nLines === this.lineFill.length) {
      const next = new Int32Array(this.lineFill.length * 2);
      next.set(this.lineFill);
      this.lineFill = next;
    }
    this.lineFill[this.nLines++] = fill;
  }

  private flush(): void {
    if (this.lineIdx > 0) {
      this.pushLine(this.lineIdx);
      this.lineIdx = 0;
    }
  }

  private drain(startCycle: number): number {
    const want = Math.ceil(this.drainSize / this.bw);
    const end = Math.min(this.drainStartLine + want, this.nLines);
    const n = end - this.drainStartLine;
    if (n <= 0) return startCycle;
    if (this.sink) this.traceDrain(startCycle, end);
    const data = n * this.bw - (this.bw - this.lineFill[end - 1]);
    this.dramWrites += data;
    this.free += data;
    this.drainStartLine = end;
    if (startCycle < this.dramStart) this.dramStart = startCycle;
    const stop = startCycle + n - 1;
    if (stop > this.dramStop) this.dramStop = stop;
    return stop;
  }

  /** service one row of ofmap writes (local addresses, −1 = none) at `cycle`; returns the serviced cycle */
  service(row: Int32Array, width: number, cycle: number): number {
    let current = cycle;
    const threshold = this.total - this.drainSize;
    for (let c = 0; c < width; c++) {
      const a = row[c];
      if (a < 0) continue;
      if (this.sink) this.pushWord(a + this.addrBase);
      this.lineIdx++;
      this.free--;
      if (this.lineIdx === this.bw) {
        this.pushLine(this.bw);
        this.lineIdx = 0;
      }
      if (current < this.drainEnd) {
        if (this.free <= 0) current = this.drainEnd;
      } else if (this.free < threshold) {
        this.flush();
        this.drainEnd = this.drain(current);
      }
    }
    return current;
  }

  /** empty_all_buffers: drain what is left, back to back from `cycle` */
  finish(cycle: number): void {
    this.flush();
    let c = cycle;
    while (this.drainStartLine < this.nLines) {
      this.drainEnd = this.drain(c);
      c = this.drainEnd + 1;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One layer (one group) in USER mode

interface UserLayer {
  totalCycles: number;
  stallCycles: number;
  dram: { ifmapReads: number; filterReads: number; ofmapWrites: number };
  detail: ScaleSimDetail;
}

/**
 * Generates SCALE-Sim's demand matrices row by row (one row = one array cycle); with `user`, runs
 * them through the scratchpads; with a trace sink, hands every row to it.
 */
function runDemand(spec: ArchSpec, view: GemmView, plan: FoldPlan, user: boolean, trace?: ScaleSimTraceSink): UserLayer {
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
