/**
 * Functional execution inside the timing run (DESIGN.md "Timing model": the functional work of a
 * tile runs when its compute event fires, in the dataflow's order).
 *
 * `createFunctionalSink` returns the engine's FunctionalSink. Per conv/gemm layer it keeps an
 * accumulator buffer (the arch's width and policy, spec.accumulator); a tile event adds that
 * fold's K slice for its output rows × channels — products summed in-array at psumBits, the
 * partial sum added to the accumulator — the first tile of an output loads the bias, the last
 * one adds the raw form's −z_w·Σq_x term. endLayer requantizes (+ fused activation). Every other
 * layer (add, pool, concat, activation, layout, quantize, float) runs at its own layer event,
 * or — when the engine has no event for it — just before the next layer that has one.
 *
 * Contract (test/golden/timing-functional.test.ts): outputs and overflow reports equal
 * runQuantized(net, feeds, { requant, acc: spec.accumulator, order: { kOrder: 'kkc', kTile:
 * rows (ws/is) or 0 (os), psumBits }, form: spec.pe.form }) bit for bit. Overflow reports are
 * defined in (channel, position, step) order, not time order, so the order in which the engine
 * visits blocks does not matter — only that each output's K tiles arrive in arrival order, which
 * is checked per output element (InvariantError otherwise).
 *
 * Memory: two Float64 accumulator planes (exact + policed) per checked layer and one per proved
 * layer, over every output of the batch; callers bound it by the batch size.
 */
import { InvariantError, ModelError } from '../nets/errors.js';
import type { Tensor } from '../nets/graph.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../qnet/network.js';
import type { ActivationCompression, ArchSpec } from '../arch/spec.js';
import type { FunctionalSink, TileEvent } from './events.js';
import { intRange, type AccumulationOrder, type AccumulatorSpec, type OverflowReport, type PeForm } from './kernels/accumulator.js';
import { addAcc, loadAcc, overflowReport, psumTile, zwAcc, type KernelState } from './kernels/checked.js';
import { dot1x4, dot4x2 } from './kernels/dot.js';
import { convGeometry, fillOperands, gemmGeometry, operandLayout, type Geometry, type OperandLayout } from './kernels/geometry.js';
import { Prepared } from './kernels/prepared.js';
import { QuantizedRunner, type LayerAccumulator, type LinearAccumulation, type QExecResult } from './qexec.js';
import type { RequantConfig } from '../qnet/requant.js';
import { isSplit } from '../qnet/split.js';
import { zeroCounts, zeroElements, zeroVectors } from './kernels/zeros.js';
import type { LayerZeros } from './zero-gating.js';

export interface FunctionalOptions {
  readonly requant: RequantConfig;
  /**
   * Batch of the workload the engine simulates (default 1: workloadFromQuantizedNetwork times one
   * inference). `feeds` may hold a multiple of it: each tile's rows are then computed for every
   * replica — image b's rows are b·M + [m0, m1), the GEMM M carrying N·OH·OW — so one timing run
   * executes a whole batch functionally (timing does not depend on the data).
   */
  readonly engineBatch?: number;
  /** workload layer index → network layer index (undefined: follow-on work); absent = the same */
  readonly layerIndex?: readonly (number | undefined)[];
  /** count zero operands per tiled linear layer (sim/kernels/zeros.ts) */
  readonly zeros?: boolean;
  /** size every integer tensor as the arch's DRAM compression would (sim/kernels/compress.ts) */
  readonly compression?: ActivationCompression;
}

export interface FunctionalResult {
  readonly outputs: Record<string, Tensor>;
  /** linear layer name → its overflow report, in execution order */
  readonly overflow: Record<string, OverflowReport>;
  readonly accumulators: Record<string, LayerAccumulator>;
  /** layers on number formats → their float accumulator's swamping (qexec's) */
  readonly swamping: QExecResult['swamping'];
  /** with `zeros`: tiled linear layer name → its zero counts over the batch */
  readonly zeros?: Record<string, LayerZeros>;
  /** with `compression`: integer tensor name → raw and compressed bits over the batch */
  readonly compressed?: QExecResult['compressed'];
}

export interface FunctionalRunSink extends FunctionalSink {
  /** runs what the engine had no event for, then returns the outputs; call once, after the run */
  result(): FunctionalResult;
}

