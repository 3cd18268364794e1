/**
 * The in-memory side of one collection: what a query needs without touching SQLite.
 *
 * Layout (rows are slots 0, 1, 2, … in insertion order, never reused):
 * - codes: Uint8Array in a code arena (core/wasm/scan.ts: a shared WebAssembly
 *   memory, so the workers' scan kernels read the codes in place),
 *   capacity × codeSize, row-major, or for packed 4-bit codes in the blocked
 *   layout of the fast scan (core/code-layout.ts: blocks of 32 rows, byte p of
 *   the rows side by side); rows [0, rowCount) hold codes under the active
 *   codec (absent while untrained). The store keeps them row-major either way.
 * - dead:  Uint8Array over a SharedArrayBuffer, one byte per row, 1 = deleted or
 *   replaced (tombstone); the scan kernels skip these rows.
 * Row ↔ external id lives in SQLite only (vectors' primary key (collection_id, row)
 * and unique index on (collection_id, external_id)): a query's hits need their
 * metadata from SQLite anyway, and a million id strings would cost ~80 MB and
 * ~0.7 s at start-up. Loading is then codes (1,024-row BLOBs) + the dead rows (tombstones).
 * IVF codecs keep no row-ordered codes: `lists` (InvertedLists) holds each
 * cell's PQ codes and row numbers contiguously instead, built from the
 * row-ordered IVF codes (list id + PQ code) the store keeps, segment by segment.
 * Workers read codes and dead through the shared buffers, never a copy. Growth
 * allocates larger buffers and copies; a query already running keeps the old
 * (still valid) buffers. Codes of a row never change: a row's vector is immutable.
 */
import type { Codec } from '../core/codec.js';
import { BLOCK_ROWS, blockCount, writeBlocked } from '../core/code-layout.js';
import { allocateCodes, arenaOf } from '../core/wasm/scan.js';
import { type CodeSegments, InvertedLists } from './inverted-lists.js';
import { INITIAL_CAPACITY } from '../tunables.js';

export interface ActiveCodec {
  id: number;
  version: number;
  codec: Codec;
}

export class CollectionIndex {
  rowCount = 0;
  liveCount = 0;
  /** Row-ordered codes of a flat codec; null when untrained or IVF. */
  codes: Uint8Array | null = null;
  /** The inverted lists of an IVF codec. */
  lists: InvertedLists | null = null;
  dead: Uint8Array = sharedBytes(INITIAL_CAPACITY);
  /** Rows tombstoned since the index was built: a filter's cached skip map is valid while this stays. */
  deadChanges = 0;
  codec: ActiveCodec | null = null;

  /**
   * An index of rowCount allocated rows of which deadRows are dead (the store's
   * tombstones), loaded from the store: a flat codec's codes in one buffer, an
   * IVF codec's as segments (they only feed the lists).
   */
  static load(rowCount: number, deadRows: ArrayLike<number>, codec: ActiveCodec | null, codes: Uint8Array | CodeSegments | null): CollectionIndex {
    const index = new CollectionIndex();
    index.rowCount = rowCount;
    index.dead = sharedBytes(Math.max(INITIAL_CAPACITY, rowCount));
    let dead = 0;
    for (let i = 0; i < deadRows.length; i++) {
      const r = deadRows[i];
      if (r >= rowCount || index.dead[r] !== 0) continue;
      index.dead[r] = 1;
      dead++;
    }
    index.liveCount = rowCount - dead;
    if (codec !== null && codes !== null) index.activate(codec, codes);
    return index;
  }

  get capacity(): number {
    return this.dead.length;
  }

  isLive(row: number): boolean {
    return row < this.rowCount && this.dead[row] === 0;
  }

  /**
   * A buffer for `rows` rows of codec's codes (row-major) with room to grow:
   * training builds the next codec's codes in one, start-up loads them into
   * one. A code arena when a flat index will scan it in place; plain shared
   * memory when activation lays the codes out anew (4-bit blocks, IVF lists),
   * so no second arena is reserved.
   */
  static codesBuffer(rows: number, codec: Codec): Uint8Array {
    const bytes = Math.max(INITIAL_CAPACITY, rows) * codec.codeSize;
    if (codec.nlist !== null || codec.quantizer.packed) return new Uint8Array(new SharedArrayBuffer(bytes));
    return allocateCodes(bytes, codec.codeSize);
  }

