import { z } from 'zod';
import { VectorValues } from './common.js';
import { EVALUATE_DEFAULTS, HARD_LIMITS } from '../../tunables.js';
import { Nprobe, Rerank } from './query.js';

export const EvaluateBody = z
  .object({
    sampleSize: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxQueries)
      .optional()
      .describe(
        `Stored vectors drawn as queries, each left out of its own results (at most MAX_QUERIES_PER_REQUEST, default ${HARD_LIMITS.maxQueries}). Default ${EVALUATE_DEFAULTS.sampleSize}.`,
      ),
    queries: z
      .array(VectorValues)
      .min(1)
      .max(HARD_LIMITS.maxQueries)
      .optional()
      .describe(`Query vectors to use instead of a sample (at most MAX_QUERIES_PER_REQUEST, default ${HARD_LIMITS.maxQueries}).`),
    k: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxK)
      .optional()
      .describe(`Neighbours per query, at most MAX_K (default ${HARD_LIMITS.maxK}). Default ${EVALUATE_DEFAULTS.k}.`),
    rerank: Rerank,
    nprobe: Nprobe,
    seed: z.int().min(0).max(4294967295).optional().describe(`Seed of the sample. Default ${EVALUATE_DEFAULTS.seed}.`),
  })
  .strict()
  .refine((b) => b.sampleSize === undefined || b.queries === undefined, { message: 'give "sampleSize" or "queries", not both' })
  .nullish()
  .meta({ example: { sampleSize: 3, k: 2, rerank: 4 } });

export const EvaluateReport = z.object({
  codecVersion: z.int(),
  queries: z.int().describe('Queries run.'),
  k: z.int(),
  rerank: z.int(),
  nprobe: z.int().nullable().describe('Cells visited per query (IVF); null for a flat index.'),
  recall1: z.number().describe('Fraction of queries whose exact nearest neighbour the index ranks first.'),
  recallAtK: z.number().describe('|index top k ∩ exact top k| / k, averaged over the queries.'),
  relativeMse: z.number().describe('Σ‖x − decode(encode(x))‖² / Σ‖x‖² over the query vectors.'),
  msPerQuery: z
    .object({ index: z.number(), exact: z.number() })
    .describe('Wall time of each search over all queries (one batch, all workers) divided by the number of queries.'),
});
