/**
 * SCALE-Sim's write buffer (scalesim/memory/write_buffer.py with write_port): the ofmap SRAM that
 * drains its drain half to DRAM at the bandwidth once more than the active half is filled, stalls
 * a write only when full while a drain is in flight, and hands its drain lines to a trace sink.
 * Its own file: the USER-mode scratchpad for writes (scalesim-memory.ts describes the model).
 */
import type { ScaleSimTraceSink } from './scalesim-memory.js';

export class WriteBuffer {
  private readonly total: number;
  private readonly drainSize: number;
  private readonly bw: number;
  private free: number;
  private lineIdx = 0;
  /** lines closed so far; all full (`bw` words) but those a drain closed early, kept in order here */
  private nLines = 0;
  private partLine = new Float64Array(64);
  private partFill = new Float64Array(64);
  private nPart = 0;
  /** first partial line not yet behind the drain (lines are looked up in increasing order) */
  private partHead = 0;
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
    if (this.nWords === this.words.length) this.words = doubled(this.words);
    this.words[this.nWords++] = a;
  }

  /** the drained lines as trace rows: line fill words, then −1 padding; written at start + i */
  private traceDrain(startCycle: number, end: number): void {
    const b = this.rowBuf;
    let w = this.drainWord;
    for (let l = this.drainStartLine, i = 0; l < end; l++, i++) {
      const fill = this.fillOf(l);
      for (let c = 0; c < this.bw; c++) b[c] = c < fill ? this.words[w + c] : -1;
      w += fill;
      this.sink!.dramRow!(2, startCycle + i, b, this.bw);
    }
    this.drainWord = w;
  }

  private pushLine(fill: number): void {
    if (fill < this.bw) {
      if (this.nPart === this.partLine.length) {
        this.partLine = doubled(this.partLine);
        this.partFill = doubled(this.partFill);
      }
      this.partLine[this.nPart] = this.nLines;
      this.partFill[this.nPart++] = fill;
    }
    this.nLines++;
  }

  /** valid words of line l (asked in non-decreasing order of l) */
  private fillOf(l: number): number {
    while (this.partHead < this.nPart && this.partLine[this.partHead] < l) this.partHead++;
    return this.partHead < this.nPart && this.partLine[this.partHead] === l ? this.partFill[this.partHead] : this.bw;
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
    const data = n * this.bw - (this.bw - this.fillOf(end - 1));
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
      current = this.settle(current, threshold);
    }
    return current;
  }

  /** after a write: full while a drain is in flight, it waits for the drain; past the threshold a drain starts */
  private settle(current: number, threshold: number): number {
    if (current < this.drainEnd) {
      if (this.free <= 0) return this.drainEnd;
    } else if (this.free < threshold) {
      this.flush();
      this.drainEnd = this.drain(current);
    }
    return current;
  }

  /**
   * `service` for a row of `n` writes when nothing is traced (only their number matters): the
   * writes between two events (the buffer fills up during a drain; a drain starts) go in one step.
   */
  serviceCount(n: number, cycle: number): number {
    let current = cycle;
    const threshold = this.total - this.drainSize;
    while (n > 0) {
      // writes up to and including the one that triggers the next event, or all n
      let j: number;
      if (current < this.drainEnd) j = this.free - n > 0 ? n : Math.max(1, this.free);
      else j = this.free - n >= threshold ? n : Math.max(1, this.free - threshold + 1);
      this.free -= j;
      n -= j;
      const li = this.lineIdx + j;
      const full = Math.floor(li / this.bw);
      this.nLines += full;
      this.lineIdx = li - full * this.bw;
      current = this.settle(current, threshold);
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

/** a copy of `a` in an array twice as long */
function doubled<A extends Int32Array | Float64Array>(a: A): A {
  const next = new (a.constructor as new (n: number) => A)(a.length * 2);
  next.set(a);
  return next;
}
