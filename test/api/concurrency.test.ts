import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, seededVectors } from '../helpers/app.js';

describe('concurrency', () => {
  let t: TestApp;
  const d = 32;
  // Enough stored vectors that the retraining lasts many query round-trips however fast the kernels get.
  const stored = 10000;
  const data = seededVectors(stored + 2000, d, 11);
  beforeAll(async () => {
    t = await makeApp();
    await t.req('POST', '/collections', { name: 'c', dimension: d, quantizer: { type: 'pq', m: 8 } });
    await t.req('POST', '/collections/c/vectors', { vectors: data.slice(0, stored) });
    // A first codec, so the retraining below swaps one codec for another under load.
    const job = (await t.req('POST', '/collections/c/train', { iterations: 3 })).json().job;
    for (;;) {
      const s = (await t.req('GET', `/collections/c/jobs/${job.id}`)).json().state;
      if (s === 'succeeded') break;
      if (s === 'failed') throw new Error('first training failed');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(() => t.destroy());

  it('keeps answering queries and accepting writes while a training job completes', async () => {
    const job = (await t.req('POST', '/collections/c/train', { iterations: 30 })).json().job;
    let state = 'running';
    let queries = 0;
    let writes = 0;
    const statuses = new Set<number>();
    const written: string[] = [];
    const poll = (async () => {
      while (state === 'queued' || state === 'running') {
        state = (await t.req('GET', `/collections/c/jobs/${job.id}`)).json().state;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const load = (async () => {
      let i = 0;
      while (state === 'queued' || state === 'running') {
        const q = await t.req('POST', '/collections/c/query', { vector: data[i % stored].vector, k: 5 });
        statuses.add(q.statusCode);
        expect(q.json().results).toHaveLength(5);
        queries++;
        if (i % 4 === 0) {
          const v = data[stored + (writes % 2000)];
          const w = await t.req('POST', '/collections/c/vectors', { vectors: [v] });
          statuses.add(w.statusCode);
          written.push(v.id);
          writes++;
        }
        i++;
      }
    })();
    await Promise.all([poll, load]);
    expect(state).toBe('succeeded');
    expect([...statuses]).toEqual([200]);
    expect(queries).toBeGreaterThan(5);
    expect(writes).toBeGreaterThan(0);
    const stats = (await t.req('GET', '/collections/c')).json();
    expect(stats).toMatchObject({ codecVersion: 2, count: stored + new Set(written).size });
    // Every vector written during training was encoded with the new codec: each is found near itself.
    let found = 0;
    for (const id of written) {
      const v = data[Number(id.slice(1))];
      const hits = (await t.req('POST', '/collections/c/query', { vector: v.vector, k: 10 })).json().results.map((h: { id: string }) => h.id);
      if (hits.includes(id)) found++;
    }
    expect(found / written.length).toBeGreaterThan(0.9);
  });

  it('cancels a running training job when its collection is deleted', async () => {
    // An app of its own: the collection goes, and so must every row of the database.
    const t = await makeApp();
    await t.req('POST', '/collections', { name: 'c', dimension: d, quantizer: { type: 'pq', m: 8 } });
    await t.req('POST', '/collections/c/vectors', { vectors: data.slice(0, stored) });
    const job = (await t.req('POST', '/collections/c/train', { iterations: 200 })).json().job;
    expect((await t.req('DELETE', '/collections/c')).statusCode).toBe(204);
    expect((await t.req('GET', '/collections/c')).statusCode).toBe(404);
    expect((await t.req('GET', `/collections/c/jobs/${job.id}`)).statusCode).toBe(404);
    // The job ended cancelled (not run to completion, nor failed on the vanished collection).
    const metrics = (await t.req('GET', '/metrics')).body;
    expect(metrics).toContain('pqvec_training_jobs_total{state="cancelled"} 1');
    expect(metrics).not.toContain('pqvec_training_jobs_total{state="failed"}');
    // The rows go in the background, a small transaction at a time.
    const count = (table: string) => (t.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    for (let i = 0; i < 200 && count('collections') > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(count('codecs')).toBe(0);
    expect(count('vectors')).toBe(0);
    expect(count('collections')).toBe(0);
    await t.destroy();
  });
});
