/**
 * Filtered search on Fashion-MNIST, through the service in-process (the
 * collection service the routes call: no HTTP, so the figures are the search's).
 *
 *   npm run bench:filters [-- --queries 500 --rerank 4,10 --index flat,ivf --out bench/results/filters-fashion-mnist.json]
 *   node dist/bench/filters.js --index lopq --out bench/results/filters-lopq-fashion-mnist.json [--data DIR]
 *
 * Metadata of base image i: its class `label` (0–9), `r` uniform in [0, 1)
 * (seeded) and `tags`, a seeded subset of ["a", "b", "c", "d"]. Indexes: flat
 * PQ16 and IVF256 + PQ16 (default), IVF256 + LOPQ16 (`--index lopq`: one
 * rotation per cell, so a filtered query's cell tables cost d² each); filters of selectivity ≈ 50 %, 10 %, 1 % and
 * 0.1 %; rerank 4 and 10; k = 10. Ground truth: the exact filtered top 10,
 * computed here by brute force over the matching images. The collections
 * index label, r and tags (indexedFields). Each filter is run once before the
 * clock starts (its match mask is computed then and cached, as in service);
 * that first query's time is reported apart (maskMs), and again at the end
 * with the value indexes dropped (maskMsUnindexed: every row's metadata read
 * by the workers); indexBuildMs is the time to index the three fields of the
 * stored rows (PATCH indexedFields). Queries run one at
 * a time, each unfiltered then filtered (so noise falls on both alike); the
 * unfiltered figures are against the exact top 10 of all images.
 * Writes bench/results/filters-fashion-mnist.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Rng } from '../src/core/rng.js';
import { TopK } from '../src/core/topk.js';
import { l2sq } from '../src/core/distance.js';
import { REPO_ROOT, loadFashionMnistLabels, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { jobEnded } from './lib/jobs.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    queries: { type: 'string', default: '500' },
    rerank: { type: 'string', default: '4,10' },
    index: { type: 'string', default: 'flat,ivf' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/filters-fashion-mnist.json') },
    // Kept data directory: a collection already trained there is reused (an A/B of two builds trains once).
    data: { type: 'string' },
  },
});

const K = 10;
const nQueries = Number(args.queries);
const reranks = args.rerank.split(',').map(Number);

const ds = loadFashionMnistOrExit();
const labels = loadFashionMnistLabels();
const rng = new Rng(2026);
const meta = Array.from({ length: ds.nBase }, (_, i) => ({
  label: labels[i],
  r: rng.nextFloat(),
  tags: ['a', 'b', 'c', 'd'].filter(() => rng.nextFloat() < 0.3),
}));

/** The filters, each with the same predicate written out for the ground truth. */
const FILTERS: { name: string; filter: Record<string, unknown>; holds: (m: (typeof meta)[number]) => boolean }[] = [
  { name: 'r < 0.5', filter: { r: { lt: 0.5 } }, holds: (m) => m.r < 0.5 },
  { name: 'label in [3]', filter: { label: { in: [3] } }, holds: (m) => m.label === 3 },
  {
    name: 'label = 3 and r < 0.1',
    filter: { and: [{ label: 3 }, { r: { lt: 0.1 } }] },
    holds: (m) => m.label === 3 && m.r < 0.1,
  },
  {
    name: 'tags has a, r < 0.0033, not label 9',
    filter: { tags: 'a', r: { lt: 0.0033 }, not: { label: 9 } },
    holds: (m) => m.tags.includes('a') && m.r < 0.0033 && m.label !== 9,
  },
];

/** Exact top K of query q among the rows `holds` lets through (all rows without it). */
function exactTop(q: number, holds: ((m: (typeof meta)[number]) => boolean) | null): number[] {
  const heap = new TopK(K);
  for (let i = 0; i < ds.nBase; i++) {
    if (holds !== null && !holds(meta[i])) continue;
    const dist = l2sq(ds.queries, q * ds.d, ds.base, i * ds.d, ds.d);
    if (dist < heap.threshold()) heap.push(dist, i);
  }
  return Array.from(heap.drainSorted().ids);
}

console.log(`Fashion-MNIST: ${ds.nBase} base, ${nQueries} queries, d = ${ds.d}; ${machineSummary()}`);
const truth = new Map<string, number[][]>();
truth.set(
  'none',
  Array.from({ length: nQueries }, (_, q) => exactTop(q, null)),
);
for (const f of FILTERS)
  truth.set(
    f.name,
    Array.from({ length: nQueries }, (_, q) => exactTop(q, f.holds)),
  );

