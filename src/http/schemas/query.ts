import { z } from 'zod';
import { FILTER_OPERATORS } from '../../services/filter.js';
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
      `nlist / ${AUTO.nprobeDivisor} rounded up, at least ${AUTO.minNprobe}. With a filter, it sets how many eligible vectors are scored ` +
      '(see explain.target) rather than the cells. A query that finds fewer than k × rerank candidates in its cells goes on to the ' +
      'next nearest cells until it has them. Ignored by flat indexes.',
  );

const SCALAR_HELP = 'a string, number or boolean';
const FilterScalar = z.union([z.string(), z.number(), z.boolean()]);
const FilterValues = z.array(FilterScalar).min(1).max(HARD_LIMITS.maxFilterValues);
const Bound = z.union([z.number(), z.string()]);

export const FilterOperators = z
  .strictObject(
    {
      eq: FilterScalar.optional().describe('Some value at the field equals this one (same JSON type).'),
      ne: FilterScalar.optional().describe('No value at the field equals this one; rows without the field match.'),
      in: FilterValues.optional().describe('Some value at the field is one of these.'),
      nin: FilterValues.optional().describe('No value at the field is one of these; rows without the field match.'),
      gt: Bound.optional().describe('Some value of the same type is greater (numbers; strings by code units, so ISO 8601 dates work).'),
      gte: Bound.optional().describe('Some value of the same type is greater or equal.'),
      lt: Bound.optional().describe('Some value of the same type is less.'),
      lte: Bound.optional().describe('Some value of the same type is less or equal.'),
      exists: z.boolean().optional().describe('true: the field holds a non-null value; false: it does not.'),
    },
    {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `unknown operator ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}; supported: ${FILTER_OPERATORS.join(', ')}`
          : undefined,
    },
  )
  .meta({ id: 'FilterOperators', description: 'Operators on one field; several combine with AND.', example: { gte: 10, lt: 20 } });

const FilterCondition = z.union([FilterScalar, FilterOperators], {
  // One message that says what a condition may be; for an object, what is wrong with its operators.
  error: (iss) => {
    const input = (iss as { input?: unknown }).input;
    const errors = (iss as { errors?: { path: PropertyKey[]; message: string }[][] }).errors;
    if (typeof input === 'object' && input !== null && !Array.isArray(input) && errors?.[1] !== undefined) {
      return errors[1].map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
    }
    return `must be ${SCALAR_HELP} (equality) or an object of operators (${FILTER_OPERATORS.join(', ')})`;
  },
});

export const Filter = z
  .object({
    get and() {
      return z.array(Filter).min(1).optional().describe('Every filter in the list holds.');
    },
    get or() {
      return z.array(Filter).min(1).optional().describe('At least one filter in the list holds.');
    },
    get not() {
      return Filter.optional().describe('The filter does not hold.');
    },
  })
  .catchall(FilterCondition)
  // compileFilter enforces the count of conditions and the nesting; JSON Schema states the first-level bound.
  // The description goes in .meta: .describe() would make a copy without the id, and the recursion needs it.
  .meta({
    id: 'Filter',
    maxProperties: HARD_LIMITS.maxFilterFields,
    example: { genre: { in: ['news', 'sport'] }, year: { gte: 2020 }, not: { 'author.country': 'NZ' } },
    description:
      'Metadata filter. Each key is a field path ("author.country": dots walk nested objects) with a value ' +
      '(equality) or operators: eq, ne, in, nin, gt, gte, lt, lte, exists; or a combinator: "and" and "or" ' +
      '(lists of filters), "not" (a filter). Keys of one object combine with AND. A field holding an array ' +
      'matches when any element does. Values match only the same JSON type ("10" never matches 10; the ' +
      'response warns when no stored value of the field has the type asked for). At most ' +
      `${HARD_LIMITS.maxFilterFields} conditions, ${HARD_LIMITS.maxFilterDepth} levels of nesting and ` +
      `${HARD_LIMITS.maxFilterValues} values per in / nin list. Applied inside the scan: k matching results ` +
      'come back whenever k exist.',
  });

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
    targetRecall: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe(
        "A k-recall@k to reach (k of the collection's targetRecall): rerank and nprobe become the cheapest setting its calibration measured at or above " +
          'this plus the calibration margin (the closest, with a warning, when none is). Not with rerank or nprobe; 422 not_calibrated when the collection has no ' +
          'calibration for its current codebook.',
      ),
    filter: Filter.optional(),
    explain: z.boolean().default(false).describe('Add "explain" to the answer: the search strategy chosen and the rows the filter let through.'),
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
          'nearer). Exact unless the collection is trained and rerank = 0 (then estimated from the codes, except under the exact-rows strategy).',
      ),
    metadata: StoredMetadata.nullable(),
  })
  .meta({ id: 'Hit' });

export const SearchExplain = z
  .object({
    strategy: z
      .enum(['exact', 'flat-scan', 'flat-rows', 'ivf-probe', 'ivf-rows', 'exact-rows'])
      .describe(
        'exact: untrained, exact distances. flat-scan: every code scanned, rows deleted or left out by a broad filter skipped. ' +
          'flat-rows: a filter on a flat index; only the eligible vectors’ codes read. ' +
          'ivf-probe: no filter (or one every live vector passes); the codes of the nprobe nearest cells scanned. ' +
          'ivf-rows: a filter on an IVF index; only eligible vectors scored, in the nearest cells until they held `target` of them. ' +
          'exact-rows: a filter letting through few vectors (no more than k × rerank, or fewer than the cell tables an IVF query would build ' +
          'are worth); the eligible vectors scored by exact distance.',
      ),
    nprobe: z.int().nullable().describe('IVF: the nearest cells an unfiltered query visits (more when they hold fewer than k × rerank vectors).'),
    target: z
      .int()
      .nullable()
      .describe(
        'ivf-rows: eligible vectors the visited cells must hold: max(0.3, s²) × nprobe × the average cell for a filter of selectivity s (more until k × rerank are found).',
      ),
    eligible: z.int().describe('Live vectors the filter lets through (all live vectors without a filter).'),
    live: z.int().describe('Live vectors in the collection.'),
    conditions: z.int().nullable().describe('Conditions of the filter (each operator on a field counts one); null without a filter.'),
    indexedConditions: z
      .int()
      .nullable()
      .describe(
        'Of those, conditions on indexed fields. All: the matches come from value indexes alone. Some: only the rows they let through have their metadata read. ' +
          'None: every row’s metadata is read once, when a filter is first used (its matches are then cached).',
      ),
  })
  .meta({ id: 'SearchExplain' });

export const QueryResponse = z
  .object({
    results: z.union([z.array(Hit), z.array(z.array(Hit))]),
    warnings: z
      .array(z.string())
      .optional()
      .describe(
        'Present when the filter cannot do what it looks like (a field that no stored row has, or whose stored values are all of another type).',
      ),
    explain: SearchExplain.optional().describe('Present when the request asked for it.'),
  })
  .describe('Nearest first. For "vector": a list of hits; for "vectors": one list per query, in order.');
