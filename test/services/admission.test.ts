import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Limits } from '../../src/config.js';
import { admitCollection, admitIndexedFields, admitSearch, admitUpsert, checkAutoTrain, metadataJson } from '../../src/services/admission.js';
import { refusal } from '../helpers/refusal.js';

const limits = (over: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...over });

describe('request admission', () => {
  it('fills a new collection’s defaults: m from the dimension, nbits 8 marked automatic, nlist left open', () => {
    const a = admitCollection({ name: 'c', dimension: 100, metric: 'l2', quantizer: { type: 'pq', ivf: {} } }, 0, limits());
    expect(a).toEqual({ quantizer: { type: 'pq', m: 12, nbits: 8, autoNbits: true, ivf: { nlist: null } }, autoTrain: null, indexedFields: [] });
  });

  it('takes indexed fields as filters name them, each once, at most maxIndexedFields', () => {
    expect(admitIndexedFields(['label', 'author.country'])).toEqual(['label', 'author.country']);
    expect(refusal(() => admitIndexedFields(['a', 'b', 'a'])).message).toBe('indexedFields lists "a" twice');
    expect(refusal(() => admitIndexedFields(['a.'])).message).toMatch(/^indexedFields entry "a\." must be field names/);
    expect(refusal(() => admitIndexedFields(Array.from({ length: 17 }, (_, i) => `f${i}`))).message).toBe(
      'indexedFields lists 17 fields; at most 16 can be indexed',
    );
  });

  it('refuses a collection over each limit with the limit named, and a quantizer shape that cannot be', () => {
    const input = { name: 'c', dimension: 64, metric: 'l2' as const, quantizer: { type: 'opq' as const } };
    expect(refusal(() => admitCollection(input, 3, limits({ maxCollections: 3 }))).details).toMatchObject({ max: 3, value: 4 });
    expect(refusal(() => admitCollection(input, 0, limits({ maxDimension: 32 }))).status).toBe(400);
    expect(refusal(() => admitCollection(input, 0, limits({ maxOpqDimension: 32 }))).message).toMatch(/OPQ collection/);
    const r = refusal(() => admitCollection({ ...input, quantizer: { type: 'pq', m: 65 } }, 0, limits()));
    expect([r.status, r.message]).toEqual([400, 'quantizer: m (sub-quantizers) must be an integer in 1..64, got 65']);
  });

  it('refuses automatic training below one vector per centroid (fixed nbits) or per cell (fixed nlist)', () => {
    expect(() => checkAutoTrain({ minVectors: 100 }, { type: 'pq', m: 4, nbits: 8 })).toThrow(/at least 256/);
    expect(() => checkAutoTrain({ minVectors: 100 }, { type: 'pq', m: 4, nbits: 8, autoNbits: true })).not.toThrow();
    expect(() => checkAutoTrain({ minVectors: 300 }, { type: 'pq', m: 4, nbits: 8, ivf: { nlist: 512 } })).toThrow(/at least 512/);
  });

  it('refuses a batch over the limit or with a repeated id; measures metadata as stored JSON', () => {
    const v = (id: string, metadata?: Record<string, unknown>) => ({ id, vector: [1], metadata });
    expect(refusal(() => admitUpsert(['a', 'b'], limits({ maxVectorsPerRequest: 1 }))).details).toMatchObject({ max: 1, value: 2 });
    expect(refusal(() => admitUpsert(['a', 'b', 'a'], limits())).message).toBe(
      "vectors[2].id 'a' repeats vectors[0].id; ids must be unique in a batch",
    );
    expect(metadataJson([v('a', { x: 'é' }), v('b')], limits())).toEqual(['{"x":"é"}', null]);
    expect(refusal(() => metadataJson([v('a', { x: 'é' })], limits({ maxMetadataBytes: 9 }))).details).toMatchObject({ max: 9, value: 10 });
  });

  it('bounds search work: candidates count rerank only when trained, exact work only when untrained or evaluating', () => {
    const l = limits({ maxCandidates: 1000, maxExactWork: 10_000 });
    expect(() => admitSearch(l, { trained: true, live: 1e9 }, 10, 10, 10)).not.toThrow();
    expect(refusal(() => admitSearch(l, { trained: true, live: 0 }, 10, 10, 11)).details).toMatchObject({ max: 1000, value: 1100 });
    expect(() => admitSearch(l, { trained: false, live: 1000 }, 10, 10, 100)).not.toThrow();
    expect(refusal(() => admitSearch(l, { trained: false, live: 1001 }, 10, 10, 0)).code).toBe('limit_exceeded');
    expect(refusal(() => admitSearch(l, { trained: true, live: 1001 }, 10, 1, 1, true)).status).toBe(422);
  });
});
