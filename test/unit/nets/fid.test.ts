/**
 * The Fréchet distance against closed forms worked out by hand: one dimension
 * ((μ₁−μ₂)² + (σ₁−σ₂)²), diagonal covariances (the same per axis, summed), 2×2 covariances that do
 * not commute (tr √(Σ₁Σ₂) = √(tr Σ₁Σ₂ + 2√det Σ₁Σ₂) for 2×2), and the eigensolver against a matrix
 * built from known eigenpairs.
 */
import { describe, expect, it } from 'vitest';
import { featureStats, frechetDistance, sqrtPsd, symmetricEigen, type FeatureStats } from '../../../nets/fid.js';
import { Prng } from '../../../nets/prng.js';

const stats = (mean: number[], cov: number[]): FeatureStats => ({ dim: mean.length, count: 100, mean: Float64Array.from(mean), cov: Float64Array.from(cov) });

describe('Fréchet distance', () => {
  it('one dimension: (μ₁−μ₂)² + (σ₁−σ₂)²', () => {
    expect(frechetDistance(stats([1], [4]), stats([-2], [9]))).toBeCloseTo(9 + 1, 12);
  });

  it('diagonal covariances: the per-axis sum', () => {
    const a = stats([0, 1, 2], [1, 0, 0, 0, 4, 0, 0, 0, 0.25]);
    const b = stats([1, 1, 0], [9, 0, 0, 0, 1, 0, 0, 0, 0.25]);
    // axis 0: 1 + (1−3)²; axis 1: 0 + (2−1)²; axis 2: 4 + 0
    expect(frechetDistance(a, b)).toBeCloseTo(1 + 4 + 1 + 4, 12);
  });

  it('non-commuting 2×2 covariances: the 2×2 trace-of-square-root identity', () => {
    const c1 = [2, 1, 1, 3];
    const c2 = [1, -0.5, -0.5, 2];
    // C1·C2 = [[1.5, 1], [-0.5, 5.5]]: trace 7, determinant det C1 · det C2 = 5 · 1.75 = 8.75
    const trSqrt = Math.sqrt(7 + 2 * Math.sqrt(8.75));
    const want = (0.5 - 0) ** 2 + (1 - 3) ** 2 + (2 + 3) + (1 + 2) - 2 * trSqrt;
    expect(frechetDistance(stats([0.5, 1], c1), stats([0, 3], c2))).toBeCloseTo(want, 10);
  });

  it('a set against itself is 0; against a shifted copy the squared shift', () => {
    const rng = new Prng(3);
    const n = 500;
    const d = 6;
    const rows = Float64Array.from({ length: n * d }, () => rng.normal());
    // correlate the axes so the covariance is not diagonal
    for (let i = 0; i < n; i++) rows[i * d + 1] += 0.8 * rows[i * d];
    const s = featureStats(rows, n, d);
    expect(frechetDistance(s, s)).toBeLessThan(1e-9);
    const shifted = Float64Array.from(rows, (v, i) => v + (i % d === 2 ? 0.5 : 0));
    expect(frechetDistance(s, featureStats(shifted, n, d))).toBeCloseTo(0.25, 9);
  });

  it('featureStats: mean and the unbiased covariance by hand', () => {
    // rows (1, 2), (3, 6), (5, 4): mean (3, 4); deviations (−2,−2), (0, 2), (2, 0)
    const s = featureStats([1, 2, 3, 6, 5, 4], 3, 2);
    expect(Array.from(s.mean)).toEqual([3, 4]);
    expect(Array.from(s.cov)).toEqual([8 / 2, 4 / 2, 4 / 2, 8 / 2]);
  });
});

describe('symmetric eigensolver', () => {
  it('recovers the eigenvalues of Q·diag(λ)·Qᵀ and its PSD square root squares back', () => {
    const n = 12;
    const rng = new Prng(9);
    // a random orthogonal Q from Gram–Schmidt
    const q = new Float64Array(n * n);
    for (let k = 0; k < n; k++) {
      const v = Float64Array.from({ length: n }, () => rng.normal());
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[i] * q[i * n + j];
        for (let i = 0; i < n; i++) v[i] -= dot * q[i * n + j];
      }
      const norm = Math.hypot(...v);
      for (let i = 0; i < n; i++) q[i * n + k] = v[i] / norm;
    }
    const lambda = Array.from({ length: n }, (_, i) => (i + 1) * 0.75);
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) m[i * n + j] += q[i * n + k] * lambda[k] * q[j * n + k];
    const { values } = symmetricEigen(m, n);
    const got = Array.from(values).sort((a, b) => a - b);
    got.forEach((v, i) => expect(v).toBeCloseTo(lambda[i], 10));
    const s = sqrtPsd(m, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let v = 0;
        for (let k = 0; k < n; k++) v += s[i * n + k] * s[k * n + j];
        expect(v).toBeCloseTo(m[i * n + j], 9);
      }
  });
});
