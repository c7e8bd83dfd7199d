/**
 * Functional executor of a QuantizedNetwork: runs every layer with the bit-exact integer kernels
 * (sim/kernels: convInt / gemmInt on a P-bit accumulator in the dataflow's order — an activation ×
 * activation matmul too, its B the stationary operand per head), requantizes in the run's mode
 * (qnet/requant.ts), and runs the integer element ops (sim/qops.ts), LUT and i-GELU activations
 * (qnet/lut.ts, qnet/igelu.ts), softmax and layernorm (qnet/softmax.ts, qnet/layernorm.ts) and
 * QuantizeLinear / DequantizeLinear (qnet/qmath.ts). Float layers left between a
 * dequantize and a quantize run through nets/fp32's execNode.
 *
 * With `requant: { mode: 'float' }` and a 32-bit wrapping accumulator the outputs equal
 * onnxruntime's QLinearConv / QLinearMatMul bit for bit (test/property/qlinear-vs-ort.test.ts).
 *
 * No timing here: this is the reference the cycle-level engine's functional results must equal.
 * Conventions shared with quant/onnx/qimport.ts: a conv/gemm layer whose output tensor has
 * `bits: 32` returns its raw accumulators (ConvInteger / MatMulInteger), wrapped to int32; a gemm
 * maps [..., K] to [..., N]; a batched gemm weight [...batch, N, K] broadcasts like MatMul.
 */
import { tensorCompression } from './kernels/compress.js';
import { linearZeroCounts, type LinearZeroCounts } from './kernels/zeros.js';
import type { LayerAccumulator, LayerInfo, LinearAccumulation, QExecOptions, QExecResult } from './qexec-types.js';
import { InvariantError, ModelError } from '../nets/errors.js';
import { execNode } from '../nets/fp32.js';
import { transposeData } from '../nets/fp32-tensor.js';
import type { Tensor } from '../nets/graph.js';
import type { QActivation, QLayer, QLinearLayer, QMatMulLayer, QParams, QPoolLayer, QuantizedNetwork } from '../qnet/network.js';
import type { SwampReport } from './kernels/fp-dot.js';
import type { AccumulatorSpec, OverflowReport } from './kernels/accumulator.js';
import { minSafeAccBits } from './kernels/bounds.js';
import { prepareConvInt, prepareGemmInt, type GemmIntSpec, type Handoff, type PreparedConvInt } from './kernels/linear.js';
import type { FusedRequant } from './kernels/simd.js';
import { splitConvAccumulate, splitGemmAccumulate } from './kernels/split-input.js';
import { channelGroups, isSplit, linearInputScale } from '../qnet/split.js';
import { applyIgelu } from '../qnet/igelu.js';
import { layerNormInt } from '../qnet/layernorm.js';
import { applyLut } from '../qnet/lut.js';
import { softmaxInt, softmaxProbs } from '../qnet/softmax.js';
import { logCodesOfProbs, logMatmulInt } from '../qnet/logquant.js';
import { dequantizeLinear, qRange, quantizeLinear } from '../qnet/qmath.js';
import { maxPoolInt, plain2x2Pool, qlinearAdd, qlinearAveragePool, qlinearConcat, qlinearGlobalAveragePool, qlinearSigmoid } from './qops.js';
import { snapToFormat } from '../qnet/formats/descriptor.js';
import { execFormat, type FormatContext } from './qexec-formats.js';
import { broadcastBatches, convChains, DEFAULT_ORDER, dtypeOfQ, fromTensor, fusablePools, fusedRequantOf, intVal, isInt, linearCommon, mergeReports, numel, poolAttrs, PreparedLayers, reshapeShape, shapeOp, toTensor, type DenseCommon, type IntVal, type Val } from './qexec-values.js';
import { clampCodes, requantize, requantParams, requantTarget } from '../qnet/requant.js';

export type { LayerAccumulator, LayerInfo, LinearAccumulation, QExecOptions, QExecResult } from './qexec-types.js';

export { PreparedLayers, toTensor };


/** a linear layer's arithmetic without its geometry (a 1×1 kernel's arrival order is its channels' in any kOrder) */

/**
 * The executor one layer at a time: `bind(feeds)`, then `step(i)` for every layer in order (a
 * conv/gemm may bring its own accumulators), then `result()`. runQuantized is exactly that loop;
 * the timing run's functional sink (sim/functional.ts) drives it from engine events.
 */
export class QuantizedRunner {
  private readonly values = new Map<string, Val>();
  /** live values per buffer taken from the pool (alloc): back to the pool when none is left */
  private readonly refs = new Map<Int32Array, number>();
  readonly overflow: Record<string, OverflowReport> = {};
  private readonly zeros: Record<string, LinearZeroCounts> = {};
  private readonly compressed: Record<string, { rawBits: number; compressedBits: number }> = {};
  /** samples in the bound feeds (the leading dimension every activation carries) */
  private samples = 1;
  readonly accumulators: Record<string, LayerAccumulator> = {};
  readonly swamping: Record<string, SwampReport> = {};

