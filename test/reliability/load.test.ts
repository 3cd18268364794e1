/**
 * Load: a real server on loopback with a trained collection (3,000 vectors,
 * dimension 16, PQ), driven by autocannon for LOAD_SECONDS (default 60) over 8
 * connections: three queries for every upsert of a new vector (distinct ids).
 * Every request must succeed (no errors, timeouts or non-2xx), every
 * acknowledged upsert must be counted, and the server's memory must stay
 * bounded. Prints one summary line and writes it as JSON to load.json in
 * LOAD_RESULTS_DIR or a temporary directory (never into the repository).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, call, callOk, seededRandom, startServer, waitForJob } from '../helpers/server.js';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const CONNECTIONS = 8;
const D = 16;
const N = 3000;
const MiB = 1024;
/**
 * RSS may grow by at most this much (KiB) during the run. Expected growth is
 * small: the collection gains ~8 bytes of code in memory per new vector (the
 * vectors themselves go to SQLite, whose page caches are bounded at ~2 MiB per
 * connection, 3 connections), plus V8 heaps of the main thread and 2 workers
 * settling at their working size and allocator fragmentation — tens of MiB.
 * A leak of what a request carries (its ~1–2 KB body, a query buffer, a result
 * list) over the ~10⁴–10⁵ requests of a 60 s run would pass 300 MiB, so the
 * bound separates "settles" from "leaks per request" without being flaky.
 */
const RSS_GROWTH_LIMIT_KIB = 300 * MiB;
const fileStarted = performance.now();

describe(`load: autocannon, ${CONNECTIONS} connections, ${LOAD_SECONDS} s`, () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pqvec-load-'));
  });
  let server: ServerProcess | null = null;
  afterAll(async () => {
    if (server !== null) await server.kill();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    console.log(`[reliability] load.test.ts: ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  it('serves concurrent queries and writes without a single failure, in bounded memory', async () => {
    server = await startServer(dir);
    const base = server.url;
    const rng = seededRandom(16);
    const centres = Array.from({ length: 20 }, () => Array.from({ length: D }, () => rng() * 10));
    const point = () => {
      const c = centres[Math.floor(rng() * centres.length)];
      return c.map((x) => Math.fround(x + rng() - 0.5));
    };
    await callOk(base, 'POST', '/collections', { name: 'load', dimension: D, metric: 'l2', quantizer: { type: 'pq', m: 8, nbits: 8 } }, 201);
    const data = Array.from({ length: N }, (_, i) => ({ id: `v${i}`, vector: point(), metadata: { i, group: i % 10 } }));
    await callOk(base, 'POST', '/collections/load/vectors', { vectors: data });
    const job = (await callOk(base, 'POST', '/collections/load/train', {}, 202)).job;
    expect((await waitForJob(base, 'load', job.id)).state).toBe('succeeded');
    // A short warm-up so "before" is the running service, not a cold one.
    for (let i = 0; i < 50; i++) await callOk(base, 'POST', '/collections/load/query', { vector: point(), k: 10 });

    const rssBefore = server.rssKiB();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, server!.rssKiB());
      } catch {
        // the process is gone; the test fails elsewhere
      }
    }, 1000);
    let nextId = 0;
    let upsertsSent = 0;
    let upsertsAcked = 0;
    const bad: string[] = [];
    const json = { 'content-type': 'application/json' };
    const query = {
      method: 'POST',
      path: '/collections/load/query',
      headers: json,
      setupRequest: (req: object) => ({
        ...req,
        body: JSON.stringify(rng() < 0.2 ? { vector: point(), k: 10, filter: { group: Math.floor(rng() * 10) } } : { vector: point(), k: 10 }),
      }),
      onResponse: (status: number, body: string) => {
        if (status !== 200 && bad.length < 20) bad.push(`query → ${status} ${body.slice(0, 200)}`);
      },
    };
    const upsert = {
      method: 'POST',
      path: '/collections/load/vectors',
      headers: json,
      setupRequest: (req: object) => {
        upsertsSent++;
        const id = `w${nextId++}`;
        return { ...req, body: JSON.stringify({ vectors: [{ id, vector: point(), metadata: { group: nextId % 10, note: 'load' } }] }) };
      },
      onResponse: (status: number, body: string) => {
        if (status === 200) upsertsAcked++;
        else if (bad.length < 20) bad.push(`upsert → ${status} ${body.slice(0, 200)}`);
      },
    };
    const reqErrors: string[] = [];
    const instance = autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: LOAD_SECONDS,
      timeout: 10,
      requests: [query, query, query, upsert],
    });
    instance.on('reqError', (err: Error) => {
      if (reqErrors.length < 20) reqErrors.push(String(err));
    });
    const result = await instance;
    clearInterval(sampler);
    const rssAfter = server.rssKiB();
    rssPeak = Math.max(rssPeak, rssAfter);

    const summary = {
      seconds: LOAD_SECONDS,
      connections: CONNECTIONS,
      requests: result.requests.total,
      requestsPerSecond: Math.round(result.requests.average),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count])),
      upserts: { sent: upsertsSent, acknowledged: upsertsAcked },
      rssMiB: { before: +(rssBefore / MiB).toFixed(1), after: +(rssAfter / MiB).toFixed(1), peak: +(rssPeak / MiB).toFixed(1) },
    };
    // LOAD_RESULTS_DIR (e.g. a CI artifact directory) or a fresh temporary directory; never the repository.
    const resultsDir = process.env.LOAD_RESULTS_DIR ?? mkdtempSync(join(tmpdir(), 'pqvec-reliability-results-'));
    mkdirSync(resultsDir, { recursive: true });
    const out = join(resultsDir, 'load.json');
    writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(
      `[reliability] load: ${summary.requests} requests in ${LOAD_SECONDS} s = ${summary.requestsPerSecond} req/s; p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms; ` +
        `errors ${summary.errors}, timeouts ${summary.timeouts}, non-2xx ${summary.non2xx}; upserts ${upsertsAcked}/${upsertsSent}; ` +
        `RSS ${summary.rssMiB.before} → ${summary.rssMiB.after} MiB (peak ${summary.rssMiB.peak}); written to ${out}`,
    );

    expect(reqErrors).toEqual([]);
    expect(bad).toEqual([]);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, mismatches: result.mismatches }).toEqual({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
      mismatches: 0,
    });
    expect(result.requests.total).toBeGreaterThan(0);
    expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT_KIB);

    // Every acknowledged upsert is stored (requests cut off by the end of the run may have landed too).
    const view = await callOk(base, 'GET', '/collections/load');
    expect(view.count).toBeGreaterThanOrEqual(N + upsertsAcked);
    expect(view.count).toBeLessThanOrEqual(N + upsertsSent);
    expect(view).toMatchObject({ trained: true, codecVersion: 1 });
    const probe = data[1234];
    expect((await callOk(base, 'POST', '/collections/load/query', { vector: probe.vector, k: 1 })).results[0]).toMatchObject({
      id: probe.id,
      distance: 0,
    });
    expect((await call(base, 'GET', '/health')).status).toBe(200);
    const exit = await server.stop();
    server = null;
    expect(exit.code).toBe(0);
  });
});
