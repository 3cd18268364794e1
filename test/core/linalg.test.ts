import { describe, expect, it } from 'vitest';
import { gramSchmidtRows, matmulABt, orthogonalityError, symmetricEigen, transpose } from '../../src/core/linalg.js';
import { Rng } from '../../src/core/rng.js';
import { gaussian } from '../helpers/data.js';

function randomMatrix(n: number, m: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n * m }, () => gaussian(rng));
}

describe('linear algebra', () => {
  it('multiplies A·Bᵀ like the textbook triple loop, for odd shapes', () => {
    const [n, m, k] = [7, 6, 5];
    const A = randomMatrix(n, k, 1);
    const B = randomMatrix(m, k, 2);
    const out = new Float64Array(n * m);
    matmulABt(A, 0, B, 0, n, m, k, out);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += A[i * k + t] * B[j * k + t];
        expect(out[i * m + j]).toBeCloseTo(s, 12);
      }
    }
    expect(Array.from(transpose(transpose(A, n, k), k, n))).toEqual(Array.from(A));
  });

  it('decomposes a symmetric matrix: S v = λ v, orthonormal vectors, values descending', () => {
    const n = 30;
    const X = randomMatrix(n, n, 3);
    const S = new Float64Array(n * n);
    matmulABt(X, 0, X, 0, n, n, n, S); // X Xᵀ: symmetric positive semi-definite
    const { values, vectors } = symmetricEigen(S, n);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1]);
    expect(orthogonalityError(vectors, n)).toBeLessThan(1e-10);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < n; a++) {
        let sv = 0;
        for (let b = 0; b < n; b++) sv += S[a * n + b] * vectors[i * n + b];
        expect(sv).toBeCloseTo(values[i] * vectors[i * n + a], 8);
      }
    }
  });

  it('orthonormalises rows and completes zero rows to a basis', () => {
    const n = 12;
    const A = randomMatrix(n, n, 4);
    A.fill(0, 3 * n, 5 * n); // two zero rows
    gramSchmidtRows(A, n, n, 2);
    expect(orthogonalityError(A, n)).toBeLessThan(1e-12);
  });
});
