import { z } from 'zod';
import { LIMITS, Metadata, NameParams, VectorValues } from './common.js';

export const VectorId = z.string().min(1).max(LIMITS.maxIdLength).describe(`Your id for the vector, 1–${LIMITS.maxIdLength} characters.`);

export const VectorItem = z
  .object({
    id: VectorId,
    vector: VectorValues,
    metadata: Metadata.nullable().optional(),
  })
  .strict()
  .superRefine((item, ctx) => {
    if (item.metadata != null && Buffer.byteLength(JSON.stringify(item.metadata)) > LIMITS.maxMetadataBytes) {
      ctx.addIssue({ code: 'custom', path: ['metadata'], message: `is larger than ${LIMITS.maxMetadataBytes} bytes as JSON` });
    }
  });

export const UpsertBody = z
  .object({
    vectors: z.array(VectorItem).min(1).max(LIMITS.maxBatch).describe('Vectors to insert; an existing id is replaced. Ids must be unique within a request.'),
  })
  .strict();

export const UpsertResponse = z.object({ upserted: z.int() });

export const VectorParams = NameParams.extend({ id: VectorId });

export const StoredVector = z.object({ id: z.string(), vector: z.array(z.number()), metadata: Metadata.nullable() });
