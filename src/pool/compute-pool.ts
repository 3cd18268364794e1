/**
 * The piscina worker pool and the parallel versions of the core's heavy
 * operations. The main thread only splits work, merges top-k lists and
 * assembles results: it never scans codes or vectors.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import {
  PQGeometry,
  type PQTrainOptions,
  type PQTrainReport,
  ProductQuantizer,
  type SubspaceTrainResult,
  pqTrainingSample,
  summariseTraining,
} from '../core/pq.js';
import { serializePQ } from '../core/serialize.js';
import { mergeTopK } from '../core/topk.js';
import type {
  EncodeRangeTask,
  EncodeTask,
  ExactScanTask,
  PartialResults,
  ReadRowsTask,
  ScanTask,
  TrainSubspaceTask,
  VectorSource,
} from './worker.js';
import { WORKER_FILE, assertWorkerBuilt } from './worker-file.js';

export type { VectorSource } from './worker.js';

export interface ComputePoolOptions {
  /** Worker threads; default: the number of cores. */
  threads?: number;
}

/** One query's results, nearest first. ids are row numbers. */
export interface Neighbours {
  ids: Float64Array;
  dist: Float64Array;
}

/** Rows per scan task below which splitting a search costs more than it saves. */
const MIN_ROWS_PER_TASK = 16_384;

/** Copies a typed array into shared memory unless it already is there. */
export function toShared<T extends Float32Array | Uint8Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const shared = new Ctor(new SharedArrayBuffer(a.byteLength));
  shared.set(a as never);
  return shared;
}

let nextCodecKey = 0;
const codecHandles = new WeakMap<ProductQuantizer, { key: string; bytes: Uint8Array }>();

/** The serialised form of a quantizer in shared memory, and a key workers cache it under. */
export function codecHandle(pq: ProductQuantizer): { key: string; bytes: Uint8Array } {
  let h = codecHandles.get(pq);
  if (h === undefined) {
    h = { key: `pq-${process.pid}-${nextCodecKey++}`, bytes: toShared(serializePQ(pq)) };
    codecHandles.set(pq, h);
  }
  return h;
}