  /** what qexec-formats.ts reads of this run */
  private readonly formats: FormatContext;

  /**
   * conv layer name → the MaxPool that alone reads its output (bind()): the conv may run it fused
   * (a plain 2×2 stride-2 window, checked on the output shape); its value is then already pooled
   */
  private poolAfter = new Map<string, QPoolLayer>();
  /** values a conv produced already pooled: their MaxPool passes them on */
  private readonly prepooled = new WeakSet<Val>();
  /** the graph's output names: their values must outlive the run (never a view of a kernel's memory) */
  private graphOutputs = new Set<string>();
  /** convs that may hand their codes to the next conv, and their chains' memories (convChains) */
  private chains: ReturnType<typeof convChains> = { next: new Map(), chain: new Map() };
  /** values whose codes went straight into the next conv's operand input: no data of their own */
  private readonly handedOff = new WeakSet<Val>();
  /** set while run() drives every step (a step driven from outside may bring its own accumulation, which reads its input) */
  private chained = false;

  constructor(
    private readonly net: QuantizedNetwork,
    private readonly opts: QExecOptions,
    /** prepared layers shared by runs with these options (default: this run's own) */
    private readonly prepared: PreparedLayers = new PreparedLayers(),
  ) {
    this.formats = {
      net,
      order: opts.order ?? DEFAULT_ORDER,
      swamping: this.swamping,
      value: (name) => this.values.get(name),
      get: (name, layer) => this.get(name, layer),
      float: (name, layer) => this.float(name, layer),
      q: (name, layer) => this.q(name, layer),
      activate: (codes, shape, act, yq) => this.activate(codes, shape, act, yq),
    };
  }

  private q(name: string, layer: QLayer): QParams {
    const t = this.net.tensors.get(name);
    if (!t) throw new InvariantError(`layer '${layer.name}': tensor '${name}' has no quantization parameters`);
    return t.q;
  }

  private get(name: string, layer: QLayer): Val {
    const v = this.values.get(name);
    if (!v) throw new ModelError([{ node: layer.name, op: layer.kind, message: `input '${name}' is not computed before this layer` }]);
    return v;
  }

  private int(name: string, layer: QLayer): IntVal {
    const v = this.get(name, layer);
    if (!isInt(v)) throw new ModelError([{ node: layer.name, op: layer.kind, message: `input '${name}' is ${v.dtype}, an integer tensor is expected` }]);
    return v;
  }

  private float(name: string, layer: QLayer): Tensor {
    const v = this.get(name, layer);
    if (isInt(v)) throw new ModelError([{ node: layer.name, op: layer.kind, message: `input '${name}' is ${v.dtype}, a float32 tensor is expected` }]);
    return v;
  }

  run(feeds: Record<string, Tensor>): QExecResult {
    this.bind(feeds);
    this.chained = true;
    try {
      this.net.layers.forEach((layer, idx) => this.step(idx));
    } finally {
      this.chained = false;
    }
    return this.result();
  }

  private lastUse: Map<string, number> | null = null;

  /** Checks and binds the graph inputs and float constants (before any step). */
  bind(feeds: Record<string, Tensor>): void {
    const net = this.net;
    const problems: { node: string; message: string }[] = [];
    for (const inp of net.inputs) {
      const t = feeds[inp.name];
      if (!t) {
        problems.push({ node: inp.name, message: `graph input '${inp.name}' was not fed` });
        continue;
      }
      if (t.dtype !== inp.dtype) problems.push({ node: inp.name, message: `input '${inp.name}' is ${t.dtype}, the model expects ${inp.dtype}` });
      else if (t.shape.length !== inp.shape.length || inp.shape.some((d, i) => d >= 0 && d !== t.shape[i])) {
        problems.push({ node: inp.name, message: `input '${inp.name}' has shape [${t.shape.join(',')}], the model expects [${inp.shape.join(',')}]` });
      } else this.values.set(inp.name, t.dtype === 'float32' ? t : fromTensor(t, inp.name));
    }
    if (problems.length) throw new ModelError(problems);
    const first = net.inputs[0] ? feeds[net.inputs[0].name] : undefined;
    this.samples = first && first.shape.length > 0 ? first.shape[0] : 1;
    for (const [name, t] of net.floatConstants ?? []) this.values.set(name, t.dtype === 'float32' ? t : fromTensor(t, name));
    const lastUse = new Map<string, number>();
    net.layers.forEach((l, i) => l.inputs.forEach((x) => lastUse.set(x, i)));
    this.lastUse = lastUse;
    this.poolAfter = fusablePools(this.net, this.opts);
    this.graphOutputs = new Set(net.outputs.map((o) => o.name));
    this.chains = convChains(net);
  }

