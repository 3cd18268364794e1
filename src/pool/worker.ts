/**
 * Worker-thread entry point for the piscina pool: it implements the task
 * protocol of tasks.ts, one named export per task. Tasks call the pure numeric
 * core; the ones that need full vectors read them through the store's
 * VectorReader (SQLite, one read-only connection per thread), so vectors never
 * cross the main thread. Codecs arrive as serialised bytes with a key and are
 * cached per worker, parsed once, not once per task. Whatever a task throws
 * leaves as a PortableError, so its name, message and code survive.
 */
import { extendBeams as extendBeamRows } from '../core/residual.js';
import { icmEncodeRowsTask, updateCodebooksTask } from '../core/lsq.js';
import { localParametricRotation, refineLocalRotation as refineCellRotation } from '../core/lopq.js';
import { adcScan, adcScanRows } from '../core/adc.js';
import { type Codec, type FlatCodec, type IVFCodec, productQuantizerOf } from '../core/codec.js';
import { dot, l2sq, normalizeRows, rankingDistance } from '../core/distance.js';
import { CoarseQuantizer, type IVFSearcher, trainCoarse as trainCoarseQuantizer } from '../core/ivf.js';
import { gramSchmidtRows, matmulABt, symmetricEigen, transpose as transposeMatrix } from '../core/linalg.js';
import { PQGeometry, trainSubspace as trainOne } from '../core/pq.js';
import { crossWithReconstruction as crossColumns, encodeRowsWithError } from '../core/rotation.js';
import { deserializeCodec } from '../core/serialize.js';
import { TopK } from '../core/topk.js';
import { dotsF32 } from '../core/wasm/kernels.js';
import { blockedScanRows, fastScanReference } from '../core/fast-scan.js';
import { FastScanSession } from '../core/wasm/fast-scan.js';
import { ScanSession, kernelScan } from '../core/wasm/scan.js';
import { type CodeSegments, InvertedLists, fillSegment } from '../index/inverted-lists.js';
import { filterPredicate } from '../index/metadata-filter.js';
import { VectorReader } from '../store/reader.js';
import { blobInto } from '../store/vector-blobs.js';
import type {
  CodecRef,
  ErrorSums,
  FusedRerank,
  ListsPart,
  PartialResults,
  PortableError,
  ReadRowsResult,
  ReadRowsTask,
  RecordSource,
  ScanTask,
  StoredRecords,
  TaskHandlers,
  TaskName,
  VectorSource,
} from './tasks.js';
import { CODEC_CACHE_SIZE } from '../tunables.js';
const codecs = new Map<string, Codec>();

function codecFor(ref: CodecRef): Codec {
  let codec = codecs.get(ref.codecKey);
  if (codec !== undefined) {
    codecs.delete(ref.codecKey); // re-insert: Map order doubles as LRU order
  } else {
    codec = deserializeCodec(ref.codec);
    if (codecs.size >= CODEC_CACHE_SIZE) codecs.delete(codecs.keys().next().value as string);
  }
  codecs.set(ref.codecKey, codec);
  return codec;
}

/**
 * The codec of a task that needs one kind: a flat scan of an IVF codec (or the
 * reverse) is a bug of the caller, an internal error, never the client's.
 */
function codecOfKind<K extends Codec['kind']>(ref: CodecRef, kind: K): Extract<Codec, { kind: K }> {
  const codec = codecFor(ref);
  if (codec.kind !== kind) throw new Error(`a ${kind} task was given a ${codec.kind} codec`);
  return codec as Extract<Codec, { kind: K }>;
}

const searchers = new WeakMap<IVFCodec, Map<string, IVFSearcher>>();

function ivfSearcher(codec: IVFCodec, metric: 'l2' | 'ip'): IVFSearcher {
  let byMetric = searchers.get(codec);
  if (byMetric === undefined) {
    byMetric = new Map();
    searchers.set(codec, byMetric);
  }
  let searcher = byMetric.get(metric);
  if (searcher === undefined) {
    searcher = codec.ivfSearcher(metric);
    byMetric.set(metric, searcher);
  }
  return searcher;
}

/** The heaps' contents as results; with `records`, each result's stored record looked up too. */
function collect(heaps: TopK[], k: number, records: RecordSource | null = null): PartialResults {
  const out: PartialResults = {
    ids: new Float64Array(heaps.length * k),
    dist: new Float64Array(heaps.length * k),
    counts: new Int32Array(heaps.length),
  };
  heaps.forEach((h, q) => {
    const r = h.drainSorted();
    out.ids.set(r.ids, q * k);
    out.dist.set(r.dist, q * k);
    out.counts[q] = r.ids.length;
  });
  if (records !== null) out.records = lookUpRecords(records, out, k);
  return out;
}

