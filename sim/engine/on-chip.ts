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
 *
 * Tile-band fusion (`memories.fusion: bands`): a boundary from a conv / dense layer into a conv may
 * also be kept as a band of rows — the producer writes its output rows into a line buffer of the
 * consumer's window height plus one stride of rows (so it fills the next rows while the consumer
 * reads), the consumer reads them there, and the two alternate band by band on the array. The tensor
 * never goes to DRAM (unless also written for another reader), though it need not fit: each layer
 * runs with the line buffer and its partner's weights (filter, bias, requant parameters) reserved,
 * and the band is refused unless each keeps its own weights resident under that reserve — weights
 * re-fetched every band would cost more than the tensor. A layer is not fused on both sides (a chain
 * of three would keep three layers' weights). Assumed, not modelled: the producer emits rows in
 * order; the band rows' halo costs no recomputation (the line buffer holds them); the engine times
 * the two layers one after the other with the fused traffic gone (one array runs both either way).
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
  /** how it was kept: the whole tensor, or a band of rows (tile-band fusion); null when not kept */
  readonly mode: 'whole' | 'band' | null;
  /** the line buffer of a band (null: no band possible here, or fusion off) */
  readonly bandBytes: number | null;
  /** kept, and written to DRAM as well (a later layer or the host reads it too) */
  readonly alsoWritten: boolean;
  /**
   * DRAM bytes the two layers move with the boundary kept and without (Infinity: it does not fit),
   * the producer's input as chosen, the consumer's output written
   */
  readonly dramBytesKept: number;
  readonly dramBytesNot: number;
  /** the same with the boundary fused as a band (Infinity where it cannot be) */
  readonly dramBytesBand: number;
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
  /** line-buffer bytes of a band, null where no band applies */
  bandBytes: number | null;
}

/** a layer's parameters: what must stay resident for band-by-band alternation */
const paramBytes = (l: WorkloadLayer): number => l.weightBytes + l.biasBytes + l.requantParamBytes;

/**
 * The line buffer of a band from `prod` into the conv `cons`: the consumer's window height plus one
 * stride of its input rows, over the whole row width, every channel and image (null: no band —
 * not conv / dense into a conv, or the band is the whole tensor).
 */
function bandOf(prod: WorkloadLayer, cons: WorkloadLayer, consumerBytes: number): number | null {
  const g = cons.view?.conv;
  if (prod.kind !== 'gemm' || cons.kind !== 'gemm' || !g) return null;
  const rows = g.dilationH * (g.filterH - 1) + 1 + g.strideH;
  if (rows >= g.ifmapH) return null;
  return Math.ceil((consumerBytes * rows) / g.ifmapH);
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
  return { tensor: t, bytes: prod.ofmapBytes, consumerBytes, alsoWritten, bandBytes: bandOf(prod, cons, consumerBytes) };
}

/** boundary states */
const NOT = 0;
const WHOLE = 1;
const BAND = 2;

/**
 * A layer with the given boundary states on its input side (from `inC`) and output side (into
 * `outC`); `partners` are the neighbouring layers whose weights a band reserves.
 */
function withFlags(l: WorkloadLayer, inS: number, inC: Candidate | null, outS: number, outC: Candidate | null, prev: WorkloadLayer | null, next: WorkloadLayer | null): WorkloadLayer {
  const { ifmapOnChipBytes: _i, ofmapOnChip: _o, onChipReserveBytes: _r, ...rest } = l;
  const inBytes = inS !== NOT ? inC!.consumerBytes : 0;
  const banded = inS === BAND || outS === BAND;
  const reserve = banded
    ? (inS === WHOLE ? inBytes : inS === BAND ? inC!.bandBytes! + paramBytes(prev!) : 0) + (outS === WHOLE ? l.ofmapBytes : outS === BAND ? outC!.bandBytes! + paramBytes(next!) : 0)
    : 0;
  return {
    ...rest,
    ...(inBytes > 0 && { ifmapOnChipBytes: inBytes }),
    ...(outS !== NOT && { ofmapOnChip: outC!.alsoWritten ? ('kept-and-written' as const) : ('kept' as const) }),
    ...(banded && { onChipReserveBytes: reserve }),
  };
}

/**
 * DRAM bytes of a layer as planned; Infinity when its kept tensors leave too little buffer, or a
 * band leaves its weights unable to stay resident
 */
function dramOf(spec: ArchSpec, l: WorkloadLayer): number {
  const flagged = (l.ifmapOnChipBytes ?? 0) > 0 || l.ofmapOnChip !== undefined;
  if (flagged) {
    const cap = spec.memories.glb!.capacityBytes;
    if (reservedBytes(l) >= cap) return Infinity;
    if (l.kind === 'gemm' && !gemmShape(spec, l).fits) return Infinity;
  }
  const plan = l.kind === 'gemm' ? planGemmLayer(spec, l) : planVectorLayer(spec, l);
  if (l.onChipReserveBytes !== undefined && !plan.residentFilter) return Infinity;
  return plan.accounting.dramRead + plan.accounting.dramWrite;
}

