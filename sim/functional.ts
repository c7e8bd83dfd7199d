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
import type { ArchSpec } from '../arch/spec.js';
import type { FunctionalSink, TileEvent } from './events.js';
import { accRange, applyPolicy, type AccumulationOrder, type AccumulatorSpec, type OverflowReport } from './kernels/accumulator.js';
import { convGeometry, dot1x4, dot4x2, fillPadded, Prepared, type Geometry } from './kernels/linear.js';
import { QuantizedRunner, type LayerAccumulator, type LinearAccumulation } from './qexec.js';
import type { RequantConfig } from '../qnet/requant.js';

export interface FunctionalOptions {
  readonly requant: RequantConfig;
  /**
   * Batch of the workload the engine simulates (default 1: workloadFromQuantizedNetwork times one
   * inference). `feeds` may hold a multiple of it: each tile's rows are then computed for every
   * replica — image b's rows are b·M + [m0, m1), the GEMM M carrying N·OH·OW — so one timing run
   * executes a whole batch functionally (timing does not depend on the data).
   */
  readonly engineBatch?: number;
}

export interface FunctionalResult {
  readonly outputs: Record<string, Tensor>;
  /** linear layer name → its overflow report, in execution order */
  readonly overflow: Record<string, OverflowReport>;
  readonly accumulators: Record<string, LayerAccumulator>;
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

/** Everything a tile touches; one per linear layer run, fixed shape (monomorphic access). */
class TileState {
  prep!: Prepared;
  /** operand input laid out for the geometry (conv padded; zp form minus z_x) */
  x!: Float64Array;
  posBase!: Int32Array;
  outBase!: Int32Array;
  cStride = 0;
  groupXStride = 0;
  positions = 0;
  nOut = 0;
  ocg = 0;
  K = 0;
  T = 0;
  stepEnd!: Int32Array;
  kOff!: Int32Array;
  wSeq!: Float64Array;
  init!: Float64Array;
  initAcc!: Float64Array;
  initOver!: Uint8Array;
  zwNeg!: Float64Array;
  /** Σq_x per (group, position) where some channel of the group needs it (raw form, z_w ≠ 0) */
  xSum!: Float64Array;
  checked = false;
  psumKernel = false;
  policy = 0;
  bits = 0;
  lo = 0;
  hi = 0;
  psumBits = 0;
  plo = 0;
  phi = 0;
  /** policed accumulators (exact ones when not checked), output layout */
  out!: Float64Array;
  /** exact running sums when checked (for maxAbs), else empty */
  ex!: Float64Array;
  /** tiles added so far per output element */
  done!: Uint16Array | Int32Array;
  events = 0;
  perChannel!: Float64Array;
  firstPos!: Float64Array;
  firstStep!: Int32Array;
  maxAbs = 0;
  psumEvents = 0;
  xSumAdds = 0;
  macs = 0;
  /** the products of the current register block (dot4x2 / dot1x4) */
  readonly ts = new Float64Array(8);
}

function record(st: TileState, c: number, p: number, step: number): void {
  st.events++;
  st.perChannel[c]++;
  const fp = st.firstPos[c];
  if (fp < 0 || p < fp || (p === fp && step < st.firstStep[c])) {
    st.firstPos[c] = p;
    st.firstStep[c] = step;
  }
}

/**
 * Adds tile `s`'s sum for output (c, p): bias load before the first tile, the −z_w·Σq_x step
 * after the last, the policy at every accumulator add (kernels/linear.ts's semantics).
 */
function addTile(st: TileState, c: number, p: number, g: number, s: number, ts: number, tp: number): void {
  const o = st.outBase[p] + c * st.cStride;
  if (st.done[o] !== s) throw new InvariantError(`output (channel ${c}, position ${p}) received K tile ${s} after ${st.done[o]} tile(s): tiles must arrive in order, once`);
  const checked = st.checked;
  let e: number;
  let a: number;
  if (s === 0) {
    e = st.init[c];
    a = st.initAcc[c];
    if (checked && st.initOver[c] === 1) record(st, c, p, 0);
  } else {
    a = st.out[o];
    e = checked ? st.ex[o] : a;
  }
  e += ts;
  let m = st.maxAbs;
  if (e > m) m = e;
  else if (-e > m) m = -e;
  if (checked) {
    const v = a + tp;
    if (v < st.lo || v > st.hi) {
      record(st, c, p, s + 1);
      a = applyPolicy(v, st.policy, st.bits);
    } else a = v;
  }
  if (s === st.T - 1) {
    const zn = st.zwNeg[c];
    if (zn !== 0) {
      const t = zn * st.xSum[g * st.positions + p];
      e += t;
      if (e > m) m = e;
      else if (-e > m) m = -e;
      if (checked) {
        const v = a + t;
        if (v < st.lo || v > st.hi) {
          record(st, c, p, st.T + 1);
          a = applyPolicy(v, st.policy, st.bits);
        } else a = v;
      }
    }
  }
  st.maxAbs = m;
  if (checked) {
    st.out[o] = a;
    st.ex[o] = e;
  } else st.out[o] = e;
  st.done[o] = s + 1;
}

/** 4 channels × 2 positions (pb = pa when only one), products over arrival indices [j0, j1). */
function block4x2(st: TileState, c: number, pa: number, pb: number, two: boolean, g: number, j0: number, j1: number, s: number): void {
  const gOff = g * st.groupXStride;
  const ts = st.ts;
  dot4x2(st.x, st.kOff, st.wSeq, c * st.K, st.K, st.posBase[pa] + gOff, st.posBase[pb] + gOff, j0, j1, ts);
  addTile(st, c, pa, g, s, ts[0], ts[0]);
  addTile(st, c + 1, pa, g, s, ts[2], ts[2]);
  addTile(st, c + 2, pa, g, s, ts[4], ts[4]);
  addTile(st, c + 3, pa, g, s, ts[6], ts[6]);
  if (two) {
    addTile(st, c, pb, g, s, ts[1], ts[1]);
    addTile(st, c + 1, pb, g, s, ts[3], ts[3]);
    addTile(st, c + 2, pb, g, s, ts[5], ts[5]);
    addTile(st, c + 3, pb, g, s, ts[7], ts[7]);
  }
}

/** 1 channel × up to 4 positions. */
function block1x4(st: TileState, c: number, p: number, n: number, g: number, j0: number, j1: number, s: number): void {
  const gOff = g * st.groupXStride;
  const pb = st.posBase;
  const ts = st.ts;
  dot1x4(st.x, st.kOff, st.wSeq, c * st.K, pb[p] + gOff, pb[n > 1 ? p + 1 : p] + gOff, pb[n > 2 ? p + 2 : p] + gOff, pb[n > 3 ? p + 3 : p] + gOff, j0, j1, ts);
  addTile(st, c, p, g, s, ts[0], ts[0]);
  if (n > 1) addTile(st, c, p + 1, g, s, ts[1], ts[1]);
  if (n > 2) addTile(st, c, p + 2, g, s, ts[2], ts[2]);
  if (n > 3) addTile(st, c, p + 3, g, s, ts[3], ts[3]);
}

/** One output with every in-array add checked against psumBits (a partial sum the bounds cannot clear). */
function outputPsum(st: TileState, c: number, p: number, g: number, j0: number, j1: number, s: number): void {
  const x = st.x;
  const kOff = st.kOff;
  const w = st.wSeq;
  const r0 = c * st.K;
  const b = st.posBase[p] + g * st.groupXStride;
  const plo = st.plo;
  const phi = st.phi;
  let exact = 0;
  let ps = 0;
  let over = 0;
  for (let j = j0; j < j1; j++) {
    const prod = w[r0 + j] * x[b + kOff[j]];
    exact += prod;
    const v = ps + prod;
    if (v < plo || v > phi) {
      over++;
      ps = applyPolicy(v, st.policy, st.psumBits);
    } else ps = v;
  }
  st.psumEvents += over;
  addTile(st, c, p, g, s, exact, ps);
}

function runTile(st: TileState, g: number, c0: number, c1: number, m0: number, m1: number, j0: number, j1: number, s: number): void {
  if (st.psumKernel) {
    for (let c = c0; c < c1; c++) for (let p = m0; p < m1; p++) outputPsum(st, c, p, g, j0, j1, s);
    return;
  }
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    for (let p = m0; p < m1; p += 2) {
      const two = p + 1 < m1;
      block4x2(st, c, p, two ? p + 1 : p, two, g, j0, j1, s);
    }
  }
  for (; c < c1; c++) {
    for (let p = m0; p < m1; p += 4) block1x4(st, c, p, Math.min(4, m1 - p), g, j0, j1, s);
  }
}

