/**
 * The quantization ops, one reader per op (QOP_READERS): each checks its operands, reads the
 * quantization parameters its tensors carry (QImportState.readQ) and records the integer layer it
 * becomes — or, for QuantizeLinear / DequantizeLinear of a constant, folds it.
 */
import { partialOutputShapes } from '../../nets/shapes.js';
import { buildLut } from '../../qnet/lut.js';
import { dequantizeLinear, quantizeLinear } from '../../qnet/qmath.js';
import type { QLinearLayer, QPoolLayer } from '../../qnet/network.js';
import { isIntDType, MS, transposeLast2 } from './common.js';
import { qparamsOf, toI32, type Decl } from './decl.js';
import { convGeometry, normalizeProxy, poolLayer, proxy } from './float-ops.js';
import type { QImportState, RNode } from './qstate.js';

/** How one quantization op is read. */
export interface QOpReader {
  /** the operands (name, description) that must be constant */
  readonly consts: (ins: readonly string[]) => [string | undefined, string][];
  readonly read: (st: QImportState, n: RNode, ins: readonly string[], out: string) => void;
}

/** Operands at fixed input positions. */
const at =
  (list: [number, string][]) =>
  (ins: readonly string[]): [string | undefined, string][] =>
    list.map(([i, what]) => [ins[i], what]);

/** X and Y scale / zero point of the unary com.microsoft ops. */
const unaryParams = at([[1, 'X scale'], [2, 'X zero point'], [3, 'Y scale'], [4, 'Y zero point']]);

/** QLinearConcat: Y's parameters, then (X, X scale, X zero point) triples. */
function concatParams(ins: readonly string[]): [string | undefined, string][] {
  const list: [string | undefined, string][] = [[ins[0], 'Y scale'], [ins[1], 'Y zero point']];
  for (let i = 2; i + 2 < ins.length; i += 3) list.push([ins[i + 1], `input ${(i - 2) / 3} scale`], [ins[i + 2], `input ${(i - 2) / 3} zero point`]);
  return list;
}

/** QuantizeLinear / DequantizeLinear: per tensor or per axis; of a constant, folded at import. */
function readQuantizeLinear(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const quant = n.op === 'QuantizeLinear';
  if (st.int(n, 'block_size', 0) !== 0) {
    st.problem(n, 'blocked quantization (block_size) is not supported');
    return;
  }
  const x = ins[0];
  const xShape = st.shapeOf(x);
  const xType = st.dtypeOf(x);
  if (quant && xType !== 'float32') {
    st.problem(n, `input must be float32, got ${xType}`);
    return;
  }
  if (!quant && !isIntDType(xType)) {
    st.problem(n, `input must be int8, uint8 or int32, got ${xType}`);
    return;
  }
  let axis = st.opset >= 13 || n.domain === MS ? st.int(n, 'axis', 1) : undefined;
  if (axis !== undefined && axis < 0) {
    if (!xShape) {
      st.problem(n, `negative axis ${axis} needs the input's rank, which is unknown`);
      return;
    }
    axis += xShape.length;
  }
  const outCode = quant ? st.int(n, 'output_dtype', 0) : 0;
  const outType = outCode === 0 ? undefined : outCode === 2 ? 'uint8' : outCode === 3 ? 'int8' : null;
  if (outType === null) {
    st.problem(n, `output_dtype ${outCode} is not supported (uint8, int8)`);
    return;
  }
  const decl = st.readQ(n, ins[1], ins[2], quant ? 'y' : 'x', quant ? outType : xType, axis, !quant);
  if (!decl) return;
  if (!quant && decl.dtype !== xType) {
    st.problem(n, `zero point type ${decl.dtype} differs from the input type ${xType}`);
    return;
  }
  if (decl.axis >= 0 && xShape) {
    if (decl.axis >= xShape.length || (xShape[decl.axis] >= 0 && xShape[decl.axis] !== decl.scale!.length)) {
      st.problem(n, `${decl.scale!.length} scales do not match axis ${decl.axis} of input shape [${xShape.join(',')}]`);
      return;
    }
  }
  const c = st.consts.get(x);
  if (c) {
    // fold: constants are quantized / dequantized at import, with the executor's arithmetic
    const q = qparamsOf(decl);
    if (quant) {
      const codes = quantizeLinear(c.data as Float32Array, q, c.shape);
      const data = decl.dtype === 'uint8' ? Uint8Array.from(codes) : decl.dtype === 'int8' ? Int8Array.from(codes) : codes;
      st.consts.set(out, { dtype: decl.dtype, shape: [...c.shape], data });
    } else {
      const f = dequantizeLinear(toI32(c), q, c.shape);
      st.consts.set(out, { dtype: 'float32', shape: [...c.shape], data: f });
      st.dqOf.set(out, { src: x, q: c, decl });
    }
    return;
  }
  if (quant) {
    st.layer({ layer: { kind: 'quantize', name: n.name, inputs: [x], output: out }, decls: [[out, decl]], same: [], q: { x, decl } });
    st.setInfo(out, decl.dtype, xShape);
  } else {
    st.layer({ layer: { kind: 'dequantize', name: n.name, inputs: [x], output: out }, decls: [[x, decl]], same: [], dq: { x, decl } });
    st.setInfo(out, 'float32', xShape);
  }
}

