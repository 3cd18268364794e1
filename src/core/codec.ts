/**
 * A codec: what turns a vector into the bytes a collection keeps and back.
 * An optional transform (the OPQ rotation), an optional coarse quantizer (IVF),
 * then a product quantizer — of the vector, or with IVF of its residual to the
 * cell centroid. Rotations are orthogonal, so squared L2 distances and inner
 * products are the same before and after: queries are rotated once and all
 * tables are built in the rotated space, where the coarse centroids live too.
 *
 * Code layout (codeSize bytes per vector): plain PQ / OPQ: the m PQ bytes.
 * IVF: the cell (list id, uint16 little-endian) then the m PQ bytes of the residual.
 */
import type { Metric } from './distance.js';
import { QuantizerInputError } from './errors.js';
import { type CoarseQuantizer, IVFSearcher } from './ivf.js';
import type { ProductQuantizer } from './pq.js';
import type { Rotation } from './rotation.js';

/** Bytes of list id in front of an IVF code. */
export const LIST_ID_BYTES = 2;

/** The cell of the IVF code at byte offset o. */
export function listOf(codes: Uint8Array, o: number): number {
  return codes[o] | (codes[o + 1] << 8);
}

export class Codec {
  /** Rotated copies of query rows, reused by distanceTable. */
  private rotated: Float32Array;

  constructor(
    readonly pq: ProductQuantizer,
    /** Applied before the quantizers; null for plain PQ. */
    readonly rotation: Rotation | null = null,
    /** IVF: the coarse quantizer (centroids in the rotated space); null for a flat codec. */
    readonly coarse: CoarseQuantizer | null = null,
  ) {
    if (rotation !== null && rotation.d !== pq.d)
      throw new QuantizerInputError(`rotation of dimension ${rotation.d} in front of a ${pq.d}-d quantizer`);
    if (coarse !== null && coarse.d !== pq.d)
      throw new QuantizerInputError(`coarse quantizer of dimension ${coarse.d} with a ${pq.d}-d product quantizer`);
    this.rotated = new Float32Array(rotation === null ? 0 : pq.d);
  }

  get type(): 'pq' | 'opq' {
    return this.rotation === null ? 'pq' : 'opq';
  }
  get d(): number {
    return this.pq.d;
  }
  /** IVF cells, or null for a flat codec. */
  get nlist(): number | null {
    return this.coarse?.nlist ?? null;
  }
  /** Bytes of code per vector (list id included for IVF). */
  get codeSize(): number {
    return this.pq.codeSize + (this.coarse === null ? 0 : LIST_ID_BYTES);
  }
  get ksub(): number {
    return this.pq.ksub;
  }

  /** Codes of rows [0, n) of data (n × d) into out (n × codeSize). */
  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    const y = this.rotation === null ? data : this.rotation.apply(data, n);
    if (this.coarse === null) return this.pq.encode(y, n, out);
    const lists = this.coarse.assign(y, n);
    const m = this.pq.codeSize;
    const pqCodes = this.pq.encode(this.coarse.residuals(y, n, lists), n);
    const size = this.codeSize;
    for (let i = 0; i < n; i++) {
      out[i * size] = lists[i] & 255;
      out[i * size + 1] = lists[i] >>> 8;
      out.set(pqCodes.subarray(i * m, (i + 1) * m), i * size + LIST_ID_BYTES);
    }
    return out;
  }

  /** Reconstructions of n codes into out (n × d), in the original space. */
  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    let y: Float32Array;
    if (this.coarse === null) {
      y = this.pq.decode(codes, n, this.rotation === null ? out : undefined);
    } else {
      const { pqCodes, lists } = this.split(codes, n);
      y = this.coarse.addCentroids(this.pq.decode(pqCodes, n, this.rotation === null ? out : undefined), n, lists);
    }
    return this.rotation === null ? y : this.rotation.reverse(y, n, out);
  }

  /** IVF codes → their list ids and PQ codes. */
  split(codes: Uint8Array, n: number): { lists: Int32Array; pqCodes: Uint8Array } {
    const m = this.pq.codeSize;
    const size = this.codeSize;
    const lists = new Int32Array(n);
    const pqCodes = new Uint8Array(n * m);
    for (let i = 0; i < n; i++) {
      lists[i] = listOf(codes, i * size);
      pqCodes.set(codes.subarray(i * size + LIST_ID_BYTES, (i + 1) * size), i * m);
    }
    return { lists, pqCodes };
  }

  /** Query row qo/d in the codec's space: rotated into scratch for OPQ (valid until the next call). */
  transformQuery(query: Float32Array, qo: number): { q: Float32Array; qo: number } {
    if (this.rotation === null) return { q: query, qo };
    this.rotation.apply(query, 1, this.rotated, qo);
    return { q: this.rotated, qo: 0 };
  }

  /** ADC table (m × ksub, smaller is nearer) of query row qo/d for a flat codec; see ProductQuantizer.distanceTable. */
  distanceTable(query: Float32Array, qo: number, metric: Exclude<Metric, 'cosine'>, out?: Float32Array): Float32Array {
    if (this.coarse !== null) throw new QuantizerInputError('an IVF codec has one table per cell: search it with ivfSearcher');
    const t = this.transformQuery(query, qo);
    return this.pq.distanceTable(t.q, t.qo, metric, out);
  }

  /** A searcher over this IVF codec's lists (queries go through transformQuery first). */
  ivfSearcher(metric: Exclude<Metric, 'cosine'>): IVFSearcher {
    if (this.coarse === null) throw new QuantizerInputError('a flat codec has no inverted lists');
    return new IVFSearcher(this.coarse, this.pq, metric);
  }
}
