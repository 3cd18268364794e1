/**
 * Recall on request: collections created with targetRecall, trained, left to
 * calibrate, then queried with the calibrated defaults (no rerank, no nprobe)
 * against exact ground truth, beside the service's default setting.
 *
 *   npm run bench:target-recall [-- --target 0.95 --queries 10000 --random-queries 1000 --only fmnist-flat,fmnist-ivf,random-cosine]
 *
 * Settings: Fashion-MNIST PQ16 flat and IVF256,PQ16 (60,000 base vectors, the
 * 10,000 test images as queries, ../shared ground truth), and 5,000 random
 * 384-d vectors with the cosine metric and the default quantizer (the case
 * where rerank 4 gave 10-recall@10 0.72), queried with 1,000 fresh random
 * vectors (ground truth by brute force here). The service runs in this
 * process (buildApp, real SQLite and worker pool, requests by inject); queries
 * go one at a time. Writes bench/results/target-recall.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Rng } from '../src/core/rng.js';
import { REPO_ROOT, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: '0.95' },
    queries: { type: 'string', default: '10000' },
    'random-queries': { type: 'string', default: '1000' },
    only: { type: 'string', default: 'fmnist-flat,fmnist-ivf,random-cosine' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/target-recall.json') },
  },
});

interface Workload {
  name: string;
  d: number;
  metric: 'l2' | 'cosine';
  quantizer: Record<string, unknown>;
  base: Float32Array;
  nBase: number;
  queries: Float32Array;
  nQuery: number;
  /** nQuery × gtK base rows, nearest first. */
  gt: Int32Array;
  gtK: number;
}

const target = Number(args.target);

async function req(app: FastifyInstance, method: 'GET' | 'POST', url: string, body?: unknown): Promise<any> {
  const r = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
  if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
  return r.json();
}

async function poll<T>(get: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs the workload's queries one at a time with extra body fields: 10-recall@10 and ms per query. */
async function measure(
  app: FastifyInstance,
  w: Workload,
  extra: Record<string, unknown>,
): Promise<{ recall1: number; recall10at10: number; msPerQuery: number }> {
  const sums = emptyRecall();
  const bodies = Array.from({ length: w.nQuery }, (_, q) => ({ vector: Array.from(w.queries.subarray(q * w.d, (q + 1) * w.d)), k: 10, ...extra }));
  const t0 = performance.now();
  for (let q = 0; q < w.nQuery; q++) {
    const r = await req(app, 'POST', '/collections/c/query', bodies[q]);
    addRecall(
      sums,
      (r.results as { id: string }[]).map((h) => Number(h.id.slice(1))),
      w.gt,
      q,
      w.gtK,
    );
  }
  const msPerQuery = (performance.now() - t0) / w.nQuery;
  const { recall1, recall10at10 } = finishRecall(sums);
  return { recall1, recall10at10, msPerQuery };
}

async function run(w: Workload): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'pqvec-target-recall-'));
  const app = await buildApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
  try {
    await req(app, 'POST', '/collections', {
      name: 'c',
      dimension: w.d,
      metric: w.metric,
      quantizer: w.quantizer,
      targetRecall: { recall: target, k: 10 },
    });
    for (let s = 0; s < w.nBase; s += 1000) {
      const vectors = [];
      for (let i = s; i < Math.min(w.nBase, s + 1000); i++)
        vectors.push({ id: `v${i}`, vector: Array.from(w.base.subarray(i * w.d, (i + 1) * w.d)) });
      await req(app, 'POST', '/collections/c/vectors', { vectors });
    }
    const t0 = performance.now();
    const { job } = await req(app, 'POST', '/collections/c/train', {});
    const trained = await poll(
      () => req(app, 'GET', `/collections/c/jobs/${job.id}`),
      (j) => j.state !== 'running' && j.state !== 'queued',
    );
    if (trained.state !== 'succeeded') throw new Error(`training ${trained.state}: ${JSON.stringify(trained.error)}`);
    const trainSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const view = await poll(
      () => req(app, 'GET', '/collections/c'),
      (v) => v.calibration !== null && v.calibration.state !== 'running',
    );
    const calibrationSeconds = (performance.now() - t1) / 1000;
    const c = view.calibration;
    if (c.state !== 'succeeded') throw new Error(`calibration ${c.state}: ${c.error}`);
    const calibrated = await measure(app, w, {});
    const baselineBody = c.baseline.nprobe === null ? { rerank: c.baseline.rerank } : { rerank: c.baseline.rerank, nprobe: c.baseline.nprobe };
    const baseline = await measure(app, w, baselineBody);
    const row = {
      workload: w.name,
      quantizer: w.quantizer,
      metric: w.metric,
      vectors: w.nBase,
      queries: w.nQuery,
      target,
      trainSeconds,
      calibrationSeconds,
      calibration: { met: c.met, required: c.required, queries: c.queries, settingsMeasured: c.grid.length, chosen: c.chosen, baseline: c.baseline },
      calibratedDefaults: { setting: { rerank: c.chosen.rerank, nprobe: c.chosen.nprobe }, ...calibrated },
      serviceDefaults: { setting: { rerank: c.baseline.rerank, nprobe: c.baseline.nprobe }, ...baseline },
    };
    const setting = (s: { rerank: number; nprobe: number | null }) => `rerank ${s.rerank}${s.nprobe === null ? '' : `, nprobe ${s.nprobe}`}`;
    console.log(
      `${w.name}: calibrated (${setting(c.chosen)}; calibration ${c.chosen.recall.toFixed(3)} at ${c.chosen.msPerQuery.toFixed(2)} ms) → ` +
        `10-recall@10 ${calibrated.recall10at10.toFixed(3)} at ${calibrated.msPerQuery.toFixed(2)} ms/query; service defaults (${setting(c.baseline)}; ` +
        `calibration ${c.baseline.recall.toFixed(3)}) → ${baseline.recall10at10.toFixed(3)} at ${baseline.msPerQuery.toFixed(2)} ms/query ` +
        `(train ${trainSeconds.toFixed(1)} s, calibration ${calibrationSeconds.toFixed(1)} s, ${c.grid.length} settings)`,
    );
    return row;
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Seeded Gaussian vectors (n × d). */
function gaussian(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rng.nextFloat()));
    const a = 2 * Math.PI * rng.nextFloat();
    out[i] = r * Math.cos(a);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** Exact top k by cosine similarity, brute force. */
