/**
 * Calibration: runs the FP32 graph (nets/fp32) over the calibration images in batches and keeps,
 * for every tensor the plan quantizes, the statistics range setting needs — min / max and a
 * growing histogram (ranges.ts Histogram, one pass), optionally per-channel min / max (the
 * debugging workflow's range plots); per-input-channel means of each linear layer's input
 * (empirical bias correction); and the logits of every image (cross-entropy range).
 */
import { batchInput, type SideInputs } from '../nets/eval.js';
import { runFp32 } from '../nets/fp32.js';
import type { Graph, Tensor } from '../nets/graph.js';
import { InvariantError } from '../nets/errors.js';
import type { QuantPlan } from './build.js';
import { Histogram } from './ranges.js';

/** Images as nets/data provides them: `count` images of per-image `shape` ([C, H, W]). */
export interface CalibData {
  readonly images: Float32Array;
  readonly shape: readonly number[];
  readonly count: number;
  /** the graph's other inputs, per sample in the images' order (a diffusion UNet's timestep) */
  readonly side?: SideInputs;
}

/** The first n samples of a calibration set (its side inputs cut alike). */
export function calibPrefix(data: CalibData, n: number): CalibData {
  const per = data.shape.reduce((a, b) => a * b, 1);
  const side = data.side && Object.fromEntries(Object.entries(data.side).map(([k, v]) => [k, { shape: v.shape, data: v.data.subarray(0, n * v.shape.reduce((a, b) => a * b, 1)) }]));
  return { images: data.images.subarray(0, n * per), shape: data.shape, count: n, ...(side && { side }) };
}

export interface TensorStats {
  readonly hist: Histogram;
  /** per channel (axis 1) when requested */
  readonly channelMin?: Float64Array;
  readonly channelMax?: Float64Array;
}

export interface CalibStats {
  readonly tensors: ReadonlyMap<string, TensorStats>;
  /** per input channel mean, by linear layer name */
  readonly inputMeans: ReadonlyMap<string, Float64Array>;
  /** the plan's logits for every image, [count, classes] */
  readonly logits: { readonly data: Float32Array; readonly classes: number } | null;
  readonly samples: number;
}

export interface CalibrateOptions {
  /** images per FP32 call */
  readonly batch?: number;
  readonly channelRanges?: boolean;
  readonly inputMeans?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

class ChannelAcc {
  readonly sum: Float64Array;
  n = 0;
  constructor(readonly ch: number) {
    this.sum = new Float64Array(ch);
  }
}

/** Channel count and inner size of an activation (axis 1; a 2-D [M, K] tensor: K channels, inner 1). */
function layout(t: Tensor): { outer: number; ch: number; inner: number } {
  const s = t.shape;
  if (s.length < 2) return { outer: 1, ch: s[0] ?? 1, inner: 1 };
  let inner = 1;
  for (let i = 2; i < s.length; i++) inner *= s[i];
  return { outer: s[0], ch: s[1], inner };
}

/** Statistics of every tensor `plan` quantizes, over `data` (FP32 run of plan.graph). */
export function calibrate(plan: QuantPlan, data: CalibData, opts: CalibrateOptions = {}): CalibStats {
  if (data.count < 1) throw new InvariantError('calibration needs at least one image');
  const graph: Graph = plan.graph;
  const batch = opts.batch ?? 64;
  const wanted = new Set(plan.quantized);
  const tensors = new Map<string, TensorStats>();
  for (const t of wanted) tensors.set(t, { hist: new Histogram() });
  // per linear layer, the tensor whose channel means it needs
  const meanOf = new Map<string, string[]>();
  if (opts.inputMeans) for (const l of plan.linears) (meanOf.get(l.input) ?? meanOf.set(l.input, []).get(l.input)!).push(l.name);
  const means = new Map<string, ChannelAcc>();
  const logitsName = plan.logits;
  let logits: Float32Array | null = null;
  let classes = 0;

  const observe = (name: string, t: Tensor, start: number, n: number) => {
    const d = t.data as Float32Array;
    const st = tensors.get(name);
    if (st) {
      st.hist.add(d);
      if (opts.channelRanges) {
        const { outer, ch, inner } = layout(t);
        let s = st as { channelMin?: Float64Array; channelMax?: Float64Array };
        if (!s.channelMin) {
          s = { hist: st.hist, channelMin: new Float64Array(ch).fill(Infinity), channelMax: new Float64Array(ch).fill(-Infinity) } as TensorStats;
          tensors.set(name, s as TensorStats);
        }
        const mn = s.channelMin!;
        const mx = s.channelMax!;
        let i = 0;
        for (let o = 0; o < outer; o++) {
          for (let c = 0; c < ch; c++) {
            let lo = mn[c];
            let hi = mx[c];
            for (const end = i + inner; i < end; i++) {
              const v = d[i];
              if (v < lo) lo = v;
              if (v > hi) hi = v;
            }
            mn[c] = lo;
            mx[c] = hi;
          }
        }
      }
    }
    if (meanOf.has(name)) {
      const { outer, ch, inner } = layout(t);
      const rows = t.shape.length > 2 ? outer : d.length / ch;
      const acc = means.get(name) ?? means.set(name, new ChannelAcc(ch)).get(name)!;
      const sum = acc.sum;
      let i = 0;
      for (let o = 0; o < rows; o++) {
        for (let c = 0; c < ch; c++) {
          let s = 0;
          for (const end = i + inner; i < end; i++) s += d[i];
          sum[c] += s;
        }
      }
      acc.n += rows * inner;
    }
    if (name === logitsName) {
      classes = d.length / n;
      logits ??= new Float32Array(data.count * classes);
      logits.set(d, start * classes);
    }
  };

  for (let s = 0; s < data.count; s += batch) {
    const n = Math.min(batch, data.count - s);
    const feeds = batchInput(graph, data.images, data.shape, s, n, data.side);
    for (const inp of graph.inputs) observe(inp.name, feeds[inp.name], s, n);
    runFp32(graph, feeds, {
      onNode: (node, outs) => {
        node.outputs.forEach((o, i) => {
          if (o && (wanted.has(o) || meanOf.has(o) || o === logitsName)) observe(o, outs[i], s, n);
        });
      },
    });
    opts.onProgress?.(s + n, data.count);
  }
  const inputMeans = new Map<string, Float64Array>();
  for (const [t, layers] of meanOf) {
    const acc = means.get(t);
    if (!acc) continue;
    const m = new Float64Array(acc.ch);
    for (let c = 0; c < acc.ch; c++) m[c] = acc.sum[c] / acc.n;
    for (const l of layers) inputMeans.set(l, m);
  }
  return { tensors, inputMeans, logits: logits ? { data: logits, classes } : null, samples: data.count };
}
