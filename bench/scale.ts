/**
 * pqvec at ten million vectors on one machine, end to end over HTTP: n seeded
 * 128-d vectors (bench/lib/mixture.ts) loaded through the binary bulk upsert,
 * an IVF + PQ collection trained with the automatic nlist, the server
 * restarted (start-up time), then for each nprobe and rerank: 10-recall@10 of
 * `--queries` fresh queries against exact ground truth, latency one request at
 * a time, and queries/s at higher concurrency (autocannon). Batching across
 * requests is on (the default). Memory: the server's RSS after start-up and
 * after the queries, split as in bench/lib/server.ts (anonymous, shared code
 * arenas, file-backed database pages).
 *
 *   npm run bench:scale [-- --n 10000000 --m 16 --queries 1000 --nprobe 16,32,64,128 --rerank 0,4 --concurrency 8,32 --seconds 10]
 *
 * Ground truth: the client computes the queries' exact top 10 while it
 * generates the data, chunk by chunk (float32 SIMD dot products, the norm form
 * ‖q‖² + ‖x‖² − 2⟨q, x⟩; a tie within float32 rounding at the 10th neighbour may
 * go either way). It runs between ingest requests, so it is not counted in the
 * ingest rate. The client shares the machine's two cores with the server.
 * Writes bench/results/scale-<n>.json (scale-10m.json for 10,000,000).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { squaredNorms } from '../src/core/distance.js';
import { Rng } from '../src/core/rng.js';
import { TopK } from '../src/core/topk.js';
import { dotsF32 } from '../src/core/wasm/kernels.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { mixture } from './lib/mixture.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary, percentile } from './lib/report.js';
import { bulkRecords, call, postLoad, rssMiB, startServer, stopServer, trainToCompletion } from './lib/server.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '10000000' },
    d: { type: 'string', default: '128' },
    m: { type: 'string', default: '16' },
    queries: { type: 'string', default: '1000' },
    nprobe: { type: 'string', default: '16,32,64,128' },
    rerank: { type: 'string', default: '0,4' },
    concurrency: { type: 'string', default: '8,32' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '50000' },
    dir: { type: 'string', default: tmpdir() },
    out: { type: 'string' },
  },
});

const n = Number(args.n);
const d = Number(args.d);
const nq = Number(args.queries);
const K = 10;
/** Rows per ground-truth block: nq × GT_BLOCK float32 products at a time. */
const GT_BLOCK = 4096;

/** Exact top K of each query over the rows seen so far; `ids` (nearest first) once finished. */
class GroundTruth {
  readonly ids = new Int32Array(nq * K);
  private readonly heaps = Array.from({ length: nq }, () => new TopK(K));
  private readonly qNorms: Float64Array;
  private readonly dots = new Float32Array(nq * GT_BLOCK);
  private readonly xNorms = new Float64Array(GT_BLOCK);

  constructor(private readonly queries: Float32Array) {
    this.qNorms = squaredNorms(queries, nq, d);
  }

  /** Rows [0, count) of v, ids firstId … */
  add(v: Float32Array, count: number, firstId: number): void {
    for (let s = 0; s < count; s += GT_BLOCK) {
      const b = Math.min(GT_BLOCK, count - s);
      squaredNorms(v.subarray(s * d, (s + b) * d), b, d, this.xNorms);
      dotsF32(this.queries, 0, v, s * d, nq, b, d, this.dots);
      for (let q = 0; q < nq; q++) {
        const heap = this.heaps[q];
        const qn = this.qNorms[q];
        let worst = heap.threshold();
        for (let r = 0; r < b; r++) {
          const dist = qn + this.xNorms[r] - 2 * this.dots[q * b + r];
          if (dist >= worst) continue;
          heap.push(dist, firstId + s + r);
          worst = heap.threshold();
        }
      }
    }
  }

  /** Fills `ids` from the heaps (which it empties). */
  finish(): void {
    for (let q = 0; q < nq; q++) this.ids.set(this.heaps[q].drainSorted().ids, q * K);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(args.dir, 'pqvec-scale-'));
  const out = args.out ?? resolve(REPO_ROOT, `bench/results/scale-${n === 10_000_000 ? '10m' : n}.json`);
  const { row } = mixture(11, d);
  const env = { LOG_LEVEL: 'warn' };
  let server = await startServer(dir, env);
  console.log(`server ${server.url}; ${machineSummary()}; data in ${dir}`);
  try {
    const quantizer = { type: 'pq', m: Number(args.m), nbits: 8, ivf: {} };
    await call(`${server.url}/collections`, 'POST', JSON.stringify({ name: 'scale', dimension: d, quantizer }));

    // Queries: fresh vectors of the same mixture (not stored).
    const qrng = new Rng(99);
    const queries = new Float32Array(nq * d);
    for (let q = 0; q < nq; q++) row(qrng, queries, q * d);
    const truth = new GroundTruth(queries);

    // Ingest: binary records, built (and scored for the ground truth) outside the timed requests.
    const rng = new Rng(12);
    const batch = Number(args.batch);
    const v = new Float32Array(batch * d);
    let ingestSeconds = 0;
    let gtSeconds = 0;
    let lastReport = performance.now();
    for (let s = 0; s < n; s += batch) {
      const count = Math.min(batch, n - s);
      for (let i = 0; i < count; i++) row(rng, v, i * d);
      const body = bulkRecords(s, v, count, d);
      const t = performance.now();
      await call(`${server.url}/collections/scale/vectors/bulk`, 'POST', body, 'application/octet-stream');
      const t1 = performance.now();
      ingestSeconds += (t1 - t) / 1000;
      truth.add(v, count, s);
      gtSeconds += (performance.now() - t1) / 1000;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.log(`  ${s + count} vectors: ingest ${((s + count) / ingestSeconds).toFixed(0)} vectors/s, ground truth ${gtSeconds.toFixed(0)} s`);
      }
    }
    truth.finish();
    const ingest = { vectors: n, batch, seconds: ingestSeconds, vectorsPerSecond: n / ingestSeconds, serverRssMiB: rssMiB(server.proc.pid!) };
    console.log(
      `bulk ingest: ${n} vectors in ${ingestSeconds.toFixed(1)} s = ${ingest.vectorsPerSecond.toFixed(0)} vectors/s (ground truth ${gtSeconds.toFixed(0)} s)`,
    );

