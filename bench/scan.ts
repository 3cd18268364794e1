/**
 * ADC scan speed: 1,000,000 synthetic codes (M = 8, 16, 32; 128-d, as the
 * anchors' scan1M128d), k = 10, ns per code per query (distance tables included).
 *
 *   npm run bench:scan [-- --rounds 5 --queries 32 --m 8,16,32]
 *
 * Rows: the reference scan (adc.ts, one query at a time, one thread); the
 * WebAssembly kernels (core/wasm/scan.ts) with 1, 8 and 32 queries per pass over
 * the codes, in this thread, and through the compute pool's two workers (the
 * service's path: each worker scans half the rows). FAISS IndexPQ is measured
 * in the same run (bench/faiss/scan.py) when /usr/bin/python3 imports faiss,
 * else its single-query figures come from ../shared/anchors (faissSource says which).
 * Writes bench/results/scan.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { adcScan } from '../src/core/adc.js';
import { FlatCodec } from '../src/core/codec.js';
import { ProductQuantizer } from '../src/core/pq.js';
import { Rng } from '../src/core/rng.js';
import { TopK } from '../src/core/topk.js';
import { allocateCodes, arenaOf, kernelScan } from '../src/core/wasm/scan.js';
import { ComputePool } from '../src/pool/compute-pool.js';
import { loadAnchors } from './lib/anchors.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    queries: { type: 'string', default: '32' },
    m: { type: 'string', default: '8,16,32' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/scan.json') },
  },
});

const N = 1_000_000;
const D = 128;
const K = 10;
const rounds = Number(args.rounds);
const nq = Number(args.queries);
const ms = args.m.split(',').map(Number);

interface Row {
  kernel: 'reference' | 'wasm';
  m: number;
  nbits: number;
  codeBytes: number;
  queriesPerPass: number;
  workers: number;
  nsPerCode: number;
  nsPerCodeRange: [number, number];
  faissNsPerCode: number | null;
  faissSource: 'measured' | 'anchors' | null;
}

/** FAISS in this run: (m, queries per call, threads) → ns per code per query; null when faiss cannot be imported. */
function faissFigures(): Map<string, number> | null {
  const py = '/usr/bin/python3';
  if (spawnSync(py, ['-c', 'import faiss'], { stdio: 'ignore' }).status !== 0) return null;
  console.log('FAISS: bench/faiss/scan.py …');
  const run = spawnSync(py, [resolve(REPO_ROOT, 'bench/faiss/scan.py'), '--m', args.m, '--queries', String(nq), '--rounds', String(rounds)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (run.status !== 0) throw new Error(`bench/faiss/scan.py failed: ${run.stderr}`);
  const out = new Map<string, number>();
  for (const line of run.stdout.trim().split('\n')) {
    const r = JSON.parse(line) as { m: number; threads: number; queriesPerCall: number; nsPerCode: number };
    out.set(`${r.m}/${r.queriesPerCall}/${r.threads}`, r.nsPerCode);
  }
  return out;
}

/** Median and range of ns per code per query over rounds of `once` (which scans nq queries over N codes). */
async function measure(once: () => void | Promise<void>): Promise<{ median: number; range: [number, number] }> {
  await once(); // warm-up: compiles the kernels
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await once();
    per.push(((performance.now() - t0) * 1e6) / (N * nq));
  }
  per.sort((a, b) => a - b);
  return { median: per[rounds >> 1], range: [per[0], per[rounds - 1]] };
}

const faiss = faissFigures();
const anchors = loadAnchors();
const rows: Row[] = [];
const pool = new ComputePool({ threads: 2 });
const rng = new Rng(7);
console.log(`ADC scan, ${N} codes, ${nq} queries, ${rounds} rounds; ${machineSummary()}`);
try {
  for (const m of ms) {
    // A small trained quantizer gives realistic tables; codes are uniform random bytes.
    const train = new Float32Array(4096 * D);
    for (let i = 0; i < train.length; i++) train[i] = rng.nextFloat();
    const { pq } = ProductQuantizer.train(train, 4096, D, { m }, { iterations: 5 });
    const codec = new FlatCodec(pq);
    const codes = allocateCodes(N * m, m);
    for (let i = 0; i < codes.length; i++) codes[i] = rng.nextU32() & 255;
    const arena = arenaOf(codes)!;
    const queries = new Float32Array(nq * D);
    for (let i = 0; i < queries.length; i++) queries[i] = rng.nextFloat();
    const dead = new Uint8Array(new SharedArrayBuffer(N));
    const add = (kernel: Row['kernel'], queriesPerPass: number, workers: number, t: { median: number; range: [number, number] }) => {
      let f = faiss?.get(`${m}/${queriesPerPass}/${workers}`) ?? null;
      let source: Row['faissSource'] = f === null ? null : 'measured';
      if (faiss === null && queriesPerPass === 1) {
        f = anchors?.scan1M128d.find((s) => s.faissFactory === `PQ${m}np` && s.threads === workers)?.nsPerCodeSingleQuery ?? null;
        source = f === null ? null : 'anchors';
      }
      const row: Row = {
        kernel,
        m,
        nbits: 8,
        codeBytes: m,
        queriesPerPass,
        workers,
        nsPerCode: t.median,
        nsPerCodeRange: t.range,
        faissNsPerCode: f,
        faissSource: source,
      };
      rows.push(row);
      const vs = f === null ? '' : `; FAISS ${f.toFixed(2)} (${(t.median / f).toFixed(2)}×)`;
      console.log(
        `PQ${m} ${kernel} ${queriesPerPass} per pass, ${workers} worker(s): ${t.median.toFixed(2)} ns/code/query (${t.range.map((x) => x.toFixed(2)).join('–')})${vs}`,
      );
    };
    const table = new Float32Array(m * 256);
    add(
      'reference',
      1,
      1,
      await measure(() => {
        for (let q = 0; q < nq; q++) adcScan(codes, 0, N, m, codec.distanceTable(queries, q * D, 'l2', table), 256, new TopK(K));
      }),
    );
    for (const perPass of [1, 8, 32]) {
      add(
        'wasm',
        perPass,
        1,
        await measure(() => {
          for (let q0 = 0; q0 < nq; q0 += perPass) {
            const heaps = Array.from({ length: perPass }, () => new TopK(K));
            const tableOf = (q: number, out: Float32Array) => codec.distanceTable(queries, (q0 + q) * D, 'l2', out);
            if (!kernelScan({ arena, codes, m, start: 0, end: N, rows: null, nq: perPass, tableOf, heaps })) throw new Error('no scan slot');
          }
        }),
      );
    }
    for (const perPass of [1, 8, 32]) {
      add(
        'wasm',
        perPass,
        2,
        await measure(async () => {
          for (let q0 = 0; q0 < nq; q0 += perPass) {
            await pool.search({
              codec,
              codes,
              dead,
              rows: N,
              metric: 'l2',
              queries: queries.subarray(q0 * D, (q0 + perPass) * D),
              nq: perPass,
              k: K,
              skipFirst: false,
            });
          }
        }),
      );
    }
  }
} finally {
  await pool.close();
}
mkdirSync(resolve(args.out, '..'), { recursive: true });
writeFileSync(
  args.out,
  `${JSON.stringify({ date: new Date().toISOString(), machine: machineSummary(), codes: N, dim: D, k: K, queries: nq, rows }, null, 2)}\n`,
);
console.log(`wrote ${args.out}`);
