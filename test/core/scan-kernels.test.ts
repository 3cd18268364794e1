import { describe, expect, it } from 'vitest';
import { adcDistanceF32, adcScan } from '../../src/core/adc.js';
import { codeShape } from '../../src/core/code-layout.js';
import { Rng } from '../../src/core/rng.js';
import { TopK } from '../../src/core/topk.js';
import { allocateCodes, arenaOf, kernelScan, releaseSlotsOf } from '../../src/core/wasm/scan.js';
import { SCAN_SLOTS } from '../../src/tunables.js';

/** Seeded codes in an arena and nq seeded 256-entry tables. */
function setup(n: number, m: number, nq: number, seed: number) {
  const rng = new Rng(seed);
  const codes = allocateCodes(n * m + 7, m).subarray(0, n * m); // an odd-sized arena, viewed to n rows
  for (let i = 0; i < codes.length; i++) codes[i] = rng.nextInt(256);
  const tables = Array.from({ length: nq }, () => {
    const t = new Float32Array(m * 256);
    for (let i = 0; i < t.length; i++) t[i] = rng.nextFloat() * 10 - 2; // negative costs too (inner product)
    return t;
  });
  return { codes, tables, arena: arenaOf(codes)! };
}

/**
 * The reference: every listed row's adcDistanceF32 (the kernels' float32 sums),
 * fully sorted by (distance, id); the heap must hold exactly its first k.
 */
