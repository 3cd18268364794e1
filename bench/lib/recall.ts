/**
 * Recall definitions shared by all benchmarks (same as ../shared/anchors):
 * recall@1 = true nearest neighbour ranked first; 10-recall@10 = |top 10 ∩ true top 10| / 10;
 * recall@100 = true nearest neighbour within the first 100 returned.
 */
export interface RecallSums {
  recall1: number;
  recall10at10: number;
  recall100: number;
  queries: number;
}

export function emptyRecall(): RecallSums {
  return { recall1: 0, recall10at10: 0, recall100: 0, queries: 0 };
}

/** Adds one query's result (ids nearest first) to the sums. gt: the dataset's ground truth rows (gtK per query). */
export function addRecall(sums: RecallSums, ids: ArrayLike<number>, gt: Int32Array, q: number, gtK: number): void {
  const g = q * gtK;
  const nn = gt[g];
  if (ids.length > 0 && ids[0] === nn) sums.recall1++;
  const n100 = Math.min(100, ids.length);
  for (let i = 0; i < n100; i++) {
    if (ids[i] === nn) {
      sums.recall100++;
      break;
    }
  }
  let hits = 0;
  const n10 = Math.min(10, ids.length);
  for (let i = 0; i < n10; i++) {
    for (let t = 0; t < 10; t++) {
      if (ids[i] === gt[g + t]) {
        hits++;
        break;
      }
    }
  }
  sums.recall10at10 += hits / 10;
  sums.queries++;
}

export function finishRecall(s: RecallSums): { recall1: number; recall10at10: number; recall100: number } {
  return { recall1: s.recall1 / s.queries, recall10at10: s.recall10at10 / s.queries, recall100: s.recall100 / s.queries };
}
