/**
 * Metadata filters: the JSON a request sends, compiled to the condition tree
 * that index/metadata-filter.ts evaluates (its header states the semantics).
 *
 *   filter     := { <path>: condition, …, "and": [filter, …], "or": [filter, …], "not": filter }
 *   condition  := string | number | boolean                    (equality)
 *               | { eq, ne: scalar; in, nin: [scalar, …]; gt, gte, lt, lte: number | string; exists: boolean }
 *
 * Keys of one object combine with AND, as do several operators of one
 * condition; a path is field names joined by "." ("author.country"); "and",
 * "or" and "not" are the only reserved keys. Each row's match is computed once
 * (a row's metadata never changes: an upsert writes a new row), so a filter's
 * match mask stays valid and only grows with new rows.
 */
import {
  type FilterLeaf,
  type FilterNode,
  type FilterScalar,
  LEAF_STATS,
  TYPE_BITS,
  addLeafStats,
  filterLeaves,
  operandTypes,
} from '../index/metadata-filter.js';
import { type EligibleSlots, type ListsView, eligibleSlots } from '../core/ivf.js';
import { HARD_LIMITS } from '../tunables.js';
import { badRequest } from './errors.js';

/** A filter as a request sends it (validated by compileFilter, whoever calls). */
export type Filter = Record<string, unknown>;

