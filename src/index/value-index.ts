/**
 * Value indexes: per declared field (a dotted path), the values its rows hold,
 * so a filter over indexed fields gets its match mask without reading any
 * metadata, and a filter mixing indexed and unindexed fields gets a superset of
 * its matches (only those candidate rows need their metadata read). Pure.
 *
 * What a path finds is metadata-filter.ts's `visit` (its header states the
 * semantics); an index records every non-null value it finds, per JSON type:
 * - numbers and strings: a Column each: a run sorted by (value, row) and an
 *   unsorted tail of the latest additions (see VALUE_INDEX_TAIL);
 * - booleans: the rows holding true, and the rows holding false (RowLists);
 * - objects (type other): only counted, for the statistics and exists, since
 *   no operand equals or compares with an object;
 * - present: the rows holding any non-null value (exists), and per type the
 *   rows holding a value of that type (the statistics).
 * Rows are only ever added (a row's metadata never changes: an upsert writes a
 * new row), each at most once, in any order.
 *
 * Why a sorted run and a tail: look-ups need sorted values (binary search), and
 * rows arrive one upsert at a time; keeping one array sorted would cost O(n) per
 * addition, and a tree costs tens of bytes per entry at 10M rows. The run and
 * tail cost 12 bytes per number (Float64 value + Int32 row), merges cost about
 * ten entry moves per addition, and a look-up reads the tail besides its
 * binary searches in the run.
 *
 * Complexity over [start, end) (m = end − start, t = a tail's size ≤
 * max(4096, run / 8), r = a run's size): eq O(log r + matches in range + t);
 * in: that per listed value, the tail scanned once; gt/gte/lt/lte O(log r +
 * entries in the value range (in any row) + t); a boolean or exists O(rows
 * holding it), O(log + rows in range) when those rows were added in increasing
 * order; ne / nin / exists: false that plus O(m); and / or / not O(m) per node.
 */
import { VALUE_INDEX_TAIL } from '../tunables.js';
import { type FilterLeaf, type FilterNode, LEAF_STATS, filterLeaves, isNegated, operandTypes, typeBit, valueTest, visit } from './metadata-filter.js';

export interface ValueIndexOptions {
  /** A tail is merged into its run past max(tailMin, run / VALUE_INDEX_TAIL.runDivisor) entries (tests lower it). */
  tailMin?: number;
}

/** What a Column stores its values in: a Float64Array for numbers, an array for strings. */
type Values<T> = { [i: number]: T; readonly length: number };

/** TYPE_BITS are bits 0 to 3: the per-type row counts are indexed by a bit's position. */
const TYPE_COUNT = 4;

/** A growable list of distinct row numbers. */
class RowList {
  /** rows[0, size): in order of addition. */
  private rows: Int32Array = new Int32Array(16);
  size = 0;
  /** Every row was added above the one before: then a range's rows are found by binary search. */
  private ascending = true;

  push(row: number): void {
    if (this.size === this.rows.length) this.rows = grown(this.rows, this.size * 2);
    if (this.size > 0 && this.rows[this.size - 1] > row) this.ascending = false;
    this.rows[this.size++] = row;
  }

  /** Sets mask[row − start] for its rows in [start, end). */
  mark(mask: Uint8Array, start: number, end: number): void {
    const { rows, size } = this;
    if (this.ascending) {
      for (let i = lowerBound(size, (k) => rows[k] < start); i < size && rows[i] < end; i++) mask[rows[i] - start] = 1;
      return;
    }
    for (let i = 0; i < size; i++) {
      const r = rows[i];
      if (r >= start && r < end) mask[r - start] = 1;
    }
  }

  memoryBytes(): number {
    return this.rows.byteLength;
  }
}

/**
 * The values of one type (number or string) with their rows: entries [0, run)
 * sorted by value then row (for binary search), [run, size) the tail in order
 * of addition. A row holding a value twice has two entries: marking a mask
 * twice is harmless.
 */
class Column<T extends number | string> {
  /** values[i], rows[i]: entry i; capacity rows.length. */
  private values: Values<T>;
  private rows: Int32Array = new Int32Array(16);
  private run = 0;
  private size = 0;

  constructor(
    /** A new value array of n entries (a temporary for merges, or a larger store). */
    private readonly make: (n: number) => Values<T>,
    private readonly tailMin: number,
  ) {
    this.values = make(this.rows.length);
  }

  get entries(): number {
    return this.size;
  }

  push(value: T, row: number): void {
    if (this.size === this.rows.length) {
      const values = this.make(this.size * 2);
      for (let i = 0; i < this.size; i++) values[i] = this.values[i];
      this.values = values;
      this.rows = grown(this.rows, this.size * 2);
    }
    this.values[this.size] = value;
    this.rows[this.size++] = row;
    if (this.size - this.run > Math.max(this.tailMin, this.run / VALUE_INDEX_TAIL.runDivisor)) this.merge();
  }

