/**
 * Worker-thread entry point for the piscina pool: each named export is a task.
 * Tasks only call the pure numeric core. Large inputs arrive as typed arrays over
 * SharedArrayBuffers (no copy); codecs arrive as serialised bytes with a key and
 * are cached per worker, so a codec is parsed once per worker, not once per task.
 */
import { PQGeometry, type PQTrainOptions, type ProductQuantizer, type SubspaceTrainResult, trainSubspace as trainOne } from '../core/pq.js';
import { deserializePQ } from '../core/serialize.js';

const CODEC_CACHE_SIZE = 16;
const codecs = new Map<string, ProductQuantizer>();

function codecFor(key: string, bytes: Uint8Array): ProductQuantizer {
  let pq = codecs.get(key);
  if (pq !== undefined) {
    codecs.delete(key); // re-insert: Map order doubles as LRU order
  } else {
    pq = deserializePQ(bytes);
    if (codecs.size >= CODEC_CACHE_SIZE) codecs.delete(codecs.keys().next().value as string);
  }
  codecs.set(key, pq);
  return pq;
}

export interface TrainSubspaceTask {
  sample: Float32Array;
  n: number;
  d: number;
  m: number;
  nbits: number;
  j: number;
  options: PQTrainOptions;
}

export function trainSubspace(task: TrainSubspaceTask): SubspaceTrainResult {
  const geometry = new PQGeometry(task.d, task.m, task.nbits);
  return trainOne(task.sample, task.n, geometry, task.j, task.options);
}

export interface EncodeTask {
  codecKey: string;
  codec: Uint8Array;
  /** n × d rows to encode. */
  data: Float32Array;
  n: number;
  /** Where to write the n × m codes (shared with the caller). */
  out: Uint8Array;
}

export function encode(task: EncodeTask): number {
  codecFor(task.codecKey, task.codec).encode(task.data, task.n, task.out);
  return task.n;
}
