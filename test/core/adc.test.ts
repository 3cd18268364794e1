import { describe, expect, it } from 'vitest';
import { adcDistance, adcDistances, adcScan, adcScanRows } from '../../src/core/adc.js';
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
        const all = adcDistances(codes, 0, n, m, table, ksub);
        for (let r = 0; r < n; r += 97) {
          let naive = 0;
          for (let j = 0; j < m; j++) naive += table[j * ksub + codes[r * m + j]];
          expect(all[r]).toBeCloseTo(naive, 9);
        }
        for (const k of [1, 10, 100]) {
          const heap = new TopK(k);
          adcScan(codes, 0, n, m, table, ksub, heap);
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
    const all = adcDistances(codes, 0, n, m, table, 256);
    const heap = new TopK(50);
    adcScan(codes, 0, n, m, table, 256, heap, 0, skip);
    expect(Array.from(heap.drainSorted().ids)).toEqual(sortAll(all, skip).slice(0, 50));
    // A row range with an id base.
    const part = new TopK(5);
    adcScan(codes, 500, 900, m, table, 256, part, 10_000);
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
      const scanned = new TopK(40);
      adcScan(codes, 0, n, m, table, ksub, scanned, 0, skip);
      const rows = new TopK(40);
      // In two parts, as two workers would.
      const half = listed.length >> 1;
      adcScanRows(codes, listed, 0, half, m, table, ksub, rows);
      adcScanRows(codes, listed, half, listed.length, m, table, ksub, rows);
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
    const whole = new TopK(20);
    adcScan(codes, 0, n, m, table, 256, whole);
    const parts = [0, 1234, 3000, n].slice(0, -1).map((s, i, arr) => {
      const h = new TopK(20);
      adcScan(codes, s, i + 1 < arr.length ? arr[i + 1] : n, m, table, 256, h);
      return h.drainSorted();
    });
    const merged = mergeTopK(parts, 20);
    const w = whole.drainSorted();
    expect(Array.from(merged.ids)).toEqual(Array.from(w.ids));
    expect(adcDistance(codes, merged.ids[0], m, table, 256)).toBe(w.dist[0]);
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
