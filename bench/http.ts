/**
 * The service end to end on Fashion-MNIST, over HTTP against a real server process.
 *
 *   npm run bench:http [-- --quantizer opq --m 32 --nlist 256 --nprobe 16 --rerank 0,4,10 --batch 1000
 *                         --queries 10000 --concurrency 1,8,32 --batching on,off --client http|fetch]
 *
 * Ingests the 60,000 base vectors through the API (vectors/s), trains through the
 * API (seconds from the request to the job's success), then queries the 10,000
 * test vectors (k = 10) one request at a time for each re-rank factor, and with
 * each `concurrency` of requests in flight for the last one: recall@1, 10-recall@10,
 * p50/p99 latency, queries/s; then asks the service's own /evaluate. With
 * `--batching on,off` the queries run twice, each on a freshly restarted
 * server over the same data: with the default QUERY_BATCH_WINDOW_US, then
 * with 0 (no batching across requests).
 * Request bodies are built before the clock starts, so the figures are the
 * server's, though the client shares the machine's two cores with it.
 * --client http (default: node:http with keep-alive) or fetch (Node's fetch,
 * as runs before 2026-11-30 used: ~0.5 ms more per request on these cores).
 * Each row also gives the server's own means over the same queries (from
 * /metrics): the search in the worker pool (what the query costs in-process)
 * and the whole request inside the server, so the HTTP layer's share is seen
 * without the client's.
 * --nlist makes it an IVF collection (queries with --nprobe, else the service's default).
 * Writes bench/results/http-fashion-mnist.json (IVF: http-ivf-fashion-mnist.json).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { type Dataset, REPO_ROOT, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary, percentile } from './lib/report.js';
import { rssMiB, startServer, stopServer, trainToCompletion } from './lib/server.js';

const { values: args } = parseArgs({
  options: {
    quantizer: { type: 'string', default: 'opq' },
    m: { type: 'string', default: '32' },
    nlist: { type: 'string' },
    nprobe: { type: 'string' },
    rerank: { type: 'string', default: '0,4,10' },
    batch: { type: 'string', default: '1000' },
    queries: { type: 'string' },
    concurrency: { type: 'string', default: '1,8,32' },
    batching: { type: 'string', default: 'on,off' },
    client: { type: 'string', default: 'http' },
    out: { type: 'string' },
  },
});

/** Keep-alive connections for --client http (node:http, as most clients do); --client fetch uses Node's fetch (undici), which costs the shared cores ~0.5 ms more per request. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

async function post(url: string, body: string): Promise<any> {
  if (args.client === 'fetch') {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = await r.json();
    if (!r.ok) throw new Error(`${r.status}: ${JSON.stringify(json)}`);
    return json;
  }
  return new Promise((ok, fail) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => {
          const json = JSON.parse(Buffer.concat(parts).toString('utf8'));
          if ((res.statusCode ?? 500) >= 400) fail(new Error(`${res.statusCode}: ${JSON.stringify(json)}`));
          else ok(json);
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * The server's own clocks, from /metrics: Σ and count of pqvec_search_seconds
 * (the search in the worker pool, dispatch included: what a query costs
 * in-process) and of the query route's pqvec_http_request_duration_seconds.
 */
async function serverClocks(base: string): Promise<{ searchSum: number; searchCount: number; httpSum: number; httpCount: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const total = (metric: string, match = ''): number => {
    let v = 0;
    for (const line of text.split('\n')) if (line.startsWith(metric) && line.includes(match)) v += Number(line.slice(line.lastIndexOf(' ') + 1));
    return v;
  };
  return {
    searchSum: total('pqvec_search_seconds_sum'),
    searchCount: total('pqvec_search_seconds_count'),
    httpSum: total('pqvec_http_request_duration_seconds_sum', '/query"'),
    httpCount: total('pqvec_http_request_duration_seconds_count', '/query"'),
  };
}

