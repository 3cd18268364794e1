/**
 * Query latency while another collection trains, through the collection
 * service in-process (no HTTP), on Fashion-MNIST.
 *
 *   npm run bench:training-latency [-- --type pq --m 16 --rows 60000 --pause-ms 20 --clients 1 --workers 2]
 *
 * Collection `q`: 5,000 base images, PQ8, trained first. Collection `t`: the
 * first `rows` base images with the quantizer asked for. While `t` trains
 * (default settings), each of `clients` sends one query at a time to `q` (the
 * test images in turn, k = 10, default rerank), `pause-ms` apart (several
 * clients with no pause keep every worker busy: the training must still
 * finish); the report gives the queries' latency before the training (200
 * queries) and during it, and the training's time. Prints one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { QuantizerType } from '../src/core/codec.js';
import { loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { jobEnded } from './lib/jobs.js';
import { machineSummary, percentile } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    type: { type: 'string', default: 'pq' },
    m: { type: 'string', default: '16' },
    rows: { type: 'string', default: '60000' },
    'pause-ms': { type: 'string', default: '20' },
    clients: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
  },
});

const ds = loadFashionMnistOrExit();
const rows = Math.min(ds.nBase, Number(args.rows));
const pauseMs = Number(args['pause-ms']);
const dir = mkdtempSync(join(tmpdir(), 'pqvec-training-latency-'));
const app = await buildApp(
  loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'NORMAL', WORKERS: args.workers, MAX_EVENT_LOOP_DELAY_MS: '0' }),
);
const service = app.collections;
const image = (i: number) => Array.from(ds.base.subarray(i * ds.d, (i + 1) * ds.d));
const query = (i: number) => Array.from(ds.queries.subarray((i % ds.nQuery) * ds.d, ((i % ds.nQuery) + 1) * ds.d));
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => Number(percentile(s, p).toFixed(2));
  return { queries: s.length, p50: at(50), p90: at(90), p99: at(99), max: Number(s[s.length - 1].toFixed(2)) };
};
try {
  service.create({ name: 'q', dimension: ds.d, metric: 'l2', quantizer: { type: 'pq', m: 8, nbits: 8 } });
  for (let s = 0; s < 5000; s += 1000)
    await service.upsert(
      'q',
      Array.from({ length: 1000 }, (_, j) => ({ id: String(s + j), vector: image(s + j) })),
    );
  await jobEnded(service, 'q', service.train('q', {}).id);
  service.create({ name: 't', dimension: ds.d, metric: 'l2', quantizer: { type: args.type as QuantizerType, m: Number(args.m), nbits: 8 } });
  for (let s = 0; s < rows; s += 2000) {
    const n = Math.min(2000, rows - s);
    await service.upsert(
      't',
      Array.from({ length: n }, (_, j) => ({ id: String(s + j), vector: image(s + j) })),
    );
  }
  const idle: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await service.query('q', [query(i)], { k: 10 });
    idle.push(performance.now() - t0);
  }
  const t0 = performance.now();
  let done = false;
  const job = jobEnded(service, 't', service.train('t', {}).id).then((j) => {
    done = true;
    return j;
  });
  const during: number[] = [];
  const clients = Number(args.clients);
  const client = async (c: number) => {
    for (let i = c; !done; i += clients) {
      const q0 = performance.now();
      await service.query('q', [query(i)], { k: 10 });
      during.push(performance.now() - q0);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const j = await job;
  console.log(
    JSON.stringify({
      machine: machineSummary(),
      type: args.type,
      m: Number(args.m),
      rows,
      workers: Number(args.workers),
      pauseMs,
      clients,
      training: { state: j.state, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) },
      idleMs: summary(idle),
      duringTrainingMs: summary(during),
    }),
  );
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