    const t0 = performance.now();
    let lastPhase = '';
    const job = await trainToCompletion(server.url, 'scale', {}, (j) => {
      if (j.phase !== lastPhase) console.log(`  training: ${j.phase} at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      lastPhase = j.phase;
    });
    const train = {
      seconds: (performance.now() - t0) / 1000,
      phaseSeconds: job.result.phaseSeconds,
      peakRssBytes: job.result.peakRssBytes,
      peakAnonymousBytes: job.result.peakAnonymousBytes ?? null,
      relativeMse: job.result.relativeMse,
      trainVectors: job.result.trainVectors,
      warnings: job.result.warnings,
    };
    console.log(
      `train: ${train.seconds.toFixed(1)} s ${JSON.stringify(train.phaseSeconds)}, peak RSS ${(train.peakRssBytes / 2 ** 20).toFixed(0)} MiB, relative MSE ${train.relativeMse.toFixed(4)}`,
    );

    // Start-up: a fresh process until /ready (every collection loaded).
    await stopServer(server.proc);
    const t2 = performance.now();
    server = await startServer(dir, env);
    const startupSeconds = (performance.now() - t2) / 1000;
    const startupRssMiB = rssMiB(server.proc.pid!);
    const view = await call(`${server.url}/collections/scale`, 'GET');
    console.log(`start-up ${startupSeconds.toFixed(2)} s; RSS ${JSON.stringify(startupRssMiB)} MiB; nlist ${view.trainedNlist}`);

    const runs = [];
    for (const nprobe of args.nprobe.split(',').map(Number)) {
      for (const rerank of args.rerank.split(',').map(Number)) {
        const bodies = Array.from({ length: nq }, (_, q) =>
          JSON.stringify({ vector: Array.from(queries.subarray(q * d, (q + 1) * d)), k: K, nprobe, rerank }),
        );
        // One request at a time: latency and recall.
        const sums = emptyRecall();
        const latencies: number[] = [];
        const t = performance.now();
        for (let q = 0; q < nq; q++) {
          const t3 = performance.now();
          const r = await call(`${server.url}/collections/scale/query`, 'POST', bodies[q]);
          latencies.push(performance.now() - t3);
          addRecall(
            sums,
            r.results.map((h: { id: string }) => Number(h.id)),
            truth.ids,
            q,
            K,
          );
        }
        const sequentialSeconds = (performance.now() - t) / 1000;
        latencies.sort((a, b) => a - b);
        const { recall1, recall10at10 } = finishRecall(sums);
        const run = {
          nprobe,
          rerank,
          recall1,
          recall10at10,
          concurrency: [
            { concurrency: 1, queriesPerSecond: nq / sequentialSeconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) },
          ],
        };
        for (const connections of args.concurrency.split(',').map(Number)) {
          const r = await postLoad(`${server.url}/collections/scale/query`, bodies, connections, Number(args.seconds));
          if (r.errors > 0) throw new Error(`${r.errors} failed requests at concurrency ${connections}`);
          run.concurrency.push({ concurrency: connections, queriesPerSecond: r.queriesPerSecond, p50Ms: r.p50Ms, p99Ms: r.p99Ms });
        }
        runs.push(run);
        console.log(
          `nprobe ${nprobe}, rerank ${rerank}: 10-recall@10 ${recall10at10.toFixed(4)}, recall@1 ${recall1.toFixed(4)}; ` +
            run.concurrency
              .map((c) => `c${c.concurrency} ${c.queriesPerSecond.toFixed(0)} q/s p50 ${c.p50Ms.toFixed(2)} p99 ${c.p99Ms.toFixed(2)} ms`)
              .join('; '),
        );
      }
    }
    const steadyRssMiB = rssMiB(server.proc.pid!);
    const result = {
      date: new Date().toISOString(),
      machine: machineSummary(),
      n,
      d,
      queries: nq,
      quantizer,
      trainedNlist: view.trainedNlist,
      bytesPerVector: view.bytesPerVector,
      ingest,
      groundTruthSeconds: gtSeconds,
      train,
      startupSeconds,
      startupRssMiB,
      steadyRssMiB,
      // The process's own memory per vector: anonymous + shared (the code arenas); file-backed pages are the mapped database.
      residentBytesPerVector: steadyRssMiB === null ? null : ((steadyRssMiB.anon + steadyRssMiB.shared) * 2 ** 20) / n,
      runs,
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
