/**
 * Issue 14: the filter language over HTTP. A property-based test compares the
 * service's matches with a plain evaluation of the filter written here from the
 * documented semantics (not the service's code), on an untrained, a flat and an
 * IVF collection, before and after a restart; then exactness, warnings, explain
 * and the 400s.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { type TestApp, makeApp, waitForJob } from '../helpers/app.js';
import { type Filter, filterArbitrary } from '../helpers/filters.js';

type Scalar = string | number | boolean;
type Json = Scalar | null | Json[] | { [k: string]: Json };

const D = 8;
const N = 240;

// ---- the reference: the README's semantics, written out plainly ----

/** Every value at a dotted path; arrays are walked element by element, at any step. */
function valuesAt(v: Json | undefined, path: string[]): Json[] {
  if (Array.isArray(v)) return v.flatMap((e) => valuesAt(e, path));
  if (path.length === 0) return v === undefined || v === null ? [] : [v];
  if (v === null || v === undefined || typeof v !== 'object') return [];
  return Object.hasOwn(v, path[0]) ? valuesAt(v[path[0]], path.slice(1)) : [];
}

function holds(meta: { [k: string]: Json }, filter: Filter): boolean {
  return Object.entries(filter).every(([key, spec]) => {
    if (key === 'and') return (spec as Filter[]).every((f) => holds(meta, f));
    if (key === 'or') return (spec as Filter[]).some((f) => holds(meta, f));
    if (key === 'not') return !holds(meta, spec as Filter);
    const values = valuesAt(meta, key.split('.'));
    const ops: Record<string, unknown> = typeof spec === 'object' && spec !== null ? (spec as Record<string, unknown>) : { eq: spec };
    return Object.entries(ops).every(([op, x]) => {
      const same = (v: Json) => typeof v === typeof x;
      switch (op) {
        case 'eq':
          return values.some((v) => v === x);
        case 'ne':
          return !values.some((v) => v === x);
        case 'in':
          return values.some((v) => (x as Scalar[]).includes(v as Scalar));
        case 'nin':
          return !values.some((v) => (x as Scalar[]).includes(v as Scalar));
        case 'gt':
          return values.some((v) => same(v) && (v as number) > (x as number));
        case 'gte':
          return values.some((v) => same(v) && (v as number) >= (x as number));
        case 'lt':
          return values.some((v) => same(v) && (v as number) < (x as number));
        case 'lte':
          return values.some((v) => same(v) && (v as number) <= (x as number));
        case 'exists':
          return values.length > 0 === x;
        default:
          throw new Error(`no operator ${op}`);
      }
    });
  });
}

// ---- data: metadata with numbers, strings, booleans, arrays, nesting, gaps and type mixes ----

function metadataOf(i: number, rng: Rng): { [k: string]: Json } | null {
  if (i % 17 === 0) return null;
  const m: { [k: string]: Json } = {};
  const r = () => rng.nextFloat();
  if (r() < 0.85) m.n = r() < 0.1 ? String(Math.floor(r() * 10)) : Math.floor(r() * 10);
  if (r() < 0.8) m.s = ['red', 'green', 'blue', 'Red', '2024-01-05', '2025-11-30'][Math.floor(r() * 6)];
  if (r() < 0.7) m.b = r() < 0.5;
  if (r() < 0.6) m.tags = Array.from({ length: Math.floor(r() * 3) }, () => ['a', 'b', 'c', 'd'][Math.floor(r() * 4)]);
  if (r() < 0.6) m.author = r() < 0.2 ? null : { country: ['NZ', 'FR', 'JP'][Math.floor(r() * 3)], age: Math.floor(r() * 80) };
  if (r() < 0.2) m.list = [{ x: Math.floor(r() * 3) }, { x: Math.floor(r() * 3) }];
  return m;
}

const field = fc.constantFrom('n', 's', 'b', 'tags', 'author.country', 'author.age', 'list.x', 'missing');
const scalar: fc.Arbitrary<Scalar> = fc.oneof(
  fc.integer({ min: -1, max: 10 }),
  fc.constantFrom('red', 'blue', 'Red', 'a', 'c', 'NZ', 'JP', '2024-06-01', '5'),
  fc.boolean(),
);
const bound: fc.Arbitrary<Scalar> = fc.oneof(fc.integer({ min: -1, max: 80 }), fc.constantFrom('2024-06-01', 'b', 'green', 'N'));
const filterArb = filterArbitrary({ field, operand: scalar, bound, depth: { depthSize: 'small', withCrossShrink: true }, mixed: true });

