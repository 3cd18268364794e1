/**
 * Issue 5 through the HTTP API: OPQ collections, re-ranking, metadata filters,
 * the evaluate report, automatic nbits and automatic (re)training under load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deserializeCodec } from '../../src/core/serialize.js';
import { correlated } from '../helpers/data.js';
import { type TestApp, exactTopIds, l2f32, makeApp, queryHits, seededVectors, waitForJob } from '../helpers/app.js';

async function trained(t: TestApp, name: string, body: object = {}): Promise<Record<string, unknown>> {
  const r = await t.req('POST', `/collections/${name}/train`, body);
  expect(r.statusCode).toBe(202);
  const job = await waitForJob(t, name, r.json().job.id);
  expect(job.state).toBe('succeeded');
  return job;
}

describe('quality features', () => {
  let t: TestApp;
  const d = 16;
  const n = 1500;
  const flat = correlated(n, d, 3);
  const colors = ['red', 'green', 'blue'];
  const data = Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    vector: Array.from(flat.subarray(i * d, (i + 1) * d)),
    metadata: { i, color: colors[i % 3], big: i >= 1000, tag: i % 2 === 0 ? 1 : '1' },
  }));
  const exactTop = (q: number[], k: number, keep?: (i: number) => boolean) => exactTopIds(data, q, k, keep);
  const query = (name: string, body: object) => queryHits(t, name, body);

  beforeAll(async () => {
    t = await makeApp();
    for (const [name, type] of [
      ['pq', 'pq'],
      ['opq', 'opq'],
      ['raw', 'pq'],
    ] as const) {
      expect((await t.req('POST', '/collections', { name, dimension: d, quantizer: { type, m: 4, nbits: 6 } })).statusCode).toBe(201);
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors: data })).statusCode).toBe(200);
    }
    await trained(t, 'pq', { iterations: 20 });
    await trained(t, 'opq', { iterations: 20, opqIterations: 3 });
  }, 60_000);
  afterAll(() => t.destroy());

  it('trains an OPQ collection: a rotation in the codec and a lower error than PQ at the same code size', async () => {
    const pq = (await t.req('GET', '/collections/pq')).json();
    const opq = (await t.req('GET', '/collections/opq')).json();
    expect(opq).toMatchObject({ quantizer: { type: 'opq', m: 4, nbits: 6 }, trained: true, bytesPerVector: 4, trainedNbits: 6 });
    const codec = deserializeCodec(t.store.codec(t.store.collection('opq')!.activeCodecId!)!.bytes);
    expect(codec.type).toBe('opq');
    expect(opq.relativeMse).toBeLessThan(pq.relativeMse);
  });

  it('re-ranks k × rerank ADC candidates by exact distance, and rerank 0 gives ADC estimates', async () => {
    let recallAdc = 0;
    let recallRerank = 0;
    for (const qi of [5, 50, 500, 1100]) {
      const q = data[qi].vector.map((x) => x + 0.3);
      const truth = exactTop(q, 10);
      const adc = await query('pq', { vector: q, k: 10, rerank: 0 });
      const reranked = await query('pq', { vector: q, k: 10, rerank: 10 });
      expect(reranked).toHaveLength(10);
      reranked.forEach((h, i) => {
        expect(h.distance).toBeCloseTo(l2f32(q, data[Number(h.id.slice(1))].vector), 2); // exact distances
        if (i > 0) expect(h.distance).toBeGreaterThanOrEqual(reranked[i - 1].distance);
      });
      expect(adc.some((h) => Math.abs(h.distance - l2f32(q, data[Number(h.id.slice(1))].vector)) > 1e-3 * (1 + h.distance))).toBe(true);
      recallAdc += adc.filter((h) => truth.includes(h.id)).length / 40;
      recallRerank += reranked.filter((h) => truth.includes(h.id)).length / 40;
    }
    expect(recallRerank).toBeGreaterThan(0.9);
    expect(recallRerank).toBeGreaterThan(recallAdc);
  });

  it('filters on metadata during the scan: k matching results whenever k exist, trained or not', async () => {
    const q = data[7].vector;
    for (const name of ['pq', 'raw']) {
      const red = await query(name, { vector: q, k: 20, filter: { color: 'red' } });
      expect(red).toHaveLength(20);
      expect(red.every((h) => h.metadata?.color === 'red')).toBe(true);
      const both = await query(name, { vector: q, k: 20, filter: { color: { in: ['red', 'blue'] }, big: true } });
      expect(both).toHaveLength(20);
      expect(both.every((h) => h.metadata?.big === true && h.metadata.color !== 'green')).toBe(true);
      // Values match only the same JSON type: 1 is not "1".
      const ones = await query(name, { vector: q, k: 1000, filter: { tag: 1 } });
      expect(ones).toHaveLength(750);
      expect(ones.every((h) => h.metadata?.tag === 1)).toBe(true);
      expect(await query(name, { vector: q, k: 5, filter: { color: 'purple' } })).toEqual([]);
    }
    // Untrained: exactly the filtered brute force.
    const got = (await query('raw', { vector: q, k: 10, filter: { color: 'green' } })).map((h) => h.id);
    expect(got).toEqual(exactTop(q, 10, (i) => i % 3 === 1));
    // New rows extend a cached filter's mask.
    const near = q.map((x) => x + 0.01);
    await t.req('POST', '/collections/pq/vectors', { vectors: [{ id: 'late', vector: near, metadata: { color: 'green' } }] });
    expect((await query('pq', { vector: near, k: 1, filter: { color: 'green' } }))[0].id).toBe('late');
    await t.req('DELETE', '/collections/pq/vectors/late');
    expect((await query('pq', { vector: near, k: 1, filter: { color: 'green' } }))[0].id).not.toBe('late');
  });

  it('rejects bad filters and rerank values with 400', async () => {
    for (const [body, msg] of [
      // Issue 14: dotted paths and the eq operator became valid; an empty path segment and an unknown operator stay 400s.
      [{ vector: data[0].vector, filter: { 'a..b': 1 } }, /filter field "a\.\.b"/],
      [{ vector: data[0].vector, filter: {} }, /at least one metadata field/],
      [{ vector: data[0].vector, filter: { color: { in: [] } } }, /body\.filter/],
      [
        { vector: data[0].vector, filter: { color: { like: 'red' } } },
        /body\.filter\.color: unknown operator "like"; supported: eq, ne, in, nin, gt, gte, lt, lte, exists/,
      ],
      [{ vector: data[0].vector, filter: { color: null } }, /body\.filter/],
      [{ vector: data[0].vector, rerank: -1 }, /body\.rerank/],
      [{ vector: data[0].vector, rerank: 1.5 }, /body\.rerank/],
    ] as const) {
      const r = await t.req('POST', '/collections/pq/query', body);
      expect(r.statusCode).toBe(400);
      expect(r.json().error.message).toMatch(msg);
    }
  });

  it('evaluates itself: recall against exact search, relative MSE, ms per query', async () => {
    const r = await t.req('POST', '/collections/pq/evaluate', { sampleSize: 50, k: 10, rerank: 0 });
    expect(r.statusCode).toBe(200);
    const adc = r.json();
    expect(adc).toMatchObject({ codecVersion: 1, queries: 50, k: 10, rerank: 0 });
    for (const key of ['recall1', 'recallAtK']) {
      expect(adc[key]).toBeGreaterThan(0.2);
      expect(adc[key]).toBeLessThanOrEqual(1);
    }
    expect(adc.relativeMse).toBeGreaterThan(0);
    expect(adc.relativeMse).toBeLessThan(0.2);
    expect(adc.msPerQuery.index).toBeGreaterThan(0);
    expect(adc.msPerQuery.exact).toBeGreaterThan(0);
    const reranked = (await t.req('POST', '/collections/pq/evaluate', { sampleSize: 50, k: 10, rerank: 20 })).json();
    expect(reranked.recallAtK).toBeGreaterThan(adc.recallAtK);
    expect(reranked.recallAtK).toBeGreaterThan(0.95);
    // Given queries instead of a sample.
    const given = await t.req('POST', '/collections/opq/evaluate', { queries: [data[1].vector, data[2].vector], k: 5 });
    expect(given.json()).toMatchObject({ queries: 2, k: 5, rerank: 4 });
    expect((await t.req('POST', '/collections/raw/evaluate')).json().error.code).toBe('not_trained');
    expect((await t.req('POST', '/collections/pq/evaluate', { sampleSize: 5, queries: [data[0].vector] })).statusCode).toBe(400);
  });

  it('lowers nbits when it was left automatic and the data is too small, and says so', async () => {
    await t.req('POST', '/collections', { name: 'small', dimension: 4, quantizer: { type: 'pq', m: 2 } });
    await t.req('POST', '/collections/small/vectors', { vectors: seededVectors(40, 4, 1) });
    const job = await trained(t, 'small');
    expect((job.result as { warnings: string[] }).warnings.join()).toMatch(/nbits lowered from 8 to 5: 40 vectors/);
    expect((await t.req('GET', '/collections/small')).json()).toMatchObject({
      trained: true,
      trainedNbits: 5,
      quantizer: { nbits: 8, autoNbits: true },
    });
  });
});

describe('automatic training', () => {
  let t: TestApp;
  const d = 12;
  const data = seededVectors(1400, d, 5);
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.destroy());

  it('refuses a minVectors below the centroid count when nbits is fixed', async () => {
    const r = await t.req('POST', '/collections', {
      name: 'x',
      dimension: d,
      quantizer: { type: 'pq', m: 3, nbits: 8 },
      autoTrain: { minVectors: 100 },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/minVectors must be at least 256/);
  });

  it('trains at minVectors and retrains after growth under continuous load: no failed request, no lost write', async () => {
    const created = await t.req('POST', '/collections', {
      name: 'auto',
      dimension: d,
      quantizer: { type: 'opq', m: 3, nbits: 8 },
      autoTrain: { minVectors: 300, retrainAfterGrowth: 2 },
    });
    expect(created.json()).toMatchObject({ autoTrain: { minVectors: 300, retrainAfterGrowth: 2 }, trained: false });
    await t.req('POST', '/collections/auto/vectors', { vectors: data.slice(0, 299) });
    expect((await t.req('GET', '/collections/auto')).json().trainingJob).toBeNull();

    const statuses = new Map<number, number>();
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    let next = 299;
    let stop = false;
    const view = async () => (await t.req('GET', '/collections/auto')).json();
    const settled = async (done: (v: Record<string, unknown>) => boolean) => {
      for (let v = await view(); !(v.trainingJob === null && done(v)); v = await view()) await new Promise((res) => setTimeout(res, 20));
    };
    const writeUpTo = async (end: number) => {
      while (next < end) {
        const batch = data.slice(next, Math.min(end, next + 20));
        const r = await t.req('POST', '/collections/auto/vectors', { vectors: batch });
        count(r.statusCode);
        next += batch.length;
        await new Promise((res) => setTimeout(res, 2));
      }
    };
    const writer = (async () => {
      await writeUpTo(600); // the first write reaches minVectors: training starts
      await settled((v) => v.codecVersion !== null);
      await writeUpTo(data.length); // grows past 2 × the vectors at the first training
      await settled((v) => (v.codecVersion as number) >= 2 && (v.count as number) < 2 * (v.vectorsAtTraining as number));
    })();
    const reader = (async () => {
      let i = 0;
      while (!stop) {
        const r = await t.req('POST', '/collections/auto/query', { vector: data[i++ % 299].vector, k: 5 });
        count(r.statusCode);
        if (r.statusCode === 200) expect(r.json().results).toHaveLength(5);
      }
    })();
    await writer;
    stop = true;
    await reader;
    expect([...statuses.keys()]).toEqual([200]);

    const jobs = (await t.req('GET', '/collections/auto/jobs')).json().jobs as { state: string; params: { trigger: string } }[];
    expect(jobs.length).toBeGreaterThanOrEqual(2); // 300, then ≥ 600 (and maybe ≥ 1200)
    expect(jobs.every((j) => j.state === 'succeeded' && j.params.trigger === 'auto')).toBe(true);
    expect(await view()).toMatchObject({ count: data.length, trained: true, codecVersion: jobs.length });
    // Nothing lost: every write is stored and found at distance 0 as its own nearest neighbour.
    for (const v of data.filter((_, i) => i % 37 === 0)) {
      expect((await t.req('GET', `/collections/auto/vectors/${v.id}`)).statusCode).toBe(200);
      const hit = (await t.req('POST', '/collections/auto/query', { vector: v.vector, k: 1 })).json().results[0];
      expect(hit.distance).toBe(0);
    }
  }, 120_000);

  it('turns automatic training on and off with PATCH', async () => {
    await t.req('POST', '/collections', { name: 'later', dimension: d, quantizer: { type: 'pq', m: 3, nbits: 8 } });
    await t.req('POST', '/collections/later/vectors', { vectors: data.slice(0, 400) });
    const on = await t.req('PATCH', '/collections/later', { autoTrain: { minVectors: 256 } });
    expect(on.statusCode).toBe(200);
    expect(on.json().trainingJob).not.toBeNull(); // due at once
    await waitForJob(t, 'later', on.json().trainingJob);
    const off = await t.req('PATCH', '/collections/later', { autoTrain: null });
    expect(off.json()).toMatchObject({ autoTrain: null, trained: true });
    expect((await t.req('PATCH', '/collections/later', { autoTrain: { minVectors: 0 } })).statusCode).toBe(400);
    expect((await t.req('PATCH', '/collections/nope', { autoTrain: null })).statusCode).toBe(404);
  });
});
