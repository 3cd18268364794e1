/**
 * Batching across requests: single-query scans of one index state that arrive
 * close together go to the pool as one search — one task per worker instead of
 * one per query and worker and, for a flat index, one pass over the codes for
 * up to QUERY_BATCH_MAX queries (the kernels score 8 queries per code read).
 *
 * A query joins the open batch of the same scan (same index, same rows, codec,
 * metric, nprobe) or opens one. A query that finds no batch of its index
 * scanning goes to the pool at once, alone: at low load nothing waits (an
 * event-loop turn of waiting for company measured 0.15–0.35 ms slower at one
 * request in flight). Queries arriving while a scan runs gather in the open
 * batch, which goes
 * - when that scan ends, or windowMicros after it opened (a timer: Node fires
 *   timers at millisecond resolution), whichever comes first — but not at the
 *   window's end while every worker is busy (its scan could not start sooner):
 *   then it gathers on until the scan ends;
 * - at once when it holds QUERY_BATCH_MAX queries.
 * A batch scans for the largest k asked; each query gets its own k first
 * (the k best of the K best are the k best, in the same order). Re-ranked
 * queries batch only with queries of the same k and rerank factor. A query whose
 * request is aborted while it waits leaves its batch. Filtered queries,
 * requests of several queries (already one search) and windowMicros = 0 go
 * straight to the pool.
 */
import { type ComputePool, type FlatSearchArgs, type IVFSearchArgs, type Neighbours, neighboursIn } from '../pool/compute-pool.js';
import { QUERY_BATCH_MAX } from '../tunables.js';

/** The index state a query scans: the in-memory index and its row count when the query was planned (a write changes it). */
export interface BatchKey {
  index: object;
  rows: number;
}

type Scan = { kind: 'flat'; args: FlatSearchArgs } | { kind: 'ivf'; args: IVFSearchArgs };

interface Waiter {
  query: Float32Array;
  k: number;
  resolve: (found: Neighbours) => void;
  reject: (err: unknown) => void;
  /** Removes the abort listener. */
  detach: () => void;
}

interface Batch {
  key: BatchKey;
  scan: Scan;
  /** What must be equal for a query to join (identities and values; see sameScan). */
  identity: unknown[];
  waiters: Waiter[];
  timer: NodeJS.Timeout | null;
  /** Dispatched (or emptied by aborts): takes no more queries. */
  closed: boolean;
}

function identityOf(key: BatchKey, scan: Scan): unknown[] {
  const a = scan.args;
  // Re-ranked queries share a batch only with the same k and candidates: each gets exactly the results it gets alone.
  const rerank = a.rerank === undefined ? null : `${a.k}/${a.rerank.k}`;
  const common = [key.index, key.rows, scan.kind, a.codec, a.dead, a.metric, a.skipFirst ?? true, rerank, a.records?.dbPath, a.records?.collectionId];
  return scan.kind === 'flat'
    ? [...common, scan.args.codes, scan.args.rows]
    : [...common, scan.args.lists.codes, scan.args.lists.rows, scan.args.nprobe];
}

