/**
 * Layer boundaries kept on chip (arch `memories.onChipBoundaries`): when a layer's output fits in
 * the unified buffer beside what the layer itself streams, and the next layer to run reads it, the
 * output stays where the requant unit wrote it and the next layer reads it in place — no DRAM write
 * (unless another, later layer or the host also reads it: then it is written as well) and no DRAM
 * read. Both layers run with less buffer for the rest (fold-model.ts `sharesFor` with `reserved`),
 * which can cost traffic elsewhere (weights re-fetched, partial sums spilled to DRAM): each layer's
 * DRAM traffic under each choice is its real plan's, so the choice weighs both.
 *
 * Which boundaries: layers run one after another, so a tensor can only stay for the layer that runs
 * right after its producer (layout layers between them are views and are looked through); a layer
 * keeps at most its input from the layer before and its output for the layer after. That makes the
 * choice a chain: layer i's traffic depends on the boundaries on either side of it.
 * - `greedy`: boundaries in execution order, each kept when both layers fit with it (given the
 *   choice before) and their DRAM traffic drops;
 * - `optimal`: the least total DRAM traffic over all choices, by dynamic programming along the
 *   chain (state: whether the boundary into the layer is kept) — exact for this model.
 * Host work (float layers, Softmax / LayerNorm without an SFU) reads from and writes to DRAM.
 * Topology rows (SCALE-Sim CSV) carry no tensors: their connections are not known, nothing is kept.
 */
import type { ArchSpec, OnChipPolicy } from '../../arch/spec.js';
import { gemmShape, reservedBytes } from './fold-model.js';
import { planGemmLayer, planVectorLayer } from './plan.js';
import type { Workload, WorkloadLayer } from './workload.js';

/** One layer boundary the policy considered. */
export interface OnChipBoundary {
  /** workload layer indices */
  readonly producer: number;
  readonly consumer: number;
  readonly tensor: string;
  /** bytes of the tensor the producer writes / the consumer reads of it */
  readonly bytes: number;
  readonly consumerBytes: number;
  readonly kept: boolean;
  /** kept, and written to DRAM as well (a later layer or the host reads it too) */
  readonly alsoWritten: boolean;
  /**
   * DRAM bytes the two layers move with the boundary kept and without (Infinity: it does not fit),
   * the producer's input as chosen, the consumer's output written
   */
  readonly dramBytesKept: number;
  readonly dramBytesNot: number;
}

export interface OnChipPlan {
  readonly workload: Workload;
  readonly boundaries: readonly OnChipBoundary[];
  /** DRAM bytes of the whole workload with the chosen boundaries and with none */
  readonly dramBytes: number;
  readonly dramBytesNone: number;
}

interface Candidate {
  tensor: string;
  bytes: number;
  consumerBytes: number;
  alsoWritten: boolean;
}

/** host work: its data goes out of the accelerator through DRAM */
function onHost(l: WorkloadLayer): boolean {
  return l.vectorOp === 'float' || (l.sfu !== undefined && l.vectorElements === 0);
}

/**
 * The boundary from `p` to `c` (the next layer that does work), or null: c reads p's output (or a
 * layout view of it) as its streamed input.
 */
function candidate(layers: readonly WorkloadLayer[], p: number, c: number, outputs: ReadonlySet<string>): Candidate | null {
  const prod = layers[p];
  const cons = layers[c];
  const t = prod.tensors?.output;
  if (t === undefined || onHost(prod) || onHost(cons) || prod.ofmapBytes <= 0) return null;
  // the tensor's names: its own and those of the layout views taken of it
  const names = new Set([t]);
  for (const l of layers) {
    const i = l.tensors?.inputs?.[0];
    if (l.kind === 'free' && i !== undefined && names.has(i) && l.tensors?.output !== undefined) names.add(l.tensors.output);
  }
  const ins = cons.tensors?.inputs;
  const inBytes = cons.tensors?.inputBytes;
  if (!ins || !inBytes) return null;
  let consumerBytes = 0;
  for (let j = 0; j < ins.length; j++) {
    if (!names.has(ins[j])) continue;
    // a GEMM keeps only its streamed operand (input 0) on chip, and only as the whole ifmap it counts
    if (cons.kind === 'gemm' && (j !== 0 || inBytes[0] !== cons.ifmapBytes)) return null;
    consumerBytes += inBytes[j];
  }
  if (consumerBytes <= 0 || consumerBytes > cons.ifmapBytes) return null;
  let alsoWritten = false;
  for (const n of names) if (outputs.has(n)) alsoWritten = true;
  for (let i = 0; i < layers.length && !alsoWritten; i++) {
    const l = layers[i];
    if (i === c || l.kind === 'free') continue;
    if (l.tensors?.inputs?.some((n) => names.has(n))) alsoWritten = true;
  }
  return { tensor: t, bytes: prod.ofmapBytes, consumerBytes, alsoWritten };
}

