/**
 * Evaluates a metadata filter on parsed metadata, in plain JavaScript: no SQL
 * expression whose depth grows with the filter (SQLite stops at 1,000), and no
 * SQLite JSON function that fails on one row nested deeper than its limit.
 * Pure: the match-mask worker task runs it over stored rows.
 */

export type FilterValue = string | number | boolean;

/** One field's condition: its top-level metadata value equals one of `values` (same JSON type). */
export interface FilterClause {
  field: string;
  values: FilterValue[];
}

/** A predicate over a row's metadata (null = none) that is true when every clause holds. */
export function filterPredicate(clauses: readonly FilterClause[]): (metadata: Record<string, unknown> | null) => boolean {
  // One Set per clause: JSON types never compare equal across ("1" ≠ 1 ≠ true), and Set membership is by type and value.
  const sets = clauses.map((c) => ({ field: c.field, values: new Set<unknown>(c.values) }));
  return (metadata) => {
    if (metadata === null) return false;
    for (const { field, values } of sets) {
      if (!Object.hasOwn(metadata, field) || !values.has(metadata[field])) return false;
    }
    return true;
  };
}
