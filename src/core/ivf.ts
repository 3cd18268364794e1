/**
 * Inverted file (IVF) with residual product quantization: IVFADC (Jégou et al.,
 * "Product quantization for nearest neighbor search", 2011).
 *
 * A coarse k-means quantizer with nlist centroids splits the space into cells;
 * a vector is stored in its nearest cell's inverted list, and the product
 * quantizer encodes the residual x − c (cell centroid), which is smaller and
 * spread more evenly than x itself, so the same code bytes lose less.
 * A query visits the nprobe cells nearest to it.
 *
 * Distance tables per visited cell, the IVFADC way. For x̂ = c + r̂ with
 * r̂ = Σⱼ rⱼ (one sub-centroid per sub-space, disjoint dimensions):
 *   ‖q − c − r̂‖² = ‖q − c‖²  +  Σⱼ (‖rⱼ‖² + 2⟨cⱼ, rⱼ⟩)  −  2 Σⱼ ⟨qⱼ, rⱼ⟩
 *                  coarse cost    cell terms (query-free)     query terms (cell-free)
 * The cell terms are precomputed once per codec (nlist × m × ksub floats) when
 * that fits `PRECOMPUTED_TERMS_MAX_BYTES`; otherwise each cell's are computed
 * on its first visit and kept while that budget lasts (first come), the rest
 * computed per visit;
 * the query terms once per query. A visited cell's table is then one addition
 * per entry. Inner product needs no cell terms: −⟨q, c + r̂⟩ = −⟨q, c⟩ − Σⱼ ⟨qⱼ, rⱼ⟩.
 *
 * The residual's quantizer may be additive (rq, lsq: additive.ts) instead:
 * its M codewords span every dimension, so a cell term is ‖cₘₖ‖² + 2⟨c, cₘₖ⟩
 * over all of them, the norm byte's row holds the cross terms of ‖r̂‖², and
 * the rest is the same sum over a code's bytes (each quantizer's cellTerms).
 */
import { adcDistance, adcScan } from './adc.js';
import { codeAt } from './code-layout.js';
import type { ScanSession } from './wasm/scan.js';
import { dot, squaredNorms } from './distance.js';
import { QuantizerInputError, checkInteger } from './errors.js';
import { kmeans } from './kmeans.js';
import { CellTables, nearestF32, queryDots } from './wasm/kernels.js';
import type { AdditiveQuantizer } from './additive.js';
import type { ProductQuantizer } from './pq.js';
import { deriveSeed } from './rng.js';
import { TopK } from './topk.js';
import {
  COARSE_ITERATIONS,
  HARD_LIMITS,
  IVF_ROWS_CELL_TABLE,
  IVF_ROWS_SCAN_SHARE,
  KMEANS_DEFAULTS,
  PRECOMPUTED_TERMS_MAX_BYTES,
} from '../tunables.js';

export class CoarseQuantizer {
  /** ‖centroid‖², nlist entries. */
  readonly norms: Float64Array;

  constructor(
    readonly nlist: number,
    readonly d: number,
    /** nlist × d, row-major. */
    readonly centroids: Float32Array,
  ) {
    checkInteger('nlist', nlist, 1, HARD_LIMITS.maxNlist);
    if (centroids.length !== nlist * d)
      throw new QuantizerInputError(`${nlist} coarse centroids of dimension ${d} need ${nlist * d} values, got ${centroids.length}`);
    this.norms = squaredNorms(centroids, nlist, d);
  }

  /** The nearest cell of each of rows [0, n) of data (n × d). Ties go to the lower cell. */
  assign(data: Float32Array, n: number, out: Int32Array = new Int32Array(n)): Int32Array {
    const block = 256;
    for (let s = 0; s < n; s += block) {
      nearestF32(data, s * this.d, this.d, Math.min(block, n - s), this.centroids, 0, this.nlist, this.d, this.norms, 0, out, s, 1);
    }
    return out;
  }

  /** out[i] = data[i] − centroid[lists[i]] for rows [0, n). */
  residuals(data: Float32Array, n: number, lists: ArrayLike<number>, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    const { d, centroids } = this;
    for (let i = 0; i < n; i++) {
      const co = lists[i] * d;
      for (let t = 0; t < d; t++) out[i * d + t] = data[i * d + t] - centroids[co + t];
    }
    return out;
  }

