/**
 * Additive quantization trained by local search (LSQ++: Martinez et al.,
 * ECCV 2018, as FAISS's LocalSearchQuantizer): M codebooks of 256
 * full-dimension codewords like RQ's (additive.ts), but jointly optimised —
 * codebooks by least squares given the codes, codes by iterated conditional
 * modes (ICM) given the codebooks — so no codebook is tied to a stage.
 *
 * Encoding one vector x (additive.ts's cost terms, ‖x‖² dropped):
 *   E(codes) = Σₘ uₘ[codeₘ] + 2 Σ_{i<j} ⟨cᵢ[codeᵢ], cⱼ[codeⱼ]⟩,
 *   uₘ[k] = ‖cₘₖ‖² − 2⟨x, cₘₖ⟩,
 * ICM sets one code at a time to its best value given the others; iterated
 * local search (ILS) perturbs a few random codes, runs ICM, and keeps the
 * result when E dropped. Each code's pairwise term is kept up to date as codes
 * change (a change costs (M − 1) · 256 adds, a full recount M(M − 1) · 256).
 * Codebook update: for each codebook in turn, each codeword becomes the mean
 * of its vectors' residuals to the other codebooks (block coordinate descent
 * on the least-squares objective, each step exact for its block), shrunk by a
 * small ridge term as LSQ++ regularises.
 */
import { ADDITIVE_K, AdditiveQuantizer, NormQuantizer } from './additive.js';
import { dot, squaredNorms } from './distance.js';
import { QuantizerInputError, checkInteger } from './errors.js';
import { type AdditiveTrainReport, trainResidualQuantizer } from './residual.js';
import { Rng } from './rng.js';
import { dotsF32 } from './wasm/kernels.js';
import type { TrainCompute } from './rotation.js';
import { LSQ_DEFAULTS } from '../tunables.js';

/**
 * The codewords' Gram matrix G = C·Cᵀ (C: the M · 256 codewords as rows, the
 * additive.ts layout), M · 256 × M · 256 float32: ⟨cᵢₐ, cⱼₖ⟩ at
 * gramAt(M, i, a, j) + k, so the 256 products of one codeword with codebook
 * j's are contiguous. Built by one matrix product (TrainCompute.dotsF32).
 */
export function gramAt(M: number, i: number, a: number, j: number): number {
  return ((i * ADDITIVE_K + a) * M + j) * ADDITIVE_K;
}

/** Scratch of one thread's ICM encoding, reused across vectors. */
export class IcmScratch {
  /** Pairwise terms: pair[m · K + k] = 2 Σ_{i≠m} ⟨cᵢ[codeᵢ], cₘₖ⟩ for the current codes. */
  readonly pair: Float64Array;
  readonly codes: Uint8Array;
  readonly best: Uint8Array;

  constructor(readonly M: number) {
    this.pair = new Float64Array(M * ADDITIVE_K);
    this.codes = new Uint8Array(M);
    this.best = new Uint8Array(M);
  }
}

/** Recomputes every pairwise term of the scratch's codes. */
function recount(s: IcmScratch, gram: Float32Array): void {
  const { M, pair, codes } = s;
  const K = ADDITIVE_K;
  pair.fill(0);
  for (let i = 0; i < M; i++) {
    for (let m = 0; m < M; m++) {
      if (m === i) continue;
      const row = gramAt(M, i, codes[i], m);
      for (let k = 0; k < K; k++) pair[m * K + k] += 2 * gram[row + k];
    }
  }
}

/** Sets code j to b, updating the other codes' pairwise terms. */
function setCode(s: IcmScratch, gram: Float32Array, j: number, b: number): void {
  const { M, pair, codes } = s;
  const K = ADDITIVE_K;
  const a = codes[j];
  if (a === b) return;
  codes[j] = b;
  for (let m = 0; m < M; m++) {
    if (m === j) continue;
    const from = gramAt(M, j, a, m);
    const to = gramAt(M, j, b, m);
    for (let k = 0; k < K; k++) pair[m * K + k] += 2 * (gram[to + k] - gram[from + k]);
  }
}

