/**
 * A conv / gemm layer whose operands are in number formats (qnet/network.ts `WeightFormat`,
 * `LinearFormat`), run on fp-dot.ts's kernels — the one implementation of their arithmetic:
 * - float operands (FP16 / BF16 / FP8): the input encoded with its per-tensor scale, fpConv /
 *   fpGemm on the codes with the bias in accumulator units (b / (s_x·s_w[c])), the accumulator
 *   then scaled: real = float32(acc · float32(s_x·s_w[c]));
 * - MX: the operand rows (a conv's im2col rows, K in ONNX ckk order — the order the weight blocks
 *   were cut in) encoded as MX blocks along K, mxGemm per conv group;
 * - per-group integers: the affine input's integers less its zero point (padding 0), groupGemm.
 * The dataflow's kTile counts products; for MX and groups it becomes whole blocks
 * (⌊kTile / block⌋, at least one): a block's dot product is one unit of the array's work.
 * Returns the real pre-activation output (conv NCHW, gemm [M, N]) and the swamping report.
 */
import { InvariantError, ModelError } from '../../nets/errors.js';
import { floatFormatByName, mxFormatByName } from '../../qnet/formats/descriptor.js';
import { quantizeFloatLinear, type Codes } from '../../qnet/formats/float.js';
import { blockCount, quantizeMx } from '../../qnet/formats/mx.js';
import type { ActFormat, LinearFormat, QMatMulLayer, QWeight, QWindow } from '../../qnet/network.js';
import { broadcastBatches } from '../qexec-values.js';
import type { AccumulationOrder } from './accumulator.js';
import { AccFloat, fpConv, fpGemm, groupGemm, mxGemm, type SwampReport } from './fp-dot.js';
import { convGeometry } from './geometry.js';

export interface FormatLinearArgs {
  readonly kind: 'conv' | 'gemm';
  readonly name: string;
  readonly weight: QWeight;
  readonly format: LinearFormat;
  /** conv only */
  readonly window?: QWindow;
  readonly group: number;
  readonly order: AccumulationOrder;
  /** float / MX input: the real values; per-group layers: the affine integer codes */
  readonly x: Float32Array | Int32Array;
  readonly xShape: readonly number[];
  /** per-group layers: the input's affine scale and zero point */
  readonly xAffine?: { readonly scale: number; readonly zeroPoint: number };
}

const ACC: Record<LinearFormat['acc'], AccFloat> = { fp32: AccFloat.Fp32, fp16: AccFloat.Fp16, bf16: AccFloat.Bf16 };

/** The order without an integer partial-sum width (a float partial sum has the accumulator's format). */
function floatOrder(o: AccumulationOrder, blockSize: number): AccumulationOrder {
  const kTile = blockSize > 1 && o.kTile > 0 ? Math.max(1, Math.floor(o.kTile / blockSize)) : o.kTile;
  return { kOrder: o.kOrder, kTile, ...(o.tileOrder !== undefined && blockSize === 1 && { tileOrder: o.tileOrder }) };
}

function fail(a: FormatLinearArgs, message: string): never {
  throw new ModelError([{ node: a.name, op: a.kind, message }]);
}

/** Sums of per-group reports, channels offset by group (channel-major, so the first event is the first group's). */
function mergeSwamp(rs: readonly SwampReport[]): SwampReport {
  if (rs.length === 1) return rs[0];
  const perChannel = new Float64Array(rs.reduce((s, r) => s + r.perChannel.length, 0));
  let off = 0;
  let first: SwampReport['first'] = null;
  const sum = { events: 0, psumEvents: 0, adds: 0, inexact: 0, nonFinite: 0, maxAbs: 0 };
  for (const r of rs) {
    perChannel.set(r.perChannel, off);
    if (first === null && r.first) first = { ...r.first, channel: r.first.channel + off };
    off += r.perChannel.length;
    sum.events += r.events;
    sum.psumEvents += r.psumEvents;
    sum.adds += r.adds;
    sum.inexact += r.inexact;
    sum.nonFinite += r.nonFinite;
    sum.maxAbs = Math.max(sum.maxAbs, r.maxAbs);
  }
  return { ...sum, perChannel, first, tiles: rs[0].tiles };
}

/**
 * A conv as per-group GEMMs over its im2col rows (K in ckk order, padding `pad`): calls
 * gemm(rows [P, Kg], group index) and scatters each [P, Ng] result into the NCHW output.
 */
