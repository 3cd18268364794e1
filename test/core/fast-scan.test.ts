import { describe, expect, it } from 'vitest';
import { adcScan } from '../../src/core/adc.js';
import { BLOCK_ROWS, blockCount, codeShape, packCodes, readBlocked, writeBlocked } from '../../src/core/code-layout.js';
import { LUT_MAX, blockSums, blockedScanRows, fastScanReference, quantizeTable } from '../../src/core/fast-scan.js';
import { Rng } from '../../src/core/rng.js';
import { TopK } from '../../src/core/topk.js';
import { FastScanSession } from '../../src/core/wasm/fast-scan.js';
import { allocateCodes, arenaOf } from '../../src/core/wasm/scan.js';

/** n random packed rows of m 4-bit codes: row-major, and blocked in a code arena. */
function packedRows(n: number, m: number, rng: Rng): { rowMajor: Uint8Array; blocked: Uint8Array } {
  const unpacked = Uint8Array.from({ length: n * m }, () => rng.nextInt(16));
  const rowMajor = packCodes(unpacked, n, m);
  const bytes = (m + 1) >> 1;
  const blocked = allocateCodes(blockCount(n) * BLOCK_ROWS * bytes, bytes);
  writeBlocked(rowMajor, n, bytes, blocked, 0);
  return { rowMajor, blocked };
}

type TableKind = 'uniform' | 'ties' | 'flat' | 'skewed';

function randomTable(m: number, kind: TableKind, rng: Rng): Float32Array {
  const t = new Float32Array(m * 16);
  for (let i = 0; i < t.length; i++) {
    if (kind === 'uniform') t[i] = rng.nextFloat() * 10;
    else if (kind === 'ties')
      t[i] = rng.nextInt(3); // many equal sums
    else if (kind === 'flat')
      t[i] = 2.5; // every range 0
    else t[i] = (i < 16 ? 1000 : 1) * rng.nextFloat(); // one sub-space dominates the scale
  }
  return t;
}

const drain = (h: TopK): { ids: number[]; dist: number[] } => {
  const r = h.drainSorted();
  return { ids: Array.from(r.ids), dist: Array.from(r.dist) };
};

describe('blocked layout of packed codes', () => {
  it('holds byte p of 32 consecutive rows side by side and reads back row-major', () => {
    const rng = new Rng(3);
    for (const m of [2, 5, 16]) {
      const n = 100;
      const { rowMajor, blocked } = packedRows(n, m, rng);
      const bytes = (m + 1) >> 1;
      expect(readBlocked(blocked, 0, n, bytes)).toEqual(rowMajor);
      expect(readBlocked(blocked, 33, 40, bytes)).toEqual(rowMajor.subarray(33 * bytes, 73 * bytes));
      // Row 37, byte 1 sits in block 1, after block 1's byte 0 of all 32 rows.
      if (bytes > 1) expect(blocked[BLOCK_ROWS * bytes + BLOCK_ROWS + 5]).toBe(rowMajor[37 * bytes + 1]);
    }
  });
});

