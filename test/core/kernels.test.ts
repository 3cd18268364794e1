import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { l2sq } from '../../src/core/distance.js';
import { RowDistances, codebookDots, dotsF32, nearestF32, queryDots } from '../../src/core/wasm/kernels.js';
import { subspaceOffsets } from '../../src/core/pq.js';
import { gaussian } from '../helpers/data.js';

function randomRows(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * d }, () => gaussian(rng));
}

/** Float64 reference of ⟨a row i, b row j⟩. */
function dot64(a: Float32Array, ao: number, b: Float32Array, bo: number, k: number): number {
  let s = 0;
  for (let t = 0; t < k; t++) s += a[ao + t] * b[bo + t];
  return s;
}

/**
 * The kernels' arithmetic in scalar float32: lane l sums the products of
 * columns l, l + 4, l + 8 … (each product and each sum rounded to float32; rows
 * padded with zeros to a multiple of four), then ((lane 0 + lane 1) + lane 2) + lane 3.
 */
function dot32(a: Float32Array, ao: number, b: Float32Array, bo: number, k: number): number {
  const f = Math.fround;
  const lanes = [0, 0, 0, 0];
  for (let t = 0; t < k + (-k & 3); t++) {
    const product = t < k ? f(a[ao + t] * b[bo + t]) : 0;
    lanes[t & 3] = f(lanes[t & 3] + product);
  }
  return f(f(f(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
}

/** ⟨x, y⟩ as the rowDots kernel sums it: float32 products and sums, column t in lane t mod 4, then ((lane 0 + lane 1) + lane 2) + lane 3. */
function fourLaneDot(x: Float32Array, xo: number, y: Float32Array, yo: number, k: number): number {
  const f = Math.fround;
  const lanes = [0, 0, 0, 0];
  for (let t = 0; t < k; t++) lanes[t % 4] = f(lanes[t % 4] + f(x[xo + t] * y[yo + t]));
  return f(f(f(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
}

describe('query dot products (float32 lanes over resident rows)', () => {
  it('queryDots and codebookDots equal the four-lane float32 sums bit for bit, odd widths and row counts included', () => {
    const rng = new Rng(17);
    for (const [d, m, ksub] of [
      [784, 32, 256],
      [37, 5, 16],
      [9, 9, 2],
      [130, 3, 7],
    ]) {
      const offsets = subspaceOffsets(d, m);
      const centroids = Float32Array.from({ length: ksub * d }, () => rng.nextFloat() * 2 - 1);
      const x = Float32Array.from({ length: 3 + d }, () => rng.nextFloat() * 2 - 1);
      const all = new Float64Array(m * ksub);
      codebookDots(x, 3, centroids, offsets, ksub, all);
      const one = new Float64Array(ksub);
      for (let j = 0; j < m; j++) {
        const k = offsets[j + 1] - offsets[j];
        queryDots(x, 3 + offsets[j], centroids, ksub * offsets[j], ksub, k, one);
        for (let c = 0; c < ksub; c++) {
          const want = fourLaneDot(x, 3 + offsets[j], centroids, ksub * offsets[j] + c * k, k);
          expect(one[c]).toBe(want);
          expect(all[j * ksub + c]).toBe(want);
        }
      }
      // Called again (resident now) it gives the same.
      const again = new Float64Array(m * ksub);
      codebookDots(x, 3, centroids, offsets, ksub, again);
      expect(again).toEqual(all);
    }
  });
});

describe('WebAssembly SIMD kernels', () => {
  it('dotsF32 computes A·Bᵀ within float32 rounding for shapes off the 2 × 4 × 4 grid, with offsets, beyond one block', () => {
    for (const [n, m, k] of [
      [1, 1, 1],
      [3, 5, 7],
      [67, 70, 98],
      [130, 9, 129],
      [3, 2, 0],
    ]) {
      const A = randomRows(n + 2, k, n);
      const B = randomRows(m + 1, k, m);
      const out = new Float64Array(n * m + 3).fill(-7);
      dotsF32(A, 2 * k, B, k, n, m, k, out, 3);
      expect(out.subarray(0, 3).every((v) => v === -7)).toBe(true);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < m; j++) {
          const exact = dot64(A, (i + 2) * k, B, (j + 1) * k, k);
          expect(Math.abs(out[3 + i * m + j] - exact)).toBeLessThanOrEqual(1e-5 * Math.sqrt(k) * (1 + Math.abs(exact)));
        }
      }
    }
  });

  it('dotsF32 gives every row the same bits whether computed alone or in a batch (results never depend on the split)', () => {
    const [n, m, k] = [37, 21, 50];
    const A = randomRows(n, k, 11);
    const B = randomRows(m, k, 12);
    const all = new Float32Array(n * m);
    dotsF32(A, 0, B, 0, n, m, k, all);
    for (const i of [0, 17, 36]) {
      const one = new Float32Array(m);
      dotsF32(A, i * k, B, 0, 1, m, k, one);
      expect(Array.from(one)).toEqual(Array.from(all.subarray(i * m, (i + 1) * m)));
    }
  });

  it('nearestF32 finds the nearest centroid of strided rows, ties to the lower index, for k off a multiple of four and more rows than one block', () => {
    const [n, k, ds, stride] = [601, 13, 9, 20];
    const x = randomRows(n, stride, 21);
    const c = randomRows(k, ds, 22);
    c.set(c.subarray(2 * ds, 3 * ds), 9 * ds); // centroid 9 duplicates 2: 2 must win
    const norms = Float64Array.from({ length: k }, (_, j) => dot64(c, j * ds, c, j * ds, ds));
    const out = new Int32Array(2 * n).fill(-1);
    nearestF32(x, 5, stride, n, c, 0, k, ds, norms, 0, out, 1, 2);
    let sawTie = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bv = Infinity;
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let t = 0; t < ds; t++) s += (x[5 + i * stride + t] - c[j * ds + t]) ** 2;
        if (s < bv) [bv, best] = [s, j];
      }
      sawTie ||= best === 2;
      expect(out[1 + 2 * i]).toBe(best);
      expect(out[2 * i]).toBe(-1);
    }
    expect(sawTie).toBe(true);
  });

  it('dotsF32 and nearestF32 equal, bit for bit, the scalar float32 reference summed in the same order', () => {
    for (const [n, m, k] of [
      [1, 1, 1],
      [3, 5, 7],
      [4, 9, 13],
      [67, 70, 98],
      [130, 9, 129],
    ]) {
      const A = randomRows(n, k, 40 + n);
      const B = randomRows(m, k, 50 + m);
      const out = new Float32Array(n * m);
      dotsF32(A, 0, B, 0, n, m, k, out);
      const expected = Float32Array.from({ length: n * m }, (_, e) => dot32(A, Math.floor(e / m) * k, B, (e % m) * k, k));
      expect(Array.from(new Uint32Array(out.buffer))).toEqual(Array.from(new Uint32Array(expected.buffer)));

      // nearest: argmin of ‖c_j‖² − 2·dot in float64, a later centroid winning only when strictly lower
      B.set(B.subarray(0, k), (m - 1) * k); // the last centroid duplicates the first: the first must win
      const norms = Float64Array.from({ length: m }, (_, j) => dot64(B, j * k, B, j * k, k));
      const codes = new Int32Array(n);
      nearestF32(A, 0, k, n, B, 0, m, k, norms, 0, codes, 0, 1);
      const expectedCodes = Int32Array.from({ length: n }, (_, i) => {
        let best = 0;
        let bv = Infinity;
        for (let j = 0; j < m; j++) {
          const v = norms[j] - dot32(A, i * k, B, j * k, k) * 2;
          if (v < bv) [bv, best] = [v, j];
        }
        return best;
      });
      expect(Array.from(codes)).toEqual(Array.from(expectedCodes));
    }
  });

  it('keeps working after its memory grows (views are refreshed)', () => {
    const [n, d] = [600, 784]; // 3.6 MB of operands: more than the initial 1 MiB
    const A = randomRows(n, d, 31);
    const big = new Float32Array(n * n);
    dotsF32(A, 0, A, 0, n, n, d, big);
    const small = new Float32Array(4);
    dotsF32(A, 0, A, 0, 2, 2, d, small);
    expect(Array.from(small)).toEqual([big[0], big[1], big[n], big[n + 1]]);
  });

  it('RowDistances equals distance.l2sq bit for bit, for every d mod 4, over any row range, after the rows are reloaded', () => {
    for (const d of [1, 2, 3, 4, 5, 7, 13, 128, 131]) {
      const k = 37;
      const rows = randomRows(k, d, 40 + d);
      const x = randomRows(3, d, 50 + d);
      const kernel = new RowDistances(k, d);
      kernel.load(rows);
      for (let p = 0; p < 3; p++) {
        kernel.from(x, p * d);
        for (const [j0, j1] of [
          [0, k],
          [5, 6],
          [11, 30],
        ]) {
          kernel.to(j0, j1);
          for (let j = j0; j < j1; j++) expect(kernel.out[j - j0]).toBe(l2sq(x, p * d, rows, j * d, d));
        }
      }
      rows.reverse();
      kernel.load(rows);
      kernel.from(x, 0);
      kernel.to(0, k);
      for (let j = 0; j < k; j++) expect(kernel.out[j]).toBe(l2sq(x, 0, rows, j * d, d));
    }
  });
});
