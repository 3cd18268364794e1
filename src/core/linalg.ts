/**
 * Dense linear algebra for the rotation (OPQ) and PCA: the blocked A·Bᵀ product,
 * a symmetric eigendecomposition, Gram–Schmidt.
 * Matrices are flat, row-major; "rows × cols" is stated beside each argument.
 */
import type { TrainCompute } from './rotation.js';

/**
 * The A·Bᵀ kernel of the float64 family: out[oo + i·m + j] = ⟨A row i, B row j⟩
 * for A: n × k (from ao), B: m × k (from bo); with B = Cᵀ stored row-major it is A·C.
 * Every other product of rows in the core is this one: a query's dot products with
 * a codebook (distance tables, IVF cell terms) is n = 1, k-means distances are
 * built on it. Its float32 SIMD twin is wasm/kernels.dotsF32 (same arguments).
 *
 * Each entry is one float64 sum over t in order, so the result does not depend on
 * the blocking: two rows × four columns per step (each loaded value feeds several
 * multiply-adds), a last odd row four columns at a time.
 */
export function matmulABt(
  A: Float32Array | Float64Array,
  ao: number,
  B: Float32Array | Float64Array,
  bo: number,
  n: number,
  m: number,
  k: number,
  out: Float32Array | Float64Array,
  oo = 0,
): void {
  const m4 = m & ~3;
  for (let i = 0; i < n; i += 2) {
    const a0 = ao + i * k;
    const o0 = oo + i * m;
    if (i + 1 === n) {
      rowTimesBt(A, a0, B, bo, m, k, out, o0);
      break;
    }
    const a1 = a0 + k;
    const o1 = o0 + m;
    let j = 0;
    for (; j < m4; j += 4) {
      const b0 = bo + j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let r0 = 0;
      let r1 = 0;
      let r2 = 0;
      let r3 = 0;
      for (let t = 0; t < k; t++) {
        const x = A[a0 + t];
        const y = A[a1 + t];
        const e0 = B[b0 + t];
        const e1 = B[b1 + t];
        const e2 = B[b2 + t];
        const e3 = B[b3 + t];
        s0 += x * e0;
        s1 += x * e1;
        s2 += x * e2;
        s3 += x * e3;
        r0 += y * e0;
        r1 += y * e1;
        r2 += y * e2;
        r3 += y * e3;
      }
      out[o0 + j] = s0;
      out[o0 + j + 1] = s1;
      out[o0 + j + 2] = s2;
      out[o0 + j + 3] = s3;
      out[o1 + j] = r0;
      out[o1 + j + 1] = r1;
      out[o1 + j + 2] = r2;
      out[o1 + j + 3] = r3;
    }
    for (; j < m; j++) {
      const b0 = bo + j * k;
      let s = 0;
      let r = 0;
      for (let t = 0; t < k; t++) {
        s += A[a0 + t] * B[b0 + t];
        r += A[a1 + t] * B[b0 + t];
      }
      out[o0 + j] = s;
      out[o1 + j] = r;
    }
  }
}

/** One row of A·Bᵀ (row a0 of A against the m rows of B from bo), four rows of B at a time. */
function rowTimesBt(
  A: Float32Array | Float64Array,
  a0: number,
  B: Float32Array | Float64Array,
  bo: number,
  m: number,
  k: number,
  out: Float32Array | Float64Array,
  o0: number,
): void {
  const m4 = m & ~3;
  let j = 0;
  for (; j < m4; j += 4) {
    const b0 = bo + j * k;
    const b1 = b0 + k;
    const b2 = b1 + k;
    const b3 = b2 + k;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let t = 0; t < k; t++) {
      const x = A[a0 + t];
      s0 += x * B[b0 + t];
      s1 += x * B[b1 + t];
      s2 += x * B[b2 + t];
      s3 += x * B[b3 + t];
    }
    out[o0 + j] = s0;
    out[o0 + j + 1] = s1;
    out[o0 + j + 2] = s2;
    out[o0 + j + 3] = s3;
  }
  for (; j < m; j++) {
    const b0 = bo + j * k;
    let s = 0;
    for (let t = 0; t < k; t++) s += A[a0 + t] * B[b0 + t];
    out[o0 + j] = s;
  }
}

/** Transpose of an n × m matrix (m × n). */
export function transpose<T extends Float32Array | Float64Array>(a: T, n: number, m: number): T {
  const Ctor = a.constructor as new (len: number) => T;
  const out = new Ctor(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j];
  return out;
}

