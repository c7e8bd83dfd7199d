/**
 * Integer Conv and Gemm on a P-bit accumulator, bit-exact, with exact overflow accounting
 * (DESIGN.md "Integer arithmetic contract"; the vocabulary is in accumulator.ts).
 *
 *   acc = bias + Σ_k (q_w − z_w)(q_x − z_x),   K = (C/group)·KH·KW, padding feeds q_x = z_x
 *
 * computed the way the simulated PEs compute it (`form`), in the order the dataflow delivers it
 * (`order`), on the accumulator the arch has (`acc`).
 *
 * Two paths, identical results (tested):
 *  - proved: the bound analysis (bounds.ts channelBounds) shows that no running sum of any
 *    channel can leave the P-bit range (nor a partial sum its psumBits range) for any input in
 *    the xBits range — then values never change under the policy and no event can happen, so the
 *    kernel only sums and tracks the running maximum at step boundaries;
 *  - checked: every accumulator add is checked, the policy applied and events recorded; with a
 *    finite psumBits that cannot be proved safe, every in-array add as well.
 *
 * Two implementations of the products, identical results (tested):
 *  - WebAssembly SIMD (wasm.ts, driven by simd.ts): im2col into int16, `i32x4.dot_i16x8_s`; used
 *    where the bounds show int16 operands and int32 sums are exact (proved: running sums;
 *    checked: tile sums, whose accumulator epilogue then runs in JS) and each gathered input
 *    feeds ≥ 4 channels;
 *  - Float64 loops (blocks.ts over dot.ts): output-stationary over a gather table (the
 *    dataflow's order is just the table's order) on a padded copy of the input (no bounds checks
 *    in the inner loop), register-blocked.
 * Both add to the accumulator through checked.ts, as the timing run's tile kernel does.
 *
 * Layers are prepared once (prepareConvInt / prepareGemmInt: validation, then prepared.ts's
 * bounds and weights in arrival order over geometry.ts's addressing) and run per input;
 * convInt / gemmInt do both in one call. This file is the entry points.
 *
 * Exactness: Float64 holds every value exactly below 2^53; a layer whose bounds reach 2^53
 * (e.g. 16-bit × 16-bit operands with K > 2^21) is refused with a ModelError.
 */
import { invariant, ModelError } from '../../nets/errors.js';
import { intRange, type OverflowReport } from './accumulator.js';
import { runBlocks } from './blocks.js';
import { convGeometry, fillOperands, gemmGeometry, operandLayout, type Geometry, type OperandLayout } from './geometry.js';
import { Prepared, type LinearIntSpec } from './prepared.js';
import { runSimd, runSimdCodes, type FusedPool, type FusedRequant, type Handoff } from './simd.js';
import type { KernelArena } from './wasm.js';

export type { LinearIntSpec } from './prepared.js';
export type { Handoff } from './simd.js';

export interface ConvIntArgs extends LinearIntSpec {
  /** NCHW */
  readonly x: Int32Array;
  readonly xShape: readonly [number, number, number, number];
  /** OIHW (ONNX layout) */
  readonly w: Int32Array;
  readonly wShape: readonly [number, number, number, number];
  readonly strides: readonly [number, number];
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
  readonly dilations: readonly [number, number];
  readonly group: number;
}

export interface ConvIntResult {
  /** N·OC·OH·OW accumulators after the policy (exact integers), NCHW */
  readonly acc: Float64Array;
  readonly outShape: [number, number, number, number];
  readonly overflow: OverflowReport;
}

export interface GemmIntArgs extends LinearIntSpec {
  /** [m, k] row-major */
  readonly x: Int32Array;
  readonly m: number;
  readonly k: number;
  /**
   * [nOut, k] row-major: one row per output channel — ONNX Gemm's B with transB = 1, i.e. the
   * transpose of MatMulInteger's / QLinearMatMul's [k, nOut] B. Transpose those before calling.
   */
  readonly w: Int32Array;
  readonly nOut: number;
}

export interface GemmIntResult {
  /** [m, nOut] accumulators after the policy (exact integers) */
  readonly acc: Float64Array;
  readonly overflow: OverflowReport;
}

function checkRange(data: Int32Array, lo: number, hi: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo || v > hi) throw new ModelError(`${what}[${i}] = ${v} is outside its quantized range [${lo}, ${hi}]`);
  }
}

