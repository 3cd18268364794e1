import { afterAll, describe, expect, it } from 'vitest';
import { FlatCodec } from '../../src/core/codec.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { trainCodec } from '../../src/core/train.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { ComputePool, type Neighbours } from '../../src/pool/compute-pool.js';
import { ScanBatcher } from '../../src/services/scan-batcher.js';
import { blobs } from '../helpers/data.js';

const same = (a: Neighbours, b: Neighbours) => {
  expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
  expect(Array.from(a.dist)).toEqual(Array.from(b.dist));
};

describe('scan batching across requests (real worker pool)', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 32;
  const n = 40_000; // two scan tasks per search
  const x = blobs(n, d, 30, 5);
  const { pq } = ProductQuantizer.train(x, 4096, d, { m: 8 }, { iterations: 4 });
  const codec = new FlatCodec(pq);
  const codes = CollectionIndex.codesBuffer(n, codec); // an arena: the kernels scan
  codes.set(codec.encode(x, n));
  const dead = new Uint8Array(new SharedArrayBuffer(n));
  for (let r = 0; r < n; r += 7) dead[r] = 1;
  const key = { index: {}, rows: n };
  const flat = (q: number, k: number, signal?: AbortSignal) => ({
    codec,
    codes,
    dead,
    rows: n,
    metric: 'l2' as const,
    queries: x.slice(q * d, (q + 1) * d),
    nq: 1,
    k,
    skipFirst: false,
    signal,
  });

  it('answers concurrent single queries exactly as they are answered alone, each with its own k, in fewer scans', async () => {
    const sizes: number[] = [];
    const batcher = new ScanBatcher(pool, 500, (size) => sizes.push(size));
    const ks = Array.from({ length: 45 }, (_, i) => 1 + ((i * 7) % 40));
    const together = await Promise.all(ks.map((k, i) => batcher.search(flat(i * 13, k), key)));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(45);
    expect(sizes.length).toBeLessThan(45); // batched…
    expect(Math.max(...sizes)).toBeLessThanOrEqual(32); // …at most QUERY_BATCH_MAX per scan
    for (const [i, k] of ks.entries()) {
      const [alone] = await pool.search(flat(i * 13, k));
      expect(together[i][0].ids.length).toBe(k);
      same(together[i][0], alone);
    }
  });

  it('scans alone with a window of 0, a filter (eligible rows), several queries or no key', async () => {
    const sizes: number[] = [];
    const off = new ScanBatcher(pool, 0, (size) => sizes.push(size));
    await Promise.all([0, 1, 2].map((q) => off.search(flat(q, 5), key)));
    const on = new ScanBatcher(pool, 500, (size) => sizes.push(size));
    const eligible = Int32Array.from({ length: 100 }, (_, i) => i * 3);
    await Promise.all([0, 1].map((q) => on.search({ ...flat(q, 5), eligible }, key)));
    await Promise.all([0, 1].map((q) => on.search(flat(q, 5), null)));
    await on.search({ ...flat(0, 5), queries: x.slice(0, 2 * d), nq: 2 }, key);
    expect(sizes).toEqual([]);
  });

  it('sends a query at once when nothing scans, and never joins queries of another index state (rows written in between)', async () => {
    const sizes: number[] = [];
    const batcher = new ScanBatcher(pool, 500, (size) => sizes.push(size));
    const first = batcher.search(flat(9, 3), key); // nothing scanning: goes alone, at once
    expect(sizes).toEqual([1]);
    await Promise.all([
      first,
      batcher.search(flat(0, 3), key),
      batcher.search(flat(1, 3), { index: key.index, rows: n - 1 }),
      batcher.search(flat(2, 3), key),
    ]);
    expect(sizes.sort()).toEqual([1, 1, 2]);
  });

  it('drops a waiting query whose request is aborted, and answers the others', async () => {
    const batcher = new ScanBatcher(pool, 200_000);
    // A running scan makes the next batch wait for it.
    const first = batcher.search(flat(0, 5), key);
    const gone = new AbortController();
    const waiting = batcher.search(flat(1, 5, gone.signal), key);
    const other = batcher.search(flat(2, 5), key);
    gone.abort(new Error('client gone'));
    await expect(waiting).rejects.toThrow('client gone');
    same((await other)[0], (await pool.search(flat(2, 5)))[0]);
    await first;
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    await expect(batcher.search(flat(3, 5, aborted.signal), key)).rejects.toThrow('already');
  });

  it('keeps a batch gathering past its window while every worker is busy, until the scan of its index ends', async () => {
    const sizes: number[] = [];
    const batcher = new ScanBatcher(pool, 100, (size) => sizes.push(size));
    // Both workers busy with a long search of another caller (3,000 queries over 40,000 rows: tens of ms).
    const busy = pool.search({ ...flat(0, 5), queries: x.slice(0, 3000 * d), nq: 3000 });
    const first = batcher.search(flat(1, 5), key); // nothing of this index scanning: goes at once, waits for a worker
    const early = [2, 3].map((q) => batcher.search(flat(q, 5), key)); // open a batch with a 100 µs window
    await new Promise((r) => setTimeout(r, 5)); // the window has ended, the workers are still busy
    expect(pool.saturated()).toBe(true);
    const late = [4, 5].map((q) => batcher.search(flat(q, 5), key)); // still joins the open batch
    const answers = await Promise.all([first, ...early, ...late]);
    await busy;
    expect(sizes).toEqual([1, 4]);
    for (const [i, found] of answers.entries()) same(found[0], (await pool.search(flat(i + 1, 5)))[0]);
  });

  it('batches IVF probes, with the same answers as alone', async () => {
    const sizes: number[] = [];
    const batcher = new ScanBatcher(pool, 500, (size) => sizes.push(size));
    const m = 5_000;
    const { codec: ivf } = await trainCodec(x, m, d, { type: 'pq', m: 4, nbits: 6, nlist: 16 }, { seed: 2 }, inlineCompute);
    if (ivf.kind !== 'ivf') throw new Error('expected an IVF codec');
    const lists = InvertedLists.build(16, ivf.codeSize, ivf.encode(x, m), m, new Uint8Array(m)).lists.view();
    const args = (q: number) => ({
      codec: ivf,
      lists,
      dead: new Uint8Array(new SharedArrayBuffer(m)),
      metric: 'l2' as const,
      queries: x.slice(q * d, (q + 1) * d),
      nq: 1,
      k: 6,
      nprobe: 3,
    });
    const deadMap = args(0).dead;
    const batched = await Promise.all(Array.from({ length: 12 }, (_, q) => batcher.ivfSearch({ ...args(q), dead: deadMap }, key)));
    expect(sizes.length).toBeLessThan(12);
    for (let q = 0; q < 12; q++) same(batched[q][0], (await pool.ivfSearch({ ...args(q), dead: deadMap }))[0]);
  });
});