  /** Adds centroid[lists[i]] to row i of x (n × d) in place: the reverse of residuals. */
  addCentroids(x: Float32Array, n: number, lists: ArrayLike<number>): Float32Array {
    const { d, centroids } = this;
    for (let i = 0; i < n; i++) {
      const co = lists[i] * d;
      for (let t = 0; t < d; t++) x[i * d + t] += centroids[co + t];
    }
    return x;
  }

  /**
   * Coarse costs of query row q[qo .. qo+d) to every cell, smaller is nearer:
   * ‖q − c‖² ('l2') or −⟨q, c⟩ ('ip'), into out (nlist entries).
   */
  costs(q: Float32Array, qo: number, metric: 'l2' | 'ip', out: Float64Array): Float64Array {
    queryDots(q, qo, this.centroids, 0, this.nlist, this.d, out);
    if (metric === 'l2') {
      const qn = dot(q, qo, q, qo, this.d);
      for (let l = 0; l < this.nlist; l++) out[l] = Math.max(0, qn + this.norms[l] - 2 * out[l]);
    } else {
      for (let l = 0; l < this.nlist; l++) out[l] = -out[l];
    }
    return out;
  }
}

/**
 * Inverted lists as a scan sees them. Slots hold entries; list l occupies slots
 * [offsets[l], offsets[l] + sizes[l]).
 * - codes: slots × codeSize bytes, row-major (the PQ code of the residual, no
 *   list id; code-layout.ts).
 * - rows: the row number of each slot.
 */
export interface ListsView {
  codes: Uint8Array;
  rows: Int32Array;
  offsets: Int32Array;
  sizes: Int32Array;
}

/**
 * The slots of a lists view whose rows a skip map keeps, by cell: cell l's are
 * slots[cellStarts[l] .. cellStarts[l + 1]). Built once per filter and layout
 * (the service caches it), so a selective query reads only eligible slots.
 */
export interface EligibleSlots {
  slots: Int32Array;
  cellStarts: Int32Array;
}

/** The eligible slots of `lists` under `skip` (one byte per row, nonzero = out), in shared memory. */
export function eligibleSlots(lists: ListsView, skip: Uint8Array, eligible: number): EligibleSlots {
  const nlist = lists.offsets.length;
  const slots = new Int32Array(new SharedArrayBuffer(Math.max(1, eligible) * 4));
  const cellStarts = new Int32Array(new SharedArrayBuffer((nlist + 1) * 4));
  let n = 0;
  for (let l = 0; l < nlist; l++) {
    cellStarts[l] = n;
    const start = lists.offsets[l];
    const end = start + lists.sizes[l];
    for (let slot = start; slot < end; slot++) if (skip[lists.rows[slot]] === 0 && n < eligible) slots[n++] = slot;
  }
  cellStarts[nlist] = n;
  return { slots, cellStarts };
}

/**
 * Searches one IVF codec (coarse quantizer + residual PQ, in the codec's space:
 * callers rotate queries first for OPQ). Holds per-query scratch, so one
 * searcher per thread; the cell terms are computed on first use.
 */
export class IVFSearcher {
  private terms: Float32Array | null = null;
  /**
   * When `terms` cannot all be held: the terms of the cells visited first,
   * cell l's at slots[l] × m × ksub of `held` (−1: not held), `used` slots
   * filled; `held` doubles as it fills, up to `cells` slots (the budget).
   */
  private partial: { slots: Int32Array; held: Float32Array; used: number; cells: number } | null = null;
  /** The SIMD cell tables holding `terms` (L2, held terms, ksub a multiple of four); else the JavaScript loop. */
  private cells: CellTables | null = null;
  protected readonly coarseCost: Float64Array;
  private readonly queryTable: Float32Array;
  protected readonly table: Float32Array;
  private readonly cellScratch: Float32Array;
  private readonly dots: Float64Array;