const dir = args.data ?? mkdtempSync(join(tmpdir(), 'pqvec-filters-'));
mkdirSync(dir, { recursive: true });
const app = await buildApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'NORMAL', MAX_EVENT_LOOP_DELAY_MS: '0' }));
const service = app.collections;
const queries = Array.from({ length: nQueries }, (_, q) => Array.from(ds.queries.subarray(q * ds.d, (q + 1) * ds.d)));
const rows: Record<string, unknown>[] = [];
try {
  for (const [index, name, type, ivf] of [
    ['PQ16', 'flat', 'pq', undefined],
    ['IVF256,PQ16', 'ivf', 'pq', { nlist: 256 }],
    ['IVF256,LOPQ16', 'lopq', 'lopq', { nlist: 256 }],
  ] as const) {
    if (!args.index.split(',').includes(name)) continue;
    const indexedFields = ['label', 'r', 'tags'];
    const kept = service.list().find((c) => c.name === name && c.trained && c.count === ds.nBase);
    if (kept !== undefined) console.log(`${index}: reusing the trained collection in ${dir}`);
    else service.create({ name, dimension: ds.d, metric: 'l2', quantizer: { type, m: 16, nbits: 8, ...(ivf && { ivf }) }, indexedFields });
    for (let s = 0; kept === undefined && s < ds.nBase; s += 2000) {
      const items = [];
      for (let i = s; i < Math.min(ds.nBase, s + 2000); i++) {
        items.push({ id: String(i), vector: Array.from(ds.base.subarray(i * ds.d, (i + 1) * ds.d)), metadata: meta[i] });
      }
      await service.upsert(name, items);
    }
    if (kept === undefined) {
      const t0 = performance.now();
      const j = await jobEnded(service, name, service.train(name, {}).id, 200);
      if (j.state === 'failed') throw new Error(`training failed: ${JSON.stringify(j.error)}`);
      console.log(`${index}: trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }

    /**
     * 10-recall@10 and ms per query, filtered and unfiltered, one query at a
     * time and alternating (query q unfiltered, then filtered), so the
     * machine's noise falls on both alike.
     */
    const measure = async (filter: Record<string, unknown>, want: number[][], rerank: number) => {
      const sums = { found: 0, ms: 0, baseFound: 0, baseMs: 0 };
      let strategy = '';
      let eligible = 0;
      const recall = (ids: number[], truthQ: number[]) => {
        const wanted = new Set(truthQ);
        return ids.filter((id) => wanted.has(id)).length / Math.max(1, Math.min(K, truthQ.length));
      };
      for (let q = 0; q < nQueries; q++) {
        const t0 = performance.now();
        const base = await service.query(name, [queries[q]], { k: K, rerank });
        const t1 = performance.now();
        const answer = await service.query(name, [queries[q]], { k: K, rerank, filter });
        const t2 = performance.now();
        sums.baseMs += t1 - t0;
        sums.ms += t2 - t1;
        sums.baseFound += recall(
          base.results[0].map((h) => Number(h.id)),
          truth.get('none')![q],
        );
        sums.found += recall(
          answer.results[0].map((h) => Number(h.id)),
          want[q],
        );
        strategy = answer.explain.strategy;
        eligible = answer.explain.eligible;
      }
      return {
        recall: sums.found / nQueries,
        ms: sums.ms / nQueries,
        baseRecall: sums.baseFound / nQueries,
        baseMs: sums.baseMs / nQueries,
        strategy,
        eligible,
      };
    };

    /** The first query of each filter, which computes its match mask (then cached). */
    const firstQueries = async () => {
      const ms = new Map<string, number>();
      for (const f of FILTERS) {
        const tm = performance.now();
        await service.query(name, [queries[0]], { k: K, filter: f.filter });
        ms.set(f.name, performance.now() - tm);
      }
      return ms;
    };
    for (let q = 0; q < 50; q++) await service.query(name, [queries[q]], { k: K }); // warm-up: workers, caches
    const maskMs = await firstQueries();
    for (const rerank of reranks) {
      for (let q = 0; q < 50; q++) await service.query(name, [queries[q]], { k: K, rerank }); // warm-up: workers, caches
      for (const f of FILTERS) {
        const got = await measure(f.filter, truth.get(f.name)!, rerank);
        const row = {
          index,
          rerank,
          filter: f.name,
          selectivity: got.eligible / ds.nBase,
          eligible: got.eligible,
          recall10at10: got.recall,
          msPerQuery: got.ms,
          unfilteredRecall10at10: got.baseRecall,
          unfilteredMsPerQuery: got.baseMs,
          strategy: got.strategy,
          maskMs: maskMs.get(f.name)!,
        };
        rows.push(row);
        console.log(
          `${index} rerank ${rerank} | ${f.name} (${(row.selectivity * 100).toFixed(2)} %, ${got.strategy}): ` +
            `10-recall@10 ${got.recall.toFixed(3)} vs ${got.baseRecall.toFixed(3)} unfiltered, ` +
            `${got.ms.toFixed(3)} vs ${got.baseMs.toFixed(3)} ms/query`,
        );
      }
    }
    // The same first queries without value indexes, then the time to index the stored rows again.
    await service.update(name, { indexedFields: [] });
    const unindexed = await firstQueries();
    const tb = performance.now();
    await service.update(name, { indexedFields });
    const indexBuildMs = performance.now() - tb;
    for (const row of rows) if (row.index === index) Object.assign(row, { maskMsUnindexed: unindexed.get(row.filter as string)!, indexBuildMs });
    for (const f of FILTERS) {
      console.log(
        `${index} | ${f.name}: first query (mask) ${maskMs.get(f.name)!.toFixed(1)} ms indexed, ${unindexed.get(f.name)!.toFixed(1)} ms unindexed`,
      );
    }
    console.log(`${index}: indexing label, r and tags of ${ds.nBase} stored rows took ${indexBuildMs.toFixed(0)} ms`);
  }
} finally {
  await app.close();
  if (args.data === undefined) rmSync(dir, { recursive: true, force: true });
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(
  args.out,
  `${JSON.stringify({ dataset: 'fashion-mnist', date: new Date().toISOString(), machine: machineSummary(), queries: nQueries, k: K, rows }, null, 2)}\n`,
);
console.log(`wrote ${args.out}`);
