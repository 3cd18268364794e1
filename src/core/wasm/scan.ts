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
 *   codes        the codes, capacity × m bytes (what allocateCodes returns)
 * A slot: thresholds (8 float32) | out (count + CANDIDATES_PER_CALL records)
 *   | list chunk (LIST_CHUNK int32 rows) | tables (m × 256 × 8 float32).
 * The memory's pages are committed as they are touched: untouched slots cost
 * address space, not memory.
 *
 * A scan claims a free slot (Atomics on its lock), writes its tables there,
 * runs the kernel and releases it. A worker terminated mid-scan (an aborted
 * task) leaves its lock set: the pool frees the locks of a destroyed worker
 * (releaseSlotsOf). With every slot busy a scan returns false and the caller
 * runs the reference (adc.ts): the same ids, distances summed in float64.
 */
import { compile } from 'watr';
import { threadId } from 'node:worker_threads';
import type { TopK } from '../topk.js';
import { type Lanes, kernelName, RECORDS_AT, recordBytes, type RowSource, scanWat } from './scan-wat.js';
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
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
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
    module = new WebAssembly.Module(compile(scanWat(m)));
    modules.set(m, module);
  }
  // A fresh instance per scan (~7 µs): caching one would keep its arena alive after the index moved on.
  return new WebAssembly.Instance(module, { env: { memory: arena.memory } }).exports as unknown as Record<string, Kernel>;
}

/** Claims a free slot of the arena: its index, or −1 when all are busy. */
function claimSlot(locks: Int32Array): number {
  for (let s = 0; s < locks.length; s++) if (Atomics.compareExchange(locks, s, 0, threadId + 1) === 0) return s;
  return -1;
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
 * each), 4 when at most four are left, one at a time when one is. Each
 * candidate a kernel reports is offered to its query's heap when it beats the
 * heap's current threshold (the kernel compares with the thresholds of its
 * call; the heap's rule decides). Returns false, having done nothing, when
 * the codes are not in an arena or every slot is busy.
 */
export function kernelScan(s: KernelScan): boolean {
  const { arena, codes, m } = s;
  // In a worker the codes' buffer and the memory's are two objects over one
  // store (each cloned on its own), so the sizes are what can be checked.
  if (m > MAX_KERNEL_M || !(codes.buffer instanceof SharedArrayBuffer) || codes.buffer.byteLength !== arena.memory.buffer.byteLength) return false;
  const buffer = arena.memory.buffer;
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  const locks = new Int32Array(buffer, HEADER_BYTES, header[0]);
  const slot = claimSlot(locks);
  if (slot < 0) return false;
  try {
    const layout = slotLayout(m);
    if (layout.bytes !== header[1]) throw new Error(`arena slots of ${header[1]} bytes, codes of ${m} bytes need ${layout.bytes}`);
    const base = SLOTS_AT + slot * layout.bytes;
    const kernels = kernelsFor(arena, m);
    const f32 = new Float32Array(buffer);
    const i32 = new Int32Array(buffer);
    const thrAt = base;
    const outAt = base + layout.outAt;
    const tableAt = base + layout.tableAt;
    const one = new Float32Array(m * 256);
    for (let q0 = 0; q0 < s.nq; ) {
      const left = s.nq - q0;
      const lanes: Lanes = left === 1 ? 1 : left <= 4 ? 4 : 8;
      const group = Math.min(lanes, left);
      if (lanes === 1) {
        s.tableOf(q0, f32.subarray(tableAt >> 2, (tableAt >> 2) + m * 256));
      } else {
        // Interleave: entry e of query q at e × lanes + q; padding queries' tables stay 0 and never report (threshold −∞).
        const t = tableAt >> 2;
        for (let q = 0; q < group; q++) {
          s.tableOf(q0 + q, one);
          for (let e = 0, o = t + q; e < one.length; e++, o += lanes) f32[o] = one[e];
        }
        for (let q = group; q < lanes; q++) for (let e = 0, o = t + q; e < one.length; e++, o += lanes) f32[o] = 0;
      }
      runKernel(s, kernels[kernelName(lanes, s.rows === null ? 'seq' : 'listed')], lanes, q0, group, f32, i32, {
        thrAt,
        outAt,
        listAt: base + layout.listAt,
        tableAt,
      });
      q0 += group;
    }
    return true;
  } finally {
    Atomics.store(locks, slot, 0);
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

/** One group of queries over the whole range: kernel calls until every row is consumed. */
function runKernel(
  s: KernelScan,
  kernel: Kernel,
  lanes: Lanes,
  q0: number,
  group: number,
  f32: Float32Array,
  i32: Int32Array,
  at: { thrAt: number; outAt: number; listAt: number; tableAt: number },
): void {
  const { codes, m, rows, heaps } = s;
  const idBase = s.idBase ?? 0;
  const thr = at.thrAt >> 2;
  const setThresholds = (): void => {
    for (let q = 0; q < lanes; q++) {
      const t = q < group ? heaps[q0 + q].threshold() : -Infinity;
      // Rounded up to float32, so the kernel never drops a candidate the heap would take.
      f32[thr + q] = t;
      if (f32[thr + q] < t) f32[thr + q] = nextUp(f32[thr + q]);
    }
  };
  const rec = recordBytes(lanes) >> 2;
  const source: RowSource = rows === null ? 'seq' : 'listed';
  for (let from = s.start; from < s.end; ) {
    // Listed rows are copied into the slot a chunk at a time; consecutive rows are read in place.
    const chunkEnd = source === 'listed' ? Math.min(s.end, from + LIST_CHUNK) : s.end;
    if (source === 'listed') i32.set(rows!.subarray(from, chunkEnd), at.listAt >> 2);
    for (let i = 0; i < chunkEnd - from; ) {
      setThresholds();
      const codesAt = source === 'seq' ? codes.byteOffset + (from + i) * m : codes.byteOffset;
      const listAt = at.listAt + 4 * i;
      const consumed = kernel(codesAt, listAt, chunkEnd - from - i, at.tableAt, at.thrAt, at.outAt, CANDIDATES_PER_CALL);
      const count = i32[at.outAt >> 2];
      for (let c = 0, o = (at.outAt + RECORDS_AT) >> 2; c < count; c++, o += rec) {
        const pos = from + i + i32[o];
        const id = source === 'seq' ? idBase + pos : rows![pos];
        for (let q = 0; q < group; q++) {
          const d = f32[o + 1 + q];
          const heap = heaps[q0 + q];
          if (d < heap.threshold()) heap.push(d, id);
        }
      }
      i += consumed;
    }
    from = chunkEnd;
  }
}
