/**
 * Float dot products on a float accumulator, and MX block dot products (DESIGN.md "Number
 * formats"): the arithmetic of a PE array whose operands are FP8 / FP16 / BF16 (qnet/formats) or
 * MX blocks, with the swamping a float accumulator suffers counted the way accumulator.ts counts
 * integer overflow.
 *
 *   y[m, n] = bias[n] + Σ_k x[m, k] · w[n, k]          (fpGemm, mxGemm)
 *   conv: the same per output position over its receptive field, im2col addressing from
 *   geometry.ts (K numbered in kOrder, padding feeds 0.0)        (fpConv)
 *
 * Float operands: each product is exact (≤ 16-bit operands have ≤ 11-bit significands, so a
 * product has ≤ 22 — a double holds it, exponents included), and every add rounds once to the
 * accumulator format (FP32, FP16 or BF16, round-to-nearest-even, overflow to ±inf): the exact sum
 * is rounded to odd in a double (qmath `addRoundToOdd`), then to the format — correctly rounded.
 * The order is the dataflow's (`AccumulationOrder`, as the integer kernels read it): K cut into
 * tiles of `kTile` consecutive indices; within a tile the products, in increasing k, are summed in
 * the array into a partial sum in the accumulator format (the first product is loaded, each further
 * one is an add); each tile's partial sum is then one add to the accumulator, in `tileOrder`; the
 * accumulator starts at the bias (rounded to its format, a load, not an add). `kOrder` is the
 * caller's layout of K (the operands arrive in it); `psumBits` has no float meaning and is refused.
 *
 * MX operands (both operands in MX formats, blocked along K): inside a block of 32 the products of
 * the elements are summed exactly as integers (every element is an integer multiple of its
 * format's smallest step: FP elements of 2^(emin − m), MXINT8 of 2^−6), the block's two E8M0 scales
 * are applied as one power of two, and the block result is rounded once to FP32 (MX v1.0 §6.2's
 * Dot, computed exactly). Block results are then accumulated in FP32 as above, `kTile` counting
 * blocks. A NaN scale makes its block — and the output — NaN.
 *
 * Swamping: an add whose addend is nonzero but whose result equals the old value — the addend was
 * lost entirely (including a tiny addend to a zero partial sum underflowing to 0). Counted per add,
 * in the array and at the accumulator, per output channel, with the first occurrence in (channel,
 * position, step) order as OverflowReport has it; adds onto a non-finite value are not swamping
 * (the value is already lost) and are counted as `nonFinite` when they first make one.
 */
import { invariant, ModelError } from '../../nets/errors.js';
import { decodeTable, BF16, FP16, pow2, roundToFloat, type Codes, type FloatFormat } from '../../qnet/formats/float.js';
import { E8M0_BIAS, E8M0_NAN, MXINT8_ELEMENT_SCALE, type MxFormat } from '../../qnet/formats/mx.js';
import { addRoundToOdd } from '../../qnet/qmath.js';
import { arrivalSequence, type AccumulationOrder } from './accumulator.js';
import { convGeometry, gemmGeometry, type Geometry } from './geometry.js';
import type { ConvIntArgs } from './linear.js';

/** The accumulator's format (numeric: switched on in the add). */
export enum AccFloat {
  Fp32 = 0,
  Fp16 = 1,
  Bf16 = 2,
}

export interface SwampReport {
  /** adds (in-array and accumulator) whose nonzero addend was lost entirely */
  readonly events: number;
  /** of those, in-array partial-sum adds */
  readonly psumEvents: number;
  /** events per output channel */
  readonly perChannel: Float64Array;
  /**
   * The first event in (channel, position, step) order: position = row m (conv: n·OH·OW + oy·OW +
   * ox, as OverflowReport's); step 1…T = the tile
   * (block tile for MX) in arrival order; `k` = the index (in K order; blocks for MX) of the lost
   * product for an in-array add, −1 for the tile's add to the accumulator.
   */
  readonly first: { readonly channel: number; readonly position: number; readonly step: number; readonly k: number } | null;
  /** all adds performed (in-array + accumulator): the denominator of `events` */
  readonly adds: number;
  /** adds of finite values whose exact sum was not representable (rounded or overflowed) */
  readonly inexact: number;
  /** adds of finite values whose result was ±inf or NaN (float overflow) */
  readonly nonFinite: number;
  /** largest |value| of the accumulator at a step boundary (bias load included; NaN skipped) */
  readonly maxAbs: number;
  /** tiles (accumulator adds) per output */
  readonly tiles: number;
}

