/**
 * SCALE-Sim-style access traces, streamed, one folder per layer:
 * - `<dir>/layer<i>/{IFMAP,FILTER,OFMAP}_SRAM_TRACE.csv`: one line per array cycle,
 *   `cycle,addr,addr,…` with −1 for an idle lane;
 * - `<dir>/layer<i>/{IFMAP,FILTER,OFMAP}_DRAM_TRACE.csv` (`ScaleSimTraceWriter` only): one line per
 *   DRAM request row — ifmap/filter prefetch lines at the cycle they land, ofmap drain lines at the
 *   cycle they are written — `cycle,addr,…` with `bandwidth` lanes, −1 for padded/dropped lanes.
 *   Only SCALE-Sim's USER bandwidth mode makes DRAM requests; in CALC mode the DRAM files are
 *   created empty.
 * The layout is SCALE-Sim's (np.savetxt, comma-separated), with integers where SCALE-Sim's DRAM
 * traces print numpy floats (`3.0`); addresses are offset by the arch's `memories.dram.baseAddress`
 * (SCALE-Sim's IfmapOffset / FilterOffset / OfmapOffset).
 *
 * Plug an instance into `simulateScaleSim(spec, views, { trace })` (sim/timing/scalesim-memory.ts);
 * the folder must exist (the `layer<i>` folders in it are made here).
 * Lines are formatted into a per-file string chunk and written with a synchronous write once the
 * chunk passes `chunkBytes`, so memory stays bounded however long the run (the simulation is
 * synchronous; an async stream would buffer without limit). Call `close()` when the run is done.
 */
import { closeSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ScaleSimTraceSink, TraceOperand } from '../sim/timing/scalesim-memory.js';

const SRAM_FILES = ['IFMAP_SRAM_TRACE.csv', 'FILTER_SRAM_TRACE.csv', 'OFMAP_SRAM_TRACE.csv'] as const;
const DRAM_FILES = ['IFMAP_DRAM_TRACE.csv', 'FILTER_DRAM_TRACE.csv', 'OFMAP_DRAM_TRACE.csv'] as const;

export interface ScaleSimTraceOptions {
  /** bytes buffered per file before a write (default 1 MiB) */
  chunkBytes?: number;
  /** layer indices to trace (default all) */
  layers?: readonly number[];
  /** write the DRAM traces too (default true for ScaleSimTraceWriter) */
  dram?: boolean;
}

/** SRAM and DRAM traces; file slots 0–2 are the SRAM files, 3–5 the DRAM files. */
export class ScaleSimTraceWriter implements ScaleSimTraceSink {
  private readonly dir: string;
  private readonly chunkBytes: number;
  private readonly only: ReadonlySet<number> | null;
  private readonly files: readonly string[];
  private fds: number[] = [];
  private chunks: string[];
  private active = false;
  /** SRAM lines written so far, per operand, over all layers */
  readonly lines: [number, number, number] = [0, 0, 0];
  /** DRAM lines written so far, per operand, over all layers */
  readonly dramLines: [number, number, number] = [0, 0, 0];

  constructor(dir: string, opts: ScaleSimTraceOptions = {}) {
    this.dir = dir;
    this.chunkBytes = opts.chunkBytes ?? 1 << 20;
    this.only = opts.layers ? new Set(opts.layers) : null;
    this.files = opts.dram === false ? SRAM_FILES : [...SRAM_FILES, ...DRAM_FILES];
    this.chunks = this.files.map(() => '');
  }

  layerStart(layer: number): void {
    this.closeLayer();
    if (this.only && !this.only.has(layer)) return;
    const d = join(this.dir, `layer${layer}`);
    // the trace folder (its parent must exist: the CLI makes missing levels with scenarios/files.ts
    // ensureDir) and one level under it: plain mkdirs, never a recursive one (Node 20's loops
    // forever where the file system refuses, /proc)
    mkdirOne(this.dir);
    mkdirOne(d);
    this.fds = this.files.map((f) => openSync(join(d, f), 'w'));
    this.active = true;
  }

  sramRow(operand: TraceOperand, cycle: number, addrs: Int32Array, width: number): void {
    if (!this.active) return;
    this.lines[operand]++;
    this.append(operand, cycle, addrs, width);
  }

  dramRow(operand: TraceOperand, cycle: number, addrs: Int32Array, width: number): void {
    if (!this.active || this.files.length < 6) return;
    this.dramLines[operand]++;
    this.append(3 + operand, cycle, addrs, width);
  }

  layerEnd(): void {
    this.closeLayer();
  }

  /** flushes and closes the open files */
  close(): void {
    this.closeLayer();
  }

  private append(slot: number, cycle: number, addrs: Int32Array, width: number): void {
    let line = String(cycle);
    for (let c = 0; c < width; c++) line += `,${addrs[c]}`;
    const chunk = (this.chunks[slot] += `${line}\n`);
    if (chunk.length >= this.chunkBytes) {
      writeSync(this.fds[slot], chunk);
      this.chunks[slot] = '';
    }
  }

  private closeLayer(): void {
    if (!this.active) return;
    for (let i = 0; i < this.fds.length; i++) {
      if (this.chunks[i].length > 0) writeSync(this.fds[i], this.chunks[i]);
      this.chunks[i] = '';
      closeSync(this.fds[i]);
    }
    this.fds = [];
    this.active = false;
  }
}

/** SRAM traces only (`{IFMAP,FILTER,OFMAP}_SRAM_TRACE.csv`). */
export class ScaleSimSramTraceWriter extends ScaleSimTraceWriter {
  constructor(dir: string, opts: Omit<ScaleSimTraceOptions, 'dram'> = {}) {
    super(dir, { ...opts, dram: false });
  }
}

/** mkdir of one level; an existing folder is fine, an existing file is not. */
function mkdirOne(d: string): void {
  try {
    mkdirSync(d);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw e;
  }
}
