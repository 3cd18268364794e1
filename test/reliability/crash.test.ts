/**
 * Crash safety: a real server process takes a stream of upserts (batches that
 * replace and add vectors, with and without metadata) and deletes from four
 * client loops, and is killed with SIGKILL at a seeded random moment 100–800 ms
 * into the stream, CRASH_ROUNDS times (default 20) on the same data directory.
 * After each kill, before the restart, the SQLite file must pass
 * PRAGMA integrity_check; after the restart every acknowledged write must be
 * there exactly, every write in flight at the kill all-or-nothing, and queries
 * must answer from what is stored. Collection "plain" stays untrained (exact
 * search); "coded" is trained in round TRAIN_ROUND, so later upserts write codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, call, callOk, integrityProblems, seededRandom, sleep, startServer, waitForJob } from '../helpers/server.js';
import { type State, type Write, Ledger, key } from './ledger.js';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);
const TRAIN_ROUND = 2;
const D = 8;
const OWNERS = 4;
const KEYS_PER_OWNER = 60;
const COLLECTIONS = ['plain', 'coded'] as const;

const fileStarted = performance.now();

function idOf(owner: number, j: number): string {
  return `o${owner}-k${j}`;
}

const ALPHABET = ['a', 'b', 'z', ' ', 'é', 'ß', 'Ж', '中', '🙂', '"', '\\', '\n', '\u202e', '\u0000'];

function randomState(rng: () => number, owner: number, seq: number): { body: Record<string, unknown>; state: State } {
  const vector = Array.from({ length: D }, () => Math.fround(rng() * 2 - 1));
  const u = rng();
  if (u < 0.15) return { body: { vector }, state: { vector, metadata: null } };
  if (u < 0.25) return { body: { vector, metadata: null }, state: { vector, metadata: null } };
  const text = Array.from({ length: Math.floor(rng() * 12) }, () => ALPHABET[Math.floor(rng() * ALPHABET.length)]).join('');
  const metadata = {
    owner,
    seq,
    text,
    score: Math.fround(rng() * 100),
    flag: rng() < 0.5,
    tags: Array.from({ length: Math.floor(rng() * 4) }, (_, i) => `t${i}`),
    nested: { level: { value: Math.floor(rng() * 1e6), none: null } },
  };
  return { body: { vector, metadata }, state: { vector, metadata } };
}

interface StreamStats {
  requests: number;
  unexpected: string[];
}

/** One client loop: writes to its own keys only, one request at a time, until the server is gone. */
async function writer(base: string, owner: number, rng: () => number, ledger: Ledger, stats: StreamStats, seqStart: number): Promise<void> {
  let seq = seqStart;
  for (;;) {
    const collection = COLLECTIONS[Math.floor(rng() * COLLECTIONS.length)];
    const owned = Array.from({ length: KEYS_PER_OWNER }, (_, j) => key(collection, idOf(owner, j)));
    const present = owned.filter((k) => ledger.acked.get(k) != null);
    let method: string;
    let path: string;
    let body: unknown;
    let okStatus: number;
    let w: Write;
    if (rng() < 0.25 && present.length > 0) {
      const k = present[Math.floor(rng() * present.length)];
      const id = k.slice(collection.length + 1);
      method = 'DELETE';
      path = `/collections/${collection}/vectors/${encodeURIComponent(id)}`;
      body = undefined;
      okStatus = 204;
      w = ledger.begin([k], [null], `DELETE ${k}`);
    } else {
      const n = 1 + Math.floor(rng() * 8);
      const picked = new Set<number>();
      while (picked.size < n) picked.add(Math.floor(rng() * KEYS_PER_OWNER));
      const items: Record<string, unknown>[] = [];
      const keys: string[] = [];
      const after: State[] = [];
      for (const j of picked) {
        const { body: item, state } = randomState(rng, owner, seq++);
        items.push({ id: idOf(owner, j), ...item });
        keys.push(key(collection, idOf(owner, j)));
        after.push(state);
      }
      method = 'POST';
      path = `/collections/${collection}/vectors`;
      body = { vectors: items };
      okStatus = 200;
      w = ledger.begin(keys, after, `upsert of ${keys.join(', ')}`);
    }
    let status: number;
    try {
      stats.requests++;
      const r = await fetch(base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
      status = r.status;
      const text = await r.text().catch(() => '');
      if (status !== okStatus) stats.unexpected.push(`${method} ${path}: ${status} ${text.slice(0, 300)}`);
    } catch {
      // No response: the server died with this write in flight (or before it arrived).
      ledger.lost(w);
      return;
    }
    if (status === okStatus) ledger.ack(w);
    else ledger.refused(w);
  }
}

/** Queries answer from what is stored: a stored vector finds itself at distance 0, and no deleted id comes back. */
async function checkQueries(base: string, ledger: Ledger, rng: () => number, round: number): Promise<string[]> {
  const problems: string[] = [];
  for (const collection of COLLECTIONS) {
    const present = ledger.present(collection);
    for (let t = 0; t < 5 && present.length > 0; t++) {
      const k = present[Math.floor(rng() * present.length)];
      const stored = ledger.acked.get(k)!;
      const r = await call(base, 'POST', `/collections/${collection}/query`, { vector: stored.vector, k: 1 });
      const hit = r.json?.results?.[0];
      if (r.status !== 200 || hit?.id !== k.slice(collection.length + 1) || hit?.distance !== 0) {
        problems.push(`round ${round}: query ${collection} with the vector of ${k}, k=1: ${r.status} ${r.text.slice(0, 300)}`);
      }
    }
    const q = Array.from({ length: D }, () => rng() * 2 - 1);
    const r = await call(base, 'POST', `/collections/${collection}/query`, { vector: q, k: 20 });
    if (r.status !== 200) {
      problems.push(`round ${round}: query ${collection} k=20: ${r.status} ${r.text.slice(0, 300)}`);
      continue;
    }
    const hits = r.json.results as { id: string; distance: number }[];
    const live = new Set(present);
    const ghosts = hits.filter((h) => !live.has(key(collection, h.id)));
    if (ghosts.length > 0) problems.push(`round ${round}: query ${collection} returned ids not stored: ${ghosts.map((h) => h.id).join(', ')}`);
    if (hits.length !== Math.min(20, present.length))
      problems.push(`round ${round}: query ${collection} k=20 returned ${hits.length} hits for ${present.length} vectors`);
    for (let i = 1; i < hits.length; i++) {
      if (hits[i].distance < hits[i - 1].distance) problems.push(`round ${round}: query ${collection} results out of order at ${i}`);
    }
  }
  return problems;
}

describe('crash safety: SIGKILL during writes', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pqvec-crash-'));
  });
  let server: ServerProcess | null = null;
  afterAll(async () => {
    if (server !== null) await server.kill();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    console.log(`[reliability] crash.test.ts (writes): ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  it(`keeps every acknowledged write and no half write across ${ROUNDS} kills`, async () => {
    const rng = seededRandom(20261201);
    const ledger = new Ledger();
    const delays: number[] = [];
    let requests = 0;
    let seq = 0;
    for (let round = 0; round <= ROUNDS; round++) {
      server = await startServer(dir);
      const base = server.url;
      if (round === 0) {
        await callOk(base, 'POST', '/collections', { name: 'plain', dimension: D, metric: 'l2' }, 201);
        await callOk(base, 'POST', '/collections', { name: 'coded', dimension: D, metric: 'l2', quantizer: { type: 'pq', m: 4, nbits: 6 } }, 201);
        for (const collection of COLLECTIONS) {
          const items = [];
          const keys = [];
          const after: State[] = [];
          for (let o = 0; o < OWNERS; o++) {
            for (let j = 0; j < KEYS_PER_OWNER; j++) {
              const { body, state } = randomState(rng, o, seq++);
              items.push({ id: idOf(o, j), ...body });
              keys.push(key(collection, idOf(o, j)));
              after.push(state);
            }
          }
          const w = ledger.begin(keys, after, `seed ${collection}`);
          expect(await callOk(base, 'POST', `/collections/${collection}/vectors`, { vectors: items })).toEqual({ upserted: items.length });
          ledger.ack(w);
        }
      } else {
        const problems = await ledger.verify(base);
        expect(problems, `after kill ${round} (log tail:\n${server.log().slice(-2000)})`).toEqual([]);
      }

      if (round === TRAIN_ROUND) {
        const job = (await callOk(base, 'POST', '/collections/coded/train', { seed: 7 }, 202)).job;
        expect((await waitForJob(base, 'coded', job.id)).state).toBe('succeeded');
      }
      const views = await Promise.all(COLLECTIONS.map((c) => callOk(base, 'GET', `/collections/${c}`)));
      expect(views[0]).toMatchObject({ trained: false, codecVersion: null, count: ledger.present('plain').length });
      expect(views[1]).toMatchObject(
        round >= TRAIN_ROUND
          ? { trained: true, codecVersion: 1, count: ledger.present('coded').length }
          : { trained: false, count: ledger.present('coded').length },
      );
      expect(await checkQueries(base, ledger, rng, round)).toEqual([]);
      expect((await call(base, 'GET', '/health')).status).toBe(200);
      if (round === ROUNDS) break;

      // The stream, and a kill at a random moment in it.
      const stats: StreamStats = { requests: 0, unexpected: [] };
      // Each owner's ids start at its own block of 100,000.
      const firstSeq = seq;
      seq += OWNERS * 100_000;
      const loops = Array.from({ length: OWNERS }, (_, o) =>
        writer(base, o, seededRandom(1000 * round + o), ledger, stats, firstSeq + (o + 1) * 100_000),
      );
      const delay = 100 + Math.floor(rng() * 700);
      delays.push(delay);
      await sleep(delay);
      const exit = await server.kill();
      expect(exit.signal).toBe('SIGKILL');
      await Promise.all(loops);
      requests += stats.requests;
      expect(stats.unexpected, `round ${round}`).toEqual([]);
      expect(integrityProblems(dir), `integrity after kill ${round + 1}`).toEqual([]);
      server = null;
    }
    await server!.stop();
    server = null;
    const c = ledger.counts;
    console.log(
      `[reliability] crash: ${ROUNDS} kills at ${Math.min(...delays)}–${Math.max(...delays)} ms into the stream; ${requests} write requests; ` +
        `acknowledged ${c.ackedUpserts} upserts (${c.ackedVectors} vectors) and ${c.ackedDeletes} deletes; ` +
        `${c.unknownWrites} in flight at a kill: ${c.unknownApplied} applied, ${c.unknownNotApplied} not; integrity_check ok ${ROUNDS}×`,
    );
  });
});
