/**
 * Conv and gemm layers of a quantized ONNX export (see qexport.ts's file comment): QLinearConv,
 * QLinearMatMul, a 1×1 QLinearConv for a gemm with a bias, ConvInteger / MatMulInteger for
 * int32 outputs; in QDQ form the float Conv / Gemm / MatMul between DequantizeLinear and
 * QuantizeLinear that ORT fuses into the same kernels.
 */
import type { QLinearLayer, QParams } from '../../qnet/network.js';
import { transposeLast2, type IntDType } from './common.js';
import { aInt, aInts, intTensor, typeRange, type QWriter } from './qwriter.js';

/** Weight codes as stored: int8/uint8 (uint8 re-encoded as int8 against int8 activations). */
function weightStore(qw: QWriter, l: QLinearLayer, xDtype: 'int8' | 'uint8'): { dtype: 'int8' | 'uint8'; data: Int32Array; zp: Int32Array } {
  const w = l.weight;
  let dtype = qw.dtypeOfQ(w.q, 'the weight');
  if (dtype === 'int32') qw.fail('32-bit weights cannot be written');
  const t = typeRange(dtype);
  for (let i = 0; i < w.data.length; i++) {
    if (w.data[i] < t.qmin || w.data[i] > t.qmax) qw.fail(`weight code ${w.data[i]} does not fit ${dtype}`);
  }
  let data = w.data;
  let zp = w.q.zeroPoint;
  if (dtype === 'uint8' && xDtype === 'int8') {
    // ORT has no s8×u8 kernels; q − z is unchanged by moving both by 128
    data = data.map((v) => v - 128);
    zp = zp.map((v) => v - 128);
    dtype = 'int8';
  }
  for (const z of zp) if (z < typeRange(dtype).qmin || z > typeRange(dtype).qmax) qw.fail(`weight zero point ${z} does not fit ${dtype}`);
  return { dtype, data, zp };
}

