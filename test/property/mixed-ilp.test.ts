/**
 * The mixed-precision program on HiGHS (scenarios/mixed-ilp.ts) against exhaustive enumeration:
 * on seeded random instances (up to 5 layers × 4 choices = 1,024 assignments) the solver's
 * assignment has the least proxy of every assignment within the budget, its sums are the
 * assignment's, an infeasible budget gives null, and the front equals the enumerated front's
 * points at those budgets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { costRange, lpText, paretoFront, solveAssignment, type AssignmentProblem } from '../../scenarios/mixed-ilp.js';

const instance = fc
  .record({ layers: fc.integer({ min: 1, max: 5 }), choices: fc.integer({ min: 1, max: 4 }) })
  .chain(({ layers, choices }) =>
    fc.record({
      layers: fc.constant(layers),
      choices: fc.constant(choices),
      // integers keep the enumeration's sums exact, so "least" has no float tie to argue over
      value: fc.array(fc.integer({ min: -50, max: 1000 }), { minLength: layers * choices, maxLength: layers * choices }),
      cost: fc.array(fc.integer({ min: -200, max: 5000 }), { minLength: layers * choices, maxLength: layers * choices }),
      frac: fc.double({ min: -0.1, max: 1.1, noNaN: true }),
    }),
  );

function problem(i: { layers: number; choices: number; value: number[]; cost: number[] }): AssignmentProblem {
  return { layers: i.layers, choices: i.choices, value: Float64Array.from(i.value), cost: Float64Array.from(i.cost) };
}

/** every assignment: [choices…], value, cost */
function enumerate(p: AssignmentProblem): { choice: number[]; value: number; cost: number }[] {
  const out: { choice: number[]; value: number; cost: number }[] = [];
  const total = p.choices ** p.layers;
  for (let k = 0; k < total; k++) {
    const choice: number[] = [];
    let r = k;
    let value = 0;
    let cost = 0;
    for (let l = 0; l < p.layers; l++) {
      const c = r % p.choices;
      r = Math.floor(r / p.choices);
      choice.push(c);
      value += p.value[l * p.choices + c];
      cost += p.cost[l * p.choices + c];
    }
    out.push({ choice, value, cost });
  }
  return out;
}

describe('mixed-precision assignment on HiGHS', () => {
  it('returns the least-proxy assignment within the budget, or null when none fits', async () => {
    await fc.assert(
      fc.asyncProperty(instance, async (i) => {
        const p = problem(i);
        const { min, max } = costRange(p);
        const budget = Math.round(min + i.frac * (max - min));
        const all = enumerate(p).filter((a) => a.cost <= budget);
        const got = await solveAssignment(p, budget);
        if (all.length === 0) {
          expect(got).toBeNull();
          return;
        }
        expect(got).not.toBeNull();
        const best = Math.min(...all.map((a) => a.value));
        expect(got!.value).toBe(best);
        expect(got!.cost).toBeLessThanOrEqual(budget);
        const mine = enumerate(p).find((a) => a.choice.join() === Array.from(got!.choice).join())!;
        expect([got!.value, got!.cost]).toEqual([mine.value, mine.cost]);
      }),
      { numRuns: 60 },
    );
  });

  it('the front holds, per budget, a least-proxy assignment, none dominated by another front point', async () => {
    await fc.assert(
      fc.asyncProperty(instance, async (i) => {
        const p = problem(i);
        const { min, max } = costRange(p);
        const budgets = Array.from({ length: 6 }, (_, k) => Math.round(min + ((max - min) * k) / 5));
        const { front } = await paretoFront(p, budgets);
        const all = enumerate(p);
        for (const b of budgets) {
          const best = Math.min(...all.filter((a) => a.cost <= b).map((a) => a.value));
          // the best value at this budget is reached by a front point within the budget
          expect(front.some((a) => a.cost <= b && a.value === best)).toBe(true);
        }
        for (const a of front) for (const o of front) if (o !== a) expect(o.cost <= a.cost && o.value <= a.value && (o.cost < a.cost || o.value < a.value)).toBe(false);
        for (let k = 1; k < front.length; k++) expect(front[k].cost).toBeGreaterThan(front[k - 1].cost);
      }),
      { numRuns: 30 },
    );
  });

  it('writes the program as CPLEX LP text: one-hot rows, the budget row and binaries', () => {
    const p = problem({ layers: 2, choices: 2, value: [0, 3, 0, -1.5], cost: [10, 4, 8, 2] });
    const t = lpText(p, 15);
    expect(t).toContain('one_0: + x_0_0 + x_0_1 = 1');
    expect(t).toContain('one_1: + x_1_0 + x_1_1 = 1');
    expect(t).toMatch(/budget: \+ 10\.0+ x_0_0 \+ 4\.0+ x_0_1 \+ 8\.0+ x_1_0 \+ 2\.0+ x_1_1 <= 15\.0+/);
    expect(t).toMatch(/- 1\.50+ x_1_1/);
    expect(t).toContain('Binaries\n x_0_0 x_0_1\n x_1_0 x_1_1\nEnd');
  });
});
