import { describe, expect, it } from 'vitest';
import { planSearch } from '../../src/services/search-plan.js';

const ivf = { index: 'ivf' as const, rows: 60_000, live: 60_000, nlist: 256 };

describe('search plan', () => {
  it('untrained: exact; flat with a narrow filter: its eligible rows', () => {
    expect(planSearch({ index: 'exact', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
      strategy: 'exact',
      nprobe: null,
      target: null,
      skipFirst: true,
    });
    expect(planSearch({ index: 'flat', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
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
    expect(planSearch({ ...ivf, eligible: 0, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 1125 });
    // A broad filter nears the unfiltered probe: s² × 3,750 rows at s = 0.9 and 0.999.
    expect(planSearch({ ...ivf, eligible: 54_000, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 3038 });
    expect(planSearch({ ...ivf, eligible: 59_940, filtered: true })).toMatchObject({ strategy: 'ivf-rows', target: 3743 });
    // A filter that lets every live row through is no filter.
    expect(planSearch({ ...ivf, eligible: 60_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 16, target: null, skipFirst: false });
  });

  it('flat: lists the eligible rows of a filter that lets through fewer than FLAT_ROWS_BELOW of the rows, else scans', () => {
    const flat = { index: 'flat' as const, rows: 1000, live: 900 };
    expect(planSearch({ ...flat, eligible: 749, filtered: true }).strategy).toBe('flat-rows');
    expect(planSearch({ ...flat, eligible: 750, filtered: true }).strategy).toBe('flat-scan');
    expect(planSearch({ ...flat, eligible: 900, filtered: false }).strategy).toBe('flat-scan');
  });

  it('looks rows up before their distance when fewer than SKIP_FIRST_BELOW of the scanned rows are eligible', () => {
    expect(planSearch({ index: 'flat', rows: 100, live: 100, eligible: 39, filtered: true }).skipFirst).toBe(true);
    expect(planSearch({ index: 'flat', rows: 100, live: 100, eligible: 40, filtered: true }).skipFirst).toBe(false);
    // Tombstones count like filtered-out rows: half the rows deleted, no filter.
    expect(planSearch({ index: 'flat', rows: 100, live: 30, eligible: 30, filtered: false }).skipFirst).toBe(true);
  });
});
