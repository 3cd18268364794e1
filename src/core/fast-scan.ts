/**
 * 4-bit fast scan (after André et al., "Quicker ADC", and FAISS's
 * IndexPQFastScan), exact by construction.
 *
 * Packed codes (16 centroids per sub-space) in the blocked layout
 * (code-layout.ts) are scored first with a quantised table: each sub-space's
 * float costs shifted by their minimum and scaled by one common factor into
 * integers 0 … LUT_MAX, so a SIMD kernel (wasm/fast-scan-wat.ts) sums 32 rows
 * at a time with 16-entry byte look-ups. Rounding moves each entry by at most
 * ½, a row's quantised sum by at most m/2 units from its scaled true cost.
 * Hence (proof at FastScanSelector): every row of the exact top k has a
 * quantised sum ≤ T + m (plus a unit or so for float64 ties), T the k-th
 * smallest quantised sum of the live rows seen so far. Those candidates are re-scored with the float table
 * (blockedDistance: adc.ts's sums, bit for bit), so a fast scan returns the
 * same rows and distances as the plain ADC scan of the same codes.
 */
import { adcDistance } from './adc.js';
import { BLOCK_ROWS, type CodeShape, readBlocked, rowBytes } from './code-layout.js';
import { TopK } from './topk.js';

/** Largest quantised table entry: the two entries of one byte add up in a uint8 lane. */
export const LUT_MAX = 127;

/** Largest m the kernel takes: m · LUT_MAX must fit its uint16 sums (larger m: the reference, with smaller entries). */
export const FAST_SCAN_MAX_M = Math.floor(65_535 / LUT_MAX);

/** Bytes of a quantised table for codes of `bytes` bytes: per byte, the 16 entries of each of its two sub-spaces. */
export const lutBytes = (bytes: number): number => bytes * 32;

/**
 * Quantises an ADC table (m × 16 float costs) into `lut` (lutBytes: for byte
 * p, sub-space 2p's 16 entries then 2p + 1's; zeros for a missing last one):
 * quantizeCosts with top = LUT_MAX, or less when m · LUT_MAX would overflow
 * a uint16 sum, and the float64 sums of adcDistance as the exact ones.
 * Returns the selector's margin (see quantizeCosts and FastScanSelector).
 */
export function quantizeTable(table: Float32Array, shape: CodeShape, lut: Uint8Array): number {
  lut.fill(0, 0, lutBytes(rowBytes(shape)));
  return quantizeCosts(table, shape.m, 16, Math.min(LUT_MAX, Math.floor(65_535 / shape.m)), lut, 1, 0, 2 ** -53);
}

/**
 * Quantises an m × ksub cost table into out[(j × ksub + c) × stride + lane]:
 * round((cost − min_j) · scale) with one scale putting the widest sub-space's
 * range at `top` (scale 1 when every range is 0). Returns the selector's
 * margin in quantised units: m (each entry rounds by at most ½, twice over in
 * the bound) plus twice what the exact scoring's rounding (`unit`: 2⁻⁵³ for
 * float64 sums, 2⁻²⁴ for float32) can move a sum, scaled and rounded up.
 */
export function quantizeCosts(
  table: Float32Array,
  m: number,
  ksub: number,
  top: number,
  out: Uint8Array | Uint16Array,
  stride: number,
  lane: number,
  unit: number,
): number {
  const mins = new Float64Array(m);
  let widest = 0;
  let magnitude = 0;
  for (let j = 0; j < m; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let c = 0; c < ksub; c++) {
      const v = table[j * ksub + c];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    mins[j] = lo;
    widest = Math.max(widest, hi - lo);
    magnitude += Math.max(Math.abs(lo), Math.abs(hi));
  }
  const scale = widest > 0 ? top / widest : 1;
  for (let j = 0; j < m; j++) {
    for (let c = 0; c < ksub; c++) out[(j * ksub + c) * stride + lane] = Math.min(top, Math.round((table[j * ksub + c] - mins[j]) * scale));
  }
  // The exact sums add m entries: each partial sum rounds by at most `unit` of the magnitudes.
  return m + Math.ceil(4 * scale * m * magnitude * unit);
}

/** The quantised sums of the 32 rows of block b (the kernel's reference, exactly). */
export function blockSums(codes: Uint8Array, b: number, bytes: number, lut: Uint8Array, out: Uint16Array): void {
  out.fill(0);
  const base = b * BLOCK_ROWS * bytes;
  for (let p = 0; p < bytes; p++) {
    const t = lutBytes(p);
    for (let i = 0; i < BLOCK_ROWS; i++) {
      const v = codes[base + p * BLOCK_ROWS + i];
      out[i] += lut[t + (v & 15)] + lut[t + 16 + (v >> 4)];
    }
  }
}

/** ADC cost of row `row` of blocked codes: adcDistance's sums, bit for bit (scratch: one row's bytes). */
export function blockedDistance(codes: Uint8Array, row: number, shape: CodeShape, table: Float32Array, scratch: Uint8Array): number {
  return adcDistance(readBlocked(codes, row, 1, rowBytes(shape), scratch), 0, shape, table);
}

