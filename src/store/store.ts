/**
 * All SQL of the main thread: the source of truth for collections, vectors,
 * codecs, codes and jobs. Every mutating method runs in one transaction, so a
 * caller that acknowledges after it returns acknowledges only committed data.
 */
import type { Metric } from '../core/distance.js';
import type { QuantizerType } from '../core/codec.js';
import type { Db } from './database.js';
import { vectorToBlob } from './vector-blobs.js';

/** Codes are stored in segments of this many rows (see migrations/001_initial.sql). */
export const SEGMENT_ROWS = 1024;

/**
 * A codec is stored in parts of this many bytes (migrations/007_codec_parts.sql):
 * well below the ~512 MiB better-sqlite3 binds or reads as one BLOB (V8's
 * longest string), and small enough that writing one holds no large extra copy.
 */
export const CODEC_PART_BYTES = 64 * 2 ** 20;

export interface QuantizerConfig {
  /** pq, opq (rotation + PQ), rq / lsq (additive: m codebooks of 256 full-dimension codewords) or lopq (IVF with a rotation per cell). */
  type: QuantizerType;
  /** Sub-quantizers (pq, opq) or codebooks (rq). */
  m: number;
  nbits: number;
  /** rq: partial codes kept per stage when encoding (absent: RQ_DEFAULT_BEAM). */
  beam?: number;
  /** nbits was left to the service: training on fewer than 2^nbits vectors lowers it instead of refusing. */
  autoNbits?: boolean;
  /** IVF index (absent: flat); nlist null = chosen at each training from the vector count. */
  ivf?: { nlist: number | null };
}

/** A collection's recall target (services/calibration.ts): k-recall@k ≥ recall. */
export interface TargetRecallConfig {
  recall: number;
  k: number;
  /** Calibrate again once the live count reaches this factor × the count at the last calibration (absent: DEFAULT_RECALIBRATE_GROWTH). */
  recalibrateAfterGrowth?: number;
}

/** One search setting: rerank factor, and cells visited (IVF) or null (flat). */
export interface SearchSetting {
  rerank: number;
  nprobe: number | null;
}

/** A setting as measured: k-recall@k on the calibration queries and wall time per query. */
export interface MeasuredSetting extends SearchSetting {
  recall: number;
  msPerQuery: number;
}

