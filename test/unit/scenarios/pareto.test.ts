import { describe, expect, it } from 'vitest';
import { pareto } from '../../../scenarios/pareto.js';

describe('pareto', () => {
  it('hand example: minimize latency and energy', () => {
    // by hand: B (1,9), C (3,4) and E (6,2) trade off; A (4,5) is dominated by C, D (7,7) by C and E,
    // F (3,4) duplicates C (neither dominates the other), G has no energy and is left out
    const pts = [
      { name: 'A', latency: 4, energy: 5 },
      { name: 'B', latency: 1, energy: 9 },
      { name: 'C', latency: 3, energy: 4 },
      { name: 'D', latency: 7, energy: 7 },
      { name: 'E', latency: 6, energy: 2 },
      { name: 'F', latency: 3, energy: 4 },
      { name: 'G', latency: 0, energy: null },
    ];
    const front = pareto(pts, [
      { metric: 'latency', goal: 'min' },
      { metric: 'energy', goal: 'min' },
    ]);
    expect(front.map((i) => pts[i].name)).toEqual(['B', 'C', 'E', 'F']);
  });

  it('a max objective flips the order', () => {
    const pts = [
      { acc: 0.9, cost: 10 },
      { acc: 0.8, cost: 5 },
      { acc: 0.7, cost: 6 },
      { acc: 0.95, cost: 20 },
    ];
    // (0.7, 6) is worse than (0.8, 5) in both; the others trade accuracy for cost
    expect(pareto(pts, [{ metric: 'acc', goal: 'max' }, { metric: 'cost', goal: 'min' }])).toEqual([0, 1, 3]);
  });

  it('an empty input gives an empty front', () => {
    expect(pareto([], [{ metric: 'x', goal: 'min' }])).toEqual([]);
  });
});
