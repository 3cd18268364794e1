import { describe, expect, it } from 'vitest';
import { planSearch } from '../../src/services/search-plan.js';

const ivf = { index: 'ivf' as const, rows: 60_000, live: 60_000, nlist: 256, m: 16, ksub: 256 };

describe('search plan', () => {
  it('untrained: exact; flat: a scan with the skip map, whatever the filter', () => {
    expect(planSearch({ index: 'exact', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
      strategy: 'exact',
      nprobe: null,
      skipFirst: true,
    });
    expect(planSearch({ index: 'flat', rows: 10, live: 10, eligible: 1, filtered: true })).toEqual({
      strategy: 'flat-scan',
      nprobe: null,
      skipFirst: true,
    });
  });

  it('IVF: probes nprobe cells unfiltered, 0.7 × nprobe / selectivity (at least nprobe) with a broad filter, every row directly with a narrow one', () => {
    expect(planSearch({ ...ivf, eligible: 60_000, filtered: false })).toEqual({ strategy: 'ivf-probe', nprobe: 16, skipFirst: false });
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 23, skipFirst: false });
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true, nprobe: 100 })).toEqual({ strategy: 'ivf-probe', nprobe: 140, skipFirst: false });
    expect(planSearch({ ...ivf, eligible: 20_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 34, skipFirst: true });
    expect(planSearch({ ...ivf, eligible: 50_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 16, skipFirst: false });
    // 10 %: 112 cells of 4,096-entry tables cost more than 6,000 × 32 look-ups.
    expect(planSearch({ ...ivf, eligible: 6000, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 256, skipFirst: true });
    expect(planSearch({ ...ivf, eligible: 0, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 256, skipFirst: true });
  });

  it('looks rows up before their distance when fewer than SKIP_FIRST_BELOW of the scanned rows are eligible', () => {
    expect(planSearch({ index: 'flat', rows: 100, live: 100, eligible: 39, filtered: true }).skipFirst).toBe(true);
    expect(planSearch({ index: 'flat', rows: 100, live: 100, eligible: 40, filtered: true }).skipFirst).toBe(false);
    // Tombstones count like filtered-out rows: half the rows deleted, no filter.
    expect(planSearch({ index: 'flat', rows: 100, live: 30, eligible: 30, filtered: false }).skipFirst).toBe(true);
  });
});
