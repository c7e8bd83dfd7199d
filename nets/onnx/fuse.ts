/**
 * ONNX import, stage 3: pattern fusion over normalized nodes — decomposed LayerNorm
 * (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add → LayerNormalization), decomposed GELU (erf
 * and tanh forms), x·Sigmoid(x) (also x·Sigmoid(x·1), Paddle's export) → Swish,
 * x·HardSigmoid(x; 1/6, 1/2) → HardSwish — only when every constant is the one the pattern needs
 * and the intermediates have no other use; then dead-node removal (folded shape chains leave such
 * nodes). x·Clip(x + 3, 0, 6)/6 stays as written: ppocr-cls's quantization results and its
 * bit-exact export depend on those nodes.
 */
import type { AttrValue, OpType, Tensor } from '../graph.js';
import { ImportState, scalarOf, type WNode } from './state.js';

function near(v: number | undefined, target: number, rel = 1e-6): boolean {
  return v !== undefined && Math.abs(v - target) <= rel * Math.abs(target);
}

/** What the patterns read of the import: constants and the partial shapes known. */
export type FuseContext = Pick<ImportState, 'consts' | 'shapes' | 'constValue'>;

/** Lookups over the node list while fusing: producers, consumers, float scalar constants. */
class Matcher {
  readonly removed = new Set<WNode>();
  readonly replaced = new Map<WNode, WNode>();
  private readonly producer = new Map<string, WNode>();
  private readonly consumers = new Map<string, WNode[]>();

  constructor(
    private readonly st: FuseContext,
    nodes: readonly WNode[],
    private readonly graphOutputs: ReadonlySet<string>,
  ) {
    for (const n of nodes) {
      for (const o of n.outputs) if (o) this.producer.set(o, n);
      for (const i of n.inputs) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) list.push(n);
        else this.consumers.set(i, [n]);
      }
    }
  }

  live(n: WNode | undefined): n is WNode {
    return !!n && n.normal && !this.removed.has(n) && !this.replaced.has(n);
  }

  /** the single live consumer of t, if t has exactly one use and is not a graph output */
  only(t: string, op: string): WNode | undefined {
    if (this.graphOutputs.has(t)) return undefined;
    const c = this.consumers.get(t);
    if (!c || c.length !== 1 || !this.live(c[0]) || c[0].op !== op) return undefined;
    // x*x style nodes read t twice: that is two uses
    if (c[0].inputs.filter((i) => i === t).length !== 1) return undefined;
    return c[0];
  }

  prod(t: string, op: string): WNode | undefined {
    const p = this.producer.get(t);
    return this.live(p) && p.op === op ? p : undefined;
  }

  anyProducer(t: string): WNode | undefined {
    return this.producer.get(t);
  }

  singleUse(t: string): boolean {
    return !this.graphOutputs.has(t) && (this.consumers.get(t)?.length ?? 0) === 1;
  }

  /** t's consumers, one entry per input slot that reads it (x·x counts twice); none for a graph output */
  uses(t: string): readonly WNode[] {
    return this.graphOutputs.has(t) ? [] : (this.consumers.get(t) ?? []);
  }

  /** whether constant c (a scalar of the pattern) has no more axes than x: broadcasting it adds none */
  noWider(c: string | undefined, x: string): boolean {
    const rank = this.st.shapes.get(x)?.length;
    const cr = c ? this.st.consts.get(c)?.shape.length : undefined;
    return rank !== undefined && cr !== undefined && cr <= rank;
  }

  /** a float32 constant */
  tensor(t: string | undefined): Tensor | undefined {
    const c = t ? this.st.consts.get(t) : undefined;
    return c && c.dtype === 'float32' ? c : undefined;
  }

  /** a float32 scalar constant's value */
  k(t: string | undefined): number | undefined {
    if (!t) return undefined;
    const c = this.st.consts.get(t);
    return c && c.dtype === 'float32' ? scalarOf(c) : undefined;
  }

  replace(matched: readonly WNode[], last: WNode, op: OpType, inputs: string | string[], attrs: Record<string, AttrValue>): void {
    for (const m of matched) if (m !== last) this.removed.add(m);
    const ins = typeof inputs === 'string' ? [inputs] : inputs;
    this.replaced.set(last, { name: last.name, op, domain: '', inputs: ins, outputs: [last.outputs[0]], attrs, attrErrors: [], normal: true });
  }
}