  /**
   * Runs layer `idx` on the values computed so far. `linear` replaces the accumulation of a
   * conv/gemm layer (the timing run's tile-by-tile execution); requantization stays here.
   */
  step(idx: number, linear?: LinearAccumulation): void {
    const net = this.net;
    const layer = net.layers[idx];
    const info: { acc?: Float64Array; overflow?: OverflowReport } = {};
    const out = linear && (layer.kind === 'conv' || layer.kind === 'gemm') ? this.finishLinear(layer, linear, info) : this.exec(layer, info);
    this.values.set(layer.output, out);
    if (isInt(out)) {
      const r = this.refs.get(out.data);
      if (r !== undefined) this.refs.set(out.data, r + 1);
      const fmt = this.opts.compression;
      const q = fmt ? this.net.tensors.get(layer.output)?.q : undefined;
      // per-tensor zero point, every sample the same size (a tensor that is one sample's constant is not sent per sample)
      if (fmt && q && q.zeroPoint.length === 1 && out.data.length % this.samples === 0) this.compressed[layer.output] = tensorCompression(out.data, this.samples, q.zeroPoint[0], q.bits, fmt);
    }
    this.opts.onLayer?.(layer, isInt(out) ? toTensor(out) : out, info);
    const keep = new Set(net.outputs.map((o) => o.name));
    for (const n of layer.inputs) {
      if (this.lastUse?.get(n) === idx && !keep.has(n) && !net.floatConstants?.has(n)) this.release(n);
    }
  }

  /**
   * An Int32 buffer of n elements for a layer's output, every element of which the caller writes:
   * from the pool (recycled when the values using it are dead) where no onLayer observer could
   * keep a reference, else new.
   */
  private alloc(n: number): Int32Array {
    if (this.opts.onLayer) return new Int32Array(n);
    const a = this.prepared.pool.take(n);
    this.refs.set(a, 0);
    return a;
  }

  /** Hands back a buffer from alloc() that no value took. */
  private unalloc(a: Int32Array): void {
    if (this.refs.get(a) !== 0) return;
    this.refs.delete(a);
    this.prepared.pool.give(a);
  }

  /** Drops a dead value; its pooled buffer goes back once no live value shares it (a Reshape's output does). */
  private release(name: string): void {
    const v = this.values.get(name);
    this.values.delete(name);
    if (!v || !isInt(v)) return;
    const r = this.refs.get(v.data);
    if (r === undefined) return;
    if (r > 1) this.refs.set(v.data, r - 1);
    else {
      this.refs.delete(v.data);
      this.prepared.pool.give(v.data);
    }
  }

  /** An integer input of `layer` with its quantization (for a caller that accumulates it itself). */
  intInput(layer: QLayer, i: number): { data: Int32Array; shape: readonly number[]; q: QParams } {
    const name = layer.inputs[i];
    return this.view(this.int(name, layer), name, layer);
  }

  /** The graph outputs and reports once every layer has run. */
  result(): QExecResult {
    const net = this.net;
    const outputs: Record<string, Tensor> = {};
    for (const o of net.outputs) {
      const v = this.values.get(o.name);
      if (!v) throw new ModelError([{ node: o.name, message: `graph output '${o.name}' was not computed` }]);
      outputs[o.name] = isInt(v) ? toTensor(v) : v;
    }
    return {
      outputs,
      overflow: this.overflow,
      accumulators: this.accumulators,
      swamping: this.swamping,
      ...(this.opts.zeros && { zeros: this.zeros }),
      ...(this.opts.compression && { compressed: this.compressed }),
    };
  }

