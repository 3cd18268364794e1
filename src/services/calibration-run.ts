/**
 * A calibration's measurements (services/calibration.ts decides from them):
 * the index's search of the sample queries under each setting of the grid,
 * recall against the exact neighbours and wall time per query. The service
 * supplies the searches (run in the pool's background scope, so queries go
 * first); this walks the grid. Each row of the grid (one nprobe) stops at its
 * first setting that reaches the required recall: larger reranks only cost more.
 */
import type { Neighbours } from '../pool/compute-pool.js';
import type { Calibration, MeasuredSetting, SearchSetting, TargetRecallConfig } from '../store/store.js';
import { CALIBRATION_QUERIES } from '../tunables.js';
import { chooseSetting } from './calibration.js';
import { recallAgainstExact } from './evaluation.js';

/** What a calibration needs of the service (each call bound to the calibration's abort signal). */
export interface CalibrationDeps {
  /** `count` stored vectors drawn as queries (fewer when the collection holds fewer), and their rows. */
  storedQueries(count: number): Promise<{ q: Float32Array; nq: number; self: Int32Array }>;
  /** The exact k + 1 nearest of each query. */
  exact(q: Float32Array, nq: number): Promise<Neighbours[]>;
  /** The index's k + 1 nearest of each query under a setting. */
  search(q: Float32Array, nq: number, setting: SearchSetting): Promise<Neighbours[]>;
}

/** A calibration about to run. */
export function newCalibration(target: TargetRecallConfig, codecVersion: number, vectors: number, required: number): Calibration {
  return {
    state: 'running',
    progress: 0,
    target: { recall: target.recall, k: target.k },
    codecVersion,
    vectors,
    queries: 0,
    required,
    met: null,
    chosen: null,
    baseline: null,
    grid: [],
    startedAt: new Date().toISOString(),
    finishedAt: null,
    error: null,
  };
}

/** Runs a calibration, filling `c` as it goes (progress, the settings measured) and at the end (chosen, state succeeded); throws on failure. */
export async function runCalibration(c: Calibration, grid: SearchSetting[][], baseline: SearchSetting, deps: CalibrationDeps): Promise<void> {
  const { q, nq, self } = await deps.storedQueries(CALIBRATION_QUERIES);
  c.queries = nq;
  const exact = await deps.exact(q, nq);
  const total = grid.reduce((s, row) => s + row.length, 0);
  const probe: CalibrationProbe = { nq, self, exact, search: (setting) => deps.search(q, nq, setting) };
  const measured = await measureGrid(grid, baseline, c.target.k, c.required, probe, (sofar) => {
    c.grid = [...sofar];
    c.progress = Math.min(0.99, sofar.length / Math.max(1, total));
  });
  Object.assign(c, chooseSetting(measured.grid, c.required), {
    grid: measured.grid,
    baseline: measured.baseline,
    state: 'succeeded',
    progress: 1,
    finishedAt: new Date().toISOString(),
  });
}

export interface CalibrationProbe {
  /** Sample queries (nq × d) and each one's own row, left out of its results. */
  nq: number;
  self: Int32Array;
  /** The exact k + 1 nearest of each query. */
  exact: Neighbours[];
  /** The index's k + 1 nearest of each query under a setting. */
  search(setting: SearchSetting): Promise<Neighbours[]>;
}

/** Measures the grid (and the baseline setting, if the grid did not reach it); onMeasured after each setting. */
export async function measureGrid(
  grid: SearchSetting[][],
  baseline: SearchSetting,
  k: number,
  required: number,
  probe: CalibrationProbe,
  onMeasured: (measured: MeasuredSetting[]) => void,
): Promise<{ grid: MeasuredSetting[]; baseline: MeasuredSetting }> {
  const measured: MeasuredSetting[] = [];
  const measure = async (setting: SearchSetting): Promise<MeasuredSetting> => {
    const t0 = performance.now();
    const found = await probe.search(setting);
    const msPerQuery = (performance.now() - t0) / probe.nq;
    return { ...setting, recall: recallAgainstExact(probe.exact, found, probe.self, k).recallAtK, msPerQuery };
  };
  for (const row of grid) {
    for (const setting of row) {
      const m = await measure(setting);
      measured.push(m);
      onMeasured(measured);
      if (m.recall >= required) break;
    }
  }
  const same = measured.find((m) => m.rerank === baseline.rerank && m.nprobe === baseline.nprobe);
  return { grid: measured, baseline: same ?? (await measure(baseline)) };
}
