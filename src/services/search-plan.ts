/**
 * How a query searches, chosen per request from the index and, for a filter,
 * from how many rows it lets through (counted exactly: the match mask is
 * computed before the search). Pure: the service asks, tests call it directly.
 *
 * - exact: an untrained collection; exact distances of the eligible rows.
 * - flat-scan: a flat index scans every code with the skip map; a row the
 *   filter leaves out costs one byte read instead of an ADC sum, so a narrow
 *   filter makes the scan cheaper, and only eligible rows become candidates.
 * - ivf-probe: an IVF index visits the nprobe nearest cells (more until k × rerank
 *   are found). With a filter of selectivity s, PROBE_ELIGIBLE_SHARE × nprobe / s
 *   cells (at most nlist): about as many eligible rows as an unfiltered query
 *   sees, so recall holds (the constant says what was measured). Where the
 *   skip map is read follows SKIP_FIRST_BELOW, as for a flat scan.
 * - ivf-rows: a selective filter on an IVF index, where those cells would cost
 *   more table building than scoring each eligible row directly
 *   (IVFSearcher.searchRows: 2m look-ups per row, over the eligible slots the
 *   service keeps with the filter's mask). Like a probe it
 *   runs each query on one worker: splitting the cells would repeat the
 *   query's coarse costs and terms on each (Fashion-MNIST at 1 %: 1.98 ms per
 *   query split over two workers, 1.45 on one).
 */
import { PROBE_ELIGIBLE_SHARE, SKIP_FIRST_BELOW } from '../tunables.js';
import { effectiveNprobe } from './training-plan.js';

export type SearchStrategy = 'exact' | 'flat-scan' | 'ivf-probe' | 'ivf-rows';

export interface SearchPlan {
  strategy: SearchStrategy;
  /** IVF: cells probed per query (ivf-probe), or every cell (ivf-rows); null otherwise. */
  nprobe: number | null;
  /** Look rows up in the skip map before their distance (few eligible) or only for candidates (most eligible); see SKIP_FIRST_BELOW. */
  skipFirst: boolean;
}

export interface PlanInput {
  index: 'exact' | 'flat' | 'ivf';
  /** Rows of the index, dead ones included (what a scan walks). */
  rows: number;
  /** Live rows, and those the filter lets through (= live without a filter). */
  live: number;
  eligible: number;
  filtered: boolean;
  /** IVF only. */
  nlist?: number;
  /** The request's nprobe, if any. */
  nprobe?: number;
  /** Code shape: sub-spaces and centroids per sub-space. */
  m?: number;
  ksub?: number;
}

export function planSearch(p: PlanInput): SearchPlan {
  const skipFirst = p.eligible < SKIP_FIRST_BELOW * p.rows;
  if (p.index === 'exact') return { strategy: 'exact', nprobe: null, skipFirst: true };
  if (p.index === 'flat') return { strategy: 'flat-scan', nprobe: null, skipFirst };
  const nlist = p.nlist ?? 1;
  const nprobe = effectiveNprobe(nlist, p.nprobe);
  if (!p.filtered || p.eligible >= p.live) return { strategy: 'ivf-probe', nprobe, skipFirst };
  const s = Math.max(p.eligible, 1) / Math.max(p.live, 1);
  const widened = Math.min(nlist, Math.max(nprobe, Math.ceil((PROBE_ELIGIBLE_SHARE * nprobe) / s)));
  const m = p.m ?? 1;
  const ksub = p.ksub ?? 256;
  // Work in table entries and look-ups: a probed cell builds an m × ksub table;
  // scoring rows directly reads 2m entries per eligible row (their slots are
  // listed once per filter and lists layout, so that walk is not per query).
  const probeCost = widened * m * ksub;
  const rowsCost = 2 * m * p.eligible;
  return rowsCost < probeCost ? { strategy: 'ivf-rows', nprobe: nlist, skipFirst: true } : { strategy: 'ivf-probe', nprobe: widened, skipFirst };
}
