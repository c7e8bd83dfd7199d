/**
 * SCALE-Sim's read buffer (scalesim/memory/read_buffer.py with read_port): an ifmap or filter
 * SRAM's active window over the lines of its operand's prefetch stream, the hit test, the
 * prefetches a miss issues and, with a trace sink, SCALE-Sim's DRAM request rows with its quirks.
 * Its own file: the USER-mode scratchpad for reads, independent of the write side and of how the
 * demand is generated (scalesim-memory.ts describes the model).
 */
import type { ScaleSimTraceSink, TraceOperand } from './scalesim-memory.js';
import type { Stream } from './scalesim-operands.js';

export class ReadBuffer {
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
    const last = new Int32Array(addrSpace);
    const valid = addressLines(words, perLine, last, (a) => {
      count[a + 1]++;
    });
    this.numLines = Math.floor(valid / perLine) + 1;
    for (let a = 0; a < addrSpace; a++) count[a + 1] += count[a];
    this.start = count;
    const lines = new Int32Array(count[addrSpace]);
    this.lines = lines;
    const fill = count.slice(0, addrSpace);
    addressLines(words, perLine, last, (a, line) => {
      lines[fill[a]++] = line;
    });
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

/**
 * hashed_buffer's lines: every `perLine` valid words of the stream make a line; calls `visit` once
 * for each (address, line) the address appears in, lines in increasing order. `last` (one entry an
 * address) is scratch. Returns the number of valid words.
 */
function addressLines(words: Int32Array, perLine: number, last: Int32Array, visit: (a: number, line: number) => void): number {
  last.fill(-1);
  let valid = 0;
  for (let i = 0; i < words.length; i++) {
    const a = words[i];
    if (a < 0) continue;
    const line = Math.floor(valid / perLine);
    valid++;
    if (last[a] !== line) {
      last[a] = line;
      visit(a, line);
    }
  }
  return valid;
}