async function runQueries(base: string, bodies: string[], concurrency: number, rerank: number, ds: Dataset) {
  const latencies: number[] = new Array(bodies.length);
  const sums = emptyRecall();
  const ids: number[][] = new Array(bodies.length);
  let next = 0;
  const before = await serverClocks(base);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const q = next++;
        if (q >= bodies.length) return;
        const t = performance.now();
        const r = await post(`${base}/collections/fmnist/query`, bodies[q]);
        latencies[q] = performance.now() - t;
        ids[q] = r.results.map((h: { id: string }) => Number(h.id));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await serverClocks(base);
  for (const [q, list] of ids.entries()) addRecall(sums, list, ds.groundTruth, q, ds.gtK);
  const sorted = [...latencies].sort((a, b) => a - b);
  const { recall1, recall10at10 } = finishRecall(sums); // recall@100 needs k = 100
  return {
    concurrency,
    rerank,
    recall1,
    recall10at10,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    queriesPerSecond: bodies.length / seconds,
    // Means by the server's clocks over the same queries: the search alone, and the whole request inside the server.
    serverSearchMeanMs: (1000 * (after.searchSum - before.searchSum)) / Math.max(1, after.searchCount - before.searchCount),
    serverRequestMeanMs: (1000 * (after.httpSum - before.httpSum)) / Math.max(1, after.httpCount - before.httpCount),
  };
}

