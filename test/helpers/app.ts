/** A real app (SQLite file in a temp dir, real worker threads) for inject tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, internalsOf } from '../../src/app.js';
import type { FlatCodec } from '../../src/core/codec.js';
import { deserializeCodec } from '../../src/core/serialize.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import type { ComputePool } from '../../src/pool/compute-pool.js';
import type { Store } from '../../src/store/store.js';
import { loadConfig } from '../../src/config.js';

export interface TestApp {
  app: FastifyInstance;
  /** Beneath the HTTP layer, for assertions on what is stored. */
  store: Store;
  pool: ComputePool;
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
    ...internalsOf(app),
    dir,
    close,
    destroy: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
    req: (method, url, body) => app.inject(body === undefined ? { method, url } : { method, url, payload: body as InjectOptions['payload'] }),
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

/** Trains a collection through the API (default parameters) and waits for the job to end. */
export async function trainAndWait(t: TestApp, collection: string): Promise<Record<string, unknown>> {
  const job = (await t.req('POST', `/collections/${collection}/train`, {})).json().job;
  return waitForJob(t, collection, job.id);
}

/** A trained collection's record, its active codec as stored, and that codec parsed. */
export function activeCodec(t: TestApp, collection: string) {
  const record = t.store.collection(collection)!;
  const stored = t.store.codec(record.activeCodecId!)!;
  return { record, stored, codec: deserializeCodec(stored.bytes) };
}

/** A trained flat collection's codec and its stored codes, loaded into a buffer of `rows` rows as start-up does. */
export function loadedFlatCodes(t: TestApp, collection: string, rows: number) {
  const { record, stored, codec } = activeCodec(t, collection);
  const flat = codec as FlatCodec;
  const codes = CollectionIndex.codesBuffer(rows, flat);
  t.store.loadCodes(stored.id, flat.codeSize, codes);
  return { record, codec: flat, codes };
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

export type HitJson = { id: string; distance: number; metadata: Record<string, unknown> | null };

/** Squared L2 distance of two JSON vectors as the service stores them (float32). */
export function l2f32(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (Math.fround(a[i]) - Math.fround(b[i])) ** 2;
  return s;
}

/** Ids of the k exact nearest items to q among those `keep` accepts (ties: lower index). */
export function exactTopIds(data: { id: string; vector: number[] }[], q: number[], k: number, keep: (i: number) => boolean = () => true): string[] {
  return data
    .map((v, i) => ({ i, s: l2f32(q, v.vector) }))
    .filter((x) => keep(x.i))
    .sort((a, b) => a.s - b.s || a.i - b.i)
    .slice(0, k)
    .map((x) => data[x.i].id);
}

/** POST /collections/{name}/query, expecting 200; the results. */
export async function queryHits(t: TestApp, name: string, body: object): Promise<HitJson[]> {
  const r = await t.req('POST', `/collections/${name}/query`, body);
  if (r.statusCode !== 200) throw new Error(`query ${name}: ${r.statusCode} ${r.body}`);
  return r.json().results;
}