/** The accumulation order the engine's tiles follow on `spec` (what runQuantized must be given to agree). */
export function timingOrder(spec: ArchSpec): AccumulationOrder {
  return { kOrder: 'kkc', kTile: spec.array.dataflow === 'os' ? 0 : spec.array.rows, psumBits: spec.accumulator.psumBits };
}

/** The accumulator of a run on `spec`. */
export function timingAccumulator(spec: ArchSpec): AccumulatorSpec {
  return { bits: spec.accumulator.bits, policy: spec.accumulator.overflow };
}

// ---------------------------------------------------------------------------------------------
// one linear layer, tile by tile

/**
 * A linear layer's run between its tiles: the kernels' state (operands, accumulator, what
 * happened; `k.out` holds the accumulators in output layout) and, per output element, its exact
 * running sum and the tiles it has received. Fixed shape (monomorphic access).
 */
class TileState {
  /** exact running sums when checked, else k.out itself (then only the exact sum is kept) */
  readonly ex: Float64Array;
  /** tiles added so far per output element */
  readonly done: Uint16Array | Int32Array;
  xSumAdds = 0;

  constructor(
    readonly k: KernelState,
    readonly positions: number,
  ) {
    const n = k.out.length;
    this.ex = k.checked ? new Float64Array(n) : k.out;
    this.done = k.T < 65535 ? new Uint16Array(n) : new Int32Array(n);
  }
}

/**
 * Adds tile `s`'s sums for output (c, p) of group g — e exact, v as the accumulator receives it:
 * the bias load before the first tile, the −z_w·Σq_x step after the last (kernels/checked.ts).
 */
function addTile(t: TileState, c: number, p: number, g: number, s: number, e: number, v: number): void {
  const st = t.k;
  const o = st.outBase[p] + c * st.cStride;
  if (t.done[o] !== s) throw new InvariantError(`output (channel ${c}, position ${p}) received K tile ${s} after ${t.done[o]} tile(s): tiles must arrive in order, once`);
  if (s === 0) loadAcc(st, c, p, t.ex, st.out, o);
  addAcc(st, c, p, s + 1, t.ex, st.out, o, e, v);
  if (s === st.T - 1 && st.xSum !== null) zwAcc(st, c, p, st.xSum[g * t.positions + p], t.ex, st.out, o);
  t.done[o] = s + 1;
}

/** 4 channels × 2 positions (pb = pa when only one), products over arrival indices [j0, j1). */
function block4x2(t: TileState, c: number, pa: number, pb: number, two: boolean, g: number, j0: number, j1: number, s: number): void {
  const st = t.k;
  const gOff = g * st.groupXStride;
  const ts = st.ts;
  dot4x2(st.x, st.kOff, st.wSeq, c * st.K, st.K, st.posBase[pa] + gOff, st.posBase[pb] + gOff, j0, j1, ts);
  for (let i = 0; i < 4; i++) addTile(t, c + i, pa, g, s, ts[2 * i], ts[2 * i]);
  if (two) for (let i = 0; i < 4; i++) addTile(t, c + i, pb, g, s, ts[2 * i + 1], ts[2 * i + 1]);
}

/** 1 channel × up to 4 positions. */
function block1x4(t: TileState, c: number, p: number, n: number, g: number, j0: number, j1: number, s: number): void {
  const st = t.k;
  const gOff = g * st.groupXStride;
  const pb = st.posBase;
  const ts = st.ts;
  dot1x4(st.x, st.kOff, st.wSeq, c * st.K, pb[p] + gOff, pb[n > 1 ? p + 1 : p] + gOff, pb[n > 2 ? p + 2 : p] + gOff, pb[n > 3 ? p + 3 : p] + gOff, j0, j1, ts);
  for (let i = 0; i < n; i++) addTile(t, c, p + i, g, s, ts[i], ts[i]);
}

function runTile(t: TileState, g: number, c0: number, c1: number, m0: number, m1: number, j0: number, j1: number, s: number): void {
  const st = t.k;
  if (st.psumSeen) {
    // every in-array add checked against psumBits (a partial sum the bounds cannot clear)
    for (let c = c0; c < c1; c++) {
      for (let p = m0; p < m1; p++) {
        psumTile(st, c * st.K, st.posBase[p] + g * st.groupXStride, j0, j1);
        addTile(t, c, p, g, s, st.ts[0], st.tp[0]);
      }
    }
    return;
  }
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    for (let p = m0; p < m1; p += 2) {
      const two = p + 1 < m1;
      block4x2(t, c, p, two ? p + 1 : p, two, g, j0, j1, s);
    }
  }
  for (; c < c1; c++) {
    for (let p = m0; p < m1; p += 4) block1x4(t, c, p, Math.min(4, m1 - p), g, j0, j1, s);
  }
}

