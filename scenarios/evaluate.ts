/**
 * "Evaluate a model on an arch": the library calls `qloom run --model` makes and the `qloom`
 * scenario runner makes, so both give the same numbers by construction (one code path):
 *
 *  - `calibrationSet` / `evaluationSet` (datasets.ts): the calibration images and the images
 *    accuracy is measured on; `quantizeModel` (quantize.ts): zoo model + PtqConfig → PtqResult;
 *  - `evaluateOnArch`: the engine times ONE inference, once, and every sample runs through the
 *    integer executor in the order that run's tiles follow — the arch's accumulator width,
 *    overflow policy, PE form and dataflow order (sim/functional.ts timingOrder) — in batches, its
 *    layers prepared once (sim/qexec.ts QuantizedExecutor). Cycles / energy / bits are per
 *    inference, overflows and predictions cover every sample.
 *
 * What depends on the data and what does not: the engine's counts (cycles, stalls, bits and
 * bytes moved, actions, energy) are functions of the workload (layer shapes, bit widths) and
 * the arch alone — the functional sink only listens to tile events and cannot change them — so
 * one timing run serves every sample. Outputs, predictions, maxAbs and the overflow counts
 * (events per layer / channel, first event) depend on the data; they come from the executor,
 * whose results equal the tile-by-tile functional sink's bit for bit (the timing-functional
 * contract, test/golden/timing-functional.test.ts). `tiles: true` runs the old way — every
 * batch through its own timing run's tile events — and test/unit/scenarios/evaluate-reuse.test.ts
 * holds the two to the same result, bit for bit.
 *
 * The requant unit is the arch's (sim/requant-unit.ts): `fixed` with M0 at `requant.multiplierBits`
 * unless `float` is asked for, and a network needing per-channel requant is refused on an arch
 * whose unit is per-tensor only.
 */
import type { ArchSpec } from '../arch/spec.js';
import { InvariantError } from '../nets/errors.js';
import type { Tensor } from '../nets/graph.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { workloadFromQuantizedNetwork, type Workload } from '../sim/engine/index.js';
import type { EventChunk } from '../sim/events.js';
import { timingAccumulator, timingOrder } from '../sim/functional.js';
import { QuantizedExecutor, type LayerAccumulator } from '../sim/qexec.js';
import type { RequantMode } from '../qnet/requant.js';
import { archRequant, checkRequantSupport } from '../sim/requant-unit.js';
import { addOverflows, NO_OVERFLOWS, withOverflows, type OverflowsBy, type RunResult } from '../sim/result.js';
import { overflowsOf, runSimulation, type SimulationResult } from '../sim/run.js';
import { addZeroCounts, type LinearZeroCounts } from '../sim/kernels/zeros.js';
import { withSkipFractions, withZeroGating } from '../sim/zero-gating.js';
import { addCompression, withDramCompression, type TensorCompression } from '../sim/dram-compression.js';
import type { EvalSet } from './datasets.js';

export interface EvaluateOptions {
  /** samples per functional run (default 100) */
  readonly batch?: number;
  /** default: the arch's (`fixed`, M0 at requant.multiplierBits); `float` = ONNX Runtime's requantization */
  readonly requant?: RequantMode;
  /** reported in the result */
  readonly seed?: number;
  /** event chunks of the first batch's run (a trace writer) */
  readonly onEvents?: (chunk: EventChunk) => void;
  /** samples done so far, of the total */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * run every batch's functional work tile by tile inside its own timing run (sim/functional.ts)
   * instead of one timing run and the prepared executor: the same result, several times slower;
   * for tests and for checking the engine's tile order on a new arch
   */
  readonly tiles?: boolean;
  /** count zero operands per conv / gemm on the data (LayerResult.zeros); on whenever the arch gates them */
  readonly zeros?: boolean;
}

export interface LayerOverflow {
  readonly name: string;
  /** overflow events over every sample, by accumulator (sim/result.ts OverflowsBy) */
  readonly events: OverflowsBy;
  /**
   * adds over every sample that could overflow, by accumulator: array = in-array partial-sum adds
   * (K per output: one per MAC), accumulator = bias load, one per K tile, the z_w·Σq_x step
   */
  readonly adds: OverflowsBy;
}

