import { describe, expect, it } from 'vitest';
import { planSearch } from '../../src/services/search-plan.js';
import { EXACT_ROW_WORK } from '../../src/tunables.js';

/** k 10 × rerank 4 candidates, one query under the default maxCandidates. */
const query = { candidates: 40, maxExactRows: 1_000_000 };
const ivf = { ...query, index: 'ivf' as const, rows: 60_000, live: 60_000, nlist: 256 };

describe('search plan', () => {
  it('untrained: exact; flat with a narrow filter: its eligible rows', () => {
    expect(planSearch({ ...query, index: 'exact', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
      strategy: 'exact',
      nprobe: null,
      target: null,
      skipFirst: true,
    });
    expect(planSearch({ ...query, candidates: 0, index: 'flat', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
      strategy: 'flat-rows',
      nprobe: null,
      target: null,
      skipFirst: true,
    });
  });

  it('IVF: probes nprobe cells unfiltered; filtered, scores eligible rows of the nearest cells until they held max(0.3, s²) × nprobe × the average cell', () => {
    expect(planSearch({ ...ivf, eligible: 60_000, filtered: false })).toEqual({ strategy: 'ivf-probe', nprobe: 16, target: null, skipFirst: false });
    // 16 cells of 234.4 rows: 3,750 rows unfiltered, 1,125 eligible ones filtered.
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 16, target: 1125, skipFirst: false });
    expect(planSearch({ ...ivf, eligible: 6000, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 16, target: 1125, skipFirst: true });
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true, nprobe: 100 })).toMatchObject({ nprobe: 100, target: 7031 });
    // Tombstones shrink the average cell.
    expect(planSearch({ ...ivf, live: 30_000, eligible: 600, filtered: true })).toMatchObject({ target: 563 });
    expect(planSearch({ ...ivf, eligible: 41, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 1125 });
    // A broad filter nears the unfiltered probe: s² × 3,750 rows at s = 0.9 and 0.999.
    expect(planSearch({ ...ivf, eligible: 54_000, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 3038 });
    expect(planSearch({ ...ivf, eligible: 59_940, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 3743 });
    // A filter that lets every live row through is no filter.
    expect(planSearch({ ...ivf, eligible: 60_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 16, target: null, skipFirst: false });
  });

  it('flat: lists the eligible rows of a filter that lets through fewer than FLAT_ROWS_BELOW of the rows, else scans', () => {
    const flat = { ...query, index: 'flat' as const, rows: 1000, live: 900 };
    expect(planSearch({ ...flat, eligible: 749, filtered: true }).strategy).toBe('flat-rows');
    expect(planSearch({ ...flat, eligible: 750, filtered: true }).strategy).toBe('flat-scan');
    expect(planSearch({ ...flat, eligible: 900, filtered: false }).strategy).toBe('flat-scan');
  });

  it('looks rows up before their distance when fewer than SKIP_FIRST_BELOW of the scanned rows are eligible', () => {
    expect(planSearch({ ...query, candidates: 0, index: 'flat', rows: 100, live: 100, eligible: 39, filtered: true }).skipFirst).toBe(true);
    expect(planSearch({ ...query, candidates: 0, index: 'flat', rows: 100, live: 100, eligible: 40, filtered: true }).skipFirst).toBe(false);
    // Tombstones count like filtered-out rows: half the rows deleted, no filter.
    expect(planSearch({ ...query, candidates: 0, index: 'flat', rows: 100, live: 30, eligible: 30, filtered: false }).skipFirst).toBe(true);
  });

  it('answers a filter exactly from the stored vectors when it lets through no more rows than a query re-ranks', () => {
    const exactRows = { strategy: 'exact-rows', nprobe: null, target: null, skipFirst: true };
    const flat = { ...query, index: 'flat' as const, rows: 1000, live: 900 };
    expect(planSearch({ ...flat, eligible: 40, filtered: true })).toEqual(exactRows);
    expect(planSearch({ ...flat, eligible: 0, filtered: true })).toEqual(exactRows);
    expect(planSearch({ ...flat, eligible: 41, filtered: true }).strategy).toBe('flat-rows');
    expect(planSearch({ ...ivf, eligible: 40, filtered: true })).toEqual(exactRows);
    expect(planSearch({ ...ivf, eligible: 41, filtered: true }).strategy).toBe('ivf-rows');
    // Unfiltered queries never: the plan has no list of rows to read.
    expect(planSearch({ ...flat, rows: 30, live: 30, eligible: 30, filtered: false }).strategy).toBe('flat-scan');
    // Nor beyond the stored vectors one query may read.
    expect(planSearch({ ...ivf, eligible: 40, maxExactRows: 39, filtered: true }).strategy).toBe('ivf-rows');
  });

  it('IVF cells with their own tables (LOPQ: d² + 256 d each): exact when reading the eligible rows costs less than the cells a query would visit', () => {
    const lopq = { ...ivf, cellWork: 784 * 784 + 256 * 784 };
    // 1 %: 1,125 eligible rows wanted, 600 exist, in up to 256 cells: 256 rotations against 600 rows.
    expect(planSearch({ ...lopq, eligible: 600, filtered: true }).strategy).toBe('exact-rows');
    // Half: 1,125 eligible rows fill ~10 cells; reading 30,000 vectors costs more.
    expect(planSearch({ ...lopq, eligible: 30_000, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 1125 });
    // The crossover: e² × EXACT_ROW_WORK = 1,125 × 256 × cellWork (~3,600 rows, 6 %).
    const e = Math.sqrt((1125 * 256 * lopq.cellWork) / EXACT_ROW_WORK);
    expect(planSearch({ ...lopq, eligible: Math.floor(e * 0.95), filtered: true }).strategy).toBe('exact-rows');
    expect(planSearch({ ...lopq, eligible: Math.ceil(e * 1.05), filtered: true }).strategy).toBe('ivf-rows');
    // The same filter without per-cell tables keeps the IVF pass.
    expect(planSearch({ ...ivf, eligible: 600, filtered: true }).strategy).toBe('ivf-rows');
  });
});
