/**
 * Quality benchmark on Fashion-MNIST: PQ and OPQ at M = 8, 16, 32 (nbits 8) beside
 * FAISS, and exact re-ranking of k × factor ADC candidates.
 *
 *   npm run bench:quality [-- --quantizers pq,opq --m 8,16 --iterations 50 --opq-iterations 8
 *                            --rerank 1,4,10 --seed 1234 --threads 2 --queries 10000]
 *   npm run bench:additive   (= --quantizers rq,lsq --m 7,8,15,16 --merge)
 *
 * Additive quantizers (rq: m codebooks, --beam; lsq) code m bytes plus a norm byte
 * (`normBytes`): compare rq m = 7 with pq/opq 8 at equal total bytes. Their FAISS
 * figures (ResidualQuantizer with the same beam, LocalSearchQuantizer; one norm byte) are measured in the same
 * run by bench/faiss/additive.py on one thread when /usr/bin/python3 imports
 * faiss (--faiss off skips it); PQ/OPQ's come from ../shared/anchors. --merge
 * keeps the rows of the results file this run does not measure again.
 *
 * An entry of --m may name its bits: `--m 16,32x4` is M = 16 at nbits 8 and
 * M = 32 at nbits 4 (two codes per byte: 16 bytes each). 4-bit codes are
 * searched by the service's fast scan (blocked layout, exact ADC results);
 * 8-bit codes by the plain scan (adc.ts), as before.
 *
 * Base = 60,000 train images, queries = 10,000 test images (784-d float32, squared L2).
 * Training uses the worker pool (all cores unless --threads); encoding and search are
 * timed on one thread, as FAISS's figures are. Re-ranking reads the candidates'
 * vectors from memory here (the service reads them from SQLite).
 * Writes bench/results/quality-fashion-mnist.json and the recall-versus-speed plot
 * bench/results/recall-vs-qps.svg.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { adcScan } from '../src/core/adc.js';
import { AdditiveQuantizer } from '../src/core/additive.js';
import { l2sq } from '../src/core/distance.js';
import { BLOCK_ROWS, type CodeShape, blockCount, rowBytes, writeBlocked } from '../src/core/code-layout.js';
import type { PQTrainOptions } from '../src/core/pq.js';
import { FastScanSession } from '../src/core/wasm/fast-scan.js';
import { allocateCodes, arenaOf } from '../src/core/wasm/scan.js';
import { TopK } from '../src/core/topk.js';
import { trainCodec } from '../src/core/train.js';
import { ComputePool } from '../src/pool/compute-pool.js';
import { RQ_DEFAULT_BEAM } from '../src/tunables.js';
import { anchorFor, loadAnchors } from './lib/anchors.js';
import { REPO_ROOT, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { recallPlot } from './lib/plot.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary, printTable } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    quantizers: { type: 'string', default: 'pq,opq' },
    m: { type: 'string', default: '8,16,32' },
    'opq-iterations': { type: 'string' },
    rerank: { type: 'string', default: '1,4,10' },
    iterations: { type: 'string' },
    seed: { type: 'string' },
    init: { type: 'string' },
    threads: { type: 'string' },
    queries: { type: 'string' },
    beam: { type: 'string' },
    faiss: { type: 'string', default: 'auto' },
    merge: { type: 'boolean', default: false },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/quality-fashion-mnist.json') },
  },
});

type Quantizer = 'pq' | 'opq' | 'rq' | 'lsq';

export interface QualityRow {
  quantizer: Quantizer;
  m: number;
  nbits: number;
  /** Bytes per code: m, or m / 2 at nbits 4; rq: m + normBytes. */
  codeBytes: number;
  /** Of codeBytes, the norm byte of additive codes (0 for pq and opq). */
  normBytes: number;
  /** rq: the encoding beam. */
  beam?: number;
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

