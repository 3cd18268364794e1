/**
 * WebAssembly ADC scans over code arenas: a flat index's codes live in a
 * shared WebAssembly memory, so every worker's kernels read them in place
 * (the kernels, one module per code size, are written in scan-wat.ts).
 *
 * Arena layout (a shared WebAssembly.Memory, byte addresses):
 *   0            int32 slot count
 *   4            int32 bytes per slot
 *   8            int32 address of the codes
 *   16 + 4s      int32 lock of slot s: 0 free, else 1 + the holder's threadId
 *   SLOTS_AT     the slots, SCAN_SLOTS of them: each a scan's scratch (below)
 *   codes        the codes, capacity × m bytes (what allocateCodes returns;
 *                m = bytes per row, and for 4-bit codes the fast scan's
 *                blocked layout, whose scans use a slot as table + records:
 *                fast-scan.ts)
 * A slot: thresholds (8 float32) | out (count + CANDIDATES_PER_CALL records)
 *   | list chunk (LIST_CHUNK int32 rows) | tables (m × 256 × 8 float32).
 * The memory's pages are committed as they are touched: untouched slots cost
 * address space, not memory.
 *
 * A scan claims a free slot (Atomics on its lock), writes its tables there,
 * runs the kernel and releases it. A worker terminated mid-scan (an aborted
 * task) leaves its lock set: the pool frees the locks of a destroyed worker
 * (releaseSlotsOf). With every slot busy a scan returns false and the caller
 * runs the reference (adc.ts): the same ranking but for near-ties, distances
 * summed in float64.
 */
import { compile } from 'watr';
import { threadId } from 'node:worker_threads';
import type { TopK } from '../topk.js';
import { adcDistanceF32 } from '../adc.js';
import { codeShape } from '../code-layout.js';
import { FastScanSelector, quantizeCosts } from '../fast-scan.js';
import { type Lanes, kernelName, QUANTIZED_RECORD_BYTES, RECORDS_AT, recordBytes, scanWat } from './scan-wat.js';
import { CANDIDATES_PER_CALL, LIST_CHUNK, SCAN_SLOTS } from '../../tunables.js';

/** What a worker needs to run kernels on an arena: its memory (shared, posted with the task). */
export interface CodeArena {
  memory: WebAssembly.Memory;
}

const PAGE = 65_536;
/** wasm32 memories end at 4 GiB; larger code buffers stay plain (reference scans). */
const MAX_ARENA_BYTES = 65_536 * PAGE - PAGE;
const HEADER_BYTES = 16;
const SLOTS_AT = 256;
const THRESHOLDS_BYTES = 32;
const MAX_LANES = 8;
const up64 = (v: number): number => Math.ceil(v / 64) * 64;

/** The layout of a slot for codes of m bytes (offsets within the slot). */
function slotLayout(m: number): { outAt: number; listAt: number; tableAt: number; bytes: number } {
  const outAt = THRESHOLDS_BYTES;
  const listAt = up64(outAt + RECORDS_AT + CANDIDATES_PER_CALL * recordBytes(MAX_LANES));
  const tableAt = up64(listAt + LIST_CHUNK * 4);
  return { outAt, listAt, tableAt, bytes: up64(tableAt + m * 256 * 4 * MAX_LANES) };
}

/** Arenas by their memory's buffer (this thread's object), to find the arena of a codes view. */
const arenas = new WeakMap<ArrayBufferLike, CodeArena>();
/** Every arena allocated here, for releaseSlotsOf. */
const allocated = new Set<WeakRef<CodeArena>>();

/**
 * Zeroed shared bytes for `bytes` bytes of codes of `m` bytes each, in an
 * arena the scan kernels can read; a plain SharedArrayBuffer when the arena
 * would pass 4 GiB.
 */
export function allocateCodes(bytes: number, m: number): Uint8Array {
  const slot = slotLayout(m);
  const codesAt = up64(SLOTS_AT + SCAN_SLOTS * slot.bytes);
  const total = codesAt + bytes;
  if (m > MAX_KERNEL_M || total > MAX_ARENA_BYTES) return new Uint8Array(new SharedArrayBuffer(bytes));
  const pages = Math.max(1, Math.ceil(total / PAGE));
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    // V8 reserves ~10 GiB of address space per memory (guard regions): after ~13,000
    // live arenas (measured) it refuses more. Plain shared bytes still serve, by the reference scans.
    return new Uint8Array(new SharedArrayBuffer(bytes));
  }
  const header = new Int32Array(memory.buffer, 0, HEADER_BYTES / 4);
  header[0] = SCAN_SLOTS;
  header[1] = slot.bytes;
  header[2] = codesAt;
  const arena: CodeArena = { memory };
  arenas.set(memory.buffer, arena);
  allocated.add(new WeakRef(arena));
  return new Uint8Array(memory.buffer, codesAt, bytes);
}