/**
 * The stored records of the results, in one read snapshot: done here, by the
 * task that finished the queries, these SQLite look-ups (~5 µs a hit) leave the
 * event loop free — they were its largest cost serving IVF queries at load.
 */
function lookUpRecords(source: RecordSource, found: PartialResults, k: number): StoredRecords {
  const reader = VectorReader.of(source.dbPath);
  const external: (string | null)[] = new Array(found.ids.length).fill(null);
  const metadata: (string | null)[] = new Array(found.ids.length).fill(null);
  reader.snapshot(() => {
    for (let q = 0; q < found.counts.length; q++) {
      for (let i = q * k; i < q * k + found.counts[q]; i++) {
        const record = reader.record(source.collectionId, found.ids[i]);
        if (record === undefined) continue; // deleted since the scan
        external[i] = record[0];
        metadata[i] = record[1];
      }
    }
  });
  return { external, metadata };
}

/**
 * Exact re-ranking: per query q of [q0, q0 + nq), the k nearest of its
 * candidate rows by exact distance, their vectors read from SQLite in one read
 * snapshot. Rows deleted since the scan are dropped.
 */
function exactRerank(
  source: VectorSource,
  metric: 'l2' | 'ip',
  queries: Float32Array,
  q0: number,
  nq: number,
  k: number,
  rowsOf: (q: number) => ArrayLike<number>,
): TopK[] {
  const { d } = source;
  const reader = VectorReader.of(source.dbPath);
  const v = new Float32Array(d);
  const heaps: TopK[] = [];
  reader.snapshot(() => {
    for (let q = q0; q < q0 + nq; q++) {
      const heap = new TopK(k);
      const rows = rowsOf(q);
      for (let i = 0; i < rows.length; i++) {
        const blob = reader.vector(source.collectionId, rows[i]);
        if (blob === undefined) continue;
        blobInto(blob, v, 0);
        if (source.normalize) normalizeRows(v, 1, d);
        heap.push(rankingDistance(metric, queries, q * d, v, 0, d), rows[i]);
      }
      heaps.push(heap);
    }
  });
  return heaps;
}

/**
 * A flat scan task over packed 4-bit codes (the index holds them in the
 * blocked layout): the fast scan kernel, or its reference when no kernel can
 * run, both exact; a filter's listed rows scored one by one.
 */
function packedScan(task: ScanTask, codec: FlatCodec): TopK[] {
  const shape = codec.quantizer.geometry;
  const session = task.arena !== null && task.eligible === null ? FastScanSession.open(task.arena, task.codes, shape) : null;
  try {
    const table = new Float32Array(shape.m * shape.ksub);
    return Array.from({ length: task.nq }, (_, q) => {
      codec.distanceTable(task.queries, q * codec.d, task.metric, table);
      const heap = new TopK(task.k);
      if (task.eligible !== null) blockedScanRows(task.codes, task.eligible, task.start, task.end, shape, table, heap);
      else if (session !== null) session.search(task.start, task.end, table, heap, task.dead);
      else fastScanReference(task.codes, task.start, task.end, shape, table, heap, task.dead);
      return heap;
    });
  } finally {
    session?.close();
  }
}

/** The scan's heaps as results, re-ranked first when the task says so (queries from q0). */
function finish(
  heaps: TopK[],
  task: { k: number; rerank: FusedRerank | null; records: RecordSource | null; metric: 'l2' | 'ip'; queries: Float32Array },
  q0: number,
): PartialResults {
  const { rerank } = task;
  if (rerank === null) return collect(heaps, task.k, task.records);
  const candidates = heaps.map((h) => h.drainSorted().ids);
  return collect(
    exactRerank(rerank, task.metric, task.queries, q0, heaps.length, rerank.k, (q) => candidates[q - q0]),
    rerank.k,
    task.records,
  );
}

/** A part's stored segments, read through this thread's connection (each call reads them again). */
function partSegments(part: ListsPart): CodeSegments {
  return (visit) => VectorReader.of(part.dbPath).codeSegments(part.codecId, part.segmentFrom, part.segmentTo, visit);
}

/** Σ ‖x − x̂‖² and Σ ‖x‖² over n rows of data and their reconstructions. */
function errorSums(data: Float32Array, rec: Float32Array, n: number, d: number): ErrorSums {
  let errorSum = 0;
  let normSum = 0;
  for (let i = 0; i < n; i++) {
    errorSum += l2sq(data, i * d, rec, i * d, d);
    normSum += dot(data, i * d, data, i * d, d);
  }
  return { errorSum, normSum };
}

