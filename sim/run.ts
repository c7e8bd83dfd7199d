/**
 * A simulation as an rxjs Observable (DESIGN.md "Events, streams and traces"): the engine's plain
 * sinks adapted at the edge. A subscription runs the engine (synchronously, inside subscribe) and
 * emits
 *   { type: 'progress', done, total }   after each layer,
 *   { type: 'events', chunk }           event chunks (copied: the engine reuses its buffers),
 *   { type: 'result', result }          the RunResult (+ outputs and overflow reports when a
 *                                       QuantizedNetwork and feeds were given), then completes.
 * Unsubscribing (e.g. `take`, or from inside a `next`) sets the engine's `cancelled` hook: it stops
 * between layers / every few thousand events, and nothing more is emitted.
 *
 * With `net` and `feeds`, the functional sink (sim/functional.ts) runs the integer kernels as the
 * tile events fire; `feeds` may hold a batch of N inputs while the engine times one inference
 * (timing does not depend on the data): the result's counts are per inference, its outputs
 * and overflow reports cover the whole batch.
 */
import { Observable } from 'rxjs';
import type { ArchSpec } from '../arch/spec.js';
import { InvariantError } from '../nets/errors.js';
import type { Tensor } from '../nets/graph.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { simulate } from './engine/index.js';
import type { Workload } from './engine/workload.js';
import type { EngineSinks, EventChunk, EventSink } from './events.js';
import { createFunctionalSink, feedsBatch, type FunctionalRunSink } from './functional.js';
import type { OverflowReport } from './kernels/accumulator.js';
import type { LayerAccumulator } from './qexec.js';
import type { RequantConfig } from '../qnet/requant.js';
import { NO_OVERFLOWS, withOverflows, type OverflowsBy, type RunResult } from './result.js';
import { withSkipFractions, withZeroGating, type LayerZeros } from './zero-gating.js';
import { withDramCompression, type TensorCompression } from './dram-compression.js';

export interface RunOptions {
  /** the network the workload came from (workloadFromQuantizedNetwork), for functional execution */
  readonly net?: QuantizedNetwork;
  /** its inputs (a batch: any multiple of the workload's batch) */
  readonly feeds?: Record<string, Tensor>;
  /** default { mode: 'float' } */
  readonly requant?: RequantConfig;
  /** the seed of whatever produced the inputs; reported in the result */
  readonly seed: number;
  /** emit event chunks (default false: the engine then skips building them) */
  readonly events?: boolean;
  /** batch the workload was built for (default 1) */
  readonly engineBatch?: number;
  /** count zero operands per linear layer (always on when the arch gates zero operands) */
  readonly zeros?: boolean;
  /**
   * false: report what the data decides (SimulationResult.zeroCounts, .compressedSizes) but leave
   * the layers as the engine priced them — for callers that sum several runs before pricing
   * (evaluateOnArch). Default true: zero gating and DRAM compression priced on this run's data.
   */
  readonly priceFromData?: boolean;
}

export interface SimulationResult extends RunResult {
  /** functional runs: the network's outputs for every input of the batch */
  readonly outputs?: Record<string, Tensor>;
  /** functional runs: linear layer name → overflow report (batch) */
  readonly overflow?: Record<string, OverflowReport>;
  readonly accumulators?: Record<string, LayerAccumulator>;
  readonly requant?: RequantConfig;
  /** functional runs with zero counting: tiled linear layer name → its counts over the batch */
  readonly zeroCounts?: Record<string, LayerZeros>;
  /** functional runs on an arch that compresses activations: tensor name → raw / compressed bits over the batch */
  readonly compressedSizes?: Record<string, TensorCompression>;
}

export type RunUpdate =
  | { readonly type: 'progress'; readonly done: number; readonly total: number }
  | { readonly type: 'events'; readonly chunk: EventChunk }
  | { readonly type: 'result'; readonly result: SimulationResult };

/** A chunk the subscriber may keep: its own arrays, exactly `count` long. */
export function copyChunk(c: EventChunk): EventChunk {
  const n = c.count;
  return {
    count: n,
    kind: c.kind.slice(0, n),
    track: c.track.slice(0, n),
    layer: c.layer.slice(0, n),
    tile: c.tile.slice(0, n),
    startCycle: c.startCycle.slice(0, n),
    endCycle: c.endCycle.slice(0, n),
    bytes: c.bytes.slice(0, n),
  };
}

/** A layer's overflow report by accumulator: the in-array partial sums (psumBits) and the accumulator (bits). */
export function overflowsOf(r: OverflowReport): OverflowsBy {
  return { array: r.psumEvents, accumulator: r.events };
}

export function runSimulation(spec: ArchSpec, workload: Workload, opts: RunOptions): Observable<RunUpdate> {
  return new Observable<RunUpdate>((subscriber) => {
    const requant = opts.requant ?? { mode: 'float' };
    let functional: FunctionalRunSink | undefined;
    if (opts.net || opts.feeds) {
      if (!opts.net || !opts.feeds) throw new InvariantError('a functional run needs both `net` and `feeds`');
      // follow-on workload layers (no qlayerIndex) carry no network layer of their own
      const follows = workload.layers.some((l) => l.qlayerIndex === undefined) && workload.layers.some((l) => l.qlayerIndex !== undefined);
      functional = createFunctionalSink(opts.net, spec, opts.feeds, {
        requant,
        engineBatch: opts.engineBatch,
        zeros: opts.zeros === true || spec.pe.zeroGating !== undefined || spec.pe.zeroSkipping !== undefined,
        ...(spec.memories.dram.activationCompression && { compression: spec.memories.dram.activationCompression }),
        ...(follows && { layerIndex: workload.layers.map((l) => l.qlayerIndex) }),
      });
    }
    const events: EventSink | undefined = opts.events
      ? { chunk: (c) => (subscriber.closed ? undefined : subscriber.next({ type: 'events', chunk: copyChunk(c) })) }
      : undefined;
    const sinks: EngineSinks = {
      events,
      functional,
      progress: (done, total) => {
        if (!subscriber.closed) subscriber.next({ type: 'progress', done, total });
      },
      cancelled: () => subscriber.closed,
    };
    const timing = simulate(spec, workload, sinks);
    if (subscriber.closed || timing.cancelled) {
      subscriber.complete();
      return;
    }
    let result: SimulationResult = { ...timing, seed: opts.seed };
    if (functional && opts.net) {
      const f = functional.result();
      // a zero-skipping array's timing depends on the data: timed again with what it skips
      if (spec.pe.zeroSkipping && f.zeros) result = { ...simulate(spec, withSkipFractions(workload, f.zeros)), seed: opts.seed };
      const byName = new Map(Object.entries(f.overflow).map(([name, r]) => [name, overflowsOf(r)]));
      const samples = feedsBatch(opts.net, opts.feeds!);
      result = { ...withOverflows(result, result.layers.map((l) => byName.get(l.name) ?? NO_OVERFLOWS), samples), seed: opts.seed, outputs: f.outputs, overflow: f.overflow, accumulators: f.accumulators, requant };
      const price = opts.priceFromData !== false;
      if (f.zeros) result = { ...(price ? withZeroGating(result, spec, f.zeros) : result), zeroCounts: f.zeros };
      if (f.compressed) result = { ...(price ? withDramCompression(result, spec, workload, opts.net, f.compressed) : result), compressedSizes: f.compressed };
    }
    subscriber.next({ type: 'result', result });
    subscriber.complete();
  });
}
