/**
 * Folds attention's score scale into the query projection: MatMul(Q, Kᵀ) → Mul(c) (or Div(1/c)) by
 * a positive scalar constant becomes MatMul(c·Q, Kᵀ), with c multiplied into the weights and bias
 * of the linear layer (MatMul + Add of constants) that makes Q — through the Reshape / Transpose
 * that split the heads. The function is the same up to float32 rounding of c·w; what changes is
 * that the scores then come straight out of an integer MatMul into the integer Softmax, instead of
 * leaving the integer domain for a float Mul (on an accelerator: a round trip to a host).
 *
 * Folded only where nothing else sees the difference: every tensor on the path from the projection
 * to the scores' MatMul has that one consumer, and none is a graph output. Anything else is left
 * as it was (the Mul then stays a float op).
 */
import type { Graph, Node, Tensor } from '../nets/graph.js';

const LAYOUT = new Set(['Reshape', 'Transpose', 'Identity']);

/** the positive scalar a Mul / Div by a constant multiplies by, or null */
function scalarFactor(g: Graph, n: Node, x: string): number | null {
  if (n.op !== 'Mul' && n.op !== 'Div') return null;
  const other = n.inputs[0] === x ? n.inputs[1] : n.op === 'Mul' ? n.inputs[0] : null;
  if (!other || n.inputs.filter((i) => i === x).length !== 1) return null;
  const t = g.initializers.get(other);
  if (!t || t.dtype !== 'float32' || t.data.length !== 1) return null;
  const v = (t.data as Float32Array)[0];
  const c = n.op === 'Mul' ? v : 1 / v;
  return Number.isFinite(c) && c > 0 ? c : null;
}

function scaled(t: Tensor, c: number): Tensor {
  const d = t.data as Float32Array;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i] * c;
  return { ...t, data: out };
}

/** The graph with every foldable attention scale folded, and the names of the folded Mul/Div nodes. */
export function foldAttentionScales(graph: Graph): { graph: Graph; folded: readonly string[] } {
  const producer = new Map<string, Node>();
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const single = (t: string): boolean => !outputs.has(t) && (consumers.get(t)?.length ?? 0) === 1;
  const isConst = (t: string) => graph.initializers.has(t);
  const inits = new Map(graph.initializers);
  const drop = new Set<Node>();
  /** tensor renames: a dropped Mul's output → the scores it scaled */
  const rename = new Map<string, string>();
  const folded: string[] = [];

  for (const mm of graph.nodes) {
    if (mm.op !== 'MatMul' || mm.inputs.some(isConst)) continue;
    const s = mm.outputs[0];
    if (!single(s)) continue;
    const mul = consumers.get(s)![0];
    const c = scalarFactor(graph, mul, s);
    if (c === null || outputs.has(mul.outputs[0])) continue;
    // walk Q back through the head split to its projection: Add(bias) ← MatMul(x, W)
    let t = mm.inputs[0];
    let p = producer.get(t);
    while (p && LAYOUT.has(p.op) && single(t)) {
      t = p.inputs[0];
      p = producer.get(t);
    }
    if (!p || !single(t)) continue;
    let bias: string | null = null;
    let proj: Node | undefined = p;
    if (p.op === 'Add') {
      const [a, b] = p.inputs;
      const [x, k] = isConst(b) ? [a, b] : isConst(a) ? [b, a] : [null, null];
      if (!x || !k || !single(x)) continue;
      bias = k;
      proj = producer.get(x);
    }
    if (!proj || proj.op !== 'MatMul' || !isConst(proj.inputs[1]) || isConst(proj.inputs[0])) continue;
    const w = proj.inputs[1];
    // a weight or bias shared with another node cannot be changed for this one
    if ((consumers.get(w)?.length ?? 0) !== 1 || (bias && (consumers.get(bias)?.length ?? 0) !== 1)) continue;
    if (inits.get(w)!.dtype !== 'float32' || (bias && inits.get(bias)!.dtype !== 'float32')) continue;
    inits.set(w, scaled(inits.get(w)!, c));
    if (bias) inits.set(bias, scaled(inits.get(bias)!, c));
    drop.add(mul);
    rename.set(mul.outputs[0], s);
    folded.push(mul.name);
  }
  if (folded.length === 0) return { graph, folded };
  const nodes = graph.nodes.filter((n) => !drop.has(n)).map((n) => (n.inputs.some((i) => rename.has(i)) ? { ...n, inputs: n.inputs.map((i) => rename.get(i) ?? i) } : n));
  // the scale constants the dropped nodes read, if nothing else reads them
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) used.add(i);
  for (const n of drop) for (const i of n.inputs) if (!used.has(i)) inits.delete(i);
  return { graph: { ...graph, nodes, initializers: inits }, folded };
}
