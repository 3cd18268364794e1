/**
 * Builds the pqvec Fastify application: opens the store, starts the worker pool,
 * rebuilds every collection's index, and registers the plugins and routes.
 * src/server.ts only listens and shuts down; tests build the app and inject requests.
 */
import cors from '@fastify/cors';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { HARD_LIMITS, RETRY_AFTER_SECONDS } from './tunables.js';
import auth from './http/plugins/auth.js';
import deadline from './http/plugins/deadline.js';
import errors, { clientError, frameworkError } from './http/plugins/errors.js';
import { errorBody } from './http/responses.js';
import metrics from './http/plugins/metrics.js';
import openapi from './http/plugins/swagger.js';
import collectionRoutes from './http/routes/collections.js';
import healthRoutes from './http/routes/health.js';
import jobRoutes from './http/routes/jobs.js';
import queryRoutes from './http/routes/query.js';
import snapshotRoutes from './http/routes/snapshots.js';
import vectorRoutes from './http/routes/vectors.js';
import { ComputePool } from './pool/compute-pool.js';
import { CollectionService } from './services/collections.js';
import { SnapshotService } from './services/snapshots.js';
import { openDatabase } from './store/database.js';
import { Store } from './store/store.js';
import { assertLittleEndian } from './store/vector-blobs.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The collection service: the only thing routes and plugins reach (no store, no pool). */
    collections: CollectionService;
  }
}

/** What an app is built on, for tests and tools that need to look beneath the HTTP layer. */
export interface AppInternals {
  store: Store;
  pool: ComputePool;
}

const internals = new WeakMap<FastifyInstance, AppInternals>();

/** The store and pool of an app built by buildApp. */
export function internalsOf(app: FastifyInstance): AppInternals {
  const found = internals.get(app);
  if (found === undefined) throw new Error('not an app built by buildApp');
  return found;
}

export interface BuildOptions {
  /** Passed to Fastify (logger settings, for instance); default: pino at config.logLevel. */
  fastify?: FastifyServerOptions;
}

/**
 * Longest path parameter, as sent (percent-encoded): an id of maxIdLength UTF-16
 * units, each at most 3 UTF-8 bytes = 9 characters encoded (a surrogate pair is
 * 4 bytes for 2 units). Fastify's default of 100 made ids over 100 characters unreachable.
 */
const MAX_PARAM_LENGTH = HARD_LIMITS.maxIdLength * 9;

/** Routes that answer even while the service sheds load: probes must see the state, not be refused by it. */
const PROBES = new Set(['/health', '/ready', '/metrics']);

/** The Fastify instance with the service's HTTP settings (no routes yet). */
function createFastify(config: Config, options: BuildOptions): FastifyInstance {
  return Fastify({
    logger: { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] },
    bodyLimit: config.bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Node's own limit on receiving a whole request (slow bodies); handlers get REQUEST_TIMEOUT_MS through request.deadline.
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: false,
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
    // Node would answer a request without Host with a bare 400 before any hook; the gate below answers it with the error body.
    http: { requireHostHeader: false },
    ...options.fastify,
  });
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  assertLittleEndian();
  const app = createFastify(config, options);
  const { db, path, applied } = openDatabase(config.dataDir, { synchronous: config.sqliteSynchronous });
  if (applied.length > 0) app.log.info({ migrations: applied }, 'database migrated');
  const store = new Store(db);
  const pool = new ComputePool({
    threads: config.workers,
    maxQueue: config.maxQueuedTasks,
    onError: (err) => app.log.warn({ err }, 'worker pool: a late or unexpected worker message was ignored'),
  });
  const collections = new CollectionService(store, pool, path, app.log, config.limits, { queryBatchWindowMicros: config.queryBatchWindowMicros });
  const snapshots = new SnapshotService(store, config.dataDir);
  internals.set(app, { store, pool });
  app.decorate('collections', collections);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // On close (after in-flight requests finish): stop jobs, then the pool, then the database.
  app.addHook('onClose', async () => {
    await collections.close();
    await pool.close();
    db.close();
  });
  try {
    await collections.load();
  } catch (err) {
    await pool.close();
    db.close();
    throw err;
  }
  await registerApi(app, config, { snapshots, isClosing: () => closing, instrument: true });
  return app;
}

/**
 * An app that only describes the API: every route and schema of buildApp, no
 * database, no worker pool, no handler that can run (`npm run openapi`). Any
 * use of its service throws.
 */
export async function buildDocumentApp(config: Config): Promise<FastifyInstance> {
  const app = createFastify(config, {});
  // Every method of the service refuses: building the document registers the routes, and never calls them.
  const refuse = <T>(service: { prototype: T; name: string }): T =>
    Object.fromEntries(
      Object.getOwnPropertyNames(service.prototype)
        .filter((m) => m !== 'constructor')
        .map((m) => [
          m,
          () => {
            throw new Error(`the document app serves no requests (${service.name}.${m})`);
          },
        ]),
    ) as T;
  app.decorate('collections', refuse(CollectionService));
  await registerApi(app, config, { snapshots: refuse(SnapshotService), isClosing: () => false, instrument: false });
  return app;
}

/** The plugins and routes of the API, in order, over a service decorated as `collections`. */
async function registerApi(
  app: FastifyInstance,
  config: Config,
  deps: { snapshots: SnapshotService; isClosing: () => boolean; instrument: boolean },
): Promise<void> {
  const { snapshots, isClosing } = deps;
  // zod validates requests and checks every JSON response against its route's schema before it is sent.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // An empty JSON body means "no body" (POST /train with defaults), not a parse error.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : parseJson(request, body as string, done),
  );

  await app.register(errors);
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor >= 1 && request.headers.host === undefined) {
      return reply.status(400).send(errorBody('bad_request', 'an HTTP/1.1 request needs a Host header'));
    }
    if (!isClosing()) return;
    reply.header('connection', 'close');
    return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send(errorBody('shutting_down', 'the service is shutting down'));
  });
  // Once shutting down, every response closes its connection: a keep-alive connection busy when the
  // shutdown began would otherwise hold the server open until the client or the keep-alive timeout closes it.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (isClosing()) reply.header('connection', 'close');
    return payload;
  });
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.maxHeapBytes,
    exposeStatusRoute: false,
    // Returning nothing lets the request through; returning a body makes under-pressure send it.
    pressureHandler: (request, reply, type) => {
      if (PROBES.has(request.routeOptions.url ?? '')) return;
      reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS));
      return errorBody('overloaded', `the service is shedding load (${type}); try again shortly`) as unknown as undefined;
    },
  });
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['content-type', 'authorization', 'x-api-key'],
      maxAge: 600,
    });
  }
  await app.register(auth, { apiKeys: config.apiKeys, readOnlyApiKeys: config.readOnlyApiKeys });
  await app.register(deadline, { timeoutMs: config.requestTimeoutMs });
  await app.register(openapi);
  await app.register(metrics, { instrument: deps.instrument });
  await app.register(healthRoutes, { isClosing });
  await app.register(collectionRoutes);
  await app.register(vectorRoutes);
  await app.register(queryRoutes);
  await app.register(jobRoutes);
  await app.register(snapshotRoutes, { snapshots });
}
