/** The API's fixed ceilings: no configuration can raise them. */

/**
 * Hard ceilings of the API: the schemas refuse anything above them, and the
 * configurable limits (config.ts, MAX_* variables) may only lower them.
 */
export const HARD_LIMITS = {
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
  /** Largest re-ranking factor. */
  maxRerank: 100,
  /** Deepest nesting of a metadata value (an object or array inside another counts one level). */
  maxMetadataDepth: 32,
  /** Most fields in one filter. */
  maxFilterFields: 64,
} as const;

/**
 * Largest |value| of a vector component. Distance tables and kernels hold
 * squared distances in float32: with |x| ≤ 1e16 and dimension ≤ 16,384,
 * d · (2 · 1e16)² ≈ 6.6e36 stays below float32's 3.4e38, so no distance
 * overflows to Infinity (which would drop every candidate from the scan).
 */
export const MAX_ABS_VALUE = 1e16;