/** Checks what every linear layer needs: widths, zero points, bias and weights in their ranges. */
function validate(a: LinearIntSpec & { readonly w: Int32Array }, nOut: number): void {
  invariant(Number.isInteger(a.acc.bits) && a.acc.bits >= 2 && a.acc.bits <= 64, `accumulator bits must be 2…64, got ${a.acc.bits}`);
  const pb = a.order.psumBits;
  invariant(pb === undefined || (Number.isInteger(pb) && pb >= 2 && pb <= 64), `psumBits must be 2…64, got ${pb}`);
  invariant(a.xBits >= 1 && a.xBits <= 32 && a.wBits >= 1 && a.wBits <= 32, 'operand bits must be 1…32');
  invariant(a.zw.length === 1 || a.zw.length === nOut, `zw has ${a.zw.length} entries for ${nOut} output channels`);
  invariant(!a.bias || a.bias.length === nOut, `bias has ${a.bias?.length} entries for ${nOut} output channels`);
  const xr = intRange(a.xBits, a.xSigned);
  if (!Number.isInteger(a.zx) || a.zx < xr.lo || a.zx > xr.hi) throw new ModelError(`input zero point ${a.zx} is outside [${xr.lo}, ${xr.hi}]`);
  const wr = intRange(a.wBits, a.wSigned);
  checkRange(a.zw, wr.lo, wr.hi, 'weight zero point');
  checkRange(a.w, wr.lo, wr.hi, 'weight');
}

/** A conv layer prepared for repeated runs: weights, order and bounds are fixed, the input varies. */
export interface PreparedConvInt {
  readonly outShape: readonly [number, number, number, number];
  /** whether the bound analysis proved the layer safe (then runs skip per-step checks) */
  readonly proved: boolean;
  /** which implementation computes the products: WebAssembly SIMD or the Float64 loops */
  readonly kernel: 'wasm' | 'js';
  /** whether runCodes / runCodesView run (the proved SIMD path without a z_w term) */
  readonly fused: boolean;
  run(x: Int32Array, out?: Float64Array): ConvIntResult;
  /**
   * run() with the float-mode requantization fused (simd.ts runSimdCodes): the codes into
   * `codes`, the overflow report returned; null (nothing run) where the layer is not on the
   * proved SIMD path without a z_w term — then run() and requantize. With `pool` (h, w: the
   * pooled size) a 2×2 stride-2 MaxPool of the codes runs fused and `codes` is its output.
   */
  runCodes(x: Int32Array, fr: FusedRequant, codes: Int32Array, pool?: { readonly h: number; readonly w: number }): OverflowReport | null;
  /**
   * runCodes() without the copy: the codes as a view of the kernel's WebAssembly memory, valid
   * until this prepared layer runs again (into an array of the caller's with `into`).
   */
  runCodesView(x: Int32Array, fr: FusedRequant, pool?: { readonly h: number; readonly w: number }, into?: Int32Array | null, to?: Handoff): { report: OverflowReport; codes: Int32Array } | null;
  /**
   * Readies this layer to take its input as codes the conv before it hands on (runCodesView's
   * `to`: written straight into this layer's operand input, as int16), codes in [lo, hi]; null
   * where it cannot (not on the fused SIMD path, or codes outside its input's range) — then it
   * needs its input as codes. Both layers' kernels must share a KernelArena.
   */
  accept(lo: number, hi: number): Handoff | null;
  /** runCodesView() on the input handed on after accept() (no x). */
  runAccepted(fr: FusedRequant, pool?: { readonly h: number; readonly w: number }, into?: Int32Array | null, to?: Handoff): { report: OverflowReport; codes: Int32Array };
}

/** A gemm layer prepared for repeated runs. */
export interface PreparedGemmInt {
  readonly proved: boolean;
  readonly kernel: 'wasm' | 'js';
  run(x: Int32Array, m: number, out?: Float64Array): GemmIntResult;
  /** see PreparedConvInt.runCodes */
  runCodes(x: Int32Array, m: number, fr: FusedRequant, codes: Int32Array): OverflowReport | null;
}

export type ConvIntSpec = Omit<ConvIntArgs, 'x' | 'out'>;
export type GemmIntSpec = Omit<GemmIntArgs, 'x' | 'm' | 'out'>;

/** Lays the integer input out as operands and runs the prepared layer on the SIMD kernel or the Float64 loops. */
function runLayer(prep: Prepared, geo: Geometry, lay: OperandLayout, x: Int32Array, out: Float64Array | undefined): { out: Float64Array; overflow: OverflowReport } {
  if (prep.dot) {
    const buf = prep.dot.begin(lay.length, geo.positions, prep.checked, x.length);
    buf.posBase.set(geo.posBase);
    // in WebAssembly; where a value is out of range, fillOperands names it (and throws)
    if (!prep.dot.fill(x, lay, buf.input)) fillOperands(buf.input, x, lay);
    return runSimd(prep, geo, buf.input, out);
  }
  const xs = new Float64Array(lay.length);
  fillOperands(xs, x, lay);
  return runBlocks(prep, geo, xs, out);
}