/** E of the scratch's codes: Σ unary + half the pairwise terms (each pair counted from both sides). */
function energy(s: IcmScratch, unary: Float64Array, uo: number): number {
  const { M, pair, codes } = s;
  const K = ADDITIVE_K;
  let e = 0;
  for (let m = 0; m < M; m++) e += unary[uo + m * K + codes[m]] + pair[m * K + codes[m]] / 2;
  return e;
}

export interface IcmOptions {
  /** Perturb-then-ICM rounds (ILS). */
  ils: number;
  /** ICM sweeps over the codes per round. */
  icm: number;
  /** Codes set at random before each round's ICM. */
  perturbations: number;
}

/**
 * Encodes one vector by ILS + ICM from the codes at codes[co .. co + M)
 * (written back there); unary: its uₘ[k] at uo + m · K + k. Returns E.
 */
export function icmEncode(
  codes: Uint8Array,
  co: number,
  unary: Float64Array,
  uo: number,
  gram: Float32Array,
  options: IcmOptions,
  rng: Rng,
  s: IcmScratch,
): number {
  const { M, pair } = s;
  const K = ADDITIVE_K;
  s.codes.set(codes.subarray(co, co + M));
  recount(s, gram);
  let bestE = energy(s, unary, uo);
  s.best.set(s.codes);
  for (let round = 0; round < options.ils; round++) {
    if (round > 0) {
      // Start from the best codes again, perturbed.
      if (!sameCodes(s.codes, s.best)) for (let m = 0; m < M; m++) setCode(s, gram, m, s.best[m]);
      for (let p = 0; p < options.perturbations; p++) setCode(s, gram, rng.nextInt(M), rng.nextInt(K));
    }
    for (let sweep = 0; sweep < options.icm; sweep++) {
      let changed = false;
      for (let m = 0; m < M; m++) {
        const uRow = uo + m * K;
        const pRow = m * K;
        let arg = s.codes[m];
        let min = unary[uRow + arg] + pair[pRow + arg];
        for (let k = 0; k < K; k++) {
          const v = unary[uRow + k] + pair[pRow + k];
          if (v < min) {
            min = v;
            arg = k;
          }
        }
        if (arg !== s.codes[m]) {
          setCode(s, gram, m, arg);
          changed = true;
        }
      }
      if (!changed) break;
    }
    const e = energy(s, unary, uo);
    if (e < bestE) {
      bestE = e;
      s.best.set(s.codes);
    }
  }
  codes.set(s.best, co);
  return bestE;
}

function sameCodes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One block-coordinate sweep of the codebook update: for m = 0 … M − 1, each
 * codeword of codebook m becomes Σ residuals / (count + ridge) over the
 * vectors coded to it, residual = x − Σ_{j≠m} cⱼ[codeⱼ]; a codeword no vector
 * uses keeps its value. recon (n × d) holds each vector's reconstruction and
 * is kept up to date. Returns the squared error after the sweep.
 */
export function updateCodebooks(
  data: Float32Array,
  n: number,
  d: number,
  codes: Uint8Array,
  M: number,
  codebooks: Float32Array,
  recon: Float64Array,
  ridge: number,
): number {
  const K = ADDITIVE_K;
  if (codebooks.length !== M * K * d) throw new QuantizerInputError(`expected ${M * K * d} codeword values, got ${codebooks.length}`);
  const sums = new Float64Array(K * d);
  const counts = new Int32Array(K);
  for (let m = 0; m < M; m++) {
    sums.fill(0);
    counts.fill(0);
    const base = m * K * d;
    for (let i = 0; i < n; i++) {
      const c = codes[i * M + m];
      counts[c]++;
      const o = i * d;
      const w = base + c * d;
      const so = c * d;
      // residual to the other codebooks = x − recon + this codebook's codeword
      for (let t = 0; t < d; t++) sums[so + t] += data[o + t] - recon[o + t] + codebooks[w + t];
    }
    const old = codebooks.slice(base, base + K * d);
    for (let c = 0; c < K; c++) {
      if (counts[c] === 0) continue;
      const w = base + c * d;
      for (let t = 0; t < d; t++) codebooks[w + t] = sums[c * d + t] / (counts[c] + ridge);
    }
    // The reconstructions with codebook m's new codewords.
    for (let i = 0; i < n; i++) {
      const c = codes[i * M + m];
      const o = i * d;
      const w = base + c * d;
      for (let t = 0; t < d; t++) recon[o + t] += codebooks[w + t] - old[c * d + t];
    }
  }
  let err = 0;
  for (let i = 0; i < n * d; i++) err += (data[i] - recon[i]) ** 2;
  return err;
}

