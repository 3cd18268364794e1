import { describe, expect, it } from 'vitest';
import { Codec } from '../../src/core/codec.js';
import { orthogonalityError } from '../../src/core/linalg.js';
import { PQGeometry, ProductQuantizer } from '../../src/core/pq.js';
import { Rotation, allocateEigenvalues, crossWithReconstruction, inlineCompute, rotationDefaults, trainRotation } from '../../src/core/rotation.js';
import { correlated } from '../helpers/data.js';

describe('OPQ rotation', () => {
  const d = 32;
  const n = 3000;
  const x = correlated(n, d, 7);
  const geometry = new PQGeometry(d, 4, 5);

  it('deals each eigenvalue to the open sub-space with the smallest variance product so far', () => {
    const values = Float64Array.from([8, 4, 2, 1, 0.5, 0.25, 0.125, 0.0625]);
    const take = allocateEigenvalues(values, new PQGeometry(8, 2, 2));
    // log2 3 → s0; 2 → s1; 1 → s1 (2 < 3); 0 → s0 (3 = 3: lower index); −1 → s0 (tie); −2 → s0 (2 < 3), now full; −3, −4 → s1.
    expect(Array.from(take)).toEqual([0, 3, 4, 5, 1, 2, 6, 7]);
  });

  it('learns an orthogonal rotation whose PQ has lower MSE than plain PQ at the same code size', async () => {
    const { rotation, report } = await trainRotation(x, n, geometry, inlineCompute, { iterations: 4, sampleSize: 2000, seed: 5 });
    expect(orthogonalityError(rotation.directions, d)).toBeLessThan(1e-4);
    // The sample error never rises above where the iterations started.
    const start = report.start === 'identity' ? report.sampleMse[0] : report.sampleMse[1];
    expect(report.sampleMse[report.sampleMse.length - 1]).toBeLessThanOrEqual(start * 1.001);

    const options = { iterations: 25, seed: 9 };
    const plain = ProductQuantizer.train(x, n, d, { m: 4, nbits: 5 }, options).pq;
    const rotated = rotation.apply(x, n);
    const opq = new Codec(ProductQuantizer.train(rotated, n, d, { m: 4, nbits: 5 }, options).pq, rotation);
    const plainMse = plain.mse(x, n);
    const rec = opq.decode(opq.encode(x, n), n);
    let err = 0;
    for (let i = 0; i < x.length; i++) err += (x[i] - rec[i]) ** 2;
    const opqMse = err / n;
    expect(opqMse).toBeLessThan(plainMse * 0.95); // correlated data: a clear gain, not a tie
  });

  it('computes Xᵀ·decode(codes) from per-centroid sums, sub-space by sub-space', () => {
    const g = new PQGeometry(d, 5, 4); // 32 = 2 × 7 + 3 × 6: uneven sub-spaces
    const pq = ProductQuantizer.train(x, n, d, { m: 5, nbits: 4 }, { iterations: 5, seed: 2 }).pq;
    const rows = 400;
    const codes = pq.encode(x, rows);
    const rec = pq.decode(codes, rows);
    const out = new Float64Array(d * d).fill(Number.NaN); // every entry must be written
    crossWithReconstruction(x, rows, pq, codes, 0, 2, out);
    crossWithReconstruction(x, rows, pq, codes, 2, g.m, out);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let direct = 0;
        for (let i = 0; i < rows; i++) direct += x[i * d + a] * rec[i * d + b];
        expect(Math.abs(out[a * d + b] - direct)).toBeLessThan(1e-9 * (1 + Math.abs(direct)));
      }
    }
  });

  it('gives wide sub-spaces (over 64 dimensions) a larger sample and more updates', () => {
    expect(rotationDefaults(new PQGeometry(784, 8, 8))).toEqual({ iterations: 20, sampleSize: 32768 }); // 98 dimensions
    expect(rotationDefaults(new PQGeometry(784, 16, 8))).toEqual({ iterations: 8, sampleSize: 8192 }); // 49
    expect(rotationDefaults(new PQGeometry(130, 2, 8))).toEqual({ iterations: 20, sampleSize: 32768 }); // 65
    expect(rotationDefaults(new PQGeometry(128, 2, 8))).toEqual({ iterations: 8, sampleSize: 8192 }); // 64
  });

  it('reverses what it applies and preserves distances', () => {
    const r = new Rotation(d, Float32Array.from(Rotation.identity(d).directions));
    // A planar rotation of coordinates 0 and 1 by 30°.
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    r.directions.set([c, s], 0);
    r.directions.set([-s, c], d);
    const y = r.apply(x, 10);
    const back = r.reverse(y, 10);
    for (let i = 0; i < 10 * d; i++) expect(back[i]).toBeCloseTo(x[i], 3);
    let a = 0;
    let b = 0;
    for (let t = 0; t < d; t++) {
      a += (x[t] - x[d + t]) ** 2;
      b += (y[t] - y[d + t]) ** 2;
    }
    expect(b).toBeCloseTo(a, 1);
  });
});
