import { afterAll, describe, expect, it } from 'vitest';
import { Codec } from '../../src/core/codec.js';
import { PQGeometry, ProductQuantizer } from '../../src/core/pq.js';
import { inlineCompute, trainRotation } from '../../src/core/rotation.js';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { blobs, correlated } from '../helpers/data.js';

describe('ComputePool (real worker threads)', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 40;
  const n = 3000;
  const x = blobs(n, d, 25, 13);

  it('trains sub-spaces in parallel, byte-identical to a sequential run, with progress', async () => {
    const progress: number[] = [];
    const par = await pool.trainPQ(x, n, d, { m: 10, nbits: 6 }, { seed: 4 }, (done) => progress.push(done));
    const seq = ProductQuantizer.train(x, n, d, { m: 10, nbits: 6 }, { seed: 4 });
    expect(Buffer.from(par.pq.centroids.buffer)).toEqual(Buffer.from(seq.pq.centroids.buffer));
    expect(par.report.trainMse).toBe(seq.report.trainMse);
    expect(progress.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('encodes in parallel exactly as the main thread does', async () => {
    const { pq } = ProductQuantizer.train(x, n, d, { m: 8 }, { iterations: 5 });
    const codec = new Codec(pq);
    const codes = await pool.encode(codec, x, n);
    expect(Buffer.from(codes)).toEqual(Buffer.from(pq.encode(x, n)));
    // Cached codec in the workers: a second call gives the same.
    expect(Buffer.from(await pool.encode(codec, x, 700))).toEqual(Buffer.from(pq.encode(x, 700)));
  });

  it('reports training errors from the workers', async () => {
    await expect(pool.trainPQ(x, 100, d, { m: 8 })).rejects.toThrow(/needs at least 256 vectors, got 100/);
  });
});

describe('OPQ training on the pool', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 24;
  const n = 1500;
  const x = correlated(n, d, 21);
  const geometry = new PQGeometry(d, 3, 5);

  it('computes exactly what the inline computation does', async () => {
    const options = { iterations: 2, sampleSize: 1000, seed: 3 };
    const inline = await trainRotation(x, n, geometry, inlineCompute, options);
    const pooled = await trainRotation(x, n, geometry, pool.trainCompute(), options);
    expect(Buffer.from(pooled.rotation.directions.buffer)).toEqual(Buffer.from(inline.rotation.directions.buffer));
    expect(pooled.report).toEqual(inline.report);
  });

  it('trains an OPQ codec: rotation then PQ, with progress up to 1', async () => {
    const progress: number[] = [];
    const { codec, rotation } = await pool.trainCodec(x, n, d, { type: 'opq', m: 3, nbits: 5 }, { seed: 2, rotation: { iterations: 2 } }, (f) =>
      progress.push(f),
    );
    expect(codec.type).toBe('opq');
    expect(rotation?.sampleMse.length).toBe(4);
    expect(progress[progress.length - 1]).toBeCloseTo(1, 9);
    const codes = await pool.encode(codec, x, n);
    expect(Buffer.from(codes)).toEqual(Buffer.from(codec.encode(x, n)));
  });
});
