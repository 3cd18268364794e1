import { z } from 'zod';
import { StoredMetadata, VectorValues } from './common.js';
import { AUTO, DEFAULT_K, DEFAULT_RERANK, HARD_LIMITS } from '../../tunables.js';

export const Rerank = z
  .int()
  .min(0)
  .max(HARD_LIMITS.maxRerank)
  .optional()
  .describe(
    'Trained collections: the best k × rerank candidates by ADC are re-ranked by exact distance on the ' +
      `stored vectors (read from disk, never held in memory). 0 = ADC only. Default ${DEFAULT_RERANK}; at most MAX_RERANK (default ${HARD_LIMITS.maxRerank}).`,
  );

export const Nprobe = z
  .int()
  .min(1)
  .max(HARD_LIMITS.maxNlist)
  .optional()
  .describe(
    'IVF collections: cells visited per query (more = higher recall, slower; capped at nlist). Default ' +
      `nlist / ${AUTO.nprobeDivisor} rounded up, at least ${AUTO.minNprobe}. A query that finds fewer than k candidates in its cells ` +
      '(selective filter) goes on to the next nearest cells until it has k. Ignored by flat indexes.',
  );

const FilterValue = z.union([z.string(), z.number(), z.boolean()]);

export const Filter = z
  .record(z.string(), z.union([FilterValue, z.object({ in: z.array(FilterValue).min(1).max(1000) }).strict()]))
  .refine((f) => Object.keys(f).length <= HARD_LIMITS.maxFilterFields, { message: `names more than ${HARD_LIMITS.maxFilterFields} fields` })
  // The refinement above enforces it; JSON Schema cannot see into a refinement, so the bound is stated too.
  .meta({ maxProperties: HARD_LIMITS.maxFilterFields })
  .describe(
    'Metadata filter: {"field": value} (equal) or {"field": {"in": [values]}}; fields combine with AND; ' +
      'values match only the same JSON type. Applied during the scan, so k matching results come back when ' +
      'k exist.',
  );

export const QueryBody = z
  .object({
    vector: VectorValues.optional().describe('One query vector.'),
    vectors: z
      .array(VectorValues)
      .min(1)
      .max(HARD_LIMITS.maxQueries)
      .optional()
      .describe(`Several query vectors (at most MAX_QUERIES_PER_REQUEST, default ${HARD_LIMITS.maxQueries}).`),
    k: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxK)
      .default(DEFAULT_K)
      .describe(
        `Neighbours per query, at most MAX_K (default ${HARD_LIMITS.maxK}); default ${DEFAULT_K}. k × rerank × queries is at most MAX_CANDIDATES.`,
      ),
    rerank: Rerank,
    nprobe: Nprobe,
    filter: Filter.optional(),
  })
  .strict()
  .refine((b) => (b.vector === undefined) !== (b.vectors === undefined), { message: 'give exactly one of "vector" or "vectors"' })
  .meta({ example: { vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], k: 2, filter: { genre: { in: ['news', 'sport'] } } } });

export const Hit = z
  .object({
    id: z.string(),
    distance: z
      .number()
      .describe(
        'l2: squared Euclidean distance (smaller is nearer). ip and cosine: inner product (larger is ' +
          'nearer). Exact unless the collection is trained and rerank = 0 (then estimated from the codes).',
      ),
    metadata: StoredMetadata.nullable(),
  })
  .meta({ id: 'Hit' });

export const QueryResponse = z
  .object({ results: z.union([z.array(Hit), z.array(z.array(Hit))]) })
  .describe('Nearest first. For "vector": a list of hits; for "vectors": one list per query, in order.');
