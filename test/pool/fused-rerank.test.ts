import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { loadedFlatCodes, makeApp, seededVectors, type TestApp, trainAndWait } from '../helpers/app.js';

describe('re-ranking in the scanning task (one task) equals scan, merge, then rerank tasks (split)', () => {
  const d = 10;
  const n = 3000;
  const data = seededVectors(n, d, 17);
  let t: TestApp;
  let split: ComputePool;
  beforeAll(async () => {
    t = await makeApp();
    split = new ComputePool({ threads: 2, minScanRowsPerTask: 500 }); // splits 3,000 rows in two tasks
    await t.req('POST', '/collections', { name: 'c', dimension: d, quantizer: { type: 'pq', m: 5, nbits: 6 } });
    await t.req('POST', '/collections/c/vectors', { vectors: data });
    await t.req('DELETE', '/collections/c/vectors/v7'); // a dead row among the candidates
    await trainAndWait(t, 'c');
  });
  afterAll(async () => {
    await split.close();
    await t.destroy();
  });

  it('gives the same rows and exact distances, one query or several', async () => {
    const { record, codec, codes } = loadedFlatCodes(t, 'c', n);
    const dead = new Uint8Array(new SharedArrayBuffer(n));
    dead[7] = 1;
    const source = { dbPath: `${t.dir}/pqvec.sqlite`, collectionId: record.id, d, normalize: false };
    for (const nq of [1, 5]) {
      const queries = Float32Array.from(data.slice(100, 100 + nq).flatMap((v) => v.vector.map((x) => x + 0.05)));
      const args = { codec, codes, dead, rows: n, metric: 'l2' as const, queries, nq, k: 40, skipFirst: false, rerank: { ...source, k: 8 } };
      const fused = await t.pool.search(args);
      const twoStep = await split.search(args);
      for (let q = 0; q < nq; q++) {
        expect(fused[q].ids.length).toBe(8);
        expect(Array.from(fused[q].ids)).toEqual(Array.from(twoStep[q].ids));
        expect(Array.from(fused[q].dist)).toEqual(Array.from(twoStep[q].dist));
        expect(Array.from(fused[q].ids)).not.toContain(7);
      }
    }
  });
});
