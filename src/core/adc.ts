/**
 * Asymmetric distance computation (ADC) scan kernels.
 *
 * Layouts
 * - codes: Uint8Array, n rows of codes of a CodeShape (code-layout.ts: one byte per
 *   sub-quantizer, or two 4-bit codes per byte), row-major, rows [start, end) scanned.
 * - table: Float32Array, m × ksub, row-major: table[j × ksub + c] is the cost of code c in
 *   sub-space j for the current query. Costs are "smaller is nearer": squared L2 distances,
 *   or negated inner products.
 *
 * The distance of a code is summed over four interleaved accumulators
 * (sub-spaces j ≡ 0, 1, 2, 3 mod 4) and combined as (a0 + a1) + (a2 + a3);
 * `adcDistance` and every scan kernel here use exactly this order, so they agree bit for bit.
 * The WebAssembly kernels (wasm/scan.ts) keep the order but sum in float32, as
 * FAISS does; `adcDistanceF32` is their reference, bit for bit. The scans here
 * serve the paths the kernels do not take (codes outside an arena, ksub ≠ 256,
 * IVF cells): the same ranking but for near-ties within float32 rounding.
 */
import { type CodeShape, codeAt, rowBytes } from './code-layout.js';
import type { TopK } from './topk.js';

/** ADC cost of the code at row `row`. */
export function adcDistance(codes: Uint8Array, row: number, shape: CodeShape, table: Float32Array): number {
  const { m, ksub, packed } = shape;
  if (packed) return packedDistance(codes, row * rowBytes(shape), m, table, ksub);
  const o = row * m;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = 0;
  for (; j + 4 <= m; j += 4) {
    a0 += table[j * ksub + codes[o + j]];
    a1 += table[(j + 1) * ksub + codes[o + j + 1]];
    a2 += table[(j + 2) * ksub + codes[o + j + 2]];
    a3 += table[(j + 3) * ksub + codes[o + j + 3]];
  }
  for (; j < m; j++) a0 += table[j * ksub + codes[o + j]];
  return a0 + a1 + (a2 + a3);
}

/**
 * adcDistance of packed codes whose row starts at byte o: the same order of
 * sums, two bytes per four sub-spaces (one loop with codeAt for both layouts
 * measured 22 against 17 ns per code for byte codes, 26 against 17 packed).
 */
function packedDistance(codes: Uint8Array, o: number, m: number, table: Float32Array, ksub: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = 0;
  // Bytes o + j/2 and o + j/2 + 1 hold sub-spaces j … j + 3.
  for (; j + 4 <= m; j += 4) {
    const lo = codes[o + (j >> 1)];
    const hi = codes[o + (j >> 1) + 1];
    a0 += table[j * ksub + (lo & 15)];
    a1 += table[(j + 1) * ksub + (lo >> 4)];
    a2 += table[(j + 2) * ksub + (hi & 15)];
    a3 += table[(j + 3) * ksub + (hi >> 4)];
  }
  for (; j < m; j++) a0 += table[j * ksub + codeAt(codes, o, j, true)];
  return a0 + a1 + (a2 + a3);
}

/**
 * adcDistance summed in float32, each partial sum rounded as the WebAssembly
 * kernels (wasm/scan-wat.ts) round it: their plain reference, bit for bit.
 */
export function adcDistanceF32(codes: Uint8Array, row: number, shape: CodeShape, table: Float32Array): number {
  const f32 = Math.fround;
  const { m, ksub, packed } = shape;
  const o = row * rowBytes(shape);
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = 0;
  for (; j + 4 <= m; j += 4) {
    a0 = f32(a0 + table[j * ksub + codeAt(codes, o, j, packed)]);
    a1 = f32(a1 + table[(j + 1) * ksub + codeAt(codes, o, j + 1, packed)]);
    a2 = f32(a2 + table[(j + 2) * ksub + codeAt(codes, o, j + 2, packed)]);
    a3 = f32(a3 + table[(j + 3) * ksub + codeAt(codes, o, j + 3, packed)]);
  }
  for (; j < m; j++) a0 = f32(a0 + table[j * ksub + codeAt(codes, o, j, packed)]);
  return f32(f32(a0 + a1) + f32(a2 + a3));
}

/** ADC costs of rows [start, end) into out[0 .. end-start). */
export function adcDistances(
  codes: Uint8Array,
  start: number,
  end: number,
  shape: CodeShape,
  table: Float32Array,
  out: Float64Array = new Float64Array(end - start),
): Float64Array {
  for (let r = start; r < end; r++) out[r - start] = adcDistance(codes, r, shape, table);
  return out;
}