export interface ArchEvaluation {
  /** counts per inference; overflows summed over every sample */
  readonly result: RunResult;
  /** the workload the engine ran */
  readonly workload: Workload;
  /** top-1 class of every sample */
  readonly predictions: Int32Array;
  /** the network's first output for every sample, as float32, samples back to back */
  readonly outputs: Float32Array;
  /** samples whose prediction equals their label (labeled sets), else null */
  readonly correct: number | null;
  readonly samples: number;
  /** linear layers, in execution order */
  readonly overflow: readonly LayerOverflow[];
  /** per linear layer: the accumulator it ran on and bounds.ts's minimum safe width */
  readonly accumulators: Readonly<Record<string, LayerAccumulator>>;
}

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** argmax of each row of a [rows, k] output block into `into` at `offset`. */
function argmaxInto(out: Tensor, rows: number, into: Int32Array, offset: number): void {
  const d = out.data as ArrayLike<number>;
  const k = d.length / rows;
  for (let i = 0; i < rows; i++) {
    const base = i * k;
    let best = 0;
    for (let j = 1; j < k; j++) if (d[base + j] > d[base + best]) best = j;
    into[offset + i] = best;
  }
}

/**
 * Top-1 agreement of the integer predictions with the FP32 model's on the same samples (the
 * accuracy of unlabelled photos); `fp32` holds the FP32 outputs, `rows` samples.
 */
export function agreementWithFp32(fp32: Float32Array, predictions: Int32Array, rows: number): number {
  const ref = new Int32Array(rows);
  argmaxInto({ dtype: 'float32', shape: [rows, fp32.length / rows], data: fp32 }, rows, ref, 0);
  let same = 0;
  for (let i = 0; i < rows; i++) if (ref[i] === predictions[i]) same++;
  return same / rows;
}

/** The per-sample input shape the network takes for images of `imageShape` (flattened if it wants). */
export function inputShapeFor(net: QuantizedNetwork, imageShape: readonly number[]): readonly number[] {
  const rest = net.inputs[0].shape.slice(1);
  return rest.every((d) => d >= 0) && numel(rest) === numel(imageShape) ? rest : [...imageShape];
}

/** One run of the engine, rethrowing what it throws as itself; events to `onEvents`. */
export function runOnce(spec: ArchSpec, workload: Workload, opts: Parameters<typeof runSimulation>[2], onEvents: ((chunk: EventChunk) => void) | undefined): SimulationResult {
  let r: SimulationResult | null = null;
  // the engine runs inside subscribe: what it throws reaches `error`, and is rethrown here as itself
  let failed: { error: unknown } | null = null;
  runSimulation(spec, workload, { ...opts, events: onEvents !== undefined }).subscribe({
    next: (u) => {
      if (u.type === 'events') onEvents!(u.chunk);
      else if (u.type === 'result') r = u.result;
    },
    error: (error: unknown) => (failed = { error }),
  });
  if (failed) throw (failed as { error: unknown }).error;
  if (!r) throw new InvariantError('the simulation produced no result');
  return r;
}

/**
 * Runs `net` on `spec` over every image of `set`: one timing run (timing does not depend on the
 * data; see the file comment), the integer executor in that run's order on every batch. Between
 * batches it gives the event loop a turn, so an interrupt (the CLI's Ctrl-C, which removes a
 * trace's temp file) is handled there instead of after the last batch. Throws InvariantError
 * when the engine produces no result.
 */
