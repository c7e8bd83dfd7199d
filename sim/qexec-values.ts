/**
 * The values the functional executor (qexec.ts) passes between layers and the helpers around
 * them: integer tensors as int32 codes (`IntVal`), their ONNX-typed form, reshape and pool
 * attributes, merged overflow reports of batched gemms, MatMul's batch broadcast, and the linear
 * layers prepared once per network (`PreparedLayers`). Its own file: qexec.ts runs layers.
 */
import { ModelError } from '../nets/errors.js';
import type { Tensor } from '../nets/graph.js';
import type { QLayer, QLayoutLayer, QLinearLayer, QParams, QPoolLayer, QuantizedNetwork } from '../qnet/network.js';
import { transposeData, upsampleNearest } from '../nets/fp32-tensor.js';
import type { OverflowReport } from './kernels/accumulator.js';
import type { AccumulationOrder } from './kernels/accumulator.js';
import type { ConvIntSpec, PreparedConvInt, PreparedGemmInt } from './kernels/linear.js';
import { KernelArena } from './kernels/wasm.js';
import type { PoolAttrs } from './qops.js';
import type { QExecOptions } from './qexec-types.js';
import type { FusedRequant } from './kernels/simd.js';
import { linearInputScale } from '../qnet/split.js';
import { fixedRequantChannels, floatRequantChannels, requantParams, requantTarget } from '../qnet/requant.js';

/** An integer tensor while running: codes as int32 whatever the storage type. */
export interface IntVal {
  readonly int: true;
  readonly dtype: 'int8' | 'uint8' | 'int32';
  readonly shape: readonly number[];
  readonly data: Int32Array;
}
export type Val = IntVal | Tensor;

export function isInt(v: Val): v is IntVal {
  return (v as IntVal).int === true;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dtypeOfQ(q: QParams): 'int8' | 'uint8' | 'int32' {
  if (q.bits > 8) return 'int32';
  return q.signed ? 'int8' : 'uint8';
}

/** Integer value → ONNX-typed tensor (int32 codes are wrapped to 32 bits). */
export function toTensor(v: IntVal): Tensor {
  const data = v.dtype === 'uint8' ? Uint8Array.from(v.data) : v.dtype === 'int8' ? Int8Array.from(v.data) : v.data;
  return { dtype: v.dtype, shape: [...v.shape], data };
}

export function fromTensor(t: Tensor, where: string): IntVal {
  if (t.dtype !== 'int8' && t.dtype !== 'uint8' && t.dtype !== 'int32') throw new ModelError([{ node: where, message: `expected an integer tensor, got ${t.dtype}` }]);
  return { int: true, dtype: t.dtype, shape: [...t.shape], data: t.data instanceof Int32Array ? t.data : Int32Array.from(t.data as ArrayLike<number>) };
}

export function intVal(dtype: IntVal['dtype'], shape: readonly number[], data: Int32Array): IntVal {
  return { int: true, dtype, shape: [...shape], data };
}

// ---------------------------------------------------------------------------------------------
// data movement

/** ONNX Reshape target (0 copies the input dim, one −1 is inferred). */
export function reshapeShape(spec: readonly number[], inShape: readonly number[], where: string): number[] {
  const out = spec.map((d, i) => (d === 0 ? inShape[i] : d));
  const total = numel(inShape);
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    out[neg] = rest === 0 ? 0 : total / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== total) {
    throw new ModelError([{ node: where, message: `cannot reshape [${inShape.join(',')}] to [${spec.join(',')}]` }]);
  }
  return out;
}

/** A layer that moves codes without changing them (Reshape, Flatten, Transpose, nearest Resize, Identity). */
export function shapeOp(layer: QLayoutLayer, x: IntVal): IntVal {
  if (layer.kind === 'identity') return x;
  if (layer.kind === 'resize') {
    const r = upsampleNearest(x.data, x.shape, layer.param);
    return intVal(x.dtype, r.shape, r.data);
  }
  if (layer.kind === 'transpose') {
    const r = transposeData(x.data, x.shape, layer.param);
    return intVal(x.dtype, r.shape, r.data);
  }
  let shape: number[];
  if (layer.kind === 'reshape') shape = reshapeShape(layer.param, x.shape, layer.name);
  else {
    const a = layer.param[0] < 0 ? layer.param[0] + x.shape.length : layer.param[0];
    shape = [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))];
  }
  return intVal(x.dtype, shape, x.data);
}