function cosineTruth(base: Float32Array, n: number, queries: Float32Array, nq: number, d: number, k: number): Int32Array {
  const norm = (x: Float32Array, i: number) => Math.sqrt(x.subarray(i * d, (i + 1) * d).reduce((s, v) => s + v * v, 0));
  const bn = Float64Array.from({ length: n }, (_, i) => norm(base, i));
  const out = new Int32Array(nq * k);
  const sims = new Float64Array(n);
  for (let q = 0; q < nq; q++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += queries[q * d + t] * base[i * d + t];
      sims[i] = s / bn[i];
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => sims[b] - sims[a] || a - b);
    out.set(order.slice(0, k), q * k);
  }
  return out;
}

async function main(): Promise<void> {
  const only = new Set(args.only.split(','));
  const workloads: Workload[] = [];
  if (only.has('fmnist-flat') || only.has('fmnist-ivf')) {
    const ds = loadFashionMnistOrExit();
    const nQuery = Math.min(ds.nQuery, Number(args.queries));
    const fm = { d: ds.d, metric: 'l2' as const, base: ds.base, nBase: ds.nBase, queries: ds.queries, nQuery, gt: ds.groundTruth, gtK: ds.gtK };
    if (only.has('fmnist-flat')) workloads.push({ name: 'Fashion-MNIST PQ16 flat', quantizer: { type: 'pq', m: 16 }, ...fm });
    if (only.has('fmnist-ivf')) workloads.push({ name: 'Fashion-MNIST IVF256,PQ16', quantizer: { type: 'pq', m: 16, ivf: { nlist: 256 } }, ...fm });
  }
  if (only.has('random-cosine')) {
    const d = 384;
    const n = 5_000;
    const nq = Number(args['random-queries']);
    const base = gaussian(n, d, 1);
    const queries = gaussian(nq, d, 2);
    workloads.push({
      name: 'random 384-d cosine, default quantizer',
      d,
      metric: 'cosine',
      quantizer: { type: 'pq' },
      base,
      nBase: n,
      queries,
      nQuery: nq,
      gt: cosineTruth(base, n, queries, nq, d, 10),
      gtK: 10,
    });
  }
  console.log(`target 10-recall@10 ${target}; ${machineSummary()}`);
  const rows = [];
  for (const w of workloads) rows.push(await run(w));
  mkdirSync(resolve(args.out, '..'), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify({ date: new Date().toISOString(), machine: machineSummary(), target, rows }, null, 2)}\n`);
  console.log(`wrote ${args.out}`);
}

await main();