/** A linear op's input and weight (QLinear form: inputs 0 and 3; Integer form: 0 and 1), the input 8-bit. */
function linearInputs(st: QImportState, n: RNode, ins: readonly string[], q: boolean, what: string): { x: string; w: string; xType: 'int8' | 'uint8' } | undefined {
  const x = ins[0];
  const xType = st.dtypeOf(x);
  if (!isIntDType(xType) || xType === 'int32') {
    st.problem(n, `input ${what} must be int8 or uint8, got ${xType}`);
    return undefined;
  }
  return { x, w: q ? ins[3] : ins[1], xType };
}

/** How a linear op names and shapes its input (x) and weight (w) operands, for linearDecls. */
interface LinearOperands {
  readonly x: string;
  readonly xType: 'int8' | 'uint8';
  readonly w: string;
  readonly wType: 'int8' | 'uint8';
  /** the weight axis per-channel parameters apply to; undefined: per tensor only */
  readonly wAxis: number | undefined;
  /** "the weight type", "B's type" */
  readonly wIs: string;
  readonly wName: string;
  /** output channels (columns) the weight parameters may number */
  readonly count: number;
  readonly unit: string;
  /** the problem when the Integer form's x zero point is not a scalar */
  readonly xScalar: string;
}

/**
 * The quantization parameters of a linear op's input, weight and output: QLinear form (scales
 * and zero points at inputs 1, 2 / 4, 5 / 6, 7) or Integer form (zero points at inputs 2 and 3;
 * an int32 output with scale 1, zero point 0), checked against the operands' types and counts.
 */