/** What a calibration found (stored with the collection as JSON, shown by GET /collections/{name}). */
export interface Calibration {
  state: 'running' | 'succeeded' | 'failed';
  /** Fraction of the grid measured. */
  progress: number;
  target: { recall: number; k: number };
  /** The codec it measured; its defaults apply while that codec is active. */
  codecVersion: number;
  /** Live vectors when it started. */
  vectors: number;
  /** Sample queries (stored vectors). */
  queries: number;
  /** The recall a setting must reach: target + margin. */
  required: number;
  /** Whether some setting reached `required`; null while running. */
  met: boolean | null;
  /** The cheapest setting that reached it, else the one that came closest. */
  chosen: MeasuredSetting | null;
  /** The setting queries would use without calibration, measured the same way. */
  baseline: MeasuredSetting | null;
  /** Every setting measured, in the order measured. */
  grid: MeasuredSetting[];
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export interface AutoTrainConfig {
  /** Train by itself once the collection holds this many vectors. */
  minVectors: number;
  /** Retrain by itself once the live count reaches this factor × the count at the last training. */
  retrainAfterGrowth?: number;
}

export interface CollectionRecord {
  id: number;
  name: string;
  dimension: number;
  metric: Metric;
  quantizer: QuantizerConfig;
  createdAt: string;
  nextRow: number;
  activeCodecId: number | null;
  addedSinceTraining: number;
  autoTrain: AutoTrainConfig | null;
  /** Live vectors when the active codec was switched in. */
  vectorsAtTraining: number | null;
  /** Metadata paths with a value index (services/collections.ts keeps them in memory). */
  indexedFields: string[];
  targetRecall: TargetRecallConfig | null;
  /** The last target-recall calibration, or null. */
  calibration: Calibration | null;
}

export interface CodecRecord {
  id: number;
  collectionId: number;
  version: number;
  bytes: Uint8Array;
  relativeMse: number | null;
  trainVectors: number;
  trainSeconds: number;
  createdAt: string;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

/** What a succeeded training job reports (kept as JSON in jobs.result). */
export interface TrainResult {
  codecVersion: number;
  relativeMse: number;
  trainVectors: number;
  encodedVectors: number;
  seconds: number;
  /** Seconds spent in each phase. */
  phaseSeconds: Record<string, number>;
  /** The process's peak RSS (bytes, process.resourceUsage().maxRSS) when the job ended; absent in results stored before it was recorded. */
  peakRssBytes?: number;
  /** Most anonymous + shared resident memory sampled at the job's progress saves (Linux only; absent elsewhere and in older results). */
  peakAnonymousBytes?: number;
  warnings: string[];
}

export interface JobRecord {
  id: string;
  collectionId: number;
  kind: 'train';
  state: JobState;
  phase: string;
  progress: number;
  params: Record<string, unknown>;
  result: TrainResult | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface NewVector {
  id: string;
  vector: Float32Array;
  /** JSON text of the metadata object, or null. */
  metadata: string | null;
}

interface CollectionRow {
  id: number;
  name: string;
  dimension: number;
  metric: Metric;
  quantizer: string;
  created_at: string;
  next_row: number;
  active_codec_id: number | null;
  added_since_training: number;
  auto_train: string | null;
  vectors_at_training: number | null;
  indexed_fields: string;
  target_recall: string | null;
  calibration: string | null;
}

interface JobRow {
  id: string;
  collection_id: number;
  kind: 'train';
  state: JobState;
  phase: string;
  progress: number;
  params: string;
  result: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const now = (): string => new Date().toISOString();

function toCollection(r: CollectionRow): CollectionRecord {
  return {
    id: r.id,
    name: r.name,
    dimension: r.dimension,
    metric: r.metric,
    quantizer: JSON.parse(r.quantizer) as QuantizerConfig,
    createdAt: r.created_at,
    nextRow: r.next_row,
    activeCodecId: r.active_codec_id,
    addedSinceTraining: r.added_since_training,
    autoTrain: r.auto_train === null ? null : (JSON.parse(r.auto_train) as AutoTrainConfig),
    vectorsAtTraining: r.vectors_at_training,
    indexedFields: JSON.parse(r.indexed_fields) as string[],
    targetRecall: r.target_recall === null ? null : (JSON.parse(r.target_recall) as TargetRecallConfig),
    calibration: r.calibration === null ? null : (JSON.parse(r.calibration) as Calibration),
  };
}

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    collectionId: r.collection_id,
    kind: r.kind,
    state: r.state,
    phase: r.phase,
    progress: r.progress,
    params: JSON.parse(r.params) as Record<string, unknown>,
    result: r.result === null ? null : (JSON.parse(r.result) as TrainResult),
    error: r.error === null ? null : (JSON.parse(r.error) as { code: string; message: string }),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export class Store {
  private readonly s;

  constructor(
    readonly db: Db,
    /** Bytes per stored part of a codec (tests store small codecs in several parts). */
    private readonly codecPartBytes = CODEC_PART_BYTES,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      insertCollection: p(
        'INSERT INTO collections (name, dimension, metric, quantizer, auto_train, indexed_fields, target_recall, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *',
      ),
      collectionByName: p('SELECT * FROM collections WHERE name = ?'),
      collectionById: p('SELECT * FROM collections WHERE id = ?'),
      collections: p('SELECT * FROM collections WHERE deleting = 0 ORDER BY name'),
      deleteCollection: p('DELETE FROM collections WHERE id = ?'),
      markDeleting: p("UPDATE collections SET deleting = 1, name = '#deleting-' || id WHERE id = ?"),
      deletingCollections: p('SELECT id FROM collections WHERE deleting = 1').pluck(),
      deleteVectorBatch: p('DELETE FROM vectors WHERE collection_id = ? AND row IN (SELECT row FROM vectors WHERE collection_id = ? LIMIT ?)'),
      deleteTombstoneBatch: p(
        'DELETE FROM tombstones WHERE collection_id = ? AND row IN (SELECT row FROM tombstones WHERE collection_id = ? LIMIT ?)',
      ),
      addTombstone: p('INSERT OR IGNORE INTO tombstones (collection_id, row) VALUES (?, ?)'),
      deadRows: p('SELECT row FROM tombstones WHERE collection_id = ?').pluck(),
      deleteSegmentBatch: p(
        'DELETE FROM code_segments WHERE rowid IN (SELECT s.rowid FROM code_segments s JOIN codecs c ON c.id ' +
          '= s.codec_id WHERE c.collection_id = ? LIMIT ?)',
      ),
      ping: p('SELECT 1').pluck(),
      advanceRows: p('UPDATE collections SET next_row = next_row + ?, added_since_training = added_since_training + ? WHERE id = ?'),
      rowOfId: p('SELECT row FROM vectors WHERE collection_id = ? AND external_id = ?').pluck(),
      upsertVector: p(
        `INSERT INTO vectors (collection_id, row, external_id, vector, metadata) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (collection_id, external_id) DO UPDATE SET row = excluded.row, vector = excluded.vector, metadata = excluded.metadata`,
      ),
      vectorById: p('SELECT row, vector, metadata FROM vectors WHERE collection_id = ? AND external_id = ?'),
      deleteVector: p('DELETE FROM vectors WHERE collection_id = ? AND external_id = ? RETURNING row').pluck(),
      rowInfo: p('SELECT external_id, metadata FROM vectors WHERE collection_id = ? AND row = ?').raw(),
      metadataRange: p(
        'SELECT row, metadata FROM vectors WHERE collection_id = ? AND row >= ? AND row < ? AND metadata IS NOT NULL ORDER BY row',
      ).raw(),
      insertCodec: p(
        `INSERT INTO codecs (collection_id, version, bytes, relative_mse, train_vectors, train_seconds, created_at)
         VALUES (?, (SELECT COALESCE(MAX(version), 0) + 1 FROM codecs WHERE collection_id = ?), ?, ?, ?, ?, ?) RETURNING id, version, created_at AS createdAt`,
      ),
      codec: p('SELECT * FROM codecs WHERE id = ?'),
      insertCodecPart: p('INSERT INTO codec_parts (codec_id, part, bytes) VALUES (?, ?, ?)'),
      codecParts: p('SELECT bytes FROM codec_parts WHERE codec_id = ? ORDER BY part').pluck(),
      deleteCodec: p('DELETE FROM codecs WHERE id = ?'),
      orphanCodecs: p(
        'SELECT codecs.id FROM codecs JOIN collections ON collections.id = codecs.collection_id WHERE codecs.id IS NOT collections.active_codec_id',
      ).pluck(),
      activate: p('UPDATE collections SET active_codec_id = ?, added_since_training = ?, vectors_at_training = ? WHERE id = ?'),
      setAutoTrain: p('UPDATE collections SET auto_train = ? WHERE id = ?'),
      setIndexedFields: p('UPDATE collections SET indexed_fields = ? WHERE id = ?'),
      setTargetRecall: p('UPDATE collections SET target_recall = ? WHERE id = ?'),
      setCalibration: p('UPDATE collections SET calibration = ? WHERE id = ?'),
      setCodecMse: p('UPDATE codecs SET relative_mse = ? WHERE id = ?'),
      segment: p('SELECT codes FROM code_segments WHERE codec_id = ? AND segment = ?').pluck(),
      putSegment: p('INSERT OR REPLACE INTO code_segments (codec_id, segment, codes) VALUES (?, ?, ?)'),
      segments: p('SELECT segment, codes FROM code_segments WHERE codec_id = ? ORDER BY segment').raw(),
      insertJob: p(
        `INSERT INTO jobs (id, collection_id, kind, state, phase, progress, params, created_at)
         VALUES (?, ?, ?, 'queued', 'queued', 0, ?, ?) RETURNING *`,
      ),
      job: p('SELECT * FROM jobs WHERE id = ? AND collection_id = ?'),
      jobs: p('SELECT * FROM jobs WHERE collection_id = ? ORDER BY created_at DESC, id LIMIT ?'),
      updateJob: p(
        `UPDATE jobs SET state = ?, phase = ?, progress = ?, result = ?, error = ?,
           started_at = COALESCE(started_at, ?), finished_at = ? WHERE id = ?`,
      ),
      interruptedJobs: p(`UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE state IN ('queued', 'running') RETURNING id`).pluck(),
    };
  }

