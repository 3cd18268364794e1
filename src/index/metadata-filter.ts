/**
 * Evaluates a compiled metadata filter on parsed metadata, in plain JavaScript:
 * no SQL expression whose depth grows with the filter (SQLite stops at 1,000),
 * and no SQLite JSON function that fails on one row nested deeper than its
 * limit. Pure: the match-mask worker task runs it over stored rows.
 *
 * Semantics (the README's "Filters" states them for users):
 * - A path (["author", "country"]) walks objects by own keys; where it meets an
 *   array, every element is walked, so a field holding an array matches when
 *   any element does ({"tags": "a"} matches tags ["a", "b"]).
 * - eq / in: some value at the path equals the operand, JSON type included
 *   ("1" ≠ 1 ≠ true). ne / nin: none does; a row without the field matches.
 * - gt, gte, lt, lte: some value at the path has the operand's type (number or
 *   string) and compares as asked; strings compare by UTF-16 code units, so ISO
 *   8601 dates compare in time order. Values of another type never match.
 * - exists: true when some value at the path is not null (an empty array has none).
 * - and / or / not: as named; a row without metadata is evaluated as {}.
 */

export type FilterScalar = string | number | boolean;

/**
 * A compiled filter (services/filter.ts builds it): a tree of conditions.
 * Plain data, so it crosses to the workers by structured clone. Each condition
 * has a `leaf` number: its slot in the statistics (LEAF_STATS entries each).
 */
export type FilterNode =
  | { op: 'and' | 'or'; of: FilterNode[] }
  | { op: 'not'; of: FilterNode }
  | { op: 'eq' | 'ne'; path: string[]; value: FilterScalar; leaf: number }
  | { op: 'in' | 'nin'; path: string[]; values: FilterScalar[]; leaf: number }
  | { op: 'gt' | 'gte' | 'lt' | 'lte'; path: string[]; value: number | string; leaf: number }
  | { op: 'exists'; path: string[]; value: boolean; leaf: number };

export type FilterLeaf = Extract<FilterNode, { path: string[] }>;

/**
 * Per condition, three counters over the rows evaluated: rows with a non-null
 * value at the path, rows with a value of a type the operand can match, and the
 * JSON types seen (a bit mask of TYPE_BITS). They tell a condition that can
 * never match because of types ("10" against numbers) from one that just did not.
 */
export const LEAF_STATS = 3;
export const TYPE_BITS = { string: 1, number: 2, boolean: 4, other: 8 } as const;

/** The TYPE_BITS bit of a value found at a path (objects and anything else: other). */
export function typeBit(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return TYPE_BITS.string;
    case 'number':
      return TYPE_BITS.number;
    case 'boolean':
      return TYPE_BITS.boolean;
    default:
      return TYPE_BITS.other;
  }
}

/** Adds the statistics of more rows to `into` (counts add up, type masks combine). */
export function addLeafStats(into: Int32Array, from: Int32Array): void {
  for (let i = 0; i < into.length; i++) into[i] = i % LEAF_STATS === 2 ? into[i] | from[i] : into[i] + from[i];
}

/** The types a condition's operand can match (0 for exists: any type). */
export function operandTypes(leaf: FilterLeaf): number {
  if (leaf.op === 'exists') return 0;
  if ('values' in leaf) return leaf.values.reduce<number>((bits, v) => bits | typeBit(v), 0);
  return typeBit(leaf.value);
}

/**
 * Calls `f` with every non-null value at `path` (from segment i of `v`); arrays are walked element by element.
 * The one definition of what a path finds: value indexes (value-index.ts) record what it finds.
 */
export function visit(v: unknown, path: readonly string[], i: number, f: (x: unknown) => void): void {
  if (Array.isArray(v)) {
    for (const e of v) visit(e, path, i, f);
    return;
  }
  if (i === path.length) {
    if (v !== null && v !== undefined) f(v);
    return;
  }
  if (v === null || typeof v !== 'object' || !Object.hasOwn(v, path[i])) return;
  visit((v as Record<string, unknown>)[path[i]], path, i + 1, f);
}

/** The test one value must pass for a comparison leaf (before negation for ne / nin / exists: false). */
export function valueTest(leaf: FilterLeaf): (x: unknown) => boolean {
  switch (leaf.op) {
    case 'eq':
    case 'ne': {
      const want = leaf.value;
      return (x) => x === want;
    }
    case 'in':
    case 'nin': {
      // Set membership is by type and value, as JSON equality here is.
      const set = new Set<unknown>(leaf.values);
      return (x) => set.has(x);
    }
    case 'gt': {
      const o = leaf.value;
      return (x) => typeof x === typeof o && (x as typeof o) > o;
    }
    case 'gte': {
      const o = leaf.value;
      return (x) => typeof x === typeof o && (x as typeof o) >= o;
    }
    case 'lt': {
      const o = leaf.value;
      return (x) => typeof x === typeof o && (x as typeof o) < o;
    }
    case 'lte': {
      const o = leaf.value;
      return (x) => typeof x === typeof o && (x as typeof o) <= o;
    }
    case 'exists':
      return () => true;
  }
}

/** Whether a leaf holds where its positive form (eq, in, exists: true) finds nothing: ne, nin, exists: false. */
export function isNegated(leaf: FilterLeaf): boolean {
  return leaf.op === 'ne' || leaf.op === 'nin' || (leaf.op === 'exists' && !leaf.value);
}

/** The filter's truth from its conditions' results (held[leaf] = 1 when the condition holds for the row). */
function combine(node: FilterNode, held: Uint8Array): () => boolean {
  switch (node.op) {
    case 'and': {
      const parts = node.of.map((n) => combine(n, held));
      return () => parts.every((p) => p());
    }
    case 'or': {
      const parts = node.of.map((n) => combine(n, held));
      return () => parts.some((p) => p());
    }
    case 'not': {
      const inner = combine(node.of, held);
      return () => !inner();
    }
    default: {
      const leaf = node.leaf;
      return () => held[leaf] === 1;
    }
  }
}

/** The conditions of a filter, in leaf order. */
export function filterLeaves(node: FilterNode, out: FilterLeaf[] = []): FilterLeaf[] {
  if ('path' in node) out[node.leaf] = node;
  else if (node.op === 'not') filterLeaves(node.of, out);
  else for (const n of node.of) filterLeaves(n, out);
  return out;
}

/**
 * A predicate over a row's parsed metadata (null = none, evaluated as {}) that
 * is true when the filter holds, and counts in `stats` (LEAF_STATS × leaves)
 * what each row holds at each condition's path. Each condition's path is
 * walked once per row, for both its result and its statistics.
 */
export function filterPredicate(root: FilterNode, stats: Int32Array): (metadata: unknown) => boolean {
  const leaves = filterLeaves(root).map((leaf) => ({
    leaf,
    test: valueTest(leaf),
    want: operandTypes(leaf),
    negated: isNegated(leaf),
  }));
  const held = new Uint8Array(leaves.length);
  const holds = combine(root, held);
  return (m) => {
    const row = m ?? {};
    for (const { leaf, test, want, negated } of leaves) {
      let seen = 0;
      let found = false;
      visit(row, leaf.path, 0, (x) => {
        seen |= typeBit(x);
        if (!found && test(x)) found = true;
      });
      held[leaf.leaf] = found !== negated ? 1 : 0;
      if (seen === 0) continue;
      const o = leaf.leaf * LEAF_STATS;
      stats[o]++;
      if (want === 0 || (seen & want) !== 0) stats[o + 1]++;
      stats[o + 2] |= seen;
    }
    return holds();
  };
}
