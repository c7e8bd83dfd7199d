/**
 * Layers of a network on number formats (FP8 / BF16 / FP16 / MX / per-group INT4) inside the
 * quantized executor (qexec.ts): tensors with a `format` are float32 values on the format's grid;
 * element layers run on those values in float (as a vector unit computes on decoded operands) and
 * their result is encoded into the output's format; conv / gemm layers with a weight format run on
 * sim/kernels/format-linear.ts.
 */
import { ModelError } from '../nets/errors.js';
import { execNode } from '../nets/fp32.js';
import { transposeData, upsampleNearest } from '../nets/fp32-tensor.js';
import type { Node, Tensor } from '../nets/graph.js';
import type { QActivation, QLayer, QLinearLayer, QParams, QPoolLayer, QuantizedNetwork } from '../qnet/network.js';
import { snapToFormat } from '../qnet/formats/descriptor.js';
import { lutFunction } from '../qnet/lut.js';
import { quantizeLinear } from '../qnet/qmath.js';
import { requantTarget } from '../qnet/requant.js';
import type { AccumulationOrder } from './kernels/accumulator.js';
import type { SwampReport } from './kernels/fp-dot.js';
import { formatMatMulLayer, runFormatLinear } from './kernels/format-linear.js';
import { dtypeOfQ, intVal, isInt, numel, reshapeShape, type Val } from './qexec-values.js';

/** What the format layers read of the executor running them. */
export interface FormatContext {
  readonly net: QuantizedNetwork;
  readonly order: AccumulationOrder;
  /** layer name → its float accumulator's swamping, written here */
  readonly swamping: Record<string, SwampReport>;
  /** the value of a tensor computed so far (undefined: none) */
  value(name: string): Val | undefined;
  get(name: string, layer: QLayer): Val;
  float(name: string, layer: QLayer): Tensor;
  q(name: string, layer: QLayer): QParams;
  /** the integer activation of qexec (clamp / LUT / i-GELU) on requantized codes */
  activate(codes: Int32Array, shape: readonly number[], act: QActivation, yq: QParams): Int32Array;
}

/**
 * A layer in a network on number formats: tensors with a `format` are float32 values on the
 * format's grid; element layers run on those values in float (as a vector unit computes on
 * decoded operands) and their result is encoded into the output's format; conv / gemm layers
 * with a weight format run on sim/kernels/format-linear.ts. Null when the layer is an integer one.
 */
export function execFormat(ctx: FormatContext, layer: QLayer): Val | null {
  const net = ctx.net;
  const outFmt = net.tensors.get(layer.output)?.format;
  const snap = (t: Tensor): Tensor => (outFmt ? { dtype: 'float32', shape: t.shape, data: snapToFormat(outFmt, t.data as Float32Array, t.shape) } : t);
  if ((layer.kind === 'conv' || layer.kind === 'gemm') && layer.format) return formatLinear(ctx, layer);
  if (layer.kind === 'quantize') return outFmt ? snap(ctx.float(layer.inputs[0], layer)) : null;
  const first = layer.inputs.length ? ctx.value(layer.inputs[0]) : undefined;
  if (first === undefined || isInt(first)) return null;
  if (layer.kind === 'dequantize') return first;
  const ins = layer.inputs.map((n) => ctx.float(n, layer));
  const node = (op: Node['op'], attrs: Node['attrs'] = {}): Node => ({ name: layer.name, op, inputs: layer.inputs, outputs: [layer.output], attrs });
  const win = (l: QPoolLayer) => ({ kernel_shape: [...l.kernel], strides: [...l.strides], pads: [...l.pads], dilations: [...l.dilations], ceil_mode: l.ceilMode ? 1 : 0, count_include_pad: l.countIncludePad ? 1 : 0 });
  let y: Tensor;
  switch (layer.kind) {
    case 'add':
      y = realActivation(execNode(node('Add'), ins)[0], layer.activation, layer);
      break;
    case 'concat':
      y = execNode(node('Concat', { axis: layer.axis }), ins)[0];
      break;
    case 'matmul':
    {
      const r = formatMatMulLayer(layer, ins, ctx.net.tensors.get(layer.inputs[0])?.format, ctx.net.tensors.get(layer.inputs[1])?.format, ctx.order);
      ctx.swamping[layer.name] = r.report;
      y = realActivation(r.y, layer.activation, layer);
    }
      break;
    case 'softmax':
      // on decoded values in float32, as the special-function unit of a float datapath computes it
      y = execNode(node('Softmax', { axis: layer.axis, ...(layer.coerce2d && { coerce2d: 1 }) }), ins)[0];
      break;
    case 'layernorm': {
      const ns = ins[0].shape.slice(layer.axis);
      const g: Tensor = { dtype: 'float32', shape: ns, data: layer.gamma };
      const b: Tensor | undefined = layer.beta ? { dtype: 'float32', shape: ns, data: layer.beta } : undefined;
      y = execNode(node('LayerNormalization', { axis: layer.axis, epsilon: layer.epsilon }), [ins[0], g, b])[0];
      break;
    }
    case 'maxpool':
      y = execNode(node('MaxPool', win(layer)), ins)[0];
      break;
    case 'avgpool':
      y = execNode(node('AveragePool', win(layer)), ins)[0];
      break;
    case 'globalavgpool':
      y = execNode(node('GlobalAveragePool'), ins)[0];
      break;
    case 'activation':
      y = realActivation(ins[0], layer.activation, layer);
      break;
    case 'reshape':
    case 'flatten':
    case 'transpose':
    case 'resize':
    case 'identity': {
      const x = ins[0];
      if (layer.kind === 'identity') return x;
      if (layer.kind === 'resize') {
        const r = upsampleNearest(x.data as Float32Array, x.shape, layer.param);
        return { dtype: 'float32', shape: r.shape, data: r.data };
      }
      if (layer.kind === 'transpose') {
        const r = transposeData(x.data as Float32Array, x.shape, layer.param);
        return { dtype: 'float32', shape: r.shape, data: r.data };
      }
      let shape: number[];
      if (layer.kind === 'reshape') shape = reshapeShape(layer.param, x.shape, layer.name);
      else {
        const ax = layer.param[0] < 0 ? layer.param[0] + x.shape.length : layer.param[0];
        shape = [numel(x.shape.slice(0, ax)), numel(x.shape.slice(ax))];
      }
      return { dtype: 'float32', shape, data: x.data };
    }
    case 'float':
      return null;
    default:
      throw new ModelError([{ node: layer.name, op: layer.kind, message: `a ${layer.kind} layer on number-format tensors is not supported (integer tensors only)` }]);
  }
  return snap(y);
}