/** Rows whose codeword dot products are held at once while encoding (rows × M × 256 floats). */
const LSQ_BLOCK_ROWS = 128;

/** Seed of each vector's perturbations: the same for every vector, so a code does not depend on its batch. */
const ICM_SEED = 0x15a9;

/**
 * Re-encodes rows [start, end) of a task by ILS + ICM from their current
 * codes (codes: n × M, updated in place; what a worker runs): unary terms
 * from one matrix product per block of rows. Returns Σ E + ‖x‖² over the rows
 * (their squared errors); errors, if given, takes each row's.
 */
export function icmEncodeRowsTask(t: IcmEncodeTask, errors: Float64Array | null = null): number {
  const { data, d, start, end, codes, M, codebooks, codewordNorms, gram, options } = t;
  const K = ADDITIVE_K;
  const block = Math.max(1, Math.min(LSQ_BLOCK_ROWS, end - start));
  const dots = new Float32Array(block * M * K);
  const unary = new Float64Array(M * K);
  const s = new IcmScratch(M);
  let total = 0;
  for (let b0 = start; b0 < end; b0 += block) {
    const b = Math.min(block, end - b0);
    dotsF32(data, b0 * d, codebooks, 0, b, M * K, d, dots, 0);
    for (let r = 0; r < b; r++) {
      for (let e = 0; e < M * K; e++) unary[e] = codewordNorms[e] - 2 * dots[r * M * K + e];
      const i = b0 + r;
      const xx = dot(data, i * d, data, i * d, d);
      const err = Math.max(0, xx + icmEncode(codes, i * M, unary, 0, gram, options, new Rng(ICM_SEED), s));
      if (errors !== null) errors[i] = err;
      total += err;
    }
  }
  return total;
}

/** The cross terms ν = 2 Σ_{i<j} ⟨cᵢ, cⱼ⟩ of the code at codes[o .. o + M) (what the norm byte holds), from the Gram matrix. */
export function crossTermsFromGram(gram: Float32Array, M: number, codes: Uint8Array, o: number): number {
  let nu = 0;
  for (let j = 1; j < M; j++) for (let i = 0; i < j; i++) nu += 2 * gram[gramAt(M, i, codes[o + i], j) + codes[o + j]];
  return nu;
}

export interface LsqTrainConfig {
  /** Codebooks. */
  m: number;
  /** Keep the norm byte (L2 search). */
  norm: boolean;
  /** ILS rounds when encoding with the trained quantizer. Default LSQ_DEFAULTS.encodeIls. */
  encodeIls?: number;
}

export interface LsqTrainOptions {
  /** Alternations of codebook update and re-encoding. Default LSQ_DEFAULTS.iterations. */
  iterations?: number;
  /** Default 1234. */
  seed?: number;
  /** Training vectors: at most this many per codeword. Default 256. */
  maxPointsPerCentroid?: number;
}

/**
 * What re-encoding the training rows needs (a pool task splits the rows):
 * the sample, the codes (shared, updated in place), the codebooks, their
 * norms and Gram matrix (gramAt), the ICM settings.
 */
export interface IcmEncodeTask {
  data: Float32Array;
  d: number;
  codes: Uint8Array;
  M: number;
  codebooks: Float32Array;
  codewordNorms: Float64Array;
  gram: Float32Array;
  options: IcmOptions;
  start: number;
  end: number;
}

/** What the codebook update needs (one task: the codebooks follow one another). */
export interface CodebookUpdateTask {
  data: Float32Array;
  n: number;
  d: number;
  codes: Uint8Array;
  M: number;
  /** Updated in place (shared). */
  codebooks: Float32Array;
  ridge: number;
}

