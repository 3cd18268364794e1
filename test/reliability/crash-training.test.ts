/**
 * Kill during training: SIGKILL while a training job is in its training phase,
 * then restart on the same data directory. The collection must answer on its
 * last committed codec (a retrained collection keeps its codecVersion; a
 * collection trained for the first time stays in exact search), the
 * interrupted job must read failed with an error code and message, the file
 * must pass PRAGMA integrity_check, and a new training must succeed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, call, callOk, integrityProblems, seededRandom, sleep, startServer, waitForJob } from '../helpers/server.js';

const D = 16;
const N = 4000;
const fileStarted = performance.now();

function dataset(seed: number): { id: string; vector: number[]; metadata: { i: number } }[] {
  const rng = seededRandom(seed);
  const centres = Array.from({ length: 16 }, () => Array.from({ length: D }, () => rng() * 10));
  return Array.from({ length: N }, (_, i) => {
    const c = centres[Math.floor(rng() * centres.length)];
    return { id: `v${i}`, vector: c.map((x) => Math.fround(x + rng() - 0.5)), metadata: { i } };
  });
}

function l2(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (Math.fround(a[i]) - Math.fround(b[i])) ** 2;
  return s;
}

/** Starts a training job and kills the server once the job is running in its training phase (plus a seeded 0–150 ms). */
async function killDuringTraining(
  server: ServerProcess,
  collection: string,
  body: object,
  rng: () => number,
): Promise<{ jobId: string; phase: string }> {
  const job = (await callOk(server.url, 'POST', `/collections/${collection}/train`, body, 202)).job;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const j = await callOk(server.url, 'GET', `/collections/${collection}/jobs/${job.id}`);
    if (j.state === 'running' && j.phase === 'training') break;
    if (j.state === 'succeeded' || j.state === 'failed')
      throw new Error(`job ended (${j.state}) before it could be killed in training: make training longer`);
    if (Date.now() > deadline) throw new Error(`job ${job.id} never reached the training phase`);
    await sleep(10);
  }
  await sleep(Math.floor(rng() * 150));
  const j = await callOk(server.url, 'GET', `/collections/${collection}/jobs/${job.id}`);
  const exit = await server.kill();
  expect(exit.signal).toBe('SIGKILL');
  // The kill must have hit a running job, or the test proves nothing.
  expect(j.state, 'job still running just before the kill').toBe('running');
  return { jobId: job.id, phase: j.phase };
}

async function expectSelfHits(base: string, collection: string, data: { id: string; vector: number[] }[], rng: () => number): Promise<void> {
  for (let t = 0; t < 5; t++) {
    const v = data[Math.floor(rng() * data.length)];
    const r = await callOk(base, 'POST', `/collections/${collection}/query`, { vector: v.vector, k: 1 });
    expect(r.results, `query ${collection} with the vector of ${v.id}`).toEqual([{ id: v.id, distance: 0, metadata: expect.anything() }]);
  }
}

