/**
 * Sets of data-space points as lists of disjoint axis-aligned boxes (Timeloop's MultiAAHR): the
 * working sets and deltas of the nest analysis. A delta is `current − previous`, whose splinters
 * must come out exactly as Timeloop's do, because two deltas are "equal" (multicast, link
 * transfers) only when their box lists match box for box.
 */

export interface Box {
  /** inclusive */
  readonly min: readonly number[];
  /** exclusive */
  readonly max: readonly number[];
}

/** one point set per data space, in problem order */
export type OpSpace = readonly (readonly Box[])[];

export function boxSize(b: Box): number {
  let s = 1;
  for (let r = 0; r < b.min.length; r++) s *= b.max[r] - b.min[r];
  return s;
}

export function setSize(s: readonly Box[]): number {
  let n = 0;
  for (const b of s) n += boxSize(b);
  return n;
}

/**
 * a − b as Timeloop's AxisAlignedHyperRectangle::MultiSubtract splits it: rank by rank, the part of
 * a below b and the part above b are cut off, the middle narrows.
 */
function multiSubtract(a: Box, b: Box): Box[] {
  const n = a.min.length;
  for (let r = 0; r < n; r++) if (a.max[r] <= b.min[r] || b.max[r] <= a.min[r]) return [a];
  const out: Box[] = [];
  const midMin = [...a.min];
  const midMax = [...a.max];
  for (let r = 0; r < n; r++) {
    if (midMin[r] < b.min[r]) {
      const hi = [...midMax];
      hi[r] = b.min[r];
      out.push({ min: [...midMin], max: hi });
      midMin[r] = b.min[r];
    }
    if (b.max[r] < midMax[r]) {
      const lo = [...midMin];
      lo[r] = b.max[r];
      out.push({ min: lo, max: [...midMax] });
      midMax[r] = b.max[r];
    }
  }
  return out;
}

export function subtract(a: readonly Box[], b: readonly Box[]): Box[] {
  let cur: Box[] = [...a];
  for (const sb of b) {
    const next: Box[] = [];
    for (const sa of cur) next.push(...multiSubtract(sa, sb));
    cur = next;
  }
  return cur;
}

/** canonical text of a set: equal keys ⇔ Timeloop's MultiAAHR `==` (the same boxes, any order) */
export function setKey(s: readonly Box[]): string {
  return s
    .map((b) => `${b.min.join(',')}:${b.max.join(',')}`)
    .sort()
    .join(';');
}

export function translate(s: readonly Box[], v: readonly number[]): Box[] {
  return s.map((b) => ({ min: b.min.map((x, r) => x + v[r]), max: b.max.map((x, r) => x + v[r]) }));
}

function centroid(s: readonly Box[], order: number): { c: number[]; size: number } {
  const c = new Array<number>(order).fill(0);
  let size = 0;
  for (const b of s) {
    const n = boxSize(b);
    for (let r = 0; r < order; r++) c[r] += (b.min[r] + (b.max[r] - 1 - b.min[r]) / 2) * n;
    size += n;
  }
  if (size > 0) for (let r = 0; r < order; r++) c[r] /= size;
  return { c, size };
}

/** C++ round(): half away from zero */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Timeloop's GetTranslation a → b: the rounded difference of the size-weighted centroids (0 when either is empty) */
export function translation(a: readonly Box[], b: readonly Box[], order: number): number[] {
  const ca = centroid(a, order);
  const cb = centroid(b, order);
  if (ca.size === 0 || cb.size === 0) return new Array<number>(order).fill(0);
  return cb.c.map((x, r) => roundHalfAway(x - ca.c[r]));
}