interface LinearGeometry {
  readonly geo: Geometry;
  /** how the integer input becomes the operand input */
  readonly lay: OperandLayout;
  readonly outShape: number[];
  readonly rqShape: number[];
}

/** The conv geometry of prepareConvInt with K in `order`, or gemm rows. */
function geometryOf(layer: QLinearLayer, xShape: readonly number[], order: AccumulationOrder, form: PeForm, zx: number, xlo: number, xhi: number): LinearGeometry {
  const w = layer.weight;
  if (layer.kind === 'gemm') {
    const k = w.shape[w.shape.length - 1];
    const nOut = w.shape[0];
    const m = xShape.reduce((a, b) => a * b, 1) / k;
    return {
      geo: gemmGeometry(m, k, nOut),
      lay: operandLayout(form, zx, xlo, xhi, 1, m, k, [0, 0, 0, 0]),
      outShape: [...xShape.slice(0, -1), nOut],
      rqShape: [m, nOut],
    };
  }
  const [n, c, h, wd] = xShape;
  const [oc, icg] = w.shape;
  const group = layer.group;
  if (c !== icg * group || oc % group !== 0) throw new ModelError([{ node: layer.name, op: 'conv', message: `group ${group} does not fit ${c} input / ${oc} output channels` }]);
  const cg = convGeometry(xShape, w.shape, layer.strides, layer.pads, layer.dilations, group, order.kOrder);
  if (typeof cg === 'string') throw new ModelError([{ node: layer.name, op: 'conv', message: cg }]);
  return { geo: cg.geo, lay: operandLayout(form, zx, xlo, xhi, n * c, h, wd, layer.pads), outShape: [...cg.outShape], rqShape: [...cg.outShape] };
}

/** A linear layer between its beginLayer and endLayer. */
class LinearRun {
  private readonly t: TileState;
  private readonly prep: Prepared;
  private readonly shapes: LinearGeometry;
  private readonly nOut: number;
  private readonly ocg: number;
  /** feeds batch ÷ engine batch: each tile runs for this many row blocks */
  private readonly replicas: number;
  private readonly engineRows: number;
  /** zero counts over the batch, when asked for */
  readonly zeros?: Omit<LayerZeros, 'samples'>;

  constructor(
    readonly layer: QLinearLayer,
    replicas: number,
    x: { data: Int32Array; shape: readonly number[]; q: QParams },
    acc: AccumulatorSpec,
    order: AccumulationOrder,
    form: PeForm,
    countZeros = false,
    /** with countZeros: count the all-zero vectors this array streams (zero skipping) */
    skip?: { readonly rows: number; readonly dataflow: 'ws' | 'os' },
  ) {
    const w = layer.weight;
    const xq = x.q;
    if (xq.scale.length !== 1 || xq.zeroPoint.length !== 1) throw new ModelError([{ node: layer.name, op: layer.kind, message: 'the input must be quantized per tensor' }]);
    if (layer.kind === 'conv' && x.shape.length !== 4) throw new ModelError([{ node: layer.name, op: 'conv', message: `input must be NCHW, got shape [${x.shape.join(',')}]` }]);
    if (layer.kind === 'gemm' && x.shape[x.shape.length - 1] !== w.shape[w.shape.length - 1]) {
      throw new ModelError([{ node: layer.name, op: 'gemm', message: `input shape [${x.shape.join(',')}] does not end in K = ${w.shape[w.shape.length - 1]}` }]);
    }
    const zx = xq.zeroPoint[0];
    const xr = intRange(xq.bits, xq.signed);
    this.shapes = geometryOf(layer, x.shape, order, form, zx, xr.lo, xr.hi);
    const geo = this.shapes.geo;
    const prep = new Prepared(
      { zx, zw: w.q.zeroPoint, bias: layer.bias, acc, order, form, xBits: xq.bits, xSigned: xq.signed, wBits: w.q.bits, wSigned: w.q.signed, kernel: 'js' },
      w.data,
      geo,
    );
    if (!Number.isInteger(geo.positions / replicas)) throw new InvariantError(`layer '${layer.name}': ${geo.positions} rows do not split into ${replicas} replicas`);
    this.prep = prep;
    this.replicas = replicas;
    this.engineRows = geo.positions / replicas;
    this.nOut = geo.nOut;
    this.ocg = geo.nOut / geo.group;
    const operands = new Float64Array(this.shapes.lay.length);
    fillOperands(operands, x.data, this.shapes.lay);
    if (countZeros) {
      // padValue is what 0 is in the operand input: z_x in raw form, 0 once z_x is subtracted
      const z = zeroCounts(geo, operands, this.shapes.lay.padValue, w.data, w.q.zeroPoint);
      this.zeros = {
        ...z,
        inputElements: x.data.length,
        inputZeros: zeroElements(x.data, xq.zeroPoint),
        weights: w.data.length,
        weightZeros: zeroElements(w.data, w.q.zeroPoint),
        ...(skip && { vectors: zeroVectors(geo, operands, this.shapes.lay.padValue, skip.rows, skip.dataflow, x.shape[0]) }),
      };
    }
    const st = prep.state(geo, operands, undefined);
    const t = new TileState(st, geo.positions);
    this.t = t;
    // the z_w·Σq_x term's column sums, per group that has a channel needing them
    if (prep.zwChannels > 0) {
      st.xSum = new Float64Array(geo.group * geo.positions);
      for (let g = 0; g < geo.group; g++) t.xSumAdds += prep.groupSums(geo, g, operands, st.xSum, g * geo.positions);
    }
  }

