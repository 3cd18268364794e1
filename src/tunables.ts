/**
 * Every tunable of pqvec in one place: the API's hard ceilings, the training
 * defaults, the automatic choices, and the sizes of work units and buffers.
 * Pure constants (no imports), so the core, the workers, the services and the
 * HTTP schemas all read the same numbers; the schemas' bounds and the error
 * messages quote these, never a copied literal. Configurable limits (config.ts,
 * MAX_* environment variables) may only lower the hard ceilings.
 */

// ---------------------------------------------------------------------------
// Hard ceilings of the API
// ---------------------------------------------------------------------------

/**
 * Hard ceilings of the API: the schemas refuse anything above them, and the
 * configurable limits (config.ts, MAX_* variables) may only lower them.
 */
export const HARD_LIMITS = {
  /** Largest vector dimension. */
  maxDimension: 16_384,
  /** Largest k of a query. */
  maxK: 1_000,
  /** Most queries in one request. */
  maxQueries: 1_000,
  /** Most vectors in one upsert request (the body limit usually binds first). */
  maxBatch: 100_000,
  /** Longest vector id, in characters. */
  maxIdLength: 512,
  /** Largest metadata object, as JSON, in bytes. */
  maxMetadataBytes: 65_536,
  /** Largest re-ranking factor. */
  maxRerank: 100,
  /** Deepest nesting of a metadata value (an object or array inside another counts one level). */
  maxMetadataDepth: 32,
  /** Most conditions in one filter (each operator on a field counts one). */
  maxFilterFields: 64,
  /** Deepest nesting of and / or / not in one filter. */
  maxFilterDepth: 16,
  /** Most values in one in / nin list. */
  maxFilterValues: 1_000,
  /** Most indexed metadata fields per collection (each costs ~12 bytes per value held in memory, and time on every upsert). */
  maxIndexedFields: 16,
  /** Most IVF cells: a code's cell is stored in two bytes in front of it (codec.LIST_ID_BYTES). */
  maxNlist: 65_536,
  /** Most bits per sub-quantizer code: one byte per code. */
  maxNbits: 8,
} as const;

/**
 * Largest |value| of a vector component. Distance tables and kernels hold
 * squared distances in float32: with |x| ≤ 1e16 and dimension ≤ 16,384,
 * d · (2 · 1e16)² ≈ 6.6e36 stays below float32's 3.4e38, so no distance
 * overflows to Infinity (which would drop every candidate from the scan).
 */
export const MAX_ABS_VALUE = 1e16;

// ---------------------------------------------------------------------------
// Training defaults
// ---------------------------------------------------------------------------

/**
 * k-means defaults (FAISS's): iterations, seed, and the sample it trains on:
 * at most maxPointsPerCentroid rows per centroid (a larger sample buys nothing
 * measurable), and a warning below minPointsPerCentroid.
 */
export const KMEANS_DEFAULTS = {
  maxIterations: 50,
  seed: 1234,
  maxPointsPerCentroid: 256,
  minPointsPerCentroid: 39,
} as const;

/** Lloyd iterations of the coarse (IVF) k-means (FAISS: 25 for its IVF clustering, where it stops without converging). */
export const COARSE_ITERATIONS = 25;

/** OPQ rotation training: alternations of rotation and PQ updates, their sample, PQ iterations per alternation. */
export const ROTATION_DEFAULTS = { iterations: 8, sampleSize: 8192, pqIterations: 4, seed: 1234 } as const;

/** Sub-spaces wider than this many dimensions get WIDE_ROTATION_DEFAULTS. */
export const WIDE_SUBSPACE = 64;

