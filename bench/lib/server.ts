/** A pqvec server process for the HTTP benchmarks: started on a free loopback port over a data directory, stopped, measured. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { REPO_ROOT } from './fashion-mnist.js';

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
}

/** A free TCP port on loopback (a server started with LOG_LEVEL above info cannot announce its own). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  await new Promise((ok) => srv.close(ok));
  return port;
}

/** Starts dist/src/server.js over dataDir (BODY_LIMIT 512 MiB, `env` on top); resolves once /ready answers 200 (every collection loaded). */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [resolve(REPO_ROOT, 'dist/src/server.js')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', BODY_LIMIT: String(512 * 2 ** 20), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  proc.once('exit', () => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error('the server exited while starting');
    const status = await fetch(`${url}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return { proc, url };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then the process's exit. */
export async function stopServer(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

/**
 * A process's resident memory in MiB: all of it; anonymous (V8 heaps,
 * SQLite caches); shared (the code arenas and other shared buffers); and
 * file-backed (the database's mapped pages: page cache the kernel can drop).
 */
export function rssMiB(pid: number): { rss: number; anon: number; shared: number; file: number } | null {
  const path = `/proc/${pid}/status`;
  if (!existsSync(path)) return null;
  const status = readFileSync(path, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), shared: kb('RssShmem'), file: kb('RssFile') };
}

/** One JSON (or `type`) request; the parsed answer, or an Error naming the status and body. */
export async function call(url: string, method: string, body?: string | Buffer, type = 'application/json'): Promise<any> {
  const r = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': type }, body });
  const json = await r.json();
  if (!r.ok) throw new Error(`${r.status}: ${JSON.stringify(json)}`);
  return json;
}

/** A bulk upsert body (application/octet-stream): rows [0, count) of v, ids firstId, firstId + 1 … as decimal strings. */
export function bulkRecords(firstId: number, v: Float32Array, count: number, d: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = Buffer.from(String(firstId + i));
    const head = Buffer.alloc(2);
    head.writeUInt16LE(id.length);
    parts.push(head, id, Buffer.from(v.buffer, v.byteOffset + i * d * 4, d * 4));
  }
  return Buffer.concat(parts);
}

/** Starts a training of the collection (`params` as the train body) and polls its job until it ends; the final job, or an Error if it failed. */
export async function trainToCompletion(
  url: string,
  collection: string,
  params: object = {},
  onPoll?: (job: any) => void,
  pollMs = 500,
): Promise<any> {
  const started = (await call(`${url}/collections/${collection}/train`, 'POST', JSON.stringify(params))).job;
  let job = started;
  while (job.state === 'queued' || job.state === 'running') {
    await new Promise((r) => setTimeout(r, pollMs));
    job = await call(`${url}/collections/${collection}/jobs/${started.id}`, 'GET');
    onPoll?.(job);
  }
  if (job.state !== 'succeeded') throw new Error(`training failed: ${JSON.stringify(job.error)}`);
  return job;
}

/**
 * autocannon: `connections` keep POSTing JSON bodies to url for `seconds`,
 * cycling through `bodies`. Queries/s, latency (ms) and failed requests.
 */
export async function postLoad(
  url: string,
  bodies: string[],
  connections: number,
  seconds: number,
): Promise<{ queriesPerSecond: number; p50Ms: number; p99Ms: number; meanMs: number; errors: number }> {
  let i = 0;
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req: object) => ({ ...req, body: bodies[i++ % bodies.length] }),
      },
    ],
  });
  return { queriesPerSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, meanMs: r.latency.average, errors: r.errors + r.non2xx };
}
