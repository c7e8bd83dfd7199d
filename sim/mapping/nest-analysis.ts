/**
 * Timeloop's (legacy, non-ISL) nest analysis, re-implemented from its description in
 * NVlabs/timeloop src/loop-analysis/nest-analysis.cpp: for every loop of the mapping's nest, the
 * working set it spans and the deltas its child tile fetches between consecutive iterations,
 * per spatial instance, with multicast found by comparing the deltas of sibling instances.
 *
 * The counts must equal Timeloop's, so its shortcuts are reproduced, not improved:
 * - temporal extrapolation: a loop of n iterations runs iteration 0, then iteration 1 standing
 *   for iterations 1…n−1 (its deltas scaled by n−1); what the inner levels remember afterwards is
 *   iteration 1's tile, which is why an inner sliding window restarts from scratch when an outer
 *   loop steps (ex04-cp's RegisterFile Inputs fills, 64 × 18);
 * - reset on stride change: a level's delta is `tile − previous tile` only while the tile keeps
 *   moving by the same translation; when the translation changes, the whole tile is fetched and
 *   the next step re-learns the stride;
 * - spatial extrapolation: only the first instance of a fanout is analysed; the others' deltas
 *   are its delta translated by the spatial step, and the per-instance statistics are the
 *   first instance's;
 * - link transfers: an instance whose delta equals a mesh neighbour's delta of the previous
 *   invocation is served by the neighbour, when that lowers the parent's accesses.
 * No iteration is per MAC: each loop runs at most twice per invocation of its parent, so the
 * work is 2^(number of loops with a factor > 1) tiles, whatever the problem size.
 */
import type { TimeloopSpec } from '../../arch/timeloop.js';
import { InvariantError } from '../../errors/index.js';
import { setKey, setSize, subtract, translate, translation, type Box, type OpSpace } from './point-set.js';

export const enum Space {
  Time = 0,
  X = 1,
  Y = 2,
}

export interface NestLoop {
  readonly dim: number;
  readonly end: number;
  readonly space: Space;
  /** storage level (innermost first) the loop belongs to */
  readonly storage: number;
}

/** One valid loop's condensed statistics (Timeloop's DataMovementInfo before collapsing). */
export interface LoopTile {
  readonly loop: number;
  readonly storage: number;
  readonly onBoundary: boolean;
  readonly masterSpatial: boolean;
  /** per data space: the largest working set seen */
  readonly size: readonly number[];
  /** per data space: multicast factor → accesses (per instance) */
  readonly accesses: readonly ReadonlyMap<number, number>[];
  readonly linkTransfers: readonly number[];
  readonly replication: number;
  readonly fanout: number;
}

export interface NestAnalysis {
  readonly loops: readonly NestLoop[];
  readonly tiles: readonly LoopTile[];
  /** MACs per compute instance */
  readonly computesPerInstance: number;
  /** compute instances used */
  readonly computeInstances: number;
}

/** The nest, innermost loop first: per storage level its spatial loops, then its temporal loops. */
export function buildNest(spec: TimeloopSpec): { loops: NestLoop[]; boundaries: number[] } {
  const loops: NestLoop[] = [];
  const boundaries: number[] = [];
  const nDims = spec.problem.dimensions.length;
  spec.storage.forEach((level, s) => {
    if (level.spatial !== null) {
      const sp = level.spatial;
      sp.permutation.forEach((dim, pos) => {
        if (sp.factors[dim] > 1) loops.push({ dim, end: sp.factors[dim], space: pos < sp.split ? Space.X : Space.Y, storage: s });
      });
    }
    let added = 0;
    for (const dim of level.temporal.permutation) {
      if (level.temporal.factors[dim] > 1) {
        loops.push({ dim, end: level.temporal.factors[dim], space: Space.Time, storage: s });
        added++;
      }
    }
    // Timeloop gives every temporal level at least one (trivial) loop, so it has a boundary.
    if (added === 0) loops.push({ dim: nDims - 1, end: 1, space: Space.Time, storage: s });
    boundaries.push(loops.length - 1);
  });
  return { loops, boundaries };
}

interface LiveState {
  readonly last: Box[][];
  readonly lastTrans: (number[] | null)[];
  readonly maxSize: number[];
  readonly access: Map<number, number>[];
  readonly link: number[];
  prevSpatial: Map<number, OpSpace> | null;
}