/**
 * Wide sub-spaces (M = 8 at d = 784: 98 dimensions) need more: k-means in 98
 * dimensions overfits 32 rows per centroid, and the rotation keeps improving for
 * longer. The identity start reaches a low error quickly but ranks worse (error
 * piled into a few sub-spaces: OPQ8 on Fashion-MNIST stalls at 10-recall@10 0.455
 * with relative MSE 0.0589); the parametric start balances the sub-spaces and
 * needs many cheap updates: 80 Lloyd updates on 32,768 rows reach 0.477 at
 * 0.0624 in 534 s on 2 cores (FAISS's OPQ8: 0.462 at 0.0626 in 632 s, see README).
 */
export const WIDE_ROTATION_DEFAULTS = { iterations: 80, sampleSize: 32768, pqStep: 'lloyd', start: 'parametric' } as const;

/**
 * Where a training job's progress fraction stands after each step: the coarse
 * k-means, then the residuals (IVF only); of what follows, the rotation's share
 * (OPQ only), then the product quantizer's sub-spaces.
 */
export const TRAIN_PROGRESS = { coarseTrained: 0.25, residualsDone: 0.3, rotationShare: 0.6 } as const;

/**
 * LOPQ (lopq.ts): per-cell rotations.
 * - minCellRows: cells with fewer rows keep the global (IVF + OPQ) rotation.
 * - shrinkageRows: a cell's covariance is shrunk toward that of all residuals
 *   as if the latter were this many more rows (a cell of 234 rows in 784
 *   dimensions estimates a covariance of 307,000 entries; the prior keeps the
 *   directions its rows cannot see where the global rotation put them); the same
 *   weight pulls each update toward the rotation it starts from.
 * - iterations: non-parametric update rounds after the parametric start.
 * - priorSampleSize: rows the prior covariance is estimated on.
 * - maxRotationBytes: memory budget for the cells' rotations (d² float32 each;
 *   768 MiB holds 326 at d = 784 beside 256 coarse centroids and a codebook);
 *   past it the smallest cells keep the global one. The budget bounds the whole
 *   codec, which the main thread and every searching worker hold (a searching
 *   thread also holds the rotations packed for its kernel), so the coarse
 *   centroids and the codebook count toward it. (Storage has no such bound:
 *   codecs are stored in parts, store.ts.)
 */
export const LOPQ_DEFAULTS = {
  minCellRows: 64,
  shrinkageRows: 256,
  iterations: 1,
  priorSampleSize: 16384,
  maxRotationBytes: 768 * 2 ** 20,
} as const;

/**
 * A training job's progress at the start of each phase: reading the sample
 * (from 0), training (TRAIN_PROGRESS spread over [training, encoding)),
 * encoding the snapshot's rows (up to encodingEnd), switching codecs, done (1).
 */
export const JOB_PROGRESS = { training: 0.05, encoding: 0.8, encodingEnd: 0.95, switching: 0.97 } as const;

// ---------------------------------------------------------------------------
// Automatic choices (what the service picks when the user leaves it open)
// ---------------------------------------------------------------------------

export const AUTO = {
  /** Default m: one code byte per this many dimensions… */
  dimensionsPerCodeByte: 8,
  /** …but at most this many sub-spaces. */
  maxDefaultM: 64,
  /** Default nprobe: nlist / nprobeDivisor, rounded up… */
  nprobeDivisor: 16,
  /** …and at least this many cells (capped at nlist). */
  minNprobe: 8,
  /** Automatic nlist: the power of two at or below cellsPerSqrtN · √n (the low end of FAISS's guideline)… */
  cellsPerSqrtN: 4,
  /**
   * …and at most this many cells, for the training time: the coarse k-means on
   * 256 vectors per cell, then assigning every vector to a cell, grow with nlist
   * (measured, 128-d seeded mixture, 25 iterations on one core: 1,024 cells on
   * 262,144 vectors 29 s, 2,048 on 524,288 92 s), while queries visit a fixed
   * share of the cells (nlist / nprobeDivisor) whatever nlist is. Reached from
   * 262,144 vectors on; a larger nlist can be asked for explicitly.
   */
  maxAutoNlist: 2048,
  /** A failed automatic training is retried once the collection has grown this much past the count it failed at. */
  retryGrowth: 1.1,
} as const;

