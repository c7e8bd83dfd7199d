/**
 * QuantizedNetwork → quantized ONNX, in QOperator or QDQ form, such that onnxruntime (CPU, x86-64
 * with AVX2/FMA — the machine class sim/qops.ts reproduces) computes what sim/qexec.ts's
 * runQuantized computes with `requant: { mode: 'float' }` and a 32-bit wrapping accumulator.
 *
 * QOperator form ('qop'):
 *   - quantize / dequantize → QuantizeLinear / DequantizeLinear (per-axis too).
 *   - conv → QLinearConv (int32 bias, per-channel scales). ORT requires one weight zero point for
 *     all channels, so per-channel weight zero points that differ are refused.
 *   - gemm → QLinearMatMul with the weight transposed to [K, N] when there is no bias (any input
 *     rank, per-column scales and zero points); with a bias, a 1×1 QLinearConv on the input
 *     reshaped to [M, K, 1, 1] and reshaped back — QLinearMatMul has no bias input, and adding
 *     it afterwards (QLinearAdd, or MatMulInteger + Add + float requant) rounds twice, whereas
 *     QLinearConv does acc = bias + Σ… and one requantization exactly like qloom's gemm.
 *   - a conv/gemm whose output is int32 with bits 32 (qimport's ConvInteger / MatMulInteger
 *     convention) → ConvInteger / MatMulInteger.
 *   - add / concat / avgpool / globalavgpool / standalone sigmoid (entries = 2^bits) →
 *     com.microsoft QLinearAdd / QLinearConcat / QLinearAveragePool / QLinearGlobalAveragePool /
 *     QLinearSigmoid (v1), whose float arithmetic sim/qops.ts reproduces.
 *   - matmul (activation × activation) → QLinearMatMul with both operands graph tensors
 *     (MatMulInteger for an int32 output); softmax of the `ort` variant → com.microsoft
 *     QLinearSoftmax (attribute `opset` 12 for the 2-D coercion, else 13); layernorm of the
 *     `float` variant → DequantizeLinear → LayerNormalization (opset ≥ 17) → QuantizeLinear, which
 *     ORT runs in float32 (within one code of qloom's, test/golden/attention-vs-ort.test.ts).
 *   - maxpool, reshape, flatten, transpose, identity → the plain op on the int8/uint8 tensor.
 *   - float layers → their float node (nets/onnx/export's normalization, via a one-node export).
 * QDQ form ('qdq'): weights are int8/uint8 initializers behind DequantizeLinear (axis 0 when
 *   per-channel), biases int32 initializers behind DequantizeLinear with scale f32(s_x·s_w[c]);
 *   activations are Q → DQ pairs around float Conv / Gemm / MatMul (also of two activations) /
 *   Softmax / Add / Concat / AveragePool / GlobalAveragePool / Sigmoid, which ORT's QDQ transformer
 *   (graph optimization level 'extended'
 *   or 'all') fuses into the same QLinear kernels as above — then the outputs are bit-exact. Run
 *   un-fused (optimizations off) the float op + QuantizeLinear can differ from the integer path
 *   by one code on values that round near .5 (test/golden/qexport-vs-ort.test.ts measures it).
 *   ORT 1.30 on x86 fuses int8 QDQ MatMul of two activations only where int8 kernels are allowed
 *   (not on this machine class): an int8 attention exported as QDQ runs its matmuls in float there
 *   (test/golden/attention-vs-ort.test.ts measures it); uint8 is fused and bit-exact.
 *   A gemm is written as Gemm(transB=1) on a 2-D view (Reshape of the integer tensor around it),
 *   which ORT fuses into com.microsoft QGemm. Data movement and MaxPool stay integer ops
 *   (what ORT's QDQ transformer turns DQ → op → Q into anyway).
 *
 * Both forms, what has no QLinear op:
 *   - requant-unit clamps (ReLU / ReLU6 / clip) and activation ranges narrower than the storage
 *     type (bits < 8, narrow range): ORT's QLinear ops saturate to the type only, so a clamp that
 *     is not implied by it becomes DequantizeLinear → Clip → QuantizeLinear with the tensor's own
 *     parameters and the bounds' exact dequantized values. That is exact: DQ is monotone, so
 *     Clip(DQ(q), DQ(lo), DQ(hi)) = DQ(clamp(q, lo, hi)), and Q(DQ(c)) = c for 8-bit codes
 *     (|c − z| ≤ 510 keeps both float32 roundings far below half a code).
 *   - LUT activations other than ORT's own sigmoid table: a Gather over a constant table with
 *     one entry per storage code (the qnet table expanded through lut.ts applyLutValue, so coarse
 *     tables and codes outside the table's input range are covered), indexed by Cast(int32) of the
 *     code — for int8 in byte order, negative indices counting from the end. Exact; read back by
 *     quant/onnx/gather-lut.ts where the layers around the Gather declare its scales.
 *
 * What cannot be expressed (a ModelError naming every offending layer at once):
 *   - 9–16-bit tensors or weights: ORT's QLinear / QDQ-fused kernels are 8-bit only; int16
 *     QuantizeLinear / DequantizeLinear exist only from opset 21 (or as com.microsoft contrib ops)
 *     and a 16-bit conv would run un-fused in float, so it could not be bit-exact.
 *   - split concats (qnet/split.ts: one scale per concatenated input) and the convs reading them,
 *   - per-channel activations feeding integer layers, per-channel weight zero points that differ
 *     on a conv (or on a gemm with a bias), a bias on a 32-bit-output layer, avgpool dilations.
 *   - the integer-only transformer arithmetic — the `ibert` and `lut` softmax, the `integer`
 *     layernorm, the `igelu` activation (ORT has no op computing it) —, an int8 A with a uint8 B.
 * Weight codes of fewer than 8 bits are stored in int8 / uint8. A uint8 weight read by int8
 * activations is re-encoded as int8 (codes and zero point − 128: the differences q − z, hence
 * every accumulator, are unchanged), since ORT has no s8×u8 kernels.
 *
 * Round trip: quant/onnx/qimport.ts reads every export back (a Gather LUT only where the layers
 * around it give its input and output scales: not between two Gathers, not at an integer graph
 * output) into a
 * network whose runQuantized outputs equal the original's (the bit widths of the re-imported
 * tensors are 8 and the clamps become dequantize / float Clip / quantize layers).
 *
 * Files: this one writes every layer but conv / gemm (qexport-linear.ts) and assembles the model;
 * qwriter.ts holds the names, nodes, initializers and the Q / DQ / clamp / LUT stages they share.
 */