function convByGroups(
  a: FormatLinearArgs,
  pad: number,
  gemm: (rows: Float64Array, p: number, kg: number, gi: number) => { y: Float32Array; report: SwampReport },
): { y: Float32Array; outShape: number[]; report: SwampReport } {
  const w = a.window!;
  const [n, c, h, wd] = a.xShape;
  const cg = convGeometry(a.xShape, a.weight.shape, w.strides, w.pads, w.dilations, a.group, 'ckk');
  if (typeof cg === 'string') fail(a, cg);
  const geo = cg.geo;
  const [pt, pl, pb, pr] = w.pads;
  const hp = h + pt + pb;
  const wp = wd + pl + pr;
  const xp = new Float64Array(n * c * hp * wp).fill(pad);
  for (let plane = 0; plane < n * c; plane++)
    for (let yy = 0; yy < h; yy++)
      for (let xx = 0; xx < wd; xx++) xp[plane * hp * wp + (yy + pt) * wp + xx + pl] = a.x[plane * h * wd + yy * wd + xx];
  const kg = geo.k;
  const off = new Int32Array(kg);
  for (let o = 0; o < kg; o++) off[o] = geo.offOf(o);
  const P = geo.positions;
  const ng = geo.nOut / a.group;
  const rows = new Float64Array(P * kg);
  const y = new Float32Array(geo.outLength);
  const reports: SwampReport[] = [];
  for (let gi = 0; gi < a.group; gi++) {
    const gOff = gi * geo.groupXStride;
    for (let p = 0; p < P; p++) for (let o = 0; o < kg; o++) rows[p * kg + o] = xp[geo.posBase[p] + gOff + off[o]];
    const r = gemm(rows, P, kg, gi);
    reports.push(r.report);
    for (let p = 0; p < P; p++) for (let j = 0; j < ng; j++) y[geo.outBase[p] + (gi * ng + j) * geo.cStride] = r.y[p * ng + j];
  }
  return { y, outShape: cg.outShape, report: mergeSwamp(reports) };
}

function asCodes(data: Int32Array, bits: number): Codes {
  return bits > 8 ? Uint16Array.from(data) : Uint8Array.from(data);
}

