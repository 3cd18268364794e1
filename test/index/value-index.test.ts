import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FilterNode, LEAF_STATS, filterLeaves, filterPredicate } from '../../src/index/metadata-filter.js';
import { ValueIndexes, evaluateIndexed, indexedLeaves, indexedStats } from '../../src/index/value-index.js';
import { Rng } from '../../src/core/rng.js';
import { compileFilter } from '../../src/services/filter.js';
import { type Filter, filterArbitrary } from '../helpers/filters.js';

// ---- random metadata: nesting, arrays (of objects, nested), mixed types, nulls, gaps ----

const KEYS = ['a', 'b', 'c'] as const;
const PATHS = ['a', 'b', 'c', 'a.b', 'a.c', 'b.a', 'c.a', 'a.b.c'];

const scalar = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(-0, 0.5, -1.5, 1e9),
  fc.constantFrom('', 'a', 'b', 'B', 'ab', '1', '10', '2024-01-05', '2024-01-05T10:00:00Z', '2025-11-30'),
  fc.boolean(),
  fc.constant(null),
);
// Mostly scalars, so that paths find values often; objects and arrays (of anything, nested) at every level.
const object = (value: fc.Arbitrary<unknown>) => fc.dictionary(fc.constantFrom(...KEYS), value, { minKeys: 1, maxKeys: 3 });
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { maxDepth: 3 },
    { weight: 5, arbitrary: scalar },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 3 }) },
    { weight: 2, arbitrary: object(tie('value')) },
  ),
})).value;
const metadata = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 8, arbitrary: object(json) },
);

// ---- random filters over every operator and and / or / not (compiled as a request's would be) ----

const operand = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(-0, 0.5, 1e9),
  fc.constantFrom('', 'a', 'b', 'B', '1', '10', '2024-01-05', '2024-06', '2025-11-30'),
  fc.boolean(),
);
const bound = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(-0, 0.5, -1.5, 'a', 'ab', 'B', '1', '2024-01-05', '2024-06'));
const filterArb = filterArbitrary({ field: fc.constantFrom(...PATHS), operand, bound, depth: { depthSize: 'small', maxDepth: 4 } });

// ---- helpers ----