  constructor(
    readonly coarse: CoarseQuantizer,
    /** The quantizer of the residuals: product or additive (both give tables of m rows of ksub summed over a code's bytes). */
    readonly pq: ProductQuantizer | AdditiveQuantizer,
    readonly metric: 'l2' | 'ip',
    /** Cell terms are precomputed when they take at most this many bytes. */
    private readonly maxPrecomputedBytes = PRECOMPUTED_TERMS_MAX_BYTES,
  ) {
    if (coarse.d !== pq.d) throw new QuantizerInputError(`coarse quantizer of dimension ${coarse.d} with a ${pq.d}-d quantizer`);
    if (metric === 'l2' && 'norm' in pq && pq.norm === null)
      throw new QuantizerInputError('L2 search over additive codes needs their norms, and this quantizer keeps none');
    const size = pq.m * pq.ksub;
    this.coarseCost = new Float64Array(coarse.nlist);
    this.queryTable = new Float32Array(size);
    this.table = new Float32Array(size);
    this.cellScratch = new Float32Array(size);
    this.dots = new Float64Array(size); // cellTerms' scratch: ksub (PQ) or M × 256 (additive)
  }

  /** Whether a row can be scored from the cell and query terms without its cell's table (false: every cell's table is built). */
  protected scoresRowsDirectly(): boolean {
    return true;
  }

  /** Cell terms of every cell (nlist × m × ksub), or null when too large to hold. */
  private precomputed(): Float32Array | null {
    if (this.terms === null) {
      const size = this.pq.m * this.pq.ksub;
      if (this.coarse.nlist * size * 4 > this.maxPrecomputedBytes) return null;
      if (this.pq.ksub % 4 === 0) this.cells = new CellTables(this.coarse.nlist, size);
      const terms = this.cells?.terms ?? new Float32Array(this.coarse.nlist * size);
      for (let l = 0; l < this.coarse.nlist; l++) this.pq.cellTerms(this.coarse.centroids, l * this.coarse.d, terms, l * size, this.dots);
      this.terms = terms;
    }
    return this.terms;
  }

  /**
   * Prepares query row q[qo .. qo+d): its coarse costs and query terms. Returns the
   * coarse costs (nlist entries, valid until the next prepare).
   */
  prepare(q: Float32Array, qo: number): Float64Array {
    this.coarse.costs(q, qo, this.metric, this.coarseCost);
    // −⟨qⱼ, r⟩ per sub-space; for L2 the query term is twice that.
    this.pq.distanceTable(q, qo, 'ip', this.queryTable);
    if (this.metric === 'l2') {
      for (let i = 0; i < this.queryTable.length; i++) this.queryTable[i] *= 2;
      if (this.precomputed() !== null) this.cells?.query.set(this.queryTable);
    }
    return this.coarseCost;
  }

  /**
   * The ADC table of cell `list` for the prepared query: the cost of a code in
   * this cell is the sum of its m entries. The coarse cost rides on sub-space 0.
   */
  cellTable(list: number, table: Float32Array = this.table): Float32Array {
    const { queryTable } = this;
    const size = table.length;
    if (this.metric === 'l2' && this.cells !== null) {
      // terms + query + the coarse cost on sub-space 0, in SIMD (bit for bit the loops below).
      table.set(this.cells.cellTable(list, this.coarseCost[list], this.pq.ksub));
      return table;
    }
    if (this.metric === 'l2') {
      const all = this.precomputed();
      const { terms, o } = all === null ? this.termsOf(list) : { terms: all, o: list * size };
      for (let i = 0; i < size; i++) table[i] = terms[o + i] + queryTable[i];
    } else {
      table.set(queryTable);
    }
    const cost = this.coarseCost[list];
    for (let c = 0; c < this.pq.ksub; c++) table[c] += cost;
    return table;
  }

  /** Cell `list`'s terms when not all are held: kept from an earlier visit, kept now while the budget lasts, or computed into scratch. */
  private termsOf(list: number): { terms: Float32Array; o: number } {
    const size = this.pq.m * this.pq.ksub;
    if (this.partial === null) {
      const cells = Math.min(this.coarse.nlist, Math.floor(this.maxPrecomputedBytes / (size * 4)));
      this.partial = { slots: new Int32Array(this.coarse.nlist).fill(-1), held: new Float32Array(Math.min(cells, 16) * size), used: 0, cells };
    }
    const p = this.partial;
    if (p.slots[list] < 0 && p.used < p.cells) {
      if ((p.used + 1) * size > p.held.length) {
        const grown = new Float32Array(Math.min(p.cells, 2 * p.used) * size);
        grown.set(p.held);
        p.held = grown;
      }
      p.slots[list] = p.used++;
      this.pq.cellTerms(this.coarse.centroids, list * this.coarse.d, p.held, p.slots[list] * size, this.dots);
    }
    if (p.slots[list] >= 0) return { terms: p.held, o: p.slots[list] * size };
    this.pq.cellTerms(this.coarse.centroids, list * this.coarse.d, this.cellScratch, 0, this.dots);
    return { terms: this.cellScratch, o: 0 };
  }

