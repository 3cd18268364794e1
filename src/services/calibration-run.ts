/**
 * A calibration's measurements (services/calibration.ts decides from them):
 * the index's search of the sample queries under each setting of the grid,
 * recall against the exact neighbours and wall time per query. The service
 * supplies the searches (run in the pool's background scope, so queries go
 * first); this walks the grid. Each row of the grid (one nprobe) stops at its
 * first setting that reaches the required recall: larger reranks only cost more.
 */
import type { Neighbours } from '../pool/compute-pool.js';
import type { MeasuredSetting, SearchSetting } from '../store/store.js';
import { recallAgainstExact } from './evaluation.js';

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