/**
 * Reads vectors into shared memory (training samples, evaluation queries,
 * encoding). Rows that no longer exist are left out. Each BLOB is copied out
 * as it is read: BLOBs held until the end of a task outlived the young
 * generation, and the old one, which only their small wrappers count
 * towards, let them pile up (encoding 1M stored rows grew the process by
 * ~590 MB, 10M to ~4 GB).
 */
function readVectors(task: ReadRowsTask): ReadRowsResult {
  const { d } = task;
  const reader = VectorReader.of(task.dbPath);
  const most = task.rows === null ? Math.max(0, task.end - task.start) : task.rows.length;
  const data = new Float32Array(new SharedArrayBuffer(most * d * 4));
  const found = new Int32Array(most);
  let n = 0;
  const keep = (row: number, blob: Buffer) => {
    blobInto(blob, data, n * d);
    found[n++] = row;
  };
  if (task.rows === null) {
    for (const [row, blob] of reader.vectors(task.collectionId, task.start, task.end)) keep(row, blob);
  } else {
    for (const row of task.rows) {
      const blob = reader.vector(task.collectionId, row);
      if (blob !== undefined) keep(row, blob);
    }
  }
  if (task.normalize) normalizeRows(data, n, d);
  return { data: n === most ? data : data.subarray(0, n * d), rows: found.subarray(0, n), n };
}