  /**
   * Appends `count` committed rows with, when trained, their codes
   * (count × codeSize); `replaced` are the rows the upserted ids held before,
   * which die.
   */
  append(count: number, codes: Uint8Array | null, replaced: ArrayLike<number>): void {
    const first = this.rowCount;
    const end = first + count;
    this.reserve(end);
    if (this.codec !== null) {
      if (codes === null) throw new Error('a trained index needs codes for new rows');
      const size = this.codec.codec.codeSize;
      if (this.lists !== null) {
        for (let i = 0; i < count; i++) this.lists.add(first + i, codes, i * size);
      } else if (this.codec.codec.quantizer.packed) {
        writeBlocked(codes, count, size, this.codes!, first);
      } else {
        this.codes!.set(codes, first * size);
      }
    }
    this.dead.fill(0, first, end);
    this.liveCount += count;
    this.rowCount = end;
    for (let i = 0; i < replaced.length; i++) this.kill(replaced[i]);
  }

  /** Tombstones a row. */
  kill(row: number): void {
    if (row >= this.rowCount || this.dead[row] !== 0) return;
    this.dead[row] = 1;
    this.liveCount--;
    this.deadChanges++;
  }

  /**
   * Switches to a new codec whose codes (for rows [0, rowCount)) are in `codes`
   * (segments, or lists already built from them: IVF only). Throws when they cover fewer rows.
   */
  activate(codec: ActiveCodec, codes: Uint8Array | CodeSegments | InvertedLists): void {
    const { nlist, codeSize } = codec.codec;
    if (nlist !== null) {
      let lists: InvertedLists;
      if (codes instanceof InvertedLists) {
        lists = codes; // built by the caller (start-up, over the workers) from this index's rows and dead map
      } else {
        // Dead rows are left out: a new codec starts with compact lists.
        const built = InvertedLists.build(nlist, codeSize, codes, this.rowCount, this.dead);
        if (built.rowsRead < this.rowCount) throw new Error(`${built.rowsRead} rows of codes for ${this.rowCount} rows`);
        lists = built.lists;
      }
      this.lists = lists;
      this.codec = codec;
      this.codes = null;
      return;
    }
    if (!(codes instanceof Uint8Array)) throw new Error('a flat codec takes its codes in one buffer');
    if (codes.length < this.rowCount * codeSize) throw new Error(`${codes.length / codeSize} rows of codes for ${this.rowCount} rows`);
    this.lists = null;
    if (codec.codec.quantizer.packed) {
      const blocked = flatCodes(codec.codec, this.capacity);
      writeBlocked(codes, this.rowCount, codeSize, blocked, 0);
      codes = blocked;
    } else if (codes.length < this.capacity * codeSize || arenaOf(codes) === null) {
      const grown = flatCodes(codec.codec, this.capacity);
      grown.set(codes.subarray(0, this.rowCount * codeSize));
      codes = grown;
    }
    this.codec = codec;
    this.codes = codes;
  }

  /** Live rows in [0, end), in order. */
  liveRowsBelow(end: number): Int32Array {
    const out = new Int32Array(this.liveCount);
    let n = 0;
    for (let r = 0; r < end; r++) if (this.dead[r] === 0) out[n++] = r;
    return out.subarray(0, n);
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    let cap = this.capacity;
    while (cap < rows) cap *= 2;
    const dead = sharedBytes(cap);
    dead.set(this.dead);
    this.dead = dead;
    if (this.codes !== null && this.codec !== null) {
      const codes = flatCodes(this.codec.codec, cap);
      // Both layouts keep rows in order: the first rows' bytes are a prefix.
      const size = this.codec.codec.codeSize;
      codes.set(this.codes.subarray(0, this.codec.codec.quantizer.packed ? blockCount(this.rowCount) * BLOCK_ROWS * size : this.rowCount * size));
      this.codes = codes;
    }
  }
}

/** A flat index's zeroed codes buffer for `rows` rows of codec's codes (whole blocks when packed). */
function flatCodes(codec: Codec, rows: number): Uint8Array {
  const size = codec.codeSize;
  return allocateCodes((codec.quantizer.packed ? blockCount(rows) * BLOCK_ROWS : rows) * size, size);
}

function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}
