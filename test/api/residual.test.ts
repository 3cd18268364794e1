import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adcDistanceF32 } from '../../src/core/adc.js';
import { AdditiveQuantizer } from '../../src/core/additive.js';
import type { IVFCodec } from '../../src/core/codec.js';
import { TopK } from '../../src/core/topk.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { type TestApp, activeCodec, loadedFlatCodes, makeApp, queryHits, seededVectors, waitForJob } from '../helpers/app.js';

const d = 16;
const data = seededVectors(900, d, 61);

/** The k best stored rows by ADC over the codes (float32 sums, as the kernels), ties by row. */
function adcTop(q: AdditiveQuantizer, codes: Uint8Array, query: Float32Array, k: number) {
  const table = q.distanceTable(query, 0, 'l2');
  return data
    .map((v, i) => ({ id: v.id, s: adcDistanceF32(codes, i, q.geometry, table), i }))
    .sort((a, b) => a.s - b.s || a.i - b.i)
    .slice(0, k);
}

describe('rq collections over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.destroy());

  it('create, ingest, train, query: answers are ADC over the stored codes, norm byte included; a restart answers the same', async () => {
    const created = await t.req('POST', '/collections', { name: 'r', dimension: d, quantizer: { type: 'rq', m: 4, beam: 3 } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ quantizer: { type: 'rq', m: 4, nbits: 8, beam: 3 }, bytesPerVector: 5 });
    expect((await t.req('POST', '/collections/r/vectors', { vectors: data })).statusCode).toBe(200);
    const job = (await t.req('POST', '/collections/r/train', { iterations: 6 })).json().job;
    const done = await waitForJob(t, 'r', job.id);
    expect(done.state).toBe('succeeded');
    const view = (await t.req('GET', '/collections/r')).json();
    expect(view).toMatchObject({ trained: true, bytesPerVector: 5, trainedNbits: 8 });
    expect(view.relativeMse).toBeGreaterThan(0);
    expect(view.relativeMse).toBeLessThan(0.05);

    const { codec } = activeCodec(t, 'r');
    expect(codec.type).toBe('rq');
    const q = codec.quantizer as AdditiveQuantizer;
    expect(q).toBeInstanceOf(AdditiveQuantizer);
    expect([q.stages, q.beam, q.codeSize]).toEqual([4, 3, 5]);
    const { codes } = loadedFlatCodes(t, 'r', data.length);
    // The stored codes are the codec's encoding of the vectors.
    expect(Buffer.from(codes.subarray(0, data.length * 5))).toEqual(
      Buffer.from(q.encode(new Float32Array(data.flatMap((v) => v.vector)), data.length)),
    );
    const answers: unknown[] = [];
    for (const qi of [5, 400]) {
      const query = Float32Array.from(data[qi].vector, (x) => x + 0.03);
      const want = adcTop(q, codes, query, 8);
      const hits = await queryHits(t, 'r', { vector: Array.from(query), k: 8, rerank: 0 });
      expect(hits.map((h) => h.id)).toEqual(want.map((w) => w.id));
      for (const [i, h] of hits.entries()) expect(h.distance).toBe(want[i].s);
      // Re-ranked: exact distances of the best candidates.
      answers.push(hits, await queryHits(t, 'r', { vector: Array.from(query), k: 8, rerank: 4 }));
    }
    const evaluated = (await t.req('POST', '/collections/r/evaluate', { sampleSize: 50, k: 5, rerank: 0 })).json();
    expect(evaluated).toMatchObject({ queries: 50, k: 5 });
    expect(evaluated.recallAtK).toBeGreaterThan(0.5);
    expect(evaluated.relativeMse).toBeGreaterThan(0);

    await t.close();
    t = await makeApp(t.dir);
    for (const [n, qi] of [5, 400].entries()) {
      const query = Array.from(Float32Array.from(data[qi].vector, (x) => x + 0.03));
      expect(await queryHits(t, 'r', { vector: query, k: 8, rerank: 0 })).toEqual(answers[2 * n]);
      expect(await queryHits(t, 'r', { vector: query, k: 8, rerank: 4 })).toEqual(answers[2 * n + 1]);
    }
  });

  it('keeps no norm byte for cosine and inner product (m bytes per vector), and ranks by the codes', async () => {
    for (const metric of ['cosine', 'ip'] as const) {
      const name = `r-${metric}`;
      const created = await t.req('POST', '/collections', { name, dimension: d, metric, quantizer: { type: 'rq', m: 3 } });
      expect(created.json()).toMatchObject({ bytesPerVector: 3 });
      await t.req('POST', `/collections/${name}/vectors`, { vectors: data.slice(0, 400) });
      const job = (await t.req('POST', `/collections/${name}/train`, { iterations: 4 })).json().job;
      expect((await waitForJob(t, name, job.id)).state).toBe('succeeded');
      expect((await t.req('GET', `/collections/${name}`)).json()).toMatchObject({ bytesPerVector: 3 });
      const hits = await queryHits(t, name, { vector: data[7].vector, k: 5, rerank: 10 });
      // The exact best: v7 itself by cosine; by inner product the largest ⟨q, x⟩ (not q's own row).
      const ip = (v: number[]) => v.reduce((s, x, i) => s + x * data[7].vector[i], 0);
      const best = metric === 'cosine' ? 'v7' : data.slice(0, 400).reduce((a, b) => (ip(b.vector) > ip(a.vector) ? b : a)).id;
      expect(hits[0].id).toBe(best);
    }
  });

  it('lsq collections: trained by local search, answers are ADC over the stored codes, a restart answers the same', async () => {
    const created = await t.req('POST', '/collections', { name: 'l', dimension: d, quantizer: { type: 'lsq', m: 3 } });
    expect(created.json()).toMatchObject({ quantizer: { type: 'lsq', m: 3, nbits: 8 }, bytesPerVector: 4 });
    await t.req('POST', '/collections/l/vectors', { vectors: data });
    const job = (await t.req('POST', '/collections/l/train', { iterations: 2 })).json().job;
    expect((await waitForJob(t, 'l', job.id)).state).toBe('succeeded');
    const { codec } = activeCodec(t, 'l');
    expect(codec.type).toBe('lsq');
    const q = codec.quantizer as AdditiveQuantizer;
    const { codes } = loadedFlatCodes(t, 'l', data.length);
    expect(Buffer.from(codes.subarray(0, data.length * 4))).toEqual(
      Buffer.from(q.encode(new Float32Array(data.flatMap((v) => v.vector)), data.length)),
    );
    const query = Float32Array.from(data[9].vector, (x) => x + 0.03);
    const want = adcTop(q, codes, query, 6);
    const hits = await queryHits(t, 'l', { vector: Array.from(query), k: 6, rerank: 0 });
    expect(hits.map((h) => h.id)).toEqual(want.map((w) => w.id));
    await t.close();
    t = await makeApp(t.dir);
    expect(await queryHits(t, 'l', { vector: Array.from(query), k: 6, rerank: 0 })).toEqual(hits);
  });

  it("with ivf (rq and lsq, l2 and cosine): answers are the codec's search over the stored codes, filters hold, a restart answers the same", async () => {
    const nlist = 4;
    // Bytes per vector: 3 codes, the norm byte (l2) and the lists' 4-byte row number.
    const cases = [
      { name: 'ri', type: 'rq', metric: 'l2', bytes: 8 },
      { name: 'li', type: 'lsq', metric: 'l2', bytes: 8 },
      { name: 'rc', type: 'rq', metric: 'cosine', bytes: 7 },
    ] as const;
    const answers = new Map<string, unknown>();
    const all = new Float32Array(data.flatMap((v) => v.vector));
    for (const c of cases) {
      const created = await t.req('POST', '/collections', {
        name: c.name,
        dimension: d,
        metric: c.metric,
        quantizer: { type: c.type, m: 3, ivf: { nlist } },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ quantizer: { type: c.type, m: 3, nbits: 8, ivf: { nlist } }, bytesPerVector: c.bytes });
      await t.req('POST', `/collections/${c.name}/vectors`, { vectors: data });
      const job = (await t.req('POST', `/collections/${c.name}/train`, { iterations: 3 })).json().job;
      expect((await waitForJob(t, c.name, job.id)).state).toBe('succeeded');
      const view = (await t.req('GET', `/collections/${c.name}`)).json();
      expect(view).toMatchObject({ trained: true, trainedNlist: nlist, quantizer: { type: c.type }, bytesPerVector: c.bytes });
      expect(view.relativeMse).toBeGreaterThan(0);
      const { codec, stored } = activeCodec(t, c.name);
      expect([codec.kind, codec.type, codec.quantizer instanceof AdditiveQuantizer]).toEqual(['ivf', c.type, true]);
      const ivf = codec as IVFCodec;
      const codes = CollectionIndex.codesBuffer(data.length, ivf);
      t.store.loadCodes(stored.id, ivf.codeSize, codes);
      if (c.metric === 'l2') expect(Buffer.from(codes.subarray(0, data.length * ivf.codeSize))).toEqual(Buffer.from(ivf.encode(all, data.length)));
      const lists = InvertedLists.build(nlist, ivf.codeSize, codes, data.length, new Uint8Array(data.length)).lists.view();
      for (const qi of [5, 400]) {
        const query = Float32Array.from(data[qi].vector, (x) => x + 0.03);
        const hits = await queryHits(t, c.name, { vector: Array.from(query), k: 8, rerank: 0, nprobe: nlist });
        if (c.metric === 'l2') {
          const heap = new TopK(8);
          ivf.ivfSearcher('l2').search(query, 0, lists, nlist, heap);
          const want = heap.drainSorted();
          expect(hits.map((h) => h.id)).toEqual(Array.from(want.ids, (row) => data[row].id));
          for (const [i, h] of hits.entries()) expect(h.distance).toBeCloseTo(want.dist[i], 3);
        }
        const reranked = await queryHits(t, c.name, { vector: Array.from(query), k: 8, rerank: 4, nprobe: 2 });
        // Re-ranked from enough candidates, the row the query was made from comes first.
        expect((await queryHits(t, c.name, { vector: Array.from(query), k: 1, rerank: 100, nprobe: nlist }))[0].id).toBe(`v${qi}`);
        answers.set(`${c.name} ${qi}`, [hits, reranked]);
      }
      // A tenth of the rows pass the filter.
      const filtered = await queryHits(t, c.name, { vector: data[10].vector, k: 5, rerank: 2, filter: { i: { lt: 90 } } });
      expect(filtered.map((h) => (h.metadata as { i: number }).i < 90)).toEqual([true, true, true, true, true]);
      expect(filtered[0].id).toBe('v10');
      const evaluated = (await t.req('POST', `/collections/${c.name}/evaluate`, { sampleSize: 50, k: 5, rerank: 0 })).json();
      // (These rows share a large common component: by cosine their neighbours are near ties, recall is low for every quantizer.)
      if (c.metric === 'l2') expect(evaluated.recallAtK).toBeGreaterThan(0.5);
    }
    await t.close();
    t = await makeApp(t.dir);
    for (const c of cases) {
      for (const qi of [5, 400]) {
        const query = Array.from(Float32Array.from(data[qi].vector, (x) => x + 0.03));
        const again = [
          await queryHits(t, c.name, { vector: query, k: 8, rerank: 0, nprobe: nlist }),
          await queryHits(t, c.name, { vector: query, k: 8, rerank: 4, nprobe: 2 }),
        ];
        expect(again).toEqual(answers.get(`${c.name} ${qi}`));
      }
    }
  });

  it('refuses shapes rq cannot take, with 400 and a message', async () => {
    const bad = [
      [{ type: 'rq', ivf: { nlist: 0 } }, /nlist/],
      [{ type: 'rq', nbits: 6 }, /8-bit/],
      [{ type: 'rq', m: 40 }, /at most 32 codebooks/],
      [{ type: 'pq', beam: 4 }, /beam applies to rq only/],
      [{ type: 'rq', beam: 0 }, /beam/],
      [{ type: 'lsq', beam: 2 }, /beam applies to rq only/],
      [{ type: 'lsq', m: 17 }, /at most 16 codebooks/],
    ] as const;
    for (const [quantizer, message] of bad) {
      const r = await t.req('POST', '/collections', { name: 'bad', dimension: d, quantizer });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.message).toMatch(message);
    }
    // Too few vectors to train 256 codewords: 422, nothing started.
    await t.req('POST', '/collections', { name: 'small', dimension: d, quantizer: { type: 'rq', m: 2 } });
    await t.req('POST', '/collections/small/vectors', { vectors: data.slice(0, 100) });
    const r = await t.req('POST', '/collections/small/train', {});
    expect(r.statusCode).toBe(422);
    expect(r.json().error.message).toMatch(/additive \(rq\) quantizer .* at least 256 vectors/);
  });
});
