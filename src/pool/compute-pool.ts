/**
 * The piscina worker pool: the search fan-out (split rows or queries over the
 * workers, merge their top-k lists) and the core's TrainCompute on the workers
 * (trainCompute()); the training pipeline itself is the core's (core/train.ts).
 * The main thread never scans codes or vectors.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { ProductQuantizer } from '../core/pq.js';
import { type Codec, FlatCodec, type IVFCodec } from '../core/codec.js';
import type { CoarseQuantizer, EligibleSlots, ListsView } from '../core/ivf.js';
import { serializeCodec } from '../core/serialize.js';
import { mergeTopK } from '../core/topk.js';
import { arenaOf, releaseSlotsOf } from '../core/wasm/scan.js';
import type { InvertedLists } from '../index/inverted-lists.js';
import { LEAF_STATS, addLeafStats } from '../index/metadata-filter.js';
import type { TrainCompute } from '../core/rotation.js';
import type {
  FusedRerank,
  CodecErrorTask,
  CrossTask,
  EncodeRangeTask,
  EncodeTask,
  EncodeWithErrorTask,
  CountListsTask,
  FillListsTask,
  ListsPart,
  ExactScanTask,
  IVFScanTask,
  MatchRowsTask,
  MatmulTask,
  PartialResults,
  PortableError,
  ReadRowsResult,
  ReadRowsTask,
  RecordSource,
  RerankTask,
  ResidualsTask,
  ScanTask,
  StoredRecords,
  TaskInput,
  TaskName,
  TaskOutput,
  TrainCoarseTask,
  TrainSubspaceTask,
  VectorSource,
} from './tasks.js';
import { PoolOverloadedError, WorkerExitedError, fromWorker, workerStopped } from './errors.js';
import { WORKER_FILE, assertWorkerBuilt } from './worker-file.js';
import { WorkerSlots, isBackground } from './task-queue.js';
import { AsyncLocalStorage } from 'node:async_hooks';

import { BLOCK_ROWS } from '../core/code-layout.js';
import { ENCODE_CHUNK, MIN_MATCH_ROWS_PER_TASK, MIN_SCAN_ROWS_PER_TASK } from '../tunables.js';

export type { RecordSource, StoredRecords, VectorSource } from './tasks.js';

/** Set while a background scope runs (inBackground): its tasks queue behind request tasks. */
const backgroundScope = new AsyncLocalStorage<true>();

/** Runs fn with every pool task it starts, however deep, queued as background work (behind request tasks; task-queue.ts). */
export function inBackground<T>(fn: () => Promise<T>): Promise<T> {
  return backgroundScope.run(true, fn);
}

export interface ComputePoolOptions {
  /** Worker threads; default: the number of cores. */
  threads?: number;
  /**
   * Request tasks allowed to wait for a worker; a search or encoding that would
   * queue more fails at once with PoolOverloadedError. Default: unbounded.
   * Training tasks are not counted against it: a job bounds itself.
   */
  maxQueue?: number;
  /** Code rows per scan task below which a search is not split; default MIN_SCAN_ROWS_PER_TASK. */
  minScanRowsPerTask?: number;
  /**
   * Where the pool's own errors go: piscina emits 'error' for a worker's reply to
   * a task it no longer tracks (one aborted just as it finished), and an
   * EventEmitter's unheard 'error' would end the process. Default: a process warning.
   */
  onError?: (err: Error) => void;
}

/** One query's results, nearest first. ids are row numbers. */
export interface Neighbours {
  ids: Float64Array;
  dist: Float64Array;
  /** Their stored records, when the search was given `records` and one task finished the query. */
  records?: StoredRecords;
}

