import { describe, expect, it } from 'vitest';
import {
  baselineSetting,
  calibratedDefaults,
  calibrationDue,
  calibrationGrid,
  chooseSetting,
  requiredRecall,
  settingForTarget,
} from '../../src/services/calibration.js';
import type { Calibration, MeasuredSetting } from '../../src/store/store.js';
import { CALIBRATION_MARGIN, DEFAULT_RERANK } from '../../src/tunables.js';

const m = (rerank: number, nprobe: number | null, recall: number, msPerQuery: number): MeasuredSetting => ({ rerank, nprobe, recall, msPerQuery });

function calibration(over: Partial<Calibration> = {}): Calibration {
  const grid = [m(0, null, 0.6, 1), m(1, null, 0.8, 1.2), m(2, null, 0.93, 1.5), m(4, null, 0.97, 2)];
  return {
    state: 'succeeded',
    progress: 1,
    target: { recall: 0.9, k: 10 },
    codecVersion: 3,
    vectors: 1000,
    queries: 200,
    required: 0.91,
    met: true,
    chosen: grid[2],
    baseline: grid[3],
    grid,
    startedAt: 't0',
    finishedAt: 't1',
    error: null,
    ...over,
  };
}

describe('calibration decisions', () => {
  it('measures rerank factors per nprobe: one row for a flat index, powers of two up to nlist for IVF, within the limits', () => {
    const flat = calibrationGrid(null, 10, { maxRerank: 100, maxCandidates: 1_000_000 });
    expect(flat).toHaveLength(1);
    expect(flat[0].map((s) => s.rerank)).toEqual([0, 1, 2, 4, 8, 16, 32, 64, 100]);
    expect(flat[0].every((s) => s.nprobe === null)).toBe(true);
    const ivf = calibrationGrid(48, 10, { maxRerank: 16, maxCandidates: 100 });
    expect(ivf.map((row) => row[0].nprobe)).toEqual([1, 2, 4, 8, 16, 32, 48]);
    // k × rerank ≤ maxCandidates and rerank ≤ maxRerank.
    expect(ivf[0].map((s) => s.rerank)).toEqual([0, 1, 2, 4, 8]);
    expect(baselineSetting(null)).toEqual({ rerank: DEFAULT_RERANK, nprobe: null });
    expect(baselineSetting(256).nprobe).toBe(16);
  });

  it('picks the cheapest setting at or above target + margin; else the closest, and says the target was not met', () => {
    expect(requiredRecall(0.9)).toBeCloseTo(0.9 + CALIBRATION_MARGIN);
    expect(requiredRecall(0.999)).toBe(1);
    const grid = [m(4, 1, 0.95, 3), m(0, 8, 0.96, 2.5), m(1, 4, 0.92, 1), m(2, 2, 0.5, 0.5)];
    expect(chooseSetting(grid, 0.93)).toEqual({ met: true, chosen: grid[1] });
    expect(chooseSetting(grid, 0.99)).toEqual({ met: false, chosen: grid[1] });
    expect(chooseSetting([], 0.5)).toEqual({ met: false, chosen: null });
  });

  it('gives query defaults only from a succeeded calibration of the active codec', () => {
    expect(calibratedDefaults(calibration(), 3)).toEqual({ rerank: 2, nprobe: null });
    expect(calibratedDefaults(calibration(), 4)).toBeNull(); // retrained since
    expect(calibratedDefaults(calibration({ state: 'running' }), 3)).toBeNull();
    expect(calibratedDefaults(null, 3)).toBeNull();
  });

  it("resolves a query's own target against the measurements, with a warning when none reaches it", () => {
    expect(settingForTarget(calibration(), 3, 0.7)).toEqual({ setting: { rerank: 1, nprobe: null }, warning: null });
    const far = settingForTarget(calibration(), 3, 0.99);
    expect(far?.setting).toEqual({ rerank: 4, nprobe: null });
    expect(far?.warning).toMatch(/no measured setting reaches targetRecall 0.99 .*rerank 4.*0\.970/);
    expect(settingForTarget(calibration(), 4, 0.7)).toBeNull();
  });

  it('is due after a training, after growth, after a change of target or an interrupted run; a failed one again only after growth', () => {
    const target = { recall: 0.9, k: 10 };
    expect(calibrationDue(target, null, { codecVersion: 3, live: 10 })).toBe(true);
    expect(calibrationDue(null, null, { codecVersion: 3, live: 10 })).toBe(false);
    expect(calibrationDue(target, null, { codecVersion: null, live: 10 })).toBe(false); // untrained
    expect(calibrationDue(target, calibration(), { codecVersion: 3, live: 1999 })).toBe(false);
    expect(calibrationDue(target, calibration(), { codecVersion: 3, live: 2000 })).toBe(true); // grown 2×
    expect(calibrationDue({ ...target, recalibrateAfterGrowth: 1.5 }, calibration(), { codecVersion: 3, live: 1500 })).toBe(true);
    expect(calibrationDue(target, calibration(), { codecVersion: 4, live: 1000 })).toBe(true);
    expect(calibrationDue({ recall: 0.95, k: 10 }, calibration(), { codecVersion: 3, live: 1000 })).toBe(true);
    // Stored as running: a process ended during it.
    expect(calibrationDue(target, calibration({ state: 'running' }), { codecVersion: 3, live: 1000 })).toBe(true);
    expect(calibrationDue(target, calibration({ state: 'failed' }), { codecVersion: 3, live: 1000 })).toBe(false);
    expect(calibrationDue(target, calibration({ state: 'failed' }), { codecVersion: 3, live: 2000 })).toBe(true);
    expect(calibrationDue(target, calibration({ state: 'failed' }), { codecVersion: 4, live: 1000 })).toBe(true);
  });
});
