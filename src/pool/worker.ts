/**
 * Worker-thread entry point for the piscina pool: each named export is a task.
 * Tasks call the pure numeric core; the ones that need full vectors read them
 * straight from SQLite with a per-worker reading connection (WAL lets readers run
 * beside the writer), so vectors never cross the main thread. Large inputs arrive
 * as typed arrays over SharedArrayBuffers (no copy); codecs arrive as serialised
 * bytes with a key and are cached per worker, parsed once, not once per task.
 */
import { adcScan } from '../core/adc.js';
import { dot, l2sq, normalizeRows } from '../core/distance.js';
import { gramSchmidtRows, matmulABt, symmetricEigen, transpose as transposeMatrix } from '../core/linalg.js';
import { crossWithReconstruction as crossColumns, encodeRowsWithError } from '../core/rotation.js';
import { dotsF32 } from '../core/wasm/kernels.js';
import type { Codec } from '../core/codec.js';
import { CoarseQuantizer, type IVFSearcher, type ListsView, trainCoarse as trainCoarseQuantizer } from '../core/ivf.js';
import { PQGeometry, type PQTrainOptions, type SubspaceTrainResult, trainSubspace as trainOne } from '../core/pq.js';
import { deserializeCodec } from '../core/serialize.js';
import { TopK } from '../core/topk.js';
import { type Db, openReader } from '../store/database.js';
import { blobInto } from '../store/vector-blobs.js';
import { type FilterClause, filterPredicate } from '../index/metadata-filter.js';

const CODEC_CACHE_SIZE = 16;
const codecs = new Map<string, Codec>();

function codecFor(key: string, bytes: Uint8Array): Codec {
  let codec = codecs.get(key);
  if (codec !== undefined) {
    codecs.delete(key); // re-insert: Map order doubles as LRU order
  } else {
    codec = deserializeCodec(bytes);
    if (codecs.size >= CODEC_CACHE_SIZE) codecs.delete(codecs.keys().next().value as string);
  }
  codecs.set(key, codec);
  return codec;
}

const readers = new Map<string, Db>();

function reader(path: string): Db {
  let db = readers.get(path);
  if (db === undefined) {
    db = openReader(path);
    readers.set(path, db);
  }
  return db;
}

/**
 * Wraps a task so that what it throws crosses the thread boundary whole.
 * better-sqlite3's SqliteError is not a native Error: a structured clone of it
 * keeps only its enumerable `code`, losing the message. A plain object with
 * name, message and code survives; the pool turns it into a WorkerTaskError.
 */
function portableErrors<T, R>(task: (input: T) => R): (input: T) => R {
  return (input) => {
    try {
      return task(input);
    } catch (err) {
      const e = err as { name?: unknown; message?: unknown; code?: unknown };
      throw { name: String(e?.name ?? 'Error'), message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined };
    }
  };
}

/** Answers when the worker is alive (health checks). */
export function ping(): string {
  return 'pong';
}

export interface TrainSubspaceTask {
  sample: Float32Array;
  n: number;
  d: number;
  m: number;
  nbits: number;
  j: number;
  options: PQTrainOptions;
}

export function trainSubspace(task: TrainSubspaceTask): SubspaceTrainResult {
  const geometry = new PQGeometry(task.d, task.m, task.nbits);
  return trainOne(task.sample, task.n, geometry, task.j, task.options);
}

export interface MatmulTask {
  /** n × k and m × k, row-major, in shared memory. */
  A: Float32Array | Float64Array;
  B: Float32Array | Float64Array;
  m: number;
  k: number;
  /** Rows [rowStart, rowEnd) of out = A·Bᵀ (n × m, shared) are computed by this task. */
  rowStart: number;
  rowEnd: number;
  out: Float32Array | Float64Array;
  /** The float32 SIMD kernel (A, B float32) instead of the float64 one. */
  simd: boolean;
}

export function matmul(task: MatmulTask): number {
  const { A, B, m, k, rowStart, rowEnd, out } = task;
  if (task.simd) dotsF32(A as Float32Array, rowStart * k, B as Float32Array, 0, rowEnd - rowStart, m, k, out, rowStart * m);
  else matmulABt(A, rowStart * k, B, 0, rowEnd - rowStart, m, k, out, rowStart * m);
  return rowEnd - rowStart;
}

export function transpose(task: { A: Float32Array; n: number; m: number }): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(task.n * task.m * 4));
  out.set(transposeMatrix(task.A, task.n, task.m));
  return out;
}

export function eigen(task: { S: Float64Array; n: number }): { values: Float64Array; vectors: Float64Array } {
  return symmetricEigen(task.S, task.n);
}

