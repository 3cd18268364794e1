import { afterAll, describe, expect, it } from 'vitest';
import { FlatCodec } from '../../src/core/codec.js';
import { PQGeometry, ProductQuantizer, trainProductQuantizer } from '../../src/core/pq.js';
import { trainCodec } from '../../src/core/train.js';
import { trainLocalCodec } from '../../src/core/lopq.js';
import { serializeCodec } from '../../src/core/serialize.js';
import { inlineCompute, trainRotation } from '../../src/core/rotation.js';
import { TopK } from '../../src/core/topk.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { ComputePool } from '../../src/pool/compute-pool.js';
import { WorkerTaskError } from '../../src/pool/errors.js';
import { QuantizerInputError } from '../../src/core/errors.js';
import { blobs, correlated } from '../helpers/data.js';

describe('ComputePool (real worker threads)', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 40;
  const n = 3000;
  const x = blobs(n, d, 25, 13);

  it('trains sub-spaces in parallel, byte-identical to a sequential run, with progress', async () => {
    const progress: number[] = [];
    const par = await trainProductQuantizer(x, n, d, { m: 10, nbits: 6 }, { seed: 4 }, pool.trainCompute(), (done) => progress.push(done));
    const seq = ProductQuantizer.train(x, n, d, { m: 10, nbits: 6 }, { seed: 4 });
    expect(Buffer.from(par.pq.centroids.buffer)).toEqual(Buffer.from(seq.pq.centroids.buffer));
    expect(par.report.trainMse).toBe(seq.report.trainMse);
    expect(progress.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('encodes in parallel exactly as the main thread does', async () => {
    const { pq } = ProductQuantizer.train(x, n, d, { m: 8 }, { iterations: 5 });
    const codec = new FlatCodec(pq);
    const codes = await pool.encode(codec, x, n);
    expect(Buffer.from(codes)).toEqual(Buffer.from(pq.encode(x, n)));
    // Cached codec in the workers: a second call gives the same.
    expect(Buffer.from(await pool.encode(codec, x, 700))).toEqual(Buffer.from(pq.encode(x, 700)));
  });

  it('reports training errors from the workers', async () => {
    await expect(trainProductQuantizer(x, 100, d, { m: 8 }, {}, pool.trainCompute())).rejects.toThrow(/needs at least 256 vectors, got 100/);
  });
});

describe('OPQ training on the pool', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 24;
  const n = 1500;
  const x = correlated(n, d, 21);
  const geometry = new PQGeometry(d, 3, 5);

  it('computes exactly what the inline computation does (k-means and Lloyd updates)', async () => {
    for (const pqStep of ['kmeans', 'lloyd'] as const) {
      const options = { iterations: 2, sampleSize: 1000, seed: 3, pqStep };
      const inline = await trainRotation(x, n, geometry, inlineCompute, options);
      const pooled = await trainRotation(x, n, geometry, pool.trainCompute(), options);
      expect(Buffer.from(pooled.rotation.directions.buffer)).toEqual(Buffer.from(inline.rotation.directions.buffer));
      expect(pooled.report).toEqual(inline.report);
    }
  });

  it('the core training pipeline gives the same codec bytes inline and on the pool (PQ, OPQ, IVF + OPQ)', async () => {
    const configs = [
      { type: 'pq', m: 4, nbits: 5 },
      { type: 'opq', m: 3, nbits: 5 },
      { type: 'opq', m: 3, nbits: 5, nlist: 8 },
    ] as const;
    for (const config of configs) {
      const options = { seed: 7, iterations: 8, rotation: { iterations: 1 }, coarseIterations: 5 };
      const inline = await trainCodec(x, n, d, config, options, inlineCompute);
      const pooled = await trainCodec(x, n, d, config, options, pool.trainCompute());
      expect(Buffer.from(serializeCodec(pooled.codec))).toEqual(Buffer.from(serializeCodec(inline.codec)));
      expect(pooled.report).toEqual(inline.report);
    }
  });

  it('trains an OPQ codec: rotation then PQ, with progress up to 1', async () => {
    const progress: number[] = [];
    const { codec, rotation } = await trainCodec(
      x,
      n,
      d,
      { type: 'opq', m: 3, nbits: 5 },
      { seed: 2, rotation: { iterations: 2 } },
      pool.trainCompute(),
      (f) => progress.push(f),
    );
    expect(codec.type).toBe('opq');
    expect(rotation?.sampleMse.length).toBe(4);
    expect(progress[progress.length - 1]).toBeCloseTo(1, 9);
    const codes = await pool.encode(codec, x, n);
    expect(Buffer.from(codes)).toEqual(Buffer.from(codec.encode(x, n)));
  });
});

describe('IVF on the pool', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 24;
  const n = 1500;
  const x = correlated(n, d, 22);

  it('trains coarse cells then a codec on the residuals (OPQ: centroids rotated too), and searches the lists as the core does', async () => {
    for (const type of ['pq', 'opq'] as const) {
      const progress: number[] = [];
      const { codec } = await trainCodec(
        x,
        n,
        d,
        { type, m: 3, nbits: 5, nlist: 12 },
        { seed: 2, rotation: { iterations: 1 } },
        pool.trainCompute(),
        (f) => progress.push(f),
      );
      expect(codec.nlist).toBe(12);
      expect(codec.type).toBe(type);
      if (codec.kind !== 'ivf') throw new Error('an nlist was given: expected an IVF codec');
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress[progress.length - 1]).toBeCloseTo(1, 9);
      const codes = await pool.encode(codec, x, n);
      expect(Buffer.from(codes)).toEqual(Buffer.from(codec.encode(x, n)));
      // The coarse cell of a code is the nearest centroid in the codec's space.
      const t = codec.transformQuery(x, 0);
      const costs = codec.coarse.costs(t.q, t.qo, 'l2', new Float64Array(12));
      expect(costs[codes[0] | (codes[1] << 8)]).toBeCloseTo(Math.min(...costs), 3);

      const lists = InvertedLists.build(12, codec.codeSize, codes, n, new Uint8Array(n)).lists.view();
      const queries = x.subarray(0, 5 * d);
      const pooled = await pool.ivfSearch({ codec, lists, dead: new Uint8Array(n), metric: 'l2', queries, nq: 5, k: 7, nprobe: 3 });
      const searcher = codec.ivfSearcher('l2');
      for (let q = 0; q < 5; q++) {
        const heap = new TopK(7);
        const tq = codec.transformQuery(queries, q * d);
        searcher.search(tq.q, tq.qo, lists, 3, heap);
        const inline = heap.drainSorted();
        expect(Array.from(pooled[q].ids)).toEqual(Array.from(inline.ids));
        expect(Array.from(pooled[q].dist)).toEqual(Array.from(inline.dist));
      }
    }
  });
});

