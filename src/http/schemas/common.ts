/** Shared request/response pieces and the documented limits. */
import { z } from 'zod';

export const LIMITS = {
  /** Largest vector dimension. */
  maxDimension: 16_384,
  /** Largest k of a query. */
  maxK: 1_000,
  /** Most queries in one request. */
  maxQueries: 1_000,
  /** Most vectors in one upsert request (the body limit usually binds first). */
  maxBatch: 100_000,
  /** Longest vector id, in characters. */
  maxIdLength: 512,
  /** Largest metadata object, as JSON, in bytes. */
  maxMetadataBytes: 65_536,
} as const;

export const CollectionName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters: letters, digits, "-" or "_"')
  .describe('Collection name: 1–64 letters, digits, "-" or "_".');

export const NameParams = z.object({ name: CollectionName });

export const Metric = z
  .enum(['l2', 'ip', 'cosine'])
  .describe('l2: squared Euclidean distance (smaller is nearer). ip: inner product (larger is nearer). cosine: inner product of unit vectors (larger is nearer).');

export const VectorValues = z
  .array(z.number())
  .min(1)
  .max(LIMITS.maxDimension)
  .describe('The vector: exactly `dimension` finite numbers (stored as 32-bit floats).');

export const Metadata = z
  .record(z.string(), z.json())
  .describe(`Any JSON object (at most ${LIMITS.maxMetadataBytes} bytes as JSON), returned with query results.`);

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Machine-readable error code, e.g. validation_error, collection_not_found.'),
      message: z.string().describe('What went wrong, for people.'),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('Every error response has this shape.');