  private exec(layer: QLayer, info: { acc?: Float64Array; overflow?: OverflowReport }): Val {
    const f = execFormat(this.formats, layer);
    if (f !== null) return f;
    switch (layer.kind) {
      case 'quantize': {
        const x = this.float(layer.inputs[0], layer);
        const q = this.q(layer.output, layer);
        return intVal(dtypeOfQ(q), x.shape, quantizeLinear(x.data as Float32Array, q, x.shape, this.alloc(x.data.length)));
      }
      case 'dequantize': {
        const x = this.int(layer.inputs[0], layer);
        const q = this.q(layer.inputs[0], layer);
        const y = dequantizeLinear(x.data, q, x.shape);
        // an integer layer inside a number-format network hands its output back on the format's grid
        const fmt = this.net.tensors.get(layer.output)?.format;
        return { dtype: 'float32', shape: [...x.shape], data: fmt ? snapToFormat(fmt, y, x.shape) : y };
      }
      case 'conv':
      case 'gemm':
        return this.linear(layer, info);
      case 'add': {
        const a = this.int(layer.inputs[0], layer);
        const b = this.int(layer.inputs[1], layer);
        const yq = this.q(layer.output, layer);
        const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
        const r = qlinearAdd(this.view(a, layer.inputs[0], layer), this.view(b, layer.inputs[1], layer), yq, this.opts.requant, layer.activation, same ? this.alloc(a.data.length) : undefined);
        return intVal(dtypeOfQ(yq), r.shape, r.data);
      }
      case 'concat': {
        const views = layer.inputs.map((n) => this.view(this.int(n, layer), n, layer));
        const yq = this.q(layer.output, layer);
        const r = qlinearConcat(views, layer.axis, yq, this.opts.requant);
        return intVal(dtypeOfQ(yq), r.shape, r.data);
      }
      case 'maxpool': {
        const x = this.int(layer.inputs[0], layer);
        if (this.prepooled.has(x)) return x;
        const range = qRange(this.q(layer.inputs[0], layer));
        const r = maxPoolInt(x, poolAttrs(layer), (n) => this.alloc(n), range.qmin, range);
        return intVal(x.dtype, r.shape, r.data);
      }
      case 'avgpool': {
        const x = this.int(layer.inputs[0], layer);
        const yq = this.q(layer.output, layer);
        const r = qlinearAveragePool(this.view(x, layer.inputs[0], layer), poolAttrs(layer), yq, this.opts.requant);
        return intVal(dtypeOfQ(yq), r.shape, r.data);
      }
      case 'globalavgpool': {
        const x = this.int(layer.inputs[0], layer);
        const yq = this.q(layer.output, layer);
        const r = qlinearGlobalAveragePool(this.view(x, layer.inputs[0], layer), yq, this.opts.requant);
        return intVal(dtypeOfQ(yq), r.shape, r.data);
      }
      case 'activation': {
        const x = this.int(layer.inputs[0], layer);
        const yq = this.q(layer.output, layer);
        const act = layer.activation;
        if (act.kind === 'lut' && act.fn === 'sigmoid' && act.entries === 2 ** act.inQ.bits) {
          // QLinearSigmoid: ORT's table in float mode, the accelerator's LUT in fixed mode
          const r = qlinearSigmoid(this.view(x, layer.inputs[0], layer), yq, this.opts.requant);
          return intVal(dtypeOfQ(yq), r.shape, r.data);
        }
        return intVal(dtypeOfQ(yq), x.shape, this.activate(Int32Array.from(x.data), x.shape, act, yq));
      }
      case 'reshape':
      case 'flatten':
      case 'transpose':
      case 'resize':
      case 'identity':
        return shapeOp(layer, this.int(layer.inputs[0], layer));
      case 'float': {
        const ins = layer.node.inputs.map((n) => (n === '' ? undefined : this.float(n, layer)));
        return execNode(layer.node, ins)[0];
      }
      case 'matmul':
        return this.matmul(layer, info);
      case 'softmax': {
        const x = this.int(layer.inputs[0], layer);
        const yq = this.q(layer.output, layer);
        const spec = { axis: layer.axis, coerce2d: layer.coerce2d, variant: layer.variant, expLutEntries: layer.expLutEntries, name: layer.name };
        const lq = this.net.tensors.get(layer.output)?.log;
        if (lq) return intVal('uint8', x.shape, logCodesOfProbs(softmaxProbs(x.data, x.shape, this.q(layer.inputs[0], layer), spec), lq));
        return intVal(dtypeOfQ(yq), x.shape, softmaxInt(x.data, x.shape, this.q(layer.inputs[0], layer), yq, spec, this.opts.requant));
      }
      case 'layernorm': {
        const x = this.int(layer.inputs[0], layer);
        const yq = this.q(layer.output, layer);
        const spec = { axis: layer.axis, epsilon: layer.epsilon, gamma: layer.gamma, beta: layer.beta, variant: layer.variant, name: layer.name };
        return intVal(dtypeOfQ(yq), x.shape, layerNormInt(x.data, x.shape, this.q(layer.inputs[0], layer), yq, spec, this.opts.requant));
      }
    }
  }

  private view(v: IntVal, name: string, layer: QLayer): { data: Int32Array; shape: readonly number[]; q: QParams } {
    return { data: v.data, shape: v.shape, q: this.q(name, layer) };
  }

  /** A standalone activation on codes (in place). */
  private activate(codes: Int32Array, shape: readonly number[], act: QActivation, yq: QParams): Int32Array {
    if (act.kind === 'none') return codes;
    if (act.kind === 'lut') return applyLut(codes, act, codes);
    if (act.kind === 'igelu') return applyIgelu(codes, act, this.opts.requant.multiplierBits, this.opts.requant.rounding, codes);
    const { qmin, qmax } = qRange(yq);
    return clampCodes(codes, shape, act, qmin, qmax);
  }

