/** Console output shared by the benchmarks. */
import { availableParallelism, cpus, totalmem } from 'node:os';

/** The p-th percentile of ascending values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function machineSummary(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

interface TableRow {
  quantizer: string;
  m: number;
  nbits: number;
  /** Additive codes: the norm byte after the m codes (shown as RQ7+1). */
  normBytes?: number;
  recall1: number;
  recall10at10: number;
  recall100: number;
  relativeMse: number;
  trainSeconds: number;
  encodeMicrosPerVector: number;
  searchMsPerQuery: number;
  nsPerCode: number;
  faiss: Record<string, number> | null;
}

/** Markdown table: each figure as "ours (FAISS)". */
export function printTable(rows: TableRow[]): void {
  const both = (ours: number, theirs: number | undefined, digits: number): string =>
    theirs === undefined ? ours.toFixed(digits) : `${ours.toFixed(digits)} (${theirs.toFixed(digits)})`;
  console.log('\n| setting | recall@1 | 10-recall@10 | recall@100 | relative MSE | train s | encode µs/vec | ms/query | ns/code |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const f = r.faiss ?? {};
    console.log(
      `| ${r.quantizer.toUpperCase()}${r.m}${r.nbits === 8 ? '' : `x${r.nbits}`}${r.normBytes ? `+${r.normBytes}` : ''} | ${both(r.recall1, f.recall1, 3)} | ${both(r.recall10at10, f.recall10at10, 3)} | ` +
        `${both(r.recall100, f.recall100, 3)} | ${both(r.relativeMse, f.relativeMse, 4)} | ${both(r.trainSeconds, f.trainSeconds, 1)} | ` +
        `${both(r.encodeMicrosPerVector, f.encodeMicrosPerVector, 0)} | ${both(r.searchMsPerQuery, f.searchMsPerQuery, 2)} | ${r.nsPerCode.toFixed(1)} |`,
    );
  }
  console.log('(figures in brackets: FAISS 1.7.3, one thread: from ../shared/anchors/faiss-fashion-mnist.json, rq measured in this run)\n');
}