describe('filters: every operator and composition, as documented', () => {
  let t: TestApp;
  const rng = new Rng(14);
  const items = Array.from({ length: N }, (_, i) => ({
    id: `v${i}`,
    vector: Array.from({ length: D }, () => rng.nextFloat() * 2 - 1),
    metadata: metadataOf(i, rng),
  }));
  // raw and flat read metadata for every filter; indexed answers every condition from value
  // indexes; ivf has some fields indexed, so it reads only the candidates' metadata.
  const collections = ['raw', 'flat', 'ivf', 'indexed'];
  const allFields = ['n', 's', 'b', 'tags', 'author.country', 'author.age', 'list.x'];

  beforeAll(async () => {
    t = await makeApp();
    const pq = { type: 'pq', m: 4, nbits: 5 };
    await t.req('POST', '/collections', { name: 'raw', dimension: D, metric: 'l2', quantizer: { type: 'pq', m: 4 } });
    await t.req('POST', '/collections', { name: 'flat', dimension: D, metric: 'l2', quantizer: pq });
    const ivf = { name: 'ivf', dimension: D, metric: 'l2', quantizer: { ...pq, ivf: { nlist: 6 } }, indexedFields: ['n', 'tags', 'author.country'] };
    expect((await t.req('POST', '/collections', ivf)).json().indexedFields).toEqual(ivf.indexedFields);
    await t.req('POST', '/collections', { name: 'indexed', dimension: D, metric: 'l2', quantizer: pq, indexedFields: allFields });
    for (const name of collections) {
      // Two writes, the second replacing a few vectors of the first: replaced rows must drop out of the indexes' answers.
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors: items.slice(0, 200) })).statusCode).toBe(200);
      const again = items.slice(0, 20).map((it) => ({ ...it, metadata: { n: 99, tags: ['z'] } }));
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors: again })).statusCode).toBe(200);
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors: items.slice(200) })).statusCode).toBe(200);
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors: items.slice(0, 20) })).statusCode).toBe(200);
    }
    for (const name of ['flat', 'ivf', 'indexed']) {
      const job = (await t.req('POST', `/collections/${name}/train`, {})).json().job;
      expect((await waitForJob(t, name, job.id)).state).toBe('succeeded');
    }
  });
  afterAll(() => t.destroy());

  async function matches(name: string, filter: Filter): Promise<string[]> {
    const r = await t.req('POST', `/collections/${name}/query`, { vector: items[0].vector, k: N, filter });
    expect(r.statusCode, JSON.stringify(r.json())).toBe(200);
    return (r.json().results as { id: string }[]).map((h) => h.id).sort();
  }

  const expected = (filter: Filter) =>
    items
      .filter((it) => holds(it.metadata ?? {}, filter))
      .map((it) => it.id)
      .sort();

  async function check(runs: number, seed: number): Promise<void> {
    await fc.assert(
      fc.asyncProperty(filterArb, async (filter) => {
        const want = expected(filter);
        for (const name of collections) expect(await matches(name, filter), `${name}: ${JSON.stringify(filter)}`).toEqual(want);
      }),
      { numRuns: runs, seed },
    );
  }

  it('the matches equal a plain evaluation of the filter, on untrained, flat and IVF collections, before and after a restart', async () => {
    // Hand-picked first: each operator, nesting, arrays, missing fields, rows without metadata.
    for (const filter of [
      { n: { gte: 3, lt: 7 } },
      { s: { gt: '2024-06-01' } },
      { tags: 'a' },
      { tags: { nin: ['a', 'b'] } },
      { 'author.country': { ne: 'NZ' } },
      { 'list.x': 2 },
      { author: { exists: false } },
      { or: [{ b: true }, { not: { n: { in: [1, 2, 3] } } }] },
    ]) {
      const want = expected(filter);
      for (const name of collections) expect(await matches(name, filter), `${name}: ${JSON.stringify(filter)}`).toEqual(want);
    }
    await check(60, 1414);
    await t.close();
    t = await makeApp(t.dir);
    await check(30, 2828);
  });

  it('filtered results are the true top k among the matching vectors when rerank covers them', async () => {
    const filter = { n: { in: [2, 5] } };
    const eligible = items.filter((it) => holds(it.metadata ?? {}, filter));
    expect(eligible.length).toBeGreaterThan(10);
    expect(eligible.length).toBeLessThanOrEqual(10 * 4);
    for (const q of [items[3].vector, items[100].vector, items[200].vector]) {
      const truth = eligible
        .map((it) => ({ id: it.id, d: it.vector.reduce((s, x, j) => s + (x - q[j]) ** 2, 0) }))
        .sort((a, b) => a.d - b.d)
        .slice(0, 10)
        .map((h) => h.id);
      for (const name of collections) {
        const r = await t.req('POST', `/collections/${name}/query`, { vector: q, k: 10, rerank: 4, filter });
        expect((r.json().results as { id: string }[]).map((h) => h.id)).toEqual(truth);
      }
    }
  });

  it('warns when no stored value of a field has the type asked for, or no row has the field; explains the strategy on request', async () => {
    const r = await t.req('POST', '/collections/flat/query', { vector: items[0].vector, k: 5, filter: { b: 'true' }, explain: true });
    expect(r.statusCode).toBe(200);
    expect(r.json().results).toEqual([]);
    expect(r.json().warnings).toEqual([
      'filter: the eq condition on "b" compares with a string, but the stored values of "b" are boolean; it matches no row (values match only the same JSON type)',
    ]);
    expect(r.json().explain).toMatchObject({ strategy: 'exact-rows', eligible: 0, live: N });
    const typo = await t.req('POST', '/collections/ivf/query', { vector: items[0].vector, k: 5, filter: { colour: { ne: 'red' } } });
    expect(typo.json().warnings).toEqual([
      'filter: no stored row has a value at "colour"; the ne condition on it is evaluated anyway, and it holds for every row',
    ]);
    expect(typo.json().results).toHaveLength(5);
    // A mixed field (numbers and a few strings) is fine: no warning.
    const mixed = await t.req('POST', '/collections/raw/query', { vector: items[0].vector, k: 5, filter: { n: '5' }, explain: true });
    expect(mixed.json().warnings).toBeUndefined();
    expect(mixed.json().explain.strategy).toBe('exact');
    // IVF: a filter scores the eligible rows of the nearest cells (unless it lets through no more than k × rerank); no filter probes the nprobe nearest.
    const narrow = await t.req('POST', '/collections/ivf/query', {
      vector: items[0].vector,
      k: 5,
      rerank: 1,
      filter: { 'list.x': 2 },
      explain: true,
    });
    const few = await t.req('POST', '/collections/ivf/query', { vector: items[0].vector, k: 5, rerank: 100, filter: { 'list.x': 2 }, explain: true });
    expect(few.json().explain).toMatchObject({ strategy: 'exact-rows', eligible: narrow.json().explain.eligible });
    const broad = await t.req('POST', '/collections/ivf/query', { vector: items[0].vector, k: 5, filter: { n: { ne: 0 } }, explain: true });
    const none = await t.req('POST', '/collections/ivf/query', { vector: items[0].vector, k: 5, explain: true });
    expect(narrow.json().explain).toMatchObject({ strategy: 'ivf-rows', conditions: 1, indexedConditions: 0 });
    expect(broad.json().explain).toMatchObject({ strategy: 'ivf-rows', conditions: 1, indexedConditions: 1 });
    expect(broad.json().explain.target).toBeGreaterThan(0);
    expect(broad.json().explain.eligible).toBeLessThan(N);
    expect(none.json().explain).toMatchObject({ strategy: 'ivf-probe', target: null, conditions: null, indexedConditions: null });
    // Indexed conditions answer for themselves; an unindexed one beside them was read on their candidates only, and its warning says so.
    const both = await t.req('POST', '/collections/ivf/query', { vector: items[0].vector, k: 5, filter: { n: 3, colour: 'red' }, explain: true });
    expect(both.json().explain).toMatchObject({ conditions: 2, indexedConditions: 1, eligible: 0 });
    expect(both.json().warnings).toEqual([
      'filter: of the rows the indexed conditions select, none has a value at "colour"; the eq condition on it is evaluated anyway, and it matches no row',
    ]);
    const typed = await t.req('POST', '/collections/indexed/query', { vector: items[0].vector, k: 5, filter: { b: 'true', tags: 7 } });
    expect(typed.json().warnings).toEqual([
      'filter: the eq condition on "b" compares with a string, but the stored values of "b" are boolean; it matches no row (values match only the same JSON type)',
      'filter: the eq condition on "tags" compares with a number, but the stored values of "tags" are string; it matches no row (values match only the same JSON type)',
    ]);
  });

  it('indexedFields can change on a collection with data while it is written to, and survive a restart', async () => {
    // Over three batches of VALUE_INDEX_BUILD_ROWS stored rows, so the writes below land while the new indexes are filled.
    const base = Array.from({ length: 3 * 4096 + 100 }, (_, i) => ({ id: `b${i}`, vector: items[i % N].vector, metadata: metadataOf(i, rng) }));
    await t.req('POST', '/collections', { name: 'late', dimension: D, metric: 'l2' });
    expect((await t.req('POST', '/collections/late/vectors', { vectors: base })).statusCode).toBe(200);
    const more = items.map((it, i) => ({ ...it, id: `w${i}` }));
    const all = [...base, ...more];
    const filters: Filter[] = [
      { n: { gte: 3, lt: 7 } },
      { tags: 'a', 'author.age': { gt: 40 } },
      { or: [{ tags: 'b' }, { not: { n: 2 } }] },
      { 'author.country': 'JP', n: 9, b: true },
    ];
    const want = (f: Filter) => all.filter((it) => holds(it.metadata ?? {}, f)).map((it) => it.id);
    // The count of matches (explain.eligible), and the ids of the narrowest filter.
    const check = async (indexedConditions: number[]) => {
      for (const [i, f] of filters.entries()) {
        const r = await t.req('POST', '/collections/late/query', { vector: items[0].vector, k: 1000, filter: f, explain: true });
        expect(r.statusCode).toBe(200);
        expect(r.json().explain, JSON.stringify(f)).toMatchObject({ eligible: want(f).length, indexedConditions: indexedConditions[i] });
        if (i === 3) expect((r.json().results as { id: string }[]).map((h) => h.id).sort()).toEqual(want(f).sort());
      }
    };
    expect(want(filters[3]).length).toBeGreaterThan(5);
    const patching = t.req('PATCH', '/collections/late', { indexedFields: ['n', 'tags', 'author.country'] });
    for (let b = 0; b < 8; b++) {
      expect((await t.req('POST', '/collections/late/vectors', { vectors: more.slice(b * 30, (b + 1) * 30) })).statusCode).toBe(200);
    }
    const patched = await patching;
    expect(patched.statusCode).toBe(200);
    expect(patched.json().indexedFields).toEqual(['n', 'tags', 'author.country']);
    await check([2, 1, 2, 2]);

    await t.close();
    t = await makeApp(t.dir);
    expect((await t.req('GET', '/collections/late')).json().indexedFields).toEqual(['n', 'tags', 'author.country']);
    await check([2, 1, 2, 2]);
    // Only autoTrain: the indexes stay. A new list keeps, adds and drops; an empty one drops them all; the answers never change.
    expect((await t.req('PATCH', '/collections/late', { autoTrain: null })).json().indexedFields).toEqual(['n', 'tags', 'author.country']);
    expect((await t.req('PATCH', '/collections/late', { indexedFields: ['tags', 'author.age', 'b'] })).json().indexedFields).toEqual([
      'tags',
      'author.age',
      'b',
    ]);
    await check([0, 2, 1, 1]);
    expect((await t.req('PATCH', '/collections/late', { indexedFields: [] })).json().indexedFields).toEqual([]);
    await check([0, 0, 0, 0]);
  });

  it('indexes what is stored: a number JSON cannot hold (1e999, stored as null) is no value, as after a restart', async () => {
    await t.req('POST', '/collections', { name: 'inf', dimension: D, indexedFields: ['x'] });
    const vector = JSON.stringify(items[0].vector);
    const payload = `{"vectors": [{"id": "big", "vector": ${vector}, "metadata": {"x": 1e999}}, {"id": "one", "vector": ${vector}, "metadata": {"x": 1}}]}`;
    const put = await t.app.inject({ method: 'POST', url: '/collections/inf/vectors', headers: { 'content-type': 'application/json' }, payload });
    expect(put.statusCode).toBe(200);
    expect((await t.req('GET', '/collections/inf/vectors/big')).json().metadata).toEqual({ x: null });
    for (const [filter, ids] of [
      [{ x: { exists: true } }, ['one']],
      [{ x: { gt: 0 } }, ['one']],
      [{ x: { exists: false } }, ['big']],
    ] as const) {
      const r = await t.req('POST', '/collections/inf/query', { vector: items[0].vector, k: 5, filter, explain: true });
      expect(r.json().explain.indexedConditions).toBe(1);
      expect((r.json().results as { id: string }[]).map((h) => h.id)).toEqual(ids);
    }
  });

  it('refuses bad indexedFields with a 400', async () => {
    for (const [body, message] of [
      [{ indexedFields: ['n', 'n'] }, /indexedFields lists "n" twice/],
      [{ indexedFields: ['a..b'] }, /indexedFields entry "a\.\.b" must be field names/],
      [{ indexedFields: Array.from({ length: 17 }, (_, i) => `f${i}`) }, /body\.indexedFields/],
      [{ indexedFields: 'n' }, /body\.indexedFields/],
    ] as const) {
      const created = await t.req('POST', '/collections', { name: 'bad', dimension: D, ...body });
      expect(created.statusCode, JSON.stringify(body)).toBe(400);
      expect(created.json().error.message).toMatch(message);
      const patched = await t.req('PATCH', '/collections/flat', body);
      expect(patched.statusCode, JSON.stringify(body)).toBe(400);
      expect(patched.json().error.message).toMatch(message);
    }
    const empty = await t.req('PATCH', '/collections/flat', {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.message).toMatch(/name autoTrain, indexedFields, targetRecall or several/);
    expect((await t.req('GET', '/collections/bad')).statusCode).toBe(404);
    expect((await t.req('GET', '/collections/flat')).json().indexedFields).toEqual([]);
  });

  it('a cached filter follows deletes and new rows (its skip map is rebuilt when either changes)', async () => {
    // A collection of its own: the others must keep their data for the other tests, in any order.
    await t.req('POST', '/collections', { name: 'mut', dimension: D, metric: 'l2' });
    expect((await t.req('POST', '/collections/mut/vectors', { vectors: items })).statusCode).toBe(200);
    const filter = { 'author.country': 'JP', n: { lte: 4 } };
    const before = await matches('mut', filter);
    expect(before).toEqual(expected(filter));
    expect(before.length).toBeGreaterThan(2);
    expect((await t.req('DELETE', `/collections/mut/vectors/${before[0]}`)).statusCode).toBe(204);
    const added = { id: 'late', vector: items[0].vector, metadata: { author: { country: 'JP' }, n: 0 } };
    expect((await t.req('POST', '/collections/mut/vectors', { vectors: [added] })).statusCode).toBe(200);
    expect(await matches('mut', filter)).toEqual([...before.slice(1), 'late'].sort());
  });

  it('refuses what it cannot evaluate with a 400 that says what is supported', async () => {
    for (const [filter, message] of [
      [{ n: { between: [1, 2] } }, /unknown operator "between"; supported: eq, ne, in, nin, gt, gte, lt, lte, exists/],
      [{ n: { gt: true } }, /body\.filter\.n/],
      [{ n: { exists: 'yes' } }, /body\.filter\.n/],
      [{ and: [] }, /body\.filter\.and/],
      [{ or: { n: 1 } }, /body\.filter\.or/],
      [{ 'a..b': 1 }, /filter field "a\.\.b"/],
      [{ n: {} }, /names no operator/],
      [{ not: {} }, /at least one metadata field/],
      [Array.from({ length: 17 }).reduce<Filter>((f) => ({ not: f }), { n: 1 }), /deeper than 16/],
      [{ or: Array.from({ length: 65 }, (_, i) => ({ n: i })) }, /more than 64 fields/],
    ] as const) {
      const r = await t.req('POST', '/collections/flat/query', { vector: items[0].vector, k: 3, filter });
      expect(r.statusCode, JSON.stringify(filter)).toBe(400);
      expect(r.json().error.message).toMatch(message);
    }
  });
});
