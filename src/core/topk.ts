/**
 * Bounded top-k by smallest distance: a max-heap of capacity k ordered by
 * (distance, id), so equal distances are broken by the smaller id, the same
 * order a full sort by (distance, id) gives.
 * Layout: dist[0..size) and ids[0..size) hold the heap; dist[0] is the worst kept.
 */
export class TopK {
  readonly dist: Float64Array;
  readonly ids: Float64Array; // float64 so ids up to 2^53 (row numbers, ids from several segments) fit
  size = 0;

  constructor(
    readonly k: number,
    /**
     * Ids never kept (one byte per id, nonzero = out). A scan that passes its
     * skip map here instead of to the kernel computes every distance and looks
     * the id up only for a candidate that beats the threshold: cheaper than a
     * look-up (and a mispredicted branch) per row when most rows are eligible.
     */
    private readonly exclude: Uint8Array | null = null,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be an integer ≥ 1, got ${k}`);
    this.dist = new Float64Array(k);
    this.ids = new Float64Array(k);
  }

  /** The ids this heap never keeps (one byte per id, nonzero = out), or null. */
  get excluded(): Uint8Array | null {
    return this.exclude;
  }

  /** Distance a candidate must beat to enter (Infinity until k are held). */
  threshold(): number {
    return this.size < this.k ? Infinity : this.dist[0];
  }

  /** Offers a candidate; kept when it ranks before the current worst. */
  push(d: number, id: number): void {
    if (this.exclude !== null && this.exclude[id] !== 0) return;
    const { dist, ids } = this;
    if (this.size < this.k) {
      // Sift up from the end.
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(d, id, dist[p], ids[p])) break;
        dist[i] = dist[p];
        ids[i] = ids[p];
        i = p;
      }
      dist[i] = d;
      ids[i] = id;
      return;
    }
    if (!worse(dist[0], ids[0], d, id)) return;
    this.siftDown(d, id, this.size); // replaces the worst kept
  }

  /** The kept candidates, nearest first (ties by smaller id). Leaves the heap empty. */
  drainSorted(): { ids: Float64Array; dist: Float64Array } {
    const n = this.size;
    const outIds = new Float64Array(n);
    const outDist = new Float64Array(n);
    for (let pos = n - 1; pos >= 0; pos--) {
      outIds[pos] = this.ids[0];
      outDist[pos] = this.dist[0];
      this.popRoot();
    }
    return { ids: outIds, dist: outDist };
  }

  private popRoot(): void {
    const n = --this.size;
    if (n > 0) this.siftDown(this.dist[n], this.ids[n], n);
  }

  /** Puts (d, id) at the root of the heap's first n entries and sifts it down to its place. */
  private siftDown(d: number, id: number, n: number): void {
    const { dist, ids } = this;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      const r = l + 1;
      if (r < n && worse(dist[r], ids[r], dist[l], ids[l])) c = r;
      if (!worse(dist[c], ids[c], d, id)) break;
      dist[i] = dist[c];
      ids[i] = ids[c];
      i = c;
    }
    dist[i] = d;
    ids[i] = id;
  }
}

/** True when (d1, id1) ranks after (d2, id2). */
function worse(d1: number, id1: number, d2: number, id2: number): boolean {
  return d1 > d2 || (d1 === d2 && id1 > id2);
}

/** Merges sorted partial results (e.g. one per worker) into the k best, nearest first. */
export function mergeTopK(
  parts: ReadonlyArray<{ ids: ArrayLike<number>; dist: ArrayLike<number> }>,
  k: number,
): {
  ids: Float64Array;
  dist: Float64Array;
} {
  const heap = new TopK(k);
  for (const part of parts) {
    for (let i = 0; i < part.ids.length; i++) {
      const d = part.dist[i];
      if (d > heap.threshold()) break; // parts are sorted: nothing later in this part can enter
      heap.push(d, part.ids[i]);
    }
  }
  return heap.drainSorted();
}