/** Whether a prepared layer can run with its requantization fused (runSimdCodes). */
function fusable(prep: Prepared): boolean {
  return prep.dot !== null && prep.dot !== undefined && !prep.checked && prep.zwChannels === 0;
}

/** runLayer with the requantization fused; the caller checked fusable(prep). */
function runLayerCodes(prep: Prepared, geo: Geometry, lay: OperandLayout, x: Int32Array, fr: FusedRequant, codes: Int32Array | null, pool?: FusedPool, to?: Handoff): { report: OverflowReport; codes: Int32Array } {
  const dot = prep.dot!;
  const buf = dot.begin(lay.length, geo.positions, false, x.length);
  buf.posBase.set(geo.posBase);
  if (!dot.fill(x, lay, buf.input)) fillOperands(buf.input, x, lay);
  return runSimdCodes(prep, geo, fr, codes, pool, to);
}

/**
 * Prepares a conv layer: validates it, runs the bound analysis, lays the weights out in arrival
 * order. The weights are copied: later changes to `spec.w` do not reach the prepared layer. Its
 * SIMD kernel's memory is `arena` where given (layers handing codes on share one), else its own.
 */
export function prepareConvInt(spec: ConvIntSpec, arena?: KernelArena): PreparedConvInt {
  const [n, c, h, wd] = spec.xShape;
  const [oc, icg, kh, kw] = spec.wShape;
  const [sh, sw] = spec.strides;
  const [pt, pl, pbot, pr] = spec.pads;
  const [dh, dw] = spec.dilations;
  const group = spec.group;
  invariant([n, c, h, wd, oc, icg, kh, kw].every((d) => Number.isInteger(d) && d >= 1), `shapes must be positive: x [${spec.xShape}], w [${spec.wShape}]`);
  invariant(spec.w.length === oc * icg * kh * kw, `w has ${spec.w.length} elements for shape [${spec.wShape}]`);
  invariant(Number.isInteger(group) && group >= 1 && c === icg * group && oc % group === 0, `group ${group} does not fit ${c} input / ${oc} output channels (weight expects ${icg} per group)`);
  invariant(sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1, 'strides and dilations must be ≥ 1');
  invariant(pt >= 0 && pl >= 0 && pbot >= 0 && pr >= 0, 'pads must be ≥ 0');
  validate(spec, oc);
  const cg = convGeometry(spec.xShape, spec.wShape, spec.strides, spec.pads, spec.dilations, group, spec.order.kOrder);
  if (typeof cg === 'string') throw new ModelError(`conv ${cg}`);
  const geo = cg.geo;
  const prep = new Prepared(spec, spec.w, geo, arena);
  const xr = intRange(spec.xBits, spec.xSigned);
  const lay = operandLayout(spec.form, spec.zx, xr.lo, xr.hi, n * c, h, wd, spec.pads);
  const outShape = cg.outShape;
  const fusedPool = (pool: { readonly h: number; readonly w: number } | undefined, into: Int32Array | null): FusedPool | undefined => {
    const [, , oh, ow] = outShape;
    const fp = pool && { n, oh, ow, ph: pool.h, pw: pool.w };
    invariant(!fp || (2 * fp.ph <= oh && 2 * fp.pw <= ow), `pool ${fp?.ph}×${fp?.pw} does not fit a ${oh}×${ow} output`);
    const want = fp ? n * oc * fp.ph * fp.pw : geo.outLength;
    invariant(into === null || into.length === want, `codes has ${into?.length} elements, the layer ${want}`);
    return fp;
  };
  const codesRun = (x: Int32Array, fr: FusedRequant, pool: { readonly h: number; readonly w: number } | undefined, into: Int32Array | null, to?: Handoff): { report: OverflowReport; codes: Int32Array } | null => {
    invariant(x.length === n * c * h * wd, `x has ${x.length} elements for shape [${spec.xShape}]`);
    const fp = fusedPool(pool, into);
    return fusable(prep) ? runLayerCodes(prep, geo, lay, x, fr, into, fp, to) : null;
  };
  let accepted = false;
  return {
    outShape,
    proved: prep.proved,
    kernel: prep.dot ? 'wasm' : 'js',
    fused: fusable(prep),
    run(x: Int32Array, out?: Float64Array): ConvIntResult {
      invariant(x.length === n * c * h * wd, `x has ${x.length} elements for shape [${spec.xShape}]`);
      const r = runLayer(prep, geo, lay, x, out);
      return { acc: r.out, outShape: [...outShape], overflow: r.overflow };
    },
    runCodes(x: Int32Array, fr: FusedRequant, codes: Int32Array, pool?: { readonly h: number; readonly w: number }): OverflowReport | null {
      return codesRun(x, fr, pool, codes)?.report ?? null;
    },
    runCodesView(x: Int32Array, fr: FusedRequant, pool?: { readonly h: number; readonly w: number }, into: Int32Array | null = null, to?: Handoff): { report: OverflowReport; codes: Int32Array } | null {
      return codesRun(x, fr, pool, into, to);
    },
    accept(lo: number, hi: number): Handoff | null {
      if (!fusable(prep) || lo < lay.lo || hi > lay.hi || lo - lay.sub < -32768 || hi - lay.sub > 32767) return null;
      prep.dot!.acceptInput(lay, geo.posBase);
      accepted = true;
      return { dot: prep.dot!, layout: lay, channels: c };
    },
    runAccepted(fr: FusedRequant, pool?: { readonly h: number; readonly w: number }, into: Int32Array | null = null, to?: Handoff): { report: OverflowReport; codes: Int32Array } {
      invariant(accepted, 'runAccepted without accept()');
      accepted = false;
      return runSimdCodes(prep, geo, fr, into, fusedPool(pool, into), to);
    },
  };
}

