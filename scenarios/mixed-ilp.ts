/**
 * The mixed-precision assignment as an integer linear program, solved exactly by HiGHS (npm
 * `highs`: the HiGHS MILP solver compiled to WebAssembly). One binary x[l][c] per layer and
 * choice, exactly one choice per layer; minimize the accuracy proxy Σ value[l][c]·x[l][c] with
 * the cost Σ cost[l][c]·x[l][c] under a budget (HAWQ-V3's formulation, Yao et al. 2021). Both
 * sums are separable by construction: value and cost are each layer's change against the
 * reference assignment, measured with only that layer changed (scenarios/mixed.ts), so the
 * program is exact for the proxy and every point it returns is re-measured for real afterwards.
 *
 * The Pareto front is the ε-constraint method: one solve per budget between the cheapest and the
 * dearest assignment; each solve's optimum is Pareto-optimal for the proxy at that budget.
 */
import { InvariantError } from '../nets/errors.js';

export interface AssignmentProblem {
  readonly layers: number;
  readonly choices: number;
  /** [layers × choices], row-major: what a choice adds to the proxy (lower is better) */
  readonly value: Float64Array;
  /** [layers × choices]: what a choice adds to the cost */
  readonly cost: Float64Array;
}

export interface Assignment {
  /** choice index per layer */
  readonly choice: Int32Array;
  /** Σ value of the choice (the objective) */
  readonly value: number;
  readonly cost: number;
  /** the budget it was solved under */
  readonly budget: number;
  /** wall-clock milliseconds of the solve (LP text in, solution out) */
  readonly ms: number;
}

type Highs = { solve(problem: string, options?: Record<string, unknown>): { Status: string; Columns: Record<string, { Primal: number }> } };

let highsPromise: Promise<Highs> | null = null;
async function highs(): Promise<Highs> {
  if (!highsPromise) {
    highsPromise = (async () => {
      const mod = (await import('highs')) as unknown as { default: (opts?: unknown) => Promise<Highs> };
      return mod.default();
    })();
  }
  return highsPromise;
}

/** A number as CPLEX LP text: finite, full precision. */
function num(x: number): string {
  if (!Number.isFinite(x)) throw new InvariantError(`a non-finite coefficient (${x}) in the assignment program`);
  return Math.abs(x).toPrecision(17);
}

function col(l: number, c: number): string {
  return `x_${l}_${c}`;
}

function check(p: AssignmentProblem): void {
  const n = p.layers * p.choices;
  if (p.layers < 1 || p.choices < 1 || p.value.length !== n || p.cost.length !== n) throw new InvariantError(`assignment problem: ${p.layers} layers × ${p.choices} choices needs ${n} values and costs, got ${p.value.length} and ${p.cost.length}`);
}

/** The program in CPLEX LP format (what HiGHS reads). */
export function lpText(p: AssignmentProblem, budget: number): string {
  check(p);
  const terms = (coef: Float64Array): string => {
    const out: string[] = [];
    for (let l = 0; l < p.layers; l++) for (let c = 0; c < p.choices; c++) out.push(`${coef[l * p.choices + c] < 0 ? '-' : '+'} ${num(coef[l * p.choices + c])} ${col(l, c)}`);
    return out.join(' ');
  };
  const lines = ['Minimize', ` proxy: ${terms(p.value)}`, 'Subject To'];
  for (let l = 0; l < p.layers; l++) {
    const row: string[] = [];
    for (let c = 0; c < p.choices; c++) row.push(`+ ${col(l, c)}`);
    lines.push(` one_${l}: ${row.join(' ')} = 1`);
  }
  lines.push(` budget: ${terms(p.cost)} <= ${budget < 0 ? '-' : ''}${num(budget)}`);
  lines.push('Binaries');
  for (let l = 0; l < p.layers; l++) lines.push(' ' + Array.from({ length: p.choices }, (_, c) => col(l, c)).join(' '));
  lines.push('End');
  return lines.join('\n') + '\n';
}

function sums(p: AssignmentProblem, choice: Int32Array): { value: number; cost: number } {
  let value = 0;
  let cost = 0;
  for (let l = 0; l < p.layers; l++) {
    value += p.value[l * p.choices + choice[l]];
    cost += p.cost[l * p.choices + choice[l]];
  }
  return { value, cost };
}

/** The assignment of least proxy with cost ≤ budget, or null when no assignment fits. */
export async function solveAssignment(p: AssignmentProblem, budget: number): Promise<Assignment | null> {
  const solver = await highs();
  const text = lpText(p, budget);
  const t0 = performance.now();
  // the tolerances: a binary within 1e-9 of 0/1, the optimum to 1e-9 relative (default 1e-4 would
  // stop at a merely good assignment)
  const r = solver.solve(text, { output_flag: false, mip_rel_gap: 1e-9, mip_abs_gap: 0, mip_feasibility_tolerance: 1e-9 });
  const ms = performance.now() - t0;
  if (r.Status === 'Infeasible') return null;
  if (r.Status !== 'Optimal') throw new InvariantError(`HiGHS ended with status '${r.Status}' on the assignment program`);
  const choice = new Int32Array(p.layers);
  for (let l = 0; l < p.layers; l++) {
    let best = -1;
    for (let c = 0; c < p.choices; c++) if (Math.round(r.Columns[col(l, c)]?.Primal ?? 0) === 1) best = c;
    if (best < 0) throw new InvariantError(`HiGHS returned no choice for layer ${l}`);
    choice[l] = best;
  }
  return { choice, ...sums(p, choice), budget, ms };
}

/** The cheapest and the dearest cost any assignment has (each layer's min / max cost). */
export function costRange(p: AssignmentProblem): { min: number; max: number } {
  check(p);
  let min = 0;
  let max = 0;
  for (let l = 0; l < p.layers; l++) {
    const row = p.cost.subarray(l * p.choices, (l + 1) * p.choices);
    min += Math.min(...row);
    max += Math.max(...row);
  }
  return { min, max };
}

/**
 * The Pareto front of proxy vs cost over `budgets` (ε-constraint: one exact solve per budget),
 * cheapest first, assignments that another dominates or repeats left out.
 */
export async function paretoFront(p: AssignmentProblem, budgets: readonly number[]): Promise<{ front: Assignment[]; solves: number; ms: number }> {
  const found: Assignment[] = [];
  let ms = 0;
  for (const b of budgets) {
    const a = await solveAssignment(p, b);
    if (a) {
      ms += a.ms;
      found.push(a);
    }
  }
  // within a relative 1e-9 two sums are the same (the solver's tolerance)
  const eps = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
  const key = (a: Assignment) => Array.from(a.choice).join(',');
  const seen = new Set<string>();
  const front = found
    .filter((a) => !found.some((o) => (o.cost < a.cost - eps(a.cost) && o.value <= a.value + eps(a.value)) || (o.value < a.value - eps(a.value) && o.cost <= a.cost + eps(a.cost))))
    .sort((a, b) => a.cost - b.cost || a.value - b.value)
    .filter((a) => (seen.has(key(a)) ? false : (seen.add(key(a)), true)));
  return { front, solves: budgets.length, ms };
}
