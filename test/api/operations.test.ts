/** Configurable limits, metrics, snapshots and background deletion. */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, seededVectors, tempDir, waitForJob } from '../helpers/app.js';

describe('configurable limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp(undefined, {
      MAX_COLLECTIONS: '2',
      MAX_TRAINING_JOBS: '1',
      MAX_K: '5',
      MAX_RERANK: '3',
      MAX_QUERIES_PER_REQUEST: '2',
      MAX_VECTORS_PER_REQUEST: '300',
      MAX_DIMENSION: '16',
      MAX_METADATA_BYTES: '20',
    });
  });
  afterAll(() => t.destroy());

  const limit = (r: { statusCode: number; json(): any }, status: number, variable: string) => {
    expect(r.statusCode).toBe(status);
    expect(r.json().error.code).toBe('limit_exceeded');
    expect(r.json().error.details.limit).toBe(variable);
    expect(r.json().error.message).toContain(`(${variable})`);
  };

  it('name the variable that refused the request', async () => {
    limit(await t.req('POST', '/collections', { name: 'wide', dimension: 17 }), 400, 'MAX_DIMENSION');
    expect((await t.req('POST', '/collections', { name: 'a', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } })).statusCode).toBe(201);
    expect((await t.req('POST', '/collections', { name: 'b', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } })).statusCode).toBe(201);
    limit(await t.req('POST', '/collections', { name: 'c', dimension: 4 }), 422, 'MAX_COLLECTIONS');
    limit(await t.req('POST', '/collections/a/vectors', { vectors: seededVectors(301, 4, 1) }), 400, 'MAX_VECTORS_PER_REQUEST');
    limit(
      await t.req('POST', '/collections/a/vectors', { vectors: [{ id: 'm', vector: [1, 2, 3, 4], metadata: { text: 'x'.repeat(20) } }] }),
      400,
      'MAX_METADATA_BYTES',
    );
    const data = seededVectors(300, 4, 1);
    await t.req('POST', '/collections/a/vectors', { vectors: data });
    await t.req('POST', '/collections/b/vectors', { vectors: data });
    const q = data[0].vector;
    limit(await t.req('POST', '/collections/a/query', { vector: q, k: 6 }), 400, 'MAX_K');
    limit(await t.req('POST', '/collections/a/query', { vectors: [q, q, q] }), 400, 'MAX_QUERIES_PER_REQUEST');
    limit(await t.req('POST', '/collections/a/query', { vector: q, k: 5, rerank: 4 }), 400, 'MAX_RERANK');
    expect((await t.req('POST', '/collections/a/query', { vector: q, k: 5, rerank: 3 })).statusCode).toBe(200);
  });

  it('bounds training jobs running at once across collections (429 with Retry-After)', async () => {
    // An app of its own (MAX_COLLECTIONS is 2 above): two collections ready to train.
    const t = await makeApp(undefined, { MAX_TRAINING_JOBS: '1' });
    const data = seededVectors(300, 4, 1);
    for (const name of ['a', 'b']) {
      await t.req('POST', '/collections', { name, dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } });
      await t.req('POST', `/collections/${name}/vectors`, { vectors: data });
    }
    const first = (await t.req('POST', '/collections/a/train', { iterations: 200 })).json().job;
    const second = await t.req('POST', '/collections/b/train', {});
    limit(second, 429, 'MAX_TRAINING_JOBS');
    expect(second.headers['retry-after']).toBe('5');
    await waitForJob(t, 'a', first.id);
    expect((await t.req('POST', '/collections/b/train', {})).statusCode).toBe(202);
    await t.destroy();
  });
});

describe('metrics', () => {
  it('exposes requests, search times, collections, jobs, the pool and the process in Prometheus format', async () => {
    const t = await makeApp();
    await t.req('POST', '/collections', { name: 'm', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } });
    await t.req('POST', '/collections/m/vectors', { vectors: seededVectors(50, 4, 2) });
    await t.req('POST', '/collections/m/query', { vector: [1, 2, 3, 4], k: 3 });
    const job = (await t.req('POST', '/collections/m/train', {})).json().job;
    await waitForJob(t, 'm', job.id);
    await t.req('POST', '/collections/m/query', { vector: [1, 2, 3, 4], k: 3 });
    const r = await t.req('GET', '/metrics');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const text = r.body;
    expect(text).toMatch(/pqvec_http_requests_total\{method="POST",route="\/collections\/:name\/query",status="200"\} 2/);
    expect(text).toMatch(/pqvec_http_request_duration_seconds_bucket\{le="0.001",method="POST",route="\/collections\/:name\/query",status="200"\}/);
    expect(text).toMatch(/pqvec_search_seconds_count\{index="exact",reranked="false"\} 1/);
    expect(text).toMatch(/pqvec_search_seconds_count\{index="flat",reranked="true"\} 1/);
    expect(text).toMatch(/pqvec_scan_batch_queries_count 1/);
    expect(text).toMatch(/pqvec_collection_vectors\{collection="m"\} 50/);
    expect(text).toMatch(/pqvec_collection_code_bytes\{collection="m"\} 100/);
    expect(text).toMatch(/pqvec_training_jobs_total\{state="succeeded"\} 1/);
    expect(text).toMatch(/pqvec_training_jobs_running 0/);
    expect(text).toMatch(/pqvec_pool_threads 2/);
    expect(text).toMatch(/pqvec_pool_queue_depth 0/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).not.toMatch(/\/metrics/); // probes are not counted as traffic
    await t.destroy();
  });
});

