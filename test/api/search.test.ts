import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adcDistanceF32 } from '../../src/core/adc.js';
import { deserializeCodec } from '../../src/core/serialize.js';
import { type TestApp, makeApp, seededVectors, waitForJob } from '../helpers/app.js';

const d = 16;
const data = seededVectors(1200, d, 42);

/** Brute-force reference: ids nearest first under a metric, ties by insertion order. */
function exact(query: number[], vectors: { id: string; vector: number[] }[], metric: 'l2' | 'ip' | 'cosine', k: number) {
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const scored = vectors.map((v, i) => {
    let s: number;
    if (metric === 'l2') s = v.vector.reduce((acc, x, t) => acc + (x - query[t]) ** 2, 0);
    else {
      const ip = v.vector.reduce((acc, x, t) => acc + x * query[t], 0);
      s = metric === 'ip' ? -ip : -ip / (norm(v.vector) * norm(query));
    }
    return { id: v.id, s, i };
  });
  scored.sort((a, b) => a.s - b.s || a.i - b.i);
  return scored.slice(0, k);
}

describe('query and training API', () => {
  // A fresh app with the untrained collection 's' for every test: each runs alone, in any order.
  let t: TestApp;
  beforeEach(async () => {
    t = await makeApp();
    await t.req('POST', '/collections', { name: 's', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 8 } });
    const r = await t.req('POST', '/collections/s/vectors', { vectors: data });
    expect(r.statusCode).toBe(200);
  });
  afterEach(() => t.destroy());

  const query = (body: unknown, name = 's') => t.req('POST', `/collections/${name}/query`, body);

  it('answers an untrained collection by exact search, nearest first, with metadata', async () => {
    for (const qi of [0, 17, 555]) {
      const q = data[qi].vector.map((x) => x + 0.01);
      const r = await query({ vector: q, k: 7 });
      expect(r.statusCode).toBe(200);
      const want = exact(q, data, 'l2', 7);
      const got = r.json().results as { id: string; distance: number; metadata: { i: number } }[];
      expect(got.map((h) => h.id)).toEqual(want.map((w) => w.id));
      got.forEach((h, i) => {
        expect(h.distance).toBeCloseTo(want[i].s, 3);
        expect(h.metadata).toEqual({ i: Number(h.id.slice(1)) });
      });
    }
  });

  it('answers batches with one list per query, like single queries', async () => {
    const qs = [data[1].vector, data[2].vector, data[3].vector];
    const batch = await query({ vectors: qs, k: 3 });
    expect(batch.statusCode).toBe(200);
    const lists = batch.json().results as { id: string }[][];
    expect(lists).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const single = (await query({ vector: qs[i], k: 3 })).json().results;
      expect(lists[i]).toEqual(single);
      expect(lists[i][0].id).toBe(`v${i + 1}`);
    }
  });

  it.each([
    [{ vector: data[0].vector, k: 0 }, /body\.k: Too small/],
    [{ vector: data[0].vector, k: 1001 }, /body\.k: Too big/],
    [{ vector: data[0].vector, k: 2.5 }, /body\.k/],
    [{ k: 3 }, /exactly one of "vector" or "vectors"/],
    [{ vector: data[0].vector, vectors: [data[0].vector] }, /exactly one of "vector" or "vectors"/],
    [{ vectors: [] }, /body\.vectors: Too small/],
    [{ vector: [1, 2, 3] }, /vector has 3 values; the collection's dimension is 16/],
    [{ vectors: [data[0].vector, [1]] }, /vectors\[1\] has 1 values/],
    [{ vector: data[0].vector.map(() => 'x') }, /body\.vector\[0\]/],
  ])('rejects query %# with 400', async (body, message) => {
    const r = await query(body);
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });

  it('404s a query to an unknown collection and returns fewer than k when the collection is small', async () => {
    expect((await query({ vector: [1] }, 'nope')).statusCode).toBe(404);
    await t.req('POST', '/collections', { name: 'tiny', dimension: 2, quantizer: { type: 'pq', m: 1, nbits: 8 } });
    await t.req('POST', '/collections/tiny/vectors', {
      vectors: [
        { id: 'a', vector: [0, 0] },
        { id: 'b', vector: [1, 1] },
      ],
    });
    const r = await query({ vector: [0.9, 0.9], k: 10 }, 'tiny');
    expect(r.json().results.map((h: { id: string }) => h.id)).toEqual(['b', 'a']);
  });

  it('refuses to train with fewer vectors than centroids (422) and bad parameters (400)', async () => {
    await t.req('POST', '/collections', { name: 'tiny', dimension: 2, quantizer: { type: 'pq', m: 1, nbits: 8 } });
    await t.req('POST', '/collections/tiny/vectors', {
      vectors: [
        { id: 'a', vector: [0, 0] },
        { id: 'b', vector: [1, 1] },
      ],
    });
    const r = await t.req('POST', '/collections/tiny/train');
    expect(r.statusCode).toBe(422);
    expect(r.json().error).toEqual({
      code: 'insufficient_data',
      message: "training a product quantizer with nbits = 8 needs at least 256 vectors (k-means: one per centroid); collection 'tiny' has 2",
    });
    for (const [body, msg] of [
      [{ iterations: 0 }, /body\.iterations/],
      [{ sampleSize: 10 }, /sampleSize must be at least 256/],
      [{ seed: -1 }, /body\.seed/],
      [{ epochs: 3 }, /Unrecognized key: "epochs"/],
    ] as const) {
      const b = await t.req('POST', '/collections/s/train', body);
      expect(b.statusCode).toBe(400);
      expect(b.json().error.message).toMatch(msg);
    }
    expect((await t.req('GET', '/collections/s/jobs/nope')).statusCode).toBe(404);
  });

  it('trains in the background (409 while running), then answers by ADC over the codes (rerank 0)', async () => {
    const started = await t.req('POST', '/collections/s/train', { iterations: 20 });
    expect(started.statusCode).toBe(202);
    const job = started.json().job;
    expect(job).toMatchObject({ collection: 's', kind: 'train', params: { iterations: 20 } });
    expect(['queued', 'running']).toContain(job.state);
    const again = await t.req('POST', '/collections/s/train');
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'training_in_progress', details: { job: job.id } });
    expect((await t.req('GET', '/collections/s')).json().trainingJob).toBe(job.id);

    const done = await waitForJob(t, 's', job.id);
    expect(done).toMatchObject({ state: 'succeeded', phase: 'done', progress: 1, error: null });
    const result = done.result as Record<string, unknown>;
    expect(result).toMatchObject({ codecVersion: 1, trainVectors: 1200, encodedVectors: 1200 });
    expect(result.relativeMse).toBeGreaterThan(0);
    expect(result.relativeMse).toBeLessThan(0.05);
    // The process's peak RSS: at least what it holds now, and a plausible size (the test process, under 8 GiB).
    expect(result.peakRssBytes).toBeGreaterThanOrEqual(process.memoryUsage().rss * 0.5);
    expect(result.peakRssBytes).toBeLessThan(8 * 2 ** 30);
    // Anonymous + shared memory sampled during the job (Linux): part of the RSS, and more than the V8 heap in use now.
    expect(result.peakAnonymousBytes).toBeLessThanOrEqual(result.peakRssBytes as number);
    expect(result.peakAnonymousBytes).toBeGreaterThan(process.memoryUsage().heapUsed * 0.5);
    expect((result.warnings as string[]).join()).toMatch(/4\.7 per centroid/);

    const stats = (await t.req('GET', '/collections/s')).json();
    expect(stats).toMatchObject({ trained: true, codecVersion: 1, count: 1200, addedSinceTraining: 0, trainingJob: null, bytesPerVector: 4 });
    expect(stats.relativeMse).toBe(result.relativeMse);

    // The answers are exactly ADC over the stored codec's codes (summed in float32, as the scan kernels do).
    const codec = t.store.codec(t.store.collection('s')!.activeCodecId!)!;
    const { quantizer: pq } = deserializeCodec(codec.bytes);
    const flat = new Float32Array(data.flatMap((v) => v.vector));
    const codes = pq.encode(flat, data.length);
    for (const qi of [3, 300]) {
      const q = Float32Array.from(data[qi].vector, (x) => x + 0.02);
      const table = pq.distanceTable(q, 0, 'l2');
      const want = data
        .map((v, i) => ({ id: v.id, s: adcDistanceF32(codes, i, pq.geometry, table), i }))
        .sort((a, b) => a.s - b.s || a.i - b.i)
        .slice(0, 10);
      const got = (await query({ vector: Array.from(q), k: 10, rerank: 0 })).json().results as { id: string; distance: number }[];
      expect(got.map((h) => h.id)).toEqual(want.map((w) => w.id));
      for (const [i, h] of got.entries()) expect(h.distance).toBe(want[i].s);
    }
  });

  it('encodes writes after training, skips deleted vectors, and retrains to a new version', async () => {
    const first = (await t.req('POST', '/collections/s/train', { iterations: 20 })).json().job;
    expect((await waitForJob(t, 's', first.id)).state).toBe('succeeded');
    const extra = seededVectors(50, d, 7, 5000);
    expect((await t.req('POST', '/collections/s/vectors', { vectors: extra })).statusCode).toBe(200);
    expect((await t.req('GET', '/collections/s')).json()).toMatchObject({ count: 1250, addedSinceTraining: 50 });
    const top = (await query({ vector: extra[10].vector, k: 5 })).json().results.map((h: { id: string }) => h.id);
    expect(top).toContain('v5010');
    expect((await t.req('DELETE', '/collections/s/vectors/v5010')).statusCode).toBe(204);
    const after = (await query({ vector: extra[10].vector, k: 5 })).json().results.map((h: { id: string }) => h.id);
    expect(after).not.toContain('v5010');

    const job = (await t.req('POST', '/collections/s/train', { iterations: 5, seed: 9 })).json().job;
    const done = await waitForJob(t, 's', job.id);
    expect(done.state).toBe('succeeded');
    expect((await t.req('GET', '/collections/s')).json()).toMatchObject({ codecVersion: 2, count: 1249, addedSinceTraining: 0 });
    const jobs = (await t.req('GET', '/collections/s/jobs')).json().jobs;
    expect(jobs.map((j: { id: string }) => j.id)[0]).toBe(job.id);
    expect(jobs.length).toBe(2);
    const top2 = (await query({ vector: extra[11].vector, k: 10 })).json().results.map((h: { id: string }) => h.id);
    expect(top2).toContain('v5011');
  });

  it('supports inner product and cosine: larger is nearer', async () => {
    for (const metric of ['ip', 'cosine'] as const) {
      await t.req('POST', '/collections', { name: `m-${metric}`, dimension: d, metric, quantizer: { type: 'pq', m: 4 } });
      await t.req('POST', `/collections/m-${metric}/vectors`, { vectors: data.slice(0, 300) });
      const q = data[400].vector;
      const got = (await query({ vector: q, k: 5 }, `m-${metric}`)).json().results as { id: string; distance: number }[];
      const want = exact(q, data.slice(0, 300), metric, 5);
      expect(got.map((h) => h.id)).toEqual(want.map((w) => w.id));
      for (const [i, h] of got.entries()) expect(h.distance).toBeCloseTo(-want[i].s, 3);
      for (let i = 1; i < got.length; i++) expect(got[i].distance).toBeLessThanOrEqual(got[i - 1].distance);
    }
  });
});
