/**
 * Training admission and the pure policies around it: what a training will
 * use (nbits, nlist, the sample's size) given a collection's settings and
 * size, when automatic training is due, and the search defaults that follow
 * from a codec. No I/O: the service asks, then acts; tests call it directly.
 */
import type { Limits } from '../config.js';
import { codeBytes } from '../core/code-layout.js';
import type { Metric } from '../core/distance.js';
import type { AutoTrainConfig, QuantizerConfig } from '../store/store.js';
import { ApiError, badRequest, limitExceeded } from './errors.js';
import { AUTO, KMEANS_DEFAULTS } from '../tunables.js';

/**
 * Default m: one byte per AUTO.dimensionsPerCodeByte (8) dimensions, at least 1,
 * at most AUTO.maxDefaultM (64); a divisor-free rule (uneven sub-spaces are fine).
 */
export function defaultM(dimension: number): number {
  return Math.max(1, Math.min(AUTO.maxDefaultM, Math.floor(dimension / AUTO.dimensionsPerCodeByte)));
}

/**
 * Bytes per vector the configured quantizer's codes take: m (⌈m/2⌉ with
 * nbits 4) for PQ and OPQ; for rq its m codes plus the norm byte L2 search
 * needs (additive.ts).
 */
export function configuredCodeBytes(quantizer: QuantizerConfig, metric: Metric): number {
  if (quantizer.type === 'rq' || quantizer.type === 'lsq') return quantizer.m + (keepsNorms(metric) ? 1 : 0);
  return codeBytes(quantizer.m, quantizer.nbits);
}

/** Whether additive codes keep the norm byte: L2 search needs ‖x̂‖²; inner product and cosine (unit vectors, ranked by ⟨q, x̂⟩) do not. */
export function keepsNorms(metric: Metric): boolean {
  return metric === 'l2';
}

/**
 * Cells an IVF query visits: the requested number, or nlist / AUTO.nprobeDivisor
 * (16) rounded up and at least AUTO.minNprobe (8); at most nlist.
 */
export function effectiveNprobe(nlist: number, requested?: number): number {
  return Math.min(nlist, requested ?? Math.max(AUTO.minNprobe, Math.ceil(nlist / AUTO.nprobeDivisor)));
}

/**
 * Automatic nlist for n vectors: the power of two at or below AUTO.cellsPerSqrtN
 * (4) · √n (the low end of FAISS's guideline), lowered until every cell gets at
 * least KMEANS_DEFAULTS.minPointsPerCentroid (39) vectors; at least 1, at most
 * AUTO.maxAutoNlist (2,048: training time, see there).
 */
export function autoNlist(n: number): number {
  let nlist = 2 ** Math.floor(Math.log2(Math.max(1, AUTO.cellsPerSqrtN * Math.sqrt(n))));
  while (nlist > 1 && n < KMEANS_DEFAULTS.minPointsPerCentroid * nlist) nlist /= 2;
  return Math.min(AUTO.maxAutoNlist, nlist);
}

export interface TrainingPlan {
  /** Bits per code this training uses (below the configured nbits when it was left automatic and data is short). */
  nbits: number;
  /** IVF cells, or null for a flat codec. */
  nlist: number | null;
  /** Most rows the sample may hold: 256 per centroid (what k-means uses), lowered to fit MAX_TRAINING_SAMPLE_MB. */
  sampleCap: number;
  /** What the service decided on the collection's behalf, for the job's result. */
  notes: string[];
}

/**
 * What a training of `live` vectors will use, or the 4xx that refuses it:
 * 422 with too few vectors for 2^nbits centroids or nlist cells (unless nbits
 * or nlist was left automatic, which then fits the data), 422 when the
 * smallest usable sample exceeds its memory limit, 400 for a sampleSize below
 * one vector per centroid.
 */
export function planTraining(input: {
  name: string;
  dimension: number;
  quantizer: QuantizerConfig;
  live: number;
  sampleSize: number | undefined;
  limits: Pick<Limits, 'maxTrainingSampleBytes'>;
}): TrainingPlan {
  const { name, dimension, quantizer, live, limits } = input;
  const notes: string[] = [];
  let { nbits } = quantizer;
  if (live < 1 << nbits && quantizer.autoNbits && live >= 2) {
    // Automatic settings: fewer centroids rather than a refusal (k-means needs one vector per centroid).
    const lowered = Math.floor(Math.log2(live));
    notes.push(`nbits lowered from ${nbits} to ${lowered}: ${live} vectors cannot train ${1 << nbits} centroids per sub-space`);
    nbits = lowered;
  }
  const ksub = 1 << nbits;
  if (live < ksub) {
    throw new ApiError(
      422,
      'insufficient_data',
      `training ${quantizer.type === 'rq' || quantizer.type === 'lsq' ? `an additive (${quantizer.type})` : 'a product'} quantizer with nbits = ${nbits} needs at least ${ksub} vectors (k-means: one per centroid); ` +
        `collection '${name}' has ${live}`,
    );
  }
  let nlist: number | null = null;
  if (quantizer.ivf !== undefined) {
    nlist = quantizer.ivf.nlist;
    if (nlist === null) {
      nlist = autoNlist(live);
      notes.push(`nlist ${nlist} chosen automatically for ${live} vectors`);
    } else if (live < nlist) {
      throw new ApiError(
        422,
        'insufficient_data',
        `training an IVF index with nlist = ${nlist} needs at least ${nlist} vectors (k-means: one per cell), ` +
          `${KMEANS_DEFAULTS.minPointsPerCentroid * nlist} for good cells; collection '${name}' has ${live}`,
      );
    }
  }
  const need = Math.max(ksub, nlist ?? 0);
  // k-means samples at most 256 vectors per centroid (codebooks and coarse cells alike), and the sample must fit its memory limit.
  const rowsInMemory = Math.floor(limits.maxTrainingSampleBytes / (4 * dimension));
  if (rowsInMemory < need) {
    const bytes = need * 4 * dimension;
    const what = `the smallest training sample (${need} vectors of ${dimension} dimensions), in bytes,`;
    throw limitExceeded(422, 'maxTrainingSampleBytes', limits.maxTrainingSampleBytes, bytes, what);
  }
  const sampleCap = Math.min(KMEANS_DEFAULTS.maxPointsPerCentroid * need, rowsInMemory);
  const sampleSize = input.sampleSize ?? Math.min(live, sampleCap);
  if (sampleSize < need) throw badRequest(`sampleSize must be at least ${need} (one vector per centroid), got ${sampleSize}`);
  return { nbits, nlist, sampleCap, notes };
}

/**
 * Whether automatic training is due: untrained and at least minVectors, or
 * trained and grown to retrainAfterGrowth × the vectors at the last switch —
 * unless the last automatic training failed and the collection has not grown
 * AUTO.retryGrowth past it since.
 */
export function autoTrainDue(
  autoTrain: AutoTrainConfig | null,
  state: { trained: boolean; live: number; vectorsAtTraining: number | null; addedSinceTraining: number; autoFailedAt: number | null },
): boolean {
  if (autoTrain === null) return false;
  const { live } = state;
  let due: boolean;
  if (!state.trained) {
    due = live >= autoTrain.minVectors;
  } else {
    const base = state.vectorsAtTraining ?? live - state.addedSinceTraining;
    due = autoTrain.retrainAfterGrowth !== undefined && live >= autoTrain.retrainAfterGrowth * Math.max(1, base);
  }
  return due && (state.autoFailedAt === null || live >= state.autoFailedAt * AUTO.retryGrowth);
}
