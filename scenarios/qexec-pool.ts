/**
 * A quantized network over many samples, in batches, on this thread or on worker threads across
 * samples — the whole-network evaluation path (`bench/qnet.ts`; sim/qexec.ts's QuantizedExecutor
 * per thread, its layers prepared once per thread).
 *
 * Same result for any number of workers, bit for bit (test/unit/scenarios/qexec-pool.test.ts):
 * the batches are the same [start, start + batch) ranges whatever runs them, each sample's
 * integers do not depend on which batch or thread it is in, and results are placed by sample
 * index; per-layer overflow events are sums and maxAbs a maximum, so their order does not matter.
 *
 * Memory is bounded by the batch: a worker receives a copy of its batch only (never the whole
 * image set), at most two batches are in flight per worker, and what comes back is the network's
 * first output (float32) per sample, written into one array of samples × outputs.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERROR_KINDS, errorOfKind, InvariantError, type ErrorKind } from '../errors/index.js';
import type { Tensor } from '../nets/graph.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { QuantizedExecutor, type QExecOptions } from '../sim/qexec.js';

export interface BatchRunOptions {
  /** the executor's options; `onLayer` is not supported (it cannot cross threads) */
  readonly exec: Omit<QExecOptions, 'onLayer'>;
  /** samples per executor run (default 100) */
  readonly batch?: number;
  /** worker threads (default 1: this thread, no worker); more than the samples' batches is pointless */
  readonly workers?: number;
  /** samples done, of the total */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface BatchRunResult {
  /** the network's first output as float32, samples back to back */
  readonly outputs: Float32Array;
  readonly samples: number;
  /** linear layer name → overflow events at the accumulator / in-array partial sums over every sample, and max |acc| */
  readonly overflow: Readonly<Record<string, { readonly events: number; readonly psumEvents: number; readonly maxAbs: number }>>;
}

/** CPUs the pool should use by default: all of them (2 on the reference machine) */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

type LayerTotals = Record<string, { events: number; psumEvents: number; maxAbs: number }>;

function addLayer(into: LayerTotals, name: string, events: number, psumEvents: number, maxAbs: number): void {
  const t = (into[name] ??= { events: 0, psumEvents: 0, maxAbs: 0 });
  t.events += events;
  t.psumEvents += psumEvents;
  if (maxAbs > t.maxAbs) t.maxAbs = maxAbs;
}

/**
 * A quantized network prepared for many runs over batches of samples: one executor on this
 * thread, or a pool of worker threads each holding its own executor — kept between run() calls
 * (a network's layers are prepared once, as an ONNX Runtime session is created once), until
 * close().
 */
export class QuantizedBatchRunner {
  private executor: QuantizedExecutor | null = null;
  private pool: Worker[] = [];
  private busy = false;
  private readonly batch: number;
  private readonly workers: number;

  constructor(
    private readonly net: QuantizedNetwork,
    private readonly sampleShape: readonly number[],
    private readonly opts: Omit<BatchRunOptions, 'onProgress'>,
  ) {
    if (net.inputs.length !== 1 || net.inputs[0].dtype !== 'float32') throw new InvariantError(`runQuantizedBatches runs single-input float32 networks; '${net.name}' has ${net.inputs.length} input(s)`);
    this.batch = opts.batch ?? 100;
    if (!Number.isInteger(this.batch) || this.batch < 1) throw new InvariantError(`batch must be a positive integer, got ${this.batch}`);
    this.workers = opts.workers ?? 1;
  }

  /** Runs the network on `count` samples of `images`, in batches. */
  async run(images: Float32Array, count: number, onProgress?: (done: number, total: number) => void): Promise<BatchRunResult> {
    if (this.busy) throw new InvariantError('QuantizedBatchRunner.run: a run is in progress');
    const { net, sampleShape, batch } = this;
    const per = sampleShape.reduce((a, b) => a * b, 1);
    if (images.length < count * per) throw new InvariantError(`${count} samples of [${sampleShape.join(',')}] need ${count * per} values, got ${images.length}`);
    const starts: number[] = [];
    for (let s = 0; s < count; s += batch) starts.push(s);
    const layers: LayerTotals = {};
    let outputs: Float32Array | null = null;
    let done = 0;
    const place = (start: number, n: number, out: Float32Array): void => {
      outputs ??= new Float32Array((out.length / n) * count);
      outputs.set(out, (start * out.length) / n);
      done += n;
      onProgress?.(done, count);
    };
    this.busy = true;
    try {
      if (Math.min(this.workers, starts.length) <= 1) {
        const ex = (this.executor ??= new QuantizedExecutor(net, this.opts.exec));
        const name = net.outputs[0].name;
        for (const start of starts) {
          const n = Math.min(batch, count - start);
          const r = ex.run({ [net.inputs[0].name]: { dtype: 'float32', shape: [n, ...sampleShape], data: images.subarray(start * per, (start + n) * per) } as Tensor });
          for (const [lname, rep] of Object.entries(r.overflow)) addLayer(layers, lname, rep.events, rep.psumEvents, rep.maxAbs);
          const d = r.outputs[name].data;
          place(start, n, d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>));
          // let the event loop run between batches (progress bars, Ctrl-C)
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } else {
        await this.onWorkers(images, count, starts, (start, n, out, ls) => {
          for (const [lname, ev, ps, m] of ls) addLayer(layers, lname, ev, ps, m);
          place(start, n, out);
        });
      }
    } finally {
      this.busy = false;
    }
    // layers in execution order, whatever order the batches finished in
    const order = net.layers.filter((l) => l.kind === 'conv' || l.kind === 'gemm').map((l) => l.name);
    const overflow: LayerTotals = {};
    for (const name of order) if (layers[name]) overflow[name] = layers[name];
    return { outputs: outputs ?? new Float32Array(0), samples: count, overflow };
  }