/**
 * Eigendecomposition of a symmetric n × n matrix S (S is not modified):
 * Householder reduction to tridiagonal form, then the implicit QL algorithm
 * (EISPACK tred2/tql2). Returns the eigenvalues in descending order and the
 * eigenvectors as the rows of `vectors` (n × n): row i belongs to values[i].
 *
 * The working matrix is kept transposed (W = Vᵀ) so that every inner loop runs
 * along contiguous memory.
 */
export function symmetricEigen(S: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const W = Float64Array.from(S.subarray(0, n * n)); // symmetric: Sᵀ = S
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(W, d, e, n);
  tqlImplicit(W, d, e, n);
  // Sort descending.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[b] - d[a]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    vectors.set(W.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}

/** Householder tridiagonalisation (tred2) on W = Vᵀ: W[b·n + a] stands for V[a][b]. */
function tridiagonalize(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = W[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = W[j * n + i - 1];
        W[j * n + i] = 0;
        W[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        const wj = j * n;
        f = d[j];
        W[i * n + j] = f;
        g = e[j] + W[wj + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += W[wj + k] * d[k];
          e[k] += W[wj + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        const wj = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) W[wj + k] -= f * e[k] + g * d[k];
        d[j] = W[wj + i - 1];
        W[wj + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    W[i * n + n - 1] = W[i * n + i];
    W[i * n + i] = 1;
    const h = d[i + 1];
    const wi1 = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[wi1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const wj = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += W[wi1 + k] * W[wj + k];
        for (let k = 0; k <= i; k++) W[wj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) W[wi1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[j * n + n - 1];
    W[j * n + n - 1] = 0;
  }
  W[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e) (tql2), rotating the rows of W = Vᵀ. */
function tqlImplicit(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m === n) m = n - 1;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 100) throw new Error('eigendecomposition did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          // Rotate rows i and i+1 of W (columns of V).
          const wi = i * n;
          const wi1 = wi + n;
          for (let k = 0; k < n; k++) {
            const t = W[wi1 + k];
            W[wi1 + k] = s * W[wi + k] + c * t;
            W[wi + k] = c * W[wi + k] - s * t;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Orthonormalises the rows of an n × m matrix in place (modified Gram–Schmidt;
 * two passes when the rows may be far from orthogonal). A row that becomes
 * (numerically) dependent is replaced by the unit vector least represented so
 * far, then orthonormalised.
 */
export function gramSchmidtRows(A: Float64Array, n: number, m: number, passes = 2): void {
  for (let i = 0; i < n; i++) {
    const ai = i * m;
    for (let pass = 0; pass < passes; pass++) {
      for (let j = 0; j < i; j++) {
        const aj = j * m;
        let dotv = 0;
        for (let t = 0; t < m; t++) dotv += A[ai + t] * A[aj + t];
        for (let t = 0; t < m; t++) A[ai + t] -= dotv * A[aj + t];
      }
    }
    let norm = 0;
    for (let t = 0; t < m; t++) norm += A[ai + t] * A[ai + t];
    norm = Math.sqrt(norm);
    if (norm < 1e-6) {
      // Pick the axis with the smallest weight in the rows so far and orthonormalise it.
      let best = 0;
      let bestW = Infinity;
      for (let t = 0; t < m; t++) {
        let w = 0;
        for (let j = 0; j < i; j++) w += A[j * m + t] * A[j * m + t];
        if (w < bestW) {
          bestW = w;
          best = t;
        }
      }
      A.fill(0, ai, ai + m);
      A[ai + best] = 1;
      i--; // redo this row
      continue;
    }
    for (let t = 0; t < m; t++) A[ai + t] /= norm;
  }
}

/** max |RᵀR − I| over the entries, for an n × n matrix R. */
export function orthogonalityError(R: Float32Array | Float64Array, n: number): number {
  const Rt = Float64Array.from(transpose(R, n, n) as Float32Array | Float64Array);
  const P = new Float64Array(n * n);
  matmulABt(Rt, 0, Rt, 0, n, n, n, P);
  let worst = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(P[i * n + j] - (i === j ? 1 : 0)));
  return worst;
}

/** The covariance (d × d, float64) of n rows (n × d; xt their transpose). */
export async function covariance(
  rows: Float32Array,
  xt: Float32Array,
  n: number,
  d: number,
  compute: Pick<TrainCompute, 'matmulABt'>,
): Promise<Float64Array> {
  const gram = await compute.matmulABt(xt, xt, d, d, n); // Σ x xᵀ
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += rows[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= n;
  const cov = new Float64Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] = gram[a * d + b] / n - mean[a] * mean[b];
  return cov;
}