  private linear(layer: QLinearLayer, info: { acc?: Float64Array; overflow?: OverflowReport }): Val {
    const x = this.int(layer.inputs[0], layer);
    const xq = this.q(layer.inputs[0], layer);
    const w = layer.weight;
    // per channel group (qnet/split.ts) only on the reduction axis: conv with group 1 axis 1, 2-D gemm the last
    const split = isSplit(xq);
    if (split && !(layer.kind === 'conv' ? layer.group === 1 && xq.axis === 1 : w.shape.length === 2 && xq.axis === x.shape.length - 1)) throw new ModelError([{ node: layer.name, op: layer.kind, message: 'the input must be quantized per tensor, or per channel group on the reduction axis' }]);
    const common = linearCommon(layer, xq, this.opts);
    if (this.opts.zeros && !split && (layer.kind === 'conv' || w.shape.length === 2)) {
      const conv = layer.kind === 'conv' ? { strides: layer.strides, pads: layer.pads, dilations: layer.dilations, group: layer.group } : undefined;
      const z = linearZeroCounts(x, xq.zeroPoint[0], { data: w.data, shape: w.shape, zp: w.q.zeroPoint }, conv, this.opts.zeroVectors);
      if (typeof z === 'string') throw new ModelError([{ node: layer.name, op: layer.kind, message: z }]);
      this.zeros[layer.name] = z;
    }
    let accs: Float64Array;
    let outShape: number[];
    /** shape of the accumulators as requantize sees them: channel axis 1 */
    let rqShape: number[];
    let report: OverflowReport;
    const nOut = w.shape[w.shape.length - (layer.kind === 'conv' ? 4 : 2)];
    if (layer.kind === 'conv') {
      if (x.shape.length !== 4) throw new ModelError([{ node: layer.name, op: 'conv', message: `input must be NCHW, got shape [${x.shape.join(',')}]` }]);
      const xShape = x.shape as [number, number, number, number];
      if (split) {
        const spec = { ...common, w: w.data, wShape: w.shape as [number, number, number, number], strides: layer.strides, pads: layer.pads, dilations: layer.dilations, group: 1 };
        const r = splitConvAccumulate({ x: x.data, xShape, groups: channelGroups(xq), spec, requant: this.opts.requant, prepared: (g, shape, make) => this.prepared.convPart(layer, g, shape, make) });
        return this.finishLinear(layer, { ...r, rqShape: r.outShape }, info);
      }
      const fzDense = xShape[2] === 1 && xShape[3] === 1 && layer.group === 1 && layer.pads.every((p) => p === 0) && w.shape[2] === 1 && w.shape[3] === 1 ? this.fusedRequant(layer, nOut) : null;
      const dense = fzDense && this.denseTransposed(layer, x.data, xShape[0], xShape[1], nOut, common, fzDense);
      if (dense) return this.finishCodes(layer, dense.report, [xShape[0], nOut, 1, 1], dense.codes, info);
      const prep = this.convPrep(layer, xShape, common);
      const fz = this.fusedRequant(layer, nOut);
      const poolLayer = fz && this.poolAfter.get(layer.name);
      const pooled = poolLayer ? plain2x2Pool(prep.outShape, poolAttrs(poolLayer)) : undefined;
      const handed = this.handedOff.has(x);
      if (fz) {
        const [n, c, oh, ow] = prep.outShape;
        const shape = pooled ? [n, c, pooled.h, pooled.w] : [n, c, oh, ow];
        const next = this.chains.next.get(layer.name);
        const to = next && !pooled && prep.fused ? this.handTo(layer, next, prep.outShape) : null;
        // the codes left where the kernel wrote them (no copy out) unless they must outlive this run
        // (graph outputs, observers) or the next conv, whose kernel shares this memory, may move them
        const inPlace = !next && !this.opts.onLayer && !this.graphOutputs.has(layer.output);
        const into = to || inPlace ? null : this.alloc(numel(shape));
        const r = handed ? prep.runAccepted(fz, pooled ?? undefined, into, to ?? undefined) : prep.runCodesView(x.data, fz, pooled ?? undefined, into, to ?? undefined);
        if (r) {
          const v = this.finishCodes(layer, r.report, shape, r.codes, info);
          if (pooled) this.prepooled.add(v);
          if (to) this.handedOff.add(v);
          return v;
        }
        if (into) this.unalloc(into);
      }
      if (handed) throw new InvariantError(`layer '${layer.name}': its input was handed on, but it does not run fused`);
      const r = prep.run(x.data);
      accs = r.acc;
      outShape = r.outShape;
      rqShape = outShape;
      report = r.overflow;
    } else {
      const K = w.shape[w.shape.length - 1];
      const xs = x.shape;
      if (xs.length === 0 || xs[xs.length - 1] !== K) {
        throw new ModelError([{ node: layer.name, op: 'gemm', message: `input shape [${xs.join(',')}] does not end in K = ${K}` }]);
      }
      if (w.shape.length === 2) {
        const m = x.data.length / K;
        const fz = split ? null : this.fusedRequant(layer, nOut);
        const dense = fz && this.denseTransposed(layer, x.data, m, K, nOut, common, fz);
        if (dense) return this.finishCodes(layer, dense.report, [...xs.slice(0, -1), nOut], dense.codes, info);
        if (fz) {
          const codes = this.alloc(m * nOut);
          const rep = this.prepared.gemm(layer, 0, () => prepareGemmInt({ ...common, k: K, w: w.data, nOut })).runCodes(x.data, m, fz, codes);
          if (rep) return this.finishCodes(layer, rep, [...xs.slice(0, -1), nOut], codes, info);
          this.unalloc(codes);
        }
        const r = split
          ? splitGemmAccumulate({ x: x.data, m, groups: channelGroups(xq), spec: { ...common, k: K, w: w.data, nOut }, requant: this.opts.requant, prepared: (g, make) => this.prepared.gemm(layer, 1 + g, make) })
          : this.prepared.gemm(layer, 0, () => prepareGemmInt({ ...common, k: K, w: w.data, nOut })).run(x.data, m);
        accs = r.acc;
        report = r.overflow;
        outShape = [...xs.slice(0, -1), nOut];
        rqShape = [m, nOut];
      } else {
        const res = this.batchedGemm(layer, x, common, K, nOut);
        accs = res.acc;
        report = res.overflow;
        outShape = res.outShape;
        rqShape = [accs.length / nOut, nOut];
      }
    }
    return this.finishLinear(layer, { acc: accs, outShape, rqShape, overflow: report }, info);
  }