/** Splits rows [0, n) into at most `parts` contiguous ranges of at least `min` rows. */
function ranges(n: number, parts: number, min: number): [number, number][] {
  const count = Math.max(1, Math.min(parts, Math.floor(n / min)));
  const out: [number, number][] = [];
  for (let p = 0; p < count; p++) out.push([Math.floor((n * p) / count), Math.floor((n * (p + 1)) / count)]);
  return out;
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
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
    });
  }

  private run<T>(name: string, task: unknown, signal?: AbortSignal): Promise<T> {
    return this.piscina.run(task, { name, signal }) as Promise<T>;
  }

  /** Resolves when a worker answers within timeoutMs. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      return (await this.run<string>('ping', null, signal)) === 'pong';
    } catch {
      return false;
    }
  }

  /**
   * Trains a product quantizer with the sub-spaces spread over the workers.
   * Byte-identical to ProductQuantizer.train with the same inputs.
   */
  async trainPQ(
    data: Float32Array,
    n: number,
    d: number,
    config: { m: number; nbits?: number },
    options: PQTrainOptions = {},
    onProgress?: (done: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<{ pq: ProductQuantizer; report: PQTrainReport }> {
    const geometry = new PQGeometry(d, config.m, config.nbits ?? 8);
    const drawn = pqTrainingSample(data, n, geometry, options);
    const sample = toShared(drawn.sample);
    let done = 0;
    const parts = await Promise.all(
      Array.from({ length: geometry.m }, async (_, j) => {
        const task: TrainSubspaceTask = { sample, n: drawn.n, d, m: geometry.m, nbits: geometry.nbits, j, options };
        const r = await this.run<SubspaceTrainResult>('trainSubspace', task, signal);
        onProgress?.(++done, geometry.m);
        return r;
      }),
    );
    const pq = ProductQuantizer.fromSubspaces(geometry, parts.map((p) => p.centroids));
    return { pq, report: summariseTraining(drawn.n, parts) };
  }

  /** Encodes n vectors (n × d) with the rows split over the workers. */
  async encode(pq: ProductQuantizer, data: Float32Array, n: number): Promise<Uint8Array> {
    const { key, bytes } = codecHandle(pq);
    const shared = toShared(data.subarray(0, n * pq.d));
    const out = new Uint8Array(new SharedArrayBuffer(n * pq.m));
    const chunk = Math.max(256, Math.ceil(n / (this.threads * 4)));
    const tasks: Promise<unknown>[] = [];
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const task: EncodeTask = {
        codecKey: key,
        codec: bytes,
        data: shared.subarray(s * pq.d, e * pq.d),
        n: e - s,
        out: out.subarray(s * pq.m, e * pq.m),
      };
      tasks.push(this.run('encode', task));
    }
    await Promise.all(tasks);
    return out;
  }

  /**
   * ADC search of rows [0, rows) of shared codes for nq queries (nq × d, shared
   * or not): the rows are split over the workers, each computes the distance
   * tables and scans its range, and the per-range top-k lists are merged here.
   */
  async search(args: {
    pq: ProductQuantizer;
    codes: Uint8Array;
    dead: Uint8Array;
    rows: number;
    metric: 'l2' | 'ip';
    queries: Float32Array;
    nq: number;
    k: number;
  }): Promise<Neighbours[]> {
    const { key, bytes } = codecHandle(args.pq);
    const queries = toShared(args.queries);
    const parts = await Promise.all(
      ranges(args.rows, this.threads, MIN_ROWS_PER_TASK).map(([start, end]) => {
        const task: ScanTask = {
          codecKey: key,
          codec: bytes,
          codes: args.codes,
          dead: args.dead,
          start,
          end,
          metric: args.metric,
          queries,
          nq: args.nq,
          k: args.k,
        };
        return this.run<PartialResults>('scan', task);
      }),
    );
    return mergeParts(parts, args.nq, args.k);
  }

  /** Exact search of rows [0, rows), the workers reading the full vectors from SQLite. */
  async exactSearch(args: {
    source: VectorSource;
    rows: number;
    metric: 'l2' | 'ip';
    queries: Float32Array;
    nq: number;
    k: number;
  }): Promise<Neighbours[]> {
    const queries = toShared(args.queries);
    const parts = await Promise.all(
      ranges(args.rows, this.threads, 4096).map(([start, end]) => {
        const task: ExactScanTask = { ...args.source, start, end, metric: args.metric, queries, nq: args.nq, k: args.k };
        return this.run<PartialResults>('exactScan', task);
      }),
    );
    return mergeParts(parts, args.nq, args.k);
  }

  /** Reads stored vectors into shared memory: the given rows, or every stored row in [start, end). */
  readRows(task: ReadRowsTask, signal?: AbortSignal): Promise<{ data: Float32Array; rows: Int32Array; n: number }> {
    return this.run('readRows', task, signal);
  }

  /**
   * Encodes the stored vectors of rows [start, end) into out ((end − start) × m),
   * in tasks of `batch` rows over the workers; progress is reported as rows finish.
   */
  async encodeRange(
    source: VectorSource,
    pq: ProductQuantizer,
    start: number,
    end: number,
    out: Uint8Array,
    options: { batch?: number; signal?: AbortSignal; onProgress?: (rowsDone: number) => void } = {},
  ): Promise<{ count: number; errorSum: number; normSum: number }> {
    const { key, bytes } = codecHandle(pq);
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
        out: out.subarray((s - start) * pq.m, (e - start) * pq.m),
      };
      tasks.push(
        this.run<{ count: number; errorSum: number; normSum: number }>('encodeRange', task, options.signal).then((r) => {
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
    await this.piscina.destroy();
  }
}
