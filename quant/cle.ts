/**
 * Cross-layer equalization with high-bias absorption (Nagel et al. 2019 "Data-Free Quantization
 * Through Weight Equalization and Bias Correction"; white paper §4.1).
 *
 * For two linear layers joined through positive-homogeneous ops (f(x/s) = f(x)/s for s > 0: ReLU,
 * MaxPool, nothing at all), output channel i of the first is divided by s_i and input channel i of
 * the second multiplied by s_i; with s_i = sqrt(r1_i / r2_i) (r = per-channel max |W|) both channel
 * ranges become sqrt(r1_i·r2_i), which makes per-tensor weight quantization lose less.
 *
 * Sets: conv–conv (and gemm–gemm) pairs, and conv–depthwise–conv triples. Chains overlap in
 * MobileNet-style nets (pw1 ends one triple and starts the next), so all pairs are equalized in
 * sweeps over the whole graph until no scale moves by more than `tolerance` (or `maxIterations`).
 * Scales are accumulated per channel in float64 and applied to the original weights once, so the
 * number of sweeps adds no float32 rounding.
 *
 * ReLU6 (Clip 0…6) is not positive-homogeneous: clip(x/s, 0, 6) ≠ clip(x, 0, 6)/s. Like AIMET
 * (`equalize_model` replaces ReLU6 by ReLU before equalizing) every Clip(0, 6) between two
 * equalized layers becomes a Relu node (`relu6: 'replace'`, the default; listed in
 * `relu6Replaced`). This changes the FP32 function wherever a pre-activation exceeded 6 — the
 * activation quantizer's range clips it again after calibration. `relu6: 'skip'` instead leaves
 * ReLU6-joined layers unequalized, which keeps the function exactly. `relu6: 'clip'` equalizes
 * through ReLU6 and keeps the function too: after channel i of layer 1 is divided by s_i its
 * pre-activation is x_i/s_i, and clip(x_i, 0, 6)/s_i = clip(x_i/s_i, 0, 6/s_i), so the Clip gets
 * one upper bound per channel (`channelMax`, nets/graph.ts; listed in `relu6Clipped`) — which the
 * integer model carries as per-channel clamp bounds of the requant unit (qnet/requant.ts), a
 * parameter per output channel that an accelerator stores and moves (sim/engine/workload.ts).
 *
 * High-bias absorption (after the scales settle): with the first layer's pre-activation ~N(β, γ²)
 * from its folded BN, c_i = max(0, β_i − 3γ_i) is subtracted from its bias and W2·c added to the
 * second layer's bias. Exact whenever the pre-activation stays ≥ c_i (ReLU linear there), which the
 * 3γ margin makes hold for ~99.9 % of a Gaussian. Applied only through a ReLU (c passes unchanged
 * through ReLU-then-MaxPool too) — or a per-channel ReLU6 (`clip`), whose bound moves down by c_i
 * with the pre-activation (clip(x − c, 0, B − c) = clip(x, 0, B) − c where x ≥ c), c_i capped at
 * B_i so the bound stays ≥ 0. Into a zero-padded second layer (MobileNet's expand → depthwise)
 * a border tap reads 0, not x − c, so W2·c over-compensates there: `padding: 'exact'` (default)
 * skips those pairs, `padding: 'dfq'` absorbs anyway as DFQ does (see CleOptions for what it costs). The BN statistics of the first layer are updated (β − c) and returned.
 */
import { attrInts, attrNum, numel, type Graph, type Node, type Tensor } from '../nets/graph.js';
import type { FoldedBn } from './bnfold.js';

export interface CleOptions {
  /** move c = max(0, β − 3γ) from layer 1's bias into layer 2's (default true) */
  highBiasAbsorption?: boolean;
  /** sweeps over all pairs at most (default 100) */
  maxIterations?: number;
  /** stop when every |s_i − 1| of a sweep is below this (default 1e-5) */
  tolerance?: number;
  /**
   * ReLU6 between two layers: replace it by ReLU and equalize (AIMET, default), leave the pair
   * alone, or equalize and clip each channel at 6/s_i (exact; per-channel clamp bounds)
   */
  relu6?: 'replace' | 'skip' | 'clip';
  /**
   * High-bias absorption into a zero-padded second layer: 'exact' (default) absorbs only into
   * unpadded layers; 'dfq' absorbs anyway, as DFQ does — the border taps read 0 where the shifted
   * input would have been −c. On the pretrained MobileNetV2 (13 photos, FP32 outputs against CLE
   * without absorption) 'exact' keeps 18.7 dB, 'dfq' 3.2 dB: 7×7 maps are mostly border.
   */
  padding?: 'dfq' | 'exact';
}

