/**
 * The zoo DDPM's graph (ddpm-spec.ts) from trained weights: NCHW, ONNX vocabulary, two inputs —
 * `x` the noisy image x_t [N, 1, 28, 28] and `t` the timestep [N, 1] (a float, 0 … T−1) — and one
 * output `eps`, the predicted noise. What a PyTorch export of such a UNet would write after BN
 * folding:
 *   - the timestep embedding inside the graph: Mul(t, ω) → Sin, Cos → Concat → Gemm → Swish →
 *     Gemm → Swish (qloom's Swish; the exporter writes Sigmoid·x);
 *   - Conv → BatchNormalization folded into the Conv (W·γ/√(σ²+ε), β − μ·γ/√(σ²+ε), in float64,
 *     rounded once), so the integer network sees convolutions with bias;
 *   - each block's timestep projection Gemm(e) → Reshape [N, C, 1, 1] → Add (broadcast);
 *   - upsampling as Resize (nearest, ×2), skips as Concat on channels.
 */

import type { Graph, Node, Tensor, ValueInfo } from '../graph.js';
import { ddpmBlocks, ddpmWeightShapes, timeFrequencies, type DdpmSpec } from './ddpm-spec.js';
import type { TrainedWeights } from './models.js';

const f32 = (shape: readonly number[], data: Float32Array): Tensor => ({ dtype: 'float32', shape: [...shape], data });

export function buildDdpmGraph(spec: DdpmSpec, weights: TrainedWeights, meta: Record<string, string> = {}): Graph {
  const shapes = ddpmWeightShapes(spec);
  const w = (layer: string, key: string): Float32Array => {
    const t = weights[layer]?.[key];
    const want = shapes[layer]?.[key];
    if (!t || !want) throw new Error(`trained weights lack ${layer}.${key}`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) throw new Error(`${layer}.${key} has shape [${t.shape.join(',')}], the spec needs [${want.join(',')}]`);
    return t.data;
  };
  const nodes: Node[] = [];
  const inits = new Map<string, Tensor>();
  const add = (name: string, op: Node['op'], inputs: string[], attrs: Node['attrs'] = {}, output = `${name}_out`): string => {
    nodes.push({ name, op, inputs, outputs: [output], attrs });
    return output;
  };
  const init = (name: string, shape: readonly number[], data: Float32Array): string => {
    inits.set(name, f32(shape, data.slice()));
    return name;
  };
  /** HWIO kernel (optionally scaled per output channel) → OIHW */
  const oihw = (k: Float32Array, [kh, kw, ci, co]: readonly number[], scale?: Float64Array): Float32Array => {
    const out = new Float32Array(k.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let c = 0; c < ci; c++)
          for (let o = 0; o < co; o++) {
            const v = k[((y * kw + x) * ci + c) * co + o];
            out[((o * ci + c) * kh + y) * kw + x] = scale ? v * scale[o] : v;
          }
    return out;
  };
  const convAttrs = (k: number, stride: number): Node['attrs'] => {
    const p = (k - 1) / 2;
    return { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p], dilations: [1, 1], group: 1 };
  };
  const conv = (layer: string, x: string, stride = 1): string => {
    const s = shapes[layer].kernel;
    return add(layer, 'Conv', [x, init(`${layer}.weight`, [s[3], s[2], s[0], s[1]], oihw(w(layer, 'kernel'), s)), init(`${layer}.bias`, [s[3]], w(layer, 'bias'))], convAttrs(s[0], stride));
  };
  /** a bias-free conv followed by its BN, folded */
  const convBn = (layer: string, bn: string, x: string): string => {
    const s = shapes[layer].kernel;
    const co = s[3];
    const g = w(bn, 'gamma');
    const b = w(bn, 'beta');
    const m = w(bn, 'mean');
    const v = w(bn, 'variance');
    const scale = Float64Array.from({ length: co }, (_, o) => g[o] / Math.sqrt(v[o] + spec.bnEpsilon));
    const bias = Float32Array.from({ length: co }, (_, o) => b[o] - m[o] * scale[o]);
    return add(layer, 'Conv', [x, init(`${layer}.weight`, [co, s[2], s[0], s[1]], oihw(w(layer, 'kernel'), s, scale)), init(`${layer}.bias`, [co], bias)], convAttrs(s[0], 1));
  };
  /** dense [in, out] → Gemm(transB) with W [out, in] */
  const gemm = (layer: string, x: string): string => {
    const [ni, no] = shapes[layer].kernel;
    const k = w(layer, 'kernel');
    const wt = new Float32Array(k.length);
    for (let i = 0; i < ni; i++) for (let o = 0; o < no; o++) wt[o * ni + i] = k[i * no + o];
    return add(layer, 'Gemm', [x, init(`${layer}.weight`, [no, ni], wt), init(`${layer}.bias`, [no], w(layer, 'bias'))], { alpha: 1, beta: 1, transA: 0, transB: 1 });
  };
  const swish = (name: string, x: string): string => add(name, 'Swish', [x]);

  // timestep embedding
  const half = spec.tDim / 2;
  const arg = add('temb/arg', 'Mul', ['t', init('temb.freqs', [1, half], timeFrequencies(spec))]);
  const sin = add('temb/sin', 'Sin', [arg]);
  const cos = add('temb/cos', 'Cos', [arg]);
  let e = add('temb/sincos', 'Concat', [sin, cos], { axis: 1 });
  e = swish('temb1/silu', gemm('temb1', e));
  e = swish('temb2/silu', gemm('temb2', e));

  const block = (name: string, x: string): string => {
    const b = ddpmBlocks(spec).find((k) => k.name === name)!;
    let h = swish(`${name}.silu1`, convBn(`${name}.conv1`, `${name}.bn1`, x));
    const tp = add(`${name}.temb/expand`, 'Reshape', [gemm(`${name}.temb`, e)], { shape: [0, b.cout, 1, 1] });
    h = add(`${name}.temb_add`, 'Add', [h, tp]);
    h = swish(`${name}.silu2`, convBn(`${name}.conv2`, `${name}.bn2`, h));
    const skip = shapes[`${name}.skip`] ? conv(`${name}.skip`, x) : x;
    return add(`${name}.residual`, 'Add', [skip, h]);
  };
  const up = (name: string, x: string): string => add(name, 'Resize', [x], { mode: 'nearest', scales: [1, 1, 2, 2] });

  const h0 = block('rb0', conv('in', 'x'));
  const h1 = block('rb1', conv('down0', h0, 2));
  const m = block('mid', conv('down1', h1, 2));
  const u1 = block('up1', add('up1/concat', 'Concat', [up('up1/upsample', m), h1], { axis: 1 }));
  const u0 = block('up0', add('up0/concat', 'Concat', [up('up0/upsample', u1), h0], { axis: 1 }));
  const s = shapes.out.kernel;
  add('out', 'Conv', [u0, init('out.weight', [s[3], s[2], s[0], s[1]], oihw(w('out', 'kernel'), s)), init('out.bias', [s[3]], w('out', 'bias'))], convAttrs(s[0], 1), 'eps');

  const inputs: ValueInfo[] = [
    { name: 'x', dtype: 'float32', shape: [-1, ...spec.input] },
    { name: 't', dtype: 'float32', shape: [-1, 1] },
  ];
  const outputs: ValueInfo[] = [{ name: 'eps', dtype: 'float32', shape: [-1, ...spec.input] }];
  return { name: spec.name, inputs, outputs, initializers: inits, nodes, opset: 13, meta };
}
