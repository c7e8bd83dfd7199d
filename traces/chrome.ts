/**
 * Chrome trace-event JSON (the format ui.perfetto.dev and chrome://tracing open), written as a
 * stream from the engine's event chunks (DESIGN.md "Events, streams and traces").
 *
 * Layout: one process (the accelerator); threads = tracks. Each hardware track (DMA, PE array,
 * requant unit) is split into lanes so that events on one thread never overlap (two DMA engines
 * transfer at once; Perfetto nests same-thread slices and would mis-draw overlapping ones). Every
 * transaction is a complete event (`ph: "X"`, ts/dur in µs from cycles at the arch clock, the
 * cycles themselves in `args`); layers are spans on their own "layers" thread, from the layer's
 * LayerBegin to its LayerEnd event. Metadata events name the process and the threads.
 *
 * Bounded memory: formatted events collect in a string of at most `flushBytes` and are written
 * with a synchronous write to a temporary file (the engine runs synchronously, so an async stream
 * would only queue everything in memory); `finish()` closes the JSON and renames the file into
 * place, `abort()` removes it. Nothing of the trace is retained beyond the current batch.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Observable } from 'rxjs';
import { InvariantError } from '../nets/errors.js';
import type { EventChunk, EventKind, EventSink, StallCause, Track } from '../sim/events.js';

// numeric event codes (sim/events.ts const enums; typed against them so a renumbering fails to compile)
const DMA_READ: EventKind.DmaRead = 0;
const DMA_WRITE: EventKind.DmaWrite = 1;
const FOLD: EventKind.Fold = 2;
const REQUANT: EventKind.Requant = 3;
const SPILL: EventKind.Spill = 4;
const STALL: EventKind.Stall = 5;
const LAYER_BEGIN: EventKind.LayerBegin = 6;
const LAYER_END: EventKind.LayerEnd = 7;
const TRACK_DMA: Track.Dma = 0;
const TRACK_ARRAY: Track.Array = 1;
const TRACK_REQUANT: Track.Requant = 2;
const STALL_OPERAND: StallCause.OperandLate = 0;
const STALL_BUFFER: StallCause.BufferFull = 1;
const STALL_REQUANT: StallCause.RequantBusy = 2;

const KIND_NAMES = ['dma-read', 'dma-write', 'fold', 'requant', 'spill', 'stall', 'layer-begin', 'layer-end'];
const TRACK_LABELS = ['DMA', 'PE array', 'requant unit'];
const STALL_NAMES: Record<number, string> = { [STALL_OPERAND]: 'operand late', [STALL_BUFFER]: 'buffer full', [STALL_REQUANT]: 'requant busy' };

/** thread ids: 1 = layers, then 100·(track+1) + lane */
const TID_LAYERS = 1;
/** lanes per track before events share the least busy lane (and may overlap on it) */
const MAX_LANES = 64;

export interface ChromeTraceOptions {
  /** cycles → µs */
  readonly clockHz: number;
  /** span names per layer index (default `layer <i>`) */
  readonly layerNames?: readonly string[];
  /** the process name shown in the UI */
  readonly processName?: string;
  /** size of a write batch (default 1 MiB of JSON text) */
  readonly flushBytes?: number;
  /** added to the file's `otherData` (seed, config hash, …) */
  readonly metadata?: Readonly<Record<string, string | number | boolean>>;
}

export interface ChromeTraceSummary {
  readonly path: string;
  /** trace events written, metadata events included */
  readonly events: number;
  readonly bytes: number;
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** An EventSink that streams a Chrome trace to `path` (via `<path>.<pid>.tmp`). */
export class ChromeTraceWriter implements EventSink {
  private readonly tmp: string;
  private fd: number;
  private buf = '';
  private first = true;
  private written = 0;
  private events = 0;
  private readonly usPerCycle: number;
  private readonly flushBytes: number;
  /** per track: the end cycle of each lane's last event */
  private readonly laneEnd: number[][] = [[], [], []];
  /** layer → begin cycle of its open span */
  private readonly open = new Map<number, number>();
  private done = false;

  constructor(
    readonly path: string,
    private readonly opts: ChromeTraceOptions,
  ) {
    if (!(opts.clockHz > 0)) throw new InvariantError(`clockHz must be positive, got ${opts.clockHz}`);
    this.usPerCycle = 1e6 / opts.clockHz;
    this.flushBytes = opts.flushBytes ?? 1 << 20;
    this.tmp = `${path}.${process.pid}.tmp`;
    this.fd = openSync(this.tmp, 'w');
    this.raw('{"traceEvents":[\n');
    this.emit(`{"ph":"M","pid":1,"tid":0,"name":"process_name","args":{"name":${JSON.stringify(opts.processName ?? 'qloom accelerator')}}}`);
    this.emit(`{"ph":"M","pid":1,"tid":${TID_LAYERS},"name":"thread_name","args":{"name":"layers"}}`);
    this.emit(`{"ph":"M","pid":1,"tid":${TID_LAYERS},"name":"thread_sort_index","args":{"sort_index":0}}`);
  }

  /** the temp file the trace is streamed to until `finish()` renames it (`abort()` removes it) */
  get tempPath(): string {
    return this.tmp;
  }

  /** events written so far */
  get count(): number {
    return this.events;
  }

