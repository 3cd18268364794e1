/**
 * A full disk and a data directory that can no longer be written, for real: the
 * data directory is a small ext4 file system on a loop device mounted for the
 * test (needs root, as CI and the development machines run; skipped with a
 * message elsewhere). "No longer writable" is the immutable attribute (chattr
 * +i): unlike a read-only remount, which the kernel refuses while the database
 * is open for writing, it makes every further write fail at once, as a disk
 * remounted read-only after an error does. Writes get 507 / 503 with a message
 * that says why, reads keep working, nothing is corrupted, and writes succeed
 * again once space or write access returns.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, seededVectors } from '../helpers/app.js';

const image = join(tmpdir(), `pqvec-small-disk-${process.pid}.ext4`);

function tryMount(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('truncate', ['-s', '8M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop', image, dir], { stdio: 'ignore' });
    return true;
  } catch (err) {
    console.warn(`[reliability] could not mount a small ext4 image: ${(err as Error).message}`);
    rmSync(image, { force: true });
    return false;
  }
}

/** Writes zeros into `path` until the file system refuses (ENOSPC). */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

const mountPoint = mkdtempSync(join(tmpdir(), 'pqvec-small-disk-'));
const mounted = tryMount(mountPoint);
if (!mounted) console.warn('[reliability] storage tests skipped: mounting a loop device needs root');

describe.skipIf(!mounted)('storage failures', () => {
  let t: TestApp;
  const dataDir = join(mountPoint, 'data');
  const data = seededVectors(200, 8, 3);
  let batch = 0;
  const write = () => t.req('POST', '/collections/s/vectors', { vectors: seededVectors(100, 8, 100 + batch, 10_000 + 100 * batch++) });

  beforeAll(async () => {
    t = await makeApp(dataDir);
    await t.req('POST', '/collections', { name: 's', dimension: 8, quantizer: { type: 'pq', m: 2, nbits: 4 } });
    expect((await t.req('POST', '/collections/s/vectors', { vectors: data })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
    rmSync(image, { force: true });
  });

  const readsWork = async () => {
    const got = await t.req('GET', '/collections/s/vectors/v7');
    expect(got.statusCode).toBe(200);
    expect(got.json().vector).toEqual(data[7].vector);
    const hits = (await t.req('POST', '/collections/s/query', { vector: data[7].vector, k: 1 })).json().results;
    expect(hits[0].id).toBe('v7');
  };

  it('a full disk: writes get 507 insufficient_storage, reads keep working, writes resume once space is freed', async () => {
    const filler = join(mountPoint, 'filler');
    fillDisk(filler);
    let refused = 0;
    // The first writes may still fit in pages SQLite already holds; a full disk refuses soon after.
    for (let i = 0; i < 50 && refused === 0; i++) {
      const r = await write();
      if (r.statusCode === 507) {
        refused++;
        expect(r.json().error).toEqual({
          code: 'insufficient_storage',
          message: 'the disk holding the database is full; writes resume once space is freed',
        });
      } else {
        expect(r.statusCode).toBe(200);
      }
    }
    expect(refused).toBe(1);
    await readsWork();
    rmSync(filler);
    expect((await write()).statusCode).toBe(200);
    expect(t.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('a data directory that cannot be written: writes get 503 storage_unavailable, reads keep working, writes resume once writable', async () => {
    const files = ['pqvec.sqlite', 'pqvec.sqlite-wal', 'pqvec.sqlite-shm', '.'].map((f) => join(dataDir, f));
    execFileSync('chattr', ['+i', ...files]);
    try {
      const r = await write();
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('1');
      expect(r.json().error.code).toBe('storage_unavailable');
      expect(r.json().error.message).toMatch(/cannot be written/);
      await readsWork();
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
    expect((await write()).statusCode).toBe(200);
    const count = (await t.req('GET', '/collections/s')).json().count;
    await t.close();
    t = await makeApp(dataDir);
    expect((await t.req('GET', '/collections/s')).json().count).toBe(count);
    expect(t.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    await readsWork();
  });
});
