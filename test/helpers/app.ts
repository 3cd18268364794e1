/** A real app (SQLite file in a temp dir, real worker threads) for inject tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

export interface TestApp {
  app: FastifyInstance;
  dir: string;
  /** Closes the app (keeps the data directory, for restart tests). */
  close(): Promise<void>;
  /** Closes the app and removes the data directory. */
  destroy(): Promise<void>;
  req(method: InjectOptions['method'], url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pqvec-test-'));
}

export async function makeApp(dir = tempDir(), env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({ DATA_DIR: dir, WORKERS: '2', LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'NORMAL', ...env });
  const app = await buildApp(config);
  let closed = false;
  const close = async () => {
    if (!closed) await app.close();
    closed = true;
  };
  return {
    app,
    dir,
    close,
    destroy: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
    req: (method, url, body) =>
      app.inject(body === undefined ? { method, url } : { method, url, payload: body as InjectOptions['payload'] }),
  };
}

/** Polls a job until it leaves queued/running. */
export async function waitForJob(t: TestApp, collection: string, id: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await t.req('GET', `/collections/${collection}/jobs/${id}`);
    const job = r.json() as Record<string, unknown>;
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(job.state)} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Seeded vectors with ids v0, v1, … and metadata {i}. */
export function seededVectors(n: number, d: number, seed: number, offset = 0): { id: string; vector: number[]; metadata: { i: number } }[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const centres = Array.from({ length: 12 }, () => Array.from({ length: d }, () => rand() * 10));
  return Array.from({ length: n }, (_, i) => {
    const c = centres[Math.floor(rand() * centres.length)];
    return { id: `v${i + offset}`, vector: c.map((x) => Math.fround(x + rand() - 0.5)), metadata: { i: i + offset } };
  });
}
