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
    if (this.nWords === this.words.length) this.words = doubled(this.words);
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
    if (this.nLines === this.lineFill.length) this.lineFill = doubled(this.lineFill);
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

/** a copy of `a` in an array twice as long */
function doubled(a: Int32Array) {
  const next = new Int32Array(a.length * 2);
  next.set(a);
  return next;
}