function expectTopK(
  got: TopK,
  codes: Uint8Array,
  rows: ArrayLike<number>,
  m: number,
  table: Float32Array,
  idBase = 0,
  dead: Uint8Array | null = null,
): void {
  const all = Array.from(rows, (r) => ({ id: r + idBase, d: adcDistanceF32(codes, r, codeShape(m, 256), table) })).filter(
    (x) => dead === null || dead[x.id] === 0,
  );
  all.sort((a, b) => a.d - b.d || a.id - b.id);
  const want = all.slice(0, got.k);
  const g = got.drainSorted();
  expect(Array.from(g.ids)).toEqual(want.map((x) => x.id));
  expect(Array.from(g.dist)).toEqual(want.map((x) => x.d));
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe('WebAssembly ADC scan kernels', () => {
  it('allocate codes in an arena of shared memory', () => {
    const codes = allocateCodes(1000, 16);
    expect(codes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(codes.length).toBe(1000);
    expect(arenaOf(codes)).not.toBeNull();
    expect(arenaOf(new Uint8Array(new SharedArrayBuffer(16)))).toBeNull();
  });

  // m: unrolled words, a tail of single bytes (3, 7, 13), the common sizes; nq: one, groups of 4 and 8 with padding lanes.
  for (const m of [3, 4, 7, 8, 13, 16, 32]) {
    it(`equals the reference scan, consecutive rows, m = ${m}, 1–13 queries`, () => {
      const n = 2_345;
      const { codes, tables, arena } = setup(n, m, 13, 100 + m);
      for (const nq of [1, 3, 4, 5, 8, 13]) {
        for (const k of [1, 10, 300]) {
          for (const [start, end] of [
            [0, n],
            [17, 1_999],
          ]) {
            const heaps = Array.from({ length: nq }, () => new TopK(k));
            const done = kernelScan({ arena, codes, m, start, end, rows: null, nq, tableOf: (q, out) => out.set(tables[q]), heaps, idBase: 5 });
            expect(done).toBe(true);
            for (let q = 0; q < nq; q++) expectTopK(heaps[q], codes, range(start, end), m, tables[q], 5);
          }
        }
      }
    });
  }

  for (const m of [5, 8, 16]) {
    it(`equals the reference scan of listed rows, m = ${m} (chunks of listed rows, 1, 4 and 8 lanes)`, () => {
      const n = 9_001;
      const { codes, tables, arena } = setup(n, m, 8, 200 + m);
      const rng = new Rng(m);
      const listed = Int32Array.from(Array.from({ length: n }, (_, r) => r).filter(() => rng.nextFloat() < 0.6));
      for (const nq of [1, 4, 7]) {
        const heaps = Array.from({ length: nq }, () => new TopK(20));
        expect(
          kernelScan({ arena, codes, m, start: 3, end: listed.length - 2, rows: listed, nq, tableOf: (q, out) => out.set(tables[q]), heaps }),
        ).toBe(true);
        for (let q = 0; q < nq; q++) expectTopK(heaps[q], codes, listed.subarray(3, listed.length - 2), m, tables[q]);
      }
    });
  }

  it('offers candidates through the heap, so a heap that excludes rows never holds them', () => {
    const m = 8;
    const n = 5_000;
    const { codes, tables, arena } = setup(n, m, 1, 9);
    const dead = new Uint8Array(n);
    for (let r = 0; r < n; r += 3) dead[r] = 1;
    const heap = new TopK(50, dead);
    kernelScan({ arena, codes, m, start: 0, end: n, rows: null, nq: 1, tableOf: (_, out) => out.set(tables[0]), heaps: [heap] });
    expectTopK(heap, codes, range(0, n), m, tables[0], 0, dead);
  });

  it('eight queries over consecutive rows (quantised tables, exact re-scoring) leave excluded rows out of their selection too', () => {
    const m = 16;
    const n = 6_000;
    const { codes, tables, arena } = setup(n, m, 8, 10);
    // Exclude each query's 300 best rows: were they counted in the quantised top k, the threshold would drop below the rows that remain.
    const dead = new Uint8Array(n);
    for (const t of tables) {
      const order = range(0, n).sort((a, b) => adcDistanceF32(codes, a, codeShape(m, 256), t) - adcDistanceF32(codes, b, codeShape(m, 256), t));
      for (const r of order.slice(0, 300)) dead[r] = 1;
    }
    const heaps = Array.from({ length: 8 }, () => new TopK(30, dead));
    kernelScan({ arena, codes, m, start: 0, end: n, rows: null, nq: 8, tableOf: (q, out) => out.set(tables[q]), heaps });
    for (let q = 0; q < 8; q++) expectTopK(heaps[q], codes, range(0, n), m, tables[q], 0, dead);
  });

  it('ranks as the float64 reference scan but for near-ties, distances within float32 rounding', () => {
    const m = 16;
    const n = 3_000;
    const { codes, tables, arena } = setup(n, m, SCAN_SLOTS, 77); // a table per slot: a kernel reading another slot's would find a stale one
    const heap = new TopK(100);
    kernelScan({ arena, codes, m, start: 0, end: n, rows: null, nq: 1, tableOf: (_, out) => out.set(tables[0]), heaps: [heap] });
    const want = new TopK(100);
    adcScan(codes, 0, n, codeShape(m, 256), tables[0], want);
    const g = heap.drainSorted();
    const w = want.drainSorted();
    for (let i = 0; i < 100; i++) expect(Math.abs(g.dist[i] - w.dist[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w.dist[i])));
    expect(new Set(g.ids).size).toBe(100);
  });

  it('declines when every slot is busy (the caller scans with the reference), and runs again once a holder is released', () => {
    const m = 8;
    const { codes, tables, arena } = setup(100, m, 1, 3);
    const locks = new Int32Array(arena.memory.buffer, 16, SCAN_SLOTS);
    locks.fill(42); // every slot held by "thread 41"
    const scan = () =>
      kernelScan({ arena, codes, m, start: 0, end: 100, rows: null, nq: 1, tableOf: (_, out) => out.set(tables[0]), heaps: [new TopK(5)] });
    expect(scan()).toBe(false);
    releaseSlotsOf(41);
    expect(Array.from(locks)).toEqual(new Array(SCAN_SLOTS).fill(0));
    expect(scan()).toBe(true);
    expect(Array.from(locks)).toEqual(new Array(SCAN_SLOTS).fill(0)); // released after the scan
  });

  it("runs in whichever slot is free: each slot's single-query kernels read that slot's table (an immediate address)", () => {
    const m = 13;
    const n = 1_500;
    const { codes, tables, arena } = setup(n, m, SCAN_SLOTS, 77); // a table per slot: a kernel reading another slot's would find a stale one
    const locks = new Int32Array(arena.memory.buffer, 16, SCAN_SLOTS);
    const listed = Int32Array.from(range(0, n).filter((r) => r % 3 !== 1));
    for (let free = 0; free < SCAN_SLOTS; free++) {
      locks.fill(42);
      locks[free] = 0; // only this slot can be claimed
      const seq = new TopK(15);
      const byList = new TopK(15);
      const tableOf = (_: number, out: Float32Array) => out.set(tables[free]);
      expect(kernelScan({ arena, codes, m, start: 0, end: n, rows: null, nq: 1, tableOf, heaps: [seq] })).toBe(true);
      expect(kernelScan({ arena, codes, m, start: 0, end: listed.length, rows: listed, nq: 1, tableOf, heaps: [byList] })).toBe(true);
      expectTopK(seq, codes, range(0, n), m, tables[free]);
      expectTopK(byList, codes, listed, m, tables[free]);
    }
    locks.fill(0);
  });

  it('declines codes outside an arena', () => {
    const codes = new Uint8Array(new SharedArrayBuffer(64));
    const { arena } = setup(8, 8, 1, 1);
    expect(kernelScan({ arena, codes, m: 8, start: 0, end: 8, rows: null, nq: 1, tableOf: () => {}, heaps: [new TopK(1)] })).toBe(false);
  });
});
