import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import type { Codec } from '../../src/core/codec.js';
import { deserializeCodec } from '../../src/core/serialize.js';
import { type TestApp, makeApp, seededVectors, waitForJob } from '../helpers/app.js';

/**
 * A 4-bit collection over HTTP: two codes per byte in SQLite, the blocked
 * layout and the fast scan in memory, and answers exactly those of plain ADC
 * over the stored codec's codes.
 */
describe('nbits 4 collections (packed codes, fast scan)', () => {
  const d = 20;
  const m = 10;
  const data = seededVectors(1500, d, 41);
  const late = seededVectors(77, d, 42, 10_000); // written after training: appended into the blocked layout
  let t: TestApp;

  beforeAll(async () => {
    t = await makeApp();
    expect(
      (await t.req('POST', '/collections', { name: 'c', dimension: d, metric: 'l2', quantizer: { type: 'pq', m, nbits: 4 } })).json(),
    ).toMatchObject({ bytesPerVector: 5 });
    expect((await t.req('POST', '/collections/c/vectors', { vectors: data })).statusCode).toBe(200);
    const job = (await t.req('POST', '/collections/c/train', {})).json().job;
    expect((await waitForJob(t, 'c', job.id)).state).toBe('succeeded');
    expect((await t.req('POST', '/collections/c/vectors', { vectors: late })).statusCode).toBe(200);
    expect((await t.req('DELETE', '/collections/c/vectors/v3')).statusCode).toBe(204);
  });
  afterAll(() => t.destroy());

  const live = () => [...data, ...late].filter((v) => v.id !== 'v3');

  function stored(): Codec {
    return deserializeCodec(t.store.codec(t.store.collection('c')!.activeCodecId!)!.bytes);
  }

  /** The k nearest by ADC over the codec's packed codes (ties by insertion order), with their distances. */
  function expected(codec: Codec, q: Float32Array, k: number, keep: (v: { metadata: { i: number } }) => boolean = () => true) {
    const rows = live().filter(keep);
    const codes = codec.encode(new Float32Array(rows.flatMap((v) => v.vector)), rows.length);
    expect(codes.length).toBe(rows.length * 5); // two codes per byte
    const table = codec.kind === 'flat' ? codec.distanceTable(q, 0, 'l2') : null;
    return rows
      .map((v, i) => ({ id: v.id, s: adcDistance(codes, i, codec.quantizer.geometry, table!), i }))
      .sort((a, b) => a.s - b.s || a.i - b.i)
      .slice(0, k);
  }

  it('stores ⌈m/2⌉ bytes per code and says so', async () => {
    expect((await t.req('GET', '/collections/c')).json()).toMatchObject({ trained: true, trainedNbits: 4, bytesPerVector: 5, count: 1576 });
    const codec = stored();
    expect(codec.quantizer.packed).toBe(true);
    expect(codec.codeSize).toBe(5);
  });

  it('answers exactly as plain ADC over the stored codes, before and after a restart, filtered or not', async () => {
    const codec = stored();
    const queries = [data[5].vector, late[40].vector, data[900].vector.map((x) => x + 0.3)].map((v) => Float32Array.from(v));
    const ask = async (q: Float32Array, extra: Record<string, unknown> = {}) => {
      const r = await t.req('POST', '/collections/c/query', { vector: Array.from(q), k: 15, rerank: 0, ...extra });
      expect(r.statusCode, r.body).toBe(200);
      return (r.json().results as { id: string; distance: number }[]).map((h) => ({ id: h.id, s: h.distance }));
    };
    for (const q of queries) {
      const want = expected(codec, q, 15).map(({ id, s }) => ({ id, s }));
      expect(await ask(q)).toEqual(want);
      // A filter takes the listed-rows path.
      const odd = expected(codec, q, 15, (v) => v.metadata.i % 2 === 1).map(({ id, s }) => ({ id, s }));
      expect(
        await ask(q, {
          filter: {
            i: {
              in: live()
                .map((v) => v.metadata.i)
                .filter((i) => i % 2 === 1),
            },
          },
        }),
      ).toEqual(odd);
    }
    const before = await Promise.all(queries.map((q) => ask(q)));
    await t.close();
    const dir = t.dir;
    t = await makeApp(dir);
    expect(await Promise.all(queries.map((q) => ask(q)))).toEqual(before);
    // Re-ranked answers are the exact nearest among the candidates.
    const r = (await t.req('POST', '/collections/c/query', { vector: data[5].vector, k: 3, rerank: 8 })).json().results;
    expect(r[0]).toMatchObject({ id: 'v5', distance: 0 });
  });

  it('serves IVF collections with 4-bit residual codes (the inverted lists keep them packed)', async () => {
    const body = { name: 'ivf4', dimension: d, metric: 'l2', quantizer: { type: 'opq', m, nbits: 4, ivf: { nlist: 4 } } };
    expect((await t.req('POST', '/collections', body)).json()).toMatchObject({ bytesPerVector: 5 + 4 });
    expect((await t.req('POST', '/collections/ivf4/vectors', { vectors: data })).statusCode).toBe(200);
    const job = (await t.req('POST', '/collections/ivf4/train', {})).json().job;
    expect((await waitForJob(t, 'ivf4', job.id)).state).toBe('succeeded');
    for (const i of [5, 700]) {
      const r = await t.req('POST', '/collections/ivf4/query', { vector: data[i].vector, k: 3, rerank: 8, nprobe: 2 });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().results[0]).toMatchObject({ id: `v${i}`, distance: 0 });
    }
  });
});
