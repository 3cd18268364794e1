import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, queryHits, seededVectors, trainAndWait } from '../helpers/app.js';

const d = 16;
const data = seededVectors(1500, d, 73);

/** Polls the collection until its calibration leaves 'running'; returns the view. */
async function calibrated(t: TestApp, name: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const view = (await t.req('GET', `/collections/${name}`)).json();
    if (view.calibration !== null && view.calibration.state !== 'running') return view;
    if (Date.now() > deadline) throw new Error(`calibration of ${name} still ${JSON.stringify(view.calibration?.state)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('targetRecall: calibration after training, defaults from it', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.destroy());

  it('calibrates after training: the cheapest measured setting at or above target + margin becomes the query and evaluate default', async () => {
    const created = await t.req('POST', '/collections', {
      name: 'c',
      dimension: d,
      quantizer: { type: 'pq', m: 2, nbits: 6 },
      targetRecall: { recall: 0.9 },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ targetRecall: { recall: 0.9, k: 10 }, calibration: null });
    await t.req('POST', '/collections/c/vectors', { vectors: data });
    expect((await trainAndWait(t, 'c')).state).toBe('succeeded');
    const view = await calibrated(t, 'c');
    const c = view.calibration;
    expect(c).toMatchObject({
      state: 'succeeded',
      progress: 1,
      target: { recall: 0.9, k: 10 },
      codecVersion: 1,
      vectors: 1500,
      queries: 200,
      met: true,
    });
    expect(c.required).toBeCloseTo(0.91);
    expect(c.chosen.recall).toBeGreaterThanOrEqual(0.91);
    // The cheapest of those that reached it (by measured time), and the row stopped there.
    for (const s of c.grid) if (s.recall >= c.required) expect(s.msPerQuery).toBeGreaterThanOrEqual(c.chosen.msPerQuery);
    expect(c.grid.at(-1).recall).toBeGreaterThanOrEqual(c.required);
    expect(c.grid.slice(0, -1).every((s: { recall: number }) => s.recall < c.required)).toBe(true);
    expect(c.baseline).toMatchObject({ rerank: 4, nprobe: null });

    // Defaults: evaluate reports the chosen rerank, and its recall (fresh queries) is near the target.
    const evaluated = (await t.req('POST', '/collections/c/evaluate', { sampleSize: 300, seed: 99 })).json();
    expect(evaluated.rerank).toBe(c.chosen.rerank);
    expect(evaluated.recallAtK).toBeGreaterThan(0.85);
    // A query without rerank answers as one naming the chosen rerank.
    const q = data[11].vector.map((x) => x + 0.05);
    expect(await queryHits(t, 'c', { vector: q, k: 10 })).toEqual(await queryHits(t, 'c', { vector: q, k: 10, rerank: c.chosen.rerank }));
    // A query's own target: the cheapest measured setting reaching it; unreachable ones say so.
    const low = await t.req('POST', '/collections/c/query', { vector: q, k: 10, targetRecall: 0.3 });
    expect(low.statusCode).toBe(200);
    const lowest = c.grid.filter((s: { recall: number }) => s.recall >= 0.31).sort((a: any, b: any) => a.msPerQuery - b.msPerQuery)[0];
    expect(low.json().results).toEqual((await t.req('POST', '/collections/c/query', { vector: q, k: 10, rerank: lowest.rerank })).json().results);
    const both = await t.req('POST', '/collections/c/query', { vector: q, targetRecall: 0.9, rerank: 2 });
    expect(both.statusCode).toBe(400);
    expect(both.json().error.message).toMatch(/targetRecall or rerank/);

    // The calibration is stored: a restart keeps it and its defaults.
    await t.close();
    t = await makeApp(t.dir);
    const after = (await t.req('GET', '/collections/c')).json();
    expect(after.calibration).toEqual(c);
    expect((await t.req('POST', '/collections/c/evaluate', { sampleSize: 50 })).json().rerank).toBe(c.chosen.rerank);

    // Removing the target removes the calibration and its defaults.
    const patched = await t.req('PATCH', '/collections/c', { targetRecall: null });
    expect(patched.json()).toMatchObject({ targetRecall: null, calibration: null });
    expect((await t.req('POST', '/collections/c/evaluate', { sampleSize: 50 })).json().rerank).toBe(4);
  });

  it('calibrates a trained collection when a target is set; IVF settings name nprobe; an uncalibrated collection refuses a query target with 422', async () => {
    await t.req('POST', '/collections', { name: 'ivf', dimension: d, quantizer: { type: 'pq', m: 4, nbits: 6, ivf: { nlist: 8 } } });
    await t.req('POST', '/collections/ivf/vectors', { vectors: data });
    expect((await trainAndWait(t, 'ivf')).state).toBe('succeeded');
    const refused = await t.req('POST', '/collections/ivf/query', { vector: data[0].vector, targetRecall: 0.9 });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.code).toBe('not_calibrated');
    const patched = await t.req('PATCH', '/collections/ivf', { targetRecall: { recall: 0.95, k: 5 } });
    expect(patched.statusCode).toBe(200);
    const c = (await calibrated(t, 'ivf')).calibration;
    expect(c).toMatchObject({ state: 'succeeded', target: { recall: 0.95, k: 5 } });
    expect(c.grid.map((s: { nprobe: number }) => s.nprobe)).toContain(8);
    expect(new Set(c.grid.map((s: { nprobe: number }) => s.nprobe)).size).toBeGreaterThan(1);
    expect(c.chosen.nprobe).not.toBeNull();
    expect(c.chosen.recall).toBeGreaterThanOrEqual(0.96);
    const evaluated = (await t.req('POST', '/collections/ivf/evaluate', { sampleSize: 100, k: 5 })).json();
    expect([evaluated.rerank, evaluated.nprobe]).toEqual([c.chosen.rerank, c.chosen.nprobe]);
  });

  it('a target changed while a calibration runs gets its own calibration; a shutdown mid-calibration stores nothing and the restart calibrates', async () => {
    await t.req('POST', '/collections', { name: 'p', dimension: d, quantizer: { type: 'pq', m: 2, nbits: 6 }, targetRecall: { recall: 0.8 } });
    await t.req('POST', '/collections/p/vectors', { vectors: data });
    expect((await trainAndWait(t, 'p')).state).toBe('succeeded');
    // The first calibration has just started: change the target under it.
    expect((await t.req('GET', '/collections/p')).json().calibration.state).toBe('running');
    await t.req('PATCH', '/collections/p', { targetRecall: { recall: 0.85, k: 5 } });
    const c = (await calibrated(t, 'p')).calibration;
    expect(c).toMatchObject({ state: 'succeeded', target: { recall: 0.85, k: 5 } });

    await t.req('PATCH', '/collections/p', { targetRecall: { recall: 0.9 } });
    expect((await t.req('GET', '/collections/p')).json().calibration.state).toBe('running');
    await t.close(); // shutdown during the calibration
    t = await makeApp(t.dir);
    expect((await calibrated(t, 'p')).calibration).toMatchObject({ state: 'succeeded', target: { recall: 0.9, k: 10 } });
  });

  it('measures no rerank above MAX_RERANK, so calibrated defaults never exceed what a query may ask', async () => {
    const limited = await makeApp(undefined, { MAX_RERANK: '8' });
    try {
      await limited.req('POST', '/collections', {
        name: 'l',
        dimension: d,
        quantizer: { type: 'pq', m: 1, nbits: 4 },
        targetRecall: { recall: 0.99 },
      });
      await limited.req('POST', '/collections/l/vectors', { vectors: data });
      expect((await trainAndWait(limited, 'l')).state).toBe('succeeded');
      const c = (await calibrated(limited, 'l')).calibration;
      expect(Math.max(...c.grid.map((s: { rerank: number }) => s.rerank))).toBeLessThanOrEqual(8);
      expect(c.chosen.rerank).toBeLessThanOrEqual(8);
      const r = await limited.req('POST', '/collections/l/query', { vector: data[3].vector, k: 10 });
      expect(r.statusCode).toBe(200);
    } finally {
      await limited.destroy();
    }
  });

  it('refuses a bad target with 400', async () => {
    for (const targetRecall of [{ recall: 1 }, { recall: 0 }, { recall: 0.9, k: 0 }, { recall: 0.9, extra: 1 }]) {
      const r = await t.req('POST', '/collections', { name: 'bad', dimension: d, targetRecall });
      expect(r.statusCode).toBe(400);
    }
  });
});
