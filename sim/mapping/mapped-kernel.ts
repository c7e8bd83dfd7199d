/**
 * A mapped layer's integer arithmetic in the mapping's own order (issue 16, item 2): the MACs of a
 * Timeloop problem (any projections: a conv, a GEMM) run as the mapping's loop nest says, and each
 * output's partial sums live where the mapping keeps Outputs — so narrow, saturating or wrapping
 * registers give the numbers and overflow counts of *this* mapping, not of a canonical order.
 *
 * The nest, outermost first: for each storage level from the outermost (DRAM) in, its temporal
 * loops (Timeloop's permutation, innermost first, read backwards), then its spatial loops (the
 * fanout to the level below: instances walked one after another). A dimension's index is the
 * mixed-radix number of its loops' indices (a loop's stride = the product of that dimension's
 * factors in the loops inside it), and each data space is addressed through the problem's
 * projections (rank j = Σ coefficient × dimension index).
 *
 * Where partial sums live: L0, the innermost level that keeps Outputs. Each L0 instance holds its
 * outputs' partial sums in registers of `psumBits` (the PE's register, or the buffer's word): the
 * loops inside L0's tile add their products there, in loop order, and so do the loops above it
 * while L0's Outputs tile stays the same — a loop above L0 over a dimension Outputs do not depend
 * on (a reduction loop) leaves the tile in place, as Timeloop's deltas do. When a loop above L0
 * that changes the tile moves (a temporal loop over an Outputs dimension, or one carrying into it),
 * every register is added into its output's accumulator (`accBits`) — Timeloop's update to the
 * parent — in the order the registers were first used; spatial loops above L0 select different
 * instances, so each instance has its own registers and the parent reduces them. Both adds follow
 * `policy` (wrap, saturate, or ideal: exact); an add whose exact result leaves the range is an
 * overflow event at that register.
 */
import type { TimeloopSpec } from '../../arch/timeloop.js';

export type MappedPolicy = 'wrap' | 'saturate' | 'ideal';

export interface MappedAccumulators {
  /** the partial-sum register where Outputs are kept innermost */
  readonly psumBits: number;
  /** the accumulator the residencies' partial sums are added into */
  readonly accBits: number;
  readonly policy: MappedPolicy;
}

/** operands of the problem's read-only data spaces, row-major by rank, values already zero-point-free */
export interface MappedOperands {
  /** data space name → values (every data space but Outputs) */
  readonly [dataSpace: string]: Int32Array;
}

export interface MappedResult {
  /** the accumulators, row-major over the Outputs data space's ranks */
  readonly outputs: Float64Array;
  readonly rankSizes: readonly number[];
  /** adds that overflowed the partial-sum register / the accumulator */
  readonly psumEvents: number;
  readonly accEvents: number;
  /** residencies: partial sums added into accumulators */
  readonly updates: number;
}

interface Loop {
  dim: number;
  factor: number;
  /** the dimension's index gains index × stride */
  stride: number;
  /** a loop of a level above L0 */
  outer: boolean;
  spatial: boolean;
  /** the storage level whose loop it is (spatial: the fanout below that level) */
  level: number;
}

/**
 * The flat loop nest of a spec's mapping, outermost first (loops of factor 1 left out); `tileEnd`:
 * one past the innermost loop above L0 that is temporal and over a dimension the Outputs data space
 * depends on — the loops before it decide L0's Outputs tile over time.
 */
export function loopNest(spec: TimeloopSpec): { loops: Loop[]; l0: number; nOuter: number; tileEnd: number } {
  const outIdx = spec.problem.dataSpaces.findIndex((d) => d.readWrite);
  if (outIdx < 0) throw new Error(`${spec.source}: the problem has no read-write (Outputs) data space`);
  const l0 = spec.storage.findIndex((s) => !s.dummy && s.keep[outIdx]);
  if (l0 < 0) throw new Error(`${spec.source}: no storage level keeps ${spec.problem.dataSpaces[outIdx].name}`);
  const outDims = new Set(spec.problem.dataSpaces[outIdx].projection.flatMap((terms) => terms.map((t) => t.dimension)));
  const loops: Loop[] = [];
  for (let l = spec.storage.length - 1; l >= 0; l--) {
    const s = spec.storage[l];
    const add = (factors: readonly number[], permutation: readonly number[], spatial: boolean): void => {
      for (let i = permutation.length - 1; i >= 0; i--) {
        const d = permutation[i];
        if (factors[d] > 1) loops.push({ dim: d, factor: factors[d], stride: 0, outer: l > l0, spatial, level: l });
      }
    };
    add(s.temporal.factors, s.temporal.permutation, false);
    if (s.spatial) add(s.spatial.factors, s.spatial.permutation, true);
  }
  // strides: inner loops of the same dimension first
  const inner = new Array<number>(spec.problem.dimensions.length).fill(1);
  for (let i = loops.length - 1; i >= 0; i--) {
    loops[i].stride = inner[loops[i].dim];
    inner[loops[i].dim] *= loops[i].factor;
  }
  for (let d = 0; d < inner.length; d++) {
    if (inner[d] !== spec.problem.bounds[d]) throw new Error(`${spec.source}: the mapping's factors of ${spec.problem.dimensions[d]} multiply to ${inner[d]}, not its bound ${spec.problem.bounds[d]}`);
  }
  const nOuter = loops.filter((l) => l.outer).length;
  let tileEnd = 0;
  for (let j = 0; j < nOuter; j++) if (!loops[j].spatial && outDims.has(loops[j].dim)) tileEnd = j + 1;
  return { loops, l0, nOuter, tileEnd };
}