  /** The nprobe cells nearest to the prepared query, nearest first. */
  probes(nprobe: number): Int32Array {
    const n = Math.min(nprobe, this.coarse.nlist);
    const best = new TopK(n);
    for (let l = 0; l < this.coarse.nlist; l++) if (this.coarseCost[l] < best.threshold()) best.push(this.coarseCost[l], l);
    return Int32Array.from(best.drainSorted().ids);
  }

  /**
   * Searches query row q[qo .. qo+d) over the lists, offering row numbers to heap.
   * `skip` (one byte per row, optional): rows to leave out. With `fill`, when the
   * nprobe cells hold fewer than heap.k eligible rows (a selective filter, small
   * cells), the next nearest cells are visited too until the heap is full or every
   * cell has been: k results whenever k rows are eligible, as with a flat index.
   */
  search(
    q: Float32Array,
    qo: number,
    lists: ListsView,
    nprobe: number,
    heap: TopK,
    skip: Uint8Array | null = null,
    fill = false,
    kernels: ScanSession | null = null,
  ): void {
    this.prepare(q, qo);
    const first = this.probes(nprobe);
    for (const list of first) this.scanCell(list, lists, heap, skip, kernels);
    if (!fill || heap.size === heap.k || first.length === this.coarse.nlist) return;
    // probes() orders by (cost, cell), so the full order continues where the first stopped.
    const rest = this.probes(this.coarse.nlist).subarray(first.length);
    for (let i = 0; i < rest.length && heap.size < heap.k; i++) this.scanCell(rest[i], lists, heap, skip, kernels);
  }

  /**
   * A filtered probe that reads only the rows the filter lets through
   * (`eligible`: their slots by cell): visits cells nearest first until they
   * held `target` eligible rows and the heap is full (or every cell was
   * visited), so it sees about as many eligible rows as an unfiltered query of
   * `target` rows would, however the filter's rows spread over the cells, and
   * its cost follows those rows rather than the cells. A
   * cell with few eligible rows scores them directly when the cell terms are
   * held (L2) or not needed (inner product): the cell's coarse cost plus, per
   * sub-space, the cell term and the query term of the code's byte — 2m
   * look-ups, scattered over the nlist × m × ksub terms. A cell with
   * IVF_ROWS_CELL_TABLE or more eligible rows (or without held terms) gets its
   * m × ksub table first, read in order, then one look-up per sub-space and row;
   * when they are also IVF_ROWS_SCAN_SHARE of its rows, the whole cell is
   * scanned as a probe does, leaving out the rows of `skip` (null: the heap's
   * exclude map leaves them out).
   */
  searchRows(
    q: Float32Array,
    qo: number,
    lists: ListsView,
    heap: TopK,
    eligible: EligibleSlots,
    skip: Uint8Array | null,
    target: number = Number.POSITIVE_INFINITY,
  ): void {
    this.prepare(q, qo);
    const { nlist } = this.coarse;
    const { cellStarts } = eligible;
    if (target >= cellStarts[nlist]) {
      for (let l = 0; l < nlist; l++) this.scoreEligible(l, lists, heap, eligible, skip);
      return;
    }
    // Ordering every cell costs O(nlist log nlist) per query: order first the
    // nearest twice as many cells as hold `target` eligible rows on average,
    // and the rest only if those fall short (filters cluster).
    const guess = Math.min(nlist, 2 * Math.ceil((target * nlist) / Math.max(1, cellStarts[nlist])));
    let order = this.probes(guess);
    let seen = 0;
    for (let i = 0; i < nlist && (seen < target || heap.size < heap.k); i++) {
      if (i === order.length) order = this.probes(nlist); // probes() orders by (cost, cell): the full order extends the first
      const l = order[i];
      seen += cellStarts[l + 1] - cellStarts[l];
      this.scoreEligible(l, lists, heap, eligible, skip);
    }
  }

