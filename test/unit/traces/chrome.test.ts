/**
 * The streaming Chrome trace writer: valid JSON with one trace event per engine event (+ layer
 * spans and metadata), µs timestamps from cycles, tracks never overlapping within a thread,
 * events inside their layer's span, atomic rename; a million events written with bounded memory.
 */
import { existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { EventChunk } from '../../../sim/events.js';
import { ChromeTraceWriter, writeChromeTrace } from '../../../traces/chrome.js';

interface Ev {
  kind: number;
  track: number;
  layer: number;
  tile: number;
  start: number;
  end: number;
  bytes: number;
}

/** Chunks of ≤ 4096 events in ONE reused set of buffers, as the engine hands them out. */
function* chunks(events: Iterable<Ev>, size = 4096): Generator<EventChunk> {
  const kind = new Uint8Array(size);
  const track = new Uint8Array(size);
  const layer = new Int32Array(size);
  const tile = new Int32Array(size);
  const startCycle = new Float64Array(size);
  const endCycle = new Float64Array(size);
  const bytes = new Float64Array(size);
  let n = 0;
  const chunk = (): EventChunk => ({ count: n, kind, track, layer, tile, startCycle, endCycle, bytes });
  for (const e of events) {
    kind[n] = e.kind;
    track[n] = e.track;
    layer[n] = e.layer;
    tile[n] = e.tile;
    startCycle[n] = e.start;
    endCycle[n] = e.end;
    bytes[n] = e.bytes;
    if (++n === size) {
      yield chunk();
      n = 0;
    }
  }
  if (n > 0) yield chunk();
}

/**
 * A small run: per layer a begin, DMA reads on two overlapping engines, folds back to back on the
 * array, a stall, requant batches, a DMA write, an end. 6 = LayerBegin, 7 = LayerEnd (sim/events.ts).
 */
function synthetic(layers: number, folds: number): Ev[] {
  const out: Ev[] = [];
  let t = 0;
  for (let l = 0; l < layers; l++) {
    const b = t;
    out.push({ kind: 6, track: 1, layer: l, tile: -1, start: b, end: b, bytes: 0 });
    for (let f = 0; f < folds; f++) {
      out.push({ kind: 0, track: 0, layer: l, tile: f, start: t, end: t + 30, bytes: 256 });
      out.push({ kind: 0, track: 0, layer: l, tile: f, start: t + 5, end: t + 25, bytes: 128 });
      if (f === 1) out.push({ kind: 5, track: 1, layer: l, tile: f, start: t + 10, end: t + 30, bytes: 0 });
      out.push({ kind: 2, track: 1, layer: l, tile: f, start: t + 30, end: t + 50, bytes: 0 });
      out.push({ kind: 3, track: 2, layer: l, tile: f, start: t + 50, end: t + 54, bytes: 0 });
      t += 50;
    }
    out.push({ kind: 1, track: 0, layer: l, tile: -1, start: t + 4, end: t + 40, bytes: 512 });
    t += 40;
    out.push({ kind: 7, track: 1, layer: l, tile: -1, start: t, end: t, bytes: 0 });
  }
  return out;
}

interface TraceEvent {
  ph: string;
  pid: number;
  tid: number;
  name: string;
  ts: number;
  dur: number;
  args: Record<string, number | string | boolean>;
}

const dir = mkdtempSync(join(tmpdir(), 'qloom-chrome-'));

describe('ChromeTraceWriter', () => {
  it('writes valid trace-event JSON: counts, µs timestamps, named threads, lanes that never overlap, events inside their layer span', () => {
    const file = join(dir, 'small.json');
    const evs = synthetic(3, 4);
    const w = new ChromeTraceWriter(file, { clockHz: 500e6, layerNames: ['conv1', 'conv2', 'fc'], flushBytes: 512 });
    for (const c of chunks(evs, 7)) w.chunk(c);
    expect(existsSync(file)).toBe(false); // temp name until finished
    const summary = w.finish();
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[]; otherData: Record<string, unknown> };
    expect(doc.otherData.clockHz).toBe(500e6);
    const x = doc.traceEvents.filter((e) => e.ph === 'X');
    const meta = doc.traceEvents.filter((e) => e.ph === 'M');
    // every non-layer event once, plus one span per layer
    const transactions = evs.filter((e) => e.kind !== 6 && e.kind !== 7).length;
    expect(x.length).toBe(transactions + 3);
    expect(summary.events).toBe(doc.traceEvents.length);
    // 500 MHz: 1 cycle = 0.002 µs; the first layer's first DMA read is cycles 0…30
    const first = x.find((e) => e.name === 'dma-read')!;
    expect(first.ts).toBe(0);
    expect(first.dur).toBeCloseTo(0.06, 12);
    expect(first.args.bytes).toBe(256);
    // the layer spans, named, covering begin…end
    const spans = x.filter((e) => e.args.layer !== undefined && (e as { cat?: string }).cat === 'layer');
    expect(spans.map((s) => s.name)).toEqual(['conv1', 'conv2', 'fc']);
    expect(spans[0].args.startCycle).toBe(0);
    expect(spans[0].args.endCycle).toBe(240);
    // thread names: process, layers, two DMA lanes (the transfers overlap), array (+ a lane for the overlapping stall), requant
    const names = new Map(meta.filter((m) => m.name === 'thread_name').map((m) => [m.tid, m.args.name]));
    expect([...names.values()]).toEqual(expect.arrayContaining(['layers', 'DMA', 'DMA 1', 'PE array', 'requant unit']));
    expect(meta.some((m) => m.name === 'process_name')).toBe(true);
    // per thread: start times monotone and no overlap
    const byTid = new Map<number, TraceEvent[]>();
    for (const e of x) byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
    for (const [tid, list] of byTid) {
      expect(names.has(tid)).toBe(true);
      for (let i = 1; i < list.length; i++) {
        expect(list[i].ts).toBeGreaterThanOrEqual(list[i - 1].ts);
        expect(list[i].ts).toBeGreaterThanOrEqual(list[i - 1].ts + list[i - 1].dur - 1e-9);
      }
    }
    // nesting: each transaction lies inside its layer's span
    for (const e of x) {
      if ((e as { cat?: string }).cat === 'layer') continue;
      const s = spans[e.args.layer as number];
      expect(e.ts).toBeGreaterThanOrEqual(s.ts - 1e-9);
      expect(e.ts + e.dur).toBeLessThanOrEqual(s.ts + s.dur + 1e-9);
    }
  });

  it('subscribes to an Observable of chunks; an error removes the partial file', async () => {
    const file = join(dir, 'obs.json');
    const s = await writeChromeTrace(new Observable<EventChunk>((sub) => {
      for (const c of chunks(synthetic(2, 3))) sub.next(c);
      sub.complete();
    }), file, { clockHz: 1e9 });
    expect(JSON.parse(readFileSync(file, 'utf8')).traceEvents.length).toBe(s.events);

    const bad = join(dir, 'bad.json');
    const subject = new Subject<EventChunk>();
    const p = writeChromeTrace(subject, bad, { clockHz: 1e9 });
    for (const c of chunks(synthetic(1, 2))) subject.next(c);
    subject.error(new Error('run failed'));
    await expect(p).rejects.toThrow('run failed');
    expect(existsSync(bad)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad.json'))).toEqual([]);
  });

  it('streams 1e6 events without holding them: heap stays bounded, the file holds every event', () => {
    const file = join(dir, 'big.json');
    const N = 1_000_000;
    function* many(): Generator<Ev> {
      yield { kind: 6, track: 1, layer: 0, tile: -1, start: 0, end: 0, bytes: 0 };
      for (let i = 0; i < N; i++) yield { kind: 2, track: 1, layer: 0, tile: i, start: i * 10, end: i * 10 + 8, bytes: 0 };
      yield { kind: 7, track: 1, layer: 0, tile: -1, start: N * 10, end: N * 10, bytes: 0 };
    }
    const w = new ChromeTraceWriter(file, { clockHz: 1e9 });
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let k = 0;
    for (const c of chunks(many())) {
      w.chunk(c);
      if (++k % 16 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    }
    const s = w.finish();
    // the whole trace is ~150 MB of text; the writer never holds more than a batch of it
    expect(s.bytes).toBeGreaterThan(100e6);
    expect(statSync(file).size).toBe(s.bytes);
    expect(peak).toBeLessThan(64 * 2 ** 20);
    // one event per line: count them without loading the file
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(1 << 20);
    let lines = 0;
    let last = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      for (let i = 0; i < n; i++) if (buf[i] === 10) lines++;
      last = buf.subarray(Math.max(0, n - 200), n).toString('utf8');
    }
    closeSync(fd);
    expect(lines).toBe(s.events + 2); // header, one line per event, the closing line
    expect(s.events).toBe(N + 1 + 5); // folds, the layer span, 5 metadata (process, 2 × layers thread, 2 × array thread)
    expect(last.trimEnd().endsWith('}')).toBe(true);
  }, 60_000);
});
