/**
 * What a client may rely on after a crash: a ledger of writes. A write counts as
 * acknowledged only when its 2xx response arrived; a write in flight when the
 * server died is unknown and must turn out all-or-nothing (every vector of an
 * upsert batch with its new values and metadata, or every one as before).
 */
import { isDeepStrictEqual } from 'node:util';
import { call } from '../helpers/server.js';

export interface Stored {
  vector: number[];
  metadata: Record<string, unknown> | null;
}
/** A key's state: stored values, or null for absent. */
export type State = Stored | null;

export interface Write {
  keys: string[];
  /** The state of each key once the write is applied. */
  after: State[];
  what: string;
}

/** "collection/id" (ids in these tests never contain "/"). */
export function key(collection: string, id: string): string {
  return `${collection}/${id}`;
}

function split(k: string): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}

/** Expected (as sent) against observed (as stored, float32): vectors equal as float32, metadata equal. */
export function sameState(expected: State, observed: State): boolean {
  if (expected === null || observed === null) return expected === observed;
  if (expected.vector.length !== observed.vector.length) return false;
  for (let i = 0; i < expected.vector.length; i++) if (Math.fround(expected.vector[i]) !== observed.vector[i]) return false;
  return isDeepStrictEqual(expected.metadata, observed.metadata);
}

function show(s: State | undefined): string {
  if (s === undefined) return 'never written';
  if (s === null) return 'absent';
  return JSON.stringify(s).slice(0, 300);
}

export class Ledger {
  /** The state each key must have: its last acknowledged write (absent keys: null; keys never written: missing). */
  readonly acked = new Map<string, State>();
  /** Writes whose fate is unknown (in flight when the server died). */
  readonly unknown: Write[] = [];
  private readonly inFlight = new Set<Write>();
  readonly counts = { ackedUpserts: 0, ackedVectors: 0, ackedDeletes: 0, unknownWrites: 0, unknownApplied: 0, unknownNotApplied: 0 };

  begin(keys: string[], after: State[], what: string): Write {
    const w = { keys, after, what };
    this.inFlight.add(w);
    return w;
  }

  /** Its 2xx response arrived. */
  ack(w: Write): void {
    this.inFlight.delete(w);
    for (const [i, k] of w.keys.entries()) this.acked.set(k, w.after[i]);
    if (w.after.every((s) => s === null)) this.counts.ackedDeletes++;
    else {
      this.counts.ackedUpserts++;
      this.counts.ackedVectors += w.keys.length;
    }
  }

  /** Refused with an error response: nothing changed. */
  refused(w: Write): void {
    this.inFlight.delete(w);
  }

  /** No response (connection lost): the write may or may not have happened. */
  lost(w: Write): void {
    this.inFlight.delete(w);
    this.unknown.push(w);
    this.counts.unknownWrites++;
  }

  /** Every key acknowledged or written. */
  keys(): string[] {
    const all = new Set(this.acked.keys());
    for (const w of this.unknown) for (const k of w.keys) all.add(k);
    return [...all];
  }

  /** Keys whose acknowledged state is present, in one collection. */
  present(collection: string): string[] {
    return [...this.acked.entries()].filter(([k, s]) => s !== null && k.startsWith(`${collection}/`)).map(([k]) => k);
  }

  /**
   * Reads every key back from the server and compares it with the ledger.
   * Returns the problems found ([] when the server kept its promises) and
   * afterwards holds the observed states (unknown writes resolved).
   */
  async verify(base: string, concurrency = 8): Promise<string[]> {
    if (this.inFlight.size > 0) throw new Error(`${this.inFlight.size} writes still in flight`);
    const problems: string[] = [];
    const keys = this.keys();
    const observed = new Map<string, State>();
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const k = keys[next++];
        const [collection, id] = split(k);
        const r = await call(base, 'GET', `/collections/${collection}/vectors/${encodeURIComponent(id)}`);
        if (r.status === 200) {
          observed.set(k, { vector: r.json.vector, metadata: r.json.metadata });
          if (r.json.id !== id) problems.push(`GET ${k}: id ${JSON.stringify(r.json.id)}`);
        } else if (r.status === 404 && r.json?.error?.code === 'vector_not_found') {
          observed.set(k, null);
        } else {
          problems.push(`GET ${k}: ${r.status} ${r.text.slice(0, 300)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (problems.length > 0) return problems;

    const pending = new Set<string>();
    for (const w of this.unknown) {
      // Each key either keeps its acknowledged state or takes the write's; the batch as a whole, one or the other.
      let applied = 0;
      let notApplied = 0;
      w.keys.forEach((k, i) => {
        pending.add(k);
        const now = observed.get(k)!;
        const before = this.acked.get(k);
        const isAfter = sameState(w.after[i], now);
        const isBefore = before === undefined ? now === null : sameState(before, now);
        if (isAfter && !isBefore) applied++;
        else if (isBefore && !isAfter) notApplied++;
        else if (!isAfter && !isBefore) {
          problems.push(`${w.what}: ${k} is half-written: ${show(now)}; expected ${show(before)} (not applied) or ${show(w.after[i])} (applied)`);
        }
      });
      if (applied > 0 && notApplied > 0)
        problems.push(`${w.what}: applied to ${applied} of its vectors, not to ${notApplied} (must be all or nothing)`);
      if (applied > 0) this.counts.unknownApplied++;
      else this.counts.unknownNotApplied++;
    }
    for (const [k, expected] of this.acked) {
      if (pending.has(k)) continue;
      const now = observed.get(k)!;
      if (!sameState(expected, now)) {
        problems.push(`${k}: acknowledged as ${show(expected)}, found ${show(now)}`);
      }
    }
    // From here on the server's answers are the reference.
    this.unknown.length = 0;
    for (const [k, s] of observed) this.acked.set(k, s);
    return problems;
  }
}