/** A float operand matrix: codes in a format (decoded exactly), or plain FP32 values. */
export type FpOperand = { readonly codes: Codes; readonly format: FloatFormat } | { readonly values: Float32Array };

export interface FpGemmArgs {
  /** [M, K] */
  readonly x: FpOperand;
  /** [N, K]: one row per output channel */
  readonly w: FpOperand;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** [N], FP32; rounded to the accumulator format at load */
  readonly bias?: Float32Array;
  readonly acc: AccFloat;
  readonly order: AccumulationOrder;
  /** [M, N] */
  readonly out?: Float32Array;
}

/** The conv window fields as the integer kernels take them (NCHW input, OIHW weights). */
export type ConvWindowArgs = Pick<ConvIntArgs, 'xShape' | 'wShape' | 'strides' | 'pads' | 'dilations' | 'group'>;

export interface FpConvArgs extends ConvWindowArgs {
  /** NCHW */
  readonly x: FpOperand;
  /** OIHW (ONNX layout) */
  readonly w: FpOperand;
  readonly bias?: Float32Array;
  readonly acc: AccFloat;
  /** kOrder numbers K (ckk: ONNX weight order; kkc: position-major), tiles as for gemm */
  readonly order: AccumulationOrder;
  /** NCHW output */
  readonly out?: Float32Array;
}

export interface MxOperand {
  readonly format: MxFormat;
  /** one element per byte, [rows, K] */
  readonly codes: Uint8Array;
  /** E8M0, [rows, ⌈K/32⌉] */
  readonly scales: Uint8Array;
}

export interface MxGemmArgs {
  /** [M, K] */
  readonly x: MxOperand;
  /** [N, K] */
  readonly w: MxOperand;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly bias?: Float32Array;
  /** kTile counts blocks */
  readonly order: AccumulationOrder;
  readonly out?: Float32Array;
}

/** Round an exact-sum-rounded-to-odd double to the accumulator format. */
function roundAcc(kind: number, v: number): number {
  if (kind === AccFloat.Fp32) return Math.fround(v);
  return roundToFloat(kind === AccFloat.Fp16 ? FP16 : BF16, v, false);
}

/** Mutable counters of one run (one object per call, no allocation per add). */
class Counter {
  events = 0;
  psumEvents = 0;
  adds = 0;
  inexact = 0;
  nonFinite = 0;
  maxAbs = 0;
  first: { channel: number; position: number; step: number; k: number } | null = null;
  constructor(
    readonly perChannel: Float64Array,
    readonly kind: number,
  ) {}

  /** a + b on the accumulator format, counted; `step`/`k` locate it for the first event */
  add(a: number, b: number, channel: number, position: number, step: number, k: number): number {
    const exact = addRoundToOdd(a, b);
    const r = roundAcc(this.kind, exact);
    this.adds++;
    if (a - a === 0 && b - b === 0 && r !== exact) this.inexact++;
    if (a - a === 0) {
      if (r - r !== 0) {
        if (b - b === 0) this.nonFinite++;
      } else if (r === a && b !== 0) {
        this.events++;
        if (k >= 0) this.psumEvents++;
        this.perChannel[channel]++;
        const f = this.first;
        // outputs are visited channel-major, position-minor and steps in order: the first seen is first
        if (f === null) this.first = { channel, position, step, k };
      }
    }
    return r;
  }

  report(tiles: number): SwampReport {
    return {
      events: this.events,
      psumEvents: this.psumEvents,
      perChannel: this.perChannel,
      first: this.first,
      adds: this.adds,
      inexact: this.inexact,
      nonFinite: this.nonFinite,
      maxAbs: this.maxAbs,
      tiles,
    };
  }
}

/**
 * One output: bias load, then per tile the in-array partial sum of `addends` (indexed in K order,
 * met in `seq` order) and its add to the accumulator.
 */
function accumulate(addends: Float64Array, seq: Int32Array, stepEnd: Int32Array, bias: number, ctr: Counter, channel: number, position: number): number {
  let acc = bias;
  let mx = Math.abs(acc);
  let j = 0;
  for (let s = 0; s < stepEnd.length; s++) {
    const end = stepEnd[s];
    if (j === end) continue;
    let ps = roundAcc(ctr.kind, addends[seq[j]]);
    for (j++; j < end; j++) ps = ctr.add(ps, addends[seq[j]], channel, position, s + 1, seq[j]);
    acc = ctr.add(acc, ps, channel, position, s + 1, -1);
    const a = Math.abs(acc);
    if (a > mx) mx = a;
  }
  if (mx > ctr.maxAbs) ctr.maxAbs = mx;
  return acc;
}