/** a layer with the given on-chip input bytes and output choice */
function withFlags(l: WorkloadLayer, inBytes: number, out: Candidate | null): WorkloadLayer {
  const { ifmapOnChipBytes: _i, ofmapOnChip: _o, ...rest } = l;
  return {
    ...rest,
    ...(inBytes > 0 && { ifmapOnChipBytes: inBytes }),
    ...(out && { ofmapOnChip: out.alsoWritten ? ('kept-and-written' as const) : ('kept' as const) }),
  };
}

/** DRAM bytes of a layer as planned, Infinity when its kept tensors leave too little buffer */
function dramOf(spec: ArchSpec, l: WorkloadLayer): number {
  const flagged = (l.ifmapOnChipBytes ?? 0) > 0 || l.ofmapOnChip !== undefined;
  if (flagged) {
    const cap = spec.memories.glb!.capacityBytes;
    if (reservedBytes(l) >= cap) return Infinity;
    if (l.kind === 'gemm' && !gemmShape(spec, l).fits) return Infinity;
  }
  const a = l.kind === 'gemm' ? planGemmLayer(spec, l).accounting : planVectorLayer(spec, l).accounting;
  return a.dramRead + a.dramWrite;
}

/**
 * The workload with the policy's boundaries kept on chip (WorkloadLayer `ifmapOnChipBytes`,
 * `ofmapOnChip`), and what was considered. A spec without a unified buffer keeps none.
 */
export function planOnChip(spec: ArchSpec, workload: Workload, policy: OnChipPolicy | undefined = spec.memories.onChipBoundaries): OnChipPlan {
  const layers = workload.layers;
  const work: number[] = [];
  for (let i = 0; i < layers.length; i++) if (layers[i].kind !== 'free') work.push(i);
  const outputs = new Set(workload.outputs ?? []);
  const n = work.length;
  // cand[k]: the boundary from work[k] to work[k + 1]
  const cand: (Candidate | null)[] = [];
  for (let k = 0; k + 1 < n; k++) cand.push(spec.memories.layout === 'unified' && policy ? candidate(layers, work[k], work[k + 1], outputs) : null);
  // cost[k][in][out]: layer work[k]'s DRAM bytes with its input / output kept or not
  const memo = new Map<number, number>();
  const cost = (k: number, inK: number, outK: number): number => {
    const key = k * 4 + inK * 2 + outK;
    let v = memo.get(key);
    if (v === undefined) {
      const inBytes = inK ? cand[k - 1]!.consumerBytes : 0;
      v = dramOf(spec, withFlags(layers[work[k]], inBytes, outK ? cand[k]! : null));
      memo.set(key, v);
    }
    return v;
  };
  const keep: boolean[] = new Array(Math.max(0, n - 1)).fill(false);
  if (policy === 'greedy') {
    let inK = 0;
    for (let k = 0; k + 1 < n; k++) {
      if (cand[k]) {
        const with_ = cost(k, inK, 1) + cost(k + 1, 1, 0);
        const without = cost(k, inK, 0) + cost(k + 1, 0, 0);
        keep[k] = with_ < without;
      }
      inK = keep[k] ? 1 : 0;
    }
  } else if (policy === 'optimal' && n > 0) {
    // best[s]: least DRAM bytes of the layers before work[k] with the boundary into it kept (s = 1) or not
    let best = [0, Infinity];
    const choice: Int8Array[] = [];
    for (let k = 0; k < n; k++) {
      const next = [Infinity, Infinity];
      const from = new Int8Array(2).fill(-1);
      for (let s = 0; s < 2; s++) {
        if (best[s] === Infinity) continue;
        for (let o = 0; o < (k + 1 < n && cand[k] ? 2 : 1); o++) {
          const v = best[s] + cost(k, s, o);
          // s = 0 first and strictly less: ties keep fewer boundaries (nothing changes without a saving)
          if (v < next[o]) {
            next[o] = v;
            from[o] = s;
          }
        }
      }
      choice.push(from);
      best = next;
    }
    let s = 0;
    for (let k = n - 1; k > 0; k--) {
      s = choice[k][s];
      keep[k - 1] = s === 1;
    }
  }
  const out = layers.slice();
  let dramBytes = 0;
  let dramBytesNone = 0;
  const boundaries: OnChipBoundary[] = [];
  for (let k = 0; k < n; k++) {
    const inK = k > 0 && keep[k - 1] ? 1 : 0;
    const outK = k + 1 < n && keep[k] ? 1 : 0;
    if (inK || outK) out[work[k]] = withFlags(layers[work[k]], inK ? cand[k - 1]!.consumerBytes : 0, outK ? cand[k]! : null);
    dramBytes += cost(k, inK, outK);
    dramBytesNone += cost(k, 0, 0);
    const c = cand[k];
    if (c && k + 1 < n) {
      boundaries.push({
        producer: work[k],
        consumer: work[k + 1],
        tensor: c.tensor,
        bytes: c.bytes,
        consumerBytes: c.consumerBytes,
        kept: keep[k],
        alsoWritten: c.alsoWritten,
        dramBytesKept: cost(k, inK, 1) + cost(k + 1, 1, 0),
        dramBytesNot: cost(k, inK, 0) + cost(k + 1, 0, 0),
      });
    }
  }
  return { workload: { ...workload, layers: out }, boundaries, dramBytes, dramBytesNone };
}
