/**
 * SCALE-Sim-style SRAM access traces, streamed: `<dir>/layer<i>/{IFMAP,FILTER,OFMAP}_SRAM_TRACE.csv`,
 * one line per array cycle, `cycle,addr,addr,…` with −1 for an idle lane — the layout SCALE-Sim
 * writes (np.savetxt, integers, comma-separated), addresses offset by the arch's
 * `memories.dram.baseAddress` (SCALE-Sim's IfmapOffset / FilterOffset / OfmapOffset).
 *
 * Plug an instance into `simulateScaleSim(spec, views, { trace })` (sim/timing/scalesim-memory.ts).
 * Lines are formatted into a per-file string chunk and written with a synchronous write once the
 * chunk passes `chunkBytes`, so memory stays bounded however long the run (the simulation is
 * synchronous; an async stream would buffer without limit). Call `close()` when the run is done.
 * DRAM traces are not written.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ScaleSimTraceSink, TraceOperand } from '../sim/timing/scalesim-memory.js';

const FILES = ['IFMAP_SRAM_TRACE.csv', 'FILTER_SRAM_TRACE.csv', 'OFMAP_SRAM_TRACE.csv'] as const;

export interface ScaleSimTraceOptions {
  /** bytes buffered per file before a write (default 1 MiB) */
  chunkBytes?: number;
  /** layer indices to trace (default all) */
  layers?: readonly number[];
}

export class ScaleSimSramTraceWriter implements ScaleSimTraceSink {
  private readonly dir: string;
  private readonly chunkBytes: number;
  private readonly only: ReadonlySet<number> | null;
  private fds: number[] = [];
  private chunks: string[] = ['', '', ''];
  private active = false;
  /** lines written so far, per operand, over all layers */
  readonly lines: [number, number, number] = [0, 0, 0];

  constructor(dir: string, opts: ScaleSimTraceOptions = {}) {
    this.dir = dir;
    this.chunkBytes = opts.chunkBytes ?? 1 << 20;
    this.only = opts.layers ? new Set(opts.layers) : null;
  }

  layerStart(layer: number): void {
    this.closeLayer();
    if (this.only && !this.only.has(layer)) return;
    const d = join(this.dir, `layer${layer}`);
    mkdirSync(d, { recursive: true });
    this.fds = FILES.map((f) => openSync(join(d, f), 'w'));
    this.active = true;
  }

  sramRow(operand: TraceOperand, cycle: number, addrs: Int32Array, width: number): void {
    if (!this.active) return;
    let line = String(cycle);
    for (let c = 0; c < width; c++) line += `,${addrs[c]}`;
    const chunk = (this.chunks[operand] += `${line}\n`);
    this.lines[operand]++;
    if (chunk.length >= this.chunkBytes) {
      writeSync(this.fds[operand], chunk);
      this.chunks[operand] = '';
    }
  }

  layerEnd(): void {
    this.closeLayer();
  }

  /** flushes and closes the open files */
  close(): void {
    this.closeLayer();
  }

  private closeLayer(): void {
    if (!this.active) return;
    for (let i = 0; i < 3; i++) {
      if (this.chunks[i].length > 0) writeSync(this.fds[i], this.chunks[i]);
      this.chunks[i] = '';
      closeSync(this.fds[i]);
    }
    this.fds = [];
    this.active = false;
  }
}
