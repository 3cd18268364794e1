/**
 * How the service measures itself (POST /collections/{name}/evaluate): the
 * request and report shapes, and the recall arithmetic, which is pure. The
 * service draws the queries, runs the exact and the index's searches, and
 * hands both result lists here.
 */
import { Rng, sampleIndices } from '../core/rng.js';
import type { Neighbours } from '../pool/compute-pool.js';
import { EVALUATE_DEFAULTS } from '../tunables.js';

export interface EvaluateOptions {
  /** Stored vectors drawn as queries (each excluded from its own results). Default EVALUATE_DEFAULTS.sampleSize. */
  sampleSize?: number;
  /** Given query vectors instead of a sample. */
  queries?: number[][];
  k?: number;
  rerank?: number;
  nprobe?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface EvaluateReport {
  codecVersion: number;
  queries: number;
  k: number;
  rerank: number;
  /** Cells visited per query; null for a flat index. */
  nprobe: number | null;
  /** Fraction of queries whose exact nearest neighbour the index ranks first. */
  recall1: number;
  /** |index top k ∩ exact top k| / k, averaged. */
  recallAtK: number;
  /** Σ‖x − x̂‖² / Σ‖x‖² of the codec over the query vectors. */
  relativeMse: number;
  msPerQuery: { index: number; exact: number };
}

/** Queries an evaluation will run: the given ones, or min(sampleSize, live) drawn from the stored vectors. */
export function evaluationQueryCount(options: EvaluateOptions, live: number): number {
  return options.queries?.length ?? Math.min(options.sampleSize ?? EVALUATE_DEFAULTS.sampleSize, live);
}

/** The stored rows drawn as queries: a seeded sample of min(sampleSize, |live|) of the live rows. */
export function sampleQueryRows(live: Int32Array, options: EvaluateOptions): Int32Array {
  const n = Math.min(options.sampleSize ?? EVALUATE_DEFAULTS.sampleSize, live.length);
  return Int32Array.from(sampleIndices(live.length, n, new Rng(options.seed ?? EVALUATE_DEFAULTS.seed)), (i) => live[i]);
}

/**
 * recall@1 and k-recall@k of the index's results against the exact ones, per
 * query q: the first k rows of each list, leaving out self[q] (a sampled
 * query's own row, searched for with k + 1) when given. A query with no exact
 * neighbour counts as fully recalled.
 */
export function recallAgainstExact(
  exact: Neighbours[],
  approx: Neighbours[],
  self: Int32Array | null,
  k: number,
): { recall1: number; recallAtK: number } {
  const nq = exact.length;
  const top = (r: Neighbours, q: number): number[] =>
    Array.from(r.ids)
      .filter((row) => self === null || row !== self[q])
      .slice(0, k);
  let hit1 = 0;
  let overlap = 0;
  for (let q = 0; q < nq; q++) {
    const truth = top(exact[q], q);
    const got = top(approx[q], q);
    if (truth.length > 0 && got[0] === truth[0]) hit1++;
    const want = new Set(truth);
    overlap += truth.length === 0 ? 1 : got.filter((row) => want.has(row)).length / truth.length;
  }
  return { recall1: hit1 / nq, recallAtK: overlap / nq };
}
