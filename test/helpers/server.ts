/**
 * The real pqvec server as a child process (`node dist/src/server.js`, built by
 * `npm run build`), for tests that kill, stop and restart it: start on a free
 * loopback port, wait for "Server listening at …", SIGKILL or SIGTERM it, read
 * its RSS; plus a JSON fetch with a timeout, a read-only SQLite integrity check
 * and a seeded random generator.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER_JS = join(ROOT, 'dist/src/server.js');
/** The database file inside DATA_DIR (src/store/database.ts DB_FILE). */
export const DB_FILE = 'pqvec.sqlite';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly dataDir: string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<Exit>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** stdout + stderr so far (the last 256 KiB). */
  log(): string;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<Exit>;
  /** Sends SIGTERM and waits for the exit; `ms` from the signal to the exit. */
  stop(timeoutMs?: number): Promise<Exit & { ms: number }>;
  /** Resident set size of the process (all its threads), in KiB, from /proc/PID/status. */
  rssKiB(): number;
}

export interface StartOptions {
  /** Extra environment (PORT, HOST, DATA_DIR, WORKERS are set here; LOG_LEVEL defaults to info, which prints the listening line). */
  env?: Record<string, string>;
  /** How long to wait for the listening line. Default 30 s. */
  timeoutMs?: number;
}

const LOG_TAIL = 256 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** If the test process goes away, its servers go too. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of running) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Starts `node dist/src/server.js` on DATA_DIR = dataDir, a free port on 127.0.0.1, 2 workers. */
export async function startServer(dataDir: string, options: StartOptions = {}): Promise<ServerProcess> {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run npm run build first`);
  installExitHook();
  const proc = spawn(process.execPath, [SERVER_JS], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...options.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', WORKERS: options.env?.WORKERS ?? '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let log = '';
  const append = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 2 * LOG_TAIL) log = log.slice(-LOG_TAIL);
  };
  // Both pipes are always drained, so a chatty server never blocks on a full pipe.
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  let isAlive = true;
  const exited = new Promise<Exit>((res) => {
    proc.once('exit', (code, signal) => {
      isAlive = false;
      running.delete(proc);
      res({ code, signal });
    });
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const url = await new Promise<string>((resolveUrl, reject) => {
    let scanned = 0;
    const onData = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log.slice(Math.max(0, scanned - 100)));
      scanned = log.length;
      if (m) {
        done();
        resolveUrl(m[1]);
      }
    };
    const timer = setTimeout(() => {
      done();
      proc.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${log}`));
    };
    const done = () => {
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      proc.off('exit', onExit);
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', onExit);
  });
  const server: ServerProcess = {
    proc,
    pid: proc.pid!,
    url,
    dataDir,
    exited,
    get alive() {
      return isAlive;
    },
    log: () => log,
    kill: async () => {
      if (isAlive) proc.kill('SIGKILL');
      return exited;
    },
    stop: async (stopTimeoutMs = 60_000) => {
      const t0 = performance.now();
      if (isAlive) proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`server did not exit within ${stopTimeoutMs} ms of SIGTERM:\n${log.slice(-4000)}`)), stopTimeoutMs);
      });
      try {
        const e = await Promise.race([exited, timeout]);
        return { ...e, ms: performance.now() - t0 };
      } finally {
        clearTimeout(timer);
      }
    },
    rssKiB: () => rssKiB(proc.pid!),
  };
  return server;
}

/** Waits until the server's log (stdout + stderr) matches `pattern`, e.g. its "incoming request" line for a URL. */
export async function waitForLog(server: ServerProcess, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(server.log())) {
    if (!server.alive) throw new Error(`server exited before its log matched ${pattern}`);
    if (Date.now() > deadline) throw new Error(`server log did not match ${pattern} within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** VmRSS of a process in KiB (Linux). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is empty or not JSON. */
  json: any;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Abort (and reject) after this long. Default 30 s. */
  timeoutMs?: number;
}

/** One HTTP request with a JSON body (if any); rejects on a network error or timeout. */
export async function call(base: string, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<JsonResponse> {
  const r = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await r.text();
  let json: any;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

/** Like call(), but throws unless the status is the expected one. */
export async function callOk(base: string, method: string, path: string, body?: unknown, status = 200): Promise<any> {
  const r = await call(base, method, path, body);
  if (r.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${r.status} ${r.text.slice(0, 500)}`);
  return r.json;
}

/** Polls a training job until it is succeeded or failed. */
export async function waitForJob(base: string, collection: string, id: string, timeoutMs = 120_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await callOk(base, 'GET', `/collections/${collection}/jobs/${id}`);
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * PRAGMA integrity_check and foreign_key_check on DATA_DIR/pqvec.sqlite, opened
 * read-only (run it while no server has the file open, e.g. after a kill and
 * before the restart). Returns the problems; [] when the file is sound.
 */
export function integrityProblems(dataDir: string): string[] {
  const db = new Database(join(dataDir, DB_FILE), { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = rows.map((r) => r.integrity_check).filter((s) => s !== 'ok');
    const fk = db.pragma('foreign_key_check') as object[];
    for (const v of fk) problems.push(`foreign key: ${JSON.stringify(v)}`);
    return problems;
  } finally {
    db.close();
  }
}

/** Seeded uniform [0, 1) generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** The network error code of a failed fetch (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, …), or its message. */
export function networkErrorCode(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'TIMEOUT';
  return e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