describe('crash safety: SIGKILL during training', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pqvec-crash-train-'));
  });
  let server: ServerProcess | null = null;
  afterAll(async () => {
    if (server !== null) await server.kill();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    console.log(`[reliability] crash-training.test.ts: ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  const rng = seededRandom(4242);
  const warm = dataset(1);
  const cold = dataset(2);

  it('a retraining killed mid-training leaves the previous codec in charge', async () => {
    server = await startServer(dir);
    let base = server.url;
    await callOk(base, 'POST', '/collections', { name: 'warm', dimension: D, quantizer: { type: 'pq', m: 8 } }, 201);
    await callOk(base, 'POST', '/collections/warm/vectors', { vectors: warm.slice(0, N / 2) });
    const first = (await callOk(base, 'POST', '/collections/warm/train', {}, 202)).job;
    expect((await waitForJob(base, 'warm', first.id)).state).toBe('succeeded');
    // The rest is written under codec 1 (encoded on the way in).
    await callOk(base, 'POST', '/collections/warm/vectors', { vectors: warm.slice(N / 2) });
    const before = await callOk(base, 'GET', '/collections/warm');
    expect(before).toMatchObject({ trained: true, codecVersion: 1, count: N });
    const probe = { vectors: warm.slice(0, 20).map((v) => v.vector.map((x) => x + 0.01)), k: 10 };
    const answersBefore = (await callOk(base, 'POST', '/collections/warm/query', probe)).results;

    const killed = await killDuringTraining(server, 'warm', { seed: 99 }, rng);
    server = null;
    expect(integrityProblems(dir)).toEqual([]);

    server = await startServer(dir);
    base = server.url;
    const after = await callOk(base, 'GET', '/collections/warm');
    expect(after).toMatchObject({ trained: true, codecVersion: 1, count: N, trainingJob: null, addedSinceTraining: before.addedSinceTraining });
    expect((await callOk(base, 'POST', '/collections/warm/query', probe)).results).toEqual(answersBefore);
    await expectSelfHits(base, 'warm', warm, rng);
    const job = await callOk(base, 'GET', `/collections/warm/jobs/${killed.jobId}`);
    expect(job, `the job killed in phase ${killed.phase}`).toMatchObject({
      state: 'failed',
      error: { code: expect.any(String), message: expect.any(String) },
    });
    expect(job.error.code.length).toBeGreaterThan(0);
    expect(job.error.message.length).toBeGreaterThan(0);
    expect(job.finishedAt).not.toBeNull();
    console.log(
      `[reliability] crash-training: warm retraining killed in phase ${killed.phase}; after the restart the job reads ${JSON.stringify(job.error)}`,
    );
    const listed = (await callOk(base, 'GET', '/collections/warm/jobs')).jobs.find((j: { id: string }) => j.id === killed.jobId);
    expect(listed).toMatchObject({ state: 'failed' });

    const again = (await callOk(base, 'POST', '/collections/warm/train', { seed: 99 }, 202)).job;
    const done = await waitForJob(base, 'warm', again.id);
    expect(done, JSON.stringify(done.error)).toMatchObject({ state: 'succeeded', result: { codecVersion: 2 } });
    expect(await callOk(base, 'GET', '/collections/warm')).toMatchObject({ trained: true, codecVersion: 2, count: N, addedSinceTraining: 0 });
    await expectSelfHits(base, 'warm', warm, rng);
  });

  it('a first training killed mid-training leaves the collection in exact search', async () => {
    let base = server!.url;
    await callOk(base, 'POST', '/collections', { name: 'cold', dimension: D, metric: 'l2', quantizer: { type: 'opq', m: 8 } }, 201);
    await callOk(base, 'POST', '/collections/cold/vectors', { vectors: cold });
    const queries = cold.slice(100, 110).map((v) => v.vector.map((x) => x + 0.05));
    const exact = (await callOk(base, 'POST', '/collections/cold/query', { vectors: queries, k: 10 })).results;

    const killed = await killDuringTraining(server!, 'cold', { seed: 5 }, rng);
    server = null;
    expect(integrityProblems(dir)).toEqual([]);

    server = await startServer(dir);
    base = server.url;
    expect(await callOk(base, 'GET', '/collections/cold')).toMatchObject({ trained: false, codecVersion: null, count: N, trainingJob: null });
    // Exact search: the same answers as before, and the true nearest neighbours.
    const again = (await callOk(base, 'POST', '/collections/cold/query', { vectors: queries, k: 10 })).results;
    expect(again).toEqual(exact);
    queries.forEach((q, qi) => {
      const want = cold
        .map((v, i) => ({ id: v.id, s: l2(q, v.vector), i }))
        .sort((a, b) => a.s - b.s || a.i - b.i)
        .slice(0, 10)
        .map((x) => x.id);
      expect(again[qi].map((h: { id: string }) => h.id)).toEqual(want);
    });
    await expectSelfHits(base, 'cold', cold, rng);
    const job = await callOk(base, 'GET', `/collections/cold/jobs/${killed.jobId}`);
    expect(job, `the job killed in phase ${killed.phase}`).toMatchObject({
      state: 'failed',
      error: { code: expect.any(String), message: expect.any(String) },
    });
    // The other collection was not touched.
    expect(await callOk(base, 'GET', '/collections/warm')).toMatchObject({ trained: true, codecVersion: 2 });

    const next = (await callOk(base, 'POST', '/collections/cold/train', { seed: 5, opqIterations: 1 }, 202)).job;
    const done = await waitForJob(base, 'cold', next.id);
    expect(done, JSON.stringify(done.error)).toMatchObject({ state: 'succeeded', result: { codecVersion: 1 } });
    expect(await callOk(base, 'GET', '/collections/cold')).toMatchObject({ trained: true, codecVersion: 1, count: N });
    await expectSelfHits(base, 'cold', cold, rng);
    expect((await call(base, 'GET', '/health')).status).toBe(200);
    await server!.stop();
    server = null;
  });
});