export interface CleSet {
  first: string;
  second: string;
  /** conv–depthwise–conv: the last conv (`second` is the depthwise one) */
  third?: string;
  /** sweeps in which this set's scales still moved by more than the tolerance, plus the settling one */
  iterations: number;
}

export interface CleResult {
  graph: Graph;
  bn: ReadonlyMap<string, FoldedBn>;
  pairs: readonly CleSet[];
  /** names of the Clip(0, 6) nodes turned into Relu */
  relu6Replaced: readonly string[];
  /** names of the Clip(0, 6) nodes given per-channel bounds (`relu6: 'clip'`) */
  relu6Clipped: readonly string[];
  /** per set, the largest c_i absorbed (0 when high-bias absorption did not apply) */
  absorbed: ReadonlyMap<string, number>;
}

/** A Conv or Gemm layer being equalized: original weights, accumulated per-channel factors. */
interface Lin {
  node: Node;
  conv: boolean;
  w0: Float32Array;
  shape: readonly number[];
  /** effective bias (float64: scales and absorbed shifts accumulate exactly) */
  b: Float64Array;
  cout: number;
  cin: number;
  /** conv: input channels per group; gemm: K */
  icg: number;
  ocg: number;
  taps: number;
  /** gemm: B stored [N, K] (true) or [K, N] */
  transB: boolean;
  /** Gemm α folded into the weights on output */
  alpha: number;
  padded: boolean;
  outScale: Float64Array;
  inScale: Float64Array;
}

interface Pair {
  a: Lin;
  b: Lin;
  via: Node[];
  hbaOk: boolean;
}

function isRelu6(n: Node): boolean {
  return n.op === 'Clip' && attrNum(n, 'min', -Infinity) === 0 && attrNum(n, 'max', Infinity) === 6;
}

function isReluLike(n: Node): boolean {
  return n.op === 'Relu' || (n.op === 'Clip' && attrNum(n, 'min', -Infinity) === 0 && attrNum(n, 'max', Infinity) === Infinity);
}

function makeLin(node: Node, inits: ReadonlyMap<string, Tensor>): Lin | undefined {
  if (node.op !== 'Conv' && node.op !== 'Gemm') return undefined;
  const wt = inits.get(node.inputs[1]);
  if (!wt || !(wt.data instanceof Float32Array)) return undefined;
  const conv = node.op === 'Conv';
  let cout: number, cin: number, icg: number, ocg: number, taps: number;
  let transB = false;
  let padded = false;
  if (conv) {
    if (wt.shape.length !== 4) return undefined;
    const group = attrNum(node, 'group', 1);
    cout = wt.shape[0];
    icg = wt.shape[1];
    cin = icg * group;
    ocg = cout / group;
    taps = wt.shape[2] * wt.shape[3];
    padded = attrInts(node, 'pads', [0, 0, 0, 0]).some((p) => p !== 0) || (typeof node.attrs.auto_pad === 'string' && node.attrs.auto_pad.startsWith('SAME'));
  } else {
    if (wt.shape.length !== 2 || attrNum(node, 'transA', 0) !== 0) return undefined;
    transB = attrNum(node, 'transB', 0) === 1;
    cout = transB ? wt.shape[0] : wt.shape[1];
    cin = transB ? wt.shape[1] : wt.shape[0];
    icg = cin;
    ocg = cout;
    taps = 1;
  }
  const b = new Float64Array(cout);
  if (node.inputs[2]) {
    const bt = inits.get(node.inputs[2]);
    if (!bt || !(bt.data instanceof Float32Array)) return undefined;
    const n = numel(bt.shape);
    if (n !== cout || (bt.shape.length > 0 && bt.shape[bt.shape.length - 1] !== cout)) return undefined;
    const beta = conv ? 1 : attrNum(node, 'beta', 1);
    for (let i = 0; i < cout; i++) b[i] = beta * bt.data[i];
  }
  return {
    node,
    conv,
    w0: wt.data,
    shape: wt.shape,
    b,
    cout,
    cin,
    icg,
    ocg,
    taps,
    transB,
    alpha: conv ? 1 : attrNum(node, 'alpha', 1),
    padded,
    outScale: new Float64Array(cout).fill(1),
    inScale: new Float64Array(cin).fill(1),
  };
}

