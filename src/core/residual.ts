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
import {
  ADDITIVE_K,
  AdditiveQuantizer,
  BeamScratch,
  type BeamState,
  type CrossTable,
  NormQuantizer,
  beamState,
  crossAt,
  extendBeam,
} from './additive.js';
import { dot, squaredNorms } from './distance.js';
import { QuantizerInputError, checkInteger } from './errors.js';
import { gatherRows } from './kmeans.js';
import { Rng, deriveSeed, sampleIndices } from './rng.js';
import type { TrainCompute } from './rotation.js';
import { dotsF32 } from './wasm/kernels.js';
import {
  ADDITIVE_LIMITS,
  KMEANS_DEFAULTS,
  LSQ_DEFAULTS,
  RQ_DEFAULT_BEAM,
  RQ_KMEANS,
  RQ_KMEANS_ITERATIONS,
  RQ_PROGRESSIVE_STEPS,
  RQ_REFINE_ROUNDS,
} from '../tunables.js';
import { covariance, transpose } from './linalg.js';

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
  /** Each stage's k-means: 'plain' (random seeds, full dimension) or 'progressive' (progressiveCodebook). Default RQ_KMEANS. */
  kmeans?: 'plain' | 'progressive';
  /** Rounds of joint codebook refinement and re-encoding after the stages. Default RQ_REFINE_ROUNDS. */
  refineRounds?: number;
}