/** Runs the layer: real pre-activation outputs, their shape, the swamping report. */
export function runFormatLinear(a: FormatLinearArgs): { y: Float32Array; outShape: number[]; report: SwampReport } {
  const wf = a.weight.format;
  if (!wf) throw new InvariantError(`layer '${a.name}': runFormatLinear on a layer without a weight format`);
  const wShape = a.weight.shape;
  const nOut = wShape[0];
  if (wShape.length !== (a.kind === 'conv' ? 4 : 2)) fail(a, `a weight of shape [${wShape.join(',')}] (batched MatMul weights in number formats are not supported)`);
  const K = wShape.slice(1).reduce((s, d) => s * d, 1);
  const kg = K;
  const lf = a.format;
  const xs = a.xShape;
  if (a.kind === 'conv' && xs.length !== 4) fail(a, `input must be NCHW, got shape [${xs.join(',')}]`);
  if (a.kind === 'gemm' && xs[xs.length - 1] !== K) fail(a, `input shape [${xs.join(',')}] does not end in K = ${K}`);
  const M = a.kind === 'gemm' ? a.x.length / K : 0;
  const gemmShape = [...xs.slice(0, -1), nOut];

  if (wf.kind === 'float') {
    const inF = lf.input;
    if (!inF || inF.kind !== 'float') fail(a, 'float weights need a float-format input');
    const fx = floatFormatByName(inF.element);
    const fw = floatFormatByName(wf.element);
    const sx = Math.fround(inF.scale);
    // the combined scale per channel, and the bias in accumulator units
    const s = new Float32Array(nOut);
    for (let c = 0; c < nOut; c++) s[c] = Math.fround(sx * wf.scale[wf.scale.length === 1 ? 0 : c]);
    const bias = lf.bias ? Float32Array.from(lf.bias, (b, c) => b / s[c]) : undefined;
    const xc = quantizeFloatLinear(fx, a.x as Float32Array, Float32Array.of(sx), [a.x.length], -1, true);
    const x = { codes: xc, format: fx };
    const w = { codes: asCodes(a.weight.data, fw.bits), format: fw };
    const order = floatOrder(a.order, 1);
    let r: { y: Float32Array; report: SwampReport; outShape?: readonly number[] };
    if (a.kind === 'conv') {
      const win = a.window!;
      r = fpConv({ x, w, xShape: xs as [number, number, number, number], wShape: wShape as [number, number, number, number], strides: win.strides, pads: win.pads, dilations: win.dilations, group: a.group, bias, acc: ACC[lf.acc], order });
    } else r = fpGemm({ x, w, m: M, k: K, n: nOut, bias, acc: ACC[lf.acc], order });
    const y = r.y;
    const outShape = r.outShape ? [...r.outShape] : gemmShape;
    // channel axis: 1 (conv NCHW), last (gemm)
    const area = a.kind === 'conv' ? outShape[2] * outShape[3] : 1;
    for (let i = 0; i < y.length; i++) y[i] = Math.fround(y[i] * s[Math.floor(i / area) % nOut]);
    return { y, outShape, report: r.report };
  }

  if (wf.kind === 'mx') {
    const inF: ActFormat | null = lf.input;
    if (!inF || inF.kind !== 'mx') fail(a, 'MX weights need an MX input');
    const fx = mxFormatByName(inF.mx);
    const fw = mxFormatByName(wf.mx);
    if (lf.acc !== 'fp32') fail(a, `MX layers accumulate in FP32 (MX v1.0 §6.2), got ${lf.acc}`);
    const nb = blockCount(kg, fw.blockSize);
    const wCodes = Uint8Array.from(a.weight.data);
    const order = floatOrder(a.order, fw.blockSize);
    const mx = (rows: Float32Array, p: number, gi: number, ng: number) => {
      const xq = quantizeMx(fx, rows, { outer: p, k: kg, inner: 1 });
      return mxGemm({
        x: { format: fx, codes: xq.codes, scales: xq.scales },
        w: { format: fw, codes: wCodes.subarray(gi * ng * kg, (gi + 1) * ng * kg), scales: wf.scales.subarray(gi * ng * nb, (gi + 1) * ng * nb) },
        m: p,
        k: kg,
        n: ng,
        bias: lf.bias ? lf.bias.subarray(gi * ng, (gi + 1) * ng) : undefined,
        order,
      });
    };
    if (a.kind === 'gemm') {
      const r = mx(a.x as Float32Array, M, 0, nOut);
      return { y: r.y, outShape: gemmShape, report: r.report };
    }
    return convByGroups(a, 0, (rows, p, _kg, gi) => mx(Float32Array.from(rows), p, gi, nOut / a.group));
  }

  // per-group integers
  const aff = a.xAffine;
  if (!aff || lf.input !== null) fail(a, 'per-group weights take an affine integer input');
  const zx = aff.zeroPoint;
  const nb = blockCount(kg, wf.groupSize);
  const order = floatOrder(a.order, wf.groupSize);
  const grp = (rows: Int32Array, p: number, gi: number, ng: number) =>
    groupGemm({
      x: rows,
      xScale: aff.scale,
      w: a.weight.data.subarray(gi * ng * kg, (gi + 1) * ng * kg),
      wScale: wf.scale.subarray(gi * ng * nb, (gi + 1) * ng * nb),
      groupSize: wf.groupSize,
      m: p,
      k: kg,
      n: ng,
      bias: lf.bias ? lf.bias.subarray(gi * ng, (gi + 1) * ng) : undefined,
      order,
    });
  if (a.kind === 'gemm') {
    const xi = Int32Array.from(a.x, (v) => v - zx);
    const r = grp(xi, M, 0, nOut);
    return { y: r.y, outShape: gemmShape, report: r.report };
  }
  const shifted = { ...a, x: Float32Array.from(a.x, (v) => v - zx) };
  return convByGroups(shifted, 0, (rows, p, _kg, gi) => grp(Int32Array.from(rows), p, gi, nOut / a.group));
}