function linearDecls(st: QImportState, n: RNode, ins: readonly string[], q: boolean, o: LinearOperands): { xd: Decl; wd: Decl; yd: Decl } | undefined {
  let xd: Decl | undefined, wd: Decl | undefined, yd: Decl | undefined;
  if (q) {
    xd = st.readQ(n, ins[1], ins[2], o.x, o.xType, undefined);
    wd = st.readQ(n, ins[4], ins[5], o.w, o.wType, o.wAxis);
    yd = st.readQ(n, ins[6], ins[7], 'y', o.xType, undefined);
  } else {
    const xz = ins[2] ? st.constOf(n, ins[2], `${o.x} zero point`) : undefined;
    const wz = ins[3] ? st.constOf(n, ins[3], `${o.w} zero point`) : undefined;
    if ((ins[2] && !xz) || (ins[3] && !wz)) return undefined;
    xd = { zp: xz ? toI32(xz) : Int32Array.of(0), axis: -1, dtype: o.xType, by: n.name };
    const wzp = wz ? toI32(wz) : Int32Array.of(0);
    if (wzp.length > 1 && o.wAxis === undefined) {
      st.problem(n, `per-column ${o.w} zero points are supported for 2-D ${o.wName} only`);
      return undefined;
    }
    wd = { scale: new Float32Array(wzp.length).fill(1), zp: wzp, axis: wzp.length > 1 ? 0 : -1, dtype: o.wType, by: n.name };
    yd = { scale: Float32Array.of(1), zp: Int32Array.of(0), axis: -1, dtype: 'int32', by: n.name };
    if (xd.zp.length !== 1) {
      st.problem(n, o.xScalar);
      return undefined;
    }
  }
  if (!xd || !wd || !yd) return undefined;
  if (xd.dtype !== o.xType) {
    st.problem(n, `${o.x} zero point type ${xd.dtype} differs from the input type ${o.xType}`);
    return undefined;
  }
  if (wd.dtype !== o.wType) {
    st.problem(n, `${o.w} zero point type ${wd.dtype} differs from ${o.wIs} ${o.wType}`);
    return undefined;
  }
  const len = Math.max(wd.zp.length, wd.scale?.length ?? 1);
  if (len !== 1 && len !== o.count) {
    st.problem(n, `${o.wName} has ${len} scales / zero points for ${o.count} ${o.unit}`);
    return undefined;
  }
  return { xd, wd, yd };
}

/** QLinearConv / ConvInteger → a conv layer (ConvInteger: int32 output, scale 1). */
function readConv(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const q = n.op === 'QLinearConv';
  const io = linearInputs(st, n, ins, q, 'x');
  if (!io) return;
  const { x, w, xType } = io;
  const wt = st.constOf(n, w, 'weight');
  if (!wt) return;
  if (wt.dtype !== 'int8' && wt.dtype !== 'uint8') {
    st.problem(n, `weight must be int8 or uint8, got ${wt.dtype}`);
    return;
  }
  if (wt.shape.length !== 4) {
    st.problem(n, `only 2-D convolutions are supported (weight rank ${wt.shape.length})`);
    return;
  }
  if (st.int(n, 'channels_last', 0) !== 0) {
    st.problem(n, 'channels_last=1 is not supported');
    return;
  }
  const M = wt.shape[0];
  const d = linearDecls(st, n, ins, q, {
    x: 'x',
    xType,
    w: 'w',
    wType: wt.dtype,
    wAxis: 0,
    wIs: 'the weight type',
    wName: 'w',
    count: M,
    unit: 'output channels',
    xScalar: 'x zero point must be a scalar',
  });
  if (!d) return;
  const { xd, wd, yd } = d;
  let bias: Int32Array | null = null;
  if (q && ins[8]) {
    const b = st.constOf(n, ins[8], 'bias');
    if (!b) return;
    if (b.dtype !== 'int32' || b.data.length !== M) {
      st.problem(n, `bias must be int32 with ${M} values, got ${b.dtype}[${b.shape.join(',')}]`);
      return;
    }
    bias = toI32(b);
  }
  const geo = convGeometry(st, n, x, wt.shape, 'Conv');
  if (!geo) return;
  const weight = st.weight(wt, wt.shape, toI32(wt), wd);
  const layer: QLinearLayer = {
    kind: 'conv', name: n.name, inputs: [x], output: out, weight, bias,
    kernel: [wt.shape[2], wt.shape[3]], strides: geo.strides, pads: geo.pads, dilations: geo.dilations, group: geo.group,
    activation: { kind: 'none' },
  };
  st.layer({ layer, decls: [[x, xd], [out, yd]], same: [] });
  st.setInfo(out, yd.dtype, geo.outShape);
}