/** flat weight index of (output o, local input j, tap t) */
function widx(l: Lin, o: number, j: number, t: number): number {
  if (l.conv) return (o * l.icg + j) * l.taps + t;
  return l.transB ? o * l.cin + j : j * l.cout + o;
}

/** input channel read by local input j of output o */
function inChannel(l: Lin, o: number, j: number): number {
  return l.conv ? Math.floor(o / l.ocg) * l.icg + j : j;
}

/** max |W_eff| over output channel o */
function outRange(l: Lin, o: number): number {
  let r = 0;
  const inBase = inChannel(l, o, 0);
  for (let j = 0; j < l.icg; j++) {
    const f = l.inScale[inBase + j];
    for (let t = 0; t < l.taps; t++) {
      const v = Math.abs(l.w0[widx(l, o, j, t)] * f);
      if (v > r) r = v;
    }
  }
  return r * l.outScale[o] * Math.abs(l.alpha);
}

/** max |W_eff| over input channel i */
function inRange(l: Lin, i: number): number {
  const g = Math.floor(i / l.icg);
  const j = i - g * l.icg;
  let r = 0;
  for (let o = g * l.ocg; o < (g + 1) * l.ocg; o++) {
    const f = l.outScale[o];
    for (let t = 0; t < l.taps; t++) {
      const v = Math.abs(l.w0[widx(l, o, j, t)] * f);
      if (v > r) r = v;
    }
  }
  return r * l.inScale[i] * Math.abs(l.alpha);
}

function isDepthwise(l: Lin): boolean {
  return l.conv && l.icg === 1 && l.ocg === 1;
}

/**
 * A channel that the next layer never reads (all its weights on that input are 0) is dead: its
 * values are multiplied by zero. Scaling it by 0 (positive homogeneity holds at s = 0 too:
 * relu(0·x) = 0·relu(x)) keeps the function exactly and stops its weights from setting the
 * per-tensor range the live channels are quantized with. Returns 1 (it moved) the first time.
 */
function silence(l: Lin, i: number): number {
  if (l.outScale[i] === 0) return 0;
  l.outScale[i] = 0;
  l.b[i] = 0;
  return 1;
}

/** One equalization step of a pair; returns max |s_i − 1|. */
function equalizePair(p: Pair): number {
  let moved = 0;
  for (let i = 0; i < p.a.cout; i++) {
    const r1 = outRange(p.a, i);
    const r2 = inRange(p.b, i);
    if (r1 > 0 && !(r2 > 0)) {
      moved = Math.max(moved, silence(p.a, i));
      continue;
    }
    if (!(r1 > 0) || !(r2 > 0)) continue; // layer 1's channel is a constant (its bias): nothing to balance
    const s = Math.sqrt(r1 / r2);
    p.a.outScale[i] /= s;
    p.a.b[i] /= s;
    p.b.inScale[i] *= s;
    moved = Math.max(moved, Math.abs(s - 1));
  }
  return moved;
}

/**
 * conv → depthwise → conv in one step (AIMET's closed form): the depthwise channel's range is both
 * its input and its output range, so channel i's three ranges r1, r_dw, r3 all become
 * cbrt(r1·r_dw·r3). Dead channels (DFQ's formula divides by zero there; MobileNetV2 has them):
 * - r3 = 0: the depthwise output is never read, so neither is layer 1's channel (its only reader is
 *   the depthwise filter): both are silenced;
 * - r_dw = 0: the depthwise channel outputs its bias whatever its input: layer 1's channel is
 *   silenced, the depthwise one stays (a constant has no range to balance);
 * - r1 = 0: layer 1's channel is a constant (its bias), the depthwise–conv half is equalized as a pair.
 * Returns max |s − 1| over both scalings.
 */