/** Σq_x over each position's receptive field (padding = z_x): the raw form's extra accumulation. */
function receptiveSums(st: TileState, g: number): void {
  const { x, kOff, posBase, positions: P, K } = st;
  const gOff = g * st.groupXStride;
  for (let p = 0; p < P; p++) {
    const b = posBase[p] + gOff;
    let s = 0;
    for (let j = 0; j < K; j++) s += x[b + kOff[j]];
    st.xSum[g * P + p] = s;
  }
  st.xSumAdds += P * K;
}

interface LinearGeometry {
  readonly geo: Geometry;
  /** fills the operand input from the integer input */
  readonly fill: (dst: Float64Array, x: Int32Array) => void;
  readonly xLength: number;
  readonly outShape: number[];
  readonly rqShape: number[];
}

/** The conv geometry of prepareConvInt with K in 'kkc' order, or gemm rows. */
function geometryOf(layer: QLinearLayer, xShape: readonly number[], order: AccumulationOrder, sub: number, padValue: number, xlo: number, xhi: number): LinearGeometry {
  const w = layer.weight;
  if (layer.kind === 'gemm') {
    const k = w.shape[w.shape.length - 1];
    const nOut = w.shape[0];
    const m = xShape.reduce((a, b) => a * b, 1) / k;
    const posBase = new Int32Array(m);
    const outBase = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      posBase[i] = i * k;
      outBase[i] = i * nOut;
    }
    const geo: Geometry = { posBase, outBase, cStride: 1, groupXStride: 0, offOf: (o) => o, wIndexOf: (o) => o, positions: m, nOut, group: 1, k, outLength: m * nOut };
    return {
      geo,
      fill: (dst, x) => fillPadded(dst, x, 1, m, k, m, k, 0, 0, 0, sub, xlo, xhi),
      xLength: m * k,
      outShape: [...xShape.slice(0, -1), nOut],
      rqShape: [m, nOut],
    };
  }
  const [n, c, h, wd] = xShape;
  const [oc, icg] = w.shape;
  const [pt, pl] = layer.pads;
  const group = layer.group;
  if (c !== icg * group || oc % group !== 0) throw new ModelError([{ node: layer.name, op: 'conv', message: `group ${group} does not fit ${c} input / ${oc} output channels` }]);
  const cg = convGeometry(xShape, w.shape, layer.strides, layer.pads, layer.dilations, group, order.kOrder);
  if (typeof cg === 'string') throw new ModelError([{ node: layer.name, op: 'conv', message: cg }]);
  const { geo, hp, wp, plane } = cg;
  const outShape = cg.outShape;
  return {
    geo,
    fill: (dst, x) => fillPadded(dst, x, n * c, h, wd, hp, wp, pt, pl, padValue, sub, xlo, xhi),
    xLength: n * c * plane,
    outShape: [...outShape],
    rqShape: [...outShape],
  };
}