export interface AdditiveTrainReport {
  nTrain: number;
  /** Mean ‖x − x̂‖² over the training vectors, as encoded. */
  trainMse: number;
  /** Mean squared error after each stage (non-increasing). */
  stageMse: number[];
  /** Residual quantizers: the error after each refinement round kept (decreasing). */
  refineMse?: number[];
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
  const table: CrossTable = { values: cross, row: (i, j, a) => crossAt(i, j) - crossFrom + a * K };
  const scratch = new BeamScratch(M, state.beam);
  const dots = new Float32Array(Math.min(EXTEND_BLOCK_ROWS, Math.max(1, end - start)) * K);
  for (let s = start; s < end; s += EXTEND_BLOCK_ROWS) {
    const b = Math.min(EXTEND_BLOCK_ROWS, end - s);
    dotsF32(sample, s * d, codebooks, m * K * d, b, K, d, dots);
    for (let r = 0; r < b; r++) {
      const row = s + r;
      const xx = m === 0 ? dot(sample, row * d, sample, row * d, d) : 0;
      extendBeam(state, row, m, xx, dots, r * K, norms, table, scratch);
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
 * A codebook of k centroids for n × d rows by progressive-dimension k-means
 * (as FAISS's ProgressiveDimClustering, its residual quantizer's default): in
 * the rows' principal axes, k-means on the first ⌊d^(s/steps)⌋ axes for
 * s = 1 … RQ_PROGRESSIVE_STEPS, each started from the previous centroids (the
 * new axes at 0, their mean), then mapped back. Each k-means starts where the
 * large-variance axes are already clustered, which in high dimension ends
 * lower than one k-means from random seeds.
 */
export async function progressiveCodebook(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  options: { iterations: number; seed: number },
  compute: Pick<TrainCompute, 'trainCoarse' | 'transpose' | 'matmulABt' | 'eigen' | 'dotsF32'>,
): Promise<{ centroids: Float32Array; warnings: string[] }> {
  const ns = Math.min(n, k * KMEANS_DEFAULTS.maxPointsPerCentroid);
  const sample = ns === n ? x.subarray(0, n * d) : gatherRows(x, d, sampleIndices(n, ns, new Rng(deriveSeed(options.seed, 0x9d))));
  const mean = new Float64Array(d);
  for (let i = 0; i < ns; i++) for (let t = 0; t < d; t++) mean[t] += sample[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= ns;
  const cov = await covariance(sample, await compute.transpose(sample, ns, d), ns, d, compute);
  const axes = Float32Array.from((await compute.eigen(cov, d)).vectors); // row b: axis b, by variance descending
  const centred = new Float32Array(ns * d);
  for (let i = 0; i < ns; i++) for (let t = 0; t < d; t++) centred[i * d + t] = sample[i * d + t] - mean[t];
  const y = await compute.dotsF32(centred, axes, ns, d, d);
  let centroids: Float32Array | null = null;
  let dim = 0;
  const warnings = new Set<string>();
  for (let s = 1; s <= RQ_PROGRESSIVE_STEPS; s++) {
    const di = s === RQ_PROGRESSIVE_STEPS ? d : Math.max(1, Math.floor(d ** (s / RQ_PROGRESSIVE_STEPS)));
    if (di <= dim) continue;
    const cols = new Float32Array(ns * di);
    for (let i = 0; i < ns; i++) cols.set(y.subarray(i * d, i * d + di), i * di);
    let initialCentroids: Float32Array | undefined;
    if (centroids !== null) {
      initialCentroids = new Float32Array(k * di);
      for (let c = 0; c < k; c++) initialCentroids.set(centroids.subarray(c * dim, (c + 1) * dim), c * di);
    }
    const r = await compute.trainCoarse(cols, ns, di, k, { iterations: options.iterations, seed: deriveSeed(options.seed, s), initialCentroids });
    for (const w of r.warnings) warnings.add(w);
    centroids = r.centroids;
    dim = di;
  }
  // Back to the original axes: x = y · axes + mean.
  const back = await compute.dotsF32(centroids!, transpose(axes, d, d), k, d, d);
  for (let c = 0; c < k; c++) for (let t = 0; t < d; t++) back[c * d + t] += mean[t];
  return { centroids: back, warnings: [...warnings] };
}

/** Mean squared error of the n rows' best beam entries. */
function bestMse(state: BeamState, n: number): number {
  let sum = 0;
  for (let r = 0; r < n; r++) sum += state.dist[r * state.beam];
  return sum / n;
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
  compute: Pick<TrainCompute, 'trainCoarse' | 'extendBeams' | 'transpose' | 'matmulABt' | 'eigen' | 'dotsF32' | 'updateCodebooks'>,
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
  let state = beamState(nt, M, beam, true);
  const crossTerms = new Float64Array(new SharedArrayBuffer(nt * 8));
  const warnings = new Set<string>();
  const stageMse: number[] = [];
  const refineMse: number[] = [];
  // Refining on few rows per codeword fits them, not the data: only from minPointsPerCentroid rows per codeword.
  const refineRounds = options.refineRounds ?? (nt >= KMEANS_DEFAULTS.minPointsPerCentroid * K ? RQ_REFINE_ROUNDS : 0);
  for (let m = 0; m < M; m++) {
    const stage = { iterations: options.iterations ?? RQ_KMEANS_ITERATIONS, seed: deriveSeed(seed, m) };
    const trained =
      (options.kmeans ?? RQ_KMEANS) === 'progressive'
        ? await progressiveCodebook(residuals, nt, d, K, stage, compute)
        : await compute.trainCoarse(residuals, nt, d, K, stage);
    for (const w of trained.warnings) warnings.add(w.replace(/^coarse quantizer: /, 'residual quantizer: '));
    codebooks.set(trained.centroids, m * K * d);
    await compute.extendBeams({ sample, n: nt, d, codebooks, m, state, residuals, crossTerms });
    stageMse.push(bestMse(state, nt));
    onProgress?.((m + 1) / (M + refineRounds));
  }
  // Refinement rounds: every codebook re-fitted by least squares to the training codes
  // (LSQ's update), then the rows encoded afresh by the beam search; kept while the error falls.
  let error = stageMse[M - 1];
  const bestCodes = () => {
    const codes = new Uint8Array(new SharedArrayBuffer(nt * M));
    for (let r = 0; r < nt; r++) codes.set(state.codes.subarray(r * beam * M, r * beam * M + M), r * M);
    return codes;
  };
  for (let round = 0; round < refineRounds; round++) {
    const kept = Float32Array.from(codebooks);
    const keptCross = Float64Array.from(crossTerms);
    await compute.updateCodebooks({ data: sample, n: nt, d, codes: bestCodes(), M, codebooks, ridge: LSQ_DEFAULTS.ridge });
    const fresh = beamState(nt, M, beam, true);
    for (let m = 0; m < M; m++) {
      await compute.extendBeams({ sample, n: nt, d, codebooks, m, state: fresh, residuals, crossTerms });
    }
    const mse = bestMse(fresh, nt);
    if (!(mse < error)) {
      codebooks.set(kept);
      crossTerms.set(keptCross);
      break;
    }
    state = fresh;
    error = mse;
    refineMse.push(error);
    onProgress?.((M + round + 1) / (M + refineRounds));
  }
  const norm = config.norm ? NormQuantizer.train(crossTerms, nt) : null;
  const quantizer = new AdditiveQuantizer('rq', d, M, Float32Array.from(codebooks), norm, beam);
  return { quantizer, report: { nTrain: nt, trainMse: error, stageMse, refineMse, warnings: [...warnings] }, sample, codes: bestCodes() };
}
