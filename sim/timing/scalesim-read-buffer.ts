/**
 * SCALE-Sim's read buffer (scalesim/memory/read_buffer.py with read_port): an ifmap or filter
 * SRAM's active window over the lines of its operand's prefetch stream, the hit test, the
 * prefetches a miss issues and, with a trace sink, SCALE-Sim's DRAM request rows with its quirks.
 * Its own file: the USER-mode scratchpad for reads, independent of the write side and of how the
 * demand is generated (scalesim-memory.ts describes the model).
 *
 * A demand row is a run of stream positions (scalesim-operands.ts `demandRange`), so most rows are
 * tested whole: every address of the run has its own occurrence there, in the lines of the run's
 * first to last valid word; when those lines lie in the active window, every lane hits and nothing
 * changes — O(1) for the row. Only a row reaching past the window is tested lane by lane: a lane
 * hits when its own line is in the window, else when another occurrence of its address is
 * (scalesim-stream-index.ts answers both, without holding the stream where it can).
 */
import type { ScaleSimTraceSink, TraceOperand } from './scalesim-memory.js';
import { demandRange, type DemandMap } from './scalesim-operands.js';
import type { DemandRow, OperandIndex } from './scalesim-stream-index.js';

export class ReadBuffer {
  private readonly index: OperandIndex;
  private readonly perLine: number;
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
  /** DRAM trace: SCALE-Sim's fetch_matrix (the stream as rows of `bw` words; a copy, mutated as it mutates it) */
  private readonly fetch: Int32Array;
  private readonly fetchRows: number;
  private readonly sink: ScaleSimTraceSink | null;
  private readonly operand: TraceOperand;
  private readonly addrBase: number;
  private readonly rowBuf: Int32Array;
  /** next_line_prefetch_idx / next_col_prefetch_idx */
  private nextLine = 0;
  private nextCol = 0;
  private readonly scratch = new Float64Array(1);

  /** `index`: a StoredIndex when tracing DRAM requests (the fetch matrix is its words) */
  constructor(index: OperandIndex, capacityWords: number, bw: number, trace?: { sink: ScaleSimTraceSink; operand: TraceOperand; base: number }) {
    this.index = index;
    const length = index.layout.length;
    this.bw = bw;
    this.sink = trace?.sink.dramRow ? trace.sink : null;
    this.fetch = this.sink ? index.words!.slice() : new Int32Array(0);
    this.fetchRows = Math.ceil(length / bw);
    this.operand = trace?.operand ?? 0;
    this.addrBase = trace?.base ?? 0;
    this.rowBuf = new Int32Array(this.sink ? bw : 0);
    // the hit-test granularity is 1 % of the SRAM, independent of the DRAM bandwidth
    const perLine = Math.ceil(capacityWords / 100);
    this.perLine = perLine;
    this.activeSize = Math.ceil(capacityWords * 0.5);
    this.prefetchSize = capacityWords - this.activeSize;
    this.fetchLines = Math.ceil(length / bw);
    // hashed_buffer: every `perLine` valid words make a line; the last (possibly empty) line counts too
    this.numLines = Math.floor(index.validTotal / perLine) + 1;
    const maxActive = Math.ceil(this.activeSize / perLine);
    const maxPrefetch = Math.ceil(this.prefetchSize / perLine);
    this.activeLines = Math.min(this.numLines, maxActive);
    this.prefetchLines = Math.min(this.numLines - this.activeLines, maxPrefetch);
  }

  private inWindow(l: number): boolean {
    const s = this.winStart;
    const e = this.winEnd;
    return s < e ? l >= s && l < e : l >= s || l < e;
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

  /** prefetches the active half before the first request (at `cycle`), once */
  start(cycle: number): void {
    if (!this.ready) this.prime(cycle);
  }

  /** valid lanes of a demand row */
  private validLanes(row: DemandRow): number {
    return row[2] === 0 ? 0 : this.index.rowValid(row);
  }

  /**
   * The rows of fold (fr, fc) with a valid lane, `span` ← [first, last] ([−1, −2]: none), and
   * whether all their lines lie in the active window now (then every row of the fold hits and
   * changes nothing). A fold's rows are consecutive runs of the stream, in order (rolled) or in
   * reverse (plain), so its words lie between its first and last row's. `row` is scratch.
   */
  foldCovered(map: DemandMap, fr: number, fc: number, rows: number, span: Float64Array, row: DemandRow): boolean {
    let a = 0;
    let b = rows - 1;
    for (; a < rows; a++) {
      demandRange(map, fr, fc, a, row);
      if (this.validLanes(row) > 0) break;
    }
    if (a === rows) {
      // no row: outside [0, rows) so that no row is taken for the first or last
      span[0] = -1;
      span[1] = -2;
      return true;
    }
    const x = this.index;
    const vA = x.rowStart(row);
    const nA = x.rowValid(row);
    for (; b > a; b--) {
      demandRange(map, fr, fc, b, row);
      if (this.validLanes(row) > 0) break;
    }
    span[0] = a;
    span[1] = b;
    if (this.prefetchLines === 0) return true;
    const vB = b === a ? vA : x.rowStart(row);
    const nB = b === a ? nA : x.rowValid(row);
    const lo = Math.min(vA, vB);
    const hi = Math.max(vA + nA, vB + nB) - 1;
    const l0 = Math.floor(lo / this.perLine);
    const l1 = Math.floor(hi / this.perLine);
    const s = this.winStart;
    const e = this.winEnd;
    return s < e ? l0 >= s && l1 < e : l0 >= s || l1 < e;
  }

  /**
   * Services a demand row (`demandRange`'s description; its other lanes request nothing) at
   * `cycle`; returns the serviced cycle − cycle (≥ hit latency 1 unless early prefetches pull it in).
   */
  service(row: DemandRow, cycle: number): number {
    if (!this.ready) this.prime(cycle);
    // no lane, or no prefetch half (the active window already holds every line): all hits
    if (row[2] === 0 || this.prefetchLines === 0) return 1;
    const x = this.index;
    const nValid = x.rowValid(row);
    if (nValid === 0) return 1;
    const v0 = x.rowStart(row);
    const perLine = this.perLine;
    const l0 = Math.floor(v0 / perLine);
    const l1 = Math.floor((v0 + nValid - 1) / perLine);
    const s = this.winStart;
    const e = this.winEnd;
    if (s < e ? l0 >= s && l1 < e : l0 >= s || l1 < e) return 1;
    // lane by lane: a lane hits when its own line is in the window, else when another one of its
    // address is; a lane that misses advances the window until it hits
    let offset = 1;
    let j = 0;
    let v = v0;
    const out = this.scratch;
    for (;;) {
      j = x.firstMiss(row, j, v, perLine, this.winStart, this.winEnd, out);
      if (j >= row[2]) break;
      v = out[0];
      const own = Math.floor(v / perLine);
      do {
        this.advance();
        const q = this.lastPrefetch - (cycle + offset);
        // a prefetch that landed early pulls the row in (q < 0), as in SCALE-Sim
        offset += q;
      } while (!this.inWindow(own) && !x.lineIn(row, j, perLine, this.winStart, this.winEnd));
      j++;
      v++;
    }
    return offset;
  }
}
