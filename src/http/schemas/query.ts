import { z } from 'zod';
import { LIMITS, Metadata, VectorValues } from './common.js';

export const QueryBody = z
  .object({
    vector: VectorValues.optional().describe('One query vector.'),
    vectors: z.array(VectorValues).min(1).max(LIMITS.maxQueries).optional().describe(`Several query vectors (at most ${LIMITS.maxQueries}).`),
    k: z.int().min(1).max(LIMITS.maxK).default(10).describe(`Neighbours per query, 1–${LIMITS.maxK}; default 10.`),
  })
  .strict()
  .refine((b) => (b.vector === undefined) !== (b.vectors === undefined), { message: 'give exactly one of "vector" or "vectors"' });

export const Hit = z.object({
  id: z.string(),
  distance: z
    .number()
    .describe('l2: squared Euclidean distance (smaller is nearer). ip and cosine: inner product (larger is nearer). Estimated from the codes once trained, exact before.'),
  metadata: Metadata.nullable(),
});

export const QueryResponse = z
  .object({ results: z.union([z.array(Hit), z.array(z.array(Hit))]) })
  .describe('Nearest first. For "vector": a list of hits; for "vectors": one list per query, in order.');