/**
 * QLinearMatMul / MatMulInteger with a constant B (an initializer or a Constant) → a gemm layer (B
 * transposed to [..., N, K]); with a B fed at run time (a graph input, even one given a value,
 * or a tensor computed in the graph) → an activation × activation matmul layer.
 */
function readMatMul(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const q = n.op === 'QLinearMatMul';
  const io = linearInputs(st, n, ins, q, 'A');
  if (!io) return;
  const { x: a, w: b, xType: aType } = io;
  if (!st.consts.has(b)) {
    readActMatMul(st, n, ins, out, q, a, b, aType);
    return;
  }
  const bt = st.consts.get(b)!;
  if (bt.dtype !== 'int8' && bt.dtype !== 'uint8') {
    st.problem(n, `B must be int8 or uint8, got ${bt.dtype}`);
    return;
  }
  if (bt.shape.length < 2) {
    st.problem(n, `B must have rank ≥ 2, got [${bt.shape.join(',')}]`);
    return;
  }
  const N = bt.shape[bt.shape.length - 1];
  const perColumn = bt.shape.length === 2 ? 0 : undefined;
  // B's parameters: scalar, [N] or [1, N] (per column; ORT's IsBQuantParamSupported)
  const d = linearDecls(st, n, ins, q, {
    x: 'a',
    xType: aType,
    w: 'b',
    wType: bt.dtype,
    wAxis: perColumn,
    wIs: "B's type",
    wName: 'B',
    count: N,
    unit: 'columns',
    xScalar: 'a zero point must be a scalar (per-row zero points are not supported)',
  });
  if (!d) return;
  const { xd: ad, yd } = d;
  let bd = d.wd;
  if (Math.max(bd.zp.length, bd.scale?.length ?? 1) > 1) bd = { ...bd, axis: 0 };
  const tw = transposeLast2(toI32(bt), bt.shape);
  const weight = st.weight(bt, tw.shape, tw.data, bd);
  const aShape = st.shapeOf(a);
  const outShape = aShape ? partialOutputShapes(proxy('MatMul', {}), [aShape, bt.shape])[0] : undefined;
  const layer: QLinearLayer = {
    kind: 'gemm', name: n.name, inputs: [a], output: out, weight, bias: null,
    kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: { kind: 'none' },
  };
  st.layer({ layer, decls: [[a, ad], [out, yd]], same: [] });
  st.setInfo(out, yd.dtype, outShape);
}

/** QLinearMatMul / MatMulInteger whose B is an activation → a matmul layer (per-tensor B parameters). */
function readActMatMul(st: QImportState, n: RNode, ins: readonly string[], out: string, q: boolean, a: string, b: string, aType: 'int8' | 'uint8'): void {
  const bType = st.dtypeOf(b);
  if (bType !== 'int8' && bType !== 'uint8') {
    st.problem(n, `B must be int8 or uint8, got ${bType}`);
    return;
  }
  let ad: Decl | undefined, bd: Decl | undefined, yd: Decl | undefined;
  if (q) {
    ad = st.readQ(n, ins[1], ins[2], 'a', aType, undefined);
    bd = st.readQ(n, ins[4], ins[5], 'b', bType, undefined);
    yd = st.readQ(n, ins[6], ins[7], 'y', aType, undefined);
  } else {
    const az = ins[2] ? st.constOf(n, ins[2], 'a zero point') : undefined;
    const bz = ins[3] ? st.constOf(n, ins[3], 'b zero point') : undefined;
    if ((ins[2] && !az) || (ins[3] && !bz)) return;
    const azp = az ? toI32(az) : Int32Array.of(0);
    const bzp = bz ? toI32(bz) : Int32Array.of(0);
    if (azp.length !== 1 || bzp.length !== 1) {
      st.problem(n, 'zero points of two activations must be scalars');
      return;
    }
    ad = { zp: azp, axis: -1, dtype: aType, by: n.name };
    bd = { zp: bzp, axis: -1, dtype: bType, by: n.name };
    yd = { scale: Float32Array.of(1), zp: Int32Array.of(0), axis: -1, dtype: 'int32', by: n.name };
  }
  if (!ad || !bd || !yd) return;
  if (ad.dtype !== aType || bd.dtype !== bType) {
    st.problem(n, `zero point types (${ad.dtype}, ${bd.dtype}) differ from the operand types (${aType}, ${bType})`);
    return;
  }
  const aShape = st.shapeOf(a);
  const bShape = st.shapeOf(b);
  const outShape = aShape && bShape ? partialOutputShapes(proxy('MatMul', {}), [aShape, bShape])[0] : undefined;
  st.layer({ layer: { kind: 'matmul', name: n.name, inputs: [a, b], output: out, activation: { kind: 'none' } }, decls: [[a, ad], [b, bd], [out, yd]], same: [] });
  st.setInfo(out, yd.dtype, outShape);
}