/** Prepares a gemm layer (see prepareConvInt); the batch size m may differ between runs. */
export function prepareGemmInt(spec: GemmIntSpec): PreparedGemmInt {
  const { k, nOut } = spec;
  invariant(Number.isInteger(k) && Number.isInteger(nOut) && k >= 1 && nOut >= 1, 'gemm sizes k and nOut must be integers ≥ 1');
  invariant(spec.w.length === nOut * k, `w has ${spec.w.length} elements for [${nOut}, ${k}]`);
  validate(spec, nOut);
  const prep = new Prepared(spec, spec.w, gemmGeometry(0, k, nOut));
  const xr = intRange(spec.xBits, spec.xSigned);
  const byM = new Map<number, { geo: Geometry; lay: OperandLayout }>();
  return {
    proved: prep.proved,
    kernel: prep.dot ? 'wasm' : 'js',
    run(x: Int32Array, m: number, out?: Float64Array): GemmIntResult {
      invariant(Number.isInteger(m) && m >= 0, `m must be a non-negative integer, got ${m}`);
      invariant(x.length === m * k, `x has ${x.length} elements for [${m}, ${k}]`);
      let at = byM.get(m);
      if (!at) {
        at = { geo: gemmGeometry(m, k, nOut), lay: operandLayout(spec.form, spec.zx, xr.lo, xr.hi, 1, m, k, [0, 0, 0, 0]) };
        byM.set(m, at);
      }
      const r = runLayer(prep, at.geo, at.lay, x, out);
      return { acc: r.out, overflow: r.overflow };
    },
    runCodes(x: Int32Array, m: number, fr: FusedRequant, codes: Int32Array): OverflowReport | null {
      if (!fusable(prep)) return null;
      invariant(Number.isInteger(m) && m >= 0, `m must be a non-negative integer, got ${m}`);
      invariant(x.length === m * k, `x has ${x.length} elements for [${m}, ${k}]`);
      invariant(codes.length === m * nOut, `codes has ${codes.length} elements for [${m}, ${nOut}]`);
      let at = byM.get(m);
      if (!at) {
        at = { geo: gemmGeometry(m, k, nOut), lay: operandLayout(spec.form, spec.zx, xr.lo, xr.hi, 1, m, k, [0, 0, 0, 0]) };
        byM.set(m, at);
      }
      return runLayerCodes(prep, at.geo, at.lay, x, fr, codes).report;
    },
  };
}

/**
 * Integer convolution (ONNX ConvInteger semantics plus bias and per-channel weight zero points)
 * on the accumulator `acc`, reduced in `order`, with PEs of `form`. For many inputs through one
 * layer, prepareConvInt once and run it.
 */
export function convInt(args: ConvIntArgs): ConvIntResult {
  return prepareConvInt(args).run(args.x, args.out);
}

/**
 * Integer fully connected layer: acc[i, o] = bias[o] + Σ_k (w[o, k] − z_w[o])(x[i, k] − z_x).
 * `w` is [nOut, k] (see GemmIntArgs); `order.kOrder` has no effect (K has one axis).
 */
export function gemmInt(args: GemmIntArgs): GemmIntResult {
  return prepareGemmInt(args).run(args.x, args.m, args.out);
}
