/**
 * What the engine tells the outside world while it runs (DESIGN.md "Events, streams and traces"):
 * plain sink interfaces, called synchronously from the engine. No rxjs here — the Observable
 * wrapper lives at the edges and adapts these.
 *
 * Events are transactions and tiles (a DMA transfer, a fold's compute, a requant batch, a
 * partial-sum spill, a stall), never single MACs. They reach an `EventSink` in typed-array
 * chunks of at most EVENT_CHUNK_SIZE events; the chunk's arrays are REUSED after `chunk()`
 * returns, so a sink that keeps data must copy it.
 */

/** numeric event kinds (hot path: no strings) */
export const enum EventKind {
  DmaRead = 0,
  DmaWrite = 1,
  Fold = 2,
  Requant = 3,
  Spill = 4,
  Stall = 5,
  LayerBegin = 6,
  LayerEnd = 7,
}

/** the hardware unit an event occupies (a trace track) */
export const enum Track {
  Dma = 0,
  Array = 1,
  Requant = 2,
}

export const EVENT_KIND_NAMES: readonly string[] = Object.freeze(['dma-read', 'dma-write', 'fold', 'requant', 'spill', 'stall', 'layer-begin', 'layer-end']);
export const TRACK_NAMES: readonly string[] = Object.freeze(['dma', 'array', 'requant']);

/** most events in one chunk */
export const EVENT_CHUNK_SIZE = 4096;

/**
 * A batch of events, struct-of-arrays; entries `0 … count−1` are valid. `tile` is the sub-tile
 * index within the layer (−1 for layer-level events); `bytes` is what a DMA / spill moved (0
 * otherwise). For a Stall event, `tile` is the tile that waited and `bytes` holds the cause
 * (StallCause). Cycles are absolute, from the start of the run.
 */
export interface EventChunk {
  readonly count: number;
  readonly kind: Uint8Array;
  readonly track: Uint8Array;
  readonly layer: Int32Array;
  readonly tile: Int32Array;
  readonly startCycle: Float64Array;
  readonly endCycle: Float64Array;
  readonly bytes: Float64Array;
}

export interface EventSink {
  /** chunks of ≤ 4096 events; the buffers are reused after the call returns */
  chunk(c: EventChunk): void;
}

/** why the array waited (stored in a Stall event's `bytes`) */
export const enum StallCause {
  OperandLate = 0,
  BufferFull = 1,
  RequantBusy = 2,
}

/**
 * Called when a fold's compute event fires, in dataflow order: the tile covers output rows
 * `m0 … m1−1` (GEMM M), output channels `n0 … n1−1` (N, within group `group`) and the K slice
 * `k0 … k1−1` (the `kFold`-th of `kFolds` K tiles, in arrival order). Ranges are HALF-OPEN.
 * WS / IS: K tiles of `array.rows` products in im2col 'kkc' order (sim/kernels/accumulator.ts
 * AccumulationOrder), added in increasing kFold; OS: one K tile (kFolds = 1).
 * A fold is reported once (when its first sub-tile's compute starts), even when the engine
 * streams it in several sub-tiles.
 */
export interface TileEvent {
  readonly layer: number;
  readonly group: number;
  readonly m0: number;
  readonly m1: number;
  readonly n0: number;
  readonly n1: number;
  readonly k0: number;
  readonly k1: number;
  readonly kFold: number;
  readonly kFolds: number;
  readonly cycle: number;
}

export interface FunctionalSink {
  beginLayer(layer: number): void;
  /** a fold's tile: a fresh object the sink may keep, unless it `borrowsTiles` */
  tile(t: TileEvent): void;
  endLayer(layer: number): void;
  /**
   * true when the sink reads a tile only during its `tile` call: the engine then passes one
   * object, refilled for every fold (no allocation per fold)
   */
  readonly borrowsTiles?: boolean;
}

export interface EngineSinks {
  readonly events?: EventSink;
  readonly functional?: FunctionalSink;
  /** layers done of total, called after each layer */
  readonly progress?: (done: number, total: number) => void;
  /** polled before each layer; true stops the run: the result holds the layers done and `cancelled: true` */
  readonly cancelled?: () => boolean;
}
