/**
 * End to end: the real server process on a free port, driven over HTTP. Runs the
 * README walkthrough as written, then a 2,000-vector session; stops the server
 * (SIGTERM), starts it again on the same data directory and checks that the
 * answers are identical.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededVectors, tempDir } from '../helpers/app.js';

const ROOT = resolve(__dirname, '../..');
const SERVER = resolve(ROOT, 'dist/src/server.js');

interface Server {
  proc: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

async function startServer(dataDir: string): Promise<Server> {
  const proc = spawn(process.execPath, [SERVER], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', WORKERS: '2', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 20_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  return {
    proc,
    url,
    stop: () =>
      new Promise((res) => {
        proc.once('exit', (code) => res(code));
        proc.kill('SIGTERM');
      }),
  };
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text === '' ? null : JSON.parse(text) };
}

describe('pqvec server (real process)', () => {
  const dir = tempDir();
  let server: Server | null = null;
  afterAll(async () => {
    if (server !== null) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the README's walkthrough block as written against a server; its output lines. */
  function runWalkthrough(url: string): string[] {
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    const block = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```/.exec(readme)![1];
    const script = block.replace(/^PQVEC=.*$/m, `PQVEC=${url}`);
    return execFileSync('bash', ['-e', '-c', script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n');
  }

  it('runs the README walkthrough as written', async () => {
    // A server and data directory of its own: the walkthrough starts from nothing.
    const own = tempDir();
    const walk = await startServer(own);
    let lines: string[];
    try {
      lines = runWalkthrough(walk.url);
    } finally {
      expect(await walk.stop()).toBe(0);
      rmSync(own, { recursive: true, force: true });
    }
    expect(JSON.parse(lines[0])).toMatchObject({ name: 'demo', dimension: 8, trained: false });
    expect(JSON.parse(lines[1])).toEqual({ upserted: 1000 });
    expect(JSON.parse(lines[2]).results).toHaveLength(3);
    expect(JSON.parse(lines[3])).toMatchObject({ state: 'succeeded', result: { codecVersion: 1 } });
    expect(JSON.parse(lines[4]).results).toHaveLength(3);
    expect(JSON.parse(lines[5])).toMatchObject({ name: 'demo', indexedFields: ['i'] });
    const filtered = JSON.parse(lines[6]);
    expect(filtered.results).toHaveLength(3);
    expect(
      filtered.results.every((h: { metadata: { i: number } }) => [1, 2, 3].includes(h.metadata.i) || (h.metadata.i >= 500 && h.metadata.i < 510)),
    ).toBe(true);
    expect(filtered.explain).toMatchObject({ strategy: 'flat-rows', eligible: 13, conditions: 3, indexedConditions: 3 });
    const report = JSON.parse(lines[7]);
    expect(report).toMatchObject({ codecVersion: 1, queries: 100, k: 10, rerank: 4 });
    expect(report.recallAtK).toBeGreaterThan(0.5);
    expect(JSON.parse(lines[8])).toMatchObject({ name: 'demo', count: 1000, trained: true, bytesPerVector: 4, indexedFields: ['i'] });
    expect(JSON.parse(lines[9])).toMatchObject({ id: 'doc-7', metadata: { i: 7 } });
    expect(lines[10]).toBe('204');
  });

  it('serves a session, stops cleanly and answers identically after a restart', async () => {
    server = await startServer(dir);
    const base = server.url;
    // The walkthrough's collection too: the restart below must keep it.
    runWalkthrough(base);
    const d = 24;
    const data = seededVectors(2000, d, 99);
    expect((await call(base, 'POST', '/collections', { name: 'e2e', dimension: d, quantizer: { type: 'pq', m: 6 } })).status).toBe(201);
    for (let s = 0; s < 2000; s += 500) {
      expect((await call(base, 'POST', '/collections/e2e/vectors', { vectors: data.slice(s, s + 500) })).json).toEqual({ upserted: 500 });
    }
    const queries = [0, 123, 1999].map((i) => data[i].vector.map((x) => x + 0.05));

    // Before training: exact search.
    const exact = (await call(base, 'POST', '/collections/e2e/query', { vectors: queries, k: 10 })).json.results;
    queries.forEach((q, qi) => {
      const want = data
        .map((v, i) => ({ id: v.id, s: v.vector.reduce((acc, x, t) => acc + (x - q[t]) ** 2, 0), i }))
        .sort((a, b) => a.s - b.s || a.i - b.i)
        .slice(0, 10)
        .map((w) => w.id);
      expect(exact[qi].map((h: { id: string }) => h.id)).toEqual(want);
    });

    const job = (await call(base, 'POST', '/collections/e2e/train', {})).json.job;
    let state = job.state;
    while (state === 'queued' || state === 'running') {
      await new Promise((r) => setTimeout(r, 50));
      state = (await call(base, 'GET', `/collections/e2e/jobs/${job.id}`)).json.state;
    }
    expect(state).toBe('succeeded');
    const trained = (await call(base, 'POST', '/collections/e2e/query', { vectors: queries, k: 10 })).json.results;
    const stats = (await call(base, 'GET', '/collections/e2e')).json;
    expect(stats).toMatchObject({ trained: true, count: 2000, codecVersion: 1 });
    // ADC recall against the exact answers stays high on this clustered data.
    const overlap = trained.reduce(
      (acc: number, list: { id: string }[], qi: number) => acc + list.filter((h) => exact[qi].some((e: { id: string }) => e.id === h.id)).length,
      0,
    );
    expect(overlap / 30).toBeGreaterThan(0.5);

    expect(await server!.stop()).toBe(0);
    server = await startServer(dir);
    const again = await call(server.url, 'POST', '/collections/e2e/query', { vectors: queries, k: 10 });
    expect(again.json.results).toEqual(trained);
    expect((await call(server.url, 'GET', '/collections/e2e')).json).toEqual(stats);
    expect((await call(server.url, 'GET', '/collections/demo')).json).toMatchObject({ count: 999, trained: true });
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);
  });
});