export function linear(qw: QWriter, l: QLinearLayer): void {
  const x = qw.act8(l.inputs[0]);
  const yq = qw.tq(l.output);
  const w = l.weight;
  const perCh = w.q.scale.length > 1;
  const ws = weightStore(qw, l, x.dtype);
  const uniformZp = ws.zp.every((z) => z === ws.zp[0]);
  const rank = w.shape.length;
  const N = w.shape[rank - (l.kind === 'conv' ? 4 : 2)];
  if (l.bias && l.bias.length !== N) qw.fail(`bias has ${l.bias.length} values for ${N} output channels`);
  if (perCh && w.q.scale.length !== N) qw.fail(`${w.q.scale.length} weight scales for ${N} output channels`);

  if (yq.bits === 32) {
    integerLinear(qw, l, x, ws);
    return;
  }
  const post = qw.after(l.output, yq, l.activation);
  const td = qw.dtypeOfQ(post.tq, `tensor '${l.output}'`);
  if (td !== x.dtype) qw.fail(`the output type ${td} differs from the input type ${x.dtype} (ORT's QLinear ops keep it)`);
  const key = post.opOut === l.output ? l.output : post.opOut;

  // weight parameters: one zero point when uniform (QLinearConv requires it)
  const wq: QParams = { ...w.q, zeroPoint: uniformZp ? Int32Array.of(ws.zp[0]) : ws.zp };
  const wKey = `${l.name}/w`;

  if (l.kind === 'conv') {
    if (!uniformZp) qw.fail('per-channel weight zero points differ: QLinearConv needs one zero point for all channels');
    const attrs = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInts('dilations', l.dilations), aInt('group', l.group)];
    convCore(qw, l, l.inputs[0], post.opOut, post.tq, td, key, ws, wq, w.shape, attrs, N);
    post.finish();
    return;
  }

  // gemm: [..., K] → [..., N]
  const K = w.shape[rank - 1];
  if (rank > 2) {
    // batched weight [...batch, N, K]: MatMul semantics, no per-channel, no bias
    if (l.bias) qw.fail('a batched gemm weight with a bias cannot be written');
    if (perCh) qw.fail('a batched gemm weight must be quantized per tensor');
  }
  const xShape = qw.net.tensors.get(l.inputs[0])?.shape ?? [];
  const outShape = qw.net.tensors.get(l.output)?.shape ?? [];
  const lead = xShape.length >= 1 ? xShape.slice(0, -1) : outShape.length >= 1 ? outShape.slice(0, -1) : undefined;
  const useMatMul = !l.bias && !qw.qdq;
  if (useMatMul || rank > 2) {
    const wt = transposeLast2(ws.data, w.shape);
    const bName = qw.init(`${l.name}/B`, intTensor(ws.dtype, wt.shape, wt.data));
    if (qw.qdq) {
      const bq: QParams = { ...wq, zeroPoint: perCh ? ws.zp : wq.zeroPoint, axis: perCh ? wt.shape.length - 1 : -1 };
      const bf = qw.fresh(`${bName}/dq`);
      qw.dequantizeNode(bName, bf, bq, ws.dtype, `${wKey}/dq`);
      const f = qw.fresh(`${l.output}/matmul`);
      qw.emit('MatMul', [qw.dq(l.inputs[0]), bf], [f], [], l.name);
      qw.quantizeNode(f, post.opOut, post.tq, td, key);
    } else {
      const [as, az] = qw.tparams(l.inputs[0]);
      const [bs, bz] = qw.params(wKey, wq, ws.dtype);
      const [ys, yz] = qw.params(key, post.tq, td);
      qw.emit('QLinearMatMul', [l.inputs[0], as, az, bName, bs, bz, ys, yz], [post.opOut], [], l.name);
    }
    post.finish();
    return;
  }
  if (!lead) qw.fail(`the input shape of '${l.inputs[0]}' is unknown: the gemm cannot be reshaped to 2-D`);
  if (lead.filter((d) => d < 0).length > 1) qw.fail(`input shape [${xShape.join(',')}] has more than one unknown dimension`);
  const outTarget = [...lead.map((d) => (d < 0 ? -1 : d)), N];
  if (qw.qdq) {
    // 2-D view → Gemm(transB) → Q → back
    const x2 = lead.length === 1 ? l.inputs[0] : qw.fresh(`${l.inputs[0]}/2d`);
    if (x2 !== l.inputs[0]) qw.emit('Reshape', [l.inputs[0], qw.i64(`${l.name}/in_shape`, [-1, K])], [x2]);
    const wName = qw.init(`${l.name}/W`, intTensor(ws.dtype, w.shape, ws.data));
    const wf = qw.fresh(`${wName}/dq`);
    qw.dequantizeNode(wName, wf, { ...wq, zeroPoint: perCh ? ws.zp : wq.zeroPoint, axis: perCh ? 0 : -1 }, ws.dtype, `${wKey}/dq`);
    const ins = [qw.dqNamed(x2, l.inputs[0]), wf];
    if (l.bias) ins.push(biasDq(qw, l, x.q, N));
    const f = qw.fresh(`${l.output}/gemm`);
    qw.emit('Gemm', ins, [f], [aInt('transB', 1)], l.name);
    const y2 = lead.length === 1 ? post.opOut : qw.fresh(`${post.opOut}/2d`);
    qw.quantizeNode(f, y2, post.tq, td, key);
    if (y2 !== post.opOut) qw.emit('Reshape', [y2, qw.i64(`${l.name}/out_shape`, outTarget)], [post.opOut]);
    post.finish();
    return;
  }
  if (!uniformZp) qw.fail('per-channel weight zero points differ and the gemm has a bias: neither QLinearMatMul (no bias) nor QLinearConv (one zero point) expresses it');
  // 1×1 QLinearConv on [M, K, 1, 1]
  const x4 = qw.fresh(`${l.inputs[0]}/as_nchw`);
  qw.emit('Reshape', [l.inputs[0], qw.i64(`${l.name}/in_shape`, [-1, K, 1, 1])], [x4]);
  const y4 = qw.fresh(`${post.opOut}/nchw`);
  const attrs = [aInts('kernel_shape', [1, 1]), aInts('strides', [1, 1]), aInts('pads', [0, 0, 0, 0]), aInts('dilations', [1, 1]), aInt('group', 1)];
  convCore(qw, l, x4, y4, post.tq, td, key, ws, wq, [N, K, 1, 1], attrs, N, l.inputs[0]);
  qw.emit('Reshape', [y4, qw.i64(`${l.name}/out_shape`, outTarget)], [post.opOut]);
  post.finish();
}

