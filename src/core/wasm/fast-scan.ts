/**
 * Runs the 4-bit fast scan kernels (fast-scan-wat.ts) over a flat index's
 * blocked packed codes in their code arena (scan.ts): a claimed slot holds
 * the quantised tables, the thresholds and the kernels' records. Candidate
 * selection and the exact scoring are core/fast-scan.ts's, shared with the
 * reference.
 *
 * Slot use (offsets from the slot's base): the quantised table, then the
 * records (int32 count, then up to cap + 1 records of RECORD_BYTES).
 */
import { setFlagsFromString } from 'node:v8';
import { compile } from 'watr';
import { BLOCK_ROWS, type CodeShape, rowBytes } from '../code-layout.js';
import { FAST_SCAN_MAX_M, FastScanSelector, blockRange, blockedScorer, lutBytes, quantizeTable } from '../fast-scan.js';
import type { TopK } from '../topk.js';
import { FAST_RECORDS_AT, RECORD_BYTES, fastScanWat } from './fast-scan-wat.js';
import { type ArenaSlot, type CodeArena, claimArenaSlot } from './scan.js';
import { FAST_SCAN_RECORDS_PER_CALL } from '../../tunables.js';

type Kernel = (codes: number, n: number, lut: number, thr: number, out: number, cap: number) => number;

/**
 * Whether this engine compiles relaxed SIMD: one instruction per look-up
 * instead of two (measured 0.91 against 1.36 ns per code and query at 16
 * bytes, in cache). Node 22 and later have it; Node 20's V8 has it behind
 * --experimental-wasm-relaxed-simd, which is switched on here for that engine
 * only (a V8 flag read when a module compiles; relaxed_swizzle with indices
 * below 16 is fully specified, so results cannot differ).
 */
let relaxed: boolean | null = null;
function hasRelaxedSwizzle(): boolean {
  if (relaxed === null) {
    const compiles = (): boolean => {
      try {
        new WebAssembly.Module(compile(fastScanWat(1, true)));
        return true;
      } catch {
        return false;
      }
    };
    relaxed = compiles();
    if (!relaxed && process.versions.v8.startsWith('11.3.')) {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxed = compiles();
    }
  }
  return relaxed;
}

/** Compiled modules of this thread, by code bytes. */
const modules = new Map<number, WebAssembly.Module>();

const up64 = (v: number): number => Math.ceil(v / 64) * 64;

/** Rows per record of the kernel: half a block (one 16-lane vector of code bytes). */
const HALF_BLOCK = BLOCK_ROWS / 2;

/** A claimed slot and this thread's kernel over it, for the fast scans of one task. */
export class FastScanSession {
  private readonly bytes: number;
  private readonly lut: Uint8Array;
  private readonly outAt: number;
  private readonly cap: number;
  private readonly i32: Int32Array;
  private readonly u16: Uint16Array;

  private constructor(
    private readonly codes: Uint8Array,
    private readonly shape: CodeShape,
    private readonly slot: ArenaSlot,
    private readonly kernel: Kernel,
  ) {
    this.bytes = rowBytes(shape);
    this.lut = new Uint8Array(slot.buffer, slot.base, lutBytes(this.bytes));
    this.outAt = slot.base + up64(lutBytes(this.bytes));
    const room = Math.floor((slot.base + slot.bytes - this.outAt - FAST_RECORDS_AT) / RECORD_BYTES) - 1;
    this.cap = Math.min(FAST_SCAN_RECORDS_PER_CALL, room);
    if (this.cap < 1) throw new Error(`an arena slot of ${slot.bytes} bytes cannot hold a fast scan of ${this.bytes}-byte codes`);
    this.i32 = new Int32Array(slot.buffer);
    this.u16 = new Uint16Array(slot.buffer);
  }

  /** A session over blocked packed codes in this arena, or null when they are not in it, m is too large, or every slot is busy. */
  static open(arena: CodeArena, codes: Uint8Array, shape: CodeShape): FastScanSession | null {
    if (!shape.packed || shape.m > FAST_SCAN_MAX_M) return null;
    const bytes = rowBytes(shape);
    const slot = claimArenaSlot(arena, codes, bytes);
    if (slot === null) return null;
    try {
      let module = modules.get(bytes);
      if (module === undefined) {
        module = new WebAssembly.Module(compile(fastScanWat(bytes, hasRelaxedSwizzle())));
        modules.set(bytes, module);
      }
      // A fresh instance per session, as scan.ts does: a cached one would keep its arena alive.
      const { fastScan } = new WebAssembly.Instance(module, { env: { memory: arena.memory } }).exports as unknown as { fastScan: Kernel };
      return new FastScanSession(codes, shape, slot, fastScan);
    } catch (err) {
      slot.close();
      throw err;
    }
  }

  close(): void {
    this.slot.close();
  }

  /**
   * Rows [start, end) for the query of `table` (m × 16 float costs): the
   * exact ADC top heap.k into heap, rows as ids, `dead` rows left out.
   * Returns the selector (its candidate count).
   */
  search(start: number, end: number, table: Float32Array, heap: TopK, dead: Uint8Array | null): FastScanSelector {
    const { shape, i32, u16, outAt } = this;
    const selector = new FastScanSelector(heap.k, quantizeTable(table, shape, this.lut), dead, start, end);
    const { first, last } = blockRange(start, end);
    for (let b = first; b < last; ) {
      const consumed = this.kernel(
        this.codes.byteOffset + b * BLOCK_ROWS * this.bytes,
        last - b,
        this.lut.byteOffset,
        selector.threshold(),
        outAt,
        this.cap,
      );
      const count = i32[outAt >> 2];
      for (let c = 0, o = outAt + FAST_RECORDS_AT; c < count; c++, o += RECORD_BYTES) {
        selector.offer((2 * b + i32[o >> 2]) * HALF_BLOCK, HALF_BLOCK, u16, (o + 16) >> 1);
      }
      b += consumed;
    }
    selector.finish(heap, blockedScorer(this.codes, shape, table));
    return selector;
  }
}