/** Default neighbours per query (query and evaluate). */
export const DEFAULT_K = 10;

/** Default re-ranking factor of a query: exact distances for k × 4 ADC candidates. */
export const DEFAULT_RERANK = 4;

/** Default bits per sub-quantizer code (256 centroids per sub-space). */
export const DEFAULT_NBITS = 8;

/** An evaluation's defaults: k, stored vectors drawn as queries, the seed that draws them. */
export const EVALUATE_DEFAULTS = { k: DEFAULT_K, sampleSize: 100, seed: 42 } as const;

// ---------------------------------------------------------------------------
// Work units and buffers
// ---------------------------------------------------------------------------

/** Seconds a client is asked to wait (Retry-After) before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * A scan looks a row up in its skip map before computing the row's ADC
 * distance when fewer than this share of the scanned rows are eligible; above
 * it, every distance is computed and only candidates that beat the heap's
 * threshold are looked up. Per row, a look-up costs a byte read and a branch
 * that is mispredicted about min(s, 1 − s) × 2 of the time, against ~13 ns for
 * an ADC sum of 16 bytes: look-up first wins below s ≈ 0.4. (Fashion-MNIST PQ16,
 * r < 0.5: 2.19 ms per query looking up first, against 1.74 unfiltered.)
 */
export const SKIP_FIRST_BELOW = 0.4;

/**
 * A filtered query on a flat index reads only the eligible rows' codes (from a
 * list kept with the filter's mask, 4 bytes per eligible row) when fewer than
 * this share of the rows are eligible; above, it scans every code with the
 * skip map, which reads codes in order.
 */
export const FLAT_ROWS_BELOW = 0.75;

/**
 * What scoring one stored vector exactly costs (reading it from SQLite and one
 * distance), in multiply-adds of an in-memory cell table build: the planner
 * answers a filter exactly (exact-rows) when its eligible rows × this cost no
 * more than the tables of the cells the filtered IVF query would visit (an
 * LOPQ cell rotates the query: d² + 256 · d each). Measured with one worker on
 * a busy 2-core machine (throw-away vitest over the service): exact-rows
 * costs 4.5 µs per row at d = 96 and 5.2 µs at d = 768 (the SQLite read
 * dominates, so the cost is per row, not per dimension); an LOPQ cell table at
 * d = 384 took 0.070 ms for 245,760 multiply-adds (0.28 ns each).
 */
export const EXACT_ROW_WORK = 18_000;

/**
 * A filtered IVF query (ivf-rows) visits cells nearest first until they held
 * PROBE_ELIGIBLE_SHARE × the rows an unfiltered query's nprobe cells hold on
 * average, in eligible rows (then more until k × rerank are found). Fewer
 * than unfiltered suffice because the filtered top k among fewer competitors
 * suffers less from ADC's ranking errors. Fashion-MNIST IVF256,PQ16, 500
 * queries (bench:filters, --index ivf), 10-recall@10 filtered vs unfiltered,
 * rerank 4 / 10: at 0.7, r < 0.5 recalled 0.950 / 0.992 (unfiltered 0.919 /
 * 0.986) but took 1.08× / 1.02× the unfiltered time; at 0.5, 0.949 / 0.992,
 * 1.05× / 0.96×; at 0.3, 0.945 / 0.985 in 0.93× / 0.93×, and label = 3 (10 %)
 * 0.943 / 0.990 in 0.89× / 0.92×.
 */
export const PROBE_ELIGIBLE_SHARE = 0.3;

/**
 * Code rows per scan task below which splitting a search over the workers
 * costs more than it saves. A search of one task also re-ranks in that task
 * (one round trip, one distance table). Fashion-MNIST PQ32 flat, 60,000 rows,
 * rerank 10, 8 clients (autocannon, same machine): 520 requests/s split in two
 * tasks (at 16,384), 597 in one (65,536).
 */
