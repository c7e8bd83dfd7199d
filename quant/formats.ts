/**
 * PTQ for number formats (config `format`, quant/config.ts): the integer network the pipeline
 * built, with its conv / gemm layers and activation tensors moved onto FP8 / BF16 / FP16, an MX
 * block format, or per-group integer weights (qnet/network.ts `WeightFormat`, `ActFormat`,
 * `LinearFormat`). The plan, calibration and every non-linear layer are the integer pipeline's;
 * what changes:
 * - float formats: weights per output channel with s_w[c] = max|w_c| / maxFinite, activations per
 *   tensor with s = max|x| / maxFinite over the calibrated range (min-max in the FP8 presets). The
 *   max maps to the format's largest finite value: FP8's extra range sits at the top, where an
 *   activation outlier needs it, and nothing saturates on calibration data. (The alternative, a
 *   power-of-two scale — a shifted exponent bias — costs up to one binade of the top range for a
 *   cheaper scale multiply; van Baalen et al. 2023 §3 choose per-tensor biases too.) BF16 and FP16
 *   cover FP32's and the nets' ranges unscaled (scale 1).
 * - MX: every block's scale comes from the block's max (MX v1.0 §6.3), weights once here,
 *   activations as they are produced — nothing to calibrate.
 * - per-group integers: symmetric `bits`-bit weights, one scale per group of g along K chosen by
 *   MSE (the scale minimizing the group's squared error over 36 candidates α·max|w|/qmax,
 *   α = 0.30…1.00), activations unchanged (affine integers).
 * Tensors in a format keep their `q` for its width: `bits` becomes the element width (costing).
 */
import { ConfigError } from '../arch/errors.js';
import { InvariantError } from '../nets/errors.js';
import { floatFormatByName, mxFormatByName } from '../qnet/formats/descriptor.js';
import { quantizeFloatLinear } from '../qnet/formats/float.js';
import { blockCount, quantizeMx } from '../qnet/formats/mx.js';
import { qRange, quantizeValue } from '../qnet/qmath.js';
import type { ActFormat, LinearFormat, QActivation, QLayer, QLinearLayer, QParams, QTensorInfo, QuantizedNetwork, WeightFormat } from '../qnet/network.js';
import type { FusedAct, LinearWeights, QuantPlan } from './build.js';
import type { NumberFormatConfig } from './config.js';

/** largest |real| an affine grid covers */
function gridMax(q: QParams): number {
  const { qmin, qmax } = qRange(q);
  const s = q.scale[0];
  const z = q.zeroPoint[0];
  return Math.max(Math.abs(s * (qmin - z)), Math.abs(s * (qmax - z)));
}

/** per-group symmetric integers with MSE scales: codes and [N, ⌈K/g⌉] scales */
export function quantizeGroupsMse(w: Float32Array, n: number, k: number, bits: number, g: number): { codes: Int32Array; scale: Float32Array } {
  const { qmin, qmax } = qRange({ bits, signed: true, narrow: false });
  const nb = blockCount(k, g);
  const scale = new Float32Array(n * nb);
  const codes = new Int32Array(n * k);
  for (let c = 0; c < n; c++) {
    for (let b = 0; b < nb; b++) {
      const k0 = c * k + b * g;
      const k1 = c * k + Math.min(k, (b + 1) * g);
      let amax = 0;
      for (let i = k0; i < k1; i++) amax = Math.max(amax, Math.abs(w[i]));
      let best = amax > 0 ? Math.fround(amax / qmax) : 1;
      if (amax > 0) {
        let bestErr = Infinity;
        for (let a = 30; a <= 100; a += 2) {
          const s = Math.fround((amax * a) / 100 / qmax);
          if (!(s > 0)) continue;
          let err = 0;
          for (let i = k0; i < k1; i++) {
            const d = w[i] - quantizeValue(w[i], s, 0, qmin, qmax) * s;
            err += d * d;
          }
          if (err < bestErr) {
            bestErr = err;
            best = s;
          }
        }
      }
      scale[c * nb + b] = best;
      for (let i = k0; i < k1; i++) codes[i] = quantizeValue(w[i], best, 0, qmin, qmax);
    }
  }
  return { codes, scale };
}

