/**
 * The collection service: everything the routes do, over the store (SQLite, the
 * source of truth), the in-memory indexes and the worker pool.
 *
 * Writes to a collection run one at a time under its lock: encode (pool) → one
 * SQLite transaction → append to the in-memory index → acknowledge. Queries take
 * no lock: they read a snapshot of the index (row count, shared buffers, codec).
 */
import { randomUUID } from 'node:crypto';
import { type Metric, normalizeRows } from '../core/distance.js';
import { QuantizerInputError } from '../core/errors.js';
import { KMEANS_DEFAULTS } from '../core/kmeans.js';
import { PQGeometry } from '../core/pq.js';
import { deserializePQ } from '../core/serialize.js';
import { CollectionIndex } from '../index/collection-index.js';
import type { ComputePool, Neighbours, VectorSource } from '../pool/compute-pool.js';
import type { CollectionRecord, JobRecord, QuantizerConfig, Store } from '../store/store.js';
import { blobToVector } from '../store/vector-blobs.js';
import { ApiError, badRequest, collectionNotFound } from './errors.js';
import { Mutex } from './mutex.js';
import { type TrainParams, TrainingJob } from './training-job.js';
import { packVectors } from './vector-input.js';

export interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface CreateCollectionInput {
  name: string;
  dimension: number;
  metric: Metric;
  quantizer: { type: 'pq'; m?: number; nbits?: number };
}

export interface CollectionView {
  name: string;
  dimension: number;
  metric: Metric;
  quantizer: QuantizerConfig;
  createdAt: string;
  /** Live vectors. */
  count: number;
  trained: boolean;
  codecVersion: number | null;
  /** Bytes of code per vector held in memory (m for PQ with nbits ≤ 8). */
  bytesPerVector: number;
  /** Relative MSE (‖x − x̂‖² / ‖x‖² over the vectors encoded) of the last training. */
  relativeMse: number | null;
  trainedAt: string | null;
  /** Vectors written since the active codec was trained. */
  addedSinceTraining: number;
  /** The running training job's id, if any. */
  trainingJob: string | null;
}

export interface VectorInput {
  id: string;
  vector: number[];
  metadata?: Record<string, unknown> | null;
}

export interface Hit {
  id: string;
  /** Squared L2 distance (l2), or inner product (ip, cosine; larger is nearer). */
  distance: number;
  metadata: Record<string, unknown> | null;
}

/** A job as the API shows it: the collection by name instead of by id. */
export type JobView = Omit<JobRecord, 'collectionId'> & { collection: string };

/** Default m: one byte per 8 dimensions (at least 1, at most 64), a divisor-free rule (uneven sub-spaces are fine). */
export function defaultM(dimension: number): number {
  return Math.max(1, Math.min(64, Math.floor(dimension / 8)));
}

interface Entry {
  record: CollectionRecord;
  index: CollectionIndex;
  lock: Mutex;
  job: TrainingJob | null;
  codecInfo: { relativeMse: number | null; trainedAt: string } | null;
  deleted: boolean;
}

