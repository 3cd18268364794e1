import { afterAll, describe, expect, it } from 'vitest';
import { adcScan } from '../../src/core/adc.js';
import { FlatCodec } from '../../src/core/codec.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { TopK } from '../../src/core/topk.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { blobs } from '../helpers/data.js';

describe('4-bit flat search through the worker pool', () => {
  // Small tasks, so the rows are split over several scan tasks whose bounds fall on blocks of 32 rows.
  const pool = new ComputePool({ threads: 2, minScanRowsPerTask: 333 });
  afterAll(() => pool.close());

  it('split searches (single and batched queries) return exactly plain ADC over the row-major codes', async () => {
    const d = 24;
    const n = 2_011;
    const x = blobs(n, d, 12, 3);
    const { pq } = ProductQuantizer.train(x, n, d, { m: 7, nbits: 4 }, { iterations: 5 });
    const codec = new FlatCodec(pq);
    const rowMajor = codec.encode(x, n);
    const index = CollectionIndex.load(n, [3, 500, 1999], { id: 1, version: 1, codec }, rowMajor);
    const queries = blobs(5, d, 4, 9);
    const got = await pool.search({ codec, codes: index.codes!, dead: index.dead, rows: n, metric: 'l2', queries, nq: 5, k: 12, skipFirst: false });
    for (let q = 0; q < 5; q++) {
      const want = new TopK(12, index.dead);
      adcScan(rowMajor, 0, n, pq.geometry, codec.distanceTable(queries, q * d, 'l2'), want);
      const w = want.drainSorted();
      expect(Array.from(got[q].ids), `query ${q}`).toEqual(Array.from(w.ids));
      expect(Array.from(got[q].dist)).toEqual(Array.from(w.dist));
    }
  });
});