  // Collections

  createCollection(
    name: string,
    dimension: number,
    metric: Metric,
    quantizer: QuantizerConfig,
    autoTrain: AutoTrainConfig | null,
    indexedFields: string[] = [],
    targetRecall: TargetRecallConfig | null = null,
  ): CollectionRecord {
    const auto = autoTrain === null ? null : JSON.stringify(autoTrain);
    const target = targetRecall === null ? null : JSON.stringify(targetRecall);
    const row = this.s.insertCollection.get(name, dimension, metric, JSON.stringify(quantizer), auto, JSON.stringify(indexedFields), target, now());
    return toCollection(row as CollectionRow);
  }

  setTargetRecall(collectionId: number, target: TargetRecallConfig | null): void {
    this.s.setTargetRecall.run(target === null ? null : JSON.stringify(target), collectionId);
  }

  setCalibration(collectionId: number, calibration: Calibration | null): void {
    this.s.setCalibration.run(calibration === null ? null : JSON.stringify(calibration), collectionId);
  }

  setIndexedFields(collectionId: number, fields: string[]): void {
    this.s.setIndexedFields.run(JSON.stringify(fields), collectionId);
  }

  setAutoTrain(collectionId: number, autoTrain: AutoTrainConfig | null): void {
    this.s.setAutoTrain.run(autoTrain === null ? null : JSON.stringify(autoTrain), collectionId);
  }

