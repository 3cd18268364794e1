/**
 * Exact distance kernels over flat Float32Array rows. Every function takes
 * (array, offset) pairs so callers never slice: rows are addressed in place.
 * Sums are accumulated in float64 (JavaScript numbers) over four independent
 * chains, which keeps the adder pipelines busy.
 */

export type Metric = 'l2' | 'ip' | 'cosine';

/** Squared Euclidean distance between a[ao .. ao+d) and b[bo .. bo+d). */
export function l2sq(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= d; i += 4) {
    const t0 = a[ao + i] - b[bo + i];
    const t1 = a[ao + i + 1] - b[bo + i + 1];
    const t2 = a[ao + i + 2] - b[bo + i + 2];
    const t3 = a[ao + i + 3] - b[bo + i + 3];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  // The tail's columns join their chains (column t in chain t mod 4): wasm/kernels.ts's
  // l2sqRows, which pads rows with zeros to a multiple of four, then sums the same way.
  if (i < d) {
    const t = a[ao + i] - b[bo + i];
    s0 += t * t;
  }
  if (i + 1 < d) {
    const t = a[ao + i + 1] - b[bo + i + 1];
    s1 += t * t;
  }
  if (i + 2 < d) {
    const t = a[ao + i + 2] - b[bo + i + 2];
    s2 += t * t;
  }
  return s0 + s1 + (s2 + s3);
}

/** Inner product of a[ao .. ao+d) and b[bo .. bo+d). */
export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[ao + i] * b[bo + i];
    s1 += a[ao + i + 1] * b[bo + i + 1];
    s2 += a[ao + i + 2] * b[bo + i + 2];
    s3 += a[ao + i + 3] * b[bo + i + 3];
  }
  for (; i < d; i++) s0 += a[ao + i] * b[bo + i];
  return s0 + s1 + (s2 + s3);
}

/** Squared norms of n rows of width d: out[i] = ‖row i‖². */
export function squaredNorms(data: Float32Array, n: number, d: number, out: Float64Array = new Float64Array(n)): Float64Array {
  for (let i = 0; i < n; i++) out[i] = dot(data, i * d, data, i * d, d);
  return out;
}

/**
 * Scales each of n rows of width d to unit length in place (cosine = inner
 * product on unit vectors). A zero row stays zero; its similarity to anything is 0.
 */
export function normalizeRows(data: Float32Array, n: number, d: number): Float32Array {
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const norm = Math.sqrt(dot(data, o, data, o, d));
    if (norm === 0) continue;
    const inv = 1 / norm;
    for (let j = 0; j < d; j++) data[o + j] *= inv;
  }
  return data;
}

/**
 * The metric a search runs under: cosine collections search by inner product on
 * unit vectors (stored vectors and queries are normalised first). The one place
 * that maps a collection's metric to a scan's.
 */
export function searchMetric(metric: Metric): 'l2' | 'ip' {
  return metric === 'l2' ? 'l2' : 'ip';
}

/** Exact distance used for ranking under a metric: smaller is nearer (inner product is negated). */
export function rankingDistance(metric: Metric, a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  return metric === 'l2' ? l2sq(a, ao, b, bo, d) : -dot(a, ao, b, bo, d);
}