/** The operators of a condition object, in the order messages list them. */
export const FILTER_OPERATORS = ['eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;

export interface CompiledFilter {
  /** Canonical text: equal filters share a cached mask. */
  key: string;
  root: FilterNode;
  leaves: FilterLeaf[];
}

/** One segment of a path: any characters but "." (which separates them) and control characters. */
const SEGMENT = /^[^.\p{Cc}]{1,64}$/u;

/** The segments of a dotted metadata path, or a 400 naming `what` (a filter field, an indexed field) when it is not one. */
export function fieldPath(field: string, what: string): string[] {
  const path = field.split('.');
  if (path.length > HARD_LIMITS.maxMetadataDepth || !path.every((s) => SEGMENT.test(s))) {
    throw badRequest(
      `${what} ${quoted(field)} must be field names of 1–64 characters joined by "." (at most ${HARD_LIMITS.maxMetadataDepth}), without control characters`,
    );
  }
  return path;
}

const isScalar = (v: unknown): v is FilterScalar => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const quoted = (s: string) => JSON.stringify(s);

class Compiler {
  private leaves = 0;

  node(input: unknown, where: string, depth: number): FilterNode {
    if (!isObject(input)) throw badRequest(`${where} must be an object: {"field": condition, …, "and": [...], "or": [...], "not": {...}}`);
    if (depth > HARD_LIMITS.maxFilterDepth) throw badRequest(`filter nests deeper than ${HARD_LIMITS.maxFilterDepth} levels of and / or / not`);
    const keys = Object.keys(input).sort();
    if (keys.length === 0) throw badRequest(`${where} must name at least one metadata field or combinator`);
    const parts: FilterNode[] = [];
    for (const key of keys) {
      const value = input[key];
      if (key === 'and' || key === 'or') {
        if (!Array.isArray(value) || value.length === 0) throw badRequest(`${where}.${key} must be a non-empty array of filters`);
        parts.push({ op: key, of: value.map((f, i) => this.node(f, `${where}.${key}[${i}]`, depth + 1)) });
      } else if (key === 'not') {
        parts.push({ op: 'not', of: this.node(value, `${where}.not`, depth + 1) });
      } else {
        parts.push(...this.conditions(key, value, `${where}.${key}`));
      }
    }
    return parts.length === 1 ? parts[0] : { op: 'and', of: parts };
  }

  private conditions(field: string, spec: unknown, where: string): FilterLeaf[] {
    const path = fieldPath(field, 'filter field');
    if (isScalar(spec)) return [this.leaf({ op: 'eq', path, value: spec })];
    const supported = `supported: ${FILTER_OPERATORS.join(', ')}`;
    if (!isObject(spec)) throw badRequest(`${where} must be a string, number or boolean (equality) or an object of operators (${supported})`);
    const ops = Object.keys(spec).sort();
    if (ops.length === 0) throw badRequest(`${where} names no operator (${supported})`);
    const unknown = ops.filter((op) => !(FILTER_OPERATORS as readonly string[]).includes(op));
    if (unknown.length > 0) throw badRequest(`${where}: unknown operator ${unknown.map(quoted).join(', ')}; ${supported}`);
    return ops.map((op) => {
      const operand = spec[op];
      switch (op) {
        case 'eq':
        case 'ne':
          if (!isScalar(operand)) throw badRequest(`${where}.${op} must be a string, number or boolean`);
          return this.leaf({ op, path, value: operand });
        case 'in':
        case 'nin':
          if (!Array.isArray(operand) || operand.length === 0 || operand.length > HARD_LIMITS.maxFilterValues || !operand.every(isScalar)) {
            throw badRequest(`${where}.${op} must list 1 to ${HARD_LIMITS.maxFilterValues} strings, numbers or booleans`);
          }
          return this.leaf({ op, path, values: operand });
        case 'exists':
          if (typeof operand !== 'boolean') throw badRequest(`${where}.exists must be true or false`);
          return this.leaf({ op, path, value: operand });
        default:
          if (!(typeof operand === 'string' || (typeof operand === 'number' && Number.isFinite(operand)))) {
            throw badRequest(`${where}.${op} must be a number or a string (strings compare as strings)`);
          }
          return this.leaf({ op: op as 'gt' | 'gte' | 'lt' | 'lte', path, value: operand });
      }
    });
  }

  private leaf(l: DistributiveOmit<FilterLeaf, 'leaf'>): FilterLeaf {
    if (this.leaves >= HARD_LIMITS.maxFilterFields)
      throw badRequest(`filter has more than ${HARD_LIMITS.maxFilterFields} fields (each operator on a field counts as one condition)`);
    return { ...l, leaf: this.leaves++ } as FilterLeaf;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Validates a filter and compiles it; bad input is a 400 that says what is wrong and what is supported. */
export function compileFilter(filter: Filter): CompiledFilter {
  const root = new Compiler().node(filter, 'filter', 0);
  return { key: JSON.stringify(root), root, leaves: filterLeaves(root) };
}

const TYPE_NAMES: [number, string][] = [
  [TYPE_BITS.string, 'string'],
  [TYPE_BITS.number, 'number'],
  [TYPE_BITS.boolean, 'boolean'],
  [TYPE_BITS.other, 'object'],
];
const typeNames = (bits: number) => TYPE_NAMES.filter(([b]) => (bits & b) !== 0).map(([, n]) => n);

/**
 * Warnings for conditions that cannot do what they look like: the field holds
 * no value of the operand's type in any row ("10" against numbers), or no row
 * has the field at all. The condition then matches nothing (ne / nin: everything).
 * `narrowed[leaf]`: that condition's statistics cover only the rows its
 * filter's indexed conditions selected (see FilterMasks), and the warning says so.
 */
export function filterWarnings(f: CompiledFilter, stats: Int32Array, narrowed: readonly boolean[] = []): string[] {
  const out: string[] = [];
  for (const leaf of f.leaves) {
    if (leaf.op === 'exists') continue;
    const o = leaf.leaf * LEAF_STATS;
    const [present, typed, seen] = [stats[o], stats[o + 1], stats[o + 2]];
    const field = quoted(leaf.path.join('.'));
    const outcome = leaf.op === 'ne' || leaf.op === 'nin' ? 'it holds for every row' : 'it matches no row';
    const rows = narrowed[leaf.leaf] ? 'of the rows the indexed conditions select, none' : 'no stored row';
    if (present === 0) {
      out.push(`filter: ${rows} has a value at ${field}; the ${leaf.op} condition on it is evaluated anyway, and ${outcome}`);
    } else if (typed === 0) {
      const want = typeNames(operandTypes(leaf)).join(' or ');
      const of = narrowed[leaf.leaf] ? ' (in the rows the indexed conditions select)' : '';
      out.push(
        `filter: the ${leaf.op} condition on ${field} compares with a ${want}, but the stored values of ${field}${of} are ${typeNames(seen).join(', ')}; ${outcome} (values match only the same JSON type)`,
      );
    }
  }
  return out;
}

/** What computing a filter's matches over a range of rows found. */
export interface RangeMatch {
  /** Per condition, LEAF_STATS counters over the rows whose metadata was read (zero for conditions answered by a value index). */
  stats: Int32Array;
  /** Only some rows' metadata was read: those the filter's indexed conditions let through. */
  narrowed: boolean;
}

/** Per condition answered by a value index, its statistics over every row (they replace what scans counted). */
export type IndexStats = (f: CompiledFilter) => { stats: Int32Array; indexed: boolean[] };

/** A filter's cached match mask: one byte per row, 1 = matches, for rows [0, rows); `stats` per condition (LEAF_STATS each). */
interface MaskEntry {
  mask: Uint8Array;
  rows: number;
  stats: Int32Array;
  /** Some extension read only the candidates of the indexed conditions (RangeMatch.narrowed). */
  narrowed: boolean;
  extending: Promise<void>;
  /** The last skip map made from it, and what it was made of. */
  skip: (Skip & { rows: number; covered: number; deadChanges: number }) | null;
  /** The eligible IVF slots of that skip map, and the lists layout they were read from. */
  slots: { of: Skip; lists: object; layout: number; slots: EligibleSlots } | null;
  /** The eligible rows of that skip map, in order. */
  listed: { of: Skip; rows: Int32Array } | null;
}

/** Rows a scan leaves out (one byte per row, 1 = out), and how many it keeps. */
export interface Skip {
  skip: Uint8Array;
  eligible: number;
}

/** A filter's mask as a query uses it. */
export interface FilterMatch {
  mask: Uint8Array;
  warnings: string[];
  /**
   * The skip map over rows [0, rows) for these tombstones (see skipMap), kept
   * while neither the rows, the tombstones (counted by deadChanges) nor the
   * mask change: repeated queries with one filter do not rebuild it.
   */
  skipFor(dead: Uint8Array, deadChanges: number, rows: number): Skip;
  /**
   * The eligible slots of an IVF index's lists under a skip map from skipFor,
   * kept while the skip map and the lists' layout (`owner`, a lists object, and
   * its move count) stay.
   */
  slotsFor(skip: Skip, view: ListsView, owner: object, layout: number): EligibleSlots;
  /** The eligible rows of a skip map from skipFor, in order (shared memory), kept with it. */
  rowsFor(skip: Skip): Int32Array;
}

/** Match masks of recently used filters for one collection. */
export class FilterMasks {
  private readonly masks = new Map<string, MaskEntry>();

  constructor(
    /** Marks rows [start, end) that match in `out`; returns what it read. */
    private readonly match: (f: CompiledFilter, start: number, end: number, out: Uint8Array) => Promise<RangeMatch>,
    /** The statistics of conditions on indexed fields, if the collection has value indexes. */
    private readonly indexStats: IndexStats | null = null,
    private readonly limit = 32,
  ) {}

  /** Forgets every mask: their statistics were counted for another set of value indexes. */
  clear(): void {
    this.masks.clear();
  }

  /** The mask of f covering at least rows [0, rows), and the warnings its statistics give. */
  async mask(f: CompiledFilter, rows: number): Promise<FilterMatch> {
    let m = this.masks.get(f.key);
    if (m === undefined) {
      if (this.masks.size >= this.limit) this.masks.delete(this.masks.keys().next().value as string);
      m = {
        mask: sharedBytes(rows),
        rows: 0,
        stats: new Int32Array(f.leaves.length * LEAF_STATS),
        narrowed: false,
        extending: Promise.resolve(),
        skip: null,
        slots: null,
        listed: null,
      };
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
      const found = await this.match(f, entry.rows, rows, entry.mask);
      addLeafStats(entry.stats, found.stats);
      entry.narrowed ||= found.narrowed;
      entry.rows = rows;
    };
    entry.extending = entry.extending.then(extend, extend); // a failed extension does not block later ones
    await entry.extending;
    return {
      mask: entry.mask,
      warnings: this.warnings(f, entry),
      skipFor: (dead, deadChanges, scanRows) => {
        const c = entry.skip;
        if (c !== null && c.rows === scanRows && c.covered === entry.rows && c.deadChanges === deadChanges) return c;
        const made = skipMap(dead, entry.mask, entry.rows, scanRows);
        entry.skip = { ...made, rows: scanRows, covered: entry.rows, deadChanges };
        return entry.skip;
      },
      slotsFor: (of, view, owner, layout) => {
        const c = entry.slots;
        if (c !== null && c.of === of && c.lists === owner && c.layout === layout) return c.slots;
        const slots = eligibleSlots(view, of.skip, of.eligible);
        entry.slots = { of, lists: owner, layout, slots };
        return slots;
      },
      rowsFor: (of) => {
        if (entry.listed?.of === of) return entry.listed.rows;
        const rows = new Int32Array(new SharedArrayBuffer(Math.max(1, of.eligible) * 4));
        for (let r = 0, n = 0; n < of.eligible; r++) if (of.skip[r] === 0) rows[n++] = r;
        entry.listed = { of, rows: rows.subarray(0, of.eligible) };
        return entry.listed.rows;
      },
    };
  }

  /** Warnings from the scans' statistics, with those of indexed conditions taken from their indexes. */
  private warnings(f: CompiledFilter, entry: MaskEntry): string[] {
    const fromIndex = this.indexStats?.(f);
    if (fromIndex === undefined) return filterWarnings(f, entry.stats);
    const stats = entry.stats.slice();
    const narrowed = fromIndex.indexed.map((indexed) => !indexed && entry.narrowed);
    for (let leaf = 0; leaf < f.leaves.length; leaf++) {
      if (!fromIndex.indexed[leaf]) continue;
      const o = leaf * LEAF_STATS;
      stats.set(fromIndex.stats.subarray(o, o + LEAF_STATS), o);
    }
    return filterWarnings(f, stats, narrowed);
  }
}

function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, n)));
}

/**
 * Rows to leave out of a scan of rows [0, rows): dead ones and those the filter
 * does not match, and how many rows remain. The mask covers rows [0, covered);
 * rows written after it was computed (a query's own start) are left out.
 */
export function skipMap(dead: Uint8Array, match: Uint8Array, covered: number, rows: number): Skip {
  const skip = sharedBytes(rows);
  const end = Math.min(covered, rows);
  let eligible = 0;
  for (let i = 0; i < end; i++) {
    const s = dead[i] | (match[i] ^ 1);
    skip[i] = s;
    eligible += s ^ 1;
  }
  skip.fill(1, end, rows);
  return { skip, eligible };
}