function operandValues(op: FpOperand, len: number, what: string): Float64Array | Float32Array {
  if ('values' in op) {
    invariant(op.values.length === len, `fpGemm: ${what} has ${op.values.length} values, expected ${len}`);
    return op.values;
  }
  invariant(op.codes.length === len, `fpGemm: ${what} has ${op.codes.length} codes, expected ${len}`);
  invariant(op.format.bits <= 16, `fpGemm: ${what} format ${op.format.name} is wider than 16 bits`);
  const t = decodeTable(op.format);
  const v = new Float64Array(len);
  for (let i = 0; i < len; i++) v[i] = t[op.codes[i]];
  return v;
}

function checkShape(m: number, k: number, n: number, bias: Float32Array | undefined, order: AccumulationOrder, what: string): void {
  invariant([m, k, n].every((d) => Number.isInteger(d) && d >= 0), `${what}: bad dims m=${m} k=${k} n=${n}`);
  invariant(bias === undefined || bias.length === n, `${what}: bias has ${bias?.length} entries for ${n} channels`);
  invariant(order.psumBits === undefined, `${what}: psumBits is an integer width; a float partial sum has the accumulator's format`);
}

/**
 * The float linear layer over a geometry: output (position p, channel c) sums, in the arrival order,
 * x[posBase[p] + group offset + offOf(o)] · w[c·K + wIndexOf(o)] for o = 0…K−1 (kOrder numbering).
 */
function fpLinear(geo: Geometry, xv: Float64Array | Float32Array, wv: Float64Array | Float32Array, bias: Float32Array | undefined, acc: number, order: AccumulationOrder, y: Float32Array): SwampReport {
  const k = geo.k;
  const { seq, stepEnd } = arrivalSequence(k, order);
  const xOff = new Int32Array(k);
  const wIdx = new Int32Array(k);
  for (let o = 0; o < k; o++) {
    xOff[o] = geo.offOf(o);
    wIdx[o] = geo.wIndexOf(o);
  }
  const ctr = new Counter(new Float64Array(geo.nOut), acc);
  const prod = new Float64Array(k);
  const perGroup = geo.nOut / geo.group;
  for (let c = 0; c < geo.nOut; c++) {
    const b = bias === undefined ? 0 : roundAcc(acc, bias[c]);
    const wo = c * k;
    const gOff = Math.floor(c / perGroup) * geo.groupXStride;
    for (let p = 0; p < geo.positions; p++) {
      const xo = geo.posBase[p] + gOff;
      for (let o = 0; o < k; o++) prod[o] = xv[xo + xOff[o]] * wv[wo + wIdx[o]]; // exact
      y[geo.outBase[p] + c * geo.cStride] = accumulate(prod, seq, stepEnd, b, ctr, c, p);
    }
  }
  return ctr.report(stepEnd.length);
}

/** Float GEMM on a float accumulator, in the dataflow's order, with the swamping report. */
export function fpGemm(args: FpGemmArgs): { y: Float32Array; report: SwampReport } {
  const { m, k, n, acc, order } = args;
  checkShape(m, k, n, args.bias, order, 'fpGemm');
  const xv = operandValues(args.x, m * k, 'x');
  const wv = operandValues(args.w, n * k, 'w');
  const y = args.out ?? new Float32Array(m * n);
  invariant(y.length === m * n, `fpGemm: out has ${y.length} entries for ${m}×${n}`);
  return { y, report: fpLinear(gemmGeometry(m, k, n), xv, wv, args.bias, acc, order, y) };
}

/** Float Conv (NCHW, OIHW weights, groups) on a float accumulator, with the swamping report. */
export function fpConv(args: FpConvArgs): { y: Float32Array; outShape: [number, number, number, number]; report: SwampReport } {
  const [n, c, h, wd] = args.xShape;
  const [oc, icg, kh, kw] = args.wShape;
  const g = args.group;
  if (!Number.isInteger(g) || g < 1 || c !== icg * g || oc % g !== 0) throw new ModelError(`fpConv: input channels ${c}, weight [${args.wShape.join(',')}] and group ${g} do not fit`);
  checkShape(1, icg * kh * kw, oc, args.bias, args.order, 'fpConv');
  const cg = convGeometry(args.xShape, args.wShape, args.strides, args.pads, args.dilations, g, args.order.kOrder);
  if (typeof cg === 'string') throw new ModelError(`fpConv: ${cg}`);
  const xv = operandValues(args.x, n * c * h * wd, 'x');
  const wv = operandValues(args.w, oc * icg * kh * kw, 'w');
  // the padded input the PEs read: padding feeds 0.0
  const [pt, pl, pb, pr] = args.pads;
  const hp = h + pt + pb;
  const wp = wd + pl + pr;
  const xp = new Float64Array(n * c * hp * wp);
  for (let plane = 0; plane < n * c; plane++)
    for (let yy = 0; yy < h; yy++)
      for (let xx = 0; xx < wd; xx++) xp[plane * hp * wp + (yy + pt) * wp + xx + pl] = xv[plane * h * wd + yy * wd + xx];
  const y = args.out ?? new Float32Array(cg.geo.outLength);
  invariant(y.length === cg.geo.outLength, `fpConv: out has ${y.length} entries for ${cg.geo.outLength}`);
  return { y, outShape: cg.outShape, report: fpLinear(cg.geo, xp, wv, args.bias, args.acc, args.order, y) };
}