export async function evaluateOnArch(spec: ArchSpec, net: QuantizedNetwork, set: EvalSet, opts: EvaluateOptions = {}): Promise<ArchEvaluation> {
  if (net.inputs.length !== 1) throw new InvariantError(`evaluateOnArch runs single-input networks; '${net.name}' has ${net.inputs.length}`);
  if (set.count === 0) throw new InvariantError('evaluateOnArch needs at least one sample');
  const batch = opts.batch ?? 100;
  const requant = archRequant(spec, opts.requant);
  checkRequantSupport(spec, net);
  const seed = opts.seed ?? 0;
  const inp = net.inputs[0];
  const shape = inputShapeFor(net, set.shape);
  const per = numel(set.shape);
  const workload = workloadFromQuantizedNetwork(net, [1, ...shape], spec);
  const predictions = new Int32Array(set.count);
  let outputs = new Float32Array(0);
  const linear = new Map<string, { events: OverflowsBy; adds: OverflowsBy }>();
  let accumulators: Record<string, LayerAccumulator> = {};
  let timing: SimulationResult | null = null;
  const overflowsPerLayer = new Array<OverflowsBy>(workload.layers.length).fill(NO_OVERFLOWS);
  // per inference of each GEMM layer: output elements (what an accumulator is) and the K each sums
  const outputsOf = new Map<string, { outputs: number; k: number }>();
  for (const l of workload.layers) if (l.view) outputsOf.set(l.name, { outputs: l.view.M * l.view.N * l.view.groups, k: l.view.K });
  // the functional half: the executor in the engine's accumulation order, layers prepared once
  // zero operands counted on the data when the arch gates them (or the caller asks), summed over batches
  const countZeros = opts.zeros === true || spec.pe.zeroGating !== undefined || spec.pe.zeroSkipping !== undefined;
  const df = spec.array.dataflow;
  const zeroVectors = spec.pe.zeroSkipping && df !== 'is' ? { rows: spec.array.rows, dataflow: df } : undefined;
  const zeros: Record<string, LinearZeroCounts> = {};
  const addZeros = (z: Record<string, LinearZeroCounts> | undefined): void => {
    for (const [name, c] of Object.entries(z ?? {})) zeros[name] = addZeroCounts(zeros[name], c);
  };
  // activation tensors sized as the arch's DRAM compression sends them, summed over batches
  const compression = spec.memories.dram.activationCompression;
  const sizes: Record<string, TensorCompression> = {};
  const executor = opts.tiles
    ? null
    : new QuantizedExecutor(net, { requant, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form, zeros: countZeros, ...(zeroVectors && { zeroVectors }), ...(compression && { compression }) });
  if (executor) timing = runOnce(spec, workload, { seed }, opts.onEvents);
  for (let start = 0; start < set.count; start += batch) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const n = Math.min(batch, set.count - start);
    const feeds = { [inp.name]: { dtype: 'float32', shape: [n, ...shape], data: set.images.subarray(start * per, (start + n) * per) } as Tensor };
    let res: { outputs?: Record<string, Tensor>; overflow?: SimulationResult['overflow']; accumulators?: SimulationResult['accumulators'] };
    if (executor) {
      const ran = executor.run(feeds);
      addZeros(ran.zeros);
      addCompression(sizes, ran.compressed);
      res = ran;
      const byName = res.overflow!;
      workload.layers.forEach((l, i) => {
        const rep = byName[l.name];
        if (rep) overflowsPerLayer[i] = addOverflows(overflowsPerLayer[i], overflowsOf(rep));
      });
    } else {
      const r = runOnce(spec, workload, { net, feeds, requant, seed, zeros: countZeros, priceFromData: false }, start === 0 ? opts.onEvents : undefined);
      addZeros(r.zeroCounts);
      addCompression(sizes, r.compressedSizes);
      timing ??= r;
      r.layers.forEach((l, i) => (overflowsPerLayer[i] = addOverflows(overflowsPerLayer[i], l.overflowsBy ?? NO_OVERFLOWS)));
      res = r;
    }
    if (!res.outputs || !res.overflow) throw new InvariantError('the simulation produced no functional result');
    for (const [name, rep] of Object.entries(res.overflow)) {
      const { outputs: perSample, k } = outputsOf.get(name) ?? { outputs: 0, k: 0 };
      const outputs = perSample * n;
      const adds = { array: outputs * k, accumulator: outputs * (rep.tiles + 1) + rep.zwSumSteps };
      const prev = linear.get(name) ?? { events: NO_OVERFLOWS, adds: NO_OVERFLOWS };
      linear.set(name, { events: addOverflows(prev.events, overflowsOf(rep)), adds: addOverflows(prev.adds, adds) });
    }
    if (start === 0) accumulators = { ...(res.accumulators ?? {}) };
    const out = res.outputs[net.outputs[0].name];
    const d = out.data as ArrayLike<number>;
    const perSample = d.length / n;
    if (start === 0) outputs = new Float32Array(perSample * set.count);
    outputs.set(d, start * perSample);
    argmaxInto(out, n, predictions, start);
    opts.onProgress?.(start + n, set.count);
  }
  if (!timing) throw new InvariantError('evaluateOnArch needs at least one sample');
  // a zero-skipping array is timed again once the data says what it skips (both paths alike)
  if (zeroVectors) timing = runOnce(spec, withSkipFractions(workload, zeros), { seed }, undefined);
  const { outputs: _o, overflow: _ov, accumulators: _a, requant: _r, zeroCounts: _z, compressedSizes: _c, ...plain } = timing as SimulationResult;
  let result = withOverflows(plain, overflowsPerLayer, set.count);
  if (compression) result = withDramCompression(result, spec, workload, net, sizes);
  if (countZeros) result = withZeroGating(result, spec, Object.fromEntries(Object.entries(zeros).map(([name, c]) => [name, { ...c, samples: set.count }])));
  let correct: number | null = null;
  if (set.labels) {
    correct = 0;
    for (let i = 0; i < set.count; i++) if (predictions[i] === set.labels[i]) correct++;
  }
  return {
    result,
    workload,
    predictions,
    outputs,
    correct,
    samples: set.count,
    overflow: [...linear].map(([name, v]) => ({ name, events: v.events, adds: v.adds })),
    accumulators,
  };
}