import { ModelError, type ModelProblem } from '../../nets/errors.js';
import type { DType, Graph, Node, Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { AttrType, ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { dtypeToOnnx } from '../../nets/onnx/tensor.js';
import { qRange } from '../../qnet/qmath.js';
import { isSplit } from '../../qnet/split.js';
import type { QActivation, QLayer, QLayerNormLayer, QMatMulLayer, QPoolLayer, QSoftmaxLayer, QuantizedNetwork } from '../../qnet/network.js';
import { MS } from './common.js';
import { linear } from './qexport-linear.js';
import { aInt, aInts, intTensor, LayerProblem, QWriter, typeRange, type QExportOptions } from './qwriter.js';

export type { QExportOptions } from './qwriter.js';

const MIN_EXPORT_OPSET = 13;
const MAX_EXPORT_OPSET = 21;
/** nets/onnx/export writes float nodes up to this opset */
const FLOAT_EXPORT_MAX_OPSET = 17;
const IR_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

/**
 * Serializes a QuantizedNetwork as ONNX in QOperator ('qop') or QDQ ('qdq') form (see the file
 * comment for what each layer becomes and what is refused). Every problem is reported at once in
 * one ModelError naming the layers.
 */
export function exportQuantizedOnnx(net: QuantizedNetwork, opts: QExportOptions): Uint8Array {
  const qw = new QWriter(net, opts);
  const problems: ModelProblem[] = [];
  if (!(Number.isInteger(qw.opset) && qw.opset >= MIN_EXPORT_OPSET && qw.opset <= MAX_EXPORT_OPSET)) {
    throw new ModelError([{ node: '', opset: qw.opset, message: `cannot export a quantized network to opset ${qw.opset} (supported: ${MIN_EXPORT_OPSET}–${MAX_EXPORT_OPSET}; per-axis QuantizeLinear needs 13)` }]);
  }
  for (const l of net.layers) {
    // number formats (quant/formats.ts) have no QOperator / QDQ form here: named, not written wrong
    if ((l.kind === 'conv' || l.kind === 'gemm') && l.weight.format) {
      problems.push({ node: l.name, op: l.kind, opset: qw.opset, message: `its weights are ${l.weight.format.kind === 'mx' ? l.weight.format.mx : l.weight.format.kind === 'group' ? `per-group INT${l.weight.format.bits}` : l.weight.format.element}: number-format layers have no ONNX export yet` });
      continue;
    }
    const reads = l.kind === 'conv' || l.kind === 'gemm';
    const xq = reads || l.kind === 'concat' || l.kind === 'layernorm' ? net.tensors.get(reads ? l.inputs[0] : l.output)?.q : undefined;
    if (xq && isSplit(xq)) {
      // QLinearConv / QLinearMatMul (and what ORT fuses from QDQ) take one input scale; ORT would run it in float
      problems.push({ node: l.name, op: l.kind, opset: qw.opset, message: `${reads ? 'its input is' : 'its output is'} quantized per channel group (--split-concat / --post-ln-per-channel): no ONNX operator takes per-channel activation scales` });
      continue;
    }
    try {
      for (const i of l.inputs) qw.useConst(i);
      writeLayer(qw, l);
    } catch (e) {
      if (e instanceof LayerProblem) problems.push({ node: l.name, op: l.kind, opset: qw.opset, message: e.message });
      else if (e instanceof ModelError) problems.push(...e.problems.map((p) => ({ ...p, node: p.node ? `${l.name}: ${p.node}` : l.name })));
      else throw e;
    }
  }
  const produced = new Set([...net.layers.map((l) => l.output), ...net.inputs.map((i) => i.name)]);
  for (const o of net.outputs) if (!produced.has(o.name)) problems.push({ node: o.name, message: `graph output '${o.name}' is not produced by any layer` });
  if (problems.length) throw new ModelError(problems);
  return modelBytes(qw);
}

/** The ModelProto around the written nodes and initializers. */
function modelBytes(qw: QWriter): Uint8Array {
  const net = qw.net;
  const vi = (name: string, dtype: DType, shape: readonly number[] | undefined) => {
    const tt: Record<string, unknown> = { elem_type: dtypeToOnnx(dtype) };
    if (shape) tt.shape = { dim: shape.map((d) => (d >= 0 ? { dim_value: d } : {})) };
    return { name, type: { tensor_type: tt } };
  };
  const opsets = [{ domain: '', version: qw.opset }];
  if (qw.usesMs) opsets.push({ domain: MS, version: 1 });
  const meta = Object.entries(net.meta ?? {}).map(([key, value]) => ({ key, value }));
  meta.push({ key: 'qloom.format', value: qw.qdq ? 'qdq' : 'qop' });
  const model = {
    ir_version: IR_FOR_OPSET[qw.opset],
    opset_import: opsets,
    producer_name: 'qloom',
    producer_version: '0.1.0',
    graph: {
      name: net.name,
      node: qw.nodes,
      initializer: qw.inits,
      input: net.inputs.map((i) => vi(i.name, i.dtype, i.shape)),
      // an empty shape may mean "unknown" in a QuantizedNetwork: the rank is then left open
      output: net.outputs.map((o) => vi(o.name, o.dtype, o.shape.length ? o.shape : undefined)),
    },
    metadata_props: meta,
  };
  return ModelProto.encode(model).finish();
}

/** Writes one layer (conv / gemm: qexport-linear.ts). */
function writeLayer(qw: QWriter, l: QLayer): void {
  switch (l.kind) {
    case 'quantize': {
      const q = qw.tq(l.output);
      const d = qw.dtypeOfQ(q, `tensor '${l.output}'`);
      if (q.scale.length > 1) {
        const t = typeRange(d);
        const r = qRange(q);
        if (r.qmin > t.qmin || r.qmax < t.qmax) qw.fail(`per-axis ${q.bits}-bit${q.narrow ? ' narrow' : ''} quantization narrower than ${d} cannot be written`);
        qw.quantizeNode(l.inputs[0], l.output, q, d, l.output);
        return;
      }
      const a = qw.after(l.output, q, { kind: 'none' });
      qw.quantizeNode(l.inputs[0], a.opOut, q, d, l.output);
      a.finish();
      return;
    }
    case 'dequantize': {
      const q = qw.tq(l.inputs[0]);
      qw.dequantizeNode(l.inputs[0], l.output, q, qw.dtypeOfQ(q, `tensor '${l.inputs[0]}'`), l.inputs[0]);
      return;
    }
    case 'conv':
    case 'gemm':
      linear(qw, l);
      return;
    case 'add': {
      const yq = qw.tq(l.output);
      const a = qw.act8(l.inputs[0]);
      const b = qw.act8(l.inputs[1]);
      const post = qw.after(l.output, yq, l.activation);
      const td = qw.dtypeOfQ(post.tq, `tensor '${l.output}'`);
      if (a.dtype !== td || b.dtype !== td) qw.fail(`QLinearAdd needs one integer type, got ${a.dtype}, ${b.dtype} → ${td}`);
      const key = post.opOut === l.output ? l.output : post.opOut;
      if (qw.qdq) {
        const f = qw.fresh(`${l.output}/sum`);
        qw.emit('Add', [qw.dq(l.inputs[0]), qw.dq(l.inputs[1])], [f], [], l.name);
        qw.quantizeNode(f, post.opOut, post.tq, td, key);
      } else {
        const [cs, cz] = qw.params(key, post.tq, td);
        qw.emit('QLinearAdd', [l.inputs[0], ...qw.tparams(l.inputs[0]), l.inputs[1], ...qw.tparams(l.inputs[1]), cs, cz], [post.opOut], [], l.name, MS);
      }
      post.finish();
      return;
    }
    case 'concat': {
      const yq = qw.tq(l.output);
      const post = qw.after(l.output, yq, { kind: 'none' });
      const yd = qw.dtypeOfQ(yq, `tensor '${l.output}'`);
      for (const i of l.inputs) if (qw.act8(i).dtype !== yd) qw.fail(`QLinearConcat needs one integer type: '${i}' is not ${yd}`);
      if (qw.qdq) {
        const f = qw.fresh(`${l.output}/concat`);
        qw.emit('Concat', l.inputs.map((i) => qw.dq(i)), [f], [aInt('axis', l.axis)], l.name);
        qw.quantizeNode(f, post.opOut, yq, yd, l.output);
      } else {
        const [ys, yz] = qw.params(l.output, yq, yd);
        const ins = [ys, yz];
        for (const i of l.inputs) ins.push(i, ...qw.tparams(i));
        qw.emit('QLinearConcat', ins, [post.opOut], [aInt('axis', l.axis)], l.name, MS);
      }
      post.finish();
      return;
    }
    case 'maxpool': {
      qw.act8(l.inputs[0]); // 8-bit, per-tensor: MaxPool's int8/uint8 kernels
      qw.emit('MaxPool', [l.inputs[0]], [l.output], poolAttrs(l, true), l.name);
      return;
    }
    case 'avgpool':
    case 'globalavgpool': {
      const yq = qw.tq(l.output);
      const x = qw.act8(l.inputs[0]);
      const post = qw.after(l.output, yq, { kind: 'none' });
      const yd = qw.dtypeOfQ(yq, `tensor '${l.output}'`);
      if (yd !== x.dtype) qw.fail(`input and output must share one integer type, got ${x.dtype} and ${yd}`);
      const global = l.kind === 'globalavgpool';
      if (!global && (l.dilations[0] !== 1 || l.dilations[1] !== 1)) qw.fail('QLinearAveragePool has no dilations');
      const attrs = global ? [] : poolAttrs(l, false);
      if (qw.qdq) {
        const f = qw.fresh(`${l.output}/pool`);
        qw.emit(global ? 'GlobalAveragePool' : 'AveragePool', [qw.dq(l.inputs[0])], [f], attrs, l.name);
        qw.quantizeNode(f, post.opOut, yq, yd, l.output);
      } else {
        const [ys, yz] = qw.params(l.output, yq, yd);
        qw.emit(global ? 'QLinearGlobalAveragePool' : 'QLinearAveragePool', [l.inputs[0], ...qw.tparams(l.inputs[0]), ys, yz], [post.opOut], [...attrs, aInt('channels_last', 0)], l.name, MS);
      }
      post.finish();
      return;
    }
    case 'activation':
      activation(qw, l.inputs[0], l.output, l.activation, l.name);
      return;
    case 'reshape': {
      qw.emit('Reshape', [l.inputs[0], qw.i64(`${l.name}/shape`, l.param)], [l.output], [], l.name);
      return;
    }
    case 'flatten':
      qw.emit('Flatten', [l.inputs[0]], [l.output], [aInt('axis', l.param[0] ?? 1)], l.name);
      return;
    case 'transpose':
      qw.emit('Transpose', [l.inputs[0]], [l.output], [aInts('perm', l.param)], l.name);
      return;
    case 'identity':
      qw.emit('Identity', [l.inputs[0]], [l.output], [], l.name);
      return;
    case 'resize': {
      // the codes replicated: ORT's Resize runs nearest on (u)int8 as it does on float
      const scales = qw.init(`${l.name}/scales`, { dtype: 'float32', shape: [l.param.length], data: Float32Array.from(l.param) });
      const s = (name: string, v: string) => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(v) });
      qw.emit('Resize', [l.inputs[0], '', scales], [l.output], [s('mode', 'nearest'), s('coordinate_transformation_mode', 'asymmetric'), s('nearest_mode', 'floor')], l.name);
      return;
    }
    case 'float':
      floatNode(qw, l.node);
      return;
    case 'matmul':
      matmul(qw, l);
      return;
    case 'softmax':
      softmax(qw, l);
      return;
    case 'layernorm':
      layerNorm(qw, l);
      return;
  }
}