describe('snapshots', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.req('POST', '/collections', { name: 's', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } });
  });
  afterAll(() => t.destroy());

  it('taken under write load, a snapshot restores every write acknowledged before it began', async () => {
    const acknowledged: string[] = [];
    let stop = false;
    let batch = 0;
    const writer = (async () => {
      while (!stop) {
        const vectors = seededVectors(200, 4, batch, batch * 200);
        batch++;
        const r = await t.req('POST', '/collections/s/vectors', { vectors });
        expect(r.statusCode).toBe(200);
        acknowledged.push(...vectors.map((v) => v.id));
      }
    })();
    while (acknowledged.length < 2000) await new Promise((res) => setTimeout(res, 5));
    const before = [...acknowledged];
    const r = await t.req('POST', '/snapshots');
    stop = true;
    await writer;
    expect(r.statusCode).toBe(201);
    const snap = r.json();
    expect(snap).toMatchObject({ name: expect.stringMatching(/^pqvec-\d{8}T\d{6}Z-[0-9a-f]{8}\.sqlite$/), bytes: expect.any(Number) });
    expect(acknowledged.length).toBeGreaterThan(before.length); // writes went on around the snapshot
    expect((await t.req('GET', '/snapshots')).json().snapshots.map((s: { name: string }) => s.name)).toEqual([snap.name]);

    // Restore: a data directory whose pqvec.sqlite is the snapshot.
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(t.dir, 'snapshots', snap.name), join(dir, 'pqvec.sqlite'));
    const restored = await makeApp(dir);
    const count = (await restored.req('GET', '/collections/s')).json().count as number;
    expect(count).toBeGreaterThanOrEqual(before.length);
    for (const id of [before[0], before[before.length - 1], before[Math.floor(before.length / 2)]]) {
      expect((await restored.req('GET', `/collections/s/vectors/${id}`)).statusCode).toBe(200);
    }
    const ids = restored.store.db.prepare('SELECT external_id FROM vectors').pluck().all() as string[];
    const present = new Set(ids);
    expect(before.filter((id) => !present.has(id))).toEqual([]);
    expect(restored.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    await restored.destroy();
  });

  it('downloads, deletes, and refuses names it did not write', async () => {
    const { name, bytes } = (await t.req('POST', '/snapshots')).json();
    const file = await t.req('GET', `/snapshots/${name}`);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('application/vnd.sqlite3');
    expect(file.rawPayload.length).toBe(bytes);
    expect(file.rawPayload.subarray(0, 15).toString()).toBe('SQLite format 3');
    expect((await t.req('DELETE', `/snapshots/${name}`)).statusCode).toBe(204);
    expect((await t.req('GET', `/snapshots/${name}`)).statusCode).toBe(404);
    expect((await t.req('DELETE', `/snapshots/${name}`)).json().error.code).toBe('snapshot_not_found');
    for (const bad of ['..%2Fpqvec.sqlite', 'pqvec.sqlite', '%2Fetc%2Fpasswd']) {
      const r = await t.req('GET', `/snapshots/${bad}`);
      expect(r.statusCode).toBe(400);
      expect(r.json().error.code).toBe('validation_error');
    }
    expect(existsSync(join(t.dir, 'pqvec.sqlite'))).toBe(true);
  });
});

describe('deleting a collection', () => {
  it('frees the name at once, removes the rows in the background, and resumes after a restart', async () => {
    const t = await makeApp();
    await t.req('POST', '/collections', { name: 'd', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 2 } });
    await t.req('POST', '/collections/d/vectors', { vectors: seededVectors(5000, 4, 1) });
    const id = t.store.collection('d')!.id;
    // A deletion interrupted by a stop: marked, rows still there.
    t.store.markDeleting(id);
    await t.close();
    const again = await makeApp(t.dir);
    expect((await again.req('GET', '/collections')).json().collections).toEqual([]);
    expect((await again.req('POST', '/collections', { name: 'd', dimension: 4 })).statusCode).toBe(201);
    const newId = again.store.collection('d')!.id;
    const left = () => again.store.db.prepare('SELECT COUNT(*) FROM vectors WHERE collection_id <> ?').pluck().get(newId) as number;
    // (The new 'd' may get the old id once the old row is gone: SQLite reuses the largest rowid + 1.)
    const gone = () => again.store.db.prepare('SELECT COUNT(*) FROM collections WHERE deleting = 1').pluck().get() === 0;
    for (let i = 0; i < 200 && !gone(); i++) await new Promise((res) => setTimeout(res, 10));
    expect(gone()).toBe(true);
    expect(left()).toBe(0);
    await again.destroy();
  });
});

describe('overload', () => {
  it('sheds requests with 503 overloaded and Retry-After when the pool queue is full, and recovers', async () => {
    const t = await makeApp(undefined, { MAX_QUEUED_TASKS: '1' });
    await t.req('POST', '/collections', { name: 'o', dimension: 64, quantizer: { type: 'pq', m: 8, nbits: 4 } });
    await t.req('POST', '/collections/o/vectors', { vectors: seededVectors(3000, 64, 4) });
    const queries = Array.from({ length: 200 }, (_, i) => seededVectors(1, 64, 10 + i)[0].vector);
    const answers = await Promise.all(Array.from({ length: 12 }, () => t.req('POST', '/collections/o/query', { vectors: queries, k: 5 })));
    const statuses = answers.map((r) => r.statusCode);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    const shed = answers.filter((r) => r.statusCode === 503);
    expect(shed.length).toBeGreaterThan(0);
    expect(shed[0].headers['retry-after']).toBe('1');
    expect(shed[0].json().error.code).toBe('overloaded');
    expect(statuses).toContain(200);
    expect((await t.req('POST', '/collections/o/query', { vector: queries[0], k: 5 })).statusCode).toBe(200);
    await t.destroy();
  });
});
