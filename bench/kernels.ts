/**
 * Dense kernels, one thread: the WebAssembly SIMD A·Bᵀ (dotsF32) against the
 * scalar float64 one (linalg.matmulABt) on an OPQ rotation's shape (rows × 784
 * times 784 × 784), and nearest-centroid search (nearestF32) on PQ8's shape
 * (256 centroids of 98 dimensions). Synthetic uniform data in [−1, 1).
 *
 *   npm run bench:kernels [-- --rounds 5 --rows 4096]
 *
 * Prints the median multiply-adds per second over rounds and the ratio;
 * writes bench/results/kernels.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { matmulABt } from '../src/core/linalg.js';
import { Rng } from '../src/core/rng.js';
import { dotsF32, nearestF32 } from '../src/core/wasm/kernels.js';
import { REPO_ROOT } from './lib/fashion-mnist.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    rows: { type: 'string', default: '4096' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/kernels.json') },
  },
});

const rounds = Number(args.rounds);
const n = Number(args.rows);
const D = 784;
const rng = new Rng(3);
const uniformRows = (rows: number, d: number): Float32Array => Float32Array.from({ length: rows * d }, () => rng.nextFloat() * 2 - 1);

/** Median giga multiply-adds per second of `run` over the rounds. */
function gmacs(macs: number, run: () => void): number {
  const speeds: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    run();
    speeds.push(macs / ((performance.now() - t0) * 1e6));
  }
  return speeds.sort((a, b) => a - b)[rounds >> 1];
}

console.log(`dense kernels, one thread, ${rounds} rounds; ${machineSummary()}`);
const x = uniformRows(n, D);
const R = uniformRows(D, D);
const out64 = new Float64Array(n * D);
const out32 = new Float32Array(n * D);
const scalar = gmacs(n * D * D, () => matmulABt(x, 0, R, 0, n, D, D, out64));
const simd = gmacs(n * D * D, () => dotsF32(x, 0, R, 0, n, D, D, out32));
console.log(
  `rotation ${n} × ${D} · ${D} × ${D}: scalar float64 ${scalar.toFixed(2)} GMAC/s, SIMD float32 ${simd.toFixed(2)} GMAC/s (×${(simd / scalar).toFixed(1)})`,
);

const [k, ds] = [256, 98];
const c = uniformRows(k, ds);
const norms = Float64Array.from({ length: k }, (_, j) => {
  let s = 0;
  for (let t = 0; t < ds; t++) s += c[j * ds + t] ** 2;
  return s;
});
const codes = new Uint8Array(n);
const nearest = gmacs(n * k * ds, () => nearestF32(x, 0, D, n, c, 0, k, ds, norms, 0, codes, 0, 1));
console.log(`nearest centroid, ${n} rows, ${k} × ${ds} codebook: SIMD float32 ${nearest.toFixed(2)} GMAC/s`);

mkdirSync(resolve(args.out, '..'), { recursive: true });
const result = {
  date: new Date().toISOString(),
  machine: machineSummary(),
  rows: n,
  rotation: { scalarGmacs: scalar, simdGmacs: simd },
  nearestGmacs: nearest,
};
writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${args.out}`);