function intRangeOf(bits: number, signed: boolean): { lo: number; hi: number } {
  return signed ? { lo: -(2 ** (bits - 1)), hi: 2 ** (bits - 1) - 1 } : { lo: 0, hi: 2 ** bits - 1 };
}

/** A linear layer between its beginLayer and endLayer. */
class LinearRun {
  readonly st = new TileState();
  private readonly shapes: LinearGeometry;

  /** feeds batch ÷ engine batch: each tile runs for this many row blocks */
  private replicas = 1;
  private engineRows = 0;

  constructor(
    readonly layer: QLinearLayer,
    replicas: number,
    x: { data: Int32Array; shape: readonly number[]; q: QParams },
    acc: AccumulatorSpec,
    order: AccumulationOrder,
    form: 'raw' | 'zp-subtract',
  ) {
    const w = layer.weight;
    const xq = x.q;
    if (xq.scale.length !== 1 || xq.zeroPoint.length !== 1) throw new ModelError([{ node: layer.name, op: layer.kind, message: 'the input must be quantized per tensor' }]);
    if (layer.kind === 'conv' && x.shape.length !== 4) throw new ModelError([{ node: layer.name, op: 'conv', message: `input must be NCHW, got shape [${x.shape.join(',')}]` }]);
    if (layer.kind === 'gemm' && x.shape[x.shape.length - 1] !== w.shape[w.shape.length - 1]) {
      throw new ModelError([{ node: layer.name, op: 'gemm', message: `input shape [${x.shape.join(',')}] does not end in K = ${w.shape[w.shape.length - 1]}` }]);
    }
    const zx = xq.zeroPoint[0];
    const zp = form === 'zp-subtract';
    const xr = intRangeOf(xq.bits, xq.signed);
    this.shapes = geometryOf(layer, x.shape, order, zp ? zx : 0, zp ? 0 : zx, xr.lo, xr.hi);
    const geo = this.shapes.geo;
    const prep = new Prepared(
      { zx, zw: w.q.zeroPoint, bias: layer.bias, acc, order, form, xBits: xq.bits, xSigned: xq.signed, wBits: w.q.bits, wSigned: w.q.signed, kernel: 'js' },
      w.data,
      geo,
    );
    const st = this.st;
    if (!Number.isInteger(geo.positions / replicas)) throw new InvariantError(`layer '${layer.name}': ${geo.positions} rows do not split into ${replicas} replicas`);
    this.replicas = replicas;
    this.engineRows = geo.positions / replicas;
    st.prep = prep;
    st.x = new Float64Array(this.shapes.xLength);
    this.shapes.fill(st.x, x.data);
    st.posBase = geo.posBase;
    st.outBase = geo.outBase;
    st.cStride = geo.cStride;
    st.groupXStride = geo.groupXStride;
    st.positions = geo.positions;
    st.nOut = geo.nOut;
    st.ocg = geo.nOut / geo.group;
    st.K = geo.k;
    st.T = prep.stepEnd.length;
    st.stepEnd = prep.stepEnd;
    st.kOff = prep.kOff;
    st.wSeq = prep.wSeq;
    st.init = prep.init;
    st.initAcc = prep.initAcc;
    st.initOver = prep.initOver;
    st.zwNeg = prep.zwNeg;
    st.checked = prep.checked;
    st.psumKernel = prep.psumKernel;
    st.policy = prep.policy;
    st.bits = prep.bits;
    const r = accRange(prep.bits);
    st.lo = r.lo;
    st.hi = r.hi;
    st.psumBits = prep.psumBits;
    st.plo = -(2 ** (prep.psumBits - 1));
    st.phi = 2 ** (prep.psumBits - 1) - 1;
    st.out = new Float64Array(geo.outLength);
    st.ex = st.checked ? new Float64Array(geo.outLength) : new Float64Array(0);
    st.done = st.T < 65535 ? new Uint16Array(geo.outLength) : new Int32Array(geo.outLength);
    st.perChannel = new Float64Array(geo.nOut);
    st.firstPos = new Float64Array(geo.nOut).fill(-1);
    st.firstStep = new Int32Array(geo.nOut);
    if (geo.positions > 0) for (let c = 0; c < geo.nOut; c++) if (Math.abs(prep.init[c]) > st.maxAbs) st.maxAbs = Math.abs(prep.init[c]);
    // the z_w·Σq_x term's column sums, per group that has a channel needing them
    st.xSum = new Float64Array(prep.zwChannels > 0 ? geo.group * geo.positions : 0);
    if (prep.zwChannels > 0) {
      for (let g = 0; g < geo.group; g++) {
        let need = false;
        for (let c = g * st.ocg; c < (g + 1) * st.ocg; c++) if (prep.zwNeg[c] !== 0) need = true;
        if (need) receptiveSums(st, g);
      }
    }
  }

