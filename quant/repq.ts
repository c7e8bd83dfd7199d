/**
 * RepQ-ViT's scale reparameterization of post-LayerNorm activations (Li et al., ICCV 2023, §3.2):
 * post-LN activations vary strongly between channels, so each channel c gets its own quantizer
 * (δ_c, z_c) at calibration — here min-max over the calibration images along the last axis — and
 * the per-channel quantizer is then folded into one per-tensor quantizer (δ̃ = mean δ_c,
 * z̃ = round(mean z_c)) by moving the per-channel factors into the LayerNorm affine and the next
 * linear layers:
 *   r_c = δ_c / δ̃,   b_c = min_c / r_c − miñ   (min_c = −z_c·δ_c, miñ = −z̃·δ̃)
 *   γ'_c = γ_c / r_c,  β'_c = β_c / r_c − b_c          (so x'_c = x_c / r_c − b_c)
 *   W'[c, :] = r_c·W[c, :],  bias' = bias + Σ_c W'[c, :]·b_c
 * W'x' + bias' = Wx + bias: the FP32 function is unchanged; and, z_c and z̃ being integers,
 * round(x'_c/δ̃) + z̃ = round(x_c/δ_c − b_c/δ̃) + z̃ = round(x_c/δ_c) + z_c — the per-tensor quantizer
 * of x' gives exactly the per-channel codes of x. The weights are quantized after this pass (the
 * pipeline runs it before planning), so W' is what the weight quantizer sees. (The authors' code
 * keeps the mean zero point unrounded in its fake quantizer; an integer tensor needs it rounded.)
 *
 * A LayerNormalization qualifies when its γ and β are float constants over the last axis and every
 * consumer of its output is a MatMul with a constant [C, N] weight followed by an Add of a
 * constant [N] bias, or a Gemm (transB either way, constant C or none); others are left alone and
 * named in `skipped`.
 */
import { runFp32 } from '../nets/fp32.js';
import type { Graph, Node, Tensor } from '../nets/graph.js';
import { attrNum } from '../nets/graph.js';
import { batchInput } from '../nets/eval.js';
import type { QParams } from '../qnet/network.js';
import type { CalibData } from './calibrate.js';
import type { TensorQuantConfig } from './config.js';

/** Float values of `names` over the first `max` calibration images (FP32 runs in batches), images back to back. */
export function probeTensors(graph: Graph, calib: CalibData, names: readonly string[], max: number, batch = 32): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const count = Math.min(max, calib.count);
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const res = runFp32(graph, batchInput(graph, calib.images, calib.shape, s, n, calib.side), { keep: names });
    for (const name of names) {
      const d = res[name].data as Float32Array;
      const per = d.length / n;
      const all = out.get(name) ?? out.set(name, new Float32Array(per * count)).get(name)!;
      all.set(d, s * per);
    }
  }
  return out;
}

export interface RepqLayerNorm {
  readonly node: string;
  /** the LN output, now quantized per tensor with `q` */
  readonly tensor: string;
  readonly consumers: readonly string[];
  /** the per-channel quantizer before (δ_c, z_c) */
  readonly channelScale: Float32Array;
  readonly channelZeroPoint: Int32Array;
  readonly q: QParams;
}

export interface RepqResult {
  readonly graph: Graph;
  readonly layerNorms: readonly RepqLayerNorm[];
  /** per-tensor quantization of each reparameterized LN output (δ̃, z̃), to be used as is */
  readonly acts: ReadonlyMap<string, QParams>;
  readonly skipped: readonly { readonly node: string; readonly reason: string }[];
}

interface Consumer {
  readonly node: Node;
  /** the weight initializer and its layout: 'kn' (MatMul B, Gemm transB 0) or 'nk' (Gemm transB 1) */
  readonly weight: string;
  readonly layout: 'kn' | 'nk';
  /** the bias initializer ([N]) or null (a Gemm without C: one is added) */
  readonly bias: string | null;
}

