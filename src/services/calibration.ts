/**
 * Target-recall calibration, the pure side: which search settings a
 * calibration measures, which one it picks, and what a query then uses. The
 * service measures (calibration-run.ts); this decides. No I/O.
 *
 * A collection may ask for a k-recall@k (`targetRecall`). After each training,
 * and again when the collection has grown by `recalibrateAfterGrowth`, the
 * service measures recall (against exact search, on stored vectors used as
 * queries, each left out of its own results) and time per query over a grid
 * of rerank (and nprobe for IVF), and picks the cheapest setting whose recall
 * reaches the target plus CALIBRATION_MARGIN. That setting becomes the
 * collection's query default; a query may still name its own rerank / nprobe,
 * or its own targetRecall (resolved against the same measurements). When no
 * setting reaches the target the collection says so and uses the closest.
 */
import type { Calibration, MeasuredSetting, SearchSetting, TargetRecallConfig } from '../store/store.js';
import { CALIBRATION_MARGIN, CALIBRATION_RERANKS, DEFAULT_RECALIBRATE_GROWTH, DEFAULT_RERANK } from '../tunables.js';
import { effectiveNprobe } from './training-plan.js';

/** The settings to measure, per nprobe (ascending) the reranks (ascending): a row stops at its first setting that reaches the target. */
export function calibrationGrid(nlist: number | null, k: number, limits: { maxRerank: number; maxCandidates: number }): SearchSetting[][] {
  const reranks = CALIBRATION_RERANKS.filter((r) => r <= limits.maxRerank && k * Math.max(1, r) <= limits.maxCandidates);
  const nprobes: (number | null)[] = [];
  if (nlist === null) nprobes.push(null);
  else {
    for (let p = 1; p < nlist; p *= 2) nprobes.push(p);
    nprobes.push(nlist);
  }
  return nprobes.map((nprobe) => reranks.map((rerank) => ({ rerank, nprobe })));
}

/** The setting queries use without calibration. */
export function baselineSetting(nlist: number | null): SearchSetting {
  return { rerank: DEFAULT_RERANK, nprobe: nlist === null ? null : effectiveNprobe(nlist) };
}

/** The recall a setting must reach for a target (capped below 1). */
export function requiredRecall(target: number): number {
  return Math.min(1, target + CALIBRATION_MARGIN);
}

/** The cheapest measured setting reaching `required`, else the one with the highest recall (the cheaper on ties). */
export function chooseSetting(grid: readonly MeasuredSetting[], required: number): { met: boolean; chosen: MeasuredSetting | null } {
  let best: MeasuredSetting | null = null;
  for (const s of grid) if (s.recall >= required && (best === null || s.msPerQuery < best.msPerQuery)) best = s;
  if (best !== null) return { met: true, chosen: best };
  let closest: MeasuredSetting | null = null;
  for (const s of grid) {
    if (closest === null || s.recall > closest.recall || (s.recall === closest.recall && s.msPerQuery < closest.msPerQuery)) closest = s;
  }
  return { met: false, chosen: closest };
}

/** The query defaults a calibration gives: its chosen setting, while the codec it measured is active. */
export function calibratedDefaults(calibration: Calibration | null, codecVersion: number | null): SearchSetting | null {
  if (calibration === null || calibration.state !== 'succeeded' || calibration.chosen === null) return null;
  if (codecVersion === null || calibration.codecVersion !== codecVersion) return null;
  return { rerank: calibration.chosen.rerank, nprobe: calibration.chosen.nprobe };
}

/**
 * A query's own targetRecall, resolved against the collection's calibration:
 * the cheapest setting measured that reaches it plus the margin, else the
 * closest with a warning; null when the collection has no current calibration.
 */
export function settingForTarget(
  calibration: Calibration | null,
  codecVersion: number | null,
  target: number,
): { setting: SearchSetting; warning: string | null } | null {
  if (calibratedDefaults(calibration, codecVersion) === null) return null;
  const c = calibration as Calibration;
  const { met, chosen } = chooseSetting(c.grid, requiredRecall(target));
  if (chosen === null) return null;
  const setting = { rerank: chosen.rerank, nprobe: chosen.nprobe };
  const warning = met
    ? null
    : `no measured setting reaches targetRecall ${target} (${c.target.k}-recall@${c.target.k}); using the closest, rerank ${chosen.rerank}` +
      `${chosen.nprobe === null ? '' : `, nprobe ${chosen.nprobe}`}, measured at ${chosen.recall.toFixed(3)}`;
  return { setting, warning };
}

/**
 * Whether a trained collection with a target recall needs a calibration now,
 * given its last finished one: none yet, another codebook or target, one an
 * older process left running, or grown past recalibrateAfterGrowth × the
 * vectors the last one saw (a failed one is retried by that rule too).
 */
export function calibrationDue(
  target: TargetRecallConfig | null,
  last: Calibration | null,
  state: { codecVersion: number | null; live: number },
): boolean {
  if (target === null || state.codecVersion === null) return false;
  if (last === null || last.state === 'running') return true;
  if (last.codecVersion !== state.codecVersion) return true;
  if (last.target.recall !== target.recall || last.target.k !== target.k) return true;
  const growth = target.recalibrateAfterGrowth ?? DEFAULT_RECALIBRATE_GROWTH;
  return state.live >= growth * Math.max(1, last.vectors);
}
