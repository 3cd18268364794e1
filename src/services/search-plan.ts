/**
 * How a query searches, chosen per request from the index and, for a filter,
 * from how many rows it lets through (counted exactly: the match mask is
 * computed before the search). Pure: the service asks, tests call it directly.
 *
 * - exact: an untrained collection; exact distances of the eligible rows.
 * - flat-scan: a flat index scans every code, with the skip map of deleted
 *   rows (and of a filter that lets through FLAT_ROWS_BELOW of the rows or more).
 * - flat-rows: a flat index with a filter reads only the codes of the eligible
 *   rows, listed once with the filter's skip map: no byte read, branch or ADC
 *   sum for the rows it leaves out, so the narrower the filter, the cheaper.
 * - ivf-probe: an IVF index without a filter (or with one every live row
 *   passes) visits the nprobe nearest cells (more until k × rerank are found)
 *   and scans their codes.
 * - ivf-rows: a filtered query on an IVF index visits cells nearest first
 *   until they held `target` = max(PROBE_ELIGIBLE_SHARE, s²) × nprobe × (live /
 *   nlist) eligible rows for a filter of selectivity s: a set share of what an
 *   unfiltered query sees (fewer suffice, since the filtered top k competes
 *   with fewer vectors; the constant says what was measured), and never fewer
 *   than s × nprobe cells hold, so a filter that lets nearly everything
 *   through visits nearly the unfiltered cells. Counted in the cells the query
 *   actually visits, so a filter whose rows cluster in some cells is served as
 *   well as one spread evenly. It scores only the eligible rows
 *   (IVFSearcher.searchRows over the eligible slots the service keeps with the
 *   filter's mask), cell by cell one by one or with a scan of the whole cell,
 *   whichever is cheaper: the narrower the filter, the fewer rows it reads,
 *   down to every eligible row of every cell. Like a probe it runs each query
 *   on one worker: splitting the cells would repeat the query's coarse costs
 *   and terms on each (Fashion-MNIST at 1 %: 1.98 ms per query split over two
 *   workers, 1.45 on one).
 * - exact-rows: a filter that lets through few rows is answered exactly: the
 *   workers read the eligible rows' stored vectors (as re-ranking reads its
 *   candidates) and keep the k nearest. Chosen when the eligible rows are no
 *   more than the k × rerank candidates a query re-ranks anyway (the ADC pass
 *   would only have ordered rows that all get re-ranked), or when scoring
 *   them exactly costs less than the cell tables the filtered IVF query would
 *   build (LOPQ: a d × d rotation per visited cell; EXACT_ROW_WORK), within
 *   the request's budget of stored vectors read (maxCandidates).
 */
import { EXACT_ROW_WORK, FLAT_ROWS_BELOW, PROBE_ELIGIBLE_SHARE, SKIP_FIRST_BELOW } from '../tunables.js';
import { effectiveNprobe } from './training-plan.js';

export type SearchStrategy = 'exact' | 'flat-scan' | 'flat-rows' | 'ivf-probe' | 'ivf-rows' | 'exact-rows';

export interface SearchPlan {
  strategy: SearchStrategy;
  /** IVF: the nearest cells an unfiltered query visits (more until k are found); null otherwise. */
  nprobe: number | null;
  /** ivf-rows: eligible rows its cells must hold before it stops (see above); null otherwise. */
  target: number | null;
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
  /** Rows each query re-ranks by exact distance: k × rerank (k without re-ranking). */
  candidates: number;
  /** Stored vectors one query may read: the request's maxCandidates over its queries. */
  maxExactRows: number;
  /** IVF: multiply-adds of one visited cell's own table (codec.cellWork; 0 when cells share the query's terms). */
  cellWork?: number;
}

export function planSearch(p: PlanInput): SearchPlan {
  const skipFirst = p.eligible < SKIP_FIRST_BELOW * p.rows;
  if (p.index === 'exact') return { strategy: 'exact', nprobe: null, target: null, skipFirst: true };
  if (p.index === 'flat') {
    if (p.filtered && exactRows(p, 0)) return { strategy: 'exact-rows', nprobe: null, target: null, skipFirst: true };
    const listed = p.filtered && p.eligible < FLAT_ROWS_BELOW * p.rows;
    return { strategy: listed ? 'flat-rows' : 'flat-scan', nprobe: null, target: null, skipFirst };
  }
  const nlist = p.nlist ?? 1;
  const nprobe = effectiveNprobe(nlist, p.nprobe);
  if (!p.filtered || p.eligible >= p.live) return { strategy: 'ivf-probe', nprobe, target: null, skipFirst };
  // Never fewer rows than s × nprobe cells hold (s² × the unfiltered rows): as a
  // filter lets nearly every row through, the query nears the unfiltered probe.
  const s = p.eligible / Math.max(1, p.live);
  const target = Math.max(1, Math.round((Math.max(PROBE_ELIGIBLE_SHARE, s * s) * nprobe * p.live) / nlist));
  // Cells holding eligible rows that the query visits to find `target` of
  // them, were the eligible rows spread evenly over the cells.
  const cells = Math.min(nlist, p.eligible, Math.ceil((target * nlist) / Math.max(1, p.eligible)));
  if (exactRows(p, cells * (p.cellWork ?? 0))) return { strategy: 'exact-rows', nprobe: null, target: null, skipFirst: true };
  return { strategy: 'ivf-rows', nprobe, target, skipFirst };
}

/** Whether scoring a filter's eligible rows exactly beats the approximate pass (`work`: what its tables cost beyond the query's own). */
function exactRows(p: PlanInput, work: number): boolean {
  if (p.eligible > p.maxExactRows) return false;
  return p.eligible <= p.candidates || p.eligible * EXACT_ROW_WORK <= work;
}