/**
 * An MX element format as integers: int[code] · 2^step = element value. FP elements are integer
 * multiples of their smallest subnormal; MXINT8 codes are the integers (step −6).
 */
function elementInts(f: MxFormat): { ints: Float64Array; step: number; maxInt: number } {
  const ints = new Float64Array(256);
  if (f.element === null) {
    for (let c = 0; c < 256; c++) ints[c] = c >= 128 ? c - 256 : c;
    return { ints, step: Math.log2(MXINT8_ELEMENT_SCALE), maxInt: 128 };
  }
  const el = f.element;
  const t = decodeTable(el);
  const unit = el.minSubnormal;
  let maxInt = 0;
  for (let c = 0; c < 2 ** el.bits; c++) {
    const v = t[c] / unit; // exact: a power-of-two scaling
    // specials (E5M2 inf/NaN) cannot come out of the MX conversion, whose blocks are finite
    ints[c] = Number.isFinite(v) ? v : NaN;
    if (Number.isFinite(v) && Math.abs(v) > maxInt) maxInt = Math.abs(v);
  }
  return { ints, step: el.emin - el.manBits, maxInt };
}

const TWO16 = 65536;
const TWO32 = 2 ** 32;

/**
 * MX GEMM: exact integer dot product per block, both block scales applied, one FP32 rounding per
 * block, FP32 accumulation of the blocks in the dataflow's order, with the swamping report.
 */
export function mxGemm(args: MxGemmArgs): { y: Float32Array; report: SwampReport } {
  const { m, k, n, order } = args;
  checkShape(m, k, n, args.bias, order, 'mxGemm');
  const bs = args.x.format.blockSize;
  invariant(args.w.format.blockSize === bs, `mxGemm: block sizes ${bs} and ${args.w.format.blockSize} differ`);
  const nb = Math.ceil(k / bs);
  invariant(args.x.codes.length === m * k && args.x.scales.length === m * nb, `mxGemm: x has ${args.x.codes.length} codes / ${args.x.scales.length} scales for ${m}×${k}`);
  invariant(args.w.codes.length === n * k && args.w.scales.length === n * nb, `mxGemm: w has ${args.w.codes.length} codes / ${args.w.scales.length} scales for ${n}×${k}`);
  const y = args.out ?? new Float32Array(m * n);
  invariant(y.length === m * n, `mxGemm: out has ${y.length} entries for ${m}×${n}`);
  const xa = elementInts(args.x.format);
  const wa = elementInts(args.w.format);
  // one double holds a block's integer sum exactly when every partial sum stays below 2^53; else
  // the 16-bit split below is exact for element integers below 2^32 (E5M2: 57344 / 2^−16 < 2^32)
  const direct = xa.maxInt * wa.maxInt * bs <= 2 ** 53;
  invariant(direct || (xa.maxInt < TWO32 && wa.maxInt < TWO32 && bs <= 2 ** 19), `mxGemm: ${args.x.format.name} × ${args.w.format.name} blocks of ${bs} are too wide for the exact block sum`);
  const stepSum = xa.step + wa.step - 2 * E8M0_BIAS;
  const { seq, stepEnd } = arrivalSequence(nb, order);
  const ctr = new Counter(new Float64Array(n), AccFloat.Fp32);
  const blk = new Float64Array(nb);
  const xi = xa.ints;
  const wi = wa.ints;
  for (let c = 0; c < n; c++) {
    const b = args.bias === undefined ? 0 : args.bias[c];
    for (let p = 0; p < m; p++) {
      for (let q = 0; q < nb; q++) {
        const sx = args.x.scales[p * nb + q];
        const sw = args.w.scales[c * nb + q];
        const k0 = q * bs;
        const k1 = Math.min(k, k0 + bs);
        const xo = p * k;
        const wo = c * k;
        let t: number;
        if (direct) {
          t = 0;
          for (let j = k0; j < k1; j++) t += xi[args.x.codes[xo + j]] * wi[args.w.codes[wo + j]];
        } else {
          // a = ah·2^16 + al (0 ≤ al < 2^16, |ah| ≤ 2^16): Σa·w = s2·2^32 + s1·2^16 + s0, each partial
          // sum exact (< 2^38); the carry of s1 joins s2, and the two exact halves are added with one rounding
          let s2 = 0;
          let s1 = 0;
          let s0 = 0;
          for (let j = k0; j < k1; j++) {
            const a = xi[args.x.codes[xo + j]];
            const w = wi[args.w.codes[wo + j]];
            const ah = Math.floor(a / TWO16);
            const al = a - ah * TWO16;
            const wh = Math.floor(w / TWO16);
            const wl = w - wh * TWO16;
            s2 += ah * wh;
            s1 += ah * wl + al * wh;
            s0 += al * wl;
          }
          const c1 = Math.floor(s1 / TWO16);
          const hi = s2 + c1;
          const lo = (s1 - c1 * TWO16) * TWO16 + s0;
          t = addRoundToOdd(hi * TWO32, lo);
        }
        // both scales and both element steps as one exact power of two, then one FP32 rounding
        blk[q] = sx === E8M0_NAN || sw === E8M0_NAN ? NaN : Math.fround(t * pow2(stepSum + sx + sw));
      }
      y[p * n + c] = accumulate(blk, seq, stepEnd, b, ctr, c, p);
    }
  }
  return { y, report: ctr.report(stepEnd.length) };
}