  /** Ends the worker threads (the runner can run again: they start anew). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = [];
    this.executor = null;
    await Promise.all(pool.map((w) => w.terminate()));
  }

  private startPool(): Worker[] {
    if (this.pool.length > 0) return this.pool;
    const self = fileURLToPath(import.meta.url);
    const typeScript = self.endsWith('.ts');
    const executorUrl = new URL(`../sim/qexec.${typeScript ? 'ts' : 'js'}`, import.meta.url).href;
    for (let i = 0; i < this.workers; i++) this.pool.push(new Worker(new URL('./qexec-worker.mjs', import.meta.url), { workerData: { executorUrl, typeScript, net: this.net, opts: this.opts.exec } }));
    return this.pool;
  }

  private async onWorkers(images: Float32Array, count: number, starts: number[], onDone: Done): Promise<void> {
    const { batch, sampleShape } = this;
    const per = sampleShape.reduce((a, b) => a * b, 1);
    const pool = this.startPool().slice(0, Math.min(this.workers, starts.length));
    let next = 0;
    let failed: Error | null = null;
    const cleanups: (() => void)[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        let inFlight = 0;
        const send = (w: Worker): void => {
          if (failed || next >= starts.length) {
            if (inFlight === 0) (failed ? reject(failed) : resolve());
            return;
          }
          const id = next++;
          const start = starts[id];
          const n = Math.min(batch, count - start);
          // a copy of this batch only: posting a view would clone its whole buffer
          const data = images.slice(start * per, (start + n) * per);
          inFlight++;
          w.postMessage({ id, data, shape: [n, ...sampleShape] }, [data.buffer]);
        };
        for (const w of pool) {
          const onMessage = (m: { id: number; ok: boolean; out?: Float32Array; layers?: [string, number, number, number][]; error?: { name: string; kind: string | null; message: string } }): void => {
            inFlight--;
            if (!m.ok) {
              const e = m.error!;
              failed ??= e.kind !== null && (ERROR_KINDS as readonly string[]).includes(e.kind) ? errorOfKind(e.kind as ErrorKind, e.message) : Object.assign(new Error(e.message), { name: e.name });
            } else if (!failed) {
              const start = starts[m.id];
              onDone(start, Math.min(batch, count - start), m.out!, m.layers!);
            }
            send(w);
          };
          const onError = (e: Error): void => {
            failed ??= e;
            reject(e);
          };
          w.on('message', onMessage);
          w.on('error', onError);
          cleanups.push(() => {
            w.off('message', onMessage);
            w.off('error', onError);
          });
        }
        // two batches queued per worker (it never waits for the main thread between them), dealt
        // one round at a time so that every worker gets work when there are few batches
        for (let round = 0; round < 2; round++) for (const w of pool) send(w);
      });
    } catch (e) {
      // a failed worker's state is unknown: the next run starts a fresh pool
      await this.close();
      throw e;
    } finally {
      for (const c of cleanups) c();
    }
  }
}

/**
 * Runs `net` (single input, float32) on `count` samples of `sampleShape` in `images`, in batches.
 * With `workers` > 1, batches go to worker threads, each with its own copy of the network.
 */
export async function runQuantizedBatches(net: QuantizedNetwork, images: Float32Array, sampleShape: readonly number[], count: number, opts: BatchRunOptions): Promise<BatchRunResult> {
  const runner = new QuantizedBatchRunner(net, sampleShape, opts);
  try {
    return await runner.run(images, count, opts.onProgress);
  } finally {
    await runner.close();
  }
}

type Done = (start: number, n: number, out: Float32Array, layers: [string, number, number, number][]) => void;