/** A fused or standalone activation on real values (format networks): clamp bounds, or the function itself. */
function realActivation(t: Tensor, act: QActivation, layer: QLayer): Tensor {
  if (act.kind === 'none') return t;
  const x = t.data as Float32Array;
  const y = new Float32Array(x.length);
  if (act.kind === 'clamp') {
    const r = act.real ?? (act.fn === 'relu' ? { min: 0, max: Infinity } : act.fn === 'relu6' ? { min: 0, max: 6 } : null);
    if (!r || act.channelHi) throw new ModelError([{ node: layer.name, op: layer.kind, message: `clip bounds on real values are missing (per-channel clamps are integer-only)` }]);
    for (let i = 0; i < x.length; i++) y[i] = x[i] < r.min ? r.min : x[i] > r.max ? r.max : x[i];
  } else if (act.kind === 'lut') {
    const f = lutFunction(act.fn);
    for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
  } else throw new ModelError([{ node: layer.name, op: layer.kind, message: 'i-GELU runs on integers only' }]);
  return { dtype: 'float32', shape: t.shape, data: y };
}

/**
 * A conv / gemm on number formats: format-linear.ts computes the real pre-activation output
 * (its swamping recorded like overflow); the fused activation on real values; then encoded into
 * the output tensor's format, or — per-group integer layers, whose output is affine — quantized
 * to its integers (round half to even, the requant unit's float mode) and clamped / looked up
 * there as integer layers do.
 */
function formatLinear(ctx: FormatContext, layer: QLinearLayer): Val {
  const lf = layer.format!;
  const v = ctx.get(layer.inputs[0], layer);
  const xq = ctx.q(layer.inputs[0], layer);
  if (lf.input === null && !isInt(v)) throw new ModelError([{ node: layer.name, op: layer.kind, message: `input '${layer.inputs[0]}' is float32; per-group integer weights take an integer input` }]);
  if (lf.input !== null && isInt(v)) throw new ModelError([{ node: layer.name, op: layer.kind, message: `input '${layer.inputs[0]}' is integer; a ${lf.input.kind} operand is expected` }]);
  const r = runFormatLinear({
    kind: layer.kind,
    name: layer.name,
    weight: layer.weight,
    format: lf,
    window: layer,
    group: layer.group,
    order: ctx.order,
    x: v.data as Float32Array | Int32Array,
    xShape: v.shape,
    ...(lf.input === null && { xAffine: { scale: xq.scale[0], zeroPoint: xq.zeroPoint[0] } }),
  });
  ctx.swamping[layer.name] = r.report;
  const outInfo = ctx.net.tensors.get(layer.output);
  const pre: Tensor = { dtype: 'float32', shape: r.outShape, data: r.y };
  if (lf.act.kind === 'clamp') {
    const { min, max } = lf.act;
    for (let i = 0; i < r.y.length; i++) r.y[i] = r.y[i] < min ? min : r.y[i] > max ? max : r.y[i];
  } else if (lf.act.kind === 'fn' && lf.input !== null) {
    const f = lutFunction(lf.act.fn);
    for (let i = 0; i < r.y.length; i++) r.y[i] = f(r.y[i]);
  }
  if (outInfo?.format) return { dtype: 'float32', shape: r.outShape, data: snapToFormat(outInfo.format, r.y, r.outShape) };
  if (lf.input !== null) return pre;
  // affine output: quantize to the requant target (a LUT's input grid), then the integer activation
  const yq = ctx.q(layer.output, layer);
  const target = requantTarget(yq, layer.activation);
  const codes = quantizeLinear(r.y, target, r.outShape);
  return intVal(dtypeOfQ(yq), r.outShape, layer.activation.kind === 'none' ? codes : ctx.activate(codes, r.outShape, layer.activation, yq));
}