/** A flat ADC search (ComputePool.search). */
export interface FlatSearchArgs {
  codec: FlatCodec;
  codes: Uint8Array;
  dead: Uint8Array;
  rows: number;
  metric: 'l2' | 'ip';
  queries: Float32Array;
  nq: number;
  k: number;
  /** See ScanTask.skipFirst; default true. */
  skipFirst?: boolean;
  /** Score only these rows (a filter's eligible rows, see ScanTask.eligible). */
  eligible?: Int32Array;
  /** Re-rank the k best (`k` above: the candidates) to rerank.k by exact distance; the results are then those. */
  rerank?: FusedRerank;
  /** Look up the results' stored records in the worker that finishes each query, where one does (a search split over row ranges ends in a merge here: its results come without). */
  records?: RecordSource;
  signal?: AbortSignal;
}

/** An IVF search (ComputePool.ivfSearch). */
export interface IVFSearchArgs {
  codec: IVFCodec;
  lists: ListsView;
  /** One byte per row, nonzero = leave out. */
  dead: Uint8Array;
  metric: 'l2' | 'ip';
  queries: Float32Array;
  nq: number;
  k: number;
  nprobe: number;
  /** How each query visits the lists (IVFScanTask.mode); default probe. Rows mode needs `eligible` and `target`. */
  mode?: 'probe' | 'rows';
  eligible?: EligibleSlots;
  target?: number;
  /** See ScanTask.skipFirst; default true. */
  skipFirst?: boolean;
  /** As FlatSearchArgs.rerank; each query's candidates are re-ranked by the task that searched it. */
  rerank?: FusedRerank;
  /** Look up the results' stored records in the task that searched each query. */
  records?: RecordSource;
  signal?: AbortSignal;
}

/** What every part of start-up's lists build reads (ListsPart without its range of segments). */
type ListsSource = Omit<ListsPart, 'segmentFrom' | 'segmentTo'>;

/** A part of start-up's lists build and its first pass's counts (ComputePool.countLists). */
export interface ListsPartCount {
  segmentFrom: number;
  segmentTo: number | null;
  /** Live rows per list in the part. */
  sizes: Int32Array;
  /** One past the last row of codes the part read (0: none). */
  rowsRead: number;
}

/** Copies a typed array into shared memory unless it already is there. */
export function toShared<T extends Float32Array | Float64Array | Uint8Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const shared = new Ctor(new SharedArrayBuffer(a.byteLength));
  shared.set(a as never);
  return shared;
}

let nextCodecKey = 0;
const codecHandles = new WeakMap<Codec, { key: string; bytes: Uint8Array }>();

/** The serialised form of a codec in shared memory, and a key workers cache it under. */
export function codecHandle(codec: Codec): { key: string; bytes: Uint8Array } {
  let h = codecHandles.get(codec);
  if (h === undefined) {
    h = { key: `codec-${process.pid}-${nextCodecKey++}`, bytes: toShared(serializeCodec(codec)) };
    codecHandles.set(codec, h);
  }
  return h;
}

/** Splits rows [0, n) into at most `parts` contiguous ranges of at least `min` rows. */
function ranges(n: number, parts: number, min: number, align = 1): [number, number][] {
  const count = Math.max(1, Math.min(parts, Math.floor(n / min)));
  // Inner boundaries on multiples of align (a 4-bit scan's blocks of rows, so no block is read by two tasks).
  const at = (p: number): number => (p === count ? n : Math.floor(Math.floor((n * p) / count) / align) * align);
  const out: [number, number][] = [];
  for (let p = 0; p < count; p++) out.push([at(p), at(p + 1)]);
  return out;
}

/** Results [from, to) of ids, dist and (when looked up) their stored records, as one query's Neighbours. */
export function neighboursIn(found: { ids: Float64Array; dist: Float64Array; records?: StoredRecords }, from: number, to: number): Neighbours {
  const out: Neighbours = { ids: found.ids.slice(from, to), dist: found.dist.slice(from, to) };
  const { records } = found;
  if (records !== undefined) out.records = { external: records.external.slice(from, to), metadata: records.metadata.slice(from, to) };
  return out;
}

