/**
 * Read-only access to stored vectors and metadata, for worker threads: every
 * SQL statement a worker runs lives here. One connection per database file
 * and thread (`PRAGMA query_only`; WAL lets it read beside the writer, each
 * statement seeing a committed snapshot), with its statements prepared once.
 */
import type { Statement } from 'better-sqlite3';
import { type Db, openReader } from './database.js';
import { SEGMENT_ROWS } from './store.js';

export class VectorReader {
  private static readonly byPath = new Map<string, VectorReader>();

  /** The reader of a database file in this thread, opened on first use. */
  static of(path: string): VectorReader {
    let r = VectorReader.byPath.get(path);
    if (r === undefined) {
      r = new VectorReader(openReader(path));
      VectorReader.byPath.set(path, r);
    }
    return r;
  }

  private readonly range: Statement;
  private readonly db: Db;
  private readonly one: Statement;
  private readonly metadataRange: Statement;
  private readonly metadataOne: Statement;
  private readonly recordOne: Statement;
  private readonly segments: Statement;

  private constructor(db: Db) {
    this.db = db;
    this.range = db.prepare('SELECT row, vector FROM vectors WHERE collection_id = ? AND row >= ? AND row < ? ORDER BY row').raw();
    this.one = db.prepare('SELECT vector FROM vectors WHERE collection_id = ? AND row = ?').pluck();
    this.metadataRange = db.prepare('SELECT row, metadata FROM vectors WHERE collection_id = ? AND row >= ? AND row < ?').raw();
    this.metadataOne = db.prepare('SELECT metadata FROM vectors WHERE collection_id = ? AND row = ?').pluck();
    this.recordOne = db.prepare('SELECT external_id, metadata FROM vectors WHERE collection_id = ? AND row = ?').raw();
    this.segments = db.prepare('SELECT segment, codes FROM code_segments WHERE codec_id = ? AND segment >= ? AND segment < ? ORDER BY segment').raw();
  }

  /**
   * Runs `fn` in one read transaction: its statements share one snapshot and
   * one acquisition of the WAL read lock, where each statement on its own
   * takes both (re-ranking 100 candidates: 6.8 → ~2.5 µs per read, measured).
   */
  snapshot<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  /** [row, vector BLOB] of every stored row in [start, end), in row order. */
  vectors(collectionId: number, start: number, end: number): IterableIterator<[number, Buffer]> {
    return this.range.iterate(collectionId, start, end) as IterableIterator<[number, Buffer]>;
  }

  /** The vector BLOB of one row, or undefined when the row holds none (deleted or replaced). */
  vector(collectionId: number, row: number): Buffer | undefined {
    return this.one.get(collectionId, row) as Buffer | undefined;
  }

  /** [row, metadata JSON or null] of every stored row in [start, end) (a filter's not, ne, exists: false match rows without metadata). */
  metadata(collectionId: number, start: number, end: number): IterableIterator<[number, string | null]> {
    return this.metadataRange.iterate(collectionId, start, end) as IterableIterator<[number, string | null]>;
  }

  /** The metadata JSON of one row (null: none), or undefined when the row holds no vector (deleted or replaced). */
  metadataOf(collectionId: number, row: number): string | null | undefined {
    return this.metadataOne.get(collectionId, row) as string | null | undefined;
  }

  /** External id and metadata JSON of one row (a search hit), or undefined when the row holds no vector (deleted or replaced). */
  record(collectionId: number, row: number): [string, string | null] | undefined {
    return this.recordOne.get(collectionId, row) as [string, string | null] | undefined;
  }

  /** Segments [from, to) of a codec's codes (to null: to the last), in row order (as Store.codeSegments): visit(first row, codes). */
  codeSegments(codecId: number, from: number, to: number | null, visit: (firstRow: number, codes: Uint8Array) => void): void {
    const rows = this.segments.iterate(codecId, from, to ?? Number.MAX_SAFE_INTEGER) as IterableIterator<[number, Buffer]>;
    for (const [seg, codes] of rows) visit(seg * SEGMENT_ROWS, codes);
  }
}
