import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputePool, type FlatSearchArgs, type Neighbours } from '../../src/pool/compute-pool.js';
import { loadedFlatCodes, makeApp, queryHits, seededVectors, type TestApp, trainAndWait } from '../helpers/app.js';

/** Hits' stored records (external id, metadata) looked up by the worker that finished the query, as the store has them. */
describe('stored records of the results, looked up in the workers', () => {
  const d = 10;
  const n = 3000;
  const data = seededVectors(n, d, 23);
  let t: TestApp;
  let split: ComputePool;
  beforeAll(async () => {
    t = await makeApp();
    split = new ComputePool({ threads: 2, minScanRowsPerTask: 500 }); // splits 3,000 rows in two tasks
    for (const [name, quantizer] of [
      ['flat', { type: 'pq', m: 5, nbits: 6 }],
      ['ivf', { type: 'pq', m: 5, nbits: 6, ivf: { nlist: 8 } }],
    ] as const) {
      await t.req('POST', '/collections', { name, dimension: d, quantizer });
      // Every third vector without metadata: null metadata comes through as null.
      await t.req('POST', `/collections/${name}/vectors`, { vectors: data.map((v, i) => (i % 3 === 0 ? { id: v.id, vector: v.vector } : v)) });
      await trainAndWait(t, name);
    }
  });
  afterAll(async () => {
    await split.close();
    await t.destroy();
  });

  const expectStored = (collectionId: number, found: Neighbours) => {
    expect(found.records).toBeDefined();
    expect(found.records!.external.length).toBe(found.ids.length);
    for (let i = 0; i < found.ids.length; i++) {
      const info = t.store.rowInfo(collectionId, found.ids[i]);
      expect([found.records!.external[i], found.records!.metadata[i]]).toEqual(info === undefined ? [null, null] : info);
    }
  };

  it('come with the results of every task that finishes its queries, and only those', async () => {
    const { record, codec, codes } = loadedFlatCodes(t, 'flat', n);
    const dead = new Uint8Array(new SharedArrayBuffer(n));
    const source = { dbPath: `${t.dir}/pqvec.sqlite`, collectionId: record.id };
    // Row 3's vector deleted in the store after the scan's skip map was taken: its record is missing.
    t.store.deleteVector(record.id, 'v3');
    for (const nq of [1, 5]) {
      const queries = Float32Array.from(data.slice(3, 3 + nq).flatMap((v) => v.vector));
      const args: FlatSearchArgs = { codec, codes, dead, rows: n, metric: 'l2', queries, nq, k: 12, skipFirst: false, records: source };
      const rerank = { ...source, d, normalize: false, k: 6 };
      const runs = [
        ['one task', await t.pool.search(args)],
        ['one task, re-ranked', await t.pool.search({ ...args, rerank })],
        ['split, then re-rank tasks', await split.search({ ...args, rerank })],
      ] as const;
      for (const [, found] of runs) for (const f of found) expectStored(record.id, f);
      // Query 0 is row 3's vector, among its own nearest: its record is gone.
      const first = runs[0][1][0];
      expect(Array.from(first.ids)).toContain(3);
      expect(first.records!.external[Array.from(first.ids).indexOf(3)]).toBeNull();
      // Split over row ranges without re-ranking, the results are merged here: no records (the service looks them up).
      for (const f of await split.search(args)) expect(f.records).toBeUndefined();
    }
  });

  it('reach the hits of flat and IVF queries, batched or not', async () => {
    for (const name of ['flat', 'ivf']) {
      const hitsOf = (q: number) => queryHits(t, name, { vector: data[q].vector, k: 7, rerank: 0 });
      const all = await Promise.all(Array.from({ length: 12 }, (_, q) => hitsOf(q * 5)));
      for (const hits of all) {
        expect(hits.length).toBeGreaterThanOrEqual(6); // 7, less v3 where it was among them (flat)
        for (const h of hits) {
          const i = Number(h.id.slice(1));
          expect(h.metadata).toEqual(i % 3 === 0 ? null : { i });
        }
      }
      const own = (await hitsOf(3)).map((h) => h.id);
      // v3 deleted from the flat collection's store behind the index's back (above): its hit is dropped.
      if (name === 'flat') expect(own).not.toContain('v3');
      else expect(own[0]).toBe('v3');
    }
  });
});