/** int32 bias behind a DequantizeLinear with scale f32(s_x·s_w[c]), zero point 0. */
function biasDq(qw: QWriter, l: QLinearLayer, xq: QParams, N: number): string {
  const sw = l.weight.q.scale;
  const per = sw.length > 1;
  const scale = new Float32Array(per ? N : 1);
  for (let c = 0; c < scale.length; c++) scale[c] = Math.fround(xq.scale[0] * sw[c]);
  const bName = qw.init(`${l.name}/bias`, intTensor('int32', [N], l.bias!));
  const bq: QParams = { scale, zeroPoint: new Int32Array(scale.length), axis: per ? 0 : -1, bits: 32, signed: true, narrow: false };
  const f = qw.fresh(`${bName}/dq`);
  qw.dequantizeNode(bName, f, bq, 'int32', `${l.name}/bias`);
  return f;
}

function convCore(
  qw: QWriter,
  l: QLinearLayer,
  xIn: string,
  yOut: string,
  tq: QParams,
  td: IntDType,
  key: string,
  ws: { dtype: 'int8' | 'uint8'; data: Int32Array },
  wq: QParams,
  wShape: readonly number[],
  attrs: Record<string, unknown>[],
  N: number,
  paramsOf = xIn,
): void {
  const wName = qw.init(`${l.name}/W`, intTensor(ws.dtype, wShape, ws.data));
  if (qw.qdq) {
    const wf = qw.fresh(`${wName}/dq`);
    const per = wq.scale.length > 1;
    qw.dequantizeNode(wName, wf, { ...wq, zeroPoint: per ? new Int32Array(wq.scale.length).fill(wq.zeroPoint[0]) : wq.zeroPoint, axis: per ? 0 : -1 }, ws.dtype, `${l.name}/w/dq`);
    const ins = [qw.dqNamed(xIn, paramsOf), wf];
    if (l.bias) ins.push(biasDq(qw, l, qw.tq(paramsOf), N));
    const f = qw.fresh(`${yOut}/conv`);
    qw.emit('Conv', ins, [f], attrs, l.name);
    qw.quantizeNode(f, yOut, tq, td, key);
    return;
  }
  const [xs, xz] = qw.tparams(paramsOf);
  const [wsn, wzn] = qw.params(`${l.name}/w`, wq, ws.dtype);
  const [ys, yz] = qw.params(key, tq, td);
  const ins = [xIn, xs, xz, wName, wsn, wzn, ys, yz];
  if (l.bias) ins.push(qw.init(`${l.name}/bias`, intTensor('int32', [N], l.bias)));
  qw.emit('QLinearConv', ins, [yOut], attrs, l.name);
}

/** int32-output conv / gemm (the raw accumulators): ConvInteger / MatMulInteger. */
function integerLinear(qw: QWriter, l: QLinearLayer, x: { q: QParams; dtype: 'int8' | 'uint8' }, ws: { dtype: 'int8' | 'uint8'; data: Int32Array; zp: Int32Array }): void {
  if (l.bias) qw.fail('a bias on a layer with int32 output (ConvInteger / MatMulInteger) cannot be written');
  if (l.activation.kind !== 'none') qw.fail('an activation on a layer with int32 output cannot be written');
  const yq = qw.tq(l.output);
  if (yq.zeroPoint.some((z) => z !== 0)) qw.fail('an int32 accumulator output has zero point 0');
  const xz = qw.init(`${l.inputs[0]}_zero_point`, intTensor(x.dtype, [], [x.q.zeroPoint[0]]));
  const uniform = ws.zp.every((z) => z === ws.zp[0]);
  const wz = qw.init(`${l.name}/w_zero_point`, intTensor(ws.dtype, uniform ? [] : [ws.zp.length], uniform ? [ws.zp[0]] : ws.zp));
  if (l.kind === 'conv') {
    const wName = qw.init(`${l.name}/W`, intTensor(ws.dtype, l.weight.shape, ws.data));
    const attrs = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInts('dilations', l.dilations), aInt('group', l.group)];
    qw.emit('ConvInteger', [l.inputs[0], wName, xz, wz], [l.output], attrs, l.name);
    return;
  }
  const wt = transposeLast2(ws.data, l.weight.shape);
  const bName = qw.init(`${l.name}/B`, intTensor(ws.dtype, wt.shape, wt.data));
  qw.emit('MatMulInteger', [l.inputs[0], bName, xz, wz], [l.output], [], l.name);
}
