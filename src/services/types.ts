/**
 * What the collection service takes and gives: the shapes its callers (routes,
 * metrics, benchmarks) see. Types only; the HTTP schemas describe the same
 * shapes on the wire.
 */
import type { Metric } from '../core/distance.js';
import type { QuantizerType } from '../core/codec.js';
import type { AutoTrainConfig, Calibration, JobRecord, QuantizerConfig, TargetRecallConfig } from '../store/store.js';
import type { Filter } from './filter.js';
import type { SearchPlan } from './search-plan.js';

export interface CreateCollectionInput {
  name: string;
  dimension: number;
  metric: Metric;
  targetRecall?: TargetRecallConfig | null;
  quantizer: { type: QuantizerType; m?: number; nbits?: number; beam?: number; ivf?: { nlist?: number } };
  autoTrain?: AutoTrainConfig | null;
  indexedFields?: string[];
}

/** A change of a collection's settings (PATCH); what is left out stays. */
export interface UpdateCollectionInput {
  autoTrain?: AutoTrainConfig | null;
  targetRecall?: TargetRecallConfig | null;
  indexedFields?: string[];
}

/** Search knobs of one request. */
export interface SearchOptions {
  k: number;
  /** k × rerank candidates by ADC, re-ranked by exact distance; 0 = ADC only. Default DEFAULT_RERANK. */
  rerank?: number;
  /** IVF: cells visited per query (capped at nlist); default in effectiveNprobe. */
  nprobe?: number;
  filter?: Filter;
  /** A k-recall@k to reach: rerank and nprobe from the collection's calibration (not with rerank or nprobe). */
  targetRecall?: number;
  /** Cancels the search (request timeout, client gone): queued and running pool tasks stop. */
  signal?: AbortSignal;
}

/** What the metrics want to know of searches and jobs; the service stays free of any metrics library. */
export interface ServiceObserver {
  /** A search's time in the pool: the scan, and the exact re-ranking when `reranked` (done with the scan where it can, so one figure). */
  searched(t: { index: 'exact' | 'flat' | 'ivf'; scanSeconds: number; reranked: boolean }): void;
  /** A scan of several requests' queries went to the pool (services/scan-batcher.ts). */
  scanBatched(queries: number): void;
  trainingFinished(t: { state: 'succeeded' | 'failed' | 'cancelled'; seconds: number }): void;
}

export interface CollectionView {
  name: string;
  dimension: number;
  metric: Metric;
  quantizer: QuantizerConfig;
  createdAt: string;
  /** Live vectors. */
  count: number;
  trained: boolean;
  codecVersion: number | null;
  /** Bytes per vector held in memory for search: m code bytes (+ 4 for the row number in IVF lists). */
  bytesPerVector: number;
  /** Bits per code of the active codec (below quantizer.nbits when it was lowered for lack of data). */
  trainedNbits: number | null;
  /** IVF cells of the active codec. */
  trainedNlist: number | null;
  autoTrain: AutoTrainConfig | null;
  /** Relative MSE (‖x − x̂‖² / ‖x‖² over the vectors encoded) of the last training. */
  relativeMse: number | null;
  trainedAt: string | null;
  /** Vectors written since the active codec was trained. */
  addedSinceTraining: number;
  /** Live vectors when the active codec was switched in (retrainAfterGrowth compares against it). */
  vectorsAtTraining: number | null;
  /** The running training job's id, if any. */
  trainingJob: string | null;
  indexedFields: string[];
  targetRecall: TargetRecallConfig | null;
  /** The last calibration for the target (its chosen setting is the query default while its codec is active), or null. */
  calibration: Calibration | null;
}

export interface VectorInput {
  id: string;
  vector: number[];
  metadata?: Record<string, unknown> | null;
}

export interface Hit {
  id: string;
  /** Squared L2 distance (l2), or inner product (ip, cosine; larger is nearer). */
  distance: number;
  metadata: Record<string, unknown> | null;
}

/** A job as the API shows it: the collection by name instead of by id. */
export type JobView = Omit<JobRecord, 'collectionId'> & { collection: string };

/** How a search went (the query's `explain: true`): the plan, and the rows the filter let through. */
export interface SearchExplain extends SearchPlan {
  /** Live rows the search could return (all live rows without a filter). */
  eligible: number;
  live: number;
  /** The filter's conditions, and those on indexed fields; null without a filter. */
  conditions: number | null;
  indexedConditions: number | null;
}

/** A query's answer: one list of hits per query vector, warnings about the filter, how it searched. */
export interface QueryAnswer {
  results: Hit[][];
  warnings: string[];
  explain: SearchExplain;
}
