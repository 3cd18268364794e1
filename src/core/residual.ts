/**
 * Residual quantization (RQ) training: M codebooks learnt one stage at a
 * time, stage m a k-means (256 centroids, full dimension) on what stages
 * 0 … m − 1 left of each training vector. The training vectors are encoded
 * with the same beam search as encoding (additive.ts) as the stages are
 * added: each stage extends every vector's beam of partial codes, and the
 * next k-means learns the residuals of each vector's best partial code
 * (FAISS learns those of the whole beam; one per vector costs a beam-th of
 * the k-means time). Pure: the heavy steps go through a TrainCompute (the
 * k-means as the IVF coarse one; the beam extension split over row ranges).
 */
import { ADDITIVE_K, AdditiveQuantizer, BeamScratch, type BeamState, NormQuantizer, beamState, crossAt, extendBeam } from './additive.js';
import { dot, squaredNorms } from './distance.js';
import { QuantizerInputError, checkInteger } from './errors.js';
import { gatherRows } from './kmeans.js';
import { Rng, deriveSeed, sampleIndices } from './rng.js';
import type { TrainCompute } from './rotation.js';
import { dotsF32 } from './wasm/kernels.js';
import { ADDITIVE_LIMITS, KMEANS_DEFAULTS, RQ_DEFAULT_BEAM, RQ_KMEANS_ITERATIONS } from '../tunables.js';

export interface ResidualTrainConfig {
  /** Codebooks (stages). */
  m: number;
  /** Partial codes kept per stage, in training and encoding. Default RQ_DEFAULT_BEAM. */
  beam?: number;
  /** Keep ‖x̂‖² in a byte (L2 search needs it). */
  norm: boolean;
}

export interface ResidualTrainOptions {
  /** Lloyd iterations of each stage's k-means (at most). Default RQ_KMEANS_ITERATIONS. */
  iterations?: number;
  /** Default 1234. */
  seed?: number;
  /** Training vectors: at most this many per codeword (256 × this in all). Default 256. */
  maxPointsPerCentroid?: number;
}

export interface AdditiveTrainReport {
  nTrain: number;
  /** Mean ‖x − x̂‖² over the training vectors, as encoded. */
  trainMse: number;
  /** Mean squared error after each stage (non-increasing). */
  stageMse: number[];
  warnings: string[];
}

/**
 * What extending the training vectors' beams by stage m needs (a pool task
 * splits the rows): the sample (n × d), the codebooks learnt so far
 * (0 … m; additive.ts layout), the beams (shared memory, written in place),
 * and the outputs: each row's best residual x − x̂ (n × d) and the cross
 * terms of its ‖x̂‖² (ν = ‖x̂‖² − Σ ‖cᵢ‖², what the norm byte holds).
 */
export interface BeamExtension {
  sample: Float32Array;
  n: number;
  d: number;
  codebooks: Float32Array;
  m: number;
  state: BeamState;
  residuals: Float32Array;
  crossTerms: Float64Array;
}

/** Rows per block of the extension's dot products (rows × 256 floats). */
const EXTEND_BLOCK_ROWS = 512;

/** Extends rows [start, end) of a BeamExtension (pure: what a worker runs). */
export function extendBeams(task: BeamExtension, start: number, end: number): void {
  const { sample, d, codebooks, m, state, residuals, crossTerms } = task;
  const K = ADDITIVE_K;
  const M = state.M;
  // Stage m's codeword norms and its cross products with the earlier stages (blocks crossAt(i, m)).
  const norms = new Float64Array((m + 1) * K);
  squaredNorms(codebooks.subarray(m * K * d, (m + 1) * K * d), K, d, norms.subarray(m * K));
  const crossFrom = crossAt(0, m);
  const cross = new Float32Array(m * K * K);
  for (let i = 0; i < m; i++) dotsF32(codebooks, i * K * d, codebooks, m * K * d, K, K, d, cross, crossAt(i, m) - crossFrom);
  const scratch = new BeamScratch(M, state.beam);
  const dots = new Float32Array(Math.min(EXTEND_BLOCK_ROWS, Math.max(1, end - start)) * K);
  for (let s = start; s < end; s += EXTEND_BLOCK_ROWS) {
    const b = Math.min(EXTEND_BLOCK_ROWS, end - s);
    dotsF32(sample, s * d, codebooks, m * K * d, b, K, d, dots);
    for (let r = 0; r < b; r++) {
      const row = s + r;
      const xx = m === 0 ? dot(sample, row * d, sample, row * d, d) : 0;
      extendBeam(state, row, m, xx, dots, r * K, norms, cross, scratch, crossFrom);
      // The best entry's residual, and its ‖x̂‖² less the squared codeword norms.
      const best = row * state.beam * M;
      let nn = 0;
      for (let t = 0; t < d; t++) {
        let y = 0;
        for (let i = 0; i <= m; i++) y += codebooks[(i * K + state.codes[best + i]) * d + t];
        residuals[row * d + t] = sample[row * d + t] - y;
        nn += y * y;
      }
      for (let i = 0; i <= m; i++) {
        const c = (i * K + state.codes[best + i]) * d;
        nn -= dot(codebooks, c, codebooks, c, d);
      }
      crossTerms[row] = nn;
    }
  }
}