  /** A conv layer prepared for input shape xShape (its chain's memory, where it has one). */
  private convPrep(layer: QLinearLayer, xShape: readonly [number, number, number, number], common: DenseCommon): PreparedConvInt {
    const w = layer.weight;
    const chain = this.chains.chain.get(layer.name);
    return this.prepared.conv(layer, xShape, () =>
      prepareConvInt(
        { ...common, xShape, w: w.data, wShape: w.shape as [number, number, number, number], strides: layer.strides, pads: layer.pads, dilations: layer.dilations, group: layer.group },
        chain === undefined ? undefined : this.prepared.arena(chain),
      ),
    );
  }

  /**
   * Conv `next`'s operand input readied for conv p's codes (p's output, of shape `shape`: next's
   * input) — the hand-off: p's requant writes them there as int16, no codes of its own, no fill —
   * or null where this run cannot: a step driven from outside, observers or per-value statistics
   * that read the codes, a split input, 1×1 images (next runs as a dense layer), next not on the
   * fused path.
   */
  private handTo(p: QLinearLayer, next: QLinearLayer, shape: readonly [number, number, number, number]): Handoff | null {
    if (!this.chained || this.opts.onLayer || this.opts.compression || this.opts.zeros) return null;
    const xq = this.q(p.output, p);
    if (isSplit(xq) || shape[2] * shape[3] === 1 || !this.fusedRequant(next, next.weight.shape[0])) return null;
    const { qmin, qmax } = qRange(xq);
    return this.convPrep(next, shape, linearCommon(next, xq, this.opts)).accept(qmin, qmax);
  }