export interface GroupGemmArgs {
  /** [M, K]: input integers with the zero point taken off (q_x − z_x) */
  readonly x: Int32Array;
  /** the input's per-tensor float32 scale */
  readonly xScale: number;
  /** [N, K]: symmetric weight integers */
  readonly w: Int32Array;
  /** [N, ⌈K/g⌉] float32 group scales */
  readonly wScale: Float32Array;
  readonly groupSize: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** [N], real */
  readonly bias?: Float32Array;
  /** kTile counts groups */
  readonly order: AccumulationOrder;
  readonly out?: Float32Array;
}

/**
 * Per-group integer GEMM (INT4 / INT8 weights with one scale per group of g along K): each
 * group's dot product summed exactly as an integer (an int32 adder: |Σ| < 2^31 is checked), scaled
 * by the float32 product s_x·s_w[n, group] with one FP32 rounding, and the groups accumulated in
 * FP32 in the dataflow's order as mxGemm accumulates blocks — with the same swamping report.
 */
export function groupGemm(args: GroupGemmArgs): { y: Float32Array; report: SwampReport } {
  const { m, k, n, order, groupSize: g } = args;
  checkShape(m, k, n, args.bias, order, 'groupGemm');
  invariant(Number.isInteger(g) && g >= 1, `groupGemm: group size ${g}`);
  const nb = Math.ceil(k / g);
  invariant(args.x.length === m * k && args.w.length === n * k && args.wScale.length === n * nb, `groupGemm: x ${args.x.length}, w ${args.w.length}, scales ${args.wScale.length} for ${m}×${k}×${n} in groups of ${g}`);
  const y = args.out ?? new Float32Array(m * n);
  invariant(y.length === m * n, `groupGemm: out has ${y.length} entries for ${m}×${n}`);
  const { seq, stepEnd } = arrivalSequence(nb, order);
  const ctr = new Counter(new Float64Array(n), AccFloat.Fp32);
  const blk = new Float64Array(nb);
  const sx = Math.fround(args.xScale);
  const x = args.x;
  const w = args.w;
  for (let c = 0; c < n; c++) {
    const b = args.bias === undefined ? 0 : args.bias[c];
    const wo = c * k;
    for (let p = 0; p < m; p++) {
      const xo = p * k;
      for (let q = 0; q < nb; q++) {
        const k1 = Math.min(k, (q + 1) * g);
        let t = 0;
        for (let j = q * g; j < k1; j++) t += x[xo + j] * w[wo + j];
        invariant(t >= -2147483648 && t <= 2147483647, `groupGemm: a group sum ${t} overflows int32`);
        // t·S is exact in a double (|t| < 2^31, S has 24 bits): one rounding, to FP32
        blk[q] = Math.fround(t * Math.fround(sx * args.wScale[c * nb + q]));
      }
      y[p * n + c] = accumulate(blk, seq, stepEnd, b, ctr, c, p);
    }
  }
  return { y, report: ctr.report(stepEnd.length) };
}