/** One Gram–Schmidt pass over the rows of a shared n × n matrix, in place. */
export function orthonormalize(task: { A: Float64Array; n: number }): number {
  gramSchmidtRows(task.A, task.n, task.n, 1);
  return task.n;
}

export interface EncodeWithErrorTask {
  codecKey: string;
  codec: Uint8Array;
  y: Float32Array;
  start: number;
  end: number;
  /** n × m codes, shared. */
  codes: Uint8Array;
}

/** Codes of rows [start, end) into shared codes; returns their squared reconstruction error. */
export function encodeWithError(task: EncodeWithErrorTask): number {
  return encodeRowsWithError(codecFor(task.codecKey, task.codec).pq, task.y, task.start, task.end, task.codes);
}

export interface CrossTask {
  codecKey: string;
  codec: Uint8Array;
  /** n × d, shared. */
  x: Float32Array;
  n: number;
  codes: Uint8Array;
  jFrom: number;
  jTo: number;
  /** d × d, shared: this task writes the columns of sub-spaces [jFrom, jTo). */
  out: Float64Array;
  /** One Lloyd step first (rotation.crossWithReconstruction): this task moves its sub-spaces' centroids in the shared copy. */
  recentre: { directions: Float32Array; centroids: Float32Array } | null;
}

/** Sub-spaces [jFrom, jTo) of Xᵀ·Ŷ (rotation.crossWithReconstruction). */
export function crossWithReconstruction(task: CrossTask): number {
  crossColumns(task.x, task.n, codecFor(task.codecKey, task.codec).pq, task.codes, task.jFrom, task.jTo, task.out, task.recentre);
  return task.jTo - task.jFrom;
}

export interface EncodeTask {
  codecKey: string;
  codec: Uint8Array;
  /** n × d rows to encode. */
  data: Float32Array;
  n: number;
  /** Where to write the n × m codes (shared with the caller). */
  out: Uint8Array;
}

export function encode(task: EncodeTask): number {
  codecFor(task.codecKey, task.codec).encode(task.data, task.n, task.out);
  return task.n;
}

/** Top-k lists of several queries: query q's j-th result is at q × k + j, counts[q] of them. */
export interface PartialResults {
  ids: Float64Array;
  dist: Float64Array;
  counts: Int32Array;
}

function collect(heaps: TopK[], k: number): PartialResults {
  const out: PartialResults = { ids: new Float64Array(heaps.length * k), dist: new Float64Array(heaps.length * k), counts: new Int32Array(heaps.length) };
  heaps.forEach((h, q) => {
    const r = h.drainSorted();
    out.ids.set(r.ids, q * k);
    out.dist.set(r.dist, q * k);
    out.counts[q] = r.ids.length;
  });
  return out;
}

/** The queries of a search task. */
export interface QueryBatch {
  metric: 'l2' | 'ip';
  /** nq × d queries (unit vectors for cosine collections). */
  queries: Float32Array;
  nq: number;
  k: number;
}

export interface ScanTask extends QueryBatch {
  codecKey: string;
  codec: Uint8Array;
  /** rows × m codes; rows [start, end) are scanned. */
  codes: Uint8Array;
  /** One byte per row, nonzero = deleted or replaced. */
  dead: Uint8Array;
  start: number;
  end: number;
}

/** ADC search of a row range: per query, a distance table and a scan. Ids are row numbers. */
export function scan(task: ScanTask): PartialResults {
  const codec = codecFor(task.codecKey, task.codec);
  const m = codec.codeSize;
  const table = new Float32Array(m * codec.ksub);
  const heaps: TopK[] = [];
  for (let q = 0; q < task.nq; q++) {
    codec.distanceTable(task.queries, q * codec.d, task.metric, table);
    const heap = new TopK(task.k);
    adcScan(task.codes, task.start, task.end, m, table, codec.ksub, heap, 0, task.dead);
    heaps.push(heap);
  }
  return collect(heaps, task.k);
}

export interface TrainCoarseTask {
  /** n × d training rows, shared. */
  data: Float32Array;
  n: number;
  d: number;
  nlist: number;
  options: { iterations?: number; seed?: number };
}

/** The IVF coarse k-means, in one worker (the event loop stays free). */
export function trainCoarse(task: TrainCoarseTask): { centroids: Float32Array; warnings: string[] } {
  const { coarse, warnings } = trainCoarseQuantizer(task.data, task.n, task.d, task.nlist, task.options);
  return { centroids: coarse.centroids, warnings };
}

export interface ResidualsTask {
  /** nlist × d coarse centroids, shared. */
  centroids: Float32Array;
  nlist: number;
  d: number;
  data: Float32Array;
  /** Rows [start, end) of data: their residuals to the nearest centroid go to the same rows of out. */
  start: number;
  end: number;
  out: Float32Array;
}