/** X and its and Y's parameters of a unary com.microsoft op (X, X scale, X zero point, Y scale, Y zero point), one 8-bit type. */
function unaryOperands(st: QImportState, n: RNode, ins: readonly string[]): { x: string; xType: 'int8' | 'uint8'; xd: Decl; yd: Decl } | undefined {
  const x = ins[0];
  const xType = st.dtypeOf(x);
  if (xType !== 'int8' && xType !== 'uint8') {
    st.problem(n, `input must be int8 or uint8, got ${xType}`);
    return undefined;
  }
  const xd = st.readQ(n, ins[1], ins[2], 'X', xType, undefined);
  const yd = st.readQ(n, ins[3], ins[4], 'Y', xType, undefined);
  if (!xd || !yd) return undefined;
  if (xd.dtype !== xType || yd.dtype !== xType) {
    st.problem(n, `zero point types (${xd.dtype}, ${yd.dtype}) must match the input type ${xType}`);
    return undefined;
  }
  return { x, xType, xd, yd };
}

/**
 * com.microsoft QLinearSoftmax → a softmax layer with ONNX Runtime's arithmetic (`ort`). Its
 * `opset` attribute (required) picks the axis semantics: below 13 the input is coerced to 2-D at
 * `axis`, from 13 one axis. An absent `axis` is −1 whatever the opset: the contrib schema's
 * default reaches the kernel before its own opset-dependent fallback (checked against
 * onnxruntime-node 1.30).
 */
function readSoftmax(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const opset = n.attrs.opset;
  if (typeof opset !== 'number' || !Number.isInteger(opset)) {
    st.problem(n, "attribute 'opset' (int) is required: it decides the axis semantics");
    return;
  }
  const u = unaryOperands(st, n, ins);
  if (!u) return;
  const { x, xType, xd, yd } = u;
  const shape = st.shapeOf(x);
  const coerce2d = opset < 13;
  let axis = st.int(n, 'axis', -1);
  if (!shape) {
    st.problem(n, "the input's rank is unknown: the softmax axis cannot be resolved");
    return;
  }
  if (axis < -shape.length || axis >= shape.length) {
    st.problem(n, `axis ${axis} is out of range for rank ${shape.length}`);
    return;
  }
  if (axis < 0) axis += shape.length;
  st.layer({ layer: { kind: 'softmax', name: n.name, inputs: [x], output: out, axis, coerce2d, variant: 'ort' }, decls: [[x, xd], [out, yd]], same: [] });
  st.setInfo(out, xType, shape);
}

