/**
 * Quality benchmark on Fashion-MNIST: PQ at M = 8, 16, 32 (nbits 8) beside FAISS.
 *
 *   npm run bench:quality [-- --m 8,16 --iterations 50 --init random --seed 1234 --threads 2 --queries 10000]
 *
 * Base = 60,000 train images, queries = 10,000 test images (784-d float32, squared L2).
 * Training uses the worker pool (all cores unless --threads); encoding and search are
 * timed on one thread, as FAISS's figures are. Writes bench/results/quality-fashion-mnist.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { adcScan } from '../src/core/adc.js';
import type { PQTrainOptions } from '../src/core/pq.js';
import { TopK } from '../src/core/topk.js';
import { ComputePool } from '../src/pool/compute-pool.js';
import { anchorFor, loadAnchors } from './lib/anchors.js';
import { REPO_ROOT, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary, printTable } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    m: { type: 'string', default: '8,16,32' },
    iterations: { type: 'string' },
    seed: { type: 'string' },
    init: { type: 'string' },
    threads: { type: 'string' },
    queries: { type: 'string' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/quality-fashion-mnist.json') },
  },
});

export interface QualityRow {
  quantizer: 'pq';
  m: number;
  nbits: number;
  recall1: number;
  recall10at10: number;
  recall100: number;
  relativeMse: number;
  trainSeconds: number;
  trainThreads: number;
  encodeMicrosPerVector: number;
  searchMsPerQuery: number;
  nsPerCode: number;
  faiss: Record<string, number> | null;
}

async function main(): Promise<void> {
  const ds = loadFashionMnistOrExit();
  const ms = meanSquaredNorm(ds.base, ds.nBase, ds.d);
  const anchors = loadAnchors();
  const nQueries = Math.min(ds.nQuery, Number(args.queries ?? ds.nQuery));
  const pool = new ComputePool(args.threads ? { threads: Number(args.threads) } : {});
  const trainOptions: PQTrainOptions = {};
  if (args.iterations) trainOptions.iterations = Number(args.iterations);
  if (args.init) trainOptions.init = args.init as PQTrainOptions['init'];
  if (args.seed) trainOptions.seed = Number(args.seed);
  const rows: QualityRow[] = [];
  console.log(`Fashion-MNIST: ${ds.nBase} base, ${nQueries} queries, d = ${ds.d}; ${machineSummary()}; training on ${pool.threads} threads`);
  try {
    for (const m of args.m.split(',').map(Number)) {
      const t0 = performance.now();
      const { pq, report } = await pool.trainPQ(ds.base, ds.nBase, ds.d, { m, nbits: 8 }, trainOptions);
      const trainSeconds = (performance.now() - t0) / 1000;

      const t1 = performance.now();
      const codes = pq.encode(ds.base, ds.nBase);
      const encodeMicrosPerVector = ((performance.now() - t1) * 1000) / ds.nBase;

      let err = 0;
      const rec = pq.decode(codes, ds.nBase);
      for (let i = 0; i < rec.length; i++) err += (rec[i] - ds.base[i]) ** 2;
      const relativeMse = err / ds.nBase / ms;

      // One query at a time, one thread: distance table, exhaustive scan, top 100.
      const table = new Float32Array(pq.m * pq.ksub);
      const sums = emptyRecall();
      let scanMs = 0;
      const tq = performance.now();
      for (let q = 0; q < nQueries; q++) {
        pq.distanceTable(ds.queries, q * ds.d, 'l2', table);
        const heap = new TopK(100);
        const ts = performance.now();
        adcScan(codes, 0, ds.nBase, pq.m, table, pq.ksub, heap);
        scanMs += performance.now() - ts;
        addRecall(sums, heap.drainSorted().ids, ds.groundTruth, q, ds.gtK);
      }
      const searchMsPerQuery = (performance.now() - tq) / nQueries;
      const anchor = anchorFor(anchors, 'pq', m, 8);
      const row: QualityRow = {
        quantizer: 'pq',
        m,
        nbits: 8,
        ...finishRecall(sums),
        relativeMse,
        trainSeconds,
        trainThreads: pool.threads,
        encodeMicrosPerVector,
        searchMsPerQuery,
        nsPerCode: (scanMs * 1e6) / (nQueries * ds.nBase),
        faiss: anchor
          ? {
              dim: anchor.dim,
              recall1: anchor.recall1,
              recall10at10: anchor.recall10at10,
              recall100: anchor.recall100,
              relativeMse: anchor.relativeMse,
              trainSeconds: anchor.trainSeconds,
              encodeMicrosPerVector: anchor.encodeMicrosPerVector,
              searchMsPerQuery: anchor.searchMsPerQuery,
            }
          : null,
      };
      rows.push(row);
      console.log(
        `PQ${m}: trained in ${trainSeconds.toFixed(1)} s (iterations ${report.iterations.join(',')}, ` +
          `${(report.distanceComputations / 1e6).toFixed(1)} M distances)`,
      );
    }
  } finally {
    await pool.close();
  }
  printTable(rows);
  const result = { dataset: 'fashion-mnist', date: new Date().toISOString(), machine: machineSummary(), queries: nQueries, rows };
  mkdirSync(resolve(args.out, '..'), { recursive: true });
  writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${args.out}`);
}

function meanSquaredNorm(x: Float32Array, n: number, d: number): number {
  let s = 0;
  for (let i = 0; i < n * d; i++) s += x[i] * x[i];
  return s / n;
}

await main();
