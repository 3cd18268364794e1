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
import { PQGeometry, type PQTrainOptions, type ProductQuantizer, type SubspaceTrainResult, trainSubspace as trainOne } from '../core/pq.js';
import { deserializePQ } from '../core/serialize.js';
import { TopK } from '../core/topk.js';
import { type Db, openReader } from '../store/database.js';
import { blobInto } from '../store/vector-blobs.js';

const CODEC_CACHE_SIZE = 16;
const codecs = new Map<string, ProductQuantizer>();

function codecFor(key: string, bytes: Uint8Array): ProductQuantizer {
  let pq = codecs.get(key);
  if (pq !== undefined) {
    codecs.delete(key); // re-insert: Map order doubles as LRU order
  } else {
    pq = deserializePQ(bytes);
    if (codecs.size >= CODEC_CACHE_SIZE) codecs.delete(codecs.keys().next().value as string);
  }
  codecs.set(key, pq);
  return pq;
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

export interface ScanTask {
  codecKey: string;
  codec: Uint8Array;
  /** rows × m codes; rows [start, end) are scanned. */
  codes: Uint8Array;
  /** One byte per row, nonzero = deleted or replaced. */
  dead: Uint8Array;
  start: number;
  end: number;
  metric: 'l2' | 'ip';
  /** nq × d queries (unit vectors for cosine collections). */
  queries: Float32Array;
  nq: number;
  k: number;
}

/** ADC search of a row range: per query, a distance table and a scan. Ids are row numbers. */
export function scan(task: ScanTask): PartialResults {
  const pq = codecFor(task.codecKey, task.codec);
  const table = new Float32Array(pq.m * pq.ksub);
  const heaps: TopK[] = [];
  for (let q = 0; q < task.nq; q++) {
    pq.distanceTable(task.queries, q * pq.d, task.metric, table);
    const heap = new TopK(task.k);
    adcScan(task.codes, task.start, task.end, pq.m, table, pq.ksub, heap, 0, task.dead);
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

export interface ExactScanTask extends VectorSource {
  start: number;
  end: number;
  metric: 'l2' | 'ip';
  queries: Float32Array;
  nq: number;
  k: number;
}

/** Exact search of a row range, reading the full vectors from SQLite. Ids are row numbers. */
export function exactScan(task: ExactScanTask): PartialResults {
  const { d, nq, queries } = task;
  const heaps = Array.from({ length: nq }, () => new TopK(task.k));
  const v = new Float32Array(d);
  const rows = reader(task.dbPath)
    .prepare('SELECT row, vector FROM vectors WHERE collection_id = ? AND row >= ? AND row < ?')
    .raw()
    .iterate(task.collectionId, task.start, task.end) as IterableIterator<[number, Buffer]>;
  for (const [row, blob] of rows) {
    blobInto(blob, v, 0);
    if (task.normalize) normalizeRows(v, 1, d);
    for (let q = 0; q < nq; q++) {
      const dist = task.metric === 'l2' ? l2sq(queries, q * d, v, 0, d) : -dot(queries, q * d, v, 0, d);
      if (dist < heaps[q].threshold()) heaps[q].push(dist, row);
    }
  }
  return collect(heaps, task.k);
}

export interface ReadRowsTask extends VectorSource {
  /** The rows to read, or null for every stored row in [start, end). */
  rows: Int32Array | null;
  start: number;
  end: number;
}

/** Reads vectors into shared memory (training samples). Rows that no longer exist are left out. */
export function readRows(task: ReadRowsTask): { data: Float32Array; rows: Int32Array; n: number } {
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
}

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
export function encodeRange(task: EncodeRangeTask): { count: number; errorSum: number; normSum: number } {
  const pq = codecFor(task.codecKey, task.codec);
  const { data, rows, n } = readRows({ ...task, rows: null });
  const codes = pq.encode(data, n);
  const rec = pq.decode(codes, n);
  let errorSum = 0;
  let normSum = 0;
  for (let i = 0; i < n; i++) {
    errorSum += l2sq(data, i * pq.d, rec, i * pq.d, pq.d);
    normSum += dot(data, i * pq.d, data, i * pq.d, pq.d);
    task.out.set(codes.subarray(i * pq.m, (i + 1) * pq.m), (rows[i] - task.start) * pq.m);
  }
  return { count: n, errorSum, normSum };
}
