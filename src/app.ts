/**
 * Builds the pqvec Fastify application: opens the store, starts the worker pool,
 * rebuilds every collection's index, and registers the plugins and routes.
 * src/server.ts only listens and shuts down; tests build the app and inject requests.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import errors from './http/plugins/errors.js';
import openapi from './http/plugins/swagger.js';
import collectionRoutes from './http/routes/collections.js';
import healthRoutes from './http/routes/health.js';
import jobRoutes from './http/routes/jobs.js';
import queryRoutes from './http/routes/query.js';
import vectorRoutes from './http/routes/vectors.js';
import { zodValidatorCompiler } from './http/zod.js';
import { ComputePool } from './pool/compute-pool.js';
import { CollectionService } from './services/collections.js';
import { openDatabase } from './store/database.js';
import { Store } from './store/store.js';
import { assertLittleEndian } from './store/vector-blobs.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
    pool: ComputePool;
    collections: CollectionService;
  }
}

export interface BuildOptions {
  /** Passed to Fastify (logger settings, for instance); default: pino at config.logLevel. */
  fastify?: FastifyServerOptions;
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  assertLittleEndian();
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    ...options.fastify,
  });
  const { db, path, applied } = openDatabase(config.dataDir, { synchronous: config.sqliteSynchronous });
  if (applied.length > 0) app.log.info({ migrations: applied }, 'database migrated');
  const store = new Store(db);
  const pool = new ComputePool({ threads: config.workers });
  const collections = new CollectionService(store, pool, path, app.log);
  app.decorate('store', store);
  app.decorate('pool', pool);
  app.decorate('collections', collections);
  // On close (after in-flight requests finish): stop jobs, then the pool, then the database.
  app.addHook('onClose', async () => {
    await collections.close();
    await pool.close();
    db.close();
  });
  try {
    collections.load();
  } catch (err) {
    await pool.close();
    db.close();
    throw err;
  }

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(errors);
  await app.register(openapi);
  await app.register(healthRoutes);
  await app.register(collectionRoutes);
  await app.register(vectorRoutes);
  await app.register(queryRoutes);
  await app.register(jobRoutes);
  return app;
}