describe('4-bit fast scan', () => {
  it('quantises each sub-space from its minimum with one scale: the widest range becomes LUT_MAX', () => {
    const rng = new Rng(11);
    const m = 5;
    const table = randomTable(m, 'skewed', rng);
    const lut = new Uint8Array(3 * 32);
    quantizeTable(table, codeShape(m, 16, true), lut);
    for (let j = 0; j < m; j++) {
      const row = Array.from(lut.subarray(j * 16, j * 16 + 16));
      expect(Math.min(...row)).toBe(0);
      expect(Math.max(...row)).toBeLessThanOrEqual(LUT_MAX);
    }
    expect(Math.max(...Array.from(lut.subarray(0, 16)))).toBe(LUT_MAX); // sub-space 0 is the widest
    expect(Array.from(lut.subarray(80, 96))).toEqual(new Array(16).fill(0)); // the missing sub-space 5
  });

  it('kernel and reference return exactly the plain ADC scan: same rows, same distances', () => {
    const rng = new Rng(2024);
    for (const m of [1, 3, 8, 16, 32, 33]) {
      const n = 3000 + m; // not a multiple of 32
      const { rowMajor, blocked } = packedRows(n, m, rng);
      const shape = codeShape(m, 16, true);
      const arena = arenaOf(blocked)!;
      expect(arena).not.toBeNull();
      const dead = Uint8Array.from({ length: n }, () => (rng.nextFloat() < 0.2 ? 1 : 0));
      const session = FastScanSession.open(arena, blocked, shape)!;
      expect(session).not.toBeNull();
      try {
        for (const kind of ['uniform', 'ties', 'flat', 'skewed'] as const) {
          for (const [k, start, end] of [
            [1, 0, n],
            [10, 0, n],
            [100, 0, n],
            [10, 45, 2011], // unaligned range: rows of its first and last blocks outside it are left out
            [50, 64, 96],
          ]) {
            const table = randomTable(m, kind, rng);
            const want = new TopK(k, dead);
            adcScan(rowMajor, start, end, shape, table, want);
            const kernel = new TopK(k);
            session.search(start, end, table, kernel, dead);
            const reference = new TopK(k);
            fastScanReference(blocked, start, end, shape, table, reference, dead);
            const w = drain(want);
            expect(drain(kernel), `m=${m} ${kind} k=${k} [${start}, ${end})`).toEqual(w);
            expect(drain(reference), `m=${m} ${kind} k=${k} [${start}, ${end})`).toEqual(w);
          }
        }
      } finally {
        session.close();
      }
    }
  });

  it('stays exact where uint16 sums could overflow (m > 516: smaller table entries) and where float64 rounding ties rows', () => {
    // m = 600, every sub-space's entry equal to its code: rows of code 15 would sum past 65,535 at entries up to 127.
    const m = 600;
    const n = 40;
    const unpacked = Uint8Array.from({ length: n * m }, (_, i) => (Math.floor(i / m) % 2 === 0 ? 8 : 15));
    for (let j = 0; j < m; j++) unpacked[7 * m + j] = j % 2 === 0 ? 8 : 9; // row 7: a little above the rows of 8s
    const wide = codeShape(m, 16, true);
    const table = Float32Array.from({ length: m * 16 }, (_, i) => i % 16);
    const rowMajor = packCodes(unpacked, n, m);
    const blocked = new Uint8Array(blockCount(n) * BLOCK_ROWS * 300);
    writeBlocked(rowMajor, n, 300, blocked, 0);
    for (const k of [1, 21]) {
      const want = new TopK(k);
      adcScan(rowMajor, 0, n, wide, table, want);
      const got = new TopK(k);
      fastScanReference(blocked, 0, n, wide, table, got, null);
      expect(drain(got), `k=${k}`).toEqual(drain(want));
    }
    // Far from the data: sub-space 0 costs 1e12 whatever the code, so 3e-5 more in sub-space 1 vanishes in the float64 sum
    // and rows 0 and 1 tie; plain ADC keeps row 0 (the smaller row), and so must the fast scan.
    const two = codeShape(2, 16, true);
    const far = Float32Array.from({ length: 32 }, (_, i) => (i < 16 ? 1e12 : (i - 16) * 1e-5));
    const tie = packCodes(Uint8Array.from([0, 3, 0, 0]), 2, 2);
    const tieBlocked = new Uint8Array(BLOCK_ROWS);
    writeBlocked(tie, 2, 1, tieBlocked, 0);
    const want = new TopK(1);
    adcScan(tie, 0, 2, two, far, want);
    const got = new TopK(1);
    fastScanReference(tieBlocked, 0, 2, two, far, got, null);
    expect(drain(got)).toEqual(drain(want));
  });

  it('re-scores only rows near the k-th quantised sum, not the whole scan', () => {
    const rng = new Rng(8);
    const m = 16;
    const n = 20_000;
    // Clustered codes: most rows far from the query, a few near.
    const unpacked = new Uint8Array(n * m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) unpacked[i * m + j] = i % 100 === 0 ? rng.nextInt(2) : 8 + rng.nextInt(8);
    const rowMajor = packCodes(unpacked, n, m);
    const blocked = allocateCodes(blockCount(n) * BLOCK_ROWS * 8, 8);
    writeBlocked(rowMajor, n, 8, blocked, 0);
    const table = new Float32Array(m * 16);
    for (let j = 0; j < m; j++) for (let c = 0; c < 16; c++) table[j * 16 + c] = c + rng.nextFloat();
    const heap = new TopK(10);
    const selector = fastScanReference(blocked, 0, n, codeShape(m, 16, true), table, heap, null);
    expect(heap.size).toBe(10);
    expect(selector.candidates).toBeLessThan(n / 50);
  });

  it("block sums (the kernel's reference) add both nibbles' entries of every byte of a row", () => {
    const rng = new Rng(5);
    const m = 31;
    const n = 64;
    const { blocked } = packedRows(n, m, rng);
    const lut = Uint8Array.from({ length: 16 * 32 }, () => rng.nextInt(LUT_MAX + 1));
    const sums = new Uint16Array(32);
    blockSums(blocked, 1, 16, lut, sums);
    // Row 32 + i of block 1, summed by hand from its unpacked codes.
    const rows = readBlocked(blocked, 32, 32, 16);
    for (let i = 0; i < 32; i++) {
      let s = 0;
      for (let p = 0; p < 16; p++) s += lut[p * 32 + (rows[i * 16 + p] & 15)] + lut[p * 32 + 16 + (rows[i * 16 + p] >> 4)];
      expect(sums[i]).toBe(s);
    }
  });

  it('listed rows (a filter) score as the plain scan of those rows', () => {
    const rng = new Rng(9);
    const m = 12;
    const n = 1000;
    const { rowMajor, blocked } = packedRows(n, m, rng);
    const shape = codeShape(m, 16, true);
    const table = randomTable(m, 'uniform', rng);
    const listed = Int32Array.from({ length: n }, (_, r) => r).filter((r) => r % 7 === 3);
    const skip = Uint8Array.from({ length: n }, (_, r) => (r % 7 === 3 ? 0 : 1));
    const want = new TopK(20);
    adcScan(rowMajor, 0, n, shape, table, want, 0, skip);
    const got = new TopK(20);
    blockedScanRows(blocked, listed, 0, listed.length, shape, table, got);
    expect(drain(got)).toEqual(drain(want));
  });
});
