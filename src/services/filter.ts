/**
 * Metadata filters: `{field: value}` (equality) or `{field: {in: [values]}}`,
 * several fields combined with AND. Values are strings, numbers or booleans and
 * match only a metadata value of the same JSON type ("1" does not match 1).
 *
 * A filter compiles to clauses that a worker evaluates once per row
 * (index/metadata-filter.ts); since a row's metadata never changes (an upsert
 * writes a new row), the resulting match mask stays valid and only grows with new rows.
 */
import type { FilterClause, FilterValue } from '../index/metadata-filter.js';
import { badRequest } from './errors.js';

export type Filter = Record<string, FilterValue | { in: FilterValue[] }>;

export interface CompiledFilter {
  /** Canonical text: equal filters share a cached mask. */
  key: string;
  clauses: FilterClause[];
}

const FIELD = /^[A-Za-z0-9_-]{1,64}$/;

export function compileFilter(filter: Filter): CompiledFilter {
  const fields = Object.keys(filter).sort();
  if (fields.length === 0) throw badRequest('filter must name at least one metadata field');
  const clauses: FilterClause[] = [];
  for (const field of fields) {
    if (!FIELD.test(field)) throw badRequest(`filter field '${field}' must be 1–64 letters, digits, '_' or '-'`);
    const spec = filter[field];
    const values = typeof spec === 'object' && spec !== null ? spec.in : [spec];
    if (values.length === 0) throw badRequest(`filter.${field}.in must list at least one value`);
    clauses.push({ field, values });
  }
  return { key: JSON.stringify(clauses.map((c) => [c.field, c.values])), clauses };
}

/** Match masks of recently used filters for one collection: one byte per row, 1 = matches. */
export class FilterMasks {
  private readonly masks = new Map<string, { mask: Uint8Array; rows: number; extending: Promise<void> }>();

  constructor(
    private readonly match: (f: CompiledFilter, start: number, end: number, out: Uint8Array) => Promise<number>,
    private readonly limit = 32,
  ) {}

  /** The mask of f covering at least rows [0, rows). */
  async mask(f: CompiledFilter, rows: number): Promise<Uint8Array> {
    let m = this.masks.get(f.key);
    if (m === undefined) {
      if (this.masks.size >= this.limit) this.masks.delete(this.masks.keys().next().value as string);
      m = { mask: sharedBytes(rows), rows: 0, extending: Promise.resolve() };
    } else {
      this.masks.delete(f.key); // re-insert: Map order doubles as LRU order
    }
    this.masks.set(f.key, m);
    const entry = m;
    // Extensions run one after another; each covers whatever is still missing.
    const extend = async () => {
      if (entry.rows >= rows) return;
      if (entry.mask.length < rows) {
        const grown = sharedBytes(Math.max(rows, entry.mask.length * 2));
        grown.set(entry.mask.subarray(0, entry.rows));
        entry.mask = grown;
      }
      await this.match(f, entry.rows, rows, entry.mask);
      entry.rows = rows;
    };
    entry.extending = entry.extending.then(extend, extend); // a failed extension does not block later ones
    await entry.extending;
    return entry.mask;
  }
}

function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, n)));
}

/**
 * Rows to leave out of a scan of rows [0, rows): dead ones and those the filter
 * does not match. The mask covers rows [0, covered); rows written after it was
 * computed (a query's own start) are left out.
 */
export function skipMap(dead: Uint8Array, match: Uint8Array, covered: number, rows: number): Uint8Array {
  const skip = sharedBytes(rows);
  const end = Math.min(covered, rows);
  for (let i = 0; i < end; i++) skip[i] = dead[i] | (match[i] ^ 1);
  skip.fill(1, end, rows);
  return skip;
}
