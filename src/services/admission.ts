/**
 * Request admission: what a request may do, decided before any of its work
 * starts, from the request, the configured limits and a little collection
 * state. Pure (no I/O, no service state): the service asks, then acts; tests
 * call these directly. Training admission is its sibling, training-plan.ts.
 */
import type { Limits } from '../config.js';
import { QuantizerInputError } from '../core/errors.js';
import { PQGeometry } from '../core/pq.js';
import type { AutoTrainConfig, QuantizerConfig } from '../store/store.js';
import { badRequest, limitExceeded } from './errors.js';
import { fieldPath } from './filter.js';
import { ADDITIVE_NBITS } from '../core/additive.js';
import { ADDITIVE_LIMITS, DEFAULT_NBITS, HARD_LIMITS, LSQ_DEFAULTS } from '../tunables.js';
import { defaultM } from './training-plan.js';
import type { CreateCollectionInput, VectorInput } from './types.js';

/**
 * A new collection's stored settings (defaults filled in), or the 4xx that
 * refuses it: too many collections (422), a dimension over its limit, an OPQ
 * rotation too large, a quantizer shape that cannot be (400).
 */
export function admitCollection(
  input: CreateCollectionInput,
  existing: number,
  limits: Limits,
): { quantizer: QuantizerConfig; autoTrain: AutoTrainConfig | null; indexedFields: string[] } {
  const { maxCollections, maxDimension, maxOpqDimension } = limits;
  if (existing >= maxCollections) throw limitExceeded(422, 'maxCollections', maxCollections, existing + 1, 'the number of collections');
  if (input.dimension > maxDimension) throw limitExceeded(400, 'maxDimension', maxDimension, input.dimension, 'dimension');
  if ((input.quantizer.type === 'opq' || input.quantizer.type === 'lopq') && input.dimension > maxOpqDimension) {
    throw limitExceeded(
      400,
      'maxOpqDimension',
      maxOpqDimension,
      input.dimension,
      `the dimension of an ${input.quantizer.type.toUpperCase()} collection (its rotation holds dimension² values)`,
    );
  }
  const { type } = input.quantizer;
  if (type === 'rq' || type === 'lsq') {
    const quantizer = admitAdditive(input, type);
    return { quantizer, autoTrain: admitAutoTrain(input, quantizer), indexedFields: admitIndexedFields(input.indexedFields ?? []) };
  }
  if (input.quantizer.beam !== undefined) throw badRequest('quantizer: beam applies to rq only');
  const quantizer = admitProduct(input, type);
  return { quantizer, autoTrain: admitAutoTrain(input, quantizer), indexedFields: admitIndexedFields(input.indexedFields ?? []) };
}

/** A pq, opq or lopq collection's quantizer (defaults filled in), or 400 for a shape that cannot be (lopq without ivf). */
function admitProduct(input: CreateCollectionInput, type: 'pq' | 'opq' | 'lopq'): QuantizerConfig {
  const { m, nbits } = input.quantizer;
  if (type === 'lopq' && input.quantizer.ivf === undefined)
    throw badRequest('quantizer: lopq learns a rotation per IVF cell; give ivf (e.g. {"ivf": {}} for an automatic nlist)');
  const quantizer: QuantizerConfig = { type, m: m ?? defaultM(input.dimension), nbits: nbits ?? DEFAULT_NBITS };
  if (nbits === undefined) quantizer.autoNbits = true;
  if (input.quantizer.ivf !== undefined) quantizer.ivf = { nlist: input.quantizer.ivf.nlist ?? null };
  try {
    new PQGeometry(input.dimension, quantizer.m, quantizer.nbits);
  } catch (err) {
    if (err instanceof QuantizerInputError) throw badRequest(`quantizer: ${err.message}`);
    throw err;
  }
  return quantizer;
}

/**
 * An rq or lsq collection's quantizer (flat, or with ivf: the residuals to the cells coded): 8-bit codes, at most
 * ADDITIVE_LIMITS.maxCodebooks codebooks for rq and LSQ_DEFAULTS.maxCodebooks
 * for lsq; beam for rq only (400 otherwise).
 */
function admitAdditive(input: CreateCollectionInput, type: 'rq' | 'lsq'): QuantizerConfig {
  const { m, nbits, beam, ivf } = input.quantizer;
  if (nbits !== undefined && nbits !== ADDITIVE_NBITS)
    throw badRequest(`quantizer: ${type} codes are ${ADDITIVE_NBITS}-bit (256 codewords per codebook); nbits ${nbits} cannot be used`);
  if (type === 'lsq' && beam !== undefined) throw badRequest('quantizer: beam applies to rq only');
  const maxCodebooks = type === 'rq' ? ADDITIVE_LIMITS.maxCodebooks : LSQ_DEFAULTS.maxCodebooks;
  if (m !== undefined && m > maxCodebooks) throw badRequest(`quantizer: ${type} takes at most ${maxCodebooks} codebooks, got m = ${m}`);
  const quantizer: QuantizerConfig = { type, m: m ?? Math.min(maxCodebooks, defaultM(input.dimension)), nbits: ADDITIVE_NBITS };
  if (beam !== undefined) quantizer.beam = beam;
  if (ivf !== undefined) quantizer.ivf = { nlist: ivf.nlist ?? null };
  return quantizer;
}

