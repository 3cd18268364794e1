/**
 * A training job: trains a new codec on stored vectors and switches the
 * collection to it atomically, while queries and writes go on under the old one.
 *
 * Phases (progress): reading 0–0.05 → training 0.05–0.8 → encoding 0.8–0.97 →
 * switching 0.97–1.
 * - reading: a sample of the live rows that exist when the job starts (the
 *   snapshot) is read from SQLite by a worker.
 * - training: for IVF the coarse k-means first (residuals feed the rest), for
 *   OPQ a rotation (on a sub-sample), then the product quantizer's sub-spaces
 *   in parallel in the pool.
 * - encoding: every snapshot row is re-encoded by the workers (reading SQLite),
 *   and the codes are written under the new codec, which is not active yet.
 * - switching: under the collection's write lock, rows written since the
 *   snapshot are encoded too, then one transaction activates the new codec and
 *   drops the old one, and the in-memory index swaps to the new codes.
 * A failure or cancellation before the switch deletes the new codec and leaves
 * the old one untouched.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Rng, sampleIndices } from '../core/rng.js';
import { serializeCodec } from '../core/serialize.js';
import { trainCodec } from '../core/train.js';
import type { Codec, QuantizerType } from '../core/codec.js';
import { CollectionIndex } from '../index/collection-index.js';
import { type ComputePool, type VectorSource, inBackground } from '../pool/compute-pool.js';
import { SEGMENT_ROWS, type JobRecord, type Store } from '../store/store.js';
import type { Logger } from './logger.js';
import { JOB_PROGRESS, KMEANS_DEFAULTS, PERSIST_EVERY_MS } from '../tunables.js';

export interface TrainParams {
  /** Vectors to train on; default and maximum 256 × 2^nbits (what k-means uses). */
  sampleSize?: number;
  /** Lloyd iterations per sub-space (at most). */
  iterations?: number;
  /** OPQ: alternations of PQ training and rotation updates after the start rotation. */
  opqIterations?: number;
  /** IVF: Lloyd iterations of the coarse k-means (at most). */
  coarseIterations?: number;
  seed?: number;
}

export interface TrainTarget {
  collectionId: number;
  type: QuantizerType;
  m: number;
  nbits: number;
  /** rq: the encoding beam. */
  beam?: number;
  /** rq: keep each code's reconstruction norm (L2 search needs it; inner product and cosine do not). */
  norms: boolean;
  /** IVF cells, or null for a flat index. */
  nlist: number | null;
  /** Most rows the training sample may hold: 256 per centroid (what k-means uses), lowered to fit MAX_TRAINING_SAMPLE_MB. */
  sampleCap: number;
  /** Read only: the rows that exist when the job starts (the snapshot). */
  index: CollectionIndex;
  source: VectorSource;
  /**
   * Switches the collection to the trained codec: the service, the one place a
   * collection changes state, encodes the rows written since the snapshot and
   * activates it atomically. Returns what the result reports.
   */
  switchTo(trained: TrainedCodec, signal: AbortSignal): Promise<{ relativeMse: number; encodedVectors: number }>;
}

/** What a training job hands to the switch: the new codec, stored but not active, and the codes of the snapshot's rows. */
export interface TrainedCodec {
  codec: Codec;
  stored: { id: number; version: number; createdAt: string };
  /** Codes of rows [0, snapshot), in a buffer with room to grow. */
  codes: Uint8Array;
  snapshot: number;
  /** Encoding totals over the snapshot's rows. */
  totals: { count: number; errorSum: number; normSum: number };
  trainVectors: number;
  trainSeconds: number;
}

/**
 * Writes codes (codeSize bytes per row) under a codec in transactions of 64
 * segments, yielding between them so requests keep flowing; stops when aborted.
 */
export async function persistCodes(
  store: Store,
  codecId: number,
  codeSize: number,
  firstRow: number,
  codes: Uint8Array,
  signal: AbortSignal,
): Promise<void> {
  const rowsPerTx = 64 * SEGMENT_ROWS;
  const n = codes.length / codeSize;
  for (let s = 0; s < n; s += rowsPerTx) {
    if (signal.aborted) throw signal.reason;
    const e = Math.min(n, s + rowsPerTx);
    store.appendCodes(codecId, codeSize, firstRow + s, codes.subarray(s * codeSize, e * codeSize));
    await yieldToEventLoop();
  }
}

export class TrainingJob {
  readonly abort = new AbortController();
  readonly done: Promise<void>;
  private lastSaved = 0;
  private phaseStarted: number | null = null;
  private readonly phaseSeconds: Record<string, number> = {};
  /** Most anonymous + shared memory seen at a progress save (null where /proc is missing). */
  private peakAnonymous: number | null = null;

  constructor(
    readonly record: JobRecord,
    private readonly store: Store,
    private readonly pool: ComputePool,
    private readonly target: TrainTarget,
    private readonly params: TrainParams,
    /** Notes for the job's result (e.g. settings the service lowered). */
    private readonly notes: string[],
    private readonly log: Logger,
  ) {
    // Every pool task of the job listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    // Every pool task of the job (its sample read included) queues behind requests' tasks.
    this.done = inBackground(() => this.run());
  }

  get running(): boolean {
    return this.record.state === 'queued' || this.record.state === 'running';
  }

  cancel(reason: string): void {
    this.abort.abort(new Error(reason));
  }