/** k = 10 from k × factor ADC candidates re-ranked by exact distance. */
export interface RerankRow {
  quantizer: Quantizer;
  m: number;
  nbits: number;
  rerank: number;
  recall1: number;
  recall10at10: number;
  msPerQuery: number;
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
  const reranked: RerankRow[] = [];
  const factors = args.rerank === '' ? [] : args.rerank.split(',').map(Number);
  console.log(`Fashion-MNIST: ${ds.nBase} base, ${nQueries} queries, d = ${ds.d}; ${machineSummary()}; training on ${pool.threads} threads`);
  try {
    const quantizers = args.quantizers.split(',') as Quantizer[];
    const faissAdditive = faissAdditiveRows(quantizers.filter((q) => q === 'rq' || q === 'lsq'));
    for (const quantizer of quantizers)
      for (const [m, nbits] of args.m.split(',').map((e) => e.split('x').map(Number))) {
        const t0 = performance.now();
        const rotationOptions = args['opq-iterations'] ? { iterations: Number(args['opq-iterations']) } : {};
        const { codec, report } = await trainCodec(
          ds.base,
          ds.nBase,
          ds.d,
          { type: quantizer, m, nbits: nbits ?? 8, ...(args.beam ? { beam: Number(args.beam) } : {}) },
          { ...trainOptions, rotation: rotationOptions },
          pool.trainCompute(),
        );
        const trainSeconds = (performance.now() - t0) / 1000;
        if (codec.kind !== 'flat') throw new Error('no nlist was given: expected a flat codec');
        const pq = codec.quantizer;

        const t1 = performance.now();
        const codes = codec.encode(ds.base, ds.nBase);
        const encodeMicrosPerVector = ((performance.now() - t1) * 1000) / ds.nBase;

        let err = 0;
        const rec = codec.decode(codes, ds.nBase);
        for (let i = 0; i < rec.length; i++) err += (rec[i] - ds.base[i]) ** 2;
        const relativeMse = err / ds.nBase / ms;

        // One query at a time, one thread: distance table, exhaustive scan, top 100.
        const table = new Float32Array(pq.m * pq.ksub);
        const scan = scanner(codes, ds.nBase, pq.geometry);
        const sums = emptyRecall();
        let scanMs = 0;
        const tq = performance.now();
        for (let q = 0; q < nQueries; q++) {
          codec.distanceTable(ds.queries, q * ds.d, 'l2', table);
          const heap = new TopK(100);
          const ts = performance.now();
          scan(table, heap);
          scanMs += performance.now() - ts;
          addRecall(sums, heap.drainSorted().ids, ds.groundTruth, q, ds.gtK);
        }
        const searchMsPerQuery = (performance.now() - tq) / nQueries;
        for (const factor of factors) {
          // One query at a time: table, scan for 10 × factor candidates, exact distances, top 10.
          const sumsR = emptyRecall();
          const tr = performance.now();
          for (let q = 0; q < nQueries; q++) {
            codec.distanceTable(ds.queries, q * ds.d, 'l2', table);
            const heap = new TopK(10 * factor);
            scan(table, heap);
            const candidates = heap.drainSorted().ids;
            const best = new TopK(10);
            for (const row of candidates) best.push(l2sq(ds.queries, q * ds.d, ds.base, row * ds.d, ds.d), row);
            addRecall(sumsR, best.drainSorted().ids, ds.groundTruth, q, ds.gtK);
          }
          const { recall1, recall10at10 } = finishRecall(sumsR);
          reranked.push({ quantizer, m, nbits: pq.nbits, rerank: factor, recall1, recall10at10, msPerQuery: (performance.now() - tr) / nQueries });
        }
        scan.close();
        const anchor = quantizer === 'pq' || quantizer === 'opq' ? anchorFor(anchors, quantizer, m, pq.nbits) : undefined;
        const additive = pq instanceof AdditiveQuantizer ? pq : null;
        const row: QualityRow = {
          quantizer,
          m,
          nbits: pq.nbits,
          codeBytes: pq.codeSize,
          normBytes: additive === null || additive.norm === null ? 0 : 1,
          ...(additive === null ? {} : { beam: additive.beam }),
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
                ...(anchor.opqIterations === undefined ? {} : { opqIterations: anchor.opqIterations }),
                encodeMicrosPerVector: anchor.encodeMicrosPerVector,
                searchMsPerQuery: anchor.searchMsPerQuery,
              }
            : (faissAdditive?.get(`${quantizer}/${m}`) ?? null),
        };
        rows.push(row);
        console.log(
          `${quantizer.toUpperCase()}${m}${pq.nbits === 8 ? '' : `x${pq.nbits}`}: trained in ${trainSeconds.toFixed(1)} s (iterations ${report.iterations.join(',')}, ` +
            `${(report.distanceComputations / 1e6).toFixed(1)} M distances; train MSE ${report.trainMse.toFixed(1)})`,
        );
      }
  } finally {
    await pool.close();
  }
  printTable(rows);
  if (reranked.length > 0) {
    console.log('| setting | rerank | recall@1 | 10-recall@10 | ms/query |\n|---|---|---|---|---|');
    for (const r of reranked) {
      console.log(
        `| ${r.quantizer.toUpperCase()}${r.m}${r.nbits === 8 ? '' : `x${r.nbits}`} | ${r.rerank} | ${r.recall1.toFixed(3)} | ${r.recall10at10.toFixed(3)} | ${r.msPerQuery.toFixed(2)} |`,
      );
    }
  }
  if (args.merge && existsSync(args.out)) {
    // Rows of settings this run did not measure stay, in front of this run's.
    const previous = JSON.parse(readFileSync(args.out, 'utf8')) as { rows: QualityRow[]; reranked: RerankRow[] };
    const key = (r: { quantizer: string; m: number; nbits: number }) => `${r.quantizer}/${r.m}/${r.nbits}`;
    const measured = new Set(rows.map(key));
    rows.unshift(...previous.rows.filter((r) => !measured.has(key(r))).map((r) => ({ ...r, normBytes: r.normBytes ?? 0 })));
    reranked.unshift(...previous.reranked.filter((r) => !measured.has(key(r))));
  }
  const result = { dataset: 'fashion-mnist', date: new Date().toISOString(), machine: machineSummary(), queries: nQueries, rows, reranked };
  mkdirSync(resolve(args.out, '..'), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${args.out}`);
  const plot = resolve(args.out, '..', 'recall-vs-qps.svg');
  writeFileSync(plot, recallPlot(rows, reranked, anchors));
  console.log(`wrote ${plot}`);
}

/**
 * The one-thread scan of a benchmark row: packed 4-bit codes copied into the
 * blocked layout and scanned by the fast scan kernel (exact ADC), else the plain scan.
 */
function scanner(codes: Uint8Array, n: number, shape: CodeShape): { (table: Float32Array, heap: TopK): void; close(): void } {
  if (!shape.packed) return Object.assign((table: Float32Array, heap: TopK) => adcScan(codes, 0, n, shape, table, heap), { close: () => {} });
  const bytes = rowBytes(shape);
  const blocked = allocateCodes(blockCount(n) * BLOCK_ROWS * bytes, bytes);
  writeBlocked(codes, n, bytes, blocked, 0);
  const session = FastScanSession.open(arenaOf(blocked)!, blocked, shape);
  if (session === null) throw new Error('no fast scan session');
  return Object.assign((table: Float32Array, heap: TopK) => void session.search(0, n, table, heap, null), { close: () => session.close() });
}

/**
 * FAISS's ResidualQuantizer / LocalSearchQuantizer at this run's rq / lsq
 * settings (`kind/m` → its row), or null when there are none, faiss is off or
 * cannot be imported.
 */
function faissAdditiveRows(kinds: Quantizer[]): Map<string, Record<string, number>> | null {
  const py = '/usr/bin/python3';
  if (kinds.length === 0 || args.faiss === 'off' || spawnSync(py, ['-c', 'import faiss'], { stdio: 'ignore' }).status !== 0) return null;
  const ms = args.m.split(',').map((e) => Number(e.split('x')[0]));
  const faissArgs = ['--kinds', kinds.join(','), '--m', ms.join(','), '--beam', args.beam ?? String(RQ_DEFAULT_BEAM), '--threads', '1'];
  if (args.queries) faissArgs.push('--queries', args.queries);
  console.log(`FAISS: bench/faiss/additive.py ${faissArgs.join(' ')} (one thread; FAISS's additive training takes long) …`);
  const run = spawnSync(py, [resolve(REPO_ROOT, 'bench/faiss/additive.py'), ...faissArgs], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`bench/faiss/additive.py failed: ${run.stderr}`);
  const out = new Map<string, Record<string, number>>();
  for (const line of run.stdout.trim().split('\n')) {
    const r = JSON.parse(line) as Record<string, number> & { quantizer: string };
    out.set(`${r.quantizer}/${r.m}`, r);
  }
  return out;
}

function meanSquaredNorm(x: Float32Array, n: number, d: number): number {
  let s = 0;
  for (let i = 0; i < n * d; i++) s += x[i] * x[i];
  return s / n;
}

await main();