/**
 * Picks the candidates of a fast scan and scores them exactly.
 *
 * Why T + margin suffices: with s the scale and μ = Σ_j min_j, a row whose
 * entries add up to D (exactly) has a quantised sum S within m/2 of
 * s·(D − μ). The k rows holding the k smallest S (≤ T) have s·(D − μ) ≤
 * T + m/2, so the k-th smallest D is at most μ + (T + m/2)/s, and a row among
 * the exact top k has S ≤ T + m. Rows are ranked by adcDistance, D summed in
 * float64, whose rounding (at most m·2⁻⁵³ of the entries' magnitudes) can
 * turn a near-tie into a tie the heap breaks by row: quantizeTable adds twice
 * that, scaled and rounded up, to the margin, so those rows are candidates
 * too. T only falls during a scan, so rows reported under the running bound
 * are a superset; candidates are pruned to the final bound before scoring.
 * Sums are integers, so float64 rounding in the quantisation itself (far
 * below one unit) cannot push a row past the bound.
 */
export class FastScanSelector {
  /** The k smallest quantised sums of live rows (ids: rows). */
  private readonly best: TopK;
  private rows = new Int32Array(256);
  private sums = new Int32Array(256);
  private count = 0;

  constructor(
    k: number,
    /** How far above the k-th smallest quantised sum a row stays a candidate (quantizeTable's result). */
    private readonly margin: number,
    /** Rows never offered (tombstones), one byte per row; null = none. */
    private readonly dead: Uint8Array | null,
    /** Rows outside [start, end) of a block are not offered. */
    private readonly start: number,
    private readonly end: number,
  ) {
    this.best = new TopK(k);
  }

  /** The kernel's threshold: a block with no row at or below it holds no candidate. */
  threshold(): number {
    return Math.min(65_535, this.best.threshold() + this.margin);
  }

  /** Offers the quantised sums of rows first … first + count − 1, from sums[at]. */
  offer(first: number, count: number, sums: Uint16Array, at = 0): void {
    const lo = Math.max(0, this.start - first);
    const hi = Math.min(count, this.end - first);
    let thr = this.threshold();
    for (let i = lo; i < hi; i++) {
      const s = sums[at + i];
      if (s > thr) continue;
      const row = first + i;
      if (this.dead !== null && this.dead[row] !== 0) continue;
      this.best.push(s, row);
      this.add(row, s);
      thr = this.threshold();
    }
  }

  private add(row: number, sum: number): void {
    if (this.count === this.rows.length) {
      this.prune();
      if (this.count > this.rows.length >> 1) {
        const rows = new Int32Array(this.rows.length * 2);
        const sums = new Int32Array(this.rows.length * 2);
        rows.set(this.rows);
        sums.set(this.sums);
        this.rows = rows;
        this.sums = sums;
      }
    }
    this.rows[this.count] = row;
    this.sums[this.count++] = sum;
  }

  /** Drops the candidates the current threshold rules out. */
  private prune(): void {
    const thr = this.threshold();
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.sums[i] > thr) continue;
      this.rows[n] = this.rows[i];
      this.sums[n++] = this.sums[i];
    }
    this.count = n;
  }

  /** Candidates left after the scan (for reports and tests). */
  get candidates(): number {
    this.prune();
    return this.count;
  }

  /** Scores the candidates exactly (score(row), the scan's own distance) into heap, rows as ids. */
  finish(heap: TopK, score: (row: number) => number): void {
    this.prune();
    for (let i = 0; i < this.count; i++) {
      const row = this.rows[i];
      const d = score(row);
      if (d < heap.threshold()) heap.push(d, row);
    }
  }
}

/** Scores blocked rows with the float table (blockedDistance), for FastScanSelector.finish. */
export function blockedScorer(codes: Uint8Array, shape: CodeShape, table: Float32Array): (row: number) => number {
  const scratch = new Uint8Array(rowBytes(shape));
  return (row) => blockedDistance(codes, row, shape, table, scratch);
}

/** Blocks covering rows [start, end): [first, last). */
export function blockRange(start: number, end: number): { first: number; last: number } {
  return { first: Math.floor(start / BLOCK_ROWS), last: Math.ceil(end / BLOCK_ROWS) };
}

/**
 * Fast scan of blocked rows [start, end) in plain TypeScript (the kernel's
 * reference, and the path when no kernel can run): same candidates, same result.
 */
export function fastScanReference(
  codes: Uint8Array,
  start: number,
  end: number,
  shape: CodeShape,
  table: Float32Array,
  heap: TopK,
  dead: Uint8Array | null,
): FastScanSelector {
  const bytes = rowBytes(shape);
  const lut = new Uint8Array(lutBytes(bytes));
  const selector = new FastScanSelector(heap.k, quantizeTable(table, shape, lut), dead, start, end);
  const sums = new Uint16Array(BLOCK_ROWS);
  const { first, last } = blockRange(start, end);
  for (let b = first; b < last; b++) {
    blockSums(codes, b, bytes, lut, sums);
    selector.offer(b * BLOCK_ROWS, BLOCK_ROWS, sums);
  }
  selector.finish(heap, blockedScorer(codes, shape, table));
  return selector;
}

/** ADC scan of the blocked rows listed in rows[from .. to) (a filter's eligible rows), offered under their row numbers. */
export function blockedScanRows(
  codes: Uint8Array,
  rows: Int32Array,
  from: number,
  to: number,
  shape: CodeShape,
  table: Float32Array,
  heap: TopK,
): void {
  const scratch = new Uint8Array(rowBytes(shape));
  for (let i = from; i < to; i++) {
    const d = blockedDistance(codes, rows[i], shape, table, scratch);
    if (d < heap.threshold()) heap.push(d, rows[i]);
  }
}
