/**
 * The worker protocol: every task the pool can run, with its input and output.
 * The pool dispatches through `TaskMap` (a misspelt task or a wrong payload is
 * a compile error) and the worker implements it as `TaskHandlers`. Large inputs
 * travel as typed arrays over SharedArrayBuffers (no copy); codecs travel as
 * serialised bytes with a key the worker caches them under.
 */
import type { CoarseTrainOptions, EligibleSlots, ListsView } from '../core/ivf.js';
import type { PQTrainOptions, SubspaceTrainResult } from '../core/pq.js';
import type { BeamExtension } from '../core/residual.js';
import type { CodebookUpdateTask, IcmEncodeTask } from '../core/lsq.js';
import type { LocalRefineTask, LocalRotationTask } from '../core/lopq.js';
import type { CodeArena } from '../core/wasm/scan.js';
import type { FilterNode } from '../index/metadata-filter.js';

/** A serialised codec and the key a worker caches its parsed form under. */
export interface CodecRef {
  codecKey: string;
  codec: Uint8Array;
}

/** Where a task reads stored vectors: the database file and the collection. */
export interface VectorSource {
  dbPath: string;
  collectionId: number;
  d: number;
  /** Scale every stored vector to unit length as it is read (cosine collections). */
  normalize: boolean;
}

/** The queries of a search task. */
export interface QueryBatch {
  metric: 'l2' | 'ip';
  /** nq × d queries (unit vectors for cosine collections). */
  queries: Float32Array;
  nq: number;
  k: number;
}

/** Top-k lists of several queries: query q's j-th result is at q × k + j, counts[q] of them. */
export interface PartialResults {
  ids: Float64Array;
  dist: Float64Array;
  counts: Int32Array;
  /** Each result's stored record, at the same positions as ids; present when the task was given `records`. */
  records?: StoredRecords;
}

/** Where a task finishing queries looks up its results' stored records (external id and metadata). */
export interface RecordSource {
  dbPath: string;
  collectionId: number;
}

/**
 * External ids and metadata JSON of result rows, read by the worker that
 * finished the query (SQLite look-ups off the event loop). external[i] null:
 * the row was deleted since the scan.
 */