  private progress(phase: string, progress: number, force = false): void {
    if (phase !== this.record.phase) {
      const t = performance.now();
      if (this.phaseStarted !== null) this.phaseSeconds[this.record.phase] = (t - this.phaseStarted) / 1000;
      this.phaseStarted = t;
      this.log.info(
        { job: this.record.id, collectionId: this.target.collectionId, phase, progress: Math.round(progress * 100) / 100 },
        'training progress',
      );
    }
    this.record.phase = phase;
    this.record.progress = Math.min(1, Math.max(this.record.progress, progress));
    const t = Date.now();
    if (force || t - this.lastSaved >= PERSIST_EVERY_MS) {
      this.lastSaved = t;
      const held = anonymousBytes();
      if (held !== null) this.peakAnonymous = Math.max(this.peakAnonymous ?? 0, held);
      this.store.saveJob(this.record);
    }
  }

  private checkAborted(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    const { store, pool, target } = this;
    const signal = this.abort.signal;
    let codecId: number | null = null;
    let activated = false;
    this.record.state = 'running';
    this.record.startedAt = new Date().toISOString();
    this.progress('reading', 0, true);
    try {
      const { index, m, nbits, nlist, source } = target;
      const warnings: string[] = [...this.notes];
      const snapshot = index.rowCount;
      const live = index.liveRowsBelow(snapshot);
      const cap = target.sampleCap;
      let sampleSize = Math.min(this.params.sampleSize ?? cap, live.length);
      if (sampleSize > cap) {
        warnings.push(
          `sampleSize ${sampleSize} lowered to ${cap}: k-means uses at most ${KMEANS_DEFAULTS.maxPointsPerCentroid} vectors per centroid, and the sample must fit MAX_TRAINING_SAMPLE_MB`,
        );
        sampleSize = cap;
      }
      const seed = this.params.seed ?? KMEANS_DEFAULTS.seed;
      const rows = sampleSize === live.length ? null : Int32Array.from(sampleIndices(live.length, sampleSize, new Rng(seed)), (i) => live[i]);
      const sample = await pool.readRows({ ...source, rows, start: 0, end: snapshot }, signal);
      this.checkAborted();

      this.progress('training', JOB_PROGRESS.training, true);
      const { codec: trained, report } = await trainCodec(
        sample.data,
        sample.n,
        source.d,
        { type: target.type, m, nbits, nlist, beam: target.beam, norms: target.norms },
        {
          iterations: this.params.iterations,
          seed,
          rotation: { iterations: this.params.opqIterations, seed },
          coarseIterations: this.params.coarseIterations,
        },
        pool.trainCompute(signal),
        (fraction) => this.progress('training', JOB_PROGRESS.training + (JOB_PROGRESS.encoding - JOB_PROGRESS.training) * fraction),
      );
      warnings.push(...report.warnings);
      this.checkAborted();

      this.progress('encoding', JOB_PROGRESS.encoding, true);
      const trainSeconds = (performance.now() - started) / 1000;
      const codec = store.insertCodec(target.collectionId, serializeCodec(trained), { relativeMse: null, trainVectors: sample.n, trainSeconds });
      codecId = codec.id;
      const size = trained.codeSize;
      const codes = CollectionIndex.codesBuffer(snapshot, trained);
      const totals = await pool.encodeRange(source, trained, 0, snapshot, codes.subarray(0, snapshot * size), {
        signal,
        onProgress: (done) =>
          this.progress('encoding', JOB_PROGRESS.encoding + ((JOB_PROGRESS.encodingEnd - JOB_PROGRESS.encoding) * done) / Math.max(1, snapshot)),
      });
      await persistCodes(store, codec.id, size, 0, codes.subarray(0, snapshot * size), signal);

      this.progress('switching', JOB_PROGRESS.switching, true);
      const switched = await target.switchTo(
        { codec: trained, stored: codec, codes, snapshot, totals, trainVectors: sample.n, trainSeconds },
        signal,
      );
      activated = true;
      this.record.result = {
        codecVersion: codec.version,
        relativeMse: switched.relativeMse,
        trainVectors: sample.n,
        encodedVectors: switched.encodedVectors,
        seconds: (performance.now() - started) / 1000,
        phaseSeconds: this.phaseSeconds,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        ...(this.peakAnonymous === null ? {} : { peakAnonymousBytes: this.peakAnonymous }),
        warnings,
      };
      this.record.state = 'succeeded';
      this.record.finishedAt = new Date().toISOString();
      this.progress('done', 1, true);
      this.log.info({ job: this.record.id, result: this.record.result }, 'training succeeded');
    } catch (err) {
      const cancelled = signal.aborted;
      const message = cancelled ? String((signal.reason as Error)?.message ?? signal.reason) : err instanceof Error ? err.message : String(err);
      // A codec the switch made active stays, even if something failed after its transaction.
      if (codecId !== null && !activated && store.collectionById(target.collectionId)?.activeCodecId !== codecId) {
        try {
          store.deleteCodec(codecId);
        } catch (cleanup) {
          // The collection (and with it the codec) may be gone already; an orphan codec is deleted at the next start.
          this.log.warn({ job: this.record.id, err: cleanup }, 'could not delete the unfinished codec');
        }
      }
      this.record.state = 'failed';
      this.record.error = { code: cancelled ? 'cancelled' : 'training_failed', message };
      this.record.finishedAt = new Date().toISOString();
      try {
        this.progress(this.record.phase, this.record.progress, true);
      } catch (save) {
        // The job row is gone when its collection was deleted.
        this.log.warn({ job: this.record.id, err: save }, "could not save the job's final state");
      }
      if (!cancelled) this.log.error({ job: this.record.id, err }, 'training failed');
    }
  }
}

/**
 * The process's anonymous + shared resident memory (Linux: RssAnon + RssShmem
 * of /proc/self/status, bytes): what it holds itself, without the file pages
 * maxRSS also counts (the database mapped by the readers); null elsewhere.
 */
function anonymousBytes(): number | null {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
    const total = kb('RssAnon') + kb('RssShmem');
    return Number.isFinite(total) ? total * 1024 : null;
  } catch {
    return null;
  }
}