/** Activation × activation MatMul → QLinearMatMul with a non-constant B (QDQ: MatMul of two DQs), MatMulInteger for int32 output. */
function matmul(qw: QWriter, l: QMatMulLayer): void {
  const a = qw.act8(l.inputs[0]);
  const b = qw.act8(l.inputs[1]);
  if (a.dtype === 'int8' && b.dtype === 'uint8') qw.fail('an int8 A with a uint8 B has no ORT MatMul kernel (s8×u8)');
  const yq = qw.tq(l.output);
  if (yq.bits === 32) {
    if (l.activation.kind !== 'none') qw.fail('an activation on a layer with int32 output cannot be written');
    if (yq.zeroPoint.some((z) => z !== 0)) qw.fail('an int32 accumulator output has zero point 0');
    const az = qw.init(`${l.inputs[0]}_zero_point`, intTensor(a.dtype, [], [a.q.zeroPoint[0]]));
    const bz = qw.init(`${l.inputs[1]}_zero_point`, intTensor(b.dtype, [], [b.q.zeroPoint[0]]));
    qw.emit('MatMulInteger', [l.inputs[0], l.inputs[1], az, bz], [l.output], [], l.name);
    return;
  }
  const post = qw.after(l.output, yq, l.activation);
  const td = qw.dtypeOfQ(post.tq, `tensor '${l.output}'`);
  if (td !== a.dtype) qw.fail(`the output type ${td} differs from A's type ${a.dtype} (QLinearMatMul keeps it)`);
  const key = post.opOut === l.output ? l.output : post.opOut;
  if (qw.qdq) {
    const f = qw.fresh(`${l.output}/matmul`);
    qw.emit('MatMul', [qw.dq(l.inputs[0]), qw.dq(l.inputs[1])], [f], [], l.name);
    qw.quantizeNode(f, post.opOut, post.tq, td, key);
  } else {
    const [ys, yz] = qw.params(key, post.tq, td);
    qw.emit('QLinearMatMul', [l.inputs[0], ...qw.tparams(l.inputs[0]), l.inputs[1], ...qw.tparams(l.inputs[1]), ys, yz], [post.opOut], [], l.name);
  }
  post.finish();
}