/** com.microsoft QLinearAdd → an add layer. */
function readAdd(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const ad = st.operandDecl(n, ins[0], ins[1], ins[2], 'A');
  const bd = st.operandDecl(n, ins[3], ins[4], ins[5], 'B');
  const yd = st.readQ(n, ins[6], ins[7], 'C', ad?.dtype, undefined);
  if (!ad || !bd || !yd) return;
  if (yd.dtype !== ad.dtype || bd.dtype !== ad.dtype) {
    st.problem(n, `A, B and C must share one integer type, got ${ad.dtype}, ${bd.dtype}, ${yd.dtype}`);
    return;
  }
  const sa = st.shapeOf(ins[0]);
  const sb = st.shapeOf(ins[3]);
  st.layer({ layer: { kind: 'add', name: n.name, inputs: [ins[0], ins[3]], output: out, activation: { kind: 'none' } }, decls: [[ins[0], ad], [ins[3], bd], [out, yd]], same: [] });
  st.setInfo(out, yd.dtype, sa && sb ? partialOutputShapes(proxy('Add', {}), [sa, sb])[0] : undefined);
}

/** com.microsoft QLinearConcat → a concat layer. */
function readConcat(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const yd = st.readQ(n, ins[0], ins[1], 'Y', undefined, undefined);
  if ((ins.length - 2) % 3 !== 0 || ins.length < 5) {
    st.problem(n, `expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples, got ${ins.length} inputs`);
    return;
  }
  const axisAttr = n.attrs.axis;
  if (typeof axisAttr !== 'number') {
    st.problem(n, 'axis is required');
    return;
  }
  const xs: string[] = [];
  const decls: [string, Decl][] = [];
  for (let i = 2; i < ins.length; i += 3) {
    const d = st.operandDecl(n, ins[i], ins[i + 1], ins[i + 2], `input ${(i - 2) / 3}`);
    if (!d) return;
    xs.push(ins[i]);
    decls.push([ins[i], d]);
  }
  if (!yd) return;
  // ORT's QLinearConcat reads Y's type from the output: it must be the inputs' type
  for (const [, d] of decls) {
    if (d.dtype !== yd.dtype && ins[1]) {
      st.problem(n, `inputs and output must share one integer type, got ${d.dtype} and ${yd.dtype}`);
      return;
    }
  }
  const yDecl: Decl = ins[1] ? yd : { ...yd, dtype: decls[0][1].dtype };
  const shapes = xs.map((x) => st.shapeOf(x));
  const rank = shapes.find((s) => s)?.length;
  const axis = axisAttr < 0 && rank !== undefined ? axisAttr + rank : axisAttr;
  if (axis < 0) {
    st.problem(n, `negative axis ${axisAttr} needs the input rank, which is unknown`);
    return;
  }
  const outShape = shapes.every((s) => s) ? partialOutputShapes(proxy('Concat', { axis }), shapes)[0] : undefined;
  st.layer({ layer: { kind: 'concat', name: n.name, inputs: xs, output: out, axis }, decls: [...decls, [out, yDecl]], same: [] });
  st.setInfo(out, yDecl.dtype, outShape);
}

/** com.microsoft QLinearGlobalAveragePool / QLinearAveragePool / QLinearSigmoid → a pool or a LUT activation layer. */
function readPoolOrSigmoid(st: QImportState, n: RNode, ins: readonly string[], out: string): void {
  const u = unaryOperands(st, n, ins);
  if (!u) return;
  const { x, xType, xd, yd } = u;
  if (n.op !== 'QLinearSigmoid' && st.int(n, 'channels_last', 0) !== 0) {
    st.problem(n, 'channels_last=1 is not supported');
    return;
  }
  const xShape = st.shapeOf(x);
  if (n.op === 'QLinearSigmoid') {
    const inQ = qparamsOf(xd);
    const table = buildLut('sigmoid', inQ, qparamsOf(yd), 2 ** inQ.bits);
    st.layer({
      layer: { kind: 'activation', name: n.name, inputs: [x], output: out, activation: { kind: 'lut', fn: 'sigmoid', inQ, entries: 2 ** inQ.bits, table } },
      decls: [[x, xd], [out, yd]],
      same: [],
    });
    st.setInfo(out, xType, xShape);
    return;
  }
  if (n.op === 'QLinearGlobalAveragePool') {
    if (xShape && xShape.length !== 4) {
      st.problem(n, `only 2-D pooling (rank-4 input) is supported, got rank ${xShape.length}`);
      return;
    }
    const layer: QPoolLayer = {
      kind: 'globalavgpool', name: n.name, inputs: [x], output: out, kernel: [0, 0], strides: [1, 1], pads: [0, 0, 0, 0],
      dilations: [1, 1], ceilMode: false, countIncludePad: false,
    };
    st.layer({ layer, decls: [[x, xd], [out, yd]], same: [] });
    st.setInfo(out, xType, xShape ? [xShape[0], xShape[1], 1, 1] : undefined);
    return;
  }
  const norm = normalizeProxy(st, n, 'AveragePool', [x], xShape ?? [-1, -1, -1, -1], xType);
  if (!norm) return;
  const pool = poolLayer(st, n, norm.node, 'avgpool', x, out);
  if (!pool) return;
  st.layer({ layer: pool, decls: [[x, xd], [out, yd]], same: [] });
  st.setInfo(out, xType, norm.outShape);
}