/**
 * The workload with the policy's boundaries kept on chip (WorkloadLayer `ifmapOnChipBytes`,
 * `ofmapOnChip`), and what was considered. A spec without a unified buffer keeps none.
 */
export function planOnChip(spec: ArchSpec, workload: Workload, policy: OnChipPolicy | undefined = spec.memories.onChipBoundaries, bands: boolean = spec.memories.fusion === 'bands'): OnChipPlan {
  const layers = workload.layers;
  const work: number[] = [];
  for (let i = 0; i < layers.length; i++) if (layers[i].kind !== 'free') work.push(i);
  const outputs = new Set(workload.outputs ?? []);
  const n = work.length;
  // cand[k]: the boundary from work[k] to work[k + 1]
  const cand: (Candidate | null)[] = [];
  for (let k = 0; k + 1 < n; k++) {
    const c = spec.memories.layout === 'unified' && policy ? candidate(layers, work[k], work[k + 1], outputs) : null;
    cand.push(c && !bands ? { ...c, bandBytes: null } : c);
  }
  // the states boundary k can take
  const states = (k: number): number => (k + 1 < n && cand[k] ? (cand[k]!.bandBytes !== null ? 3 : 2) : 1);
  // cost(k, in, out): layer work[k]'s DRAM bytes with its input / output boundary in those states
  const memo = new Map<number, number>();
  const cost = (k: number, inS: number, outS: number): number => {
    if (inS === BAND && outS === BAND) return Infinity;
    const key = k * 9 + inS * 3 + outS;
    let v = memo.get(key);
    if (v === undefined) {
      const prev = k > 0 ? layers[work[k - 1]] : null;
      const next = k + 1 < n ? layers[work[k + 1]] : null;
      v = dramOf(spec, withFlags(layers[work[k]], inS, k > 0 ? cand[k - 1] : null, outS, cand[k] ?? null, prev, next));
      memo.set(key, v);
    }
    return v;
  };
  const state: number[] = new Array(Math.max(0, n - 1)).fill(NOT);
  if (policy === 'greedy') {
    let inS = NOT;
    for (let k = 0; k + 1 < n; k++) {
      let best = cost(k, inS, NOT) + cost(k + 1, NOT, NOT);
      for (let o = WHOLE; o < states(k); o++) {
        const v = cost(k, inS, o) + cost(k + 1, o, NOT);
        if (v < best) {
          best = v;
          state[k] = o;
        }
      }
      inS = state[k];
    }
  } else if (policy === 'optimal' && n > 0) {
    // best[s]: least DRAM bytes of the layers before work[k] with the boundary into it in state s
    let best = [0, Infinity, Infinity];
    const choice: Int8Array[] = [];
    for (let k = 0; k < n; k++) {
      const next = [Infinity, Infinity, Infinity];
      const from = new Int8Array(3).fill(-1);
      for (let s = 0; s < 3; s++) {
        if (best[s] === Infinity) continue;
        for (let o = 0; o < states(k); o++) {
          const v = best[s] + cost(k, s, o);
          // lower states first and strictly less: ties keep fewer (and whole) boundaries
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
      state[k - 1] = s;
    }
  }
  const out = layers.slice();
  let dramBytes = 0;
  let dramBytesNone = 0;
  const boundaries: OnChipBoundary[] = [];
  for (let k = 0; k < n; k++) {
    const inS = k > 0 ? state[k - 1] : NOT;
    const outS = k + 1 < n ? state[k] : NOT;
    if (inS || outS) out[work[k]] = withFlags(layers[work[k]], inS, k > 0 ? cand[k - 1] : null, outS, cand[k] ?? null, k > 0 ? layers[work[k - 1]] : null, k + 1 < n ? layers[work[k + 1]] : null);
    dramBytes += cost(k, inS, outS);
    dramBytesNone += cost(k, NOT, NOT);
    const c = cand[k];
    if (c && k + 1 < n) {
      boundaries.push({
        producer: work[k],
        consumer: work[k + 1],
        tensor: c.tensor,
        bytes: c.bytes,
        consumerBytes: c.consumerBytes,
        kept: state[k] !== NOT,
        mode: state[k] === WHOLE ? 'whole' : state[k] === BAND ? 'band' : null,
        bandBytes: c.bandBytes,
        alsoWritten: c.alsoWritten,
        dramBytesKept: cost(k, inS, WHOLE) + cost(k + 1, WHOLE, NOT),
        dramBytesNot: cost(k, inS, NOT) + cost(k + 1, NOT, NOT),
        dramBytesBand: c.bandBytes === null ? Infinity : cost(k, inS, BAND) + cost(k + 1, BAND, NOT),
      });
    }
  }
  return { workload: { ...workload, layers: out }, boundaries, dramBytes, dramBytesNone };
}
