/**
 * ONNX import, stage 3: pattern fusion over normalized nodes — decomposed GELU (erf and tanh
 * forms), x·Sigmoid(x) → Swish, x·HardSigmoid(x; 1/6, 1/2) → HardSwish — only when the
 * intermediates have no other use; then dead-node removal (folded shape chains leave such nodes).
 */
import type { AttrValue, OpType } from '../graph.js';
import { ImportState, scalarOf, type WNode } from './state.js';

function near(v: number | undefined, target: number, rel = 1e-6): boolean {
  return v !== undefined && Math.abs(v - target) <= rel * Math.abs(target);
}

/** Lookups over the node list while fusing: producers, consumers, float scalar constants. */
class Matcher {
  readonly removed = new Set<WNode>();
  readonly replaced = new Map<WNode, WNode>();
  private readonly producer = new Map<string, WNode>();
  private readonly consumers = new Map<string, WNode[]>();

  constructor(
    private readonly st: ImportState,
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

  /** a float32 scalar constant's value */
  k(t: string | undefined): number | undefined {
    if (!t) return undefined;
    const c = this.st.consts.get(t);
    return c && c.dtype === 'float32' ? scalarOf(c) : undefined;
  }

  replace(matched: readonly WNode[], last: WNode, op: OpType, input: string, attrs: Record<string, AttrValue>): void {
    for (const m of matched) if (m !== last) this.removed.add(m);
    this.replaced.set(last, { name: last.name, op, domain: '', inputs: [input], outputs: [last.outputs[0]], attrs, attrErrors: [], normal: true });
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
function tanhGelu(st: ImportState, m: Matcher, n: WNode): void {
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
function cubeOf(st: ImportState, m: Matcher, p: WNode | undefined, x: string): WNode[] | undefined {
  if (!p) return undefined;
  if (p.op === 'Pow' && p.domain === '' && p.inputs[0] === x && scalarOf(st.constValue(p.inputs[1] ?? '')) === 3) return [p];
  if (p.op !== 'Mul' || !p.normal) return undefined;
  const sqName = p.inputs[0] === x ? p.inputs[1] : p.inputs[1] === x ? p.inputs[0] : undefined;
  if (!sqName) return undefined;
  const sq = m.prod(sqName, 'Mul');
  if (sq && m.singleUse(sqName) && sq.inputs[0] === x && sq.inputs[1] === x) return [p, sq];
  return undefined;
}

/** The node list with every matched pattern replaced by its fused node. */
export function fuse(st: ImportState, nodes: readonly WNode[], graphOutputs: ReadonlySet<string>): WNode[] {
  const m = new Matcher(st, nodes, graphOutputs);
  for (const n of nodes) {
    if (!m.live(n)) continue;
    if (n.op === 'Erf') erfGelu(m, n);
    else if (n.op === 'Tanh') tanhGelu(st, m, n);
  }
  for (const n of nodes) {
    if (!m.live(n)) continue;
    const isSig = n.op === 'Sigmoid';
    const isHardSig = n.op === 'HardSigmoid' && n.attrs.alpha === Math.fround(1 / 6) && n.attrs.beta === 0.5;
    if (!isSig && !isHardSig) continue;
    const x = n.inputs[0];
    const mul = m.only(n.outputs[0], 'Mul');
    if (mul && other(mul, n.outputs[0]) === x) m.replace([n, mul], mul, isSig ? 'Swish' : 'HardSwish', x, {});
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
