/**
 * Batches engine events into preallocated struct-of-arrays chunks for an EventSink: one chunk
 * object and its arrays for the whole run, handed out when full (≤ EVENT_CHUNK_SIZE events) and
 * reused after the sink returns. With no sink, `on` is false and the engine skips emitting.
 */
import { EVENT_CHUNK_SIZE, type EventChunk, type EventSink } from '../events.js';

export class EventBuffer implements EventChunk {
  readonly on: boolean;
  count = 0;
  readonly kind = new Uint8Array(EVENT_CHUNK_SIZE);
  readonly track = new Uint8Array(EVENT_CHUNK_SIZE);
  readonly layer = new Int32Array(EVENT_CHUNK_SIZE);
  readonly tile = new Int32Array(EVENT_CHUNK_SIZE);
  readonly startCycle = new Float64Array(EVENT_CHUNK_SIZE);
  readonly endCycle = new Float64Array(EVENT_CHUNK_SIZE);
  readonly bytes = new Float64Array(EVENT_CHUNK_SIZE);

  constructor(private readonly sink: EventSink | undefined) {
    this.on = sink !== undefined;
  }

  push(kind: number, track: number, layer: number, tile: number, startCycle: number, endCycle: number, bytes: number): void {
    const i = this.count;
    this.kind[i] = kind;
    this.track[i] = track;
    this.layer[i] = layer;
    this.tile[i] = tile;
    this.startCycle[i] = startCycle;
    this.endCycle[i] = endCycle;
    this.bytes[i] = bytes;
    this.count = i + 1;
    if (this.count === EVENT_CHUNK_SIZE) this.flush();
  }

  flush(): void {
    if (this.count > 0 && this.sink) this.sink.chunk(this);
    this.count = 0;
  }
}