  collection(name: string): CollectionRecord | undefined {
    const r = this.s.collectionByName.get(name) as CollectionRow | undefined;
    return r && toCollection(r);
  }

  collectionById(id: number): CollectionRecord | undefined {
    const r = this.s.collectionById.get(id) as CollectionRow | undefined;
    return r && toCollection(r);
  }

  collections(): CollectionRecord[] {
    return (this.s.collections.all() as CollectionRow[]).map(toCollection);
  }

  /**
   * Marks a collection as being deleted: it leaves collections() and its name is
   * free at once; deleteCollectionStep then removes its data a batch at a time.
   */
  markDeleting(id: number): void {
    this.s.markDeleting.run(id);
  }

  /** Collections marked by markDeleting whose data is not all gone yet (an earlier process stopped half-way). */
  deletingCollections(): number[] {
    return this.s.deletingCollections.all() as number[];
  }

  /**
   * One bounded transaction of a marked collection's removal: up to `batch`
   * vectors, else up to `batch` tombstones, else up to `batch` code segments,
   * else the collection row with its codecs and jobs. Returns true when the
   * collection is gone.
   */
  deleteCollectionStep(id: number, batch: number): boolean {
    return this.db.transaction(() => {
      if (this.s.deleteVectorBatch.run(id, id, batch).changes > 0) return false;
      if (this.s.deleteTombstoneBatch.run(id, id, batch).changes > 0) return false;
      if (this.s.deleteSegmentBatch.run(id, batch).changes > 0) return false;
      this.s.deleteCollection.run(id);
      return true;
    })();
  }

  /** Whether the database answers a trivial query (readiness). */
  ping(): boolean {
    return this.s.ping.get() === 1;
  }

  /** Writes a consistent copy of the database to `path` while it keeps serving (SQLite's online backup). */
  backup(path: string): Promise<unknown> {
    return this.db.backup(path);
  }

  // Vectors

  /**
   * Writes vectors as new rows [firstRow, firstRow + n) in one transaction;
   * ids that existed move to their new row. With codes (n × codeSize, under the
   * active codec) they are appended to that codec's segments. Returns the rows
   * the replaced ids used to hold (they are dead now).
   */
  upsertVectors(
    collectionId: number,
    firstRow: number,
    items: NewVector[],
    codes: { codecId: number; codeSize: number; data: Uint8Array } | null,
  ): number[] {
    return this.db.transaction(() => {
      const replaced: number[] = [];
      items.forEach((item, i) => {
        const old = this.s.rowOfId.get(collectionId, item.id) as number | undefined;
        if (old !== undefined) {
          replaced.push(old);
          this.s.addTombstone.run(collectionId, old);
        }
        this.s.upsertVector.run(collectionId, firstRow + i, item.id, vectorToBlob(item.vector), item.metadata);
      });
      if (codes !== null) this.appendCodesTx(codes.codecId, codes.codeSize, firstRow, codes.data);
      this.s.advanceRows.run(items.length, items.length, collectionId);
      return replaced;
    })();
  }