async function main(): Promise<void> {
  const ds = loadFashionMnistOrExit();
  const m = Number(args.m);
  const type = args.quantizer as 'pq' | 'opq';
  const nlist = args.nlist === undefined ? null : Number(args.nlist);
  const nprobe = args.nprobe === undefined ? undefined : Number(args.nprobe);
  const quantizer = { type, m, nbits: 8, ...(nlist === null ? {} : { ivf: { nlist } }) };
  const name = `${type.toUpperCase()}${m}${nlist === null ? '' : `,IVF${nlist}`}`;
  const out = args.out ?? resolve(REPO_ROOT, `bench/results/http${nlist === null ? '' : '-ivf'}-fashion-mnist.json`);
  const batch = Number(args.batch);
  const nq = Math.min(ds.nQuery, Number(args.queries ?? ds.nQuery));
  const dir = mkdtempSync(join(tmpdir(), 'pqvec-http-bench-'));
  let server = await startServer(dir);
  let { url } = server;
  console.log(`server ${url}, data in ${dir}; ${machineSummary()}`);
  try {
    await post(`${url}/collections`, JSON.stringify({ name: 'fmnist', dimension: ds.d, metric: 'l2', quantizer }));

    // Ingest: ids are the base row numbers, so results compare directly with the ground truth.
    const bodies: string[] = [];
    for (let s = 0; s < ds.nBase; s += batch) {
      const vectors = [];
      for (let i = s; i < Math.min(ds.nBase, s + batch); i++) {
        vectors.push({ id: String(i), vector: Array.from(ds.base.subarray(i * ds.d, (i + 1) * ds.d)) });
      }
      bodies.push(JSON.stringify({ vectors }));
    }
    const ti = performance.now();
    for (const body of bodies) await post(`${url}/collections/fmnist/vectors`, body);
    const ingestSeconds = (performance.now() - ti) / 1000;
    const ingestVectorsPerSecond = ds.nBase / ingestSeconds;
    const rssAfterIngest = rssMiB(server.proc.pid!)?.rss ?? null;
    console.log(
      `ingest: ${ds.nBase} vectors in ${ingestSeconds.toFixed(1)} s = ${ingestVectorsPerSecond.toFixed(0)} vectors/s (batches of ${batch})`,
    );

    const tt = performance.now();
    const state = await trainToCompletion(url, 'fmnist', {}, undefined, 200);
    const trainSeconds = (performance.now() - tt) / 1000;
    const rssAfterTraining = rssMiB(server.proc.pid!)?.rss ?? null;
    const phases = Object.entries(state.result.phaseSeconds as Record<string, number>).map(([p, s]) => `${p} ${s.toFixed(1)} s`);
    console.log(`train ${name}: ${trainSeconds.toFixed(1)} s (${phases.join(', ')}; relative MSE ${state.result.relativeMse.toFixed(4)})`);

    const view = (await (await fetch(`${url}/collections/fmnist`)).json()) as { bytesPerVector: number; trainedNlist: number | null };
    const factors = args.rerank.split(',').map(Number);
    const concurrencies = args.concurrency.split(',').map(Number);
    const runs = [];
    const plan = [...factors.slice(0, -1).map((f) => [f, 1]), ...concurrencies.map((c) => [factors[factors.length - 1], c])];
    for (const batching of args.batching.split(',')) {
      // Each setting on a freshly started server over the same data (the process that trained carries its garbage).
      await stopServer(server.proc);
      server = await startServer(dir, batching === 'off' ? { QUERY_BATCH_WINDOW_US: '0' } : {});
      url = server.url;
      for (const [rerank, c] of plan) {
        const queryBodies = Array.from({ length: nq }, (_, q) =>
          JSON.stringify({ vector: Array.from(ds.queries.subarray(q * ds.d, (q + 1) * ds.d)), k: 10, rerank, nprobe }),
        );
        const r = await runQueries(url, queryBodies, c, rerank, ds);
        runs.push({ batching, ...r });
        console.log(
          `queries, rerank ${rerank}, concurrency ${c}, batching ${batching}: recall@1 ${r.recall1.toFixed(4)}, 10-recall@10 ${r.recall10at10.toFixed(4)}, ` +
            `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, mean ${r.meanMs.toFixed(2)} ms, ${r.queriesPerSecond.toFixed(0)} queries/s; ` +
            `server: search ${r.serverSearchMeanMs.toFixed(2)} ms, request ${r.serverRequestMeanMs.toFixed(2)} ms (means)`,
        );
      }
    }
    const rssAfterQueries = rssMiB(server.proc.pid!)?.rss ?? null;
    const evaluate = await post(
      `${url}/collections/fmnist/evaluate`,
      JSON.stringify({ sampleSize: 1000, k: 10, rerank: factors[factors.length - 1], nprobe }),
    );
    console.log(`/evaluate: ${JSON.stringify(evaluate)}`);
    const core = existsSync(resolve(REPO_ROOT, 'bench/results/quality-fashion-mnist.json'))
      ? JSON.parse(readFileSync(resolve(REPO_ROOT, 'bench/results/quality-fashion-mnist.json'), 'utf8')).rows.find(
          (r: { m: number; quantizer: string }) => r.m === m && r.quantizer === type,
        )
      : undefined;
    if (core && nlist === null)
      console.log(`core benchmark ${name} (rerank 0): recall@1 ${core.recall1.toFixed(4)}, 10-recall@10 ${core.recall10at10.toFixed(4)}`);
    const result = {
      dataset: 'fashion-mnist',
      date: new Date().toISOString(),
      machine: machineSummary(),
      quantizer,
      trainedNlist: view.trainedNlist,
      nprobe: evaluate.nprobe,
      bytesPerVectorInMemory: view.bytesPerVector,
      ingest: { vectors: ds.nBase, batch, seconds: ingestSeconds, vectorsPerSecond: ingestVectorsPerSecond },
      train: { seconds: trainSeconds, phaseSeconds: state.result.phaseSeconds, relativeMse: state.result.relativeMse },
      queries: runs.map((r) => ({ ...r, queries: nq, k: 10 })),
      serverRssMiB: { afterIngest: rssAfterIngest, afterTraining: rssAfterTraining, afterQueries: rssAfterQueries },
      evaluate,
      coreRecall: core && nlist === null ? { recall1: core.recall1, recall10at10: core.recall10at10 } : null,
    };
    mkdirSync(resolve(out, '..'), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${out}`);
  } finally {
    await stopServer(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