function equalizeTriple(p: Pair, q: Pair): number {
  let moved = 0;
  const dw = p.b;
  for (let i = 0; i < p.a.cout; i++) {
    const r1 = outRange(p.a, i);
    const rd = outRange(dw, i);
    const r3 = inRange(q.b, i);
    if (!(r3 > 0)) {
      moved = Math.max(moved, r1 > 0 ? silence(p.a, i) : 0, rd > 0 ? silence(dw, i) : 0);
      continue;
    }
    if (!(rd > 0)) {
      if (r1 > 0) moved = Math.max(moved, silence(p.a, i));
      continue;
    }
    if (!(r1 > 0)) {
      const s = Math.sqrt(rd / r3);
      dw.outScale[i] /= s;
      dw.b[i] /= s;
      q.b.inScale[i] *= s;
      moved = Math.max(moved, Math.abs(s - 1));
      continue;
    }
    const target = Math.cbrt(r1 * rd * r3);
    const s1 = r1 / target;
    p.a.outScale[i] /= s1;
    p.a.b[i] /= s1;
    dw.inScale[i] *= s1;
    const s2 = (rd * s1) / target;
    dw.outScale[i] /= s2;
    dw.b[i] /= s2;
    q.b.inScale[i] *= s2;
    moved = Math.max(moved, Math.abs(s1 - 1), Math.abs(s2 - 1));
  }
  return moved;
}