  tile(t: TileEvent): void {
    const st = this.st;
    const s = t.kFold;
    const j0 = s === 0 ? 0 : st.stepEnd[s - 1];
    const j1 = st.stepEnd[s];
    const where = `layer '${this.layer.name}'`;
    if (t.kFolds !== st.T || s < 0 || s >= st.T || t.k0 !== j0 || t.k1 !== j1) {
      throw new InvariantError(`${where}: K tile ${s}/${t.kFolds} [${t.k0}, ${t.k1}) does not match the accumulation order (${st.T} tiles, this one [${j0}, ${j1}))`);
    }
    const ocg = st.ocg;
    const M = this.engineRows;
    if (t.group < 0 || t.group * ocg >= st.nOut || t.n0 < 0 || t.n1 > ocg || t.n0 > t.n1 || t.m0 < 0 || t.m1 > M || t.m0 > t.m1) {
      throw new InvariantError(`${where}: tile rows [${t.m0}, ${t.m1}) channels [${t.n0}, ${t.n1}) of group ${t.group} fall outside the layer (${M} rows, ${ocg} channels per group)`);
    }
    for (let b = 0; b < this.replicas; b++) runTile(st, t.group, t.group * ocg + t.n0, t.group * ocg + t.n1, b * M + t.m0, b * M + t.m1, j0, j1, s);
    st.macs += this.replicas * (t.m1 - t.m0) * (t.n1 - t.n0) * (j1 - j0);
  }