  tile(e: TileEvent): void {
    const t = this.t;
    const T = t.k.T;
    const s = e.kFold;
    const j0 = s === 0 ? 0 : t.k.stepEnd[s - 1];
    const j1 = t.k.stepEnd[s];
    const where = `layer '${this.layer.name}'`;
    if (e.kFolds !== T || s < 0 || s >= T || e.k0 !== j0 || e.k1 !== j1) {
      throw new InvariantError(`${where}: K tile ${s}/${e.kFolds} [${e.k0}, ${e.k1}) does not match the accumulation order (${T} tiles, this one [${j0}, ${j1}))`);
    }
    const ocg = this.ocg;
    const M = this.engineRows;
    if (e.group < 0 || e.group * ocg >= this.nOut || e.n0 < 0 || e.n1 > ocg || e.n0 > e.n1 || e.m0 < 0 || e.m1 > M || e.m0 > e.m1) {
      throw new InvariantError(`${where}: tile rows [${e.m0}, ${e.m1}) channels [${e.n0}, ${e.n1}) of group ${e.group} fall outside the layer (${M} rows, ${ocg} channels per group)`);
    }
    for (let b = 0; b < this.replicas; b++) runTile(t, e.group, e.group * ocg + e.n0, e.group * ocg + e.n1, b * M + e.m0, b * M + e.m1, j0, j1, s);
  }

  /** The accumulators once every output has received all its tiles. */
  finish(): LinearAccumulation {
    const t = this.t;
    const done = t.done;
    for (let i = 0; i < done.length; i++) {
      if (done[i] !== t.k.T) {
        throw new InvariantError(`layer '${this.layer.name}': output ${i} received ${done[i]} of ${t.k.T} K tiles before the layer ended`);
      }
    }
    const overflow = overflowReport(t.k, this.prep.proved, t.positions * this.prep.zwChannels, t.xSumAdds);
    return { acc: t.k.out, outShape: this.shapes.outShape, rqShape: this.shapes.rqShape, overflow };
  }
}

// ---------------------------------------------------------------------------------------------

/** Samples in the feeds: the leading dimension of the first graph input (1 for a rank-0 input). */
export function feedsBatch(net: QuantizedNetwork, feeds: Record<string, Tensor>): number {
  const first = net.inputs[0] ? feeds[net.inputs[0].name] : undefined;
  return first && first.shape.length > 0 ? first.shape[0] : 1;
}

/**
 * The functional half of a timing run. Layer numbers in the events are indices into
 * `net.layers` (workloadFromQuantizedNetwork makes one workload layer per network layer).
 */