export function crossLayerEqualize(graph: Graph, bn: ReadonlyMap<string, FoldedBn>, opts: CleOptions = {}): CleResult {
  const hba = opts.highBiasAbsorption ?? true;
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-5;
  const relu6Mode = opts.relu6 ?? 'replace';
  const exactPadding = (opts.padding ?? 'exact') === 'exact';

  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i !== '') consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const lins = new Map<string, Lin>();
  const linOf = (n: Node): Lin | undefined => {
    let l = lins.get(n.name);
    if (!l) {
      l = makeLin(n, graph.initializers);
      if (l) lins.set(n.name, l);
    }
    return l;
  };

  // find pairs: a layer, then a single-consumer chain of homogeneous ops, then a layer reading it
  const pairs: Pair[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'Conv' && node.op !== 'Gemm') continue;
    if (!makeLin(node, graph.initializers)) continue;
    const via: Node[] = [];
    let t = node.outputs[0];
    let next: Node | undefined;
    for (;;) {
      const cons = consumers.get(t) ?? [];
      if (graphOutputs.has(t) || cons.length !== 1) break;
      const n = cons[0];
      const passes =
        isReluLike(n) || (relu6Mode !== 'skip' && isRelu6(n)) || (n.op === 'MaxPool' && (n.outputs.length === 1 || n.outputs[1] === ''));
      if (passes) {
        via.push(n);
        t = n.outputs[0];
        continue;
      }
      if ((n.op === 'Conv' || n.op === 'Gemm') && n.inputs[0] === t) next = n;
      break;
    }
    if (!next) continue;
    const a = linOf(node);
    const b = linOf(next);
    if (!a || !b || a.cout !== b.cin) continue;
    const throughRelu = via.some((n) => isReluLike(n) || isRelu6(n)) && via.every((n) => isReluLike(n) || isRelu6(n) || n.op === 'MaxPool');
    pairs.push({ a, b, via, hbaOk: throughRelu && (!exactPadding || !b.padded) });
  }

  // group into sets: a → depthwise → c becomes one triple
  const sets: { pairs: Pair[]; info: CleSet }[] = [];
  const used = new Set<Pair>();
  for (const p of pairs) {
    if (used.has(p) || !isDepthwise(p.b)) continue;
    const q = pairs.find((x) => x.a === p.b && !used.has(x));
    if (!q) continue;
    used.add(p);
    used.add(q);
    sets.push({ pairs: [p, q], info: { first: p.a.node.name, second: p.b.node.name, third: q.b.node.name, iterations: 0 } });
  }
  for (const p of pairs) {
    if (used.has(p)) continue;
    sets.push({ pairs: [p], info: { first: p.a.node.name, second: p.b.node.name, iterations: 0 } });
  }
  const order = new Map(graph.nodes.map((n, i) => [n.name, i]));
  sets.sort((x, y) => order.get(x.info.first)! - order.get(y.info.first)!);

  const settled = new Array<boolean>(sets.length).fill(false);
  for (let sweep = 1; sweep <= maxIterations; sweep++) {
    let any = false;
    sets.forEach((set, k) => {
      const moved = set.pairs.length === 2 ? equalizeTriple(set.pairs[0], set.pairs[1]) : equalizePair(set.pairs[0]);
      if (moved > tolerance) {
        any = true;
        settled[k] = false;
      }
      if (!settled[k]) set.info.iterations = sweep;
      if (moved <= tolerance) settled[k] = true;
    });
    if (!any) break;
  }

  // high-bias absorption, on the settled scales
  const bnOut = new Map(bn);
  const absorbed = new Map<string, number>();
  const effBn = (l: Lin): { gamma: Float64Array; beta: Float64Array } | undefined => {
    const f = bn.get(l.node.name);
    if (!f || f.beta.length !== l.cout) return undefined;
    const gamma = new Float64Array(l.cout);
    const beta = new Float64Array(l.cout);
    for (let i = 0; i < l.cout; i++) {
      gamma[i] = Math.abs(f.gamma[i] * l.outScale[i]);
      beta[i] = f.beta[i] * l.outScale[i];
    }
    return { gamma, beta };
  };
  const shifts = new Map<string, Float64Array>(); // per layer: total c absorbed out of it
  // per layer: bias added into it by absorption from its predecessor (W2·c), which moves its
  // pre-activation mean too — a depthwise layer receives from the expand conv before it gives to
  // the project conv
  const added = new Map<string, Float64Array>();
  for (const set of sets) {
    let maxC = 0;
    for (const p of set.pairs) {
      if (!hba || !p.hbaOk) continue;
      const stats = effBn(p.a);
      if (!stats) continue;
      const c = new Float64Array(p.a.cout);
      const prev = shifts.get(p.a.node.name);
      const gained = added.get(p.a.node.name);
      // through a per-channel ReLU6 the bound B_i − c_i must stay ≥ 0 (B_i = 6/s_i, less what was absorbed before)
      const capped = relu6Mode === 'clip' && p.via.some(isRelu6);
      for (let i = 0; i < p.a.cout; i++) {
        c[i] = Math.max(0, stats.beta[i] + (gained ? gained[i] : 0) - (prev ? prev[i] : 0) - 3 * stats.gamma[i]);
        if (capped) c[i] = Math.min(c[i], Math.max(0, 6 * p.a.outScale[i] - (prev ? prev[i] : 0)));
      }
      const into = absorb(p, c);
      const acc = added.get(p.b.node.name) ?? new Float64Array(p.b.cout);
      for (let o = 0; o < p.b.cout; o++) acc[o] += into[o];
      added.set(p.b.node.name, acc);
      const tot = prev ?? new Float64Array(p.a.cout);
      for (let i = 0; i < p.a.cout; i++) {
        tot[i] += c[i];
        maxC = Math.max(maxC, c[i]);
      }
      shifts.set(p.a.node.name, tot);
    }
    absorbed.set(set.info.first, maxC);
  }
  for (const l of lins.values()) {
    const stats = effBn(l);
    if (!stats) continue;
    const shift = shifts.get(l.node.name);
    const gained = added.get(l.node.name);
    const gamma = new Float32Array(l.cout);
    const beta = new Float32Array(l.cout);
    for (let i = 0; i < l.cout; i++) {
      gamma[i] = stats.gamma[i];
      beta[i] = stats.beta[i] + (gained ? gained[i] : 0) - (shift ? shift[i] : 0);
    }
    bnOut.set(l.node.name, Object.freeze({ gamma, beta }));
  }

  // write the equalized layers back as new initializers
  const inits = new Map(graph.initializers);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; inits.has(name); i++) name = `${base}_${i}`;
    return name;
  };
  const newNodes = new Map<string, Node>();
  const touched = new Set<Lin>();
  for (const s of sets) for (const p of s.pairs) touched.add(p.a).add(p.b);
  for (const l of touched) {
    const w = new Float32Array(l.w0.length);
    for (let o = 0; o < l.cout; o++) {
      const inBase = inChannel(l, o, 0);
      const fo = l.outScale[o] * l.alpha;
      for (let j = 0; j < l.icg; j++) {
        const f = fo * l.inScale[inBase + j];
        for (let t = 0; t < l.taps; t++) {
          const k = widx(l, o, j, t);
          w[k] = l.w0[k] * f;
        }
      }
    }
    const wName = fresh(`${l.node.name}_W_cle`);
    inits.set(wName, { dtype: 'float32', shape: [...l.shape], data: w });
    const bName = fresh(`${l.node.name}_B_cle`);
    inits.set(bName, { dtype: 'float32', shape: [l.cout], data: Float32Array.from(l.b) });
    const attrs = l.conv ? l.node.attrs : { ...l.node.attrs, alpha: 1, beta: 1 };
    newNodes.set(l.node.name, { ...l.node, inputs: [l.node.inputs[0], wName, bName], attrs });
  }
  const relu6Replaced: string[] = [];
  const relu6Clipped: string[] = [];
  for (const s of sets) {
    for (const p of s.pairs) {
      for (const n of p.via) {
        if (!isRelu6(n) || newNodes.has(n.name)) continue;
        if (relu6Mode === 'clip') {
          newNodes.set(n.name, { ...n, attrs: channelClip(p.a, shifts.get(p.a.node.name)) });
          relu6Clipped.push(n.name);
        } else {
          newNodes.set(n.name, { name: n.name, op: 'Relu', inputs: [n.inputs[0]], outputs: [...n.outputs], attrs: {} });
          relu6Replaced.push(n.name);
        }
      }
    }
  }
  const nodes = graph.nodes.map((n) => newNodes.get(n.name) ?? n);
  const live = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) live.add(i);
  for (const name of [...inits.keys()]) if (!live.has(name)) inits.delete(name);

  return { graph: { ...graph, nodes, initializers: inits }, bn: bnOut, pairs: sets.map((s) => s.info), relu6Replaced, relu6Clipped, absorbed };
}

