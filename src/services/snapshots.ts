/**
 * Backups: consistent copies of the database written while the service keeps
 * serving (SQLite's online backup API through the store), kept as files in
 * DATA_DIR/snapshots/. A snapshot is written under a temporary name and renamed
 * when complete, so a listed snapshot is always whole. Restoring = starting the
 * service on a data directory whose pqvec.sqlite is a snapshot file.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import { Mutex } from './mutex.js';

export interface SnapshotInfo {
  name: string;
  bytes: number;
  createdAt: string;
}

/** Snapshot file names the service writes: pqvec-<UTC time>-<random>.sqlite; nothing else is served. */
const NAME = /^pqvec-\d{8}T\d{6}Z-[0-9a-f]{8}\.sqlite$/;

export class SnapshotService {
  private readonly dir: string;
  /** One snapshot at a time: two would only compete for the disk. */
  private readonly lock = new Mutex();

  constructor(
    private readonly store: Store,
    dataDir: string,
  ) {
    this.dir = join(dataDir, 'snapshots');
  }

  async create(): Promise<SnapshotInfo> {
    return this.lock.run(async () => {
      mkdirSync(this.dir, { recursive: true });
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
      const name = `pqvec-${stamp}-${randomBytes(4).toString('hex')}.sqlite`;
      const partial = join(this.dir, `${name}.partial`);
      try {
        await this.store.backup(partial);
        renameSync(partial, join(this.dir, name));
      } catch (err) {
        rmSync(partial, { force: true });
        throw err;
      }
      return this.info(name);
    });
  }

  list(): SnapshotInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // no snapshot taken yet
      throw err;
    }
    return names
      .filter((n) => NAME.test(n))
      .sort()
      .reverse()
      .map((n) => this.info(n));
  }

  /** The file of a snapshot, or 404. */
  path(name: string): string {
    const path = join(this.dir, name);
    if (!NAME.test(name) || !statSync(path, { throwIfNoEntry: false })?.isFile()) {
      throw new ApiError(404, 'snapshot_not_found', `there is no snapshot '${name}'`);
    }
    return path;
  }

  remove(name: string): void {
    rmSync(this.path(name));
  }

  private info(name: string): SnapshotInfo {
    const st = statSync(join(this.dir, name));
    return { name, bytes: st.size, createdAt: st.mtime.toISOString() };
  }
}
