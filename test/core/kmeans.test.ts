import { describe, expect, it } from 'vitest';
import { l2sq } from '../../src/core/distance.js';
import { QuantizerInputError } from '../../src/core/errors.js';
import { kmeans, nearestCentroid } from '../../src/core/kmeans.js';
import { blobs, uniform } from '../helpers/data.js';

describe('kmeans', () => {
  const d = 8;
  const n = 3000;
  const x = blobs(n, d, 40, 11, 3);

  it('never increases inertia with more iterations', () => {
    let prev = Infinity;
    for (let it = 1; it <= 15; it++) {
      const r = kmeans(x, n, d, { k: 32, maxIterations: it, seed: 5 });
      expect(r.inertia).toBeLessThanOrEqual(prev * (1 + 1e-9));
      prev = r.inertia;
    }
  });

  it('never increases inertia with more iterations from k-means++ seeding either', () => {
    let prev = Infinity;
    for (let it = 1; it <= 10; it++) {
      const r = kmeans(x, n, d, { k: 32, maxIterations: it, seed: 5, init: 'kmeans++' });
      expect(r.inertia).toBeLessThanOrEqual(prev * (1 + 1e-9));
      prev = r.inertia;
    }
  });

  it('reaches a true Lloyd fixed point: every point at its nearest centroid, centroids at the means', () => {
    const r = kmeans(x, n, d, { k: 48, maxIterations: 500, seed: 9 });
    expect(r.converged).toBe(true);
    const sums = new Float64Array(48 * d);
    for (let i = 0; i < n; i++) {
      const a = r.assignment[i];
      const own = l2sq(x, i * d, r.centroids, a * d, d);
      const best = nearestCentroid(x, i * d, r.centroids, 48, d);
      // Nearest, up to floating-point rounding in exact ties.
      expect(own).toBeLessThanOrEqual(l2sq(x, i * d, r.centroids, best * d, d) * (1 + 1e-6) + 1e-9);
      for (let t = 0; t < d; t++) sums[a * d + t] += x[i * d + t];
    }
    for (let j = 0; j < 48; j++) {
      for (let t = 0; t < d; t++) expect(r.centroids[j * d + t]).toBeCloseTo(sums[j * d + t] / r.counts[j], 4);
    }
    // The bounds must have saved work: far fewer distances than plain Lloyd's n·k per step.
    expect(r.distanceComputations).toBeLessThan(n * 48 * r.iterations * 0.5);
  });

  it('takes the same steps as plain Lloyd from the same start (every distance computed, ties to the current centroid)', () => {
    for (const k of [7, 64, 300]) {
      const start = kmeans(x, n, d, { k, maxIterations: 0, seed: 9 }).centroids;
      const r = kmeans(x, n, d, { k, maxIterations: 12, initialCentroids: start, maxPointsPerCentroid: n });
      // Plain Lloyd: exhaustive assignment (the first to the nearest, lowest index on ties), then the means.
      const c = Float32Array.from(start);
      const a = new Int32Array(n).fill(-1);
      for (let it = 0; it < r.iterations; it++) {
        for (let i = 0; i < n; i++) {
          let best = a[i];
          let bestD = best < 0 ? Infinity : l2sq(x, i * d, c, best * d, d);
          for (let j = 0; j < k; j++) {
            const dj = l2sq(x, i * d, c, j * d, d);
            if (dj < bestD) [best, bestD] = [j, dj];
          }
          a[i] = best;
        }
        const sums = new Float64Array(k * d);
        const counts = new Int32Array(k);
        for (let i = 0; i < n; i++) {
          counts[a[i]]++;
          for (let t = 0; t < d; t++) sums[a[i] * d + t] += x[i * d + t];
        }
        for (let j = 0; j < k; j++) for (let t = 0; t < d; t++) c[j * d + t] = Math.fround(sums[j * d + t] * (1 / counts[j]));
      }
      expect(r.splits).toBe(0); // no empty cluster on this data, so no split draws
      // k-means numbers its centroids in its own order (grouped): compare each point's centroid itself.
      const row = (m: Float32Array, j: number) => Array.from(m.subarray(j * d, (j + 1) * d));
      for (let i = 0; i < n; i++) expect(row(r.centroids, r.assignment[i])).toEqual(row(c, a[i]));
      expect(new Set(Array.from(r.assignment)).size).toBe(new Set(Array.from(a)).size);
    }
  });

  it('is deterministic for a seed (byte-identical centroids) and seed-dependent', () => {
    const a = kmeans(x, n, d, { k: 16, seed: 77 });
    const b = kmeans(x, n, d, { k: 16, seed: 77 });
    const c = kmeans(x, n, d, { k: 16, seed: 78 });
    expect(Buffer.from(a.centroids.buffer)).toEqual(Buffer.from(b.centroids.buffer));
    expect(Buffer.from(a.centroids.buffer)).not.toEqual(Buffer.from(c.centroids.buffer));
  });

  it('leaves no cluster empty on duplicated data', () => {
    // 2000 points but only 12 distinct values, 40 centroids.
    const distinct = uniform(12, d, 4);
    const dup = new Float32Array(2000 * d);
    for (let i = 0; i < 2000; i++) dup.set(distinct.subarray((i % 12) * d, (i % 12) * d + d), i * d);
    for (const init of ['random', 'kmeans++'] as const) {
      const r = kmeans(dup, 2000, d, { k: 40, seed: 1, init });
      expect(Math.min(...r.counts)).toBeGreaterThanOrEqual(1);
      expect(r.counts.reduce((s, v) => s + v, 0)).toBe(2000);
      expect(r.inertia).toBeCloseTo(0, 6); // every point sits on a centroid equal to it
    }
  });

  it('leaves no cluster empty when all points are identical, and when n = k', () => {
    const same = new Float32Array(300 * d).fill(0.5);
    const r = kmeans(same, 300, d, { k: 256 });
    expect(Math.min(...r.counts)).toBe(1);
    const exact = uniform(64, d, 8);
    const s = kmeans(exact, 64, d, { k: 64 });
    expect(Array.from(s.counts)).toEqual(new Array(64).fill(1));
    expect(s.inertia).toBeCloseTo(0, 8);
  });

  it('refuses fewer points than centroids with a message that says so', () => {
    expect(() => kmeans(uniform(100, d, 1), 100, d, { k: 256 })).toThrow(QuantizerInputError);
    expect(() => kmeans(uniform(100, d, 1), 100, d, { k: 256 })).toThrow(/needs at least 256 training points, got 100/);
  });

  it('warns under 39 points per centroid and sub-samples above 256', () => {
    const few = kmeans(uniform(500, d, 2), 500, d, { k: 16 });
    expect(few.warnings.join()).toMatch(/31\.3 per centroid/);
    const many = kmeans(uniform(5000, d, 3), 5000, d, { k: 4, maxIterations: 3 });
    expect(many.nTrain).toBe(1024);
    expect(many.warnings).toEqual([]);
  });
});