/**
 * The attributes of a ReLU6 after layer `a` once its output channels are scaled by outScale_i (=
 * 1/s_i) and shifted down by `shift` (high-bias absorption): Clip(0, ·) with channel i's bound
 * 6·outScale_i − shift_i, rounded to float32 once (the pre-activation it cuts is float32).
 */
function channelClip(a: Lin, shift: Float64Array | undefined): Node['attrs'] {
  const bounds = new Float32Array(a.cout);
  let max = 0;
  for (let i = 0; i < a.cout; i++) {
    bounds[i] = Math.max(0, 6 * a.outScale[i] - (shift ? shift[i] : 0));
    max = Math.max(max, bounds[i]);
  }
  return { min: 0, max, channelMax: { dtype: 'float32', shape: [a.cout], data: bounds } };
}

/** b1 −= c; b2 += W2_eff·c (summed over the taps, within the group of each output); returns what b2 gained. */
function absorb(p: Pair, c: Float64Array): Float64Array {
  const { a, b } = p;
  for (let i = 0; i < a.cout; i++) a.b[i] -= c[i];
  const into = new Float64Array(b.cout);
  for (let o = 0; o < b.cout; o++) {
    const inBase = inChannel(b, o, 0);
    let add = 0;
    for (let j = 0; j < b.icg; j++) {
      const ci = c[inBase + j];
      if (ci === 0) continue;
      let wsum = 0;
      for (let t = 0; t < b.taps; t++) wsum += b.w0[widx(b, o, j, t)];
      add += wsum * b.inScale[inBase + j] * ci;
    }
    into[o] = add * b.outScale[o] * b.alpha;
    b.b[o] += into[o];
  }
  return into;
}