/** rank sizes of a data space: one more than the largest index its projection reaches */
export function rankSizes(spec: TimeloopSpec, dataSpace: number): number[] {
  return spec.problem.dataSpaces[dataSpace].projection.map((terms) => 1 + terms.reduce((a, t) => a + t.coefficient * (spec.problem.bounds[t.dimension] - 1), 0));
}

/** linear address of a point (dimension indices) in a data space, row-major by rank */
function addressOf(spec: TimeloopSpec, ds: number, sizes: readonly number[], idx: ArrayLike<number>): number {
  let a = 0;
  const proj = spec.problem.dataSpaces[ds].projection;
  for (let r = 0; r < proj.length; r++) {
    let v = 0;
    for (const t of proj[r]) v += t.coefficient * idx[t.dimension];
    a = a * sizes[r] + v;
  }
  return a;
}

class Register {
  readonly lo: number;
  readonly hi: number;
  readonly span: number;
  constructor(
    bits: number,
    readonly policy: MappedPolicy,
  ) {
    this.lo = -(2 ** (bits - 1));
    this.hi = 2 ** (bits - 1) - 1;
    this.span = 2 ** bits;
  }
  /** a + b in the register; `over` counts an add whose exact sum leaves the range */
  add(a: number, b: number, over: { n: number }): number {
    const s = a + b;
    if (this.policy === 'ideal' || (s >= this.lo && s <= this.hi)) return s;
    over.n++;
    if (this.policy === 'saturate') return s < this.lo ? this.lo : this.hi;
    // wrap: exact below 2^53 (operands of at most 2^52)
    const m = (((s - this.lo) % this.span) + this.span) % this.span;
    return m + this.lo;
  }
}

/**
 * Runs the problem's MACs in the mapping's order (see the file header). `operands`: every
 * read-only data space by name; `initial`: the accumulators' starting values (a bias), Outputs
 * layout, or zero.
 */
export function runMapped(spec: TimeloopSpec, operands: MappedOperands, acc: MappedAccumulators, initial?: Float64Array): MappedResult {
  const { loops, tileEnd } = loopNest(spec);
  const dss = spec.problem.dataSpaces;
  const outIdx = dss.findIndex((d) => d.readWrite);
  const reads = dss.map((_, i) => i).filter((i) => i !== outIdx);
  if (reads.length !== 2) throw new Error(`${spec.source}: a MAC reads two data spaces; the problem has ${reads.length} read-only ones`);
  const sizes = dss.map((_, i) => rankSizes(spec, i));
  const data = reads.map((i) => {
    const v = operands[dss[i].name];
    const n = sizes[i].reduce((a, b) => a * b, 1);
    if (!v || v.length !== n) throw new Error(`${spec.source}: ${dss[i].name} needs ${n} values (ranks ${sizes[i].join('×')}), got ${v?.length ?? 'none'}`);
    return v;
  });
  const outLen = sizes[outIdx].reduce((a, b) => a * b, 1);
  const accs = initial ? Float64Array.from(initial) : new Float64Array(outLen);
  // registers by (L0 instance, output): instance = the mixed-radix index of the spatial loops above L0
  const regs = new Map<number, number>();
  const order: number[] = [];
  const psumReg = new Register(acc.psumBits, acc.policy);
  const accReg = new Register(acc.accBits, acc.policy);
  const psumOver = { n: 0 };
  const accOver = { n: 0 };
  let updates = 0;
  const flush = (): void => {
    for (const key of order) {
      const o = key % outLen;
      accs[o] = accReg.add(accs[o], regs.get(key)!, accOver);
      updates++;
    }
    regs.clear();
    order.length = 0;
  };
  const idx = new Int32Array(spec.problem.dimensions.length);
  const it = new Int32Array(loops.length);
  // the instance index: each spatial loop above L0 a digit
  const instStride = new Float64Array(loops.length);
  let span = 1;
  for (let j = loops.length - 1; j >= 0; j--) {
    if (loops[j].outer && loops[j].spatial) {
      instStride[j] = span;
      span *= loops[j].factor;
    }
  }
  let inst = 0;
  const total = loops.reduce((a, l) => a * l.factor, 1);
  for (let step = 0; step < total; step++) {
    const a = addressOf(spec, reads[0], sizes[reads[0]], idx);
    const b = addressOf(spec, reads[1], sizes[reads[1]], idx);
    const o = addressOf(spec, outIdx, sizes[outIdx], idx);
    const key = inst * outLen + o;
    const prev = regs.get(key);
    if (prev === undefined) order.push(key);
    regs.set(key, psumReg.add(prev ?? 0, data[0][a] * data[1][b], psumOver));
    // next point: the innermost loop advances, carrying outwards
    let k = loops.length - 1;
    for (; k >= 0; k--) {
      const L = loops[k];
      it[k]++;
      idx[L.dim] += L.stride;
      inst += instStride[k];
      if (it[k] < L.factor) break;
      idx[L.dim] -= L.stride * L.factor;
      inst -= instStride[k] * L.factor;
      it[k] = 0;
    }
    // a loop that decides L0's Outputs tile moved (or the nest ended): the partial sums go up
    if (k < tileEnd) flush();
  }
  flush();
  return { outputs: accs, rankSizes: sizes[outIdx], psumEvents: psumOver.n, accEvents: accOver.n, updates };
}
