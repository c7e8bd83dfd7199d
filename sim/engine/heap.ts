/**
 * The event queue of the discrete-event engine: a binary min-heap over typed arrays, ordered by
 * (cycle, sequence). The sequence number is the order of insertion, so events at the same cycle
 * fire in the order they were scheduled — a run is deterministic whatever the heap's internal
 * layout. Storage grows by doubling (amortized, never per event) and is reused across layers.
 */
export class EventHeap {
  private cycle: Float64Array;
  private seq: Float64Array;
  private kind: Uint8Array;
  /** the event's argument (a sub-tile index: may exceed 2^31, so a double) */
  private arg: Float64Array;
  private n = 0;
  private nextSeq = 0;

  constructor(capacity = 1024) {
    this.cycle = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.arg = new Float64Array(capacity);
  }

  get size(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  push(cycle: number, kind: number, arg: number): void {
    if (this.n === this.cycle.length) this.grow();
    const s = this.nextSeq++;
    // sift up: move parents down until the slot for the new event is found
    let i = this.n++;
    const cy = this.cycle;
    const sq = this.seq;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (cy[p] < cycle || (cy[p] === cycle && sq[p] < s)) break;
      cy[i] = cy[p];
      sq[i] = sq[p];
      this.kind[i] = this.kind[p];
      this.arg[i] = this.arg[p];
      i = p;
    }
    cy[i] = cycle;
    sq[i] = s;
    this.kind[i] = kind;
    this.arg[i] = arg;
  }

  /** cycle of the earliest event (heap must not be empty) */
  peekCycle(): number {
    return this.cycle[0];
  }
  peekKind(): number {
    return this.kind[0];
  }
  peekArg(): number {
    return this.arg[0];
  }

  /** removes the earliest event (read it with peek* first) */
  pop(): void {
    const n = --this.n;
    if (n === 0) return;
    const cy = this.cycle;
    const sq = this.seq;
    const k = this.kind;
    const a = this.arg;
    const c = cy[n];
    const s = sq[n];
    const kk = k[n];
    const aa = a[n];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let m = l;
      if (r < n && (cy[r] < cy[l] || (cy[r] === cy[l] && sq[r] < sq[l]))) m = r;
      if (c < cy[m] || (c === cy[m] && s < sq[m])) break;
      cy[i] = cy[m];
      sq[i] = sq[m];
      k[i] = k[m];
      a[i] = a[m];
      i = m;
    }
    cy[i] = c;
    sq[i] = s;
    k[i] = kk;
    a[i] = aa;
  }

  /**
   * Copies the events into the given arrays (each at least `size` long) in (cycle, kind, argument)
   * order — not insertion order: what happens at a cycle does not depend on the order its events
   * were scheduled in, so a state's identity must not either; returns how many. For the engine's
   * fast-forward: small heaps only (insertion sort), nothing allocated.
   */
  sortedInto(cycle: Float64Array, kind: Float64Array, arg: Float64Array): number {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const c = this.cycle[i];
      const k = this.kind[i];
      const a = this.arg[i];
      let j = i;
      while (j > 0 && (cycle[j - 1] > c || (cycle[j - 1] === c && (kind[j - 1] > k || (kind[j - 1] === k && arg[j - 1] > a))))) {
        cycle[j] = cycle[j - 1];
        kind[j] = kind[j - 1];
        arg[j] = arg[j - 1];
        j--;
      }
      cycle[j] = c;
      kind[j] = k;
      arg[j] = a;
    }
    return n;
  }

  /** Moves every event `dCycle` later and its argument by `dArg`: the order is unchanged. */
  shift(dCycle: number, dArg: number, argFrom = -Infinity): void {
    for (let i = 0; i < this.n; i++) {
      this.cycle[i] += dCycle;
      // arguments below `argFrom` name fixed things (sub-tiles before a fast-forwarded run)
      if (this.arg[i] >= argFrom) this.arg[i] += dArg;
    }
  }

  private grow(): void {
    const cap = this.cycle.length * 2;
    const c = new Float64Array(cap);
    c.set(this.cycle);
    this.cycle = c;
    const s = new Float64Array(cap);
    s.set(this.seq);
    this.seq = s;
    const k = new Uint8Array(cap);
    k.set(this.kind);
    this.kind = k;
    const a = new Float64Array(cap);
    a.set(this.arg);
    this.arg = a;
  }
}