export const MIN_SCAN_ROWS_PER_TASK = 65_536;

/** Rows per metadata-matching task (a filter's mask) below which splitting over the workers costs more than it saves. */
export const MIN_MATCH_ROWS_PER_TASK = 16_384;

/**
 * Scans that can run at once on one code arena (core/wasm/scan.ts): each holds
 * a slot of scratch (its tables, thresholds and candidates) in the arena's
 * memory while it runs. One per worker suffices; more cover workers replaced
 * mid-scan until their slots are freed. A scan finding none free runs the
 * reference scan instead.
 */
export const SCAN_SLOTS = 16;

/**
 * Candidates a scan kernel reports before it returns to have them offered to
 * the heaps (which lowers the thresholds it compares with): large enough that
 * calls are rare once the heaps are full, small enough that a stale threshold
 * lets few extra candidates through while they fill.
 */
export const CANDIDATES_PER_CALL = 128;

/**
 * Blocks of 32 rows the 4-bit fast scan kernel reports per call before
 * returning (core/wasm/fast-scan.ts): the caller then offers them to the
 * query's selector and calls again under its lower threshold. Most blocks are
 * reported while the first k rows fill the selector; after that few are.
 */
export const FAST_SCAN_RECORDS_PER_CALL = 64;

/**
 * Most queries of different requests scanned together (services/scan-batcher.ts):
 * the kernels score 8 queries per code read, so a batch of 32 reads the codes 4
 * times instead of 32.
 */
export const QUERY_BATCH_MAX = 32;

/** Default QUERY_BATCH_WINDOW_US: how long a query may wait for its collection's running scan to join the next batch. */
export const DEFAULT_QUERY_BATCH_WINDOW_US = 500;

/** Listed rows (a filter's eligible rows) copied into a scan slot at a time. */
export const LIST_CHUNK = 4096;

/** Bytes of the database file each connection maps (PRAGMA mmap_size: the workers' readers and the main connection): address space, not memory. */
export const READER_MMAP_BYTES = 2 ** 34;

/**
 * Bytes of matrices each thread keeps resident as float32 in its query-dots
 * kernel memory (wasm/kernels.queryDots and codebookDots: codebooks and coarse
 * centroids, 0.8 MB for a 784-d codebook of 256 centroids): beyond, all are
 * dropped and packed again as queries use them.
 */
export const RESIDENT_MATRIX_BYTES = 64 * 1024 * 1024;

/** Rows per encoding chunk during training; errors are summed per chunk, then over chunks in order, everywhere (so results do not depend on the thread count). */
export const ENCODE_CHUNK = 1024;

/** Cell terms (IVF, L2) up to this size are held per worker; past it, those of the cells visited first up to it, the rest computed per visit. */
export const PRECOMPUTED_TERMS_MAX_BYTES = 32 * 1024 * 1024;

/**
 * IVFSearcher.searchRows builds a cell's m × ksub table once the cell holds this
 * many eligible rows; below, it sums each row's 2m terms straight from the held
 * cell terms. A table is m × ksub adds (4,096 for PQ16) for one look-up per
 * sub-space and row after; at 16, Fashion-MNIST IVF256,PQ16 at 10 % selectivity
 * (~23 eligible rows per cell) took 2.50 ms per query against 2.02 summing
 * directly (bench:filters), so tables wait for cells this full.
 */
export const IVF_ROWS_CELL_TABLE = 64;

/**
 * IVFSearcher.searchRows scans a whole cell with the skip map, as a probe does,
 * once its eligible rows are this share of the cell's rows (and at least
 * IVF_ROWS_CELL_TABLE): the scan kernel reads codes in order, four bytes a
 * load, where scoring listed slots reads them one by one.
 */
export const IVF_ROWS_SCAN_SHARE = 0.3;

