import { describe, expect, it } from 'vitest';
import { planSearch } from '../../src/services/search-plan.js';

const ivf = { index: 'ivf' as const, live: 60_000, nlist: 256, m: 16, ksub: 256 };

describe('search plan', () => {
  it('untrained: exact; flat: a scan with the skip map, whatever the filter', () => {
    expect(planSearch({ index: 'exact', live: 10, eligible: 1, filtered: true })).toEqual({ strategy: 'exact', nprobe: null });
    expect(planSearch({ index: 'flat', live: 10, eligible: 1, filtered: true })).toEqual({ strategy: 'flat-scan', nprobe: null });
  });

  it('IVF: probes nprobe cells unfiltered, nprobe / selectivity with a broad filter, every row directly with a narrow one', () => {
    expect(planSearch({ ...ivf, eligible: 60_000, filtered: false })).toEqual({ strategy: 'ivf-probe', nprobe: 16 });
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true })).toEqual({ strategy: 'ivf-probe', nprobe: 32 });
    expect(planSearch({ ...ivf, eligible: 30_000, filtered: true, nprobe: 100 })).toEqual({ strategy: 'ivf-probe', nprobe: 200 });
    // 10 %: 160 cells of 4,096-entry tables cost more than 60,000 slot reads and 6,000 × 32 look-ups.
    expect(planSearch({ ...ivf, eligible: 6000, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 256 });
    expect(planSearch({ ...ivf, eligible: 0, filtered: true })).toEqual({ strategy: 'ivf-rows', nprobe: 256 });
  });
});
