/** Seeded synthetic data for tests. */
import { Rng } from '../../src/core/rng.js';

/** Standard normal draws (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u = 1 - rng.nextFloat();
  const v = rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** n × d points around `clusters` random centres (spread 1, centres spread `sep`). */
export function blobs(n: number, d: number, clusters: number, seed: number, sep = 4): Float32Array {
  const rng = new Rng(seed);
  const centres = new Float32Array(clusters * d);
  for (let i = 0; i < centres.length; i++) centres[i] = gaussian(rng) * sep;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = rng.nextInt(clusters);
    for (let t = 0; t < d; t++) x[i * d + t] = centres[c * d + t] + gaussian(rng);
  }
  return x;
}

/** n × d uniform values in [0, 1). */
export function uniform(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat();
  return x;
}

/**
 * n × d correlated Gaussian data: independent sources with decaying variances
 * (variance of source t ∝ 0.8^t) mixed by a random orthogonal-ish matrix, so
 * the variance is spread unevenly and across coordinates (what OPQ exploits).
 */
export function correlated(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const mix = new Float64Array(d * d);
  for (let i = 0; i < mix.length; i++) mix[i] = gaussian(rng) / Math.sqrt(d);
  const x = new Float32Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) z[t] = gaussian(rng) * 10 * 0.8 ** (t / 2);
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += z[t] * mix[t * d + a];
      x[i * d + a] = s;
    }
  }
  return x;
}
