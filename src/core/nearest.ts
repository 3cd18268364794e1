/**
 * Dot-product kernels over flat row-major typed arrays (float64 sums): distances
 * to many centroids at once for k-means, and one query's dot products with a
 * codebook for distance tables. Many-row nearest-centroid search (encoding, IVF
 * assignment) is the SIMD kernel wasm/kernels.nearestF32.
 */
import { matmulABt } from './linalg.js';

/**
 * Squared distances of rows [0, n) (row i at x[xo + i·d]) to all k centroids (k × d from c[0]):
 * out[i·k + j] = max(0, xNorms[i] + cNorms[j] − 2⟨x_i, c_j⟩), the dot products by the
 * blocked A·Bᵀ kernel. The norm form loses a little precision to cancellation:
 * |error| ≤ d · 2⁻⁵⁰ · (xNorms[i] + cNorms[j]), which callers that need bounds subtract.
 */
export function squaredDistancesTo(
  x: Float32Array,
  xo: number,
  n: number,
  d: number,
  xNorms: Float64Array,
  c: Float32Array,
  k: number,
  cNorms: Float64Array,
  out: Float64Array,
): void {
  matmulABt(x, xo, c, 0, n, k, d, out);
  for (let i = 0; i < n; i++) {
    const xn = xNorms[i];
    for (let j = 0, o = i * k; j < k; j++, o++) out[o] = Math.max(0, xn + cNorms[j] - 2 * out[o]);
  }
}

/**
 * Dot products of one row q[qo .. qo+ds) with k centroids (k × ds from c[co]),
 * four centroids at a time: out[oo + j] = ⟨q, c_j⟩.
 */
export function dotsWithCentroids(
  q: Float32Array,
  qo: number,
  c: Float32Array,
  co: number,
  k: number,
  ds: number,
  out: Float32Array | Float64Array,
  oo: number,
): void {
  const k4 = k & ~3;
  let j = 0;
  for (; j < k4; j += 4) {
    const c0 = co + j * ds;
    const c1 = c0 + ds;
    const c2 = c1 + ds;
    const c3 = c2 + ds;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let t = 0; t < ds; t++) {
      const a = q[qo + t];
      s0 += a * c[c0 + t];
      s1 += a * c[c1 + t];
      s2 += a * c[c2 + t];
      s3 += a * c[c3 + t];
    }
    out[oo + j] = s0;
    out[oo + j + 1] = s1;
    out[oo + j + 2] = s2;
    out[oo + j + 3] = s3;
  }
  for (; j < k; j++) {
    const cj = co + j * ds;
    let s = 0;
    for (let t = 0; t < ds; t++) s += q[qo + t] * c[cj + t];
    out[oo + j] = s;
  }
}