const QUANTIZE: QOpReader = { consts: at([[1, 'y scale'], [2, 'y zero point']]), read: readQuantizeLinear };
const DEQUANTIZE: QOpReader = { consts: at([[1, 'x scale'], [2, 'x zero point']]), read: readQuantizeLinear };

/** Default-domain quantization ops. */
const DEFAULT_READERS: Readonly<Record<string, QOpReader>> = {
  QuantizeLinear: QUANTIZE,
  DequantizeLinear: DEQUANTIZE,
  QLinearConv: {
    consts: at([[1, 'x scale'], [2, 'x zero point'], [3, 'weight'], [4, 'w scale'], [5, 'w zero point'], [6, 'y scale'], [7, 'y zero point'], [8, 'bias']]),
    read: readConv,
  },
  ConvInteger: { consts: at([[1, 'weight'], [2, 'x zero point'], [3, 'w zero point']]), read: readConv },
  QLinearMatMul: { consts: at([[1, 'a scale'], [2, 'a zero point'], [4, 'b scale'], [5, 'b zero point'], [6, 'y scale'], [7, 'y zero point']]), read: readMatMul },
  MatMulInteger: { consts: at([[2, 'a zero point'], [3, 'b zero point']]), read: readMatMul },
};

/** com.microsoft quantization ops (ONNX Runtime's contrib ops). */
const MS_READERS: Readonly<Record<string, QOpReader>> = {
  QuantizeLinear: QUANTIZE,
  DequantizeLinear: DEQUANTIZE,
  QLinearAdd: { consts: at([[1, 'A scale'], [2, 'A zero point'], [4, 'B scale'], [5, 'B zero point'], [6, 'C scale'], [7, 'C zero point']]), read: readAdd },
  QLinearConcat: { consts: concatParams, read: readConcat },
  QLinearGlobalAveragePool: { consts: unaryParams, read: readPoolOrSigmoid },
  QLinearAveragePool: { consts: unaryParams, read: readPoolOrSigmoid },
  QLinearSigmoid: { consts: unaryParams, read: readPoolOrSigmoid },
  QLinearSoftmax: { consts: unaryParams, read: readSoftmax },
};

/** The reader of a quantization op in `domain` ('' or com.microsoft), or undefined for any other node. */
export function quantOpReader(domain: string, op: string): QOpReader | undefined {
  const table = domain === '' ? DEFAULT_READERS : domain === MS ? MS_READERS : undefined;
  return table && Object.hasOwn(table, op) ? table[op] : undefined;
}

/** Reads quantization op `n` with its reader: its constant operands first, every one that is not reported. */
export function readQuantOp(st: QImportState, n: RNode, reader: QOpReader): void {
  const out = n.outputs[0];
  if (!out) return;
  if (!st.requireConsts(n, reader.consts(n.inputs))) return;
  reader.read(st, n, n.inputs, out);
}