/** Parsed codecs kept per worker (LRU): a collection's codec plus the ones a training job is working with. */
export const CODEC_CACHE_SIZE = 16;

/** Rows removed per transaction when a deleted collection's data is purged (a few ms of event loop each). */
export const PURGE_BATCH_ROWS = 500;

/** A training job writes its progress to the store at most this often. */
export const PERSIST_EVERY_MS = 500;

/** Rows a new collection's in-memory code buffer starts with (it doubles as it fills). */
export const INITIAL_CAPACITY = 4096;

/** Free slots per inverted list when the lists are laid out: an eighth of its size, at least this many. */
export const MIN_SLACK = 8;

/**
 * A value index (index/value-index.ts) keeps each type's values in a run sorted
 * by (value, row) plus an unsorted tail of the latest additions, which every
 * look-up scans; the tail is merged into the run once it holds more than
 * max(minRows, run / runDivisor) entries. A merge sorts the tail and moves the
 * run once, so the run grows by a ninth per merge and an entry is moved about
 * ten times over the index's life (Σ of a geometric series), while a look-up
 * scans at most an eighth of the run's size besides its binary searches: rows
 * are added one upsert at a time, and re-sorting on every addition would cost
 * O(run) each.
 */
export const VALUE_INDEX_TAIL = { minRows: 4096, runDivisor: 8 } as const;

/**
 * Rows read per batch when a change of indexedFields fills a new field's index
 * from the stored metadata; the event loop is free between batches (a batch of
 * ~150-byte metadata objects takes a few milliseconds to read and parse).
 */
export const VALUE_INDEX_BUILD_ROWS = 4096;

/**
 * When a filter's indexed conditions leave fewer than this share of a range's
 * rows as candidates, their metadata is read one row at a time (a primary-key
 * look-up each) instead of in one pass over the range that parses only the
 * candidates' metadata.
 */
export const METADATA_LOOKUP_SHARE = 0.1;

/**
 * A cached mask extended over fewer new rows than this share of all rows (the
 * usual case after a write) reads those rows' metadata in the workers instead
 * of asking the value indexes, whose range and tail look-ups walk matching
 * entries of every row, not just the new ones.
 */
export const INDEX_EXTENSION_MIN_SHARE = 1 / 64;

/**
 * How long background tasks (training, calibration, evaluation's error pass,
 * start-up list builds) may wait while request tasks go ahead, when none of
 * them holds a worker (pool/task-queue.ts): past this one goes next, so
 * background work moves even when requests keep every worker busy.
 */
export const BACKGROUND_TASK_MAX_WAIT_MS = 100;

/**
 * For this long after a request's task started, background tasks (training,
 * calibration) may hold all workers but one (pool/task-queue.ts WorkerSlots;
 * an overdue one, BACKGROUND_TASK_MAX_WAIT_MS, may take the last free worker
 * while no other background task runs): a query arriving during a training
 * then finds a worker instead of waiting
 * for a training task to end. `npm run bench:training-latency` (PQ16 on
 * 60,000 Fashion-MNIST images, a query every 20 ms on another collection, two
 * workers, busy machine, one run each): longest query 190 ms, p99 10.5 ms;
 * before (no reserve, and piscina's own FIFO for tasks with a signal) one
 * query waited 43.8 s. The training took 74 s instead of 48 s.
 */
export const REQUEST_RESERVE_MS = 1000;

/**
 * Additive quantizers (core/additive.ts): most codebooks (encoding tabulates
 * M(M − 1)/2 blocks of 256 × 256 cross products per thread: 124 MiB at 32),
 * and the widest beam (encoding costs grow with beam × M² × 256).
 */
export const ADDITIVE_LIMITS = { maxCodebooks: 32, maxBeam: 64 } as const;

/**
 * Lloyd iterations of each residual-quantizer stage's k-means (FAISS's
 * ResidualQuantizer: 10). On Fashion-MNIST RQ7 25 gave relative MSE 0.0571
 * against 0.0586 with 10, at 2.8× the training time (throw-away script).
 */