/**
 * Softmax: the `ort` variant → com.microsoft QLinearSoftmax (attribute `opset` 12 for the 2-D
 * coercion, else 13); QDQ: DQ → Softmax → Q, which ORT runs in float unless it fuses it. The
 * integer-only variants have no ONNX Runtime op.
 */
function softmax(qw: QWriter, l: QSoftmaxLayer): void {
  if (l.variant !== 'ort') qw.fail(`the ${l.variant} softmax has no ONNX Runtime op (only the 'ort' variant is QLinearSoftmax)`);
  const x = qw.act8(l.inputs[0]);
  const yq = qw.tq(l.output);
  const yd = qw.dtypeOfQ(yq, `tensor '${l.output}'`);
  if (yd !== x.dtype) qw.fail(`QLinearSoftmax keeps the type (${x.dtype} → ${yd})`);
  if (qw.qdq) {
    const rank = qw.net.tensors.get(l.inputs[0])?.shape.length ?? 0;
    if (l.coerce2d && l.axis !== rank - 1) qw.fail('a softmax over several axes (opset < 13 coercion) has no opset-13 Softmax');
    const f = qw.fresh(`${l.output}/softmax`);
    qw.emit('Softmax', [qw.dq(l.inputs[0])], [f], [aInt('axis', l.axis)], l.name);
    qw.quantizeNode(f, l.output, yq, yd, l.output);
    return;
  }
  const [ys, yz] = qw.params(l.output, yq, yd);
  qw.emit('QLinearSoftmax', [l.inputs[0], ...qw.tparams(l.inputs[0]), ys, yz], [l.output], [aInt('axis', l.axis), aInt('opset', l.coerce2d ? 12 : 13)], l.name, MS);
}