  chunk(c: EventChunk): void {
    if (this.done) throw new InvariantError('chunk() after the trace was finished');
    const us = this.usPerCycle;
    for (let i = 0; i < c.count; i++) {
      const kind = c.kind[i];
      const layer = c.layer[i];
      const start = c.startCycle[i];
      const end = c.endCycle[i];
      if (kind === LAYER_BEGIN) {
        this.open.set(layer, start);
        continue;
      }
      if (kind === LAYER_END) {
        const b = this.open.get(layer) ?? start;
        this.open.delete(layer);
        const stop = end > start ? end : start;
        this.emit(
          `{"ph":"X","pid":1,"tid":${TID_LAYERS},"name":${JSON.stringify(this.layerName(layer))},"cat":"layer","ts":${b * us},"dur":${(stop - b) * us},"args":{"layer":${layer},"startCycle":${b},"endCycle":${stop}}}`,
        );
        continue;
      }
      const track = c.track[i];
      const tid = this.lane(track, start, end);
      const tile = c.tile[i];
      const bytes = c.bytes[i];
      let name: string;
      let extra: string;
      if (kind === STALL) {
        name = `stall: ${STALL_NAMES[bytes] ?? `cause ${bytes}`}`;
        extra = `,"cause":${JSON.stringify(STALL_NAMES[bytes] ?? String(bytes))}`;
      } else {
        name = kind === FOLD ? `fold ${tile}` : kind === REQUANT ? `requant ${tile}` : (KIND_NAMES[kind] ?? `kind ${kind}`);
        extra = kind === DMA_READ || kind === DMA_WRITE || kind === SPILL ? `,"bytes":${bytes}` : '';
      }
      this.emit(
        `{"ph":"X","pid":1,"tid":${tid},"name":"${name}","cat":"${KIND_NAMES[kind] ?? 'event'}","ts":${start * us},"dur":${(end - start) * us},"args":{"layer":${layer},"tile":${tile},"startCycle":${start},"endCycle":${end}${extra}}}`,
      );
    }
  }

  /** Closes the JSON, writes the rest and renames the file into place. */
  finish(): ChromeTraceSummary {
    if (this.done) throw new InvariantError('the trace was already finished');
    // layers still open (a cancelled run) end where they are: zero-length spans
    for (const [layer, b] of this.open) {
      this.emit(`{"ph":"X","pid":1,"tid":${TID_LAYERS},"name":${JSON.stringify(this.layerName(layer))},"cat":"layer","ts":${b * this.usPerCycle},"dur":0,"args":{"layer":${layer},"startCycle":${b},"unfinished":true}}`);
    }
    this.open.clear();
    const other = { clockHz: this.opts.clockHz, ...this.opts.metadata };
    this.raw(`\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(other)}}\n`);
    this.flush();
    closeSync(this.fd);
    this.done = true;
    try {
      renameSync(this.tmp, this.path);
    } catch (e) {
      removeQuietly(this.tmp);
      throw e;
    }
    return { path: this.path, events: this.events, bytes: this.written };
  }

  /** Drops the partial trace (a failed run leaves nothing half-written). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } finally {
      removeQuietly(this.tmp);
    }
  }

  private layerName(layer: number): string {
    return this.opts.layerNames?.[layer] ?? `layer ${layer}`;
  }

  /** The first lane of `track` free at `start` (a new one if none is, up to MAX_LANES). */
  private lane(track: number, start: number, end: number): number {
    const ends = this.laneEnd[track] ?? (this.laneEnd[track] = []);
    let pick = -1;
    for (let l = 0; l < ends.length; l++) {
      if (ends[l] <= start) {
        pick = l;
        break;
      }
    }
    if (pick < 0 && ends.length < MAX_LANES) {
      pick = ends.length;
      ends.push(0);
      const tid = 100 * (track + 1) + pick;
      const label = TRACK_LABELS[track] ?? `track ${track}`;
      this.emit(`{"ph":"M","pid":1,"tid":${tid},"name":"thread_name","args":{"name":${JSON.stringify(pick === 0 ? label : `${label} ${pick}`)}}}`);
      this.emit(`{"ph":"M","pid":1,"tid":${tid},"name":"thread_sort_index","args":{"sort_index":${tid}}}`);
    }
    if (pick < 0) {
      pick = 0;
      for (let l = 1; l < ends.length; l++) if (ends[l] < ends[pick]) pick = l;
    }
    if (end > ends[pick]) ends[pick] = end;
    return 100 * (track + 1) + pick;
  }

  private emit(json: string): void {
    if (this.first) this.first = false;
    else this.buf += ',\n';
    this.buf += json;
    this.events++;
    if (this.buf.length >= this.flushBytes) this.flush();
  }

  private raw(text: string): void {
    this.buf += text;
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    const bytes = Buffer.from(this.buf, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.written += bytes.length;
    this.buf = '';
  }
}

/**
 * Subscribes a Chrome trace writer to a stream of event chunks: resolves with the summary when
 * the stream completes; when it errors, removes the partial file and rejects.
 */
export function writeChromeTrace(chunks: Observable<EventChunk>, path: string, opts: ChromeTraceOptions): Promise<ChromeTraceSummary> {
  return new Promise((resolve, reject) => {
    const w = new ChromeTraceWriter(path, opts);
    let failed = false;
    chunks.subscribe({
      next: (c) => {
        if (failed) return;
        try {
          w.chunk(c);
        } catch (e) {
          failed = true;
          w.abort();
          reject(e);
        }
      },
      error: (e: unknown) => {
        w.abort();
        reject(e);
      },
      complete: () => {
        if (failed) return;
        try {
          resolve(w.finish());
        } catch (e) {
          w.abort();
          reject(e);
        }
      },
    });
  });
}

/** Track numbers for writers of synthetic streams (tests, benches). */
export const TRACKS = Object.freeze({ dma: TRACK_DMA, array: TRACK_ARRAY, requant: TRACK_REQUANT });