/** The arena holding these codes (allocated in this thread by allocateCodes), or null. */
export function arenaOf(codes: Uint8Array): CodeArena | null {
  return arenas.get(codes.buffer) ?? null;
}

/** Frees the slots a thread held (a worker that ended mid-scan); call from the thread that allocated the arenas. */
export function releaseSlotsOf(thread: number): void {
  for (const ref of allocated) {
    const arena = ref.deref();
    if (arena === undefined) {
      allocated.delete(ref);
      continue;
    }
    const locks = new Int32Array(arena.memory.buffer, HEADER_BYTES, SCAN_SLOTS);
    for (let s = 0; s < SCAN_SLOTS; s++) Atomics.compareExchange(locks, s, thread + 1, 0);
  }
}

/** Codes longer than this are scanned by the reference (the unrolled kernel grows with m). */
export const MAX_KERNEL_M = 256;

type Kernel = (codes: number, list: number, n: number, table: number, thr: number, out: number, cap: number) => number;

/** Compiled modules of this thread, by m (compiled on first use: ~ms per m). */
const modules = new Map<number, WebAssembly.Module>();

function kernelsFor(arena: CodeArena, m: number): Record<string, Kernel> {
  let module = modules.get(m);
  if (module === undefined) {
    const layout = slotLayout(m);
    const tables = Array.from({ length: SCAN_SLOTS }, (_, slot) => SLOTS_AT + slot * layout.bytes + layout.tableAt);
    module = new WebAssembly.Module(compile(scanWat(m, tables)));
    modules.set(m, module);
  }
  // A fresh instance per scan (~7 µs): caching one would keep its arena alive after the index moved on.
  return new WebAssembly.Instance(module, { env: { memory: arena.memory } }).exports as unknown as Record<string, Kernel>;
}

/** A claimed slot of an arena: scratch bytes [base, base + bytes) of its memory, this thread's until close(). */
export interface ArenaSlot {
  /** Which slot: the single-query kernels come one per slot. */
  index: number;
  buffer: ArrayBufferLike;
  base: number;
  bytes: number;
  close(): void;
}

/**
 * Claims a free slot of the arena holding `codes` (rows of `rowBytes` bytes),
 * or null when the codes are not in it or every slot is busy.
 */
export function claimArenaSlot(arena: CodeArena, codes: Uint8Array, rowBytes: number): ArenaSlot | null {
  // In a worker the codes' buffer and the memory's are two objects over one
  // store (each cloned on its own), so the sizes are what can be checked.
  const buffer = arena.memory.buffer;
  if (!(codes.buffer instanceof SharedArrayBuffer) || codes.buffer.byteLength !== buffer.byteLength) return null;
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  const layout = slotLayout(rowBytes);
  if (layout.bytes !== header[1]) throw new Error(`arena slots of ${header[1]} bytes, codes of ${rowBytes} bytes need ${layout.bytes}`);
  const locks = new Int32Array(buffer, HEADER_BYTES, header[0]);
  for (let s = 0; s < locks.length; s++) {
    if (Atomics.compareExchange(locks, s, 0, threadId + 1) !== 0) continue;
    return { index: s, buffer, base: SLOTS_AT + s * layout.bytes, bytes: layout.bytes, close: () => Atomics.store(locks, s, 0) };
  }
  return null;
}

/** What a kernel scan reads: rows [start, end) of the codes, or rows listed in rows[start .. end). */
export interface KernelScan {
  arena: CodeArena;
  codes: Uint8Array;
  m: number;
  start: number;
  end: number;
  /** Listed rows (a filter's eligible rows); null = consecutive rows [start, end). */
  rows: Int32Array | null;
  /** Queries: their count, and a function writing query q's m × 256 table into `out`. */
  nq: number;
  tableOf: (q: number, out: Float32Array) => void;
  /** One heap per query; a row is offered under its row number (+ idBase for consecutive rows). */
  heaps: TopK[];
  idBase?: number;
}

/**
 * Scans with the kernels: queries in groups of 8 (one pass over the codes
 * each; over consecutive rows the uint16 kernel, see scanQuantized), 4 when at
 * most four are left, one at a time when one is. Each candidate a float32
 * kernel reports is offered to its query's heap when it beats the heap's
 * current threshold (the kernel compares with the thresholds of its call; the
 * heap's rule decides). Returns false, having done nothing, when
 * the codes are not in an arena or every slot is busy.
 */