function other(n: WNode, t: string): string | undefined {
  return n.inputs[0] === t ? n.inputs[1] : n.inputs[1] === t ? n.inputs[0] : undefined;
}

/** from `t` = 1 + erf(...)/tanh(...): the nodes computing x·t·0.5 in any of the usual orders */
function tail(m: Matcher, x: string, t: string): { nodes: WNode[]; last: WNode } | undefined {
  const c1 = m.only(t, 'Mul');
  if (!c1) return undefined;
  const o = other(c1, t)!;
  if (o === x) {
    const c2 = m.only(c1.outputs[0], 'Mul');
    if (c2 && m.k(other(c2, c1.outputs[0])) === 0.5) return { nodes: [c1, c2], last: c2 };
    return undefined;
  }
  if (m.k(o) === 0.5) {
    const c2 = m.only(c1.outputs[0], 'Mul');
    if (c2 && other(c2, c1.outputs[0]) === x) return { nodes: [c1, c2], last: c2 };
    return undefined;
  }
  const h = m.prod(o, 'Mul');
  if (h && m.singleUse(o) && ((h.inputs[0] === x && m.k(h.inputs[1]) === 0.5) || (h.inputs[1] === x && m.k(h.inputs[0]) === 0.5))) {
    return { nodes: [h, c1], last: c1 };
  }
  return undefined;
}

function plusOne(m: Matcher, t: string): WNode | undefined {
  const add = m.only(t, 'Add');
  return add && m.k(other(add, t)) === 1 ? add : undefined;
}

/** x / √2 (or x · 1/√2) → Erf → + 1 → · x · 0.5 */
function erfGelu(m: Matcher, n: WNode): void {
  const u = m.prod(n.inputs[0], 'Div') ?? m.prod(n.inputs[0], 'Mul');
  if (!u || !m.singleUse(n.inputs[0])) return;
  let x: string | undefined;
  if (u.op === 'Div' && near(m.k(u.inputs[1]), Math.SQRT2)) x = u.inputs[0];
  else if (u.op === 'Mul' && near(m.k(u.inputs[1]), Math.SQRT1_2)) x = u.inputs[0];
  else if (u.op === 'Mul' && near(m.k(u.inputs[0]), Math.SQRT1_2)) x = u.inputs[1];
  if (!x) return;
  const add = plusOne(m, n.outputs[0]);
  const t = add && tail(m, x, add.outputs[0]);
  if (add && t) m.replace([u, n, add, ...t.nodes], t.last, 'Gelu', x, { approximate: 'none' });
}

/** x + 0.044715·x³ → · √(2/π) → Tanh → + 1 → · x · 0.5 */
function tanhGelu(st: FuseContext, m: Matcher, n: WNode): void {
  const scaled = m.prod(n.inputs[0], 'Mul');
  if (!scaled || !m.singleUse(n.inputs[0])) return;
  const c = near(m.k(scaled.inputs[1]), Math.sqrt(2 / Math.PI)) ? 1 : near(m.k(scaled.inputs[0]), Math.sqrt(2 / Math.PI)) ? 0 : -1;
  if (c < 0) return;
  const wName = scaled.inputs[1 - c];
  const w = m.prod(wName, 'Add');
  if (!w || !m.singleUse(wName)) return;
  let match: { x: string; nodes: WNode[] } | undefined;
  for (const xi of [0, 1]) {
    const x = w.inputs[xi];
    const mName = w.inputs[1 - xi];
    const mul = m.prod(mName, 'Mul');
    if (!mul || !m.singleUse(mName)) continue;
    const cubeName = near(m.k(mul.inputs[1]), 0.044715) ? mul.inputs[0] : near(m.k(mul.inputs[0]), 0.044715) ? mul.inputs[1] : undefined;
    if (!cubeName || !m.singleUse(cubeName)) continue;
    const cube = cubeOf(st, m, m.prod(cubeName, 'Mul') ?? m.anyProducer(cubeName), x);
    if (cube) {
      match = { x, nodes: [mul, ...cube] };
      break;
    }
  }
  if (!match) return;
  const add = plusOne(m, n.outputs[0]);
  const t = add && tail(m, match.x, add.outputs[0]);
  if (add && t) m.replace([...match.nodes, w, scaled, n, add, ...t.nodes], t.last, 'Gelu', match.x, { approximate: 'tanh' });
}

