/** Shared request/response pieces and the documented limits. */
import { z } from 'zod';
import { HARD_LIMITS, MAX_ABS_VALUE } from '../../tunables.js';

export const CollectionName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters: letters, digits, "-" or "_"')
  .describe('Collection name: 1–64 letters, digits, "-" or "_".')
  // The examples make a working session, in the order of the README's walkthrough (collection "demo", vector "doc-1").
  .meta({ example: 'demo' });

export const NameParams = z.object({ name: CollectionName });

export const Metric = z
  .enum(['l2', 'ip', 'cosine'])
  .describe(
    'l2: squared Euclidean distance (smaller is nearer). ip: inner product (larger is nearer). cosine: ' +
      'inner product of unit vectors (larger is nearer).',
  );

export const VectorValues = z
  // The service checks the range (its message names the vector and the position): the bounds here only document it.
  .array(z.number().meta({ minimum: -MAX_ABS_VALUE, maximum: MAX_ABS_VALUE }))
  .min(1)
  .max(HARD_LIMITS.maxDimension)
  .describe(`The vector: exactly \`dimension\` numbers with |value| ≤ ${MAX_ABS_VALUE} (stored as 32-bit floats).`);

/**
 * Whether v (parsed JSON) nests at most maxDepth levels below itself. Iterative:
 * a recursive walk (zod's z.json()) overflows the stack on hostile input.
 */
export function jsonDepthAtMost(v: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth >= maxDepth) return false;
    for (const child of Array.isArray(x) ? x : Object.values(x)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return true;
}

/** Any JSON value nesting at most maxMetadataDepth levels (checked without recursion). */
const JsonValue = z.custom<unknown>((v) => jsonDepthAtMost(v, HARD_LIMITS.maxMetadataDepth - 1), {
  message: `nests deeper than ${HARD_LIMITS.maxMetadataDepth} levels`,
});

const METADATA_DESCRIPTION = `Any JSON object (at most MAX_METADATA_BYTES, default ${HARD_LIMITS.maxMetadataBytes}, bytes as JSON; nesting at most ${HARD_LIMITS.maxMetadataDepth} levels), returned with query results.`;

export const Metadata = z.record(z.string(), JsonValue).describe(METADATA_DESCRIPTION);

/**
 * Metadata in answers: checked on the way in, so not walked again on the way
 * out (the depth check would triple the cost of checking a large query answer).
 * Documented the same.
 */
export const StoredMetadata = z.record(z.string(), z.unknown()).describe(METADATA_DESCRIPTION);

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Machine-readable error code, e.g. validation_error, collection_not_found.'),
      message: z.string().describe('What went wrong, for people.'),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('Every error response has this shape.')
  // A shared component: every error response of the document refers to it.
  .meta({ id: 'ErrorBody' });