/** LayerNorm: the `float` variant → DQ → LayerNormalization (opset ≥ 17) → Q in either form; the integer variant has no ORT op. */
function layerNorm(qw: QWriter, l: QLayerNormLayer): void {
  if (l.variant !== 'float') qw.fail(`the ${l.variant} LayerNorm has no ONNX Runtime op (only the 'float' variant is DQ → LayerNormalization → Q)`);
  if (qw.opset < 17) qw.fail(`LayerNormalization needs opset 17, the export is opset ${qw.opset}`);
  qw.act8(l.inputs[0]);
  const yq = qw.tq(l.output);
  const yd = qw.dtypeOfQ(yq, `tensor '${l.output}'`);
  const shape = qw.net.tensors.get(l.inputs[0])?.shape;
  if (!shape || shape.length <= l.axis) qw.fail(`the shape of '${l.inputs[0]}' is unknown: the normalized shape of γ cannot be written`);
  const norm = shape.slice(l.axis);
  if (norm.some((d) => d < 0)) qw.fail(`normalized dims [${norm.join(',')}] must be known`);
  const ins = [qw.dq(l.inputs[0]), qw.init(`${l.name}/scale`, { dtype: 'float32', shape: norm, data: l.gamma })];
  if (l.beta) ins.push(qw.init(`${l.name}/bias`, { dtype: 'float32', shape: norm, data: l.beta }));
  const f = qw.fresh(`${l.output}/layernorm`);
  qw.emit('LayerNormalization', ins, [f], [aInt('axis', l.axis), { name: 'epsilon', type: AttrType.FLOAT, f: l.epsilon }], l.name);
  const post = qw.after(l.output, yq, { kind: 'none' });
  qw.quantizeNode(f, post.opOut, yq, yd, l.output);
  post.finish();
}

