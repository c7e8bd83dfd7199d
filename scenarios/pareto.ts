/** Pareto fronts over point metrics. */

export interface Objective {
  readonly metric: string;
  readonly goal: 'min' | 'max';
}

/**
 * Indices (ascending) of the points no other point dominates. `a` dominates `b` when it is at
 * least as good in every objective and strictly better in one; so exact duplicates both stay on
 * the front. Points missing an objective (not a finite number) are left out.
 */
export function pareto(points: readonly Readonly<Record<string, unknown>>[], objectives: readonly Objective[]): number[] {
  const k = objectives.length;
  const valid: number[] = [];
  // minimization form: a max objective is negated once here, not in the O(n²) loop
  const vals = new Float64Array(points.length * k);
  points.forEach((p, i) => {
    for (let j = 0; j < k; j++) {
      const v = p[objectives[j].metric];
      if (typeof v !== 'number' || !Number.isFinite(v)) return;
      vals[i * k + j] = objectives[j].goal === 'min' ? v : -v;
    }
    valid.push(i);
  });
  const front: number[] = [];
  for (const i of valid) {
    let dominated = false;
    for (const o of valid) {
      if (o === i) continue;
      let noWorse = true;
      let better = false;
      for (let j = 0; j < k; j++) {
        const a = vals[o * k + j];
        const b = vals[i * k + j];
        if (a > b) {
          noWorse = false;
          break;
        }
        if (a < b) better = true;
      }
      if (noWorse && better) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.push(i);
  }
  return front;
}