/** True on little-endian platforms, where a uint32 load holds 4 codes lowest byte first. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Scans code rows [start, end) and offers each to `heap`. The id offered is
 * idBase + r, or rowIds[r] when rowIds is given (inverted lists, whose slots hold
 * rows out of order). `skip` (optional, one byte per id) marks ids to ignore
 * (tombstones, filtered-out rows).
 */
export function adcScan(
  codes: Uint8Array,
  start: number,
  end: number,
  shape: CodeShape,
  table: Float32Array,
  heap: TopK,
  idBase = 0,
  skip: Uint8Array | null = null,
  rowIds: Int32Array | null = null,
): void {
  const { m, ksub } = shape;
  if (ksub === 256 && LITTLE_ENDIAN && codes.byteOffset % 4 === 0 && (m === 8 || m === 16 || m === 32)) {
    // Four codes per uint32 load: fewer loads and bounds checks than byte reads.
    const words = new Uint32Array(codes.buffer, codes.byteOffset, codes.length >> 2);
    if (m === 8) scan8(words, start, end, table, heap, idBase, skip, rowIds);
    else if (m === 16) scan16(words, start, end, table, heap, idBase, skip, rowIds);
    else scan32(words, start, end, table, heap, idBase, skip, rowIds);
    return;
  }
  let thr = heap.threshold();
  for (let r = start; r < end; r++) {
    const id = rowIds === null ? idBase + r : rowIds[r];
    if (skip !== null && skip[id] !== 0) continue;
    const dist = adcDistance(codes, r, shape, table);
    if (dist < thr) {
      heap.push(dist, id);
      thr = heap.threshold();
    }
  }
}

/**
 * Scans the code rows listed in rows[from .. to) and offers each to `heap`
 * under its row number: a filter's eligible rows, read without touching the
 * others. Same sums as adcDistance, bit for bit; with 256-entry tables and m a
 * multiple of 4, codes are read four to a uint32 load.
 */
export function adcScanRows(codes: Uint8Array, rows: Int32Array, from: number, to: number, shape: CodeShape, table: Float32Array, heap: TopK): void {
  const { m, ksub } = shape;
  let thr = heap.threshold();
  if (ksub === 256 && LITTLE_ENDIAN && codes.byteOffset % 4 === 0 && m % 4 === 0) {
    const w = new Uint32Array(codes.buffer, codes.byteOffset, codes.length >> 2);
    const words = m >> 2;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      // Word k holds the codes of sub-spaces 4k .. 4k + 3, whose tables start at 1,024 k.
      for (let k = 0, o = r * words, b = 0; k < words; k++, o++, b += 1024) {
        const v = w[o];
        a0 += table[b + (v & 255)];
        a1 += table[b + 256 + ((v >>> 8) & 255)];
        a2 += table[b + 512 + ((v >>> 16) & 255)];
        a3 += table[b + 768 + (v >>> 24)];
      }
      const dist = a0 + a1 + (a2 + a3);
      if (dist < thr) {
        heap.push(dist, r);
        thr = heap.threshold();
      }
    }
    return;
  }
  for (let i = from; i < to; i++) {
    const r = rows[i];
    const dist = adcDistance(codes, r, shape, table);
    if (dist < thr) {
      heap.push(dist, r);
      thr = heap.threshold();
    }
  }
}

// Unrolled kernels for the common code sizes (256-entry tables), reading codes as
// little-endian uint32 words. Same summation order as adcDistance; same id and skip rules as adcScan.

function scan8(
  w: Uint32Array,
  start: number,
  end: number,
  t: Float32Array,
  heap: TopK,
  idBase: number,
  skip: Uint8Array | null,
  rowIds: Int32Array | null,
): void {
  let thr = heap.threshold();
  for (let r = start, o = start * 2; r < end; r++, o += 2) {
    const id = rowIds === null ? idBase + r : rowIds[r];
    if (skip !== null && skip[id] !== 0) continue;
    const v0 = w[o];
    const v1 = w[o + 1];
    const dist =
      t[v0 & 255] +
      t[1024 + (v1 & 255)] +
      (t[256 + ((v0 >>> 8) & 255)] + t[1280 + ((v1 >>> 8) & 255)]) +
      (t[512 + ((v0 >>> 16) & 255)] + t[1536 + ((v1 >>> 16) & 255)] + (t[768 + (v0 >>> 24)] + t[1792 + (v1 >>> 24)]));
    if (dist < thr) {
      heap.push(dist, id);
      thr = heap.threshold();
    }
  }
}