/** Runs the analysis; `linkTransfers: false` is TIMELOOP_DISABLE_LINK_TRANSFERS. */
export function analyzeNest(spec: TimeloopSpec, opts: { linkTransfers?: boolean } = {}): NestAnalysis {
  const enableLinks = opts.linkTransfers ?? true;
  const { problem } = spec;
  const nDims = problem.dimensions.length;
  const nDs = problem.dataSpaces.length;
  const { loops, boundaries } = buildNest(spec);
  const n = loops.length;
  const isSpatial = (l: number): boolean => loops[l].space !== Space.Time;

  const boundary = new Array<boolean>(n).fill(false);
  for (const b of boundaries) boundary[b] = true;
  const master = new Array<boolean>(n).fill(false);
  const utilized = new Array<number>(n).fill(1);
  const fanout = new Array<number>(n).fill(1);
  const fanoutX = new Array<number>(n).fill(1);
  const fanoutY = new Array<number>(n).fill(1);
  {
    let product = 1;
    for (let l = n - 1; l >= 0; l--) {
      utilized[l] = product;
      if (isSpatial(l)) {
        master[l] = l === n - 1 || !isSpatial(l + 1);
        product *= loops[l].end;
      }
    }
    for (let l = 0; l < n; l++) {
      if (!master[l]) continue;
      for (let k = l; k >= 0 && isSpatial(k); k--) {
        if (loops[k].space === Space.X) fanoutX[l] *= loops[k].end;
        else fanoutY[l] *= loops[k].end;
      }
      fanout[l] = fanoutX[l] * fanoutY[l];
    }
  }
  // vectorStride[l][d]: how far one step of loop l moves dimension d; moldHigh[l][d]: the extent of
  // the tile spanned by loops 0…l, minus one.
  const vectorStride: number[][] = [];
  const moldHigh: number[][] = [];
  {
    const scale = new Array<number>(nDims).fill(1);
    for (let l = 0; l < n; l++) {
      vectorStride.push([...scale]);
      scale[loops[l].dim] *= loops[l].end;
      moldHigh.push(scale.map((x) => x - 1));
    }
  }

  const transform = new Array<number>(nDims).fill(0);
  const indices = new Array<number>(n).fill(0);
  let epochs = 1;
  const spaceStamp: number[] = [];
  const live: Map<string, LiveState>[] = loops.map(() => new Map());
  const computeInfo = new Map<string, number>();

  const stampKey = (full: boolean): string => (full ? spaceStamp : spaceStamp.slice(0, -1)).join('/');

  function state(l: number): LiveState {
    const key = stampKey(false);
    let s = live[l].get(key);
    if (s === undefined) {
      s = {
        last: problem.dataSpaces.map(() => []),
        lastTrans: problem.dataSpaces.map(() => null),
        maxSize: new Array<number>(nDs).fill(0),
        access: problem.dataSpaces.map(() => new Map()),
        link: new Array<number>(nDs).fill(0),
        prevSpatial: null,
      };
      live[l].set(key, s);
    }
    return s;
  }

  function project(low: readonly number[], high: readonly number[]): Box[][] {
    return problem.dataSpaces.map((ds) => {
      const min = ds.projection.map((terms) => terms.reduce((a, t) => a + t.coefficient * low[t.dimension], 0));
      const max = ds.projection.map((terms) => terms.reduce((a, t) => a + t.coefficient * high[t.dimension], 0) + 1);
      return min.some((x, r) => max[r] <= x) ? [] : [{ min, max }];
    });
  }

  function workingSet(l: number): Box[][] {
    return project(transform, transform.map((t, d) => t + moldHigh[l][d]));
  }

  function operationPoint(): Box[][] {
    const p = new Array<number>(nDims).fill(0);
    for (let l = 0; l < n; l++) p[loops[l].dim] += vectorStride[l][loops[l].dim] * indices[l];
    return project(p, p);
  }

  function translationVectors(l: number): number[][] {
    const d = loops[l].dim;
    const first = workingSet(l);
    transform[d] += vectorStride[l][d];
    const second = workingSet(l);
    transform[d] -= vectorStride[l][d];
    return first.map((s, pv) => translation(s, second[pv], problem.dataSpaces[pv].projection.length));
  }

  function addAccess(s: LiveState, pv: number, multicast: number, accesses: number): void {
    const m = s.access[pv];
    m.set(multicast, (m.get(multicast) ?? 0) + accesses);
  }

  function computeDeltas(l: number): Box[][] {
    if (boundary[l]) spaceStamp.push(0);
    const s = state(l);
    if (isSpatial(l)) spatialWorkingSet(l, s);
    else temporalWorkingSet(l, s);
    const point = workingSet(l);
    if (boundary[l] || master[l]) point.forEach((set, pv) => (s.maxSize[pv] = Math.max(s.maxSize[pv], setSize(set))));
    const delta = point.map((cur, pv) => {
      const prev = s.last[pv];
      const order = problem.dataSpaces[pv].projection.length;
      const trans = prev.length > 0 ? translation(prev, cur, order) : null;
      const prevTrans = s.lastTrans[pv];
      s.last[pv] = cur;
      if (prevTrans === null) {
        s.lastTrans[pv] = trans;
        return subtract(cur, prev);
      }
      if (trans !== null && trans.every((x, r) => x === prevTrans[r])) return subtract(cur, prev);
      s.lastTrans[pv] = null;
      return cur;
    });
    if (boundary[l]) spaceStamp.pop();
    return delta;
  }

  function temporalWorkingSet(l: number, s: LiveState): void {
    const { dim, end } = loops[l];
    if (l === 0) {
      const body = end * epochs;
      const key = stampKey(false);
      computeInfo.set(key, (computeInfo.get(key) ?? 0) + body);
      for (let pv = 0; pv < nDs; pv++) addAccess(s, pv, 1, body);
      return;
    }
    const scale = vectorStride[l][dim];
    const saved = transform[dim];
    const sizes: number[][] = [];
    const weights: number[] = [];
    indices[l] = 0;
    sizes.push(computeDeltas(l - 1).map(setSize));
    weights.push(1);
    transform[dim] += scale;
    indices[l] = 1;
    if (end >= 2) {
      const virtual = end - 1;
      const savedEpochs = epochs;
      epochs *= virtual;
      sizes.push(computeDeltas(l - 1).map(setSize));
      epochs = savedEpochs;
      weights.push(virtual);
      transform[dim] += scale * virtual;
      indices[l] += virtual;
    }
    transform[dim] = saved;
    if (boundary[l - 1]) {
      for (let pv = 0; pv < nDs; pv++) {
        let total = 0;
        for (let i = 0; i < sizes.length; i++) total += sizes[i][pv] * weights[i];
        addAccess(s, pv, 1, total * epochs);
      }
    }
  }

  function fillSpatialDeltas(l: number, deltas: Map<number, OpSpace>, base: number, stride: number, level: number): void {
    const { dim, end } = loops[l];
    base *= end;
    if (l === 0) {
      for (let i = 0; i < end; i++) {
        indices[0] = i;
        deltas.set(base + i, operationPoint());
        spaceStamp[spaceStamp.length - 1] = base + i;
        const key = stampKey(true);
        computeInfo.set(key, (computeInfo.get(key) ?? 0) + epochs);
      }
      return;
    }
    const scale = vectorStride[l][dim];
    const saved = transform[dim];
    if (isSpatial(l - 1)) {
      for (let i = 0; i < end; i++) {
        indices[l] = i;
        // the first instance is analysed, the others are extrapolated along this loop
        const first = i < 1;
        fillSpatialDeltas(l - 1, deltas, base + i, first ? stride * end : 1, first ? level : l);
        transform[dim] += scale;
      }
    } else {
      let i = 0;
      if (stride === 0) {
        indices[l] = 0;
        spaceStamp[spaceStamp.length - 1] = base;
        deltas.set(base, computeDeltas(l - 1));
        transform[dim] += scale;
        i = 1;
        stride = 1;
        level = l;
      } else {
        stride *= end;
      }
      if (i < end) {
        const t = translationVectors(level);
        for (; i < end; i++) {
          indices[l] = i;
          const src = deltas.get(base + i - stride);
          if (src === undefined) throw new InvariantError(`nest analysis: no delta to extrapolate spatial instance ${base + i} from`);
          deltas.set(base + i, src.map((set, pv) => translate(set, t[pv])));
        }
      }
    }
    transform[dim] = saved;
  }

  function multicast(deltas: Map<number, OpSpace>, unaccounted: Set<number>[]): Map<number, number>[] {
    return problem.dataSpaces.map((_, pv) => {
      const groups = new Map<string, { count: number; size: number }>();
      for (const [idx, d] of deltas) {
        if (!unaccounted[pv].has(idx)) continue;
        const key = setKey(d[pv]);
        const g = groups.get(key);
        if (g) g.count++;
        else groups.set(key, { count: 1, size: setSize(d[pv]) });
      }
      const stats = new Map<number, number>();
      for (const g of groups.values()) if (g.size > 0) stats.set(g.count, (stats.get(g.count) ?? 0) + g.size * epochs);
      return stats;
    });
  }

  function linkTransfers(l: number, s: LiveState, deltas: Map<number, OpSpace>, unaccounted: Set<number>[]): number[] {
    const level = spec.storage[loops[l].storage];
    const h = Math.max(level.fanoutX, fanoutX[l]);
    const v = Math.max(level.fanoutY, fanoutY[l]);
    const prev = s.prevSpatial;
    const moved = new Array<number>(nDs).fill(0);
    if (prev !== null) {
      const reuse = new Map<number, boolean[]>();
      const compare = (cur: number, from: number): void => {
        const c = deltas.get(cur);
        const p = prev.get(from);
        if (c === undefined || p === undefined) return;
        for (let pv = 0; pv < nDs; pv++) {
          if (c[pv].length > 0 && setKey(c[pv]) === setKey(p[pv])) {
            const r = reuse.get(cur) ?? new Array<boolean>(nDs).fill(false);
            r[pv] = true;
            reuse.set(cur, r);
          }
        }
      };
      for (let x = 0; x < h; x++) {
        for (let y = 1; y < v; y++) compare(y * h + x, (y - 1) * h + x);
        for (let y = 0; y < v - 1; y++) compare(y * h + x, (y + 1) * h + x);
      }
      for (let y = 0; y < v; y++) {
        for (let x = 1; x < h; x++) compare(y * h + x, y * h + x - 1);
        for (let x = 0; x < h - 1; x++) compare(y * h + x, y * h + x + 1);
      }
      for (const [idx, d] of deltas) {
        const r = reuse.get(idx);
        if (r === undefined) continue;
        for (let pv = 0; pv < nDs; pv++) {
          if (!r[pv]) continue;
          moved[pv] += setSize(d[pv]) * epochs;
          unaccounted[pv].delete(idx);
        }
      }
    }
    s.prevSpatial = deltas;
    return moved;
  }

  function spatialWorkingSet(l: number, s: LiveState): void {
    const deltas = new Map<number, OpSpace>();
    fillSpatialDeltas(l, deltas, 0, 0, l);
    const all = (): Set<number>[] => problem.dataSpaces.map(() => new Set(deltas.keys()));
    const without = multicast(deltas, all());
    let chosen = without;
    if (enableLinks) {
      const unaccounted = all();
      const moved = linkTransfers(l, s, deltas, unaccounted);
      const withLinks = multicast(deltas, unaccounted);
      chosen = without.map((w, pv) => {
        const total = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
        if (total(withLinks[pv]) < total(w)) {
          s.link[pv] += moved[pv];
          return withLinks[pv];
        }
        return w;
      });
    }
    chosen.forEach((m, pv) => {
      for (const [mc, acc] of m) addAccess(s, pv, mc, acc);
    });
  }

  computeDeltas(n - 1);

  const tiles: LoopTile[] = [];
  for (let l = 0; l < n; l++) {
    if (isSpatial(l) && !master[l]) continue;
    const states = [...live[l].values()];
    const count = Math.max(1, states.length);
    const accesses = problem.dataSpaces.map((_, pv) => {
      const m = new Map<number, number>();
      for (const st of states) for (const [mc, a] of st.access[pv]) m.set(mc, (m.get(mc) ?? 0) + a);
      for (const [mc, a] of m) m.set(mc, a / count);
      return m;
    });
    const sum = (f: (st: LiveState) => number): number => states.reduce((a, st) => a + f(st), 0);
    tiles.push({
      loop: l,
      storage: loops[l].storage,
      onBoundary: boundary[l],
      masterSpatial: master[l],
      size: problem.dataSpaces.map((_, pv) => Math.floor(sum((st) => st.maxSize[pv]) / count)),
      accesses,
      linkTransfers: problem.dataSpaces.map((_, pv) => Math.floor(sum((st) => st.link[pv]) / count)),
      replication: utilized[l],
      fanout: fanout[l],
    });
  }
  const innermost = tiles[0];
  const infos = [...computeInfo.values()];
  const computesPerInstance = infos.reduce((a, b) => a + b, 0) / Math.max(1, infos.length);
  return { loops, tiles, computesPerInstance, computeInstances: innermost.replication * innermost.fanout };
}
