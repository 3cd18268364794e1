/**
 * Codecs: what turns a vector into the bytes a collection keeps and back.
 * An optional transform (the OPQ rotation) then a product quantizer, of the
 * vector itself (FlatCodec) or, with a coarse quantizer in front, of its
 * residual to its cell's centroid (IVFCodec). Rotations are orthogonal, so
 * squared L2 distances and inner products are the same before and after:
 * queries are rotated once and all tables are built in the rotated space,
 * where the coarse centroids live too.
 *
 * Either kind may hold an additive quantizer (rq / lsq: additive.ts) instead
 * of a product quantizer, without rotation: its distance tables have the same
 * shape (rows of 256 entries summed over the code's bytes), so flat scans and
 * IVF cell tables serve both (ivf.ts; an IVF codec's additive quantizer codes
 * the residual to the cell centroid, as a product quantizer does).
 *
 * Both implement the Codec interface (encode, decode, transformQuery); how a
 * query is scored differs, so each adds its own: a flat codec has one ADC table
 * per query (distanceTable), an IVF codec one per visited cell (ivfSearcher).
 * Callers switch on `kind`, and the compiler checks they did.
 *
 * Code layout (codeSize bytes per vector): flat: the PQ code (m bytes, or
 * ⌈m/2⌉ packed with nbits 4: code-layout.ts), or the additive code (its M
 * bytes and the norm byte). IVF: the cell (list id, uint16 little-endian)
 * then the quantizer's code of the residual.
 */
import { AdditiveQuantizer } from './additive.js';
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

/** What turns a (rotated) vector into code bytes and a query into a table summed over them. */
export type TableQuantizer = ProductQuantizer | AdditiveQuantizer;

/** The quantizer types a codec reports (the collection's `quantizer.type`): lopq.ts's LOPQ codec is an IVF codec too. */
export const QUANTIZER_TYPES = ['pq', 'opq', 'rq', 'lsq', 'lopq'] as const;
export type QuantizerType = (typeof QUANTIZER_TYPES)[number];

/** What every codec does, whatever its kind. */
interface CodecOperations {
  readonly kind: 'flat' | 'ivf';
  readonly quantizer: TableQuantizer;
  /** Applied before the quantizers; null for plain PQ. */
  readonly rotation: Rotation | null;
  /** 'opq' when a rotation comes first, the additive kind for an additive quantizer, 'lopq' for rotations per cell. */
  readonly type: QuantizerType;
  readonly d: number;
  readonly ksub: number;
  /** Bytes of code per vector (list id included for IVF). */
  readonly codeSize: number;
  /** IVF cells, or null for a flat codec. */
  readonly nlist: number | null;
  /** Codes of rows [0, n) of data (n × d) into out (n × codeSize). */
  encode(data: Float32Array, n: number, out?: Uint8Array): Uint8Array;
  /** Reconstructions of n codes into out (n × d), in the original space. */
  decode(codes: Uint8Array, n: number, out?: Float32Array): Float32Array;
  /** Query row qo/d in the codec's space: rotated into scratch for OPQ (valid until the next call). */
  transformQuery(query: Float32Array, qo: number): { q: Float32Array; qo: number };
}

export type Codec = FlatCodec | IVFCodec;

/** The rotation in front and the queries' scratch, shared by both kinds. */
abstract class RotatedCodec<Q extends TableQuantizer> {
  /** Rotated copy of one query row, reused by transformQuery. */
  private readonly rotated: Float32Array;

  constructor(
    readonly quantizer: Q,
    readonly rotation: Rotation | null = null,
  ) {
    if (rotation !== null && rotation.d !== quantizer.d)
      throw new QuantizerInputError(`rotation of dimension ${rotation.d} in front of a ${quantizer.d}-d quantizer`);
    if (rotation !== null && quantizer instanceof AdditiveQuantizer) throw new QuantizerInputError('additive quantizers take no rotation');
    this.rotated = new Float32Array(rotation === null ? 0 : quantizer.d);
  }

  get type(): QuantizerType {
    if (this.quantizer instanceof AdditiveQuantizer) return this.quantizer.kind;
    return this.rotation === null ? 'pq' : 'opq';
  }
  get d(): number {
    return this.quantizer.d;
  }
  get ksub(): number {
    return this.quantizer.ksub;
  }

  transformQuery(query: Float32Array, qo: number): { q: Float32Array; qo: number } {
    if (this.rotation === null) return { q: query, qo };
    this.rotation.apply(query, 1, this.rotated, qo);
    return { q: this.rotated, qo: 0 };
  }

  /** Rows in the quantizers' space (rotated for OPQ). */
  protected forward(data: Float32Array, n: number): Float32Array {
    return this.rotation === null ? data : this.rotation.apply(data, n);
  }