  vector(collectionId: number, externalId: string): { row: number; vector: Buffer; metadata: string | null } | undefined {
    return this.s.vectorById.get(collectionId, externalId) as { row: number; vector: Buffer; metadata: string | null } | undefined;
  }

  /** Deletes a vector (its row becomes a tombstone, in the same transaction); returns the row it held, or undefined when there was none. */
  deleteVector(collectionId: number, externalId: string): number | undefined {
    return this.db.transaction(() => {
      const row = this.s.deleteVector.get(collectionId, externalId) as number | undefined;
      if (row !== undefined) this.s.addTombstone.run(collectionId, row);
      return row;
    })();
  }

  /** Runs `fn` in one read transaction (one snapshot, one WAL read lock for all its statements). */
  reading<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  /** External id and metadata JSON of a row, or undefined when the row is dead. */
  rowInfo(collectionId: number, row: number): [string, string | null] | undefined {
    return this.s.rowInfo.get(collectionId, row) as [string, string | null] | undefined;
  }

  /** [row, metadata JSON] of the live rows in [start, end) that have metadata, in row order (rebuilding value indexes). */
  metadataRows(collectionId: number, start: number, end: number): IterableIterator<[number, string]> {
    return this.s.metadataRange.iterate(collectionId, start, end) as IterableIterator<[number, string]>;
  }

  /**
   * The rows of a collection whose vector was deleted or replaced, for
   * rebuilding the index: the others below next_row are live. Reading the
   * tombstones costs what was deleted, not what is stored (a scan of the
   * vectors' rows took 127–152 ms per million).
   */
  deadRows(collectionId: number): number[] {
    return this.s.deadRows.all(collectionId) as number[];
  }

  // Codecs and codes

  /** Stores a trained codec (not yet active); returns its id, per-collection version and creation time. */
  insertCodec(
    collectionId: number,
    bytes: Uint8Array,
    stats: { relativeMse: number | null; trainVectors: number; trainSeconds: number },
  ): { id: number; version: number; createdAt: string } {
    // In parts (CODEC_PART_BYTES): one BLOB binds at most ~512 MiB (migrations/007_codec_parts.sql).
    const size = this.codecPartBytes;
    const part = (i: number) => bytes.subarray(i * size, (i + 1) * size);
    return this.db.transaction(() => {
      const head = part(0);
      const stored = this.s.insertCodec.get(collectionId, collectionId, head, stats.relativeMse, stats.trainVectors, stats.trainSeconds, now()) as {
        id: number;
        version: number;
        createdAt: string;
      };
      for (let i = 1; i * size < bytes.length; i++) this.s.insertCodecPart.run(stored.id, i, part(i));
      return stored;
    })();
  }

  codec(id: number): CodecRecord | undefined {
    const r = this.s.codec.get(id) as
      | {
          id: number;
          collection_id: number;
          version: number;
          bytes: Buffer;
          relative_mse: number | null;
          train_vectors: number;
          train_seconds: number;
          created_at: string;
        }
      | undefined;
    return (
      r && {
        id: r.id,
        collectionId: r.collection_id,
        version: r.version,
        bytes: this.codecBytes(r.id, r.bytes),
        relativeMse: r.relative_mse,
        trainVectors: r.train_vectors,
        trainSeconds: r.train_seconds,
        createdAt: r.created_at,
      }
    );
  }

  /** A codec's bytes: its first part, and the rest from codec_parts when it was stored in parts. */
  private codecBytes(id: number, head: Buffer): Buffer {
    const rest = this.s.codecParts.all(id) as Buffer[];
    return rest.length === 0 ? head : Buffer.concat([head, ...rest]);
  }

  /** Deletes a codec and its codes. */
  deleteCodec(id: number): void {
    this.s.deleteCodec.run(id);
  }

