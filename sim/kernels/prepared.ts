/**
 * A linear layer prepared for runs: everything that does not depend on the input — the bound
 * analysis (bounds.ts) and with it proved vs checked, the gather table and the weights in
 * arrival order, the starting values, and whether the WebAssembly SIMD kernel is exact for it.
 * Built once, run on many inputs by blocks.ts / simd.ts (and tile by tile by sim/functional.ts).
 */
import { invariant, ModelError } from '../../nets/errors.js';
import {
  accRange,
  applyPolicy,
  arrivalSequence,
  intRange,
  policyCode,
  type AccumulationOrder,
  type AccumulatorSpec,
  type PeForm,
} from './accumulator.js';
import { channelBounds } from './bounds.js';
import { PsumTiles } from './psum-wasm.js';
import { KernelState } from './checked.js';
import { receptiveSums, type Geometry } from './geometry.js';
import { DotLayer, type KernelArena } from './wasm.js';

export interface LinearIntSpec {
  /** input zero point (scalar) */
  readonly zx: number;
  /** weight zero points: length 1 (per tensor) or the number of output channels */
  readonly zw: Int32Array;
  /** int32 bias (scale s_x·s_w[c], zero point 0), one per output channel; null = none */
  readonly bias: Int32Array | null;
  readonly acc: AccumulatorSpec;
  readonly order: AccumulationOrder;
  readonly form: PeForm;
  /** the input's quantized range: every q_x and z_x must lie in it (the bound analysis relies on it) */
  readonly xBits: number;
  readonly xSigned: boolean;
  /** the weights' quantized range: every q_w and z_w must lie in it */
  readonly wBits: number;
  readonly wSigned: boolean;
  /** output buffer to fill (length = number of outputs); allocated when absent */
  readonly out?: Float64Array;
  /** `auto` (default): per-step checks only where the bounds cannot prove the layer safe; `always`: check every step */
  readonly checking?: 'auto' | 'always';
  /**
   * Which implementation computes the products: `auto` (default) picks WebAssembly SIMD where
   * its int16 operands / int32 sums are provably exact, `js` forces the Float64 loops. Results
   * are identical; this exists for tests and benchmarks.
   */
  readonly kernel?: 'auto' | 'js';
}

export class Prepared {
  readonly K: number;
  readonly kOff: Int32Array;
  readonly stepEnd: Int32Array;
  readonly wSeq: Float64Array;
  readonly init: Float64Array;
  readonly initAcc: Float64Array;
  readonly initOver: Uint8Array;
  readonly zwNeg: Float64Array;
  readonly zwChannels: number;
  /** per group: 1 when a channel of it needs Σq_x (raw form, z_w ≠ 0) */
  readonly sumGroups: Uint8Array;
  readonly checked: boolean;
  readonly psumKernel: boolean;
  readonly policy: number;
  readonly bits: number;
  readonly psumBits: number;
  readonly proved: boolean;
  /** the WebAssembly SIMD kernel, where its int16 / int32 arithmetic is provably exact (proved: whole sums; checked: tile sums) */
  readonly dot: DotLayer | null = null;
  /**
   * the checked epilogue may run in int32 lanes (wasm-epilogue.ts epiVecFunc): every exact running
   * sum, the bias, maxAbs and the accumulator plus any tile sum stay inside int32
   */
  readonly vecEpilogue: boolean = false;
  /** the per-add partial-sum tiles in WebAssembly (psum-wasm.ts), where the psum kernel runs and its policy is modelled there */
  readonly psumTiles: PsumTiles | null = null;