const handlers: TaskHandlers = {
  trainSubspace: (task) => trainOne(task.sample, task.n, new PQGeometry(task.d, task.m, task.nbits), task.j, task.options),

  matmul: (task) => {
    const { A, B, m, k, rowStart, rowEnd, out } = task;
    if (task.simd) dotsF32(A as Float32Array, rowStart * k, B as Float32Array, 0, rowEnd - rowStart, m, k, out, rowStart * m);
    else matmulABt(A, rowStart * k, B, 0, rowEnd - rowStart, m, k, out, rowStart * m);
    return rowEnd - rowStart;
  },

  transpose: (task) => {
    const out = new Float32Array(new SharedArrayBuffer(task.n * task.m * 4));
    out.set(transposeMatrix(task.A, task.n, task.m));
    return out;
  },

  eigen: (task) => symmetricEigen(task.S, task.n),

  orthonormalize: (task) => {
    gramSchmidtRows(task.A, task.n, task.n, 1);
    return task.n;
  },

  /** Codes of rows [start, end) into shared codes; returns their squared reconstruction error. */
  encodeWithError: (task) => encodeRowsWithError(productQuantizerOf(codecFor(task)), task.y, task.start, task.end, task.codes),

  /** Sub-spaces [jFrom, jTo) of Xᵀ·Ŷ (rotation.crossWithReconstruction). */
  crossWithReconstruction: (task) => {
    crossColumns(task.x, task.n, productQuantizerOf(codecFor(task)), task.codes, task.jFrom, task.jTo, task.out, task.recentre);
    return task.jTo - task.jFrom;
  },

  encode: (task) => {
    codecFor(task).encode(task.data, task.n, task.out);
    return task.n;
  },

  /**
   * ADC search of a row range (or of listed rows): the WebAssembly kernels when
   * the codes are in an arena (all the task's queries in groups sharing a pass
   * over the codes; the skip map looked up for candidates only), else per query
   * a distance table and the reference scan. Ids are row numbers.
   */
  scan: (task) => {
    const codec: FlatCodec = codecOfKind(task, 'flat');
    if (codec.quantizer.packed) return finish(packedScan(task, codec), task, 0);
    const shape = codec.quantizer.geometry;
    const m = codec.codeSize;
    const { eligible } = task;
    if (task.arena !== null && codec.ksub === 256) {
      // Listed rows were filtered already; consecutive rows leave out the skip map's rows as candidates.
      const heaps = Array.from({ length: task.nq }, () => new TopK(task.k, eligible === null ? task.dead : null));
      const scanned = kernelScan({
        arena: task.arena,
        codes: task.codes,
        m,
        start: task.start,
        end: task.end,
        rows: eligible,
        nq: task.nq,
        tableOf: (q, out) => codec.distanceTable(task.queries, q * codec.d, task.metric, out),
        heaps,
      });
      if (scanned) return finish(heaps, task, 0);
    }
    const table = new Float32Array(m * codec.ksub);
    const heaps: TopK[] = [];
    for (let q = 0; q < task.nq; q++) {
      codec.distanceTable(task.queries, q * codec.d, task.metric, table);
      if (eligible !== null) {
        const heap = new TopK(task.k);
        adcScanRows(task.codes, eligible, task.start, task.end, shape, table, heap);
        heaps.push(heap);
        continue;
      }
      const heap = new TopK(task.k, task.skipFirst ? null : task.dead);
      adcScan(task.codes, task.start, task.end, shape, table, heap, 0, task.skipFirst ? task.dead : null);
      heaps.push(heap);
    }
    return finish(heaps, task, 0);
  },

  /** The IVF coarse k-means, in one worker (the event loop stays free). */
  trainCoarse: (task) => {
    const { coarse, warnings } = trainCoarseQuantizer(task.data, task.n, task.d, task.nlist, task.options);
    return { centroids: coarse.centroids, warnings };
  },

  extendBeams: (task) => {
    extendBeamRows(task.extension, task.start, task.end);
    return null;
  },

  icmEncode: (task) => icmEncodeRowsTask(task),

  updateCodebooks: (task) => updateCodebooksTask(task),

  residuals: (task) => {
    const { d, start, end } = task;
    const coarse = new CoarseQuantizer(task.nlist, d, task.centroids);
    const rows = task.data.subarray(start * d, end * d);
    coarse.residuals(rows, end - start, coarse.assign(rows, end - start, task.lists.subarray(start, end)), task.out.subarray(start * d, end * d));
    return end - start;
  },

  localRotation: (task) => localParametricRotation(task),

  refineLocalRotation: (task) => refineCellRotation(task),

  /** IVF search of a few queries over the inverted lists, filling k when k rows are eligible. Ids are row numbers; results indexed from q0. */
  ivfScan: (task) => {
    const codec = codecOfKind(task, 'ivf');
    const searcher = ivfSearcher(codec, task.metric);
    // Probes scan whole cells with the kernels (8-bit codes; the skip map checked for candidates only); filtered row visits and 4-bit codes stay on the reference.
    const kernels =
      task.mode === 'probe' && task.arena !== null && codec.ksub === 256 ? ScanSession.open(task.arena, task.lists.codes, codec.quantizer.m) : null;
    try {
      const heaps: TopK[] = [];
      for (let q = task.q0; q < task.q0 + task.nq; q++) {
        const t = codec.transformQuery(task.queries, q * codec.d);
        const skipFirst = task.skipFirst && kernels === null;
        const heap = new TopK(task.k, skipFirst ? null : task.dead);
        const skip = skipFirst ? task.dead : null;
        if (task.mode === 'rows') searcher.searchRows(t.q, t.qo, task.lists, heap, task.eligible!, skip, task.target!);
        else searcher.search(t.q, t.qo, task.lists, task.nprobe, heap, skip, true, kernels);
        heaps.push(heap);
      }
      return finish(heaps, task, task.q0);
    } finally {
      kernels?.close();
    }
  },

  /** Exact search of a row range, reading the full vectors from SQLite. Ids are row numbers. */
  exactScan: (task) => {
    const { d, nq, queries, skip } = task;
    const heaps = Array.from({ length: nq }, () => new TopK(task.k));
    const v = new Float32Array(d);
    for (const [row, blob] of VectorReader.of(task.dbPath).vectors(task.collectionId, task.start, task.end)) {
      if (skip !== null && skip[row] !== 0) continue;
      blobInto(blob, v, 0);
      if (task.normalize) normalizeRows(v, 1, d);
      for (let q = 0; q < nq; q++) {
        const dist = rankingDistance(task.metric, queries, q * d, v, 0, d);
        if (dist < heaps[q].threshold()) heaps[q].push(dist, row);
      }
    }
    return collect(heaps, task.k);
  },

  readRows: readVectors,

  /**
   * Encodes the stored vectors of rows [start, end). Returns the squared
   * reconstruction error and squared norms summed over them, for the relative MSE.
   */
  encodeRange: (task) => {
    const codec = codecFor(task);
    const { d, codeSize: m } = codec;
    const { data, rows, n } = readVectors({ ...task, rows: null });
    const codes = codec.encode(data, n);
    for (let i = 0; i < n; i++) task.out.set(codes.subarray(i * m, (i + 1) * m), (rows[i] - task.start) * m);
    return { count: n, ...errorSums(data, codec.decode(codes, n), n, d) };
  },

  /**
   * Exact re-ranking: reads only the candidates' full vectors from SQLite, computes
   * exact distances and keeps the k nearest per query. Rows deleted since the scan
   * are dropped. Results are indexed from q0.
   */
  rerank: (task) =>
    collect(
      exactRerank(task, task.metric, task.queries, task.q0, task.nq, task.k, (q) => task.rows.subarray(task.offsets[q], task.offsets[q + 1])),
      task.k,
      task.records,
    ),

  /** Start-up's first pass over a part of an IVF codec's stored codes: live rows per list. */
  countLists: (task) => InvertedLists.count(task.nlist, task.codeSize, partSegments(task), task.rowCount, task.dead),

  /** Start-up's second pass: the part's rows written to their lists' slots. */
  fillLists: (task) => {
    const cursors = task.cursors.slice();
    partSegments(task)((first, seg) => fillSegment(task, cursors, first, seg, task.codeSize, task.rowCount, task.dead));
    let written = 0;
    for (let l = 0; l < cursors.length; l++) written += cursors[l] - task.cursors[l];
    return written;
  },

  /** Marks the rows in [start, end) (of the candidates, if given) whose metadata satisfies a filter; returns how many. */
  matchRows: (task) => {
    const matches = filterPredicate(task.root, task.stats);
    const reader = VectorReader.of(task.dbPath);
    const { collectionId, start, end, candidates: c, candidatesFrom: base } = task;
    let count = 0;
    const test = (row: number, metadata: string | null) => {
      if (matches(metadata === null ? null : JSON.parse(metadata))) {
        task.out[row] = 1;
        count++;
      }
    };
    if (c !== null && task.lookups) {
      for (let row = start; row < end; row++) {
        if (c[row - base] === 0) continue;
        const metadata = reader.metadataOf(collectionId, row);
        if (metadata !== undefined) test(row, metadata);
      }
    } else {
      for (const [row, metadata] of reader.metadata(collectionId, start, end)) if (c === null || c[row - base] !== 0) test(row, metadata);
    }
    return count;
  },

  /** Σ ‖x − decode(encode(x))‖² and Σ ‖x‖² over n vectors (for the relative MSE). */
  codecError: (task) => {
    const codec = codecFor(task);
    return errorSums(task.data, codec.decode(codec.encode(task.data, task.n), task.n), task.n, codec.d);
  },
};