const sameScan = (a: unknown[], b: unknown[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** The first k of a query's results. */
function firstK(found: Neighbours, k: number): Neighbours {
  return found.ids.length <= k ? found : neighboursIn(found, 0, k);
}

export class ScanBatcher {
  private readonly open: Batch[] = [];
  /** Batches scanning, per index. */
  private readonly scanning = new Map<object, number>();

  constructor(
    private readonly pool: ComputePool,
    /** How long an open batch may wait for its index's running scan (µs); 0 = no batching. */
    readonly windowMicros: number,
    /** Told the size of every batch sent to the pool. */
    private readonly onBatch: (queries: number) => void = () => {},
  ) {}

  /** A flat search; `key` null = straight to the pool. */
  search(args: FlatSearchArgs, key: BatchKey | null): Promise<Neighbours[]> {
    return this.run({ kind: 'flat', args }, key);
  }

  /** An IVF search; `key` null = straight to the pool. */
  ivfSearch(args: IVFSearchArgs, key: BatchKey | null): Promise<Neighbours[]> {
    return this.run({ kind: 'ivf', args }, key);
  }

  private direct(scan: Scan): Promise<Neighbours[]> {
    return scan.kind === 'flat' ? this.pool.search(scan.args) : this.pool.ivfSearch(scan.args);
  }

  private run(scan: Scan, key: BatchKey | null): Promise<Neighbours[]> {
    const { args } = scan;
    const batchable =
      key !== null &&
      this.windowMicros > 0 &&
      args.nq === 1 &&
      args.eligible === undefined &&
      (scan.kind === 'flat' || (scan.args.mode ?? 'probe') === 'probe');
    if (!batchable) return this.direct(scan);
    if ((this.scanning.get(key.index) ?? 0) === 0) {
      // Nothing of this index scanning: the query goes at once, exactly as without batching (its signal included); queries arriving meanwhile gather.
      this.onBatch(1);
      return this.tracked(key.index, this.direct(scan));
    }
    const { signal } = args;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const identity = identityOf(key, scan);
    let batch = this.open.find((b) => sameScan(b.identity, identity));
    if (batch === undefined) batch = this.openBatch(key, scan, identity);
    const b = batch;
    return new Promise<Neighbours[]>((resolve, reject) => {
      const waiter: Waiter = { query: args.queries, k: args.k, resolve: (found) => resolve([found]), reject, detach: () => {} };
      if (signal !== undefined) {
        const onAbort = () => this.leave(b, waiter, signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      b.waiters.push(waiter);
      if (b.waiters.length >= QUERY_BATCH_MAX) this.dispatch(b);
    });
  }

  /** A new open batch (a scan of its index is running): it goes when that scan ends, at the window's end, or full. */
  private openBatch(key: BatchKey, scan: Scan, identity: unknown[]): Batch {
    const batch: Batch = { key, scan, identity, waiters: [], timer: null, closed: false };
    batch.timer = setTimeout(() => this.windowEnded(batch), this.windowMicros / 1000);
    this.open.push(batch);
    return batch;
  }

  /**
   * A batch's window ended: it goes, unless every worker is busy — then its
   * scan could not start any sooner, so it keeps gathering queries until its
   * index's running scan ends (which frees a worker) or it is full. (At 32
   * connections on 1M flat PQ16 codes, going at the window's end made batches
   * of 6.5 queries on average, a quarter of them alone or in pairs.)
   */
  private windowEnded(batch: Batch): void {
    batch.timer = null;
    if (!this.pool.saturated()) this.dispatch(batch);
  }

  /** Counts `found` as a scan of `index` while it runs; when it settles, the batches that waited for it go. */
  private tracked<T>(index: object, found: Promise<T>): Promise<T> {
    this.scanning.set(index, (this.scanning.get(index) ?? 0) + 1);
    return found.finally(() => {
      const left = (this.scanning.get(index) ?? 1) - 1;
      if (left === 0) this.scanning.delete(index);
      else this.scanning.set(index, left);
      for (const next of this.open.filter((b) => b.key.index === index)) this.dispatch(next);
    });
  }

  /** A waiting query's request was aborted: it leaves the batch (a batch left empty is dropped). */
  private leave(batch: Batch, waiter: Waiter, reason: unknown): void {
    const i = batch.waiters.indexOf(waiter);
    if (batch.closed || i < 0) return;
    batch.waiters.splice(i, 1);
    waiter.reject(reason);
    if (batch.waiters.length === 0) this.close(batch);
  }

  private close(batch: Batch): void {
    batch.closed = true;
    if (batch.timer !== null) clearTimeout(batch.timer);
    const i = this.open.indexOf(batch);
    if (i >= 0) this.open.splice(i, 1);
  }

  private dispatch(batch: Batch): void {
    if (batch.closed) return;
    this.close(batch);
    const { waiters } = batch;
    const d = waiters[0].query.length;
    const queries = new Float32Array(new SharedArrayBuffer(waiters.length * d * 4));
    waiters.forEach((w, i) => {
      queries.set(w.query, i * d);
      w.detach(); // dispatched: the scan runs to its end (it is short), its results are dropped if nobody waits
    });
    const k = Math.max(...waiters.map((w) => w.k)); // equal when re-ranked (identityOf)
    this.onBatch(waiters.length);
    const scan = batch.scan;
    const found = this.direct({ ...scan, args: { ...scan.args, queries, nq: waiters.length, k, signal: undefined } } as Scan);
    this.tracked(batch.key.index, found).then(
      (all) => {
        for (const [i, w] of waiters.entries()) w.resolve(scan.args.rerank === undefined ? firstK(all[i], w.k) : all[i]);
      },
      (err) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}