  /** Sorts the tail and merges it into the run, from the back, in place. */
  private merge(): void {
    const { values, rows, run, size } = this;
    const order = new Int32Array(size - run);
    for (let i = 0; i < order.length; i++) order[i] = run + i;
    order.sort((a, b) => (values[a] < values[b] ? -1 : values[b] < values[a] ? 1 : rows[a] - rows[b]));
    const tv = this.make(order.length);
    const tr = new Int32Array(order.length);
    for (let i = 0; i < order.length; i++) {
      tv[i] = values[order[i]];
      tr[i] = rows[order[i]];
    }
    // Standard merge from the largest entry down: the tail's old slots are free, so no run entry is overwritten before it moves.
    let i = run - 1;
    for (let j = order.length - 1, k = size - 1; j >= 0; k--) {
      if (i >= 0 && (tv[j] < values[i] || (tv[j] === values[i] && tr[j] < rows[i]))) {
        values[k] = values[i];
        rows[k] = rows[i--];
      } else {
        values[k] = tv[j];
        rows[k] = tr[j--];
      }
    }
    this.run = size;
  }

  /** Marks the rows in [start, end) of the run's entries equal to v: they are contiguous and sorted by row. */
  markEqual(v: T, mask: Uint8Array, start: number, end: number): void {
    const { values, rows } = this;
    const from = lowerBound(this.run, (k) => values[k] < v || (values[k] === v && rows[k] < start));
    for (let k = from; k < this.run && values[k] === v && rows[k] < end; k++) mask[rows[k] - start] = 1;
  }

  /** Marks the rows in [start, end) of the run's entries that compare with v as `op` asks. */
  markCompare(op: 'gt' | 'gte' | 'lt' | 'lte', v: T, mask: Uint8Array, start: number, end: number): void {
    if (typeof v === 'number' && Number.isNaN(v)) return; // nothing compares with NaN, but it would bound the run's whole
    const { values, rows } = this;
    const below = lowerBound(this.run, (k) => values[k] < v); // entries < v
    const atOrBelow = lowerBound(this.run, (k) => !(v < values[k])); // entries ≤ v
    const [from, to] = op === 'gt' ? [atOrBelow, this.run] : op === 'gte' ? [below, this.run] : op === 'lt' ? [0, below] : [0, atOrBelow];
    for (let k = from; k < to; k++) {
      const r = rows[k];
      if (r >= start && r < end) mask[r - start] = 1;
    }
  }

  /** Marks the rows in [start, end) of the tail's entries that pass `test` (metadata-filter's test of the leaf). */
  markTail(test: (x: unknown) => boolean, mask: Uint8Array, start: number, end: number): void {
    const { values, rows } = this;
    for (let k = this.run; k < this.size; k++) {
      const r = rows[k];
      if (r >= start && r < end && test(values[k])) mask[r - start] = 1;
    }
  }

  memoryBytes(bytesPerValue: number): number {
    return this.rows.byteLength + this.rows.length * bytesPerValue;
  }
}

