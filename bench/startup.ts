/**
 * Start-up speed: how long rebuilding a collection's in-memory index from SQLite
 * takes (codes from 1,024-row segments, live rows and ids from the vectors table).
 *
 *   npm run bench:startup [-- --rows 1000000 --m 16 --indexed label,r --out bench/results/startup.json]
 *
 * Writes rows through the store (not HTTP) to build the database quickly, then
 * times CollectionService.load() over several rounds. With --indexed, every row
 * gets metadata {label: row mod 10, r: uniform [0, 1), tags: one of four} and
 * the listed fields are indexed, so the load also rebuilds their value indexes
 * from the stored metadata. Writes bench/results/startup.json (or --out).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ProductQuantizer } from '../src/core/pq.js';
import { FlatCodec } from '../src/core/codec.js';
import { serializeCodec } from '../src/core/serialize.js';
import { ComputePool } from '../src/pool/compute-pool.js';
import { CollectionService } from '../src/services/collections.js';
import { openDatabase } from '../src/store/database.js';
import { Store } from '../src/store/store.js';
import { DEFAULT_LIMITS } from '../src/config.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    m: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    indexed: { type: 'string', default: '' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/startup.json') },
  },
});
const rows = Number(args.rows);
const indexedFields = args.indexed === '' ? [] : args.indexed.split(',');
const m = Number(args.m);
const d = m;
const dir = mkdtempSync(join(tmpdir(), 'pqvec-startup-'));
const silent = { info() {}, warn() {}, error() {} };
try {
  const { db, path } = openDatabase(dir, { synchronous: 'NORMAL' });
  const store = new Store(db);
  const col = store.createCollection('big', d, 'l2', { type: 'pq', m, nbits: 8 }, null, indexedFields);
  const train = new Float32Array(4096 * d).map(() => Math.random());
  const { pq } = ProductQuantizer.train(train, 4096, d, { m }, { iterations: 2 });
  const codec = store.insertCodec(col.id, serializeCodec(new FlatCodec(pq)), { relativeMse: 0, trainVectors: 4096, trainSeconds: 0 });
  store.activateCodec(col.id, codec.id, null, { addedSinceTraining: 0, vectorsAtTraining: rows }, 0);
  const batch = 10_000;
  const t0 = performance.now();
  for (let s = 0; s < rows; s += batch) {
    const n = Math.min(batch, rows - s);
    const items = Array.from({ length: n }, (_, i) => ({
      id: `id-${s + i}`,
      vector: train.subarray(((s + i) % 4096) * d, (((s + i) % 4096) + 1) * d),
      metadata:
        indexedFields.length === 0 ? null : JSON.stringify({ label: (s + i) % 10, r: Math.random(), tags: [['a', 'b', 'c', 'd'][(s + i) % 4]] }),
    }));
    const codes = new Uint8Array(n * m).map(() => (Math.random() * 256) | 0);
    store.upsertVectors(col.id, s, items, { codecId: codec.id, codeSize: m, data: codes });
  }
  console.log(`wrote ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s (${machineSummary()})`);
  const pool = new ComputePool({ threads: 1 });
  const times: number[] = [];
  for (let r = 0; r < Number(args.rounds); r++) {
    const service = new CollectionService(store, pool, path, silent, DEFAULT_LIMITS);
    const t = performance.now();
    await service.load();
    times.push(performance.now() - t);
    if (service.get('big').count !== rows) throw new Error('wrong count after load');
  }
  await pool.close();
  db.close();
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1];
  const what = indexedFields.length === 0 ? '' : `, value indexes of ${indexedFields.join(', ')}`;
  console.log(`load of ${rows} rows (${m}-byte codes${what}): median ${median.toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`);
  mkdirSync(resolve(args.out, '..'), { recursive: true });
  writeFileSync(
    args.out,
    JSON.stringify(
      { date: new Date().toISOString(), machine: machineSummary(), rows, codeBytes: m, indexedFields, loadMsMedian: median, loadMs: times },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
