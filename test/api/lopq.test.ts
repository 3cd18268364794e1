import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalIVFCodec } from '../../src/core/lopq.js';
import { TopK } from '../../src/core/topk.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { type TestApp, activeCodec, makeApp, queryHits, seededVectors, waitForJob } from '../helpers/app.js';

const d = 16;
const data = seededVectors(900, d, 67);
const nlist = 4;

describe('lopq collections over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.destroy());

  it("create, ingest, train, query: answers are the codec's search over the stored codes; a restart answers the same", async () => {
    const created = await t.req('POST', '/collections', { name: 'lo', dimension: d, quantizer: { type: 'lopq', m: 4, ivf: { nlist } } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ quantizer: { type: 'lopq', m: 4, nbits: 8, ivf: { nlist } } });
    expect((await t.req('POST', '/collections/lo/vectors', { vectors: data })).statusCode).toBe(200);
    const job = (await t.req('POST', '/collections/lo/train', { iterations: 6 })).json().job;
    expect((await waitForJob(t, 'lo', job.id)).state).toBe('succeeded');
    const view = (await t.req('GET', '/collections/lo')).json();
    expect(view).toMatchObject({ trained: true, trainedNlist: nlist, trainedNbits: 8 });
    expect(view.relativeMse).toBeGreaterThan(0);

    const { codec, stored } = activeCodec(t, 'lo');
    expect(codec).toBeInstanceOf(LocalIVFCodec);
    const lopq = codec as LocalIVFCodec;
    expect(lopq.type).toBe('lopq');
    expect(lopq.local.count).toBeGreaterThan(1);
    expect(lopq.local.orthogonalityError()).toBeLessThan(1e-4);
    const codes = CollectionIndex.codesBuffer(data.length, lopq);
    t.store.loadCodes(stored.id, lopq.codeSize, codes);
    const all = new Float32Array(data.flatMap((v) => v.vector));
    // The stored codes are the codec's encoding of the vectors.
    expect(Buffer.from(codes.subarray(0, data.length * lopq.codeSize))).toEqual(Buffer.from(lopq.encode(all, data.length)));
    const lists = InvertedLists.build(nlist, lopq.codeSize, codes, data.length, new Uint8Array(data.length)).lists.view();
    const answers: unknown[] = [];
    for (const qi of [5, 400]) {
      const query = Float32Array.from(data[qi].vector, (x) => x + 0.03);
      const heap = new TopK(8);
      lopq.ivfSearcher('l2').search(query, 0, lists, nlist, heap);
      const want = heap.drainSorted();
      const hits = await queryHits(t, 'lo', { vector: Array.from(query), k: 8, rerank: 0, nprobe: nlist });
      expect(hits.map((h) => h.id)).toEqual(Array.from(want.ids, (row) => data[row].id));
      for (const [i, h] of hits.entries()) expect(h.distance).toBeCloseTo(want.dist[i], 3);
      answers.push(hits, await queryHits(t, 'lo', { vector: Array.from(query), k: 8, rerank: 4, nprobe: 2 }));
    }
    const evaluated = (await t.req('POST', '/collections/lo/evaluate', { sampleSize: 50, k: 5, rerank: 0 })).json();
    expect(evaluated.recallAtK).toBeGreaterThan(0.5);

    await t.close();
    t = await makeApp(t.dir);
    for (const [n, qi] of [5, 400].entries()) {
      const query = Array.from(Float32Array.from(data[qi].vector, (x) => x + 0.03));
      expect(await queryHits(t, 'lo', { vector: query, k: 8, rerank: 0, nprobe: nlist })).toEqual(answers[2 * n]);
      expect(await queryHits(t, 'lo', { vector: query, k: 8, rerank: 4, nprobe: 2 })).toEqual(answers[2 * n + 1]);
    }
  });

  it('answers filtered queries from the eligible rows of each cell', async () => {
    // Metadata i < 90: a tenth of the rows, so the planner reads eligible rows per cell (at d = 16 a cell's rotation costs less than reading 90 vectors).
    const filter = { i: { lt: 90 } };
    const r = await t.req('POST', '/collections/lo/query', { vector: data[10].vector, k: 5, rerank: 0, filter, explain: true });
    expect(r.json().explain).toMatchObject({ strategy: 'ivf-rows', eligible: 90 });
    const hits = r.json().results as { id: string; metadata: { i: number } }[];
    expect(hits.length).toBe(5);
    for (const h of hits) expect(h.metadata.i).toBeLessThan(90);
    expect(hits[0].id).toBe('v10');
  });

  it('answers a narrow filter by exact distance rather than rotating the query in every cell that holds an eligible row', async () => {
    // d = 256, 16 cells: 60 eligible rows spread over the cells cost less to read and score
    // than 16 cell rotations and tables (d² + 256 · d each; search-plan.ts).
    const wide = 256;
    const rows = seededVectors(1200, wide, 71);
    await t.req('POST', '/collections', { name: 'wide', dimension: wide, quantizer: { type: 'lopq', m: 8, ivf: { nlist: 16 } } });
    expect((await t.req('POST', '/collections/wide/vectors', { vectors: rows })).statusCode).toBe(200);
    const job = (await t.req('POST', '/collections/wide/train', { iterations: 3 })).json().job;
    expect((await waitForJob(t, 'wide', job.id)).state).toBe('succeeded');
    const filter = { i: { lt: 60 } };
    const queries = [10, 500].map((qi) => Array.from(Float32Array.from(rows[qi].vector, (x) => x + 0.03)));
    const answers: unknown[] = [];
    for (const query of queries) {
      const r = await t.req('POST', '/collections/wide/query', { vector: query, k: 5, rerank: 0, nprobe: 16, filter, explain: true });
      expect(r.json().explain).toMatchObject({ strategy: 'exact-rows', eligible: 60, nprobe: null });
      const exact = rows
        .slice(0, 60)
        .map((v) => ({ id: v.id, distance: v.vector.reduce((s, x, j) => s + (x - query[j]) ** 2, 0) }))
        .sort((a, b) => a.distance - b.distance)
        .slice(0, 5);
      const hits = r.json().results as { id: string; distance: number; metadata: unknown }[];
      expect(hits.map((h) => h.id)).toEqual(exact.map((h) => h.id));
      for (const [i, h] of hits.entries()) {
        expect(h.distance).toBeCloseTo(exact[i].distance, 2);
        expect(h.metadata).toEqual({ i: Number(h.id.slice(1)) });
      }
      answers.push(hits);
    }
    // Several queries in one request: each its own exact answer.
    const both = await t.req('POST', '/collections/wide/query', { vectors: queries, k: 5, rerank: 0, nprobe: 16, filter });
    expect(both.json().results).toEqual(answers);
  });

  it('refuses lopq without ivf with 400 and a message', async () => {
    const r = await t.req('POST', '/collections', { name: 'bad', dimension: d, quantizer: { type: 'lopq', m: 4 } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/rotation per IVF cell; give ivf/);
  });
});