/**
 * Trains a residual quantizer on n × d rows; onProgress(fraction) after each
 * stage. Needs at least 256 rows (a codeword each).
 */
export async function trainResidualQuantizer(
  data: Float32Array,
  n: number,
  d: number,
  config: ResidualTrainConfig,
  options: ResidualTrainOptions,
  compute: Pick<TrainCompute, 'trainCoarse' | 'extendBeams'>,
  onProgress?: (fraction: number) => void,
): Promise<{
  quantizer: AdditiveQuantizer;
  report: AdditiveTrainReport;
  /** The training sample (shared) and its codes (nt × M, shared): where LSQ's training starts. */
  sample: Float32Array;
  codes: Uint8Array;
}> {
  const M = config.m;
  const beam = config.beam ?? RQ_DEFAULT_BEAM;
  const K = ADDITIVE_K;
  checkInteger('m (codebooks)', M, 1, ADDITIVE_LIMITS.maxCodebooks);
  checkInteger('beam', beam, 1, ADDITIVE_LIMITS.maxBeam);
  checkInteger('dimension', d, 1);
  if (data.length < n * d) throw new QuantizerInputError(`data holds ${data.length} values, fewer than n × d = ${n * d}`);
  if (n < K) throw new QuantizerInputError(`training a residual quantizer (${K} codewords per codebook) needs at least ${K} vectors, got ${n}`);
  const seed = options.seed ?? KMEANS_DEFAULTS.seed;
  const cap = (options.maxPointsPerCentroid ?? KMEANS_DEFAULTS.maxPointsPerCentroid) * K;
  const nt = Math.min(n, cap);
  const sample = new Float32Array(new SharedArrayBuffer(nt * d * 4));
  sample.set(n <= cap ? data.subarray(0, nt * d) : gatherRows(data, d, sampleIndices(n, nt, new Rng(deriveSeed(seed, 0x5a3b1e)))));
  const residuals = new Float32Array(new SharedArrayBuffer(nt * d * 4));
  residuals.set(sample);
  const codebooks = new Float32Array(new SharedArrayBuffer(M * K * d * 4));
  const state = beamState(nt, M, beam, true);
  const crossTerms = new Float64Array(new SharedArrayBuffer(nt * 8));
  const warnings = new Set<string>();
  const stageMse: number[] = [];
  for (let m = 0; m < M; m++) {
    const trained = await compute.trainCoarse(residuals, nt, d, K, {
      iterations: options.iterations ?? RQ_KMEANS_ITERATIONS,
      seed: deriveSeed(seed, m),
    });
    for (const w of trained.warnings) warnings.add(w.replace(/^coarse quantizer: /, 'residual quantizer: '));
    codebooks.set(trained.centroids, m * K * d);
    await compute.extendBeams({ sample, n: nt, d, codebooks, m, state, residuals, crossTerms });
    let sum = 0;
    for (let r = 0; r < nt; r++) sum += state.dist[r * beam];
    stageMse.push(sum / nt);
    onProgress?.((m + 1) / M);
  }
  const norm = config.norm ? NormQuantizer.train(crossTerms, nt) : null;
  const quantizer = new AdditiveQuantizer('rq', d, M, Float32Array.from(codebooks), norm, beam);
  const codes = new Uint8Array(new SharedArrayBuffer(nt * M));
  for (let r = 0; r < nt; r++) codes.set(state.codes.subarray(r * beam * M, r * beam * M + M), r * M);
  return { quantizer, report: { nTrain: nt, trainMse: stageMse[M - 1], stageMse, warnings: [...warnings] }, sample, codes };
}
