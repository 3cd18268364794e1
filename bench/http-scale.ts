/**
 * The service at scale over HTTP: n seeded 128-d vectors (a mixture of
 * clusters of low intrinsic dimension, see mixture()), loaded through the binary bulk upsert, trained, then queried by
 * autocannon at several concurrencies with batching across requests on
 * (QUERY_BATCH_WINDOW_US default) and off (0), on the same data.
 *
 *   npm run bench:http-scale [-- --n 1000000 --m 16 --nlist 0 --rerank 0,4 --concurrency 1,8,32 --seconds 10]
 *
 * --nlist 0 is a flat collection; --nlist N an IVF one (queried with the
 * service's default nprobe, or --nprobe). Recall is the service's own
 * /evaluate against exact search (100 sample queries). The client shares the
 * machine's cores with the server. Writes bench/results/http-scale-<n>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/core/rng.js';
import { mixture } from './lib/mixture.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { machineSummary } from './lib/report.js';
import { bulkRecords, call, postLoad, rssMiB, startServer, stopServer, trainToCompletion } from './lib/server.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    d: { type: 'string', default: '128' },
    m: { type: 'string', default: '16' },
    nlist: { type: 'string', default: '0' },
    nprobe: { type: 'string' },
    rerank: { type: 'string', default: '0,4' },
    concurrency: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '50000' },
    out: { type: 'string' },
  },
});

const n = Number(args.n);
const d = Number(args.d);
const nlist = Number(args.nlist);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqvec-http-scale-'));
  const out = args.out ?? resolve(REPO_ROOT, `bench/results/http-scale-${n}.json`);
  const { row } = mixture(11, d);
  let server = await startServer(dir, {});
  console.log(`server ${server.url}; ${machineSummary()}`);
  try {
    const quantizer = { type: 'pq', m: Number(args.m), nbits: 8, ...(nlist > 0 ? { ivf: { nlist } } : {}) };
    await call(`${server.url}/collections`, 'POST', JSON.stringify({ name: 'scale', dimension: d, quantizer }));

    // Ingest: binary records (u16 id length, id, d float32), built before the clock runs for each request.
    const rng = new Rng(12);
    const batch = Number(args.batch);
    const v = new Float32Array(batch * d);
    let ingestSeconds = 0;
    for (let s = 0; s < n; s += batch) {
      const count = Math.min(batch, n - s);
      for (let i = 0; i < count; i++) row(rng, v, i * d);
      const body = bulkRecords(s, v, count, d);
      const t = performance.now();
      await call(`${server.url}/collections/scale/vectors/bulk`, 'POST', body, 'application/octet-stream');
      ingestSeconds += (performance.now() - t) / 1000;
    }
    const ingest = { vectors: n, batch, seconds: ingestSeconds, vectorsPerSecond: n / ingestSeconds, serverRssMiB: rssMiB(server.proc.pid!) };
    console.log(`bulk ingest: ${n} vectors in ${ingestSeconds.toFixed(1)} s = ${ingest.vectorsPerSecond.toFixed(0)} vectors/s`);

    const t0 = performance.now();
    const state = await trainToCompletion(server.url, 'scale');
    const train = {
      seconds: (performance.now() - t0) / 1000,
      phaseSeconds: state.result.phaseSeconds,
      peakRssBytes: state.result.peakRssBytes,
      peakAnonymousBytes: state.result.peakAnonymousBytes ?? null,
      relativeMse: state.result.relativeMse,
    };
    console.log(
      `train: ${train.seconds.toFixed(1)} s, peak RSS ${(train.peakRssBytes / 2 ** 20).toFixed(0)} MiB, relative MSE ${train.relativeMse.toFixed(4)}`,
    );

    // Query bodies: fresh vectors from the same mixture.
    const qrng = new Rng(99);
    const q = new Float32Array(d);
    const nprobe = args.nprobe === undefined ? undefined : Number(args.nprobe);
    const factors = args.rerank.split(',').map(Number);
    const bodies = (rerank: number) =>
      Array.from({ length: 500 }, () => {
        row(qrng, q, 0);
        return JSON.stringify({ vector: Array.from(q), k: 10, rerank, nprobe });
      });
    const evaluate: Record<number, unknown> = {};
    for (const rerank of factors) {
      evaluate[rerank] = await call(`${server.url}/collections/scale/evaluate`, 'POST', JSON.stringify({ sampleSize: 100, k: 10, rerank, nprobe }));
      const e = evaluate[rerank] as { recallAtK: number; recall1: number };
      console.log(`/evaluate rerank ${rerank}: 10-recall@10 ${e.recallAtK.toFixed(4)}, recall@1 ${e.recall1.toFixed(4)}`);
    }
    const runs = [];
    for (const batching of ['on', 'off']) {
      await stopServer(server.proc);
      server = await startServer(dir, batching === 'off' ? { QUERY_BATCH_WINDOW_US: '0', LOG_LEVEL: 'warn' } : { LOG_LEVEL: 'warn' });
      for (const rerank of factors) {
        const list = bodies(rerank);
        for (const connections of args.concurrency.split(',').map(Number)) {
          const r = await postLoad(`${server.url}/collections/scale/query`, list, connections, Number(args.seconds));
          const run = { batching, rerank, concurrency: connections, ...r };
          runs.push(run);
          console.log(
            `batching ${batching}, rerank ${rerank}, concurrency ${connections}: ${run.queriesPerSecond.toFixed(0)} queries/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, mean ${run.meanMs} ms, errors ${run.errors}`,
          );
        }
      }
    }
    const steadyRssMiB = rssMiB(server.proc.pid!);
    const view = await call(`${server.url}/collections/scale`, 'GET');
    const result = {
      date: new Date().toISOString(),
      machine: machineSummary(),
      n,
      d,
      quantizer,
      trainedNlist: view.trainedNlist,
      bytesPerVector: view.bytesPerVector,
      ingest,
      train,
      evaluate,
      runs,
      steadyRssMiB,
    };
    mkdirSync(resolve(out, '..'), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`server RSS after the queries: ${JSON.stringify(steadyRssMiB)} MiB; wrote ${out}`);
  } finally {
    await stopServer(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
