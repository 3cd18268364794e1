/** FAISS / hnswlib reference figures from ../shared/anchors/faiss-fashion-mnist.json (optional). */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from './fashion-mnist.js';

export const ANCHORS_FILE = resolve(REPO_ROOT, '..', 'shared', 'anchors', 'faiss-fashion-mnist.json');

export interface AnchorRow {
  quantizer: string;
  m: number;
  nbits: number;
  dim: number;
  opqIterations?: number;
  recall1: number;
  recall10at10: number;
  recall100: number;
  relativeMse: number;
  trainSeconds: number;
  encodeMicrosPerVector: number;
  searchMsPerQuery: number;
  batchMsPerQuery: number;
  faissFactory: string;
}

/** FAISS IVF rows: 10 nearest, one thread, one query at a time. */
export interface IvfAnchorRow {
  faissFactory: string;
  nlist: number;
  nprobe: number;
  /** null: ADC only; n: k × n candidates re-ranked by exact distance. */
  rerank: number | null;
  recall1: number;
  recall10at10: number;
  msPerQuery: number;
}

export interface Anchors {
  meanSquaredNorm: number;
  rows: AnchorRow[];
  ivf: IvfAnchorRow[];
  scan1M128d: { faissFactory: string; threads: number; nsPerCodeSingleQuery: number; nsPerCodeBatch100: number }[];
}

export function loadAnchors(): Anchors | null {
  if (!existsSync(ANCHORS_FILE)) return null;
  return JSON.parse(readFileSync(ANCHORS_FILE, 'utf8')) as Anchors;
}

/** FAISS's row for a setting; for OPQ the one with the most iterations. */
export function anchorFor(anchors: Anchors | null, quantizer: string, m: number, nbits: number): AnchorRow | undefined {
  const rows = anchors?.rows.filter((r) => r.quantizer === quantizer && r.m === m && r.nbits === nbits) ?? [];
  return rows.sort((a, b) => (b.opqIterations ?? 0) - (a.opqIterations ?? 0))[0];
}
