/**
 * Fréchet distance between two sets of feature vectors (Heusel et al. 2017):
 *   FID = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½)
 * with tr((Σ₁Σ₂)^½) = Σ √λᵢ(Σ₁^½ Σ₂ Σ₁^½) — the symmetric form, so both square roots come from a
 * symmetric eigendecomposition (cyclic Jacobi, float64) and no complex parts appear. Covariances
 * are the unbiased ones (n − 1), as the reference implementation's numpy.cov.
 *
 * The features are not Inception-v3's (no download here): `classifierFeatures` takes a bundled
 * classifier of the same data set and uses the input of its last Gemm (its penultimate layer,
 * after the ReLU) — so numbers are comparable within qloom, not with published FIDs.
 */

import { ModelError } from './errors.js';
import { runFp32 } from './fp32.js';
import { numel, type Graph } from './graph.js';

export interface FeatureStats {
  readonly dim: number;
  readonly count: number;
  readonly mean: Float64Array;
  /** dim×dim, row-major */
  readonly cov: Float64Array;
}

/** Mean and unbiased covariance of n feature rows (n·dim, row-major). */
export function featureStats(rows: ArrayLike<number>, n: number, dim: number): FeatureStats {
  if (n < 2) throw new RangeError('feature statistics need at least 2 samples');
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += rows[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) c[j] = rows[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ca = c[a];
      if (ca === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ca * c[b];
    }
  }
  for (let a = 0; a < dim; a++)
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  return { dim, count: n, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix (cyclic Jacobi rotations until the
 * off-diagonal mass is below 1e-22 of the total): `values[k]` with eigenvector column k of
 * `vectors` (row-major n×n).
 */
export function symmetricEigen(m: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-22 * total || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/** The PSD square root V·diag(√max(λ, 0))·Vᵀ of a symmetric matrix. */
export function sqrtPsd(m: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(0, values[k]));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vi = vectors[i * n + k] * r;
      for (let j = 0; j < n; j++) out[i * n + j] += vi * vectors[j * n + k];
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  return out;
}

export function frechetDistance(x: FeatureStats, y: FeatureStats): number {
  if (x.dim !== y.dim) throw new RangeError(`feature sizes differ: ${x.dim} vs ${y.dim}`);
  const n = x.dim;
  let d2 = 0;
  let tr = 0;
  for (let i = 0; i < n; i++) {
    d2 += (x.mean[i] - y.mean[i]) ** 2;
    tr += x.cov[i * n + i] + y.cov[i * n + i];
  }
  const s = sqrtPsd(x.cov, n);
  const m = matmul(matmul(s, y.cov, n), s, n);
  // symmetrize the product's rounding before the eigensolver
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = (m[i * n + j] + m[j * n + i]) / 2;
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  const { values } = symmetricEigen(m, n);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(0, v));
  return Math.max(0, d2 + tr - 2 * trSqrt);
}

/** The classifier's penultimate features: the input tensor of its last Gemm. */
export function featureTensor(classifier: Graph): string {
  const gemms = classifier.nodes.filter((n) => n.op === 'Gemm' || n.op === 'MatMul');
  const last = gemms[gemms.length - 1];
  if (!last) throw new ModelError([{ node: classifier.name, message: 'a feature classifier needs a final Gemm or MatMul' }]);
  return last.inputs[0];
}

/** Features (count·dim) of images ([0, 1] pixels, the classifier's own input scale) in batches. */
export function classifierFeatures(classifier: Graph, images: Float32Array, count: number, batch = 250): { rows: Float32Array; dim: number } {
  const name = featureTensor(classifier);
  const inp = classifier.inputs[0];
  const per = images.length / count;
  const sample = inp.shape.slice(1).every((d) => d >= 0) ? inp.shape.slice(1) : [per];
  if (numel(sample) !== per) throw new ModelError([{ node: inp.name, message: `the classifier takes [${inp.shape.join(',')}], the images have ${per} values each` }]);
  let rows: Float32Array | undefined;
  let dim = 0;
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const res = runFp32(classifier, { [inp.name]: { dtype: 'float32', shape: [n, ...sample], data: images.subarray(s * per, (s + n) * per) } }, { keep: [name] });
    const f = res[name];
    dim = f.data.length / n;
    rows ??= new Float32Array(count * dim);
    rows.set(f.data as Float32Array, s * dim);
  }
  return { rows: rows!, dim };
}
