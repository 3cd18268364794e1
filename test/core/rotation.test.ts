import { describe, expect, it } from 'vitest';
import { codeAt } from '../../src/core/code-layout.js';
import { FlatCodec } from '../../src/core/codec.js';
import { orthogonalityError } from '../../src/core/linalg.js';
import { PQGeometry, ProductQuantizer } from '../../src/core/pq.js';
import { Rotation, allocateEigenvalues, crossWithReconstruction, inlineCompute, rotationDefaults, trainRotation } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { correlated, gaussian } from '../helpers/data.js';

describe('OPQ rotation', () => {
  const d = 32;
  const n = 3000;
  const x = correlated(n, d, 7);
  const geometry = new PQGeometry(d, 4, 5);

  it('trains with packed 4-bit codes (two per byte) as with byte codes: the same rotation', async () => {
    // The same codebooks with codes two per byte or one per byte: every step reads codes through the layout.
    const options = { iterations: 2, sampleSize: 1500, seed: 3 };
    const packed = await trainRotation(x, n, new PQGeometry(d, 4, 4), inlineCompute, options);
    const bytes = await trainRotation(x, n, new PQGeometry(d, 4, 4, false), inlineCompute, options);
    expect(packed.report.sampleMse).toEqual(bytes.report.sampleMse);
    expect(Buffer.from(packed.rotation.directions.buffer)).toEqual(Buffer.from(bytes.rotation.directions.buffer));
  });

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
    const opq = new FlatCodec(ProductQuantizer.train(rotated, n, d, { m: 4, nbits: 5 }, options).pq, rotation);
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

  it('gives wide sub-spaces (over 64 dimensions) a larger sample and many Lloyd updates from the parametric start', () => {
    const wide = { iterations: 80, sampleSize: 32768, pqStep: 'lloyd', start: 'parametric' };
    const narrow = { iterations: 8, sampleSize: 8192, pqStep: 'kmeans', start: 'auto' };
    expect(rotationDefaults(new PQGeometry(784, 8, 8))).toEqual(wide); // 98 dimensions
    expect(rotationDefaults(new PQGeometry(784, 16, 8))).toEqual(narrow); // 49
    expect(rotationDefaults(new PQGeometry(130, 2, 8))).toEqual(wide); // 65
    expect(rotationDefaults(new PQGeometry(128, 2, 8))).toEqual(narrow); // 64
  });

  it('recentres the centroids on the means of their rotated rows before the cross product (one Lloyd step)', () => {
    const g = new PQGeometry(d, 5, 4);
    const pq = ProductQuantizer.train(x, n, d, { m: 5, nbits: 4 }, { iterations: 3, seed: 4 }).pq;
    const angle = new Rotation(d, Float32Array.from(Rotation.identity(d).directions));
    angle.directions.set([0.6, 0.8], 0);
    angle.directions.set([-0.8, 0.6], d);
    const rows = 500;
    const y = angle.apply(x, rows);
    const codes = pq.encode(y, rows);
    const moved = { directions: angle.directions, centroids: Float32Array.from(pq.centroids) };
    const out = new Float64Array(d * d);
    crossWithReconstruction(x, rows, pq, codes, 0, g.m, out, moved);
    // Means computed directly on y; an empty centroid keeps its place.
    const { ksub, offsets } = g;
    for (let j = 0; j < g.m; j++) {
      const lo = offsets[j];
      const ds = offsets[j + 1] - lo;
      for (let c = 0; c < ksub; c++) {
        const members = [];
        for (let i = 0; i < rows; i++) if (codeAt(codes, i * pq.codeSize, j, pq.packed) === c) members.push(i);
        for (let b = 0; b < ds; b++) {
          const at = ksub * lo + c * ds + b;
          const mean = members.length === 0 ? pq.centroids[at] : members.reduce((s, i) => s + y[i * d + lo + b], 0) / members.length;
          expect(moved.centroids[at]).toBeCloseTo(mean, 4);
        }
      }
    }
    const rec = new ProductQuantizer(g, moved.centroids).decode(codes, rows);
    for (const [a, b] of [
      [0, 0],
      [1, 7],
      [31, 30],
    ]) {
      let direct = 0;
      for (let i = 0; i < rows; i++) direct += x[i * d + a] * rec[i * d + b];
      expect(Math.abs(out[a * d + b] - direct)).toBeLessThan(1e-9 * (1 + Math.abs(direct)));
    }
  });

  it('Lloyd updates never raise the sample error; a rotation ending above the identity start falls back to it', async () => {
    const { report } = await trainRotation(x, n, geometry, inlineCompute, {
      iterations: 6,
      sampleSize: 2000,
      seed: 5,
      pqStep: 'lloyd',
      start: 'parametric',
    });
    const updates = report.sampleMse.slice(2);
    for (let i = 1; i < updates.length; i++) expect(updates[i]).toBeLessThanOrEqual(updates[i - 1] * (1 + 1e-9));
    expect(report.fellBack).toBe(false);
    // Each sub-space's 8 coordinates take one of 32 patterns, independently: the identity
    // codes them exactly, while PCA directions mix the sub-spaces.
    const rng = new Rng(8);
    const patterns = Float32Array.from({ length: 4 * 32 * 8 }, () => gaussian(rng));
    const blocks = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < 4; b++) {
        const p = rng.nextU32() & 31;
        for (let t = 0; t < 8; t++) blocks[i * d + b * 8 + t] = patterns[(b * 32 + p) * 8 + t] + 0.01 * gaussian(rng);
      }
    }
    const forced = await trainRotation(blocks, n, geometry, inlineCompute, { iterations: 0, sampleSize: 2000, seed: 5, start: 'parametric' });
    expect(forced.report.sampleMse[1]).toBeGreaterThan(forced.report.sampleMse[0]);
    expect(forced.report.fellBack).toBe(true);
    expect(Array.from(forced.rotation.directions)).toEqual(Array.from(Rotation.identity(d).directions));
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
