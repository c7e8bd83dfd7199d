/**
 * The one topological sort of the tree: node importers (ONNX, QOperator ONNX, tfjs layers and
 * graph models) and anything else that orders a dependency graph use it.
 *
 * Depth-first post-order from each item in turn, dependencies in the order given: an order that
 * is already valid comes back unchanged, and otherwise every item comes right after the last of
 * its dependencies that the walk reached. Iterative (an explicit stack), so a long chain in a
 * hostile file cannot overflow the call stack; O(items + edges).
 */

export interface TopoOrder {
  /** every item once, each after its dependencies (apart from the edges that close a cycle) */
  readonly order: readonly number[];
  /** the first edge found that closes a cycle: item `node`'s dependency number `at`; absent when acyclic */
  readonly cycle?: { readonly node: number; readonly at: number };
}

/**
 * Orders items 0…count−1. `deps(i)` lists the items i depends on (a negative entry or one out of
 * range is no dependency: an input nobody produces). An edge closing a cycle is skipped (and the
 * first one reported), so the order still holds every item.
 */
export function topoOrder(count: number, deps: (i: number) => ArrayLike<number>): TopoOrder {
  const state = new Uint8Array(count); // 0 unseen, 1 on the stack, 2 done
  const cursor = new Int32Array(count);
  const lists: ArrayLike<number>[] = new Array(count);
  const order: number[] = [];
  const stack: number[] = [];
  let cycle: { node: number; at: number } | undefined;
  for (let root = 0; root < count; root++) {
    if (state[root]) continue;
    state[root] = 1;
    lists[root] = deps(root);
    stack.push(root);
    while (stack.length) {
      const v = stack[stack.length - 1];
      const ds = lists[v];
      if (cursor[v] < ds.length) {
        const at = cursor[v]++;
        const p = ds[at];
        if (!(p >= 0 && p < count)) continue;
        if (state[p] === 0) {
          state[p] = 1;
          lists[p] = deps(p);
          stack.push(p);
        } else if (state[p] === 1) cycle ??= { node: v, at };
      } else {
        state[v] = 2;
        order.push(v);
        stack.pop();
      }
    }
  }
  return cycle ? { order, cycle } : { order };
}

/**
 * Orders nodes that read and write named tensors: a node depends on the producers of its inputs
 * ('' and names no node produces are no dependency). The first producer of a name wins.
 */
export function topoOrderByTensors<N extends { readonly inputs: readonly string[]; readonly outputs: readonly string[] }>(nodes: readonly N[]): TopoOrder {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '' && !producer.has(o)) producer.set(o, i);
  });
  return topoOrder(nodes.length, (i) => nodes[i].inputs.map((t) => producer.get(t) ?? -1));
}