/** The per-query results of one task that finished its queries (stored records kept). */
function unpack(part: PartialResults, k: number): Neighbours[] {
  return Array.from(part.counts, (count, q) => neighboursIn(part, q * k, q * k + count));
}

function mergeParts(parts: PartialResults[], nq: number, k: number): Neighbours[] {
  const out: Neighbours[] = [];
  for (let q = 0; q < nq; q++) {
    out.push(
      mergeTopK(
        parts.map((p) => ({ ids: p.ids.subarray(q * k, q * k + p.counts[q]), dist: p.dist.subarray(q * k, q * k + p.counts[q]) })),
        k,
      ),
    );
  }
  return out;
}

export class ComputePool {
  readonly threads: number;
  private readonly piscina: Piscina;

  constructor(options: ComputePoolOptions = {}) {
    assertWorkerBuilt();
    this.threads = options.threads ?? availableParallelism();
    this.maxQueue = options.maxQueue ?? Number.MAX_SAFE_INTEGER;
    this.minScanRows = options.minScanRowsPerTask ?? MIN_SCAN_ROWS_PER_TASK;
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
    });
    this.slots = new WorkerSlots(this.threads);
    const onError = options.onError ?? ((err: Error) => process.emitWarning(err));
    this.piscina.on('error', onError);
    // A worker ended mid-scan (an aborted task terminates it) still holds its scan slot in a code arena.
    this.piscina.on('workerDestroy', (worker: { id: number }) => releaseSlotsOf(worker.id));
  }

  private readonly maxQueue: number;
  private readonly minScanRows: number;
  /** Tasks submitted and not yet settled: holding a worker or waiting for one. */
  private inFlight = 0;
  /** Of those, the tasks of requests (searches, encodings of upserts): what maxQueue bounds. */
  private requestTasks = 0;
  /** One per worker: the order in which waiting tasks get one (task-queue.ts). */
  private readonly slots: WorkerSlots;

  /**
   * Runs a request's batch of `tasks` tasks, or sheds it whole (before any of
   * its work starts) when the request tasks waiting for a worker would exceed
   * maxQueue. Training tasks are not counted: queries are not refused because
   * a training job has queued its work.
   */
  private async admitted<T>(tasks: number, batch: () => Promise<T>): Promise<T> {
    // Background work (a calibration's searches) queues behind requests: it neither counts nor is shed.
    if (backgroundScope.getStore() === true) return batch();
    if (this.requestTasks + tasks - this.threads > this.maxQueue) throw new PoolOverloadedError(this.maxQueue);
    this.requestTasks += tasks;
    try {
      return await batch();
    } finally {
      this.requestTasks -= tasks;
    }
  }

  /**
   * Runs a named worker task. An aborted signal rejects with the signal's reason
   * (timeout, client gone, job cancelled): a queued task is dropped, a running
   * one stops with its worker, which the pool replaces.
   */
  private async run<K extends TaskName>(name: K, task: TaskInput<K>, signal?: AbortSignal): Promise<TaskOutput<K>> {
    if (signal?.aborted) throw signal.reason;
    const background = isBackground(name, backgroundScope.getStore() === true);
    this.inFlight++;
    try {
      await this.slots.acquire(background, signal);
      try {
        return (await this.piscina.run(task, { name, signal })) as TaskOutput<K>;
      } finally {
        this.slots.release(background);
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (workerStopped(err)) throw new WorkerExitedError(name, err);
      throw fromWorker(name, err as PortableError);
    } finally {
      this.inFlight--;
    }
  }

  /** Every worker has a task (a task submitted now would wait for one to finish). */
  saturated(): boolean {
    return this.inFlight >= this.threads;
  }

  /** Tasks waiting for a worker, and the fraction of time the workers have been busy since start. */
  stats(): { queued: number; utilization: number; threads: number } {
    return { queued: this.slots.waiting, utilization: this.piscina.utilization, threads: this.piscina.threads.length };
  }

  /** out = A·Bᵀ (A: n × k, B: m × k) in float64 (linalg.matmulABt), the output rows split over the workers. */
  matmulABt(
    A: Float32Array | Float64Array,
    B: Float32Array | Float64Array,
    n: number,
    m: number,
    k: number,
    signal?: AbortSignal,
  ): Promise<Float64Array> {
    return this.product(A, B, n, m, k, false, new Float64Array(new SharedArrayBuffer(n * m * 8)), signal);
  }

  /** A·Bᵀ in float32 (wasm/kernels.dotsF32), the output rows split over the workers. */
  dotsF32(A: Float32Array, B: Float32Array, n: number, m: number, k: number, signal?: AbortSignal): Promise<Float32Array> {
    return this.product(A, B, n, m, k, true, new Float32Array(new SharedArrayBuffer(n * m * 4)), signal);
  }

  private async product<T extends Float32Array | Float64Array>(
    A: Float32Array | Float64Array,
    B: Float32Array | Float64Array,
    n: number,
    m: number,
    k: number,
    simd: boolean,
    out: T,
    signal?: AbortSignal,
  ): Promise<T> {
    const a = toShared(A.subarray(0, n * k) as Float32Array | Float64Array);
    const b = toShared(B.subarray(0, m * k) as Float32Array | Float64Array);
    await Promise.all(
      ranges(n, this.threads * 2, 64).map(([rowStart, rowEnd]) => {
        const task: MatmulTask = { A: a, B: b, m, k, rowStart, rowEnd, out, simd };
        return this.run('matmul', task, signal);
      }),
    );
    return out;
  }

  /** x − nearest coarse centroid for rows [0, n) of data and their cells, split over the workers. */
  private async residuals(
    coarse: CoarseQuantizer,
    data: Float32Array,
    n: number,
    signal?: AbortSignal,
  ): Promise<{ residuals: Float32Array; lists: Int32Array }> {
    const out = new Float32Array(new SharedArrayBuffer(n * coarse.d * 4));
    const lists = new Int32Array(new SharedArrayBuffer(n * 4));
    const centroids = toShared(coarse.centroids);
    const rows = toShared(data).subarray(0, n * coarse.d);
    await Promise.all(
      ranges(n, this.threads * 2, 1024).map(([start, end]) => {
        const task: ResidualsTask = { centroids, nlist: coarse.nlist, d: coarse.d, data: rows, start, end, out, lists };
        return this.run('residuals', task, signal);
      }),
    );
    return { residuals: out, lists };
  }

  /** The heavy steps of rotation training, on the workers (same results as inlineCompute). */
  trainCompute(signal?: AbortSignal): TrainCompute {
    // Inputs copied into shared memory once per training, however many tasks read them.
    const copies = new WeakMap<Float32Array | Float64Array, Float32Array | Float64Array>();
    const shared = <T extends Float32Array | Float64Array>(a: T): T => {
      let copy = copies.get(a) as T | undefined;
      if (copy === undefined) {
        copy = toShared(a);
        copies.set(a, copy);
      }
      return copy;
    };
    // One codec (one worker cache entry) per trained quantizer, shared by its encode and cross steps.
    const codecs = new WeakMap<ProductQuantizer, Codec>();
    const handle = (pq: ProductQuantizer) => {
      let codec = codecs.get(pq);
      if (codec === undefined) {
        codec = new FlatCodec(pq);
        codecs.set(pq, codec);
      }
      return codecHandle(codec);
    };
    return {
      matmulABt: (A, B, n, m, k) => this.matmulABt(A, B, n, m, k, signal),
      dotsF32: (A, B, n, m, k) => this.dotsF32(A, B, n, m, k, signal),
      transpose: (A, n, m) => this.run('transpose', { A: toShared(A), n, m }, signal),
      eigen: (S, n) => this.run('eigen', { S, n }, signal),
      orthonormalize: async (A, n) => {
        const shared = toShared(A);
        await this.run('orthonormalize', { A: shared, n }, signal);
        A.set(shared);
        return A;
      },
      trainSubspace: (sample, n, geometry, j, options) => {
        const task: TrainSubspaceTask = { sample: shared(sample), n, d: geometry.d, m: geometry.m, nbits: geometry.nbits, j, options };
        return this.run('trainSubspace', task, signal);
      },
      trainCoarse: (data, n, d, nlist, options) => {
        const task: TrainCoarseTask = { data: shared(data).subarray(0, n * d), n, d, nlist, options };
        return this.run('trainCoarse', task, signal);
      },
      residuals: (coarse, data, n) => this.residuals(coarse, shared(data), n, signal),
      icmEncode: async (task, n) => {
        // The task's arrays are shared: each range re-encodes its rows in place.
        const errors = await Promise.all(
          ranges(n, this.threads * 4, 256).map(([start, end]) => this.run('icmEncode', { ...task, start, end }, signal)),
        );
        return errors.reduce((a, b) => a + b, 0);
      },
      updateCodebooks: (task) => this.run('updateCodebooks', task, signal),
      localRotation: (task) => this.run('localRotation', { ...task, rows: toShared(task.rows), prior: shared(task.prior) }, signal),
      refineLocalRotation: (task) =>
        this.run(
          'refineLocalRotation',
          { ...task, rows: toShared(task.rows), centroids: shared(task.centroids), directions: toShared(task.directions) },
          signal,
        ),
      extendBeams: async (extension) => {
        // The extension's arrays are shared (residual.ts allocates them so): tasks write their rows in place.
        await Promise.all(
          ranges(extension.n, this.threads * 2, 1024).map(([start, end]) => this.run('extendBeams', { extension, start, end }, signal)),
        );
      },
      encodeWithError: async (pq, y, n) => {
        const { key, bytes } = handle(pq);
        const ys = toShared(y.subarray(0, n * pq.d));
        const codes = new Uint8Array(new SharedArrayBuffer(n * pq.codeSize));
        const errors = await Promise.all(
          Array.from({ length: Math.ceil(n / ENCODE_CHUNK) }, (_, c) => {
            const task: EncodeWithErrorTask = {
              codecKey: key,
              codec: bytes,
              y: ys,
              start: c * ENCODE_CHUNK,
              end: Math.min(n, (c + 1) * ENCODE_CHUNK),
              codes,
            };
            return this.run('encodeWithError', task, signal);
          }),
        );
        return { codes, error: errors.reduce((a, b) => a + b, 0) };
      },
      crossWithReconstruction: async (x, n, pq, codes, recentre) => {
        const { key, bytes } = handle(pq);
        const xs = toShared(x.subarray(0, n * pq.d));
        const cs = toShared(codes);
        const out = new Float64Array(new SharedArrayBuffer(pq.d * pq.d * 8));
        // Recentred codebook: each task overwrites its sub-spaces' centroids.
        const moved = recentre === null ? null : { directions: toShared(recentre.directions), centroids: toShared(Float32Array.from(pq.centroids)) };
        await Promise.all(
          ranges(pq.m, this.threads * 2, 1).map(([jFrom, jTo]) => {
            const task: CrossTask = { codecKey: key, codec: bytes, x: xs, n, codes: cs, jFrom, jTo, out, recentre: moved };
            return this.run('crossWithReconstruction', task, signal);
          }),
        );
        return { cross: out, pq: moved === null ? pq : new ProductQuantizer(pq.geometry, moved.centroids) };
      },
    };
  }

  /** Encodes n vectors (n × d) with the rows split over the workers. */
  async encode(codec: Codec, data: Float32Array, n: number, signal?: AbortSignal): Promise<Uint8Array> {
    const chunk = Math.max(256, Math.ceil(n / (this.threads * 4)));
    const { key, bytes } = codecHandle(codec);
    const { d, codeSize: m } = codec;
    const shared = toShared(data.subarray(0, n * d));
    const out = new Uint8Array(new SharedArrayBuffer(n * m));
    const tasks: EncodeTask[] = [];
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const task: EncodeTask = {
        codecKey: key,
        codec: bytes,
        data: shared.subarray(s * d, e * d),
        n: e - s,
        out: out.subarray(s * m, e * m),
      };
      tasks.push(task);
    }
    await this.admitted(tasks.length, () => Promise.all(tasks.map((task) => this.run('encode', task, signal))));
    return out;
  }

  /**
   * ADC search of rows [0, rows) of shared codes for nq queries (nq × d, shared
   * or not): the rows are split over the workers, each computes the distance
   * tables and scans its range, and the per-range top-k lists are merged here.
   * With `rerank`, the k × rerank best are re-ranked by exact distance: in the
   * same task when one task scans every row, else by rerank tasks after the merge.
   * Rows too few to split with several queries (a batch of requests): the
   * queries are split over the workers instead, each task scanning every row.
   */
  async search(args: FlatSearchArgs): Promise<Neighbours[]> {
    const rows = args.eligible?.length ?? args.rows;
    // Listed rows (a filter) are read one by one: only consecutive rows of 4-bit codes come in blocks.
    const split = ranges(rows, this.threads, this.minScanRows, args.codec.quantizer.packed && args.eligible === undefined ? BLOCK_ROWS : 1);
    const { key, bytes } = codecHandle(args.codec);
    const queries = toShared(args.queries);
    const d = args.codec.d;
    // Rows too few to split but several queries (a batch): the queries are split instead, each task scanning every row.
    const byQuery = split.length === 1 && args.nq > 1 && this.threads > 1;
    const parts = byQuery ? ranges(args.nq, this.threads, 1) : split;
    const fused = args.rerank !== undefined && (byQuery || split.length === 1) ? args.rerank : null;
    const results = await this.admitted(parts.length, () =>
      Promise.all(
        parts.map(([a, b]) => {
          const task: ScanTask = {
            codecKey: key,
            codec: bytes,
            codes: args.codes,
            arena: arenaOf(args.codes),
            dead: args.dead,
            skipFirst: args.skipFirst ?? true,
            start: byQuery ? 0 : a,
            end: byQuery ? rows : b,
            eligible: args.eligible ?? null,
            metric: args.metric,
            queries: byQuery ? queries.subarray(a * d, b * d) : queries,
            nq: byQuery ? b - a : args.nq,
            k: args.k,
            rerank: fused,
            // A task finishes its queries when it scans every row (split by query, or one range).
            records: byQuery || split.length === 1 ? (args.records ?? null) : null,
          };
          return this.run('scan', task, args.signal);
        }),
      ),
    );
    const kOut = fused?.k ?? args.k;
    if (byQuery || split.length === 1) return results.flatMap((p) => unpack(p, kOut));
    const found = mergeParts(results, args.nq, args.k);
    if (args.rerank === undefined) return found;
    const { k, ...source } = args.rerank;
    return this.rerank({ source, metric: args.metric, queries, nq: args.nq, candidates: found, k, records: args.records, signal: args.signal });
  }

  /**
   * IVF search: the queries are split over the workers; each visits its queries'
   * nprobe nearest cells in the shared inverted lists. Ids are row numbers.
   */
  async ivfSearch(args: IVFSearchArgs): Promise<Neighbours[]> {
    const split = ranges(args.nq, this.threads, 1);
    const { key, bytes } = codecHandle(args.codec);
    const queries = toShared(args.queries);
    const parts = await this.admitted(split.length, () =>
      Promise.all(
        split.map(([q0, q1]) => {
          const task: IVFScanTask = {
            codecKey: key,
            codec: bytes,
            lists: args.lists,
            arena: arenaOf(args.lists.codes),
            dead: args.dead,
            metric: args.metric,
            queries,
            q0,
            nq: q1 - q0,
            k: args.k,
            nprobe: args.nprobe,
            mode: args.mode ?? 'probe',
            eligible: args.eligible ?? null,
            target: args.target ?? null,
            skipFirst: args.skipFirst ?? true,
            rerank: args.rerank ?? null,
            records: args.records ?? null,
          };
          return this.run('ivfScan', task, args.signal);
        }),
      ),
    );
    return parts.flatMap((p) => unpack(p, args.rerank?.k ?? args.k));
  }

  /** Exact search of rows [0, rows), the workers reading the full vectors from SQLite. */
  async exactSearch(args: {
    source: VectorSource;
    rows: number;
    metric: 'l2' | 'ip';
    queries: Float32Array;
    nq: number;
    k: number;
    /** One byte per row, nonzero = leave out. */
    skip?: Uint8Array | null;
    signal?: AbortSignal;
  }): Promise<Neighbours[]> {
    const split = ranges(args.rows, this.threads, 4096);
    const queries = toShared(args.queries);
    const skip = args.skip ?? null;
    const parts = await this.admitted(split.length, () =>
      Promise.all(
        split.map(([start, end]) => {
          const task: ExactScanTask = { ...args.source, skip, start, end, metric: args.metric, queries, nq: args.nq, k: args.k };
          return this.run('exactScan', task, args.signal);
        }),
      ),
    );
    return mergeParts(parts, args.nq, args.k);
  }

  /**
   * Exact re-ranking of per-query candidate rows: the workers read only those
   * vectors from SQLite, compute exact distances and keep the k nearest.
   */
  async rerank(args: {
    source: VectorSource;
    metric: 'l2' | 'ip';
    queries: Float32Array;
    nq: number;
    candidates: Neighbours[];
    k: number;
    /** Look up the results' stored records in the rerank tasks. */
    records?: RecordSource;
    signal?: AbortSignal;
  }): Promise<Neighbours[]> {
    const { nq, candidates } = args;
    const offsets = new Int32Array(new SharedArrayBuffer((nq + 1) * 4));
    for (let q = 0; q < nq; q++) offsets[q + 1] = offsets[q] + candidates[q].ids.length;
    const rows = new Float64Array(new SharedArrayBuffer(offsets[nq] * 8));
    for (const [q, c] of candidates.entries()) rows.set(c.ids, offsets[q]);
    const split = ranges(nq, this.threads, 1);
    const queries = toShared(args.queries);
    const parts = await this.admitted(split.length, () =>
      Promise.all(
        split.map(([q0, q1]) => {
          const task: RerankTask = {
            ...args.source,
            metric: args.metric,
            queries,
            rows,
            offsets,
            q0,
            nq: q1 - q0,
            k: args.k,
            records: args.records ?? null,
          };
          return this.run('rerank', task, args.signal);
        }),
      ),
    );
    return parts.flatMap((p) => unpack(p, args.k));
  }

  /**
   * Sets out[row] = 1 for the rows in [start, end) whose metadata matches a
   * filter (compiled by services/filter.ts), the range split over the workers;
   * returns the filter's statistics over those rows (LEAF_STATS per condition).
   */
  async matchRows(args: Omit<MatchRowsTask, 'stats'> & { leaves: number }, signal?: AbortSignal): Promise<Int32Array> {
    const { leaves, ...task } = args;
    const split = ranges(task.end - task.start, this.threads, MIN_MATCH_ROWS_PER_TASK).map(([a, b]) => [task.start + a, task.start + b]);
    const stats = split.map(() => new Int32Array(new SharedArrayBuffer(Math.max(4, leaves * LEAF_STATS * 4))));
    await Promise.all(split.map(([start, end], i) => this.run('matchRows', { ...task, start, end, stats: stats[i] }, signal)));
    const total = new Int32Array(leaves * LEAF_STATS);
    for (const part of stats) addLeafStats(total, part);
    return total;
  }

  /** Σ ‖x − decode(encode(x))‖² and Σ ‖x‖² over n vectors, in a worker. */
  codecError(codec: Codec, data: Float32Array, n: number, signal?: AbortSignal): Promise<{ errorSum: number; normSum: number }> {
    const { key, bytes } = codecHandle(codec);
    const task: CodecErrorTask = { codecKey: key, codec: bytes, data: toShared(data.subarray(0, n * codec.d)), n };
    return this.run('codecError', task, signal);
  }

  /**
   * Start-up's first pass over an IVF codec's stored codes (`segments` of
   * them expected; the last part reads any beyond), split in one part of
   * segments per worker: live rows per list in each part.
   */
  async countLists(args: ListsSource & { nlist: number; segments: number }): Promise<ListsPartCount[]> {
    const { segments, ...common } = args;
    const parts = ranges(segments, this.threads, 1).map(([from, to], i, all) => ({ segmentFrom: from, segmentTo: i === all.length - 1 ? null : to }));
    return Promise.all(
      parts.map(async (part) => {
        const task: CountListsTask = { ...common, ...part };
        return { ...part, ...(await this.run('countLists', task)) };
      }),
    );
  }

  /**
   * Start-up's second pass: each part's rows written to their slots in `lists`
   * (sized for the parts' total), list l's rows of a part after those of the
   * parts before it, so each list keeps row order. Returns how many rows were written.
   */
  async fillLists(args: ListsSource & { lists: InvertedLists; parts: ListsPartCount[] }): Promise<number> {
    const { lists, parts, ...common } = args;
    const cursors = lists.offsets.slice();
    const written = await Promise.all(
      parts.map((part) => {
        const task: FillListsTask = {
          ...common,
          segmentFrom: part.segmentFrom,
          segmentTo: part.segmentTo,
          codes: lists.codes,
          rows: lists.rows,
          cursors: cursors.slice(),
        };
        for (let l = 0; l < lists.nlist; l++) cursors[l] += part.sizes[l];
        return this.run('fillLists', task);
      }),
    );
    return written.reduce((a, b) => a + b, 0);
  }

  /** Reads stored vectors into shared memory: the given rows, or every stored row in [start, end). */
  readRows(task: ReadRowsTask, signal?: AbortSignal): Promise<ReadRowsResult> {
    return this.run('readRows', task, signal);
  }

  /**
   * Encodes the stored vectors of rows [start, end) into out ((end − start) × m),
   * in tasks of `batch` rows over the workers; progress is reported as rows finish.
   */
  async encodeRange(
    source: VectorSource,
    codec: Codec,
    start: number,
    end: number,
    out: Uint8Array,
    options: { batch?: number; signal?: AbortSignal; onProgress?: (rowsDone: number) => void } = {},
  ): Promise<{ count: number; errorSum: number; normSum: number }> {
    const { key, bytes } = codecHandle(codec);
    const batch = options.batch ?? 8192;
    let rowsDone = 0;
    const totals = { count: 0, errorSum: 0, normSum: 0 };
    const tasks: Promise<void>[] = [];
    for (let s = start; s < end; s += batch) {
      const e = Math.min(end, s + batch);
      const task: EncodeRangeTask = {
        ...source,
        codecKey: key,
        codec: bytes,
        start: s,
        end: e,
        out: out.subarray((s - start) * codec.codeSize, (e - start) * codec.codeSize),
      };
      tasks.push(
        this.run('encodeRange', task, options.signal).then((r) => {
          totals.count += r.count;
          totals.errorSum += r.errorSum;
          totals.normSum += r.normSum;
          rowsDone += e - s;
          options.onProgress?.(rowsDone);
        }),
      );
    }
    await Promise.all(tasks);
    return totals;
  }

  async close(): Promise<void> {
    // Tasks still waiting for a worker never reach piscina, which would start workers again for them;
    // they fail as piscina fails the tasks it drops when destroyed (workerStopped).
    this.slots.close(new Error('Terminating worker thread: the compute pool is closed'));
    await this.piscina.destroy();
  }
}