function admitAutoTrain(input: CreateCollectionInput, quantizer: QuantizerConfig): AutoTrainConfig | null {
  const autoTrain = input.autoTrain ?? null;
  if (autoTrain !== null) checkAutoTrain(autoTrain, quantizer);
  return autoTrain;
}

/** A collection's indexed fields: dotted metadata paths as filters name them, each once, at most maxIndexedFields. */
export function admitIndexedFields(fields: string[]): string[] {
  if (fields.length > HARD_LIMITS.maxIndexedFields) {
    throw badRequest(`indexedFields lists ${fields.length} fields; at most ${HARD_LIMITS.maxIndexedFields} can be indexed`);
  }
  const seen = new Set<string>();
  for (const f of fields) {
    fieldPath(f, 'indexedFields entry');
    if (seen.has(f)) throw badRequest(`indexedFields lists ${JSON.stringify(f)} twice`);
    seen.add(f);
  }
  return fields;
}

/** Automatic training must not start below one vector per centroid (fixed nbits) or per IVF cell (fixed nlist). */
export function checkAutoTrain(a: AutoTrainConfig, q: QuantizerConfig): void {
  const ksub = 1 << q.nbits;
  if (!q.autoNbits && a.minVectors < ksub) {
    throw badRequest(`autoTrain.minVectors must be at least ${ksub} (one vector per centroid with nbits = ${q.nbits}), got ${a.minVectors}`);
  }
  const nlist = q.ivf?.nlist ?? null;
  if (nlist !== null && a.minVectors < nlist) {
    throw badRequest(`autoTrain.minVectors must be at least ${nlist} (one vector per IVF cell with nlist = ${nlist}), got ${a.minVectors}`);
  }
}

/** An upsert batch: at most maxVectorsPerRequest vectors, each id once. */
export function admitUpsert(ids: readonly string[], limits: Limits, label = (i: number) => `vectors[${i}]`): void {
  const { maxVectorsPerRequest } = limits;
  if (ids.length > maxVectorsPerRequest)
    throw limitExceeded(400, 'maxVectorsPerRequest', maxVectorsPerRequest, ids.length, 'the number of vectors in the request');
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined) throw badRequest(`${label(i)}.id '${id}' repeats ${label(first)}.id; ids must be unique in a batch`);
    seen.set(id, i);
  });
}

/** Each item's metadata as the JSON text stored (null for none), each at most maxMetadataBytes. */
export function metadataJson(items: readonly VectorInput[], limits: Limits): (string | null)[] {
  const { maxMetadataBytes } = limits;
  return items.map((it, i) => {
    const metadata = it.metadata === undefined || it.metadata === null ? null : JSON.stringify(it.metadata);
    if (metadata !== null && Buffer.byteLength(metadata) > maxMetadataBytes) {
      throw limitExceeded(400, 'maxMetadataBytes', maxMetadataBytes, Buffer.byteLength(metadata), `vectors[${i}].metadata as JSON, in bytes,`);
    }
    return metadata;
  });
}

/**
 * Bounds one search request's work: k and rerank each under their limits,
 * candidates (k × rerank × queries: heap entries and vectors re-ranked) and, on
 * an untrained collection, exact distances (queries × stored vectors) under
 * theirs. `exact` adds an exact search over every stored vector (evaluate).
 */
export function admitSearch(
  limits: Limits,
  collection: { trained: boolean; live: number },
  nq: number,
  k: number,
  rerank: number,
  exact = false,
): void {
  const { maxQueriesPerRequest, maxK, maxRerank, maxCandidates, maxExactWork } = limits;
  if (nq > maxQueriesPerRequest) throw limitExceeded(400, 'maxQueriesPerRequest', maxQueriesPerRequest, nq, 'the number of queries in the request');
  if (k > maxK) throw limitExceeded(400, 'maxK', maxK, k, 'k');
  if (rerank > maxRerank) throw limitExceeded(400, 'maxRerank', maxRerank, rerank, 'rerank');
  const { trained } = collection;
  const candidates = k * (trained ? Math.max(1, rerank) : 1) * nq;
  if (candidates > maxCandidates) throw limitExceeded(422, 'maxCandidates', maxCandidates, candidates, 'k × rerank × queries');
  const work = nq * collection.live;
  if ((exact || !trained) && work > maxExactWork) {
    throw limitExceeded(422, 'maxExactWork', maxExactWork, work, 'exact search work (queries × stored vectors)');
  }
}