  constructor(a: LinearIntSpec, w: Int32Array, geo: Geometry, arena?: KernelArena) {
    const { nOut, k: K } = geo;
    const raw = a.form === 'raw';
    const perTensorZw = a.zw.length === 1;
    const bounds = channelBounds({ w, nOut, zw: a.zw, bias: a.bias, zx: a.zx, xBits: a.xBits, xSigned: a.xSigned, form: a.form });
    if (bounds.magnitude >= 2 ** 53) {
      throw new ModelError(`accumulation bound ${bounds.magnitude} reaches 2^53: beyond exact Float64 integer arithmetic (K = ${K})`);
    }
    const { lo, hi } = accRange(a.acc.bits);
    const psumBits = a.order.psumBits;
    let provedAcc = true;
    let provedPsum = true;
    for (let c = 0; c < nOut; c++) {
      if (bounds.lo[c] < lo || bounds.hi[c] > hi) provedAcc = false;
      if (psumBits !== undefined && (bounds.psumLo[c] < -(2 ** (psumBits - 1)) || bounds.psumHi[c] > 2 ** (psumBits - 1) - 1)) provedPsum = false;
    }
    const always = a.checking === 'always';
    this.checked = always || !provedAcc || !provedPsum;
    this.proved = !this.checked;
    this.psumKernel = psumBits !== undefined && (always || !provedPsum);
    this.policy = policyCode(a.acc.policy);
    this.bits = a.acc.bits;
    this.psumBits = psumBits ?? 64;

    const { seq, stepEnd } = arrivalSequence(K, a.order);
    this.K = K;
    this.stepEnd = stepEnd;
    const kOff = new Int32Array(K);
    const wIdx = new Int32Array(K);
    for (let j = 0; j < K; j++) {
      kOff[j] = geo.offOf(seq[j]);
      wIdx[j] = geo.wIndexOf(seq[j]);
    }
    this.kOff = kOff;
    const wSeq = new Float64Array(nOut * K);
    const init = new Float64Array(nOut);
    const initAcc = new Float64Array(nOut);
    const initOver = new Uint8Array(nOut);
    const zwNeg = new Float64Array(nOut);
    const sumGroups = new Uint8Array(geo.group);
    const ocg = nOut / geo.group;
    let zwChannels = 0;
    for (let c = 0; c < nOut; c++) {
      const zw = perTensorZw ? a.zw[0] : a.zw[c];
      const row = c * K;
      const sub = raw ? 0 : zw;
      let wSum = 0;
      for (let j = 0; j < K; j++) wSeq[row + j] = w[row + wIdx[j]] - sub;
      for (let i = row; i < row + K; i++) wSum += w[i];
      const b = a.bias ? a.bias[c] : 0;
      // raw form: bias' = bias − z_x·Σq_w + K·z_w·z_x, so that bias' + Σq_w·q_x − z_w·Σq_x is exact
      const iv = raw ? b - a.zx * wSum + K * zw * a.zx : b;
      init[c] = iv;
      if (iv < lo || iv > hi) {
        initOver[c] = 1;
        initAcc[c] = applyPolicy(iv, this.policy, this.bits);
      } else initAcc[c] = iv;
      if (raw && zw !== 0) {
        zwNeg[c] = -zw;
        zwChannels++;
        sumGroups[Math.floor(c / ocg)] = 1;
      }
    }
    this.wSeq = wSeq;
    this.init = init;
    this.initAcc = initAcc;
    this.initOver = initOver;
    this.zwNeg = zwNeg;
    this.zwChannels = zwChannels;
    this.sumGroups = sumGroups;

    // the SIMD kernel: exact when operands fit int16 and every sum it forms fits int32 — on the
    // proved path the running sums, on the checked path (exact partial sums only) the tile sums
    let psumMag = 0;
    for (let c = 0; c < nOut; c++) psumMag = Math.max(psumMag, -bounds.psumLo[c], bounds.psumHi[c]);
    const exactInt32 = this.proved ? bounds.magnitude < 2 ** 31 : !this.psumKernel && psumMag < 2 ** 31;
    if (a.kernel !== 'js' && this.psumKernel) this.psumTiles = PsumTiles.create(this.wSeq, this.kOff, this.policy, this.psumBits);
    if (a.kernel !== 'js' && exactInt32) {
      const xr = intRange(a.xBits, a.xSigned);
      const sub = raw ? 0 : a.zx;
      let fits = xr.lo - sub >= -32768 && xr.hi - sub <= 32767;
      for (let i = 0; fits && i < wSeq.length; i++) if (wSeq[i] < -32768 || wSeq[i] > 32767) fits = false;
      if (fits) this.dot = DotLayer.create(wSeq, nOut, K, geo.group, stepEnd, init, kOff, arena);
      this.vecEpilogue = this.checked && this.bits <= 32 && bounds.magnitude < 2 ** 31 && 2 ** (this.bits - 1) + psumMag < 2 ** 31;
    }
  }

  /**
   * The state of one run over `geo` (which may differ from the constructor's only in its
   * positions: gemm batch size) on operand input `x`, writing `out` (allocated when absent).
   */
  state(geo: Geometry, x: Float64Array, out: Float64Array | undefined): KernelState {
    const st = new KernelState();
    // the layer, as prepared
    const { lo, hi } = accRange(this.bits);
    st.checked = this.checked;
    st.psumSeen = this.psumKernel;
    st.policy = this.policy;
    st.bits = this.bits;
    st.lo = lo;
    st.hi = hi;
    st.psumBits = this.psumBits;
    st.plo = -(2 ** (this.psumBits - 1));
    st.phi = 2 ** (this.psumBits - 1) - 1;
    st.kOff = this.kOff;
    st.wSeq = this.wSeq;
    st.stepEnd = this.stepEnd;
    st.T = this.stepEnd.length;
    st.init = this.init;
    st.initAcc = this.initAcc;
    st.initOver = this.initOver;
    st.zwNeg = this.zwNeg;
    // this run's geometry, operands and outputs
    st.posBase = geo.posBase;
    st.outBase = geo.outBase;
    st.cStride = geo.cStride;
    st.groupXStride = geo.groupXStride;
    st.K = geo.k;
    st.x = x;
    st.out = out ?? new Float64Array(geo.outLength);
    invariant(st.out.length === geo.outLength, `out has ${st.out.length} elements, the layer ${geo.outLength}`);
    const nOut = geo.nOut;
    st.perChannel = new Float64Array(nOut);
    st.firstPos = new Float64Array(nOut).fill(-1);
    st.firstStep = new Int32Array(nOut);
    // the bias load is the first value every accumulator holds
    if (geo.positions > 0) for (let c = 0; c < nOut; c++) if (Math.abs(this.init[c]) > st.maxAbs) st.maxAbs = Math.abs(this.init[c]);
    return st;
  }

  /**
   * Σq_x over group g's receptive fields into sums[at …] when a channel of g needs it (raw form,
   * z_w ≠ 0); returns the in-array adds that took (0 when none).
   */
  groupSums(geo: Geometry, g: number, x: Float64Array | Int16Array, sums: Float64Array, at: number): number {
    if (this.sumGroups[g] !== 1) return 0;
    receptiveSums(x, geo.posBase, g * geo.groupXStride, this.kOff, sums, at, geo.positions);
    return geo.positions * this.K;
  }
}