function realAct(a: FusedAct, where: string): LinearFormat['act'] {
  if (a.kind === 'none') return { kind: 'none' };
  if (a.kind === 'lut') return { kind: 'fn', fn: a.fn };
  if (a.channelMax) throw new ConfigError([{ path: `format.${where}`, message: 'per-channel clip bounds (cleRelu6 clip) are integer-only' }], 'PTQ config');
  return { kind: 'clamp', min: a.min, max: a.max };
}

/** The activation format of a tensor whose affine quantization calibration set to `q`. */
function actFormatOf(f: NumberFormatConfig, q: QParams): ActFormat {
  if (f.kind === 'mx') return { kind: 'mx', mx: f.element };
  const ff = floatFormatByName(f.element);
  if (ff.bits >= 16) return { kind: 'float', element: f.element, scale: 1 };
  const m = gridMax(q);
  return { kind: 'float', element: f.element, scale: m > 0 ? Math.fround(m / ff.maxFinite) : 1 };
}

/** The integer network `net` (built from `plan` and `weights`) on the number format `f`. */
export function applyNumberFormat(net: QuantizedNetwork, plan: QuantPlan, weights: ReadonlyMap<string, LinearWeights>, f: NumberFormatConfig): QuantizedNetwork {
  const problems: { path: string; message: string }[] = [];
  if (f.kind === 'float') floatFormatByName(f.element);
  if (f.kind === 'mx') mxFormatByName(f.element);
  const steps = new Map(plan.steps.map((s) => [s.name, s]));
  const group = f.kind === 'group';
  // layers kept on integers: a tensor stays integer when it comes from one (or from the input's
  // quantize) and only such layers (or the output's dequantize) read it; elsewhere the kept layer
  // gets a quantize in front and a dequantize behind — conversions at the format boundary
  const kept = new Set(f.integerLayers ?? []);
  for (const name of kept) {
    const l = net.layers.find((x) => x.name === name);
    if (!l) problems.push({ path: 'format.integerLayers', message: `no layer '${name}' in ${net.name} (conv / gemm layers: ${net.layers.filter((x) => x.kind === 'conv' || x.kind === 'gemm').map((x) => x.name).join(', ')})` });
    else if (l.kind !== 'conv' && l.kind !== 'gemm') problems.push({ path: 'format.integerLayers', message: `'${name}' is a ${l.kind} layer; only conv / gemm layers are kept on integers` });
  }
  const producer = new Map<string, QLayer>();
  const consumers = new Map<string, QLayer[]>();
  for (const l of net.layers) {
    producer.set(l.output, l);
    for (const i of l.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l]);
  }
  const staysInt = (t: string): boolean => {
    const p = producer.get(t);
    const cs = consumers.get(t) ?? [];
    return p !== undefined && (kept.has(p.name) || p.kind === 'quantize') && cs.length > 0 && cs.every((c) => kept.has(c.name) || c.kind === 'dequantize');
  };
  const tensors = new Map<string, QTensorInfo>();
  for (const [name, t] of net.tensors) {
    if (group || (kept.size > 0 && staysInt(name))) tensors.set(name, t);
    else {
      const format = actFormatOf(f, t.q);
      const bits = f.kind === 'mx' ? mxFormatByName(f.element).elementBits : floatFormatByName(f.element).bits;
      tensors.set(name, { ...t, q: { ...t.q, bits: Math.max(2, bits) }, format });
    }
  }
  const keepInteger = (l: QLayer): QLayer[] => {
    const out: QLayer[] = [];
    let k = l;
    const x = l.inputs[0];
    if (!staysInt(x)) {
      const xi = `${x}@int`;
      tensors.set(xi, { ...net.tensors.get(x)!, name: xi });
      out.push({ kind: 'quantize', name: `${l.name}/to-int`, inputs: [x], output: xi });
      k = { ...k, inputs: [xi, ...l.inputs.slice(1)] } as QLayer;
    }
    if (staysInt(l.output)) return [...out, k];
    const yi = `${l.output}@int`;
    tensors.set(yi, { ...net.tensors.get(l.output)!, name: yi });
    return [...out, { ...k, output: yi } as QLayer, { kind: 'dequantize', name: `${l.name}/to-format`, inputs: [yi], output: l.output }];
  };
  const layers: QLayer[] = net.layers.flatMap((l): QLayer | QLayer[] => {
    if (kept.has(l.name) && (l.kind === 'conv' || l.kind === 'gemm')) return keepInteger(l);
    // attention and normalization on format tensors: MatMul on the PE array in the format
    // (sim/kernels/format-linear.ts runFormatMatMul), Softmax / LayerNorm in float32 on decoded
    // values; per-group networks keep them integer (their activations are affine)
    if (l.kind === 'matmul') return group ? l : { ...l, formatAcc: f.acc };
    if (l.kind === 'softmax' || l.kind === 'layernorm') return l;
    const s = steps.get(l.name);
    if ((l.kind === 'add' || l.kind === 'activation') && !group && l.activation.kind === 'clamp' && s && s.act.kind === 'clamp') {
      const act: QActivation = { ...l.activation, real: { min: s.act.min, max: s.act.max } };
      return { ...l, activation: act };
    }
    if (l.kind !== 'conv' && l.kind !== 'gemm') return l;
    if (!s || s.kind !== 'linear') throw new InvariantError(`linear layer '${l.name}' has no plan step`);
    const lw = weights.get(l.name);
    const bias = lw?.bias ?? s.bias;
    const n = s.wShape[0];
    const k = s.weight.length / n;
    if (l.weight.shape.length !== (l.kind === 'conv' ? 4 : 2)) {
      problems.push({ path: `format.${l.name}`, message: `a batched MatMul weight [${l.weight.shape.join(',')}] has no number-format execution` });
      return l;
    }
    let wf: WeightFormat;
    let data: Int32Array;
    let bits: number;
    if (f.kind === 'float') {
      const ff = floatFormatByName(f.element);
      let scale: Float32Array;
      if (ff.bits >= 16) scale = Float32Array.of(1);
      else {
        scale = new Float32Array(n);
        for (let c = 0; c < n; c++) {
          let m = 0;
          for (let i = c * k; i < (c + 1) * k; i++) m = Math.max(m, Math.abs(s.weight[i]));
          scale[c] = m > 0 ? Math.fround(m / ff.maxFinite) : 1;
        }
      }
      data = Int32Array.from(quantizeFloatLinear(ff, s.weight, scale, s.wShape, scale.length === 1 ? -1 : 0, true));
      wf = { kind: 'float', element: f.element, scale };
      bits = ff.bits;
    } else if (f.kind === 'mx') {
      const m = mxFormatByName(f.element);
      const q = quantizeMx(m, s.weight, { outer: n, k, inner: 1 });
      data = Int32Array.from(q.codes);
      wf = { kind: 'mx', mx: f.element, scales: q.scales };
      bits = m.elementBits;
    } else {
      const g = f.groupSize ?? 32;
      bits = f.bits ?? 4;
      const q = quantizeGroupsMse(s.weight, n, k, bits, g);
      data = q.codes;
      wf = { kind: 'group', bits, groupSize: g, scale: q.scale };
    }
    const inF = tensors.get(l.inputs[0])?.format;
    if (!group && !inF) throw new InvariantError(`linear layer '${l.name}': input '${l.inputs[0]}' has no format`);
    const lf: LinearFormat = {
      input: group ? null : inF!,
      acc: f.acc,
      bias: bias ? Float32Array.from(bias) : null,
      act: group ? { kind: 'none' } : realAct(s.act, l.name),
    };
    const out: QLinearLayer = { ...l, weight: { data, shape: l.weight.shape, q: { ...l.weight.q, bits: Math.max(2, bits), scale: Float32Array.of(1), zeroPoint: Int32Array.of(0), axis: -1 }, format: wf }, bias: null, format: lf };
    return out;
  });
  if (problems.length) throw new ConfigError(problems, `PTQ format ${f.element}`);
  return { ...net, tensors, layers, meta: { ...net.meta, format: f.element } };
}