/**
 * Conv → MaxPool pairs the conv may run fused (conv layer name → the pool): the pool is the conv
 * output's only reader, the output is not a graph output, and nothing observes it — no onLayer
 * (it would be handed the conv's full output), no compression (sized per layer output), no LUT
 * activation (a LUT need not be monotone, so it does not commute with the maximum). Whether the
 * pool is a plain 2×2 stride-2 window is checked on the conv's output shape when it runs.
 */
export function fusablePools(net: QuantizedNetwork, opts: Pick<QExecOptions, 'onLayer' | 'compression'>): Map<string, QPoolLayer> {
  const out = new Map<string, QPoolLayer>();
  if (opts.onLayer || opts.compression) return out;
  const readers = new Map<string, QLayer[]>();
  for (const l of net.layers) for (const x of l.inputs) readers.set(x, [...(readers.get(x) ?? []), l]);
  const graphOut = new Set(net.outputs.map((o) => o.name));
  for (const l of net.layers) {
    if (l.kind !== 'conv' || l.activation.kind === 'lut' || graphOut.has(l.output)) continue;
    const r = readers.get(l.output);
    if (r?.length === 1 && r[0].kind === 'maxpool' && r[0].inputs.length === 1) out.set(l.name, r[0]);
  }
  return out;
}


/**
 * The requantization of a conv / gemm layer as the SIMD kernel takes it fused (FusedRequant),
 * or null where the accumulators themselves are needed or the fused form does not apply:
 * keepAccumulators (onLayer is handed them), int32 outputs, i-GELU after the requant, float-mode
 * bounds float32 cannot hold, fixed-point single rounding. The codes are requantize()'s (a LUT
 * is applied to them after: finishCodes).
 */
export function fusedRequantOf(layer: QLinearLayer, xq: QParams, yq: QParams, opts: Pick<QExecOptions, 'keepAccumulators' | 'requant'>, nOut: number): FusedRequant | null {
  if (opts.keepAccumulators) return null;
  const act = layer.activation;
  if (yq.bits === 32 || act.kind === 'igelu') return null;
  const target = requantTarget(yq, act);
  const params = requantParams(linearInputScale(xq), layer.weight.q.scale, target.scale[0], opts.requant);
  const zy = target.zeroPoint[0];
  if (params.mode === 'fixed') {
    const f = fixedRequantChannels(params, zy, target, act, nOut);
    return f ? { mode: 'fixed', fixed: f, his: f.his, lo: f.lo, zy } : null;
  }
  const f = floatRequantChannels(params, zy, target, act, nOut);
  return f ? { mode: 'float', ...f, zy } : null;
}

export const DEFAULT_ORDER: AccumulationOrder = { kOrder: 'ckk', kTile: 0 };

/** What every integer kernel of a conv / gemm layer takes, but its shapes and weights */
export type DenseCommon = Omit<ConvIntSpec, 'xShape' | 'w' | 'wShape' | 'strides' | 'pads' | 'dilations' | 'group'>;

/** DenseCommon of a conv / gemm layer whose input is quantized as xq. */
export function linearCommon(layer: QLinearLayer, xq: QParams, opts: Pick<QExecOptions, 'acc' | 'order' | 'form'>): DenseCommon {
  const w = layer.weight;
  return {
    zx: xq.zeroPoint[0],
    zw: w.q.zeroPoint,
    bias: layer.bias,
    acc: layer.accBits ? { ...opts.acc, bits: layer.accBits } : opts.acc,
    order: opts.order ?? DEFAULT_ORDER,
    form: opts.form ?? 'raw',
    xBits: xq.bits,
    xSigned: xq.signed,
    wBits: w.q.bits,
    wSigned: w.q.signed,
  };
}

/**
 * Convs that may hand their codes straight to the next conv (QuantizedRunner's hand-off): conv P
 * → C where C alone reads P's output, as its input, and P's output is not a graph output nor
 * LUT-activated (the codes the kernel writes are final). `next`: P → C; `chain`: each such conv →
 * the first of its chain (the kernels of a chain share one WebAssembly memory). The graph alone
 * decides these; whether a run hands codes on also depends on its options and shapes.
 */
