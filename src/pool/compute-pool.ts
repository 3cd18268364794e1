/**
 * The piscina worker pool and the parallel versions of the core's heavy
 * operations. The main thread only splits work and assembles results.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import {
  PQGeometry,
  type PQTrainOptions,
  type PQTrainReport,
  ProductQuantizer,
  type SubspaceTrainResult,
  pqTrainingSample,
  summariseTraining,
} from '../core/pq.js';
import { serializePQ } from '../core/serialize.js';
import type { EncodeTask, TrainSubspaceTask } from './worker.js';
import { WORKER_FILE, assertWorkerBuilt } from './worker-file.js';

export interface ComputePoolOptions {
  /** Worker threads; default: the number of cores. */
  threads?: number;
}

/** Copies a typed array into shared memory unless it already is there. */
export function toShared<T extends Float32Array | Uint8Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const shared = new Ctor(new SharedArrayBuffer(a.byteLength));
  shared.set(a as never);
  return shared;
}

let nextCodecKey = 0;
const codecHandles = new WeakMap<ProductQuantizer, { key: string; bytes: Uint8Array }>();

/** The serialised form of a quantizer in shared memory, and a key workers cache it under. */
export function codecHandle(pq: ProductQuantizer): { key: string; bytes: Uint8Array } {
  let h = codecHandles.get(pq);
  if (h === undefined) {
    h = { key: `pq-${process.pid}-${nextCodecKey++}`, bytes: toShared(serializePQ(pq)) };
    codecHandles.set(pq, h);
  }
  return h;
}

export class ComputePool {
  readonly threads: number;
  private readonly piscina: Piscina;

  constructor(options: ComputePoolOptions = {}) {
    assertWorkerBuilt();
    this.threads = options.threads ?? availableParallelism();
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
    });
  }

  /**
   * Trains a product quantizer with the sub-spaces spread over the workers.
   * Byte-identical to ProductQuantizer.train with the same inputs.
   */
  async trainPQ(
    data: Float32Array,
    n: number,
    d: number,
    config: { m: number; nbits?: number },
    options: PQTrainOptions = {},
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ pq: ProductQuantizer; report: PQTrainReport }> {
    const geometry = new PQGeometry(d, config.m, config.nbits ?? 8);
    const drawn = pqTrainingSample(data, n, geometry, options);
    const sample = toShared(drawn.sample);
    let done = 0;
    const parts = await Promise.all(
      Array.from({ length: geometry.m }, async (_, j) => {
        const task: TrainSubspaceTask = { sample, n: drawn.n, d, m: geometry.m, nbits: geometry.nbits, j, options };
        const r = (await this.piscina.run(task, { name: 'trainSubspace' })) as SubspaceTrainResult;
        onProgress?.(++done, geometry.m);
        return r;
      }),
    );
    const pq = ProductQuantizer.fromSubspaces(geometry, parts.map((p) => p.centroids));
    return { pq, report: summariseTraining(drawn.n, parts) };
  }

  /** Encodes n vectors (n × d) with the rows split over the workers. */
  async encode(pq: ProductQuantizer, data: Float32Array, n: number): Promise<Uint8Array> {
    const { key, bytes } = codecHandle(pq);
    const shared = toShared(data.subarray(0, n * pq.d));
    const out = new Uint8Array(new SharedArrayBuffer(n * pq.m));
    const chunk = Math.max(256, Math.ceil(n / (this.threads * 4)));
    const tasks: Promise<unknown>[] = [];
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const task: EncodeTask = {
        codecKey: key,
        codec: bytes,
        data: shared.subarray(s * pq.d, e * pq.d),
        n: e - s,
        out: out.subarray(s * pq.m, e * pq.m),
      };
      tasks.push(this.piscina.run(task, { name: 'encode' }));
    }
    await Promise.all(tasks);
    return out;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
