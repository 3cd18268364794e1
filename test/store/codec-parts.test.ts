import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/app.js';

const stats = { relativeMse: 0.1, trainVectors: 10, trainSeconds: 1 };

describe('codecs stored in parts', () => {
  const dir = tempDir();
  const { db } = openDatabase(dir, { synchronous: 'NORMAL' });
  afterAll(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const collection = (name: string) =>
    (
      db
        .prepare(
          `INSERT INTO collections (name, dimension, metric, quantizer, created_at) VALUES (?, 2, 'l2', '{"type":"pq","m":1,"nbits":8}', 'now') RETURNING id`,
        )
        .get(name) as { id: number }
    ).id;
  const parts = (codecId: number) => (db.prepare('SELECT COUNT(*) FROM codec_parts WHERE codec_id = ?').pluck().get(codecId) as number) + 1;

  it('splits a codec into parts of the set size and reads it back whole; a codec that fits one part has none', () => {
    const store = new Store(db, 10);
    const c = collection('small-parts');
    for (const [n, want] of [
      [35, 4],
      [20, 2],
      [10, 1],
      [3, 1],
    ] as const) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      const { id } = store.insertCodec(c, bytes, stats);
      expect(parts(id)).toBe(want);
      expect(Buffer.from(store.codec(id)!.bytes)).toEqual(Buffer.from(bytes));
    }
    // Deleting a codec deletes its parts.
    const { id } = store.insertCodec(c, new Uint8Array(25), stats);
    store.deleteCodec(id);
    expect(parts(id)).toBe(1);
  });

  it('stores and reads a codec larger than one BLOB may be (~512 MiB: an LOPQ codec of 256 cells at d = 784 is 632 MB)', () => {
    const store = new Store(db);
    const c = collection('large');
    const bytes = new Uint8Array(600 * 2 ** 20);
    for (let i = 0; i < bytes.length; i += 4093) bytes[i] = (i >>> 12) & 255;
    const { id } = store.insertCodec(c, bytes, stats);
    const back = store.codec(id)!.bytes;
    expect(back.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.length), Buffer.from(bytes.buffer))).toBe(0);
    store.deleteCodec(id);
  }, 120_000);
});
