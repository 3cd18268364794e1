import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIST_ID_BYTES } from '../../src/core/codec.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { SEGMENT_ROWS } from '../../src/store/store.js';
import { activeCodec, makeApp, seededVectors, type TestApp, trainAndWait } from '../helpers/app.js';

/** Start-up's IVF lists, built by the workers from the stored segments, equal the one-thread build. */
describe('IVF lists built over the workers at start-up', () => {
  const d = 8;
  const n = 5 * SEGMENT_ROWS + 300; // six segments, the last one partial
  let t: TestApp;
  let three: ComputePool;
  beforeAll(async () => {
    t = await makeApp();
    three = new ComputePool({ threads: 3 });
    await t.req('POST', '/collections', { name: 'c', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 5, ivf: { nlist: 12 } } });
    await t.req('POST', '/collections/c/vectors', { vectors: seededVectors(n, d, 41) });
    for (const id of ['v0', 'v1', 'v1500', 'v3071', 'v5119']) await t.req('DELETE', `/collections/c/vectors/${id}`);
    await trainAndWait(t, 'c');
  });
  afterAll(async () => {
    await three.close();
    await t.destroy();
  });

  it('count and fill over parts of segments give the same lists, rows in row order, dead rows left out', async () => {
    const { record, stored, codec } = activeCodec(t, 'c');
    const nlist = codec.nlist!;
    const index = CollectionIndex.load(record.nextRow, t.store.deadRows(record.id), null, null);
    const one = InvertedLists.build(nlist, codec.codeSize, t.store.codeSegments(stored.id), index.rowCount, index.dead);
    const part = { dbPath: `${t.dir}/pqvec.sqlite`, codecId: stored.id, codeSize: codec.codeSize, rowCount: index.rowCount, dead: index.dead };
    for (const pool of [t.pool, three]) {
      const parts = await pool.countLists({ ...part, nlist, segments: Math.ceil(index.rowCount / SEGMENT_ROWS) });
      expect(parts.length).toBe(pool.threads); // the six segments split in one part per worker
      expect(Math.max(...parts.map((p) => p.rowsRead))).toBe(n);
      const sizes = new Int32Array(nlist);
      for (const p of parts) for (let l = 0; l < nlist; l++) sizes[l] += p.sizes[l];
      expect(Array.from(sizes)).toEqual(Array.from(one.lists.sizes));
      const lists = InvertedLists.sized(nlist, codec.codeSize - LIST_ID_BYTES, sizes);
      expect(await pool.fillLists({ ...part, lists, parts })).toBe(n - 5);
      lists.filled(sizes);
      expect(lists.view()).toEqual(one.lists.view());
    }
  });

  it('a restart serves the lists it built: the same answers as before', async () => {
    const body = { vectors: seededVectors(20, d, 41).map((v) => v.vector), k: 7, nprobe: 4 };
    const before = (await t.req('POST', '/collections/c/query', body)).json();
    await t.close();
    t = await makeApp(t.dir); // start-up builds the lists over the workers
    const after = (await t.req('POST', '/collections/c/query', body)).json();
    expect(after.results).toEqual(before.results);
    expect(before.results.flat().map((h: { id: string }) => h.id)).not.toContain('v1500');
  });
});
