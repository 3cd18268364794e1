import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, openDatabase } from '../../src/store/database.js';
import { type TestApp, makeApp, seededVectors, tempDir, waitForJob } from '../helpers/app.js';

describe('persistence', () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const data = seededVectors(900, 12, 3);
  const queries = [data[5].vector, data[600].vector.map((x) => x * 1.01)];

  async function snapshot(t: TestApp) {
    const stats = (await t.req('GET', '/collections')).json();
    const trained = (await t.req('POST', '/collections/trained/query', { vectors: queries, k: 8 })).json();
    const adc = (await t.req('POST', '/collections/trained/query', { vectors: queries, k: 8, rerank: 0 })).json();
    const raw = (await t.req('POST', '/collections/raw/query', { vectors: queries, k: 8 })).json();
    const ivf = (await t.req('POST', '/collections/ivf/query', { vectors: queries, k: 8, rerank: 0, nprobe: 3 })).json();
    const vec = (await t.req('GET', '/collections/trained/vectors/v42')).json();
    return { stats, trained, adc, raw, ivf, vec };
  }

  /** The session of the restart test, on a data directory of its own choosing (the crash test builds its own). */
  async function sessionWithRestart(dir: string): Promise<void> {
    const a = await makeApp(dir);
    await a.req('POST', '/collections', { name: 'trained', dimension: 12, quantizer: { type: 'opq', m: 3 }, autoTrain: { minVectors: 5000 } });
    await a.req('POST', '/collections', { name: 'raw', dimension: 12, metric: 'ip' });
    await a.req('POST', '/collections', {
      name: 'ivf',
      dimension: 12,
      metric: 'cosine',
      quantizer: { type: 'pq', m: 3, nbits: 6, ivf: { nlist: 8 } },
    });
    await a.req('POST', '/collections/ivf/vectors', { vectors: data.slice(0, 700) });
    const ivfJob = (await a.req('POST', '/collections/ivf/train', { iterations: 10 })).json().job;
    expect((await waitForJob(a, 'ivf', ivfJob.id)).state).toBe('succeeded');
    await a.req('POST', '/collections/ivf/vectors', { vectors: data.slice(700) });
    await a.req('DELETE', '/collections/ivf/vectors/v5');
    await a.req('POST', '/collections/trained/vectors', { vectors: data.slice(0, 700) });
    await a.req('POST', '/collections/raw/vectors', { vectors: data.slice(0, 300) });
    const job = (await a.req('POST', '/collections/trained/train', { iterations: 10 })).json().job;
    expect((await waitForJob(a, 'trained', job.id)).state).toBe('succeeded');
    // Writes, replacements and deletes after training.
    await a.req('POST', '/collections/trained/vectors', { vectors: data.slice(700) });
    await a.req('POST', '/collections/trained/vectors', { vectors: [{ id: 'v3', vector: data[800].vector, metadata: { moved: true } }] });
    await a.req('DELETE', '/collections/trained/vectors/v10');
    await a.req('DELETE', '/collections/raw/vectors/v11');
    const before = await snapshot(a);
    expect(before.stats.collections[2]).toMatchObject({
      name: 'trained',
      quantizer: { type: 'opq' },
      count: 899,
      trained: true,
      addedSinceTraining: 201,
      vectorsAtTraining: 700,
      autoTrain: { minVectors: 5000 },
    });
    expect(before.stats.collections[0]).toMatchObject({ name: 'ivf', count: 899, trainedNlist: 8 });
    expect(before.ivf.results[0].map((h: { id: string }) => h.id)).not.toContain('v5');
    await a.close();

    const b = await makeApp(dir);
    const after = await snapshot(b);
    expect(after).toEqual(before);
    // Writes keep working after the reload, on the loaded codec.
    expect((await b.req('POST', '/collections/trained/vectors', { vectors: [{ id: 'new', vector: data[1].vector }] })).statusCode).toBe(200);
    const hits = (await b.req('POST', '/collections/trained/query', { vector: data[1].vector, k: 5 }))
      .json()
      .results.map((h: { id: string }) => h.id);
    expect(hits).toContain('new');
    await b.close();
  }

  it('rebuilds identical indexes from SQLite after a restart', async () => {
    await sessionWithRestart(dir);
  });

  it('applies each migration once', () => {
    const fresh = tempDir();
    const first = openDatabase(fresh);
    expect(first.applied).toEqual([
      '001_initial.sql',
      '002_auto_train.sql',
      '003_deleting.sql',
      '004_indexed_fields.sql',
      '005_tombstones.sql',
      '006_target_recall.sql',
      '007_codec_parts.sql',
    ]);
    first.db.close();
    rmSync(fresh, { recursive: true, force: true });
    openDatabase(dir).db.close(); // a directory opened once already (it may be the first time here)
    const again = openDatabase(dir);
    expect(again.applied).toEqual([]);
    again.db.close();
  });

  it('lists the dead rows of a database written before tombstones (migration 005), and the restart loads them', async () => {
    // A version-4 database: migrations 001–004 only, then rows written, replaced and deleted as version 4 did (no tombstones).
    const dir = tempDir();
    const old = join(dir, 'migrations-v4');
    mkdirSync(old);
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '005')) copyFileSync(join(MIGRATIONS_DIR, f), join(old, f));
    const v4 = openDatabase(dir, { migrationsDir: old });
    v4.db.exec(`INSERT INTO collections (id, name, dimension, metric, quantizer, created_at, next_row)
      VALUES (1, 'c', 2, 'l2', '{"type":"pq","m":1,"nbits":8}', '2026-01-01T00:00:00Z', 6), (2, 'empty', 2, 'l2', '{"type":"pq","m":1,"nbits":8}', '2026-01-01T00:00:00Z', 0)`);
    const put = v4.db.prepare('INSERT INTO vectors (collection_id, row, external_id, vector, metadata) VALUES (1, ?, ?, ?, NULL)');
    for (const [row, id] of [
      [1, 'a'],
      [2, 'b'],
      [5, 'c'],
    ] as const)
      put.run(row, id, Buffer.from(new Float32Array([row, 0]).buffer));
    v4.db.close();
    const v5 = openDatabase(dir);
    expect(v5.applied).toEqual(['005_tombstones.sql', '006_target_recall.sql', '007_codec_parts.sql']);
    expect(v5.db.prepare('SELECT collection_id, row FROM tombstones ORDER BY 1, 2').raw().all()).toEqual([
      [1, 0],
      [1, 3],
      [1, 4],
    ]);
    v5.db.close();
    const t = await makeApp(dir);
    expect((await t.req('GET', '/collections/c')).json().count).toBe(3);
    const hits = (await t.req('POST', '/collections/c/query', { vector: [4, 0], k: 5 })).json().results.map((h: { id: string }) => h.id);
    expect(hits).toEqual(['c', 'b', 'a']);
    await t.destroy();
  });

  it('fails jobs and drops codecs left behind by a crash', async () => {
    const dir = tempDir();
    await sessionWithRestart(dir);
    // What a process killed mid-training leaves: a running job and a codec that never became active.
    const { db } = openDatabase(dir);
    const cid = (db.prepare("SELECT id FROM collections WHERE name = 'trained'").get() as { id: number }).id;
    db.prepare(
      "INSERT INTO jobs (id, collection_id, kind, state, phase, progress, params, created_at) VALUES ('crashed', ?, 'train', 'running', 'encoding', 0.9, '{}', '2026-01-01')",
    ).run(cid);
    db.prepare(
      "INSERT INTO codecs (collection_id, version, bytes, train_vectors, train_seconds, created_at) VALUES (?, 99, x'00', 1, 1, '2026-01-01')",
    ).run(cid);
    db.close();
    const c = await makeApp(dir);
    const job = (await c.req('GET', '/collections/trained/jobs/crashed')).json();
    expect(job).toMatchObject({ state: 'failed', error: { code: 'interrupted' } });
    expect(c.store.db.prepare('SELECT COUNT(*) AS n FROM codecs').get()).toEqual({ n: 2 }); // the active ones of 'trained' and 'ivf'
    expect((await c.req('GET', '/collections/trained')).json()).toMatchObject({ trained: true, count: 900 });
    await c.destroy();
  });
});
