/**
 * Opens the SQLite database (better-sqlite3, WAL) and applies migrations.
 *
 * Durability: WAL with synchronous = FULL (default) syncs the log on every
 * commit, so an acknowledged write survives a process crash and a power loss;
 * NORMAL survives a process crash only.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { READER_MMAP_BYTES } from '../tunables.js';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** migrations/ at the repository root, seen from src/store (TypeScript) or dist/src/store (compiled). */
export const MIGRATIONS_DIR = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromSrc = resolve(here, '../../migrations');
  return existsSync(fromSrc) ? fromSrc : resolve(here, '../../../migrations');
})();

export const DB_FILE = 'pqvec.sqlite';

export interface OpenOptions {
  synchronous?: 'FULL' | 'NORMAL';
  migrationsDir?: string;
}

export function openDatabase(dataDir: string, options: OpenOptions = {}): { db: Db; path: string; applied: string[] } {
  mkdirSync(dataDir, { recursive: true });
  const path = resolve(dataDir, DB_FILE);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // The main connection reads too (a query's hits: external id and metadata per
  // row, random over the file): mapped like the readers' (openReader).
  db.pragma(`mmap_size = ${READER_MMAP_BYTES}`);
  const applied = migrate(db, options.migrationsDir ?? MIGRATIONS_DIR);
  return { db, path, applied };
}

/** A connection that only reads (worker threads read vectors with it; WAL lets it run beside the writer). */
export function openReader(path: string): Db {
  const db = new Database(path, { fileMustExist: true });
  db.pragma('query_only = ON');
  db.pragma('busy_timeout = 5000');
  // Reads of the database file map its pages instead of copying them in
  // (random re-rank reads: 6.8 → 4.7 µs each, measured on 60,000 784-d rows).
  // Address space only; the service never shrinks the file (no VACUUM), which
  // is what makes a mapping unsafe.
  db.pragma(`mmap_size = ${READER_MMAP_BYTES}`);
  return db;
}

/**
 * Applies migrations/NNN_name.sql files in numeric order, each in its own
 * transaction, and records them in schema_migrations. Returns the names applied
 * (empty when the database is up to date).
 */
export function migrate(db: Db, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const files = readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const applied: string[] = [];
  for (const file of files) {
    const version = parseInt(file, 10);
    if (done.has(version)) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, new Date().toISOString());
    })();
    applied.push(file);
  }
  return applied;
}