export const RQ_KMEANS_ITERATIONS = 25;

/**
 * How each residual-quantizer stage's codebook is trained: plain k-means, or
 * progressive-dimension k-means (residual.progressiveCodebook, FAISS's
 * default). On Fashion-MNIST, RQ3 at beam 4: relative MSE 0.07433 against
 * 0.07606 for plain k-means, training 123 against 114 s; with
 * RQ_REFINE_ROUNDS 0.07256 against 0.07424 (throw-away script on the pool,
 * one run each). Training on the residuals of a drawn beam entry instead of
 * the best one (as FAISS trains on every entry's) gave 0.07749: worse.
 */
export const RQ_KMEANS: 'plain' | 'progressive' = 'progressive';

/**
 * Rounds of joint codebook refinement after a residual quantizer's stages:
 * every codebook re-fitted by least squares to the training codes, then the
 * rows re-encoded by the beam search, kept while the error falls; 0 = none.
 * RQ3 on Fashion-MNIST (plain k-means): 0.07606 → 0.07487, 0.07447, 0.07424
 * over three rounds, about 3 s each (same script as RQ_KMEANS). Only with at
 * least KMEANS_DEFAULTS.minPointsPerCentroid (39) training rows per codeword
 * (9,984): on fewer, least squares fits the rows rather than the data.
 */
export const RQ_REFINE_ROUNDS = 3;

/** Steps of progressive-dimension k-means (FAISS: 10): k-means on ⌊d^(s/steps)⌋ principal axes at step s. */
export const RQ_PROGRESSIVE_STEPS = 10;

/** Default beam of residual quantizers (partial codes kept per stage, training and encoding). */
export const RQ_DEFAULT_BEAM = 4;

/**
 * Target-recall calibration (services/calibration.ts): stored vectors drawn
 * as queries (more: a steadier estimate, a longer calibration), the recall
 * above the target a setting must measure (the estimate from 200 queries × k
 * = 10 has a standard error near 0.005 at recall 0.95), the rerank factors
 * tried, and the default growth after which a collection is calibrated again.
 */
export const CALIBRATION_QUERIES = 200;
export const CALIBRATION_MARGIN = 0.01;
export const CALIBRATION_RERANKS: readonly number[] = [0, 1, 2, 4, 8, 16, 32, 64, 100];
export const DEFAULT_RECALIBRATE_GROWTH = 2;
/** Calibration queries per search call: bounds the vectors a re-ranking reads at once. */
export const CALIBRATION_CHUNK = 25;

/**
 * Local-search quantizers (core/lsq.ts), FAISS's LocalSearchQuantizer
 * defaults unless noted: rounds of codebook update and re-encoding; ILS
 * rounds per re-encoding in training and when encoding with the trained
 * quantizer; ICM sweeps per round; codes perturbed per round; the ridge on
 * each codeword's mean; k-means iterations of the greedy residual quantizer
 * it starts from (pqvec's: FAISS starts from random codes); most codebooks
 * (encoding holds the codewords' Gram matrix: 64 MiB at 16). encodeInitBeam
 * (pqvec's): encoding starts each vector's codes from a beam search of that
 * width over the codebooks in order rather than from code 0 everywhere
 * (FAISS: random codes): on correlated synthetic data (48-d, M 6, throw-away
 * script) the error after the 16 ILS rounds fell from 15.6 to 9.9 on the
 * training rows and from 19.3 to 15.6 on held-out rows (greedy, beam 1: 10.3
 * and 17.2), for ~5 % more encoding time.
 */
export const LSQ_DEFAULTS = {
  iterations: 25,
  trainIls: 8,
  encodeIls: 16,
  encodeInitBeam: 4,
  icm: 4,
  perturbations: 4,
  ridge: 0.01,
  initIterations: 10,
  maxCodebooks: 16,
} as const;
