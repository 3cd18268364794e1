/** Seeded synthetic vectors for the benchmarks at scale (bench:http-scale, bench:scale). */
import { Rng } from '../../src/core/rng.js';

/** Clusters of the mixture and the dimensions each spreads over. */
const CLUSTERS = 1000;
const LATENT = 12;

/**
 * The seeded mixture: a row is a cluster centre (uniform in [0, 10)^d) plus
 * W·z, z ~ N(0, I) in LATENT dimensions (W a seeded d × LATENT matrix of
 * N(0, 1/LATENT) entries, shared by all clusters), plus N(0, 0.05²) noise:
 * like real embeddings, each cluster spreads over a few directions, so
 * nearest neighbours are meaningful (isotropic noise in 128 dimensions makes
 * every point nearly equidistant from the others of its cluster).
 */
export function mixture(seed: number, d: number): { row: (rng: Rng, out: Float32Array, o: number) => void } {
  const rng = new Rng(seed);
  const gauss = (r: Rng): number => Math.sqrt(-2 * Math.log(1 - r.nextFloat())) * Math.cos(2 * Math.PI * r.nextFloat());
  const centres = new Float32Array(CLUSTERS * d);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.nextFloat() * 10;
  const w = new Float32Array(d * LATENT);
  for (let i = 0; i < w.length; i++) w[i] = gauss(rng) / Math.sqrt(LATENT);
  const z = new Float32Array(LATENT);
  return {
    row: (r, out, o) => {
      const c = r.nextInt(CLUSTERS) * d;
      for (let l = 0; l < LATENT; l++) z[l] = gauss(r);
      for (let t = 0; t < d; t++) {
        let s = centres[c + t] + 0.05 * gauss(r);
        for (let l = 0; l < LATENT; l++) s += w[t * LATENT + l] * z[l];
        out[o + t] = s;
      }
    },
  };
}