export function kernelScan(s: KernelScan): boolean {
  const session = ScanSession.open(s.arena, s.codes, s.m);
  if (session === null) return false;
  try {
    const one = s.nq > 1 ? new Float32Array(s.m * 256) : null; // one query's table, before it is interleaved
    for (let q0 = 0; q0 < s.nq; ) {
      const left = s.nq - q0;
      // (A pass of the 8-lane uint16 kernel costs ~1.2× one of the 4-lane float32 kernel and ~1.7× one of
      // the single-query kernel, measured over 500,000 rows of 16 bytes: 2–4 queries are cheaper in 4 lanes.)
      const lanes: Lanes = left === 1 ? 1 : left <= 4 ? 4 : 8;
      const group = Math.min(lanes, left);
      const first = q0;
      const heaps = s.heaps.slice(first, first + group);
      q0 += group;
      if (lanes === 8 && s.rows === null) {
        // Eight queries over consecutive rows: quantised tables, candidates re-scored exactly.
        const tables = heaps.map((_, q) => {
          const t = new Float32Array(s.m * 256);
          s.tableOf(first + q, t);
          return t;
        });
        session.scanQuantized(tables, s.start, s.end, heaps, s.idBase ?? 0);
        continue;
      }
      if (lanes === 1) {
        s.tableOf(first, session.table);
      } else {
        for (let q = 0; q < group; q++) {
          s.tableOf(first + q, one!);
          session.setLane(lanes, q, one);
        }
        for (let q = group; q < lanes; q++) session.setLane(lanes, q, null);
      }
      if (s.rows === null) session.scan(lanes, s.start, s.end, heaps, null, s.idBase ?? 0);
      else session.scanListed(lanes, s.rows, s.start, s.end, heaps);
    }
    return true;
  } finally {
    session.close();
  }
}

const bits = new Float32Array(1);
const bitsU = new Uint32Array(bits.buffer);
/** The next float32 above a finite float32 v. */
function nextUp(v: number): number {
  bits[0] = v;
  bitsU[0] += v >= 0 ? 1 : -1;
  return v === 0 ? 1.4e-45 : bits[0];
}

/**
 * A claimed slot of an arena and this thread's kernels over it: many scans of
 * one task (an IVF query's cells) claim and instantiate once. Write a single
 * query's table into `table` (or interleave several with setLane), scan, and
 * close the session in a finally.
 */
export class ScanSession {
  /** The slot's table area as one query's m × 256 table (lanes 1). */
  readonly table: Float32Array;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private readonly thrAt: number;
  private readonly outAt: number;
  private readonly listAt: number;
  private readonly tableAt: number;

  private constructor(
    private readonly codes: Uint8Array,
    private readonly m: number,
    private readonly slot: ArenaSlot,
    private readonly kernels: Record<string, Kernel>,
    layout: ReturnType<typeof slotLayout>,
  ) {
    const { base, buffer } = slot;
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.thrAt = base;
    this.outAt = base + layout.outAt;
    this.listAt = base + layout.listAt;
    this.tableAt = base + layout.tableAt;
    this.table = this.f32.subarray(this.tableAt >> 2, (this.tableAt >> 2) + m * 256);
  }

  /** A session over codes in this arena, or null when they are not in it, m is too large, or every slot is busy. */
  static open(arena: CodeArena, codes: Uint8Array, m: number): ScanSession | null {
    if (m > MAX_KERNEL_M) return null;
    const slot = claimArenaSlot(arena, codes, m);
    if (slot === null) return null;
    try {
      return new ScanSession(codes, m, slot, kernelsFor(arena, m), slotLayout(m));
    } catch (err) {
      slot.close();
      throw err;
    }
  }

  close(): void {
    this.slot.close();
  }

  /** Query q's m × 256 table into lane q of an interleaved table (entry e of query q at e × lanes + q); null = a padding lane of zeros. */
  setLane(lanes: Lanes, q: number, table: Float32Array | null): void {
    const { f32 } = this;
    const n = this.m * 256;
    for (let e = 0, o = (this.tableAt >> 2) + q; e < n; e++, o += lanes) f32[o] = table === null ? 0 : table[e];
  }