export function createFunctionalSink(net: QuantizedNetwork, spec: ArchSpec, feeds: Record<string, Tensor>, opts: FunctionalOptions): FunctionalRunSink {
  const acc = timingAccumulator(spec);
  const order = timingOrder(spec);
  const form = spec.pe.form;
  const runner = new QuantizedRunner(net, { requant: opts.requant, acc, order, form, ...(opts.compression && { compression: opts.compression }) });
  runner.bind(feeds);
  const batch = feedsBatch(net, feeds);
  const engineBatch = opts.engineBatch ?? 1;
  if (!Number.isInteger(engineBatch) || engineBatch < 1 || batch % engineBatch !== 0) {
    throw new InvariantError(`the feeds' batch ${batch} is not a multiple of the engine's batch ${engineBatch}`);
  }
  const replicas = batch / engineBatch;
  const df = spec.array.dataflow;
  const skip = opts.zeros && spec.pe.zeroSkipping && df !== 'is' ? { rows: spec.array.rows, dataflow: df } : undefined;
  /** layers before this index have run */
  let next = 0;
  let current: LinearRun | null = null;
  let finished = false;
  const zeros: Record<string, LayerZeros> = {};

  const catchUp = (until: number): void => {
    while (next < until) runner.step(next++);
  };
  const isTiled = (i: number): boolean => {
    const l = net.layers[i];
    // a MatMul with a batched weight has no single GEMM view; it runs whole at its layer's end
    // layers on number formats run whole on the float kernels (format-linear.ts) at their layer's end
    // a conv on a split input (channel groups, qnet/split.ts) runs whole too: its groups merge after accumulation
    const xq = net.tensors.get(l.inputs[0])?.q;
    return (l.kind === 'conv' || l.kind === 'gemm') && !l.format && l.weight.shape.length === (l.kind === 'conv' ? 4 : 2) && !(xq && isSplit(xq));
  };

  // workload layer → network layer: follow-on work (a split conv's merge, i-GELU on the SFU) has
  // none, its network layer ran whole at its own end
  const map = opts.layerIndex;
  const inner = {
    beginLayer(layer: number): void {
      if (finished) throw new InvariantError('beginLayer after result()');
      if (layer < next || layer >= net.layers.length) throw new InvariantError(`beginLayer(${layer}): layers must begin in order, once (next is ${next} of ${net.layers.length})`);
      if (current) throw new InvariantError(`beginLayer(${layer}) while layer '${current.layer.name}' is still open`);
      catchUp(layer);
      const l = net.layers[layer];
      if (isTiled(layer) && (l.kind === 'conv' || l.kind === 'gemm')) {
        const layerAcc = l.accBits ? { ...acc, bits: l.accBits } : acc;
        current = new LinearRun(l, replicas, runner.intInput(l, 0), layerAcc, order, form, opts.zeros === true, skip);
        if (current.zeros) zeros[l.name] = { ...current.zeros, samples: batch };
      }
    },
    /** a tile of network layer `layer` (t.layer is the workload's index; no copy of the borrowed tile) */
    tile(t: TileEvent, layer: number): void {
      if (current === null) {
        // tiles of a layer that runs whole (batched MatMul) carry no separate functional work
        if (layer === next && !isTiled(layer)) return;
        throw new InvariantError(`tile of layer ${layer} outside its beginLayer/endLayer`);
      }
      if (layer !== next) throw new InvariantError(`tile of layer ${layer} while layer ${next} is open`);
      current.tile(t);
    },
    endLayer(layer: number): void {
      if (layer !== next) throw new InvariantError(`endLayer(${layer}) but layer ${next} is the open one`);
      if (current) {
        runner.step(next++, current.finish());
        current = null;
      } else runner.step(next++);
    },
  };
  return {
    // tiles are read during tile() only (LinearRun keeps none)
    borrowsTiles: true,
    beginLayer(layer: number): void {
      const q = map ? map[layer] : layer;
      if (q !== undefined) inner.beginLayer(q);
    },
    tile(t: TileEvent): void {
      const q = map ? map[t.layer] : t.layer;
      if (q !== undefined) inner.tile(t, q);
    },
    endLayer(layer: number): void {
      const q = map ? map[layer] : layer;
      if (q !== undefined) inner.endLayer(q);
    },
    result(): FunctionalResult {
      if (current) throw new InvariantError(`result() while layer '${current.layer.name}' is still open`);
      finished = true;
      catchUp(net.layers.length);
      const r = runner.result();
      return { outputs: r.outputs, overflow: r.overflow, accumulators: r.accumulators, swamping: r.swamping, ...(opts.zeros && { zeros }), ...(r.compressed && { compressed: r.compressed }) };
    },
  };
}