/** Nodes computing x³ as Pow(x, 3), (x·x)·x or x·(x·x); undefined when `p` is not that. */
function cubeOf(st: FuseContext, m: Matcher, p: WNode | undefined, x: string): WNode[] | undefined {
  if (!p) return undefined;
  if (p.op === 'Pow' && p.domain === '' && p.inputs[0] === x && scalarOf(st.constValue(p.inputs[1] ?? '')) === 3) return [p];
  if (p.op !== 'Mul' || !p.normal) return undefined;
  const sqName = p.inputs[0] === x ? p.inputs[1] : p.inputs[1] === x ? p.inputs[0] : undefined;
  if (!sqName) return undefined;
  const sq = m.prod(sqName, 'Mul');
  if (sq && m.singleUse(sqName) && sq.inputs[0] === x && sq.inputs[1] === x) return [p, sq];
  return undefined;
}

/** How many trailing axes a ReduceMean (keepdims 1) reduces, when its axes are exactly the last k. */
function trailingAxes(st: FuseContext, r: WNode): number | undefined {
  const axes = r.attrs.axes;
  if (r.attrs.keepdims !== 1 || !Array.isArray(axes) || axes.length === 0) return undefined;
  const rank = st.shapes.get(r.inputs[0])?.length;
  const k = axes.length;
  const norm = (axes as number[]).map((a) => (a >= 0 ? (rank === undefined ? NaN : a - rank) : a));
  const want = new Set(Array.from({ length: k }, (_, i) => -1 - i));
  return norm.every((a) => want.has(a)) && new Set(norm).size === k && (rank === undefined || k <= rank) ? k : undefined;
}