  /** The accumulators once every output has received all its tiles. */
  finish(): LinearAccumulation {
    const st = this.st;
    const done = st.done;
    for (let i = 0; i < done.length; i++) {
      if (done[i] !== st.T) {
        throw new InvariantError(`layer '${this.layer.name}': output ${i} received ${done[i]} of ${st.T} K tiles before the layer ended`);
      }
    }
    let first: OverflowReport['first'] = null;
    for (let c = 0; c < st.nOut && !first; c++) if (st.firstPos[c] >= 0) first = { channel: c, position: st.firstPos[c], step: st.firstStep[c] };
    const overflow: OverflowReport = {
      events: st.events,
      perChannel: st.perChannel,
      first,
      proved: st.prep.proved,
      maxAbs: st.maxAbs,
      zwSumSteps: st.positions * st.prep.zwChannels,
      xSumAdds: st.xSumAdds,
      tiles: st.T,
      psumEvents: st.psumEvents,
    };
    return { acc: st.out, outShape: this.shapes.outShape, rqShape: this.shapes.rqShape, overflow };
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * The functional half of a timing run. Layer numbers in the events are indices into
 * `net.layers` (workloadFromQuantizedNetwork makes one workload layer per network layer).
 */
export function createFunctionalSink(net: QuantizedNetwork, spec: ArchSpec, feeds: Record<string, Tensor>, opts: FunctionalOptions): FunctionalRunSink {
  const acc = timingAccumulator(spec);
  const order = timingOrder(spec);
  const form = spec.pe.form;
  const runner = new QuantizedRunner(net, { requant: opts.requant, acc, order, form });
  runner.bind(feeds);
  const first = net.inputs[0] ? feeds[net.inputs[0].name] : undefined;
  const batch = first && first.shape.length > 0 ? first.shape[0] : 1;
  const engineBatch = opts.engineBatch ?? 1;
  if (!Number.isInteger(engineBatch) || engineBatch < 1 || batch % engineBatch !== 0) {
    throw new InvariantError(`the feeds' batch ${batch} is not a multiple of the engine's batch ${engineBatch}`);
  }
  const replicas = batch / engineBatch;
  /** layers before this index have run */
  let next = 0;
  let current: LinearRun | null = null;
  let finished = false;

  const catchUp = (until: number): void => {
    while (next < until) runner.step(next++);
  };
  const isTiled = (i: number): boolean => {
    const l = net.layers[i];
    // a MatMul with a batched weight has no single GEMM view; it runs whole at its layer's end
    return (l.kind === 'conv' || l.kind === 'gemm') && l.weight.shape.length === (l.kind === 'conv' ? 4 : 2);
  };

  return {
    beginLayer(layer: number): void {
      if (finished) throw new InvariantError('beginLayer after result()');
      if (layer < next || layer >= net.layers.length) throw new InvariantError(`beginLayer(${layer}): layers must begin in order, once (next is ${next} of ${net.layers.length})`);
      if (current) throw new InvariantError(`beginLayer(${layer}) while layer '${current.layer.name}' is still open`);
      catchUp(layer);
      const l = net.layers[layer];
      if (isTiled(layer) && (l.kind === 'conv' || l.kind === 'gemm')) {
        const layerAcc = l.accBits ? { ...acc, bits: l.accBits } : acc;
        current = new LinearRun(l, replicas, runner.intInput(l, 0), layerAcc, order, form);
      }
    },
    tile(t: TileEvent): void {
      if (current === null) {
        // tiles of a layer that runs whole (batched MatMul) carry no separate functional work
        if (t.layer === next && !isTiled(t.layer)) return;
        throw new InvariantError(`tile of layer ${t.layer} outside its beginLayer/endLayer`);
      }
      if (t.layer !== next) throw new InvariantError(`tile of layer ${t.layer} while layer ${next} is open`);
      current.tile(t);
    },
    endLayer(layer: number): void {
      if (layer !== next) throw new InvariantError(`endLayer(${layer}) but layer ${next} is the open one`);
      if (current) {
        runner.step(next++, current.finish());
        current = null;
      } else runner.step(next++);
    },
    result(): FunctionalResult {
      if (current) throw new InvariantError(`result() while layer '${current.layer.name}' is still open`);
      finished = true;
      catchUp(net.layers.length);
      const r = runner.result();
      return { outputs: r.outputs, overflow: r.overflow, accumulators: r.accumulators };
    },
  };
}
