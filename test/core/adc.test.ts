import { describe, expect, it } from 'vitest';
import { adcDistance, adcDistanceF32, adcDistances, adcScan, adcScanRows } from '../../src/core/adc.js';
import { codeShape, packCodes } from '../../src/core/code-layout.js';
import { Rng } from '../../src/core/rng.js';
import { TopK, mergeTopK } from '../../src/core/topk.js';

/** Reference: sort every (distance, row) pair, ties by row. */
function sortAll(dist: Float64Array, skip: Uint8Array | null): number[] {
  const rows = Array.from(dist.keys()).filter((r) => skip === null || skip[r] === 0);
  return rows.sort((a, b) => dist[a] - dist[b] || a - b);
}

function randomCodes(n: number, m: number, ksub: number, rng: Rng): Uint8Array {
  const codes = new Uint8Array(n * m);
  for (let i = 0; i < codes.length; i++) codes[i] = rng.nextInt(ksub);
  return codes;
}

describe('ADC scan', () => {
  const rng = new Rng(5);
  for (const m of [8, 16, 32, 5, 12]) {
    for (const ksub of [256, 16]) {
      it(`top-k equals a full sort of ADC distances (m=${m}, ksub=${ksub})`, () => {
        const n = 3000;
        const codes = randomCodes(n, m, ksub, rng);
        const table = new Float32Array(m * ksub);
        for (let i = 0; i < table.length; i++) table[i] = rng.nextFloat() * 10;
        const shape = codeShape(m, ksub);
        const all = adcDistances(codes, 0, n, shape, table);
        for (let r = 0; r < n; r += 97) {
          let naive = 0;
          for (let j = 0; j < m; j++) naive += table[j * ksub + codes[r * m + j]];
          expect(all[r]).toBeCloseTo(naive, 9);
        }
        for (const k of [1, 10, 100]) {
          const heap = new TopK(k);
          adcScan(codes, 0, n, shape, table, heap);
          const got = heap.drainSorted();
          const want = sortAll(all, null).slice(0, k);
          expect(Array.from(got.ids)).toEqual(want);
          expect(Array.from(got.dist)).toEqual(want.map((r) => all[r]));
        }
      });
    }
  }

  it('breaks ties by the smaller row, skips tombstoned rows, and offsets ids', () => {
    const m = 16;
    const n = 2000;
    const codes = randomCodes(n, m, 256, rng);
    // Integer tables with few values make many exact ties.
    const table = new Float32Array(m * 256);
    for (let i = 0; i < table.length; i++) table[i] = rng.nextInt(3);
    const skip = new Uint8Array(n);
    for (let r = 0; r < n; r += 3) skip[r] = 1;
    const shape = codeShape(m, 256);
    const all = adcDistances(codes, 0, n, shape, table);
    const heap = new TopK(50);
    adcScan(codes, 0, n, shape, table, heap, 0, skip);
    expect(Array.from(heap.drainSorted().ids)).toEqual(sortAll(all, skip).slice(0, 50));
    // A row range with an id base.
    const part = new TopK(5);
    adcScan(codes, 500, 900, shape, table, part, 10_000);
    const want = sortAll(all, null)
      .filter((r) => r >= 500 && r < 900)
      .slice(0, 5)
      .map((r) => r + 10_000);
    expect(Array.from(part.drainSorted().ids)).toEqual(want);
  });

  it('scoring listed rows (adcScanRows) equals a scan that skips the others, bit for bit, word loads or not', () => {
    for (const [m, ksub] of [
      [16, 256],
      [12, 256],
      [5, 256],
      [16, 16],
    ]) {
      const n = 2500;
      const codes = randomCodes(n, m, ksub, rng);
      const table = new Float32Array(m * ksub);
      for (let i = 0; i < table.length; i++) table[i] = rng.nextFloat() * 10;
      const skip = Uint8Array.from({ length: n }, () => (rng.nextFloat() < 0.6 ? 1 : 0));
      const listed = Int32Array.from({ length: n }, (_, r) => r).filter((r) => skip[r] === 0);
      const shape = codeShape(m, ksub);
      const scanned = new TopK(40);
      adcScan(codes, 0, n, shape, table, scanned, 0, skip);
      const rows = new TopK(40);
      // In two parts, as two workers would.
      const half = listed.length >> 1;
      adcScanRows(codes, listed, 0, half, shape, table, rows);
      adcScanRows(codes, listed, half, listed.length, shape, table, rows);
      const [a, b] = [scanned.drainSorted(), rows.drainSorted()];
      expect(Array.from(b.ids), `m=${m} ksub=${ksub}`).toEqual(Array.from(a.ids));
      expect(Array.from(b.dist)).toEqual(Array.from(a.dist));
    }
  });

  it('merging per-range results equals one scan over everything', () => {
    const m = 8;
    const n = 5000;
    const codes = randomCodes(n, m, 256, rng);
    const table = new Float32Array(m * 256);
    for (let i = 0; i < table.length; i++) table[i] = rng.nextFloat();
    const shape = codeShape(m, 256);
    const whole = new TopK(20);
    adcScan(codes, 0, n, shape, table, whole);
    const parts = [0, 1234, 3000, n].slice(0, -1).map((s, i, arr) => {
      const h = new TopK(20);
      adcScan(codes, s, i + 1 < arr.length ? arr[i + 1] : n, shape, table, h);
      return h.drainSorted();
    });
    const merged = mergeTopK(parts, 20);
    const w = whole.drainSorted();
    expect(Array.from(merged.ids)).toEqual(Array.from(w.ids));
    expect(adcDistance(codes, merged.ids[0], shape, table)).toBe(w.dist[0]);
  });

  it('packed 4-bit codes (two per byte) score as their byte codes, bit for bit, for odd and even m', () => {
    for (const m of [1, 3, 4, 7, 8, 16, 33]) {
      const n = 700;
      const codes = randomCodes(n, m, 16, rng);
      const packed = packCodes(codes, n, m);
      expect(packed.length).toBe(n * ((m + 1) >> 1));
      const table = new Float32Array(m * 16);
      for (let i = 0; i < table.length; i++) table[i] = rng.nextFloat() * 10;
      const bytes = codeShape(m, 16);
      const nibbles = codeShape(m, 16, true);
      const want = adcDistances(codes, 0, n, bytes, table);
      expect(Array.from(adcDistances(packed, 0, n, nibbles, table)), `m=${m}`).toEqual(Array.from(want));
      for (let r = 0; r < n; r += 37) expect(adcDistanceF32(packed, r, nibbles, table)).toBe(adcDistanceF32(codes, r, bytes, table));
      const skip = Uint8Array.from({ length: n }, () => (rng.nextFloat() < 0.3 ? 1 : 0));
      const [a, b] = [new TopK(25), new TopK(25)];
      adcScan(codes, 0, n, bytes, table, a, 0, skip);
      adcScan(packed, 0, n, nibbles, table, b, 0, skip);
      expect(Array.from(b.drainSorted().ids)).toEqual(Array.from(a.drainSorted().ids));
    }
  });
});

describe('TopK', () => {
  it('keeps the k smallest by (distance, id) whatever the insertion order', () => {
    const rng = new Rng(8);
    const pairs = Array.from({ length: 500 }, (_, i) => ({ d: rng.nextInt(50), id: i }));
    const shuffled = [...pairs].sort(() => rng.nextFloat() - 0.5);
    const heap = new TopK(37);
    for (const p of shuffled) heap.push(p.d, p.id);
    const want = [...pairs].sort((a, b) => a.d - b.d || a.id - b.id).slice(0, 37);
    const got = heap.drainSorted();
    expect(Array.from(got.ids)).toEqual(want.map((p) => p.id));
    expect(heap.size).toBe(0);
  });

  it('returns fewer than k when fewer were offered', () => {
    const heap = new TopK(10);
    heap.push(3, 1);
    heap.push(1, 2);
    expect(heap.threshold()).toBe(Infinity);
    expect(Array.from(heap.drainSorted().ids)).toEqual([2, 1]);
    expect(() => new TopK(0)).toThrow(RangeError);
  });
});
