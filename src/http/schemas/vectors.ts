import { z } from 'zod';
import { Metadata, NameParams, StoredMetadata, VectorValues } from './common.js';
import { HARD_LIMITS } from '../../tunables.js';

export const VectorId = z
  .string()
  .min(1)
  .max(HARD_LIMITS.maxIdLength)
  // A lone UTF-16 surrogate has no UTF-8 form: SQLite would store a replacement character and two ids would collide.
  .refine((s) => !/\p{Cs}/u.test(s), { message: 'must be well-formed Unicode (no lone UTF-16 surrogates)' })
  .describe(`Your id for the vector, 1–${HARD_LIMITS.maxIdLength} characters of well-formed Unicode.`)
  .meta({ example: 'doc-1' });

export const VectorItem = z
  .object({
    id: VectorId,
    vector: VectorValues,
    metadata: Metadata.nullable().optional(),
  })
  .strict();

export const UpsertBody = z
  .object({
    vectors: z
      .array(VectorItem)
      .min(1)
      .max(HARD_LIMITS.maxBatch)
      .describe(
        `Vectors to insert (at most MAX_VECTORS_PER_REQUEST, default ${HARD_LIMITS.maxBatch}); an existing id is replaced. Ids must be unique within a request.`,
      ),
  })
  .strict()
  .meta({
    example: {
      vectors: [
        { id: 'doc-1', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], metadata: { genre: 'news' } },
        { id: 'doc-2', vector: [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], metadata: { genre: 'sport' } },
        { id: 'doc-3', vector: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], metadata: null },
      ],
    },
  });

export const UpsertResponse = z.object({ upserted: z.int() });

export const VectorParams = NameParams.extend({ id: VectorId });

export const StoredVector = z.object({ id: z.string(), vector: z.array(z.number()), metadata: StoredMetadata.nullable() });
