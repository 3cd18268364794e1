/**
 * ADC scan speed: 1,000,000 synthetic codes (M = 8, 16, 32; 128-d, as the
 * anchors' scan1M128d), one thread, k = 10, ns per code per query.
 *
 *   npm run bench:scan [-- --rounds 7 --queries 20]
 *
 * Prints the median and range over rounds beside FAISS's single-thread figure;
 * writes bench/results/scan.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { adcScan } from '../src/core/adc.js';
import { ProductQuantizer } from '../src/core/pq.js';
import { Rng } from '../src/core/rng.js';
import { TopK } from '../src/core/topk.js';
import { loadAnchors } from './lib/anchors.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    queries: { type: 'string', default: '20' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/scan.json') },
  },
});

const N = 1_000_000;
const D = 128;
const rounds = Number(args.rounds);
const nq = Number(args.queries);
const rng = new Rng(7);
const anchors = loadAnchors();
const rows: { m: number; nsPerCodeMedian: number; nsPerCodeMin: number; nsPerCodeMax: number; faissNsPerCode: number | null }[] = [];
console.log(`ADC scan, ${N} codes, ${nq} queries per round, ${rounds} rounds; ${machineSummary()}`);
for (const m of [8, 16, 32]) {
  // A small trained quantizer gives realistic tables; codes are uniform random bytes.
  const train = new Float32Array(4096 * D);
  for (let i = 0; i < train.length; i++) train[i] = rng.nextFloat();
  const { pq } = ProductQuantizer.train(train, 4096, D, { m }, { iterations: 5 });
  const codes = new Uint8Array(N * m);
  for (let i = 0; i < codes.length; i++) codes[i] = rng.nextU32() & 255;
  const tables: Float32Array[] = [];
  for (let q = 0; q < nq; q++) tables.push(pq.distanceTable(train, q * D, 'l2'));
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (const table of tables) adcScan(codes, 0, N, m, table, 256, new TopK(10));
    perRound.push(((performance.now() - t0) * 1e6) / (N * nq));
  }
  perRound.sort((a, b) => a - b);
  const faiss = anchors?.scan1M128d.find((s) => s.faissFactory === `PQ${m}np` && s.threads === 1)?.nsPerCodeSingleQuery ?? null;
  const row = { m, nsPerCodeMedian: perRound[rounds >> 1], nsPerCodeMin: perRound[0], nsPerCodeMax: perRound[rounds - 1], faissNsPerCode: faiss };
  rows.push(row);
  console.log(
    `PQ${m}: ${row.nsPerCodeMedian.toFixed(2)} ns/code median (${row.nsPerCodeMin.toFixed(2)}–${row.nsPerCodeMax.toFixed(2)})` +
      (faiss === null ? '' : `; FAISS ${faiss} ns/code`),
  );
}
mkdirSync(resolve(args.out, '..'), { recursive: true });
writeFileSync(args.out, `${JSON.stringify({ date: new Date().toISOString(), machine: machineSummary(), codes: N, rows }, null, 2)}\n`);
console.log(`wrote ${args.out}`);
