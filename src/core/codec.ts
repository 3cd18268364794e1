/**
 * A codec: what turns a vector into the bytes a collection keeps in memory and
 * back. An optional transform (the OPQ rotation) composed in front of a product
 * quantizer. Rotations are orthogonal, so squared L2 distances and inner
 * products are the same before and after: queries are rotated once and the ADC
 * tables are built in the rotated space.
 */
import type { Metric } from './distance.js';
import { QuantizerInputError } from './errors.js';
import type { ProductQuantizer } from './pq.js';
import type { Rotation } from './rotation.js';

export class Codec {
  /** Rotated copies of query rows, reused by distanceTable. */
  private rotated: Float32Array;

  constructor(
    readonly pq: ProductQuantizer,
    /** Applied before the quantizer; null for plain PQ. */
    readonly rotation: Rotation | null = null,
  ) {
    if (rotation !== null && rotation.d !== pq.d) throw new QuantizerInputError(`rotation of dimension ${rotation.d} in front of a ${pq.d}-d quantizer`);
    this.rotated = new Float32Array(rotation === null ? 0 : pq.d);
  }

  get type(): 'pq' | 'opq' {
    return this.rotation === null ? 'pq' : 'opq';
  }
  get d(): number {
    return this.pq.d;
  }
  /** Bytes of code per vector. */
  get codeSize(): number {
    return this.pq.codeSize;
  }
  get ksub(): number {
    return this.pq.ksub;
  }

  /** Codes of rows [0, n) of data (n × d) into out (n × codeSize). */
  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    return this.pq.encode(this.rotation === null ? data : this.rotation.apply(data, n), n, out);
  }

  /** Reconstructions of n codes into out (n × d), in the original space. */
  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    if (this.rotation === null) return this.pq.decode(codes, n, out);
    return this.rotation.reverse(this.pq.decode(codes, n), n, out);
  }

  /** ADC table (m × ksub, smaller is nearer) of query row qo/d; see ProductQuantizer.distanceTable. */
  distanceTable(query: Float32Array, qo: number, metric: Exclude<Metric, 'cosine'>, out?: Float32Array): Float32Array {
    if (this.rotation === null) return this.pq.distanceTable(query, qo, metric, out);
    this.rotation.apply(query, 1, this.rotated, qo);
    return this.pq.distanceTable(this.rotated, 0, metric, out);
  }
}
