/**
 * The collection service: everything the routes do, over the store (SQLite, the
 * source of truth), the in-memory indexes and the worker pool. It holds the
 * registry (load, create, delete and purge), the writes (upserts, deletes, and
 * the one place a collection switches codec) and the queries (search, evaluate,
 * jobs). The decisions are pure modules it asks first: admission.ts (may this
 * request run), training-plan.ts (what a training will use), evaluation.ts
 * (recall arithmetic); training-job.ts computes a codec and hands it back here.
 *
 * Writes to a collection run one at a time under its lock: encode (pool) → one
 * SQLite transaction → append to the in-memory index → acknowledge. Queries take
 * no lock: they read a snapshot of the index (row count, shared buffers, codec).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Limits } from '../config.js';
import { normalizeRows, searchMetric } from '../core/distance.js';
import { deserializeCodec } from '../core/serialize.js';
import { LIST_ID_BYTES } from '../core/codec.js';
import { CollectionIndex } from '../index/collection-index.js';
import { InvertedLists } from '../index/inverted-lists.js';
import { LEAF_STATS } from '../index/metadata-filter.js';
import { FieldIndex, ValueIndexes, evaluateIndexed, indexedLeaves, indexedStats } from '../index/value-index.js';
import { type ComputePool, type Neighbours, type RecordSource, type VectorSource, inBackground, toShared } from '../pool/compute-pool.js';
import { type Calibration, type CollectionRecord, type JobRecord, SEGMENT_ROWS, type Store } from '../store/store.js';
import { blobToVector } from '../store/vector-blobs.js';
import {
  CALIBRATION_CHUNK,
  DEFAULT_QUERY_BATCH_WINDOW_US,
  DEFAULT_RERANK,
  EVALUATE_DEFAULTS,
  INDEX_EXTENSION_MIN_SHARE,
  METADATA_LOOKUP_SHARE,
  PURGE_BATCH_ROWS,
  VALUE_INDEX_BUILD_ROWS,
} from '../tunables.js';
import { admitCollection, admitIndexedFields, admitSearch, admitUpsert, checkAutoTrain, metadataJson } from './admission.js';
import { baselineSetting, calibratedDefaults, calibrationDue, calibrationGrid, requiredRecall, settingForTarget } from './calibration.js';
import { type CalibrationDeps, newCalibration, runCalibration } from './calibration-run.js';
import { ApiError, badRequest, collectionNotFound, limitExceeded } from './errors.js';
import { type EvaluateOptions, type EvaluateReport, evaluationQueryCount, recallAgainstExact, sampleQueryRows } from './evaluation.js';
import { type CompiledFilter, FilterMasks, type RangeMatch, compileFilter } from './filter.js';
import type { Logger } from './logger.js';
import { Mutex } from './mutex.js';
import { autoTrainDue, configuredCodeBytes, effectiveNprobe, keepsNorms, planTraining } from './training-plan.js';
import { type TrainParams, type TrainedCodec, TrainingJob, persistCodes } from './training-job.js';
import { ScanBatcher } from './scan-batcher.js';
import { planSearch } from './search-plan.js';
import type {
  CollectionView,
  CreateCollectionInput,
  Hit,
  UpdateCollectionInput,
  JobView,
  QueryAnswer,
  SearchExplain,
  SearchOptions,
  ServiceObserver,
  VectorInput,
} from './types.js';
import { checkRows, packVectors } from './vector-input.js';
import { parseVectorRecords } from './vector-records.js';

interface Entry {
  record: CollectionRecord;
  index: CollectionIndex;
  lock: Mutex;
  job: TrainingJob | null;
  codecInfo: { relativeMse: number | null; trainedAt: string } | null;
  masks: FilterMasks;
  /** The value indexes of record.indexedFields, complete for every row. */
  values: ValueIndexes;
  /** While a change of indexedFields fills new indexes: the rows written meanwhile, added to them after (see setIndexedFields). */
  written: { row: number; metadata: unknown }[] | null;
  /** Changes of indexedFields run one at a time. */
  indexing: Mutex;
  /** Live count when automatic training last failed: it is not retried until the count grows 10 % past it. */
  autoFailedAt: number | null;
  /** The running calibration (its progress shown by GET): aborted by a newer one, deletion or shutdown. */
  calibrating: { abort: AbortController; done: Promise<void>; calibration: Calibration } | null;
  deleted: boolean;
}