function poolAttrs(l: QPoolLayer, max: boolean): Record<string, unknown>[] {
  const a = [aInts('kernel_shape', l.kernel), aInts('strides', l.strides), aInts('pads', l.pads), aInt('ceil_mode', l.ceilMode ? 1 : 0)];
  if (max) a.push(aInts('dilations', l.dilations));
  else a.push(aInt('count_include_pad', l.countIncludePad ? 1 : 0));
  return a;
}

/** A standalone activation layer (clamp, ORT's sigmoid, or a table). */
function activation(qw: QWriter, x: string, out: string, act: QActivation, name: string): void {
  const xa = qw.act8(x);
  const yq = qw.tq(out);
  const yd = qw.dtypeOfQ(yq, `tensor '${out}'`);
  if (act.kind === 'none') {
    if (yd !== xa.dtype) qw.fail(`an identity activation cannot change the type (${xa.dtype} → ${yd})`);
    qw.emit('Identity', [x], [out], [], name);
    return;
  }
  if (act.kind === 'clamp') {
    // sim/qexec.ts clamps the codes in place: the parameters of x are those that keep them
    if (yd !== xa.dtype) qw.fail(`a clamp cannot change the type (${xa.dtype} → ${yd})`);
    const r = qRange(yq);
    const lo = Math.max(r.qmin, act.lo);
    const hi = Math.min(r.qmax, act.hi);
    const t = typeRange(yd);
    if (lo <= t.qmin && hi >= t.qmax && !act.channelHi) qw.emit('Identity', [x], [out], [], name);
    else qw.clampStage(x, out, xa.q, yd, lo, hi, act.channelHi);
    return;
  }
  if (act.kind === 'igelu') qw.fail('i-GELU has no ONNX Runtime op');
  if (act.fn === 'sigmoid' && act.entries === 2 ** act.inQ.bits) {
    // sim/qexec.ts runs ORT's own QLinearSigmoid table here
    if (yd !== xa.dtype) qw.fail(`QLinearSigmoid cannot change the type (${xa.dtype} → ${yd})`);
    const post = qw.after(out, yq, { kind: 'none' });
    if (qw.qdq) {
      const f = qw.fresh(`${out}/sigmoid`);
      qw.emit('Sigmoid', [qw.dq(x)], [f], [], name);
      qw.quantizeNode(f, post.opOut, yq, yd, out);
    } else {
      const [ys, yz] = qw.params(out, yq, yd);
      qw.emit('QLinearSigmoid', [x, ...qw.tparams(x), ys, yz], [post.opOut], [], name, MS);
    }
    post.finish();
    return;
  }
  qw.lutStage(x, xa.dtype, act, out, yq);
}