  /**
   * A dense layer on m ≥ 16 rows — a Gemm, or a 1×1 conv on 1×1 images (a Gemm exported as a
   * conv) — with its requantization fused, run as a 1×1 conv over one image m wide ([1, K, 1, m]:
   * the input transposed), then its codes transposed back. Why: the kernel gathers 8 positions'
   * operands with two vector loads where they are consecutive, one scalar load each where they
   * are K apart (a row's operands), and that gather cost fmnist-cnn's fc1 half its time. The same
   * sums in the same order and tiles (K is the conv's channels, kOrder ckk), so the same codes and
   * report — runCodes takes only layers the bound analysis proved. null where it does not apply.
   */
  private denseTransposed(layer: QLinearLayer, x: Int32Array, m: number, K: number, nOut: number, common: DenseCommon, fz: FusedRequant): { codes: Int32Array; report: OverflowReport } | null {
    if (m < 16) return null;
    const xShape = [1, K, 1, m] as const;
    const prep = this.prepared.conv(layer, xShape, () =>
      prepareConvInt({ ...common, xShape, w: layer.weight.data, wShape: [nOut, K, 1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }),
    );
    const xt = transposeData(x, [m, K], [1, 0], this.alloc(K * m)).data;
    const r = prep.runCodesView(xt, fz);
    this.unalloc(xt);
    return r && { codes: transposeData(r.codes, [nOut, m], [1, 0], this.alloc(m * nOut)).data, report: r.report };
  }

  /** fusedRequantOf this layer, once per PreparedLayers (it depends on the network and the options alone) */
  private fusedRequant(layer: QLinearLayer, nOut: number): FusedRequant | null {
    return this.prepared.fusedRequant(layer, () => fusedRequantOf(layer, this.q(layer.inputs[0], layer), this.q(layer.output, layer), this.opts, nOut));
  }

  /** finishLinear for a layer whose requantization ran fused: the report, and the codes as the output. */
  private finishCodes(layer: QLinearLayer, report: OverflowReport, outShape: number[], codes: Int32Array, info: { acc?: Float64Array; overflow?: OverflowReport }): Val {
    const act = layer.activation;
    if (act.kind === 'lut') applyLut(codes, act, codes);
    this.recordLinear(layer, report);
    info.overflow = report;
    return intVal(dtypeOfQ(this.q(layer.output, layer)), outShape, codes);
  }

  /** A linear layer's overflow report and accumulator facts. */
  private recordLinear(layer: QLinearLayer, report: OverflowReport): void {
    const xq = this.q(layer.inputs[0], layer);
    const w = layer.weight;
    const acc: AccumulatorSpec = layer.accBits ? { ...this.opts.acc, bits: layer.accBits } : this.opts.acc;
    const form = this.opts.form ?? 'raw';
    const nOut = w.shape[w.shape.length - (layer.kind === 'conv' ? 4 : 2)];
    this.overflow[layer.name] = report;
    this.accumulators[layer.name] = {
      bits: acc.bits,
      policy: acc.policy,
      minSafeBits: this.prepared.minSafeBits(layer, () =>
        minSafeAccBits({
          w: w.data,
          nOut,
          zw: w.q.zeroPoint,
          bias: layer.bias,
          zx: xq.zeroPoint[0],
          xBits: xq.bits,
          xSigned: xq.signed,
          form,
        }),
      ),
    };
  }

  /** Records a linear layer's report and requantizes its accumulators (or returns them raw). */
  private finishLinear(layer: QLinearLayer, r: LinearAccumulation, info: { acc?: Float64Array; overflow?: OverflowReport }): Val {
    const xq = this.q(layer.inputs[0], layer);
    const yq = this.q(layer.output, layer);
    const w = layer.weight;
    const { acc: accs, outShape, rqShape, overflow: report } = r;
    this.recordLinear(layer, report);
    info.acc = accs;
    info.overflow = report;
    if (yq.bits === 32) {
      // ConvInteger / MatMulInteger: the accumulators are the output (int32, two's complement)
      const data = new Int32Array(accs.length);
      for (let i = 0; i < accs.length; i++) data[i] = accs[i] | 0;
      return intVal('int32', outShape, data);
    }
    const target = requantTarget(yq, layer.activation);
    const params = requantParams(linearInputScale(xq), w.q.scale, target.scale[0], this.opts.requant);
    const codes = requantize(accs, rqShape, params, target.zeroPoint[0], target, layer.activation, this.alloc(accs.length));
    return intVal(dtypeOfQ(yq), outShape, codes);
  }

  /** MatMul with a batched weight [...wb, N, K]: batch dims broadcast as numpy does. */
  private batchedGemm(
    layer: QLinearLayer,
    x: IntVal,
    common: Omit<GemmIntSpec, 'k' | 'w' | 'nOut'>,
    K: number,
    nOut: number,
  ): { acc: Float64Array; overflow: OverflowReport; outShape: number[] } {
    const w = layer.weight;
    const vec = x.shape.length === 1;
    const xs = vec ? [1, K] : x.shape;
    const M = xs[xs.length - 2];
    const { ob, pairs } = broadcastBatches(xs.slice(0, -2), w.shape.slice(0, -2), layer);
    const nb = pairs.length / 2;
    const acc = new Float64Array(nb * M * nOut);
    const reports: OverflowReport[] = [];
    for (let b = 0; b < nb; b++) {
      const xo = pairs[2 * b];
      const wo = pairs[2 * b + 1];
      const prep = this.prepared.gemm(layer, wo, () => prepareGemmInt({ ...common, k: K, w: w.data.subarray(wo * nOut * K, (wo + 1) * nOut * K), nOut }));
      const res = prep.run(x.data.subarray(xo * M * K, (xo + 1) * M * K), M, acc.subarray(b * M * nOut, (b + 1) * M * nOut));
      reports.push(res.overflow);
    }
    const outShape = vec ? [...ob, nOut] : [...ob, M, nOut];
    return { acc, overflow: mergeReports(reports, M), outShape };
  }

  /**
   * Activation × activation MatMul: per output batch (head), B's slice [K, N] becomes the
   * stationary operand — transposed to a gemm weight [N, K] with zero point z_b — and A's rows
   * stream through sim/kernels' gemm on the run's accumulator, order and PE form, exactly as a
   * constant weight would; then one requantization with s_a·s_b/s_y (or the raw int32 sums for a
   * 32-bit output). minSafeBits is this run's: the bound for the B it was given.
   */
  private matmul(layer: QMatMulLayer, info: { acc?: Float64Array; overflow?: OverflowReport }): Val {
    const a = this.int(layer.inputs[0], layer);
    const b = this.int(layer.inputs[1], layer);
    const aq = this.q(layer.inputs[0], layer);
    const bq = this.q(layer.inputs[1], layer);
    const yq = this.q(layer.output, layer);
    const fail = (message: string): never => {
      throw new ModelError([{ node: layer.name, op: 'matmul', message }]);
    };
    if (aq.scale.length !== 1 || bq.scale.length !== 1) fail('both operands must be quantized per tensor');
    if (a.shape.length === 0 || b.shape.length === 0) fail('MatMul operands must have rank ≥ 1');
    const aVec = a.shape.length === 1;
    const bVec = b.shape.length === 1;
    const as = aVec ? [1, a.shape[0]] : a.shape;
    const bs = bVec ? [b.shape[0], 1] : b.shape;
    const M = as[as.length - 2];
    const K = as[as.length - 1];
    const N = bs[bs.length - 1];
    if (bs[bs.length - 2] !== K) fail(`inner dimensions differ: A [${a.shape.join(',')}], B [${b.shape.join(',')}]`);
    const { ob, pairs } = broadcastBatches(as.slice(0, -2), bs.slice(0, -2), layer);
    const lq = this.net.tensors.get(layer.inputs[0])?.log;
    if (lq) {
      // log-coded P: shift-add products (qnet/logquant.ts), no accumulator overflow model
      const r = logMatmulInt(a.data, lq, b.data, bq, yq, layer.activation, { M, K, N, pairs }, this.opts.requant, layer.name);
      info.acc = r.acc;
      return intVal(dtypeOfQ(yq), [...ob, ...(aVec ? [] : [M]), ...(bVec ? [] : [N])], r.codes);
    }
    const acc: AccumulatorSpec = layer.accBits ? { ...this.opts.acc, bits: layer.accBits } : this.opts.acc;
    const form = this.opts.form ?? 'raw';
    const zb = Int32Array.of(bq.zeroPoint[0]);
    const nb = pairs.length / 2;
    const accs = new Float64Array(nb * M * N);
    const reports: OverflowReport[] = [];
    const bt = new Int32Array(K * N);
    // B changes every run, so each head is prepared anew: the WebAssembly kernel's instance costs
    // ~0.25 ms, more than a small head's products take in the Float64 loops (same results)
    const kernel = M * K * N >= 1 << 18 ? ('auto' as const) : ('js' as const);
    let minSafeBits = 0;
    for (let i = 0; i < nb; i++) {
      const ao = pairs[2 * i] * M * K;
      const bo = pairs[2 * i + 1] * K * N;
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = b.data[bo + k * N + n];
      const spec = {
        zx: aq.zeroPoint[0], zw: zb, bias: null, acc, order: this.opts.order ?? DEFAULT_ORDER, form,
        xBits: aq.bits, xSigned: aq.signed, wBits: bq.bits, wSigned: bq.signed, k: K, w: bt, nOut: N, kernel,
      };
      const res = prepareGemmInt(spec).run(a.data.subarray(ao, ao + M * K), M, accs.subarray(i * M * N, (i + 1) * M * N));
      reports.push(res.overflow);
      minSafeBits = Math.max(minSafeBits, minSafeAccBits({ w: bt, nOut: N, zw: zb, bias: null, zx: aq.zeroPoint[0], xBits: aq.bits, xSigned: aq.signed, form }));
    }
    const overflow = mergeReports(reports, M);
    this.overflow[layer.name] = overflow;
    this.accumulators[layer.name] = { bits: acc.bits, policy: acc.policy, minSafeBits };
    info.acc = accs;
    info.overflow = overflow;
    const outShape = [...ob, ...(aVec ? [] : [M]), ...(bVec ? [] : [N])];
    if (yq.bits === 32) {
      const data = new Int32Array(accs.length);
      for (let i = 0; i < accs.length; i++) data[i] = accs[i] | 0;
      return intVal('int32', outShape, data);
    }
    const target = requantTarget(yq, layer.activation);
    const params = requantParams(aq.scale[0], bq.scale, target.scale[0], this.opts.requant);
    const codes = requantize(accs, [accs.length / N, N], params, target.zeroPoint[0], target, layer.activation);
    return intVal(dtypeOfQ(yq), outShape, codes);
  }
}

/**
 * A QuantizedNetwork ready for many runs with one set of options: its linear layers are prepared
 * on first use and reused by every later `run` (PreparedLayers). Results are those of
 * runQuantized, bit for bit (test/unit/sim/qexec.test.ts).
 */
export class QuantizedExecutor {
  private readonly prepared = new PreparedLayers();

  constructor(
    readonly net: QuantizedNetwork,
    readonly opts: QExecOptions,
  ) {}

  run(feeds: Record<string, Tensor>): QExecResult {
    return new QuantizedRunner(this.net, this.opts, this.prepared).run(feeds);
  }
}

/** Runs a QuantizedNetwork on `feeds` (float32 inputs, or integer ones for integer graph inputs); for many runs, a QuantizedExecutor. */
export function runQuantized(net: QuantizedNetwork, feeds: Record<string, Tensor>, opts: QExecOptions): QExecResult {
  return new QuantizedRunner(net, opts).run(feeds);
}