export function residuals(task: ResidualsTask): number {
  const { d, start, end } = task;
  const coarse = new CoarseQuantizer(task.nlist, d, task.centroids);
  const rows = task.data.subarray(start * d, end * d);
  coarse.residuals(rows, end - start, coarse.assign(rows, end - start), task.out.subarray(start * d, end * d));
  return end - start;
}

export interface IVFScanTask {
  codecKey: string;
  codec: Uint8Array;
  lists: ListsView;
  /** One byte per row, nonzero = leave out. */
  dead: Uint8Array;
  metric: 'l2' | 'ip';
  /** Queries q0 .. q0 + nq − 1 of the shared nq_total × d queries are searched here. */
  queries: Float32Array;
  q0: number;
  nq: number;
  k: number;
  nprobe: number;
}

const searchers = new WeakMap<Codec, Map<string, IVFSearcher>>();

/** IVF search of a few queries over the inverted lists, filling k when k rows are eligible. Ids are row numbers; results indexed from q0. */
export function ivfScan(task: IVFScanTask): PartialResults {
  const codec = codecFor(task.codecKey, task.codec);
  let byMetric = searchers.get(codec);
  if (byMetric === undefined) searchers.set(codec, (byMetric = new Map()));
  let searcher = byMetric.get(task.metric);
  if (searcher === undefined) byMetric.set(task.metric, (searcher = codec.ivfSearcher(task.metric)));
  const heaps: TopK[] = [];
  for (let q = task.q0; q < task.q0 + task.nq; q++) {
    const heap = new TopK(task.k);
    const t = codec.transformQuery(task.queries, q * codec.d);
    searcher.search(t.q, t.qo, task.lists, task.nprobe, heap, task.dead, true);
    heaps.push(heap);
  }
  return collect(heaps, task.k);
}

export interface VectorSource {
  dbPath: string;
  collectionId: number;
  d: number;
  /** Scale every stored vector to unit length as it is read (cosine collections). */
  normalize: boolean;
}

export interface ExactScanTask extends VectorSource, QueryBatch {
  /** One byte per row, nonzero = leave out (metadata filter); null = none. */
  skip: Uint8Array | null;
  start: number;
  end: number;
}

/** Exact search of a row range, reading the full vectors from SQLite. Ids are row numbers. */
export const exactScan = portableErrors((task: ExactScanTask): PartialResults => {
  const { d, nq, queries } = task;
  const heaps = Array.from({ length: nq }, () => new TopK(task.k));
  const v = new Float32Array(d);
  const rows = reader(task.dbPath)
    .prepare('SELECT row, vector FROM vectors WHERE collection_id = ? AND row >= ? AND row < ?')
    .raw()
    .iterate(task.collectionId, task.start, task.end) as IterableIterator<[number, Buffer]>;
  const skip = task.skip;
  for (const [row, blob] of rows) {
    if (skip !== null && skip[row] !== 0) continue;
    blobInto(blob, v, 0);
    if (task.normalize) normalizeRows(v, 1, d);
    for (let q = 0; q < nq; q++) {
      const dist = task.metric === 'l2' ? l2sq(queries, q * d, v, 0, d) : -dot(queries, q * d, v, 0, d);
      if (dist < heaps[q].threshold()) heaps[q].push(dist, row);
    }
  }
  return collect(heaps, task.k);
});

export interface ReadRowsTask extends VectorSource {
  /** The rows to read, or null for every stored row in [start, end). */
  rows: Int32Array | null;
  start: number;
  end: number;
}

/** Reads vectors into shared memory (training samples). Rows that no longer exist are left out. */
export const readRows = portableErrors((task: ReadRowsTask): { data: Float32Array; rows: Int32Array; n: number } => {
  const { d } = task;
  const db = reader(task.dbPath);
  const found: number[] = [];
  const blobs: Buffer[] = [];
  if (task.rows === null) {
    const it = db
      .prepare('SELECT row, vector FROM vectors WHERE collection_id = ? AND row >= ? AND row < ? ORDER BY row')
      .raw()
      .iterate(task.collectionId, task.start, task.end) as IterableIterator<[number, Buffer]>;
    for (const [row, blob] of it) {
      found.push(row);
      blobs.push(blob);
    }
  } else {
    const get = db.prepare('SELECT vector FROM vectors WHERE collection_id = ? AND row = ?').pluck();
    for (const row of task.rows) {
      const blob = get.get(task.collectionId, row) as Buffer | undefined;
      if (blob === undefined) continue;
      found.push(row);
      blobs.push(blob);
    }
  }
  const data = new Float32Array(new SharedArrayBuffer(found.length * d * 4));
  blobs.forEach((b, i) => blobInto(b, data, i * d));
  if (task.normalize) normalizeRows(data, found.length, d);
  return { data, rows: Int32Array.from(found), n: found.length };
});