  /** Deletes codecs that are not their collection's active one (left by interrupted or failed training). */
  deleteOrphanCodecs(): number {
    const ids = this.s.orphanCodecs.all() as number[];
    this.db.transaction(() => {
      for (const id of ids) this.s.deleteCodec.run(id);
    })();
    return ids.length;
  }

  /** Appends the codes of rows [firstRow, firstRow + n) under a codec, in one transaction. */
  appendCodes(codecId: number, codeSize: number, firstRow: number, data: Uint8Array): void {
    this.db.transaction(() => this.appendCodesTx(codecId, codeSize, firstRow, data))();
  }

  private appendCodesTx(codecId: number, codeSize: number, firstRow: number, data: Uint8Array): void {
    const n = data.length / codeSize;
    let row = firstRow;
    while (row < firstRow + n) {
      const seg = Math.floor(row / SEGMENT_ROWS);
      const segEnd = Math.min((seg + 1) * SEGMENT_ROWS, firstRow + n);
      const existing = (this.s.segment.get(codecId, seg) as Buffer | undefined) ?? Buffer.alloc(0);
      const held = existing.length / codeSize;
      if (seg * SEGMENT_ROWS + held !== row) {
        throw new Error(`codes must be appended in row order: segment ${seg} holds ${held} rows, got row ${row}`);
      }
      const add = data.subarray((row - firstRow) * codeSize, (segEnd - firstRow) * codeSize);
      this.s.putSegment.run(codecId, seg, Buffer.concat([existing, add]));
      row = segEnd;
    }
  }

  /** Copies a codec's codes into out (rows × codeSize); returns how many rows were stored. */
  loadCodes(codecId: number, codeSize: number, out: Uint8Array): number {
    let rows = 0;
    this.codeSegments(codecId)((first, codes) => {
      out.set(codes, first * codeSize);
      rows = first + codes.length / codeSize;
    });
    return rows;
  }

  /** A codec's codes segment by segment, in row order: each pass reads them again (index/inverted-lists.ts's CodeSegments). */
  codeSegments(codecId: number): (visit: (firstRow: number, codes: Uint8Array) => void) => void {
    return (visit) => {
      for (const [seg, codes] of this.s.segments.iterate(codecId) as IterableIterator<[number, Buffer]>) visit(seg * SEGMENT_ROWS, codes);
    };
  }

  /**
   * Makes a codec the collection's active one (recording its relative MSE) and
   * drops the previous codec with its codes, in one transaction.
   */
  activateCodec(
    collectionId: number,
    codecId: number,
    previousCodecId: number | null,
    counts: { addedSinceTraining: number; vectorsAtTraining: number },
    relativeMse: number,
  ): void {
    this.db.transaction(() => {
      this.s.setCodecMse.run(relativeMse, codecId);
      this.s.activate.run(codecId, counts.addedSinceTraining, counts.vectorsAtTraining, collectionId);
      if (previousCodecId !== null) this.s.deleteCodec.run(previousCodecId);
    })();
  }

  // Jobs

  createJob(id: string, collectionId: number, kind: 'train', params: Record<string, unknown>): JobRecord {
    return toJob(this.s.insertJob.get(id, collectionId, kind, JSON.stringify(params), now()) as JobRow);
  }

  job(collectionId: number, id: string): JobRecord | undefined {
    const r = this.s.job.get(id, collectionId) as JobRow | undefined;
    return r && toJob(r);
  }

  jobs(collectionId: number, limit: number): JobRecord[] {
    return (this.s.jobs.all(collectionId, limit) as JobRow[]).map(toJob);
  }

  saveJob(job: JobRecord): void {
    this.s.updateJob.run(
      job.state,
      job.phase,
      job.progress,
      job.result === null ? null : JSON.stringify(job.result),
      job.error === null ? null : JSON.stringify(job.error),
      job.startedAt,
      job.finishedAt,
      job.id,
    );
  }

  /** Marks jobs left queued or running by a previous process as failed; returns their ids. */
  failInterruptedJobs(): string[] {
    const error = { code: 'interrupted', message: 'the service stopped before this job finished; start it again' };
    return this.s.interruptedJobs.all(JSON.stringify(error), now()) as string[];
  }
}
