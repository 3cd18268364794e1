import { describe, expect, it } from 'vitest';
import { dot, l2sq } from '../../src/core/distance.js';
import { adcDistance } from '../../src/core/adc.js';
import { QuantizerInputError } from '../../src/core/errors.js';
import { PQGeometry, ProductQuantizer, subspaceOffsets } from '../../src/core/pq.js';
import { blobs, uniform } from '../helpers/data.js';

const d = 32;
const n = 2000;
const x = blobs(n, d, 30, 21);

describe('ProductQuantizer', () => {
  const { pq, report } = ProductQuantizer.train(x, n, d, { m: 8 }, { seed: 3 });

  it('splits dimensions by the documented rule when m does not divide d', () => {
    expect(Array.from(subspaceOffsets(32, 8))).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32]);
    // 10 = 4 + 3 + 3: the first d mod m sub-spaces get one dimension more.
    expect(Array.from(subspaceOffsets(10, 3))).toEqual([0, 4, 7, 10]);
    const g = new PQGeometry(784, 32, 8);
    expect(g.dsub(0)).toBe(25);
    expect(g.dsub(31)).toBe(24);
    expect(g.offsets[32]).toBe(784);
  });

  it('decode(encode(x)) squared error averages to the reported MSE', () => {
    const codes = pq.encode(x, n);
    const rec = pq.decode(codes, n);
    let err = 0;
    for (let i = 0; i < n; i++) err += l2sq(x, i * d, rec, i * d, d);
    expect(pq.mse(x, n)).toBeCloseTo(err / n, 6);
    // Encoding picks the nearest centroid, so it can only do better than training's assignment.
    expect(err / n).toBeLessThanOrEqual(report.trainMse * (1 + 1e-9));
  });

  it('encodes each sub-vector to its nearest centroid', () => {
    const codes = pq.encode(x, 200);
    const { ksub, offsets } = pq.geometry;
    let worse = 0;
    for (let i = 0; i < 200; i++) {
      for (let j = 0; j < pq.m; j++) {
        const ds = offsets[j + 1] - offsets[j];
        const at = (c: number) => l2sq(x, i * d + offsets[j], pq.centroids, ksub * offsets[j] + c * ds, ds);
        let best = Infinity;
        for (let c = 0; c < ksub; c++) best = Math.min(best, at(c));
        if (at(codes[i * pq.m + j]) > best * (1 + 1e-6) + 1e-9) worse++;
      }
    }
    expect(worse).toBe(0);
  });

  it('ADC distance of a code equals the exact distance to the decoded vector (l2 and ip)', () => {
    const q = uniform(5, d, 9);
    const codes = pq.encode(x, 300);
    const rec = pq.decode(codes, 300);
    for (let qi = 0; qi < 5; qi++) {
      const tl2 = pq.distanceTable(q, qi * d, 'l2');
      const tip = pq.distanceTable(q, qi * d, 'ip');
      for (let i = 0; i < 300; i++) {
        const exact = l2sq(q, qi * d, rec, i * d, d);
        expect(adcDistance(codes, i, pq.geometry, tl2)).toBeCloseTo(exact, 3);
        expect(Math.abs(adcDistance(codes, i, pq.geometry, tl2) - exact)).toBeLessThan(1e-5 * Math.max(1, exact));
        const ip = dot(q, qi * d, rec, i * d, d);
        expect(-adcDistance(codes, i, pq.geometry, tip)).toBeCloseTo(ip, 3);
      }
    }
  });

  it('MSE decreases as m grows at fixed d', () => {
    let prev = Infinity;
    for (const m of [1, 2, 4, 8, 16]) {
      const r = ProductQuantizer.train(x, n, d, { m, nbits: 4 }, { seed: 1 });
      const mse = r.pq.mse(x, n);
      expect(mse).toBeLessThan(prev);
      prev = mse;
    }
  });

  it('is deterministic: same seed gives byte-identical codebooks', () => {
    const a = ProductQuantizer.train(x, n, d, { m: 4, nbits: 6 }, { seed: 99 }).pq;
    const b = ProductQuantizer.train(x, n, d, { m: 4, nbits: 6 }, { seed: 99 }).pq;
    const c = ProductQuantizer.train(x, n, d, { m: 4, nbits: 6 }, { seed: 100 }).pq;
    expect(Buffer.from(a.centroids.buffer)).toEqual(Buffer.from(b.centroids.buffer));
    expect(Buffer.from(a.centroids.buffer)).not.toEqual(Buffer.from(c.centroids.buffer));
  });

  it('handles d not divisible by m', () => {
    const y = blobs(1000, 10, 8, 5);
    const r = ProductQuantizer.train(y, 1000, 10, { m: 3, nbits: 5 });
    expect(r.pq.encode(y, 1000).length).toBe(3000);
    expect(r.pq.decode(r.pq.encode(y, 1), 1).length).toBe(10);
    // Far better than replacing every vector by the mean (the total variance).
    const mean = new Float64Array(10);
    for (let i = 0; i < 1000; i++) for (let t = 0; t < 10; t++) mean[t] += y[i * 10 + t] / 1000;
    let variance = 0;
    for (let i = 0; i < 1000; i++) for (let t = 0; t < 10; t++) variance += (y[i * 10 + t] - mean[t]) ** 2 / 1000;
    expect(r.pq.mse(y, 1000)).toBeLessThan(variance * 0.1);
  });

  it('refuses too little training data with the numbers in the message', () => {
    expect(() => ProductQuantizer.train(uniform(100, d, 1), 100, d, { m: 8 })).toThrow(QuantizerInputError);
    expect(() => ProductQuantizer.train(uniform(100, d, 1), 100, d, { m: 8 })).toThrow(/needs at least 256 vectors, got 100/);
    const few = ProductQuantizer.train(uniform(300, d, 1), 300, d, { m: 8 }, { iterations: 2 });
    expect(few.report.warnings.length).toBe(1);
  });

  it('rejects impossible geometries', () => {
    expect(() => new PQGeometry(8, 9, 8)).toThrow(/m \(sub-quantizers\) must be an integer in 1\.\.8/);
    expect(() => new PQGeometry(8, 2, 9)).toThrow(/nbits/);
    expect(() => new PQGeometry(0, 1, 8)).toThrow(/dimension/);
  });
});