describe('errors across the worker boundary', () => {
  const pool = new ComputePool({ threads: 1 });
  afterAll(() => pool.close());

  const run = (pool as unknown as { run(name: string, task: unknown): Promise<unknown> }).run.bind(pool);

  it('bad input found inside a task stays a QuantizerInputError (a 400 for the client)', async () => {
    // k-means in the worker needs one point per centroid: 10 rows cannot train 256 centroids.
    const sample = new Float32Array(new SharedArrayBuffer(10 * 4 * 4));
    const err: any = await run('trainSubspace', { sample, n: 10, d: 4, m: 2, nbits: 8, j: 0, options: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(QuantizerInputError);
    expect(err).not.toBeInstanceOf(WorkerTaskError);
    expect(err.message).toBe('k-means with k = 256 centroids needs at least 256 training points, got 10');
  });

  it("a corrupt codec inside a task is an internal WorkerTaskError, never the client's QuantizerInputError", async () => {
    const err: any = await run('encode', {
      codecKey: 'corrupt',
      codec: new Uint8Array(40),
      data: new Float32Array(4),
      n: 1,
      out: new Uint8Array(2),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerTaskError);
    expect(err).not.toBeInstanceOf(QuantizerInputError);
    expect(err.message).toMatch(/^worker task encode failed: serialised codec is invalid: bad magic/);
    expect((err.cause as { name: string }).name).toBe('CorruptCodecError');
  });

  it("piscina's 'error' event (a reply for a task aborted as it finished) is handed to onError, never thrown at the process", async () => {
    const seen: Error[] = [];
    const own = new ComputePool({ threads: 1, onError: (e) => seen.push(e) });
    try {
      // What piscina emits for such a reply; with no listener, EventEmitter would throw it.
      const stray = new Error('Unexpected message from Worker: { taskId: 490 }');
      (own as unknown as { piscina: { emit(event: string, err: Error): boolean } }).piscina.emit('error', stray);
      expect(seen).toEqual([stray]);
    } finally {
      await own.close();
    }
  });
});

describe('LOPQ training on the pool', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());
  const d = 16;
  const n = 1200;
  const x = blobs(n, d, 6, 31);

  it('computes exactly what the inline computation does', async () => {
    const config = { m: 4, nbits: 5, nlist: 3 };
    const options = { seed: 2, iterations: 5, local: { minCellRows: 32 } };
    const inline = await trainLocalCodec(x, n, d, config, options, inlineCompute);
    const pooled = await trainLocalCodec(x, n, d, config, options, pool.trainCompute());
    expect(inline.local.localCells).toBe(3);
    expect(Buffer.from(serializeCodec(pooled.codec))).toEqual(Buffer.from(serializeCodec(inline.codec)));
  });

  it("rejects with the core's error when an asynchronous task fails (a cell's rotation for an impossible geometry)", async () => {
    const task = { rows: new Float32Array(8 * d), n: 8, d, m: d + 1, nbits: 8, prior: new Float64Array(d * d), shrinkageRows: 1 };
    await expect(pool.trainCompute().localRotation(task)).rejects.toBeInstanceOf(QuantizerInputError);
  });
});