export class CollectionService {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: Store,
    private readonly pool: ComputePool,
    private readonly dbPath: string,
    private readonly log: Logger,
    private readonly limits: Limits,
    options: { queryBatchWindowMicros?: number } = {},
  ) {
    this.scans = new ScanBatcher(pool, options.queryBatchWindowMicros ?? DEFAULT_QUERY_BATCH_WINDOW_US, (n) => this.observer?.scanBatched(n));
  }

  /** Scans go to the pool through here: single unfiltered queries arriving together are scanned as one batch. */
  private readonly scans: ScanBatcher;

  /** True once load() has rebuilt every collection's index (readiness). */
  loaded = false;

  private observer: ServiceObserver | null = null;

  observe(observer: ServiceObserver): void {
    this.observer = observer;
  }

  /** What readiness checks beneath the HTTP layer: the database answers, every index is loaded, the pool has its threads. */
  readiness(): { database: boolean; collections: boolean; workers: boolean } {
    let database: boolean;
    try {
      database = this.store.ping();
    } catch (err) {
      this.log.warn({ err }, 'readiness: the database did not answer');
      database = false;
    }
    return { database, collections: this.loaded, workers: this.pool.stats().threads > 0 };
  }

  /** The worker pool's queue, utilisation and threads (metrics). */
  poolStats(): ReturnType<ComputePool['stats']> {
    return this.pool.stats();
  }

  /** Training jobs running now, across collections. */
  runningJobs(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.job?.running) n++;
    return n;
  }

  /** Rebuilds every collection's in-memory index from the store; cleans up after an interrupted run. */
  async load(): Promise<void> {
    for (const id of this.store.deletingCollections()) this.purge(id);
    const interrupted = this.store.failInterruptedJobs();
    const orphans = this.store.deleteOrphanCodecs();
    if (interrupted.length > 0 || orphans > 0) {
      this.log.warn({ interruptedJobs: interrupted, orphanCodecs: orphans }, 'cleaned up after an interrupted run');
    }
    for (const record of this.store.collections()) {
      const started = performance.now();
      let index: CollectionIndex;
      let codecInfo = null;
      try {
        index = CollectionIndex.load(record.nextRow, this.store.deadRows(record.id), null, null);
        if (record.activeCodecId !== null) {
          const c = this.store.codec(record.activeCodecId);
          if (c === undefined) throw new Error(`active codec ${record.activeCodecId} is missing`);
          const trained = deserializeCodec(c.bytes);
          let codes: Uint8Array | InvertedLists;
          if (trained.nlist === null) {
            codes = CollectionIndex.codesBuffer(record.nextRow, trained);
            const stored = this.store.loadCodes(c.id, trained.codeSize, codes);
            if (stored !== record.nextRow) throw new Error(`${stored} rows of codes stored, ${record.nextRow} expected`);
          } else {
            codes = await this.loadLists(c.id, trained.nlist, trained.codeSize, index);
          }
          index.activate({ id: c.id, version: c.version, codec: trained }, codes);
          codecInfo = { relativeMse: c.relativeMse, trainedAt: c.createdAt };
        }
      } catch (err) {
        throw new Error(`collection '${record.name}': ${err instanceof Error ? err.message : String(err)}`);
      }
      const values = new ValueIndexes(record.indexedFields);
      if (values.fields.length > 0) this.fillValueIndexes(record.id, values.fields, 0, record.nextRow);
      const e = this.newEntry(record, index, codecInfo, values);
      this.entries.set(record.name, e);
      // A calibration the last process did not finish (or one due since) starts again.
      this.maybeCalibrate(e);
      this.log.info(
        {
          collection: record.name,
          vectors: index.liveCount,
          rows: index.rowCount,
          indexedFields: record.indexedFields.length,
          valueIndexBytes: values.memoryBytes(),
          ms: Math.round(performance.now() - started),
        },
        'collection loaded',
      );
    }
    this.loaded = true;
  }

  /**
   * An IVF codec's lists of the index's live rows, built from the stored
   * segments by the workers, each reading a range of segments twice (count,
   * then write): at 10M rows the build on this thread was two thirds of a
   * start-up (0.66 s of ~1 s).
   */
  private async loadLists(codecId: number, nlist: number, codeSize: number, index: CollectionIndex): Promise<InvertedLists> {
    const { rowCount, dead } = index;
    const part = { dbPath: this.dbPath, codecId, codeSize, rowCount, dead };
    const parts = await this.pool.countLists({ ...part, nlist, segments: Math.ceil(rowCount / SEGMENT_ROWS) });
    const rowsRead = Math.max(0, ...parts.map((p) => p.rowsRead));
    if (rowsRead < rowCount) throw new Error(`${rowsRead} rows of codes for ${rowCount} rows`);
    const sizes = new Int32Array(nlist);
    for (const p of parts) for (let l = 0; l < nlist; l++) sizes[l] += p.sizes[l];
    const lists = InvertedLists.sized(nlist, codeSize - LIST_ID_BYTES, sizes);
    const written = await this.pool.fillLists({ ...part, lists, parts });
    const counted = sizes.reduce((a: number, b: number) => a + b, 0);
    if (written !== counted) throw new Error(`the lists' second pass wrote ${written} rows, the first counted ${counted}`);
    lists.filled(sizes);
    return lists;
  }

  private newEntry(record: CollectionRecord, index: CollectionIndex, codecInfo: Entry['codecInfo'], values: ValueIndexes): Entry {
    const e: Entry = {
      record,
      index,
      lock: new Mutex(),
      job: null,
      codecInfo,
      values,
      written: null,
      indexing: new Mutex(),
      masks: new FilterMasks(
        (f, start, end, out) => this.matchFilter(e, f, start, end, out),
        (f) => indexedStats(f.root, e.values),
      ),
      autoFailedAt: null,
      calibrating: null,
      deleted: false,
    };
    return e;
  }

  /** Adds the stored metadata of rows [start, end) to value indexes (start-up, or a change of indexedFields). */
  private fillValueIndexes(collectionId: number, fields: FieldIndex[], start: number, end: number): void {
    for (const [row, metadata] of this.store.metadataRows(collectionId, start, end)) {
      const parsed: unknown = JSON.parse(metadata);
      for (const f of fields) f.add(row, parsed);
    }
  }

  /**
   * Marks the rows in [start, end) that match a filter. Conditions on indexed
   * fields are answered by their value indexes; when they decide the filter,
   * no metadata is read; otherwise the workers read the metadata of the rows
   * they let through (all rows when the collection has no value indexes).
   */
  private async matchFilter(e: Entry, f: CompiledFilter, start: number, end: number, out: Uint8Array): Promise<RangeMatch> {
    const scan = { dbPath: this.dbPath, collectionId: e.record.id, root: f.root, leaves: f.leaves.length, start, end, out };
    // A few new rows (a cached mask extended after writes): reading them costs less than index look-ups, which walk matching entries of every row.
    const fewRows = start > 0 && end - start < INDEX_EXTENSION_MIN_SHARE * end;
    if (fewRows || e.values.fields.length === 0 || !indexedLeaves(f.root, e.values).some(Boolean)) {
      return { stats: await this.pool.matchRows({ ...scan, candidates: null, candidatesFrom: 0, lookups: false }), narrowed: false };
    }
    const { mask, exact } = evaluateIndexed(f.root, e.values, start, end);
    if (exact) {
      out.set(mask, start);
      return { stats: new Int32Array(f.leaves.length * LEAF_STATS), narrowed: false };
    }
    let candidates = 0;
    for (let i = 0; i < mask.length; i++) candidates += mask[i];
    const narrowed = candidates < end - start;
    const lookups = candidates < METADATA_LOOKUP_SHARE * (end - start);
    // Shared, so the subtasks read one copy.
    const stats = await this.pool.matchRows({ ...scan, candidates: narrowed ? toShared(mask) : null, candidatesFrom: start, lookups });
    return { stats, narrowed };
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (e === undefined || e.deleted) throw collectionNotFound(name);
    return e;
  }

  private searchState(e: Entry): { trained: boolean; live: number } {
    return { trained: e.index.codec !== null, live: e.index.liveCount };
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
      // The active codes' bytes (their nbits may have been lowered), else those training will give.
      bytesPerVector:
        (codec?.codec.quantizer.codeSize ?? configuredCodeBytes(e.record.quantizer, e.record.metric)) +
        (e.record.quantizer.ivf === undefined ? 0 : 4),
      trainedNbits: codec?.codec.quantizer.nbits ?? null,
      trainedNlist: codec?.codec.nlist ?? null,
      autoTrain: e.record.autoTrain,
      relativeMse: e.codecInfo?.relativeMse ?? null,
      trainedAt: e.codecInfo?.trainedAt ?? null,
      addedSinceTraining: e.record.addedSinceTraining,
      vectorsAtTraining: e.record.vectorsAtTraining,
      trainingJob: e.job?.running ? e.job.record.id : null,
      indexedFields: e.record.indexedFields,
      targetRecall: e.record.targetRecall,
      calibration: e.calibrating?.calibration ?? e.record.calibration,
    };
  }

  create(input: CreateCollectionInput): CollectionView {
    if (this.entries.has(input.name)) {
      throw new ApiError(409, 'collection_exists', `collection '${input.name}' already exists`);
    }
    const { quantizer, autoTrain, indexedFields } = admitCollection(input, this.entries.size, this.limits);
    const record = this.store.createCollection(
      input.name,
      input.dimension,
      input.metric,
      quantizer,
      autoTrain,
      indexedFields,
      input.targetRecall ?? null,
    );
    const e = this.newEntry(record, new CollectionIndex(), null, new ValueIndexes(indexedFields));
    this.entries.set(record.name, e);
    return this.view(e);
  }

  /**
   * Changes a collection's settings: automatic training (null turns it off;
   * may start a training at once) and the indexed fields (answered once every
   * new field's index holds every stored row).
   */
  async update(name: string, input: UpdateCollectionInput): Promise<CollectionView> {
    const e = this.entry(name);
    const { autoTrain, indexedFields, targetRecall } = input;
    if (autoTrain) checkAutoTrain(autoTrain, e.record.quantizer);
    const fields = indexedFields === undefined ? undefined : admitIndexedFields(indexedFields);
    if (fields !== undefined) await this.setIndexedFields(e, fields);
    if (autoTrain !== undefined) {
      this.store.setAutoTrain(e.record.id, autoTrain);
      e.record.autoTrain = autoTrain;
      e.autoFailedAt = null;
      this.maybeAutoTrain(e);
    }
    if (targetRecall !== undefined) {
      this.store.setTargetRecall(e.record.id, targetRecall);
      e.record.targetRecall = targetRecall;
      if (targetRecall === null) {
        // No target, no calibrated defaults: queries go back to the service's.
        e.calibrating?.abort.abort(new Error('the target recall was removed'));
        e.calibrating = null;
        this.store.setCalibration(e.record.id, null);
        e.record.calibration = null;
      }
      this.maybeCalibrate(e);
    }
    return this.view(e);
  }

  /**
   * Switches a collection to a new set of value indexes. Fields indexed already
   * keep theirs; a new field's index is filled from the stored rows in batches,
   * yielding between them, so writes and queries go on meanwhile; rows written
   * during the fill are noted by upsert and added after it, so every index
   * gets its rows in increasing order. Rows are immutable, so the two make a
   * complete index.
   */
  private setIndexedFields(e: Entry, fields: string[]): Promise<void> {
    return e.indexing.run(async () => {
      if (e.deleted) throw collectionNotFound(e.record.name);
      const kept = (f: string) => e.values.field(f.split('.'));
      const added = new Map(fields.filter((f) => kept(f) === undefined).map((f) => [f, new FieldIndex(f.split('.'))]));
      const until = e.index.rowCount;
      e.written = [];
      try {
        for (let start = 0; start < until && added.size > 0; start += VALUE_INDEX_BUILD_ROWS) {
          await yieldToEventLoop();
          if (e.deleted) throw collectionNotFound(e.record.name);
          if (this.closing) throw new ApiError(503, 'shutting_down', 'the service is shutting down; the indexed fields did not change');
          this.fillValueIndexes(e.record.id, [...added.values()], start, Math.min(until, start + VALUE_INDEX_BUILD_ROWS));
        }
        for (const { row, metadata } of e.written) for (const f of added.values()) f.add(row, metadata);
      } finally {
        e.written = null;
      }
      this.store.setIndexedFields(e.record.id, fields);
      e.record.indexedFields = fields;
      e.values = new ValueIndexes(fields.map((f) => kept(f) ?? added.get(f)!));
      // Cached masks counted statistics for the old indexes; they are rebuilt on next use.
      e.masks.clear();
    });
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
    if (e.calibrating !== null) {
      e.calibrating.abort.abort(new Error('the collection was deleted'));
      await e.calibrating.done;
    }
    await e.lock.run(() => this.store.markDeleting(e.record.id));
    this.entries.delete(name);
    this.purge(e.record.id);
  }

  private readonly purges = new Map<number, Promise<void>>();
  private closing = false;

  /**
   * Removes a marked collection's rows in small transactions, yielding between
   * them: one large DELETE would hold the event loop for the whole collection.
   * Stops at shutdown; the next start-up resumes it.
   */
  private purge(id: number): void {
    if (this.purges.has(id)) return;
    const run = async () => {
      try {
        // Yield first: the entry must be in `purges` before the loop can end and remove it.
        for (;;) {
          await yieldToEventLoop();
          if (this.closing || this.store.deleteCollectionStep(id, PURGE_BATCH_ROWS)) break;
        }
      } catch (err) {
        this.log.error({ collectionId: id, err }, "removing a deleted collection's data failed; it resumes at the next start");
      } finally {
        this.purges.delete(id);
      }
    };
    this.purges.set(id, run());
  }

  async upsert(name: string, items: VectorInput[], signal?: AbortSignal): Promise<{ upserted: number }> {
    const e = this.entry(name);
    const { dimension: d, metric } = e.record;
    const ids = items.map((it) => it.id);
    admitUpsert(ids, this.limits);
    const data = packVectors(
      items.map((it) => it.vector),
      d,
      metric === 'cosine',
      (i) => `vectors[${i}].vector`,
    );
    return this.write(e, ids, data, metadataJson(items, this.limits), signal);
  }

  /** The binary upsert (services/vector-records.ts): ids and float32 vectors, no metadata. */
  async upsertRecords(name: string, body: Uint8Array, signal?: AbortSignal): Promise<{ upserted: number }> {
    const e = this.entry(name);
    const { dimension: d, metric } = e.record;
    const { ids, data } = parseVectorRecords(body, d, this.limits.maxVectorsPerRequest);
    admitUpsert(ids, this.limits, (i) => `record ${i}`);
    checkRows(data, ids.length, d, metric === 'cosine', (i) => `record ${i} (id '${ids[i]}')`);
    return this.write(e, ids, data, new Array<string | null>(ids.length).fill(null), signal);
  }

  /**
   * Writes checked rows (n × d float32, metadata as JSON text) under the
   * collection's lock: encoded in the pool when trained, committed in one
   * transaction, then appended to the index; acknowledged after the commit.
   */
  private write(e: Entry, ids: string[], data: Float32Array, metadata: (string | null)[], signal?: AbortSignal): Promise<{ upserted: number }> {
    const { dimension: d, metric, name } = e.record;
    const n = ids.length;
    const rows = ids.map((id, i) => ({ id, vector: data.subarray(i * d, (i + 1) * d), metadata: metadata[i] }));
    return e.lock.run(async () => {
      if (e.deleted) throw collectionNotFound(name);
      const codec = e.index.codec;
      let codes: Uint8Array | null = null;
      if (codec !== null) {
        codes = await this.pool.encode(codec.codec, metric === 'cosine' ? normalized(data, n, d) : data, n, signal);
      }
      const firstRow = e.index.rowCount;
      const replaced = this.store.upsertVectors(
        e.record.id,
        firstRow,
        rows,
        codec && codes && { codecId: codec.id, codeSize: codec.codec.codeSize, data: codes },
      );
      e.index.append(n, codes, replaced);
      e.record.nextRow += n;
      e.record.addedSinceTraining += n;
      if (e.values.fields.length > 0 || e.written !== null) {
        // The stored JSON, parsed: what a restart will index (a number JSON cannot hold is stored as null).
        for (let i = 0; i < n; i++) {
          if (metadata[i] === null) continue;
          const m: unknown = JSON.parse(metadata[i]!);
          e.values.add(firstRow + i, m);
          e.written?.push({ row: firstRow + i, metadata: m });
        }
      }
      this.maybeAutoTrain(e);
      this.maybeCalibrate(e);
      return { upserted: n };
    });
  }

  /** Starts a training job when the collection's autoTrain settings say it is due. */
  private maybeAutoTrain(e: Entry): void {
    if (e.deleted || e.job?.running) return;
    const live = e.index.liveCount;
    const { vectorsAtTraining, addedSinceTraining } = e.record;
    const state = { trained: e.index.codec !== null, live, vectorsAtTraining, addedSinceTraining, autoFailedAt: e.autoFailedAt };
    if (!autoTrainDue(e.record.autoTrain, state)) return;
    try {
      const job = this.startTraining(e, {}, 'auto');
      this.log.info({ collection: e.record.name, job: job.record.id, vectors: live }, 'automatic training started');
    } catch (err) {
      // Waiting for a free training slot is not a failure: the next finished job retries.
      if (err instanceof ApiError && err.status === 429) return;
      e.autoFailedAt = live;
      this.log.warn({ collection: e.record.name, err }, 'automatic training could not start');
    }
  }

  /**
   * Starts a calibration when the collection's target recall says one is due
   * (calibration.ts: calibrationDue), or restarts the running one when it
   * measures a codebook or target that are no longer the collection's.
   */
  private maybeCalibrate(e: Entry): void {
    if (e.deleted || this.closing) return;
    const target = e.record.targetRecall;
    const version = e.index.codec?.version ?? null;
    const running = e.calibrating?.calibration;
    if (running !== undefined) {
      const stale = target === null || running.codecVersion !== version || running.target.recall !== target.recall || running.target.k !== target.k;
      if (stale) this.startCalibration(e);
      return;
    }
    if (calibrationDue(target, e.record.calibration, { codecVersion: version, live: e.index.liveCount })) this.startCalibration(e);
  }

  /**
   * Measures the collection's search settings against its target recall in
   * the pool's background scope (requests' tasks go first) and stores the
   * result with the collection: its chosen setting becomes the query default
   * (calibration.ts). Until it finishes, the last finished calibration stays
   * in effect (GET shows the running one's progress); a failure keeps a
   * succeeded calibration of the same codebook and target. Aborted by a
   * newer calibration, the collection's deletion or shutdown (nothing stored:
   * the next start-up finds it due again).
   */
  private startCalibration(e: Entry): void {
    e.calibrating?.abort.abort(new Error('superseded by a newer calibration'));
    e.calibrating = null;
    const target = e.record.targetRecall;
    const codec = e.index.codec;
    if (target === null || codec === null || e.deleted || this.closing) return;
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    const { signal } = abort;
    const nlist = codec.codec.nlist;
    const { k } = target;
    const required = requiredRecall(target.recall);
    const grid = calibrationGrid(nlist, k, { maxRerank: this.limits.maxRerank, maxCandidates: this.limits.maxCandidates });
    const c = newCalibration(target, codec.version, e.index.liveCount, required);
    const { dimension: d } = e.record;
    const deps: CalibrationDeps = {
      storedQueries: (count) => this.storedQueries(e, { sampleSize: count }, signal),
      exact: (q, nq) =>
        this.pool.exactSearch({
          source: this.source(e),
          rows: e.index.rowCount,
          metric: searchMetric(e.record.metric),
          queries: q,
          nq,
          k: k + 1,
          signal,
        }),
      // Chunks of queries bound a re-ranking's reads; no batching with requests' queries.
      search: async (q, nq, setting) => {
        const found: Neighbours[] = [];
        for (let q0 = 0; q0 < nq; q0 += CALIBRATION_CHUNK) {
          const n = Math.min(CALIBRATION_CHUNK, nq - q0);
          const options = { k: k + 1, rerank: setting.rerank, nprobe: setting.nprobe ?? undefined, signal };
          found.push(...(await this.search(e, q.subarray(q0 * d, (q0 + n) * d), n, options, undefined, false)).found);
        }
        return found;
      },
    };
    const finished = (outcome: Calibration) => {
      if (e.deleted || this.closing) return;
      const last = e.record.calibration;
      const keep = outcome.state === 'failed' && last?.state === 'succeeded' && calibratedDefaults(last, outcome.codecVersion) !== null;
      if (keep) return;
      e.record.calibration = outcome;
      this.store.setCalibration(e.record.id, outcome);
    };
    const done = inBackground(() => runCalibration(c, grid, baselineSetting(nlist), deps))
      .then(
        () => {
          finished(c);
          this.log.info({ collection: e.record.name, calibration: { met: c.met, chosen: c.chosen } }, 'calibration finished');
        },
        (err: unknown) => {
          if (signal.aborted) return; // superseded, deleted or shutting down: nothing to store
          Object.assign(c, { state: 'failed', error: err instanceof Error ? err.message : String(err), finishedAt: new Date().toISOString() });
          this.log.warn({ collection: e.record.name, err }, 'calibration failed');
          finished(c);
        },
      )
      .catch((err: unknown) => this.log.error({ collection: e.record.name, err }, 'calibration could not be stored'))
      .finally(() => {
        if (e.calibrating?.abort !== abort) return;
        e.calibrating = null;
        // Settings that changed while it ran (a new codebook, a new target) call for another.
        if (!signal.aborted) this.maybeCalibrate(e);
      });
    e.calibrating = { abort, done, calibration: c };
  }

  /** Stored vectors drawn as queries (seeded; EVALUATE_DEFAULTS.sampleSize unless given), read by a worker: the vectors and their rows. */
  private async storedQueries(e: Entry, options: EvaluateOptions, signal?: AbortSignal): Promise<{ q: Float32Array; nq: number; self: Int32Array }> {
    const rows = e.index.rowCount;
    const live = e.index.liveRowsBelow(rows);
    if (live.length < 2)
      throw new ApiError(422, 'insufficient_data', `collection '${e.record.name}' needs at least 2 vectors to draw sample queries`);
    const picked = sampleQueryRows(live, options);
    const read = await this.pool.readRows({ ...this.source(e), rows: picked, start: 0, end: rows }, signal);
    return { q: read.data, nq: read.rows.length, self: read.rows };
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
   * the workers, then (rerank > 0) exact distances for the best k × rerank
   * candidates, read from SQLite. Untrained: exact search over the stored vectors.
   * A filter removes non-matching rows from the scan itself.
   */
  async query(name: string, queries: number[][], requested: SearchOptions): Promise<QueryAnswer> {
    const e = this.entry(name);
    const { dimension: d, metric } = e.record;
    const cosine = metric === 'cosine';
    const many = queries.length > 1;
    const { options, warnings: settingWarnings } = this.searchSetting(e, requested, queries.length);
    admitSearch(this.limits, this.searchState(e), queries.length, options.k, options.rerank ?? DEFAULT_RERANK);
    let q = packVectors(queries, d, cosine, (i) => (many ? `vectors[${i}]` : 'vector'));
    if (cosine) q = normalized(q, queries.length, d);
    const kind = searchMetric(metric);
    // The workers that finish the queries look up the hits' ids and metadata where they can.
    const records = { dbPath: this.dbPath, collectionId: e.record.id };
    const { found, explain, warnings } = await this.search(e, q, queries.length, options, records);
    return { results: found.map((r) => this.hits(e, r, kind)), warnings: [...settingWarnings, ...warnings], explain };
  }

  /**
   * The rerank and nprobe a search uses: the request's own; else, for a
   * request's targetRecall, the cheapest calibrated setting that reaches it
   * (422 without a current calibration; the closest, with a warning, when none
   * does); else the calibration's chosen setting while its codec is active.
   * A calibrated rerank is lowered to what this request's limits allow (its k
   * and number of queries may be larger than the calibration's).
   */
  private searchSetting(e: Entry, requested: SearchOptions, nq: number): { options: SearchOptions; warnings: string[] } {
    const version = e.index.codec?.version ?? null;
    if (requested.targetRecall !== undefined) {
      if (requested.rerank !== undefined || requested.nprobe !== undefined) throw badRequest('give targetRecall or rerank / nprobe, not both');
      const resolved = settingForTarget(e.record.calibration, version, requested.targetRecall);
      if (resolved === null) {
        throw new ApiError(
          422,
          'not_calibrated',
          `collection '${e.record.name}' has no calibration for its current codebook: set targetRecall on the collection and wait for its calibration to succeed`,
        );
      }
      const { setting, warning } = resolved;
      return { options: { ...requested, rerank: setting.rerank, nprobe: setting.nprobe ?? undefined }, warnings: warning === null ? [] : [warning] };
    }
    const defaults = calibratedDefaults(e.record.calibration, version);
    if (defaults === null) return { options: requested, warnings: [] };
    const { maxRerank, maxCandidates } = this.limits;
    const allowed = Math.max(0, Math.min(defaults.rerank, maxRerank, Math.floor(maxCandidates / (requested.k * nq))));
    return {
      options: { ...requested, rerank: requested.rerank ?? allowed, nprobe: requested.nprobe ?? defaults.nprobe ?? undefined },
      warnings: [],
    };
  }

  /** Search of nq prepared queries (unit length for cosine): row numbers and internal distances, and how it went. */
  private async search(
    e: Entry,
    q: Float32Array,
    nq: number,
    options: SearchOptions,
    /** Where the pool may look up the results' stored records (query); undefined: row numbers only (evaluate). */
    records?: RecordSource,
    /** Unfiltered queries may share a scan with other requests' (false: a calibration's measured searches). */
    batch = true,
  ): Promise<{ found: Neighbours[]; explain: SearchExplain; warnings: string[] }> {
    const { index } = e;
    const { signal } = options;
    const kind = searchMetric(e.record.metric);
    const filter = options.filter === undefined ? null : compileFilter(options.filter);
    const match = filter === null ? null : await e.masks.mask(filter, index.rowCount);
    const warnings = match?.warnings ?? [];
    // From here to the pool calls nothing is awaited: rows, codec, codes, lists
    // and the skip map are one consistent state of the index, even if a
    // training switched the codec while the mask was being computed.
    const rows = index.rowCount;
    const codec = index.codec;
    const codes = index.codes;
    const lists = index.lists?.view() ?? null;
    const live = index.liveCount;
    const skipped = match === null ? { skip: index.dead, eligible: live } : match.skipFor(index.dead, index.deadChanges, rows);
    const { skip, eligible } = skipped;
    const c = codec?.codec ?? null;
    const { k } = options;
    const rerank = options.rerank ?? DEFAULT_RERANK;
    const candidates = rerank > 0 ? k * rerank : k;
    const plan = planSearch({
      index: c === null ? 'exact' : c.kind,
      rows,
      live,
      eligible,
      filtered: match !== null,
      nlist: c?.nlist ?? undefined,
      nprobe: options.nprobe,
      candidates,
      maxExactRows: Math.floor(this.limits.maxCandidates / nq),
      cellWork: c?.kind === 'ivf' ? c.cellWork : undefined,
    });
    const indexed = filter === null ? null : indexedLeaves(filter.root, e.values);
    const explain: SearchExplain = {
      ...plan,
      eligible,
      live,
      conditions: indexed?.length ?? null,
      indexedConditions: indexed?.filter(Boolean).length ?? null,
    };
    const t0 = performance.now();
    if (c === null) {
      const exact = await this.pool.exactSearch({ source: this.source(e), rows, metric: kind, queries: q, nq, k, skip, signal });
      this.observer?.searched({ index: 'exact', scanSeconds: (performance.now() - t0) / 1000, reranked: false });
      return { found: exact, explain, warnings };
    }
    if (plan.strategy === 'exact-rows') {
      // exact-rows is only planned for a filter: every query's candidates are its eligible rows.
      const ids = Float64Array.from(match!.rowsFor(skipped));
      const none = new Float64Array(ids.length);
      const all = Array.from({ length: nq }, () => ({ ids, dist: none }));
      const found = await this.pool.rerank({ source: this.source(e), metric: kind, queries: q, nq, candidates: all, k, records, signal });
      this.observer?.searched({ index: 'exact', scanSeconds: (performance.now() - t0) / 1000, reranked: false });
      return { found, explain, warnings };
    }
    // Unfiltered queries of this index state may share a scan with other requests'.
    const batchKey = match === null && batch ? { index, rows } : null;
    // Re-ranked by the pool, in the scanning task where it can (one round trip).
    const reranked = rerank > 0 ? { ...this.source(e), k } : undefined;
    const found =
      c.kind === 'ivf'
        ? await this.scans.ivfSearch(
            {
              codec: c,
              lists: lists!,
              dead: skip,
              metric: kind,
              queries: q,
              nq,
              k: candidates,
              nprobe: plan.nprobe!,
              mode: plan.strategy === 'ivf-rows' ? 'rows' : 'probe',
              // ivf-rows is only planned for a filter: its eligible slots are cached with the filter's skip map.
              eligible: plan.strategy === 'ivf-rows' ? match!.slotsFor(skipped, lists!, index.lists!, index.lists!.layout) : undefined,
              target: plan.target ?? undefined,
              skipFirst: plan.skipFirst,
              rerank: reranked,
              records,
              signal,
            },
            batchKey,
          )
        : await this.scans.search(
            {
              codec: c,
              codes: codes!,
              dead: skip,
              rows,
              metric: kind,
              queries: q,
              nq,
              k: candidates,
              skipFirst: plan.skipFirst,
              // flat-rows is only planned for a filter: its eligible rows are cached with the filter's skip map.
              eligible: plan.strategy === 'flat-rows' ? match!.rowsFor(skipped) : undefined,
              rerank: reranked,
              records,
              signal,
            },
            batchKey,
          );
    this.observer?.searched({ index: c.kind, scanSeconds: (performance.now() - t0) / 1000, reranked: rerank > 0 });
    return { found, explain, warnings };
  }

  /**
   * Measures the index against exact search: sample queries drawn from the stored
   * vectors (each left out of its own results) or given ones; recall@1,
   * k-recall@k, the codec's relative MSE on the query vectors, ms per query.
   */
  async evaluate(name: string, options: EvaluateOptions): Promise<EvaluateReport> {
    const e = this.entry(name);
    const { index } = e;
    const codec = index.codec;
    if (codec === null) throw new ApiError(409, 'not_trained', `collection '${name}' is not trained yet: there is no index to evaluate`);
    const { dimension: d, metric } = e.record;
    const k = options.k ?? EVALUATE_DEFAULTS.k;
    const { signal } = options;
    const nRequested = evaluationQueryCount(options, index.liveCount);
    // What queries use: the request's settings, else the calibrated ones, else the service's.
    const { options: setting } = this.searchSetting(e, { k, rerank: options.rerank, nprobe: options.nprobe }, nRequested);
    const rerank = setting.rerank ?? DEFAULT_RERANK;
    const { nprobe } = setting;
    admitSearch(this.limits, this.searchState(e), nRequested, k, rerank, true);
    let q: Float32Array;
    let self: Int32Array | null = null;
    if (options.queries !== undefined) {
      q = packVectors(options.queries, d, metric === 'cosine', (i) => `queries[${i}]`);
      if (metric === 'cosine') q = normalized(q, options.queries.length, d);
    } else {
      ({ q, self } = await this.storedQueries(e, options, signal));
    }
    const nq = q.length / d;
    const extra = self === null ? 0 : 1;
    const t0 = performance.now();
    const exact = await this.pool.exactSearch({
      source: this.source(e),
      rows: index.rowCount,
      metric: searchMetric(metric),
      queries: q,
      nq,
      k: k + extra,
      signal,
    });
    const t1 = performance.now();
    const { found: approx } = await this.search(e, q, nq, { k: k + extra, rerank, nprobe, signal });
    const t2 = performance.now();
    const { recall1, recallAtK } = recallAgainstExact(exact, approx, self, k);
    const err = await this.pool.codecError(codec.codec, q, nq, signal);
    return {
      codecVersion: codec.version,
      queries: nq,
      k,
      rerank,
      nprobe: codec.codec.nlist === null ? null : effectiveNprobe(codec.codec.nlist, nprobe),
      recall1,
      recallAtK,
      relativeMse: err.normSum > 0 ? err.errorSum / err.normSum : 0,
      msPerQuery: { index: (t2 - t1) / nq, exact: (t1 - t0) / nq },
    };
  }

  /** A query's results as hits: external id, user-facing distance, metadata (rows deleted since the scan left out). */
  private hits(e: Entry, r: Neighbours, kind: 'l2' | 'ip'): Hit[] {
    const build = (recordAt: (i: number) => [string, string | null] | undefined): Hit[] => {
      const out: Hit[] = [];
      for (let i = 0; i < r.ids.length; i++) {
        const record = recordAt(i);
        if (record === undefined) continue; // deleted since the scan
        out.push({ id: record[0], distance: kind === 'l2' ? r.dist[i] : -r.dist[i], metadata: record[1] === null ? null : JSON.parse(record[1]) });
      }
      return out;
    };
    const { records } = r;
    // Looked up by the worker that finished the query, or here in one read snapshot.
    if (records !== undefined) return build((i) => (records.external[i] === null ? undefined : [records.external[i]!, records.metadata[i]]));
    return this.store.reading(() => build((i) => this.store.rowInfo(e.record.id, r.ids[i])));
  }

  /** Starts a training job (202); one at a time per collection. */
  train(name: string, params: TrainParams): JobView {
    const e = this.entry(name);
    return this.jobView(e, this.startTraining(e, params, 'request').record);
  }

  private startTraining(e: Entry, params: TrainParams, trigger: 'request' | 'auto'): TrainingJob {
    const name = e.record.name;
    if (e.job?.running) {
      throw new ApiError(409, 'training_in_progress', `collection '${name}' is already training (job ${e.job.record.id})`, {
        job: e.job.record.id,
      });
    }
    const { type, m, beam } = e.record.quantizer;
    const live = e.index.liveCount;
    const { nbits, nlist, sampleCap, notes } = planTraining({
      name,
      dimension: e.record.dimension,
      quantizer: e.record.quantizer,
      live,
      sampleSize: params.sampleSize,
      limits: this.limits,
    });
    const { maxTrainingJobs } = this.limits;
    const running = this.runningJobs();
    if (running >= maxTrainingJobs)
      throw limitExceeded(429, 'maxTrainingJobs', maxTrainingJobs, running + 1, 'the number of training jobs running at once');
    const record = this.store.createJob(randomUUID(), e.record.id, 'train', { ...params, trigger });
    e.job = new TrainingJob(
      record,
      this.store,
      this.pool,
      {
        collectionId: e.record.id,
        type,
        m,
        nbits,
        beam,
        norms: keepsNorms(e.record.metric),
        nlist,
        sampleCap,
        index: e.index,
        source: this.source(e),
        switchTo: (trained, signal) => this.switchCodec(e, trained, signal),
      },
      params,
      notes,
      this.log,
    );
    const job = e.job;
    void job.done.then(() => {
      if (trigger === 'auto') e.autoFailedAt = job.record.state === 'failed' && job.record.error?.code !== 'cancelled' ? live : null;
      // Writes that arrived during training may have made the next one due already; the new codec needs its calibration.
      if (job.record.state === 'succeeded') {
        this.maybeAutoTrain(e);
        this.maybeCalibrate(e);
      }
      const { state, error, startedAt, finishedAt } = job.record;
      const seconds = startedAt !== null && finishedAt !== null ? (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 : 0;
      this.observer?.trainingFinished({ state: state === 'succeeded' ? 'succeeded' : error?.code === 'cancelled' ? 'cancelled' : 'failed', seconds });
      // A slot under MAX_TRAINING_JOBS is free: automatic trainings that had to wait for one may start.
      for (const other of this.entries.values()) if (other !== e) this.maybeAutoTrain(other);
    });
    return job;
  }

  /**
   * The one place a collection switches codec. Under the collection's write
   * lock: rows written since the training's snapshot are encoded too, then one
   * transaction makes the new codec active (and drops the old one with its
   * codes), then the in-memory index and the record follow. A cancellation
   * before the transaction leaves the old codec in charge.
   */
  private switchCodec(e: Entry, trained: TrainedCodec, signal: AbortSignal): Promise<{ relativeMse: number; encodedVectors: number }> {
    return e.lock.run(async () => {
      if (signal.aborted) throw signal.reason;
      const { index } = e;
      const { codec, stored, snapshot, totals } = trained;
      const size = codec.codeSize;
      let { codes } = trained;
      const end = index.rowCount;
      if (end > snapshot) {
        if (codes.length < end * size) {
          const grown = CollectionIndex.codesBuffer(end, codec);
          grown.set(codes.subarray(0, snapshot * size));
          codes = grown;
        }
        const late = await this.pool.encodeRange(this.source(e), codec, snapshot, end, codes.subarray(snapshot * size, end * size), { signal });
        totals.errorSum += late.errorSum;
        totals.normSum += late.normSum;
        await persistCodes(this.store, stored.id, size, snapshot, codes.subarray(snapshot * size, end * size), signal);
      }
      if (signal.aborted) throw signal.reason;
      const relativeMse = totals.normSum > 0 ? totals.errorSum / totals.normSum : 0;
      const counts = { addedSinceTraining: end - snapshot, vectorsAtTraining: index.liveCount };
      this.store.activateCodec(e.record.id, stored.id, index.codec?.id ?? null, counts, relativeMse);
      index.activate({ id: stored.id, version: stored.version, codec }, codes);
      e.record.activeCodecId = stored.id;
      e.record.addedSinceTraining = counts.addedSinceTraining;
      e.record.vectorsAtTraining = counts.vectorsAtTraining;
      e.codecInfo = { relativeMse, trainedAt: stored.createdAt };
      return { relativeMse, encodedVectors: totals.count };
    });
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
    this.closing = true;
    const pending: Promise<unknown>[] = [...this.purges.values()];
    for (const e of this.entries.values()) {
      if (e.job?.running) {
        e.job.cancel('the service is shutting down');
        pending.push(e.job.done);
      }
      if (e.calibrating !== null) {
        e.calibrating.abort.abort(new Error('the service is shutting down'));
        pending.push(e.calibrating.done);
      }
      pending.push(
        e.lock.run(() => undefined),
        e.indexing.run(() => undefined),
      );
    }
    await Promise.all(pending);
  }
}

/** A unit-length copy of n rows (the stored vectors keep the values the user sent). */
function normalized(data: Float32Array, n: number, d: number): Float32Array {
  return normalizeRows(data.slice(0, n * d), n, d);
}