/** Runs a handler; whatever it throws (or its promise rejects with) leaves as a PortableError. */
function portable<T, R>(handler: (input: T) => R): (input: T) => R {
  return (input) => {
    try {
      const result = handler(input);
      if (result instanceof Promise) return result.catch((err: unknown) => Promise.reject(portableError(err))) as R;
      return result;
    } catch (err) {
      throw portableError(err);
    }
  };
}

function portableError(err: unknown): PortableError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
  };
}

// Piscina calls the named export of each task.
export const trainSubspace = portable(handlers.trainSubspace);
export const matmul = portable(handlers.matmul);
export const transpose = portable(handlers.transpose);
export const eigen = portable(handlers.eigen);
export const orthonormalize = portable(handlers.orthonormalize);
export const encodeWithError = portable(handlers.encodeWithError);
export const crossWithReconstruction = portable(handlers.crossWithReconstruction);
export const encode = portable(handlers.encode);
export const scan = portable(handlers.scan);
export const trainCoarse = portable(handlers.trainCoarse);
export const extendBeams = portable(handlers.extendBeams);
export const icmEncode = portable(handlers.icmEncode);
export const updateCodebooks = portable(handlers.updateCodebooks);
export const residuals = portable(handlers.residuals);
export const localRotation = portable(handlers.localRotation);
export const refineLocalRotation = portable(handlers.refineLocalRotation);
export const ivfScan = portable(handlers.ivfScan);
export const exactScan = portable(handlers.exactScan);
export const encodeRange = portable(handlers.encodeRange);
export const rerank = portable(handlers.rerank);
export const matchRows = portable(handlers.matchRows);
export const codecError = portable(handlers.codecError);
export const readRows = portable(handlers.readRows);
export const countLists = portable(handlers.countLists);
export const fillLists = portable(handlers.fillLists);

// Every task of the protocol is exported above (a missing one fails to compile here).
const exported = {
  countLists,
  fillLists,
  trainSubspace,
  matmul,
  transpose,
  eigen,
  orthonormalize,
  encodeWithError,
  crossWithReconstruction,
  encode,
  scan,
  trainCoarse,
  extendBeams,
  icmEncode,
  updateCodebooks,
  residuals,
  localRotation,
  refineLocalRotation,
  ivfScan,
  exactScan,
  encodeRange,
  rerank,
  matchRows,
  codecError,
  readRows,
} satisfies { [K in TaskName]: unknown };
void exported;