export function convChains(net: QuantizedNetwork): { next: Map<string, QLinearLayer>; chain: Map<string, string> } {
  const readers = new Map<string, QLayer[]>();
  for (const l of net.layers) for (const x of l.inputs) readers.set(x, [...(readers.get(x) ?? []), l]);
  const graphOut = new Set(net.outputs.map((o) => o.name));
  const next = new Map<string, QLinearLayer>();
  const chain = new Map<string, string>();
  for (const l of net.layers) {
    if (l.kind !== 'conv' || l.activation.kind === 'lut' || graphOut.has(l.output)) continue;
    const r = readers.get(l.output);
    if (r?.length !== 1 || r[0].kind !== 'conv' || r[0].inputs[0] !== l.output || r[0].inputs.includes(l.output, 1)) continue;
    next.set(l.name, r[0]);
    // layers come in topological order: P's chain is known before C's
    chain.set(r[0].name, chain.get(l.name) ?? l.name);
    chain.set(l.name, chain.get(l.name) ?? l.name);
  }
  return { next, chain };
}

export function poolAttrs(l: QPoolLayer): PoolAttrs {
  return { kernel: l.kernel, strides: l.strides, pads: l.pads, dilations: l.dilations, ceilMode: l.ceilMode, countIncludePad: l.countIncludePad };
}

// ---------------------------------------------------------------------------------------------
// overflow reports of batched gemms

export function mergeReports(rs: OverflowReport[], rowsPerBatch: number): OverflowReport {
  if (rs.length === 1) return rs[0];
  const perChannel = new Float64Array(rs[0].perChannel.length);
  let events = 0;
  let first: OverflowReport['first'] = null;
  let maxAbs = 0;
  let zw = 0;
  let xs = 0;
  let ps = 0;
  let proved = true;
  rs.forEach((r, b) => {
    events += r.events;
    for (let c = 0; c < perChannel.length; c++) perChannel[c] += r.perChannel[c];
    if (r.first) {
      const f = { channel: r.first.channel, position: r.first.position + b * rowsPerBatch, step: r.first.step };
      if (!first || f.channel < first.channel || (f.channel === first.channel && f.position < first.position)) first = f;
    }
    maxAbs = Math.max(maxAbs, r.maxAbs);
    zw += r.zwSumSteps;
    xs += r.xSumAdds;
    ps += r.psumEvents;
    proved &&= r.proved;
  });
  return { events, perChannel, first, proved, maxAbs, zwSumSteps: zw, xSumAdds: xs, tiles: rs[0].tiles, psumEvents: ps };
}

// ---------------------------------------------------------------------------------------------
// prepared layers

/** at most this many input shapes kept per layer (a batch size and the last, smaller batch) */
const SHAPES_PER_LAYER = 2;

/**
 * The linear layers of one network prepared once (sim/kernels prepareConvInt / prepareGemmInt:
 * validation, bound analysis, weights in arrival order, the WebAssembly kernel and its memory) and
 * reused by every run — preparing is as costly as running a small layer, so re-preparing per
 * inference dominated batch-1 execution. Keyed by the layer object and its input shape; valid for
 * one set of executor options (QuantizedExecutor owns one per options) and as long as the
 * network's weights, zero points and bias are not changed in place (QuantizedNetworks are
 * treated as immutable: PTQ passes build new ones).
 */
/**
 * Int32 buffers for layer outputs, reused once their tensor is dead: a fresh large typed array
 * costs a page fault per 4 KiB on its first write (in a VM, more than the copy into it), so an
 * executor that allocates every layer's output anew spends much of a batch in the kernel's
 * zeroing. Buffers come back dirty: a taker writes every element.
 */
export class BufferPool {
  private readonly free = new Map<number, Int32Array[]>();

  take(n: number): Int32Array {
    return this.free.get(n)?.pop() ?? new Int32Array(n);
  }

  give(a: Int32Array): void {
    let list = this.free.get(a.length);
    if (!list) this.free.set(a.length, (list = []));
    // a few per size: a network's live tensors of one shape at a time
    if (list.length < 4) list.push(a);
  }
}

export class PreparedLayers {
  /** integer tensors' buffers handed back by earlier runs (and layers) of the executor, by length */
  readonly pool = new BufferPool();
  private readonly convs = new Map<QLinearLayer, { key: string; prep: PreparedConvInt }[]>();
  private readonly gemms = new Map<QLinearLayer, PreparedGemmInt[]>();
  private readonly parts = new Map<QLinearLayer, { key: string; prep: PreparedConvInt }[]>();
  private readonly safeBits = new Map<QLinearLayer, number>();
  private readonly arenas = new Map<string, KernelArena>();
  private readonly fused = new Map<QLinearLayer, FusedRequant | null>();

