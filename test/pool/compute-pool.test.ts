import { afterAll, describe, expect, it } from 'vitest';
import { ProductQuantizer } from '../../src/core/pq.js';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { blobs } from '../helpers/data.js';

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
    const codes = await pool.encode(pq, x, n);
    expect(Buffer.from(codes)).toEqual(Buffer.from(pq.encode(x, n)));
    // Cached codec in the workers: a second call gives the same.
    expect(Buffer.from(await pool.encode(pq, x, 700))).toEqual(Buffer.from(pq.encode(x, 700)));
  });

  it('reports training errors from the workers', async () => {
    await expect(pool.trainPQ(x, 100, d, { m: 8 })).rejects.toThrow(/needs at least 256 vectors, got 100/);
  });
});
