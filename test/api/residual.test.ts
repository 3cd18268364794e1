import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adcDistanceF32 } from '../../src/core/adc.js';
import { AdditiveQuantizer } from '../../src/core/additive.js';
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

  it('refuses shapes rq cannot take, with 400 and a message', async () => {
    const bad = [
      [{ type: 'rq', ivf: { nlist: 4 } }, /flat/],
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