function scan16(
  w: Uint32Array,
  start: number,
  end: number,
  t: Float32Array,
  heap: TopK,
  idBase: number,
  skip: Uint8Array | null,
  rowIds: Int32Array | null,
): void {
  let thr = heap.threshold();
  for (let r = start, o = start * 4; r < end; r++, o += 4) {
    const id = rowIds === null ? idBase + r : rowIds[r];
    if (skip !== null && skip[id] !== 0) continue;
    const v0 = w[o];
    const v1 = w[o + 1];
    const v2 = w[o + 2];
    const v3 = w[o + 3];
    const a0 = t[v0 & 255] + t[1024 + (v1 & 255)] + t[2048 + (v2 & 255)] + t[3072 + (v3 & 255)];
    const a1 = t[256 + ((v0 >>> 8) & 255)] + t[1280 + ((v1 >>> 8) & 255)] + t[2304 + ((v2 >>> 8) & 255)] + t[3328 + ((v3 >>> 8) & 255)];
    const a2 = t[512 + ((v0 >>> 16) & 255)] + t[1536 + ((v1 >>> 16) & 255)] + t[2560 + ((v2 >>> 16) & 255)] + t[3584 + ((v3 >>> 16) & 255)];
    const a3 = t[768 + (v0 >>> 24)] + t[1792 + (v1 >>> 24)] + t[2816 + (v2 >>> 24)] + t[3840 + (v3 >>> 24)];
    const dist = a0 + a1 + (a2 + a3);
    if (dist < thr) {
      heap.push(dist, id);
      thr = heap.threshold();
    }
  }
}

function scan32(
  w: Uint32Array,
  start: number,
  end: number,
  t: Float32Array,
  heap: TopK,
  idBase: number,
  skip: Uint8Array | null,
  rowIds: Int32Array | null,
): void {
  let thr = heap.threshold();
  for (let r = start, o = start * 8; r < end; r++, o += 8) {
    const id = rowIds === null ? idBase + r : rowIds[r];
    if (skip !== null && skip[id] !== 0) continue;
    const v0 = w[o];
    const v1 = w[o + 1];
    const v2 = w[o + 2];
    const v3 = w[o + 3];
    const v4 = w[o + 4];
    const v5 = w[o + 5];
    const v6 = w[o + 6];
    const v7 = w[o + 7];
    const a0 =
      t[v0 & 255] +
      t[1024 + (v1 & 255)] +
      t[2048 + (v2 & 255)] +
      t[3072 + (v3 & 255)] +
      t[4096 + (v4 & 255)] +
      t[5120 + (v5 & 255)] +
      t[6144 + (v6 & 255)] +
      t[7168 + (v7 & 255)];
    const a1 =
      t[256 + ((v0 >>> 8) & 255)] +
      t[1280 + ((v1 >>> 8) & 255)] +
      t[2304 + ((v2 >>> 8) & 255)] +
      t[3328 + ((v3 >>> 8) & 255)] +
      t[4352 + ((v4 >>> 8) & 255)] +
      t[5376 + ((v5 >>> 8) & 255)] +
      t[6400 + ((v6 >>> 8) & 255)] +
      t[7424 + ((v7 >>> 8) & 255)];
    const a2 =
      t[512 + ((v0 >>> 16) & 255)] +
      t[1536 + ((v1 >>> 16) & 255)] +
      t[2560 + ((v2 >>> 16) & 255)] +
      t[3584 + ((v3 >>> 16) & 255)] +
      t[4608 + ((v4 >>> 16) & 255)] +
      t[5632 + ((v5 >>> 16) & 255)] +
      t[6656 + ((v6 >>> 16) & 255)] +
      t[7680 + ((v7 >>> 16) & 255)];
    const a3 =
      t[768 + (v0 >>> 24)] +
      t[1792 + (v1 >>> 24)] +
      t[2816 + (v2 >>> 24)] +
      t[3840 + (v3 >>> 24)] +
      t[4864 + (v4 >>> 24)] +
      t[5888 + (v5 >>> 24)] +
      t[6912 + (v6 >>> 24)] +
      t[7936 + (v7 >>> 24)];
    const dist = a0 + a1 + (a2 + a3);
    if (dist < thr) {
      heap.push(dist, id);
      thr = heap.threshold();
    }
  }
}