/** A seeded permutation of [0, n): rows are added to the index in this order. */
function shuffled(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

const rowsOf = (mask: Uint8Array, start = 0) => [...mask].flatMap((b, i) => (b === 1 ? [start + i] : []));

/** An index over `rows` (metadata per row; undefined = never added), added in `order`. */
function indexOf(fields: string[], rows: unknown[], order = rows.map((_, i) => i), tailMin?: number): ValueIndexes {
  const indexes = new ValueIndexes(fields, { tailMin });
  for (const i of order) if (rows[i] !== undefined) indexes.add(i, rows[i]);
  return indexes;
}

function matching(indexes: ValueIndexes, filter: Filter, start = 0, end = 10): { rows: number[]; exact: boolean } {
  const { mask, exact } = evaluateIndexed(compileFilter(filter).root, indexes, start, end);
  return { rows: rowsOf(mask, start), exact };
}

/**
 * Checks evaluateIndexed and the indexed statistics of `filter` against
 * filterPredicate on every row: rows[i] undefined = never added (evaluated as {}).
 */
function check(indexes: ValueIndexes, rows: unknown[], filter: Filter, start: number, end: number): void {
  const { root, leaves } = compileFilter(filter);
  const want = new Int32Array(leaves.length * LEAF_STATS);
  const holds = filterPredicate(root, want);
  const truth = Array.from({ length: Math.max(end, rows.length) }, (_, i) => holds(rows[i] ?? null));
  const { mask, exact } = evaluateIndexed(root, indexes, start, end);
  const where = () => JSON.stringify({ filter, start, end, exact });
  expect(mask.length).toBe(end - start);
  if (indexedLeaves(root, indexes).every(Boolean)) expect(exact, where()).toBe(true);
  // Exact: the mask is the truth; else every true row is a candidate. Wrong rows are listed (one expect per row is slow).
  const wrong: number[] = [];
  for (let i = 0; i < mask.length; i++) if (truth[start + i] ? mask[i] !== 1 : exact && mask[i] !== 0) wrong.push(start + i);
  expect(wrong, where()).toEqual([]);
  const got = indexedStats(root, indexes);
  for (const leaf of leaves) {
    if (!got.indexed[leaf.leaf]) continue;
    const o = leaf.leaf * LEAF_STATS;
    expect(got.stats[o], `present, ${where()}`).toBe(want[o]);
    expect(got.stats[o + 1] === 0, `typed, ${where()}`).toBe(want[o + 1] === 0);
    if (!('values' in leaf)) expect(got.stats[o + 1], `typed, ${where()}`).toBe(want[o + 1]); // one operand type: no overcount
    expect(got.stats[o + 2], `seen, ${where()}`).toBe(want[o + 2]);
  }
}

describe('value indexes', () => {
  it('exact masks equal filterPredicate row by row, others are supersets, statistics agree (random data, filters, fields, ranges)', () => {
    const data = fc.record({
      rows: fc.array(fc.option(metadata, { freq: 8, nil: undefined }), { maxLength: 70, size: 'large' }),
      fields: fc.subarray(PATHS),
      order: fc.option(fc.integer(), { nil: undefined }), // undefined: rows added in increasing order
      tailMin: fc.integer({ min: 1, max: 6 }),
      filters: fc.array(filterArb, { minLength: 1, maxLength: 6 }),
      range: fc.tuple(fc.nat(75), fc.nat(75)),
    });
    fc.assert(
      fc.property(data, ({ rows, fields, order, tailMin, filters, range }) => {
        const indexes = indexOf(fields, rows, order === undefined ? undefined : shuffled(rows.length, order), tailMin);
        const [start, end] = range[0] <= range[1] ? range : [range[1], range[0]];
        for (const filter of filters) {
          check(indexes, rows, filter, start, end);
          check(indexes, rows, filter, 0, rows.length);
        }
      }),
      { numRuns: 300, seed: 20250611 },
    );
  });

  it('agrees with filterPredicate at the default tail size, across merges (9,000 rows in random order)', () => {
    const rows = fc.sample(metadata, { numRuns: 9000, seed: 7 }) as unknown[];
    const indexes = indexOf(PATHS.slice(0, 6), rows, shuffled(rows.length, 3));
    for (const filter of fc.sample(filterArb, { numRuns: 40, seed: 8 })) check(indexes, rows, filter, 0, rows.length);
    check(indexes, rows, { a: { gte: -1, lt: 2 } }, 2500, 7000);
    check(indexes, rows, { b: { in: ['a', 1, true] } }, 100, 9100);
  });

  it('range bounds at equal values, in the sorted run and in the tail', () => {
    const rows = [{ v: 1 }, { v: 2 }, { v: [2, 2] }, { v: 2 }, { v: 3 }, { v: '2' }, { v: 'b' }, { v: 'a' }, { v: ['a', 'c'] }];
    for (const tailMin of [1, 100]) {
      const ix = indexOf(['v'], rows, [4, 2, 0, 8, 1, 6, 3, 5, 7], tailMin);
      expect(matching(ix, { v: { gt: 2 } }).rows).toEqual([4]);
      expect(matching(ix, { v: { gte: 2 } }).rows).toEqual([1, 2, 3, 4]);
      expect(matching(ix, { v: { lt: 2 } }).rows).toEqual([0]);
      expect(matching(ix, { v: { lte: 2 } }).rows).toEqual([0, 1, 2, 3]);
      expect(matching(ix, { v: { gte: 2, lte: 2 } }).rows).toEqual([1, 2, 3]);
      expect(matching(ix, { v: { gt: 'a' } }).rows).toEqual([6, 8]);
      expect(matching(ix, { v: { lte: 'a' } }).rows).toEqual([5, 7, 8]);
      expect(matching(ix, { v: 2 }, 2, 4).rows).toEqual([2, 3]);
      expect(matching(ix, { v: { ne: 2 } }).rows).toEqual([0, 4, 5, 6, 7, 8, 9]);
    }
  });

  it('equal values are found by row range: many rows per value, added out of order, merged often', () => {
    const rows = Array.from({ length: 240 }, (_, i) => ({ v: i % 3, s: ['x', 'y'][i % 2], b: i % 4 === 0 }));
    const ix = indexOf(['v', 's', 'b'], rows, shuffled(rows.length, 11), 4);
    for (let start = 0; start <= 240; start += 17) {
      for (let end = start; end <= 250; end += 23) {
        for (const filter of [{ v: 1 }, { v: { in: [0, 2] } }, { s: 'y' }, { b: true }, { v: { gte: 1 } }]) check(ix, rows, filter, start, end);
      }
    }
  });

  it('strings and numbers never equal or compare with each other', () => {
    const ix = indexOf(['v'], [{ v: '10' }, { v: 10 }, { v: 9 }, { v: true }, { v: '9' }]);
    expect(matching(ix, { v: 10 }, 0, 5).rows).toEqual([1]);
    expect(matching(ix, { v: '10' }, 0, 5).rows).toEqual([0]);
    expect(matching(ix, { v: { gt: 9 } }, 0, 5).rows).toEqual([1]);
    expect(matching(ix, { v: { gt: '1' } }, 0, 5).rows).toEqual([0, 4]); // "10" > "1" and "9" > "1" by code units
    expect(matching(ix, { v: { lt: '9' } }, 0, 5).rows).toEqual([0]);
    expect(matching(ix, { v: { in: [10, '10'] } }, 0, 5).rows).toEqual([0, 1]);
    expect(matching(ix, { v: { nin: [10, true] } }, 0, 6).rows).toEqual([0, 2, 4, 5]);
  });

  it('exists: true means some non-null value (empty arrays and nulls have none); false is the complement, rows never added included', () => {
    const rows = [{}, { v: null }, { v: [] }, { v: [null] }, { v: {} }, { v: 0 }, { v: false }, { v: '' }, null, { v: [[1]] }, undefined, { w: 1 }];
    const ix = indexOf(['v'], rows);
    expect(matching(ix, { v: { exists: true } }, 0, 13)).toEqual({ rows: [4, 5, 6, 7, 9], exact: true });
    expect(matching(ix, { v: { exists: false } }, 0, 13)).toEqual({ rows: [0, 1, 2, 3, 8, 10, 11, 12], exact: true });
    expect(matching(ix, { v: { exists: true } }, 5, 8).rows).toEqual([5, 6, 7]);
    expect(ix.field(['v'])!.presentRows).toBe(5);
  });

  it('-0 equals 0, and a row holding a value twice is found once', () => {
    const rows = [{ v: -0 }, { v: 0 }, { v: [5, 5, -0] }, { v: 5 }];
    for (const tailMin of [1, 100]) {
      const ix = indexOf(['v'], rows, [3, 2, 1, 0], tailMin);
      expect(matching(ix, { v: 0 }, 0, 4).rows).toEqual([0, 1, 2]);
      expect(matching(ix, { v: { eq: -0 } }, 0, 4).rows).toEqual([0, 1, 2]);
      expect(matching(ix, { v: { gt: -0 } }, 0, 4).rows).toEqual([2, 3]);
      expect(matching(ix, { v: { lte: 0 } }, 0, 4).rows).toEqual([0, 1, 2]);
      expect(matching(ix, { v: { ne: 5 } }, 0, 4).rows).toEqual([0, 1]);
      const { stats } = indexedStats(compileFilter({ v: 5 }).root, ix);
      expect([...stats]).toEqual([4, 4, 2]);
    }
  });

  it('an empty index: positive conditions match nothing, negated ones everything, statistics are zero', () => {
    const ix = new ValueIndexes(['x', 'x', 'y.z']);
    expect(ix.fields.map((f) => f.path)).toEqual([['x'], ['y', 'z']]);
    expect(matching(ix, { x: 1 }, 3, 7)).toEqual({ rows: [], exact: true });
    expect(matching(ix, { 'y.z': { gt: 'a' } }, 3, 7)).toEqual({ rows: [], exact: true });
    expect(matching(ix, { x: { ne: 1 } }, 3, 7)).toEqual({ rows: [3, 4, 5, 6], exact: true });
    expect(matching(ix, { x: { exists: false } }, 0, 0)).toEqual({ rows: [], exact: true });
    expect([...indexedStats(compileFilter({ x: { in: [1, 'a'] } }).root, ix).stats]).toEqual([0, 0, 0]);
    expect(() => evaluateIndexed(compileFilter({ x: 1 }).root, ix, 5, 4)).toThrow(RangeError);
  });

  it('unindexed conditions are unknown: and narrows by the known ones, or and not of them give every row, not exact', () => {
    const rows = [
      { a: 1, b: 2 },
      { a: 1, b: 3 },
      { a: 2, b: 2 },
    ];
    const ix = indexOf(['a'], rows);
    expect(matching(ix, { a: 1, b: 2 }, 0, 3)).toEqual({ rows: [0, 1], exact: false });
    expect(matching(ix, { or: [{ a: 1 }, { b: 2 }] }, 0, 3)).toEqual({ rows: [0, 1, 2], exact: false });
    expect(matching(ix, { not: { b: 2 } }, 0, 3)).toEqual({ rows: [0, 1, 2], exact: false });
    expect(matching(ix, { not: { a: 1, b: 2 } }, 0, 3)).toEqual({ rows: [0, 1, 2], exact: false });
    expect(matching(ix, { not: { a: 1 } }, 0, 3)).toEqual({ rows: [2], exact: true });
    expect(matching(ix, { or: [{ a: 2 }, { a: 1, b: 3 }] }, 0, 3)).toEqual({ rows: [0, 1, 2], exact: false });
    const root = compileFilter({ a: 1, b: 2 }).root;
    expect(indexedLeaves(root, ix)).toEqual([true, false]);
    expect(indexedLeaves(compileFilter({ or: [{ a: 1 }, { a: { exists: false } }] }).root, ix)).toEqual([true, true]);
  });

  it('and / or of no children hold for every row / no row (trees built directly)', () => {
    const ix = indexOf(['a'], [{ a: 1 }]);
    const none: FilterNode = { op: 'or', of: [] };
    expect(evaluateIndexed({ op: 'and', of: [] }, ix, 0, 2)).toEqual({ mask: Uint8Array.of(1, 1), exact: true });
    expect(evaluateIndexed(none, ix, 0, 2)).toEqual({ mask: Uint8Array.of(0, 0), exact: true });
    expect(evaluateIndexed({ op: 'not', of: none }, ix, 0, 2)).toEqual({ mask: Uint8Array.of(1, 1), exact: true });
    expect(filterLeaves(none)).toEqual([]);
  });

  it('reports its memory, growing with the values held', () => {
    const ix = new ValueIndexes(['s']);
    const before = ix.memoryBytes();
    for (let i = 0; i < 100; i++) ix.add(i, { s: `value ${i}`, n: i });
    expect(ix.memoryBytes()).toBeGreaterThan(before);
    expect(() => ix.add(-1, {})).toThrow(RangeError);
  });
});