  /** Reconstructions y (n × d, rotated space) back into out, or y itself when there is no rotation. */
  protected backward(y: Float32Array, n: number, out: Float32Array): Float32Array {
    return this.rotation === null ? y : this.rotation.reverse(y, n, out);
  }
}

/** PQ, OPQ or an additive quantizer over the whole collection: one ADC table per query, scanned over every code. */
export class FlatCodec extends RotatedCodec<TableQuantizer> implements CodecOperations {
  readonly kind = 'flat';
  readonly nlist = null;

  get codeSize(): number {
    return this.quantizer.codeSize;
  }

  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    return this.quantizer.encode(this.forward(data, n), n, out);
  }

  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    return this.backward(this.quantizer.decode(codes, n, this.rotation === null ? out : undefined), n, out);
  }

  /** ADC table (m × ksub, smaller is nearer) of query row qo/d; see ProductQuantizer.distanceTable and AdditiveQuantizer.distanceTable. */
  distanceTable(query: Float32Array, qo: number, metric: Exclude<Metric, 'cosine'>, out?: Float32Array): Float32Array {
    const t = this.transformQuery(query, qo);
    return this.quantizer.distanceTable(t.q, t.qo, metric, out);
  }
}

/** IVF in front of PQ, OPQ or an additive quantizer: a cell per vector, the residual to its centroid quantized. */
export class IVFCodec<Q extends TableQuantizer = TableQuantizer> extends RotatedCodec<Q> implements CodecOperations {
  readonly kind = 'ivf';

  constructor(
    pq: Q,
    rotation: Rotation | null,
    /** The coarse quantizer; its centroids live in the rotated space. */
    readonly coarse: CoarseQuantizer,
  ) {
    super(pq, rotation);
    if (coarse.d !== pq.d) throw new QuantizerInputError(`coarse quantizer of dimension ${coarse.d} with a ${pq.d}-d quantizer`);
  }

  get nlist(): number {
    return this.coarse.nlist;
  }
  get codeSize(): number {
    return this.quantizer.codeSize + LIST_ID_BYTES;
  }
  /** Multiply-adds of a visited cell's own table, beyond the query's shared terms: none here (the search plan weighs it). */
  get cellWork(): number {
    return 0;
  }

  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    const y = this.forward(data, n);
    const lists = this.coarse.assign(y, n);
    return this.pack(lists, this.quantizer.encode(this.coarse.residuals(y, n, lists), n), n, out);
  }

  /** IVF codes from list ids and the quantizer's codes: the reverse of split. */
  protected pack(lists: Int32Array, pqCodes: Uint8Array, n: number, out: Uint8Array): Uint8Array {
    const m = this.quantizer.codeSize;
    const size = this.codeSize;
    for (let i = 0; i < n; i++) {
      out[i * size] = lists[i] & 255;
      out[i * size + 1] = lists[i] >>> 8;
      out.set(pqCodes.subarray(i * m, (i + 1) * m), i * size + LIST_ID_BYTES);
    }
    return out;
  }

  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    const { pqCodes, lists } = this.split(codes, n);
    const y = this.coarse.addCentroids(this.quantizer.decode(pqCodes, n, this.rotation === null ? out : undefined), n, lists);
    return this.backward(y, n, out);
  }

  /** IVF codes → their list ids and the quantizer's codes. */
  split(codes: Uint8Array, n: number): { lists: Int32Array; pqCodes: Uint8Array } {
    const m = this.quantizer.codeSize;
    const size = this.codeSize;
    const lists = new Int32Array(n);
    const pqCodes = new Uint8Array(n * m);
    for (let i = 0; i < n; i++) {
      lists[i] = listOf(codes, i * size);
      pqCodes.set(codes.subarray(i * size + LIST_ID_BYTES, (i + 1) * size), i * m);
    }
    return { lists, pqCodes };
  }

  /** A searcher over this codec's lists (queries go through transformQuery first). */
  ivfSearcher(metric: Exclude<Metric, 'cosine'>): IVFSearcher {
    return new IVFSearcher(this.coarse, this.quantizer, metric);
  }
}

/** The codec for a quantizer, an optional rotation (product quantizers only) and an optional coarse quantizer. */
export function makeCodec(quantizer: TableQuantizer, rotation: Rotation | null = null, coarse: CoarseQuantizer | null = null): Codec {
  return coarse === null ? new FlatCodec(quantizer, rotation) : new IVFCodec(quantizer, rotation, coarse);
}

/** A codec's product quantizer (what OPQ training's steps work on); throws for an additive one. */
export function productQuantizerOf(codec: Codec): ProductQuantizer {
  if (codec.quantizer instanceof AdditiveQuantizer) throw new QuantizerInputError(`a ${codec.type} codec holds no product quantizer`);
  return codec.quantizer;
}