/** A codebook update from scratch reconstructions (a task's whole job): the squared error after it. */
export function updateCodebooksTask(t: CodebookUpdateTask): number {
  const { data, n, d, codes, M, codebooks } = t;
  const recon = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < M; m++) {
      const w = (m * ADDITIVE_K + codes[i * M + m]) * d;
      for (let x = 0; x < d; x++) recon[i * d + x] += codebooks[w + x];
    }
  }
  return updateCodebooks(data, n, d, codes, M, codebooks, recon, t.ridge);
}

/**
 * Trains a local-search quantizer on n × d rows: a greedy residual quantizer
 * first (its codebooks and its codes of the training sample are the start),
 * then `iterations` rounds of codebook update and ILS + ICM re-encoding, the
 * heavy steps through `compute` (pool tasks in the service). onProgress(fraction)
 * after each round.
 */
export async function trainLocalSearchQuantizer(
  data: Float32Array,
  n: number,
  d: number,
  config: LsqTrainConfig,
  options: LsqTrainOptions,
  compute: Pick<TrainCompute, 'trainCoarse' | 'extendBeams' | 'dotsF32' | 'icmEncode' | 'updateCodebooks' | 'transpose' | 'matmulABt' | 'eigen'>,
  onProgress?: (fraction: number) => void,
): Promise<{ quantizer: AdditiveQuantizer; report: AdditiveTrainReport }> {
  const M = config.m;
  const K = ADDITIVE_K;
  checkInteger('m (codebooks)', M, 1, LSQ_DEFAULTS.maxCodebooks);
  const iterations = options.iterations ?? LSQ_DEFAULTS.iterations;
  const initShare = 0.2;
  const init = await trainResidualQuantizer(
    data,
    n,
    d,
    { m: M, beam: 1, norm: false },
    { iterations: LSQ_DEFAULTS.initIterations, seed: options.seed, maxPointsPerCentroid: options.maxPointsPerCentroid },
    compute,
    (f) => onProgress?.(initShare * f),
  );
  const { sample, codes } = init;
  const nt = init.report.nTrain;
  const codebooks = new Float32Array(new SharedArrayBuffer(M * K * d * 4));
  codebooks.set(init.quantizer.codebooks);
  const icm = { ils: LSQ_DEFAULTS.trainIls, icm: LSQ_DEFAULTS.icm, perturbations: LSQ_DEFAULTS.perturbations };
  const stageMse: number[] = [init.report.trainMse];
  let gram: Float32Array = new Float32Array(0);
  for (let it = 0; it < iterations; it++) {
    await compute.updateCodebooks({ data: sample, n: nt, d, codes, M, codebooks, ridge: LSQ_DEFAULTS.ridge });
    gram = await compute.dotsF32(codebooks, codebooks, M * K, M * K, d);
    const err = await compute.icmEncode(
      { data: sample, d, codes, M, codebooks, codewordNorms: codewordNorms(codebooks, M, d), gram, options: icm },
      nt,
    );
    stageMse.push(err / nt);
    onProgress?.(initShare + ((1 - initShare) * (it + 1)) / iterations);
  }
  let norm: NormQuantizer | null = null;
  if (config.norm) {
    const nu = new Float64Array(nt);
    for (let r = 0; r < nt; r++) nu[r] = crossTermsFromGram(gram, M, codes, r * M);
    norm = NormQuantizer.train(nu, nt);
  }
  const quantizer = new AdditiveQuantizer('lsq', d, M, Float32Array.from(codebooks), norm, config.encodeIls ?? LSQ_DEFAULTS.encodeIls);
  return { quantizer, report: { nTrain: nt, trainMse: stageMse[stageMse.length - 1], stageMse, warnings: init.report.warnings } };
}

/** ‖cₘₖ‖² of every codeword (M × 256). */
export function codewordNorms(codebooks: Float32Array, M: number, d: number): Float64Array {
  return squaredNorms(codebooks, M * ADDITIVE_K, d);
}
