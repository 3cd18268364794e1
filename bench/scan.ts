/**
 * ADC scan speed: 1,000,000 synthetic codes (M = 8, 16, 32; 128-d, as the
 * anchors' scan1M128d), k = 10, ns per code per query (distance tables included).
 *
 *   npm run bench:scan [-- --rounds 5 --queries 32 --m 8,16,32 --fast 32,64]
 *
 * Rows: the reference scan (adc.ts, one query at a time, one thread); the
 * WebAssembly kernels (core/wasm/scan.ts) with 1, 8 and 32 queries per pass over
 * the codes, in this thread, and through the compute pool's two workers (the
 * service's path: each worker scans half the rows); the 4-bit fast scan
 * (core/wasm/fast-scan.ts: nbits 4, m = 32 and 64 for 16 and 32 bytes per
 * code, exact ADC results) in this thread and through the pool. FAISS IndexPQ
 * and IndexPQFastScan are measured in the same run (bench/faiss/scan.py) when
 * /usr/bin/python3 imports faiss, else IndexPQ's single-query figures come from
 * ../shared/anchors (faissSource says which).
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
import { BLOCK_ROWS, blockCount } from '../src/core/code-layout.js';
import { FastScanSession } from '../src/core/wasm/fast-scan.js';
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
    fast: { type: 'string', default: '32,64' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/scan.json') },
  },
});

const N = 1_000_000;
const D = 128;
const K = 10;
const rounds = Number(args.rounds);
const nq = Number(args.queries);
const ms = args.m.split(',').map(Number);
const fastMs = args.fast.split(',').filter(Boolean).map(Number);

interface Row {
  kernel: 'reference' | 'wasm' | 'fast-scan';
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
  const faissArgs = ['--m', args.m, '--fast', args.fast, '--queries', String(nq), '--rounds', String(rounds)];
  const run = spawnSync(py, [resolve(REPO_ROOT, 'bench/faiss/scan.py'), ...faissArgs], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (run.status !== 0) throw new Error(`bench/faiss/scan.py failed: ${run.stderr}`);
  const out = new Map<string, number>();
  for (const line of run.stdout.trim().split('\n')) {
    const r = JSON.parse(line) as { m: number; nbits: number; threads: number; queriesPerCall: number; nsPerCode: number };
    out.set(`${r.m}/${r.nbits}/${r.queriesPerCall}/${r.threads}`, r.nsPerCode);
  }
  return out;
}

interface Timing {
  median: number;
  range: [number, number];
}

/** Median and range of ns per code per query over rounds of `once` (which scans nq queries over N codes). */
async function measure(once: () => void | Promise<void>): Promise<Timing> {
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

/** Records and prints a row beside FAISS's figure for the same setting (measured in this run, else the anchors' for single 8-bit queries). */
function addRow(setting: Pick<Row, 'kernel' | 'm' | 'nbits' | 'codeBytes' | 'queriesPerPass' | 'workers'>, t: Timing): void {
  const { m, nbits, queriesPerPass, workers } = setting;
  let f = faiss?.get(`${m}/${nbits}/${queriesPerPass}/${workers}`) ?? null;
  let source: Row['faissSource'] = f === null ? null : 'measured';
  if (faiss === null && queriesPerPass === 1 && nbits === 8) {
    f = anchors?.scan1M128d.find((s) => s.faissFactory === `PQ${m}np` && s.threads === workers)?.nsPerCodeSingleQuery ?? null;
    source = f === null ? null : 'anchors';
  }
  rows.push({ ...setting, nsPerCode: t.median, nsPerCodeRange: t.range, faissNsPerCode: f, faissSource: source });
  const name = nbits === 8 ? `PQ${m}` : `PQ${m}x${nbits} (${setting.codeBytes} bytes)`;
  const vs = f === null ? '' : `; FAISS ${nbits === 8 ? 'IndexPQ' : 'IndexPQFastScan'} ${f.toFixed(2)} (${(t.median / f).toFixed(2)}×)`;
  console.log(
    `${name} ${setting.kernel} ${queriesPerPass} per pass, ${workers} worker(s): ${t.median.toFixed(2)} ns/code/query (${t.range.map((x) => x.toFixed(2)).join('–')})${vs}`,
  );
}
const pool = new ComputePool({ threads: 2 });

/** The nq queries through the pool's search (the service's path), perPass to a call. */
async function poolSearches(codec: FlatCodec, codes: Uint8Array, dead: Uint8Array, queries: Float32Array, perPass: number): Promise<void> {
  for (let q0 = 0; q0 < nq; q0 += perPass) {
    const queriesOfCall = queries.subarray(q0 * D, (q0 + perPass) * D);
    await pool.search({ codec, codes, dead, rows: N, metric: 'l2', queries: queriesOfCall, nq: perPass, k: K, skipFirst: false });
  }
}
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
    const add = (kernel: Row['kernel'], queriesPerPass: number, workers: number, t: Timing) =>
      addRow({ kernel, m, nbits: 8, codeBytes: m, queriesPerPass, workers }, t);
    const table = new Float32Array(m * 256);
    add(
      'reference',
      1,
      1,
      await measure(() => {
        for (let q = 0; q < nq; q++) adcScan(codes, 0, N, codec.quantizer.geometry, codec.distanceTable(queries, q * D, 'l2', table), new TopK(K));
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
          await poolSearches(codec, codes, dead, queries, perPass);
        }),
      );
    }
  }
  for (const m of fastMs) {
    // 4-bit codes, two per byte, in the blocked layout a flat index keeps: random bytes are random codes.
    const train = new Float32Array(4096 * D);
    for (let i = 0; i < train.length; i++) train[i] = rng.nextFloat();
    const codec = new FlatCodec(ProductQuantizer.train(train, 4096, D, { m, nbits: 4 }, { iterations: 5 }).pq);
    const bytes = codec.codeSize;
    const codes = allocateCodes(blockCount(N) * BLOCK_ROWS * bytes, bytes);
    for (let i = 0; i < codes.length; i++) codes[i] = rng.nextU32() & 255;
    const queries = new Float32Array(nq * D);
    for (let i = 0; i < queries.length; i++) queries[i] = rng.nextFloat();
    const dead = new Uint8Array(new SharedArrayBuffer(N));
    const add = (workers: number, t: Timing) => addRow({ kernel: 'fast-scan', m, nbits: 4, codeBytes: bytes, queriesPerPass: 1, workers }, t);
    const session = FastScanSession.open(arenaOf(codes)!, codes, codec.quantizer.geometry);
    if (session === null) throw new Error('no scan slot');
    const table = new Float32Array(m * 16);
    let candidates = 0;
    try {
      add(
        1,
        await measure(() => {
          for (let q = 0; q < nq; q++) {
            candidates += session.search(0, N, codec.distanceTable(queries, q * D, 'l2', table), new TopK(K), null).candidates;
          }
        }),
      );
    } finally {
      session.close();
    }
    console.log(`  candidates scored exactly per query: ${(candidates / (nq * (rounds + 1))).toFixed(1)}`);
    add(
      2,
      await measure(async () => {
        await poolSearches(codec, codes, dead, queries, 1);
      }),
    );
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