/** Whether a constant is a per-element operand over the last k axes of `x`: its shape, leading 1s aside, is theirs. */
function overTrailing(st: FuseContext, c: Tensor | undefined, x: string, k: number): boolean {
  const shape = st.shapes.get(x);
  // more axes than x would broadcast the output up: not LayerNormalization's shape
  if (!c || !shape || shape.length < k || c.shape.length > shape.length) return false;
  const strip = (s: readonly number[]): readonly number[] => {
    const first = s.findIndex((d) => d !== 1);
    return first < 0 ? [] : s.slice(first);
  };
  const want = shape.slice(shape.length - k);
  if (want.some((d) => d < 0)) return false;
  const a = strip(c.shape);
  const b = strip(want);
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * mean = ReduceMean(x, last k axes) → d = x − mean → Pow(d, 2) (or d·d) → ReduceMean (same axes)
 * → + ε → Sqrt → d / · → · γ [→ + β]: LayerNormalization(x, γ[, β]; axis −k, epsilon ε).
 */
function layerNorm(st: FuseContext, m: Matcher, mean: WNode): void {
  const x = mean.inputs[0];
  const k = trailingAxes(st, mean);
  if (k === undefined) return;
  const sub = m.only(mean.outputs[0], 'Sub');
  if (!sub || sub.inputs[0] !== x || sub.inputs[1] !== mean.outputs[0]) return;
  const d = sub.outputs[0];
  const uses = m.uses(d);
  const sq = uses.find((u) => u.op === 'Pow' || u.op === 'Mul');
  const div = uses.find((u) => u.op === 'Div');
  if (!sq || !div || !m.live(sq) || !m.live(div)) return;
  const isSquare =
    sq.op === 'Pow' ? sq.inputs[0] === d && sq.inputs[1] !== d && scalarOf(st.constValue(sq.inputs[1])) === 2 && uses.length === 2 : sq.inputs[0] === d && sq.inputs[1] === d && uses.length === 3;
  if (!isSquare) return;
  const variance = m.only(sq.outputs[0], 'ReduceMean');
  if (!variance || variance.inputs[0] !== sq.outputs[0] || trailingAxes(st, variance) !== k) return;
  const addEps = m.only(variance.outputs[0], 'Add');
  const eps = addEps && m.k(other(addEps, variance.outputs[0]));
  if (!addEps || eps === undefined || !(eps >= 0 && eps < Infinity)) return;
  const sqrt = m.only(addEps.outputs[0], 'Sqrt');
  if (!sqrt || m.only(sqrt.outputs[0], 'Div') !== div || div.inputs[0] !== d || div.inputs[1] !== sqrt.outputs[0]) return;
  const mul = m.only(div.outputs[0], 'Mul');
  const gamma = mul && other(mul, div.outputs[0]);
  if (!mul || !gamma || !overTrailing(st, m.tensor(gamma), x, k)) return;
  const addB = m.only(mul.outputs[0], 'Add');
  const beta = addB && other(addB, mul.outputs[0]);
  const withBias = !!beta && overTrailing(st, m.tensor(beta), x, k);
  const nodes = [mean, sub, sq, variance, addEps, sqrt, div, mul];
  if (withBias) m.replace([...nodes, addB!], addB!, 'LayerNormalization', [x, gamma, beta!], { axis: -k, epsilon: eps });
  else m.replace(nodes, mul, 'LayerNormalization', [x, gamma], { axis: -k, epsilon: eps });
}

/**
 * The node list with every matched pattern replaced by its fused node. `geluOnly`: just the two
 * GELU chains (the quantized importer's float islands, where the other fusions would change which
 * integer layers a QDQ model becomes).
 */
export function fuse(st: FuseContext, nodes: readonly WNode[], graphOutputs: ReadonlySet<string>, geluOnly = false): WNode[] {
  const m = new Matcher(st, nodes, graphOutputs);
  for (const n of nodes) {
    if (!m.live(n)) continue;
    if (n.op === 'Erf') erfGelu(m, n);
    else if (n.op === 'Tanh') tanhGelu(st, m, n);
    else if (n.op === 'ReduceMean' && !geluOnly) layerNorm(st, m, n);
  }
  for (const n of geluOnly ? [] : nodes) {
    if (!m.live(n)) continue;
    const isSig = n.op === 'Sigmoid';
    const isHardSig = n.op === 'HardSigmoid' && n.attrs.alpha === Math.fround(1 / 6) && n.attrs.beta === 0.5;
    if (!isSig && !isHardSig) continue;
    const x = n.inputs[0];
    const mul = m.only(n.outputs[0], 'Mul');
    if (!mul) continue;
    if (other(mul, n.outputs[0]) === x) {
      m.replace([n, mul], mul, isSig ? 'Swish' : 'HardSwish', x, {});
      continue;
    }
    // x·Sigmoid(x·1): the ·1 is exact, so this is Swish of x too
    const one = isSig ? m.prod(x, 'Mul') : undefined;
    const y = one && (m.k(one.inputs[1]) === 1 ? one.inputs[0] : m.k(one.inputs[0]) === 1 ? one.inputs[1] : undefined);
    // and the 1 must not add axes (a [1,1,1] one would broadcast a vector up)
    if (one && y && m.noWider(other(one, y), y) && m.singleUse(x) && other(mul, n.outputs[0]) === y) m.replace([one, n, mul], mul, 'Swish', y, {});
  }
  const out: WNode[] = [];
  for (const n of nodes) {
    if (m.removed.has(n)) continue;
    out.push(m.replaced.get(n) ?? n);
  }
  return out;
}

/** Drops nodes whose outputs nothing reads (folded shape chains leave such nodes behind). */
export function prune(nodes: readonly WNode[], graphOutputs: ReadonlySet<string>): WNode[] {
  const needed = new Set(graphOutputs);
  const keep: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    keep[i] = true;
    for (const inp of n.inputs) if (inp) needed.add(inp);
  }
  return nodes.filter((_, i) => keep[i]);
}
