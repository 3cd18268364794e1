/**
 * IVF collections through the HTTP API: creation, training (explicit and
 * automatic nlist), nprobe, re-ranking, filters and writes after training on
 * the inverted lists, evaluate, and the errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deserializeCodec } from '../../src/core/serialize.js';
import { blobs } from '../helpers/data.js';
import { type TestApp, exactTopIds, makeApp, queryHits, seededVectors, waitForJob } from '../helpers/app.js';

describe('IVF collections', () => {
  let t: TestApp;
  const d = 16;
  const n = 2000;
  const flat = blobs(n, d, 30, 8, 1.5);
  const data = Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    vector: Array.from(flat.subarray(i * d, (i + 1) * d)),
    metadata: { odd: i % 2 === 1 },
  }));
  const exactTop = (q: number[], k: number, keep?: (i: number) => boolean) => exactTopIds(data, q, k, keep);
  const query = (name: string, body: object) => queryHits(t, name, body);
  const train = async (name: string, body: object = {}) => {
    const r = await t.req('POST', `/collections/${name}/train`, body);
    expect(r.statusCode).toBe(202);
    return waitForJob(t, name, r.json().job.id);
  };

  beforeAll(async () => {
    t = await makeApp();
    const created = await t.req('POST', '/collections', { name: 'ivf', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 6, ivf: { nlist: 16 } } });
    expect(created.statusCode).toBe(201);
    expect((await t.req('POST', '/collections/ivf/vectors', { vectors: data })).statusCode).toBe(200);
    expect((await train('ivf', { iterations: 20 })).state).toBe('succeeded');
    // The flat collection of the same data that IVF is compared with.
    await t.req('POST', '/collections', { name: 'flat', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 6 } });
    await t.req('POST', '/collections/flat/vectors', { vectors: data });
    expect((await train('flat', { iterations: 20 })).state).toBe('succeeded');
  }, 60_000);
  afterAll(() => t.destroy());

  it('trains a coarse quantizer and residual codes, and reports them', async () => {
    const view = (await t.req('GET', '/collections/ivf')).json();
    expect(view).toMatchObject({ quantizer: { type: 'pq', m: 4, nbits: 6, ivf: { nlist: 16 } }, trained: true, trainedNlist: 16, bytesPerVector: 8 });
    const codec = deserializeCodec(t.store.codec(t.store.collection('ivf')!.activeCodecId!)!.bytes);
    expect(codec.nlist).toBe(16);
    expect(codec.codeSize).toBe(6);
    // Residual codes lose less than codes of the vectors at the same size.
    expect(view.relativeMse).toBeLessThan((await t.req('GET', '/collections/flat')).json().relativeMse);
  });

  it('visits nprobe cells: more cells, more recall; all cells with re-ranking finds the exact neighbours', async () => {
    const recall = async (body: object) => {
      let hits = 0;
      for (const qi of [3, 300, 700, 1200, 1900]) {
        const q = data[qi].vector.map((x, j) => x + (j % 2 === 0 ? 0.4 : -0.4));
        const truth = new Set(exactTop(q, 10));
        for (const h of await query('ivf', { vector: q, k: 10, ...body })) if (truth.has(h.id)) hits++;
      }
      return hits / 50;
    };
    const one = await recall({ nprobe: 1, rerank: 0 });
    const all = await recall({ nprobe: 16, rerank: 0 });
    expect(all).toBeGreaterThan(one);
    expect(await recall({ nprobe: 16, rerank: 20 })).toBe(1);
    // nprobe above nlist is capped, not an error.
    expect(await recall({ nprobe: 1000, rerank: 20 })).toBe(1);
  });

  it('places writes after training in their cells, honours deletes, replacements and filters', async () => {
    // A collection of its own to write to (the others keep the data the other tests measure).
    await t.req('POST', '/collections', { name: 'ivfw', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 6, ivf: { nlist: 16 } } });
    await t.req('POST', '/collections/ivfw/vectors', { vectors: data });
    expect((await train('ivfw', { iterations: 20 })).state).toBe('succeeded');
    const fresh = seededVectors(50, d, 77).map((v) => ({ ...v, id: `new${v.id}`, metadata: { odd: false } }));
    expect((await t.req('POST', '/collections/ivfw/vectors', { vectors: fresh })).statusCode).toBe(200);
    for (const v of fresh.slice(0, 10)) {
      const [hit] = await query('ivfw', { vector: v.vector, k: 1 });
      expect(hit).toMatchObject({ id: v.id, distance: 0 });
    }
    expect((await t.req('DELETE', `/collections/ivfw/vectors/${fresh[0].id}`)).statusCode).toBe(204);
    expect((await query('ivfw', { vector: fresh[0].vector, k: 3 })).map((h) => h.id)).not.toContain(fresh[0].id);
    // Replacing a vector moves it (probably to another cell): only the new one is found.
    await t.req('POST', '/collections/ivfw/vectors', { vectors: [{ id: fresh[1].id, vector: data[10].vector }] });
    const [moved] = await query('ivfw', { vector: data[10].vector, k: 2, nprobe: 16 });
    expect(moved.distance).toBe(0);
    expect((await query('ivfw', { vector: fresh[1].vector, k: 5, nprobe: 16 })).map((h) => h.id)).not.toContain(fresh[1].id);
    // A filter keeps k matching hits, from the lists.
    const odd = await query('ivfw', { vector: data[0].vector, k: 10, filter: { odd: true } });
    expect(odd).toHaveLength(10);
    expect(odd.every((h) => h.metadata?.odd === true)).toBe(true);

    // Five rare vectors far from the query's cell: nprobe 1 finds none of them
    // there, so the search widens until it has k, as a flat index would.
    const rare = [1, 2, 3, 4, 5].map((j) => ({ id: `rare${j}`, vector: data[j * 100].vector.map((x) => -3 * x), metadata: { rare: true } }));
    await t.req('POST', '/collections/ivfw/vectors', { vectors: rare });
    const found = await query('ivfw', { vector: data[0].vector, k: 5, nprobe: 1, rerank: 0, filter: { rare: true } });
    expect(found.map((h) => h.id).sort()).toEqual(rare.map((r) => r.id).sort());
    expect(await query('ivfw', { vector: data[0].vector, k: 10, nprobe: 1, filter: { rare: true } })).toHaveLength(5);
  });

  it('evaluates with a given nprobe and reports it', async () => {
    const wide = (await t.req('POST', '/collections/ivf/evaluate', { sampleSize: 40, nprobe: 16, rerank: 10 })).json();
    expect(wide).toMatchObject({ queries: 40, nprobe: 16, rerank: 10 });
    expect(wide.recallAtK).toBeGreaterThan(0.95);
    const narrow = (await t.req('POST', '/collections/ivf/evaluate', { sampleSize: 40, nprobe: 1, rerank: 0 })).json();
    expect(narrow.nprobe).toBe(1);
    expect(narrow.recallAtK).toBeLessThan(wide.recallAtK);
    // Default: nlist / 16, at least 8 (capped at nlist).
    expect((await t.req('POST', '/collections/ivf/evaluate', { sampleSize: 5 })).json().nprobe).toBe(8);
    expect((await t.req('POST', '/collections/flat/evaluate', { sampleSize: 5 })).json().nprobe).toBeNull();
  });

  it('chooses nlist from the data when left out, and refuses too few vectors for a fixed nlist', async () => {
    await t.req('POST', '/collections', { name: 'auto', dimension: d, quantizer: { type: 'opq', m: 4, ivf: {} } });
    await t.req('POST', '/collections/auto/vectors', { vectors: data.slice(0, 300) });
    expect((await t.req('GET', '/collections/auto')).json()).toMatchObject({ quantizer: { ivf: { nlist: null } }, trainedNlist: null });
    const job = await train('auto', { opqIterations: 2, coarseIterations: 10 });
    expect(job.state).toBe('succeeded');
    // 4·√300 ≈ 69 → 64 cells, lowered to 4 for at least 39 vectors per cell.
    expect((job.result as { warnings: string[] }).warnings.join()).toMatch(/nlist 4 chosen automatically for 300 vectors/);
    expect((await t.req('GET', '/collections/auto')).json()).toMatchObject({ trainedNlist: 4, trainedNbits: 8 });
    expect(await query('auto', { vector: data[7].vector, k: 1 })).toMatchObject([{ id: 'p7', distance: 0 }]);

    await t.req('POST', '/collections', { name: 'tiny', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 2, ivf: { nlist: 64 } } });
    await t.req('POST', '/collections/tiny/vectors', { vectors: data.slice(0, 30) });
    const refused = await t.req('POST', '/collections/tiny/train', {});
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error).toMatchObject({ code: 'insufficient_data' });
    expect(refused.json().error.message).toMatch(/nlist = 64 needs at least 64 vectors.*has 30/);
    const auto = await t.req('POST', '/collections', {
      name: 'tiny2',
      dimension: d,
      quantizer: { type: 'pq', m: 4, nbits: 2, ivf: { nlist: 64 } },
      autoTrain: { minVectors: 10 },
    });
    expect(auto.statusCode).toBe(400);
    expect(auto.json().error.message).toMatch(/at least 64 .* nlist = 64/);
  });

  it('rejects bad IVF settings and nprobe with 400', async () => {
    for (const ivf of [{ nlist: 0 }, { nlist: 70000 }, { nlist: 1.5 }, { cells: 4 }]) {
      const r = await t.req('POST', '/collections', { name: 'bad', dimension: d, quantizer: { type: 'pq', ivf } });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.code).toBe('validation_error');
    }
    for (const nprobe of [0, -1, 2.5, 'x']) {
      expect((await t.req('POST', '/collections/ivf/query', { vector: data[0].vector, nprobe })).statusCode).toBe(400);
    }
    // Flat collections ignore nprobe.
    expect((await t.req('POST', '/collections/flat/query', { vector: data[0].vector, nprobe: 4 })).statusCode).toBe(200);
  });
});