/** The first i in [0, n) where `before(i)` is false; `before` must be true on a prefix of [0, n). */
function lowerBound(n: number, before: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function grown(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/** The values of one path over the rows added. */
export class FieldIndex {
  private readonly numbers: Column<number>;
  private readonly strings: Column<string>;
  /** Rows holding true / false at the path (each row once per list). */
  private readonly trues = new RowList();
  private readonly falses = new RowList();
  /** Rows holding any non-null value at the path (each row once): exists, and the statistics' first counter. */
  private readonly present = new RowList();
  /** Per type (by TYPE_BITS bit position): rows holding a value of that type; a row holding two types counts in both. */
  private readonly typeRows = new Float64Array(TYPE_COUNT);
  /** UTF-16 code units of the strings held, for memoryBytes. */
  private stringUnits = 0;
  /** The value `add` is visiting's row, and what it has found so far (kept on the index so `visit` gets one bound callback). */
  private row = 0;
  private found = 0;
  private foundTrue = false;
  private foundFalse = false;
  private readonly record = (x: unknown) => this.recordValue(x);

  constructor(
    readonly path: string[],
    options: ValueIndexOptions = {},
  ) {
    const tailMin = options.tailMin ?? VALUE_INDEX_TAIL.minRows;
    this.numbers = new Column<number>((n) => new Float64Array(n), tailMin);
    this.strings = new Column<string>((n) => new Array<string>(n).fill(''), tailMin);
  }

  /** Records a row's values at the path; metadata is its parsed JSON (null or undefined: none, as {}). Each row at most once. */
  add(row: number, metadata: unknown): void {
    if (!Number.isInteger(row) || row < 0 || row > 0x7fffffff) throw new RangeError(`row ${row} is not an int32 row number`);
    this.row = row;
    this.found = 0;
    this.foundTrue = this.foundFalse = false;
    visit(metadata ?? {}, this.path, 0, this.record);
    if (this.found === 0) return;
    this.present.push(row);
    for (let b = 0; b < TYPE_COUNT; b++) if ((this.found >> b) & 1) this.typeRows[b]++;
    if (this.foundTrue) this.trues.push(row);
    if (this.foundFalse) this.falses.push(row);
  }

  private recordValue(x: unknown): void {
    this.found |= typeBit(x);
    if (typeof x === 'number') {
      if (!Number.isNaN(x)) this.numbers.push(x, this.row); // NaN (not JSON) equals and compares with nothing: counted only
    } else if (typeof x === 'string') {
      this.strings.push(x, this.row);
      this.stringUnits += x.length;
    } else if (x === true) {
      this.foundTrue = true;
    } else if (x === false) {
      this.foundFalse = true;
    }
  }

  /** Rows added that hold a non-null value at the path. */
  get presentRows(): number {
    return this.present.size;
  }

  /**
   * The rows in [start, end) where the leaf (on this index's path) holds, as
   * metadata-filter's filterPredicate decides: mask[i] for row start + i. Rows
   * never added hold no value (as a row without metadata): ne, nin and
   * exists: false hold for them.
   */
  match(leaf: FilterLeaf, start: number, end: number): Uint8Array {
    const mask = new Uint8Array(end - start);
    switch (leaf.op) {
      case 'eq':
      case 'ne':
        this.markEqual([leaf.value], valueTest(leaf), mask, start, end);
        break;
      case 'in':
      case 'nin':
        this.markEqual(leaf.values, valueTest(leaf), mask, start, end);
        break;
      case 'exists':
        this.present.mark(mask, start, end);
        break;
      default: {
        const column: Column<number | string> = typeof leaf.value === 'number' ? this.numbers : this.strings;
        column.markCompare(leaf.op, leaf.value, mask, start, end);
        column.markTail(valueTest(leaf), mask, start, end);
      }
    }
    if (isNegated(leaf)) for (let i = 0; i < mask.length; i++) mask[i] ^= 1;
    return mask;
  }

  /** Marks the rows holding one of `values`: a look-up in the run per value, one pass over each tail involved. */
  private markEqual(
    values: readonly (string | number | boolean)[],
    test: (x: unknown) => boolean,
    mask: Uint8Array,
    start: number,
    end: number,
  ): void {
    let numbers = false;
    let strings = false;
    let trues = false;
    let falses = false;
    for (const v of values) {
      if (typeof v === 'number') {
        this.numbers.markEqual(v, mask, start, end);
        numbers = true;
      } else if (typeof v === 'string') {
        this.strings.markEqual(v, mask, start, end);
        strings = true;
      } else if (v) trues = true;
      else falses = true;
    }
    if (numbers) this.numbers.markTail(test, mask, start, end);
    if (strings) this.strings.markTail(test, mask, start, end);
    if (trues) this.trues.mark(mask, start, end);
    if (falses) this.falses.mark(mask, start, end);
  }

  /**
   * Writes the leaf's LEAF_STATS counters over every row added at out[offset…]:
   * rows holding a non-null value; rows holding a type the operand can match
   * (exists: any); the TYPE_BITS seen. The second is the sum of per-type row
   * counts, so it counts a row holding two of an in list's types twice, where
   * filterPredicate counts it once: only whether it is zero is relied on
   * (services/filter.ts filterWarnings), and that agrees.
   */
  stats(leaf: FilterLeaf, out: Int32Array, offset: number): void {
    const want = operandTypes(leaf);
    let typed = 0;
    let seen = 0;
    for (let b = 0; b < TYPE_COUNT; b++) {
      if (this.typeRows[b] === 0) continue;
      seen |= 1 << b;
      if ((want >> b) & 1) typed += this.typeRows[b];
    }
    out[offset] = this.present.size;
    out[offset + 1] = want === 0 ? this.present.size : typed;
    out[offset + 2] = seen;
  }

  /** Approximate bytes held (strings at 2 bytes per code unit plus a pointer each). */
  memoryBytes(): number {
    return (
      this.numbers.memoryBytes(8) +
      this.strings.memoryBytes(8) +
      this.stringUnits * 2 +
      this.trues.memoryBytes() +
      this.falses.memoryBytes() +
      this.present.memoryBytes()
    );
  }
}

/** A path's key: segments may hold any character (a directly built FilterNode's may hold "."), so not joined by ".". */
const pathKey = (path: readonly string[]) => JSON.stringify(path);

/** The value indexes of one collection: one FieldIndex per declared field. */
export class ValueIndexes {
  readonly fields: FieldIndex[] = [];
  private readonly byPath = new Map<string, FieldIndex>();
  /** `fields`: dotted paths ("author.country"), split on ".", or indexes already built; repeated paths are indexed once. */
  constructor(fields: readonly (string | FieldIndex)[], options: ValueIndexOptions = {}) {
    for (const field of fields) {
      const index = typeof field === 'string' ? new FieldIndex(field.split('.'), options) : field;
      if (this.byPath.has(pathKey(index.path))) continue;
      this.fields.push(index);
      this.byPath.set(pathKey(index.path), index);
    }
  }

  has(path: readonly string[]): boolean {
    return this.byPath.has(pathKey(path));
  }

  field(path: readonly string[]): FieldIndex | undefined {
    return this.byPath.get(pathKey(path));
  }

  /** Adds a row (each at most once, any order) to every field's index. */
  add(row: number, metadata: unknown): void {
    for (const f of this.fields) f.add(row, metadata);
  }

  memoryBytes(): number {
    return this.fields.reduce((sum, f) => sum + f.memoryBytes(), 0);
  }
}

/** Per leaf number: whether its path is indexed. */
export function indexedLeaves(root: FilterNode, indexes: ValueIndexes): boolean[] {
  return filterLeaves(root).map((leaf) => indexes.has(leaf.path));
}

/** The LEAF_STATS counters of the filter's indexed leaves over every row added (unindexed leaves' slots left 0), and which leaves those are. */
export function indexedStats(root: FilterNode, indexes: ValueIndexes): { stats: Int32Array; indexed: boolean[] } {
  const leaves = filterLeaves(root);
  const stats = new Int32Array(leaves.length * LEAF_STATS);
  const indexed = leaves.map((leaf) => {
    const f = indexes.field(leaf.path);
    f?.stats(leaf, stats, leaf.leaf * LEAF_STATS);
    return f !== undefined;
  });
  return { stats, indexed };
}

/** A node's result over the range: a mask, exact or a superset of the matches; null = unknown (every row may match, never exact). */
interface Part {
  mask: Uint8Array | null;
  exact: boolean;
}

const UNKNOWN: Part = { mask: null, exact: false };

/**
 * The filter's matches over rows [start, end) from the indexes alone: mask[i]
 * for row start + i. Exact (equal, row by row, to filterPredicate on each row's
 * metadata) when every condition that decides it is on an indexed path; else a
 * superset of the matches, so only the rows it marks need their metadata read.
 * Rows in the range never added count as rows without metadata ({}).
 *
 * A condition on an unindexed path is unknown (every row); and keeps what its
 * known children rule out, or is unknown when one child is, not inverts only
 * an exact mask (the complement of a superset bounds nothing).
 */
export function evaluateIndexed(root: FilterNode, indexes: ValueIndexes, start: number, end: number): { mask: Uint8Array; exact: boolean } {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) throw new RangeError(`bad row range [${start}, ${end})`);
  const { mask, exact } = evaluate(root, indexes, start, end);
  return { mask: mask ?? new Uint8Array(end - start).fill(1), exact };
}

function evaluate(node: FilterNode, indexes: ValueIndexes, start: number, end: number): Part {
  switch (node.op) {
    case 'and': {
      let mask: Uint8Array | null = null;
      let exact = true;
      for (const child of node.of) {
        const p = evaluate(child, indexes, start, end);
        exact &&= p.exact;
        if (p.mask === null) continue;
        if (mask === null) mask = p.mask;
        else for (let i = 0; i < mask.length; i++) mask[i] &= p.mask[i];
      }
      return exact && mask === null ? { mask: new Uint8Array(end - start).fill(1), exact } : { mask, exact }; // and of nothing: every row
    }
    case 'or': {
      let mask: Uint8Array | null = null;
      let exact = true;
      for (const child of node.of) {
        const p = evaluate(child, indexes, start, end);
        if (p.mask === null) return UNKNOWN; // every row may match: the other children cannot narrow that
        exact &&= p.exact;
        if (mask === null) mask = p.mask;
        else for (let i = 0; i < mask.length; i++) mask[i] |= p.mask[i];
      }
      return { mask: mask ?? new Uint8Array(end - start), exact }; // or of nothing: no row
    }
    case 'not': {
      const p = evaluate(node.of, indexes, start, end);
      if (!p.exact || p.mask === null) return UNKNOWN;
      for (let i = 0; i < p.mask.length; i++) p.mask[i] ^= 1;
      return p;
    }
    default: {
      const f = indexes.field(node.path);
      return f === undefined ? UNKNOWN : { mask: f.match(node, start, end), exact: true };
    }
  }
}