  /** Offers the eligible rows of cell l to the heap (see searchRows). */
  private scoreEligible(l: number, lists: ListsView, heap: TopK, eligible: EligibleSlots, skip: Uint8Array | null): void {
    const { slots, cellStarts } = eligible;
    const from = cellStarts[l];
    const to = cellStarts[l + 1];
    if (from === to) return;
    if (to - from >= IVF_ROWS_CELL_TABLE && to - from >= IVF_ROWS_SCAN_SHARE * lists.sizes[l]) {
      this.scanCell(l, lists, heap, skip);
      return;
    }
    const { m, ksub, packed, codeSize } = this.pq;
    const size = m * ksub;
    const terms = this.metric === 'l2' && this.scoresRowsDirectly() ? this.precomputed() : null;
    const direct = this.scoresRowsDirectly() && (this.metric === 'ip' || terms !== null);
    const { codes, rows } = lists;
    const query = this.queryTable;
    const cost = this.coarseCost[l];
    const table = direct && to - from < IVF_ROWS_CELL_TABLE ? null : this.cellTable(l);
    let thr = heap.threshold();
    for (let i = from; i < to; i++) {
      const slot = slots[i];
      let dist: number;
      if (table === null) {
        dist = cost;
        const co = slot * codeSize;
        if (terms === null) for (let j = 0; j < m; j++) dist += query[j * ksub + codeAt(codes, co, j, packed)];
        else {
          const t0 = l * size;
          for (let j = 0; j < m; j++) {
            const e = j * ksub + codeAt(codes, co, j, packed);
            dist += terms[t0 + e] + query[e];
          }
        }
      } else {
        dist = adcDistance(codes, slot, this.pq.geometry, table);
      }
      if (dist < thr) {
        heap.push(dist, rows[slot]);
        thr = heap.threshold();
      }
    }
  }

  /**
   * Offers cell `list`'s rows to the heap. With `kernels` (a scan session over
   * the lists' arena; rows to leave out are then the heap's exclude map, skip
   * is null) the cell's table is written into the session's slot and the
   * WebAssembly kernel scans the cell; else the reference scan.
   */
  private scanCell(list: number, lists: ListsView, heap: TopK, skip: Uint8Array | null, kernels: ScanSession | null = null): void {
    const size = lists.sizes[list];
    if (size === 0) return;
    const start = lists.offsets[list];
    if (kernels !== null && skip === null && this.pq.ksub === 256) {
      this.cellTable(list, kernels.table);
      kernels.scan(1, start, start + size, [heap], lists.rows);
      return;
    }
    adcScan(lists.codes, start, start + size, this.pq.geometry, this.cellTable(list), heap, 0, skip, lists.rows);
  }
}

export interface CoarseTrainOptions {
  /** Lloyd iterations (at most). Default COARSE_ITERATIONS. */
  iterations?: number;
  /** Default 1234. */
  seed?: number;
  /** Start from these centroids (nlist × d) instead of seeding. */
  initialCentroids?: Float32Array;
}

/**
 * Trains the coarse quantizer: k-means with nlist centroids on at most 256 × nlist
 * of the n rows (seeded sample). Needs n ≥ nlist; warns under 39 rows per cell.
 */
export function trainCoarse(
  data: Float32Array,
  n: number,
  d: number,
  nlist: number,
  options: CoarseTrainOptions = {},
): { coarse: CoarseQuantizer; warnings: string[] } {
  checkInteger('nlist', nlist, 1, HARD_LIMITS.maxNlist);
  const r = kmeans(data, n, d, {
    k: nlist,
    maxIterations: options.iterations ?? COARSE_ITERATIONS,
    seed: deriveSeed(options.seed ?? KMEANS_DEFAULTS.seed, 0xc0a125e),
    initialCentroids: options.initialCentroids,
  });
  return {
    coarse: new CoarseQuantizer(nlist, d, r.centroids),
    warnings: r.warnings.map((w) => `coarse quantizer: ${w}`),
  };
}
