/**
 * How a product quantizer's codes sit in bytes: the one place that knows.
 *
 * - Byte codes (nbits 5–8, and every codec serialised before packing existed):
 *   one byte per sub-quantizer, row-major, m bytes per row.
 * - Packed codes (nbits 4, 16 centroids per sub-space): two codes per byte,
 *   ⌈m/2⌉ bytes per row; byte p holds sub-quantizer 2p in its low nibble and
 *   2p + 1 in its high nibble (zero when m is odd and 2p + 1 = m).
 * - The blocked layout of packed codes (a flat index in memory, for the fast
 *   scan's i8x16.swizzle look-ups): rows in blocks of BLOCK_ROWS; a block holds
 *   its rows' byte p side by side for p = 0, 1, …, so one 16-byte load gives
 *   byte p of 16 rows. Byte p of row r is at blockedOffset(r, p, bytes). It is
 *   the row-major packed matrix transposed block by block, nothing re-encoded.
 */

/** The bits per code that pack two codes per byte. */
export const PACKED_NBITS = 4;

/** Rows per block of the blocked layout: two 16-lane SIMD vectors of bytes. */
export const BLOCK_ROWS = 32;

/** What reading a code needs: sub-quantizers, centroids per sub-quantizer, packing. */
export interface CodeShape {
  readonly m: number;
  readonly ksub: number;
  /** Two 4-bit codes per byte (see above). */
  readonly packed: boolean;
}

/** Bytes holding m packed codes. */
const packedBytes = (m: number): number => (m + 1) >> 1;

/** Bytes per row of codes of this shape. */
export function rowBytes(shape: CodeShape): number {
  return shape.packed ? packedBytes(shape.m) : shape.m;
}

/** Bytes per row of m codes of nbits bits, as a newly trained quantizer stores them. */
export function codeBytes(m: number, nbits: number): number {
  return rowBytes({ m, ksub: 1 << nbits, packed: nbits === PACKED_NBITS });
}

/** A shape of byte codes, or of packed codes when `packed` (ksub 16). */
export function codeShape(m: number, ksub: number, packed = false): CodeShape {
  if (packed && ksub !== 1 << PACKED_NBITS) throw new RangeError(`packed codes have ${1 << PACKED_NBITS} centroids per sub-space, not ${ksub}`);
  return { m, ksub, packed };
}

/** Code of sub-quantizer j of the row whose bytes start at o. */
export function codeAt(codes: Uint8Array, o: number, j: number, packed: boolean): number {
  return packed ? (codes[o + (j >> 1)] >> ((j & 1) << 2)) & 15 : codes[o + j];
}

/** Packs n rows of byte codes (n × m, values below 16) into n × ⌈m/2⌉ bytes. */
export function packCodes(unpacked: Uint8Array, n: number, m: number, out: Uint8Array = new Uint8Array(n * packedBytes(m))): Uint8Array {
  const bytes = packedBytes(m);
  for (let i = 0; i < n; i++) {
    const u = i * m;
    const p = i * bytes;
    for (let b = 0; b < bytes; b++) {
      const j = 2 * b;
      out[p + b] = unpacked[u + j] | (j + 1 < m ? unpacked[u + j + 1] << 4 : 0);
    }
  }
  return out;
}

/** Unpacks n rows of packed codes into n × m bytes, one code each. */
export function unpackCodes(packed: Uint8Array, n: number, m: number, out: Uint8Array = new Uint8Array(n * m)): Uint8Array {
  const bytes = packedBytes(m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = codeAt(packed, i * bytes, j, true);
  return out;
}

/** Whole blocks covering `rows` rows. */
export function blockCount(rows: number): number {
  return Math.ceil(rows / BLOCK_ROWS);
}

/** Byte p of row r in the blocked layout of rows of `bytes` bytes. */
export function blockedOffset(r: number, p: number, bytes: number): number {
  return (r - (r % BLOCK_ROWS)) * bytes + p * BLOCK_ROWS + (r % BLOCK_ROWS);
}

/** Writes n row-major packed rows (n × bytes) as rows firstRow … of a blocked buffer. */
export function writeBlocked(rowMajor: Uint8Array, n: number, bytes: number, blocked: Uint8Array, firstRow: number): void {
  for (let i = 0; i < n; i++) {
    const r = firstRow + i;
    const base = blockedOffset(r, 0, bytes);
    for (let p = 0; p < bytes; p++) blocked[base + p * BLOCK_ROWS] = rowMajor[i * bytes + p];
  }
}

/** Rows [first, first + n) of a blocked buffer back in row-major packed form (n × bytes). */
export function readBlocked(blocked: Uint8Array, first: number, n: number, bytes: number, out: Uint8Array = new Uint8Array(n * bytes)): Uint8Array {
  for (let i = 0; i < n; i++) {
    const base = blockedOffset(first + i, 0, bytes);
    for (let p = 0; p < bytes; p++) out[i * bytes + p] = blocked[base + p * BLOCK_ROWS];
  }
  return out;
}