  /**
   * Up to eight queries (their m × 256 float tables) over code rows [start,
   * end) with the quantised kernel (seq8q): each query's table quantised to
   * uint16 entries, its candidates chosen by a FastScanSelector (every row
   * that can be among its heap's best, with a margin covering the rounding)
   * and re-scored with adcDistanceF32, what the float32 kernels return, so the
   * heaps end as they would there. Rows are offered as idBase + r; a heap's
   * excluded ids are left out of its selector too.
   */
  scanQuantized(tables: Float32Array[], start: number, end: number, heaps: TopK[], idBase: number): void {
    const { m } = this;
    const kernel = this.kernels.seq8q as unknown as (codes: number, n: number, table: number, thr: number, out: number, cap: number) => number;
    const buffer = this.f32.buffer;
    const u16 = new Uint16Array(buffer);
    const table = new Uint16Array(buffer, this.tableAt, m * 256 * 8);
    // Padding lanes: entries of 1 and a threshold of 0 never report.
    table.fill(1);
    const top = Math.floor(65_535 / m);
    const selectors = heaps.map(
      (heap, q) =>
        new FastScanSelector(heap.k, quantizeCosts(tables[q], m, 256, top, table, 8, q, 2 ** -24), heap.excluded, idBase + start, idBase + end),
    );
    const thr = this.thrAt >> 1;
    for (let i = start; i < end; ) {
      for (let q = 0; q < 8; q++) u16[thr + q] = q < selectors.length ? selectors[q].threshold() : 0;
      const consumed = kernel(this.codes.byteOffset + i * m, end - i, this.tableAt, this.thrAt, this.outAt, CANDIDATES_PER_CALL);
      const count = this.i32[this.outAt >> 2];
      for (let c = 0, o = this.outAt + RECORDS_AT; c < count; c++, o += QUANTIZED_RECORD_BYTES) {
        const id = idBase + i + this.i32[o >> 2];
        for (let q = 0; q < selectors.length; q++) selectors[q].offer(id, 1, u16, ((o + 16) >> 1) + q);
      }
      i += consumed;
    }
    const shape = codeShape(m, 256);
    for (let q = 0; q < selectors.length; q++) selectors[q].finish(heaps[q], (id) => adcDistanceF32(this.codes, id - idBase, shape, tables[q]));
  }

  /** Scans code rows [start, end) for the queries of the table, one heap each; row r offered as ids[r], or idBase + r. */
  scan(lanes: Lanes, start: number, end: number, heaps: TopK[], ids: Int32Array | null = null, idBase = 0): void {
    const kernel = this.kernels[kernelName(lanes, 'seq', this.slot.index)];
    for (let i = start; i < end; ) {
      this.setThresholds(lanes, heaps);
      const consumed = kernel(this.codes.byteOffset + i * this.m, 0, end - i, this.tableAt, this.thrAt, this.outAt, CANDIDATES_PER_CALL);
      this.offer(lanes, heaps, i, ids, idBase, null);
      i += consumed;
    }
  }

  /** Scans the code rows listed in rows[start .. end), offered under their row numbers; the list is copied into the slot a chunk at a time. */
  scanListed(lanes: Lanes, rows: Int32Array, start: number, end: number, heaps: TopK[]): void {
    const kernel = this.kernels[kernelName(lanes, 'listed', this.slot.index)];
    for (let from = start; from < end; from += LIST_CHUNK) {
      const chunkEnd = Math.min(end, from + LIST_CHUNK);
      this.i32.set(rows.subarray(from, chunkEnd), this.listAt >> 2);
      for (let i = 0; i < chunkEnd - from; ) {
        this.setThresholds(lanes, heaps);
        const consumed = kernel(
          this.codes.byteOffset,
          this.listAt + 4 * i,
          chunkEnd - from - i,
          this.tableAt,
          this.thrAt,
          this.outAt,
          CANDIDATES_PER_CALL,
        );
        this.offer(lanes, heaps, from + i, null, 0, rows);
        i += consumed;
      }
    }
  }

  /** Each heap's threshold into its lane, rounded up to float32 (the kernel never drops a candidate the heap would take); −∞ for padding lanes. */
  private setThresholds(lanes: Lanes, heaps: TopK[]): void {
    const { f32 } = this;
    const thr = this.thrAt >> 2;
    for (let q = 0; q < lanes; q++) {
      const t = q < heaps.length ? heaps[q].threshold() : -Infinity;
      f32[thr + q] = t;
      if (f32[thr + q] < t) f32[thr + q] = nextUp(f32[thr + q]);
    }
  }

  /** Offers the records of the last call (positions from `first`) to the heaps: id = rows[p], ids[p] or idBase + p. */
  private offer(lanes: Lanes, heaps: TopK[], first: number, ids: Int32Array | null, idBase: number, rows: Int32Array | null): void {
    const { f32, i32 } = this;
    const count = i32[this.outAt >> 2];
    const rec = recordBytes(lanes) >> 2;
    for (let c = 0, o = (this.outAt + RECORDS_AT) >> 2; c < count; c++, o += rec) {
      const p = first + i32[o];
      const id = rows !== null ? rows[p] : ids !== null ? ids[p] : idBase + p;
      for (let q = 0; q < heaps.length; q++) {
        const d = f32[o + 1 + q];
        const heap = heaps[q];
        if (d < heap.threshold()) heap.push(d, id);
      }
    }
  }
}