/** Writes a float node with nets/onnx/export's normalization (one-node export, spliced in). */
function floatNode(qw: QWriter, node: Node): void {
  const consts = new Map<string, Tensor>();
  for (const i of node.inputs) {
    const c = i ? qw.net.floatConstants?.get(i) : undefined;
    if (c) consts.set(i, c);
  }
  const g: Graph = {
    name: node.name,
    inputs: node.inputs.filter((i) => i && !consts.has(i)).map((i) => ({ name: i, dtype: 'float32', shape: [] })),
    outputs: node.outputs.filter(Boolean).map((o) => ({ name: o, dtype: 'float32', shape: [] })),
    initializers: consts,
    nodes: [node],
    opset: Math.min(qw.opset, FLOAT_EXPORT_MAX_OPSET),
  };
  const bytes = exportOnnx(g, { opset: Math.min(qw.opset, FLOAT_EXPORT_MAX_OPSET) });
  const m = ModelProto.decode(bytes) as unknown as PModel;
  const rename = new Map<string, string>();
  for (const t of m.graph?.initializer ?? []) {
    const name = t.name ?? '';
    if (consts.has(name)) {
      qw.useConst(name);
      continue;
    }
    const fresh = qw.fresh(name);
    if (fresh !== name) rename.set(name, fresh);
    (t as { name: string }).name = fresh;
    qw.inits.push(t as unknown as Record<string, unknown>);
  }
  for (const n of m.graph?.node ?? []) {
    const input = (n.input ?? []).map((i) => rename.get(i) ?? i);
    const output = [...(n.output ?? [])];
    for (const o of output) qw.taken.add(o);
    qw.nodes.push({ name: qw.fresh(n.name || `${node.name}/${n.op_type}`), op_type: n.op_type ?? '', domain: n.domain ?? '', input, output, attribute: (n.attribute ?? []) as unknown as Record<string, unknown>[] });
  }
}
