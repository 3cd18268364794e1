/**
 * Liveness and readiness, for orchestrators. /health answers 200 whenever the
 * process can serve HTTP, however busy it is (a busy service is alive: an
 * orchestrator must not restart it for that). /ready answers 200 only when the
 * database answers, every collection's index is loaded, the worker pool has its
 * threads, the service is not shedding load and not shutting down.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RETRY_AFTER_SECONDS } from '../../tunables.js';
import { error, errorBody, json } from '../responses.js';

const Health = z.object({ status: z.literal('ok') });

const Checks = z.object({
  database: z.boolean().describe('SQLite answers a query.'),
  collections: z.boolean().describe("Every collection's index has been rebuilt from the database."),
  workers: z.boolean().describe('The worker pool has its threads.'),
  load: z.boolean().describe('Not shedding load (event-loop delay, heap).'),
  running: z.boolean().describe('Not shutting down.'),
});

const Ready = z.object({ status: z.literal('ready'), checks: Checks });

const healthRoutes: FastifyPluginAsyncZod<{ isClosing: () => boolean }> = async (app, options) => {
  // Probes run every few seconds: their request logs would drown the rest.
  const quiet = { logLevel: 'warn' as const };

  app.get(
    '/health',
    {
      ...quiet,
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: the process serves HTTP',
        description: 'Answers 200 whenever the process serves HTTP, however busy: a busy service is alive.',
        tags: ['service'],
        security: [],
        response: { 200: json(Health, 'Alive.') },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      ...quiet,
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness: database, indexes, worker pool, load and shutdown',
        description: '503 with details.checks naming what is not ready.',
        tags: ['service'],
        security: [],
        response: { 200: json(Ready, 'Ready: every check passes.'), 503: error('Not ready (not_ready); details.checks says which check fails.') },
      },
    },
    async (_request, reply) => {
      const checks = { ...app.collections.readiness(), load: !app.isUnderPressure(), running: !options.isClosing() };
      const failing = Object.entries(checks)
        .filter(([, ok]) => !ok)
        .map(([name]) => name);
      if (failing.length > 0) {
        return reply
          .status(503)
          .header('retry-after', String(RETRY_AFTER_SECONDS))
          .send(errorBody('not_ready', `not ready: ${failing.join(', ')}`, { checks }));
      }
      return { status: 'ready' as const, checks };
    },
  );
};

export default healthRoutes;