const f32 = (g: Graph, name: string | undefined): Float32Array | null => {
  const t = name ? g.initializers.get(name) : undefined;
  return t && t.dtype === 'float32' ? (t.data as Float32Array) : null;
};

/** Per-channel min-max quantizer of channel ranges on the activation grid `acfg` (asymmetric unsigned). */
export function channelQuantizers(min: Float64Array, max: Float64Array, acfg: TensorQuantConfig): { scale: Float32Array; zeroPoint: Int32Array } {
  const levels = 2 ** acfg.bits - 1;
  const lo = acfg.signed ? -(2 ** (acfg.bits - 1)) : 0;
  const scale = new Float32Array(min.length);
  const zeroPoint = new Int32Array(min.length);
  for (let c = 0; c < min.length; c++) {
    const a = Math.min(min[c], 0);
    const b = Math.max(max[c], 0);
    const s = Math.fround(b > a ? (b - a) / levels : 1);
    scale[c] = s;
    zeroPoint[c] = lo + Math.round(-a / s);
  }
  return { scale, zeroPoint };
}

/** The RepQ-ViT pass over every qualifying LayerNormalization, per-channel ranges from `calib`. */
export function repqReparameterize(graph: Graph, calib: CalibData, acfg: TensorQuantConfig, maxImages = 256): RepqResult {
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const skipped: { node: string; reason: string }[] = [];
  const uses = (t: string) => consumers.get(t)?.length ?? 0;
  const cands: { ln: Node; cons: Consumer[]; C: number }[] = [];
  for (const ln of graph.nodes) {
    if (ln.op !== 'LayerNormalization') continue;
    const skip = (reason: string) => skipped.push({ node: ln.name, reason });
    const gamma = f32(graph, ln.inputs[1]);
    const beta = f32(graph, ln.inputs[2]);
    const y = ln.outputs[0];
    if (!gamma || !beta) { skip('γ or β is not a float constant'); continue; }
    if (gamma.length !== beta.length || attrNum(ln, 'axis', -1) !== -1) { skip('γ, β not over the last axis alone'); continue; }
    if (uses(ln.inputs[1]!) !== 1 || uses(ln.inputs[2]!) !== 1) { skip('γ or β shared with another node'); continue; }
    if (outputs.has(y) || ln.outputs.filter(Boolean).length !== 1) { skip('its output is a graph output'); continue; }
    const C = gamma.length;
    const cons: Consumer[] = [];
    let why: string | null = null;
    for (const n of consumers.get(y) ?? []) {
      const w = n.inputs[1];
      const wd = f32(graph, w);
      if (n.op === 'MatMul' && n.inputs[0] === y && wd && graph.initializers.get(w)!.shape.length === 2 && graph.initializers.get(w)!.shape[0] === C && uses(w) === 1) {
        const next = consumers.get(n.outputs[0]) ?? [];
        const add = next.length === 1 && next[0].op === 'Add' ? next[0] : null;
        const bias = add ? add.inputs.find((i) => i !== n.outputs[0]) : undefined;
        const bd = f32(graph, bias);
        const N = graph.initializers.get(w)!.shape[1];
        if (!add || !bias || !bd || bd.length !== N || uses(bias) !== 1) { why = `'${n.name}' is not followed by an Add of its own constant [${N}] bias`; break; }
        cons.push({ node: n, weight: w, layout: 'kn', bias });
      } else if (n.op === 'Gemm' && n.inputs[0] === y && wd && uses(w) === 1 && attrNum(n, 'transA', 0) === 0 && attrNum(n, 'alpha', 1) === 1 && attrNum(n, 'beta', 1) === 1) {
        const bias = n.inputs[2] || null;
        if (bias && (!f32(graph, bias) || uses(bias) !== 1)) { why = `'${n.name}''s C is not its own float constant`; break; }
        cons.push({ node: n, weight: w, layout: attrNum(n, 'transB', 0) === 1 ? 'nk' : 'kn', bias });
      } else {
        why = `its output feeds '${n.name}' (${n.op}), not a linear layer with constant weights`;
        break;
      }
    }
    if (why) { skip(why); continue; }
    if (cons.length === 0) { skip('its output is not used'); continue; }
    cands.push({ ln, cons, C });
  }
  if (cands.length === 0) return { graph, layerNorms: [], acts: new Map(), skipped };

  // per-channel (last axis) ranges of every candidate's output on the calibration images
  const probes = probeTensors(graph, calib, cands.map((c) => c.ln.outputs[0]), maxImages);
  const inits = new Map(graph.initializers);
  const nodes = [...graph.nodes];
  const done: RepqLayerNorm[] = [];
  const acts = new Map<string, QParams>();
  let added = 0;
  for (const { ln, cons, C } of cands) {
    const y = ln.outputs[0];
    const min = new Float64Array(C).fill(Infinity);
    const max = new Float64Array(C).fill(-Infinity);
    const d = probes.get(y)!;
    for (let i = 0; i < d.length; i++) {
      const c = i % C;
      if (d[i] < min[c]) min[c] = d[i];
      if (d[i] > max[c]) max[c] = d[i];
    }
    const { scale: sc, zeroPoint: zc } = channelQuantizers(min, max, acfg);
    const lo = acfg.signed ? -(2 ** (acfg.bits - 1)) : 0;
    let ms = 0;
    let mz = 0;
    for (let c = 0; c < C; c++) {
      ms += sc[c];
      mz += zc[c] - lo;
    }
    const st = Math.fround(ms / C);
    const zt = lo + Math.round(mz / C);
    // x'_c = x_c / r_c − b_c with r_c = δ_c/δ̃ and b_c = (z̃ − z_c)·δ̃ (= min_c/r_c − miñ, zero points from the grid's bottom)
    const r = new Float64Array(C);
    const b = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      r[c] = sc[c] / st;
      b[c] = (zt - zc[c]) * st;
    }
    const g = f32(graph, ln.inputs[1])!;
    const be = f32(graph, ln.inputs[2])!;
    const g2 = new Float32Array(C);
    const b2 = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      g2[c] = g[c] / r[c];
      b2[c] = be[c] / r[c] - b[c];
    }
    inits.set(ln.inputs[1]!, { ...inits.get(ln.inputs[1]!)!, data: g2 });
    inits.set(ln.inputs[2]!, { ...inits.get(ln.inputs[2]!)!, data: b2 });
    for (const k of cons) {
      const wt = inits.get(k.weight)!;
      const w = wt.data as Float32Array;
      const N = w.length / C;
      const w2 = new Float32Array(w.length);
      const shift = new Float64Array(N);
      for (let c = 0; c < C; c++) {
        for (let n = 0; n < N; n++) {
          const i = k.layout === 'kn' ? c * N + n : n * C + c;
          w2[i] = w[i] * r[c];
          shift[n] += w2[i] * b[c];
        }
      }
      inits.set(k.weight, { ...wt, data: w2 });
      const bias = new Float32Array(N);
      const old = k.bias ? f32(graph, k.bias)! : null;
      for (let n = 0; n < N; n++) bias[n] = (old ? old[n] : 0) + shift[n];
      if (k.bias) inits.set(k.bias, { ...inits.get(k.bias)!, data: bias });
      else {
        // a Gemm without C gets one
        let name = `${k.node.name}.repq_bias`;
        while (inits.has(name)) name = `${name}_${++added}`;
        inits.set(name, { dtype: 'float32', shape: [N], data: bias } as Tensor);
        const i = nodes.indexOf(k.node);
        nodes[i] = { ...k.node, inputs: [k.node.inputs[0], k.node.inputs[1], name] };
      }
    }
    const q: QParams = { scale: Float32Array.of(st), zeroPoint: Int32Array.of(zt), axis: -1, bits: acfg.bits, signed: acfg.signed, narrow: false };
    acts.set(y, q);
    done.push({ node: ln.name, tensor: y, consumers: cons.map((k) => k.node.name), channelScale: sc, channelZeroPoint: zc, q });
  }
  return { graph: { ...graph, nodes, initializers: inits }, layerNorms: done, acts, skipped };
}