export class CollectionService {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: Store,
    private readonly pool: ComputePool,
    private readonly dbPath: string,
    private readonly log: Logger,
  ) {}

  /** Rebuilds every collection's in-memory index from the store; cleans up after an interrupted run. */
  load(): void {
    const interrupted = this.store.failInterruptedJobs();
    const orphans = this.store.deleteOrphanCodecs();
    if (interrupted.length > 0 || orphans > 0) {
      this.log.warn({ interruptedJobs: interrupted, orphanCodecs: orphans }, 'cleaned up after an interrupted run');
    }
    for (const record of this.store.collections()) {
      const started = performance.now();
      let codec = null;
      let codes = null;
      let codecInfo = null;
      if (record.activeCodecId !== null) {
        const c = this.store.codec(record.activeCodecId);
        if (c === undefined) throw new Error(`collection '${record.name}': active codec ${record.activeCodecId} is missing`);
        const pq = deserializePQ(c.bytes);
        codes = CollectionIndex.codesBuffer(record.nextRow, pq.m);
        const stored = this.store.loadCodes(c.id, pq.m, codes);
        if (stored !== record.nextRow) {
          throw new Error(`collection '${record.name}': ${stored} rows of codes stored, ${record.nextRow} expected`);
        }
        codec = { id: c.id, version: c.version, pq };
        codecInfo = { relativeMse: c.relativeMse, trainedAt: c.createdAt };
      }
      const index = CollectionIndex.load(record.nextRow, this.store.liveRows(record.id), codec, codes);
      this.entries.set(record.name, { record, index, lock: new Mutex(), job: null, codecInfo, deleted: false });
      this.log.info(
        { collection: record.name, vectors: index.liveCount, rows: index.rowCount, ms: Math.round(performance.now() - started) },
        'collection loaded',
      );
    }
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (e === undefined || e.deleted) throw collectionNotFound(name);
    return e;
  }

  private source(e: Entry): VectorSource {
    return { dbPath: this.dbPath, collectionId: e.record.id, d: e.record.dimension, normalize: e.record.metric === 'cosine' };
  }

  private view(e: Entry): CollectionView {
    const codec = e.index.codec;
    return {
      name: e.record.name,
      dimension: e.record.dimension,
      metric: e.record.metric,
      quantizer: e.record.quantizer,
      createdAt: e.record.createdAt,
      count: e.index.liveCount,
      trained: codec !== null,
      codecVersion: codec?.version ?? null,
      bytesPerVector: e.record.quantizer.m,
      relativeMse: e.codecInfo?.relativeMse ?? null,
      trainedAt: e.codecInfo?.trainedAt ?? null,
      addedSinceTraining: e.record.addedSinceTraining,
      trainingJob: e.job?.running ? e.job.record.id : null,
    };
  }

  create(input: CreateCollectionInput): CollectionView {
    if (this.entries.has(input.name)) {
      throw new ApiError(409, 'collection_exists', `collection '${input.name}' already exists`);
    }
    const quantizer: QuantizerConfig = { type: 'pq', m: input.quantizer.m ?? defaultM(input.dimension), nbits: input.quantizer.nbits ?? 8 };
    try {
      new PQGeometry(input.dimension, quantizer.m, quantizer.nbits);
    } catch (err) {
      if (err instanceof QuantizerInputError) throw badRequest(`quantizer: ${err.message}`);
      throw err;
    }
    const record = this.store.createCollection(input.name, input.dimension, input.metric, quantizer);
    const e: Entry = { record, index: new CollectionIndex(), lock: new Mutex(), job: null, codecInfo: null, deleted: false };
    this.entries.set(record.name, e);
    return this.view(e);
  }

  list(): CollectionView[] {
    return [...this.entries.values()]
      .filter((e) => !e.deleted)
      .sort((a, b) => (a.record.name < b.record.name ? -1 : 1))
      .map((e) => this.view(e));
  }

  get(name: string): CollectionView {
    return this.view(this.entry(name));
  }

  /** Deletes a collection: new requests see 404 at once; a running training job is cancelled first. */
  async remove(name: string): Promise<void> {
    const e = this.entry(name);
    e.deleted = true;
    if (e.job?.running) {
      e.job.cancel('the collection was deleted');
      await e.job.done;
    }
    await e.lock.run(() => this.store.deleteCollection(e.record.id));
    this.entries.delete(name);
  }

  async upsert(name: string, items: VectorInput[]): Promise<{ upserted: number }> {
    const e = this.entry(name);
    const { dimension: d, metric } = e.record;
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.id);
      if (first !== undefined) throw badRequest(`vectors[${i}].id '${item.id}' repeats vectors[${first}].id; ids must be unique in a batch`);
      seen.set(item.id, i);
    });
    const data = packVectors(
      items.map((it) => it.vector),
      d,
      metric === 'cosine',
      (i) => `vectors[${i}].vector`,
    );
    const rows = items.map((it, i) => ({
      id: it.id,
      vector: data.subarray(i * d, (i + 1) * d),
      metadata: it.metadata === undefined || it.metadata === null ? null : JSON.stringify(it.metadata),
    }));
    return e.lock.run(async () => {
      if (e.deleted) throw collectionNotFound(name);
      const codec = e.index.codec;
      let codes: Uint8Array | null = null;
      if (codec !== null) {
        codes = await this.pool.encode(codec.pq, metric === 'cosine' ? normalized(data, items.length, d) : data, items.length);
      }
      const firstRow = e.index.rowCount;
      const replaced = this.store.upsertVectors(e.record.id, firstRow, rows, codec && codes && { codecId: codec.id, codeSize: codec.pq.m, data: codes });
      e.index.append(items.length, codes, replaced);
      e.record.nextRow += items.length;
      e.record.addedSinceTraining += items.length;
      return { upserted: items.length };
    });
  }

  getVector(name: string, id: string): { id: string; vector: number[]; metadata: Record<string, unknown> | null } {
    const e = this.entry(name);
    const v = this.store.vector(e.record.id, id);
    if (v === undefined) throw new ApiError(404, 'vector_not_found', `collection '${name}' has no vector with id '${id}'`);
    return { id, vector: Array.from(blobToVector(v.vector)), metadata: v.metadata === null ? null : JSON.parse(v.metadata) };
  }

  async deleteVector(name: string, id: string): Promise<void> {
    const e = this.entry(name);
    await e.lock.run(() => {
      if (e.deleted) throw collectionNotFound(name);
      const row = this.store.deleteVector(e.record.id, id);
      if (row === undefined) throw new ApiError(404, 'vector_not_found', `collection '${name}' has no vector with id '${id}'`);
      e.index.kill(row);
    });
  }

  /**
   * k nearest neighbours of each query. Trained collections: ADC over the codes in
   * the workers. Untrained: exact search, the workers reading the full vectors.
   */
  async query(name: string, queries: number[][], k: number): Promise<Hit[][]> {
    const e = this.entry(name);
    const { dimension: d, metric } = e.record;
    const cosine = metric === 'cosine';
    const many = queries.length > 1;
    let q = packVectors(queries, d, cosine, (i) => (many ? `vectors[${i}]` : 'vector'));
    if (cosine) q = normalized(q, queries.length, d);
    const kind = metric === 'l2' ? 'l2' : 'ip';
    const { index } = e;
    const rows = index.rowCount;
    const codec = index.codec;
    let found: Neighbours[];
    if (codec !== null && index.codes !== null) {
      found = await this.pool.search({ pq: codec.pq, codes: index.codes, dead: index.dead, rows, metric: kind, queries: q, nq: queries.length, k });
    } else {
      found = await this.pool.exactSearch({ source: this.source(e), rows, metric: kind, queries: q, nq: queries.length, k });
    }
    return found.map((r) => this.hits(e, r, kind));
  }

  private hits(e: Entry, r: Neighbours, kind: 'l2' | 'ip'): Hit[] {
    const out: Hit[] = [];
    for (let i = 0; i < r.ids.length; i++) {
      const info = this.store.rowInfo(e.record.id, r.ids[i]);
      if (info === undefined) continue; // deleted since the scan
      out.push({ id: info[0], distance: kind === 'l2' ? r.dist[i] : -r.dist[i], metadata: info[1] === null ? null : JSON.parse(info[1]) });
    }
    return out;
  }

  /** Starts a training job (202); one at a time per collection. */
  train(name: string, params: TrainParams): JobView {
    const e = this.entry(name);
    if (e.job?.running) {
      throw new ApiError(409, 'training_in_progress', `collection '${name}' is already training (job ${e.job.record.id})`, {
        job: e.job.record.id,
      });
    }
    const { m, nbits } = e.record.quantizer;
    const ksub = 1 << nbits;
    const live = e.index.liveCount;
    const sampleSize = params.sampleSize ?? Math.min(live, KMEANS_DEFAULTS.maxPointsPerCentroid * ksub);
    if (live < ksub) {
      throw new ApiError(
        422,
        'insufficient_data',
        `training a product quantizer with nbits = ${nbits} needs at least ${ksub} vectors (k-means: one per centroid); ` +
          `collection '${name}' has ${live}`,
      );
    }
    if (sampleSize < ksub) throw badRequest(`sampleSize must be at least ${ksub} (one vector per centroid), got ${sampleSize}`);
    const record = this.store.createJob(randomUUID(), e.record.id, 'train', { ...params });
    e.job = new TrainingJob(
      record,
      this.store,
      this.pool,
      {
        collectionId: e.record.id,
        m,
        nbits,
        index: e.index,
        lock: e.lock,
        source: this.source(e),
        onActivated: (s) => {
          e.record.activeCodecId = s.codecId;
          e.record.addedSinceTraining = s.addedSinceTraining;
          e.codecInfo = { relativeMse: s.relativeMse, trainedAt: s.trainedAt };
        },
      },
      params,
      this.log,
    );
    return this.jobView(e, e.job.record);
  }

  job(name: string, id: string): JobView {
    const e = this.entry(name);
    const record = e.job?.record.id === id ? e.job.record : this.store.job(e.record.id, id);
    if (record === undefined) throw new ApiError(404, 'job_not_found', `collection '${name}' has no job '${id}'`);
    return this.jobView(e, record);
  }

  jobs(name: string, limit = 50): JobView[] {
    const e = this.entry(name);
    return this.store.jobs(e.record.id, limit).map((r) => this.jobView(e, e.job?.record.id === r.id ? e.job.record : r));
  }

  private jobView(e: Entry, r: JobRecord): JobView {
    const { collectionId: _, ...rest } = r;
    return { ...rest, collection: e.record.name };
  }

  /** Cancels running jobs and waits for them and for in-flight writes (shutdown). */
  async close(): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const e of this.entries.values()) {
      if (e.job?.running) {
        e.job.cancel('the service is shutting down');
        pending.push(e.job.done);
      }
      pending.push(e.lock.run(() => undefined));
    }
    await Promise.all(pending);
  }
}

/** A unit-length copy of n rows (the stored vectors keep the values the user sent). */
function normalized(data: Float32Array, n: number, d: number): Float32Array {
  return normalizeRows(data.slice(0, n * d), n, d);
}