export interface EncodeRangeTask extends VectorSource {
  codecKey: string;
  codec: Uint8Array;
  start: number;
  end: number;
  /** (end − start) × m codes, written here; rows without a vector stay 0. */
  out: Uint8Array;
}

/**
 * Encodes the stored vectors of rows [start, end). Returns the squared
 * reconstruction error and squared norms summed over them, for the relative MSE.
 */
export const encodeRange = portableErrors((task: EncodeRangeTask): { count: number; errorSum: number; normSum: number } => {
  const codec = codecFor(task.codecKey, task.codec);
  const { d, codeSize: m } = codec;
  const { data, rows, n } = readRows({ ...task, rows: null });
  const codes = codec.encode(data, n);
  for (let i = 0; i < n; i++) task.out.set(codes.subarray(i * m, (i + 1) * m), (rows[i] - task.start) * m);
  return { count: n, ...errorSums(data, codec.decode(codes, n), n, d) };
});

export interface RerankTask extends VectorSource, QueryBatch {
  /** Candidate rows of query q: rows[offsets[q] .. offsets[q + 1]). */
  rows: Float64Array;
  offsets: Int32Array;
  /** The first query of this task (nq of them from there). */
  q0: number;
}

/**
 * Exact re-ranking: reads only the candidates' full vectors from SQLite, computes
 * exact distances and keeps the k nearest per query. Rows deleted since the scan
 * are dropped. Results are indexed from q0.
 */
export const rerank = portableErrors((task: RerankTask): PartialResults => {
  const { d, k } = task;
  const get = reader(task.dbPath).prepare('SELECT vector FROM vectors WHERE collection_id = ? AND row = ?').pluck();
  const v = new Float32Array(d);
  const heaps: TopK[] = [];
  for (let q = task.q0; q < task.q0 + task.nq; q++) {
    const heap = new TopK(k);
    for (let i = task.offsets[q]; i < task.offsets[q + 1]; i++) {
      const row = task.rows[i];
      const blob = get.get(task.collectionId, row) as Buffer | undefined;
      if (blob === undefined) continue;
      blobInto(blob, v, 0);
      if (task.normalize) normalizeRows(v, 1, d);
      heap.push(task.metric === 'l2' ? l2sq(task.queries, q * d, v, 0, d) : -dot(task.queries, q * d, v, 0, d), row);
    }
    heaps.push(heap);
  }
  return collect(heaps, k);
});

export interface MatchRowsTask {
  dbPath: string;
  collectionId: number;
  /** The filter's clauses (services/filter.ts compiles them). */
  clauses: FilterClause[];
  start: number;
  end: number;
  /** One byte per row: rows in [start, end) that match are set to 1. */
  out: Uint8Array;
}

/** Marks the rows in [start, end) whose metadata satisfies a filter; returns how many. */
export const matchRows = portableErrors((task: MatchRowsTask): number => {
  const matches = filterPredicate(task.clauses);
  const rows = reader(task.dbPath)
    .prepare('SELECT row, metadata FROM vectors WHERE collection_id = ? AND row >= ? AND row < ? AND metadata IS NOT NULL')
    .raw()
    .iterate(task.collectionId, task.start, task.end) as IterableIterator<[number, string]>;
  let count = 0;
  for (const [row, metadata] of rows) {
    if (matches(JSON.parse(metadata) as Record<string, unknown>)) {
      task.out[row] = 1;
      count++;
    }
  }
  return count;
});

export interface CodecErrorTask {
  codecKey: string;
  codec: Uint8Array;
  data: Float32Array;
  n: number;
}

/** Σ ‖x − decode(encode(x))‖² and Σ ‖x‖² over n vectors (for the relative MSE). */
export function codecError(task: CodecErrorTask): { errorSum: number; normSum: number } {
  const codec = codecFor(task.codecKey, task.codec);
  return errorSums(task.data, codec.decode(codec.encode(task.data, task.n), task.n), task.n, codec.d);
}

/** Σ ‖x − x̂‖² and Σ ‖x‖² over n rows of data and their reconstructions. */
function errorSums(data: Float32Array, rec: Float32Array, n: number, d: number): { errorSum: number; normSum: number } {
  let errorSum = 0;
  let normSum = 0;
  for (let i = 0; i < n; i++) {
    errorSum += l2sq(data, i * d, rec, i * d, d);
    normSum += dot(data, i * d, data, i * d, d);
  }
  return { errorSum, normSum };
}