export interface FormatMatMulArgs {
  readonly name: string;
  /** A [batches·M, K] and B [batches·K, N]: real values on their formats' grids */
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly aFormat: ActFormat;
  readonly bFormat: ActFormat;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** per output batch, the batch index of A and of B ([a0, b0, a1, b1, …]: MatMul's broadcast) */
  readonly pairs: Int32Array;
  readonly acc: LinearFormat['acc'];
  readonly order: AccumulationOrder;
}

/**
 * A MatMul of two activations on number formats (Q·Kᵀ, P·V), one GEMM per batch (head) with B
 * the stationary operand as a conv's weights are — B's rows transposed to [N, K]:
 * - float formats: both operands encoded with their per-tensor scales (exact: they are on the
 *   grid), products exact, accumulation in the accumulator format in the dataflow's order, then
 *   real = float32(acc · float32(s_a·s_b));
 * - MX: A's rows and Bᵀ's rows cut into blocks along K afresh (the stored tensor's blocks run
 *   along its last axis; a dot product needs them along the reduction axis — hardware re-blocks
 *   the stationary operand as it loads it, one more rounding of B, counted in its values).
 * Returns the real outputs [batches·M, N] and the swamping report (channels: batch-major).
 */
export function runFormatMatMul(x: FormatMatMulArgs): { y: Float32Array; report: SwampReport } {
  const { m: M, k: K, n: N, pairs } = x;
  const nb = pairs.length / 2;
  const y = new Float32Array(nb * M * N);
  const bt = new Float32Array(N * K);
  const reports: SwampReport[] = [];
  const fail2 = (message: string): never => {
    throw new ModelError([{ node: x.name, op: 'matmul', message }]);
  };
  if (x.aFormat.kind !== x.bFormat.kind) fail2(`operands in a ${x.aFormat.kind} and a ${x.bFormat.kind} format`);
  for (let i = 0; i < nb; i++) {
    const aRows = x.a.subarray(pairs[2 * i] * M * K, (pairs[2 * i] + 1) * M * K);
    const bo = pairs[2 * i + 1] * K * N;
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = x.b[bo + k * N + n];
    const out = y.subarray(i * M * N, (i + 1) * M * N);
    let r: { y: Float32Array; report: SwampReport };
    if (x.aFormat.kind === 'float' && x.bFormat.kind === 'float') {
      const fa = floatFormatByName(x.aFormat.element);
      const fb = floatFormatByName(x.bFormat.element);
      const sa = Math.fround(x.aFormat.scale);
      const sb = Math.fround(x.bFormat.scale);
      const ac = quantizeFloatLinear(fa, aRows, Float32Array.of(sa), [aRows.length], -1, true);
      const bc = quantizeFloatLinear(fb, bt, Float32Array.of(sb), [bt.length], -1, true);
      r = fpGemm({ x: { codes: ac, format: fa }, w: { codes: bc, format: fb }, m: M, k: K, n: N, acc: ACC[x.acc], order: floatOrder(x.order, 1), out });
      const s = Math.fround(sa * sb);
      for (let j = 0; j < out.length; j++) out[j] = Math.fround(out[j] * s);
    } else if (x.aFormat.kind === 'mx' && x.bFormat.kind === 'mx') {
      if (x.acc !== 'fp32') fail2(`MX layers accumulate in FP32 (MX v1.0 §6.2), got ${x.acc}`);
      const fa = mxFormatByName(x.aFormat.mx);
      const fb = mxFormatByName(x.bFormat.mx);
      const aq = quantizeMx(fa, aRows, { outer: M, k: K, inner: 1 });
      const bq = quantizeMx(fb, bt, { outer: N, k: K, inner: 1 });
      r = mxGemm({ x: { format: fa, codes: aq.codes, scales: aq.scales }, w: { format: fb, codes: bq.codes, scales: bq.scales }, m: M, k: K, n: N, order: floatOrder(x.order, fb.blockSize), out });
    } else return fail2(`a MatMul between two ${x.aFormat.kind} tensors has no number-format execution`);
    reports.push(r.report);
  }
  return { y, report: mergeSwamp(reports) };
}

/**
 * A network's MatMul layer between two format tensors (the executor's call): shapes and MatMul's
 * batch broadcast checked, one runFormatMatMul per head, B stationary.
 */
export function formatMatMulLayer(
  layer: QMatMulLayer,
  ins: readonly { readonly shape: readonly number[]; readonly data: unknown }[],
  fa: ActFormat | undefined,
  fb: ActFormat | undefined,
  order: AccumulationOrder,
): { y: { dtype: 'float32'; shape: number[]; data: Float32Array }; report: SwampReport } {
  const [a, b] = ins;
  const fail = (message: string): never => {
    throw new ModelError([{ node: layer.name, op: 'matmul', message }]);
  };
  if (!fa || !fb) return fail('both operands of a number-format MatMul need a format');
  if (a.shape.length < 2 || b.shape.length < 2) fail('number-format MatMul operands must have rank ≥ 2');
  const M = a.shape[a.shape.length - 2];
  const K = a.shape[a.shape.length - 1];
  const N = b.shape[b.shape.length - 1];
  if (b.shape[b.shape.length - 2] !== K) fail(`inner dimensions differ: A [${a.shape.join(',')}], B [${b.shape.join(',')}]`);
  const { ob, pairs } = broadcastBatches(a.shape.slice(0, -2), b.shape.slice(0, -2), layer);
  const r = runFormatMatMul({ name: layer.name, a: a.data as Float32Array, b: b.data as Float32Array, aFormat: fa, bFormat: fb, m: M, k: K, n: N, pairs, acc: layer.formatAcc ?? 'fp32', order });
  return { y: { dtype: 'float32', shape: [...ob, M, N], data: r.y }, report: r.report };
}