  /** a layer's fused requantization (fusedRequantOf), made once: the options are the same for every run sharing these layers */
  fusedRequant(layer: QLinearLayer, make: () => FusedRequant | null): FusedRequant | null {
    if (!this.fused.has(layer)) this.fused.set(layer, make());
    return this.fused.get(layer)!;
  }

  /** the WebAssembly memory of a chain of convs (convChains), by its first layer's name */
  arena(chain: string): KernelArena {
    let a = this.arenas.get(chain);
    if (!a) this.arenas.set(chain, (a = new KernelArena()));
    return a;
  }

  /** bounds.ts minSafeAccBits of a layer: a pass over its weights, so once per network */
  minSafeBits(layer: QLinearLayer, make: () => number): number {
    let b = this.safeBits.get(layer);
    if (b === undefined) this.safeBits.set(layer, (b = make()));
    return b;
  }

  conv(layer: QLinearLayer, xShape: readonly number[], make: () => PreparedConvInt): PreparedConvInt {
    return cached(this.convs, layer, xShape.join(','), SHAPES_PER_LAYER, make);
  }

  /** one channel group of a conv with a split input (sim/kernels/split-input.ts) */
  convPart(layer: QLinearLayer, part: number, xShape: readonly number[], make: () => PreparedConvInt): PreparedConvInt {
    // every group of up to SHAPES_PER_LAYER input shapes (of at most 8 groups)
    return cached(this.parts, layer, `${part}:${xShape.join(',')}`, SHAPES_PER_LAYER * 8, make);
  }

  /** gemm: the batch size varies per run, so one per weight slice (`slice`: a batched weight's index) */
  gemm(layer: QLinearLayer, slice: number, make: () => PreparedGemmInt): PreparedGemmInt {
    let list = this.gemms.get(layer);
    if (!list) this.gemms.set(layer, (list = []));
    return (list[slice] ??= make());
  }
}

/** the entry of `key` in the layer's list, made and appended when missing (the oldest dropped past `limit`) */
function cached<T>(lists: Map<QLinearLayer, { key: string; prep: T }[]>, layer: QLinearLayer, key: string, limit: number, make: () => T): T {
  let list = lists.get(layer);
  if (!list) lists.set(layer, (list = []));
  const hit = list.find((e) => e.key === key);
  if (hit) return hit.prep;
  const prep = make();
  if (list.length >= limit) list.shift();
  list.push({ key, prep });
  return prep;
}

// ---------------------------------------------------------------------------------------------

/**
 * MatMul's batch broadcast (numpy rules) of A's leading dims `xb` and B's `wb`: the output batch
 * dims, and per output batch the flat batch index of A and of B (pairs [a0, b0, a1, b1, …]).
 */
export function broadcastBatches(xb: readonly number[], wb: readonly number[], layer: QLayer): { ob: number[]; pairs: Int32Array } {
  const r = Math.max(xb.length, wb.length);
  const ob: number[] = [];
  for (let i = 0; i < r; i++) {
    const a = xb[xb.length - r + i] ?? 1;
    const b = wb[wb.length - r + i] ?? 1;
    if (a !== b && a !== 1 && b !== 1) {
      throw new ModelError([{ node: layer.name, op: layer.kind, message: `batch dims [${xb.join(',')}] and [${wb.join(',')}] do not broadcast` }]);
    }
    ob.push(a === 1 ? b : a);
  }
  const nb = numel(ob);
  const pairs = new Int32Array(2 * nb);
  const idx = new Array<number>(r).fill(0);
  for (let b = 0; b < nb; b++) {
    let xo = 0;
    let wo = 0;
    for (let i = 0; i < r; i++) {
      const xd = xb[xb.length - r + i] ?? 1;
      const wd = wb[wb.length - r + i] ?? 1;
      xo = xo * xd + (xd === 1 ? 0 : idx[i]);
      wo = wo * wd + (wd === 1 ? 0 : idx[i]);
    }
    pairs[2 * b] = xo;
    pairs[2 * b + 1] = wo;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i] < ob[i]) break;
      idx[i] = 0;
    }
  }
  return { ob, pairs };
}

