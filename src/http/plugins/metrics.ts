/**
 * GET /metrics in Prometheus text format (prom-client), public like /health:
 * requests and latency per route and status, search scan and re-rank time,
 * vectors and code bytes per collection, training jobs by outcome and
 * duration, the worker pool's queue and utilisation, and Node's process
 * metrics. Each app has its own registry (tests build many apps in one process).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { file } from '../responses.js';
import { ClientGoneError, RequestTimeoutError } from './deadline.js';

/** Latency buckets in seconds: 1 ms to 60 s (the default request timeout). */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** instrument: false registers only the route (the document-only app has no service to observe). */
async function metrics(app: FastifyInstance, options: { instrument: boolean }): Promise<void> {
  const register = new Registry();
  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      logLevel: 'warn',
      schema: {
        operationId: 'getMetrics',
        summary: 'Metrics in Prometheus text format',
        description: 'Requests, latency, search and training times, collection sizes, the worker pool and Node.js process metrics.',
        tags: ['service'],
        security: [],
        response: { 200: file('text/plain', 'Prometheus exposition format 0.0.4') },
      },
    },
    async (_request, reply) => reply.type(register.contentType).send(await register.metrics()),
  );
  if (!options.instrument) return;

  collectDefaultMetrics({ register });

  const requests = new Counter({
    name: 'pqvec_http_requests_total',
    help: 'HTTP requests answered',
    labelNames: ['method', 'route', 'status'],
    registers: [register],
  });
  const latency = new Histogram({
    name: 'pqvec_http_request_duration_seconds',
    help: 'Time from request to response',
    labelNames: ['method', 'route', 'status'],
    buckets: SECONDS_BUCKETS,
    registers: [register],
  });
  const search = new Histogram({
    name: 'pqvec_search_seconds',
    help: 'Time of one search request in the worker pool: the scan (exact, flat ADC or IVF), with the exact re-ranking when reranked="true"',
    labelNames: ['index', 'reranked'],
    buckets: SECONDS_BUCKETS,
    registers: [register],
  });
  const batches = new Histogram({
    name: 'pqvec_scan_batch_queries',
    help: 'Queries per scan sent to the worker pool from single-query requests (QUERY_BATCH_WINDOW_US): 1 = scanned alone',
    buckets: [1, 2, 4, 8, 16, 32],
    registers: [register],
  });
  const jobs = new Counter({
    name: 'pqvec_training_jobs_total',
    help: 'Training jobs finished, by outcome',
    labelNames: ['state'],
    registers: [register],
  });
  const jobSeconds = new Histogram({
    name: 'pqvec_training_duration_seconds',
    help: 'Wall time of finished training jobs',
    labelNames: ['state'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [register],
  });
  new Gauge({
    name: 'pqvec_training_jobs_running',
    help: 'Training jobs running now',
    registers: [register],
    collect() {
      this.set(app.collections.runningJobs());
    },
  });
  const collectionGauge = (name: string, help: string, value: (c: ReturnType<typeof app.collections.list>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['collection'],
      registers: [register],
      collect() {
        this.reset(); // deleted collections disappear
        for (const c of app.collections.list()) this.set({ collection: c.name }, value(c));
      },
    });
  collectionGauge('pqvec_collection_vectors', 'Vectors stored per collection', (c) => c.count);
  collectionGauge(
    'pqvec_collection_code_bytes',
    'Bytes held in memory for search per collection (vectors × bytes per vector; 0 while untrained)',
    (c) => (c.trained ? c.count * c.bytesPerVector : 0),
  );
  const pool = () => app.collections.poolStats();
  new Gauge({
    name: 'pqvec_pool_queue_depth',
    help: 'Worker-pool tasks waiting for a thread',
    registers: [register],
    collect() {
      this.set(pool().queued);
    },
  });
  new Gauge({
    name: 'pqvec_pool_utilization',
    help: 'Fraction of time the worker threads have been busy',
    registers: [register],
    collect() {
      this.set(pool().utilization);
    },
  });
  new Gauge({
    name: 'pqvec_pool_threads',
    help: 'Worker threads alive',
    registers: [register],
    collect() {
      this.set(pool().threads);
    },
  });

  app.collections.observe({
    searched(t) {
      search.observe({ index: t.index, reranked: String(t.reranked) }, t.scanSeconds);
    },
    scanBatched(queries) {
      batches.observe(queries);
    },
    trainingFinished(t) {
      jobs.inc({ state: t.state });
      jobSeconds.observe({ state: t.state }, t.seconds);
    },
  });

  const cancelled = new Counter({
    name: 'pqvec_http_requests_cancelled_total',
    help: 'Requests whose work was cancelled: timeout (REQUEST_TIMEOUT_MS) or client_gone (the client closed the connection first)',
    labelNames: ['reason'],
    registers: [register],
  });
  app.addHook('onError', async (_request, _reply, err) => {
    if (err instanceof RequestTimeoutError) cancelled.inc({ reason: 'timeout' });
    else if (err instanceof ClientGoneError) cancelled.inc({ reason: 'client_gone' });
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });
}

export default fp(metrics, { name: 'metrics' });