export interface StoredRecords {
  external: (string | null)[];
  metadata: (string | null)[];
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

export interface EncodeWithErrorTask extends CodecRef {
  y: Float32Array;
  start: number;
  end: number;
  /** n × m codes, shared. */
  codes: Uint8Array;
}

export interface CrossTask extends CodecRef {
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

export interface EncodeTask extends CodecRef {
  /** n × d rows to encode. */
  data: Float32Array;
  n: number;
  /** Where to write the n × m codes (shared with the caller). */
  out: Uint8Array;
}

/**
 * Exact re-ranking done by the task that scanned: the k nearest of each
 * query's candidates (the scan's best QueryBatch.k) by exact distance, their
 * vectors read from SQLite — one round trip instead of a scan and a rerank task.
 */
export interface FusedRerank extends VectorSource {
  k: number;
}

export interface ScanTask extends QueryBatch, CodecRef {
  /** rows × m codes; rows [start, end) are scanned. */
  codes: Uint8Array;
  /** The code arena holding `codes` (core/wasm/scan.ts): the WebAssembly kernels scan them; null = the reference scans. */
  arena: CodeArena | null;
  /** One byte per row, nonzero = leave out (deleted, replaced, or not matching a filter). */
  dead: Uint8Array;
  /**
   * Where `dead` is looked up: before each code's distance (few eligible rows:
   * skipped codes cost a byte read, not an ADC sum), or only for candidates that
   * beat the heap's threshold (most rows eligible: no per-row look-up or branch).
   */
  skipFirst: boolean;
  /** Rows [start, end) are scanned; with `eligible` (a filter's eligible rows), rows eligible[start .. end) instead, `dead` unread. */
  start: number;
  end: number;
  eligible: Int32Array | null;
  /** Re-rank the candidates here (only when this task scans every row of the search); null = return them. */
  rerank: FusedRerank | null;
  /** Look up the results' stored records here (only when this task finishes its queries: it scans every row); null = not. */
  records: RecordSource | null;
}

/** Residual-quantizer training: rows [start, end) of a beam extension (residual.extendBeams). */
export interface ExtendBeamsTask {
  extension: BeamExtension;
  start: number;
  end: number;
}

export interface TrainCoarseTask {
  /** n × d training rows, shared. */
  data: Float32Array;
  n: number;
  d: number;
  nlist: number;
  options: CoarseTrainOptions;
}

export interface ResidualsTask {
  /** nlist × d coarse centroids, shared. */
  centroids: Float32Array;
  nlist: number;
  d: number;
  data: Float32Array;
  /** Rows [start, end) of data: their residuals to the nearest centroid go to the same rows of out, their cells to lists. */
  start: number;
  end: number;
  out: Float32Array;
  lists: Int32Array;
}

export interface IVFScanTask extends CodecRef {
  lists: ListsView;
  /** The code arena of lists.codes: probes scan cells with the WebAssembly kernels; null = the reference scans. */
  arena: CodeArena | null;
  /** One byte per row, nonzero = leave out. */
  dead: Uint8Array;
  metric: 'l2' | 'ip';
  /** Queries q0 .. q0 + nq − 1 of the shared nq_total × d queries are searched here. */
  queries: Float32Array;
  q0: number;
  nq: number;
  k: number;
  nprobe: number;
  /** probe: the nprobe nearest cells (then more until k are found), their codes scanned; rows: IVFSearcher.searchRows over the eligible slots until `target` eligible rows were seen. */
  mode: 'probe' | 'rows';
  /** Rows mode: eligible rows the visited cells must hold; null in probe mode. */
  target: number | null;
  /** As ScanTask.skipFirst. */
  skipFirst: boolean;
  /** Rows mode: the eligible slots by cell (core/ivf.ts eligibleSlots); null in probe mode. */
  eligible: EligibleSlots | null;
  /** Re-rank each query's candidates here (a query is searched whole by one task); null = return them. */
  rerank: FusedRerank | null;
  /** Look up the results' stored records here; null = not. */
  records: RecordSource | null;
}

export interface ExactScanTask extends VectorSource, QueryBatch {
  /** One byte per row, nonzero = leave out (metadata filter); null = none. */
  skip: Uint8Array | null;
  start: number;
  end: number;
}

export interface ReadRowsTask extends VectorSource {
  /** The rows to read, or null for every stored row in [start, end). */
  rows: Int32Array | null;
  start: number;
  end: number;
}

export interface ReadRowsResult {
  /** n × d, shared. */
  data: Float32Array;
  /** The row each vector came from (rows that no longer hold a vector are left out). */
  rows: Int32Array;
  n: number;
}

export interface EncodeRangeTask extends VectorSource, CodecRef {
  start: number;
  end: number;
  /** (end − start) × m codes, written here; rows without a vector stay 0. */
  out: Uint8Array;
}

/** Σ ‖x − x̂‖² and Σ ‖x‖² (a relative MSE is their ratio). */
export interface ErrorSums {
  errorSum: number;
  normSum: number;
}

export interface RerankTask extends VectorSource, QueryBatch {
  /** Candidate rows of query q: rows[offsets[q] .. offsets[q + 1]). */
  rows: Float64Array;
  offsets: Int32Array;
  /** The first query of this task (nq of them from there). */
  q0: number;
  /** Look up the results' stored records here; null = not. */
  records: RecordSource | null;
}

/**
 * A part of start-up's build of an IVF codec's lists (index/inverted-lists.ts):
 * the stored segments [segmentFrom, segmentTo) of the codec (segmentTo null:
 * to the last), their rows below rowCount that `dead` leaves in.
 */
export interface ListsPart {
  dbPath: string;
  codecId: number;
  codeSize: number;
  rowCount: number;
  /** One byte per row, nonzero = left out. */
  dead: Uint8Array;
  segmentFrom: number;
  segmentTo: number | null;
}

/** First pass: the part's live rows per list. */
export interface CountListsTask extends ListsPart {
  nlist: number;
}

/** Second pass: the part's rows written to their lists' slots, list l's from cursors[l] on. */
export interface FillListsTask extends ListsPart {
  /** The lists' shared slot buffers. */
  codes: Uint8Array;
  rows: Int32Array;
  cursors: Int32Array;
}

export interface MatchRowsTask {
  dbPath: string;
  collectionId: number;
  /** The compiled filter (services/filter.ts). */
  root: FilterNode;
  start: number;
  end: number;
  /** One byte per row: rows in [start, end) that match are set to 1. */
  out: Uint8Array;
  /**
   * Null: every row in [start, end) is read. Otherwise only rows with
   * candidates[row − candidatesFrom] = 1 (what the filter's indexed conditions
   * let through), one by one (`lookups`) or in one pass over the range.
   */
  candidates: Uint8Array | null;
  candidatesFrom: number;
  lookups: boolean;
  /** Per condition, LEAF_STATS counters over rows [start, end) (index/metadata-filter.ts), filled in. */
  stats: Int32Array;
}

export interface CodecErrorTask extends CodecRef {
  data: Float32Array;
  n: number;
}

/** Every task: name → input and output. */
export interface TaskMap {
  trainSubspace: { input: TrainSubspaceTask; output: SubspaceTrainResult };
  matmul: { input: MatmulTask; output: number };
  transpose: { input: { A: Float32Array; n: number; m: number }; output: Float32Array };
  eigen: { input: { S: Float64Array; n: number }; output: { values: Float64Array; vectors: Float64Array } };
  /** One Gram–Schmidt pass over the rows of a shared n × n matrix, in place. */
  orthonormalize: { input: { A: Float64Array; n: number }; output: number };
  encodeWithError: { input: EncodeWithErrorTask; output: number };
  crossWithReconstruction: { input: CrossTask; output: number };
  encode: { input: EncodeTask; output: number };
  scan: { input: ScanTask; output: PartialResults };
  trainCoarse: { input: TrainCoarseTask; output: { centroids: Float32Array; warnings: string[] } };
  extendBeams: { input: ExtendBeamsTask; output: null };
  /** Local-search training (lsq.ts): rows [start, end) of an ICM re-encoding (Σ squared error), one codebook update (the error after it). */
  icmEncode: { input: IcmEncodeTask; output: number };
  updateCodebooks: { input: CodebookUpdateTask; output: number };
  residuals: { input: ResidualsTask; output: number };
  /** LOPQ training (lopq.ts): one cell's parametric rotation, one cell's updates; each returns the directions. */
  localRotation: { input: LocalRotationTask; output: Float32Array };
  refineLocalRotation: { input: LocalRefineTask; output: Float32Array };
  ivfScan: { input: IVFScanTask; output: PartialResults };
  exactScan: { input: ExactScanTask; output: PartialResults };
  readRows: { input: ReadRowsTask; output: ReadRowsResult };
  encodeRange: { input: EncodeRangeTask; output: { count: number } & ErrorSums };
  rerank: { input: RerankTask; output: PartialResults };
  matchRows: { input: MatchRowsTask; output: number };
  /** Sizes: live rows per list; rowsRead: one past the last row of codes read. */
  countLists: { input: CountListsTask; output: { sizes: Int32Array; rowsRead: number } };
  /** Returns how many rows it wrote. */
  fillLists: { input: FillListsTask; output: number };
  codecError: { input: CodecErrorTask; output: ErrorSums };
}

export type TaskName = keyof TaskMap;
export type TaskInput<K extends TaskName> = TaskMap[K]['input'];
export type TaskOutput<K extends TaskName> = TaskMap[K]['output'];

/** What the worker module implements: one handler per task. */
export type TaskHandlers = { [K in TaskName]: (input: TaskInput<K>) => TaskOutput<K> | Promise<TaskOutput<K>> };

/**
 * An error thrown in a task, as it crosses the thread boundary: a plain object
 * (a structured clone of better-sqlite3's SqliteError keeps only its `code`,
 * and of a native Error not its `code`). The pool rebuilds an error from it.
 */
export interface PortableError {
  name: string;
  message: string;
  code: string | undefined;
}
